"""Figures of how small the network gets: the recipe step by step (a waterfall of bytes with the error after each
step) and the Pareto front of test accuracy against the file's bytes beside the published results.

Used in 11_how_small.
"""

from __future__ import annotations

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from helpers.plots.common import add_accuracy_axis
from helpers.plots.deploy import _bytes_label


def _bytes_axis(axis: plt.Axes, subs: tuple[float, ...] = (1.0,)) -> None:
    """Bytes on the x axis: ticks at `subs` times each power of ten, labelled in kB or MB."""
    axis.xaxis.set_major_locator(matplotlib.ticker.LogLocator(subs=subs))
    axis.xaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(_bytes_label))
    axis.xaxis.set_minor_locator(matplotlib.ticker.LogLocator(subs=tuple(range(1, 10))))
    axis.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())


def _error_axis(axis: plt.Axes, errors: np.ndarray) -> None:
    axis.set_yscale("log")
    axis.yaxis.set_major_locator(matplotlib.ticker.LogLocator(subs=(1.0, 2.0, 5.0)))
    axis.yaxis.set_minor_locator(matplotlib.ticker.NullLocator())
    axis.yaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda e, _: f"{e:g}"))
    axis.set_ylim(errors.max() * 1.4, errors.min() / 1.4)  # inverted: better up
    add_accuracy_axis(axis)


def waterfall(table: pd.DataFrame) -> plt.Figure:
    """The recipe step by step: the bytes after each step (left, log axis, a bar from the baseline's size down to
    the step's) and the test error after each step (right, log axis, better up).

    Args:
        table: `helpers.frontier.shrink`'s waterfall (step, bytes, nonzero, test_accuracy, validation_accuracy).
    """
    figure, (left, right) = plt.subplots(1, 2, figsize=(14, 4.6), gridspec_kw=dict(width_ratios=(1.3, 1)))
    y = np.arange(len(table))[::-1]
    left.barh(y, table["bytes"], color=["0.55"] + ["C0"] * (len(table) - 1), height=0.55)
    for position, row in zip(y, table.itertuples()):
        left.annotate(f"{row.bytes:,.0f} B · {row.nonzero:,} weights", (row.bytes, position), xytext=(4, 0),
                      textcoords="offset points", va="center", fontsize=9)
    left.set_xscale("log")
    left.set_xlim(table["bytes"].min() / 2, table["bytes"].max() * 40)
    _bytes_axis(left)
    left.set_yticks(y, [f"{i + 1}. {step}" for i, step in enumerate(table["step"])])
    left.grid(axis="y", visible=False)
    left.set(xlabel="bytes (log scale)", title="bytes after each step")
    steps = np.arange(len(table))
    errors = {}
    for column, label, marker in (("validation_accuracy", "validation", "o"), ("test_accuracy", "test", "s")):
        errors[column] = 100 * (1 - table[column].to_numpy())
        right.plot(steps, errors[column], marker=marker, label=label)
    worst = errors["test_accuracy"].max()
    for step, error in zip(steps, errors["test_accuracy"]):
        below = error == worst and error > errors["test_accuracy"].min()  # the lowest point: its label under it
        right.annotate(f"{100 - error:.2f}", (step, error), xytext=(0, -16 if below else 8), textcoords="offset points",
                       ha="center", fontsize=8, color="C1")
    _error_axis(right, np.concatenate(list(errors.values())))
    right.set_xticks(steps, [str(step + 1) for step in steps])
    right.set(xlabel="step (as numbered on the left)", ylabel="error (%), log, better ↑",
              title="accuracy after each step")
    right.legend(fontsize=9, loc="center right")
    figure.tight_layout()
    return figure


def bytes_front(points: pd.DataFrame, published: pd.DataFrame | None = None, target: float | None = 0.98) -> plt.Figure:
    """Test error (log, better up) against the file's bytes (log, decade ticks): our networks, their Pareto front
    joined, and the published results that report bytes marked with their names.

    Args:
        points: one row per network: route (the legend), bytes, test_accuracy.
        published: `helpers.frontier.PUBLISHED` (rows without bytes are left out: they report no file).
        target: an accuracy to draw as a dashed line (None: none).
    """
    figure, axis = plt.subplots(figsize=(9, 5.2))
    errors = [100 * (1 - points["test_accuracy"].to_numpy())]
    for i, (route, group) in enumerate(points.groupby("route", sort=False)):
        axis.scatter(group["bytes"], 100 * (1 - group["test_accuracy"]), s=36, color=f"C{i}", label=route, zorder=3)
    ordered = points.sort_values("bytes")
    best = ordered["test_accuracy"].cummax()
    front = ordered[ordered["test_accuracy"] >= best]
    front = front[~front["test_accuracy"].duplicated()]
    axis.step(front["bytes"], 100 * (1 - front["test_accuracy"]), where="post", color="0.3", lw=1, zorder=2,
              label="our Pareto front")
    if published is not None:
        shown = published.dropna(subset=["bytes"])
        errors.append(100 * (1 - shown["test_accuracy"].to_numpy()))
        axis.scatter(shown["bytes"], 100 * (1 - shown["test_accuracy"]), marker="*", s=160, color="k", zorder=4,
                     label="published")
        for row in shown.itertuples():
            axis.annotate(row.method.split(" (")[0], (row.bytes, 100 * (1 - row.test_accuracy)), xytext=(0, 9),
                          textcoords="offset points", ha="center", fontsize=9)
    if target is not None:
        errors.append(np.array([100 * (1 - target)]))
        axis.axhline(100 * (1 - target), color="C3", ls="--", lw=1, label=f"{100 * target:.0f}% accuracy")
    axis.set_xscale("log")
    sizes = pd.concat([points["bytes"], published["bytes"].dropna()] if published is not None else [points["bytes"]])
    axis.set_xlim(sizes.min() / 1.5, sizes.max() * 1.5)
    _bytes_axis(axis, subs=(1.0, 2.0, 5.0))
    _error_axis(axis, np.concatenate(errors))
    axis.set(xlabel="file bytes (log scale)", ylabel="test error (%), log, better ↑",
             title="accuracy against the bytes of the file read back")
    axis.legend(fontsize=9, loc="lower right")
    figure.tight_layout()
    return figure

"""Figures of how small the network gets: the recipe step by step (the bytes after each step beside the validation
and test accuracy, zoomed on tenths of a point) and the Pareto front of test error against the file's bytes beside
the published results.

Used in 11_how_small.
"""

from __future__ import annotations

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from helpers.plots.deploy import _bytes_label


def _bytes_axis(axis: plt.Axes, subs: tuple[float, ...] = (1.0,)) -> None:
    """Bytes on the x axis: ticks at `subs` times each power of ten, labelled in kB or MB."""
    axis.xaxis.set_major_locator(matplotlib.ticker.LogLocator(subs=subs))
    axis.xaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(_bytes_label))
    axis.xaxis.set_minor_locator(matplotlib.ticker.LogLocator(subs=tuple(range(1, 10))))
    axis.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())


def _accuracy_axis(axis: plt.Axes, ticks: tuple[float, ...] = (97.0, 97.5, 98.0, 98.5, 99.0)) -> None:
    """On an axis of error (%), a right-hand axis that reads the same heights as accuracy (%), ticked at `ticks`."""
    right = axis.secondary_yaxis("right", functions=(lambda e: 100 - e, lambda a: 100 - a))
    right.set_yticks(list(ticks))
    right.yaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda a, _: f"{a:g}"))
    right.yaxis.set_minor_locator(matplotlib.ticker.NullLocator())
    right.set_ylabel("accuracy (%)")


def _error_axis(axis: plt.Axes, errors: np.ndarray) -> None:
    axis.set_yscale("log")
    axis.yaxis.set_major_locator(matplotlib.ticker.FixedLocator([1.0, 1.5, 2.0, 2.5, 3.0, 4.0, 5.0]))
    axis.yaxis.set_minor_locator(matplotlib.ticker.NullLocator())
    axis.yaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda e, _: f"{e:g}"))
    axis.set_ylim(errors.max() * 1.15, errors.min() / 1.15)  # inverted: better up
    _accuracy_axis(axis)


def waterfall(table: pd.DataFrame) -> plt.Figure:
    """The recipe step by step: the bytes after each step (left, log axis, one dot per step) and the validation and
    test accuracy after each step (right, zoomed on the steps after fine-tuning, where the differences are tenths of
    a point; a step far below the zoom, unit pruning before fine-tuning, is marked at the bottom with its values).

    Args:
        table: `helpers.frontier.shrink`'s waterfall (step, bytes, nonzero, test_accuracy, validation_accuracy).
    """
    figure, (left, right) = plt.subplots(1, 2, figsize=(14, 4.6), gridspec_kw=dict(width_ratios=(1.3, 1)))
    y = np.arange(len(table))[::-1]
    left.scatter(table["bytes"], y, color=["0.45"] + ["C0"] * (len(table) - 1), s=50, zorder=2)
    large = table["bytes"].max() / 30  # labels of the largest sizes go left of their dot, the others right
    for position, row in zip(y, table.itertuples()):
        left_side = row.bytes > large
        left.annotate(f"{row.bytes:,.0f} B · {row.nonzero:,} weights", (row.bytes, position),
                      xytext=(-8 if left_side else 8, 0), textcoords="offset points", va="center",
                      ha="right" if left_side else "left", fontsize=9)
    left.set_xscale("log")
    left.set_xlim(table["bytes"].min() / 1.6, table["bytes"].max() * 2)
    _bytes_axis(left)
    left.set_yticks(y, [f"{i + 1}. {step}" for i, step in enumerate(table["step"])])
    left.set_ylim(-0.6, len(table) - 0.4)
    left.grid(axis="y", visible=False)
    left.set(xlabel="bytes (log scale)", title="bytes after each step")
    steps = np.arange(len(table))
    accuracy = {column: 100 * table[column].to_numpy() for column in ("validation_accuracy", "test_accuracy")}
    both = np.concatenate(list(accuracy.values()))
    floor = np.concatenate([accuracy[c][accuracy[c] > np.median(both) - 2] for c in accuracy]).min() - 0.15
    top = both.max() + 0.15
    for (column, values), label, marker, offset in zip(accuracy.items(), ("validation", "test"), ("o", "s"), (-13, 9)):
        shown = np.where(values >= floor, values, np.nan)
        right.plot(steps, shown, marker=marker, label=label)
        for step, value in zip(steps, values):
            if value >= floor:
                right.annotate(f"{value:.2f}", (step, value), xytext=(0, offset), textcoords="offset points",
                               ha="center", fontsize=8, color="C0" if label == "validation" else "C1")
            elif label == "test":
                right.annotate(f"↓ off the scale: validation {accuracy['validation_accuracy'][step]:.2f}, test "
                               f"{value:.2f}", (step, floor), xytext=(4, 6), textcoords="offset points", ha="left",
                               fontsize=8, color="0.3")
    right.set_ylim(floor, top)
    right.set_xticks(steps, [str(step + 1) for step in steps])
    right.set(xlabel="step (as numbered on the left)", ylabel="accuracy (%), zoomed",
              title="accuracy after each step, validation and test")
    right.legend(fontsize=9, loc="upper right")
    figure.tight_layout()
    return figure


def bytes_front(points: pd.DataFrame, published: pd.DataFrame | None = None, target: float | None = 0.98) -> plt.Figure:
    """Test error (log, better up) against the file's bytes (log, decade ticks): our networks, their Pareto front
    joined, and the published results that report bytes as stars, each named beside its own star.

    The published networks are LeNet-300-100 or pruned from it, and each paper counts bytes its own way: the legend
    and a note under the axes say so.

    Args:
        points: one row per network: route (the legend), bytes, test_accuracy.
        published: `helpers.frontier.PUBLISHED` (rows without bytes are left out: they report no file).
        target: an accuracy to draw as a dashed line (None: none).
    """
    figure, axis = plt.subplots(figsize=(9, 6.4))
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
        shown = published.dropna(subset=["bytes"]).sort_values("bytes")
        errors.append(100 * (1 - shown["test_accuracy"].to_numpy()))
        axis.scatter(shown["bytes"], 100 * (1 - shown["test_accuracy"]), marker="*", s=160, color="k", zorder=4,
                     label="published (LeNet-300-100 or pruned from it;\nbytes as each paper counts them)")
        places = [((0, -18), "center"), ((-10, 12), "right"), ((10, 8), "left")]  # by size: below, above-left, right
        for i, row in enumerate(shown.itertuples()):
            (dx, dy), ha = places[i % len(places)]
            axis.annotate(row.method.split(" (")[0], (row.bytes, 100 * (1 - row.test_accuracy)), xytext=(dx, dy),
                          textcoords="offset points", ha=ha, va="center", fontsize=9,
                          arrowprops=dict(arrowstyle="-", color="0.4", lw=0.7, shrinkA=0, shrinkB=5))
    if target is not None:
        errors.append(np.array([100 * (1 - target)]))
        axis.axhline(100 * (1 - target), color="C3", ls="--", lw=1, label=f"{100 * target:.0f}% test accuracy")
    axis.set_xscale("log")
    sizes = pd.concat([points["bytes"], published["bytes"].dropna()] if published is not None else [points["bytes"]])
    axis.set_xlim(sizes.min() / 1.5, sizes.max() * 1.5)
    _bytes_axis(axis, subs=(1.0, 2.0, 5.0))
    _error_axis(axis, np.concatenate(errors))
    axis.set(xlabel="file bytes (log scale)", ylabel="test error (%), log, better ↑",
             title="test error against the bytes of the file read back")
    axis.legend(fontsize=9, loc="upper center", bbox_to_anchor=(0.5, -0.13), ncol=2)  # below: covers no data
    if published is not None:
        figure.text(0.01, 0.01, "Ours: 784-1000-1000-500-200-10 shrunk, bytes of our file. Stars: other networks, "
                    "other byte counts; not a race on equal terms.", fontsize=8, color="0.3")
    figure.tight_layout(rect=(0, 0.04, 1, 1))
    return figure

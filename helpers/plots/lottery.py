"""Figures of lottery tickets: Frankle and Carbin's error and early-stopping plots, validation curves.

Used in 08_lottery_tickets.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib
import matplotlib.pyplot as plt
import pandas as pd

from helpers.plots.style import BRANCH_STYLES


def _remaining_axis(axis: plt.Axes, remaining: Sequence[float]) -> None:
    """Weights remaining on a log axis from 100% down, ticked at the rounds' values."""
    ticks = sorted(set(round(r, 1) for r in remaining), reverse=True)
    axis.set_xscale("log")
    axis.set_xticks(ticks, [f"{t:g}" for t in ticks])
    axis.xaxis.set_minor_locator(matplotlib.ticker.NullLocator())
    axis.set_xlim(max(ticks) * 1.25, min(ticks) / 1.25)
    axis.set_xlabel("weights remaining (%, log scale)")


def tickets(results: pd.DataFrame, dense: float | None = None, reference: Mapping[str, float] | None = None,
            steps: int | None = None, split: str = "test") -> plt.Figure:
    """Frankle and Carbin's two plots for this network, a line per branch of `lottery.branch`.

    Left: the error (log axis) against the weights remaining (log axis, from 100% down). Right: the
    early-stopping step (smallest validation loss) against the weights remaining.

    Args:
        results: columns branch, remaining (% of all weights), accuracy (0-1), early_stop (a step);
            optionally se (standard error of the accuracy, drawn as error bars).
        dense: accuracy of the dense network trained by the same recipe, drawn dotted.
        reference: {label: weights remaining (%)}, drawn as grey vertical marks (published results).
        steps: the steps of one training, the top of the right panel.
        split: what the accuracy was measured on, for the axis label.

    Used in 08_lottery_tickets.
    """
    figure, (left, right) = plt.subplots(1, 2, figsize=(12, 4.3))
    errors, handles = [], []
    for i, (name, group) in enumerate(results.groupby("branch", sort=False)):
        marker, color, style = BRANCH_STYLES.get(name, ("x", "k", "-"))
        size = max(9 - 1.5 * i, 4)  # later branches smaller, so that markers on the same point all show
        group = group.sort_values("remaining", ascending=False)
        error = 100 * (1 - group["accuracy"].to_numpy())
        errors.extend(error)
        bars = 100 * group["se"].to_numpy() if "se" in group else None
        handles.append(left.errorbar(group["remaining"], error, yerr=bars, marker=marker, color=color, ls=style,
                                     lw=1.8, ms=size, capsize=3, label=name))
        right.plot(group["remaining"], group["early_stop"], marker=marker, color=color, ls=style, lw=1.8, ms=size,
                   mfc=color if i == 0 else "white", mew=1.5, label=name)  # hollow: a smaller marker inside still shows
    if dense is not None:
        errors.append(100 * (1 - dense))
        handles.append(left.axhline(100 * (1 - dense), color="0.3", lw=1.2, ls=":", label="dense, same recipe"))
    for axis in (left, right):
        _remaining_axis(axis, results["remaining"])
    for label, at in (reference or {}).items():  # in the band above the data
        left.axvline(at, color="0.7", lw=1, zorder=0)
        left.annotate(label, (at, 0.98), xycoords=("data", "axes fraction"), xytext=(0, -2), textcoords="offset points",
                      ha="center", va="top", fontsize=8, color="0.3",
                      bbox=dict(boxstyle="round,pad=0.2", fc="white", ec="0.7", lw=0.6))
    left.set_yscale("log")
    low, high = min(errors), max(errors)
    top = high * (1.45 if reference else 1.15)
    left.set_ylim(low / 1.15, top)
    ticks = [t for t in (1, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10, 15, 20, 30, 50) if low / 1.15 <= t <= high * 1.15]
    left.yaxis.set_major_locator(matplotlib.ticker.FixedLocator(ticks))
    left.yaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda e, _: f"{e:g}"))
    left.yaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    left.set(ylabel=f"{split} error (%), log scale (lower is better)", title=f"{split} error after training")
    right.set(ylabel="early-stopping step (smallest validation loss)", title="how soon it has learned")
    if steps is not None:
        right.axhline(steps, color="#c9a227", lw=1.2, zorder=0)
        right.annotate(f"step {steps}, the end of training: the loss was still falling", (0.99, steps),
                       xycoords=("axes fraction", "data"), xytext=(0, 4), textcoords="offset points", ha="right",
                       va="bottom", fontsize=8, color="#8a6d00")
    right.set_ylim(0, (steps or results["early_stop"].max()) * 1.12)
    figure.legend(handles, [handle.get_label() for handle in handles], loc="upper center", ncol=len(handles),
                  frameon=False, fontsize=10)
    figure.tight_layout(rect=(0, 0, 1, 0.91))
    return figure


def validation_curves(curves: Mapping[str, pd.DataFrame], styles: Mapping[str, tuple] | None = None) -> plt.Figure:
    """Validation loss against the training step, a line per labelled curve, the smallest of each marked.

    Args:
        curves: {label: DataFrame with step and validation_loss} (as `lottery.train_round` records).
        styles: {label: (marker, colour, line style)}; default the order of the colour cycle.

    Used in 08_lottery_tickets.
    """
    figure, axis = plt.subplots(figsize=(7.5, 4.2))
    for i, (label, curve) in enumerate(curves.items()):
        marker, color, style = (styles or {}).get(label, ("o", f"C{i}", "-"))
        axis.plot(curve["step"], curve["validation_loss"], color=color, ls=style, lw=1.8, label=label)
        best = curve.loc[curve["validation_loss"].idxmin()]
        axis.plot(best["step"], best["validation_loss"], marker=marker, color=color, ms=9, mec="white", mew=1.5)
    axis.set_yscale("log")
    axis.yaxis.set_major_locator(matplotlib.ticker.FixedLocator([0.03, 0.05, 0.1, 0.2, 0.3, 0.5, 1, 2, 3]))
    axis.yaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda v, _: f"{v:g}"))
    axis.yaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    axis.set(xlabel="training step", ylabel="validation loss (log scale)",
             title="validation loss while training (the marker: its smallest, the early-stopping step)")
    axis.title.set_fontsize(11)
    axis.legend(frameon=False)
    figure.tight_layout()
    return figure

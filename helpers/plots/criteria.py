"""Figures of what to prune: the error of each criterion against k, and each layer's sensitivity.

Used in 06_criteria.
"""

from __future__ import annotations

from collections.abc import Mapping

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from helpers.plots.common import log_error_axis
from helpers.plots.style import CRITERION_COLORS


def criteria_vs_k(results: pd.DataFrame, baselines: Mapping[str, float] | None = None, split: str = "validation",
                  panel_by: str = "recipe") -> plt.Figure:
    """Error (log axis) against the share kept (100 - k, log axis), one line per criterion.

    A column of panels per method, a row per `panel_by` value, one legend per method below its column.

    Args:
        results: columns method, criterion, k, accuracy (0-1) and `panel_by`
            (a `sweep_criteria` table with e.g. a "recipe" column added).
        baselines: {value of `panel_by`: accuracy of that unpruned network}, drawn dotted.
        split: the split the accuracies were measured on, for the axis label.
        panel_by: the column that gives one row of panels per value.

    Used in 06_criteria.
    """
    missing = {"method", "criterion", "k", "accuracy", panel_by} - set(results.columns)
    if missing:
        raise ValueError(f"results lacks the columns {sorted(missing)}")
    rows, methods = list(results[panel_by].unique()), list(results["method"].unique())
    figure, axes = plt.subplots(len(rows), len(methods), figsize=(5.6 * len(methods), 3.6 * len(rows)),
                                squeeze=False, sharey="row")
    for r, row in enumerate(rows):
        for c, method in enumerate(methods):
            axis, errors = axes[r][c], []
            group = results[(results[panel_by] == row) & (results["method"] == method)]
            for criterion, points in group.groupby("criterion", sort=False):
                error = np.clip(100 * (1 - points["accuracy"].to_numpy()), 0.01, None)
                errors.append(error.min())
                axis.plot(100 - points["k"], error, marker="o", ms=4, color=CRITERION_COLORS.get(criterion),
                          lw=2.2 if criterion in ("magnitude", "l2") else 1.3, label=criterion)
            if baselines and row in baselines:
                errors.append(100 * (1 - baselines[row]))
                axis.axhline(100 * (1 - baselines[row]), color="0.4", lw=1, ls=":", label="unpruned")
            log_error_axis(axis, errors, ylabel=f"{split} error (%), log scale" if c == 0 else "")
            ks = sorted(group["k"].unique())
            axis.set_xscale("log")
            axis.set_xticks([100 - k for k in ks], [f"{100 - k:g}%\nk = {k:g}" for k in ks])
            axis.xaxis.set_minor_locator(matplotlib.ticker.NullLocator())
            axis.set_xlim(1.25 * (100 - min(ks)), 0.8 * (100 - max(ks)))  # fewer kept to the right
            axis.set(title=f"{method} pruning, {panel_by} {row}")
            if r == len(rows) - 1:
                axis.set_xlabel(f"{'weights' if method == 'weight' else 'units'} kept (log scale)")
                axis.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.32), ncol=4, frameon=False)
    figure.tight_layout()
    return figure


def sensitivity(table: pd.DataFrame, allocation: Mapping[str, float] | None = None, split: str = "validation",
                title: str = "Pruning one layer at a time", axis: plt.Axes | None = None,
                entries: str = "weights") -> plt.Figure:
    """Error (log axis) of the network with one layer pruned, against the share of that layer kept (log axis).

    Args:
        table: a `sensitivity` table (layer, k, accuracy, size).
        allocation: {layer: k} chosen for all layers together; drawn as a ring on each curve.
        split: the split the accuracies were measured on, for the axis label.
        title: the axis title.
        axis: draw into this axis instead of a new figure.
        entries: what the table counts, "weights" or "units", for the legend.

    Used in 06_criteria.
    """
    missing = {"layer", "k", "accuracy", "size"} - set(table.columns)
    if missing:
        raise ValueError(f"table lacks the columns {sorted(missing)}: pass a sensitivity() table")
    if axis is None:
        figure, axis = plt.subplots(figsize=(7, 4.2))
    figure, errors = axis.figure, []
    for i, (layer, group) in enumerate(table[table["k"] > 0].groupby("layer", sort=False)):
        kept = 100 - group["k"].to_numpy()
        error = np.clip(100 * (1 - group["accuracy"].to_numpy()), 0.01, None)
        errors.append(error.min())
        size = int(group["size"].iloc[0])
        axis.plot(kept, error, marker="o", ms=3.5, color=f"C{i}", label=f"layer {layer} ({size:,} {entries})")
        if allocation is not None and layer in allocation:
            at = 100 - allocation[layer]
            y = np.interp(np.log(at), np.log(kept[::-1]), error[::-1]) if at > 0 else error[-1]
            axis.plot([at], [y], marker="o", ms=11, mfc="none", mec=f"C{i}", mew=2)
    dense = table.loc[table["k"] == 0, "accuracy"]
    if len(dense):
        errors.append(100 * (1 - dense.iloc[0]))
        axis.axhline(100 * (1 - dense.iloc[0]), color="0.4", lw=1, ls=":", label="unpruned")
    log_error_axis(axis, errors, ylabel=f"{split} error (%), log scale")
    axis.set_xscale("log")
    axis.invert_xaxis()
    axis.xaxis.set_major_locator(matplotlib.ticker.FixedLocator([50, 20, 10, 5, 2, 1, 0.5, 0.2, 0.1]))
    axis.xaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda v, _: f"{v:g}"))
    axis.xaxis.set_minor_locator(matplotlib.ticker.NullLocator())
    axis.set(xlabel="% of the layer kept, log scale (fewer →)", title=title)
    if allocation is not None:
        axis.plot([], [], marker="o", ms=9, mfc="none", mec="0.3", ls="none", label="the allocation's k")
    axis.legend(fontsize=8, loc="upper left")
    figure.tight_layout()
    return figure

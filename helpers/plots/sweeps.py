"""Figures of k-sweeps: the error against k, what retraining brings back (dumbbells), the error against a cost.

Accuracy is drawn as the error rate on a log axis, where the last tenths of a point
and a collapse both show.

Used in 02_weight_pruning, 03_unit_pruning, 04_fine_tuning, the explorer and benchmarks.seeds.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from helpers.config import K_LIST, REFERENCE_ACCURACY
from helpers.plots.common import add_accuracy_axis
from helpers.plots.style import METHOD_COLORS, PROCEDURE_STYLES


def accuracy_vs_k(results: pd.DataFrame, baseline: float | None = None, reference: bool = True,
                  title: str = "One-shot pruning of the 784-1000-1000-500-200-10 MLP",
                  axis: plt.Axes | None = None, style_by: str | None = None, label: str | None = None,
                  baseline_label: str = "unpruned") -> plt.Figure:
    """Test error (100 - accuracy) against k for each method in `results` (a `sweep` table), on a log axis.

    On a log axis of the error both the last tenths of a point (1.4% against 1.6%
    error) and a collapse (90% error is chance) are visible; the right axis reads
    the same heights as accuracy.

    Args:
        results: columns method, k, accuracy (0-1); an optional column named by
            `style_by` (e.g. "procedure" or "recipe") gives one line style per value,
            an optional "se" (standard error) or else "std" column draws error
            bars, and an optional "n" column (seeds averaged) goes into the labels.
        baseline: accuracy of the unpruned network, drawn as a reference line.
        reference: also draw the reference notebook's published numbers (dashed) for the methods in `results`.
        title: the axis title.
        axis: draw into this axis instead of a new figure.
        style_by: a column whose values get one line style each.
        label: what our lines are, e.g. "ours, L1 recipe" (default "ours"; with
            `style_by` the column's value is used instead).
        baseline_label: the legend's name for the `baseline` line, before its accuracy
            (e.g. "unpruned, L1 recipe" when the lines come from several networks).

    Returns:
        The figure. Legend labels read "weight, ours", "weight, one-shot, 3 seeds
        (mean ± std)", "unit, reference notebook".

    Used in 02_weight_pruning, 03_unit_pruning and benchmarks.seeds.
    """
    missing = {"method", "k", "accuracy"} - set(results.columns)
    if missing:
        raise ValueError(f"results lacks the columns {sorted(missing)}")
    if axis is None:
        figure, axis = plt.subplots(figsize=(8, 4.6))
    figure = axis.figure
    styles = ["-", "-.", ":", (0, (5, 1))]
    values = list(results[style_by].unique()) if style_by else []
    floor = 0.01  # an error of 0 cannot sit on a log axis
    errors = []
    for key, group in results.groupby(["method"] + ([style_by] if style_by else []), sort=False):
        method, value = (key[0], key[1]) if style_by else (key[0] if isinstance(key, tuple) else key, None)
        parts = [str(method), str(value) if style_by else (label or "ours")]
        spread = next((column for column in ("se", "std") if column in group), None)
        if "n" in group and group["n"].max() > 1:
            parts.append(f"{group['n'].max():g} seeds"
                         + {"se": " (mean ± standard error)", "std": " (mean ± std)", None: ""}[spread])
        error = (100 * (1 - group["accuracy"])).clip(lower=floor)
        errors.append(error.min())
        axis.errorbar(group["k"], error, yerr=100 * group[spread] if spread else None,
                      marker="o", ms=4, ls=styles[values.index(value) % len(styles)] if style_by else "-",
                      color=METHOD_COLORS.get(method), label=", ".join(parts), capsize=2)
    if reference:
        for method, accuracies in REFERENCE_ACCURACY.items():
            if method not in set(results["method"]):
                continue
            axis.plot(K_LIST, [100 - a for a in accuracies], ls="--", marker="x", ms=4, lw=1, alpha=0.7,
                      color=METHOD_COLORS[method], label=f"{method}, reference notebook")
    if baseline is not None:
        errors.append(100 * (1 - baseline))
        axis.axhline(max(100 * (1 - baseline), floor), color="0.4", lw=1, ls=":",
                     label=f"{baseline_label} ({100 * baseline:.2f}%)")
    axis.axhline(90, color="0.6", lw=0.8, ls=(0, (1, 3)), label="chance (10% accuracy)")
    axis.set_yscale("log")
    axis.set_ylim(max(min(errors, default=1) * 0.6, floor), 100)
    axis.yaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda e, _: f"{e:g}"))
    add_accuracy_axis(axis)
    axis.set(xlabel="k: % pruned in each layer", ylabel="test error (%), log scale", title=title)
    handles, labels = axis.get_legend_handles_labels()
    ours = [i for i, handle in enumerate(handles) if isinstance(handle, matplotlib.container.ErrorbarContainer)]
    order = ours + [i for i in range(len(handles)) if i not in ours]  # our lines first, then the references
    axis.legend([handles[i] for i in order], [labels[i] for i in order], fontsize=8, loc="upper left")
    figure.tight_layout()
    return figure


def dumbbell(results: pd.DataFrame, start: str = "one-shot", baseline: float | None = None,
             title: str = "What retraining brings back", axis: plt.Axes | None = None,
             labels: Mapping[str, str] | None = None) -> plt.Figure:
    """One row per (method, k): the test error of `start` joined to each other procedure's, on a log axis.

    Error rate (100 - accuracy) on a log axis shows both a collapse (90% error) and the
    last tenths of a point (1.5% vs 1.7%) in one picture; the error bars say which gaps
    exceed the noise.

    Args:
        results: columns method, k, procedure, accuracy (0-1) and optionally
            standard_error (0-1), drawn as ±1 standard error bars. Rows are drawn in
            the order their (method, k) first appears; the procedures in each row are
            nudged apart vertically so that overlapping ones stay visible.
        start: the procedure each row's bar starts from.
        baseline: accuracy of the unpruned network, drawn as a vertical line.
        axis: draw into this axis instead of a new figure.
        labels: {procedure: its legend label}, e.g. to say how many epochs each had (default: the name).

    The error axis has labelled ticks at 1, 2, 5 x each power of ten (1%, 2%, 5%, 10%, ...) and
    unlabelled minor ticks between them; it starts at a labelled tick.

    Raises:
        ValueError: missing columns, or no row of `start`.

    Used in 04_fine_tuning.
    """
    missing = {"method", "k", "procedure", "accuracy"} - set(results.columns)
    if missing:
        raise ValueError(f"results lacks the columns {sorted(missing)}")
    if start not in set(results["procedure"]):
        raise ValueError(f"no rows of the procedure {start!r} to start from")
    if axis is None:
        rows = results[["method", "k"]].drop_duplicates()
        figure, axis = plt.subplots(figsize=(8.5, 0.45 * len(rows) + 2.3))
    figure = axis.figure
    pairs = list(dict.fromkeys(zip(results["method"], results["k"])))
    procedures = [start] + [p for p in dict.fromkeys(results["procedure"]) if p != start]
    nudge = {p: 0.32 * (i / max(len(procedures) - 1, 1) - 0.5) for i, p in enumerate(procedures)}
    for row, (method, k) in enumerate(pairs):
        group = results[(results["method"] == method) & (results["k"] == k)]
        errors = 100 * (1 - group["accuracy"])
        axis.plot([errors.min(), errors.max()], [row, row], color="0.8", lw=5, solid_capstyle="round", zorder=1)
    for procedure in procedures:
        marker, color = PROCEDURE_STYLES.get(procedure, ("o", None))
        done = results[results["procedure"] == procedure]
        y = [pairs.index((m, k)) + nudge[procedure] for m, k in zip(done["method"], done["k"])]
        axis.errorbar(100 * (1 - done["accuracy"]), y,
                      xerr=100 * done["standard_error"] if "standard_error" in done else None,
                      fmt=marker, color=color, ms=6, capsize=2, lw=1, label=(labels or {}).get(procedure, procedure),
                      zorder=3)
    if baseline is not None:
        axis.axvline(100 * (1 - baseline), color="0.3", lw=1, ls=":", label=f"unpruned ({100 * baseline:.2f}%)")
    axis.set_xscale("log")
    errors = 100 * (1 - results["accuracy"].to_numpy(dtype=float))
    if baseline is not None:
        errors = np.append(errors, 100 * (1 - baseline))
    low = max(float(errors.min()), 0.01)
    ticks = [m * 10.0 ** e for e in range(-2, 3) for m in (1, 2, 5) if m * 10.0 ** e <= 100]
    left, right = max(t for t in ticks if t <= low * 0.95), min(100.0, float(errors.max()) * 1.25)
    axis.set_xlim(left, right)
    axis.xaxis.set_major_locator(matplotlib.ticker.FixedLocator([t for t in ticks if left <= t <= right]))
    axis.xaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda x, _: f"{x:g}%"))
    axis.xaxis.set_minor_locator(matplotlib.ticker.LogLocator(subs=(3, 4, 6, 7, 8, 9)))
    axis.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    axis.set_yticks(range(len(pairs)), [f"{method}, k = {k:g}" for method, k in pairs])
    axis.set_ylim(len(pairs) - 0.5, -0.5)
    axis.set(xlabel="test error = 100 - accuracy (%, log scale), bars: ±1 standard error", title=title)
    axis.grid(True, which="minor", axis="x", lw=0.3)
    axis.legend(fontsize=9, loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=2, frameon=False)  # below: no data covered
    figure.tight_layout()
    return figure


def error_vs_cost(results: pd.DataFrame, x: str = "weights_kept", baseline: float | None = None,
                  n: int | None = None, label_ks: Sequence[float] = (), axis: plt.Axes | None = None,
                  xlabel: str | None = None) -> plt.Figure:
    """Test error (100 - accuracy, log axis) of each method against a cost (log axis, less cost to the right).

    Args:
        results: columns method, k, accuracy (0-1) and the column `x`, e.g. a
            `sweep` table (weights_kept) with a "flops" column added.
        x: the cost: "weights_kept" (storage) or "flops" (multiply-adds of the
            compacted network: compute).
        baseline: accuracy of the unpruned network, drawn as a dotted line.
        n: test images; with it each line gets a band of ±1 binomial standard error.
        label_ks: write "k = ..." beside these points of each method.
        axis: draw into this axis instead of a new figure.
        xlabel: the x label (default: says what `x` is).

    Used in 03_unit_pruning.
    """
    missing = {"method", "k", "accuracy", x} - set(results.columns)
    if missing:
        raise ValueError(f"results lacks the columns {sorted(missing)}")
    if axis is None:
        figure, axis = plt.subplots(figsize=(6.4, 4.2))
    figure = axis.figure
    floor = 0.01
    for method, group in results.sort_values(x).groupby("method", sort=False):
        accuracy = group["accuracy"].to_numpy()
        error = np.clip(100 * (1 - accuracy), floor, None)
        color = METHOD_COLORS.get(method)
        axis.plot(group[x], error, marker="o", ms=3, color=color, label=f"{method} pruning, one-shot")
        if n:
            spread = 100 * np.sqrt(accuracy * (1 - accuracy) / n)
            axis.fill_between(group[x], np.clip(error - spread, floor, None), error + spread, color=color,
                              alpha=0.35, lw=0.6)
        for k in label_ks:
            point = group[group["k"] == k]
            if len(point):
                axis.annotate(f"k = {k:g}", (point[x].iloc[0], np.clip(100 * (1 - point["accuracy"].iloc[0]), floor,
                                                                         None)),
                              xytext=(6, -12) if method == "weight" else (-6, 8), textcoords="offset points", fontsize=7,
                              ha="left" if method == "weight" else "right", color=color,
                              bbox=dict(boxstyle="round,pad=0.1", fc="white", ec="none", alpha=0.8))
    if baseline is not None:
        axis.axhline(max(100 * (1 - baseline), floor), color="0.4", lw=1, ls=":",
                     label=f"unpruned ({100 * baseline:.2f}%)")
    axis.set_xscale("log")
    axis.set_yscale("log")
    axis.invert_xaxis()
    # extra ticks between 1 and 2 %: where the pruned networks near the unpruned one are compared
    axis.yaxis.set_major_locator(matplotlib.ticker.FixedLocator([0.01, 0.1, 1, 1.3, 1.6, 2, 3, 5, 10, 20, 50, 100]))
    axis.yaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda e, _: f"{e:g}"))
    axis.yaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    axis.tick_params(axis="y", labelsize=8)
    default = {"weights_kept": "weights kept (nonzero weights of compact()), log scale, fewer →",
               "flops": "multiply-adds per image of compact(), log scale, fewer →"}.get(x, x)
    axis.set(xlabel=xlabel or default, ylabel="test error (%), log scale", ylim=(None, 100))
    axis.legend(fontsize=8, loc="upper left")
    figure.tight_layout()
    return figure

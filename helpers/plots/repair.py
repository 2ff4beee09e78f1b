"""Figures of repair without retraining: OBS on two weights, the layers' reconstruction error, repair against k.

Used in 07_repair.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from helpers.plots.common import log_error_axis


def obs_two_weights(weight: Sequence[float], hessian: Sequence[Sequence[float]], removals: pd.DataFrame) -> plt.Figure:
    """Contours of the error ½ δwᵀ H δw around a trained pair of weights, and three ways to remove one of them.

    Args:
        weight: the trained (w1, w2), the minimum of the error.
        hessian: the 2 x 2 curvature H.
        removals: `repair.remove_one(weight, hessian)`: the cost of removing each weight with and without the
            OBS update, and where the update lands.

    Used in 07_repair.
    """
    w, h = np.asarray(weight, dtype=float), np.asarray(hessian, dtype=float)
    span = 1.35 * np.abs(w).max()
    grid = np.linspace(-0.25 * span, span, 300)
    x, y = np.meshgrid(grid, grid)
    dx, dy = x - w[0], y - w[1]
    error = 0.5 * (h[0, 0] * dx**2 + 2 * h[0, 1] * dx * dy + h[1, 1] * dy**2)
    figure, axis = plt.subplots(figsize=(6.4, 5.4))
    smaller = int(np.argmin(np.abs(w)))
    best_zeroed, best = int(np.argmin(removals["cost_zeroed"])), int(np.argmin(removals["cost_obs"]))
    drawn = [removals["cost_zeroed"][smaller], removals["cost_zeroed"][best_zeroed], removals["cost_obs"][best]]
    contours = axis.contour(x, y, error, levels=sorted(set(np.round(drawn, 6))), colors="0.55", linewidths=1)
    axis.clabel(contours, fmt="E = %.3g", fontsize=8, inline_spacing=2)
    axis.axhline(0, color="0.2", lw=0.8)
    axis.axvline(0, color="0.2", lw=0.8)
    axis.plot(*w, "k*", ms=14, label=f"trained  w = ({w[0]:g}, {w[1]:g})")
    zeroed = w.copy()
    zeroed[smaller] = 0
    axis.plot(*zeroed, "o", color="C0", ms=10,
              label=f"magnitude: zero the smaller, w{smaller + 1}  (E = {removals['cost_zeroed'][smaller]:.3g})")
    if best_zeroed != smaller:
        zeroed = w.copy()
        zeroed[best_zeroed] = 0
        axis.plot(*zeroed, "s", color="C1", ms=9,
                  label=f"OBD: zero w{best_zeroed + 1}, the cheaper to zero  (E = {removals['cost_zeroed'][best_zeroed]:.3g})")
    after = np.asarray(removals["after_obs"][best])
    axis.plot(*after, "D", color="C2", ms=9,
              label=f"OBS: remove w{best + 1} and move w{2 - best}  (E = {removals['cost_obs'][best]:.3g})")
    axis.annotate("", xy=after, xytext=w, arrowprops=dict(arrowstyle="->", color="C2", lw=1.8))
    axis.set(xlabel="w1", ylabel="w2", xlim=(grid[0], grid[-1]), ylim=(grid[0], grid[-1]), aspect="equal",
             title="Removing one of two weights: the error E = ½ δwᵀHδw")
    axis.legend(fontsize=9, loc="upper center", bbox_to_anchor=(0.5, -0.13), frameon=False)
    figure.tight_layout()
    return figure


def reconstruction(tables: Mapping[str, pd.DataFrame], title: str = "", floor: float = 1e-4) -> plt.Figure:
    """Relative error of each layer's pre-activations (log axis), one group of bars per layer, one bar per network.

    Errors below `floor` (a layer that computes exactly what it did) are drawn as a label "0", not as a bar.

    Args:
        tables: {label: `repair.reconstruction_errors` table}.

    Used in 07_repair.
    """
    labels = list(tables)
    layers = tables[labels[0]]["layer"].tolist()
    figure, axis = plt.subplots(figsize=(7.5, 3.6))
    width = 0.8 / len(labels)
    for i, label in enumerate(labels):
        values = tables[label]["relative_error"].to_numpy()
        x = np.arange(len(layers)) + (i - (len(labels) - 1) / 2) * width
        bars = axis.bar(x, np.where(values < floor, np.nan, values), width, label=label, color=f"C{i}")
        axis.bar_label(bars, [f"{v:.2g}" if v >= floor else "" for v in values], fontsize=8, padding=2)
        for xi, v in zip(x, values):
            if v < floor:
                axis.text(xi, 2 * floor, "0", ha="center", va="bottom", fontsize=8)
    names = [f"layer {layer}" + (" (output)" if j == len(layers) - 1 else "") for j, layer in enumerate(layers)]
    axis.set_xticks(np.arange(len(layers)), names)
    axis.set_yscale("log")
    top = max(float(np.nanmax(t["relative_error"])) for t in tables.values())
    axis.set_ylim(floor, 10 * top)
    axis.set(ylabel="‖z_pruned − z‖² / ‖z‖²  (log)")
    axis.set_title(title, fontsize=11)
    axis.legend(fontsize=9, loc="lower center", bbox_to_anchor=(0.5, 1.08), ncol=len(labels), frameon=False)
    figure.tight_layout()
    return figure


def repair_vs_k(results: pd.DataFrame, baseline: float | None = None, split: str = "test") -> plt.Figure:
    """Error (log axis) against the share kept (log axis) for each approach of `repair.compare`, a panel per method.

    Args:
        results: columns method, k, approach, accuracy (0-1).
        baseline: accuracy of the unpruned network, drawn dotted.
        split: the split the accuracies were measured on, for the axis label.

    Used in 07_repair.
    """
    methods = list(dict.fromkeys(results["method"]))
    figure, axes = plt.subplots(1, len(methods), figsize=(5.6 * len(methods), 3.9), squeeze=False, sharey=True)
    markers = dict(zip(dict.fromkeys(results["approach"]), "osD^v"))
    for axis, method in zip(axes[0], methods):
        group, errors = results[results["method"] == method], []
        for i, (approach, points) in enumerate(group.groupby("approach", sort=False)):
            error = np.clip(100 * (1 - points["accuracy"].to_numpy()), 0.01, None)
            errors.append(error.min())
            axis.plot(100 - points["k"], error, marker=markers[approach], ms=6, lw=1.8, color=f"C{i}", label=approach)
        if baseline is not None:
            errors.append(100 * (1 - baseline))
            axis.axhline(100 * (1 - baseline), color="0.4", lw=1, ls=":", label="unpruned")
        log_error_axis(axis, errors, ylabel=f"{split} error (%), log scale" if axis is axes[0][0] else "")
        ks = sorted(group["k"].unique())
        axis.set_xscale("log")
        axis.set_xticks([100 - k for k in ks], [f"{100 - k:g}%\nk = {k:g}" for k in ks])
        axis.xaxis.set_minor_locator(matplotlib.ticker.NullLocator())
        axis.set_xlim(1.25 * (100 - min(ks)), 0.8 * (100 - max(ks)))
        axis.set(xlabel=f"{'weights' if method == 'weight' else 'units'} kept (log scale)", title=f"{method} pruning")
    handles, labels = axes[0][0].get_legend_handles_labels()
    figure.legend(handles, labels, loc="upper center", ncol=len(labels), frameon=False, fontsize=10)
    figure.tight_layout(rect=(0, 0, 1, 0.9))
    return figure

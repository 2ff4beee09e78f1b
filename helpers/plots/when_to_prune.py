"""Figures of pruning before, during or after training: the shares each method keeps per layer, where the
network disconnects, and accuracy against training cost.

Used in 10_when_to_prune.
"""

from __future__ import annotations

from collections.abc import Mapping

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from helpers.plots.common import add_accuracy_axis, log_error_axis
from helpers.plots.deploy import POINT_LABEL, arrange_labels
from helpers.plots.style import WHEN_COLORS

#: Marker of each method of `helpers.at_init` in the figures.
METHOD_MARKERS = {"SNIP": "o", "GraSP": "s", "SynFlow": "^", "magnitude (trained)": "D"}


def layer_shares(tables: Mapping[str, pd.DataFrame], keep: float) -> plt.Figure:
    """Bars of the share of each hidden layer's weights a method keeps (log axis), the uniform share dotted.

    Args:
        tables: {method: `at_init.shares_kept` of its masks}.
        keep: the share of the hidden weights every method keeps in all (%), drawn as the uniform share.
    """
    names = [n for n in next(iter(tables.values()))["layer"] if n != "total"][:-1]  # hidden layers only
    shapes = next(iter(tables.values())).set_index("layer")["shape"]
    figure, axis = plt.subplots(figsize=(7.5, 3.6))
    width = 0.8 / len(tables)
    for i, (method, table) in enumerate(tables.items()):
        shares = table.set_index("layer").loc[names, "kept %"]
        axis.bar(np.arange(len(names)) + (i - (len(tables) - 1) / 2) * width, shares, width, label=method)
    axis.axhline(keep, color="0.3", ls=":", lw=1, label=f"uniform ({keep:g}% of every layer)")
    axis.set_yscale("log")
    axis.yaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda v, _: f"{v:g}"))
    axis.set_xticks(range(len(names)), [f"layer {n}\n{shapes[n][1]}→{shapes[n][0]}" for n in names])
    axis.set_ylabel("weights kept in the layer (%, log)")
    axis.set_title(f"Where each method puts {keep:g}% of the hidden weights", loc="left")
    axis.yaxis.set_major_locator(matplotlib.ticker.LogLocator(subs=(1.0, 3.0)))
    axis.legend(frameon=False, fontsize=9, ncols=2, loc="upper left")
    figure.tight_layout()
    return figure


def connected_vs_keep(table: pd.DataFrame) -> plt.Figure:
    """The weights on an input-to-output path against the weights kept, a line per method (both log).

    A network with no such path (the output does not depend on the input) is drawn as a cross under the
    line at the bottom, one row per method; a bold cross when a whole layer was emptied.

    Args:
        table: columns method, keep (% of hidden weights), connected (% of all weights on a path),
            collapsed (the layers with no weight left, "" for none).
    """
    figure, axis = plt.subplots(figsize=(7.5, 3.8))
    positive = table.loc[table["connected"] > 0, "connected"]
    floor = positive.min() / 4
    methods = list(dict.fromkeys(table["method"]))
    for i, method in enumerate(methods):
        colour, marker = f"C{i}", METHOD_MARKERS.get(method, "o")
        rows = table[table["method"] == method].sort_values("keep", ascending=False)
        alive = rows[rows["connected"] > 0]
        axis.plot(alive["keep"], alive["connected"], marker=marker, color=colour, label=method)
        dead = rows[rows["connected"] <= 0]
        height = floor / 1.5 ** i  # one row per method under the line
        emptied = dead["collapsed"].astype(bool)
        axis.scatter(dead.loc[~emptied, "keep"], np.full(int((~emptied).sum()), height), marker="x", color=colour, s=50)
        axis.scatter(dead.loc[emptied, "keep"], np.full(int(emptied.sum()), height), marker="X", color=colour, s=70,
                     edgecolors="black", linewidths=0.6)
    axis.axhline(floor * 1.3, color="0.6", lw=0.7)
    axis.scatter([], [], marker="x", color="0.3", label="disconnected: no path from input to output")
    axis.scatter([], [], marker="X", color="0.3", edgecolors="black", linewidths=0.6, s=70,
                 label="... and a whole layer emptied")
    keeps = sorted(table["keep"].unique(), reverse=True)
    axis.set_xscale("log")
    axis.set_yscale("log")
    axis.set_xticks(keeps, [f"{k:g}" for k in keeps])
    axis.xaxis.set_minor_locator(matplotlib.ticker.NullLocator())
    axis.set_xlim(max(keeps) * 1.3, min(keeps) / 1.3)
    axis.set_ylim(floor / 1.5 ** len(methods) , None)
    low, high = axis.get_ylim()
    axis.set_yticks([t for t in axis.get_yticks() if floor * 1.3 < t <= high])  # no tick in the strip of crosses
    axis.set_ylim(low, high * 30)  # room above the lines for the legend
    axis.yaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda v, _: f"{v:g}"))
    axis.text(max(keeps) * 1.2, floor / 1.5, "no path", fontsize=8, color="0.4", va="center")
    axis.set_xlabel("hidden weights kept (%, log, sparser to the right)")
    axis.set_ylabel("weights on a path (%, log)")
    axis.set_title("Where each method's network falls apart", loc="left")
    axis.legend(frameon=False, fontsize=8, loc="upper right")
    figure.tight_layout()
    return figure


def accuracy_vs_cost(summary: pd.DataFrame, dense: tuple[float, float] | None = None) -> plt.Figure:
    """Test error (log) against the training cost (% of the dense baseline's, log), a point per arm.

    Args:
        summary: columns arm, when, epochs, flops_share (0-1), accuracy (0-1), se; one row per arm.
        dense: (accuracy, se) of the dense baseline, drawn at 100% of its own cost.
    """
    figure, axis = plt.subplots(figsize=(7.5, 4.4))
    errors = list(100 * (1 - summary["accuracy"]))
    for _, r in summary.iterrows():
        colour = WHEN_COLORS[r["when"]]
        axis.errorbar(100 * r["flops_share"], 100 * (1 - r["accuracy"]), yerr=100 * np.nan_to_num(r["se"]), fmt="o",
                      color=colour, ms=6, capsize=2)
        axis.annotate(f"{r['arm']} ({r['epochs']:g} ep.)", (100 * r["flops_share"], 100 * (1 - r["accuracy"])),
                      xytext=(6, 3), textcoords="offset points", fontsize=8, color=colour, gid=POINT_LABEL)
    if dense is not None:
        axis.errorbar(100, 100 * (1 - dense[0]), yerr=100 * dense[1], fmt="*", color=WHEN_COLORS["dense"], ms=11)
        axis.annotate("dense baseline", (100, 100 * (1 - dense[0])), xytext=(6, 3), textcoords="offset points",
                      fontsize=8, color=WHEN_COLORS["dense"], gid=POINT_LABEL)
        errors.append(100 * (1 - dense[0]))
    axis.axvline(5, color="0.5", ls="--", lw=0.8)
    axis.annotate("← 5% of the dense training", (5, 0.03), xycoords=("data", "axes fraction"), xytext=(3, 0),
                  textcoords="offset points", ha="left", va="bottom", fontsize=8, color="0.4")
    axis.axhline(2, color="0.5", ls="--", lw=0.8)  # 98% test accuracy
    axis.fill_between([0.1, 5], [0.01, 0.01], [2, 2], color="#2a9d8f", alpha=0.08, lw=0, zorder=0)  # the goal: >= 98%, <= 5%
    axis.annotate("goal", (0.01, 2), xycoords=("axes fraction", "data"), xytext=(0, -3), textcoords="offset points",
                  ha="left", va="top", fontsize=8, color="#2a9d8f")
    axis.set_xscale("log")
    axis.xaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda v, _: f"{v:g}"))
    axis.set_xlabel("training cost (% of the dense baseline's multiply-adds, log)")
    log_error_axis(axis, errors, ylabel="test error (%), log")
    axis.set_ylim(min(errors) * 0.8, max(errors) * 1.5)
    add_accuracy_axis(axis)
    handles = [matplotlib.lines.Line2D([], [], marker="o", ls="", color=c, label=w)
               for w, c in WHEN_COLORS.items() if w != "dense"]
    axis.legend(handles=handles, title="pruned", frameon=False, fontsize=8, loc="lower left")
    axis.set_title("Accuracy against what the training costs", loc="left")
    axis.set_xlim(min(100 * summary["flops_share"].min(), 1) / 1.3, 400)
    figure.tight_layout()
    arrange_labels(axis)
    return figure


def accuracy_vs_keep(summary: pd.DataFrame, dense: float | None = None) -> plt.Figure:
    """Test error (log) against the hidden weights kept (log, sparser to the right), a line per arm.

    Args:
        summary: columns arm, when, keep (%), epochs, accuracy (0-1), se (NaN for one run); one row per point;
            optionally n (seeds): a point of one seed is drawn hollow.
        dense: the dense baseline's accuracy, drawn as a dotted line.
    """
    figure, axis = plt.subplots(figsize=(7.5, 4.2))
    errors, ends = [], []  # ends: (error, keep, name, colour) of each line's last point, where its name goes
    for i, ((arm, epochs), rows) in enumerate(summary.groupby(["arm", "epochs"], sort=False)):
        rows = rows.sort_values("keep", ascending=False)
        error = 100 * (1 - rows["accuracy"])
        errors += list(error)
        axis.errorbar(rows["keep"], error, yerr=100 * rows["se"].fillna(0), marker="os^Dv"[i % 5], capsize=2,
                      color=WHEN_COLORS[rows["when"].iloc[0]], ls=["-", "--", ":", "-."][i % 4])
        ends.append((error.iloc[-1], rows["keep"].iloc[-1], f"{arm} ({rows['when'].iloc[0]}, {epochs:g} ep.)",
                     WHEN_COLORS[rows["when"].iloc[0]]))
        if "n" in rows:  # a point from one seed is drawn hollow
            one = rows[rows["n"] < 2]
            axis.scatter(one["keep"], 100 * (1 - one["accuracy"]), marker="os^Dv"[i % 5], s=40, zorder=3,
                         facecolors="white", edgecolors=WHEN_COLORS[rows["when"].iloc[0]])
    if dense is not None:
        axis.axhline(100 * (1 - dense), color=WHEN_COLORS["dense"], ls=":", lw=1, label="dense baseline")
        errors.append(100 * (1 - dense))
    keeps = sorted(summary["keep"].unique(), reverse=True)
    axis.set_xscale("log")
    axis.set_xticks(keeps, [f"{k:g}" for k in keeps])
    axis.xaxis.set_minor_locator(matplotlib.ticker.NullLocator())
    axis.set_xlim(max(keeps) * 1.3, min(keeps) / 8)  # room on the right for the names at the lines' ends
    axis.set_xlabel("hidden weights kept (%, log, sparser to the right)")
    log_error_axis(axis, errors, ylabel="test error (%), log")
    axis.set_ylim(min(errors) * 0.8, max(errors) * 1.4)
    add_accuracy_axis(axis)
    if "n" in summary and (summary["n"] < 2).any():
        axis.scatter([], [], marker="o", facecolors="white", edgecolors="0.3", label="hollow: one seed")
    axis.legend(frameon=False, fontsize=8, loc="upper left")
    label_at = 0.0
    for error, keep, name, colour in sorted(ends):  # from the bottom up, each name at least a label's height higher
        label_at = max(error, label_at * 1.1)
        axis.annotate(name, (keep, error), xytext=(keep / 1.12, label_at), textcoords="data", va="center",
                      fontsize=8, color=colour, gid=POINT_LABEL)
    axis.set_title("Accuracy against the weights kept (bars: standard error over seeds)", loc="left")
    figure.tight_layout()
    return figure

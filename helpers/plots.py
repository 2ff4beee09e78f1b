"""Figures: functions that take results or networks and return matplotlib figures.

They compute nothing a test would need; the numbers come from `pruning` and
`experiments`. Magnitudes sit on log axes with a tick per decade; accuracy
is drawn as the error rate on a log axis, where the last tenths of a point and
a collapse both show. Histograms use fixed bins and axes across k so the eye
sees what changes, and count the zeros apart (a log axis has no place for 0).

Used in every notebook.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
import torch
from torch import nn

from helpers.config import K_LIST, REFERENCE_ACCURACY
from helpers.model import linear_layers
from helpers.pruning import check_k, prunable_layers

sns.set_theme(style="whitegrid", context="notebook")
METHOD_COLORS = {"weight": "C0", "unit": "C3"}


def digits(images: torch.Tensor, labels: torch.Tensor, titles: Sequence[str] | None = None,
           columns: int = 10) -> plt.Figure:
    """A grid of digits (flattened 784-pixel images) with a title under each."""
    n = len(images)
    rows = max(1, -(-n // columns))
    figure, axes = plt.subplots(rows, columns, figsize=(1.1 * columns, 1.25 * rows), squeeze=False)
    for i, axis in enumerate(axes.flat):
        axis.axis("off")
        if i < n:
            axis.imshow(images[i].reshape(28, 28).cpu(), cmap="gray_r")
            axis.set_title(titles[i] if titles else str(int(labels[i])), fontsize=10)
    figure.tight_layout()
    return figure


def class_balance(labels: torch.Tensor, title: str = "class balance") -> plt.Figure:
    """Bar chart of how many examples each digit has."""
    counts = torch.bincount(labels.cpu(), minlength=10).numpy()
    figure, axis = plt.subplots(figsize=(6, 2.8))
    sns.barplot(x=np.arange(10), y=counts, color="C0", ax=axis)
    axis.set(xlabel="digit", ylabel="examples", title=title)
    figure.tight_layout()
    return figure


def _accuracy_axis(axis: plt.Axes) -> None:
    """On an axis of error (%) on a log scale, a right-hand axis that reads the same heights as accuracy (%)."""
    right = axis.secondary_yaxis("right", functions=(lambda e: 100 - e, lambda a: 100 - a))
    right.set_yticks([99.99, 99.9, 99.5, 99, 98, 95, 90, 80, 50, 10])
    right.yaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda a, _: f"{a:g}"))
    right.yaxis.set_minor_locator(matplotlib.ticker.NullLocator())
    right.set_ylabel("accuracy (%)")


def learning_curves(history: pd.DataFrame) -> plt.Figure:
    """Loss, and error rate on a log axis (accuracy on the right), per epoch from the table `fit` returns.

    Used in 01_training.
    """
    figure, (left, right) = plt.subplots(1, 2, figsize=(11, 3.6))
    left.plot(history["epoch"], history["loss"], "o-")
    left.set(xlabel="epoch", ylabel="training loss (log scale)", yscale="log", title="loss")
    left.yaxis.set_minor_locator(matplotlib.ticker.LogLocator(subs=(2.0, 3.0, 5.0)))  # labelled: a span under a decade
    left.yaxis.set_minor_formatter(matplotlib.ticker.FuncFormatter(lambda v, _: f"{v:g}"))
    left.yaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda v, _: f"{v:g}"))
    right.plot(history["epoch"], 100 * (1 - history["train_accuracy"]), "o-", label="train (batches seen)")
    for column, marker in (("validation_accuracy", "s-"), ("test_accuracy", "^-")):
        if column in history and history[column].notna().any():
            right.plot(history["epoch"], 100 * (1 - history[column]), marker, label=column.split("_")[0])
    right.set(xlabel="epoch", ylabel="error (%), log scale", title="error rate", yscale="log")
    right.yaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda e, _: f"{e:g}"))
    _accuracy_axis(right)
    right.legend(loc="lower left")
    figure.tight_layout()
    return figure


def _weights(net: nn.Module, include_output: bool = False) -> dict[str, torch.Tensor]:
    layers = linear_layers(net)
    return {name: layer.weight.detach().cpu().flatten() for name, layer in (layers if include_output else layers[:-1])}


def decade_range(weights: Mapping[str, torch.Tensor], max_decades: int = 16) -> tuple[int, int]:
    """The decades (low, high) that hold the nonzero |w| of all `weights`: 10**low <= |w| <= 10**high.

    At most `max_decades` wide; smaller magnitudes are drawn in the first bin.
    """
    nonzero = [w[w != 0].abs() for w in weights.values()]
    nonzero = [w for w in nonzero if len(w)]
    if not nonzero:
        return -3, 0
    high = int(np.ceil(np.log10(max(float(w.max()) for w in nonzero))))
    low = int(np.floor(np.log10(min(float(w.min()) for w in nonzero))))
    return max(low, high - max_decades), max(high, low + 1)


def cut_magnitudes(net: nn.Module, ks: Sequence[float]) -> dict[float, dict[str, float]]:
    """For each k, per prunable layer, the largest |w| that layer-wise weight pruning at k removes.

    In a layer of n weights that is the round(k/100 n)-th smallest |w| (`weight_masks`'
    count, ties included); 0.0 when k removes nothing. The histograms draw it as a line.
    """
    ks = [check_k(k) for k in ks]
    ordered = {name: layer.weight.detach().abs().flatten().sort().values.cpu()
               for name, layer in prunable_layers(net).items()}
    return {k: {name: float(values[round(k / 100 * len(values)) - 1]) if round(k / 100 * len(values)) else 0.0
                for name, values in ordered.items()} for k in ks}


#: Colours of the cut lines, one per k (dark: they must show over grey and blue bars).
CUT_COLORS = ["#d95f02", "#7b3294", "#000000", "#1b7837", "#b2182b"]


class WeightHistograms:
    """Per-layer histograms of log10 |w| of `net`, ready to show the survivors of any pruning.

    Trained weights span many decades (an L1-trained layer holds silenced
    weights near 1e-11 and working ones near 1e-2), so the x axis is |w| on a
    log scale with a tick per decade; the sign is dropped (magnitude pruning
    ignores it). Weights that are exactly 0 cannot sit on a log axis: they get
    their own bar at the left ("= 0") and a count in the title.

    The bins, the axes and the trained distribution (grey) are computed once
    from `net`; `update(pruned)` only recounts the survivors (blue) and the
    zeros, so figures for different k compare directly and redrawing is fast
    (the explorer keeps one). With `ks`, a dashed line per k marks the largest
    |w| that layer-wise weight pruning at k removes (`cut_magnitudes`).

    Args:
        net: the trained network.
        bins: number of bins across the decades the weights span.
        include_output: also show the output layer (never pruned by default: no lines there).
        ks: the k whose cuts to draw.
        columns: panels per row (default: all in one row); fewer gives several rows and larger print.
        decades: (low, high): the x axis spans 10**low to 10**high (default: the
            decades `net`'s weights span, see `decade_range`); give two figures the
            same to compare them.
        kept_label: the legend's name for the survivors (e.g. "kept at k = 90%").

    Used in 01_training, 02_weight_pruning and the explorer.
    """

    def __init__(self, net: nn.Module, bins: int = 60, include_output: bool = True, ks: Sequence[float] = (),
                 decades: tuple[int, int] | None = None, columns: int | None = None,
                 kept_label: str = "kept after pruning"):
        self.include_output = include_output
        original = _weights(net, include_output)
        shapes = {name: tuple(layer.weight.shape) for name, layer in linear_layers(net)}
        self.low, self.high = decade_range(original) if decades is None else (int(decades[0]), int(decades[1]))
        if not self.low < self.high:
            raise ValueError(f"decades must be (low, high) with low < high, got {decades!r}")
        self.bins = bins
        edges = np.linspace(self.low, self.high, bins + 1)
        width = (self.high - self.low) / 14  # the "= 0" bar, one bar's width to the left of the first bin
        self.zero_at = self.low - 2 * width
        cuts = cut_magnitudes(net, ks)
        colors = [CUT_COLORS[i % len(CUT_COLORS)] for i in range(len(cuts))]  # dark enough to see over the bars
        columns = len(original) if columns is None else max(1, min(int(columns), len(original)))
        rows = -(-len(original) // columns)
        big = columns < len(original)  # several rows: larger print
        self.fontsize = 10 if big else 8
        self.figure, grid = plt.subplots(rows, columns, figsize=((4.0 if big else 3.2) * columns, (3.4 if big else 3.3) * rows),
                                         squeeze=False, layout="constrained", sharey=True)
        for axis in grid.flatten()[len(original):]:  # empty slots of the last row
            self.figure.delaxes(axis)
        axes = [list(grid.flatten()[:len(original)])]
        self.kept, self.zeros, self.sizes, self.names, self.shapes = {}, {}, {}, {}, shapes
        self.never_pruned = linear_layers(net)[-1][0] if include_output else None
        self.axes = dict(zip(original, axes[0]))
        for axis, (name, weights) in zip(axes[0], original.items()):
            counts, zeros = self._count(weights)
            axis.stairs(counts, edges, fill=False, color="0.35", lw=1.1, zorder=3, label="trained (outline)")
            axis.bar([self.zero_at], [zeros], width=width, color="0.8")
            self.kept[name] = axis.stairs(np.zeros(bins), edges, fill=True, color="C0", alpha=0.85,
                                          label=kept_label)
            self.zeros[name] = axis.bar([self.zero_at], [0], width=width, color="0.25",
                                        label="exactly 0 (left bar)")
            self.sizes[name] = len(weights)
            for (k, cut), color in zip(cuts.items(), colors):
                if cut.get(name, 0) > 0:
                    axis.axvline(np.log10(cut[name]), color=color, ls="--", lw=1.3, label=f"cut at k = {k:g}%")
            step = max(1, int(np.ceil((self.high - self.low) / 4)))  # at most five labelled decades
            ticks = list(range(self.high, self.low - 1, -step))[::-1]
            axis.set_xticks([self.zero_at] + ticks, ["= 0"] + [f"$10^{{{t}}}$" for t in ticks], fontsize=self.fontsize)
            axis.tick_params(axis="y", labelsize=self.fontsize)
            axis.set_xticks(range(self.low, self.high + 1), minor=True)
            axis.set(yscale="log", ylim=(0.8, 2 * max(self.sizes.values())), xlim=(self.zero_at - 0.8 * width, self.high),
                     xlabel="|w| (log scale)")
            self._title(name, zeros)
        for axis in grid[:, 0]:
            axis.set_ylabel("weights per bin (log)", fontsize=self.fontsize)
        handles, labels = axes[0][0].get_legend_handles_labels()
        for axis in axes[0][1:]:  # lines drawn only in some layers still get one legend entry
            for handle, label in zip(*axis.get_legend_handles_labels()):
                if label not in labels:
                    handles.append(handle), labels.append(label)
        self.figure.legend(handles, labels, loc="outside lower center", ncol=min(len(labels), 6), fontsize=self.fontsize,
                           frameon=False)
        self.legend_labels = labels

    def _count(self, weights: torch.Tensor) -> tuple[np.ndarray, int]:
        """Counts per bin of log10 |w| of the nonzero weights (clipped into the range), and the zeros."""
        values = weights.numpy()
        nonzero = values[values != 0]
        logs = np.clip(np.log10(np.abs(nonzero, dtype=np.float64)), self.low, self.high)
        return np.histogram(logs, bins=self.bins, range=(self.low, self.high))[0], len(values) - len(nonzero)

    def _title(self, name: str, zeros: int | None) -> None:
        """Layer, shape and (unless `zeros` is None) the count of exact zeros."""
        out, inputs = self.shapes[name]
        title = f"layer {name} ({out}×{inputs})" + (", never pruned" if name == self.never_pruned else "")
        if zeros is not None:
            title += f"\n{zeros:,} exactly 0 ({100 * zeros / self.sizes[name]:.1f}%)"
        self.axes[name].set_title(title, fontsize=self.fontsize + 1)

    def update(self, pruned: nn.Module | None) -> plt.Figure:
        """Draw the nonzero weights of `pruned` (None: none) over the trained distribution, and count its zeros."""
        survivors = _weights(pruned, self.include_output) if pruned is not None else {}
        for name, stairs in self.kept.items():
            counts, zeros = self._count(survivors[name]) if name in survivors else (np.zeros(self.bins), 0)
            stairs.set_data(counts)
            self.zeros[name][0].set_height(zeros)
            self._title(name, zeros)
        return self.figure


def weight_histograms(net: nn.Module, pruned: nn.Module | None = None, bins: int = 60,
                      include_output: bool = True, ks: Sequence[float] = (),
                      decades: tuple[int, int] | None = None, columns: int | None = 3,
                      threshold: float | None = None, threshold_label: str | None = None,
                      kept_label: str = "kept after pruning") -> plt.Figure:
    """Per-layer histograms of log10 |w| of `net`, with the survivors in `pruned` drawn over them.

    Bins and axes depend on `net` only, so figures for different k compare directly.
    With `ks`, a dashed line per k marks where layer-wise weight pruning cuts; with
    `threshold`, a dotted line marks that |w| in every panel (`threshold_label` names it);
    `kept_label` names the survivors in the legend (say which k they are).
    Without `pruned` and without exact zeros in `net`, the "= 0" bar and its count are left out.
    Panels come `columns` to a row (None: one row). See `WeightHistograms`.

    Used in 01_training and 02_weight_pruning.
    """
    panel = WeightHistograms(net, bins, include_output, ks, decades, columns, kept_label)
    if threshold is not None:
        for axis in panel.axes.values():
            axis.axvline(np.log10(threshold), color="C3", ls=":", lw=1.6,
                         label=threshold_label or f"|w| = {threshold:g}")
    if pruned is None:
        no_zeros = all(int((w == 0).sum()) == 0 for w in _weights(net, include_output).values())
        for name, stairs in panel.kept.items():
            stairs.remove()
            panel.zeros[name].remove()
            if no_zeros:  # nothing to count at "= 0": drop the bar's tick and the count
                axis = panel.axes[name]
                ticks = [(t, label.get_text()) for t, label in zip(axis.get_xticks(), axis.get_xticklabels())
                         if label.get_text() != "= 0"]
                axis.set_xticks([t for t, _ in ticks], [label for _, label in ticks], fontsize=panel.fontsize)
                axis.set_xlim(panel.low, panel.high)
                panel._title(name, None)
        panel.figure.legends[0].remove()
        handles, labels = [], []
        for axis in panel.figure.axes:
            for handle, label in zip(*axis.get_legend_handles_labels()):
                if label not in labels:
                    handles.append(handle), labels.append(label)
        if labels:
            panel.figure.legend(handles, labels, loc="outside lower center", ncol=min(len(labels), 6),
                                fontsize=panel.fontsize, frameon=False)
        return panel.figure
    return panel.update(pruned)


def digit_strip(images: torch.Tensor, titles: Sequence[str], title: str = "") -> plt.Figure:
    """Digits side by side in one image (fast to redraw), with a caption under each."""
    strip = torch.cat([image.reshape(28, 28).cpu() for image in images], dim=1) if len(images) else torch.zeros(28, 28)
    figure, axis = plt.subplots(figsize=(max(1.0, 0.75 * len(images)) + 0.4, 1.5))
    axis.imshow(strip, cmap="gray_r")
    axis.set_xticks([28 * i + 14 for i in range(len(titles))], titles, fontsize=9)
    axis.set_yticks([])
    axis.set_title(title, fontsize=9)
    axis.grid(False)
    figure.subplots_adjust(left=0.02, right=0.98, bottom=0.22, top=0.8)
    return figure


def unit_norms(net: nn.Module, k: float | None = None, activity: pd.DataFrame | None = None,
               bins: int = 40) -> plt.Figure:
    """Per hidden layer, a histogram of the L2 norms of the units' weight rows, on a log axis.

    Trained with an L1 penalty, the norms span many decades (silenced rows sit
    near 1e-10, working ones near 1): on a linear axis the silenced ones fill
    one bar at zero. The bins are the same in every layer.

    Args:
        net: the network.
        k: draw a dashed line at the largest norm that unit pruning at k% removes
            (every unit at or left of it goes).
        activity: a `helpers.experiments.unit_activity` table of `net`; the bars are
            then split into units active on some of its images (red) and units
            never active on them (grey).
        bins: number of bins.

    Used in 03_unit_pruning.
    """
    layers = linear_layers(net)[:-1]
    norms = {name: layer.weight.detach().cpu().norm(dim=1).double().numpy() for name, layer in layers}
    every = np.concatenate(list(norms.values()))
    positive = every[every > 0]
    low, high = (positive.min(), positive.max()) if len(positive) else (1e-3, 1.0)
    floor = low / 2  # an all-zero row (a pruned unit) is drawn in the first bin
    edges = np.geomspace(floor / 1.01, max(high, low * 10) * 1.01, bins + 1)
    figure, axes = plt.subplots(1, len(layers), figsize=(3.3 * len(layers), 3.2), squeeze=False, sharex=True)
    for axis, (name, _) in zip(axes[0], layers):
        values = np.maximum(norms[name], floor)
        if activity is not None:
            alive = activity.loc[activity["layer"] == name, "alive"].to_numpy(dtype=bool)
            if len(alive) != len(values):
                raise ValueError(f"activity has {len(alive)} units for layer {name!r}, the network {len(values)}")
            axis.hist([values[alive], values[~alive]], bins=edges, stacked=True, color=["C3", "0.6"],
                      label=["live: active on some image", "dead: never active"])
            title = f"layer {name}: {alive.sum()} live, {(~alive).sum()} dead"
        else:
            axis.hist(values, bins=edges, color="C3", label="units")
            title = f"layer {name}: {len(values)} units"
        pruned = round(k / 100 * len(values)) if k is not None else 0  # as many as unit pruning removes
        if pruned:
            axis.axvline(np.sort(norms[name])[pruned - 1], color="k", ls="--", lw=1.2,
                         label=f"cut of unit pruning at k = {k:g}%: it removes every unit at or left of the line")
            title += f"; {pruned} cut"
        axis.set_xscale("log")
        decades = np.arange(np.floor(np.log10(edges[0])), np.ceil(np.log10(edges[-1])) + 1)
        step = max(1, int(np.ceil(len(decades) / 6)))
        axis.set_xticks(10.0 ** decades[decades % step == 0])
        axis.xaxis.set_minor_locator(matplotlib.ticker.NullLocator())
        axis.set_yscale("log")
        axis.set_ylim(0.7, None)
        axis.yaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda v, _: f"{v:g}"))
        axis.set_title(title, fontsize=10)
        axis.set_xlabel("L2 norm of the row (log scale)")
    axes[0][0].set_ylabel("units (log scale)")
    handles, labels = axes[0][0].get_legend_handles_labels()
    figure.tight_layout()
    if activity is not None or pruned:
        figure.legend(handles, labels, loc="lower center", ncol=len(labels), fontsize=9, frameon=False)
        figure.subplots_adjust(bottom=0.3)
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


def pixel_survival(net: nn.Module) -> torch.Tensor:
    """For each of the 784 input pixels, the share of its first-layer connections that are nonzero (28 x 28)."""
    weight = linear_layers(net)[0][1].weight.detach().cpu()
    if weight.shape[1] != 784:
        raise ValueError(f"pixel maps need a first layer that reads 784 pixels, got {weight.shape[1]} inputs")
    return (weight != 0).float().mean(dim=0).reshape(28, 28)


PIXEL_VALUES = ("kept", "magnitude")


def pixel_values(net: nn.Module, value: str = "kept") -> torch.Tensor:
    """What a pixel map shows for each of the 784 pixels (28 x 28).

    Args:
        net: a network whose first Linear layer reads the 784 pixels.
        value: "kept": the share of the pixel's first-layer connections that are
            nonzero, divided by the share of the whole layer (1 = as many as the
            average pixel; the map does not fade to black as k grows);
            "magnitude": the sum of |w| over the pixel's first-layer connections.

    Used in 02_weight_pruning, 03_unit_pruning and the explorer (through `pixel_maps`).
    """
    if value not in PIXEL_VALUES:
        raise ValueError(f"value must be one of {PIXEL_VALUES}, got {value!r}")
    if value == "kept":
        share = pixel_survival(net)
        return share / share.mean() if share.mean() > 0 else share
    weight = linear_layers(net)[0][1].weight.detach().cpu()
    pixel_survival(net)  # checks the shape
    return weight.abs().sum(dim=0).reshape(28, 28)


def pixel_maps(nets: Mapping[str, nn.Module], axes: Sequence[plt.Axes] | None = None,
               value: str = "kept") -> plt.Figure:
    """28x28 maps of `pixel_values` for several networks, one panel each, one colour scale and a colour bar.

    Pixels with no connection left (value 0) are light grey, apart from the colour scale.
    "kept" is drawn on a log scale from a tenth to ten times the layer's average
    share (values beyond share the end colours); "magnitude" on a log scale over
    three decades below the largest value of all panels.
    """
    maps = {title: pixel_values(net, value).numpy() for title, net in nets.items()}
    if axes is None:
        figure, axes = plt.subplots(1, len(nets), figsize=(2.2 * len(nets) + 1.2, 2.6), squeeze=False,
                                    layout="constrained")
        axes = axes[0]
    figure = axes[0].figure
    if value == "kept":
        norm, label = matplotlib.colors.LogNorm(0.1, 10), "share of connections kept\n÷ layer's share (log)"
    else:
        top = max((float(m.max()) for m in maps.values()), default=1.0) or 1.0
        norm, label = matplotlib.colors.LogNorm(top / 1000, top), "Σ|w| of the pixel's\nconnections (log)"
    colours = matplotlib.colormaps["viridis"].with_extremes(bad="0.88")
    image = None
    for axis, (title, values) in zip(axes, maps.items()):
        axis.clear()
        image = axis.imshow(np.ma.masked_equal(values, 0), cmap=colours, norm=norm)
        axis.set_title(title, fontsize=10)
        axis.axis("off")
    if image is not None and len(figure.axes) == len(nets):
        bar = figure.colorbar(image, ax=list(axes), shrink=0.85, label=label + "\n(grey: none)",
                              extend="both" if value == "kept" else "min")
        if value == "kept":
            bar.set_ticks([0.1, 0.3, 1, 3, 10], labels=["0.1×", "0.3×", "1×", "3×", "10×"])
    return figure


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
    _accuracy_axis(axis)
    axis.set(xlabel="k: % pruned in each layer", ylabel="test error (%), log scale", title=title)
    handles, labels = axis.get_legend_handles_labels()
    ours = [i for i, handle in enumerate(handles) if isinstance(handle, matplotlib.container.ErrorbarContainer)]
    order = ours + [i for i in range(len(handles)) if i not in ours]  # our lines first, then the references
    axis.legend([handles[i] for i in order], [labels[i] for i in order], fontsize=8, loc="upper left")
    figure.tight_layout()
    return figure


PROCEDURE_STYLES = {"one-shot": ("o", "0.55"), "fine-tuned": ("D", "C0"), "iterative": ("s", "C2"),
                    "gradual": ("^", "C1")}


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


FORM_MARKERS = {"CSR": "o", "dense + gzip": "s", "compacted": "^", "nn.Sequential": "D", "to_inference": "D",
                "state_dict": "D", "Deep Compression": "*", "ONNX": "P", "ONNX, masked": "X", "int8": "v"}
#: Columns `pareto` draws as costs (less is better, the axis reversed so that better is to the right), with their units.
COST_UNITS = {"bytes": "MB", "latency_ms": "ms", "batch_ms": "ms"}


def _series(row) -> str:
    if row.method == "dense":
        return "dense network" if row.form in ("nn.Sequential", "to_inference") else f"dense, {row.form}"
    return f"{row.method}, {row.form}, {row.procedure}"


POINT_LABEL = "point label"
"""The gid of the k labels `pareto` writes beside its points (`arrange_labels` moves them)."""

_LABEL_OFFSETS = [(5, 3), (5, -11), (-5, 3), (-5, -11), (5, 13), (5, -21), (-5, 13), (-5, -21),
                  (9, -4), (-9, -4), (5, 23), (5, -31), (-5, 23), (-5, -31), (20, -4), (-20, -4),
                  (5, 33), (5, -41), (-5, 33), (-5, -41)]


def arrange_labels(axis: plt.Axes, marker_radius: float = 5.0) -> None:
    """Move the point labels of `axis` (texts with gid `POINT_LABEL`) so that they overlap neither each other
    nor any labelled point; a label with the same text and colour as one already placed within a few
    pixels is hidden (it would say the same thing in the same place).

    Call it once the figure's layout is final: positions are worked out in pixels. Each label tries
    offsets around its point in turn and takes the first free one (else the least crowded).
    """
    labels = [t for t in axis.texts if t.get_gid() == POINT_LABEL]
    if not labels:
        return
    scale = axis.figure.dpi / 72  # points to pixels
    to_pixels = axis.transData.transform
    anchors = [to_pixels(t.xy) for t in labels]
    radius = marker_radius * scale
    obstacles = [(x - radius, y - radius, x + radius, y + radius) for x, y in anchors]
    frame = axis.bbox

    def clash(box, others):
        return sum(max(0.0, min(box[2], o[2]) - max(box[0], o[0])) * max(0.0, min(box[3], o[3]) - max(box[1], o[1]))
                   for o in others)

    placed: list[tuple[float, float, float, float]] = []
    kept: list[tuple[str, str, float, float]] = []
    for text, (x, y) in zip(labels, anchors):
        key = (text.get_text(), str(text.get_color()))
        if any(k == key[0] and c == key[1] and abs(x - px) < 4 and abs(y - py) < 4 for k, c, px, py in kept):
            text.set_visible(False)
            continue
        kept.append((*key, x, y))
        width = 0.62 * text.get_fontsize() * len(text.get_text()) * scale
        height = 0.8 * text.get_fontsize() * scale
        best = None
        for dx, dy in _LABEL_OFFSETS:
            left = x + dx * scale if dx > 0 else x + dx * scale - width
            box = (left, y + dy * scale, left + width, y + dy * scale + height)
            outside = max(0.0, width * height - clash(box, [(frame.x0, frame.y0, frame.x1, frame.y1)]))
            score = 10 * clash(box, placed) + clash(box, obstacles) + outside  # overlapping labels are worst
            score = score if score > 1e-6 else 0.0  # float rounding of the areas
            if best is None or score < best[0]:
                best = (score, dx, dy, box)
            if score == 0:
                break
        _, dx, dy, box = best
        text.xyann = (dx, dy)
        text.set_horizontalalignment("left" if dx > 0 else "right")
        placed.append(box)


def _bytes_label(value: float, _=None) -> str:
    """A tick label for bytes: "2 MB" from a million bytes on, "50 kB" below."""
    return f"{value / 1e6:g} MB" if value >= 1e6 else f"{value / 1e3:g} kB"


def pareto(points: pd.DataFrame, x: str = "speedup", accuracy: str = "validation_accuracy",
           floor: float | None = None, axis: plt.Axes | None = None, xlabel: str | None = None,
           legend: str | None = "upper left") -> plt.Figure:
    """Error (log axis, drawn downward so that better is up) against a measured gain or cost (log axis,
    better to the right), one marker per network and form, the Pareto front joined and ringed, every
    point labelled with its k (labels moved apart by `arrange_labels`).

    The error axis is zoomed on the networks worth shipping (up to 4x the error of `floor`); points
    beyond it sit on the bottom edge (their errors are in the table).

    Args:
        points: a `helpers.deploy.shipping_table` (or its rows): method, k, procedure, form, the columns
            `accuracy` (0-1) and `x`, and a boolean column "front"; rows with a False "eligible"
            column are drawn faded; a "label" column, if there is one, replaces the k beside each point.
        x: "speedup" (more is better), or a cost of `COST_UNITS` ("bytes", "latency_ms", "batch_ms": less is
            better, the axis is inverted); any other column is drawn as more-is-better.
        accuracy: the accuracy column drawn (validation: the one networks are chosen on).
        floor: the lowest accuracy worth shipping (0-1), drawn as a dotted line: networks above it qualify.
        axis: draw into this axis instead of a new figure.
        xlabel: the x label (default: says what `x` is).
        legend: where the legend goes ("outside": to the right of the axis; None: no legend).

    Colour: method (dense in black); marker: form; filled: fine-tuned, hollow: one-shot.

    Used in 05_speed_and_size (through `pareto_panels`).
    """
    missing = {"method", "k", "procedure", "form", accuracy, x, "front"} - set(points.columns)
    if missing:
        raise ValueError(f"points lacks the columns {sorted(missing)}")
    if axis is None:
        figure, axis = plt.subplots(figsize=(6.4, 4.6))
    figure = axis.figure
    eligible = points["eligible"] if "eligible" in points else pd.Series(True, index=points.index)
    true_error = (100 * (1 - points[accuracy])).clip(lower=0.01)
    shown = true_error[eligible] if eligible.any() else true_error
    top = min(100.0, 4 * max(shown.max(), 100 * (1 - floor) if floor is not None else 0))
    error = true_error.clip(upper=top)
    for series, group in points.groupby(points.apply(_series, axis=1), sort=False):
        first = group.iloc[0]
        color = "0.1" if first["method"] == "dense" else METHOD_COLORS.get(first["method"], "0.4")
        filled = first["procedure"] != "one-shot"
        labelled = False
        for faded in (False, True):
            part = group[(~eligible[group.index]) == faded]
            if len(part):
                axis.plot(part[x], error[part.index], ls="none", marker=FORM_MARKERS.get(first["form"], "D"), ms=7,
                          color=color, mfc=color if filled else "white", alpha=0.3 if faded else 1, clip_on=False,
                          label=None if labelled else series)
                labelled = True
        for index, row in group.iterrows():
            text = row["label"] if "label" in row else "dense" if row["method"] == "dense" else f"{row['k']:g}"
            axis.annotate(text, (row[x], error[index]), xytext=(5, 3), textcoords="offset points", fontsize=8,
                          color=color, alpha=0.45 if not eligible[index] else 1, gid=POINT_LABEL)
    front = points[points["front"].astype(bool)].sort_values(x)
    if len(front):
        axis.plot(front[x], error[front.index], color="0.2", lw=1, ls="--", zorder=1)
        axis.plot(front[x], error[front.index], ls="none", marker="o", ms=13, mfc="none", mec="0.2", mew=1.2,
                  label="Pareto front")
    if floor is not None:
        axis.axhline(100 * (1 - floor), color="0.4", lw=1, ls=":",
                     label=f"worth shipping: accuracy ≥ {100 * floor:.2f}% (above this line)")
    axis.set_xscale("log")
    axis.set_yscale("log")
    low, _ = axis.get_ylim()
    axis.set_ylim(top * 1.05, low / 1.15)  # inverted: the lowest error, the best network, at the top (room for labels)
    if x in COST_UNITS:
        axis.invert_xaxis()
    ticks = matplotlib.ticker.LogLocator(subs=(1.0, 2.0, 5.0))
    axis.xaxis.set_major_locator(ticks)
    axis.xaxis.set_minor_locator(matplotlib.ticker.NullLocator())
    axis.xaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(
        _bytes_label if x == "bytes" else (lambda v, _: f"{v:g} ms") if x in COST_UNITS
        else (lambda v, _: f"{v:g}x" if x == "speedup" else f"{v:g}")))
    axis.yaxis.set_major_locator(matplotlib.ticker.LogLocator(subs=(1.0, 2.0, 5.0)))
    axis.yaxis.set_minor_locator(matplotlib.ticker.NullLocator())
    axis.yaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda e, _: f"{e:g}"))
    _accuracy_axis(axis)
    default = {"speedup": "measured speedup over dense (reference per form, see table), log scale",
               "bytes": "bytes on disk (log scale, smaller to the right)",
               "latency_ms": "latency, one image (ms, log scale, faster to the right)",
               "batch_ms": "time for the test set as one batch (ms, log scale, faster to the right)"}.get(x, x)
    axis.set(xlabel=xlabel or default,
             ylabel=f"{accuracy.replace('_', ' ').replace('accuracy', 'error')} (%), log, better ↑")
    if legend == "outside":
        axis.legend(fontsize=9, loc="upper left", bbox_to_anchor=(1.15, 1), borderaxespad=0)
    elif legend:
        axis.legend(fontsize=9, loc=legend)
    figure.tight_layout()
    arrange_labels(axis)
    return figure


def pareto_panels(panels: Mapping[str, pd.DataFrame], floor: float | None = None,
                  titles: Mapping[str, str] | None = None, accuracy: str = "validation_accuracy") -> plt.Figure:
    """Several `pareto` panels side by side, one per x column, with one legend below them all.

    Args:
        panels: {x column ("speedup", "bytes"): the points of that panel (see `pareto`)}.
        floor: the lowest accuracy worth shipping (0-1).
        titles: {x column: the panel's title}.
        accuracy: the accuracy column drawn.

    Used in 05_speed_and_size.
    """
    figure, axes = plt.subplots(1, len(panels), figsize=(7.5 * len(panels), 6), squeeze=False)
    handles = {}
    for axis, (x, points) in zip(axes[0], panels.items()):
        pareto(points, x, accuracy=accuracy, floor=floor, axis=axis, legend=None)
        axis.set_title((titles or {}).get(x, ""))
    for axis in sorted(axes[0], key=lambda a: -len(a.get_legend_handles_labels()[1])):  # the fullest legend's order first
        for handle, label in zip(*axis.get_legend_handles_labels()):
            if label not in handles or (handles[label].get_alpha() or 1) < (handle.get_alpha() or 1):
                handles[label] = handle  # an unfaded handle, from the panel where the network is worth shipping
    columns = 3
    figure.legend(list(handles.values()), list(handles), loc="lower center", ncol=columns, fontsize=10, frameon=False)
    rows = -(-len(handles) // columns)
    figure.tight_layout(rect=(0, 0.045 * rows + 0.01, 1, 1))
    for axis in axes[0]:
        arrange_labels(axis)
    return figure


def speed_and_size_vs_k(table: pd.DataFrame) -> plt.Figure:
    """Three panels against k: test error, measured speedup (with the FLOP ratio dotted) and times smaller
    on disk, one line per method and form; one-shot solid with hollow markers, fine-tuned dashed with
    filled ones; each panel's legend below it.

    Args:
        table: a `helpers.deploy.shipping_table`: method, k, procedure, form, accuracy, speedup,
            flop_ratio, smaller. The dense rows are left out (they are the reference, 1x). Each
            speedup is against the dense network the table names in `compared_with`.

    Used in 05_speed_and_size.
    """
    missing = {"method", "k", "procedure", "form", "accuracy", "speedup", "flop_ratio", "smaller"} - set(table.columns)
    if missing:
        raise ValueError(f"table lacks the columns {sorted(missing)}")
    pruned = table[table["method"] != "dense"].sort_values("k")
    figure, (accuracy_axis, speed_axis, size_axis) = plt.subplots(1, 3, figsize=(16, 6.2))
    styles = {"one-shot": "-", "fine-tuned": "--"}

    def look(procedure, color):
        filled = procedure != "one-shot"
        return dict(ls=styles.get(procedure, "-."), color=color, mfc=color if filled else "white", mew=1.5)

    for (method, procedure), group in pruned.groupby(["method", "procedure"], sort=False):
        first = group.drop_duplicates("k")
        accuracy_axis.plot(first["k"], (100 * (1 - first["accuracy"])).clip(lower=0.01), marker="o", ms=6,
                           label=f"{method}, {procedure}", **look(procedure, METHOD_COLORS.get(method)))
    for (method, form, procedure), group in pruned.groupby(["method", "form", "procedure"], sort=False):
        color = METHOD_COLORS.get(method) if form != "dense + gzip" else "C2"
        marker = FORM_MARKERS.get(form, "o")
        label = f"{method}, {form}, {procedure}"
        speed_axis.plot(group["k"], group["speedup"], marker=marker, ms=6, label=label, **look(procedure, color))
        size_axis.plot(group["k"], group["smaller"], marker=marker, ms=6, label=label, **look(procedure, color))
        if procedure == "one-shot" and form != "dense + gzip":
            speed_axis.plot(group["k"], group["flop_ratio"], ls=":", color=color, lw=1.2,
                            label=f"{method}, {form}, FLOP ratio")
    speed_axis.axhline(1, color="0.4", lw=1)
    size_axis.axhline(1, color="0.4", lw=1)
    accuracy_axis.set(yscale="log", xlabel="k (%)", ylabel="test error (%), log", title="test error (lower is better)")
    accuracy_axis.yaxis.set_major_locator(matplotlib.ticker.LogLocator(subs=(1.0, 2.0, 5.0)))
    accuracy_axis.yaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda e, _: f"{e:g}"))
    accuracy_axis.yaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    _accuracy_axis(accuracy_axis)
    speed_axis.set(yscale="log", xlabel="k (%)",
                   ylabel="measured speedup over dense (log)\nreference per form, see table",
                   title="forward pass, whole test set")
    size_axis.set(yscale="log", xlabel="k (%)", ylabel="times smaller than the dense file (log)", title="size on disk")
    for axis in (accuracy_axis, speed_axis, size_axis):
        axis.legend(fontsize=9, loc="upper center", bbox_to_anchor=(0.5, -0.14), ncol=2, frameon=False)
    figure.tight_layout()
    return figure


#: One colour per criterion, the same in every panel and notebook.
CRITERION_COLORS = {"magnitude": "C0", "magnitude, global": "C9", "random": "0.6", "taylor": "C3", "obd": "C2", "obd, global": "#0b5d1e",
                    "wanda": "C1", "lamp": "C4", "l2": "C0", "l1": "C5", "l2_out": "C6", "l2_in_out": "C8",
                    "activation": "C1", "apoz": "C9"}


def _error_axis(axis: plt.Axes, errors: Sequence[float], floor: float = 0.01, ylabel: str = "error (%), log scale") -> None:
    """A log axis of the error with readable ticks from the lowest error up to 100% (and chance marked)."""
    axis.axhline(90, color="0.75", lw=0.7, ls=(0, (1, 3)))
    axis.set_yscale("log")
    axis.set_ylim(max(min(errors, default=1) * 0.7, floor), 100)
    axis.yaxis.set_major_locator(matplotlib.ticker.FixedLocator([0.1, 1, 1.5, 2, 3, 5, 10, 20, 50, 90]))
    axis.yaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda e, _: f"{e:g}"))
    axis.yaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    axis.set_ylabel(ylabel)


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
            _error_axis(axis, errors, ylabel=f"{split} error (%), log scale" if c == 0 else "")
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
    _error_axis(axis, errors, ylabel=f"{split} error (%), log scale")
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
        _error_axis(axis, errors, ylabel=f"{split} error (%), log scale" if axis is axes[0][0] else "")
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


#: Marker, colour and line style of each branch of `lottery.branch`, the ticket first.
BRANCH_STYLES = {"ticket": ("o", "C0", "-"), "reinitialised": ("s", "C3", "--"), "random mask": ("^", "0.45", "--"),
                 "no rewind": ("D", "C2", ":"), "late rewind": ("v", "C4", "-."),
                 "reinitialised, rescaled": ("X", "C1", "--")}


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


def pipeline(stages: pd.DataFrame, accuracies: pd.DataFrame) -> plt.Figure:
    """Deep Compression step by step: the bytes after each step (left, a dot per step on a log axis, with the
    times-smaller and the bits per kept weight) and the error after each step (right).

    Args:
        stages: `helpers.compression.size_stages` (stage, bytes, bits_per_weight, smaller).
        accuracies: one row per step, in order: step, validation_accuracy, accuracy (test), both 0-1.

    Used in 09_ship_it.
    """
    figure, (left, right) = plt.subplots(1, 2, figsize=(15, 4.8), gridspec_kw=dict(width_ratios=(1.3, 1)))
    y = np.arange(len(stages))[::-1]
    colours = ["0.35"] + ["C0"] * (len(stages) - 1)
    left.hlines(y, stages["bytes"], stages["bytes"].max(), color="0.8", lw=1, zorder=1)  # how far each step came down
    left.scatter(stages["bytes"], y, s=60, color=colours, zorder=3)
    for position, row in zip(y, stages.itertuples()):
        text = (f"{row.bytes:,.0f} B · {row.smaller:.0f}x smaller · {row.bits_per_weight:.1f} bits per kept weight"
                if row.Index else f"{row.bytes:,.0f} B · 32 bits per weight")
        left.annotate(text, (row.bytes, position), xytext=(0, 9), textcoords="offset points", ha="left" if row.Index
                      else "right", va="bottom", fontsize=9)
    left.set_xscale("log")
    low, high = stages["bytes"].min(), stages["bytes"].max()
    left.set_xlim(low / 1.6, high * 1.6)
    left.set_ylim(-0.6, len(stages) - 0.3)
    left.set_yticks(y, [f"{i + 1}. {stage}" for i, stage in enumerate(stages["stage"])])
    left.xaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(_bytes_label))
    left.xaxis.set_minor_locator(matplotlib.ticker.NullLocator())
    left.grid(axis="y", visible=False)
    left.set(xlabel="bytes (log scale)", title="bytes after each step")
    steps = np.arange(len(accuracies))
    errors = {column: 100 * (1 - accuracies[column].to_numpy()) for column in ("validation_accuracy", "accuracy")}
    for column, label, marker in (("validation_accuracy", "validation", "o"), ("accuracy", "test", "s")):
        right.plot(steps, errors[column], marker=marker, label=label)
        other = errors["accuracy" if column == "validation_accuracy" else "validation_accuracy"]
        for step, error, rival in zip(steps, errors[column], other):
            above = error <= rival  # the better of the two (higher on the axis) is labelled above its point
            right.annotate(f"{100 - error:.2f}", (step, error), xytext=(0, 8 if above else -15),
                           textcoords="offset points", ha="center", fontsize=8, color=right.lines[-1].get_color(),
                           bbox=dict(boxstyle="round,pad=0.1", fc="white", ec="none", alpha=0.8))
    right.set_yscale("log")
    right.yaxis.set_major_locator(matplotlib.ticker.LogLocator(subs=(1.0, 2.0, 5.0)))
    right.yaxis.set_minor_locator(matplotlib.ticker.NullLocator())
    right.yaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda e, _: f"{e:g}"))
    low, high = min(e.min() for e in errors.values()), max(e.max() for e in errors.values())
    right.set_ylim(high * 1.3, low / 1.3)  # inverted: better up, with room for the labels
    _accuracy_axis(right)
    right.set_xticks(steps, accuracies["step"], rotation=20, ha="right")
    right.set_xlim(-0.5, len(steps) - 0.5)
    right.set(ylabel="error (%), log, better ↑", title="accuracy after each step")
    right.legend(fontsize=9, loc="lower right")
    figure.tight_layout()
    return figure

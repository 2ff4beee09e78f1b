"""Figures of a network's weights: histograms of |w| per layer, the units' norms, maps of the pixels read.

Magnitudes sit on log axes with a tick per decade. Histograms use fixed bins and axes
across k so the eye sees what changes, and count the zeros apart (a log axis has no
place for 0). The numbers drawn come from `helpers.pruning` (`cut_magnitudes`, `pixel_values`).

Used in 01_training, 02_weight_pruning, 03_unit_pruning, 04_fine_tuning and the explorer.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch
from torch import nn

from helpers.model import linear_layers
from helpers.plots.style import CUT_COLORS
from helpers.pruning import cut_magnitudes, pixel_values


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

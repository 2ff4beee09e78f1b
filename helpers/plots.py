"""Figures: functions that take results or networks and return matplotlib figures.

They compute nothing a test would need; the numbers come from `pruning` and
`experiments`. Histograms use fixed bins and axes across k so the eye sees
what changes, and hide the zeros (they would dominate every bin).

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


def learning_curves(history: pd.DataFrame) -> plt.Figure:
    """Loss and accuracy per epoch from the table `fit` returns."""
    figure, (left, right) = plt.subplots(1, 2, figsize=(10, 3.4))
    left.plot(history["epoch"], history["loss"], "o-")
    left.set(xlabel="epoch", ylabel="training loss", yscale="log", title="loss")
    right.plot(history["epoch"], 100 * history["train_accuracy"], "o-", label="train (batches seen)")
    for column, marker in (("validation_accuracy", "s-"), ("test_accuracy", "^-")):
        if column in history and history[column].notna().any():
            right.plot(history["epoch"], 100 * history[column], marker, label=column.split("_")[0])
    right.set(xlabel="epoch", ylabel="accuracy (%)", title="accuracy", ylim=(95, 100.2))
    right.legend()
    figure.tight_layout()
    return figure


def _weights(net: nn.Module, include_output: bool = False) -> dict[str, torch.Tensor]:
    layers = linear_layers(net)
    return {name: layer.weight.detach().cpu().flatten() for name, layer in (layers if include_output else layers[:-1])}


def symlog_edges(weights: torch.Tensor, bins: int) -> tuple[np.ndarray, float]:
    """Bin edges for a weight histogram on a symmetric-log axis, and the axis' linear threshold.

    Trained weights span several orders of magnitude, and magnitude pruning
    cuts out the small ones: on a linear axis they all fall in the middle bin.
    Here the edges are geometric from the 1st to the 99.9th percentile of |w|
    on each side, so the hole that pruning cuts is visible at every k.
    """
    magnitudes = weights[weights != 0].abs().double()
    if len(magnitudes) == 0:
        return np.linspace(-1, 1, bins + 1), 0.1
    low, high = (float(q) for q in magnitudes.quantile(torch.tensor([0.01, 0.999], dtype=torch.double)))
    high = max(high, low * 10)
    side = np.geomspace(low, high, bins // 2 + 1)
    return np.concatenate([-side[::-1], side]), low


class WeightHistograms:
    """Per-layer histograms of the weights of `net`, ready to show the survivors of any pruning.

    The trained distribution (grey) and each layer's bins and axes are computed
    once from `net` (a symmetric-log axis: see `symlog_edges`); `update(pruned)`
    only recounts the survivors (blue), so figures for different k compare
    directly and redrawing is fast (the explorer keeps one). Zeros are hidden.
    """

    def __init__(self, net: nn.Module, bins: int = 60, include_output: bool = True):
        self.include_output = include_output
        original = _weights(net, include_output)
        shapes = {name: tuple(layer.weight.shape) for name, layer in linear_layers(net)}
        self.figure, axes = plt.subplots(1, len(original), figsize=(3.1 * len(original), 2.8), squeeze=False)
        self.kept, self.sizes, self.edges = {}, {}, {}
        for axis, (name, weights) in zip(axes[0], original.items()):
            edges, threshold = symlog_edges(weights, bins)
            counts = np.histogram(weights[weights != 0].numpy(), edges)[0]
            axis.stairs(counts, edges, fill=True, color="0.82", label="trained")
            self.kept[name] = axis.stairs(np.zeros(len(edges) - 1), edges, fill=True, color="C0", alpha=0.85,
                                          label="kept")
            self.sizes[name], self.edges[name] = len(weights), edges
            axis.set_xscale("symlog", linthresh=threshold, linscale=0.2)
            axis.set(yscale="log", ylim=(0.8, max(counts.max(), 1) * 2), xlim=(edges[0], edges[-1]),
                     xlabel="weight (symmetric log scale)")
            decades = [10.0 ** e for e in range(int(np.ceil(np.log10(threshold))),
                                                 int(np.floor(np.log10(edges[-1]))) + 1)][-1:]
            ticks = [-d for d in decades[::-1]] + [0] + decades
            axis.set_xticks(ticks, [f"{t:g}" for t in ticks], fontsize=8)
            axis.xaxis.set_minor_locator(matplotlib.ticker.NullLocator())
            axis.set_title(f"layer {name} {shapes[name]}", fontsize=10)
            axis.legend(fontsize=8, loc="upper center")
        axes[0][0].set_ylabel("count (log)")
        self.figure.tight_layout()

    def update(self, pruned: nn.Module | None) -> plt.Figure:
        """Draw the nonzero weights of `pruned` (None: none) over the trained distribution."""
        survivors = _weights(pruned, self.include_output) if pruned is not None else {}
        for name, stairs in self.kept.items():
            kept = survivors[name][survivors[name] != 0].numpy() if name in survivors else np.zeros(0)
            stairs.set_data(np.histogram(kept, self.edges[name])[0])
            stairs.set_label(f"kept ({100 * len(kept) / self.sizes[name]:.1f}%)")
            stairs.axes.legend(fontsize=8, loc="upper center")
        return self.figure


def weight_histograms(net: nn.Module, pruned: nn.Module | None = None, bins: int = 60,
                      include_output: bool = True) -> plt.Figure:
    """Per-layer histograms of the weights of `net`, with the survivors in `pruned` drawn over them.

    Bins and axes depend on `net` only, so figures for different k compare directly.
    """
    panel = WeightHistograms(net, bins, include_output)
    if pruned is None:
        for stairs in panel.kept.values():
            stairs.remove()
        for axis in panel.figure.axes:
            axis.legend(fontsize=8, loc="upper right")
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


def unit_norms(net: nn.Module, k: float | None = None) -> plt.Figure:
    """Per hidden layer, the distribution of the L2 norms of the units' weight rows.

    With `k`, a line marks the threshold below which unit pruning removes units.
    """
    layers = linear_layers(net)[:-1]
    figure, axes = plt.subplots(1, len(layers), figsize=(3.1 * len(layers), 2.8), squeeze=False)
    for axis, (name, layer) in zip(axes[0], layers):
        norms = layer.weight.detach().cpu().norm(dim=1).numpy()
        sns.histplot(norms, bins=40, ax=axis, color="C3")
        pruned = round(k / 100 * len(norms)) if k is not None else 0  # as many as unit pruning removes
        if pruned:
            threshold = np.sort(norms)[pruned - 1]
            axis.axvline(threshold, color="k", ls="--", lw=1, label=f"k = {k}%")
            axis.legend(fontsize=8)
        axis.set(title=f"layer {name}: {len(norms)} units", xlabel="L2 norm of the row", ylabel="")
    axes[0][0].set_ylabel("units")
    figure.tight_layout()
    return figure


def pixel_survival(net: nn.Module) -> torch.Tensor:
    """For each of the 784 input pixels, the share of its first-layer connections that are nonzero.

    Only connections into live units count: a pixel wired only to pruned units is not seen.
    """
    weight = linear_layers(net)[0][1].weight.detach().cpu()
    return (weight != 0).float().mean(dim=0).reshape(28, 28)


def pixel_maps(nets: Mapping[str, nn.Module], axes: Sequence[plt.Axes] | None = None) -> plt.Figure:
    """28x28 maps of `pixel_survival` for several pruned networks, one panel each, same colour scale."""
    if axes is None:
        figure, axes = plt.subplots(1, len(nets), figsize=(2.3 * len(nets), 2.6), squeeze=False)
        axes = axes[0]
    figure = axes[0].figure
    image = None
    for axis, (title, net) in zip(axes, nets.items()):
        axis.clear()
        image = axis.imshow(pixel_survival(net), cmap="magma", vmin=0, vmax=1)
        axis.set_title(title, fontsize=10)
        axis.axis("off")
    if image is not None and len(figure.axes) == len(nets):
        figure.colorbar(image, ax=list(axes), shrink=0.8, label="connections kept")
    return figure


def accuracy_vs_k(results: pd.DataFrame, baseline: float | None = None, reference: bool = True,
                  title: str = "One-shot pruning of the 784-1000-1000-500-200-10 MLP",
                  axis: plt.Axes | None = None, style_by: str | None = None) -> plt.Figure:
    """Test accuracy against k for each method in `results` (a `sweep` table).

    Args:
        results: columns method, k, accuracy (0-1); an optional column named by
            `style_by` (e.g. "procedure") gives one line style per value, and
            an optional "std" column draws error bars.
        baseline: accuracy of the unpruned network, drawn as a reference line.
        reference: also draw the reference notebook's published numbers (dashed).
    """
    if axis is None:
        figure, axis = plt.subplots(figsize=(8, 4.6))
    figure = axis.figure
    styles = ["-", "-.", ":", (0, (5, 1))]
    groups = results.groupby(["method"] + ([style_by] if style_by else []), sort=False)
    for key, group in groups:
        method = key[0] if isinstance(key, tuple) else key
        label = " / ".join(map(str, key)) if isinstance(key, tuple) else f"{method} pruning (ours)"
        ls = styles[list(results[style_by].unique()).index(key[1]) % len(styles)] if style_by else "-"
        axis.errorbar(group["k"], 100 * group["accuracy"],
                      yerr=100 * group["std"] if "std" in group else None,
                      marker="o", ms=4, ls=ls, color=METHOD_COLORS.get(method), label=label, capsize=2)
    if reference:
        for method, values in REFERENCE_ACCURACY.items():
            axis.plot(K_LIST, values, ls="--", marker="x", ms=4, lw=1, alpha=0.7, color=METHOD_COLORS[method],
                      label=f"{method} pruning (reference notebook)")
    if baseline is not None:
        axis.axhline(100 * baseline, color="0.4", lw=1, ls=":", label=f"unpruned ({100 * baseline:.2f}%)")
    axis.set(xlabel="k: % pruned in each layer", ylabel="test accuracy (%)", title=title, ylim=(0, 101))
    axis.legend(fontsize=8, loc="lower left")
    figure.tight_layout()
    return figure

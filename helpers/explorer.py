"""The interactive explorer: a k slider that re-prunes the trained network live.

`explore(net, test)` returns an `Explorer`, whose `.panel` is an ipywidgets
box (the notebook displays the Explorer itself). It is a thin wrapper: the
controls call `helpers.pruning` and `helpers.plots`, every (method, scope, k)
point is computed once and cached (numbers and rendered pictures), and the
network it was given is never modified.

Tests drive it without a browser through its attributes: `.k`, `.method`,
`.scope` (the controls), `.result` (the numbers shown), and through stable CSS
classes for browser tests (`pm-k`, `pm-method`, `pm-scope`, `pm-readout`,
`pm-histograms`, `pm-pixels`, `pm-digits`, `pm-curve`).

Used in 02_weight_pruning and 03_unit_pruning.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import ipywidgets as widgets

import matplotlib.pyplot as plt
import torch
from torch import nn

from helpers import plots
from helpers.config import K_LIST
from helpers.data import Split
from helpers.experiments import sweep
from helpers.pruning import METHODS, SCOPES, Ranking, apply_masks, rank, sparsity, weights_kept


@dataclass(frozen=True)
class Point:
    """What the explorer shows for one (method, scope, k)."""

    method: str
    scope: str
    k: int
    accuracy: float
    weights_kept: int
    compression: float
    units_alive: dict[str, int]
    changed: list[int]  # indices of test digits whose prediction differs from the unpruned net's
    images: dict[str, bytes]  # rendered PNG pictures, by name


def _png(figure: plt.Figure, close: bool = True) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=72)
    if close:
        plt.close(figure)
    return buffer.getvalue()


class Explorer:
    """An ipywidgets panel to prune `net` at any k and see the result.

    Args:
        net: the trained network (never modified).
        test: the split to evaluate on.
        digits: how many changed digits to show.
        method, k: where the controls start.
    """

    def __init__(self, net: nn.Module, test: Split, digits: int = 8, method: str = "weight", k: int = 0):
        self.net = net.eval()
        self.test = test
        self.n_digits = digits
        self._device = next(net.parameters()).device
        self._images = test.images.to(self._device)
        self._labels = test.labels.to(self._device)
        with torch.no_grad():
            self._dense_predictions = net(self._images).argmax(1)
        self.baseline_accuracy = (self._dense_predictions == self._labels).sum().item() / len(self._labels)
        self._histograms = plots.WeightHistograms(net)
        plt.close(self._histograms.figure)  # kept for redrawing, not shown by the inline backend
        self.curve = sweep(net, test, K_LIST, METHODS)  # computed once: the curve the marker sits on
        self._cache: dict[tuple[str, str, int], Point] = {}
        self._rankings: dict[tuple[str, str], Ranking] = {}

        self.k_slider = widgets.IntSlider(value=k, min=0, max=99, step=1, description="k (%)",
                                          continuous_update=False, layout=widgets.Layout(width="420px"))
        self.method_buttons = widgets.ToggleButtons(options=list(METHODS), value=method, description="method")
        self.scope_buttons = widgets.ToggleButtons(options=list(SCOPES), value="layer", description="scope")
        self.readout = widgets.HTML()
        self.histograms = widgets.Image(format="png")
        self.pixels = widgets.Image(format="png")
        self.digits = widgets.Image(format="png")
        self.curve_image = widgets.Image(format="png")
        for widget, css in [(self.k_slider, "pm-k"), (self.method_buttons, "pm-method"),
                            (self.scope_buttons, "pm-scope"), (self.readout, "pm-readout"),
                            (self.histograms, "pm-histograms"), (self.pixels, "pm-pixels"),
                            (self.digits, "pm-digits"), (self.curve_image, "pm-curve")]:
            widget.add_class(css)
        for control in (self.k_slider, self.method_buttons, self.scope_buttons):
            control.observe(self._on_change, names="value")
        self.panel = widgets.VBox([
            widgets.HBox([self.k_slider, self.method_buttons]),
            self.scope_buttons,
            widgets.HBox([self.readout, self.curve_image]),
            self.histograms,
            widgets.HBox([self.pixels, self.digits]),
        ])
        self.panel.add_class("pm-explorer")
        self.result: Point = self._show()

    # controls as attributes -------------------------------------------------------------------
    k = property(lambda self: self.k_slider.value, lambda self, value: setattr(self.k_slider, "value", value))
    method = property(lambda self: self.method_buttons.value,
                      lambda self, value: setattr(self.method_buttons, "value", value))
    scope = property(lambda self: self.scope_buttons.value,
                     lambda self, value: setattr(self.scope_buttons, "value", value))

    def _ipython_display_(self):
        from IPython.display import display
        display(self.panel)

    # computing a point ---------------------------------------------------------------------------
    def point(self, method: str, scope: str, k: int) -> Point:
        """The (cached) numbers and pictures for one setting."""
        scope = scope if method == "weight" else "layer"
        key = (method, scope, int(k))
        if key not in self._cache:
            self._cache[key] = self._compute(*key)
        return self._cache[key]

    @torch.no_grad()
    def _compute(self, method: str, scope: str, k: int) -> Point:
        if (method, scope) not in self._rankings:  # sort once per method and scope, cut at every k
            self._rankings[method, scope] = rank(self.net, method, scope)
        pruned = apply_masks(self.net, self._rankings[method, scope].masks(k))
        predictions = pruned(self._images).argmax(1)
        accuracy = (predictions == self._labels).sum().item() / len(self._labels)
        changed = torch.nonzero(predictions != self._dense_predictions).flatten()[: self.n_digits].tolist()
        table = sparsity(pruned).set_index("layer")
        total, kept = int(table.loc["total", "weights"]), weights_kept(pruned)
        units = {name: int(row["alive"]) for name, row in table.drop(index="total").iterrows()}
        images = {
            "histograms": _png(self._histograms.update(pruned), close=False),
            "pixels": _png(plots.pixel_maps({f"pixels read, k = {k}%": pruned})),
            "digits": _png(self._digits_figure(changed, predictions)),
            "curve": _png(self._curve_figure(method, scope, k, accuracy)),
        }
        return Point(method, scope, k, accuracy, kept, total / max(kept, 1), units, changed, images)

    def _digits_figure(self, changed: list[int], predictions: torch.Tensor) -> plt.Figure:
        titles = [f"{int(self._dense_predictions[i])}→{int(predictions[i])}" for i in changed]
        caption = "predictions that changed (unpruned→pruned)" if changed else "no prediction changed"
        return plots.digit_strip(self.test.images[changed], titles, caption)

    def _curve_figure(self, method: str, scope: str, k: int, accuracy: float) -> plt.Figure:
        figure, axis = plt.subplots(figsize=(4.2, 2.6))
        for name, group in self.curve.groupby("method", sort=False):
            axis.plot(group["k"], 100 * group["accuracy"], "o-", ms=3, color=plots.METHOD_COLORS[name],
                      label=f"{name} (layer-wise)")
        axis.plot([k], [100 * accuracy], "*", ms=14, color="k", label=f"now: {method}, {scope}")
        axis.set(xlabel="k (%)", ylabel="accuracy (%)", ylim=(0, 101), xlim=(-2, 101))
        axis.legend(fontsize=7, loc="lower left")
        figure.tight_layout()
        return figure

    # showing it ---------------------------------------------------------------------------------
    def _on_change(self, change) -> None:
        self.result = self._show()

    def _show(self) -> Point:
        self.scope_buttons.disabled = self.method != "weight"
        point = self.point(self.method, self.scope, self.k)
        delta = 100 * (point.accuracy - self.baseline_accuracy)
        units = " · ".join(f"{name}: {alive}" for name, alive in point.units_alive.items())
        self.readout.value = (
            f"<div style='font-size:14px;line-height:1.5;min-width:330px'>"
            f"<b>{point.method} pruning, {point.scope}, k = <span class='pm-k-shown'>{point.k}</span>%</b><br>"
            f"test accuracy <b class='pm-accuracy'>{100 * point.accuracy:.2f}</b>% "
            f"({delta:+.2f} points vs unpruned {100 * self.baseline_accuracy:.2f}%)<br>"
            f"weights kept {point.weights_kept:,} · compression {point.compression:.1f}x<br>"
            f"units alive per layer: {units}</div>"
        )
        self.histograms.value = point.images["histograms"]
        self.pixels.value = point.images["pixels"]
        self.digits.value = point.images["digits"]
        self.curve_image.value = point.images["curve"]
        return point


def explore(net: nn.Module, test: Split, method: str = "weight", k: int = 0) -> Explorer:
    """Build the explorer for `net` on `test`, starting at `method` and `k`; display the returned object.

    Used in 02_weight_pruning and 03_unit_pruning.
    """
    return Explorer(net, test, method=method, k=k)

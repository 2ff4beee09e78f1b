"""The interactive explorer: a k slider that re-prunes the trained network live.

`explore(net, test)` returns an `Explorer`, whose `.panel` is an ipywidgets
box (the notebook displays the Explorer itself). It is a thin wrapper: the
controls call `helpers.pruning` and `helpers.plots`, every (method, scope, k)
point is computed once and cached (numbers and rendered pictures), and the
network it was given is never modified.

The pictures are PNGs rendered for `DEVICE_PIXEL_RATIO` device pixels per CSS
pixel and displayed at their intended CSS size (`CSS_DPI` CSS pixels per inch
of figure, the size at which the inline backend shows figures), so they are
sharp on ordinary and high-density screens alike. Every figure is laid out
once; each new setting redraws only what changes (blitting), and the readout is
sent before the pictures are drawn.

While the k handle is dragged in a browser, the readout and the curve's ring
show an estimate from a fixed subset of `ESTIMATE_IMAGES` test images, labelled
as such with its error bar, and the pictures are dimmed; the exact figures and
the pictures follow when no new value has come for `SETTLE_SECONDS`. A value
after a rest (typed, or the first of a drag), a repaired setting and every
change made from Python are shown exactly at once.

One k per hidden layer is always offered (the per-layer mode). Given calibration
images from the training split (`explore(net, test, calibration=...)`), it also
offers the data-aware criteria of notebook 06 and the repair of notebook 07 (the
survivors refit by least squares); without them only the criteria that need no
data. Given the validation split (`validation=...`), a button fills the
per-layer sliders with notebook 06's sensitivity allocation for the main
slider's k, and the main slider then refills them as it moves. Given the
training split (`train=...`), a button fine-tunes the pruned network shown for
one epoch in a background thread, with a progress bar and a cancel button, and
the readout puts the recovered accuracy beside the one-shot one. A pin keeps one
setting beside the current one, in the readout and on the curve. The cache keeps
the `CACHE_SIZE` settings shown last and the `RANKINGS_KEPT` rankings used last,
so playing for an hour cannot exhaust memory; the trained network is never
modified.

Tests drive it without a browser through its attributes: `.k`, `.method`,
`.scope`, `.criterion`, `.repair`, `.per_layer`, `.layer_k` (the controls),
`.fill()`, `.fine_tune()`, `.cancel()`, `.pin()` / `.unpin()`, `.result` (the
numbers shown), and through stable CSS classes for browser tests (`pm-k`,
`pm-per-layer`, `pm-layer-k1`..., `pm-fill`, `pm-method`, `pm-scope`,
`pm-criterion`, `pm-repair`, `pm-fine-tune`, `pm-cancel`, `pm-progress`,
`pm-tune-status`, `pm-pin`, `pm-readout`, `pm-pinned`, `pm-histograms`,
`pm-pixels`, `pm-digits`, `pm-curve`).

Used in 02_weight_pruning, 03_unit_pruning, 07_repair and the app (app/explorer.ipynb).
"""

from __future__ import annotations

import asyncio
import io
import math
import struct
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import NamedTuple

import ipywidgets as widgets
import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.artist import Artist
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.legend import Legend
from PIL import Image
from torch import nn

from helpers import plots
from helpers.config import K_LIST
from helpers.data import Split
from helpers.criteria import CRITERIA, DATA_AWARE, GLOBAL_ONLY
from helpers.experiments import FINE_TUNE, SENSITIVITY_KS, allocate, fine_tune, sensitivity, sweep
from helpers.stats import paired, verdict
from helpers.pruning import (METHODS, SCOPES, Ranking, apply_masks, check_k, compact, compression, prunable_layers,
                             rank, weights_kept)
from helpers.repair import repair
from helpers.training import RECIPE

#: CSS pixels per inch of figure: the size at which Jupyter's inline backend shows figures (matplotlib's 100 dpi).
CSS_DPI = 100
#: Device pixels per CSS pixel that the PNGs are rendered for (2 on most laptops and phones; sharp on 1 too).
DEVICE_PIXEL_RATIO = 2
#: The kinds of changed prediction, each with its mark and colour.
CHANGE_STYLES = {"break": ("✗", "#c62828"), "fix": ("✓", "#2e7d32"), "other": ("~", "#616161")}
#: Width in inches of the weight histograms: the explorer's width at `CSS_DPI`, so that they show at 1:1.
HISTOGRAMS_WIDTH = 9.4
#: Points kept in the cache, the least recently shown dropped first: about 0.5 MB of pictures each, so an hour
#: of dragging stays within a few tens of MB.
CACHE_SIZE = 64
#: Test images (a fixed random subset) that the estimates shown while the handle is dragged are measured on.
ESTIMATE_IMAGES = 1_000
#: Seconds without a new value after which the exact figures replace the estimate (the handle rests).
SETTLE_SECONDS = 0.15
#: A slider value that comes within this many seconds of the last one handled is part of a drag (estimated).
MOVING_SECONDS = 0.25
#: Epochs of the fine-tune button (the recipe is `experiments.FINE_TUNE`'s, which notebook 04 runs for two).
FINE_TUNE_EPOCHS = 1
#: Rankings kept (one sort of a network's scores per method, scope and criterion; about 19 MB each for weights).
RANKINGS_KEPT = 6
#: The per-layer sliders' step and largest k: the fill's allocation goes beyond 99% in the large layers.
LAYER_K_STEP, LAYER_K_MAX = 0.1, 99.9
#: Training steps between two moves of the fine-tune's progress bar (and two looks at its cancel button).
TUNE_EVERY = 5
#: Criteria whose score needs the labels of the calibration images (a loss), not only the images.
NEEDS_LABELS = ("taylor",)
#: One label column for all controls, so that they line up.
CONTROL_STYLE = {"description_width": "72px"}
#: The buttons start where the slider's track does (it keeps 14px for half its handle) and the labels never clip.
PANEL_CSS = ("<style>.pm-explorer .widget-toggle-buttons > .widget-label "
             "{margin: 0 12px 0 2px; text-align: right; overflow: visible} "
             ".pm-explorer .pm-stale {opacity: 0.45; transition: opacity 0.1s}</style>")


class ChangedDigit(NamedTuple):
    """A digit whose prediction pruning changed: where it is, what kind of change, and the three classes."""

    index: int
    kind: str  # "break", "fix" or "other" (see classify_changes)
    true: int
    unpruned: int
    pruned: int

    @property
    def caption(self) -> str:
        """E.g. "✗ break\\n7 / 7→2": the mark, the kind, then true / unpruned → pruned."""
        return f"{CHANGE_STYLES[self.kind][0]} {self.kind}\n{self.true} / {self.unpruned}→{self.pruned}"


@dataclass(frozen=True)
class Point:
    """What the explorer shows for one setting: (method, scope, k), the criterion and whether the survivors were
    repaired. With one k per hidden layer (`layer_k`), `k` is the percentage of the hidden layers' weights (units
    for unit pruning) pruned in all, which places the point on the curve.

    Attributes:
        accuracy, weights_kept, compression: as `experiments.sweep` measures them,
            on the split the explorer was given (the test set in the notebooks);
            compression is `pruning.compression`: all weights / weights kept.
        units_alive: per layer, the units with a nonzero weight row.
        changes: how many digits changed their prediction, by kind (see
            `classify_changes`); "fix" - "break" is the change in correct digits.
        shown: the changed digits on display.
        images: rendered PNG pictures, by name.
        layer_k: the k of each hidden layer, or None when one k holds for all.
        key: the explorer's cache key of the setting.
    """

    method: str
    scope: str
    k: float
    criterion: str
    repaired: bool
    accuracy: float
    weights_kept: int
    compression: float
    units_alive: dict[str, int]
    changes: dict[str, int]
    shown: list[ChangedDigit]
    images: dict[str, bytes]
    layer_k: tuple[float, ...] | None = None
    key: tuple = ()
    correct: torch.Tensor | None = field(default=None, repr=False, compare=False)  # per image: right or not


def classify_changes(labels: torch.Tensor, before: torch.Tensor, after: torch.Tensor) -> dict[str, torch.Tensor]:
    """Indices of the examples whose prediction changed, by kind: "break", "fix" or "other".

    A break was right before and is wrong after; a fix was wrong before and is
    right after; "other" was wrong before and is wrong after, as another class.
    So `len(fix) - len(break)` is the change in the number of right predictions.

    Args:
        labels: the true classes, shape [N].
        before, after: the classes predicted by the unpruned and the pruned network, shape [N].

    Raises:
        ValueError: when the three are not vectors of one length.

    >>> kinds = classify_changes(torch.tensor([1, 2, 3, 4]), torch.tensor([1, 0, 3, 0]), torch.tensor([0, 2, 3, 5]))
    >>> {kind: indices.tolist() for kind, indices in kinds.items()}
    {'break': [0], 'fix': [1], 'other': [3]}

    Used in 02_weight_pruning and 03_unit_pruning (the explorer's changed digits).
    """
    if not labels.shape == before.shape == after.shape or labels.dim() != 1:
        raise ValueError(f"labels and predictions must be vectors of one length, got shapes "
                         f"{tuple(labels.shape)}, {tuple(before.shape)}, {tuple(after.shape)}")
    changed = before != after
    right_before, right_after = before == labels, after == labels
    return {kind: torch.nonzero(mask).flatten() for kind, mask in
            [("break", changed & right_before), ("fix", changed & right_after),
             ("other", changed & ~right_before & ~right_after)]}


def pick_shown(changes: Mapping[str, torch.Tensor], n: int) -> list[tuple[int, str]]:
    """Up to `n` of the changed examples, as (index, kind): half breaks and half fixes where both exist.

    When one kind has too few, the other fills in, then "other". Each kind in
    order of index, breaks first. Showing both lets a reader see that pruning
    also fixes some digits, however few.

    >>> pick_shown({"break": torch.arange(10), "fix": torch.tensor([20]), "other": torch.tensor([30])}, 4)
    [(0, 'break'), (1, 'break'), (2, 'break'), (20, 'fix')]
    """
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    breaks, fixes, others = (changes[kind].tolist() for kind in ("break", "fix", "other"))
    n_fixes = min(len(fixes), max(n // 2, n - len(breaks)))
    n_breaks = min(len(breaks), n - n_fixes)
    n_others = min(len(others), n - n_breaks - n_fixes)
    return ([(i, "break") for i in breaks[:n_breaks]] + [(i, "fix") for i in fixes[:n_fixes]]
            + [(i, "other") for i in others[:n_others]])


def render(figure: plt.Figure, close: bool = True) -> bytes:
    """The figure as PNG bytes at `CSS_DPI * DEVICE_PIXEL_RATIO` pixels per inch (light, fast compression)."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=CSS_DPI * DEVICE_PIXEL_RATIO, pil_kwargs={"compress_level": 1})
    if close:
        plt.close(figure)
    return buffer.getvalue()


def png_size(png: bytes) -> tuple[int, int]:
    """(width, height) in pixels, read from a PNG's header."""
    if png[:8] != b"\x89PNG\r\n\x1a\n" or png[12:16] != b"IHDR":
        raise ValueError("not a PNG")
    return struct.unpack(">II", png[16:24])


def show_png(image: widgets.Image, png: bytes) -> None:
    """Put `png` into `image`, to be displayed `DEVICE_PIXEL_RATIO` times smaller than its pixels (its CSS size)."""
    image.value = png
    image.width = str(png_size(png)[0] // DEVICE_PIXEL_RATIO)


class Redrawn:
    """A figure whose fixed parts are drawn once; each `png()` draws only the artists that change.

    Axes, ticks, labels and legends take most of the drawing time; they are
    rendered once into a background at `CSS_DPI * DEVICE_PIXEL_RATIO`. `png()`
    restores the background, draws `changing()` over it (blitting) and encodes
    the result: the same picture as `render(figure)`, several times faster.

    Args:
        figure: the figure, fully built and laid out (no layout engine may move things later).
        changing: returns the artists that may change between pictures; the
            same objects every time (they are left out of the background).
        on_top: an opaque legend whose texts may change, drawn over everything:
            text is slow to draw, so it is drawn once per set of texts and its
            pixels (with the edge of its frame) are pasted after that.
        still: those of the `changing` artists that never move (drawn again
            over the others, as curves over a marker): they are drawn under the
            legend when its pixels are kept, so that its edge does not cut them.
    """

    def __init__(self, figure: plt.Figure, changing: Callable[[], list[Artist]], on_top: Legend | None = None,
                 still: Callable[[], list[Artist]] = list):
        self.figure, self.changing, self.on_top, self.still = figure, changing, on_top, still
        figure.set_dpi(CSS_DPI * DEVICE_PIXEL_RATIO)
        self.canvas = FigureCanvasAgg(figure)
        for artist in changing() + ([on_top] if on_top else []):
            artist.set_animated(True)
        self.canvas.draw()
        self.background = self.canvas.copy_from_bbox(figure.bbox)
        self._stamps = {}  # the on_top legend's pixels, by its texts

    def png(self) -> bytes:
        """The figure as it is now, as PNG bytes."""
        self.canvas.restore_region(self.background)
        stamp = self._stamp() if self.on_top else None
        for artist in sorted(self.changing(), key=lambda artist: artist.get_zorder()):
            self.figure.draw_artist(artist)
        if stamp is not None:
            self.canvas.restore_region(stamp)
        buffer = io.BytesIO()  # the figure is opaque: RGB, a quarter less to encode than RGBA
        Image.frombuffer("RGBA", self.canvas.get_width_height(), self.canvas.buffer_rgba(), "raw", "RGBA", 0, 1
                         ).convert("RGB").save(buffer, format="png", compress_level=1)
        return buffer.getvalue()

    def _stamp(self):
        """The on_top legend as it looks now, drawn over the background the first time its texts are these."""
        texts = tuple(text.get_text() for text in self.on_top.get_texts())
        if texts not in self._stamps:
            for artist in [*self.still(), self.on_top]:
                self.figure.draw_artist(artist)
            box = self.on_top.get_window_extent().padded(2)  # with its frame's edge
            self._stamps[texts] = self.canvas.copy_from_bbox(box)
            self.canvas.restore_region(self.background)
        return self._stamps[texts]


def thin_decade_ticks(axis: plt.Axes, zero_at: float, low: int, high: int, most: int = 4) -> None:
    """Label at most `most` decades of a `plots.WeightHistograms` panel, every `step` down from `high`.

    Its panels are narrower in the explorer than in the notebooks; a decade label
    too close to the "= 0" bar's is dropped (the minor ticks still mark every decade).
    """
    for step in range(1, high - low + 2):
        kept = [t for t in range(high, low - 1, -step) if t - zero_at >= 0.8 * step]
        if len(kept) <= most:
            break
    axis.set_xticks([zero_at] + kept[::-1], ["= 0"] + [f"$10^{{{t}}}$" for t in kept[::-1]], fontsize=8)


class Cancelled(Exception):
    """Raised inside a fine-tune's training loop when its cancel button was pressed; args[0] is the step."""


def _running_loop():
    """The event loop the kernel runs on (Jupyter, Voila), or None in plain Python, where everything is synchronous."""
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


class Explorer:
    """An ipywidgets panel to prune `net` at any k and see the result.

    Args:
        net: the trained network (never modified).
        test: the split to evaluate on: the test set (the readout says so).
        digits: how many changed digits to show.
        method, k: where the controls start.
        calibration: a Split from the training split (or its images alone), for the data-aware criteria and the
            repair; "taylor" and the per-layer fill need the labels too (a Split). None offers only the criteria
            that need no data, and no repair.
        train: the training split, for the fine-tune button (None: the button is disabled).
        cache_size: how many settings the cache keeps (the least recently shown are dropped).
    """

    def __init__(self, net: nn.Module, test: Split, digits: int = 8, method: str = "weight", k: int = 0,
                 calibration: Split | torch.Tensor | None = None, train: Split | None = None,
                 validation: Split | None = None, cache_size: int = CACHE_SIZE):
        if isinstance(cache_size, bool) or not isinstance(cache_size, int) or cache_size < 1:
            raise ValueError(f"cache_size must be a positive integer, got {cache_size!r}")
        for name, split in (("train", train), ("validation", validation)):
            if split is not None and not isinstance(split, Split):
                raise ValueError(f"{name} must be a Split (images and labels) of the {name} set, "
                                 f"got {type(split).__name__}")
        self.net = net
        self.test = test
        self.train = train
        self.validation = validation
        self.cache_size = cache_size
        self._device = next(net.parameters()).device
        images = calibration.images if isinstance(calibration, Split) else calibration
        self._calibration = None if images is None else images.to(self._device)
        # with labels too ("taylor" needs a loss, the fill an accuracy); an image tensor alone offers the others
        self._labelled = (Split(self._calibration, calibration.labels.to(self._device))
                          if isinstance(calibration, Split) else None)
        self.n_digits = digits
        self._images = test.images.to(self._device)
        self._labels = test.labels.to(self._device)
        #: the fixed random subset of the test images that the estimates while dragging are measured on
        self.estimate_indices = torch.randperm(len(self._labels), generator=torch.Generator().manual_seed(0))[
            :ESTIMATE_IMAGES].to(self._device)
        with torch.no_grad():
            self._dense_predictions = net(self._images).argmax(1)
        self.baseline_accuracy = (self._dense_predictions == self._labels).sum().item() / len(self._labels)
        self.total_weights = sum(layer.weight.numel() for layer in net.modules() if isinstance(layer, nn.Linear))
        self._layers = prunable_layers(net)
        self.curve = sweep(net, test, K_LIST, METHODS)  # computed once: the curves the ring sits on
        self._histograms = self._histograms_figure(net)
        self._curve = self._curve_figure(k)
        self._pixels = self._pixels_figure(net)
        self._digits = self._digits_figure()
        self._cache: OrderedDict[tuple, Point] = OrderedDict()
        self._rankings: OrderedDict[tuple[str, str, str], Ranking] = OrderedDict()
        self._sensitivity: dict[tuple[str, str], object] = {}
        self.tuned: OrderedDict[tuple, float] = OrderedDict()  # setting -> test accuracy after the fine-tune
        self.pinned: Point | None = None
        self.estimate: float | None = None  # the last estimate shown while dragging (None once exact)
        self._updating = False
        self._lock = threading.RLock()  # the fine-tune's thread writes the readout too
        self._pending = None  # the exact computation that follows an estimate (a loop handle)
        self._last_sent = -math.inf  # when the last slider value from the browser was handled
        self._filled = False  # the per-layer sliders hold the fill's allocation (the main slider re-allocates)
        self._scope_chosen = "layer"  # the scope to return to when the per-layer mode or unit pruning ends
        self._job: threading.Thread | None = None
        self._cancel = threading.Event()

        slider = dict(min=0, max=99, step=1, continuous_update=True, style=CONTROL_STYLE)
        self.k_slider = widgets.IntSlider(value=k, description="k (%)", layout=widgets.Layout(width="430px"), **slider)
        self.per_layer_box = widgets.Checkbox(value=False, description="one k per hidden layer", indent=False,
                                              layout=widgets.Layout(width="354px", margin="0 0 0 76px"))
        self.layer_sliders = {name: widgets.FloatSlider(
            value=k, min=0, max=LAYER_K_MAX, step=LAYER_K_STEP, readout_format=".1f", continuous_update=True,
            style=CONTROL_STYLE, description=f"layer {name}", layout=widgets.Layout(width="430px"),
            tooltip=f"k (%) of layer {name} ({layer.weight.shape[0]}×{layer.weight.shape[1]}): of its weights, or "
                    "of its units for unit pruning") for name, layer in self._layers.items()}
        self.fill_button = widgets.Button(
            description="fill from the sensitivity curves", icon="magic", disabled=validation is None,
            layout=widgets.Layout(width="260px", margin="0 0 0 76px"),
            tooltip=("notebook 06's allocation of k% overall (the main slider), from one-layer-at-a-time curves on "
                     "the validation split; then the main slider refills as it moves" if validation is not None else
                     "needs the validation split: explore(net, test, validation=validation)"))
        self.layer_box = widgets.VBox([*self.layer_sliders.values(), self.fill_button],
                                      layout=widgets.Layout(display="none"))
        # display: flex puts a ToggleButtons' description beside its buttons (ipywidgets 8 stacks them otherwise)
        buttons = dict(style={**CONTROL_STYLE, "button_width": "90px"}, layout=widgets.Layout(display="flex"))
        self.method_buttons = widgets.ToggleButtons(
            options=list(METHODS), value=method, description="method", **buttons,
            tooltips=["single weights, the least important first by the criterion below",
                      "whole units (rows of a weight matrix), the least important first by the criterion below"])
        self.scope_buttons = widgets.ToggleButtons(
            options=list(SCOPES), value="layer", description="scope", **buttons,
            tooltips=["k% of each layer", "one threshold for all layers together"])
        self.criterion_dropdown = widgets.Dropdown(
            options=self._criteria(method, "layer"), description="criterion", style=CONTROL_STYLE,
            layout=widgets.Layout(width="300px"),
            tooltip="the importance score that decides what goes (notebook 06)")
        self.repair_box = widgets.Checkbox(
            value=False, description="repair the survivors (notebook 07)", indent=False,
            disabled=self._calibration is None, layout=widgets.Layout(width="354px", margin="0 0 0 76px"),
            tooltip=("refit the kept weights on the calibration images" if self._calibration is not None
                     else "needs calibration images: explore(net, test, calibration=...)"))
        self.fine_tune_button = widgets.Button(
            description=f"fine-tune {FINE_TUNE_EPOCHS} epoch", icon="refresh", disabled=train is None,
            layout=widgets.Layout(width="176px", margin="0 0 0 76px"),
            tooltip=(f"retrain the pruned network shown for {FINE_TUNE_EPOCHS} epoch (notebook 04 uses two), pruned "
                     "weights held at zero; the trained network is untouched" if train is not None else
                     "needs the training split: explore(net, test, train=train)"))
        self.cancel_button = widgets.Button(description="cancel", icon="stop", disabled=True,
                                            layout=widgets.Layout(width="84px"))
        self.progress = widgets.IntProgress(value=0, min=0, max=1, layout=widgets.Layout(width="86px"))
        self.tune_status = widgets.HTML(layout=widgets.Layout(width="354px", margin="0 0 0 76px"))
        self.pin_button = widgets.ToggleButton(value=False, description="pin this setting", icon="thumb-tack",
                                               tooltip="keep this setting beside the current one, for comparison",
                                               layout=widgets.Layout(width="150px", margin="0 0 0 76px"))
        self.readout = widgets.HTML(layout=widgets.Layout(width="430px", min_height="190px"))  # no jump when estimated
        self.pinned_readout = widgets.HTML(layout=widgets.Layout(width="430px"))
        fit = dict(max_width="100%", height="auto")  # shrinks on a narrow page, keeps its proportions
        self.histograms, self.pixels, self.digits, self.curve_image = (
            widgets.Image(format="png", layout=widgets.Layout(**fit)) for _ in range(4))
        for widget, css in [(self.k_slider, "pm-k"), (self.per_layer_box, "pm-per-layer"),
                            (self.fill_button, "pm-fill"), (self.method_buttons, "pm-method"),
                            (self.scope_buttons, "pm-scope"), (self.criterion_dropdown, "pm-criterion"),
                            (self.repair_box, "pm-repair"), (self.fine_tune_button, "pm-fine-tune"),
                            (self.cancel_button, "pm-cancel"), (self.progress, "pm-progress"),
                            (self.tune_status, "pm-tune-status"), (self.pin_button, "pm-pin"),
                            (self.readout, "pm-readout"), (self.pinned_readout, "pm-pinned"),
                            (self.histograms, "pm-histograms"), (self.pixels, "pm-pixels"),
                            (self.digits, "pm-digits"), (self.curve_image, "pm-curve")]:
            widget.add_class(css)
        for i, layer_slider in enumerate(self.layer_sliders.values(), start=1):
            layer_slider.add_class("pm-layer-k")
            layer_slider.add_class(f"pm-layer-k{i}")
        for control in (self.k_slider, self.per_layer_box, *self.layer_sliders.values(), self.method_buttons,
                        self.scope_buttons, self.criterion_dropdown, self.repair_box):
            control.observe(self._on_change, names="value")
        self.pin_button.observe(self._on_pin, names="value")
        self.fill_button.on_click(lambda _: self.fill())
        self.fine_tune_button.on_click(lambda _: self.fine_tune())
        self.cancel_button.on_click(lambda _: self.cancel())
        row = dict(flex_flow="row wrap", align_items="flex-start", grid_gap="4px 16px")
        tuning = widgets.HBox([self.fine_tune_button, self.cancel_button, self.progress],
                              layout=widgets.Layout(align_items="center"))
        self.panel = widgets.VBox([
            widgets.HTML(PANEL_CSS, layout=widgets.Layout(display="none")),
            widgets.HBox([widgets.VBox([self.k_slider, self.per_layer_box, self.layer_box, self.method_buttons,
                                        self.scope_buttons, self.criterion_dropdown, self.repair_box, tuning,
                                        self.tune_status, self.pin_button, self.readout, self.pinned_readout]),
                          self.curve_image], layout=widgets.Layout(**row)),
            self.histograms,
            widgets.HBox([self.pixels, self.digits], layout=widgets.Layout(**row, align_content="flex-start")),
        ])
        self.panel.add_class("pm-explorer")
        self.result: Point = self._show()

    # controls as attributes -------------------------------------------------------------------
    k = property(lambda self: self.k_slider.value, lambda self, value: setattr(self.k_slider, "value", value))
    method = property(lambda self: self.method_buttons.value,
                      lambda self, value: setattr(self.method_buttons, "value", value))
    scope = property(lambda self: self.scope_buttons.value,
                     lambda self, value: setattr(self.scope_buttons, "value", value))
    criterion = property(lambda self: self.criterion_dropdown.value,
                         lambda self, value: setattr(self.criterion_dropdown, "value", value))
    repair = property(lambda self: self.repair_box.value, lambda self, value: setattr(self.repair_box, "value", value))
    per_layer = property(lambda self: self.per_layer_box.value,
                         lambda self, value: setattr(self.per_layer_box, "value", value))

    @property
    def layer_k(self) -> dict[str, float]:
        """{hidden layer name: k} of the per-layer sliders (used when `per_layer` is on)."""
        return {name: slider.value for name, slider in self.layer_sliders.items()}

    @layer_k.setter
    def layer_k(self, ks: Mapping[str, float]) -> None:
        unknown = set(ks) - set(self.layer_sliders)
        if unknown:
            raise ValueError(f"no hidden layer named {sorted(unknown)}; the layers are {list(self.layer_sliders)}")
        self._set_together(lambda: [setattr(self.layer_sliders[name], "value", k) for name, k in ks.items()])

    @property
    def tuning(self) -> bool:
        """Whether a fine-tune is running."""
        return self._job is not None and self._job.is_alive()

    def pin(self) -> Point:
        """Keep the setting shown now beside the current one (in the readout and on the curve); return it."""
        self.pin_button.value = True
        return self.pinned

    def unpin(self) -> None:
        """Drop the pinned setting."""
        self.pin_button.value = False

    def settle(self) -> Point:
        """Show the exact figures now if an estimate is on screen (the kernel does it itself when dragging stops)."""
        if self._pending is not None:
            self.result = self._show()
        return self.result

    def _criteria(self, method: str, scope: str) -> list[str]:
        """The criteria the dropdown offers for `method` and `scope` (the data-aware ones only with calibration data)."""
        return [c for c in CRITERIA[method] if (c not in GLOBAL_ONLY or scope == "global")
                and (c not in DATA_AWARE[method] or self._calibration is not None)
                and (c not in NEEDS_LABELS or self._labelled is not None)]

    def _ipython_display_(self):
        from IPython.display import display
        display(self.panel)

    # the setting and its network -------------------------------------------------------------------
    def _setting(self) -> tuple:
        """The key of what the controls show: (method, scope, criterion, repaired, k or one k per hidden layer)."""
        ks = tuple(round(float(k), 1) for k in self.layer_k.values()) if self.per_layer else int(self.k)
        scope = "layer" if self.method == "unit" or self.per_layer else self.scope
        return self.method, scope, self.criterion, bool(self.repair), ks

    def _key(self, method: str, scope: str, k: int | Mapping[str, float] | tuple, criterion: str | None,
             repaired: bool) -> tuple:
        if isinstance(k, Mapping):
            k = tuple(float(k.get(name, 0)) for name in self._layers)
        if isinstance(k, tuple):
            k = tuple(round(float(value), 1) for value in k)  # the sliders' step
            if len(k) != len(self._layers):
                raise ValueError(f"one k per hidden layer: {len(self._layers)} values, got {len(k)}")
            scope = "layer"
        for value in k if isinstance(k, tuple) else (k,):
            check_k(value)
        if repaired and self._calibration is None:
            raise ValueError("repair needs calibration images: explore(net, test, calibration=calibration(train))")
        scope = scope if method == "weight" else "layer"
        return method, scope, criterion or CRITERIA[method][0], bool(repaired), k if isinstance(k, tuple) else int(k)

    def _data(self, method: str, criterion: str):
        """The calibration data a criterion scores with: labelled, images alone, or none."""
        return (self._labelled if criterion in NEEDS_LABELS else
                self._calibration if criterion in DATA_AWARE[method] else None)

    def _masks(self, key: tuple) -> dict[str, torch.Tensor]:
        method, scope, criterion, _, ks = key
        if (method, scope, criterion) not in self._rankings:  # sort once per setting, cut at every k
            with torch.enable_grad():  # Taylor scores are gradients
                self._rankings[method, scope, criterion] = rank(self.net, method, scope, criterion=criterion,
                                                                data=self._data(method, criterion))
            while len(self._rankings) > RANKINGS_KEPT:
                self._rankings.popitem(last=False)
        self._rankings.move_to_end((method, scope, criterion))
        ranking = self._rankings[method, scope, criterion]
        return ranking.masks(dict(zip(self._layers, ks)) if isinstance(ks, tuple) else ks)

    def _overall_k(self, key: tuple, masks: Mapping[str, torch.Tensor]) -> float:
        """The percentage of the hidden layers' weights (or units) pruned: k itself unless k differs per layer."""
        method, ks = key[0], key[4]
        if not isinstance(ks, tuple):
            return ks
        if method == "unit":
            removed = sum(int((~mask.any(dim=1)).sum()) for mask in masks.values())
            return 100 * removed / sum(layer.weight.shape[0] for layer in self._layers.values())
        return 100 * sum(int((~mask).sum()) for mask in masks.values()) / sum(mask.numel() for mask in masks.values())

    # computing a point ---------------------------------------------------------------------------
    def point(self, method: str, scope: str, k: int | Mapping[str, int], criterion: str | None = None,
              repaired: bool = False) -> Point:
        """The (cached) numbers and pictures for one setting (criterion None: the method's default; `k` may be
        {hidden layer name: k})."""
        key = self._key(method, scope, k, criterion, repaired)
        with self._lock:
            point, pruned = self._numbers(key)
            if not point.images:
                self._draw(point, pruned)
        return point

    @torch.no_grad()
    def _numbers(self, key: tuple) -> tuple[Point, nn.Module | None]:
        """The point of `key` (from the cache, the most recently used now) or its numbers alone, pictures to draw
        (with the pruned network to draw them from)."""
        if key in self._cache:
            self._cache.move_to_end(key)  # shown again: the most recently used
            return self._cache[key], None
        method, scope, criterion, repaired, ks = key
        masks = self._masks(key)
        pruned = apply_masks(self.net, masks)
        if repaired:
            with torch.enable_grad():
                pruned = repair(self.net, pruned, self._calibration)
        small = compact(pruned)  # the same function, faster: what sweep() evaluates and counts
        predictions = small(self._images).argmax(1)
        accuracy = (predictions == self._labels).sum().item() / len(self._labels)
        changes = classify_changes(self._labels, self._dense_predictions, predictions)
        shown = [ChangedDigit(i, kind, int(self._labels[i]), int(self._dense_predictions[i]), int(predictions[i]))
                 for i, kind in pick_shown(changes, self.n_digits)]
        units = {name: int(layer.weight.any(dim=1).sum()) for name, layer in prunable_layers(pruned, include_output=True).items()}
        point = Point(method, scope, self._overall_k(key, masks), criterion, repaired, accuracy, weights_kept(small),
                      compression(small, self.total_weights), units,
                      {kind: len(indices) for kind, indices in changes.items()}, shown, {},
                      ks if isinstance(ks, tuple) else None, key, predictions == self._labels)
        return point, pruned

    def _draw(self, point: Point, pruned: nn.Module) -> None:
        """Render the point's pictures and keep it in the cache (the least recently shown goes beyond its size)."""
        self._histograms.update(pruned)
        self._place_marks(point.k, point.accuracy, pinned=False)
        if point.layer_k is None and point.scope == "layer":
            first = f"k = {point.k:g}"
        else:  # one global threshold, or one k per layer: the first layer's own share
            name = next(iter(self._layers))
            zero = prunable_layers(pruned)[name].weight == 0
            gone = zero.all(dim=1).float().mean() if point.method == "unit" else zero.float().mean()
            first = f"layer {name} at {100 * gone.item():.1f}"
        point.images.update(histograms=self._histograms_png.png(), pixels=self._draw_pixels(pruned, first),
                            digits=self._draw_digits(point.shown), curve=self._curve.png())
        self._cache[point.key] = point
        while len(self._cache) > self.cache_size:
            self._cache.popitem(last=False)

    @torch.no_grad()
    def _estimate(self, key: tuple) -> tuple[float, float, float]:
        """(k shown, estimated test accuracy, its standard error) of an unrepaired setting, from the fixed subset of
        `ESTIMATE_IMAGES` test images.

        The estimate is the unpruned accuracy on the whole test set plus the change pruning makes on the subset
        (a paired difference: at small k it is close, where the subset's own accuracy would be off by the
        subset's luck); its standard error is that of the mean per-image change, with two standard errors at least
        3/n (the rule of three: no change among n images still allows about 3/n in the whole set).
        """
        masks = self._masks(key)
        pruned = apply_masks(self.net, masks)
        small = compact(pruned) if key[0] == "unit" else pruned  # compacting pays for unit pruning only
        subset, labels = self._images[self.estimate_indices], self._labels[self.estimate_indices]
        after = (small(subset).argmax(1) == labels).float()
        change = after - (self._dense_predictions[self.estimate_indices] == labels).float()
        error = change.std().item() / math.sqrt(len(change)) if len(change) > 1 else 0.0
        # no change among the subset does not mean none in the test set: two standard errors are at least 3/n
        error = max(error, 1.5 / len(change))
        return self._overall_k(key, masks), self.baseline_accuracy + change.mean().item(), error

    # the pictures ---------------------------------------------------------------------------------
    def _histograms_figure(self, net: nn.Module) -> plots.WeightHistograms:
        """`plots.WeightHistograms` of the prunable layers at the explorer's width, laid out once, redrawn by blitting."""
        histograms = plots.WeightHistograms(net, include_output=False)  # the output layer is never pruned
        plt.close(histograms.figure)  # kept for redrawing, not shown by the inline backend
        histograms.figure.set_size_inches(HISTOGRAMS_WIDTH, histograms.figure.get_figheight())
        for axis in histograms.axes.values():
            thin_decade_ticks(axis, histograms.zero_at, histograms.low, histograms.high)
        histograms.figure.draw_without_rendering()  # lay it out once, then keep it: only the bars change with k
        histograms.figure.set_layout_engine("none")
        self._histograms_png = Redrawn(histograms.figure, lambda: [
            *histograms.kept.values(), *(bar for bars in histograms.zeros.values() for bar in bars),
            *(axis.title for axis in histograms.axes.values())])
        return histograms

    def _curve_figure(self, k: int) -> Redrawn:
        """The one-shot curves of `plots.accuracy_vs_k`, a thin line at k and a hollow ring drawn under the curves."""
        figure, axis = plt.subplots(figsize=(4.8, 3.3))
        plt.close(figure)  # kept for redrawing, not shown by the inline backend
        plots.accuracy_vs_k(self.curve, baseline=self.baseline_accuracy, reference=False, axis=axis,
                            title="one-shot, layer-wise, default criteria, on the test set", label="one-shot")
        axis.title.set_fontsize(10)
        axis.set_xlabel("k: % pruned (the curves: in each layer; the ring: in all)", fontsize=9)
        self._curve_lines = list(axis.get_lines())
        self._now_line = axis.axvline(k, color="0.55", lw=1, zorder=0.5)
        self._now_ring, = axis.plot([k], [1.0], "o", ms=12, mfc="none", mew=1.5, color="k", zorder=1,
                                    label="the setting shown")
        self._pin_mark, = axis.plot([], [], "D", ms=8, mfc="none", mew=1.5, color="#8e24aa", zorder=1,
                                    label="the pinned setting")
        legend = axis.legend(fontsize=7, loc="upper left", framealpha=1)  # opaque: pasted as pixels
        self._ring_label = next(text for text in legend.get_texts() if text.get_text() == "the setting shown")
        self._pin_label = next(text for text in legend.get_texts() if text.get_text() == "the pinned setting")
        # the curves (and the legend over them) are drawn again over the ring and the line: neither hides a curve
        return Redrawn(figure, lambda: [self._now_line, self._now_ring, self._pin_mark, *self._curve_lines],
                       on_top=legend, still=lambda: self._curve_lines)

    def _place_marks(self, k: float, accuracy: float, pinned: bool = True, estimated: bool = False) -> None:
        """The line and the ring at the setting shown, and the pinned setting's diamond (with `pinned` and a pin).
        Errors are drawn as accuracy_vs_k draws them: an error of 0 at 0.01%."""
        self._ring_label.set_text("the setting shown" + (" (≈, estimated)" if estimated else ""))
        self._now_line.set_xdata([k, k])
        self._now_ring.set_data([k], [max(100 * (1 - accuracy), 0.01)])
        pin = self.pinned if pinned else None
        self._pin_label.set_text("the pinned setting" + ("" if pin else " (none)"))
        self._pin_mark.set_data([pin.k] if pin else [], [max(100 * (1 - pin.accuracy), 0.01)] if pin else [])

    def _pixels_figure(self, net: nn.Module) -> Redrawn:
        """`plots.pixel_maps` of one network, laid out once; each point redraws the map and its title."""
        figure, axis = plt.subplots(figsize=(3.4, 3.0), layout="constrained")
        plt.close(figure)
        plots.pixel_maps({"pixels read, k = 0%:\nevery pixel alike": net}, axes=[axis])
        for colour_bar in figure.axes[1:]:  # smaller print than in the notebooks leaves more room for the map
            colour_bar.tick_params(labelsize=8)
            colour_bar.yaxis.label.set_fontsize(8)
        figure.draw_without_rendering()
        figure.set_layout_engine("none")
        self._pixel_axis = axis
        return Redrawn(figure, lambda: [axis.images[0], axis.title])

    def _draw_pixels(self, pruned: nn.Module, k: str) -> bytes:
        """The map of the pixels `pruned` reads, titled with the first layer's `k` ("k = 90" or "layer 0 at 92.6")."""
        values = plots.pixel_values(pruned).numpy()
        pruned_any = bool((plots.pixel_survival(pruned) < 1).any())
        alike = pruned_any and bool((values == values.flatten()[0]).all())  # unit pruning: rows go, not pixels
        self._pixel_axis.images[0].set_data(np.ma.masked_equal(values, 0))
        self._pixel_axis.set_title(f"pixels read, {k}%" + (":\nevery pixel alike" if alike else ""), fontsize=10)
        return self._pixels.png()

    def _digits_figure(self) -> Redrawn:
        """A strip of `n_digits` places for changed digits, each with its caption and a frame in its kind's colour."""
        n = max(self.n_digits, 1)
        figure, axis = plt.subplots(figsize=(0.68 * n + 0.3, 1.75))
        plt.close(figure)
        images = self.test.images
        self._digit_blank = float(images.min())
        self._digit_strip = axis.imshow(np.full((28, 28 * n), self._digit_blank), cmap="gray_r",
                                        vmin=self._digit_blank, vmax=float(images.max()))
        axis.set(xticks=[], yticks=[], xlim=(-0.5, 28 * n - 0.5))
        axis.set_title(" ", fontsize=9)
        for spine in axis.spines.values():
            spine.set_visible(False)
        self._digit_captions = [axis.text(28 * j + 14, 30, "", ha="center", va="top", fontsize=9, clip_on=False)
                                for j in range(n)]
        self._digit_frames = [axis.add_patch(plt.Rectangle((28 * j + 0.5, 0.5), 26, 26, fill=False, lw=2,
                                                           visible=False)) for j in range(n)]
        figure.subplots_adjust(left=0.02, right=0.98, bottom=0.3, top=0.86)
        return Redrawn(figure, lambda: [self._digit_strip, axis.title, *self._digit_captions, *self._digit_frames])

    def _draw_digits(self, shown: list[ChangedDigit]) -> bytes:
        strip = np.full((28, 28 * max(self.n_digits, 1)), self._digit_blank)
        for j, digit in enumerate(shown):
            strip[:, 28 * j:28 * (j + 1)] = self.test.images[digit.index].reshape(28, 28).cpu().numpy()
        self._digit_strip.set_data(strip)
        self._digit_strip.axes.set_title("changed predictions, true / unpruned → pruned: breaks ✗ and fixes ✓" if shown
                                         else "no prediction changed", fontsize=9)
        for j, (caption, frame) in enumerate(zip(self._digit_captions, self._digit_frames)):
            digit = shown[j] if j < len(shown) else None
            colour = CHANGE_STYLES[digit.kind][1] if digit else "k"
            caption.set(text=digit.caption if digit else "", color=colour)
            frame.set(visible=digit is not None, edgecolor=colour)
        return self._digits.png()

    # showing it ---------------------------------------------------------------------------------
    def _set_together(self, change: Callable[[], object]) -> None:
        """Make several control changes and show the result once."""
        self._updating = True
        try:
            change()
        finally:
            self._updating = False
        self._on_change(None)

    def _sync_controls(self) -> None:
        """The criteria offered, the scope and the per-layer sliders as the method and the mode allow."""
        layer_wise = self.method == "unit" or self.per_layer
        updating, self._updating = self._updating, True
        try:
            # what is shown: a disabled control must not say "global"; the choice comes back with the control
            self.scope_buttons.value = "layer" if layer_wise else self._scope_chosen
            self.scope_buttons.disabled = layer_wise
            self.layer_box.layout.display = "flex" if self.per_layer else "none"
            options = self._criteria(self.method, "layer" if layer_wise else self.scope)
            if list(self.criterion_dropdown.options) != options:
                keep = self.criterion if self.criterion in options else options[0]
                self.criterion_dropdown.options = options
                self.criterion_dropdown.value = keep
        finally:
            self._updating = updating

    def _on_change(self, change) -> None:
        if self._updating:  # the criteria offered changed with the method or scope: one update, not two
            return
        owner = None if change is None else change["owner"]
        if owner in self.layer_sliders.values() and abs(change["new"] - change["old"]) < LAYER_K_STEP / 2:
            return  # the browser's slider echoing a value set here, on its own grid of steps (77.7 as 77.699…)
        if owner in self.layer_sliders.values() or owner is self.per_layer_box:
            self._filled = False  # a hand-set k per layer, or the mode switched: no longer the fill's allocation
        if owner is self.scope_buttons and not self.scope_buttons.disabled:
            self._scope_chosen = self.scope
        if self.per_layer and (owner in (self.per_layer_box, self.k_slider) or
                               self._filled and owner in (self.method_buttons, self.criterion_dropdown)):
            # the layers start where the main slider is, and follow it: uniformly, or re-allocated after a fill
            self._set_layers(self._allocation() if self._filled else {name: self.k for name in self.layer_sliders})
        self._sync_controls()
        key = self._setting()
        loop = _running_loop()
        sent = (owner in (self.k_slider, *self.layer_sliders.values())
                and bool(getattr(owner, "_property_lock", None)))  # a slider's value from the browser
        # A value right after another one (the browser sends the newest as soon as the kernel is idle again) means
        # the handle is moving: an estimate on a subset now, the exact figures once no new value came for
        # SETTLE_SECONDS. A value after a rest (a typed one, the first of a drag) is shown exactly at once.
        moving = self._pending is not None or time.perf_counter() - self._last_sent < MOVING_SECONDS
        if sent and moving and loop is not None and key not in self._cache and not key[3]:
            self._show_estimate(key)
            if self._pending is not None:
                self._pending.cancel()
            self._pending = loop.call_later(SETTLE_SECONDS, self._settled)
        else:
            self.result = self._show()
        if sent:
            self._last_sent = time.perf_counter()

    def _set_layers(self, ks: Mapping[str, float]) -> None:
        """Move the per-layer sliders without showing anything (the caller shows the result once)."""
        updating, self._updating = self._updating, True
        try:
            for name, k in ks.items():
                self.layer_sliders[name].value = k
        finally:
            self._updating = updating

    def _settled(self) -> None:
        self._pending = None
        self.result = self._show()

    def _on_pin(self, change) -> None:
        self.pinned = self.result if change["new"] else None
        self.pin_button.description = "unpin" if self.pinned is not None else "pin this setting"
        self.result = self._show()

    @staticmethod
    def _name(key: tuple) -> str:
        """"weight pruning, layer-wise, magnitude[, repaired]" of a setting's key (a point's `.key`)."""
        method, scope, criterion, repaired = key[:4]
        scope = "layer-wise" if scope == "layer" else "one global threshold"
        return f"{method} pruning, {scope}, {criterion}" + (", repaired" if repaired else "")

    def _pinned_head(self) -> str:
        """The pinned line's start, the same for the exact figures and the estimate."""
        return (f"<div style='font-size:14px;line-height:1.55;color:#8e24aa'>◇ pinned: {self._describe(self.pinned)}: "
                f"<b class='pm-pinned-accuracy'>{100 * self.pinned.accuracy:.2f}</b>%")

    def _k_text(self, method: str, k: float, layer_k: tuple | None, css: bool = False) -> str:
        """"k = 90%", or each layer's k and what that prunes in all; with `css`, k shown marked for the tests."""
        shown = f"<span class='pm-k-shown'>{k:g}</span>" if css else f"{k:g}"
        if layer_k is None:
            return f"k = {shown}%"
        shown = f"<span class='pm-k-shown'>{k:.1f}</span>" if css else f"{k:.1f}"
        each = " · ".join(f"layer {name}: {value:g}%" for name, value in zip(self._layers, layer_k))
        return f"{each} ({shown}% of the {'units' if method == 'unit' else 'weights'} in all)"

    def _describe(self, point: Point) -> str:
        return f"{self._name(point.key)}, {self._k_text(point.method, point.k, point.layer_k)}"

    def _stale(self, stale: bool) -> None:
        """Dim the pictures while they show another setting than the readout (an estimate, or drawing)."""
        for image in (self.histograms, self.pixels, self.digits):
            (image.add_class if stale else image.remove_class)("pm-stale")

    def _show_estimate(self, key: tuple) -> None:
        """The readout and the curve's ring while the handle moves: estimated on `ESTIMATE_IMAGES` test images."""
        with self._lock:
            k, accuracy, error = self._estimate(key)
            method, ks = key[0], key[4]
            self.estimate = accuracy
            self._stale(True)
            self.readout.value = (
                f"<div style='font-size:14px;line-height:1.55'><b>{self._name(key)}, "
                f"{self._k_text(method, k, ks if isinstance(ks, tuple) else None, css=True)}</b><br>"
                f"test accuracy ≈ <b class='pm-estimate'>{100 * accuracy:.1f}</b>% ± {200 * error:.1f} "
                f"<i>estimated</i> from {len(self.estimate_indices):,} of the test images (± two standard errors)<br>"
                f"<i>the exact figures and the pictures follow when the handle rests</i></div>")
            if self.pinned is not None:
                self.pinned_readout.value = (
                    f"{self._pinned_head()}<br>shown now ≈ "
                    f"{100 * (accuracy - self.pinned.accuracy):+.1f} points against it (estimated)</div>")
            self._place_marks(k, accuracy, estimated=True)
            show_png(self.curve_image, self._curve.png())

    def _show(self) -> Point:
        """Show the setting of the controls exactly: the readout first, then the pictures."""
        with self._lock:
            if self._pending is not None:
                self._pending.cancel()
                self._pending = None
            self.estimate = None
            point, pruned = self._numbers(self._setting())
            if not point.images:
                self._stale(True)  # the readout goes first; the pictures follow
            self._write_readout(point)
            if not point.images:
                self._draw(point, pruned)
            show_png(self.histograms, point.images["histograms"])
            show_png(self.pixels, point.images["pixels"])
            show_png(self.digits, point.images["digits"])
            if self.pinned is None:
                self._ring_label.set_text("the setting shown")
                show_png(self.curve_image, point.images["curve"])
            else:  # the curve with both marks, drawn now: the cached picture has no pin
                self._place_marks(point.k, point.accuracy)
                show_png(self.curve_image, self._curve.png())
            self._stale(False)
            return point

    def _write_readout(self, point: Point) -> None:
        delta = 100 * (point.accuracy - self.baseline_accuracy)
        *hidden, (output, alive) = point.units_alive.items()
        units = " · ".join(f"{name}: {alive}" for name, alive in hidden) + f" · output ({output}): {alive}"
        (break_mark, break_colour), (fix_mark, fix_colour) = CHANGE_STYLES["break"], CHANGE_STYLES["fix"]
        tuned = self.tuned.get(point.key)
        n = len(self._labels)
        before = "one-shot + repair" if point.repaired else "one-shot"
        self.readout.value = (
            f"<div style='font-size:14px;line-height:1.55'><b>{self._name(point.key)}, "
            f"{self._k_text(point.method, point.k, point.layer_k, css=True)}</b><br>"
            f"test accuracy <b class='pm-accuracy'>{100 * point.accuracy:.2f}</b>% on the {n:,} test images<br>"
            f"{delta:+.2f} points vs unpruned {100 * self.baseline_accuracy:.2f}%<br>"
            + ("" if tuned is None else
               f"after fine-tuning {FINE_TUNE_EPOCHS} epoch: <b class='pm-tuned-accuracy'>{100 * tuned:.2f}</b>% "
               f"({100 * (tuned - point.accuracy):+.2f} points against {before}: "
               f"<span class='pm-tuned-verdict'>{verdict(tuned, point.accuracy, n)}</span>)<br>") +
            f"changed answers: <span style='color:{break_colour}'>{break_mark} <span class='pm-breaks'>{point.changes['break']}</span>"
            f" broken</span> · <span style='color:{fix_colour}'>{fix_mark} <span class='pm-fixes'>"
            f"{point.changes['fix']}</span> fixed</span> · {point.changes['other']} other<br>"
            f"weights kept (dead units dropped) <span class='pm-kept'>{point.weights_kept:,}</span> of {self.total_weights:,}: "
            f"compression <span class='pm-compression'>{point.compression:.1f}</span>x<br>"
            f"units alive per layer: {units}</div>"
        )
        pinned = self.pinned
        self.pinned_readout.value = "" if pinned is None else (
            f"{self._pinned_head()}, {pinned.weights_kept:,} weights kept<br>"
            f"shown now {100 * (point.accuracy - pinned.accuracy):+.2f} points against it: "
            + "<span class='pm-verdict'>{}</span> ({})".format(*self._against_pinned(point, pinned))
            + ("" if tuned is None else
               f"; fine-tuned {100 * (tuned - pinned.accuracy):+.2f}: {verdict(tuned, pinned.accuracy, n)}")
            + "</div>")

    @staticmethod
    def _against_pinned(point: Point, pinned: Point) -> tuple[str, str]:
        """The shown point against the pinned one, (word, how it was judged): the paired test, since both are
        scored image by image on the same images."""
        test = paired(point.correct, pinned.correct)
        return test["verdict"], f"paired test: {test['a_only']} images right only now, {test['b_only']} only pinned"

    # per-layer allocation and fine-tuning ---------------------------------------------------------
    def _allocation(self) -> dict[str, float]:
        """Notebook 06's per-layer k for the main slider's k, to the sliders' step (measured once per method and
        criterion: the one-layer-at-a-time curves on the validation split)."""
        method = self.method
        criterion = self.criterion if self.criterion not in GLOBAL_ONLY else CRITERIA[method][0]
        if (method, criterion) not in self._sensitivity:
            before = self.tune_status.value
            self.tune_status.value = f"measuring the sensitivity curves of {method} pruning ({criterion}) on the " \
                                     "validation split …"
            try:
                with torch.enable_grad():
                    self._sensitivity[method, criterion] = sensitivity(
                        self.net, self.validation, SENSITIVITY_KS[method], method, criterion,
                        calibration=self._data(method, criterion))
            finally:
                self.tune_status.value = before
        sizes = {name: layer.weight.shape[0] if method == "unit" else layer.weight.numel()
                 for name, layer in self._layers.items()}
        budget = sum(sizes.values()) - round(self.k / 100 * sum(sizes.values()))
        return {name: min(round(k, 1), LAYER_K_MAX) for name, k in  # the sliders' step, 0.1
                allocate(self._sensitivity[method, criterion], budget).items()}

    def fill(self) -> dict[str, float]:
        """Set the per-layer sliders to notebook 06's allocation for the k of the main slider (k% of the hidden
        layers' weights, or units, removed in all), switch the per-layer mode on, and return the ks.

        The allocation (`experiments.allocate`) comes from one-layer-at-a-time sensitivity curves
        (`experiments.sensitivity`) measured on the validation split, for the method and criterion chosen; each k
        is rounded to the sliders' step of 0.1%. Until a layer's slider is moved by hand, the main slider, the method and
        the criterion then re-allocate them (without a fill the main slider moves them all to its k).
        """
        if self.validation is None:
            raise ValueError("the fill needs the validation split: explore(net, test, validation=validation)")
        self.fill_button.disabled = True
        try:
            ks = self._allocation()

            def change():
                self.per_layer_box.value = True
                self._set_layers(ks)
            self._set_together(change)
            self._filled = True
        finally:
            self.fill_button.disabled = False
        return ks

    def fine_tune(self, wait: bool = False) -> threading.Thread:
        """Fine-tune the pruned network shown for `FINE_TUNE_EPOCHS` epoch in a background thread (pruned weights
        held at zero, `experiments.fine_tune`), with the progress bar; the readout then shows the test accuracy
        beside the one-shot one. The trained network and the cache are untouched. `wait`: return when done."""
        if self.train is None:
            raise ValueError("fine-tuning needs the training split: explore(net, test, train=train)")
        if self.tuning:
            raise RuntimeError("a fine-tune is running: wait for it or press cancel")
        self.settle()
        key = self._setting()
        masks = self._masks(key)
        start = apply_masks(self.net, masks)
        if key[3]:
            with torch.enable_grad():
                start = repair(self.net, start, self._calibration)
        recipe = {**FINE_TUNE, "epochs": FINE_TUNE_EPOCHS}
        self.progress.max = FINE_TUNE_EPOCHS * math.ceil(len(self.train) / recipe.get("batch_size", RECIPE["batch_size"]))
        self.progress.value = 0
        self._cancel.clear()
        self.fine_tune_button.disabled, self.cancel_button.disabled = True, False
        point = self.result
        what = (f"{self._name(point.key)}, " + (f"k = {point.k:g}%" if point.layer_k is None else
                                            f"one k per layer ({point.k:.1f}% in all)"))
        self.tune_status.value = f"fine-tuning {what} …"
        self._job = threading.Thread(target=self._tune, args=(key, start, masks, recipe, what), daemon=True,
                                     name="explorer fine-tune")
        self._job.start()
        if wait:
            self._job.join()
        return self._job

    def cancel(self) -> None:
        """Stop a running fine-tune within `TUNE_EVERY` steps; nothing it computed is kept."""
        self._cancel.set()

    def _on_step(self, step: int) -> None:
        if self._cancel.is_set():
            raise Cancelled(step)
        self.progress.value = step

    def _tune(self, key: tuple, start: nn.Module, masks: dict[str, torch.Tensor], recipe: dict, what: str) -> None:
        try:
            tuned, _ = fine_tune(start, masks, self.train, callback=lambda step, _: self._on_step(step),
                                 every=TUNE_EVERY, **recipe)
            with torch.no_grad():
                accuracy = (tuned(self._images).argmax(1) == self._labels).sum().item() / len(self._labels)
            with self._lock:
                self.tuned[key] = accuracy
                while len(self.tuned) > self.cache_size:
                    self.tuned.popitem(last=False)
            status, finished = f"fine-tuned {what}: {100 * accuracy:.2f}% on the test images", True
        except Cancelled as stop:
            status, finished = f"cancelled at step {stop.args[0]} of {self.progress.max}: nothing kept", False
        except Exception as error:  # shown, not lost in a thread
            status, finished = f"the fine-tune failed: {type(error).__name__}: {error}", False
        with self._lock:
            if finished:
                self.progress.value = self.progress.max
            self.tune_status.value = status
            self.fine_tune_button.disabled, self.cancel_button.disabled = False, True
            if self.result.key == self._setting() and self._pending is None:
                self._write_readout(self.result)  # shows the fine-tuned accuracy if this setting is on screen


def explore(net: nn.Module, test: Split, method: str = "weight", k: int = 0,
            calibration: Split | torch.Tensor | None = None, train: Split | None = None,
            validation: Split | None = None) -> Explorer:
    """Build the explorer for `net` on `test`, starting at `method` and `k`; display the returned object.

    `calibration` (images from the training split, e.g. `helpers.criteria.calibration(train)`) adds the
    data-aware criteria and the repair switch; `validation` the fill of the per-layer sliders from the
    sensitivity curves; `train` the fine-tune button.

    Used in 02_weight_pruning, 03_unit_pruning, 07_repair and the app.
    """
    return Explorer(net, test, method=method, k=k, calibration=calibration, train=train, validation=validation)

"""The interactive explorer: a k slider that re-prunes the trained network live.

`explore(net, test)` returns an `Explorer`, whose `.panel` is an ipywidgets
box (the notebook displays the Explorer itself). It is a thin wrapper: the
controls call `helpers.pruning` and `helpers.plots`, every (method, scope, k)
point is computed once and cached (numbers and rendered pictures), and the
network it was given is never modified.

The pictures are PNGs rendered for `DEVICE_PIXEL_RATIO` device pixels per CSS
pixel and displayed at their intended CSS size (`CSS_DPI` CSS pixels per inch
of figure, the size at which the inline backend shows figures), so they are
sharp on ordinary and high-density screens alike. The weight histograms and the
accuracy curve are drawn once; each new k redraws only what changes (blitting).

Given calibration images from the training split (`explore(net, test,
calibration=...)`), it also offers the data-aware criteria of notebook 06 and
the repair of notebook 07 (the survivors refit by least squares); without them
only the criteria that need no data. A pin keeps one setting beside the current
one, in the readout and on the curve. The cache keeps the `CACHE_SIZE` settings
shown last, so playing for an hour cannot exhaust memory.

Tests drive it without a browser through its attributes: `.k`, `.method`,
`.scope`, `.criterion`, `.repair` (the controls), `.pin()` / `.unpin()`,
`.result` (the numbers shown), and through stable CSS classes for browser tests
(`pm-k`, `pm-method`, `pm-scope`, `pm-criterion`, `pm-repair`, `pm-pin`,
`pm-readout`, `pm-pinned`, `pm-histograms`, `pm-pixels`, `pm-digits`, `pm-curve`).

Used in 02_weight_pruning and 03_unit_pruning.
"""

from __future__ import annotations

import io
import struct
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import NamedTuple

import ipywidgets as widgets
import matplotlib.pyplot as plt
import torch
from matplotlib.artist import Artist
from matplotlib.backends.backend_agg import FigureCanvasAgg
from PIL import Image
from torch import nn

from helpers import plots
from helpers.config import K_LIST
from helpers.data import Split
from helpers.criteria import CRITERIA, DATA_AWARE, GLOBAL_ONLY
from helpers.experiments import sweep, verdict
from helpers.pruning import METHODS, SCOPES, Ranking, apply_masks, compact, compression, rank, sparsity, weights_kept
from helpers.repair import repair

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
#: Criteria whose score needs the labels of the calibration images (a loss), not only the images.
NEEDS_LABELS = ("taylor",)
#: One label column for all controls, so that they line up.
CONTROL_STYLE = {"description_width": "72px"}
#: The buttons start where the slider's track does (it keeps 14px for half its handle) and the labels never clip.
PANEL_CSS = ("<style>.pm-explorer .widget-toggle-buttons > .widget-label "
             "{margin: 0 12px 0 2px; text-align: right; overflow: visible}</style>")


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
    repaired.

    Attributes:
        accuracy, weights_kept, compression: as `experiments.sweep` measures them,
            on the split the explorer was given (the test set in the notebooks);
            compression is `pruning.compression`: all weights / weights kept.
        units_alive: per layer, the units with a nonzero weight row.
        changes: how many digits changed their prediction, by kind (see
            `classify_changes`); "fix" - "break" is the change in correct digits.
        shown: the changed digits on display.
        images: rendered PNG pictures, by name.
    """

    method: str
    scope: str
    k: int
    criterion: str
    repaired: bool
    accuracy: float
    weights_kept: int
    compression: float
    units_alive: dict[str, int]
    changes: dict[str, int]
    shown: list[ChangedDigit]
    images: dict[str, bytes]


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
    """

    def __init__(self, figure: plt.Figure, changing: Callable[[], list[Artist]]):
        self.figure, self.changing = figure, changing
        figure.set_dpi(CSS_DPI * DEVICE_PIXEL_RATIO)
        self.canvas = FigureCanvasAgg(figure)
        for artist in changing():
            artist.set_animated(True)
        self.canvas.draw()
        self.background = self.canvas.copy_from_bbox(figure.bbox)

    def png(self) -> bytes:
        """The figure as it is now, as PNG bytes."""
        self.canvas.restore_region(self.background)
        for artist in sorted(self.changing(), key=lambda artist: artist.get_zorder()):
            self.figure.draw_artist(artist)
        buffer = io.BytesIO()
        Image.frombuffer("RGBA", self.canvas.get_width_height(), self.canvas.buffer_rgba(), "raw", "RGBA", 0, 1
                         ).save(buffer, format="png", compress_level=1)
        return buffer.getvalue()


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


class Explorer:
    """An ipywidgets panel to prune `net` at any k and see the result.

    Args:
        net: the trained network (never modified).
        test: the split to evaluate on: the test set (the readout says so).
        digits: how many changed digits to show.
        method, k: where the controls start.
        calibration: a Split from the training split (or its images alone), for the data-aware criteria and the
            repair; "taylor" needs the labels too (a Split). None offers only the criteria that need no data, and
            no repair.
        cache_size: how many settings the cache keeps (the least recently shown are dropped).
    """

    def __init__(self, net: nn.Module, test: Split, digits: int = 8, method: str = "weight", k: int = 0,
                 calibration: Split | torch.Tensor | None = None, cache_size: int = CACHE_SIZE):
        if isinstance(cache_size, bool) or not isinstance(cache_size, int) or cache_size < 1:
            raise ValueError(f"cache_size must be a positive integer, got {cache_size!r}")
        self.net = net.eval()
        self.test = test
        self.cache_size = cache_size
        device = next(net.parameters()).device
        images = calibration.images if isinstance(calibration, Split) else calibration
        self._calibration = None if images is None else images.to(device)
        # with labels too ("taylor" needs a loss); an image tensor alone offers the criteria that need no labels
        self._labelled = (Split(self._calibration, calibration.labels.to(device)) if isinstance(calibration, Split)
                          else None)
        self.n_digits = digits
        self._device = next(net.parameters()).device
        self._images = test.images.to(self._device)
        self._labels = test.labels.to(self._device)
        with torch.no_grad():
            self._dense_predictions = net(self._images).argmax(1)
        self.baseline_accuracy = (self._dense_predictions == self._labels).sum().item() / len(self._labels)
        self.total_weights = sum(layer.weight.numel() for layer in net.modules() if isinstance(layer, nn.Linear))
        self.curve = sweep(net, test, K_LIST, METHODS)  # computed once: the curves the ring sits on
        self._histograms = self._histograms_figure(net)
        self._curve = self._curve_figure(k)
        self._cache: OrderedDict[tuple, Point] = OrderedDict()
        self._rankings: dict[tuple[str, str, str], Ranking] = {}
        self.pinned: Point | None = None
        self._updating = False

        self.k_slider = widgets.IntSlider(value=k, min=0, max=99, step=1, description="k (%)",
                                          continuous_update=False, style=CONTROL_STYLE,
                                          layout=widgets.Layout(width="430px"))
        # display: flex puts a ToggleButtons' description beside its buttons (ipywidgets 8 stacks them otherwise)
        buttons = dict(style={**CONTROL_STYLE, "button_width": "90px"}, layout=widgets.Layout(display="flex"))
        self.method_buttons = widgets.ToggleButtons(
            options=list(METHODS), value=method, description="method", **buttons,
            tooltips=["single weights, smallest |w| first", "whole units, smallest L2 norm of their row first"])
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
        self.pin_button = widgets.ToggleButton(value=False, description="pin this setting", icon="thumb-tack",
                                               tooltip="keep this setting beside the current one, for comparison",
                                               layout=widgets.Layout(width="150px", margin="0 0 0 76px"))
        self.readout = widgets.HTML(layout=widgets.Layout(width="430px"))
        self.pinned_readout = widgets.HTML(layout=widgets.Layout(width="430px"))
        fit = dict(max_width="100%", height="auto")  # shrinks on a narrow page, keeps its proportions
        self.histograms, self.pixels, self.digits, self.curve_image = (
            widgets.Image(format="png", layout=widgets.Layout(**fit)) for _ in range(4))
        for widget, css in [(self.k_slider, "pm-k"), (self.method_buttons, "pm-method"),
                            (self.scope_buttons, "pm-scope"), (self.criterion_dropdown, "pm-criterion"),
                            (self.repair_box, "pm-repair"), (self.pin_button, "pm-pin"),
                            (self.readout, "pm-readout"), (self.pinned_readout, "pm-pinned"),
                            (self.histograms, "pm-histograms"), (self.pixels, "pm-pixels"),
                            (self.digits, "pm-digits"), (self.curve_image, "pm-curve")]:
            widget.add_class(css)
        for control in (self.k_slider, self.method_buttons, self.scope_buttons, self.criterion_dropdown,
                        self.repair_box):
            control.observe(self._on_change, names="value")
        self.pin_button.observe(self._on_pin, names="value")
        row = dict(flex_flow="row wrap", align_items="flex-start", grid_gap="4px 16px")
        self.panel = widgets.VBox([
            widgets.HTML(PANEL_CSS, layout=widgets.Layout(display="none")),
            widgets.HBox([widgets.VBox([self.k_slider, self.method_buttons, self.scope_buttons, self.criterion_dropdown,
                                        self.repair_box, self.pin_button, self.readout, self.pinned_readout]),
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

    def pin(self) -> Point:
        """Keep the setting shown now beside the current one (in the readout and on the curve); return it."""
        self.pin_button.value = True
        return self.pinned

    def unpin(self) -> None:
        """Drop the pinned setting."""
        self.pin_button.value = False

    def _criteria(self, method: str, scope: str) -> list[str]:
        """The criteria the dropdown offers for `method` and `scope` (the data-aware ones only with calibration data)."""
        return [c for c in CRITERIA[method] if (c not in GLOBAL_ONLY or scope == "global")
                and (c not in DATA_AWARE[method] or self._calibration is not None)
                and (c not in NEEDS_LABELS or self._labelled is not None)]

    def _ipython_display_(self):
        from IPython.display import display
        display(self.panel)

    # computing a point ---------------------------------------------------------------------------
    def point(self, method: str, scope: str, k: int, criterion: str | None = None, repaired: bool = False) -> Point:
        """The (cached) numbers and pictures for one setting (criterion None: the method's default)."""
        scope = scope if method == "weight" else "layer"
        criterion = criterion or CRITERIA[method][0]
        if repaired and self._calibration is None:
            raise ValueError("repair needs calibration images: explore(net, test, calibration=calibration(train))")
        key = (method, scope, criterion, bool(repaired), int(k))
        if key in self._cache:
            self._cache.move_to_end(key)  # shown again: the most recently used
        else:
            self._cache[key] = self._compute(*key)
            while len(self._cache) > self.cache_size:
                self._cache.popitem(last=False)  # the least recently shown goes
        return self._cache[key]

    @torch.no_grad()
    def _compute(self, method: str, scope: str, criterion: str, repaired: bool, k: int) -> Point:
        if (method, scope, criterion) not in self._rankings:  # sort once per setting, cut at every k
            data = (self._labelled if criterion in NEEDS_LABELS else
                    self._calibration if criterion in DATA_AWARE[method] else None)
            with torch.enable_grad():  # Taylor scores are gradients
                self._rankings[method, scope, criterion] = rank(self.net, method, scope, criterion=criterion, data=data)
        pruned = apply_masks(self.net, self._rankings[method, scope, criterion].masks(k))
        if repaired:
            with torch.enable_grad():
                pruned = repair(self.net, pruned, self._calibration)
        small = compact(pruned)  # the same function, faster: what sweep() evaluates and counts
        predictions = small(self._images).argmax(1)
        accuracy = (predictions == self._labels).sum().item() / len(self._labels)
        changes = classify_changes(self._labels, self._dense_predictions, predictions)
        shown = [ChangedDigit(i, kind, int(self._labels[i]), int(self._dense_predictions[i]), int(predictions[i]))
                 for i, kind in pick_shown(changes, self.n_digits)]
        table = sparsity(pruned).set_index("layer")
        units = {name: int(row["alive"]) for name, row in table.drop(index="total").iterrows()}
        self._histograms.update(pruned)
        self._place_marks(k, accuracy)
        images = {
            "histograms": self._histograms_png.png(),
            "pixels": render(self._pixels_figure(pruned, k)),
            "digits": render(self._digits_figure(shown)),
            "curve": self._curve.png(),
        }
        return Point(method, scope, k, criterion, repaired, accuracy, weights_kept(small),
                     compression(small, self.total_weights), units,
                     {kind: len(indices) for kind, indices in changes.items()}, shown, images)

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
                            title="one-shot, layer-wise, default criteria, on the test set")
        axis.title.set_fontsize(10)
        self._curve_lines = list(axis.get_lines())
        self._now_line = axis.axvline(k, color="0.55", lw=1, zorder=0.5)
        self._now_ring, = axis.plot([k], [1.0], "o", ms=12, mfc="none", mew=1.5, color="k", zorder=1,
                                    label="the setting shown")
        self._pin_mark, = axis.plot([], [], "D", ms=8, mfc="none", mew=1.5, color="#8e24aa", zorder=1,
                                    label="the pinned setting")
        legend = axis.legend(fontsize=7, loc="upper left")
        # the curves (and the legend over them) are drawn again over the ring and the line: neither hides a curve
        return Redrawn(figure, lambda: [self._now_line, self._now_ring, self._pin_mark, *self._curve_lines, legend])

    def _place_marks(self, k: int, accuracy: float) -> None:
        """The line and the ring at the setting shown, and the pinned setting's diamond (none when nothing is
        pinned). Errors are drawn as accuracy_vs_k draws them: an error of 0 at 0.01%."""
        self._now_line.set_xdata([k, k])
        self._now_ring.set_data([k], [max(100 * (1 - accuracy), 0.01)])
        pinned = [] if self.pinned is None else [self.pinned.k]
        self._pin_mark.set_data(pinned, [max(100 * (1 - self.pinned.accuracy), 0.01)] if pinned else [])

    def _pixels_figure(self, pruned: nn.Module, k: int) -> plt.Figure:
        figure, axis = plt.subplots(figsize=(3.4, 3.0), layout="constrained")
        survival = plots.pixel_survival(pruned)
        alike = k > 0 and bool((survival == survival.flatten()[0]).all())  # unit pruning: rows go, not pixels
        plots.pixel_maps({f"pixels read, k = {k}%" + (":\nevery pixel alike" if alike else ""): pruned}, axes=[axis])
        for colour_bar in figure.axes[1:]:  # smaller print than in the notebooks leaves more room for the map
            colour_bar.tick_params(labelsize=8)
            colour_bar.yaxis.label.set_fontsize(8)
        return figure

    def _digits_figure(self, shown: list[ChangedDigit]) -> plt.Figure:
        caption = ("changed predictions, true / unpruned → pruned: breaks ✗ and fixes ✓" if shown
                   else "no prediction changed")
        figure = plots.digit_strip(self.test.images[[digit.index for digit in shown]],
                                   [digit.caption for digit in shown], caption)
        figure.set_size_inches(max(2.0, 0.68 * len(shown) + 0.3), 1.75)
        axis = figure.axes[0]
        for label, digit in zip(axis.get_xticklabels(), shown):
            label.set(color=CHANGE_STYLES[digit.kind][1], fontsize=9)
        for j, digit in enumerate(shown):  # a frame in the colour of its kind around each digit
            axis.add_patch(plt.Rectangle((28 * j + 0.5, 0.5), 26, 26, fill=False, lw=2,
                                         edgecolor=CHANGE_STYLES[digit.kind][1]))
        axis.tick_params(axis="x", length=0, pad=3)
        for spine in axis.spines.values():
            spine.set_visible(False)
        figure.subplots_adjust(left=0.02, right=0.98, bottom=0.3, top=0.86)
        return figure

    # showing it ---------------------------------------------------------------------------------
    def _on_change(self, change) -> None:
        if self._updating:  # the criteria offered changed with the method or scope: one update, not two
            return
        options = self._criteria(self.method, self.scope if self.method == "weight" else "layer")
        if list(self.criterion_dropdown.options) != options:
            self._updating = True
            try:
                keep = self.criterion if self.criterion in options else options[0]
                self.criterion_dropdown.options = options
                self.criterion_dropdown.value = keep
            finally:
                self._updating = False
        self.result = self._show()

    def _on_pin(self, change) -> None:
        self.pinned = self.result if change["new"] else None
        self.pin_button.description = "unpin" if self.pinned is not None else "pin this setting"
        self.result = self._show()

    @staticmethod
    def _name(point: Point) -> str:
        return (f"{point.method} pruning, {point.scope}-wise, {point.criterion}"
                + (", repaired" if point.repaired else ""))

    def _show(self) -> Point:
        self.scope_buttons.disabled = self.method != "weight"
        point = self.point(self.method, self.scope, self.k, self.criterion, self.repair)
        delta = 100 * (point.accuracy - self.baseline_accuracy)
        units = " · ".join(f"{name}: {alive}" for name, alive in point.units_alive.items())
        (break_mark, break_colour), (fix_mark, fix_colour) = CHANGE_STYLES["break"], CHANGE_STYLES["fix"]
        self.readout.value = (
            f"<div style='font-size:14px;line-height:1.55'>"
            f"<b>{self._name(point)}, k = <span class='pm-k-shown'>{point.k}</span>%</b><br>"
            f"test accuracy <b class='pm-accuracy'>{100 * point.accuracy:.2f}</b>% "
            f"on the {len(self._labels):,} test images<br>"
            f"{delta:+.2f} points vs unpruned {100 * self.baseline_accuracy:.2f}%<br>"
            f"changed answers: <span style='color:{break_colour}'>{break_mark} <span class='pm-breaks'>{point.changes['break']}</span>"
            f" broken</span> · <span style='color:{fix_colour}'>{fix_mark} <span class='pm-fixes'>"
            f"{point.changes['fix']}</span> fixed</span> · {point.changes['other']} other<br>"
            f"weights kept <span class='pm-kept'>{point.weights_kept:,}</span> of {self.total_weights:,}: "
            f"compression <span class='pm-compression'>{point.compression:.1f}</span>x<br>"
            f"units alive per layer: {units}</div>"
        )
        show_png(self.histograms, point.images["histograms"])
        show_png(self.pixels, point.images["pixels"])
        show_png(self.digits, point.images["digits"])
        if self.pinned is None:
            self.pinned_readout.value = ""
            show_png(self.curve_image, point.images["curve"])
        else:  # the curve with both marks, drawn now: the cached picture has no pin
            pinned = self.pinned
            self._place_marks(point.k, point.accuracy)
            show_png(self.curve_image, self._curve.png())
            self.pinned_readout.value = (
                f"<div style='font-size:14px;line-height:1.55;color:#8e24aa'>◇ pinned: {self._name(pinned)}, "
                f"k = {pinned.k}%: <b class='pm-pinned-accuracy'>{100 * pinned.accuracy:.2f}</b>%, "
                f"{pinned.weights_kept:,} weights kept<br>shown now {100 * (point.accuracy - pinned.accuracy):+.2f} "
                f"points against it: <span class='pm-verdict'>{verdict(point.accuracy, pinned.accuracy, len(self._labels))}"
                "</span> (the series' noise rule)</div>")
        return point


def explore(net: nn.Module, test: Split, method: str = "weight", k: int = 0,
            calibration: Split | torch.Tensor | None = None) -> Explorer:
    """Build the explorer for `net` on `test`, starting at `method` and `k`; display the returned object.

    `calibration` (images from the training split, e.g. `helpers.criteria.calibration(train)`) adds the
    data-aware criteria and the repair switch.

    Used in 02_weight_pruning, 03_unit_pruning and 07_repair.
    """
    return Explorer(net, test, method=method, k=k, calibration=calibration)

"""The explorer's pictures: four figures laid out once and redrawn by blitting, each drawing a point.

The pictures are PNGs rendered for `DEVICE_PIXEL_RATIO` device pixels per CSS pixel and displayed at their intended
CSS size (`CSS_DPI` CSS pixels per inch of figure, the size at which the inline backend shows figures), so they are
sharp on ordinary and high-density screens alike.
"""

from __future__ import annotations

import io
import struct
from collections.abc import Callable

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch
from matplotlib.artist import Artist
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.legend import Legend
from PIL import Image
from torch import nn

from helpers import plots
from helpers.explorer.engine import CHANGE_STYLES, ChangedDigit, Point
from helpers.pruning import prunable_layers

#: CSS pixels per inch of figure: the size at which Jupyter's inline backend shows figures (matplotlib's 100 dpi).
CSS_DPI = 100
#: Device pixels per CSS pixel that the PNGs are rendered for (2 on most laptops and phones; sharp on 1 too).
DEVICE_PIXEL_RATIO = 2
#: Width in inches of the weight histograms: the explorer's width at `CSS_DPI`, so that they show at 1:1.
HISTOGRAMS_WIDTH = 9.4


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


def show_png(image, png: bytes) -> None:
    """Put `png` into `image` (an ipywidgets Image), to be displayed `DEVICE_PIXEL_RATIO` times smaller than its
    pixels (its CSS size)."""
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


class HistogramsFigure:
    """`plots.WeightHistograms` of the prunable layers at the explorer's width, laid out once, redrawn by blitting."""

    def __init__(self, net: nn.Module):
        histograms = plots.WeightHistograms(net, include_output=False)  # the output layer is never pruned
        plt.close(histograms.figure)  # kept for redrawing, not shown by the inline backend
        histograms.figure.set_size_inches(HISTOGRAMS_WIDTH, histograms.figure.get_figheight())
        for axis in histograms.axes.values():
            thin_decade_ticks(axis, histograms.zero_at, histograms.low, histograms.high)
        histograms.figure.draw_without_rendering()  # lay it out once, then keep it: only the bars change with k
        histograms.figure.set_layout_engine("none")
        self.histograms, self.figure = histograms, histograms.figure
        self.redrawn = Redrawn(histograms.figure, lambda: [
            *histograms.kept.values(), *(bar for bars in histograms.zeros.values() for bar in bars),
            *(axis.title for axis in histograms.axes.values())])

    def draw(self, pruned: nn.Module) -> bytes:
        """The histograms of `pruned`."""
        self.histograms.update(pruned)
        return self.redrawn.png()


class CurveFigure:
    """The one-shot curves of `plots.accuracy_vs_k`, a thin line at k and a hollow ring drawn under the curves, and
    the pinned setting's diamond."""

    def __init__(self, curve: pd.DataFrame, baseline_accuracy: float, k: float):
        figure, axis = plt.subplots(figsize=(4.8, 3.3))
        plt.close(figure)  # kept for redrawing, not shown by the inline backend
        plots.accuracy_vs_k(curve, baseline=baseline_accuracy, reference=False, axis=axis,
                            title="one-shot, layer-wise, default criteria, on the test set", label="one-shot")
        axis.title.set_fontsize(10)
        axis.set_xlabel("k: % pruned (the curves: in each layer; the ring: in all)", fontsize=9)
        self.figure = figure
        self.lines = list(axis.get_lines())
        self.now_line = axis.axvline(k, color="0.55", lw=1, zorder=0.5)
        self.ring, = axis.plot([k], [1.0], "o", ms=12, mfc="none", mew=1.5, color="k", zorder=1,
                               label="the setting shown")
        self.pin_mark, = axis.plot([], [], "D", ms=8, mfc="none", mew=1.5, color="#8e24aa", zorder=1,
                                   label="the pinned setting")
        legend = axis.legend(fontsize=7, loc="upper left", framealpha=1)  # opaque: pasted as pixels
        self.ring_label = next(text for text in legend.get_texts() if text.get_text() == "the setting shown")
        self.pin_label = next(text for text in legend.get_texts() if text.get_text() == "the pinned setting")
        # the curves (and the legend over them) are drawn again over the ring and the line: neither hides a curve
        self.redrawn = Redrawn(figure, lambda: [self.now_line, self.ring, self.pin_mark, *self.lines],
                               on_top=legend, still=lambda: self.lines)

    def place_marks(self, k: float, accuracy: float, pinned: Point | None = None, estimated: bool = False) -> None:
        """The line and the ring at the setting shown, and the `pinned` setting's diamond (if any).
        Errors are drawn as accuracy_vs_k draws them: an error of 0 at 0.01%."""
        self.ring_label.set_text("the setting shown" + (" (≈, estimated)" if estimated else ""))
        self.now_line.set_xdata([k, k])
        self.ring.set_data([k], [max(100 * (1 - accuracy), 0.01)])
        self.pin_label.set_text("the pinned setting" + ("" if pinned else " (none)"))
        self.pin_mark.set_data([pinned.k] if pinned else [], [max(100 * (1 - pinned.accuracy), 0.01)] if pinned else [])

    def png(self) -> bytes:
        """The curve with its marks as they are now."""
        return self.redrawn.png()


class PixelsFigure:
    """`plots.pixel_maps` of one network, laid out once; each point redraws the map and its title."""

    def __init__(self, net: nn.Module):
        figure, axis = plt.subplots(figsize=(3.4, 3.0), layout="constrained")
        plt.close(figure)
        plots.pixel_maps({"pixels read, k = 0%:\nevery pixel alike": net}, axes=[axis])
        for colour_bar in figure.axes[1:]:  # smaller print than in the notebooks leaves more room for the map
            colour_bar.tick_params(labelsize=8)
            colour_bar.yaxis.label.set_fontsize(8)
        figure.draw_without_rendering()
        figure.set_layout_engine("none")
        self.figure, self.axis = figure, axis
        self.redrawn = Redrawn(figure, lambda: [axis.images[0], axis.title])

    def draw(self, pruned: nn.Module, k: str) -> bytes:
        """The map of the pixels `pruned` reads, titled with the first layer's `k` ("k = 90" or "layer 0 at 92.6")."""
        values = plots.pixel_values(pruned).numpy()
        pruned_any = bool((plots.pixel_survival(pruned) < 1).any())
        alike = pruned_any and bool((values == values.flatten()[0]).all())  # unit pruning: rows go, not pixels
        self.axis.images[0].set_data(np.ma.masked_equal(values, 0))
        self.axis.set_title(f"pixels read, {k}%" + (":\nevery pixel alike" if alike else ""), fontsize=10)
        return self.redrawn.png()


class DigitsFigure:
    """A strip of `n` places for changed digits, each with its caption and a frame in its kind's colour."""

    def __init__(self, images: torch.Tensor, n: int):
        self.images, self.n = images, max(n, 1)
        figure, axis = plt.subplots(figsize=(0.68 * self.n + 0.3, 1.75))
        plt.close(figure)
        self.blank = float(images.min())
        self.strip = axis.imshow(np.full((28, 28 * self.n), self.blank), cmap="gray_r",
                                 vmin=self.blank, vmax=float(images.max()))
        axis.set(xticks=[], yticks=[], xlim=(-0.5, 28 * self.n - 0.5))
        axis.set_title(" ", fontsize=9)
        for spine in axis.spines.values():
            spine.set_visible(False)
        self.captions = [axis.text(28 * j + 14, 30, "", ha="center", va="top", fontsize=9, clip_on=False)
                         for j in range(self.n)]
        self.frames = [axis.add_patch(plt.Rectangle((28 * j + 0.5, 0.5), 26, 26, fill=False, lw=2, visible=False))
                       for j in range(self.n)]
        figure.subplots_adjust(left=0.02, right=0.98, bottom=0.3, top=0.86)
        self.figure = figure
        self.redrawn = Redrawn(figure, lambda: [self.strip, axis.title, *self.captions, *self.frames])

    def draw(self, shown: list[ChangedDigit]) -> bytes:
        """The strip of the changed digits `shown`."""
        strip = np.full((28, 28 * self.n), self.blank)
        for j, digit in enumerate(shown):
            strip[:, 28 * j:28 * (j + 1)] = self.images[digit.index].reshape(28, 28).cpu().numpy()
        self.strip.set_data(strip)
        self.strip.axes.set_title("changed predictions, true / unpruned → pruned: breaks ✗ and fixes ✓" if shown
                                  else "no prediction changed", fontsize=9)
        for j, (caption, frame) in enumerate(zip(self.captions, self.frames)):
            digit = shown[j] if j < len(shown) else None
            colour = CHANGE_STYLES[digit.kind][1] if digit else "k"
            caption.set(text=digit.caption if digit else "", color=colour)
            frame.set(visible=digit is not None, edgecolor=colour)
        return self.redrawn.png()


class Figures:
    """The explorer's four figures: the weight histograms, the curve, the pixel map and the changed digits.

    Args:
        net: the trained network (the histograms' bins and the first pixel map).
        images: the test images (the changed digits).
        curve: `experiments.sweep`'s table that the curve draws, with the unpruned `baseline_accuracy`.
        k: where the curve's marks start.
        digits: how many changed digits the strip shows.
    """

    def __init__(self, net: nn.Module, images: torch.Tensor, curve: pd.DataFrame, baseline_accuracy: float,
                 k: float, digits: int):
        plots.use_style()  # the series' look (importing plots changes no matplotlib setting)
        self.histograms = HistogramsFigure(net)
        self.curve = CurveFigure(curve, baseline_accuracy, k)
        self.pixels = PixelsFigure(net)
        self.digits = DigitsFigure(images, digits)

    def draw(self, point: Point, pruned: nn.Module) -> dict[str, bytes]:
        """The pictures of `point` (`pruned` is its network), by name; the curve shows no pin."""
        self.curve.place_marks(point.k, point.accuracy)
        if point.layer_k is None and point.scope == "layer":
            first = f"k = {point.k:g}"
        else:  # one global threshold, or one k per layer: the first layer's own share
            name, layer = next(iter(prunable_layers(pruned).items()))
            zero = layer.weight == 0
            gone = zero.all(dim=1).float().mean() if point.method == "unit" else zero.float().mean()
            first = f"layer {name} at {100 * gone.item():.1f}"
        return dict(histograms=self.histograms.draw(pruned), pixels=self.pixels.draw(pruned, first),
                    digits=self.digits.draw(point.shown), curve=self.curve.png())

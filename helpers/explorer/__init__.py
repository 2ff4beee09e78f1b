"""The interactive explorer: a k slider that re-prunes the trained network live.

`explore(net, test)` returns an `Explorer`, whose `.panel` is an ipywidgets
box (the notebook displays the Explorer itself). It is a thin wrapper: the
controls call `helpers.pruning` and `helpers.plots`, every (method, scope, k)
point is computed once and cached (numbers and rendered pictures), and the
network it was given is never modified.

The package, from the bottom up: `setting` (a setting as a named value, the
cache key), `engine` (the numbers, the estimate, the per-layer fill and the
bounded caches; no widgets), `figures` (the pictures, blitted), `readout` (the
HTML readout, a pure function of a point), `tune` (the fine-tune job) and
`panel` (the widgets and their events). Importing `engine` or `readout` does not
import ipywidgets.

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

from helpers.explorer.engine import (CACHE_SIZE, CHANGE_STYLES, ESTIMATE_IMAGES, LAYER_K_MAX, LAYER_K_STEP,
                                     NEEDS_LABELS, RANKINGS_KEPT, ChangedDigit, Engine, LRUCache, Point,
                                     classify_changes, pick_shown)
from helpers.explorer.readout import Facts
from helpers.explorer.setting import Setting
from helpers.explorer.tune import FINE_TUNE_EPOCHS, TUNE_EVERY, Cancelled, FineTuneJob

#: The names of `figures` and `panel`, imported when first used: matplotlib's figures and ipywidgets load then.
_LATER = {"figures": ("CSS_DPI", "DEVICE_PIXEL_RATIO", "HISTOGRAMS_WIDTH", "Figures", "Redrawn", "png_size",
                      "render", "show_png", "thin_decade_ticks"),
          "panel": ("CONTROL_STYLE", "MOVING_SECONDS", "PANEL_CSS", "SETTLE_SECONDS", "Controls", "Explorer",
                    "explore")}

__all__ = ["CACHE_SIZE", "CHANGE_STYLES", "ESTIMATE_IMAGES", "FINE_TUNE_EPOCHS", "LAYER_K_MAX", "LAYER_K_STEP",
           "NEEDS_LABELS", "RANKINGS_KEPT", "TUNE_EVERY", "Cancelled", "ChangedDigit", "Engine", "Facts",
           "FineTuneJob", "LRUCache", "Point", "Setting", "classify_changes", "pick_shown",
           *(name for names in _LATER.values() for name in names)]


def __getattr__(name: str):
    """`helpers.explorer.Explorer` and the other names of `figures` and `panel`, imported on first use."""
    for module, names in _LATER.items():
        if name in names:
            import importlib
            return getattr(importlib.import_module(f"helpers.explorer.{module}"), name)
    raise AttributeError(f"module 'helpers.explorer' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))

"""The explorer's HTML readout: pure functions of a point (and the pinned point), no widgets.

The spans with a `pm-` class carry the numbers the browser tests read.
"""

from __future__ import annotations

from dataclasses import dataclass

from helpers.explorer.engine import CHANGE_STYLES, Point
from helpers.explorer.setting import Setting
from helpers.explorer.tune import FINE_TUNE_EPOCHS
from helpers.stats import paired, verdict

#: The readout's font and spacing; the pinned line is in the pin's colour.
STYLE = "font-size:14px;line-height:1.55"


@dataclass(frozen=True)
class Facts:
    """What the readout says beside any point: the unpruned accuracy, all the network's weights, how many test
    images, and the names of the hidden layers (in the order of a point's `layer_k`)."""

    baseline_accuracy: float
    total_weights: int
    images: int
    layers: tuple[str, ...]


def k_text(method: str, k: float, layer_k: tuple | None, layers: tuple[str, ...], css: bool = False) -> str:
    """"k = 90%", or each layer's k and what that prunes in all; with `css`, k shown marked for the tests.

    >>> k_text("weight", 90, None, ("0", "2"))
    'k = 90%'
    >>> k_text("unit", 70.0, (90.0, 50.0), ("0", "2"))
    'layer 0: 90% · layer 2: 50% (70.0% of the units in all)'
    """
    shown = f"<span class='pm-k-shown'>{k:g}</span>" if css else f"{k:g}"
    if layer_k is None:
        return f"k = {shown}%"
    shown = f"<span class='pm-k-shown'>{k:.1f}</span>" if css else f"{k:.1f}"
    each = " · ".join(f"layer {name}: {value:g}%" for name, value in zip(layers, layer_k))
    return f"{each} ({shown}% of the {'units' if method == 'unit' else 'weights'} in all)"


def describe(point: Point, layers: tuple[str, ...]) -> str:
    """"weight pruning, layer-wise, magnitude, k = 90%": the setting of a point in words."""
    return f"{point.key.name}, {k_text(point.method, point.k, point.layer_k, layers)}"


def tune_what(point: Point) -> str:
    """The setting a fine-tune starts from, as its status line names it."""
    return (f"{point.key.name}, " + (f"k = {point.k:g}%" if point.layer_k is None else
                                     f"one k per layer ({point.k:.1f}% in all)"))


def pinned_head(pinned: Point, layers: tuple[str, ...]) -> str:
    """The pinned line's start, the same for the exact figures and the estimate."""
    return (f"<div style='{STYLE};color:#8e24aa'>◇ pinned: {describe(pinned, layers)}: "
            f"<b class='pm-pinned-accuracy'>{100 * pinned.accuracy:.2f}</b>%")


def against_pinned(point: Point, pinned: Point) -> tuple[str, str]:
    """The shown point against the pinned one, (word, how it was judged): the paired test, since both are
    scored image by image on the same images."""
    test = paired(point.correct, pinned.correct)
    return test["verdict"], f"paired test: {test['a_only']} images right only now, {test['b_only']} only pinned"


def readout_html(point: Point, facts: Facts, tuned: float | None = None) -> str:
    """The readout of a point computed exactly; `tuned`: its test accuracy after the fine-tune, if it was tuned."""
    delta = 100 * (point.accuracy - facts.baseline_accuracy)
    *hidden, (output, alive) = point.units_alive.items()
    units = " · ".join(f"{name}: {alive}" for name, alive in hidden) + f" · output ({output}): {alive}"
    (break_mark, break_colour), (fix_mark, fix_colour) = CHANGE_STYLES["break"], CHANGE_STYLES["fix"]
    n = facts.images
    before = "one-shot + repair" if point.repaired else "one-shot"
    return (
        f"<div style='{STYLE}'><b>{point.key.name}, "
        f"{k_text(point.method, point.k, point.layer_k, facts.layers, css=True)}</b><br>"
        f"test accuracy <b class='pm-accuracy'>{100 * point.accuracy:.2f}</b>% on the {n:,} test images<br>"
        f"{delta:+.2f} points vs unpruned {100 * facts.baseline_accuracy:.2f}%<br>"
        + ("" if tuned is None else
           f"after fine-tuning {FINE_TUNE_EPOCHS} epoch: <b class='pm-tuned-accuracy'>{100 * tuned:.2f}</b>% "
           f"({100 * (tuned - point.accuracy):+.2f} points against {before}: "
           f"<span class='pm-tuned-verdict'>{verdict(tuned, point.accuracy, n)}</span>)<br>") +
        f"changed answers: <span style='color:{break_colour}'>{break_mark} <span class='pm-breaks'>"
        f"{point.changes['break']}</span> broken</span> · <span style='color:{fix_colour}'>{fix_mark} "
        f"<span class='pm-fixes'>{point.changes['fix']}</span> fixed</span> · {point.changes['other']} other<br>"
        f"weights kept (dead units dropped) <span class='pm-kept'>{point.weights_kept:,}</span> of "
        f"{facts.total_weights:,}: compression <span class='pm-compression'>{point.compression:.1f}</span>x<br>"
        f"units alive per layer: {units}</div>"
    )


def pinned_html(point: Point, pinned: Point | None, facts: Facts, tuned: float | None = None) -> str:
    """The pinned line under the readout of `point` ("" without a pin): the shown point against the pinned one."""
    if pinned is None:
        return ""
    return (f"{pinned_head(pinned, facts.layers)}, {pinned.weights_kept:,} weights kept<br>"
            f"shown now {100 * (point.accuracy - pinned.accuracy):+.2f} points against it: "
            + "<span class='pm-verdict'>{}</span> ({})".format(*against_pinned(point, pinned))
            + ("" if tuned is None else
               f"; fine-tuned {100 * (tuned - pinned.accuracy):+.2f}: {verdict(tuned, pinned.accuracy, facts.images)}")
            + "</div>")


def estimate_html(setting: Setting, k: float, accuracy: float, error: float, subset: int,
                  layers: tuple[str, ...]) -> str:
    """The readout while the handle moves: the accuracy estimated on `subset` test images, ± two standard errors
    (`error` is one), marked as an estimate (never with the exact figure's `pm-accuracy`)."""
    return (f"<div style='{STYLE}'><b>{setting.name}, "
            f"{k_text(setting.method, k, setting.layer_k, layers, css=True)}</b><br>"
            f"test accuracy ≈ <b class='pm-estimate'>{100 * accuracy:.1f}</b>% ± {200 * error:.1f} "
            f"<i>estimated</i> from {subset:,} of the test images (± two standard errors)<br>"
            f"<i>the exact figures and the pictures follow when the handle rests</i></div>")


def pinned_estimate_html(accuracy: float, pinned: Point, layers: tuple[str, ...]) -> str:
    """The pinned line while the handle moves: the estimate against the pinned setting."""
    return (f"{pinned_head(pinned, layers)}<br>shown now ≈ "
            f"{100 * (accuracy - pinned.accuracy):+.1f} points against it (estimated)</div>")

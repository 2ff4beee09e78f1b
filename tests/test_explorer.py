"""The explorer driven from Python: numbers equal sweep()'s, pictures change, the network is untouched."""

import io

import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch
import traitlets
from PIL import Image

from helpers import explorer as explorer_module
from helpers.data import Split
from helpers.experiments import sweep
from helpers.explorer import (CSS_DPI, DEVICE_PIXEL_RATIO, HISTOGRAMS_WIDTH, ChangedDigit, classify_changes, explore,
                              pick_shown, png_size, render, show_png)
from helpers.model import linear_layers, make_mlp
from helpers.pruning import compression, prune


@pytest.fixture(scope="module")
def setting():
    torch.manual_seed(0)
    net = make_mlp((64, 32), inputs=784, classes=10)
    generator = torch.Generator().manual_seed(1)
    test = Split(torch.randn(300, 784, generator=generator), torch.randint(0, 10, (300,), generator=generator))
    # train briefly so that pruning changes predictions
    from helpers.training import fit
    fit(net, test, epochs=3, lr=0.05, batch_size=50, progress=False)
    before = {name: t.clone() for name, t in net.state_dict().items()}
    return net, test, before, explore(net, test)


@pytest.mark.parametrize("method, k", [("weight", 50), ("weight", 90), ("unit", 60), ("unit", 90), ("weight", 97)])
def test_numbers_equal_sweep(setting, method, k):
    net, test, _, explorer = setting
    explorer.method = method
    explorer.k = k
    expected = sweep(net, test, ks=[k], methods=[method]).iloc[0]
    assert explorer.result.k == k and explorer.result.method == method
    assert explorer.result.accuracy == pytest.approx(expected["accuracy"], abs=1e-9)
    assert explorer.result.weights_kept == expected["weights_kept"]
    assert explorer.result.compression == pytest.approx(expected["compression"], rel=1e-12)
    assert explorer.result.compression == pytest.approx(compression(prune(net, k, method)), rel=1e-12)
    readout = explorer.readout.value
    assert f"{100 * expected['accuracy']:.2f}</b>%" in readout
    assert f"<span class='pm-kept'>{expected['weights_kept']:,}</span>" in readout
    assert f"<span class='pm-compression'>{expected['compression']:.1f}</span>x" in readout
    assert f"on the {len(test):,} test images" in readout
    # fixed minus broken digits is the change in right answers that the accuracy shows
    changes = explorer.result.changes
    right = round(expected["accuracy"] * len(test)) - round(explorer.baseline_accuracy * len(test))
    assert changes["fix"] - changes["break"] == right
    assert f"<span class='pm-breaks'>{changes['break']}</span>" in readout
    assert f"<span class='pm-fixes'>{changes['fix']}</span>" in readout


def test_global_scope_differs_from_layer_scope(setting):
    net, test, _, explorer = setting
    explorer.method, explorer.k = "weight", 90
    explorer.scope = "global"
    expected = sweep(net, test, ks=[90], methods=["weight"], scope="global").iloc[0]
    assert explorer.result.scope == "global"
    assert explorer.result.accuracy == pytest.approx(expected["accuracy"], abs=1e-9)
    # one global threshold prunes each layer by its own share: the pixel map's title gives layer 0's
    _, first = linear_layers(prune(net, 90, "weight", scope="global"))[0]
    first = first.weight
    assert explorer._pixel_axis.get_title().startswith(f"pixels read, layer 0 at {100 * (first == 0).float().mean():.1f}%")
    explorer.scope, explorer.k = "layer", 89  # a point not drawn before (the cache keeps the pictures drawn)
    assert explorer._pixel_axis.get_title().startswith("pixels read, k = 89%")


def test_units_alive_are_exact(setting):
    _, _, _, explorer = setting
    explorer.method, explorer.k = "unit", 75
    assert explorer.result.units_alive == {"0": 16, "2": 8, "4": 10}


def test_images_change_with_k_and_come_back_identical(setting):
    _, _, _, explorer = setting
    explorer.method, explorer.k = "weight", 10
    first = explorer.histograms.value, explorer.pixels.value, explorer.readout.value
    explorer.k = 95
    assert explorer.histograms.value != first[0] and explorer.pixels.value != first[1]
    assert explorer.readout.value != first[2]
    explorer.k = 10
    assert (explorer.histograms.value, explorer.pixels.value, explorer.readout.value) == first


def test_changed_digits_are_those_whose_prediction_changed(setting):
    net, test, _, explorer = setting
    explorer.method, explorer.k = "unit", 95
    with torch.no_grad():
        before, after = net(test.images).argmax(1), prune(net, 95, "unit")(test.images).argmax(1)
    changed = (before != after).nonzero().flatten().tolist()
    assert sum(explorer.result.changes.values()) == len(changed)
    shown = explorer.result.shown
    assert len(shown) == min(8, len(changed)) and {digit.index for digit in shown} <= set(changed)
    for digit in shown:
        assert (digit.true, digit.unpruned, digit.pruned) == (test.labels[digit.index], before[digit.index],
                                                              after[digit.index])
        right_before, right_after = digit.unpruned == digit.true, digit.pruned == digit.true
        assert digit.kind == ("break" if right_before else "fix" if right_after else "other")


def known_predictions():
    """A 784-2-10 net and four digits whose predictions before and after unit pruning at k = 50 are known.

    Unit 0 reads pixel 0 (row norm 1), unit 1 reads pixel 1 (row norm 0.1: unit pruning at
    k = 50 removes it); class 0 reads unit 0 and class 1 reads unit 1. Digit 0 (pixel 0 on)
    is class 0 before and after; digits 1-3 (pixel 0 at 0.5, pixel 1 at 20) are class 1
    before (2 > 0.5) and class 0 after (0.5 > 0). Their labels 1, 0, 5 make them a break,
    a fix and an "other".
    """
    net = make_mlp((2,))
    (_, hidden), (_, output) = linear_layers(net)
    with torch.no_grad():
        hidden.weight.zero_(), output.weight.zero_()
        hidden.weight[0, 0], hidden.weight[1, 1] = 1.0, 0.1
        output.weight[0, 0], output.weight[1, 1] = 1.0, 1.0
    images = torch.zeros(4, 784)
    images[0, 0] = 1.0
    images[1:, 0], images[1:, 1] = 0.5, 20.0
    return net, Split(images, torch.tensor([0, 1, 0, 5]))


def test_fixes_and_breaks_on_a_net_with_known_predictions():
    net, test = known_predictions()
    tiny = explore(net, test, method="unit", k=0)
    assert tiny.result.changes == {"break": 0, "fix": 0, "other": 0} and tiny.result.shown == []
    assert tiny.baseline_accuracy == 0.5  # digits 0 and 1 right
    tiny.k = 50
    assert tiny.result.units_alive["0"] == 1
    assert tiny.result.shown == [ChangedDigit(1, "break", 1, 1, 0), ChangedDigit(2, "fix", 0, 1, 0),
                                 ChangedDigit(3, "other", 5, 1, 0)]
    assert tiny.result.changes == {"break": 1, "fix": 1, "other": 1}
    assert tiny.result.accuracy == 0.5  # digits 0 and 2 right: one break, one fix
    assert [digit.caption for digit in tiny.result.shown] == ["✗ break\n1 / 1→0", "✓ fix\n0 / 1→0",
                                                              "~ other\n5 / 1→0"]
    assert "<span class='pm-breaks'>1</span> broken" in tiny.readout.value
    assert "<span class='pm-fixes'>1</span> fixed" in tiny.readout.value


def test_classify_changes_partitions_the_changed_predictions():
    generator = torch.Generator().manual_seed(0)
    labels, before, after = (torch.randint(0, 4, (2000,), generator=generator) for _ in range(3))
    kinds = classify_changes(labels, before, after)
    everything = torch.cat(list(kinds.values()))
    assert len(everything) == len(set(everything.tolist()))  # no index in two kinds
    assert set(everything.tolist()) == set((before != after).nonzero().flatten().tolist())
    assert (before[kinds["break"]] == labels[kinds["break"]]).all()
    assert (after[kinds["fix"]] == labels[kinds["fix"]]).all()
    assert len(kinds["fix"]) - len(kinds["break"]) == int((after == labels).sum() - (before == labels).sum())
    with pytest.raises(ValueError, match="one length"):
        classify_changes(labels, before, after[:-1])


@pytest.mark.parametrize("breaks, fixes, others, expected", [
    (10, 10, 10, ["break"] * 4 + ["fix"] * 4),  # both kinds, half and half
    (10, 1, 10, ["break"] * 7 + ["fix"]),  # too few fixes: breaks fill in
    (2, 10, 0, ["break"] * 2 + ["fix"] * 6),  # too few breaks: fixes fill in
    (1, 1, 10, ["break", "fix"] + ["other"] * 6),  # then the others
    (0, 0, 0, []),
])
def test_pick_shown_balances_breaks_and_fixes(breaks, fixes, others, expected):
    changes = {"break": torch.arange(breaks), "fix": 100 + torch.arange(fixes), "other": 200 + torch.arange(others)}
    shown = pick_shown(changes, 8)
    assert [kind for _, kind in shown] == expected
    for kind in ("break", "fix", "other"):  # the first of each kind, in order
        indices = [i for i, shown_kind in shown if shown_kind == kind]
        assert indices == changes[kind][:len(indices)].tolist()


def test_network_is_untouched(setting):
    net, _, before, _ = setting
    for name, t in net.state_dict().items():
        assert torch.equal(t, before[name])


def test_invalid_values_are_refused_or_clamped(setting):
    _, _, _, explorer = setting
    explorer.method, explorer.k = "weight", 40
    explorer.k = 150
    assert explorer.k == 99 and explorer.result.k == 99
    explorer.k = -5
    assert explorer.k == 0 and explorer.result.k == 0
    with pytest.raises(traitlets.TraitError):
        explorer.k = "ninety"
    with pytest.raises(traitlets.TraitError):
        explorer.method = "neurons"
    assert explorer.k == 0 and explorer.method == "weight" and explorer.result.k == 0


def test_the_sliders_send_values_while_dragged(setting):
    _, _, _, explorer = setting
    assert explorer.k_slider.continuous_update is True and (explorer.k_slider.min, explorer.k_slider.max) == (0, 99)
    for slider in explorer.layer_sliders.values():  # finer, and further: the fill's allocation needs both
        assert slider.continuous_update is True and (slider.min, slider.max, slider.step) == (0, 99.9, 0.1)


def test_scope_is_disabled_for_unit_pruning(setting):
    _, _, _, explorer = setting
    explorer.method = "unit"
    assert explorer.scope_buttons.disabled
    explorer.method = "weight"
    assert not explorer.scope_buttons.disabled


def test_css_classes_for_browser_tests(setting):
    _, _, _, explorer = setting
    classes = {c for w in (explorer.k_slider, explorer.method_buttons, explorer.scope_buttons,
                           explorer.criterion_dropdown, explorer.repair_box, explorer.pin_button, explorer.readout,
                           explorer.pinned_readout, explorer.histograms, explorer.pixels, explorer.digits,
                           explorer.curve_image)
               for c in w._dom_classes}
    assert classes == {"pm-k", "pm-method", "pm-scope", "pm-criterion", "pm-repair", "pm-pin", "pm-readout", "pm-pinned",
                       "pm-histograms", "pm-pixels", "pm-digits", "pm-curve"}
    others = [(explorer.per_layer_box, "pm-per-layer"), (explorer.fill_button, "pm-fill"),
              (explorer.fine_tune_button, "pm-fine-tune"), (explorer.cancel_button, "pm-cancel"),
              (explorer.progress, "pm-progress"), (explorer.tune_status, "pm-tune-status")]
    assert all(css in widget._dom_classes for widget, css in others)
    for i, slider in enumerate(explorer.layer_sliders.values(), start=1):
        assert {"pm-layer-k", f"pm-layer-k{i}"} <= set(slider._dom_classes)


def decode(png: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB"), dtype=float)


def test_pngs_are_rendered_for_the_device_pixel_ratio():
    figure = plt.figure(figsize=(3.0, 2.0))
    png = render(figure)
    assert png_size(png) == (3 * CSS_DPI * DEVICE_PIXEL_RATIO, 2 * CSS_DPI * DEVICE_PIXEL_RATIO)
    assert decode(png).shape == (2 * CSS_DPI * DEVICE_PIXEL_RATIO, 3 * CSS_DPI * DEVICE_PIXEL_RATIO, 3)
    image = explorer_module.widgets.Image(format="png")
    show_png(image, png)
    assert image.width == str(3 * CSS_DPI)  # shown at its CSS size: DEVICE_PIXEL_RATIO pixels per CSS pixel
    with pytest.raises(ValueError, match="not a PNG"):
        png_size(b"GIF89a" + bytes(30))


def test_explorer_images_are_shown_at_their_css_size(setting):
    _, _, _, explorer = setting
    explorer.method, explorer.k = "weight", 60
    for image in (explorer.histograms, explorer.pixels, explorer.digits, explorer.curve_image):
        width, height = png_size(image.value)
        assert int(image.width) * DEVICE_PIXEL_RATIO == width and image.layout.max_width == "100%"
    assert png_size(explorer.histograms.value)[0] == HISTOGRAMS_WIDTH * CSS_DPI * DEVICE_PIXEL_RATIO


def test_redrawn_pictures_equal_a_full_drawing(setting):
    """Blitting redraws only what changes: the result must be the picture a full drawing gives."""
    net, _, _, explorer = setting
    explorer.method, explorer.k = "weight", 10
    first = decode(explorer.histograms.value)
    explorer.k = 93
    for blitted, figure in [(explorer.histograms.value, explorer._histograms.figure),
                            (explorer.curve_image.value, explorer._curve.figure)]:
        full = render(figure, close=False)
        assert png_size(full) == png_size(blitted)
        difference = np.abs(decode(full) - decode(blitted))
        assert difference.mean() < 0.05 and (difference > 64).mean() < 5e-4  # antialiased edges may differ
    assert np.abs(first - decode(explorer.histograms.value)).mean() > 1  # while k changes the picture


def test_the_legend_is_pasted_as_a_full_drawing_draws_it(setting):
    """The curve's legend is drawn once per set of texts and pasted after that: each must be the legend drawn now."""
    _, _, _, explorer = setting
    explorer.method, explorer.k = "weight", 10
    pictures = {}
    for estimated in (True, False, True, False):  # each set of texts twice: drawn, then pasted
        explorer._place_marks(40, 0.9, pinned=False, estimated=estimated)
        blitted, full = explorer._curve.png(), render(explorer._curve.figure, close=False)
        box = explorer._curve.on_top.get_window_extent().padded(4)  # the legend with a margin, in pixels
        height = png_size(blitted)[1]
        rows, columns = slice(int(height - box.y1), int(height - box.y0)), slice(int(box.x0), int(box.x1))
        difference = np.abs(decode(full) - decode(blitted))[rows, columns]
        assert difference.mean() < 0.05 and (difference > 64).mean() < 5e-4  # antialiased edges may differ
        pictures.setdefault(estimated, []).append(decode(blitted))
    assert all(np.array_equal(*twice) for twice in pictures.values())
    assert np.abs(pictures[True][0] - pictures[False][0]).mean() > 0.01  # "(≈, estimated)" shows
    explorer.k = 11  # the marks back at the setting shown


def test_ring_marks_the_point_under_the_curves(setting):
    _, _, _, explorer = setting
    explorer.method, explorer.k = "unit", 80
    ring = explorer._now_ring
    assert ring.get_xdata()[0] == 80 and ring.get_ydata()[0] == pytest.approx(100 * (1 - explorer.result.accuracy))
    assert ring.get_markerfacecolor() == "none"  # hollow: the curve shows through it
    curves = [line for line in explorer._curve_lines if len(line.get_xdata()) == len(explorer.curve) // 2]
    assert len(curves) == 2 and all(line.get_zorder() > ring.get_zorder() for line in curves)  # drawn over it
    assert explorer._now_line.get_xdata()[0] == 80


def test_controls_share_one_label_column(setting):
    _, _, _, explorer = setting
    widths = {control.style.description_width for control in
              (explorer.k_slider, explorer.method_buttons, explorer.scope_buttons)}
    assert len(widths) == 1 and widths != {""}


# --- criteria, repair, pin and the bounded cache ------------------------------------------------------------------

from helpers.criteria import CRITERIA, DATA_AWARE  # noqa: E402
from helpers.pruning import apply_masks, masks_for  # noqa: E402
from helpers.repair import repair  # noqa: E402
from helpers.training import evaluate  # noqa: E402


@pytest.fixture(scope="module")
def with_calibration(setting):
    net, test, before, _ = setting
    calibration = Split(torch.randn(256, 784, generator=torch.Generator().manual_seed(2)), torch.zeros(256).long())
    return net, test, before, calibration, explore(net, test, calibration=calibration)


def test_criteria_offered_follow_the_method_the_scope_and_the_data(setting, with_calibration):
    _, _, _, plain = setting
    _, _, _, _, explorer = with_calibration
    plain.method, plain.scope = "weight", "layer"
    assert list(plain.criterion_dropdown.options) == ["magnitude", "random"]  # no data: no data-aware criterion
    explorer.method, explorer.scope = "weight", "layer"
    assert list(explorer.criterion_dropdown.options) == ["magnitude", "random", "taylor", "obd", "wanda"]
    images_only = explore(setting[0], setting[1], calibration=explorer._calibration)  # no labels: no Taylor
    assert "taylor" not in images_only.criterion_dropdown.options and "wanda" in images_only.criterion_dropdown.options
    explorer.scope = "global"
    assert "lamp" in explorer.criterion_dropdown.options  # LAMP ranks across layers only
    explorer.criterion = "lamp"
    explorer.scope = "layer"  # no longer offered: back to the first criterion, in one update
    assert explorer.criterion == "magnitude" and explorer.result.criterion == "magnitude"
    explorer.method = "unit"
    assert list(explorer.criterion_dropdown.options) == list(CRITERIA["unit"])
    assert explorer.result.criterion == "l2"
    explorer.method = "weight"


@pytest.mark.parametrize("method, criterion, k", [("weight", "wanda", 90), ("weight", "random", 70),
                                                  ("weight", "taylor", 90), ("unit", "activation", 60),
                                                  ("unit", "l2_out", 80), ("unit", "taylor", 60)])
def test_a_criterion_gives_the_accuracy_of_its_own_masks(with_calibration, method, criterion, k):
    net, test, _, calibration, explorer = with_calibration
    explorer.method, explorer.scope = method, "layer"
    explorer.criterion = criterion
    explorer.k = k
    data = calibration if criterion in DATA_AWARE[method] else None  # a Split: Taylor uses its labels
    expected = evaluate(apply_masks(net, masks_for(net, k, method, criterion=criterion, data=data)), test)
    assert explorer.result.criterion == criterion and explorer.result.accuracy == expected


def test_repair_gives_the_accuracy_of_the_repaired_network_and_touches_nothing(with_calibration):
    net, test, before, calibration, explorer = with_calibration
    explorer.method, explorer.scope, explorer.criterion, explorer.k = "weight", "layer", "magnitude", 95
    one_shot = explorer.result.accuracy
    explorer.repair = True
    expected = evaluate(repair(net, prune(net, 95), calibration.images), test)
    assert explorer.result.repaired and explorer.result.accuracy == pytest.approx(expected, abs=1 / len(test.labels))
    assert explorer.result.accuracy != one_shot and "repaired" in explorer.readout.value
    explorer.repair = False
    assert explorer.result.accuracy == one_shot  # from the cache: the one-shot point is still the one-shot point
    for name, t in net.state_dict().items():
        assert torch.equal(t, before[name])


def test_repair_without_calibration_is_disabled_and_refused(setting):
    _, _, _, explorer = setting
    assert explorer.repair_box.disabled
    with pytest.raises(ValueError, match="calibration"):
        explorer.point("weight", "layer", 90, repaired=True)


def test_a_pinned_setting_stays_while_the_controls_move(with_calibration):
    _, _, _, _, explorer = with_calibration
    explorer.method, explorer.scope, explorer.criterion, explorer.repair, explorer.k = "weight", "layer", "magnitude", False, 90
    unpinned_curve = explorer.curve_image.value
    pinned = explorer.pin()
    assert pinned == explorer.result and explorer.pin_button.description == "unpin"
    assert explorer._pin_label.get_text() == "the pinned setting"
    explorer.method, explorer.k = "unit", 50
    assert explorer.pinned == pinned and explorer.result.method == "unit"
    assert f"{100 * pinned.accuracy:.2f}" in explorer.pinned_readout.value
    assert f"{100 * (explorer.result.accuracy - pinned.accuracy):+.2f}" in explorer.pinned_readout.value
    # the paired test on the same images, against an independent count of the images only one of the two gets right
    shown, pin = explorer.result.correct, pinned.correct
    assert shown.float().mean().item() == pytest.approx(explorer.result.accuracy)
    only_shown, only_pinned = int((shown & ~pin).sum()), int((pin & ~shown).sum())
    z = (only_shown - only_pinned) / max(1, only_shown + only_pinned) ** 0.5
    words = "higher" if z > 2 else "lower" if z < -2 else "too close to call"
    assert f"<span class='pm-verdict'>{words}</span> (paired test: {only_shown} images right only now, {only_pinned} only pinned)" \
        in explorer.pinned_readout.value
    assert list(explorer._pin_mark.get_xdata()) == [90]  # the pin's mark on the curve, at its k
    explorer.method, explorer.k = "weight", 90
    assert explorer.curve_image.value != unpinned_curve  # the same point, now with the pin drawn
    explorer.unpin()
    assert explorer.pinned is None and explorer.pinned_readout.value == ""
    assert explorer.curve_image.value == unpinned_curve
    explorer.k = 87  # a point drawn now, with no pin: the legend does not promise a mark
    assert explorer._pin_label.get_text() == "the pinned setting (none)"


def test_the_cache_keeps_the_settings_shown_last(setting):
    net, test, _, _ = setting
    explorer = explorer_module.Explorer(net, test, cache_size=3)
    for k in (10, 20, 30, 40):
        explorer.k = k
    assert [key[-1] for key in explorer._cache] == [20, 30, 40]  # k = 0 and 10 were shown longest ago
    explorer.k = 20  # shown again: now the most recent
    explorer.k = 50
    assert [key[-1] for key in explorer._cache] == [40, 20, 50]
    with pytest.raises(ValueError, match="cache_size"):
        explorer_module.Explorer(net, test, cache_size=0)


def test_ten_changes_in_a_row_end_in_the_state_of_the_last(setting):
    net, test, _, explorer = setting
    explorer.method = "weight"
    for k in (5, 93, 41, 77, 12, 99, 64, 30, 88, 71):
        explorer.k = k
    assert explorer.result.k == 71 and "k = <span class='pm-k-shown'>71</span>%" in explorer.readout.value
    expected = evaluate(prune(net, 71, "weight"), test)
    assert f"{100 * expected:.2f}" in explorer.readout.value


# --- live dragging, per-layer mode, fine-tuning ---------------------------------------------------------------------

import asyncio  # noqa: E402
import threading  # noqa: E402

from helpers.experiments import FINE_TUNE, SENSITIVITY_KS, allocate, fine_tune, sensitivity  # noqa: E402
from helpers.pruning import rank  # noqa: E402


def from_browser(slider, value):
    """Set a slider the way a value from the browser arrives (ipywidgets' set_state, with the property locked)."""
    slider.set_state({"value": value})


def test_dragging_shows_an_estimate_then_the_exact_figures(setting):
    net, test, _, explorer = setting
    explorer.method, explorer.per_layer, explorer.repair = "weight", False, False
    explorer.k = 0

    async def drag():
        from_browser(explorer.k_slider, 61)  # the first value after a rest: exact at once
        first = explorer.result
        for k in (62, 63):  # values arriving while the handle moves
            from_browser(explorer.k_slider, k)
        estimate_readout, shown = explorer.readout.value, explorer.result
        dimmed = [("pm-stale" in image._dom_classes) for image in (explorer.histograms, explorer.pixels, explorer.digits)]
        await asyncio.sleep(explorer_module.SETTLE_SECONDS * 4)  # the handle rests
        return first, estimate_readout, shown, dimmed

    first, estimate_readout, shown_while_dragging, dimmed = asyncio.run(drag())
    assert dimmed == [True, True, True]  # the pictures still show k = 61: dimmed while the readout estimates
    assert first.k == 61 and first.accuracy == evaluate(prune(net, 61, "weight"), test)
    subset = explorer.estimate_indices
    assert len(subset) == min(explorer_module.ESTIMATE_IMAGES, len(test)) and len(set(subset.tolist())) == len(subset)
    pruned = prune(net, 63, "weight")
    with torch.no_grad():  # the unpruned accuracy plus the change pruning makes on the subset, and its spread
        change = ((pruned(test.images[subset]).argmax(1) == test.labels[subset]).double()
                  - (net(test.images[subset]).argmax(1) == test.labels[subset]).double())
    expected = evaluate(net, test) + change.mean().item()
    two_se = max(2 * change.std().item() / len(change) ** 0.5, 3 / len(change))
    assert f"<b class='pm-estimate'>{100 * expected:.1f}</b>% ± {100 * two_se:.1f} <i>estimated</i>" in estimate_readout
    assert "pm-accuracy" not in estimate_readout  # never taken for the exact figure
    assert "k = <span class='pm-k-shown'>63</span>%" in estimate_readout
    assert shown_while_dragging.k == 61  # the exact figures wait for the handle to rest
    assert explorer.result.k == 63 and explorer.estimate is None  # then they come, for the last value
    assert explorer.result.accuracy == evaluate(pruned, test)
    assert "pm-estimate" not in explorer.readout.value and "pm-accuracy" in explorer.readout.value
    assert not any("pm-stale" in image._dom_classes for image in (explorer.histograms, explorer.pixels, explorer.digits))


def test_without_a_running_loop_or_from_python_every_change_is_exact(setting):
    net, test, _, explorer = setting
    explorer.method, explorer.per_layer = "weight", False
    for k in (57, 56):  # no event loop (plain Python): exact at once, however quick
        from_browser(explorer.k_slider, k)
        assert explorer.result.k == k and explorer.estimate is None

    async def assign():
        explorer.k = 58  # set from Python in a kernel: exact at once, so that a cell can go on with .result
        return explorer.result.k

    assert asyncio.run(assign()) == 58


def test_per_layer_ks_give_the_accuracy_of_their_own_masks(setting):
    net, test, before, explorer = setting
    explorer.method, explorer.scope = "weight", "global"
    names = list(explorer.layer_sliders)
    explorer.k = 30
    explorer.per_layer = True
    assert explorer.layer_k == {names[0]: 30, names[1]: 30}  # they start where the main slider is
    assert explorer.result.accuracy == explorer.point("weight", "layer", 30).accuracy
    explorer.layer_k = {names[0]: 90, names[1]: 50}
    assert explorer.scope_buttons.disabled  # one k per layer is layer-wise
    masks = rank(net, "weight", "layer").masks({names[0]: 90, names[1]: 50})
    pruned = apply_masks(net, masks)
    assert explorer.result.layer_k == (90, 50) and explorer.result.scope == "layer"
    assert explorer.result.accuracy == evaluate(pruned, test)
    hidden = sum(mask.numel() for mask in masks.values())
    assert explorer.result.k == pytest.approx(100 * sum(int((~m).sum()) for m in masks.values()) / hidden)
    assert "layer 0: 90% · layer 2: 50% (" in explorer.readout.value and "% of the weights in all)</b>" in explorer.readout.value
    explorer.method = "unit"
    unit_masks_ = rank(net, "unit", "layer").masks({names[0]: 90, names[1]: 50})
    assert explorer.result.accuracy == evaluate(apply_masks(net, unit_masks_), test)
    assert explorer.result.k == pytest.approx(100 * (round(0.9 * 64) + round(0.5 * 32)) / (64 + 32))
    with pytest.raises(ValueError, match="no hidden layer named"):
        explorer.layer_k = {"fc9": 10}
    explorer.per_layer, explorer.method, explorer.scope = False, "weight", "layer"
    for name, t in net.state_dict().items():
        assert torch.equal(t, before[name])


@pytest.mark.parametrize("method, k", [("unit", 70), ("weight", 95)])
def test_fill_sets_the_sensitivity_allocation_and_the_main_slider_refills(setting, method, k):
    net, test, _, _ = setting
    validation = Split(torch.randn(200, 784, generator=torch.Generator().manual_seed(3)),
                       torch.randint(0, 10, (200,), generator=torch.Generator().manual_seed(4)))
    explorer = explore(net, test, validation=validation, method=method, k=k)
    ks = explorer.fill()
    criterion = "l2" if method == "unit" else "magnitude"
    table = sensitivity(net, validation, SENSITIVITY_KS[method], method, criterion)
    sizes = [64, 32] if method == "unit" else [64 * 784, 32 * 64]
    budget = sum(sizes) - round(k / 100 * sum(sizes))
    assert ks == pytest.approx({name: round(10 * v) / 10 for name, v in allocate(table, budget).items()}, abs=1e-9)
    assert explorer.per_layer and explorer.layer_k == ks and explorer.result.layer_k == tuple(ks.values())
    assert explorer.result.accuracy == evaluate(apply_masks(net, rank(net, method, "layer").masks(ks)), test)
    overall = 100 * round(k / 100 * sum(sizes)) / sum(sizes)  # k% of all the layers' weights (units), rounded
    assert explorer.result.k == pytest.approx(overall, abs=0.1)  # the allocation keeps it, to the sliders' step
    assert not explorer.k_slider.disabled and not explorer.fill_button.disabled and explorer.tune_status.value == ""
    explorer.k = k - 20  # after a fill the main slider re-allocates the layers for its new k
    lower = sum(sizes) - round((k - 20) / 100 * sum(sizes))
    assert explorer.layer_k == pytest.approx({name: round(v, 1) for name, v in allocate(table, lower).items()}, abs=1e-9)
    overall = 100 * round((k - 20) / 100 * sum(sizes)) / sum(sizes)
    assert explorer.result.k == pytest.approx(overall, abs=0.1)
    name = next(iter(explorer.layer_sliders))
    from_browser(explorer.layer_sliders[name], explorer.layer_k[name] - 1e-9)  # the browser echoing it on its grid
    explorer.k = k - 20  # still the fill's allocation: re-allocated, not moved uniformly
    assert explorer.layer_k == pytest.approx({name: round(v, 1) for name, v in allocate(table, lower).items()}, abs=1e-8)
    explorer.layer_sliders[name].value = 12.5  # a hand-set layer: the main slider no longer re-allocates
    explorer.k = k
    assert set(explorer.layer_k.values()) == {k}


def test_fill_and_fine_tune_need_their_data(setting):
    _, _, _, explorer = setting
    assert explorer.fill_button.disabled and explorer.fine_tune_button.disabled
    with pytest.raises(ValueError, match="validation split"):
        explorer.fill()
    explorer.per_layer = True
    explorer.k = 40  # without a fill the main slider moves every layer to its k
    assert set(explorer.layer_k.values()) == {40} and explorer.result.accuracy == explorer.point("weight", "layer", 40).accuracy
    explorer.per_layer = False
    with pytest.raises(ValueError, match="training split"):
        explorer.fine_tune()
    with pytest.raises(ValueError, match="train must be a Split"):
        explorer_module.Explorer(setting[0], setting[1], train=setting[1].images)


@pytest.fixture(scope="module")
def tunable(setting):
    net, test, before, _ = setting
    return net, test, before, explore(net, test, train=test)


def test_fine_tune_shows_the_recovered_accuracy_and_touches_nothing(tunable, monkeypatch):
    net, test, before, explorer = tunable
    explorer.method, explorer.k = "weight", 90
    one_shot = explorer.result
    cached = dict(explorer._cache)
    monkeypatch.setattr(explorer_module, "TUNE_EVERY", 1)
    seen = []
    explorer.progress.observe(lambda change: seen.append(change["new"]), names="value")
    explorer.fine_tune(wait=True)
    assert seen[-3:] == [1, 2, 3]  # the bar moved with the steps (300 images, batches of 128)
    masks = rank(net, "weight", "layer").masks(90)
    tuned, _ = fine_tune(apply_masks(net, masks), masks, test, **{**FINE_TUNE, "epochs": 1})
    expected = evaluate(tuned, test)
    assert explorer.tuned[one_shot.key] == expected
    assert f"<b class='pm-tuned-accuracy'>{100 * expected:.2f}</b>%" in explorer.readout.value
    assert f"{100 * (expected - one_shot.accuracy):+.2f} points against one-shot: " in explorer.readout.value
    assert explorer.progress.value == explorer.progress.max == 3
    assert not explorer.fine_tune_button.disabled and explorer.cancel_button.disabled
    assert explorer._cache == cached and explorer.result is one_shot  # the cache and the point shown: untouched
    for name, t in net.state_dict().items():
        assert torch.equal(t, before[name])
    explorer.k = 50
    assert "pm-tuned-accuracy" not in explorer.readout.value  # another setting: not fine-tuned
    explorer.k = 90
    assert "pm-tuned-accuracy" in explorer.readout.value


def test_cancel_stops_a_fine_tune_and_keeps_nothing(tunable, monkeypatch):
    net, test, before, explorer = tunable
    explorer.method, explorer.k = "unit", 40
    started, release = threading.Event(), threading.Event()
    step = explorer._on_step

    def slow_step(i):
        started.set()
        release.wait(10)
        step(i)
    monkeypatch.setattr(explorer, "_on_step", slow_step)
    job = explorer.fine_tune()
    assert started.wait(10) and explorer.tuning
    assert explorer.fine_tune_button.disabled and not explorer.cancel_button.disabled
    with pytest.raises(RuntimeError, match="running"):
        explorer.fine_tune()
    explorer.cancel()
    release.set()
    job.join(30)
    assert not explorer.tuning and explorer.result.key not in explorer.tuned
    assert "cancelled at step 0 of" in explorer.tune_status.value and "pm-tuned-accuracy" not in explorer.readout.value
    assert not explorer.fine_tune_button.disabled and explorer.cancel_button.disabled
    for name, t in net.state_dict().items():
        assert torch.equal(t, before[name])


def test_ten_values_from_the_browser_within_a_second_end_in_the_state_of_the_last(setting):
    net, test, _, explorer = setting
    explorer.method, explorer.per_layer, explorer.repair = "unit", False, False
    values = (12, 87, 33, 91, 5, 64, 48, 97, 21, 76)

    async def burst():
        started = asyncio.get_running_loop().time()
        for k in values:
            from_browser(explorer.k_slider, k)
        took = asyncio.get_running_loop().time() - started
        await asyncio.sleep(explorer_module.SETTLE_SECONDS * 4)
        return took

    assert asyncio.run(burst()) < 1
    assert explorer.result.k == 76 and explorer.estimate is None and explorer._pending is None
    assert explorer.result.accuracy == evaluate(prune(net, 76, "unit"), test)
    assert "k = <span class='pm-k-shown'>76</span>%" in explorer.readout.value and "pm-accuracy" in explorer.readout.value
    explorer.method = "weight"

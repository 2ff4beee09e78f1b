"""The explorer driven from Python: numbers equal sweep()'s, pictures change, the network is untouched.

Every test builds the explorer it drives (`make`); the trained network and the splits are shared and never
modified (`trained` keeps a copy of its weights to check that). The engine, the readout and the setting are tested
without widgets in tests/test_explorer_engine.py.
"""

import asyncio
import io
import threading

import ipywidgets
import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch
import traitlets
from PIL import Image

from toys import small_mnist_like  # tests/ is on sys.path under pytest

import helpers.explorer as explorer_module
from helpers.criteria import CRITERIA, DATA_AWARE
from helpers.data import Split
from helpers.experiments import FINE_TUNE, SENSITIVITY_KS, allocate, fine_tune, sensitivity, sweep
from helpers.explorer import (CSS_DPI, DEVICE_PIXEL_RATIO, HISTOGRAMS_WIDTH, ChangedDigit, Explorer, explore,
                              png_size, render, show_png)
from helpers.explorer.engine import Engine
from helpers.explorer.figures import CurveFigure
from helpers.explorer.panel import Controls
from helpers.model import linear_layers, make_mlp
from helpers.pruning import apply_masks, compression, masks_for, prune, rank
from helpers.repair import repair
from helpers.training import evaluate


@pytest.fixture(scope="module")
def trained():
    """A small trained network, its test split and a copy of its weights (to check that nothing changes them)."""
    net, test = small_mnist_like()  # trained briefly, so that pruning changes predictions
    return net, test, {name: t.clone() for name, t in net.state_dict().items()}


@pytest.fixture(scope="module")
def calibration():
    """Calibration images with labels (a Split): every criterion and the repair."""
    return Split(torch.randn(256, 784, generator=torch.Generator().manual_seed(2)), torch.zeros(256).long())


@pytest.fixture(scope="module")
def validation():
    return Split(torch.randn(200, 784, generator=torch.Generator().manual_seed(3)),
                 torch.randint(0, 10, (200,), generator=torch.Generator().manual_seed(4)))


@pytest.fixture
def make(trained):
    """Build an explorer of the trained network on its test split: make(**explore's keyword arguments)."""
    net, test, before = trained
    yield lambda **kwargs: explore(net, test, **kwargs)
    assert_untouched(trained)


def assert_untouched(trained):
    net, _, before = trained
    for name, t in net.state_dict().items():
        assert torch.equal(t, before[name])


def from_browser(slider, value):
    """Set a slider the way a value from the browser arrives (ipywidgets' set_state, with the property locked)."""
    slider.set_state({"value": value})


def decode(png: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB"), dtype=float)


# --- the numbers shown ---------------------------------------------------------------------------------------------

def test_numbers_equal_sweep(trained, make):
    net, test, _ = trained
    explorer = make()
    for method, k in [("weight", 50), ("weight", 90), ("unit", 60), ("unit", 90), ("weight", 97)]:
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


def test_global_scope_differs_from_layer_scope(trained, make):
    net, test, _ = trained
    explorer = make(k=90)
    explorer.scope = "global"
    expected = sweep(net, test, ks=[90], methods=["weight"], scope="global").iloc[0]
    assert explorer.result.scope == "global"
    assert explorer.result.accuracy == pytest.approx(expected["accuracy"], abs=1e-9)
    # one global threshold prunes each layer by its own share: the pixel map's title gives layer 0's
    _, first = linear_layers(prune(net, 90, "weight", scope="global"))[0]
    first = first.weight
    title = explorer.figures.pixels.axis.get_title()
    assert title.startswith(f"pixels read, layer 0 at {100 * (first == 0).float().mean():.1f}%")
    explorer.scope, explorer.k = "layer", 89  # a point not drawn before (the cache keeps the pictures drawn)
    assert explorer.figures.pixels.axis.get_title().startswith("pixels read, k = 89%")


def test_units_alive_are_exact(make):
    explorer = make(method="unit", k=75)
    assert explorer.result.units_alive == {"0": 16, "2": 8, "4": 10}


def test_changed_digits_are_those_whose_prediction_changed(trained, make):
    net, test, _ = trained
    explorer = make(method="unit", k=95)
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


def test_ten_changes_in_a_row_end_in_the_state_of_the_last(trained, make):
    net, test, _ = trained
    explorer = make()
    for k in (5, 93, 41, 77, 12, 99, 64, 30, 88, 71):
        explorer.k = k
    assert explorer.result.k == 71 and "k = <span class='pm-k-shown'>71</span>%" in explorer.readout.value
    expected = evaluate(prune(net, 71, "weight"), test)
    assert f"{100 * expected:.2f}" in explorer.readout.value


def test_the_network_is_untouched_by_every_control(trained, make, calibration, validation):
    explorer = make(calibration=calibration, validation=validation)
    for name, value in [("k", 90), ("scope", "global"), ("criterion", "wanda"), ("repair", True), ("method", "unit"),
                        ("criterion", "taylor"), ("per_layer", True), ("layer_k", {"0": 80, "2": 30})]:
        setattr(explorer, name, value)
    explorer.fill()
    assert_untouched(trained)  # and again after the test, as after every test that makes an explorer


# --- the controls ----------------------------------------------------------------------------------------------------

@pytest.fixture
def controls(trained):
    """The widgets alone, as the explorer lays them out (no network is evaluated)."""
    net = trained[0]
    return Controls(dict(linear_layers(net)[:-1]), "weight", 0, lambda method, scope: list(CRITERIA[method]),
                    calibration=False, train=False, validation=False)


def test_invalid_values_are_refused_or_clamped(make):
    explorer = make(k=40)
    explorer.k = 150
    assert explorer.k == 99 and explorer.result.k == 99
    explorer.k = -5
    assert explorer.k == 0 and explorer.result.k == 0
    with pytest.raises(traitlets.TraitError):
        explorer.k = "ninety"
    with pytest.raises(traitlets.TraitError):
        explorer.method = "neurons"
    assert explorer.k == 0 and explorer.method == "weight" and explorer.result.k == 0


def test_the_sliders_send_values_while_dragged(controls):
    assert controls.k_slider.continuous_update is True and (controls.k_slider.min, controls.k_slider.max) == (0, 99)
    assert list(controls.layer_sliders) == ["0", "2"]
    for slider in controls.layer_sliders.values():  # finer, and further: the fill's allocation needs both
        assert slider.continuous_update is True and (slider.min, slider.max, slider.step) == (0, 99.9, 0.1)


def test_css_classes_for_browser_tests(controls):
    classes = {c for w in (controls.k_slider, controls.method_buttons, controls.scope_buttons,
                           controls.criterion_dropdown, controls.repair_box, controls.pin_button, controls.readout,
                           controls.pinned_readout, controls.histograms, controls.pixels, controls.digits,
                           controls.curve_image)
               for c in w._dom_classes}
    assert classes == {"pm-k", "pm-method", "pm-scope", "pm-criterion", "pm-repair", "pm-pin", "pm-readout", "pm-pinned",
                       "pm-histograms", "pm-pixels", "pm-digits", "pm-curve"}
    others = [(controls.per_layer_box, "pm-per-layer"), (controls.fill_button, "pm-fill"),
              (controls.fine_tune_button, "pm-fine-tune"), (controls.cancel_button, "pm-cancel"),
              (controls.progress, "pm-progress"), (controls.tune_status, "pm-tune-status")]
    assert all(css in widget._dom_classes for widget, css in others)
    for i, slider in enumerate(controls.layer_sliders.values(), start=1):
        assert {"pm-layer-k", f"pm-layer-k{i}"} <= set(slider._dom_classes)
    assert "pm-explorer" in controls.panel._dom_classes


def test_controls_share_one_label_column(controls):
    widths = {control.style.description_width for control in
              (controls.k_slider, controls.method_buttons, controls.scope_buttons)}
    assert len(widths) == 1 and widths != {""}


# --- the pictures ----------------------------------------------------------------------------------------------------

def test_images_change_with_k_and_come_back_identical(make):
    explorer = make(k=10)
    first = explorer.histograms.value, explorer.pixels.value, explorer.readout.value
    explorer.k = 95
    assert explorer.histograms.value != first[0] and explorer.pixels.value != first[1]
    assert explorer.readout.value != first[2]
    explorer.k = 10
    assert (explorer.histograms.value, explorer.pixels.value, explorer.readout.value) == first


def test_pngs_are_rendered_for_the_device_pixel_ratio():
    figure = plt.figure(figsize=(3.0, 2.0))
    png = render(figure)
    assert png_size(png) == (3 * CSS_DPI * DEVICE_PIXEL_RATIO, 2 * CSS_DPI * DEVICE_PIXEL_RATIO)
    assert decode(png).shape == (2 * CSS_DPI * DEVICE_PIXEL_RATIO, 3 * CSS_DPI * DEVICE_PIXEL_RATIO, 3)
    image = ipywidgets.Image(format="png")
    show_png(image, png)
    assert image.width == str(3 * CSS_DPI)  # shown at its CSS size: DEVICE_PIXEL_RATIO pixels per CSS pixel
    with pytest.raises(ValueError, match="not a PNG"):
        png_size(b"GIF89a" + bytes(30))


def test_explorer_images_are_shown_at_their_css_size(make):
    explorer = make(k=60)
    for image in (explorer.histograms, explorer.pixels, explorer.digits, explorer.curve_image):
        width, height = png_size(image.value)
        assert int(image.width) * DEVICE_PIXEL_RATIO == width and image.layout.max_width == "100%"
    assert png_size(explorer.histograms.value)[0] == HISTOGRAMS_WIDTH * CSS_DPI * DEVICE_PIXEL_RATIO


def test_redrawn_pictures_equal_a_full_drawing(make):
    """Blitting redraws only what changes: the result must be the picture a full drawing gives."""
    explorer = make(k=10)
    first = decode(explorer.histograms.value)
    explorer.k = 93
    for blitted, figure in [(explorer.histograms.value, explorer.figures.histograms.figure),
                            (explorer.curve_image.value, explorer.figures.curve.figure)]:
        full = render(figure, close=False)
        assert png_size(full) == png_size(blitted)
        difference = np.abs(decode(full) - decode(blitted))
        assert difference.mean() < 0.05 and (difference > 64).mean() < 5e-4  # antialiased edges may differ
    assert np.abs(first - decode(explorer.histograms.value)).mean() > 1  # while k changes the picture


def test_the_legend_is_pasted_as_a_full_drawing_draws_it(trained):
    """The curve's legend is drawn once per set of texts and pasted after that: each must be the legend drawn now."""
    net, test, _ = trained
    engine = Engine(net, test)
    curve = CurveFigure(engine.curve, engine.baseline_accuracy, 10)
    pictures = {}
    for estimated in (True, False, True, False):  # each set of texts twice: drawn, then pasted
        curve.place_marks(40, 0.9, estimated=estimated)
        blitted, full = curve.png(), render(curve.figure, close=False)
        box = curve.redrawn.on_top.get_window_extent().padded(4)  # the legend with a margin, in pixels
        height = png_size(blitted)[1]
        rows, columns = slice(int(height - box.y1), int(height - box.y0)), slice(int(box.x0), int(box.x1))
        difference = np.abs(decode(full) - decode(blitted))[rows, columns]
        assert difference.mean() < 0.05 and (difference > 64).mean() < 5e-4  # antialiased edges may differ
        pictures.setdefault(estimated, []).append(decode(blitted))
    assert all(np.array_equal(*twice) for twice in pictures.values())
    assert np.abs(pictures[True][0] - pictures[False][0]).mean() > 0.01  # "(≈, estimated)" shows


def test_ring_marks_the_point_under_the_curves(make):
    explorer = make(method="unit", k=80)
    curve = explorer.figures.curve
    assert curve.ring.get_xdata()[0] == 80
    assert curve.ring.get_ydata()[0] == pytest.approx(100 * (1 - explorer.result.accuracy))
    assert curve.ring.get_markerfacecolor() == "none"  # hollow: the curve shows through it
    curves = [line for line in curve.lines if len(line.get_xdata()) == len(explorer.curve) // 2]
    assert len(curves) == 2 and all(line.get_zorder() > curve.ring.get_zorder() for line in curves)  # drawn over it
    assert curve.now_line.get_xdata()[0] == 80


# --- the cache -------------------------------------------------------------------------------------------------------

def test_the_cache_keeps_the_settings_shown_last(trained):
    net, test, _ = trained
    explorer = Explorer(net, test, cache_size=3)
    for k in (10, 20, 30, 40):
        explorer.k = k
    assert [setting.k for setting in explorer._cache] == [20, 30, 40]  # k = 0 and 10 were shown longest ago
    explorer.k = 20  # shown again: now the most recent
    explorer.k = 50
    assert [setting.k for setting in explorer._cache] == [40, 20, 50]
    assert explorer._cache is explorer.engine.points  # the name benchmarks/explorer.py reads
    with pytest.raises(ValueError, match="cache_size"):
        Explorer(net, test, cache_size=0)


# --- live dragging ---------------------------------------------------------------------------------------------------

def drag(explorer, values, rest=True):
    """Send `values` from the browser in a running event loop, as a drag does; return what was shown meanwhile:
    (the result after the first value, the readout and the result after the last, which pictures were dimmed,
    seconds the values took)."""
    async def move():
        loop = asyncio.get_running_loop()
        started = loop.time()
        from_browser(explorer.k_slider, values[0])
        first = explorer.result
        for k in values[1:]:
            from_browser(explorer.k_slider, k)
        took = loop.time() - started
        readout, shown = explorer.readout.value, explorer.result
        dimmed = [("pm-stale" in image._dom_classes) for image in (explorer.histograms, explorer.pixels,
                                                                   explorer.digits)]
        if rest:
            await asyncio.sleep(explorer_module.SETTLE_SECONDS * 4)  # the handle rests
        return first, readout, shown, dimmed, took
    return asyncio.run(move())


def test_dragging_shows_an_estimate_then_the_exact_figures(trained, make):
    net, test, _ = trained
    explorer = make()
    first, estimate_readout, shown_while_dragging, dimmed, _ = drag(explorer, (61, 62, 63))
    assert first.k == 61 and first.accuracy == evaluate(prune(net, 61, "weight"), test)  # after a rest: exact
    assert dimmed == [True, True, True]  # the pictures still show k = 61: dimmed while the readout estimates
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
    assert explorer.result.k == 63 and explorer.estimate is None  # the exact figures come, for the last value
    assert explorer.result.accuracy == evaluate(pruned, test)
    assert "pm-estimate" not in explorer.readout.value and "pm-accuracy" in explorer.readout.value
    assert not any("pm-stale" in image._dom_classes for image in (explorer.histograms, explorer.pixels, explorer.digits))


def test_settle_shows_the_exact_figures_at_once(trained, make):
    net, test, _ = trained
    explorer = make()
    drag(explorer, (40, 41, 42), rest=False)  # the loop ends before the handle rests: the estimate stays
    assert explorer.estimate is not None and explorer.result.k == 40
    assert explorer.settle().k == 42 and explorer.estimate is None and explorer._pending is None
    assert explorer.result.accuracy == evaluate(prune(net, 42, "weight"), test)


def test_without_a_running_loop_or_from_python_every_change_is_exact(make):
    explorer = make()
    for k in (57, 56):  # no event loop (plain Python): exact at once, however quick
        from_browser(explorer.k_slider, k)
        assert explorer.result.k == k and explorer.estimate is None

    async def assign():
        explorer.k = 58  # set from Python in a kernel: exact at once, so that a cell can go on with .result
        return explorer.result.k

    assert asyncio.run(assign()) == 58


def test_ten_values_from_the_browser_are_estimated_and_end_in_the_state_of_the_last(trained, make):
    """What keeps a drag fast (timed in benchmarks/explorer.py, not here): the values between the first and the
    last are estimated, never computed exactly, so only those two enter the cache."""
    net, test, _ = trained
    explorer = make(method="unit")
    before = set(explorer._cache)
    drag(explorer, (12, 87, 33, 91, 5, 64, 48, 97, 21, 76))
    assert {setting.k for setting in set(explorer._cache) - before} <= {12, 76}
    assert explorer.result.k == 76 and explorer.estimate is None and explorer._pending is None
    assert explorer.result.accuracy == evaluate(prune(net, 76, "unit"), test)
    assert "k = <span class='pm-k-shown'>76</span>%" in explorer.readout.value and "pm-accuracy" in explorer.readout.value


# --- one k per layer and the fill ------------------------------------------------------------------------------------

def test_per_layer_ks_give_the_accuracy_of_their_own_masks(trained, make):
    net, test, _ = trained
    explorer = make()
    explorer.scope = "global"
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
    explorer.per_layer, explorer.method = False, "weight"
    assert explorer.scope == "global" and not explorer.scope_buttons.disabled  # the scope chosen comes back


def allocation(table, sizes, k):
    """The test's own allocation for k% pruned in all, to the sliders' step."""
    return {name: round(10 * v) / 10 for name, v in allocate(table, sum(sizes) - round(k / 100 * sum(sizes))).items()}


@pytest.mark.parametrize("method, k", [("unit", 70), ("weight", 95)])
def test_fill_sets_the_sensitivity_allocation_and_the_main_slider_refills(trained, make, validation, method, k):
    net, test, _ = trained
    explorer = make(validation=validation, method=method, k=k)
    ks = explorer.fill()
    table = sensitivity(net, validation, SENSITIVITY_KS[method], method, "l2" if method == "unit" else "magnitude")
    sizes = [64, 32] if method == "unit" else [64 * 784, 32 * 64]
    assert ks == pytest.approx(allocation(table, sizes, k), abs=1e-9)
    assert explorer.per_layer and explorer.layer_k == ks and explorer.result.layer_k == tuple(ks.values())
    assert explorer.result.accuracy == evaluate(apply_masks(net, rank(net, method, "layer").masks(ks)), test)
    overall = 100 * round(k / 100 * sum(sizes)) / sum(sizes)  # k% of all the layers' weights (units), rounded
    assert explorer.result.k == pytest.approx(overall, abs=0.1)  # the allocation keeps it, to the sliders' step
    assert not explorer.k_slider.disabled and not explorer.fill_button.disabled and explorer.tune_status.value == ""
    explorer.k = k - 20  # after a fill the main slider re-allocates the layers for its new k
    lower = allocation(table, sizes, k - 20)
    assert explorer.layer_k == pytest.approx(lower, abs=1e-9)
    overall = 100 * round((k - 20) / 100 * sum(sizes)) / sum(sizes)
    assert explorer.result.k == pytest.approx(overall, abs=0.1)
    name = next(iter(explorer.layer_sliders))
    from_browser(explorer.layer_sliders[name], explorer.layer_k[name] - 1e-9)  # the browser echoing it on its grid
    explorer.k = k - 20  # still the fill's allocation: re-allocated, not moved uniformly
    assert explorer.layer_k == pytest.approx(lower, abs=1e-8)
    explorer.layer_sliders[name].value = 12.5  # a hand-set layer: the main slider no longer re-allocates
    explorer.k = k
    assert set(explorer.layer_k.values()) == {k}


def test_fill_repair_and_fine_tune_need_their_data(trained, make):
    net, test, _ = trained
    explorer = make()
    assert explorer.fill_button.disabled and explorer.fine_tune_button.disabled and explorer.repair_box.disabled
    assert list(explorer.criterion_dropdown.options) == ["magnitude", "random"]  # no data: no data-aware criterion
    with pytest.raises(ValueError, match="validation split"):
        explorer.fill()
    explorer.per_layer = True
    explorer.k = 40  # without a fill the main slider moves every layer to its k
    assert set(explorer.layer_k.values()) == {40}
    assert explorer.result.accuracy == explorer.point("weight", "layer", 40).accuracy
    explorer.per_layer = False
    with pytest.raises(ValueError, match="training split"):
        explorer.fine_tune()
    with pytest.raises(ValueError, match="calibration"):
        explorer.point("weight", "layer", 90, repaired=True)
    with pytest.raises(ValueError, match="train must be a Split"):
        Explorer(net, test, train=test.images)


# --- fine-tuning -----------------------------------------------------------------------------------------------------

def test_fine_tune_shows_the_recovered_accuracy_and_touches_nothing(trained, make, monkeypatch):
    net, test, _ = trained
    explorer = make(train=test, k=90)
    one_shot = explorer.result
    cached = dict(explorer._cache)
    monkeypatch.setattr(explorer_module.tune, "TUNE_EVERY", 1)
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
    assert explorer.tune_status.value == f"fine-tuned weight pruning, layer-wise, magnitude, k = 90%: " \
                                         f"{100 * expected:.2f}% on the test images"
    assert explorer.progress.value == explorer.progress.max == 3
    assert not explorer.fine_tune_button.disabled and explorer.cancel_button.disabled
    assert explorer._cache == cached and explorer.result is one_shot  # the cache and the point shown: untouched
    assert_untouched(trained)
    explorer.k = 50
    assert "pm-tuned-accuracy" not in explorer.readout.value  # another setting: not fine-tuned
    explorer.k = 90
    assert "pm-tuned-accuracy" in explorer.readout.value


def test_cancel_stops_a_fine_tune_and_keeps_nothing(trained, make, monkeypatch):
    _, test, _ = trained
    explorer = make(train=test, method="unit", k=40)
    started, release = threading.Event(), threading.Event()
    step = explorer.job.step

    def slow_step(i):
        started.set()
        release.wait(10)
        step(i)
    monkeypatch.setattr(explorer.job, "step", slow_step)
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


# --- criteria, repair, pin -------------------------------------------------------------------------------------------

def test_criteria_offered_follow_the_method_the_scope_and_the_data(make, calibration):
    explorer = make(calibration=calibration)
    assert list(explorer.criterion_dropdown.options) == ["magnitude", "random", "taylor", "obd", "wanda"]
    images_only = make(calibration=calibration.images)  # no labels: no Taylor
    assert "taylor" not in images_only.criterion_dropdown.options and "wanda" in images_only.criterion_dropdown.options
    explorer.scope = "global"
    assert "lamp" in explorer.criterion_dropdown.options  # LAMP ranks across layers only
    explorer.criterion = "lamp"
    explorer.scope = "layer"  # no longer offered: back to the first criterion, in one update
    assert explorer.criterion == "magnitude" and explorer.result.criterion == "magnitude"
    explorer.method = "unit"
    assert list(explorer.criterion_dropdown.options) == list(CRITERIA["unit"])
    assert explorer.result.criterion == "l2" and explorer.scope_buttons.disabled  # unit pruning is layer-wise
    explorer.method = "weight"
    assert not explorer.scope_buttons.disabled


def test_a_criterion_gives_the_accuracy_of_its_own_masks(trained, make, calibration):
    net, test, _ = trained
    explorer = make(calibration=calibration)
    for method, criterion, k in [("weight", "wanda", 90), ("weight", "random", 70), ("weight", "taylor", 90),
                                 ("unit", "activation", 60), ("unit", "l2_out", 80), ("unit", "taylor", 60)]:
        explorer.method = method
        explorer.criterion = criterion
        explorer.k = k
        data = calibration if criterion in DATA_AWARE[method] else None  # a Split: Taylor uses its labels
        expected = evaluate(apply_masks(net, masks_for(net, k, method, criterion=criterion, data=data)), test)
        assert explorer.result.criterion == criterion and explorer.result.accuracy == expected


def test_repair_gives_the_accuracy_of_the_repaired_network_and_touches_nothing(trained, make, calibration):
    net, test, _ = trained
    explorer = make(calibration=calibration, k=95)
    one_shot = explorer.result.accuracy
    explorer.repair = True
    expected = evaluate(repair(net, prune(net, 95), calibration.images), test)
    assert explorer.result.repaired and explorer.result.accuracy == pytest.approx(expected, abs=1 / len(test.labels))
    assert explorer.result.accuracy != one_shot and "repaired" in explorer.readout.value
    explorer.repair = False
    assert explorer.result.accuracy == one_shot  # from the cache: the one-shot point is still the one-shot point
    assert_untouched(trained)


def test_a_pinned_setting_stays_while_the_controls_move(make, calibration):
    explorer = make(calibration=calibration, k=90)
    unpinned_curve = explorer.curve_image.value
    curve = explorer.figures.curve
    pinned = explorer.pin()
    assert pinned == explorer.result and explorer.pin_button.description == "unpin"
    assert curve.pin_label.get_text() == "the pinned setting"
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
    assert list(curve.pin_mark.get_xdata()) == [90]  # the pin's mark on the curve, at its k
    explorer.method, explorer.k = "weight", 90
    assert explorer.curve_image.value != unpinned_curve  # the same point, now with the pin drawn
    explorer.unpin()
    assert explorer.pinned is None and explorer.pinned_readout.value == ""
    assert explorer.curve_image.value == unpinned_curve
    explorer.k = 87  # a point drawn now, with no pin: the legend does not promise a mark
    assert curve.pin_label.get_text() == "the pinned setting (none)"

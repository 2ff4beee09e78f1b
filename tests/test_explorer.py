"""The explorer driven from Python: numbers equal sweep()'s, pictures change, the network is untouched."""

import pytest
import torch
import traitlets

from helpers.data import Split
from helpers.experiments import sweep
from helpers.explorer import explore
from helpers.model import make_mlp


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
    assert f"{100 * expected['accuracy']:.2f}</b>%" in explorer.readout.value


def test_global_scope_differs_from_layer_scope(setting):
    net, test, _, explorer = setting
    explorer.method, explorer.k = "weight", 90
    explorer.scope = "global"
    expected = sweep(net, test, ks=[90], methods=["weight"], scope="global").iloc[0]
    assert explorer.result.scope == "global"
    assert explorer.result.accuracy == pytest.approx(expected["accuracy"], abs=1e-9)
    explorer.scope = "layer"


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
        from helpers.pruning import prune
        changed = (prune(net, 95, "unit")(test.images).argmax(1) != net(test.images).argmax(1)).nonzero().flatten()
    assert explorer.result.changed == changed[:8].tolist()


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


def test_slider_does_not_evaluate_while_dragging(setting):
    _, _, _, explorer = setting
    assert explorer.k_slider.continuous_update is False
    assert explorer.k_slider.min == 0 and explorer.k_slider.max == 99


def test_scope_is_disabled_for_unit_pruning(setting):
    _, _, _, explorer = setting
    explorer.method = "unit"
    assert explorer.scope_buttons.disabled
    explorer.method = "weight"
    assert not explorer.scope_buttons.disabled


def test_css_classes_for_browser_tests(setting):
    _, _, _, explorer = setting
    classes = {c for w in (explorer.k_slider, explorer.method_buttons, explorer.scope_buttons, explorer.readout,
                           explorer.histograms, explorer.pixels, explorer.digits, explorer.curve_image)
               for c in w._dom_classes}
    assert classes == {"pm-k", "pm-method", "pm-scope", "pm-readout", "pm-histograms", "pm-pixels", "pm-digits", "pm-curve"}

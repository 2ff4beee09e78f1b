"""What L1 leaves behind and what the blank pixels do: `magnitudes`, `pruned_below` and the constant-input
helpers, checked on hand-made networks against counts done by hand (02_weight_pruning, 01_training)."""

import math

import pytest
import torch

from helpers.experiments import constant_inputs, input_bias, without_inputs
from helpers.model import make_mlp
from helpers.pruning import magnitudes, pruned_below, weight_masks


def _two_groups(seed=0):
    """A net whose hidden layers hold silenced weights (~1e-11) and working ones (~1e-2), half and half."""
    torch.manual_seed(seed)
    net = make_mlp((30, 20), inputs=16, classes=4)
    with torch.no_grad():
        for layer in (net[0], net[2]):
            size = torch.rand_like(layer.weight)
            silenced = torch.rand_like(layer.weight) < 0.5
            layer.weight.copy_(torch.where(silenced, 1e-11 * (1 + size), 1e-2 * (1 + size)))
            layer.weight.mul_(torch.where(torch.rand_like(size) < 0.5, -1.0, 1.0))
    return net


def test_magnitudes_counts_the_silenced_weights_of_each_layer():
    net = _two_groups()
    table = magnitudes(net).set_index("layer")
    assert list(table.index) == ["0", "2", "4"]
    for name in ("0", "2", "4"):
        size = net.get_submodule(name).weight.detach().abs().flatten().double()
        small = size[size < 1e-6]
        row = table.loc[name]
        assert row["weights"] == size.numel() and row["below"] == len(small)
        assert row["below_percent"] == pytest.approx(100 * len(small) / size.numel())
        assert row["median_abs"] == pytest.approx(float(size.median()))
        if len(small):
            assert row["silenced_median"] == pytest.approx(float(small.median()))
            assert 1e-11 <= row["silenced_median"] <= 2e-11 and 1e-2 <= row["working_low"] <= row["working_high"] <= 2e-2
    assert math.isnan(table.loc["4", "silenced_median"])  # the untouched output layer has no silenced weight
    assert list(magnitudes(net, include_output=False)["layer"]) == ["0", "2"]
    assert magnitudes(net, below=1.0)["below_percent"].tolist() == [100.0, 100.0, 100.0]


@pytest.mark.parametrize("below", [0, -1e-6, float("nan"), float("inf"), "1e-6", True])
def test_magnitudes_and_pruned_below_reject_a_bad_threshold(below):
    with pytest.raises(ValueError, match="below"):
        magnitudes(_two_groups(), below=below)
    with pytest.raises(ValueError, match="below"):
        pruned_below(_two_groups(), [50], below=below)


@pytest.mark.parametrize("scope", ["layer", "global"])
def test_pruned_below_counts_what_weight_masks_removes(scope):
    net = _two_groups(1)
    ks = [0, 25, 50, 60, 90, 99]
    table = pruned_below(net, ks, scope=scope).set_index("k")
    for k in ks:
        masks = weight_masks(net, k, scope)
        removed = torch.cat([net.get_submodule(n).weight.detach().abs()[~m] for n, m in masks.items()])
        assert table.loc[k, "pruned"] == len(removed)
        assert table.loc[k, "pruned_below"] == int((removed < 1e-6).sum())
    assert math.isnan(table.loc[0, "below_percent"])
    assert table.loc[25, "below_percent"] == 100.0  # half the weights are silenced: the first quarter is all silenced
    assert table.loc[99, "below_percent"] < 60


def test_constant_inputs_finds_the_columns_with_one_value():
    images = torch.randn(50, 6)
    images[:, 1] = -0.42
    images[:, 4] = 3.0
    assert constant_inputs(images).tolist() == [False, True, False, False, True, False]
    with pytest.raises(ValueError, match="non-empty"):
        constant_inputs(torch.zeros(0, 6))


def test_blank_inputs_are_a_bias_that_moves_or_goes():
    torch.manual_seed(2)
    net = make_mlp((7,), inputs=6, classes=3)
    blank = torch.tensor([False, True, False, True, True, False])
    images = torch.randn(20, 6)
    images[:, blank] = -0.42
    weight = net[0].weight.detach().clone()
    assert input_bias(net, blank, -0.42) == pytest.approx(-0.42 * weight[:, blank].sum(dim=1))
    moved = without_inputs(net, blank, keep_sum=True)
    assert torch.allclose(moved(images), net(images), atol=1e-6)  # same function on images where they are blank
    assert int((moved[0].weight[:, blank] != 0).sum()) == 7  # one weight per unit instead of three
    dropped = without_inputs(net, blank)
    assert (dropped[0].weight[:, blank] == 0).all() and torch.equal(dropped[0].weight[:, ~blank], weight[:, ~blank])
    assert torch.allclose(dropped(images), net(torch.where(blank, 0.0, images)), atol=1e-6)  # as if they read 0
    assert torch.equal(net[0].weight, weight)  # the original is untouched
    with pytest.raises(ValueError, match="bool mask"):
        without_inputs(net, torch.ones(5, dtype=torch.bool))

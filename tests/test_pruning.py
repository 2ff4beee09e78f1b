"""Unit tests of helpers.pruning on small synthetic networks, against torch.nn.utils.prune."""

import math

import pytest
import torch
from hypothesis import given, settings, strategies as st
from torch import nn
from torch.nn.utils import prune as torch_prune

from helpers.model import make_mlp
from helpers.pruning import (K_LIST, apply_masks, check_k, compact, flops, keep_largest, masks_for, prune,
                             sparsity, weight_masks)

SHAPES = [(1, 1), (3, 7), (10, 4), (64, 33), (200, 50)]
KS = [0, 0.5, 1, 12.5, 25, 33.3, 50, 60, 70, 80, 90, 95, 97, 99, 99.9, 100]


def small_net(seed=0, hidden=(16, 12, 8)):
    torch.manual_seed(seed)
    return make_mlp(hidden, inputs=20, classes=5)


def reference_masks(net, k, how):
    """The masks torch.nn.utils.prune computes on a copy of `net`."""
    import copy
    reference = copy.deepcopy(net)
    layers = [(name, m) for name, m in reference.named_modules() if isinstance(m, nn.Linear)][:-1]
    if how == "global":
        torch_prune.global_unstructured([(m, "weight") for _, m in layers],
                                        pruning_method=torch_prune.L1Unstructured, amount=k / 100)
    for name, module in layers:
        if how == "weight":
            torch_prune.l1_unstructured(module, "weight", amount=k / 100)
        elif how == "unit":
            torch_prune.ln_structured(module, "weight", amount=k / 100, n=2, dim=0)
    return {name: module.weight_mask.bool() for name, module in layers}


@pytest.mark.parametrize("k", KS)
@pytest.mark.parametrize("how", ["weight", "unit", "global"])
def test_masks_equal_torch_prune(k, how):
    for seed in range(3):
        net = small_net(seed)
        ours = weight_masks(net, k, "global") if how == "global" else masks_for(net, k, how)
        theirs = reference_masks(net, k, how)
        assert ours.keys() == theirs.keys()
        for name in ours:
            assert torch.equal(ours[name], theirs[name]), (how, k, name)


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("k", KS)
@pytest.mark.parametrize("method", ["weight", "unit"])
def test_equality_with_torch_prune_over_shapes(shape, k, method):
    torch.manual_seed(1000 * shape[0] + shape[1] + (method == "unit"))
    layer = nn.Linear(shape[1], shape[0], bias=False)
    net = nn.Sequential(layer, nn.ReLU(), nn.Linear(shape[0], 2, bias=False))
    ours = masks_for(net, k, method)["0"]
    if method == "weight":
        torch_prune.l1_unstructured(layer, "weight", amount=k / 100)
        assert (~ours).sum().item() == round(k / 100 * layer.weight.numel())
    else:
        torch_prune.ln_structured(layer, "weight", amount=k / 100, n=2, dim=0)
        assert (~ours).all(dim=1).sum().item() == round(k / 100 * shape[0])
        assert torch.equal(ours.all(dim=1), ours.any(dim=1))  # whole rows only
    assert torch.equal(ours, layer.weight_mask.bool())


# Scores drawn from a few integers make ties common: the counts must still be exact.
scores_strategy = st.lists(st.integers(0, 4), min_size=1, max_size=60).map(lambda v: torch.tensor(v, dtype=torch.float32))
k_strategy = st.floats(0, 100, allow_nan=False)


@settings(max_examples=300, deadline=None)
@given(scores_strategy, k_strategy, k_strategy)
def test_exact_counts_and_nesting_with_ties(scores, k1, k2):
    small, large = sorted([k1, k2])
    keep_small, keep_large = keep_largest(scores, small), keep_largest(scores, large)
    assert (~keep_small).sum().item() == round(small / 100 * scores.numel())
    assert (~keep_large).sum().item() == round(large / 100 * scores.numel())
    # nesting: pruned at the smaller k stays pruned at the larger one
    assert not (keep_large & ~keep_small).any()
    # only the smallest go: every kept score >= every pruned score
    if keep_small.any() and (~keep_small).any():
        assert scores[keep_small].min() >= scores[~keep_small].max()


@settings(max_examples=50, deadline=None)
@given(st.integers(0, 10_000), k_strategy, st.sampled_from(["weight", "unit"]))
def test_prune_counts_and_leaves_input_untouched(seed, k, method):
    net = small_net(seed % 50)
    before = {name: t.clone() for name, t in net.state_dict().items()}
    pruned = prune(net, k, method)
    for name, t in net.state_dict().items():
        assert torch.equal(t, before[name])
    table = sparsity(pruned).set_index("layer")
    for name, weight in [("0", (16, 20)), ("2", (12, 16)), ("4", (8, 12))]:
        n = weight[0] * weight[1] if method == "weight" else weight[0]
        expected_pruned = round(k / 100 * n)
        if method == "weight":
            assert table.loc[name, "weights"] - table.loc[name, "nonzero"] == expected_pruned
        else:
            assert table.loc[name, "units"] - table.loc[name, "alive"] == expected_pruned
    # the output layer is untouched
    assert torch.equal(pruned[6].weight, net[6].weight)


def test_k_zero_changes_nothing_and_k_100_prunes_all():
    net = small_net()
    for method in ("weight", "unit"):
        assert all(torch.equal(a, b) for a, b in zip(prune(net, 0, method).parameters(), net.parameters()))
        full = prune(net, 100, method)
        assert all((layer.weight == 0).all() for layer in list(full)[:-1:2])
        assert torch.equal(full[6].weight, net[6].weight)


def test_include_output_prunes_the_output_layer():
    net = small_net()
    masks = weight_masks(net, 50, include_output=True)
    assert list(masks) == ["0", "2", "4", "6"]
    assert (~masks["6"]).sum() == round(0.5 * 5 * 8)


def test_global_scope_prunes_the_global_count_and_smallest_overall():
    net = small_net()
    masks = weight_masks(net, 70, "global")
    total = sum(m.numel() for m in masks.values())
    assert sum((~m).sum().item() for m in masks.values()) == round(0.7 * total)
    kept = torch.cat([net.get_submodule(n).weight.abs()[m] for n, m in masks.items()])
    gone = torch.cat([net.get_submodule(n).weight.abs()[~m] for n, m in masks.items()])
    assert kept.min() >= gone.max()


@pytest.mark.parametrize("bad", [-1, 100.01, 120, float("nan"), float("inf")])
def test_bad_k_values_raise_value_error_naming_the_value(bad):
    net = small_net()
    before = [p.clone() for p in net.parameters()]
    for call in (lambda: prune(net, bad, "weight"), lambda: prune(net, bad, "unit"), lambda: weight_masks(net, bad, "global")):
        with pytest.raises(ValueError, match=re_escape(repr(bad))):
            call()
    assert all(torch.equal(a, b) for a, b in zip(before, net.parameters()))


def re_escape(text):
    import re
    return re.escape(text)


@pytest.mark.parametrize("bad", ["90", None, [90], True, torch.tensor(90)])
def test_non_numbers_raise_type_error(bad):
    with pytest.raises(TypeError, match="k must be a number"):
        prune(small_net(), bad)


def test_unknown_method_and_scope():
    net = small_net()
    with pytest.raises(ValueError, match="'neuron'"):
        prune(net, 50, "neuron")
    with pytest.raises(ValueError, match="'everything'"):
        prune(net, 50, "weight", scope="everything")
    with pytest.raises(ValueError, match="layer-wise only"):
        prune(net, 50, "unit", scope="global")


def test_model_without_linear_layers():
    with pytest.raises(ValueError, match="no nn.Linear"):
        prune(nn.Sequential(nn.ReLU()), 50)


def test_masks_that_do_not_fit():
    net = small_net()
    before = [p.clone() for p in net.parameters()]
    with pytest.raises(ValueError, match=r"shape \(3, 3\)"):
        apply_masks(net, {"0": torch.ones(3, 3, dtype=torch.bool)})
    with pytest.raises(ValueError, match="'7'"):
        apply_masks(net, {"7": torch.ones(3, 3, dtype=torch.bool)})
    assert all(torch.equal(a, b) for a, b in zip(before, net.parameters()))


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 1000), st.floats(0, 100), st.sampled_from(["weight", "unit"]))
def test_compact_computes_the_same_function(seed, k, method):
    net = small_net(seed)
    pruned = prune(net, k, method)
    small = compact(pruned)
    x = torch.randn(64, 20, generator=torch.Generator().manual_seed(seed))
    assert torch.allclose(small(x), pruned(x), atol=1e-5)
    assert flops(small) <= flops(pruned)
    # no dead unit survives compaction
    table = sparsity(small).set_index("layer")
    assert (table["units"] == table["alive"]).iloc[:-2].all()


def test_compact_exact_sizes_for_unit_pruning():
    net = make_mlp((10, 10, 5), inputs=8, classes=3)
    small = compact(prune(net, 60, "unit"))
    widths = [m.weight.shape for m in small if isinstance(m, nn.Linear)]
    assert widths == [(4, 8), (4, 4), (2, 4), (3, 2)]
    assert flops(small) == 4 * 8 + 4 * 4 + 2 * 4 + 3 * 2


def test_compact_of_fully_pruned_network_outputs_zero():
    net = small_net()
    small = compact(prune(net, 100, "unit"))
    assert torch.equal(small(torch.randn(3, 20)), torch.zeros(3, 5))


def test_sparsity_table_exact():
    net = make_mlp((3,), inputs=2, classes=2)
    with torch.no_grad():
        net[0].weight.copy_(torch.tensor([[1.0, 0.0], [0.0, 0.0], [2.0, 3.0]]))
        net[2].weight.copy_(torch.tensor([[1.0, 0.0, 1.0], [1.0, 1.0, 1.0]]))
    table = sparsity(net).set_index("layer")
    assert table.loc["0", ["weights", "nonzero", "units", "alive"]].tolist() == [6, 3, 3, 2]
    assert table.loc["total", ["weights", "nonzero", "units", "alive"]].tolist() == [12, 8, 5, 4]


def test_classic_architecture_flops_ratios():
    net = make_mlp()
    assert flops(net) == 2_386_000
    assert flops(compact(prune(net, 90, "unit"))) == 784 * 100 + 100 * 100 + 100 * 50 + 50 * 20 + 20 * 10
    assert round(flops(net) / flops(compact(prune(net, 99, "unit"))), 1) == 297.5


def test_check_k_accepts_the_classic_list():
    assert [check_k(k) for k in K_LIST] == K_LIST
    assert math.isclose(check_k(99.5), 99.5)

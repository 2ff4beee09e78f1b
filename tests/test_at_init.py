"""helpers.at_init on tiny networks: each score against an independent computation (SNIP against autograd on an
explicit mask, GraSP's Hessian-gradient product against the full Hessian, SynFlow against its closed form and its
conservation law), SynFlow's schedule with exact counts, the global ranking against a stable sort, the controls'
counts, layer collapse, and bad input (shares outside (0, 100], a trained network, the caller's network unchanged)."""

import math
import warnings

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from helpers import at_init
from helpers.at_init import (check_initialised, check_keep, collapsed, connected, grasp_masks, grasp_scores,
                             hessian_gradient_product, kept_count, largest_count, masks_at_init, random_masks,
                             shares_kept, shuffle_masks, snip_masks, snip_scores, synflow_masks, synflow_scores,
                             top_masks)
from helpers.data import Split
from helpers.model import linear_layers, make_mlp
from helpers.pruning import prunable_layers


def tiny(seed=0, hidden=(12, 8), inputs=6, classes=3):
    torch.manual_seed(seed)
    return make_mlp(hidden, inputs=inputs, classes=classes)


def batch(n=40, inputs=6, classes=3, seed=1):
    generator = torch.Generator().manual_seed(seed)
    return Split(torch.randn(n, inputs, generator=generator), torch.randint(0, classes, (n,), generator=generator))


def functional_loss(weights, images, labels, temperature=1.0):
    """The MLP's loss written out by hand from a list of weight matrices (ReLU between them)."""
    h = images
    for i, weight in enumerate(weights):
        h = h @ weight.T
        if i < len(weights) - 1:
            h = torch.relu(h)
    return nn.functional.cross_entropy(h / temperature, labels)


def state(net):
    return {name: tensor.clone() for name, tensor in net.state_dict().items()}


# ---------------------------------------------------------------- SNIP


def test_snip_is_the_gradient_with_respect_to_a_multiplicative_mask():
    net, data = tiny(), batch()
    weights = [layer.weight.detach() for _, layer in linear_layers(net)]
    mask_variables = [torch.ones_like(w, requires_grad=True) for w in weights]
    loss = functional_loss([w * c for w, c in zip(weights, mask_variables)], data.images, data.labels)
    expected = torch.autograd.grad(loss, mask_variables)
    scores = snip_scores(net, data, include_output=True)
    for (name, _), grad in zip(linear_layers(net), expected):
        torch.testing.assert_close(scores[name], grad.abs())


def test_snip_masks_keep_the_exact_count_globally_and_leave_the_output_layer_dense_by_default():
    net, data = tiny(), batch()
    n = sum(layer.weight.numel() for layer in prunable_layers(net).values())
    masks = snip_masks(net, 10, data)
    assert set(masks) == {"0", "2"}  # the output layer "4" is not ranked
    assert sum(int(m.sum()) for m in masks.values()) == round(0.1 * n)
    scores = snip_scores(net, data)
    kept = torch.cat([scores[k][masks[k]] for k in masks])
    pruned = torch.cat([scores[k][~masks[k]] for k in masks])
    assert kept.min() >= pruned.max()  # global: every kept weight outranks every pruned one
    masks = snip_masks(net, 10, data, include_output=True)
    assert set(masks) == {"0", "2", "4"}
    total = sum(layer.weight.numel() for _, layer in linear_layers(net))
    assert sum(int(m.sum()) for m in masks.values()) == round(0.1 * total)


# ---------------------------------------------------------------- GraSP


def test_hessian_gradient_product_equals_the_full_hessian_times_the_gradient():
    net, data = tiny(hidden=(5,), inputs=4, classes=3), batch(inputs=4)
    shapes = [layer.weight.shape for _, layer in linear_layers(net)]
    flat = torch.cat([layer.weight.detach().flatten() for _, layer in linear_layers(net)]).double()
    sizes = [s.numel() for s in shapes]
    images, labels = data.images.double(), data.labels

    def loss_of(vector):
        return functional_loss([part.view(s) for part, s in zip(vector.split(sizes), shapes)], images, labels, 3.0)

    gradient = torch.autograd.functional.jacobian(loss_of, flat)
    hessian = torch.autograd.functional.hessian(loss_of, flat)
    expected = (hessian @ gradient).split(sizes)
    product = hessian_gradient_product(net.double(), Split(images, labels), temperature=3.0)
    for (name, _), part, shape in zip(linear_layers(net), expected, shapes):
        torch.testing.assert_close(product[name], part.view(shape))


def test_grasp_removes_the_weights_with_the_highest_score():
    net, data = tiny(), batch()
    scores = grasp_scores(net, data)
    product = hessian_gradient_product(net, data, temperature=at_init.GRASP_TEMPERATURE, include_output=False)
    for name, layer in prunable_layers(net).items():
        torch.testing.assert_close(scores[name], -layer.weight.detach() * product[name])
    masks = grasp_masks(net, 30, data)
    kept = torch.cat([scores[k][masks[k]] for k in masks])
    pruned = torch.cat([scores[k][~masks[k]] for k in masks])
    assert kept.max() <= pruned.min()
    n = sum(m.numel() for m in masks.values())
    assert sum(int(m.sum()) for m in masks.values()) == round(0.3 * n)


# ---------------------------------------------------------------- SynFlow


def test_synflow_score_matches_its_closed_form_on_a_two_layer_linear_network():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(5, 4, bias=False), nn.Linear(4, 3, bias=False))
    w1, w2 = net[0].weight.detach().double().abs(), net[1].weight.detach().double().abs()
    # R = 1ᵀ |W2| |W1| 1: dR/dW1[i, j] = Σ_k |W2|[k, i];  dR/dW2[k, i] = Σ_j |W1|[i, j]
    expected_1 = w1 * w2.sum(0)[:, None]
    expected_2 = w2 * w1.sum(1)[None, :]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a plain nn.Linear stack: its init is not under test here
        scores = synflow_scores(net, include_output=True)
    torch.testing.assert_close(scores["0"], expected_1)
    torch.testing.assert_close(scores["1"], expected_2)


def test_synflow_scores_of_every_layer_sum_to_R_the_conservation_law():
    net = tiny()
    scores = synflow_scores(net, include_output=True)
    h = torch.ones(1, 6, dtype=torch.double)
    for _, layer in linear_layers(net):
        h = h @ layer.weight.detach().double().abs().T
    for name, score in scores.items():
        assert float(score.sum()) == pytest.approx(float(h.sum()), rel=1e-9)


def test_synflow_rounds_follow_the_exponential_schedule_with_exact_nested_counts():
    net, keep, rounds = tiny(hidden=(20, 10)), 2.0, 7
    history = []
    masks = synflow_masks(net, keep, rounds=rounds, history=history)
    n = sum(layer.weight.numel() for layer in prunable_layers(net).values())
    assert len(history) == rounds
    previous = None
    for r, round_masks in enumerate(history, start=1):
        assert sum(int(m.sum()) for m in round_masks.values()) == kept_count(100 * (keep / 100) ** (r / rounds), n)
        if previous is not None:
            assert all(not (round_masks[k] & ~previous[k]).any() for k in round_masks)  # pruned stays pruned
        previous = round_masks
    assert sum(int(m.sum()) for m in masks.values()) == round(keep / 100 * n)


def test_synflow_works_in_double_precision_where_float32_would_overflow():
    torch.manual_seed(0)
    net = make_mlp((50,) * 11, inputs=50, classes=50)
    with torch.no_grad():
        for _, layer in linear_layers(net):
            layer.weight.uniform_(50, 150)  # R ~ (50 * 100) ** 12 ~ 1e44, beyond float32's 3e38
    h = torch.ones(1, 50)
    for _, layer in linear_layers(net):
        h = h @ layer.weight.detach().T
    assert not torch.isfinite(h.sum())
    with pytest.warns(UserWarning, match="freshly initialised"):
        masks = synflow_masks(net, 10, rounds=3)
    assert sum(int(m.sum()) for m in masks.values()) == round(0.1 * 50 * 50 * 11)


def test_synflow_is_data_free_and_deterministic():
    net = tiny()
    first, second = synflow_masks(net, 20, rounds=5), synflow_masks(net, 20, rounds=5)
    assert all(torch.equal(first[k], second[k]) for k in first)


# ---------------------------------------------------------------- ranking


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(0, 4), min_size=1, max_size=40), st.floats(0.5, 100))
def test_largest_count_equals_a_stable_descending_sort_ties_included(values, keep):
    scores = torch.tensor(values, dtype=torch.double)
    count = kept_count(keep, len(values))
    expected = torch.zeros(len(values), dtype=torch.bool)
    expected[torch.argsort(-scores, stable=True)[:count]] = True
    assert torch.equal(largest_count(scores, count), expected)
    masks = top_masks({"a": scores[: len(values) // 2], "b": scores[len(values) // 2:]}, keep)
    assert torch.equal(torch.cat([masks["a"], masks["b"]]), expected)


def test_top_masks_ranks_only_the_living_and_never_revives():
    scores = {"0": torch.tensor([[5.0, 4.0, 3.0, 2.0]])}
    alive = {"0": torch.tensor([[False, True, True, True]])}
    assert top_masks(scores, 50, alive=alive)["0"].tolist() == [[False, True, True, False]]


# ---------------------------------------------------------------- controls


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 2**31 - 1), st.floats(1, 100))
def test_shuffle_keeps_every_layers_count_and_is_seeded(seed, keep):
    net = tiny()
    masks = random_masks(net, keep, seed=3)
    shuffled = shuffle_masks(masks, seed)
    assert set(shuffled) == set(masks)
    for name in masks:
        assert shuffled[name].shape == masks[name].shape
        assert int(shuffled[name].sum()) == int(masks[name].sum())
    again = shuffle_masks(masks, seed)
    assert all(torch.equal(shuffled[k], again[k]) for k in masks)


def test_shuffle_moves_the_kept_weights():
    masks = snip_masks(tiny(), 10, batch())
    shuffled = shuffle_masks(masks, seed=0)
    assert any(not torch.equal(shuffled[k], masks[k]) for k in masks)


def test_random_masks_uniform_or_at_the_ratios_of_other_masks():
    net = tiny()
    uniform = random_masks(net, 25, seed=0)
    for name, layer in prunable_layers(net).items():
        assert int(uniform[name].sum()) == round(0.25 * layer.weight.numel())
    snip = snip_masks(net, 10, batch())
    like = random_masks(net, seed=1, like=snip)
    assert {k: int(m.sum()) for k, m in like.items()} == {k: int(m.sum()) for k, m in snip.items()}
    with pytest.raises(ValueError, match="keep"):
        random_masks(net)


@pytest.mark.parametrize("method", at_init.METHODS)
def test_every_method_keeps_the_exact_share_and_leaves_the_network_unchanged(method):
    net = tiny()
    before = state(net)
    masks = masks_at_init(net, method, 5, data=batch(), rounds=4)
    assert all(torch.equal(before[k], v) for k, v in net.state_dict().items())
    assert all(p.requires_grad and p.grad is None for p in net.parameters())
    n = sum(m.numel() for m in masks.values())
    expected = round(0.05 * n) if method != "random" else sum(round(0.05 * m.numel()) for m in masks.values())
    assert sum(int(m.sum()) for m in masks.values()) == expected
    assert all(m.dtype == torch.bool for m in masks.values())


# ---------------------------------------------------------------- shares and layer collapse


def test_shares_kept_and_layer_collapse():
    net = tiny()  # layers 0 (12x6), 2 (8x12), 4 (3x8)
    masks = {"0": torch.ones(12, 6, dtype=torch.bool), "2": torch.zeros(8, 12, dtype=torch.bool)}
    table = shares_kept(net, masks)
    assert table["kept"].tolist() == [72, 0, 24, 96]
    assert table["on_path"].tolist() == [0, 0, 0, 0]
    assert collapsed(net, masks) == ["2"] and not connected(net, masks)
    # every layer keeps weights, but none of them chain: layer 0 feeds unit 0 only, layer 2 reads unit 1 only
    cut = {"0": torch.zeros(12, 6, dtype=torch.bool), "2": torch.zeros(8, 12, dtype=torch.bool)}
    cut["0"][0, :] = True
    cut["2"][:, 1] = True
    assert collapsed(net, cut) == [] and not connected(net, cut)
    chained = {"0": cut["0"], "2": cut["2"].clone()}
    chained["2"][0, 0] = True
    table = shares_kept(net, chained)
    assert connected(net, chained)
    assert table["on_path"].tolist()[:3] == [6, 1, 3]  # row 0 of layer 0, weight (0, 0) of layer 2, column 0 of 4
    assert table["kept %"].iloc[1] == pytest.approx(100 * 9 / 96)


# ---------------------------------------------------------------- bad input


@pytest.mark.parametrize("keep", [0, -1, 100.5, 150, math.nan, math.inf])
def test_a_share_outside_0_100_is_a_clear_error_naming_the_fix(keep):
    with pytest.raises(ValueError, match=r"in \(0, 100\].*keep=1 for 1%"):
        check_keep(keep)
    with pytest.raises(ValueError, match=r"\(0, 100\]"):
        snip_masks(tiny(), keep, batch())
    with pytest.raises(ValueError, match=r"\(0, 100\]"):
        synflow_masks(tiny(), keep, rounds=2)


@pytest.mark.parametrize("keep", ["1", True, None])
def test_a_share_that_is_not_a_number_is_a_type_error(keep):
    with pytest.raises(TypeError, match="keep must be a number"):
        check_keep(keep)


def test_a_fresh_network_passes_the_initialisation_check_silently():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert check_initialised(make_mlp())
        assert check_initialised(tiny())
        snip_masks(tiny(), 10, batch())
        he = tiny()
        for _, layer in linear_layers(he):
            nn.init.kaiming_normal_(layer.weight)
        assert check_initialised(he)


@pytest.mark.parametrize("change", ["shrunk", "grown", "pruned"])
def test_a_trained_network_gets_a_warning_that_says_so_and_is_still_scored(change):
    net = make_mlp((300, 100))
    with torch.no_grad():
        for _, layer in linear_layers(net):
            if change == "shrunk":  # the series' trained hidden layers: 0.25-0.5 times the init scale
                layer.weight.mul_(0.4)
            elif change == "grown":
                layer.weight.mul_(5.0)
            else:  # pruned or L1-trained: most weights exactly zero
                layer.weight.mul_((torch.rand_like(layer.weight) < 0.2).float())
    with pytest.warns(UserWarning, match="does not look freshly initialised.*initial_network"):
        assert not check_initialised(net)
    data = batch(inputs=784, classes=10)
    with pytest.warns(UserWarning, match="does not look freshly initialised"):
        masks = snip_masks(net, 10, data)
    assert sum(int(m.sum()) for m in masks.values()) == round(0.1 * (300 * 784 + 100 * 300))


def test_scoring_cost_counts_forward_and_backward_passes_of_the_dense_network():
    net = tiny()
    dense = 6 * 12 + 12 * 8 + 8 * 3
    assert at_init.scoring_flops(net, "snip", examples=40) == 3 * dense * 40
    assert at_init.scoring_flops(net, "grasp", examples=40) == 2 * 3 * dense * 40
    assert at_init.scoring_flops(net, "synflow", rounds=100) == 3 * dense * 100
    assert at_init.scoring_flops(net, "random") == 0


def test_unknown_method_and_missing_data_are_clear_errors():
    with pytest.raises(ValueError, match="method must be one of"):
        masks_at_init(tiny(), "magnitude", 10)
    with pytest.raises(ValueError, match="calibration"):
        masks_at_init(tiny(), "snip", 10)
    with pytest.raises(TypeError, match="Split"):
        snip_masks(tiny(), 10, torch.randn(5, 6))
    with pytest.raises(ValueError, match="rounds"):
        synflow_masks(tiny(), 10, rounds=0)

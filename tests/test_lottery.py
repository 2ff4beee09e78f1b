"""helpers.lottery on small synthetic data: the pruning round against torch.nn.utils.prune, exact rewinding,
nested masks, branches that change only what they claim to, and bad input."""

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch.nn.utils import prune as torch_prune

from helpers import lottery
from helpers.data import MNIST, Split
from helpers.lottery import (BRANCHES, LOTTERY, branch, check_rewind, densities, find_tickets, prune_round, random_like,
                             remaining, rescale_to_density, rewind_to, train_round)
from helpers.model import CheckpointError, make_mlp, save_checkpoint
from helpers.pruning import prunable_layers
from helpers.training import correct, evaluate, fit, initial_network, initial_path, initial_weights, restart_network

RECIPE = dict(epochs=2, batch_size=50)  # 8 steps per epoch on 400 images: 16 steps


def toy(n=400, seed=0, features=20):
    generator = torch.Generator().manual_seed(seed)
    images = torch.randn(n, features, generator=generator)
    return Split(images, images[:, :5].argmax(1))


DATA = MNIST(toy(400, 0), toy(100, 1), toy(100, 2))


def tiny(seed=0):
    torch.manual_seed(seed)
    return make_mlp((32, 16), inputs=20, classes=5)


def full(net):
    return {name: torch.ones_like(layer.weight, dtype=torch.bool) for name, layer in
            prunable_layers(net, include_output=True).items()}


def same(a, b):
    return all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values()))


@pytest.fixture(scope="module")
def lot():
    return find_tickets(tiny(), DATA, rounds=3, rate=0.5, every=4, keep_steps=[6], progress=False, **RECIPE)


@given(rate=st.floats(0.05, 0.95), seed=st.integers(0, 100))
@settings(max_examples=30, deadline=None)
def test_a_layer_wise_round_equals_torch_prune_applied_again(rate, seed):
    """torch's iterative l1_unstructured prunes `amount` of the weights still unpruned: our round, layer by layer."""
    first, second = tiny(seed), tiny(seed + 1000)
    masks = prune_round(first, full(first), rate)
    again = prune_round(second, masks, rate)
    for name, layer in prunable_layers(first, include_output=True).items():
        share = rate / 2 if name == "4" else rate
        torch_prune.l1_unstructured(layer, "weight", amount=share)
        assert torch.equal(layer.weight_mask.bool(), masks[name])
        # pruned again with the second network's weights as scores: a PruningContainer prunes among the survivors
        torch_prune.l1_unstructured(layer, "weight", amount=share,
                                    importance_scores=dict(second.named_modules())[name].weight)
        assert torch.equal(layer.weight_mask.bool(), again[name])
        assert int(again[name].sum()) == int(masks[name].sum()) - round(share * int(masks[name].sum()))


@given(rate=st.floats(0.05, 0.95), seed=st.integers(0, 100))
@settings(max_examples=30, deadline=None)
def test_a_global_round_prunes_the_smallest_kept_weights_of_the_hidden_layers_together(rate, seed):
    first, second = tiny(seed), tiny(seed + 1000)
    masks = prune_round(first, full(first), 0.3, scope="global")
    again = prune_round(second, masks, rate, scope="global")
    layers = prunable_layers(second, include_output=True)
    hidden = ["0", "2"]
    kept_before = sum(int(masks[name].sum()) for name in hidden)
    assert sum(int(again[name].sum()) for name in hidden) == kept_before - round(rate * kept_before)
    assert all(not (again[name] & ~masks[name]).any() for name in again)  # nested
    newly = torch.cat([layers[n].weight.detach().abs()[masks[n] & ~again[n]] for n in hidden])
    kept = torch.cat([layers[n].weight.detach().abs()[again[n]] for n in hidden])
    assert newly.max() <= kept.min()
    assert int(again["4"].sum()) == int(masks["4"].sum()) - round(rate / 2 * int(masks["4"].sum()))


def test_rewinding_restores_the_initial_values_on_kept_weights_and_zero_elsewhere():
    init = tiny()
    before = {name: t.clone() for name, t in init.state_dict().items()}
    masks = prune_round(tiny(1), full(init), 0.7)
    rewound = rewind_to(init, masks)
    for name, layer in prunable_layers(rewound, include_output=True).items():
        original = before[f"{name}.weight"]
        assert torch.equal(layer.weight[masks[name]], original[masks[name]])
        assert (layer.weight[~masks[name]] == 0).all()
    assert all(torch.equal(t, before[name]) for name, t in init.state_dict().items())
    # and the training of a round starts exactly there: the weights at step 0
    _, row, _ = train_round(init, masks, DATA, keep_steps=[0], every=4, **RECIPE)
    assert same(row["kept"][0], rewound)


def test_random_like_keeps_the_counts_per_layer_at_other_places():
    masks = prune_round(tiny(1), full(tiny()), 0.6)
    shuffled = random_like(masks, seed=3)
    assert {name: int(m.sum()) for name, m in shuffled.items()} == {name: int(m.sum()) for name, m in masks.items()}
    assert any(not torch.equal(shuffled[name], masks[name]) for name in masks)
    assert all(torch.equal(shuffled[name], random_like(masks, seed=3)[name]) for name in masks)


def random_masks(net, shares, seed=0):
    """Exactly round(share · n) kept weights per layer, at random places; `shares` by layer name."""
    generator, masks = torch.Generator().manual_seed(seed), {}
    for name, layer in prunable_layers(net, include_output=True).items():
        keep = torch.zeros(layer.weight.numel(), dtype=torch.bool)
        keep[torch.randperm(len(keep), generator=generator)[:round(shares[name] * len(keep))]] = True
        masks[name] = keep.view_as(layer.weight)
    return masks


def test_rescaling_multiplies_each_layers_survivors_by_one_over_the_root_of_its_density():
    net = tiny(2)
    before = {name: t.clone() for name, t in net.state_dict().items()}
    masks = random_masks(net, {"0": 0.25, "2": 0.5, "4": 1.0}, seed=1)
    assert densities(masks) == {"0": 160 / 640, "2": 256 / 512, "4": 1.0}
    rescaled = rescale_to_density(net, masks)
    for name, layer in prunable_layers(rescaled, include_output=True).items():
        factor = {"0": 2.0, "2": 2 ** 0.5, "4": 1.0}[name]
        assert torch.allclose(layer.weight, before[f"{name}.weight"] * masks[name] * factor, rtol=1e-6, atol=0)
    assert all(torch.equal(t, before[name]) for name, t in net.state_dict().items())  # the start is not modified
    assert same(rescale_to_density(net, {name: torch.ones_like(m) for name, m in masks.items()}), net)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_rescaling_gives_a_thinned_default_init_the_dense_ones_weight_variance_and_logit_size(seed):
    """At 5% of the hidden weights PyTorch's default init thinned as is starts with logits hundreds of times
    smaller than the dense network's; rescaled by 1/sqrt(density) its mean square weight per layer and its logits'
    root mean square are the dense init's (the logits within a factor 1.6: ReLU units and 10 outputs are noisy)."""
    torch.manual_seed(seed)
    net = make_mlp((512, 512, 256), inputs=400, classes=10)
    masks = random_masks(net, {"0": 0.05, "2": 0.05, "4": 0.05, "6": 0.2}, seed=seed)
    images = torch.randn(2000, 400, generator=torch.Generator().manual_seed(seed + 10))
    rescaled, thinned = rescale_to_density(net, masks), rewind_to(net, masks)
    square = lambda model: {n: layer.weight.pow(2).mean().item() for n, layer in prunable_layers(model, True).items()}
    dense_square, rescaled_square = square(net), square(rescaled)
    for name in ("0", "2", "4"):  # 10,000 or more weights kept: the mean square is known to a few percent
        assert rescaled_square[name] == pytest.approx(dense_square[name], rel=0.1)
    assert rescaled_square["6"] == pytest.approx(dense_square["6"], rel=0.25)  # 512 weights kept
    with torch.no_grad():
        size = {name: model(images).pow(2).mean().sqrt().item()
                for name, model in (("dense", net), ("rescaled", rescaled), ("thinned", thinned))}
    assert 1 / 1.6 < size["rescaled"] / size["dense"] < 1.6
    assert size["thinned"] / size["dense"] < 0.01  # sqrt(0.05³ · 0.2) = 0.005 in expectation


def test_tickets_have_nested_masks_and_their_table_is_what_was_trained(lot):
    assert len(lot.masks) == len(lot.trained) == len(lot.curves) == 4
    assert all(m.all() for m in lot.masks[0].values())
    for before, after in zip(lot.masks, lot.masks[1:]):
        assert all(not (after[name] & ~before[name]).any() for name in after)
        assert all(int(after[name].sum()) < int(before[name].sum()) for name in ("0", "2"))
    assert lot.table["round"].tolist() == [0, 1, 2, 3]
    assert (lot.table["branch"] == "ticket").all()
    for r, row in lot.table.iterrows():
        net = lot.trained[r]
        assert row["remaining"] == pytest.approx(remaining(lot.masks[r], net))
        assert row["accuracy"] == evaluate(net, DATA.test)
        assert torch.equal(lot.correct[r], correct(net, DATA.test)) and "correct" not in lot.table
        for name, layer in prunable_layers(net, include_output=True).items():
            assert (layer.weight[~lot.masks[r][name]] == 0).all()
        curve = lot.curves[r]
        assert curve["step"].tolist() == [0, 4, 8, 12, 16]
        assert row["early_stop"] == curve.loc[curve["validation_loss"].idxmin(), "step"]
    # 0.5 per round on the hidden layers, 0.25 on the output
    assert int(lot.masks[1]["0"].sum()) == 640 - 320 and int(lot.masks[1]["4"].sum()) == 80 - 20
    assert same(lot.start, lot.init)


def test_late_rewinding_goes_back_to_the_weights_after_that_many_steps_of_round_0():
    init = tiny()
    late = find_tickets(init, DATA, rounds=1, rate=0.5, rewind=5, keep_steps=[3], every=4, progress=False, **RECIPE)
    seen = {}
    again = rewind_to(init, full(init))
    fit(again, DATA.train, seed=0, progress=False, every=1,
        callback=lambda step, net: seen.setdefault(step, rewind_to(net, {})), **{**LOTTERY, **RECIPE})
    assert same(late.start, seen[5]) and not same(late.start, init)
    assert same(late.trained[0], again)
    assert sorted(late.snapshots) == [3, 5] and same(late.snapshots[3], seen[3])


@pytest.mark.parametrize("kind", BRANCHES)
def test_each_branch_changes_only_what_it_claims_to(lot, kind, monkeypatch):
    calls = []
    real = lottery.train_round

    def spy(start, masks, data, seed=0, every=lottery.EVERY, keep_steps=(), **recipe):
        calls.append(dict(start=start, masks=masks, data=data, seed=seed, recipe=recipe))
        net, row, curve = real(start, masks, data, seed, every, keep_steps, **recipe)
        calls[-1]["net"] = net
        return net, row, curve

    monkeypatch.setattr(lottery, "train_round", spy)
    table, curves, tested = branch(lot, kind, rounds=[2], step=6 if kind == "late rewind" else None, progress=False)
    (call,) = calls
    assert len(curves) == len(tested) == 1 and torch.equal(tested[0], correct(call["net"], DATA.test))
    assert table["accuracy"].iloc[0] == evaluate(call["net"], DATA.test) and "correct" not in table
    assert call["seed"] == lot.seed and call["data"] is lot.data and call["recipe"] == lot.recipe  # same order, recipe
    ticket = lot.masks[2]
    counts = {name: int(m.sum()) for name, m in ticket.items()}
    assert {name: int(m.sum()) for name, m in call["masks"].items()} == counts
    same_mask = all(torch.equal(call["masks"][n], ticket[n]) for n in ticket)
    if kind == "reinitialised":
        assert same_mask
        assert same(call["start"], restart_network(lot.init, lot.seed))
        assert all(not torch.equal(a, b) for a, b in zip(call["start"].parameters(), lot.init.parameters()))
    elif kind == "reinitialised, rescaled":
        assert same_mask
        assert same(call["start"], rescale_to_density(restart_network(lot.init, lot.seed), ticket))
        assert not same(call["start"], rewind_to(restart_network(lot.init, lot.seed), ticket))
    elif kind == "random mask":
        assert not same_mask and call["start"] is lot.start
    elif kind == "no rewind":
        assert same_mask and call["start"] is lot.trained[1]
    else:
        assert same_mask and call["start"] is lot.snapshots[6] and not same(lot.snapshots[6], lot.init)
    assert table["branch"].tolist() == [kind] and table["round"].tolist() == [2]
    assert table["remaining"].iloc[0] == pytest.approx(lot.table["remaining"].iloc[2])


def test_finding_tickets_modifies_neither_the_initial_network_nor_its_file(tmp_path, monkeypatch):
    monkeypatch.setenv("PRUNING_MNIST_HOME", str(tmp_path))
    save_checkpoint(initial_network(4, torch.device("cpu")), initial_path(4), seed=4)
    written = initial_path(4).read_bytes()
    init = initial_weights(4, device=torch.device("cpu"))
    before = {name: t.clone() for name, t in init.state_dict().items()}
    small = MNIST(*(Split(torch.randn(len(s), 784), s.labels) for s in DATA))
    find_tickets(init, small, rounds=1, every=8, progress=False, **RECIPE)
    assert all(torch.equal(t, before[name]) for name, t in init.state_dict().items())
    assert initial_path(4).read_bytes() == written


def test_missing_or_foreign_initial_weights_say_how_to_fix_it(tmp_path, monkeypatch):
    monkeypatch.setenv("PRUNING_MNIST_HOME", str(tmp_path))
    with pytest.raises(CheckpointError, match=r"initial weights .* are missing.*retrain=True"):
        initial_weights(1)
    save_checkpoint(make_mlp((30,)), initial_path(1), seed=1)
    with pytest.raises(CheckpointError, match="architecture"):
        initial_weights(1)


@pytest.mark.parametrize("rate", [0, 1, -0.2, 1.5, float("nan"), True, "0.2"])
def test_a_rate_outside_0_1_is_refused(rate):
    with pytest.raises(ValueError, match="strictly between 0 and 1"):
        find_tickets(tiny(), DATA, rate=rate, progress=False)
    with pytest.raises(ValueError, match="strictly between 0 and 1"):
        prune_round(tiny(), full(tiny()), rate)


@pytest.mark.parametrize("rounds", [0, -1, 1.5, True])
def test_zero_rounds_are_refused(rounds):
    with pytest.raises(ValueError, match="rounds must be a positive integer"):
        find_tickets(tiny(), DATA, rounds=rounds, progress=False)


@pytest.mark.parametrize("rewind", [17, -1, "start", 2.0, True])
def test_a_rewind_step_beyond_the_training_is_refused(rewind):
    with pytest.raises(ValueError, match=r"rewind must be 'init' or .* \[0, 16\]"):
        find_tickets(tiny(), DATA, rewind=rewind, progress=False, **RECIPE)
    assert check_rewind(16, 16) == 16 and check_rewind("init", 16) == 0


def test_other_bad_input_names_the_problem(lot):
    with pytest.raises(ValueError, match="scope must be one of"):
        find_tickets(tiny(), DATA, scope="row", progress=False)
    with pytest.raises(ValueError, match="reads 30 inputs, the images have 20"):
        find_tickets(make_mlp((8,), inputs=30, classes=5), DATA, progress=False)
    with pytest.raises(ValueError, match="kind must be one of"):
        branch(lot, "shuffled")
    with pytest.raises(ValueError, match=r"rounds must be integers in \[1, 3\]"):
        branch(lot, "no rewind", rounds=[0])
    with pytest.raises(ValueError, match=r"after 5 steps were not kept \(kept: \[0, 6\]\).*keep_steps=\[5\]"):
        branch(lot, "late rewind", step=5)
    with pytest.raises(ValueError, match="step is the rewind point of 'late rewind'"):
        branch(lot, "no rewind", step=6)
    with pytest.raises(ValueError, match=r"rewind must be 'init' or .* \[0, 16\]"):
        find_tickets(tiny(), DATA, keep_steps=[40], progress=False, **RECIPE)
    with pytest.raises(ValueError, match="must cover every Linear layer"):
        prune_round(tiny(), {"0": full(tiny())["0"]}, 0.2)

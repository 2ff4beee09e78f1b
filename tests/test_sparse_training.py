"""helpers.sparse_training on tiny synthetic data: the cubic schedule's exact counts at every pruning step, RigL's
update (count kept exactly, drop by magnitude, grow by gradient, grown weights at zero, nothing revived that it did
not grow) directly and at every step of training, masked weights exactly zero, the FLOP count, the optimizer's state,
and bad input (an update interval longer than training, shares outside (0, 100], the caller's network unchanged)."""

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from helpers import sparse_training
from helpers.at_init import kept_count, snip_masks
from helpers.data import Split
from helpers.model import linear_layers, make_mlp
from helpers.pruning import prunable_layers
from helpers.sparse_training import (GradualMagnitude, RigL, _reset_state, cubic_keep, layer_keeps, rigl_fraction,
                                     train_sparse, training_flops)

N, BATCH = 240, 20  # 12 steps per epoch


def toy(n=N, seed=0, features=10):
    generator = torch.Generator().manual_seed(seed)
    images = torch.randn(n, features, generator=generator)
    return Split(images, images[:, :4].argmax(1))


def tiny(seed=0):
    torch.manual_seed(seed)
    return make_mlp((24, 16), inputs=10, classes=4)


def state(net):
    return {name: tensor.clone() for name, tensor in net.state_dict().items()}


def masked_weights_are_zero(net, masks):
    layers = dict(linear_layers(net))
    return all(bool((layers[name].weight[~mask] == 0).all()) for name, mask in masks.items())


# ---------------------------------------------------------------- schedules


def test_cubic_schedule_and_rigl_fraction():
    assert cubic_keep(0, 10, 20, 5) == 100 and cubic_keep(25, 10, 20, 5) == 5
    assert cubic_keep(15, 10, 20, 5) == pytest.approx(5 + 95 * 0.5**3)
    values = [cubic_keep(t, 0, 100, 1) for t in range(0, 101)]
    assert all(a >= b for a, b in zip(values, values[1:]))
    assert rigl_fraction(0, 0.3, 100) == pytest.approx(0.3)
    assert rigl_fraction(25, 0.3, 100) == pytest.approx(0.15 * (1 + math.cos(math.pi / 4)))
    assert rigl_fraction(100, 0.3, 100) == 0 and rigl_fraction(150, 0.3, 100) == 0


def test_erk_shares_out_the_budget_exactly_and_keeps_small_layers_denser():
    net = make_mlp()
    keeps = layer_keeps(net, 1, "erk")
    sizes = {name: layer.weight.numel() for name, layer in prunable_layers(net).items()}
    assert sum(keeps[n] / 100 * sizes[n] for n in sizes) == pytest.approx(0.01 * sum(sizes.values()))
    assert keeps["6"] > keeps["4"] > keeps["0"] > keeps["2"]
    capped = layer_keeps(make_mlp((100, 5)), 50, "erk", include_output=True)
    assert max(capped.values()) == 100.0
    assert layer_keeps(net, {"0": 10, "8": 50}) == {"0": 10, "8": 50}


# ---------------------------------------------------------------- gradual magnitude pruning


def test_gradual_pruning_counts_are_exact_at_every_pruning_step_and_pruned_weights_stay_zero():
    net, keep, epochs = tiny(), 10.0, 3
    total = epochs * N // BATCH
    seen = []

    def check(step, trained, masks):
        assert masked_weights_are_zero(trained, masks)
        seen.append({name: mask.clone() for name, mask in masks.items()})

    run = train_sparse(net, toy(), "gradual", keep, epochs=epochs, batch_size=BATCH, progress=False,
                       callback=check, start=0.25, end=0.75, interval=3)
    start, end = round(0.25 * total), round(0.75 * total)
    pruning_steps = sorted(set(run.updates["step"]))
    assert pruning_steps == [s for s in range(start + 1, end + 1) if (s - start) % 3 == 0 or s == end]
    for row in run.updates.itertuples():
        numel = dict(linear_layers(net))[row.layer].weight.numel()
        assert row.kept == kept_count(cubic_keep(row.step, start, end, keep), numel)
        # the masks seen after step s were set before step s (s = row.step): seen[s + 1]
        assert int(seen[row.step + 1][row.layer].sum()) == row.kept
    for before, after in zip(seen, seen[1:]):
        assert all(not (after[k] & ~before[k]).any() for k in after)  # never revived
    assert {k: int(m.sum()) for k, m in run.masks.items()} == {
        name: round(keep / 100 * layer.weight.numel()) for name, layer in prunable_layers(net).items()}
    assert masked_weights_are_zero(run.net, run.masks)


@pytest.mark.parametrize("distribution", ["uniform", "erk"])
def test_gradual_pruning_from_a_sparse_start_begins_at_random_masks_and_follows_the_schedule_down(distribution):
    net, keep, initial, epochs = tiny(), 5.0, 40.0, 3
    total = epochs * N // BATCH
    seen = []
    run = train_sparse(net, toy(), "gradual", keep, epochs=epochs, batch_size=BATCH, progress=False, interval=2,
                       start=0.25, end=0.75, initial=initial, distribution=distribution, seed=3,
                       callback=lambda step, trained, masks: seen.append({k: m.clone() for k, m in masks.items()}))
    layers = dict(linear_layers(net))
    first, last = layer_keeps(net, initial, distribution), layer_keeps(net, keep, distribution)
    start, end = round(0.25 * total), round(0.75 * total)
    for name, share in first.items():  # before the first step: exactly the initial share, at seeded random places
        assert int(seen[0][name].sum()) == kept_count(share, layers[name].weight.numel())
    assert {k: int(m.sum()) for k, m in seen[0].items()} != {k: m.numel() for k, m in seen[0].items()}
    assert all(torch.equal(seen[0][k], m) for k, m in sparse_training.random_masks(net, first, seed=3).items())
    for row in run.updates.itertuples():
        numel = layers[row.layer].weight.numel()
        assert row.kept == kept_count(cubic_keep(row.step, start, end, last[row.layer], first[row.layer]), numel)
    for before, after in zip(seen, seen[1:]):
        assert all(not (after[k] & ~before[k]).any() for k in after)  # it only prunes
    assert {k: int(m.sum()) for k, m in run.masks.items()} == {
        name: kept_count(share, layers[name].weight.numel()) for name, share in last.items()}
    # the cost counts the sparse start: less than the same schedule from the dense network
    dense_start = train_sparse(net, toy(), "gradual", keep, epochs=epochs, batch_size=BATCH, progress=False,
                               interval=2, start=0.25, end=0.75, distribution=distribution)
    assert run.flops < dense_start.flops


def test_a_sparse_start_below_the_share_kept_is_refused():
    with pytest.raises(ValueError, match="initial .* keeps fewer weights than keep"):
        GradualMagnitude(tiny(), 20, 100, initial=10)
    assert cubic_keep(5, 0, 10, 10, initial=50) == pytest.approx(10 + 40 * 0.5**3)
    assert cubic_keep(0, 0, 10, 10, initial=50) == 50 and cubic_keep(10, 0, 10, 10, initial=50) == 10


def test_gradual_pruning_prunes_the_smallest_magnitudes_of_the_living():
    net = tiny()
    schedule = GradualMagnitude(net, 50, total_steps=10, start=0.0, end=0.2, interval=1)
    assert schedule.update(2, net)
    for name, mask in schedule.masks.items():
        weight = dict(linear_layers(net))[name].weight.detach().abs()
        assert weight[mask].min() >= weight[~mask].max()
        assert int(mask.sum()) == round(0.5 * mask.numel())
    assert not schedule.update(5, net)  # after `end`: nothing changes


# ---------------------------------------------------------------- RigL


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 2**31 - 1), st.floats(2, 80), st.floats(0.05, 1.0), st.booleans())
def test_rigl_update_keeps_the_count_drops_by_magnitude_grows_by_gradient_from_zero(seed, keep, alpha, ties):
    torch.manual_seed(seed)
    net = tiny(seed % 1000)
    rigl = RigL(net, keep, total_steps=100, interval=10, alpha=alpha, distribution="uniform", seed=seed)
    before = {k: m.clone() for k, m in rigl.masks.items()}
    layers = dict(linear_layers(net))
    with torch.no_grad():
        for name, mask in before.items():
            layers[name].weight.mul_(mask)
    grads = {name: torch.randn(layers[name].weight.shape) for name in before}
    if ties:  # many equal gradients and weights: the choice must still be exact and deterministic
        grads = {k: g.round() for k, g in grads.items()}
        with torch.no_grad():
            for name in before:
                layers[name].weight.copy_(layers[name].weight.sign() * 0.1)
    weights = {name: layers[name].weight.detach().clone() for name in before}
    assert rigl.update(10, net, grads)
    fraction = rigl_fraction(10, alpha, 75)
    for name, old in before.items():
        new, grown = rigl.masks[name], rigl.grown[name]
        assert int(new.sum()) == int(old.sum())                      # the count, exactly
        assert torch.equal(grown, new & ~old)                        # nothing revived that it did not grow
        # independently, by stable sorts: the survivors are the active weights of largest magnitude, the
        # grown ones the others of largest gradient magnitude (a just-dropped weight may come back, unchanged)
        count = round(fraction * int(old.sum()))
        magnitude = torch.where(old, weights[name].abs(), torch.tensor(-math.inf)).flatten()
        survivors = torch.zeros(old.numel(), dtype=torch.bool)
        survivors[torch.argsort(-magnitude, stable=True)[: int(old.sum()) - count]] = True
        growth = torch.where(survivors, torch.tensor(-math.inf), grads[name].abs().flatten())
        chosen = torch.zeros(old.numel(), dtype=torch.bool)
        chosen[torch.argsort(-growth, stable=True)[:count]] = True
        assert torch.equal(new.flatten(), survivors | chosen)
        assert (layers[name].weight[grown] == 0).all()               # grown weights start at zero
        assert (layers[name].weight[~new] == 0).all()
        assert torch.equal(layers[name].weight[new & old], weights[name][new & old])  # the others untouched


def test_rigl_never_updates_off_schedule():
    net = tiny()
    rigl = RigL(net, 20, total_steps=100, interval=10)
    grads = {name: torch.ones_like(layer.weight) for name, layer in prunable_layers(net).items()}
    assert [s for s in range(100) if rigl.wants_gradient(s)] == [10, 20, 30, 40, 50, 60, 70]
    assert not rigl.update(15, net, grads) and not rigl.update(0, net, grads) and not rigl.update(80, net, grads)
    with pytest.raises(ValueError, match="dense gradient"):
        rigl.update(10, net, None)


def test_rigl_in_training_keeps_the_count_at_every_step_and_revives_only_what_it_grew():
    net, keep = tiny(), 15.0
    seen, weights = [], []

    def check(step, trained, masks):
        assert masked_weights_are_zero(trained, masks)
        seen.append({name: mask.clone() for name, mask in masks.items()})
        weights.append({name: layer.weight.detach().clone() for name, layer in linear_layers(trained)})

    run = train_sparse(net, toy(), "rigl", keep, epochs=4, batch_size=BATCH, progress=False, callback=check,
                       interval=4, alpha=0.5, distribution="uniform")
    counts = {name: round(keep / 100 * layer.weight.numel()) for name, layer in prunable_layers(net).items()}
    update_steps = set(run.updates["step"])
    assert update_steps == {4, 8, 12, 16, 20, 24, 28, 32}  # T_end = 0.75 * 48 = 36
    assert run.updates["grown"].sum() > 0
    for step, (before, after) in enumerate(zip(seen, seen[1:])):  # `after` is seen once step `step` was taken
        assert {k: int(m.sum()) for k, m in after.items()} == counts
        revived = {k: after[k] & ~before[k] for k in after}
        if step not in update_steps:
            assert not any(r.any() for r in revived.values())
        else:  # the update step changes the masks, not the weights: the grown weights are still exactly zero
            assert all((weights[step + 1][k][revived[k]] == 0).all() for k in revived)
    assert masked_weights_are_zero(run.net, run.masks)


def test_rigl_can_start_from_given_masks():
    net = tiny()
    masks = snip_masks(net, 10, toy(40))
    rigl = RigL(net, 10, total_steps=50, interval=5, masks=masks)
    assert all(torch.equal(rigl.masks[k], masks[k]) for k in masks)


# ---------------------------------------------------------------- cost


def test_flops_are_counted_from_the_masks_at_every_step():
    net, epochs = tiny(), 2
    dense = train_sparse(net, toy(), "fixed", epochs=epochs, batch_size=BATCH, progress=False)
    assert dense.flops == training_flops(net, None, N * epochs) == 3 * (10 * 24 + 24 * 16 + 16 * 4) * N * epochs
    masks = snip_masks(net, 10, toy(40))
    fixed = train_sparse(net, toy(), "fixed", epochs=epochs, batch_size=BATCH, progress=False, masks=masks)
    assert fixed.flops == training_flops(net, masks, N * epochs)
    assert fixed.history["flops"].iloc[-1] == fixed.flops
    rigl = train_sparse(net, toy(), "rigl", 10, epochs=epochs, batch_size=BATCH, progress=False, interval=3,
                        distribution="uniform")
    kept = sum(round(0.1 * layer.weight.numel()) for layer in prunable_layers(net).values()) + 16 * 4
    total_weights = sum(layer.weight.numel() for _, layer in linear_layers(net))
    updates = rigl.updates["step"].nunique()
    steps = epochs * N // BATCH
    assert rigl.flops == ((steps - updates) * 3 * kept + updates * (2 * kept + total_weights)) * BATCH
    assert rigl.flops < dense.flops / 3


def test_the_optimizer_state_is_reset_outside_the_mask():
    weight = torch.nn.Parameter(torch.ones(2, 3))
    optimizer = torch.optim.AdamW([weight], lr=0.1)
    weight.grad = torch.ones(2, 3)
    optimizer.step()
    mask = torch.tensor([[1.0, 0, 1], [0, 1, 1]])
    _reset_state(optimizer, weight, mask)
    for key in ("exp_avg", "exp_avg_sq"):
        assert (optimizer.state[weight][key][mask == 0] == 0).all()
        assert (optimizer.state[weight][key][mask == 1] != 0).all()


# ---------------------------------------------------------------- bad input


def test_a_rigl_update_interval_longer_than_training_is_a_clear_error():
    with pytest.raises(ValueError, match="interval.*smaller interval.*train longer"):
        RigL(tiny(), 10, total_steps=50, interval=100)
    with pytest.raises(ValueError, match="smaller interval"):
        train_sparse(tiny(), toy(), "rigl", 10, epochs=1, batch_size=BATCH, progress=False, interval=12)


@pytest.mark.parametrize("method", ["gradual", "rigl"])
@pytest.mark.parametrize("keep", [0, -5, 101, math.nan])
def test_a_share_outside_0_100_is_a_clear_error(method, keep):
    with pytest.raises(ValueError, match=r"\(0, 100\].*keep=1"):
        train_sparse(tiny(), toy(), method, keep, epochs=1, batch_size=BATCH, progress=False, interval=2)


def test_bad_settings_are_clear_errors():
    with pytest.raises(ValueError, match="method must be one of"):
        train_sparse(tiny(), toy(), "snip", 10, progress=False)
    with pytest.raises(ValueError, match="start and end"):
        GradualMagnitude(tiny(), 10, 100, start=0.8, end=0.5)
    with pytest.raises(ValueError, match="distribution"):
        layer_keeps(tiny(), 10, "normal")
    with pytest.raises(ValueError, match="optimizer"):
        train_sparse(tiny(), toy(), "fixed", epochs=1, progress=False, optimizer="lbfgs")
    with pytest.raises(ValueError, match="interval"):
        RigL(tiny(), 10, 100, interval=0)


@pytest.mark.parametrize("method", sparse_training.METHODS)
def test_the_network_passed_in_is_never_modified(method):
    net = tiny()
    before = state(net)
    options = dict(interval=2) if method != "fixed" else {}
    masks = snip_masks(net, 20, toy(40)) if method == "fixed" else None
    run = train_sparse(net, toy(), method, 20, epochs=1, batch_size=BATCH, progress=False, masks=masks, **options)
    assert all(torch.equal(before[k], v) for k, v in net.state_dict().items())
    assert all(p.grad is None for p in net.parameters())
    assert run.net is not net
    assert any(not torch.equal(before[k], v) for k, v in run.net.state_dict().items())

"""helpers.retraining on small synthetic data: fine-tuning, schedules, controls."""

import pandas as pd
import pytest
import torch

from helpers.model import make_mlp
from helpers.pruning import masks_for, prune, weight_masks
from helpers.retraining import (FINE_TUNE, check_schedule, chosen_recipe, compare_fine_tuning, cubic_schedule, fine_tune,
                                from_scratch, iterative_prune, kept_in_common, random_masks, rewound)
from helpers.stats import standard_error
from toys import toy, trained_toy, untouched  # tests/ is on sys.path under pytest

from helpers.training import evaluate, initial_network


@pytest.fixture(scope="module")
def trained():
    return trained_toy()


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_fine_tune_keeps_pruned_weights_exactly_zero(trained, optimizer):
    """After every optimizer step, with momentum / Adam state and weight decay, pruned weights stay 0."""
    net, before = trained
    masks = weight_masks(net, 70)
    tuned, history = fine_tune(net, masks, toy(), toy(100, 2), epochs=3, lr=0.05, weight_decay=1e-2,
                               optimizer=optimizer)
    for name, mask in masks.items():
        weight = tuned.get_submodule(name).weight
        assert (weight[~mask] == 0).all(), name
        assert (weight[mask] != 0).all(), name
    assert len(history) == 3
    assert untouched(net, before)
    # and the kept weights did move
    assert not torch.equal(tuned[0].weight, prune(net, 70)[0].weight)


def test_fine_tune_recovers_accuracy(trained):
    net, _ = trained
    test = toy(300, 3)
    masks = masks_for(net, 90, "unit")
    tuned, _ = fine_tune(net, masks, toy(), epochs=4, lr=0.05)
    assert evaluate(tuned, test) > evaluate(prune(net, 90, "unit"), test)


def test_compacted_fine_tuning_is_the_same_function_at_start_and_smaller(trained):
    net, _ = trained
    masks = masks_for(net, 50, "unit")
    small, _ = fine_tune(net, masks, toy(), epochs=1, lr=1e-9, compacted=True)
    assert [m.weight.shape for m in small if isinstance(m, torch.nn.Linear)] == [(16, 20), (8, 16), (5, 8)]
    x = toy(50, 4).images
    assert torch.allclose(small(x), prune(net, 50, "unit")(x), atol=1e-4)
    with pytest.raises(ValueError, match="needs unit masks"):
        fine_tune(net, masks_for(net, 50, "weight"), toy(), compacted=True)


def test_bad_masks_and_epochs(trained):
    net, before = trained
    with pytest.raises(ValueError, match=r"shape \(2, 2\)"):
        fine_tune(net, {"0": torch.ones(2, 2, dtype=torch.bool)}, toy())
    with pytest.raises(ValueError, match="epochs must be a positive integer, got 0"):
        fine_tune(net, weight_masks(net, 50), toy(), epochs=0)
    assert untouched(net, before)


def test_iterative_pruning_follows_the_schedule_and_nests(trained):
    net, before = trained
    final, rounds = iterative_prune(net, [30, 60, 80], toy(), toy(100, 5), "weight", epochs=1, lr=0.05)
    assert rounds["k"].tolist() == [30, 60, 80]
    prunable = 20 * 32 + 32 * 16
    nonzero = sum(int((final.get_submodule(n).weight != 0).sum()) for n in ("0", "2"))
    assert nonzero == prunable - round(0.8 * 640) - round(0.8 * 512)
    assert untouched(net, before)


@pytest.mark.parametrize("schedule", [[50, 40], [50, 50], [], [10, 120], ["a"]])
def test_bad_schedules(trained, schedule):
    net, before = trained
    with pytest.raises((ValueError, TypeError)):
        iterative_prune(net, schedule, toy(), toy(), epochs=1)
    assert untouched(net, before)


def test_cubic_schedule():
    schedule = cubic_schedule(99, 5)
    assert schedule[-1] == 99 and check_schedule(schedule) == schedule
    steps = [b - a for a, b in zip([0] + schedule, schedule)]
    assert steps == sorted(steps, reverse=True)  # prunes most at first
    with pytest.raises(ValueError):
        cubic_schedule(99, 0)
    with pytest.raises(ValueError):
        cubic_schedule(101, 3)


@pytest.mark.parametrize("method", ["weight", "unit"])
def test_random_masks_have_the_same_counts(trained, method):
    net, _ = trained
    ours, random = masks_for(net, 70, method), random_masks(net, 70, method, seed=1)
    for name in ours:
        assert (~ours[name]).sum() == (~random[name]).sum()
        if method == "unit":
            assert torch.equal(random[name].all(dim=1), random[name].any(dim=1))
    assert any(not torch.equal(ours[n], random[n]) for n in ours)


def test_from_scratch_keeps_the_sparse_architecture(trained):
    net, _ = trained
    masks = weight_masks(net, 80)
    fresh, history = from_scratch(net, masks, toy(), toy(100, 6), epochs=2, lr=0.05)
    for name, mask in masks.items():
        weight = fresh.get_submodule(name).weight
        assert (weight[~mask] == 0).all() and not torch.equal(weight, net.get_submodule(name).weight * mask)
    assert len(history) == 2
    # a random restart, never the baseline's own start: its initial weights are restart_network's
    assert not torch.equal(fresh.get_submodule("0").weight, net.get_submodule("0").weight)


def test_rewound_starts_from_the_baselines_initial_weights():
    start = initial_network(5, torch.device("cpu"))
    masks = weight_masks(start, 90)
    trained, history = rewound(5, masks, toy(64, 1, 784), toy(32, 2, 784), device=torch.device("cpu"),
                               epochs=1, lr=1e-9, weight_decay=0.0, l1=0.0, momentum=0.0, batch_size=64)
    # one step with a learning rate of 1e-9 changes nothing visible: the start was the masked initialisation
    for name, mask in masks.items():
        expected = start.get_submodule(name).weight * mask
        assert torch.allclose(trained.get_submodule(name).weight, expected, atol=1e-6)
        assert (trained.get_submodule(name).weight[~mask] == 0).all()
    assert len(history) == 1


def test_compare_fine_tuning_scores_each_setting_on_validation(trained):
    net, before = trained
    masks, train, validation = weight_masks(net, 70), toy(), toy(150, 7)
    settings = {"FINE_TUNE": {"epochs": 1}, "lr 0.2": {"epochs": 1, "lr": 0.2}}
    table = compare_fine_tuning(net, masks, train, validation, settings, seed=3)
    assert table.index.tolist() == ["FINE_TUNE", "lr 0.2"]
    assert table["lr"].tolist() == [FINE_TUNE["lr"], 0.2] and table["epochs"].tolist() == [1, 1]
    right = {}
    for (name, row), overrides in zip(table.iterrows(), settings.values()):
        tuned, _ = fine_tune(net, masks, train, seed=3, **overrides)  # the same run, independently
        right[name] = tuned(validation.images).argmax(1) == validation.labels
        assert row["validation_accuracy"] == evaluate(tuned, validation)
        assert row["standard_error"] == pytest.approx(standard_error(row["validation_accuracy"], 150))
    only_new, only_reference = int((right["lr 0.2"] & ~right["FINE_TUNE"]).sum()), int((~right["lr 0.2"] & right["FINE_TUNE"]).sum())
    assert (table.loc["lr 0.2", "a_only"], table.loc["lr 0.2", "b_only"]) == (only_new, only_reference)
    assert pd.isna(table.loc["FINE_TUNE", "verdict"])  # the reference is not tested against itself
    assert chosen_recipe(table) == ("lr 0.2" if table.loc["lr 0.2", "verdict"] == "higher" else "FINE_TUNE")
    assert untouched(net, before)
    with pytest.raises(ValueError, match="at least one"):
        compare_fine_tuning(net, masks, train, validation, {})


def test_kept_in_common_counts_the_shared_nonzero_weights():
    net = make_mlp((6, 4), inputs=5, classes=3)
    a, b = prune(net, 50, "weight"), prune(net, 50, "weight")
    assert kept_in_common(a, b) == 1.0
    with torch.no_grad():
        first = b.get_submodule("0").weight
        kept = first.nonzero()[:3]
        first[kept[:, 0], kept[:, 1]] = 0  # b drops 3 of the 15 first-layer weights a keeps
    assert kept_in_common(a, b, layer="0") == pytest.approx(12 / 15)
    kept_total = sum(int((a.get_submodule(n).weight != 0).sum()) for n in ("0", "2", "4"))
    assert kept_in_common(a, b) == pytest.approx((kept_total - 3) / kept_total)
    assert kept_in_common(b, a, layer="0") == 1.0
    with pytest.raises(ValueError, match="architecture"):
        kept_in_common(a, make_mlp((6, 5), inputs=5, classes=3))
    with pytest.raises(ValueError, match="no Linear layer"):
        kept_in_common(a, b, layer="1")

"""helpers.when_to_prune on a few random images: every arm keeps exactly its share, masked weights are zero,
the training cost is the sum of its steps, the controls keep SNIP's per-layer counts, nothing cached is modified."""

import pytest
import torch

from helpers import at_init
from helpers.criteria import calibration
from helpers.data import MNIST, Split
from helpers.model import linear_layers
from helpers.pruning import masks_for
from helpers.retraining import FINE_TUNE
from helpers.training import initial_network
from helpers.when_to_prune import ARMS, WHEN, arm_masks, dense_training_flops, train_arm

KEEP = 2.0
HIDDEN_WEIGHTS = 784 * 1000 + 1000 * 1000 + 1000 * 500 + 500 * 200
OUTPUT_WEIGHTS = 200 * 10


def split(n, seed):
    generator = torch.Generator().manual_seed(seed)
    return Split(torch.rand(n, 784, generator=generator), torch.randint(0, 10, (n,), generator=generator))


@pytest.fixture(scope="module")
def data():
    return MNIST(split(256, 0), split(64, 1), split(64, 2))


def nonzero(net):
    return {name: int((layer.weight != 0).sum()) for name, layer in linear_layers(net)}


@pytest.mark.parametrize("arm", [arm for arm in ARMS if WHEN[arm] != "after"])
def test_every_arm_that_trains_from_scratch_keeps_exactly_its_share(arm, data):
    options = {"interval": 1} if WHEN[arm] == "during" else {}  # two steps: update the masks at each
    net, row = train_arm(arm, KEEP, data, seed=1, epochs=1, **options)
    kept = round(KEEP / 100 * HIDDEN_WEIGHTS)
    counts = nonzero(net)
    assert counts["8"] == OUTPUT_WEIGHTS  # the output layer stays dense
    in_masks = round(row["kept_share"] / 100 * (HIDDEN_WEIGHTS + OUTPUT_WEIGHTS)) - OUTPUT_WEIGHTS
    if WHEN[arm] == "during":  # per layer (ERK or uniform), each layer rounds on its own; a weight RigL grew
        assert abs(in_masks - kept) <= 4  # starts at zero, so a few kept weights may still be zero
        assert sum(counts.values()) - OUTPUT_WEIGHTS <= in_masks
    else:  # a global ranking: exactly round(keep% of n), every kept weight trained away from zero
        assert in_masks == kept == sum(counts.values()) - OUTPUT_WEIGHTS
    assert row["when"] == WHEN[arm] and row["epochs"] == 1 and 0 <= row["accuracy"] <= 1


def test_the_cost_of_fixed_masks_is_their_steps_plus_the_scoring(data):
    net, row = train_arm("SynFlow", KEEP, data, seed=0, epochs=2)
    fresh = initial_network(0)
    weights = sum(nonzero(net).values())
    expected = 2 * 3 * weights * len(data.train) + at_init.scoring_flops(fresh, "synflow")
    assert row["flops_share"] == pytest.approx(expected / dense_training_flops(fresh, len(data.train)), rel=1e-12)
    assert dense_training_flops(fresh, 10) == 10 * 10 * 3 * (HIDDEN_WEIGHTS + OUTPUT_WEIGHTS)


def test_the_shuffle_control_keeps_snips_per_layer_counts_at_other_places(data):
    fresh = initial_network(0)
    snip = arm_masks("SNIP", fresh, KEEP, data)
    shuffled = arm_masks("SNIP, shuffled", fresh, KEEP, data)
    assert {n: int(m.sum()) for n, m in snip.items()} == {n: int(m.sum()) for n, m in shuffled.items()}
    assert all(not torch.equal(snip[n], shuffled[n]) for n in snip)
    direct = at_init.snip_masks(fresh, KEEP, calibration(data.train, len(data.train)))
    assert all(torch.equal(snip[n], direct[n]) for n in snip)


def test_the_after_arm_prunes_the_trained_network_by_magnitude_and_leaves_it_untouched(data):
    trained = initial_network(3)  # any network stands in for the trained baseline
    before = {name: t.clone() for name, t in trained.state_dict().items()}
    net, row = train_arm("magnitude + fine-tuning", 1.0, data, seed=3, trained=trained, epochs=1)
    assert all(torch.equal(t, before[name]) for name, t in trained.state_dict().items())
    masks = masks_for(trained, 99, "weight")
    assert nonzero(net) == {name: int(masks[name].sum()) if name in masks else OUTPUT_WEIGHTS
                            for name, _ in linear_layers(net)}
    kept = sum(nonzero(net).values())
    dense = HIDDEN_WEIGHTS + OUTPUT_WEIGHTS
    assert row["flops_share"] == pytest.approx(1 + FINE_TUNE["epochs"] * kept / dense / 10, rel=1e-12)
    assert row["epochs"] == 10 + FINE_TUNE["epochs"] and row["when"] == "after"


def test_bad_input_is_a_clear_error(data):
    with pytest.raises(ValueError, match="arm must be one of"):
        train_arm("SNAP", 1.0, data)
    with pytest.raises(ValueError, match=r"\(0, 100\]"):
        train_arm("SNIP", 0, data)
    with pytest.raises(ValueError, match="does not prune before training"):
        arm_masks("RigL", initial_network(0), 1.0, data)

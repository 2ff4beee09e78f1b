"""helpers.experiments for 03's collapse analysis: one layer at a time, and what the removed units did."""

import pytest
import torch
from torch import nn

from helpers.data import Split
from helpers.experiments import per_layer_sweep, removed_units, unit_activity
from helpers.model import make_mlp
from helpers.pruning import weights_kept
from helpers.training import evaluate


def toy(n=300, seed=0, features=20):
    generator = torch.Generator().manual_seed(seed)
    images = torch.randn(n, features, generator=generator)
    return Split(images, images[:, :5].argmax(1))


def hand_made():
    """2 inputs -> 4 hidden -> 2 hidden -> 2 outputs, with units whose norm and activity disagree.

    Layer 0 rows: unit 0 [1, 0] (norm 1, alive), unit 1 [0.1, 0] (norm 0.1, alive: the smallest norm),
    unit 2 [-3, 0] (norm 3, dead on the images below: they all have x0 >= 0), unit 3 [0, 2] (norm 2, alive).
    """
    net = make_mlp((4, 2), inputs=2, classes=2)
    with torch.no_grad():
        net[0].weight.copy_(torch.tensor([[1.0, 0.0], [0.1, 0.0], [-3.0, 0.0], [0.0, 2.0]]))
        net[2].weight.copy_(torch.tensor([[1.0, 1.0, 1.0, 0.0], [0.0, 0.0, 0.0, -1.0]]))
        net[4].weight.copy_(torch.eye(2))
    images = torch.tensor([[1.0, 1.0], [2.0, 0.0], [0.0, 1.0]])
    return net, images


def independent_activations(net, images):
    """Outputs of every hidden ReLU, by forward hooks on the network itself."""
    outputs = []
    hooks = [module.register_forward_hook(lambda m, i, o: outputs.append(o.detach().clone()))
             for module in net if isinstance(module, nn.ReLU)]
    with torch.no_grad():
        net(images)
    for hook in hooks:
        hook.remove()
    return outputs


def test_unit_activity_counts_exactly_on_a_hand_made_network():
    net, images = hand_made()
    table = unit_activity(net, images)
    layer0 = table[table["layer"] == "0"]
    # unit outputs on the 3 images: u0 = [1, 2, 0], u1 = [.1, .2, 0], u2 = [0, 0, 0], u3 = [2, 0, 2]
    assert layer0["active_images"].tolist() == [2, 2, 0, 2]
    assert layer0["alive"].tolist() == [True, True, False, True]
    assert layer0["energy"].tolist() == pytest.approx([5.0, 0.05, 0.0, 8.0])
    assert layer0["energy_share"].tolist() == pytest.approx([5 / 13.05, 0.05 / 13.05, 0.0, 8 / 13.05])
    assert layer0["norm"].tolist() == pytest.approx([1.0, 0.1, 3.0, 2.0])
    # layer 2: unit 0 = u0 + u1 + u2 = [1.1, 2.2, 0]; unit 1 = relu(-u3) = 0 everywhere
    layer2 = table[table["layer"] == "2"]
    assert layer2["active_images"].tolist() == [2, 0]
    assert layer2["energy"].tolist() == pytest.approx([1.1 ** 2 + 2.2 ** 2, 0.0])
    # a threshold: active only where the output exceeds it
    assert unit_activity(net, images, threshold=1.5).query("layer == '0'")["active_images"].tolist() == [1, 0, 0, 2]


def test_unit_activity_equals_forward_hooks_and_ignores_batch_size():
    torch.manual_seed(0)
    net = make_mlp((32, 16), inputs=20, classes=5)
    images = toy(300).images
    table = unit_activity(net, images)
    batched = unit_activity(net, images, batch_size=7)  # batching changes nothing but rounding
    assert batched["active_images"].tolist() == table["active_images"].tolist()
    assert batched["energy"].to_numpy() == pytest.approx(table["energy"].to_numpy(), rel=1e-6)
    for (name, layer), output in zip([("0", net[0]), ("2", net[2])], independent_activations(net, images)):
        rows = table[table["layer"] == name]
        assert len(rows) == layer.out_features
        assert rows["active_images"].tolist() == (output > 0).sum(dim=0).tolist()
        assert rows["energy"].to_numpy() == pytest.approx(output.double().pow(2).sum(dim=0).numpy())
        assert rows["energy_share"].sum() == pytest.approx(1.0)


def test_unit_activity_rejects_what_it_cannot_read():
    net, images = hand_made()
    with pytest.raises(ValueError, match=r"\[N, features\]"):
        unit_activity(net, images[0])
    with pytest.raises(ValueError, match="Linear and nn.ReLU"):
        unit_activity(nn.Sequential(nn.Linear(2, 3), nn.Tanh(), nn.Linear(3, 2)), images)


def test_removed_units_shows_the_norm_ranking_removing_a_live_unit_and_keeping_a_dead_one():
    net, images = hand_made()
    table = removed_units(net, images, k=25).set_index("layer")  # round(0.25 * 4) = 1 unit, round(0.25 * 2) = 0
    # layer 0: the smallest norm is unit 1 (alive, 0.05 of 13.05 energy); dead unit 2 has norm 3 and stays
    assert table.loc["0"].to_dict() == dict(units=4, alive=3, removed=1, removed_alive=1, removed_dead=0,
                                            kept_dead=1, energy_removed=pytest.approx(100 * 0.05 / 13.05))
    assert table.loc["2"].to_dict() == dict(units=2, alive=1, removed=0, removed_alive=0, removed_dead=0,
                                            kept_dead=1, energy_removed=0.0)
    # at k = 50 layer 0 loses units 1 and 0 (norms 0.1 and 1), both alive, 5.05 of 13.05 energy
    half = removed_units(net, images, k=50).set_index("layer").loc["0"]
    assert (half["removed"], half["removed_alive"], half["kept_dead"]) == (2, 2, 1)
    assert half["energy_removed"] == pytest.approx(100 * 5.05 / 13.05)


def zero_smallest_rows(net, name, k):
    """Independent unit pruning of one layer: zero the round(k% of rows) with the smallest L2 norm."""
    import copy
    pruned = copy.deepcopy(net)
    weight = pruned.get_submodule(name).weight
    count = round(k / 100 * weight.shape[0])
    with torch.no_grad():
        weight[weight.norm(dim=1).sort(stable=True).indices[:count]] = 0
    return pruned


def test_per_layer_sweep_prunes_one_layer_at_a_time():
    torch.manual_seed(0)
    net = make_mlp((32, 16), inputs=20, classes=5)
    before = {name: t.clone() for name, t in net.state_dict().items()}
    data = toy(200, 1)
    table = per_layer_sweep(net, data, 50, "unit")
    assert table["pruned"].tolist() == ["none", "0", "2", "all"]
    # exact weights kept of the compacted networks (20 inputs, 32 and 16 hidden units, 5 classes)
    assert table["weights_kept"].tolist() == [20 * 32 + 32 * 16 + 16 * 5, 20 * 16 + 16 * 16 + 16 * 5,
                                              20 * 32 + 32 * 8 + 8 * 5, 20 * 16 + 16 * 8 + 8 * 5]
    one = {name: zero_smallest_rows(net, name, 50) for name in ("0", "2")}
    both = zero_smallest_rows(one["0"], "2", 50)
    expected = [evaluate(net, data), evaluate(one["0"], data), evaluate(one["2"], data), evaluate(both, data)]
    assert table["accuracy"].tolist() == expected
    assert weights_kept(both) == table["weights_kept"].iloc[-1]
    assert all(torch.equal(t, before[name]) for name, t in net.state_dict().items())
    with pytest.raises(ValueError, match="k must be a percentage"):
        per_layer_sweep(net, data, 120)


def test_compare_at_equal_cost_interpolates_in_log_cost_and_calls_only_real_gaps():
    import math

    import pandas as pd

    from helpers.experiments import compare_at_equal_cost, standard_error
    results = pd.DataFrame({"method": ["weight"] * 3 + ["unit"] * 3, "k": [0, 50, 90, 0, 50, 90],
                            "accuracy": [0.98, 0.98, 0.90, 0.98, 0.96, 0.50],
                            "weights_kept": [1000, 100, 10, 1000, 250, 10]})
    table = compare_at_equal_cost(results, "weights_kept", [100, 250, 1000, 5], n=10_000)
    # weight at 250 weights: between (100, 0.98) and (1000, 0.98): 0.98; unit at 100: between (10, .5) and (250, .96)
    unit_at_100 = 0.5 + (0.96 - 0.5) * math.log(100 / 10) / math.log(250 / 10)
    weight_at_250 = 0.98
    assert table["weight accuracy"].tolist()[:3] == pytest.approx([0.98, weight_at_250, 0.98])
    assert table["unit accuracy"].tolist()[:3] == pytest.approx([unit_at_100, 0.96, 0.98])
    assert math.isnan(table["weight accuracy"].iloc[3]) and pd.isna(table["better"].iloc[3])  # outside the range
    noise = 2 * math.hypot(standard_error(0.98, 10_000), standard_error(0.96, 10_000))
    assert table["noise"].iloc[1] == pytest.approx(noise)
    assert table["better"].tolist()[:3] == ["weight", "weight", "too close to call"]
    # a gap smaller than the noise is no verdict
    close = results.assign(accuracy=[0.98, 0.98, 0.90, 0.98, 0.979, 0.50])
    assert compare_at_equal_cost(close, "weights_kept", [250], n=10_000)["better"].tolist() == ["too close to call"]
    with pytest.raises(ValueError, match="positive"):
        compare_at_equal_cost(results, "weights_kept", [0], n=100)
    with pytest.raises(ValueError, match="lacks the columns"):
        compare_at_equal_cost(results, "flops", [10], n=100)


def test_removed_units_reuses_a_precomputed_activity_table():
    net, images = hand_made()
    activity = unit_activity(net, images)
    assert removed_units(net, None, 50, activity=activity).equals(removed_units(net, images, 50))
    with pytest.raises(ValueError, match="needs images"):
        removed_units(net, None, 50)
    with pytest.raises(ValueError, match="activity has 2 units"):
        removed_units(net, None, 50, activity=activity[activity["unit"] < 2])


def test_energy_unit_masks_prune_the_least_energetic_units_in_the_same_numbers_as_unit_masks():
    from helpers.experiments import energy_unit_masks
    from helpers.pruning import unit_masks
    net, images = hand_made()
    activity = unit_activity(net, images)
    masks = energy_unit_masks(net, activity, 50)
    # layer 0 energies [5, 0.05, 0, 8]: the two smallest are units 2 (dead) and 1; the norm ranking would drop 1 and 0
    assert masks["0"][:, 0].tolist() == [True, False, False, True]
    assert unit_masks(net, 50)["0"][:, 0].tolist() == [False, False, True, True]
    assert masks["2"][:, 0].tolist() == [True, False]  # energies [6.05, 0]
    for name, mask in masks.items():
        assert mask.shape == net.get_submodule(name).weight.shape
        assert torch.equal(mask.all(dim=1), mask.any(dim=1))  # whole rows
        assert (~mask.all(dim=1)).sum() == (~unit_masks(net, 50)[name].all(dim=1)).sum()
    with pytest.raises(ValueError, match="activity has"):
        energy_unit_masks(net, activity[activity["layer"] == "0"], 50)


def test_unit_activity_reports_each_units_largest_output():
    net, images = hand_made()
    assert unit_activity(net, images)["max_output"].tolist() == pytest.approx([2.0, 0.2, 0.0, 2.0, 2.2, 0.0])

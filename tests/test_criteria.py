"""helpers.criteria: every score against an independent computation (autograd, the exact Hessian, hand-worked
examples), exact counts with ties through pruning.rank, and bad input."""

import copy

import pytest
import torch
from hypothesis import given, settings, strategies as st
from torch import nn
from torch.nn import functional as F

from helpers.criteria import (COLOURS, CRITERIA, DATA_AWARE, GLOBAL_ONLY, NEEDS_LABELS, REGISTRY, UNIT_CRITERIA,
                              WEIGHT_CRITERIA, Criterion, calibration, check_criterion, scores, unit_scores,
                              weight_scores)
from helpers.data import Split
from helpers.model import linear_layers, make_mlp
from helpers.pruning import masks_for, rank


def tiny(seed=0, hidden=(6, 5), inputs=4, classes=3):
    torch.manual_seed(seed)
    return make_mlp(hidden, inputs=inputs, classes=classes).double()


def batch(n=32, inputs=4, classes=3, seed=1):
    generator = torch.Generator().manual_seed(seed)
    return Split(torch.randn(n, inputs, generator=generator, dtype=torch.float64),
                 torch.randint(0, classes, (n,), generator=generator))


def forward_by_hand(net, images):
    """Logits and, per hidden layer, (input, post-ReLU output) with gradients kept: no hooks involved."""
    layers = [layer for _, layer in linear_layers(net)]
    x, record = images, []
    for layer in layers[:-1]:
        a = F.relu(x @ layer.weight.T)
        a.retain_grad()
        record.append((x, a))
        x = a
    return x @ layers[-1].weight.T, record


@pytest.mark.parametrize("layer", [0, 1, 2])
def test_obd_curvature_is_the_diagonal_of_the_exact_hessian(layer):
    # In a bias-free ReLU network the logits are piecewise linear in any one layer's weights, so the Hessian
    # of the cross-entropy with respect to that layer equals the Gauss-Newton matrix.
    net, data = tiny(), batch()
    names = [name for name, _ in linear_layers(net)]
    weight = dict(linear_layers(net))[names[layer]].weight.detach()

    def loss(w):
        layers = [module.weight for _, module in linear_layers(net)]
        layers[layer] = w.view_as(weight)
        x = data.images
        for i, matrix in enumerate(layers):
            x = x @ matrix.T
            if i < len(layers) - 1:
                x = F.relu(x)
        return F.cross_entropy(x, data.labels)

    hessian = torch.autograd.functional.hessian(loss, weight.flatten().clone())
    expected = 0.5 * hessian.diagonal().view_as(weight) * weight ** 2
    scores = weight_scores(net, "obd", data.images, include_output=True)
    torch.testing.assert_close(scores[names[layer]], expected)


def test_taylor_is_weight_times_gradient_from_autograd():
    net, data = tiny(), batch()
    reference = copy.deepcopy(net)
    F.cross_entropy(reference(data.images), data.labels).backward()
    scores = weight_scores(net, "taylor", data)
    for name, layer in linear_layers(reference)[:-1]:
        torch.testing.assert_close(scores[name], (layer.weight * layer.weight.grad).abs().detach())


def test_wanda_is_magnitude_times_input_norm():
    net, data = tiny(), batch()
    _, record = forward_by_hand(net, data.images)
    inputs = [data.images] + [a for _, a in record][:-1]
    scores = weight_scores(net, "wanda", data.images)
    for (name, layer), x in zip(linear_layers(net)[:-1], inputs):
        expected = layer.weight.abs() * torch.sqrt((x ** 2).sum(dim=0))[None, :]
        torch.testing.assert_close(scores[name], expected.detach())


def test_lamp_on_hand_worked_examples():
    net = make_mlp((3,), inputs=1, classes=1)
    with torch.no_grad():
        net[0].weight.copy_(torch.tensor([[-2.0], [1.0], [3.0]]))
    # squares 4, 1, 9; ascending 1, 4, 9; sums of the squares at least as large: 14, 13, 9
    torch.testing.assert_close(weight_scores(net, "lamp")["0"].flatten(), torch.tensor([4 / 13, 1 / 14, 9 / 9]))
    with torch.no_grad():
        net[0].weight.copy_(torch.tensor([[2.0], [2.0], [0.0]]))
    # ties: the stable order takes the first 2 first: 0/8 for 0, then 4/8, then 4/4
    torch.testing.assert_close(weight_scores(net, "lamp")["0"].flatten(), torch.tensor([0.5, 1.0, 0.0]))


def test_unit_taylor_is_the_mean_over_images_of_each_images_first_order_change():
    net, data = tiny(), batch()
    scores = unit_scores(net, "taylor", data)
    per_image = []
    for n in range(len(data)):  # one image at a time: its own loss, its own gradient
        logits, record = forward_by_hand(net, data.images[n:n + 1])
        F.cross_entropy(logits, data.labels[n:n + 1]).backward()
        per_image.append([(a * a.grad).abs()[0].detach() for _, a in record])
    for i, (name, _) in enumerate(linear_layers(net)[:-1]):
        torch.testing.assert_close(scores[name], torch.stack([image[i] for image in per_image]).mean(dim=0))


def test_activation_and_apoz_count_exactly():
    net, data = tiny(), batch()
    _, record = forward_by_hand(net, data.images)
    activation, apoz = unit_scores(net, "activation", data.images), unit_scores(net, "apoz", data.images)
    for (name, _), (_, a) in zip(linear_layers(net)[:-1], record):
        torch.testing.assert_close(activation[name], a.mean(dim=0).detach())
        positive = [sum(1 for n in range(len(a)) if a[n, i] > 0) for i in range(a.shape[1])]
        assert apoz[name].tolist() == [count / len(a) for count in positive]


def test_weight_norm_criteria_read_the_right_rows_and_columns():
    net = tiny()
    layers = [layer.weight.detach() for _, layer in linear_layers(net)]
    names = [name for name, _ in linear_layers(net)]
    for i, name in enumerate(names[:-1]):
        torch.testing.assert_close(unit_scores(net, "l1")[name], layers[i].abs().sum(dim=1))
        torch.testing.assert_close(unit_scores(net, "l2_out")[name], layers[i + 1].norm(dim=0))
        torch.testing.assert_close(unit_scores(net, "l2_in_out")[name], layers[i].norm(dim=1) * layers[i + 1].norm(dim=0))
    assert torch.equal(weight_scores(net, "random")["0"], weight_scores(net, "random")["0"])  # seeded
    assert not torch.equal(weight_scores(net, "random", seed=1)["0"], weight_scores(net, "random")["0"])


@settings(max_examples=40, deadline=None)
@given(st.sampled_from([(m, c) for m, names in CRITERIA.items() for c in names]),
       st.floats(0, 100), st.integers(0, 3), st.integers(0, 10_000))
def test_every_criterion_prunes_exactly_round_k_n_with_ties(method_criterion, k, decimals, seed):
    method, criterion = method_criterion
    net = tiny(seed % 7, hidden=(9, 7))
    with torch.no_grad():  # few decimals make many equal weights, hence many equal scores
        for _, layer in linear_layers(net):
            layer.weight.copy_(torch.round(layer.weight, decimals=decimals))
    data = batch(seed=seed)
    scope = "global" if criterion == "lamp" else "layer"
    masks = masks_for(net, k, method, scope, criterion=criterion, data=data)
    if scope == "global":
        total = sum(mask.numel() for mask in masks.values())
        assert sum(int((~mask).sum()) for mask in masks.values()) == round(k / 100 * total)
    else:
        for mask in masks.values():
            groups = mask.shape[0] if method == "unit" else mask.numel()
            pruned = int((~mask).all(dim=1).sum()) if method == "unit" else int((~mask).sum())
            assert pruned == round(k / 100 * groups)
    # nested: what is pruned at k is pruned at every larger k
    larger = masks_for(net, min(100.0, k + 10), method, scope, criterion=criterion, data=data)
    assert all(not (larger[name] & ~mask).any() for name, mask in masks.items())


@pytest.mark.parametrize("method,criterion", [(m, c) for m, names in CRITERIA.items() for c in names])
def test_scoring_never_modifies_the_network(method, criterion):
    net, data = tiny(), batch()
    before = copy.deepcopy(net.state_dict())
    rank(net, method, "global" if criterion == "lamp" else "layer", criterion=criterion, data=data)
    assert all(torch.equal(before[key], value) for key, value in net.state_dict().items())
    assert all(p.grad is None for p in net.parameters())
    assert all(not layer._forward_hooks for _, layer in linear_layers(net))


def test_bad_input_is_refused_with_the_choices_named():
    net, data = tiny(), batch()
    with pytest.raises(ValueError, match="unknown criterion 'size'.*weight criteria are"):
        weight_scores(net, "size")
    with pytest.raises(ValueError, match="'apoz' is a unit criterion"):
        weight_scores(net, "apoz")
    with pytest.raises(ValueError, match="'obd' is a weight criterion"):
        unit_scores(net, "obd")
    for method, names in DATA_AWARE.items():
        for criterion in names:
            with pytest.raises(ValueError, match="needs calibration data from the training split"):
                masks_for(net, 50, method, criterion=criterion)
    with pytest.raises(ValueError, match=r"shape \[N >= 1, 4\], got \(32, 5\)"):
        weight_scores(net, "wanda", torch.randn(32, 5, dtype=torch.float64))
    with pytest.raises(ValueError, match="needs labels"):
        weight_scores(net, "taylor", data.images)
    with pytest.raises(ValueError, match="only makes sense with scope='global'"):
        rank(net, "weight", "layer", criterion="lamp")
    with pytest.raises(ValueError, match="output layer has none"):
        unit_scores(net, "l2_out", include_output=True)
    with pytest.raises(TypeError, match="Split or an image tensor"):
        weight_scores(net, "wanda", [[0.0] * 4])
    assert check_criterion("weight", None) == "magnitude"


class Fails(nn.Module):
    def forward(self, x):
        raise RuntimeError("a failure half-way through the forward pass")


@pytest.mark.parametrize("method,criterion", [("weight", "wanda"), ("weight", "obd"), ("unit", "apoz"),
                                              ("unit", "taylor")])
def test_hooks_are_removed_when_the_forward_pass_fails(method, criterion):
    net = nn.Sequential(nn.Linear(4, 5, bias=False), nn.ReLU(), nn.Linear(5, 5, bias=False), Fails(),
                        nn.Linear(5, 3, bias=False)).double()
    with pytest.raises(RuntimeError, match="half-way"):
        rank(net, method, criterion=criterion, data=batch())
    assert all(not layer._forward_hooks for _, layer in linear_layers(net))


# --- the registry: the public names derived from the records -------------------------------------------------

def test_the_names_derived_from_the_registry_are_what_they_were():
    assert WEIGHT_CRITERIA == ("magnitude", "random", "taylor", "obd", "wanda", "lamp")
    assert UNIT_CRITERIA == ("l2", "l1", "l2_out", "l2_in_out", "activation", "apoz", "taylor")
    assert CRITERIA == {"weight": WEIGHT_CRITERIA, "unit": UNIT_CRITERIA}
    assert DATA_AWARE == {"weight": ("taylor", "obd", "wanda"), "unit": ("activation", "apoz", "taylor")}
    assert GLOBAL_ONLY == ("lamp",) and NEEDS_LABELS == ("taylor",)
    # the plots' colours as helpers.plots.CRITERION_COLORS had them, global rankings included
    assert COLOURS == {"magnitude": "C0", "magnitude, global": "C9", "random": "0.6", "taylor": "C3", "obd": "C2",
                       "obd, global": "#0b5d1e", "wanda": "C1", "lamp": "C4", "l2": "C0", "l1": "C5", "l2_out": "C6",
                       "l2_in_out": "C8", "activation": "C1", "apoz": "C9"}


def test_each_record_is_keyed_by_its_method_and_name_and_a_shared_name_has_one_colour():
    assert all(key == (record.method, record.name) for key, record in REGISTRY.items())
    for name in {record.name for record in REGISTRY.values()}:
        assert len({record.colour for record in REGISTRY.values() if record.name == name}) == 1, name
    with pytest.raises(AttributeError):
        REGISTRY["weight", "magnitude"].colour = "red"  # frozen
    with pytest.raises(ValueError, match="method must be 'weight' or 'unit', got 'layer'"):
        Criterion("x", "layer", REGISTRY["weight", "magnitude"].score, colour="C0")
    with pytest.raises(ValueError, match="needs labels, so it needs the images"):
        Criterion("x", "weight", REGISTRY["weight", "magnitude"].score, colour="C0", needs_labels=True)


@pytest.mark.parametrize("method,criterion", [key for key, record in REGISTRY.items() if record.needs_labels])
def test_a_criterion_that_needs_labels_is_refused_images_without_them(method, criterion):
    net, data = tiny(), batch()
    with pytest.raises(ValueError, match=f"criterion '{criterion}' needs labels for its loss"):
        scores(net, method, criterion, data.images)
    assert scores(net, method, criterion, data).keys() == {"0", "2"}


@pytest.mark.parametrize("method,criterion", [key for key, record in REGISTRY.items() if not record.needs_images])
def test_a_criterion_without_data_ignores_what_it_is_given(method, criterion):
    net, data = tiny(), batch()
    for given in (data, data.images):
        assert all(torch.equal(a, b) for a, b in zip(scores(net, method, criterion).values(),
                                                    scores(net, method, criterion, given).values()))


def test_random_scores_are_the_seeded_uniform_draws_in_layer_order():
    net = tiny()
    generator = torch.Generator().manual_seed(4)
    expected = [torch.rand(layer.weight.shape, generator=generator)
                for _, layer in linear_layers(net)[:-1]]
    got = weight_scores(net, "random", seed=4)
    assert all(torch.equal(g, e) for g, e in zip(got.values(), expected))


def test_calibration_draws_from_the_split_it_is_given():
    train = batch(100)
    chosen = calibration(train, 10, seed=3)
    assert len(chosen) == 10 and torch.equal(chosen.images, calibration(train, 10, seed=3).images)
    rows = {tuple(row.tolist()) for row in train.images}
    assert all(tuple(row.tolist()) in rows for row in chosen.images)
    for size in (0, 101, 2.5):
        with pytest.raises(ValueError, match="calibration size"):
            calibration(train, size)


# --- sensitivity and allocation (helpers.allocation), the criteria sweep (helpers.sweeps) ----------------------

def test_sensitivity_prunes_one_layer_at_a_time():
    from helpers.allocation import sensitivity
    from helpers.pruning import apply_masks, unit_masks
    from helpers.training import evaluate
    net, sample = tiny().float(), batch(200)
    data = Split(sample.images.float(), sample.labels)
    before = copy.deepcopy(net.state_dict())
    table = sensitivity(net, data, [50, 90], "unit", "l2")
    assert list(table.columns) == ["layer", "k", "accuracy", "kept", "size"]
    assert table["k"].tolist() == [0, 50, 90] * 2 and table["size"].tolist() == [6] * 3 + [5] * 3
    assert table["kept"].tolist() == [6, 6 - 3, 6 - 5, 5, 5 - 2, 5 - 4]  # round(0.5 * 5) = 2 (half to even)
    for row in table.itertuples():
        masks = unit_masks(net, row.k)
        assert row.accuracy == evaluate(apply_masks(net, {row.layer: masks[row.layer]}), data)
    assert all(torch.equal(before[key], value) for key, value in net.state_dict().items())


def sensitivity_table(layers):
    """A sensitivity table from {layer: (size, [(k, accuracy), ...])}."""
    import pandas as pd
    return pd.DataFrame([dict(layer=name, k=k, accuracy=a, size=size) for name, (size, points) in layers.items()
                         for k, a in points])


def test_allocate_prunes_the_insensitive_layer_first_and_meets_the_budget_exactly():
    from helpers.allocation import allocate
    table = sensitivity_table({"robust": (1000, [(0, 0.98), (50, 0.98), (90, 0.97), (99, 0.90)]),
                               "fragile": (100, [(0, 0.98), (50, 0.80), (90, 0.20), (99, 0.10)])})
    assert allocate(table, 1100) == {"robust": 0.0, "fragile": 0.0}
    assert allocate(table, 600) == {"robust": 50.0, "fragile": 0.0}  # free for robust
    ks = allocate(table, 150)  # needs 950 gone: robust to 90% (900) costs 0.01 / 400, then 50 more from robust
    assert ks == {"robust": 95.0, "fragile": 0.0}
    with pytest.raises(ValueError, match=r"budget must be an integer number kept in \[11, 1100\]"):
        allocate(table, 5)
    with pytest.raises(ValueError, match="no k = 0 row"):
        allocate(table[table["k"] > 0], 600)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(1, 500), st.lists(st.floats(0, 1), min_size=3, max_size=3)),
                min_size=1, max_size=4), st.floats(0, 1))
def test_allocate_meets_any_reachable_budget_exactly(layers, share):
    from helpers.allocation import allocate
    ks = [0, 50, 80, 100]
    table = sensitivity_table({f"l{i}": (size, list(zip(ks, [0.99, *accuracies])))
                               for i, (size, accuracies) in enumerate(layers)})
    total = sum(size for size, _ in layers)
    budget = round(share * total)
    allocation = allocate(table, budget)
    kept = sum(size - round(allocation[f"l{i}"] / 100 * size) for i, (size, _) in enumerate(layers))
    assert kept == budget and all(0 <= k <= 100 for k in allocation.values())


def test_sweep_criteria_ranks_each_criterion_in_its_scope():
    from helpers.sweeps import sweep_criteria
    from helpers.pruning import apply_masks, weight_masks
    from helpers.training import evaluate
    net, data = tiny(), batch(200)
    table = sweep_criteria(net, data, {"weight": [50, 90], "unit": [50]},
                           {"weight": ["magnitude", "magnitude, global", "lamp", "obd"], "unit": ["apoz"]},
                           calibration=data)
    assert len(table) == 4 * 2 + 1
    assert table.set_index(["criterion", "k"]).loc[("lamp", 90), "scope"] == "global"
    row = table.set_index(["criterion", "k"]).loc[("magnitude, global", 90)]
    assert row["scope"] == "global" and row["accuracy"] == evaluate(apply_masks(net, weight_masks(net, 90, "global")), data)


def test_budget_candidates_keep_exactly_what_uniform_keeps():
    from helpers.allocation import budget_candidates, measure_candidates, sensitivity
    net, sample = tiny(hidden=(12, 10)).float(), batch(200)
    data = Split(sample.images.float(), sample.labels)
    tables = {"magnitude": sensitivity(net, data, [50, 90, 99])}
    weights = measure_candidates(net, budget_candidates(net, "weight", 90, tables), {"validation": data})
    uniform = sum(layer.weight.numel() - round(0.9 * layer.weight.numel()) for _, layer in linear_layers(net)[:-1])
    assert list(weights.index) == ["uniform, magnitude", "global magnitude", "global LAMP", "allocated, magnitude"]
    assert (weights["kept"] == uniform).all()
    units = measure_candidates(net, budget_candidates(net, "unit", 50, {"l1": sensitivity(net, data, [50, 90], "unit", "l1")}),
                               {"validation": data}, "unit")
    assert list(units.index) == ["uniform, l1", "allocated, l1"] and (units["kept"] == 6 + 5).all()
    assert units.loc["uniform, l1", ["layer 0 units kept", "layer 2 units kept"]].tolist() == [6, 5]
    from helpers.pruning import prune, weights_kept
    assert units.loc["uniform, l1", "weights stored"] == weights_kept(prune(net, 50, "unit", criterion="l1"))


def test_sweep_takes_a_criterion():
    from helpers.sweeps import sweep
    from helpers.pruning import apply_masks, weight_masks
    from helpers.training import evaluate
    net, sample = tiny().float(), batch(200)
    data = Split(sample.images.float(), sample.labels)
    table = sweep(net, data, ks=[50, 90], methods=["weight"], criterion="wanda", calibration=data).set_index("k")
    expected = evaluate(apply_masks(net, weight_masks(net, 90, criterion="wanda", data=data)), data)
    assert table.loc[90, "accuracy"] == expected
    with pytest.raises(ValueError, match="'wanda' is a weight criterion"):
        sweep(net, data, ks=[50], methods=["unit"], criterion="wanda", calibration=data)

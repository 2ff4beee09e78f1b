"""helpers.frontier: the recipe's steps, the waterfall, the file round trip, bad input, on small networks."""

import copy

import pytest
import torch
from toys import toy, trained_toy, untouched

from helpers import frontier
from helpers.compression import load_compressed
from helpers.frontier import (STEPS, Recipe, RecipeShortfall, distil, file_step, nonzero_weights, share_step, shrink,
                              step_bytes, teacher_logits, unit_step, weight_round)
from helpers.model import linear_layers, make_mlp
from helpers.pruning import prune

TINY = Recipe(unit_k=50, weight_rounds=(50, 80), epochs=1, lr=0.05, distillation=0.5, bits=4, centroid_epochs=1)


def splits():
    return toy(400, seed=0), toy(200, seed=1), toy(200, seed=2)


def test_unit_step_compacts_to_the_kept_units_and_computes_what_unit_pruning_computes():
    net, _ = trained_toy()
    small = unit_step(net, 50)
    assert [layer.weight.shape[0] for _, layer in linear_layers(small)] == [16, 8, 5]
    x = toy(50, seed=3).images
    assert torch.allclose(small(x), prune(net, 50, "unit")(x), atol=1e-6)


def test_weight_round_keeps_exactly_the_share_asked_for_and_contains_the_round_before():
    net, _ = trained_toy()
    total = sum(layer.weight.numel() for _, layer in linear_layers(net))  # 20*32 + 32*16 + 16*5 = 1232
    first, masks = weight_round(net, 50)
    assert nonzero_weights(first) == total - round(0.5 * total) == 616
    second, later = weight_round(first, 80)
    assert nonzero_weights(second) == total - round(0.8 * total)
    assert all(bool((later[name] <= masks[name]).all()) for name in masks)
    per_layer, _ = weight_round(net, 50, scope="layer")
    assert [int((layer.weight != 0).sum()) for _, layer in linear_layers(per_layer)] == [320, 256, 40]


@pytest.mark.parametrize("k", [-1, 100, 120])
def test_a_keep_share_out_of_range_is_refused_with_its_value(k):
    net, _ = trained_toy()
    with pytest.raises(ValueError, match=str(k)):
        weight_round(net, k)
    with pytest.raises(ValueError, match=str(k)):
        unit_step(net, k)


@pytest.mark.parametrize("settings, words", [(dict(unit_k=120), "120"), (dict(unit_k=100), "below 100"),
                                             (dict(weight_rounds=(90, 80)), "increase"),
                                             (dict(weight_rounds=(50, 100)), "below 100"),
                                             (dict(distillation=1.5), "1.5"), (dict(bits=9), "9"),
                                             (dict(epochs=-1), "-1")])
def test_a_bad_recipe_is_refused_naming_the_setting(settings, words):
    with pytest.raises(ValueError, match=words):
        Recipe(**settings)


def test_distil_holds_the_mask_and_leaves_its_input_alone():
    net, before = trained_toy()
    pruned, masks = weight_round(net, 70)
    pruned_before = copy.deepcopy(pruned.state_dict())
    train = toy()
    tuned = distil(pruned, train, epochs=2, teacher=teacher_logits(net, train), distillation=0.5, masks=masks)
    assert untouched(net, before) and untouched(pruned, pruned_before)
    for name, layer in linear_layers(tuned):
        assert bool((layer.weight[~masks[name]] == 0).all())
    assert nonzero_weights(tuned) <= nonzero_weights(pruned)
    assert not torch.equal(tuned[0].weight, pruned[0].weight)  # it trained


def test_distillation_alone_moves_the_student_towards_the_teacher():
    teacher, _ = trained_toy()
    train = toy()
    torch.manual_seed(1)
    student = make_mlp((8,), inputs=20, classes=5)
    logits = teacher_logits(teacher, train)

    def gap(net):  # KL(teacher || student) at temperature 1
        return torch.nn.functional.kl_div(net(train.images).log_softmax(1), logits.log_softmax(1), log_target=True,
                                          reduction="batchmean").item()
    distilled = distil(student, train, epochs=30, teacher=logits, distillation=1.0, lr=0.1, batch_size=32)
    labels_only = distil(student, train, epochs=30, lr=0.1, batch_size=32)
    assert gap(distilled) < 0.5 * gap(student) and gap(distilled) < gap(labels_only)
    with pytest.raises(ValueError, match="teacher"):
        distil(student, train, epochs=1, distillation=0.5)


def test_step_bytes_dense_is_four_bytes_a_weight_and_pruned_is_less():
    net, _ = trained_toy()
    assert step_bytes(net) == 4 * 1232
    assert step_bytes(weight_round(net, 90)[0]) < 4 * 1232 * 0.3


def test_the_file_round_trip_is_exact(tmp_path):
    net, _ = trained_toy()
    shared = share_step(weight_round(net, 80)[0], 4, toy(), epochs=1)
    size, loaded = file_step(shared, 4, tmp_path / "net.dc")
    assert size == (tmp_path / "net.dc").stat().st_size
    x = toy(100, seed=5).images
    assert torch.equal(loaded(x), shared(x))
    assert nonzero_weights(loaded) == nonzero_weights(shared)
    assert torch.equal(load_compressed(tmp_path / "net.dc")(x), loaded(x))


def test_shrink_waterfall_counts_and_file_agree_and_the_baseline_is_never_modified(tmp_path):
    net, before = trained_toy()
    train, validation, test = splits()
    loaded, table = shrink(net, train, validation, test, TINY, folder=tmp_path)
    assert untouched(net, before)
    assert list(table["step"]) == list(STEPS)
    assert table["nonzero"].tolist()[:2] == [1232, 20 * 16 + 16 * 8 + 8 * 5]  # units halved: 488
    assert table.iloc[3]["nonzero"] == 488 - round(0.8 * 488)
    assert table.iloc[-1]["bytes"] == (tmp_path / "net.dc").stat().st_size
    assert table.iloc[-1]["nonzero"] == nonzero_weights(loaded) <= table.iloc[3]["nonzero"]
    assert torch.equal(load_compressed(tmp_path / "net.dc")(test.images), loaded(test.images))
    accuracy = (loaded(test.images).argmax(1) == test.labels).float().mean().item()
    assert table.iloc[-1]["test_accuracy"] == pytest.approx(accuracy)


@pytest.mark.parametrize("skip", ["unit pruning + compaction", "distillation", "centroid training", "weight sharing"])
def test_shrink_leaves_one_step_out(skip):
    net, _ = trained_toy()
    _, table = shrink(net, *splits(), TINY, skip=skip)
    if skip in STEPS:
        assert skip not in set(table["step"])
    if skip == "unit pruning + compaction":
        assert table.iloc[-1]["widths"] == "20-32-16-5"
    with pytest.raises(ValueError, match="nowhere"):
        shrink(net, *splits(), TINY, skip="nowhere")


def test_a_recipe_that_cannot_reach_the_size_says_which_step_falls_short():
    net, before = trained_toy()
    with pytest.raises(RecipeShortfall, match="weight pruning step leaves 98 nonzero weights.*max_nonzero = 50"):
        shrink(net, *splits(), Recipe(**{**TINY.__dict__, "max_nonzero": 50}))
    with pytest.raises(RecipeShortfall, match="file step writes .* bytes, more than max_bytes = 100"):
        shrink(net, *splits(), Recipe(**{**TINY.__dict__, "max_bytes": 100}))
    assert untouched(net, before)


def test_the_published_table_names_what_each_paper_reports():
    assert set(frontier.PUBLISHED["reported"]) == {"final", "not stated"}
    assert (frontier.PUBLISHED["network"].str.startswith("LeNet-300-100")).all()
    assert frontier.PUBLISHED["method"].str.len().max() <= 50  # pandas shows 50 characters of a cell
    assert (frontier.PUBLISHED["test_accuracy"] > 0.98).all()


def test_drop_one_names_each_run_and_the_full_recipe_first():
    net, before = trained_toy()
    table = frontier.drop_one(net, *splits(), TINY, steps=("distillation", "weight sharing"))
    assert table["dropped"].tolist() == ["nothing", "distillation", "weight sharing"]
    assert table.set_index("dropped").loc["weight sharing", "bits"] == 8
    assert (table["nonzero"] == table.loc[0, "nonzero"]).all()  # the same rounds: the same count
    assert untouched(net, before)


def test_versus_l0_compares_at_the_same_count_and_epochs():
    net, before = trained_toy()
    _, validation, test = splits()
    table = frontier.versus_l0(net, toy(3000, seed=6), validation, test, epochs=8, strength=1000.0, rounds=2)
    assert table["route"].tolist() == ["L0 gates (learned)", "magnitude, in rounds"]
    counts = table["nonzero"].tolist()
    assert abs(counts[0] - counts[1]) <= 1 and counts[0] < 1232  # the gates kept fewer than all; magnitude matches
    assert (table["epochs"] == 8).all() and untouched(net, before)
    with pytest.raises(ValueError, match="rounds"):
        frontier.versus_l0(net, *splits(), epochs=2, strength=1.0, rounds=3)


def test_the_points_of_the_front_are_files_read_back_one_per_round():
    net, _ = trained_toy()
    points = []
    _, table = shrink(net, *splits(), TINY, points=points)
    assert [point["k"] for point in points] == list(TINY.weight_rounds)
    assert points[-1]["nonzero"] == table.iloc[-1]["nonzero"]
    assert points[0]["bytes"] > points[-1]["bytes"]


def test_a_truncated_or_corrupt_file_is_refused(tmp_path):
    from helpers.coding import CompressedFileError
    net, _ = trained_toy()
    path = tmp_path / "net.dc"
    file_step(share_step(weight_round(net, 80)[0], 4, toy(), epochs=0), 4, path)
    data = path.read_bytes()
    path.write_bytes(data[:-10])
    with pytest.raises(CompressedFileError, match="truncated"):
        load_compressed(path)
    path.write_bytes(data[:40] + bytes([data[40] ^ 1]) + data[41:])
    with pytest.raises(CompressedFileError, match="corrupt"):
        load_compressed(path)

"""helpers.plots: the figures' numbers (thresholds, counts, pixel values, error rates) checked against independent
computations; the style applied only when asked; every name at its old address."""

import subprocess
import sys

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
import torch

from helpers import plots
from helpers.model import linear_layers, make_mlp
from helpers.pruning import prune, unit_masks, weight_masks


@pytest.fixture(autouse=True)
def style():
    """Every figure drawn in the series' style, as in the notebooks; matplotlib's settings restored after each test."""
    with matplotlib.rc_context():
        plots.use_style()
        yield


def test_importing_plots_changes_no_setting_and_use_style_sets_the_theme_once():
    # a fresh interpreter: this one has imported helpers.plots already
    check = """
import matplotlib
before = dict(matplotlib.rcParams)
import seaborn
from helpers import plots
assert dict(matplotlib.rcParams) == before, sorted(k for k, v in matplotlib.rcParams.items() if before[k] != v)
plots.use_style()
once = dict(matplotlib.rcParams)
assert once != before and once["axes.grid"] and once["font.size"] == 12  # seaborn's whitegrid, notebook context
plots.use_style()
assert dict(matplotlib.rcParams) == once
"""
    done = subprocess.run([sys.executable, "-c", check], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def test_every_name_keeps_its_old_address():
    # the names notebooks, the explorer, benchmarks and tests use as `plots.X`, now defined in the subject modules
    from helpers import pruning
    from helpers.plots import (criteria, deploy, frontier, lottery, repair, style, sweeps, training, weights,
                               when_to_prune)
    homes = {style: ["use_style", "METHOD_COLORS", "CUT_COLORS", "PROCEDURE_STYLES", "FORM_MARKERS", "CRITERION_COLORS",
                     "BRANCH_STYLES", "WHEN_COLORS"],
             training: ["digits", "digit_strip", "class_balance", "learning_curves"],
             weights: ["WeightHistograms", "weight_histograms", "decade_range", "unit_norms", "pixel_maps"],
             sweeps: ["accuracy_vs_k", "dumbbell", "error_vs_cost"],
             deploy: ["pareto", "pareto_panels", "arrange_labels", "POINT_LABEL", "COST_UNITS", "speed_and_size_vs_k",
                      "pipeline"],
             criteria: ["criteria_vs_k", "sensitivity"],
             repair: ["obs_two_weights", "reconstruction", "repair_vs_k"],
             lottery: ["tickets", "validation_curves"],
             when_to_prune: ["layer_shares", "connected_vs_keep", "accuracy_vs_cost", "accuracy_vs_keep"],
             frontier: ["waterfall", "bytes_front"],
             pruning: ["cut_magnitudes", "pixel_survival", "pixel_values", "PIXEL_VALUES"]}
    for module, names in homes.items():
        for name in names:
            assert getattr(plots, name) is getattr(module, name), name
    assert sorted(plots.__all__) == sorted(name for names in homes.values() for name in names)
    from helpers.plots import pixel_survival  # as 02_weight_pruning imports it
    assert pixel_survival is pruning.pixel_survival


@pytest.mark.parametrize("k", [0, 0.1, 10, 50, 99])
def test_unit_norms_marks_the_largest_norm_unit_pruning_removes(k):
    torch.manual_seed(0)
    net = make_mlp((40, 24), inputs=12, classes=3)
    figure = plots.unit_norms(net, k)
    for axis, (name, mask) in zip(figure.axes, unit_masks(net, k).items()):
        norms = net.get_submodule(name).weight.detach().norm(dim=1)
        removed = norms[~mask.all(dim=1)]
        lines = [line.get_xdata()[0] for line in axis.get_lines()]
        assert lines == ([pytest.approx(removed.max().item())] if len(removed) else [])
    plt.close(figure)


def test_dumbbell_draws_each_error_rate_where_it_belongs():
    results = pd.DataFrame({"method": ["weight", "weight", "unit", "unit", "weight"],
                            "k": [99, 99, 90, 90, 97],
                            "procedure": ["one-shot", "fine-tuned", "one-shot", "fine-tuned", "one-shot"],
                            "accuracy": [0.60, 0.98, 0.10, 0.97, 0.95],
                            "standard_error": [0.005, 0.001, 0.003, 0.002, 0.002]})
    figure = plots.dumbbell(results, baseline=0.99)
    axis = figure.axes[0]
    assert [label.get_text() for label in axis.get_yticklabels()] == ["weight, k = 99", "unit, k = 90", "weight, k = 97"]
    points = {}
    for container in axis.containers:  # one errorbar container per procedure
        line, _, (bars,) = container
        for x, y, segment in zip(line.get_xdata(), line.get_ydata(), bars.get_segments()):
            points[container.get_label(), round(y)] = (x, np.ptp(segment[:, 0]) / 2)
    for _, row in results.iterrows():
        y = {("weight", 99): 0, ("unit", 90): 1, ("weight", 97): 2}[row["method"], row["k"]]
        x, half_width = points[row["procedure"], y]
        assert x == pytest.approx(100 * (1 - row["accuracy"]))
        assert half_width == pytest.approx(100 * row["standard_error"])
    assert axis.get_xscale() == "log"
    labelled = [t.get_text() for t in axis.get_xticklabels() if t.get_text()]
    # errors 1% (the baseline) to 90%: the axis starts at the tick below and labels only 1, 2, 5 per decade
    assert labelled == ["0.5%", "1%", "2%", "5%", "10%", "20%", "50%", "100%"]
    assert not any(t.get_text() for t in axis.xaxis.get_minorticklabels())
    plt.close(figure)
    figure = plots.dumbbell(results, baseline=0.99, labels={"fine-tuned": "fine-tuned (2 epochs)"})
    assert "fine-tuned (2 epochs)" in [t.get_text() for t in figure.axes[0].get_legend().get_texts()]
    plt.close(figure)
    with pytest.raises(ValueError, match="procedure"):
        plots.dumbbell(results, start="gradual")


def test_unit_norms_splits_each_layer_into_active_and_never_active_units():
    from helpers.experiments import unit_activity
    torch.manual_seed(0)
    net = make_mlp((40, 24), inputs=12, classes=3)
    with torch.no_grad():
        net[0].weight[:5] = -net[0].weight[:5].abs()  # never active on the positive images below
    activity = unit_activity(net, torch.rand(50, 12))
    figure = plots.unit_norms(net, 50, activity=activity)
    for axis, name in zip(figure.axes, ["0", "2"]):
        alive = activity.loc[activity["layer"] == name, "alive"]
        active_bars, silent_bars = axis.containers  # stacked: active first, never active on top
        assert sum(bar.get_height() for bar in active_bars) == alive.sum()
        assert sum(bar.get_height() for bar in silent_bars) == (~alive).sum()
    assert (~activity.loc[activity["layer"] == "0", "alive"]).sum() >= 5
    plt.close(figure)
    with pytest.raises(ValueError, match="activity has"):
        plots.unit_norms(net, activity=activity[activity["unit"] < 3])


def test_error_vs_cost_draws_error_rates_at_their_costs():
    results = pd.DataFrame({"method": ["weight", "weight", "unit", "unit"], "k": [0, 90, 0, 90],
                            "accuracy": [0.98, 0.95, 0.98, 0.60], "weights_kept": [1000, 100, 1000, 20]})
    figure = plots.error_vs_cost(results, "weights_kept", baseline=0.98, n=10_000, label_ks=[90])
    axis = figure.axes[0]
    lines = {line.get_label(): line for line in axis.get_lines()}
    weight, unit = lines["weight pruning, one-shot"], lines["unit pruning, one-shot"]
    assert list(weight.get_xdata()) == [100, 1000] and list(weight.get_ydata()) == pytest.approx([5.0, 2.0])
    assert list(unit.get_xdata()) == [20, 1000] and list(unit.get_ydata()) == pytest.approx([40.0, 2.0])
    assert axis.get_xscale() == axis.get_yscale() == "log" and axis.xaxis_inverted()
    assert sorted(text.get_text() for text in axis.texts) == ["k = 90", "k = 90"]
    plt.close(figure)
    with pytest.raises(ValueError, match="flops"):
        plots.error_vs_cost(results, "flops")


def _tiny_net(seed=0):
    torch.manual_seed(seed)
    return make_mlp((40, 24), inputs=12, classes=3)


@pytest.mark.parametrize("ks", [[0, 10, 50, 90, 99], [0.1, 37.5]])
def test_weight_histogram_lines_sit_at_the_largest_magnitude_weight_masks_removes(ks):
    net = _tiny_net()
    figure = plots.weight_histograms(net, ks=ks)
    axes = dict(zip([name for name, _ in linear_layers(net)], figure.axes))
    for name, axis in axes.items():
        lines = [line.get_xdata()[0] for line in axis.get_lines()]
        expected = []
        for k in ks:
            mask = weight_masks(net, k).get(name)  # the output layer is not pruned: no line there
            if mask is not None and (~mask).any():
                expected.append(np.log10(net.get_submodule(name).weight.detach().abs()[~mask].max().item()))
        assert lines == pytest.approx(expected)
    assert axes["4"].get_lines() == []
    plt.close(figure)


def test_weight_histograms_count_every_weight_once_and_the_zeros_apart():
    net = _tiny_net(1)
    with torch.no_grad():
        net[0].weight[0, :5] = 0.0  # exact zeros in the trained net: the grey "= 0" bar, not a bin
        net[0].weight[1, 0] = 1e-30  # far below the others: clipped into the first bin, still counted
    panel = plots.WeightHistograms(net, bins=20)
    pruned = prune(net, 70)
    panel.update(pruned)
    for name, layer in linear_layers(net):
        n = layer.weight.numel()
        zeros_after = int((pruned.get_submodule(name).weight == 0).sum())
        assert panel.kept[name].get_data().values.sum() + panel.zeros[name][0].get_height() == n
        assert panel.zeros[name][0].get_height() == zeros_after
        assert f"{zeros_after:,} exactly 0" in panel.axes[name].get_title()
    trained = panel.axes["0"].patches  # [grey stairs, grey "= 0" bar, blue stairs, dark "= 0" bar]
    assert trained[0].get_data().values.sum() == net[0].weight.numel() - 5
    assert trained[1].get_height() == 5
    panel.update(None)
    assert all(stairs.get_data().values.sum() == 0 for stairs in panel.kept.values())
    plt.close(panel.figure)


def test_pixel_maps_on_a_hand_made_first_layer():
    net = make_mlp((4,), inputs=784, classes=2)
    with torch.no_grad():
        weight = torch.zeros(4, 784)
        weight[:, 1] = torch.tensor([1.0, -2.0, 3.0, 4.0])  # pixel 1: all 4 connections, sum |w| = 10
        weight[:2, 2:] = 0.5  # pixels 2..783: 2 of 4 connections; pixel 0: none
        net[0].weight.copy_(weight)
    share = (4 + 782 * 2) / (4 * 784)  # the layer's share kept
    figure = plots.pixel_maps({"a": net, "b": net}, value="kept")
    values = figure.axes[0].images[0].get_array()
    assert values.mask.flatten()[0] and not values.mask.flatten()[1:].any()  # grey: nothing kept
    assert values.flatten()[1] == pytest.approx(1.0 / share)
    assert list(values.flatten()[2:]) == pytest.approx([0.5 / share] * 782)
    assert len(figure.axes) == 3  # two maps and one colour bar
    plt.close(figure)
    figure = plots.pixel_maps({"a": net}, value="magnitude")
    values = figure.axes[0].images[0].get_array().flatten()
    assert values[1] == pytest.approx(10.0) and values[2] == pytest.approx(1.0) and values.mask[0]
    plt.close(figure)
    with pytest.raises(ValueError, match="value"):
        plots.pixel_values(net, "brightness")


def test_accuracy_vs_k_draws_the_error_rate_and_names_each_line():
    results = pd.DataFrame({"method": ["weight", "weight", "unit", "unit"] * 2, "k": [0, 90, 0, 90] * 2,
                            "recipe": ["L1"] * 4 + ["no L1"] * 4,
                            "accuracy": [0.985, 0.98, 0.985, 0.5, 0.986, 0.96, 0.986, 0.45]})
    figure = plots.accuracy_vs_k(results, baseline=0.985, reference=False, style_by="recipe")
    axis = figure.axes[0]
    labels = axis.get_legend().get_texts()
    assert [t.get_text() for t in labels][:4] == ["weight, L1", "unit, L1", "weight, no L1", "unit, no L1"]
    lines = {container.get_label(): container.lines[0] for container in axis.containers}
    assert list(lines["unit, no L1"].get_ydata()) == pytest.approx([1.4, 55.0])
    assert axis.get_yscale() == "log"
    plt.close(figure)
    seeds = results[results["recipe"] == "L1"].assign(n=3, std=0.001)
    figure = plots.accuracy_vs_k(seeds, reference=True)
    texts = [t.get_text() for t in figure.axes[0].get_legend().get_texts()]
    assert texts[:2] == ["weight, ours, 3 seeds (mean ± std)", "unit, ours, 3 seeds (mean ± std)"]
    assert "weight, reference notebook" in texts and not any("(" == t[0] for t in texts)
    plt.close(figure)
    figure = plots.accuracy_vs_k(seeds[seeds["method"] == "weight"])
    texts = [t.get_text() for t in figure.axes[0].get_legend().get_texts()]
    assert "weight, reference notebook" in texts and "unit, reference notebook" not in texts
    plt.close(figure)
    figure = plots.accuracy_vs_k(seeds.assign(se=0.002), reference=False)
    container = figure.axes[0].containers[0]
    assert container.get_label() == "weight, ours, 3 seeds (mean ± standard error)"
    _, _, (bars,) = container
    assert [np.ptp(segment[:, 1]) / 2 for segment in bars.get_segments()] == pytest.approx([0.2, 0.2])
    plt.close(figure)


def test_the_unpruned_line_and_the_survivors_are_named_as_the_caller_says():
    results = pd.DataFrame({"method": ["weight", "weight"], "k": [0, 90], "accuracy": [0.985, 0.98]})
    figure = plots.accuracy_vs_k(results, baseline=0.9866, reference=False, baseline_label="unpruned, L1 recipe")
    assert "unpruned, L1 recipe (98.66%)" in [t.get_text() for t in figure.axes[0].get_legend().get_texts()]
    plt.close(figure)
    net = _tiny_net()
    figure = plots.weight_histograms(net, prune(net, 90), ks=[50, 90], kept_label="kept at k = 90%")
    texts = [t.get_text() for t in figure.legends[0].get_texts()]
    assert "kept at k = 90%" in texts and "kept after pruning" not in texts
    plt.close(figure)


def shipping_points():
    """A small shipping table (the columns helpers.deploy.shipping_table returns), with a Pareto front by hand."""
    rows = [("dense", "nn.Sequential", 0, "trained", 0.98, 0.98, 1.0, 1.0, 1.0, 9_000_000, 1.0),
            ("weight", "CSR", 99, "fine-tuned", 0.97, 0.975, 1.5, 90.0, 40.0, 220_000, 40.9),
            ("unit", "compacted", 90, "fine-tuned", 0.975, 0.97, 20.0, 25.0, 25.0, 380_000, 23.7),
            ("unit", "compacted", 90, "one-shot", 0.50, 0.52, 20.0, 25.0, 25.0, 380_000, 23.7),
            ("unit", "compacted", 99, "one-shot", 0.10, 0.11, 90.0, 300.0, 270.0, 35_000, 257.1)]
    table = pd.DataFrame(rows, columns=["method", "form", "k", "procedure", "validation_accuracy", "accuracy",
                                        "speedup", "flop_ratio", "compression", "bytes", "smaller"])
    table["eligible"] = table["validation_accuracy"] >= 0.96
    table["front"] = [True, False, True, False, False]
    return table


def test_pareto_draws_every_point_where_it_belongs_and_rings_the_front():
    points = shipping_points()
    figure = plots.pareto(points, "speedup", floor=0.96)
    axis = figure.axes[0]
    top = 4 * 100 * (1 - 0.96)  # the zoom: four times the floor's error
    drawn = {}
    for line in axis.get_lines():
        for x, y in zip(line.get_xdata(), line.get_ydata()):
            drawn.setdefault(line.get_label(), []).append((float(x), float(y)))
    assert drawn["dense network"] == [(1.0, pytest.approx(2.0))]
    assert drawn["unit, compacted, fine-tuned"] == [(20.0, pytest.approx(2.5))]
    # one-shot units are far below the floor: faded, on the top edge
    assert sorted(drawn["unit, compacted, one-shot"]) == [(20.0, pytest.approx(top)), (90.0, pytest.approx(top))]
    assert sorted(drawn["Pareto front"]) == [(1.0, pytest.approx(2.0)), (20.0, pytest.approx(2.5))]
    texts = sorted(t.get_text() for t in axis.texts)
    assert texts == ["90", "90", "99", "99", "dense"]
    assert axis.get_xscale() == "log" and axis.get_yscale() == "log" and not axis.xaxis_inverted()
    assert axis.yaxis_inverted()  # error drawn downward: the more accurate network is higher
    bottom, up = axis.get_ylim()
    assert bottom == pytest.approx(1.05 * top) and up < 2.0  # the clipped points on the bottom edge
    legend = [t.get_text() for t in axis.get_legend().get_texts()]
    assert legend == ["dense network", "weight, CSR, fine-tuned", "unit, compacted, fine-tuned",
                      "unit, compacted, one-shot", "Pareto front", "worth shipping: accuracy ≥ 96.00% (above this line)"]
    plt.close(figure)


def label_boxes(axis):
    axis.figure.canvas.draw()
    return [t.get_window_extent() for t in axis.texts if t.get_gid() == plots.POINT_LABEL and t.get_visible()]


def test_pareto_labels_do_not_overlap_in_a_crowd_and_duplicates_are_hidden():
    # six networks crowded around 1 MB and two identical ones: the overprinted labels of the first version
    rows = [("weight", "CSR", k, "one-shot", 0.979 - i * 0.001, 0.98, 3.0 + 0.15 * i, 1, 1, 1_000_000 * (1 - 0.05 * i), 9)
            for i, k in enumerate([95, 95, 90, 80, 97, 99])]
    rows += [("dense", "nn.Sequential", 0, "trained", 0.99, 0.99, 1.0, 1, 1, 9_000_000, 1)]
    rows += [("unit", "compacted", 99, "one-shot", 0.10, 0.1, 130.0, 1, 1, 30_000, 300)] * 2
    points = pd.DataFrame(rows, columns=["method", "form", "k", "procedure", "validation_accuracy", "accuracy",
                                         "speedup", "flop_ratio", "compression", "bytes", "smaller"])
    points["front"] = False
    points["eligible"] = points["validation_accuracy"] >= 0.97
    for x in ("speedup", "bytes"):
        figure = plots.pareto(points, x, floor=0.97, legend=None)
        boxes = label_boxes(figure.axes[0])
        assert len(boxes) == 8  # the duplicate "99" at the same place is drawn once
        assert not any(a.overlaps(b) for i, a in enumerate(boxes) for b in boxes[i + 1:])
        plt.close(figure)


def test_pareto_panels_share_one_legend_and_keep_labels_apart():
    points = shipping_points()
    figure = plots.pareto_panels({"speedup": points, "bytes": points}, floor=0.96,
                                 titles={"speedup": "speed", "bytes": "size"})
    panels = [axis for axis in figure.axes if axis.get_title() in ("speed", "size")]
    assert [axis.get_title() for axis in panels] == ["speed", "size"]
    assert all(axis.get_legend() is None for axis in panels) and len(figure.legends) == 1
    assert "Pareto front" in [t.get_text() for t in figure.legends[0].get_texts()]
    for axis in panels:
        boxes = label_boxes(axis)
        assert not any(a.overlaps(b) for i, a in enumerate(boxes) for b in boxes[i + 1:])
    plt.close(figure)


def test_pareto_by_bytes_puts_smaller_to_the_right_and_refuses_missing_columns():
    figure = plots.pareto(shipping_points(), "bytes", legend=None)
    axis = figure.axes[0]
    assert axis.xaxis_inverted() and axis.get_legend() is None
    assert axis.xaxis.get_major_formatter()(2e6, 0) == "2 MB" and axis.xaxis.get_major_formatter()(5e4, 0) == "50 kB"
    plt.close(figure)
    with pytest.raises(ValueError, match="front"):
        plots.pareto(shipping_points().drop(columns="front"))


def test_speed_and_size_vs_k_draws_the_table():
    table = shipping_points()
    figure = plots.speed_and_size_vs_k(table)
    accuracy_axis, speed_axis, size_axis = figure.axes[:3]
    speed = {line.get_label(): list(line.get_ydata()) for line in speed_axis.get_lines()}
    assert speed["unit, compacted, one-shot"] == [20.0, 90.0]
    assert speed["unit, compacted, FLOP ratio"] == [25.0, 300.0]
    assert not any(label.startswith("dense") for label in speed)  # the dense network is the reference, not a line
    size = {line.get_label(): list(line.get_ydata()) for line in size_axis.get_lines()}
    assert size["weight, CSR, fine-tuned"] == [pytest.approx(40.9)]
    accuracy = {line.get_label(): list(line.get_ydata()) for line in accuracy_axis.get_lines()}
    assert accuracy["unit, one-shot"] == [pytest.approx(48.0), pytest.approx(89.0)]  # test error (%)
    assert accuracy_axis.yaxis.get_major_formatter()(5.0, 0) == "5"  # plain numbers, not 5x10^0
    assert "reference per form" in speed_axis.get_ylabel()  # CSR and gzip are not compared with the same kernel
    one_shot, tuned = (next(line for line in size_axis.get_lines() if line.get_label() == label)
                       for label in ("unit, compacted, one-shot", "weight, CSR, fine-tuned"))
    assert one_shot.get_markerfacecolor() == "white" and tuned.get_markerfacecolor() != "white"  # hollow vs filled
    plt.close(figure)
    with pytest.raises(ValueError, match="speedup"):
        plots.speed_and_size_vs_k(table.drop(columns="speedup"))


def test_decade_range_covers_the_nonzero_magnitudes_and_no_more_than_asked():
    weights = {"a": torch.tensor([0.0, 2e-11, -0.3]), "b": torch.tensor([5e-3, 0.0])}
    assert plots.decade_range(weights) == (-11, 0)
    assert plots.decade_range(weights, max_decades=4) == (-4, 0)  # smaller ones go into the first bin
    assert plots.decade_range({"zeros": torch.zeros(3)}) == (-3, 0)
    with pytest.raises(ValueError, match="decades"):
        plots.WeightHistograms(make_mlp((4,), inputs=3, classes=2), decades=(0, -3))


def test_criteria_vs_k_draws_each_criterion_error_in_its_panel():
    results = pd.DataFrame({"method": ["weight"] * 4 + ["unit"] * 2, "criterion": ["magnitude", "magnitude", "obd", "obd", "l2", "l2"],
                            "k": [90, 99, 90, 99, 70, 90], "accuracy": [0.98, 0.90, 0.97, 0.50, 0.97, 0.6], "recipe": "l1"})
    figure = plots.criteria_vs_k(results, baselines={"l1": 0.985})
    weight_axis, unit_axis = figure.axes
    lines = {line.get_label(): line for line in weight_axis.get_lines()}
    np.testing.assert_allclose(lines["obd"].get_ydata(), [3.0, 50.0])
    np.testing.assert_allclose(lines["obd"].get_xdata(), [10.0, 1.0])  # % kept: 100 - k
    np.testing.assert_allclose(lines["unpruned"].get_ydata(), [1.5, 1.5])
    assert [line.get_label() for line in unit_axis.get_lines()][0] == "l2"
    with pytest.raises(ValueError, match="lacks the columns"):
        plots.criteria_vs_k(results.drop(columns="recipe"))
    plt.close(figure)


def test_sensitivity_draws_error_against_share_kept_and_rings_at_the_allocation():
    table = pd.DataFrame({"layer": ["0"] * 3 + ["2"] * 3, "k": [0, 90, 99] * 2, "size": [100] * 3 + [10] * 3,
                          "accuracy": [0.98, 0.96, 0.80, 0.98, 0.97, 0.90]})
    figure = plots.sensitivity(table, allocation={"0": 90.0, "2": 99.0}, entries="units")
    lines = figure.axes[0].get_lines()
    curve = next(line for line in lines if line.get_label() == "layer 0 (100 units)")
    np.testing.assert_allclose(curve.get_xdata(), [10, 1])  # % of the layer kept
    np.testing.assert_allclose(curve.get_ydata(), [4, 20])
    rings = [line for line in lines if line.get_marker() == "o" and line.get_markersize() == 11]
    assert [(line.get_xdata()[0], pytest.approx(line.get_ydata()[0])) for line in rings] == [(10.0, 4.0), (1.0, 10.0)]
    plt.close(figure)


def test_repair_figures_draw_what_they_are_given():
    import torch

    from helpers import repair
    removals = repair.remove_one(torch.tensor([0.5, 0.8]), torch.tensor([[4.0, 1.8], [1.8, 1.0]]))
    figure = plots.obs_two_weights([0.5, 0.8], [[4.0, 1.8], [1.8, 1.0]], removals)
    labels = [text.get_text() for text in figure.axes[0].get_legend().get_texts()]
    assert labels[1].startswith("magnitude: zero the smaller, w1") and labels[-1].startswith("OBS: remove w2 and move w1")
    plt.close(figure)
    table = lambda values: pd.DataFrame(dict(layer=["0", "2"], units=[3, 2], relative_error=values))
    figure = plots.reconstruction({"a": table([0.0, 0.5]), "b": table([0.0, 0.01])})
    heights = [patch.get_height() for patch in figure.axes[0].patches]
    assert heights[1] == 0.5 and heights[3] == 0.01 and all(h != h for h in (heights[0], heights[2]))  # zeros: no bar
    plt.close(figure)
    rows = pd.DataFrame(dict(method=["weight"] * 4, k=[90, 99, 90, 99], approach=["one-shot"] * 2 + ["OBS"] * 2,
                             accuracy=[0.98, 0.9, 0.985, 0.97]))
    figure = plots.repair_vs_k(rows, baseline=0.986)
    lines = [line for line in figure.axes[0].get_lines() if not line.get_label().startswith("_")]
    assert [line.get_label() for line in lines] == ["one-shot", "OBS", "unpruned"]
    assert lines[0].get_ydata().tolist() == pytest.approx([2.0, 10.0])
    plt.close(figure)


def test_tickets_and_validation_curves_draw_what_they_are_given():
    rows = pd.DataFrame(dict(branch=["ticket"] * 3 + ["reinitialised"] * 2, remaining=[100, 36, 7.8, 36, 7.8],
                             accuracy=[0.96, 0.975, 0.98, 0.97, 0.965], early_stop=[817, 344, 516, 860, 860]))
    figure = plots.tickets(rows, dense=0.96, reference={"F&C: best": 21}, steps=860)
    left, right = figure.axes
    labels = [text.get_text() for text in figure.legends[0].get_texts()]
    assert labels == ["ticket", "reinitialised", "dense, same recipe"]
    ticket = left.containers[0][0]  # the errorbar's data line
    assert ticket.get_xdata().tolist() == [100, 36, 7.8] and ticket.get_ydata().tolist() == pytest.approx([4, 2.5, 2])
    assert left.get_xlim()[0] > left.get_xlim()[1]  # from 100% down
    assert right.get_lines()[1].get_ydata().tolist() == [860, 860] and right.get_ylim()[1] == pytest.approx(860 * 1.12)
    assert any(text.get_text() == "F&C: best" for text in left.texts)
    plt.close(figure)
    curve = pd.DataFrame(dict(step=[0, 86, 172], validation_loss=[2.3, 0.1, 0.12]))
    figure = plots.validation_curves({"dense": curve, "ticket": curve.assign(validation_loss=[2.3, 0.08, 0.07])})
    markers = [line for line in figure.axes[0].get_lines() if line.get_marker() not in ("None", None)]
    assert [(line.get_xdata()[0], line.get_ydata()[0]) for line in markers] == [(86, 0.1), (172, 0.07)]
    plt.close(figure)


def test_pareto_against_latency_puts_faster_to_the_right_and_uses_the_label_column():
    points = shipping_points()
    points["latency_ms"] = [1.0, 0.5, 0.05, 0.05, 0.02]
    points["label"] = ["dense", "99 ft", "90 ft", "90 one-shot", "99 one-shot"]
    figure = plots.pareto(points, "latency_ms", floor=0.96)
    axis = figure.axes[0]
    assert axis.xaxis_inverted() and axis.get_xscale() == "log"
    assert sorted(t.get_text() for t in axis.texts if t.get_visible()) == sorted(points["label"])
    assert "latency" in axis.get_xlabel() and all(t.get_text().endswith(" ms") for t in axis.get_xticklabels()
                                                  if t.get_text())
    plt.close(figure)


def test_pipeline_draws_one_bar_per_stage_and_the_accuracy_of_each_step():
    stages = pd.DataFrame(dict(stage=["dense", "pruned", "shared", "Huffman", "file"],
                               bytes=[9_544_000, 139_000, 41_000, 24_000, 27_000]))
    stages["bits_per_weight"] = 8 * stages["bytes"] / 25_000
    stages["smaller"] = stages["bytes"].iloc[0] / stages["bytes"]
    accuracies = pd.DataFrame(dict(step=["dense", "pruned", "fine-tuned"], validation_accuracy=[0.982, 0.93, 0.976],
                                   accuracy=[0.985, 0.94, 0.981]))
    figure = plots.pipeline(stages, accuracies)
    left, right = figure.axes[:2]
    dots = left.collections[-1].get_offsets()
    assert sorted(dots[:, 0].tolist()) == sorted(stages["bytes"].tolist()) and left.get_xscale() == "log"
    assert [t.get_text() for t in left.get_yticklabels()] == ["1. dense", "2. pruned", "3. shared", "4. Huffman", "5. file"]
    assert any("32 bits per weight" in t.get_text() for t in left.texts)
    assert any(t.get_text().startswith("139,000 B · 69x smaller") for t in left.texts)  # 9,544,000 / 139,000 = 68.7
    labels = sorted(t.get_text() for t in right.texts)
    assert labels == sorted(f"{100 * a:.2f}" for a in [0.982, 0.93, 0.976, 0.985, 0.94, 0.981])
    assert right.yaxis_inverted() and [t.get_text() for t in right.get_xticklabels()] == ["dense", "pruned", "fine-tuned"]
    plt.close(figure)


def test_when_to_prune_figures_draw_what_they_are_given():
    import torch
    from helpers import at_init
    from helpers.model import make_mlp
    net = make_mlp((6, 4), inputs=5, classes=3)
    masks = {"0": torch.ones(6, 5, dtype=torch.bool), "2": torch.zeros(4, 6, dtype=torch.bool)}
    masks["2"][0, 0] = True
    figure = plots.layer_shares({"A": at_init.shares_kept(net, masks)}, keep=50)
    bars = figure.axes[0].patches
    assert [round(bar.get_height(), 2) for bar in bars] == [100.0, round(100 / 24, 2)]  # the output layer is not drawn
    assert list(figure.axes[0].get_lines()[0].get_ydata()) == [50, 50]
    plt.close(figure)
    collapse = pd.DataFrame(dict(method=["A", "A", "B", "B"], keep=[1, 0.1, 1, 0.1], connected=[0.9, 0.0, 0.8, 0.05],
                                 collapsed=["", "2", "", ""]))
    figure = plots.connected_vs_keep(collapse)
    axis = figure.axes[0]
    lines = [line for line in axis.get_lines() if line.get_label() in ("A", "B")]
    assert [line.get_ydata().tolist() for line in lines] == [[0.9], [0.8, 0.05]]
    assert axis.get_xlim()[0] > axis.get_xlim()[1]  # sparser to the right
    disconnected = [c.get_offsets().tolist() for c in axis.collections if len(c.get_offsets())]
    assert [[0.1, pytest.approx(0.05 / 4)]] in disconnected  # A at 0.1%: below the line, with an emptied layer
    plt.close(figure)
    summary = pd.DataFrame(dict(arm=["SNIP", "RigL"], when=["before", "during"], keep=[1.0, 1.0], epochs=[10, 35],
                                flops_share=[0.018, 0.046], accuracy=[0.97, 0.98], se=[0.001, 0.0005]))
    figure = plots.accuracy_vs_cost(summary, dense=(0.9855, 0.0001))
    axis = figure.axes[0]
    points = [c[0] for c in axis.containers]  # the errorbars' data lines: SNIP, RigL, dense
    drawn = [(p.get_xdata()[0], p.get_ydata()[0]) for p in points]
    assert drawn == [pytest.approx((1.8, 3)), pytest.approx((4.6, 2)), pytest.approx((100, 1.45))]
    assert axis.get_xscale() == "log" and axis.get_yscale() == "log"
    plt.close(figure)
    figure = plots.accuracy_vs_keep(pd.concat([summary, summary.assign(keep=0.5, accuracy=[0.9, 0.95])]), dense=0.985)
    axis = figure.axes[0]
    first = axis.containers[0][0]
    assert first.get_xdata().tolist() == [1.0, 0.5] and first.get_ydata().tolist() == pytest.approx([3, 10])
    assert axis.get_xlim()[0] > axis.get_xlim()[1]
    plt.close(figure)

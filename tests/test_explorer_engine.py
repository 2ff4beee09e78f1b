"""The explorer's parts below the widgets: the setting, the engine and its cache, the readout, the fine-tune job.

Nothing here builds a widget or a figure; the first test proves that these modules import without ipywidgets.
"""

import dataclasses
import subprocess
import sys

import pytest
import torch

from toys import small_mnist_like  # tests/ is on sys.path under pytest

import helpers.explorer as explorer_module
from helpers.config import project_home
from helpers.data import Split
from helpers.experiments import SENSITIVITY_KS, allocate, sensitivity, sweep
from helpers.explorer import ChangedDigit, Engine, Facts, FineTuneJob, LRUCache, Point, Setting
from helpers.explorer import engine as engine_module
from helpers.explorer import readout, tune
from helpers.pruning import apply_masks, prune, rank
from helpers.stats import verdict
from helpers.training import evaluate


@pytest.fixture(scope="module")
def trained():
    """The small trained network of tests/test_explorer.py and its test split."""
    return small_mnist_like()


@pytest.fixture
def engine(trained):
    return Engine(*trained)


def test_engine_readout_setting_and_tune_import_without_ipywidgets():
    code = ("import sys; sys.modules['ipywidgets'] = None\n"  # any import of ipywidgets fails
            "from helpers.explorer import Engine, Point, Setting, Facts, FineTuneJob\n"
            "from helpers.explorer import readout\n"
            "try:\n    from helpers.explorer import Explorer\nexcept ImportError:\n    print('no panel')\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=project_home(),
                          env={"PYTHONPATH": str(project_home()), "OMP_NUM_THREADS": "1"})
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "no panel"


def test_every_public_name_is_the_object_of_its_module():
    from helpers.explorer import figures, panel, setting
    modules = [engine_module, figures, panel, readout, setting, tune]
    for name in explorer_module.__all__:
        homes = [module for module in modules if name in vars(module)]
        assert homes and getattr(explorer_module, name) is getattr(homes[0], name), name
    for name in ("Explorer", "explore", "Point", "ChangedDigit", "classify_changes", "pick_shown", "render",
                 "png_size", "show_png", "CSS_DPI", "DEVICE_PIXEL_RATIO", "HISTOGRAMS_WIDTH", "SETTLE_SECONDS",
                 "ESTIMATE_IMAGES", "TUNE_EVERY", "CACHE_SIZE", "Redrawn", "Cancelled"):  # the names used before
        assert name in explorer_module.__all__ and name in dir(explorer_module)
    with pytest.raises(AttributeError, match="no attribute 'Explorr'"):
        explorer_module.Explorr


# --- the cache -------------------------------------------------------------------------------------------------------

def test_the_lru_cache_keeps_the_entries_used_last():
    cache = LRUCache(3)
    for key in "abcd":
        cache.put(key, key.upper())
    assert list(cache) == ["b", "c", "d"] and len(cache) == 3  # "a" was used longest ago
    assert cache["b"] == "B" and list(cache) == ["b", "c", "d"]  # reading it as a mapping changes nothing
    assert cache.use("b") == "B" and list(cache) == ["c", "d", "b"]  # using it does
    assert cache.use("a") is None and "a" not in cache
    cache.put("c", "C2")  # put again: the value replaced, and now the most recent
    cache.put("e", "E")
    assert dict(cache) == {"b": "B", "c": "C2", "e": "E"} and list(cache) == ["b", "c", "e"]
    assert cache == {"b": "B", "c": "C2", "e": "E"}  # a Mapping: equal to a dict with its items
    for size in (0, -1, True, 2.0, "3"):
        with pytest.raises(ValueError, match="size must be a positive integer"):
            LRUCache(size)


def test_the_engine_keeps_a_bounded_number_of_rankings(trained):
    calibration = Split(torch.randn(64, 784, generator=torch.Generator().manual_seed(2)), torch.zeros(64).long())
    engine = Engine(*trained, calibration=calibration)
    settings = [engine.setting(method, scope, 50, criterion) for method, scope, criterion in
                [("weight", "layer", "magnitude"), ("weight", "layer", "random"), ("weight", "global", "magnitude"),
                 ("weight", "global", "lamp"), ("unit", "layer", "l2"), ("unit", "layer", "l1"),
                 ("unit", "layer", "activation"), ("weight", "layer", "wanda")]]
    for setting in settings:
        engine.masks(setting)
    assert len(engine.rankings) == engine_module.RANKINGS_KEPT == 6
    assert list(engine.rankings) == [(s.method, s.scope, s.criterion) for s in settings[2:]]


# --- the setting -----------------------------------------------------------------------------------------------------

def test_a_setting_is_a_frozen_named_value():
    setting = Setting("weight", "global", "magnitude", False, 90)
    assert setting == Setting("weight", "global", "magnitude", False, 90) and len({setting, dataclasses.replace(
        setting)}) == 1
    assert setting != dataclasses.replace(setting, repaired=True)
    assert setting.name == "weight pruning, one global threshold, magnitude" and not setting.per_layer
    with pytest.raises(dataclasses.FrozenInstanceError):
        setting.k = 80
    per_layer = Setting("unit", "layer", "l2", True, (90.0, 50.0))
    assert per_layer.per_layer and per_layer.layer_k == (90.0, 50.0)


def test_the_engine_checks_and_normalises_a_setting(engine):
    assert engine.setting("unit", "global", 60) == Setting("unit", "layer", "l2", False, 60)  # units: layer-wise
    assert engine.setting("weight", "global", 60.0) == Setting("weight", "global", "magnitude", False, 60)
    per_layer = engine.setting("weight", "global", {"0": 90.04, "2": 50})  # one k per layer: layer-wise, 0.1 steps
    assert per_layer == Setting("weight", "layer", "magnitude", False, (90.0, 50.0))
    assert engine.setting("weight", "layer", {"2": 10}).k == (0.0, 10.0)  # a layer not named keeps all
    with pytest.raises(ValueError, match="one k per hidden layer: 2 values, got 3"):
        engine.setting("weight", "layer", (1, 2, 3))
    with pytest.raises(ValueError, match="120"):
        engine.setting("weight", "layer", 120)
    with pytest.raises(ValueError, match="repair needs calibration images"):
        engine.setting("weight", "layer", 50, repaired=True)
    assert engine.criteria("weight", "global") == ["magnitude", "random", "lamp"]  # no data: none data-aware


# --- the numbers -----------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("method, k", [("weight", 90), ("unit", 60)])
def test_a_point_has_the_numbers_of_sweep_and_is_kept_once_drawn(trained, engine, method, k):
    net, test = trained
    setting = engine.setting(method, "layer", k)
    point, pruned = engine.numbers(setting)
    expected = sweep(net, test, ks=[k], methods=[method]).iloc[0]
    assert (point.method, point.k, point.key) == (method, k, setting) and point.layer_k is None
    assert point.accuracy == pytest.approx(expected["accuracy"], abs=1e-9)
    assert point.weights_kept == expected["weights_kept"]
    assert point.compression == pytest.approx(expected["compression"], rel=1e-12)
    assert point.correct.float().mean().item() == pytest.approx(point.accuracy)
    assert evaluate(pruned, test) == point.accuracy and point.images == {}
    assert setting not in engine.points  # not kept before its pictures are drawn
    engine.keep(point)
    again, none = engine.numbers(setting)
    assert again is point and none is None


def test_the_changed_digits_of_a_point(trained, engine):
    net, test = trained
    point, _ = engine.numbers(engine.setting("unit", "layer", 95))
    with torch.no_grad():
        before, after = net(test.images).argmax(1), prune(net, 95, "unit")(test.images).argmax(1)
    right_before, right_after = before == test.labels, after == test.labels
    assert point.changes == {"break": int((right_before & ~right_after).sum()),
                             "fix": int((~right_before & right_after).sum()),
                             "other": int((~right_before & ~right_after & (before != after)).sum())}
    assert all(isinstance(digit, ChangedDigit) and digit.pruned == after[digit.index] for digit in point.shown)


def test_per_layer_k_in_all_is_the_share_of_weights_or_units_pruned(trained, engine):
    net, _ = trained
    weights, _ = engine.numbers(engine.setting("weight", "layer", {"0": 90, "2": 50}))
    assert weights.k == pytest.approx(100 * (round(0.9 * 64 * 784) + round(0.5 * 32 * 64)) / (64 * 784 + 32 * 64))
    units, _ = engine.numbers(engine.setting("unit", "layer", {"0": 90, "2": 50}))
    assert units.k == pytest.approx(100 * (round(0.9 * 64) + round(0.5 * 32)) / (64 + 32))
    assert units.layer_k == (90, 50) and units.units_alive == {"0": 64 - round(0.9 * 64), "2": 32 - 16, "4": 10}


def test_the_estimate_is_the_paired_change_on_the_subset(trained, engine):
    net, test = trained
    k, accuracy, error = engine.estimate(engine.setting("weight", "layer", 80))
    subset = engine.estimate_indices
    assert k == 80 and len(subset) == min(engine_module.ESTIMATE_IMAGES, len(test))
    with torch.no_grad():
        change = ((prune(net, 80)(test.images[subset]).argmax(1) == test.labels[subset]).double()
                  - (net(test.images[subset]).argmax(1) == test.labels[subset]).double())
    assert accuracy == pytest.approx(evaluate(net, test) + change.mean().item(), abs=1e-6)  # a float32 mean
    assert error == pytest.approx(max(change.std().item() / len(change) ** 0.5, 1.5 / len(change)), rel=1e-5)
    assert engine.estimate(engine.setting("weight", "layer", 0))[1:] == (engine.baseline_accuracy, 1.5 / len(subset))


def test_the_allocation_is_notebook_06s(trained, engine):
    net, _ = trained
    validation = Split(torch.randn(200, 784, generator=torch.Generator().manual_seed(3)),
                       torch.randint(0, 10, (200,), generator=torch.Generator().manual_seed(4)))
    ks = engine.allocation(validation, "unit", "l2", 70)
    table = sensitivity(net, validation, SENSITIVITY_KS["unit"], "unit", "l2")
    assert ks == pytest.approx({name: round(k, 1) for name, k in allocate(table, 96 - round(0.7 * 96)).items()})
    assert ("unit", "l2") in engine.sensitivity  # measured once
    assert engine.allocation_criterion("weight", "lamp") == "magnitude"  # a global-only criterion: the default


# --- the readout -----------------------------------------------------------------------------------------------------

FACTS = Facts(baseline_accuracy=0.95, total_weights=100_000, images=300, layers=("0", "2"))


def a_point(accuracy=0.9, repaired=False, layer_k=None, k=90, correct=None, method="weight") -> Point:
    """A point with numbers chosen by hand."""
    key = Setting(method, "layer", "magnitude" if method == "weight" else "l2", repaired, layer_k or k)
    return Point(method, "layer", k, key.criterion, repaired, accuracy, 12_345, 8.04,
                 {"0": 60, "2": 30, "4": 10}, {"break": 3, "fix": 1, "other": 2}, [], {}, layer_k, key, correct)


def test_the_readout_of_a_point():
    html = readout.readout_html(a_point(), FACTS)
    for piece in ["<b>weight pruning, layer-wise, magnitude, k = <span class='pm-k-shown'>90</span>%</b>",
                  "test accuracy <b class='pm-accuracy'>90.00</b>% on the 300 test images",
                  "-5.00 points vs unpruned 95.00%",
                  "<span class='pm-breaks'>3</span> broken", "<span class='pm-fixes'>1</span> fixed</span> · 2 other",
                  "weights kept (dead units dropped) <span class='pm-kept'>12,345</span> of 100,000: "
                  "compression <span class='pm-compression'>8.0</span>x",
                  "units alive per layer: 0: 60 · 2: 30 · output (4): 10</div>"]:
        assert piece in html
    assert "pm-tuned-accuracy" not in html and "pm-estimate" not in html


def test_the_readout_of_a_fine_tuned_point():
    html = readout.readout_html(a_point(repaired=True), FACTS, tuned=0.93)
    assert "repaired, k = " in html
    assert (f"after fine-tuning 1 epoch: <b class='pm-tuned-accuracy'>93.00</b>% (+3.00 points against one-shot + "
            f"repair: <span class='pm-tuned-verdict'>{verdict(0.93, 0.9, 300)}</span>)") in html


def test_the_readout_of_one_k_per_layer():
    html = readout.readout_html(a_point(layer_k=(90.0, 50.0), k=80.33, method="unit"), FACTS)
    assert ("unit pruning, layer-wise, l2, layer 0: 90% · layer 2: 50% (<span class='pm-k-shown'>80.3</span>% of "
            "the units in all)</b>") in html


def test_the_pinned_line_is_the_paired_test_against_the_pin():
    both = torch.ones(300, dtype=torch.bool)
    shown, pinned = both.clone(), both.clone()
    shown[:2] = False  # 2 images right only when pinned
    pinned[10:30] = False  # 20 right only now: (20 - 2) / sqrt(22) = 3.8 standard errors
    point, pin = a_point(accuracy=0.93, correct=shown), a_point(accuracy=0.87, k=95, correct=pinned)
    assert readout.pinned_html(point, None, FACTS) == ""
    html = readout.pinned_html(point, pin, FACTS)
    assert html.startswith("<div style='font-size:14px;line-height:1.55;color:#8e24aa'>◇ pinned: weight pruning, "
                           "layer-wise, magnitude, k = 95%: <b class='pm-pinned-accuracy'>87.00</b>%, 12,345 weights")
    assert ("shown now +6.00 points against it: <span class='pm-verdict'>higher</span> (paired test: 20 images right "
            "only now, 2 only pinned)</div>") in html
    assert f"; fine-tuned +8.00: {verdict(0.95, 0.87, 300)}</div>" in readout.pinned_html(point, pin, FACTS, tuned=0.95)


def test_the_readout_while_dragging_is_an_estimate():
    setting = Setting("weight", "layer", "magnitude", False, 63)
    html = readout.estimate_html(setting, 63, 0.875, 0.01, 1_000, FACTS.layers)
    assert "k = <span class='pm-k-shown'>63</span>%" in html and "pm-accuracy" not in html
    assert "test accuracy ≈ <b class='pm-estimate'>87.5</b>% ± 2.0 <i>estimated</i> from 1,000 of the test" in html
    pinned = readout.pinned_estimate_html(0.875, a_point(accuracy=0.9), FACTS.layers)
    assert pinned.endswith("<br>shown now ≈ -2.5 points against it (estimated)</div>")


# --- the fine-tune job -----------------------------------------------------------------------------------------------

def test_the_fine_tune_job_reports_its_accuracy_a_cancel_or_a_failure(trained, monkeypatch):
    net, test = trained
    masks = rank(net).masks(90)
    ends, steps = [], []
    job = FineTuneJob(on_step=steps.append, on_end=lambda *outcome: ends.append(outcome))
    recipe = {**tune.tune_recipe(), "batch_size": 100}
    job.start(apply_masks(net, masks), masks, test, recipe, lambda tuned: evaluate(tuned, test)).join()
    assert len(ends) == 1 and ends[0][1:] == (None, None) and 0 <= ends[0][0] <= 1 and steps == [0]
    monkeypatch.setattr(tune, "TUNE_EVERY", 1)
    job.on_step = lambda step: (steps.append(step), job.cancel())  # cancelled at its first step
    job.start(apply_masks(net, masks), masks, test, recipe, lambda tuned: 1.0).join()
    assert ends[1] == (None, 1, None) and steps[1:] == [0]  # the next step stops it
    monkeypatch.setattr(tune, "fine_tune", lambda *args, **kwargs: 1 / 0)
    job.start(apply_masks(net, masks), masks, test, recipe, lambda tuned: 1.0).join()
    assert ends[2][:2] == (None, None) and isinstance(ends[2][2], ZeroDivisionError)
    assert not job.running

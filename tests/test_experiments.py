"""helpers.experiments, the old import path kept for one release: every name it had is the very object of the
module it moved to (the behaviour is tested there: test_sweeps, test_retraining, test_unit_activity,
test_magnitudes, test_criteria, test_noise_rule)."""

import importlib

import pytest

from helpers import experiments

#: The public names helpers.experiments had before the split (`phrase` was dropped: nothing used it).
OLD_NAMES = ("measure", "sweep", "per_layer_sweep", "unit_activity", "energy_unit_masks", "removed_units",
             "compare_at_equal_cost", "FINE_TUNE", "FINE_TUNE_KS", "fine_tune", "check_schedule", "cubic_schedule",
             "iterative_prune", "random_masks", "from_scratch", "rewound", "layer_sparsity", "fine_tuned_sweep",
             "compare_fine_tuning", "kept_in_common", "constant_inputs", "input_bias", "without_inputs",
             "sweep_criteria", "sensitivity", "allocate", "calibration_sizes", "smallest_sufficient", "SENSITIVITY_KS",
             "budget_candidates", "measure_candidates",
             "TOO_CLOSE", "differs", "noise", "paired", "standard_error", "verdict")  # re-exported from helpers.stats


def test_every_old_name_is_re_exported_from_exactly_one_new_home():
    homes = [name for names in experiments.MOVED.values() for name in names]
    assert sorted(homes) == sorted(OLD_NAMES)  # each once, none forgotten, none invented
    assert sorted(experiments.__all__) == sorted(OLD_NAMES)


@pytest.mark.parametrize("module, name", [(module, name) for module, names in experiments.MOVED.items()
                                          for name in names])
def test_the_old_path_gives_the_same_object_as_the_new_one(module, name):
    assert getattr(experiments, name) is getattr(importlib.import_module(module), name)


@pytest.mark.parametrize("module", sorted(set(experiments.MOVED) - {"helpers.stats"}))
def test_moved_functions_say_where_they_live_now(module):
    for name in experiments.MOVED[module]:
        value = getattr(experiments, name)
        if callable(value):
            assert value.__module__ == module, name
    assert module in experiments.__doc__


def test_phrase_is_gone():
    assert not hasattr(experiments, "phrase")

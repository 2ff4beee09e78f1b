"""The old import path of the experiments, kept for one release: import from the modules named below instead.

`helpers.experiments` was one module ordered by chapter. Its names now live in modules named for what they do,
and are re-exported here unchanged (the same objects), so that ``from helpers.experiments import sweep`` keeps
working:

- `helpers.sweeps`: measure, sweep, per_layer_sweep, layer_sparsity, compare_at_equal_cost, sweep_criteria,
  calibration_sizes, smallest_sufficient (one-shot pruning measured along one axis).
- `helpers.retraining`: FINE_TUNE, FINE_TUNE_KS, fine_tune, check_schedule, cubic_schedule, iterative_prune,
  fine_tuned_sweep, compare_fine_tuning, random_masks, from_scratch, rewound, kept_in_common.
- `helpers.activity`: unit_activity, energy_unit_masks, removed_units (what hidden units do on data).
- `helpers.inputs`: constant_inputs, input_bias, without_inputs (the always-blank pixels).
- `helpers.allocation`: SENSITIVITY_KS, sensitivity, allocate, budget_candidates, measure_candidates.
- `helpers.stats`: TOO_CLOSE, differs, noise, paired, standard_error, verdict (the noise rule and the paired test).

`phrase` is gone: nothing used it.
"""

from helpers.activity import energy_unit_masks, removed_units, unit_activity
from helpers.allocation import SENSITIVITY_KS, allocate, budget_candidates, measure_candidates, sensitivity
from helpers.inputs import constant_inputs, input_bias, without_inputs
from helpers.retraining import (FINE_TUNE, FINE_TUNE_KS, check_schedule, compare_fine_tuning, cubic_schedule,
                                fine_tune, fine_tuned_sweep, from_scratch, iterative_prune, kept_in_common,
                                random_masks, rewound)
from helpers.stats import TOO_CLOSE, differs, noise, paired, standard_error, verdict
from helpers.sweeps import (calibration_sizes, compare_at_equal_cost, layer_sparsity, measure, per_layer_sweep,
                            smallest_sufficient, sweep, sweep_criteria)

#: Where each name of this module now lives (the test of the old path reads it).
MOVED = {
    "helpers.sweeps": ("measure", "sweep", "per_layer_sweep", "layer_sparsity", "compare_at_equal_cost",
                       "sweep_criteria", "calibration_sizes", "smallest_sufficient"),
    "helpers.retraining": ("FINE_TUNE", "FINE_TUNE_KS", "fine_tune", "check_schedule", "cubic_schedule",
                           "iterative_prune", "fine_tuned_sweep", "compare_fine_tuning", "random_masks",
                           "from_scratch", "rewound", "kept_in_common"),
    "helpers.activity": ("unit_activity", "energy_unit_masks", "removed_units"),
    "helpers.inputs": ("constant_inputs", "input_bias", "without_inputs"),
    "helpers.allocation": ("SENSITIVITY_KS", "sensitivity", "allocate", "budget_candidates", "measure_candidates"),
    "helpers.stats": ("TOO_CLOSE", "differs", "noise", "paired", "standard_error", "verdict"),
}

__all__ = [name for names in MOVED.values() for name in names]

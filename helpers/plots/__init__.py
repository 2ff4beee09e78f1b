"""Figures: functions that take results or networks and return matplotlib figures, one module per subject.

They compute nothing a test would need; the numbers come from `pruning` and
`experiments`. Magnitudes sit on log axes with a tick per decade; accuracy is drawn
as the error rate on a log axis, where the last tenths of a point and a collapse
both show. Importing this package changes no matplotlib setting: call `use_style()`
once (a notebook's setup cell does) for the series' look.

Where each figure lives (every name is also importable from `helpers.plots` itself):

- `style`: `use_style`, and the colours, markers and line styles: METHOD_COLORS,
  CUT_COLORS, PROCEDURE_STYLES, FORM_MARKERS, CRITERION_COLORS, BRANCH_STYLES.
- `training` (01): `digits`, `digit_strip`, `class_balance`, `learning_curves`.
- `weights` (01-04): `WeightHistograms`, `weight_histograms`, `decade_range`,
  `unit_norms`, `pixel_maps`.
- `sweeps` (02-04): `accuracy_vs_k`, `dumbbell`, `error_vs_cost`.
- `deploy` (05, 09): `pareto`, `pareto_panels`, `arrange_labels`, `POINT_LABEL`,
  `COST_UNITS`, `speed_and_size_vs_k`, `pipeline`.
- `criteria` (06): `criteria_vs_k`, `sensitivity`.
- `repair` (07): `obs_two_weights`, `reconstruction`, `repair_vs_k`.
- `lottery` (08): `tickets`, `validation_curves`.
- `when_to_prune` (10): `layer_shares`, `connected_vs_keep`, `accuracy_vs_cost`, `accuracy_vs_keep`.
- `frontier` (11): `waterfall`, `bytes_front`.
- `common`: the axis helpers several figures share.
- from `helpers.pruning`, the numbers some figures draw: `cut_magnitudes`,
  `pixel_survival`, `pixel_values`, `PIXEL_VALUES`.

Used in every notebook.
"""

from helpers.plots.criteria import criteria_vs_k, sensitivity
from helpers.plots.deploy import COST_UNITS, POINT_LABEL, arrange_labels, pareto, pareto_panels, pipeline, speed_and_size_vs_k
from helpers.plots.frontier import bytes_front, waterfall
from helpers.plots.lottery import tickets, validation_curves
from helpers.plots.repair import obs_two_weights, reconstruction, repair_vs_k
from helpers.plots.style import (BRANCH_STYLES, CRITERION_COLORS, CUT_COLORS, FORM_MARKERS, METHOD_COLORS,
                                 PROCEDURE_STYLES, WHEN_COLORS, use_style)
from helpers.plots.sweeps import accuracy_vs_k, dumbbell, error_vs_cost
from helpers.plots.training import class_balance, digit_strip, digits, learning_curves
from helpers.plots.when_to_prune import accuracy_vs_cost, accuracy_vs_keep, connected_vs_keep, layer_shares
from helpers.plots.weights import WeightHistograms, decade_range, pixel_maps, unit_norms, weight_histograms
from helpers.pruning import PIXEL_VALUES, cut_magnitudes, pixel_survival, pixel_values

__all__ = [
    "use_style", "METHOD_COLORS", "CUT_COLORS", "PROCEDURE_STYLES", "FORM_MARKERS", "CRITERION_COLORS", "BRANCH_STYLES", "WHEN_COLORS",
    "digits", "digit_strip", "class_balance", "learning_curves",
    "WeightHistograms", "weight_histograms", "decade_range", "unit_norms", "pixel_maps",
    "accuracy_vs_k", "dumbbell", "error_vs_cost",
    "pareto", "pareto_panels", "arrange_labels", "POINT_LABEL", "COST_UNITS", "speed_and_size_vs_k", "pipeline",
    "criteria_vs_k", "sensitivity",
    "obs_two_weights", "reconstruction", "repair_vs_k",
    "tickets", "validation_curves",
    "layer_shares", "connected_vs_keep", "accuracy_vs_cost", "accuracy_vs_keep",
    "waterfall", "bytes_front",
    "cut_magnitudes", "pixel_survival", "pixel_values", "PIXEL_VALUES",
]

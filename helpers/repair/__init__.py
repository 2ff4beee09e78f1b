"""Repair without retraining (07_repair): `refit` holds the least-squares repair and OBS pruning, `choices` the
comparison of the approaches and the settings chosen on validation. Every name is importable from here, as before.
"""

from helpers.repair.choices import (APPROACHES, COMPARE_KS, against_reference, choose_damping, compare,
                                    smallest_sufficient_paired)
from helpers.repair.refit import (BLOCK, CALIBRATION_IMAGES, DAMPING, check_damping, check_images, obs_layer, obs_prune,
                                  obs_unit_prune, reconstruction_errors, refit_layer, remove_one, repair,
                                  unit_saliency_order)

__all__ = ["DAMPING", "CALIBRATION_IMAGES", "BLOCK", "COMPARE_KS", "APPROACHES", "repair", "obs_prune", "obs_unit_prune",
           "refit_layer", "obs_layer", "unit_saliency_order", "reconstruction_errors", "remove_one", "compare",
           "check_images", "check_damping", "against_reference", "smallest_sufficient_paired", "choose_damping"]

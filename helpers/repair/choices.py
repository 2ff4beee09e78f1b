"""Which repair, and with what: `compare` measures repair against one-shot pruning and OBS, and the paired
test on validation chooses the calibration size (`smallest_sufficient_paired`) and the damping (`choose_damping`).

Used in 07_repair and `make results`.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping

import pandas as pd
import torch
from torch import nn
from tqdm.auto import tqdm

from helpers.data import Split
from helpers.pruning import check_k, compact, prune, weights_kept
from helpers.repair.refit import DAMPING, check_images, obs_prune, obs_unit_prune, repair
from helpers.stats import paired
from helpers.training import correct as correct_per_image

__all__ = ["COMPARE_KS", "APPROACHES", "compare", "against_reference", "smallest_sufficient_paired", "choose_damping"]


#: The points of the comparison in 07_repair and `make results`.
COMPARE_KS = {"weight": (95, 97, 99, 99.5), "unit": (80, 90, 95)}
#: The approaches `compare` measures, in order.
APPROACHES = ("one-shot", "one-shot + repair", "OBS")


def compare(net: nn.Module, images: torch.Tensor, data: Split, ks: Mapping[str, Iterable[float]] = COMPARE_KS,
            damping: float = DAMPING, progress: bool = False, per_image: bool = False,
            obs_images: torch.Tensor | None = None) -> pd.DataFrame:
    """One-shot pruning, the same followed by `repair`, and OBS pruning, at every (method, k), measured on `data`.

    "one-shot" is magnitude (weights) or the rows' L2 norm (units), as in 02 and
    03; "one-shot + repair" refits it with `repair`; "OBS" chooses and updates
    together: `obs_prune` for weights, `obs_unit_prune` for units.

    Args:
        images: the calibration images of the repair (and of OBS, unless `obs_images` is given).
        obs_images: other calibration images for OBS. Layer 0's H = XᵀX has 784 columns: with fewer
            images than that it is rank-deficient and the damping fills the rest, so 07_repair gives OBS
            at least `CALIBRATION_IMAGES` where validation picked fewer for the repair.
        per_image: also return, per row, which images of `data` the network gets right (a boolean
            tensor in the column "correct"), for the paired test between approaches.

    Returns:
        One row per (method, k, approach): accuracy on `data`, seconds (the
        pruning plus the repair, on this machine), weights_kept (after compact),
        and with `per_image` the column "correct".
    """
    check_images(net, images)
    obs_images = images if obs_images is None else check_images(net, obs_images)
    steps = [(method, check_k(k)) for method, values in ks.items() for k in values]
    if any(method not in ("weight", "unit") for method, _ in steps):
        raise ValueError(f"ks must map 'weight' and/or 'unit' to percentages, got {dict(ks)!r}")
    rows = []
    for method, k in tqdm(steps, desc="pruning and repairing", unit="point", disable=not progress):
        started = time.perf_counter()
        pruned = prune(net, k, method)
        results = {"one-shot": (pruned, time.perf_counter() - started)}
        started = time.perf_counter()
        results["one-shot + repair"] = (repair(net, pruned, images, damping), time.perf_counter() - started
                                        + results["one-shot"][1])
        started = time.perf_counter()
        obs = obs_prune(net, k, obs_images, damping) if method == "weight" else obs_unit_prune(net, k, obs_images, damping)
        results["OBS"] = (obs, time.perf_counter() - started)
        for approach, (model, seconds) in results.items():
            small = compact(model)
            right = correct_per_image(small, data)
            rows.append(dict(method=method, k=k, approach=approach, accuracy=int(right.sum()) / len(right),
                             seconds=seconds, weights_kept=weights_kept(small)) | ({"correct": right} if per_image else {}))
    return pd.DataFrame(rows)


def _check_choices(correct: Mapping[float, Mapping[str, torch.Tensor]]) -> list[str]:
    """The cases of a {candidate: {case: per-image correctness}} mapping, after checking every candidate has them all."""
    if not isinstance(correct, Mapping) or not correct:
        raise ValueError(f"correct must map each candidate to {{case: boolean tensor per image}}, got {correct!r}")
    cases = None
    for candidate, per_case in correct.items():
        if not isinstance(per_case, Mapping) or not per_case:
            raise ValueError(f"candidate {candidate!r}: expected {{case: boolean tensor per image}}, got {per_case!r}")
        if cases is None:
            cases = list(per_case)
        elif set(per_case) != set(cases):
            raise ValueError(f"every candidate must be scored on the same cases: {candidate!r} has "
                             f"{sorted(per_case)}, the first has {sorted(cases)}")
    return cases


def against_reference(correct: Mapping[float, Mapping[str, torch.Tensor]], reference: Mapping[str, float],
                      name: str = "candidate") -> pd.DataFrame:
    """Every candidate against a reference candidate, case by case, by the paired test on the same images.

    Args:
        correct: {candidate (a size, a damping): {case: boolean tensor, True where that candidate's
            repaired network classifies the image right}}, all on the same images (`helpers.training.correct`).
        reference: {case: the candidate each case is compared with}.
        name: the name of the candidate column ("size", "damping").

    Returns:
        One row per (candidate, case): accuracy (%), a_only (images only the candidate gets right),
        b_only (only the reference), z and verdict of `helpers.stats.paired` (the candidate against the reference);
        the reference's own row has the verdict "reference" (z = 0: it is not compared with itself).

    >>> right = {10: {"a": torch.tensor([True] * 90 + [False] * 10)}, 20: {"a": torch.tensor([True] * 100)}}
    >>> against_reference(right, {"a": 20}, "size")[["size", "accuracy", "b_only", "verdict"]].values.tolist()
    [[10, 90.0, 10, 'lower'], [20, 100.0, 0, 'reference']]

    Used in 07_repair.
    """
    cases = _check_choices(correct)
    if set(reference) != set(cases) or any(value not in correct for value in reference.values()):
        raise ValueError(f"reference must name, for each case {cases}, one of the candidates {list(correct)}; "
                         f"got {dict(reference)!r}")
    rows = []
    for candidate, per_case in correct.items():
        for case in cases:
            test = paired(per_case[case], correct[reference[case]][case])
            rows.append({name: candidate, "case": case, "accuracy": 100 * int(per_case[case].sum()) / len(per_case[case]),
                         "a_only": test["a_only"], "b_only": test["b_only"], "z": test["z"],
                         "verdict": "reference" if candidate == reference[case] else test["verdict"]})
    return pd.DataFrame(rows)


def smallest_sufficient_paired(correct: Mapping[int, Mapping[str, torch.Tensor]]) -> tuple[int, pd.DataFrame]:
    """The smallest candidate that the paired test does not find *worse* than the largest, in any case.

    For choosing a cost (calibration images): each size's repaired network is compared with the
    largest size's on the same validation images (`against_reference`), and a size is enough when no
    case is "lower". The rule is lenient towards the cheaper size: "too close to call" counts as
    enough, and it means "this measurement cannot tell them apart", never "equal". The paired test
    makes the leniency small, because two repairs of one network err on mostly the same images.

    Args:
        correct: {size: {case: boolean tensor per validation image}}; sizes are ordered by value.

    Returns:
        (the chosen size, the `against_reference` table against the largest size, named "size").

    >>> worse = torch.tensor([True] * 80 + [False] * 20)
    >>> right = {100: {"a": worse}, 300: {"a": torch.ones(100, dtype=torch.bool)}, 1000: {"a": torch.ones(100, dtype=torch.bool)}}
    >>> smallest_sufficient_paired(right)[0]
    300

    Used in 07_repair.
    """
    cases = _check_choices(correct)
    largest = max(correct)
    table = against_reference(correct, {case: largest for case in cases}, "size")
    worse = table.groupby("size")["verdict"].apply(lambda words: (words == "lower").any())
    return int(min(size for size in correct if not worse[size])), table


def choose_damping(correct: Mapping[float, Mapping[str, torch.Tensor]], default: float = DAMPING) -> tuple[float, pd.DataFrame]:
    """The damping to use: `default` unless the paired test finds it worse than the best damping in some case.

    Each damping is compared, case by case, with that case's most accurate damping on the same
    validation images (`against_reference`). When no case finds `default` "lower", it stays: the rule
    leans towards the default ("too close to call" is not "equal"). Otherwise the damping with the
    highest mean accuracy over the cases among those never "lower" (or over all of them, if none is).

    Args:
        correct: {damping: {case: boolean tensor per validation image}}.
        default: the damping kept when validation cannot tell it from the best; must be a candidate.

    Returns:
        (the chosen damping, the `against_reference` table against each case's best, named "damping").

    >>> right = {0.01: {"a": torch.tensor([True] * 95 + [False] * 5)}, 1.0: {"a": torch.tensor([True] * 40 + [False] * 60)}}
    >>> choose_damping(right, 0.01)[0], choose_damping(right, 1.0)[0]
    (0.01, 0.01)

    Used in 07_repair.
    """
    cases = _check_choices(correct)
    if default not in correct:
        raise ValueError(f"the default damping {default!r} must be one of the candidates {list(correct)}")
    accuracy = {value: {case: int(per_case[case].sum()) / len(per_case[case]) for case in cases} for value, per_case in correct.items()}
    best = {case: max(correct, key=lambda value: accuracy[value][case]) for case in cases}
    table = against_reference(correct, best, "damping")
    lower = table.groupby("damping")["verdict"].apply(lambda words: (words == "lower").any())
    if not lower[default]:
        return default, table
    never_lower = [value for value in correct if not lower[value]] or list(correct)
    return max(never_lower, key=lambda value: sum(accuracy[value].values())), table

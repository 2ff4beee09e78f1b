"""One-shot pruning measured along one axis at a time: k, the pruned layer, the criterion, the calibration size.

Each sweep ranks the trained network once, cuts it at every point, evaluates each pruned copy and returns a
tidy DataFrame; `compare_at_equal_cost` reads two methods' sweeps at equal cost.

Used in 02_weight_pruning, 03_unit_pruning, 04_fine_tuning and 06_criteria.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping, Sequence

import numpy as np
import pandas as pd
from torch import nn
from tqdm.auto import tqdm

from helpers.config import K_LIST
from helpers.criteria import GLOBAL_ONLY
from helpers.criteria import calibration as draw_calibration
from helpers.data import Split
from helpers.pruning import (METHODS, apply_masks, check_k, compact, compression, flops, masks_for, rank,
                             weight_masks, weights_kept)
from helpers.stats import differs, noise, verdict
from helpers.training import evaluate, evaluate_loss


def measure(pruned: nn.Module, dense_flops: int, total_weights: int, test: Split) -> dict:
    """Accuracy, loss, weights kept, compression and theoretical speedup of a pruned network.

    The network is compacted (dead units removed) before it is evaluated, which
    computes the same function faster.
    """
    small = compact(pruned)
    accuracy, loss = evaluate_loss(small, test)
    return dict(accuracy=accuracy, loss=loss, weights_kept=weights_kept(small),
                compression=compression(small, total_weights), speedup=dense_flops / max(flops(small), 1))


def sweep(net: nn.Module, test: Split, ks: Iterable[float] = K_LIST, methods: Iterable[str] = METHODS,
          scope: str = "layer", progress: bool = False, criterion: str | None = None,
          calibration: Split | None = None) -> pd.DataFrame:
    """Prune `net` one-shot at every k with every method and measure the result.

    Args:
        net: the trained network (not modified).
        test: the split to evaluate on.
        ks: percentages to prune.
        methods: "weight" and/or "unit".
        scope: "layer" or "global" (weight pruning only; unit pruning is layer-wise).
        progress: show a progress bar (one step per pruned network evaluated).
        criterion: an importance criterion of `helpers.criteria` valid for every
            method in `methods` (None: |w| for weights, the row's L2 norm for units).
        calibration: calibration data from the training split, for a data-aware criterion.

    Returns:
        One row per (method, k): method, k, accuracy, loss, weights_kept,
        compression (total / nonzero weights) and speedup (multiply-adds of the
        dense net / of the compacted pruned net).

    Used in 02_weight_pruning and 03_unit_pruning.
    """
    ks = [check_k(k) for k in ks]
    methods = list(methods)
    dense_flops = total = flops(net)
    rows = []
    bar = tqdm(total=len(methods) * len(ks), desc="pruning and evaluating", unit="net", disable=not progress)
    for method in methods:
        ranking = rank(net, method, scope if method == "weight" else "layer", criterion=criterion,
                       data=calibration)  # sort once, cut at every k
        for k in ks:
            pruned = apply_masks(net, ranking.masks(k))
            rows.append(dict(method=method, k=k, **measure(pruned, dense_flops, total, test)))
            bar.update()
    bar.close()
    return pd.DataFrame(rows)


def per_layer_sweep(net: nn.Module, data: Split, k: float, method: str = "unit") -> pd.DataFrame:
    """Prune one hidden layer at a time at k (the others left intact), then all of them together.

    Args:
        net: the trained network (not modified).
        data: the split to evaluate on.
        k: percentage to prune in the pruned layer(s).
        method: "weight" or "unit".

    Returns:
        One row per case, in order: "none" (the unpruned network), each
        prunable layer's name alone, then "all": columns pruned, accuracy,
        weights_kept (nonzero weights of `compact()`).

    Used in 03_unit_pruning.
    """
    check_k(k)
    masks = masks_for(net, k, method)
    cases = {"none": {}, **{name: {name: mask} for name, mask in masks.items()}, "all": masks}
    rows = []
    for case, chosen in cases.items():
        pruned = apply_masks(net, chosen)
        rows.append(dict(pruned=case, accuracy=evaluate(pruned, data), weights_kept=weights_kept(pruned)))
    return pd.DataFrame(rows)


def layer_sparsity(net: nn.Module, k: float, scope: str = "global") -> pd.DataFrame:
    """Per prunable layer, the share of weights that weight pruning at k removes with `scope`.

    Global pruning chooses its own per-layer shares; this table shows them.
    """
    rows = []
    for name, mask in weight_masks(net, k, scope).items():
        rows.append(dict(layer=name, shape=tuple(mask.shape), weights=mask.numel(), pruned=int((~mask).sum()),
                         pruned_percent=100 * (~mask).float().mean().item()))
    return pd.DataFrame(rows)


def compare_at_equal_cost(results: pd.DataFrame, cost: str, budgets: Sequence[float], n: int,
                          methods: Sequence[str] = ("weight", "unit")) -> pd.DataFrame:
    """Two methods' accuracies at the same cost (weights kept, multiply-adds), interpolated, with a verdict.

    A sweep measures each method at its own k, so the two rarely land on the same
    cost; each method's accuracy is interpolated linearly in log(cost) between its
    two nearest measured points (a fine k grid keeps this honest). A budget outside
    a method's measured range gives NaN for it.

    Args:
        results: columns method, k, accuracy (0-1) and `cost`, e.g. a `sweep` table.
        cost: the column to hold equal: "weights_kept" (storage) or "flops" (compute).
        budgets: the costs at which to compare (> 0).
        n: test images each accuracy was measured on.
        methods: the two methods to compare.

    Returns:
        One row per budget: the budget (column `cost`), "<method> accuracy" for
        both, gap (first minus second, 0-1), noise (two standard errors of the
        difference, `noise`) and better: `verdict`'s word, the winning method's name
        beyond the noise, else "too close to call".

    Used in 03_unit_pruning.
    """
    if len(methods) != 2:
        raise ValueError(f"compare exactly two methods, got {list(methods)}")
    missing = {"method", "accuracy", cost} - set(results.columns)
    if missing:
        raise ValueError(f"results lacks the columns {sorted(missing)}")
    budgets = [float(b) for b in budgets]
    if any(not b > 0 for b in budgets):
        raise ValueError(f"budgets must be positive costs, got {budgets}")
    curves = {}
    for method in methods:
        group = results[(results["method"] == method) & (results[cost] > 0)]
        if group.empty:
            raise ValueError(f"no rows of method {method!r} with a positive {cost}")
        curve = group.groupby(cost)["accuracy"].mean().sort_index()
        curves[method] = (np.log(curve.index.to_numpy(dtype=float)), curve.to_numpy(dtype=float))
    rows = []
    for budget in budgets:
        row = {cost: budget}
        for method, (x, y) in curves.items():
            row[f"{method} accuracy"] = float(np.interp(np.log(budget), x, y, left=np.nan, right=np.nan))
        first, second = (row[f"{m} accuracy"] for m in methods)
        row["gap"] = first - second
        known = not (np.isnan(first) or np.isnan(second))
        row["noise"] = noise(first, second, n) if known else np.nan
        row["better"] = verdict(first, second, n, higher=methods[0], lower=methods[1]) if known else None
        rows.append(row)
    return pd.DataFrame(rows)


def sweep_criteria(net: nn.Module, data: Split, ks: Mapping[str, Iterable[float]],
                   criteria: Mapping[str, Iterable[str]], calibration: Split | None = None,
                   progress: bool = False) -> pd.DataFrame:
    """One-shot sweeps of several criteria: each criterion ranks once and is cut at every k.

    Args:
        net: the trained network (not modified).
        data: the split to evaluate on (validation to choose, test to report).
        ks: {method: percentages}.
        criteria: {method: criteria of `helpers.criteria.CRITERIA[method]`}; "lamp"
            ranks globally, every other criterion layer by layer; the name
            "magnitude, global" asks for magnitude with a global ranking.
        calibration: calibration data from the training split, for the data-aware criteria.
        progress: show a progress bar.

    Returns:
        One row per (method, criterion, k): method, criterion, scope, k, accuracy,
        weights_kept, compression.

    Used in 06_criteria.
    """
    jobs = [(method, name) for method, names in criteria.items() for name in names]
    total, rows = flops(net), []
    bar = tqdm(total=sum(len(list(ks[method])) for method, _ in jobs), desc="criteria", unit="net",
               disable=not progress)
    for method, name in jobs:
        criterion, _, scope = name.partition(", ")
        scope = scope or ("global" if criterion in GLOBAL_ONLY else "layer")
        ranking = rank(net, method, scope, criterion=criterion, data=calibration)
        for k in ks[method]:
            pruned = apply_masks(net, ranking.masks(k))
            rows.append(dict(method=method, criterion=name, scope=scope, k=k, accuracy=evaluate(pruned, data),
                             weights_kept=weights_kept(pruned), compression=compression(pruned, total)))
            bar.update()
    bar.close()
    return pd.DataFrame(rows)


def calibration_sizes(net: nn.Module, train: Split, validation: Split, sizes: Sequence[int],
                      cases: Mapping[str, tuple[float, Sequence[str]]], seed: int = 0) -> pd.DataFrame:
    """Validation accuracy of data-aware criteria scored on calibration sets of several sizes, and the time it took.

    Args:
        net: the trained network (not modified).
        train: the split the calibration images are drawn from (`criteria.calibration`).
        validation: the split that measures.
        sizes: calibration sizes to try.
        cases: {method: (k, criteria)}, e.g. {"weight": (97, ["obd", "wanda"])}.
        seed: seed of the calibration draw.

    Returns:
        One row per (size, method, criterion): size, method, criterion, k, accuracy,
        seconds (to score the whole network).

    Used in 06_criteria.
    """
    rows = []
    for size in sizes:
        data = draw_calibration(train, size, seed)
        for method, (k, names) in cases.items():
            for criterion in names:
                started = time.perf_counter()
                ranking = rank(net, method, "layer", criterion=criterion, data=data)
                seconds = time.perf_counter() - started
                rows.append(dict(size=size, method=method, criterion=criterion, k=k, seconds=seconds,
                                 accuracy=evaluate(apply_masks(net, ranking.masks(k)), validation)))
    return pd.DataFrame(rows)


def smallest_sufficient(table: pd.DataFrame, n: int) -> int:
    """The smallest size whose accuracy, for every (method, criterion), is not below the largest size's beyond the noise.

    Args:
        table: a `calibration_sizes` table.
        n: images each accuracy was measured on (the noise rule, `noise`).

    >>> table = pd.DataFrame(dict(size=[10, 100, 1000], method="weight", criterion="obd", accuracy=[0.90, 0.975, 0.98]))
    >>> smallest_sufficient(table, 5_000)
    100
    """
    largest = table[table["size"] == table["size"].max()].set_index(["method", "criterion"])["accuracy"]
    for size, group in table.groupby("size", sort=True):
        accuracy = group.set_index(["method", "criterion"])["accuracy"]
        if all(accuracy[case] >= largest[case] or not differs(accuracy[case], largest[case], n) for case in largest.index):
            return int(size)
    raise AssertionError("unreachable: the largest size is sufficient by definition")

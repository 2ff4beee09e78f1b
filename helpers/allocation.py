"""How many to prune in each layer: one-layer-at-a-time sensitivity curves, a budget allocated by them, and
the candidate allocations measured side by side (choices made on validation).

Used in 06_criteria (and the explorer's fill).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import numpy as np
import pandas as pd
import torch
from torch import nn
from tqdm.auto import tqdm

from helpers.data import Split
from helpers.pruning import apply_masks, check_k, prunable_layers, rank, weights_kept
from helpers.training import evaluate


#: The k grids of the sensitivity curves in 06_criteria: fine where one layer starts to matter.
SENSITIVITY_KS = {"weight": (50, 70, 80, 90, 95, 97, 98, 99, 99.5, 99.7, 99.9),
                  "unit": (50, 70, 80, 85, 90, 93, 95, 97, 98, 99)}


def sensitivity(net: nn.Module, data: Split, ks: Iterable[float], method: str = "weight",
                criterion: str | None = None, calibration: Split | None = None,
                progress: bool = False) -> pd.DataFrame:
    """Prune one layer at a time at each k, the others left intact, and measure the accuracy (Han et al. 2015, Fig. 6).

    Args:
        net: the trained network (not modified).
        data: the split to measure on: validation, since the curves choose an allocation.
        ks: percentages to prune in the one pruned layer.
        method, criterion: what is pruned and how it is ranked (layer-wise).
        calibration: calibration data from the training split, for the data-aware criteria.
        progress: show a progress bar.

    Returns:
        One row per (layer, k), k = 0 included: layer, k, accuracy, kept (weights
        or units kept in that layer), size (weights or units in it).

    Used in 06_criteria.
    """
    ks = sorted({0.0, *(float(check_k(k)) for k in ks)})
    ranking = rank(net, method, "layer", criterion=criterion, data=calibration)
    dense = evaluate(net, data)
    layers = prunable_layers(net)
    rows = []
    bar = tqdm(total=len(layers) * (len(ks) - 1), desc="sensitivity", unit="net", disable=not progress)
    for name, layer in layers.items():
        size = layer.weight.shape[0] if method == "unit" else layer.weight.numel()
        for k in ks:
            pruned = round(k / 100 * size)
            if k == 0:
                accuracy = dense
            else:
                accuracy = evaluate(apply_masks(net, {name: ranking.masks({name: k})[name]}), data)
                bar.update()
            rows.append(dict(layer=name, k=k, accuracy=accuracy, kept=size - pruned, size=size))
    bar.close()
    return pd.DataFrame(rows)


def allocate(table: pd.DataFrame, budget: int) -> dict[str, float]:
    """Per-layer k that keeps exactly `budget` weights (or units) in all, losing the least accuracy by the curves.

    Greedy on the sensitivity curves: every layer starts unpruned; at each step the
    layer whose next cut costs the least accuracy per entry removed goes further,
    to whichever later k of its curve gives the best such rate (so a steep step
    followed by a long flat stretch is judged as a whole). The last cut is
    shortened so the total is met exactly. Each curve is first made non-increasing
    in k (a dip that recovers is treated as a loss), so that noise on the
    validation set does not send a layer further. The curves measure one layer at
    a time: the losses of several pruned layers compound (notebook 03), so the
    allocation is a guess that the caller must measure.

    Args:
        table: a `sensitivity` table (layer, k, accuracy, kept, size; k = 0 included).
        budget: entries kept in all pruned layers together, in the table's unit.

    Returns:
        {layer name: k}, for `Ranking.masks` with one k per layer.

    Raises:
        ValueError: a table without k = 0 for a layer, or a budget outside what the
            table's k grid can reach.

    >>> table = pd.DataFrame(dict(layer=["a"] * 3 + ["b"] * 3, k=[0, 50, 90] * 2, size=[100] * 3 + [10] * 3,
    ...                           accuracy=[0.9, 0.9, 0.5, 0.9, 0.8, 0.7]))
    >>> allocate(table, 55)  # a's first 50 cost nothing; 5 more of a cost 0.4/40 each, less than b's 0.1/5
    {'a': 55.0, 'b': 0.0}
    """
    missing = {"layer", "k", "accuracy", "size"} - set(table.columns)
    if missing:
        raise ValueError(f"table lacks the columns {sorted(missing)}: pass a sensitivity() table")
    curves = {}
    for name, group in table.groupby("layer", sort=False):
        group = group.sort_values("k")
        if group["k"].iloc[0] != 0:
            raise ValueError(f"layer {name!r} has no k = 0 row: pass a sensitivity() table")
        size = int(group["size"].iloc[0])
        removed = [round(k / 100 * size) for k in group["k"]]
        curves[name] = (size, removed, np.minimum.accumulate(group["accuracy"].to_numpy(dtype=float)))
    total = sum(size for size, _, _ in curves.values())
    most = sum(removed[-1] for _, removed, _ in curves.values())
    if isinstance(budget, bool) or not isinstance(budget, (int, np.integer)) or not total - most <= budget <= total:
        raise ValueError(f"budget must be an integer number kept in [{total - most}, {total}] (the table's k grid "
                         f"reaches no further), got {budget!r}")
    need, position, removed_so_far = total - int(budget), {name: 0 for name in curves}, 0
    final = {name: 0 for name in curves}  # entries removed per layer
    while removed_so_far < need:
        best = None
        for name, (size, removed, accuracy) in curves.items():
            here = position[name]
            for later in range(here + 1, len(removed)):
                gained = removed[later] - removed[here]
                if gained <= 0:
                    continue
                rate = (accuracy[here] - accuracy[later]) / gained
                if best is None or rate < best[0]:
                    best = (rate, name, later)
        _, name, later = best
        size, removed, _ = curves[name]
        step = removed[later] - removed[position[name]]
        if removed_so_far + step >= need:
            final[name] = removed[position[name]] + need - removed_so_far
            removed_so_far = need
        else:
            position[name], final[name] = later, removed[later]
            removed_so_far += step
    return {name: 100 * final[name] / curves[name][0] for name in curves}


def budget_candidates(net: nn.Module, method: str, k: float, tables: Mapping[str, pd.DataFrame],
                      calibration: Split | None = None) -> dict[str, dict[str, torch.Tensor]]:
    """Ways to keep exactly as many weights (or units) as uniform pruning at k keeps, as masks by name.

    Weights: "uniform, magnitude" (k in every layer), "global magnitude", "global LAMP"
    and "allocated, <criterion>" for each sensitivity table. Units: "uniform, <criterion>"
    and "allocated, <criterion>" for each table, so that the allocation's effect can be
    told from the criterion's. The allocations come from `allocate` on the tables
    (measured on validation).

    Args:
        net: the trained network (not modified).
        method: "weight" or "unit".
        k: the uniform k that sets the budget.
        tables: {criterion: a `sensitivity` table of `method` ranked by that criterion}.
        calibration: calibration data, for data-aware criteria among the tables.

    Used in 06_criteria and benchmarks.criteria.
    """
    layers = prunable_layers(net)
    sizes = {name: layer.weight.shape[0] if method == "unit" else layer.weight.numel() for name, layer in layers.items()}
    budget = sum(size - round(k / 100 * size) for size in sizes.values())
    candidates = {}
    if method == "weight":
        candidates["uniform, magnitude"] = rank(net, method, "layer").masks(k)
        candidates["global magnitude"] = rank(net, "weight", "global").masks(k)
        candidates["global LAMP"] = rank(net, "weight", "global", criterion="lamp").masks(k)
    rankings = {criterion: rank(net, method, "layer", criterion=criterion, data=calibration) for criterion in tables}
    if method == "unit":
        candidates.update({f"uniform, {criterion}": ranking.masks(k) for criterion, ranking in rankings.items()})
    for criterion, table in tables.items():
        candidates[f"allocated, {criterion}"] = rankings[criterion].masks(allocate(table, budget))
    return candidates


def measure_candidates(net: nn.Module, candidates: Mapping[str, Mapping[str, torch.Tensor]],
                       splits: Mapping[str, Split], method: str = "weight") -> pd.DataFrame:
    """Accuracy of `net` pruned by each set of masks, with what each keeps per layer.

    Returns:
        One row per candidate (index "how"): kept (weights or whole units kept in the
        pruned layers), "<layer> kept" (% of the layer's weights, or units kept),
        "weights stored" (nonzero weights of `compact()`, all layers: what the
        network costs to store), and the accuracy (%) on each split, named by `splits`' keys.

    Used in 06_criteria and benchmarks.criteria.
    """
    rows = []
    for how, masks in candidates.items():
        counts = {name: int(mask.any(dim=1).sum()) if method == "unit" else int(mask.sum()) for name, mask in masks.items()}
        row = {"how": how, "kept": sum(counts.values())}
        if method == "unit":
            row.update({f"layer {name} units kept": count for name, count in counts.items()})
        else:
            row.update({f"layer {name} kept (%)": 100 * count / masks[name].numel() for name, count in counts.items()})
        pruned = apply_masks(net, masks)
        row["weights stored"] = weights_kept(pruned)
        row.update({f"{split} (%)": 100 * evaluate(pruned, data) for split, data in splits.items()})
        rows.append(row)
    return pd.DataFrame(rows).set_index("how")

"""Experiments that combine training and pruning; every one returns a tidy DataFrame.

Used in 02_weight_pruning, 03_unit_pruning and 04_fine_tuning.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

import pandas as pd
import torch
from torch import nn

from helpers.config import K_LIST
from helpers.data import Split
from helpers.pruning import (METHODS, apply_masks, check_k, check_masks, compact, compression, flops, masks_for, rank,
                             weight_masks, weights_kept)
from helpers.training import RECIPE, evaluate, evaluate_loss, fit, initial_network, restart_network


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
          scope: str = "layer") -> pd.DataFrame:
    """Prune `net` one-shot at every k with every method and measure the result.

    Args:
        net: the trained network (not modified).
        test: the split to evaluate on.
        ks: percentages to prune.
        methods: "weight" and/or "unit".
        scope: "layer" or "global" (weight pruning only; unit pruning is layer-wise).

    Returns:
        One row per (method, k): method, k, accuracy, loss, weights_kept,
        compression (total / nonzero weights) and speedup (multiply-adds of the
        dense net / of the compacted pruned net).

    Used in 02_weight_pruning and 03_unit_pruning.
    """
    ks = [check_k(k) for k in ks]
    dense_flops = total = flops(net)
    rows = []
    for method in methods:
        ranking = rank(net, method, scope if method == "weight" else "layer")  # sort once, cut at every k
        for k in ks:
            pruned = apply_masks(net, ranking.masks(k))
            rows.append(dict(method=method, k=k, **measure(pruned, dense_flops, total, test)))
    return pd.DataFrame(rows)


# --- beyond one-shot: fine-tuning, iterative and gradual pruning, controls (04_fine_tuning) -------------

#: Fine-tuning recipe: short, a lower peak learning rate than the baseline, no L1 (what to prune is decided).
FINE_TUNE = dict(epochs=2, lr=0.02, weight_decay=1e-4, l1=0.0)

#: The k where retraining is worth studying: where one-shot pruning starts to lose accuracy and beyond.
FINE_TUNE_KS = {"weight": [90, 95, 97, 99], "unit": [70, 80, 90, 95]}


def fine_tune(net: nn.Module, masks: Mapping[str, torch.Tensor], train: Split, test: Split | None = None,
              seed: int = 0, progress: bool = False, compacted: bool = False,
              **recipe) -> tuple[nn.Module, pd.DataFrame]:
    """Retrain a copy of `net` with `masks` held fixed: pruned weights stay exactly zero.

    Args:
        net: the network to start from (not modified).
        masks: {layer name: bool mask}, False = pruned.
        train, test: data; `test` is evaluated after every epoch.
        seed: seeds the batch order.
        progress: show a progress bar.
        compacted: for unit masks: train `compact()` of the pruned network
            instead, which computes the same function with far fewer
            multiply-adds and has nothing left to mask. The result is the
            smaller network.
        **recipe: overrides of `FINE_TUNE` (epochs, lr, weight_decay, l1, batch_size, momentum, optimizer).

    Returns:
        (the fine-tuned copy, its per-epoch history).

    Raises:
        ValueError: masks that do not fit `net`; `compacted` with masks that
            prune single weights rather than whole rows; bad recipe values.

    Used in 04_fine_tuning.
    """
    check_masks(net, masks)
    tuned = apply_masks(net, masks)
    if compacted:
        if not all(torch.equal(mask.all(dim=1), mask.any(dim=1)) for mask in masks.values()):
            raise ValueError("compacted=True needs unit masks (whole rows kept or pruned); these prune single weights")
        tuned, masks = compact(tuned), None
    history = fit(tuned, train, test, seed=seed, masks=masks, progress=progress, **{**FINE_TUNE, **recipe})
    return tuned, history


def check_schedule(schedule: Sequence[float]) -> list[float]:
    """Return `schedule` if it is a non-empty, strictly increasing list of k in [0, 100]."""
    schedule = [check_k(k) for k in schedule]
    if not schedule or any(b <= a for a, b in zip(schedule, schedule[1:])):
        raise ValueError(f"a pruning schedule must be a non-empty, strictly increasing list of k, got {schedule}")
    return schedule


def cubic_schedule(k: float, steps: int, k_start: float = 0.0) -> list[float]:
    """Zhu and Gupta's (2017) gradual schedule: k_t = k + (k_start - k)(1 - t/steps)^3, t = 1..steps.

    It prunes fast first, while there are many redundant weights, then slowly.

    >>> cubic_schedule(90, 4)
    [52.03125, 78.75, 88.59375, 90.0]
    """
    check_k(k)
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise ValueError(f"steps must be a positive integer, got {steps!r}")
    return [k + (k_start - k) * (1 - t / steps) ** 3 for t in range(1, steps + 1)]


def iterative_prune(net: nn.Module, schedule: Sequence[float], train: Split, test: Split, method: str = "weight",
                    scope: str = "layer", seed: int = 0, progress: bool = False,
                    **recipe) -> tuple[nn.Module, pd.DataFrame]:
    """Prune a little, fine-tune, repeat: one round per k of `schedule` (e.g. [50, 80, 90, 95]).

    Each round ranks the *current* weights, so what an earlier round pruned (now
    exactly zero) ranks lowest and stays pruned. `recipe` overrides `FINE_TUNE`
    for every round (use epochs=1 for short rounds).

    Returns:
        (the final network, one row per round: round, k, accuracy before and
        after fine-tuning, weights kept).

    Used in 04_fine_tuning (with `cubic_schedule` it is gradual pruning).
    """
    schedule = check_schedule(schedule)
    current, rows = net, []
    for step, k in enumerate(schedule, 1):
        masks = masks_for(current, k, method, scope)
        pruned_accuracy = evaluate(apply_masks(current, masks), test)
        current, _ = fine_tune(current, masks, train, seed=seed + step, progress=progress, **recipe)
        rows.append(dict(round=step, k=k, pruned_accuracy=pruned_accuracy, accuracy=evaluate(current, test),
                         weights_kept=weights_kept(current)))
    return current, pd.DataFrame(rows)


def random_masks(net: nn.Module, k: float, method: str = "weight", scope: str = "layer", seed: int = 0,
                 include_output: bool = False) -> dict[str, torch.Tensor]:
    """Masks that prune as many weights (or units) per layer as `masks_for` would, but chosen at random.

    The control that tells whether magnitude matters: same counts, random choice.
    """
    generator = torch.Generator().manual_seed(seed)
    masks = {}
    for name, mask in masks_for(net, k, method, scope, include_output).items():
        if method == "unit":
            keep_rows = mask.all(dim=1)
            shuffled = keep_rows[torch.randperm(len(keep_rows), generator=generator)]
            masks[name] = shuffled[:, None].expand_as(mask).clone()
        else:
            flat = mask.flatten()
            masks[name] = flat[torch.randperm(len(flat), generator=generator)].view_as(mask)
    return masks


def from_scratch(net: nn.Module, masks: Mapping[str, torch.Tensor], train: Split, test: Split, seed: int = 0,
                 progress: bool = False, **recipe) -> tuple[nn.Module, pd.DataFrame]:
    """The control for "is it the weights or the architecture?": the sparse architecture of `masks`,
    re-initialised at random and trained from scratch with the masks held fixed.

    The initialisation is `restart_network(net, seed)`, drawn outside the range of the
    baseline seeds: it can never be the baseline's own initialisation (that experiment is
    `rewound`, a lottery ticket). `net` only gives the shape. `recipe` overrides the
    baseline's `RECIPE` (e.g. fewer epochs, or l1=0). The batch order is seeded by `seed`.

    Used in 04_fine_tuning.
    """
    fresh = restart_network(net, seed)
    check_masks(fresh, masks)
    history = fit(fresh, train, test, seed=seed, masks=masks, progress=progress, **{**RECIPE, **recipe})
    return fresh, history


def rewound(seed: int, masks: Mapping[str, torch.Tensor], train: Split, test: Split, progress: bool = False,
            device: torch.device | None = None, **recipe) -> tuple[nn.Module, pd.DataFrame]:
    """The sparse architecture of `masks` rewound to the baseline's own initial weights and trained again.

    Starts from `initial_network(seed)`, the exact weights `baseline(seed)` started from,
    keeps only the weights of `masks`, and trains with the masks held fixed and the
    baseline's batch order (seed `seed`). This is Frankle and Carbin's (2019)
    lottery-ticket experiment, not a random restart (`from_scratch` is that).

    Used in 04_fine_tuning (and 08_lottery_tickets takes it further).
    """
    start = initial_network(seed, device)
    check_masks(start, masks)
    history = fit(start, train, test, seed=seed, masks=masks, progress=progress, **{**RECIPE, **recipe})
    return start, history


def layer_sparsity(net: nn.Module, k: float, scope: str = "global") -> pd.DataFrame:
    """Per prunable layer, the share of weights that weight pruning at k removes with `scope`.

    Global pruning chooses its own per-layer shares; this table shows them.
    """
    rows = []
    for name, mask in weight_masks(net, k, scope).items():
        rows.append(dict(layer=name, shape=tuple(mask.shape), weights=mask.numel(), pruned=int((~mask).sum()),
                         pruned_percent=100 * (~mask).float().mean().item()))
    return pd.DataFrame(rows)


def fine_tuned_sweep(net: nn.Module, train: Split, test: Split, ks: Mapping[str, Iterable[float]],
                     seed: int = 0, **recipe) -> pd.DataFrame:
    """One-shot pruning followed by fine-tuning, for each method and k.

    Args:
        net: the trained network (not modified).
        ks: {method: the k to try}, e.g. {"weight": [95, 99], "unit": [80, 90]}.
        recipe: overrides of `FINE_TUNE`.

    Returns:
        One row per (method, k): method, k, procedure ("fine-tuned"),
        one_shot (accuracy before fine-tuning), accuracy, weights_kept.
        Unit-pruned networks are fine-tuned compacted (same function, fewer FLOPs).
    """
    rows = []
    for method, method_ks in ks.items():
        ranking = rank(net, method)
        for k in method_ks:
            masks = ranking.masks(k)
            tuned, _ = fine_tune(net, masks, train, seed=seed, compacted=method == "unit", **recipe)
            rows.append(dict(method=method, k=k, procedure="fine-tuned",
                             one_shot=evaluate(apply_masks(net, masks), test), accuracy=evaluate(tuned, test),
                             weights_kept=weights_kept(tuned)))
    return pd.DataFrame(rows)

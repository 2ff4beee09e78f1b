"""Experiments that combine training and pruning; every one returns a tidy DataFrame.

Used in 02_weight_pruning, 03_unit_pruning and 04_fine_tuning.
"""

from __future__ import annotations

from collections.abc import Iterable

import pandas as pd
from torch import nn

from helpers.config import K_LIST
from helpers.data import Split
from helpers.pruning import METHODS, apply_masks, check_k, compact, flops, rank, weights_kept
from helpers.training import evaluate_loss


def measure(pruned: nn.Module, dense_flops: int, total_weights: int, test: Split) -> dict:
    """Accuracy, loss, weights kept, compression and theoretical speedup of a pruned network.

    The network is compacted (dead units removed) before it is evaluated, which
    computes the same function faster.
    """
    small = compact(pruned)
    kept = weights_kept(small)
    accuracy, loss = evaluate_loss(small, test)
    return dict(accuracy=accuracy, loss=loss, weights_kept=kept,
                compression=total_weights / max(kept, 1), speedup=dense_flops / max(flops(small), 1))


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

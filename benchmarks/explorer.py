"""The explorer's latency, driven from Python, beside one dense evaluation of the test set.

A new (method, k) point: prune, evaluate, render four pictures. A cached point:
look it up and show it. Usage: python -m benchmarks.explorer
"""

from __future__ import annotations

import statistics
import time

import torch

from benchmarks.common import median_seconds, report, row
from helpers.data import load_mnist
from helpers.explorer import explore
from helpers.training import baseline, evaluate

POINTS = [("weight", k) for k in (33, 66, 91, 96, 98)] + [("unit", k) for k in (33, 66, 91, 96, 98)]


def run() -> list[dict]:
    train, validation, test = load_mnist()
    net, _ = baseline(data=(train, validation, test), progress=False, device=torch.device("cpu"))
    explorer = explore(net, test)
    dense = median_seconds(lambda: evaluate(net, test), repeat=5)

    def visit(method, k):
        started = time.perf_counter()
        explorer.method, explorer.k = method, k
        assert explorer.result.k == k and explorer.result.method == method
        return time.perf_counter() - started

    explorer.method = "unit"  # rank both methods once, as the first slider move would
    explorer.method = "weight"
    new = statistics.median(visit(method, k) for method, k in POINTS)
    cached = statistics.median(visit(method, k) for method, k in POINTS)
    return [
        row("explorer, new point", "median s", new, "one dense evaluation of the test set, s", dense,
            "<= 1.0 s", higher_is_better=False),
        row("explorer, cached point", "median s", cached, "one dense evaluation of the test set, s", dense,
            "<= 0.2 s", higher_is_better=False),
    ]


if __name__ == "__main__":
    report(run())

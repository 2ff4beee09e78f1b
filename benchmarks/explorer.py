"""The explorer's latency, driven from Python, beside one dense evaluation of the test set.

A new point: prune, evaluate, write the readout (the first thing sent to the
browser), then draw the four pictures. A cached point: look it up and show it.
While dragging: the estimate on a subset that replaces the readout and moves the
curve's ring, as values arrive from the browser. Usage: python -m benchmarks.explorer
"""

from __future__ import annotations

import asyncio
import statistics
import time

import torch

from benchmarks.common import median_seconds, report, row
from helpers.data import load_mnist
from helpers.explorer import explore
from helpers.training import baseline, evaluate

POINTS = [("weight", k) for k in (33, 66, 91, 96, 98)] + [("unit", k) for k in (33, 66, 91, 96, 98)]
DRAGGED = list(range(40, 60))  # values of k as a drag across the track sends them


def run() -> list[dict]:
    train, validation, test = load_mnist()
    net, _ = baseline(data=(train, validation, test), progress=False, device=torch.device("cpu"))
    explorer = explore(net, test)
    dense = median_seconds(lambda: evaluate(net, test), repeat=5)
    readout_at = []
    explorer.readout.observe(lambda _: readout_at.append(time.perf_counter()), names="value")

    def visit(method, k):
        """(seconds to the readout, seconds to the last picture) of showing (method, k)."""
        readout_at.clear()
        started = time.perf_counter()
        explorer.method, explorer.k = method, k
        done = time.perf_counter()
        assert explorer.result.k == k and explorer.result.method == method
        return readout_at[-1] - started, done - started

    explorer.method = "unit"  # rank both methods once, as the first slider move would
    explorer.method = "weight"
    new = [visit(method, k) for method, k in POINTS]
    cached = [visit(method, k) for method, k in POINTS]

    async def drag():
        explorer.k_slider.set_state({"value": DRAGGED[0] - 1})  # the first value of a drag is exact
        seconds = []
        for k in DRAGGED:  # each later value as the browser sends it mid-drag (set_state), one after the other
            started = time.perf_counter()
            explorer.k_slider.set_state({"value": k})
            seconds.append(time.perf_counter() - started)
            assert explorer.estimate is not None
        explorer.settle()
        return statistics.median(seconds)

    explorer.method = "weight"
    estimate = asyncio.run(drag())
    return [
        row("explorer, new point: readout", "median s", statistics.median(r for r, _ in new),
            "one dense evaluation of the test set, s", dense, "<= 0.3 s", higher_is_better=False),
        row("explorer, new point: all pictures", "median s", statistics.median(p for _, p in new),
            "one dense evaluation of the test set, s", dense, "<= 0.5 s", higher_is_better=False),
        row("explorer, cached point", "median s", statistics.median(p for _, p in cached),
            "one dense evaluation of the test set, s", dense, "<= 0.05 s with the browser's redraw",
            higher_is_better=False),
        row("explorer, estimate while dragging", "median s", estimate, "one dense evaluation of the test set, s",
            dense, ">= 5 updates/s: <= 0.2 s with the round trip", higher_is_better=False),
    ]


if __name__ == "__main__":
    report(run())

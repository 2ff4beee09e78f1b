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
#: The targets of the explorer in the browser, seconds from the input event to the next frame (and drag updates/s).
BROWSER_TARGETS = dict(new_readout=0.3, new_pictures=0.5, cached=0.05, updates_per_second=5)


def browser_table(timings: dict) -> str:
    """The README's table of the explorer's times in the browser, from the JSON `tests/test_app.py` writes
    (build/results/explorer_browser.json, copied to docs/)."""
    t, new, cached, drag = BROWSER_TARGETS, timings["new_point"], timings["cached_point"], timings["drag"]
    met = lambda ok: "met" if ok else "**not met**"  # noqa: E731
    return "\n".join([
        "| in Chromium, from the input to the next frame | readout | all pictures | target |",
        "|---|---|---|---|",
        f"| a new point (typed; median of {len(new['each'])}) | {new['readout']:.3f} s | {new['pictures']:.3f} s | "
        f"readout <= {t['new_readout']} s, pictures <= {t['new_pictures']} s: "
        f"{met(new['readout'] <= t['new_readout'] and new['pictures'] <= t['new_pictures'])} |",
        f"| a cached point (median of {len(cached['each'])}) | {cached['readout']:.3f} s | {cached['pictures']:.3f} s | "
        f"<= {t['cached']} s: {met(max(cached['readout'], cached['pictures']) <= t['cached'])} |",
        f"| dragging for {drag['seconds']:.1f} s | {drag['updates_per_second']:.1f} updates/s "
        f"({drag['estimates']} estimates of {drag['readout_updates']} updates) | (on release) | "
        f">= {t['updates_per_second']} updates/s: {met(drag['updates_per_second'] >= t['updates_per_second'])} |",
    ])


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

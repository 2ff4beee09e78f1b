"""Shared bits of the benchmarks: timing and the rows of the ratio table."""

from __future__ import annotations

from collections.abc import Callable

from helpers.deploy import time_call


def median_seconds(function: Callable[[], object], repeat: int = 5, warmup: int = 1) -> float:
    """Median wall time of `function()` over `repeat` runs after `warmup` runs (see helpers.deploy.time_call)."""
    return time_call(function, repeat, warmup)["median"]


def row(benchmark: str, measured: str, value: float, compared_with: str, reference: float,
        target: str = "", higher_is_better: bool = True) -> dict:
    """One line of the table: a measurement beside what it is compared with, and their ratio."""
    ratio = value / reference if higher_is_better else reference / value
    return dict(benchmark=benchmark, measured=measured, value=value, compared_with=compared_with,
                reference=reference, ratio=ratio, target=target)


def report(rows: list[dict]) -> None:
    """Print each row as: measurement vs what it is compared with -> ratio (target)."""
    for r in rows:
        print(f"{r['benchmark']}: {r['value']:.3g} {r['measured']} vs {r['reference']:.3g} {r['compared_with']}"
              f" -> {r['ratio']:.2f}x (target {r['target']})")

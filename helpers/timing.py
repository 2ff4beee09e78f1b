"""Honest timings: several functions timed side by side (round-robin, CUDA synchronised), and two times in words.

- `time_calls` / `time_call` give median and spread of several runs after a warm-up; the functions
  take turns, and on CUDA the clock is read only after `torch.cuda.synchronize`;
- `time_forward` times the forward pass of several models on batches of 1, 64 and the whole test set,
  with the thread count;
- `compare_times` puts two timings into words that their noise supports (`SPEED_MARGIN`).

Used in 03_unit_pruning and 05_speed_and_size (re-exported by helpers.deploy, the old import path).
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Iterable

import pandas as pd
import torch
from torch import nn

__all__ = ["time_calls", "time_call", "compute_device", "time_forward", "SPEED_MARGIN", "compare_times"]


def _check_counts(repeat: int, warmup: int) -> None:
    if isinstance(repeat, bool) or not isinstance(repeat, int) or repeat < 1:
        raise ValueError(f"repeat must be a positive integer, got {repeat!r}")
    if isinstance(warmup, bool) or not isinstance(warmup, int) or warmup < 0:
        raise ValueError(f"warmup must be a non-negative integer, got {warmup!r}")


def _synchronizer(device: torch.device | str | None) -> Callable[[], None]:
    """What to call before reading the clock: `torch.cuda.synchronize` on a CUDA device, nothing elsewhere.

    CUDA runs kernels asynchronously: a call returns once its work is queued, so a clock read
    right after it times the launches, not the work. `device=None` means CUDA's current device
    if this process has started CUDA (`torch.cuda.is_initialized()`), else the CPU.
    """
    if device is None:
        device = "cuda" if torch.cuda.is_available() and torch.cuda.is_initialized() else "cpu"
    device = torch.device(device)
    if device.type == "cuda":
        return lambda: torch.cuda.synchronize(device)
    return lambda: None


def time_calls(functions: dict[str, Callable[[], object]], repeat: int = 7, warmup: int = 2,
               device: torch.device | str | None = None) -> dict[str, dict]:
    """Time several functions side by side: round-robin, so that a machine that slows down or
    speeds up during the measurement affects them all alike.

    Args:
        functions: {name: a function of no arguments}.
        repeat: timed calls of each function (>= 1).
        warmup: untimed calls of each function first (>= 0).
        device: where the functions compute. On a CUDA device the clock is read only after
            `torch.cuda.synchronize`, before and after each call, so that the time is that of
            the work and not of queueing it. A CPU device: no synchronisation. None: CUDA if
            this process has started CUDA, else the CPU.

    Returns:
        {name: {"median": seconds, "iqr": interquartile range in seconds, "runs": repeat}}.

    Raises:
        ValueError: `repeat` < 1 or `warmup` < 0.

    Used in 03_unit_pruning and 05_speed_and_size (through `time_forward`).
    """
    _check_counts(repeat, warmup)
    synchronize = _synchronizer(device)
    for _ in range(warmup):
        for function in functions.values():
            function()
    times: dict[str, list[float]] = {name: [] for name in functions}
    for _ in range(repeat):
        for name, function in functions.items():
            synchronize()
            started = time.perf_counter()
            function()
            synchronize()
            times[name].append(time.perf_counter() - started)
    result = {}
    for name, values in times.items():
        quartiles = statistics.quantiles(values, n=4) if len(values) > 1 else [values[0]] * 3
        result[name] = dict(median=statistics.median(values), iqr=quartiles[2] - quartiles[0], runs=repeat)
    return result


def time_call(function: Callable[[], object], repeat: int = 7, warmup: int = 2,
              device: torch.device | str | None = None) -> dict[str, float]:
    """Median and spread (interquartile range) of the wall time of `function()`, after `warmup` calls
    (synchronised on a CUDA `device`, see `time_calls`)."""
    return time_calls({"call": function}, repeat, warmup, device)["call"]


def _tensors(model: nn.Module) -> Iterable[torch.Tensor]:
    yield from model.parameters()
    yield from model.buffers()
    for module in model.modules():  # SparseMLP and InferenceMLP keep their weights in plain lists
        for value in vars(module).values():
            if isinstance(value, (list, tuple)):
                yield from (v for v in value if isinstance(v, torch.Tensor))


def compute_device(models: Iterable[nn.Module], images: torch.Tensor) -> torch.device:
    """The CUDA device if `images` or any model's tensors are on one, else `images.device`.

    Used by `time_forward` to decide whether to synchronise CUDA before reading the clock.
    """
    if images.is_cuda:
        return images.device
    for model in models:
        for tensor in _tensors(model):
            if tensor.is_cuda:
                return tensor.device
    return images.device


def time_forward(models: dict[str, nn.Module], images: torch.Tensor, batch_sizes: Iterable[int | None] = (1, 64, None),
                 repeat: int = 7, warmup: int = 2) -> pd.DataFrame:
    """Time the forward pass of each model on the first `batch` images (None: all of them), side by side.

    All models take turns on every repetition (`time_calls`, round-robin), and on CUDA the clock
    is read after `torch.cuda.synchronize`.

    Returns:
        One row per (model, batch): model, batch, median_ms, iqr_ms, runs, device,
        threads (torch's intra-op thread count), speedup (against the first model).
    """
    device = compute_device(models.values(), images)
    rows = []
    for batch in batch_sizes:
        x = images if batch is None else images[:batch]
        with torch.no_grad():
            timings = time_calls({name: (lambda model=model: model(x)) for name, model in models.items()},
                                 repeat, warmup, device)
        for name, timing in timings.items():
            rows.append(dict(model=name, batch=len(x), median_ms=1e3 * timing["median"], iqr_ms=1e3 * timing["iqr"],
                             runs=timing["runs"], device=str(device), threads=torch.get_num_threads()))
    table = pd.DataFrame(rows)
    first = table.groupby("batch")["median_ms"].transform("first")
    table["speedup"] = first / table["median_ms"]
    return table


#: Timings on a shared machine vary by tens of percent: two times are called different only
#: when one is more than this many times the other.
SPEED_MARGIN = 1.5


def compare_times(seconds: float, reference: float, margin: float = SPEED_MARGIN) -> str:
    """How a time compares with a reference time, in words that a noisy timing can support.

    Args:
        seconds: the time measured (any unit, > 0).
        reference: the time it is compared with (same unit, > 0).
        margin: a ratio within [1 / margin, margin] reads "about as fast as" (> 1).

    Returns:
        "N.Nx faster than", "about as fast as" or "N.Nx slower than", to go between two names.

    Raises:
        ValueError: a time that is not a positive finite number, or margin <= 1.

    >>> compare_times(1.0, 6.65)
    '6.7x faster than'
    >>> compare_times(1.0, 1.3)
    'about as fast as'
    >>> compare_times(2.2, 1.0)
    '2.2x slower than'

    Used in 05_speed_and_size.
    """
    for name, value in (("seconds", seconds), ("reference", reference)):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value < float("inf"):
            raise ValueError(f"{name} must be a positive finite time, got {value!r}")
    if isinstance(margin, bool) or not isinstance(margin, (int, float)) or not 1 < margin < float("inf"):
        raise ValueError(f"margin must be a finite number > 1, got {margin!r}")
    ratio = reference / seconds
    if ratio > margin:
        return f"{ratio:.1f}x faster than"
    if ratio < 1 / margin:
        return f"{1 / ratio:.1f}x slower than"
    return "about as fast as"

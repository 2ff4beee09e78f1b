"""The statistics of comparison: standard error, the noise rule, the paired test and their words.

Two kinds of comparison run through the series:
- two accuracies measured on *different* images, or known only as numbers: the noise rule
  (`noise`, `verdict`), twice the standard error of the difference;
- two networks scored on the *same* images: the paired test (`paired`, McNemar's), which
  looks only at the images one network gets right and the other wrong. It is the sharper
  of the two, because two networks err on mostly the same images.

Both give one of three words a learner cannot confuse: "higher", "lower" or
"too close to call". "Too close to call" never means "equal": it means this
measurement cannot tell the two apart.

This is a leaf of the package: it imports nothing of ours but torch, so shipping code,
the explorer and the notebooks can import it without pulling in training.
"""

from __future__ import annotations

import math
from typing import Sequence

import torch

#: The word for a difference that the measurement cannot resolve.
TOO_CLOSE = "too close to call"

#: A difference counts when it exceeds this many standard errors of the difference.
Z_THRESHOLD = 2.0


def standard_error(accuracy: float, n: int) -> float:
    """Binomial standard error of an accuracy measured on `n` independent examples: sqrt(p (1 - p) / n).

    At 98.6% on the 10,000 test images it is about 0.12 points.

    Args:
        accuracy: in [0, 1].
        n: number of examples it was measured on (>= 1).

    Raises:
        ValueError: accuracy outside [0, 1] or NaN; n not a positive integer.

    >>> round(100 * standard_error(0.986, 10_000), 3)
    0.117

    Used in 01-05 and by `noise`.
    """
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"n must be a positive integer, got {n!r}")
    if isinstance(accuracy, bool) or not isinstance(accuracy, (int, float)) or not 0 <= accuracy <= 1:
        raise ValueError(f"accuracy must be in [0, 1], got {accuracy!r}")
    return (accuracy * (1 - accuracy) / n) ** 0.5


def noise(a: float, b: float, n: int) -> float:
    """The noise rule: twice the standard error of the difference of two accuracies, 2 sqrt(SE(a)² + SE(b)²).

    Two accuracies, each measured on `n` images, are called different only when their
    gap exceeds this. At 98.6% against 98.6% on the 10,000 test images it is 0.33
    points; on the 5,000 validation images 0.47. The rule treats the two accuracies
    as independent. Two networks measured on the *same* images err on mostly the same
    images, so for them the rule is lenient towards "too close to call": use `paired`.

    >>> round(100 * noise(0.986, 0.986, 10_000), 2)
    0.33

    Used in 01-05 (through `verdict`).
    """
    return Z_THRESHOLD * math.hypot(standard_error(a, n), standard_error(b, n))


def noise_over_seeds(a: float, se_a: float, b: float, se_b: float, n: int) -> float:
    """The noise rule for two means over seeds: twice the standard error of their difference, taken from the
    seeds' spread (`se_a`, `se_b`: standard errors of the means) or, where larger, from the binomial error of
    `n` test images. A gap between two rows of a 3-seed table is called a difference only when it exceeds this.

    >>> round(100 * noise_over_seeds(0.98, 0.001, 0.97, 0.0005, 10_000), 2)  # binomial: larger than the seeds' spread
    0.44

    Used in 08, 10 and the benchmarks' sentences.
    """
    over_seeds = math.hypot(se_a, se_b)
    return Z_THRESHOLD * max(over_seeds, math.hypot(standard_error(a, n), standard_error(b, n)))


def verdict(a: float, b: float, n: int, higher: str = "higher", lower: str = "lower") -> str:
    """The series' word for accuracy `a` against `b` (each on `n` images) by the noise rule.

    Returns `higher` or `lower` when the gap exceeds `noise(a, b, n)`, else "too close to call".
    Pass `higher`/`lower` to name the winner ("L1 better", "weight").

    >>> verdict(0.990, 0.980, 10_000), verdict(0.9861, 0.9860, 10_000), verdict(0.9860, 0.9885, 10_000)
    ('higher', 'too close to call', 'too close to call')
    """
    gap, threshold = a - b, noise(a, b, n)
    if gap > threshold:
        return higher
    if -gap > threshold:
        return lower
    return TOO_CLOSE


def differs(a: float, b: float, n: int) -> bool:
    """True when accuracies `a` and `b` (each on `n` images) differ by more than the noise rule allows."""
    return abs(a - b) > noise(a, b, n)


def _as_bool(correct: torch.Tensor | Sequence[bool], name: str) -> torch.Tensor:
    tensor = torch.as_tensor(correct)
    if tensor.dtype != torch.bool or tensor.dim() != 1:
        raise ValueError(f"{name} must be a 1-d boolean tensor (True where the network is right), "
                         f"got dtype {tensor.dtype} and shape {tuple(tensor.shape)}")
    return tensor


def paired(correct_a: torch.Tensor | Sequence[bool], correct_b: torch.Tensor | Sequence[bool]) -> dict:
    """McNemar's test of two networks scored on the same images.

    Only the discordant images count: `a_only` (A right, B wrong) and `b_only` (B right,
    A wrong). Under "no difference" each discordant image is a fair coin, so
    z = (a_only - b_only) / sqrt(a_only + b_only) is about standard normal.

    Args:
        correct_a, correct_b: 1-d boolean tensors of equal length, True where the network is right.

    Returns:
        dict with a_only, b_only, z (0 when there is no discordant image), the accuracy gap in
        points (`gap`) and `verdict`: "higher" (A better) / "lower" / "too close to call",
        by |z| > 2 like the noise rule.

    Raises:
        ValueError: not 1-d boolean, or of different lengths.

    >>> a = torch.tensor([True] * 48 + [False] * 18 + [True] * 934)
    >>> b = torch.tensor([False] * 48 + [True] * 18 + [True] * 934)
    >>> result = paired(a, b)
    >>> result["a_only"], result["b_only"], round(result["z"], 2), result["verdict"]
    (48, 18, 3.69, 'higher')

    Used in 02-09 wherever two networks are scored on the same images.
    """
    a, b = _as_bool(correct_a, "correct_a"), _as_bool(correct_b, "correct_b")
    if a.shape != b.shape:
        raise ValueError(f"the two networks must be scored on the same images: got {len(a)} and {len(b)} results")
    a_only, b_only = int((a & ~b).sum()), int((b & ~a).sum())
    discordant = a_only + b_only
    z = (a_only - b_only) / math.sqrt(discordant) if discordant else 0.0
    word = "higher" if z > Z_THRESHOLD else "lower" if z < -Z_THRESHOLD else TOO_CLOSE
    gap = 100 * (a_only - b_only) / len(a) if len(a) else 0.0
    return {"a_only": a_only, "b_only": b_only, "z": z, "gap": gap, "verdict": word}


def seed_spread(values: Sequence[float]) -> tuple[float, float]:
    """Mean and standard error of the mean of one quantity over seeds (the 3-seed tables' "mean ± se").

    >>> seed_spread([1.0, 2.0, 3.0])
    (2.0, 0.5773502691896257)
    """
    values = [float(v) for v in values]
    if not values:
        raise ValueError("seed_spread needs at least one value")
    mean = sum(values) / len(values)
    if len(values) == 1:
        return mean, 0.0
    variance = sum((v - mean) ** 2 for v in values) / (len(values) - 1)
    return mean, math.sqrt(variance / len(values))

"""Axis helpers that several figures share: the error rate on a log axis, read as accuracy on the right."""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib
import matplotlib.pyplot as plt


def add_accuracy_axis(axis: plt.Axes) -> None:
    """On an axis of error (%) on a log scale, a right-hand axis that reads the same heights as accuracy (%)."""
    right = axis.secondary_yaxis("right", functions=(lambda e: 100 - e, lambda a: 100 - a))
    right.set_yticks([99.99, 99.9, 99.5, 99, 98, 95, 90, 80, 50, 10])
    right.yaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda a, _: f"{a:g}"))
    right.yaxis.set_minor_locator(matplotlib.ticker.NullLocator())
    right.set_ylabel("accuracy (%)")


def log_error_axis(axis: plt.Axes, errors: Sequence[float], floor: float = 0.01, ylabel: str = "error (%), log scale") -> None:
    """A log axis of the error with readable ticks from the lowest error up to 100% (and chance marked)."""
    axis.axhline(90, color="0.75", lw=0.7, ls=(0, (1, 3)))
    axis.set_yscale("log")
    axis.set_ylim(max(min(errors, default=1) * 0.7, floor), 100)
    axis.yaxis.set_major_locator(matplotlib.ticker.FixedLocator([0.1, 1, 1.5, 2, 3, 5, 10, 20, 50, 90]))
    axis.yaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda e, _: f"{e:g}"))
    axis.yaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    axis.set_ylabel(ylabel)

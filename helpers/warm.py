"""Binder's build step (`postBuild`): MNIST and the seed-0 baselines cached while the image is built.

Usage: python -m helpers.warm (repo2docker runs it through postBuild; it is safe to run again: what is cached
is loaded, not trained again).
"""

from __future__ import annotations

import time
from pathlib import Path

from helpers.data import load_mnist
from helpers.training import RECIPES, baseline, baseline_path, initial_path

#: What a reader's first run needs: the series' network and its no-L1 control (01-03), on seed 0.
WARM = tuple((0, recipe) for recipe in RECIPES)


def warm(baselines: tuple[tuple[int, str], ...] = WARM) -> list[Path]:
    """Load MNIST (downloading it into data/ if needed) and train and cache each (seed, recipe) baseline missing.

    Returns:
        The checkpoints, each baseline followed by its initial weights.
    """
    data = load_mnist()
    written = []
    for seed, recipe in baselines:
        started = time.perf_counter()
        _, info = baseline(seed, data=data, progress=False, recipe=recipe)
        print(f"baseline seed {seed}, recipe {recipe}: test accuracy {100 * info['test_accuracy']:.2f}%, "
              f"{'loaded' if info['loaded'] else 'trained'} in {time.perf_counter() - started:.0f} s: {info['path']}")
        written += [baseline_path(seed, recipe), initial_path(seed, recipe)]
    return written


if __name__ == "__main__":
    warm()

"""Constants and the one place that decides paths and the device.

This is a leaf module: it imports nothing of ours, so every other module may
import it without creating a cycle.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch

#: The pruning percentages of the classic experiment.
K_LIST = [0, 25, 50, 60, 70, 80, 90, 95, 97, 99]

#: The architecture of the classic experiment: 784 inputs, these hidden widths, 10 outputs.
HIDDEN = (1000, 1000, 500, 200)


def project_home() -> Path:
    """The folder that holds data/, checkpoints/ and build/.

    The repository root when `helpers` is used from a checkout (editable
    install, notebooks, tests); otherwise (installed from git on Colab)
    `~/.cache/pruning-mnist`. The environment variable `PRUNING_MNIST_HOME`
    overrides both.
    """
    if os.environ.get("PRUNING_MNIST_HOME"):
        return Path(os.environ["PRUNING_MNIST_HOME"]).expanduser().resolve()
    root = Path(__file__).resolve().parent.parent
    if (root / "pyproject.toml").is_file():
        return root
    return Path.home() / ".cache" / "pruning-mnist"


def data_dir() -> Path:
    """Where MNIST is cached (torchvision's layout: `<data_dir>/MNIST/raw/`)."""
    return project_home() / "data"


def checkpoint_dir() -> Path:
    """Where trained networks are cached."""
    return project_home() / "checkpoints"


def series_seed() -> int:
    """The seed the series runs on: `PRUNING_MNIST_SEED` (a whole number in [0, 2**31)), default 0.

    Every notebook, the app and the browser tests read it here, so one switch runs the whole
    series on another network: `PRUNING_MNIST_SEED=3 make run`, or `make claims SEEDS="1 2"`.

    Raises:
        ValueError: the variable is set to something that is not such a number.

    >>> import os; os.environ.pop("PRUNING_MNIST_SEED", None) and None; series_seed()
    0
    """
    text = os.environ.get("PRUNING_MNIST_SEED", "").strip()
    if not text:
        return 0
    try:
        seed = int(text)
    except ValueError:
        seed = -1
    if not 0 <= seed < 2**31:
        raise ValueError(f"PRUNING_MNIST_SEED must be a whole number in [0, 2**31), got {text!r}: "
                         "unset it for seed 0, or set it to e.g. 1")
    return seed


def default_device() -> torch.device:
    """CUDA when available, else CPU; `PRUNING_MNIST_DEVICE` overrides (e.g. "cpu")."""
    if os.environ.get("PRUNING_MNIST_DEVICE"):
        return torch.device(os.environ["PRUNING_MNIST_DEVICE"])
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


#: Published one-shot accuracies (%) of the reference notebook (noelmat/Pruning-MNIST) at the
#: ten k of `K_LIST`, drawn as a dashed series for comparison.
REFERENCE_ACCURACY = {
    "weight": [97.40, 97.41, 97.33, 97.22, 97.21, 97.00, 96.40, 93.52, 89.15, 54.79],
    "unit": [97.40, 97.06, 95.91, 94.45, 89.88, 60.73, 42.70, 29.62, 10.93, 9.28],
}

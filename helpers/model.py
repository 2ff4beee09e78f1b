"""The network of the classic experiment and its checkpoints.

`make_mlp()` builds the 784-1000-1000-500-200-10 ReLU MLP without biases as a
plain `nn.Sequential`, so every layer has a readable name ("0", "2", ...) that
the pruning masks use as keys. Checkpoints are written atomically and checked
when read: a corrupt file or one of another architecture raises
`CheckpointError` and is left untouched.

Used in 01_training and every later notebook.
"""

from __future__ import annotations

import os
import platform
import tempfile
from pathlib import Path
from collections.abc import Callable
from typing import Any, BinaryIO

import torch
from torch import nn

from helpers.config import HIDDEN

FORMAT = "pruning-mnist-checkpoint/1"


class CheckpointError(ValueError):
    """A checkpoint cannot be used; the message names the file and the reason."""


def make_mlp(hidden: tuple[int, ...] = HIDDEN, inputs: int = 784, classes: int = 10) -> nn.Sequential:
    """Build a bias-free ReLU MLP: Linear, ReLU, ..., Linear (no ReLU after the last).

    Args:
        hidden: widths of the hidden layers.
        inputs: number of input features (784 pixels for MNIST).
        classes: number of outputs.

    Returns:
        An `nn.Sequential` with PyTorch's default initialisation.

    >>> net = make_mlp()
    >>> sum(p.numel() for p in net.parameters())
    2386000
    >>> [name for name, _ in linear_layers(net)]
    ['0', '2', '4', '6', '8']
    """
    widths = [inputs, *hidden, classes]
    if any(not isinstance(w, int) or w < 1 for w in widths):
        raise ValueError(f"layer widths must be positive integers, got {widths}")
    layers: list[nn.Module] = []
    for fan_in, fan_out in zip(widths[:-1], widths[1:]):
        layers += [nn.Linear(fan_in, fan_out, bias=False), nn.ReLU()]
    return nn.Sequential(*layers[:-1])


def linear_layers(net: nn.Module) -> list[tuple[str, nn.Linear]]:
    """All `nn.Linear` layers of `net` with their names, in order."""
    return [(name, module) for name, module in net.named_modules() if isinstance(module, nn.Linear)]


def architecture(net: nn.Module) -> list[int]:
    """The widths [inputs, hidden..., outputs] of the Linear layers of `net`."""
    layers = linear_layers(net)
    if not layers:
        raise ValueError(f"{type(net).__name__} has no nn.Linear layers")
    return [layers[0][1].in_features] + [layer.out_features for _, layer in layers]


def save_checkpoint(net: nn.Module, path: str | Path, **metadata: Any) -> Path:
    """Save `net` with its architecture and `metadata`, atomically.

    The file is written under a temporary name in the same folder and renamed
    over `path` only when complete, so an interruption never leaves a corrupt
    checkpoint behind.

    Args:
        net: a network made by `make_mlp`.
        path: the destination file.
        **metadata: plain values to store (seed, accuracy, seconds, ...);
            library versions are added.

    Returns:
        The path written.
    """
    payload = {
        "format": FORMAT,
        "architecture": architecture(net),
        "state_dict": {name: t.detach().cpu() for name, t in net.state_dict().items()},
        "metadata": {
            **metadata,
            "torch": str(torch.__version__),
            "python": platform.python_version(),
        },
    }
    return write_atomically(path, lambda file: torch.save(payload, file))


def write_atomically(path: str | Path, write: Callable[[BinaryIO], Any]) -> Path:
    """Call write(file) on a temporary file beside `path`, then rename it over `path`: all or nothing.

    An interruption or an error leaves `path` as it was (or absent) and no temporary file behind.
    Used by `save_checkpoint` and `compression.save_compressed`.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".partial")
    try:
        with os.fdopen(handle, "wb") as file:
            write(file)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return path


def load_checkpoint(path: str | Path, expected: list[int] | None = None) -> tuple[nn.Sequential, dict]:
    """Load a checkpoint written by `save_checkpoint`.

    Args:
        path: the file.
        expected: the architecture the caller needs, e.g. [784, 1000, 1000, 500, 200, 10];
            None accepts any.

    Returns:
        (net, metadata).

    Raises:
        FileNotFoundError: no such file.
        CheckpointError: the file is corrupt, not ours, or of another
            architecture. The file is never modified or deleted.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint at {path}")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:
        raise CheckpointError(
            f"{path} is not a readable checkpoint ({type(error).__name__}: {error}). "
            "It was left as it is; move or delete it to train a new one."
        ) from error
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise CheckpointError(f"{path} is not a checkpoint of this project (no '{FORMAT}' marker); it was left as it is")
    widths = payload["architecture"]
    if expected is not None and list(expected) != list(widths):
        raise CheckpointError(
            f"{path} holds a network of architecture {widths}, expected {list(expected)}; it was left as it is"
        )
    net = make_mlp(tuple(widths[1:-1]), inputs=widths[0], classes=widths[-1])
    try:
        net.load_state_dict(payload["state_dict"])
    except (RuntimeError, KeyError) as error:
        raise CheckpointError(f"{path}: weights do not fit architecture {widths} ({error})") from error
    return net, payload["metadata"]

"""MNIST in, tensors out.

`load_mnist()` returns the training, validation and test sets as in-memory
tensors: float32 images flattened to 784 and normalised with the training-set
mean and standard deviation, int64 labels. The validation split is carved from
the 60,000 training images (5,000 of them, drawn by a fixed permutation, the
same for everyone): every choice in the series (the recipe, fine-tuning
settings, allocations, calibration sizes) is made on it, and the test set only
reports. Batching happens on these tensors (see
`helpers.training`), which is many times faster on a CPU than a per-sample
DataLoader with PIL transforms.

Where the files come from, in this order:
1. the local cache, `<project>/data/MNIST/raw/` (torchvision's layout);
2. a folder named by the environment variable ``MNIST_DIR`` holding the four
   original IDX files, gzip-compressed or not (machines without internet);
3. a download through `torchvision.datasets.MNIST`.

Used in 01_training and every later notebook.
"""

from __future__ import annotations

import gzip
import os
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import torch
import torchvision

from helpers.config import data_dir

#: The four files of the MNIST release, with the magic number and the
#: trailing dimensions their IDX header must declare.
FILES = {
    "train-images-idx3-ubyte": (2051, (28, 28)),
    "train-labels-idx1-ubyte": (2049, ()),
    "t10k-images-idx3-ubyte": (2051, (28, 28)),
    "t10k-labels-idx1-ubyte": (2049, ()),
}

HOW_TO_FIX = (
    "Fix: connect to the internet so torchvision can download MNIST, or put the four "
    "IDX files ({names}, plain or .gz) in one folder and set the environment variable "
    "MNIST_DIR to it, e.g. `export MNIST_DIR=/path/to/mnist`."
).format(names=", ".join(FILES))


#: How many of the 60,000 training images are held out for validation, and the seed of the
#: permutation that picks them. Fixed, so that every notebook and every run uses the same split.
VALIDATION_SIZE = 5_000
VALIDATION_SEED = 0


class MNISTNotFoundError(FileNotFoundError):
    """No source of MNIST worked; the message lists what was tried and how to fix it."""


@dataclass(frozen=True)
class Split:
    """One split of MNIST held in memory.

    Attributes:
        images: float32 tensor [N, 784], normalised with the training mean/std.
        labels: int64 tensor [N].
    """

    images: torch.Tensor
    labels: torch.Tensor

    def __len__(self) -> int:
        return len(self.labels)


class MNIST(NamedTuple):
    """The three splits: train on `train`, choose on `validation`, report on `test`."""

    train: Split
    validation: Split
    test: Split


def split_validation(train: Split, size: int = VALIDATION_SIZE, seed: int = VALIDATION_SEED) -> tuple[Split, Split]:
    """Carve a validation split out of the training images.

    A fixed random permutation (seeded by `seed`) picks `size` images; the rest
    stay for training, in their original order.

    Args:
        train: the training split.
        size: images to hold out, 0 <= size < len(train).
        seed: seed of the permutation.

    Returns:
        (the remaining training images, the validation images).

    Raises:
        ValueError: `size` is not an integer in [0, len(train)).

    >>> split = Split(torch.arange(10.0)[:, None], torch.arange(10))
    >>> rest, held_out = split_validation(split, size=3)
    >>> len(rest), len(held_out), sorted(rest.labels.tolist() + held_out.labels.tolist()) == list(range(10))
    (7, 3, True)
    """
    if isinstance(size, bool) or not isinstance(size, int) or not 0 <= size < len(train):
        raise ValueError(f"validation size must be an integer in [0, {len(train)}), got {size!r}")
    chosen = torch.zeros(len(train), dtype=torch.bool)
    chosen[torch.randperm(len(train), generator=torch.Generator().manual_seed(seed))[:size]] = True
    return Split(train.images[~chosen], train.labels[~chosen]), Split(train.images[chosen], train.labels[chosen])


def check_idx(data: bytes, name: str, source: str | Path) -> None:
    """Check that `data` is a complete IDX file of the kind `name` must be.

    Args:
        data: the file's bytes, uncompressed.
        name: one of the four names in `FILES`.
        source: where the bytes came from, for the error message.

    Raises:
        ValueError: wrong magic number, wrong dimensions or wrong length,
            naming the file and what was expected.
    """
    magic, dims = FILES[name]
    ndim = 1 + len(dims)
    header = 4 + 4 * ndim
    if len(data) < header:
        raise ValueError(f"{source}: truncated, {len(data)} bytes is shorter than the IDX header")
    found_magic = int.from_bytes(data[:4], "big")
    if found_magic != magic:
        raise ValueError(
            f"{source}: wrong magic number {found_magic}, expected {magic} for {name}; "
            "is this the right file, and not a gzip file without the .gz suffix?"
        )
    shape = [int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim)]
    if tuple(shape[1:]) != dims:
        raise ValueError(f"{source}: shape {shape}, expected [N, {', '.join(map(str, dims))}]")
    expected = header + shape[0] * (dims[0] * dims[1] if dims else 1)
    if len(data) != expected:
        raise ValueError(
            f"{source}: {len(data)} bytes, expected {expected} for {shape[0]} items "
            "(truncated or damaged file; copy it again)"
        )


def _read_file(path: Path) -> bytes:
    data = path.read_bytes()
    return gzip.decompress(data) if path.suffix == ".gz" else data


def _check_folder(folder: Path) -> None:
    """Raise FileNotFoundError/ValueError unless `folder` holds the four valid files."""
    for name in FILES:
        path = folder / name
        if not path.is_file():
            raise FileNotFoundError(f"{path} is missing")
        check_idx(path.read_bytes(), name, path)


def _import_folder(source: Path, raw: Path) -> None:
    """Copy the four IDX files from `source` (plain or .gz) into the cache folder `raw`.

    Every file is read and checked before anything is written; each is written to
    a temporary name and then renamed, so an interrupted copy leaves no bad file.
    """
    if not source.is_dir():
        raise FileNotFoundError(f"{source} is not a folder")
    contents = {}
    for name in FILES:
        candidates = [source / name, source / f"{name}.gz"]
        found = next((p for p in candidates if p.is_file()), None)
        if found is None:
            raise FileNotFoundError(f"{source} has neither {name} nor {name}.gz")
        try:
            contents[name] = _read_file(found)
        except (OSError, EOFError, gzip.BadGzipFile) as error:
            raise ValueError(f"{found}: cannot be decompressed ({error}); copy it again") from error
        check_idx(contents[name], name, found)
    raw.mkdir(parents=True, exist_ok=True)
    for name, data in contents.items():
        temporary = raw / f".{name}.partial"
        temporary.write_bytes(data)
        os.replace(temporary, raw / name)


def locate_mnist(
    cache: str | Path | None = None,
    mnist_dir: str | Path | None = None,
    download: bool = True,
) -> Path:
    """Make sure the four IDX files are in the cache and return the cache folder.

    Args:
        cache: the root folder torchvision reads (`<cache>/MNIST/raw/`);
            default `helpers.config.data_dir()`.
        mnist_dir: a folder with the four IDX files; default the environment
            variable ``MNIST_DIR`` (None or empty: skipped).
        download: whether to try torchvision's download as a last resort.

    Returns:
        The cache root, ready for `torchvision.datasets.MNIST(root, download=False)`.

    Raises:
        MNISTNotFoundError: no source worked; the message lists each source tried,
            why it failed, and how to fix it.
    """
    cache = Path(cache) if cache is not None else data_dir()
    raw = cache / "MNIST" / "raw"
    if mnist_dir is None:
        mnist_dir = os.environ.get("MNIST_DIR") or None
    tried = []
    try:
        _check_folder(raw)
        return cache
    except (OSError, ValueError) as error:
        tried.append(f"the local cache {raw}: {error}")
    if mnist_dir is not None:
        try:
            _import_folder(Path(mnist_dir).expanduser(), raw)
            return cache
        except (OSError, ValueError) as error:
            tried.append(f"MNIST_DIR={mnist_dir}: {error}")
    else:
        tried.append("MNIST_DIR: not set")
    if download:
        try:
            for train in (True, False):
                torchvision.datasets.MNIST(cache, train=train, download=True)
            _check_folder(raw)
            return cache
        except Exception as error:  # network errors come in many types
            tried.append(f"download through torchvision: {type(error).__name__}: {error}")
    else:
        tried.append("download: switched off")
    lines = "\n".join(f"  {i}. {what}" for i, what in enumerate(tried, 1))
    raise MNISTNotFoundError(f"MNIST could not be loaded. Tried:\n{lines}\n{HOW_TO_FIX}")


def read_raw(root: str | Path) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """Read both splits with torchvision's MNIST reader.

    Returns:
        {"train": (uint8 images [N, 28, 28], int64 labels [N]), "test": (...)}.
    """
    splits = {}
    for split, train in (("train", True), ("test", False)):
        dataset = torchvision.datasets.MNIST(root, train=train, download=False)
        splits[split] = (dataset.data, dataset.targets.long())
    return splits


def load_mnist(
    cache: str | Path | None = None,
    mnist_dir: str | Path | None = None,
    download: bool = True,
    validation: int = VALIDATION_SIZE,
) -> MNIST:
    """Load MNIST as in-memory tensors: train, validation and test.

    Args: as `locate_mnist`, and
        validation: how many training images to hold out for validation
            (`split_validation` with the fixed `VALIDATION_SEED`); 0 keeps all
            60,000 for training and gives an empty validation split.

    Returns:
        `MNIST(train, validation, test)`: `Split`s of float32 images [N, 784]
        normalised with the pixel mean and std of all 60,000 training images
        (0.1307 and 0.3081 on [0, 1]) and int64 labels [N]. By default
        55,000 / 5,000 / 10,000 images.

    Raises:
        MNISTNotFoundError: as `locate_mnist`.

    Used in 01_training and every later notebook.
    """
    splits = read_raw(locate_mnist(cache, mnist_dir, download))
    train_pixels = splits["train"][0].float() / 255
    mean, std = train_pixels.mean(), train_pixels.std()

    def to_split(images: torch.Tensor, labels: torch.Tensor) -> Split:
        pixels = images.reshape(len(images), -1).float() / 255
        return Split((pixels - mean) / std, labels)

    train, held_out = split_validation(to_split(*splits["train"]), validation)
    return MNIST(train, held_out, to_split(*splits["test"]))

"""helpers.data: IDX files written by the test round-trip; bad files give clear errors; real facts of MNIST."""

import gzip
import os
from pathlib import Path

import pytest
import torch

from helpers.data import FILES, MNISTNotFoundError, Split, load_mnist, locate_mnist, read_raw, split_validation


def idx_bytes(array: torch.Tensor, magic: int) -> bytes:
    header = magic.to_bytes(4, "big") + b"".join(d.to_bytes(4, "big") for d in array.shape)
    return header + array.to(torch.uint8).numpy().tobytes()


def write_mnist(folder: Path, n_train=7, n_test=3, compress=False, seed=0) -> dict:
    """Write four tiny IDX files with random content; return what they hold."""
    generator = torch.Generator().manual_seed(seed)
    content = {
        "train-images-idx3-ubyte": torch.randint(0, 256, (n_train, 28, 28), generator=generator),
        "train-labels-idx1-ubyte": torch.randint(0, 10, (n_train,), generator=generator),
        "t10k-images-idx3-ubyte": torch.randint(0, 256, (n_test, 28, 28), generator=generator),
        "t10k-labels-idx1-ubyte": torch.randint(0, 10, (n_test,), generator=generator),
    }
    folder.mkdir(parents=True, exist_ok=True)
    for name, array in content.items():
        data = idx_bytes(array, FILES[name][0])
        if compress:
            (folder / f"{name}.gz").write_bytes(gzip.compress(data))
        else:
            (folder / name).write_bytes(data)
    return content


@pytest.mark.parametrize("compress", [False, True])
def test_idx_round_trip(tmp_path, compress):
    content = write_mnist(tmp_path / "source", compress=compress)
    cache = tmp_path / "cache"
    root = locate_mnist(cache, tmp_path / "source", download=False)
    raw = read_raw(root)
    assert torch.equal(raw["train"][0], content["train-images-idx3-ubyte"].to(torch.uint8))
    assert torch.equal(raw["train"][1], content["train-labels-idx1-ubyte"])
    assert torch.equal(raw["test"][0], content["t10k-images-idx3-ubyte"].to(torch.uint8))
    assert torch.equal(raw["test"][1], content["t10k-labels-idx1-ubyte"])
    # the cache now holds plain IDX files in torchvision's layout, and is used without MNIST_DIR
    assert sorted(p.name for p in (cache / "MNIST" / "raw").iterdir()) == sorted(FILES)
    assert locate_mnist(cache, None, download=False) == cache


def test_load_mnist_normalises_with_training_statistics(tmp_path):
    content = write_mnist(tmp_path / "source", n_train=11, n_test=5)
    train, validation, test = load_mnist(tmp_path / "cache", tmp_path / "source", download=False, validation=0)
    pixels = content["train-images-idx3-ubyte"].float() / 255
    mean, std = pixels.mean(), pixels.std()
    expected_test = ((content["t10k-images-idx3-ubyte"].float() / 255 - mean) / std).reshape(5, 784)
    assert train.images.shape == (11, 784) and train.images.dtype == torch.float32 and len(validation) == 0
    assert test.labels.dtype == torch.int64 and len(test) == 5
    assert torch.allclose(test.images, expected_test, atol=1e-6)
    assert abs(train.images.mean().item()) < 1e-5 and abs(train.images.std().item() - 1) < 1e-5


def test_validation_is_carved_from_training_images_with_training_statistics(tmp_path):
    content = write_mnist(tmp_path / "source", n_train=11, n_test=5)
    whole, _, _ = load_mnist(tmp_path / "cache", tmp_path / "source", download=False, validation=0)
    train, validation, test = load_mnist(tmp_path / "cache", download=False, validation=3)
    assert (len(train), len(validation), len(test)) == (8, 3, 5)
    # every training image lands in exactly one of the two parts, normalised as before
    rows = {tuple(image.tolist()): label for image, label in zip(whole.images, whole.labels.tolist())}
    parts = torch.cat([train.images, validation.images])
    assert sorted(map(tuple, parts.tolist())) == sorted(rows)
    assert all(rows[tuple(image.tolist())] == label
               for image, label in zip(parts, torch.cat([train.labels, validation.labels]).tolist()))
    # the split is fixed: loading again gives the same validation images
    again = load_mnist(tmp_path / "cache", download=False, validation=3).validation
    assert torch.equal(again.images, validation.images)


@pytest.mark.parametrize("size", [-1, 11, 2.5, True, "3"])
def test_bad_validation_size(size):
    split = Split(torch.zeros(11, 784), torch.zeros(11, dtype=torch.long))
    with pytest.raises(ValueError, match="validation size must be an integer"):
        split_validation(split, size)


def test_missing_folder_says_what_was_tried_and_how_to_fix(tmp_path):
    with pytest.raises(MNISTNotFoundError) as error:
        locate_mnist(tmp_path / "cache", tmp_path / "nowhere", download=False)
    message = str(error.value)
    assert "nowhere is not a folder" in message
    assert "local cache" in message and "MNIST_DIR" in message and "download: switched off" in message


def test_missing_file_is_named(tmp_path):
    write_mnist(tmp_path / "source")
    (tmp_path / "source" / "t10k-labels-idx1-ubyte").unlink()
    with pytest.raises(MNISTNotFoundError, match="neither t10k-labels-idx1-ubyte nor t10k-labels-idx1-ubyte.gz"):
        locate_mnist(tmp_path / "cache", tmp_path / "source", download=False)


def test_truncated_file_is_named_and_nothing_is_cached(tmp_path):
    write_mnist(tmp_path / "source")
    path = tmp_path / "source" / "train-images-idx3-ubyte"
    path.write_bytes(path.read_bytes()[:-10])
    with pytest.raises(MNISTNotFoundError, match=r"train-images-idx3-ubyte: 5494 bytes, expected 5504"):
        locate_mnist(tmp_path / "cache", tmp_path / "source", download=False)
    assert not (tmp_path / "cache" / "MNIST" / "raw").exists()


def test_wrong_magic_number_is_named(tmp_path):
    write_mnist(tmp_path / "source")
    path = tmp_path / "source" / "train-labels-idx1-ubyte"
    data = bytearray(path.read_bytes())
    data[3] = 3  # 2051, the magic number of an image file
    path.write_bytes(bytes(data))
    with pytest.raises(MNISTNotFoundError, match="train-labels-idx1-ubyte: wrong magic number 2051, expected 2049"):
        locate_mnist(tmp_path / "cache", tmp_path / "source", download=False)


def test_corrupt_gzip_is_named(tmp_path):
    write_mnist(tmp_path / "source", compress=True)
    path = tmp_path / "source" / "t10k-images-idx3-ubyte.gz"
    path.write_bytes(path.read_bytes()[:20])
    with pytest.raises(MNISTNotFoundError, match="t10k-images-idx3-ubyte.gz: cannot be decompressed"):
        locate_mnist(tmp_path / "cache", tmp_path / "source", download=False)


def test_damaged_cache_is_replaced_from_mnist_dir(tmp_path):
    content = write_mnist(tmp_path / "source")
    cache = tmp_path / "cache"
    locate_mnist(cache, tmp_path / "source", download=False)
    (cache / "MNIST" / "raw" / "train-images-idx3-ubyte").write_bytes(b"junk")
    raw = read_raw(locate_mnist(cache, tmp_path / "source", download=False))
    assert torch.equal(raw["train"][0], content["train-images-idx3-ubyte"].to(torch.uint8))


real = pytest.mark.skipif(not os.environ.get("MNIST_DIR"), reason="MNIST_DIR is not set: no real MNIST to check")


@real
def test_real_mnist_facts(tmp_path):
    raw = read_raw(locate_mnist(tmp_path, os.environ["MNIST_DIR"], download=False))
    train_images, train_labels = raw["train"]
    test_images, test_labels = raw["test"]
    assert train_images.shape == (60_000, 28, 28) and test_images.shape == (10_000, 28, 28)
    assert train_labels[:10].tolist() == [5, 0, 4, 1, 9, 2, 1, 3, 1, 4]
    assert test_labels[:10].tolist() == [7, 2, 1, 0, 4, 1, 4, 9, 5, 9]
    pixels = train_images.double() / 255
    assert round(pixels.mean().item(), 4) == 0.1307
    assert round(pixels.std().item(), 4) == 0.3081

"""Binder's build step (postBuild) run as repo2docker runs it, in a scratch home, and the checkpoints it leaves.

The stand-in: MNIST_DIR (the documented way to point the series at MNIST files) names a tiny synthetic MNIST
written here (5,200 training images, of which 5,000 are the validation split that `baseline()` requires, and 50
test images), so the real recipe trains in seconds instead of minutes; everything else is what Binder runs.
"""

from __future__ import annotations

import os
import shutil
import struct
import subprocess
import sys

import numpy as np
import pytest
import torch

from helpers.config import project_home

ROOT = project_home()


def _idx(path, array: np.ndarray) -> None:
    """Write an IDX file of unsigned bytes (MNIST's format)."""
    magic = 2048 + array.ndim  # 2049 labels, 2051 images
    path.write_bytes(struct.pack(f">I{array.ndim}I", magic, *array.shape) + array.astype(np.uint8).tobytes())


@pytest.fixture
def tiny_mnist(tmp_path):
    rng = np.random.default_rng(0)
    folder = tmp_path / "mnist"
    folder.mkdir()
    for prefix, n in (("train", 5_200), ("t10k", 50)):
        _idx(folder / f"{prefix}-images-idx3-ubyte", rng.integers(0, 256, (n, 28, 28)))
        _idx(folder / f"{prefix}-labels-idx1-ubyte", rng.integers(0, 10, n))
    return folder


def test_postbuild_trains_and_caches_the_seed_0_baselines(tiny_mnist, tmp_path):
    if shutil.which("bash") is None:
        pytest.skip("no bash to run postBuild with")
    assert os.access(ROOT / "postBuild", os.X_OK), "postBuild must be executable (repo2docker runs it as a program)"
    assert not (ROOT / "binder").exists() and not (ROOT / ".binder").exists()  # they would hide postBuild
    home, project = tmp_path / "home", tmp_path / "project"
    home.mkdir()
    python = os.path.dirname(sys.executable)
    env = {"HOME": str(home), "PATH": f"{python}:{os.environ['PATH']}", "PYTHONPATH": str(ROOT),
           "PRUNING_MNIST_HOME": str(project), "MNIST_DIR": str(tiny_mnist), "OMP_NUM_THREADS": "1",
           "PRUNING_MNIST_DEVICE": "cpu", "MPLCONFIGDIR": str(home / "mpl")}
    done = subprocess.run(["bash", str(ROOT / "postBuild")], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.count("trained in") == 2, done.stdout
    names = sorted(path.name for path in (project / "checkpoints").iterdir())
    assert names == ["baseline_l1_seed0.pt", "baseline_l1_seed0_init.pt", "baseline_no-l1_seed0.pt",
                     "baseline_no-l1_seed0_init.pt"]
    check = ("from helpers.training import baseline; from helpers.pruning import sparsity\n"
             "for recipe in ('l1', 'no-l1'):\n"
             "    net, info = baseline(0, recipe=recipe, progress=False)\n"
             "    assert info['loaded'] and info['seed'] == 0 and info['recipe_name'] == recipe, info\n"
             "    print(recipe, sparsity(net)['weights'].iloc[-1])\n")
    loaded = subprocess.run([sys.executable, "-c", check], cwd=ROOT, env=env, capture_output=True, text=True,
                            timeout=300)  # what the app and the notebooks do: loaded at once, no training
    assert loaded.returncode == 0, loaded.stderr[-2000:]
    assert loaded.stdout.split() == ["l1", "2386000", "no-l1", "2386000"]
    again = subprocess.run(["bash", str(ROOT / "postBuild")], cwd=ROOT, env=env, capture_output=True, text=True,
                           timeout=300)  # a rebuild loads what is cached
    assert again.returncode == 0 and again.stdout.count("loaded in") == 2, again.stderr[-2000:]
    assert not (home / ".cache" / "pruning-mnist").exists()  # everything went to PRUNING_MNIST_HOME
    torch.load(project / "checkpoints" / "baseline_l1_seed0.pt", weights_only=False)  # a complete file

"""Our 20-point sweep beside the reference notebook's procedure, timed in the same run.

The reference (noelmat/Pruning-MNIST) copies the model for every k, sorts each
layer's weights (or column norms) to find a threshold, zeroes what falls below
it, and evaluates the test set in batches of 64 through a DataLoader over
torchvision's MNIST dataset with ToTensor and Normalize transforms (per sample). It is
re-created here as faithfully as its notebook describes it; ours is
`helpers.sweeps.sweep`. Usage: python -m benchmarks.sweep
"""

from __future__ import annotations

import copy
import time

import torch
import torchvision
from torch.utils.data import DataLoader
from torchvision import transforms

from benchmarks.common import report, row
from helpers.config import K_LIST
from helpers.data import load_mnist, locate_mnist
from helpers.sweeps import sweep
from helpers.model import linear_layers
from helpers.training import baseline


@torch.no_grad()
def reference_sweep(net) -> list[float]:
    """The reference notebook's procedure: copy, per-layer sort and threshold, evaluate in batches of 64."""
    transform = transforms.Compose([transforms.ToTensor(), transforms.Normalize((0.1307,), (0.3081,))])
    dataset = torchvision.datasets.MNIST(locate_mnist(), train=False, transform=transform)
    loader = DataLoader(dataset, batch_size=64)
    accuracies = []
    for method in ("weight", "unit"):
        for k in K_LIST:
            model = copy.deepcopy(net)
            for _, layer in linear_layers(model)[:-1]:
                w = layer.weight.data
                if method == "weight":
                    ranked = torch.sort(w.abs().flatten())[0]
                    threshold = ranked[int(k / 100 * len(ranked))]
                    w[w.abs() < threshold] = 0
                else:
                    norms = w.norm(dim=1)
                    threshold = torch.sort(norms)[0][int(k / 100 * len(norms))]
                    w[norms < threshold] = 0
            correct = 0
            for images, labels in loader:
                correct += (model(images.view(len(images), -1)).argmax(1) == labels).sum().item()
            accuracies.append(correct / len(dataset))
    return accuracies


def run() -> list[dict]:
    train, validation, test = load_mnist()
    net, _ = baseline(data=(train, validation, test), progress=False, device=torch.device("cpu"))
    started = time.perf_counter()
    reference_sweep(net)
    reference = time.perf_counter() - started
    started = time.perf_counter()
    sweep(net, test)
    ours = time.perf_counter() - started
    return [row("k-sweep, 20 points", "sweep(), s", ours, "reference procedure, s", reference, ">= 5",
                higher_is_better=False)]


if __name__ == "__main__":
    report(run())

"""Training and evaluation on in-memory tensors.

`fit` draws mini-batches straight from the tensors `load_mnist` returns (a new
random permutation every epoch), so the CPU time goes to the matrix products
rather than to a per-sample DataLoader. `baseline` loads the trained network
of the classic experiment from `checkpoints/` or trains and caches it.

Used in 01_training (and by every later notebook through `baseline`).
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from pathlib import Path

import pandas as pd
import torch
from torch import nn
from tqdm.auto import tqdm

from helpers.config import HIDDEN, checkpoint_dir, default_device
from helpers.data import Split, load_mnist
from helpers.model import architecture, load_checkpoint, make_mlp, save_checkpoint
from helpers.pruning import apply_masks_

#: The recipe of the baseline: SGD with Nesterov momentum and a one-cycle learning
#: rate, with weight decay (L2) and a small L1 penalty. Both push the weights the
#: network does not need towards zero, which makes magnitude a faithful guide to
#: importance and the network far easier to prune one-shot (see the README).
RECIPE = dict(epochs=10, lr=0.1, batch_size=128, weight_decay=1e-3, l1=2e-5, momentum=0.9)


@torch.no_grad()
def evaluate(net: nn.Module, data: Split, batch_size: int = 10_000) -> float:
    """Accuracy of `net` on `data`, in [0, 1].

    >>> from helpers.data import Split
    >>> net = torch.nn.Linear(2, 2, bias=False)
    >>> _ = net.weight.data.copy_(torch.eye(2))
    >>> evaluate(net, Split(torch.tensor([[1., 0.], [0., 1.], [1., 0.]]), torch.tensor([0, 1, 1])))
    0.6666666666666666
    """
    return evaluate_loss(net, data, batch_size)[0]


@torch.no_grad()
def evaluate_loss(net: nn.Module, data: Split, batch_size: int = 10_000) -> tuple[float, float]:
    """(accuracy, mean cross-entropy loss) of `net` on `data`, in large batches."""
    if len(data) == 0:
        raise ValueError("cannot evaluate on an empty dataset")
    was_training = net.training
    net.eval()
    device = next(net.parameters()).device
    correct, loss = 0, 0.0
    for start in range(0, len(data), batch_size):
        images = data.images[start : start + batch_size].to(device)
        labels = data.labels[start : start + batch_size].to(device)
        logits = net(images)
        correct += (logits.argmax(1) == labels).sum().item()
        loss += nn.functional.cross_entropy(logits, labels, reduction="sum").item()
    net.train(was_training)
    return correct / len(data), loss / len(data)


def _check_positive(name: str, value: float, integer: bool = False) -> None:
    kind = int if integer else (int, float)
    if isinstance(value, bool) or not isinstance(value, kind) or not value > 0 or not math.isfinite(value):
        raise ValueError(f"{name} must be a positive {'integer' if integer else 'number'}, got {value!r}")


def fit(
    net: nn.Module,
    train: Split,
    test: Split | None = None,
    epochs: int = RECIPE["epochs"],
    lr: float = RECIPE["lr"],
    batch_size: int = RECIPE["batch_size"],
    weight_decay: float = RECIPE["weight_decay"],
    momentum: float = RECIPE["momentum"],
    l1: float = RECIPE["l1"],
    optimizer: str = "sgd",
    seed: int = 0,
    masks: Mapping[str, torch.Tensor] | None = None,
    progress: bool = True,
) -> pd.DataFrame:
    """Train `net` in place with SGD (Nesterov momentum) and a one-cycle learning rate.

    Args:
        net: the network, on the device to train on.
        train: training split.
        test: evaluated after every epoch when given.
        epochs: number of passes over `train` (>= 1).
        lr: peak learning rate of the one-cycle schedule (> 0).
        batch_size: examples per step (>= 1).
        weight_decay: L2 penalty (>= 0).
        momentum: SGD momentum in [0, 1).
        l1: L1 penalty on the weights (>= 0), added to the gradient as
            l1 * sign(w); it pushes unimportant weights towards zero (Han et al. 2015).
        optimizer: "sgd" (Nesterov momentum) or "adam" (AdamW, `weight_decay` decoupled).
        seed: seeds the batch order (the initialisation is seeded by the caller).
        masks: if given, {layer name: bool tensor}; pruned weights (False) are
            zeroed before training and after every step, and their gradients are
            zeroed, so they stay exactly zero (used for fine-tuning pruned nets).
        progress: show a tqdm progress bar.

    Returns:
        One row per epoch: epoch, loss, train_accuracy (on the batches seen
        during the epoch), test_accuracy (NaN without `test`), seconds.

    Raises:
        ValueError: epochs < 1, lr <= 0, batch_size < 1, empty `train`,
            negative weight decay.
    """
    _check_positive("epochs", epochs, integer=True)
    _check_positive("lr", lr)
    _check_positive("batch_size", batch_size, integer=True)
    if not (weight_decay >= 0):
        raise ValueError(f"weight_decay must be >= 0, got {weight_decay!r}")
    if not (l1 >= 0):
        raise ValueError(f"l1 must be >= 0, got {l1!r}")
    if not (0 <= momentum < 1):
        raise ValueError(f"momentum must be in [0, 1), got {momentum!r}")
    if len(train) == 0:
        raise ValueError("the training set is empty")
    device = next(net.parameters()).device
    images, labels = train.images.to(device), train.labels.to(device)
    steps_per_epoch = math.ceil(len(train) / batch_size)
    if optimizer == "sgd":
        # fused: one pass over the weights per step for decay, momentum and update (about 7x less time than
        # the default step on a CPU, where the step would otherwise cost a fifth of the training time)
        stepper = torch.optim.SGD(net.parameters(), lr=lr, momentum=momentum, nesterov=momentum > 0,
                                  weight_decay=weight_decay, fused=True)
    elif optimizer == "adam":
        stepper = torch.optim.AdamW(net.parameters(), lr=lr, weight_decay=weight_decay, fused=True)
    else:
        raise ValueError(f"optimizer must be 'sgd' or 'adam', got {optimizer!r}")
    total_steps = epochs * steps_per_epoch
    if total_steps >= 4:  # a one-cycle schedule needs a few steps to warm up and anneal
        schedule = torch.optim.lr_scheduler.OneCycleLR(stepper, max_lr=lr, total_steps=total_steps,
                                                       pct_start=max(0.25, 2 / total_steps),
                                                       cycle_momentum=optimizer == "sgd")
    else:
        schedule = torch.optim.lr_scheduler.LambdaLR(stepper, lambda step: 1.0)
    modules = dict(net.named_modules())
    weights = [parameter.detach() for parameter in net.parameters()]
    if masks is not None:
        masks = {name: mask.to(device) for name, mask in masks.items()}
        apply_masks_(net, masks)
    generator = torch.Generator().manual_seed(seed)
    history = []
    bar = tqdm(total=total_steps, desc="training", unit="step", disable=not progress, mininterval=0.5)
    net.train()
    for epoch in range(1, epochs + 1):
        started = time.perf_counter()
        order = torch.randperm(len(train), generator=generator).to(device)
        total_loss = torch.zeros((), device=device)
        correct = torch.zeros((), device=device, dtype=torch.long)
        for start in range(0, len(train), batch_size):
            batch = order[start : start + batch_size]
            x, y = images[batch], labels[batch]
            logits = net(x)
            loss = nn.functional.cross_entropy(logits, y)
            stepper.zero_grad(set_to_none=True)
            loss.backward()
            if l1:
                grads = [parameter.grad for parameter in net.parameters()]
                torch._foreach_add_(grads, torch._foreach_sign(weights), alpha=l1)
            if masks is not None:
                for name, mask in masks.items():
                    modules[name].weight.grad.mul_(mask)
            stepper.step()
            schedule.step()
            if masks is not None:
                apply_masks_(net, masks)
            total_loss += loss.detach() * len(y)
            correct += (logits.detach().argmax(1) == y).sum()
            bar.update()
        seconds = time.perf_counter() - started
        row = dict(epoch=epoch, loss=total_loss.item() / len(train),
                   train_accuracy=correct.item() / len(train), test_accuracy=float("nan"), seconds=seconds)
        if test is not None:
            row["test_accuracy"] = evaluate(net, test)
        bar.set_postfix(loss=f"{row['loss']:.4f}", test=f"{row['test_accuracy']:.4f}")
        history.append(row)
    bar.close()
    net.eval()
    return pd.DataFrame(history)


def baseline_path(seed: int = 0) -> Path:
    """Where the baseline of `seed` is cached."""
    return checkpoint_dir() / f"baseline_seed{seed}.pt"


def train_baseline(seed: int, train: Split, test: Split, progress: bool = True,
                   device: torch.device | None = None, **recipe) -> tuple[nn.Sequential, pd.DataFrame]:
    """Train the classic network from scratch with `RECIPE` (overridden by `recipe`)."""
    torch.manual_seed(seed)
    net = make_mlp(HIDDEN).to(device or default_device())
    history = fit(net, train, test, seed=seed, progress=progress, **{**RECIPE, **recipe})
    return net, history


def baseline(seed: int = 0, data: tuple[Split, Split] | None = None, progress: bool = True,
             retrain: bool = False, device: torch.device | None = None) -> tuple[nn.Sequential, dict]:
    """The trained network of the classic experiment: loaded from cache, or trained and cached.

    Args:
        seed: seeds initialisation and batch order; each seed has its own checkpoint.
        data: (train, test) as from `load_mnist`; loaded when needed.
        progress: show the training progress bar.
        retrain: train even if a checkpoint exists (the old one is replaced only
            when the new one is complete).
        device: where to put the network; default `default_device()`.

    Returns:
        (net, metadata): metadata holds seed, test_accuracy, seconds, history
        (the per-epoch table as a dict of lists) and "loaded": whether it came
        from the cache.

    Raises:
        CheckpointError: the cached file is corrupt or of another architecture;
            it is never overwritten silently (move it away, or pass retrain=True).

    Used in 01_training and every later notebook.
    """
    device = device or default_device()
    path = baseline_path(seed)
    if path.exists() and not retrain:
        net, metadata = load_checkpoint(path, expected=[784, *HIDDEN, 10])
        return net.to(device).eval(), {**metadata, "loaded": True, "path": str(path)}
    train, test = data if data is not None else load_mnist()
    started = time.perf_counter()
    net, history = train_baseline(seed, train, test, progress=progress, device=device)
    seconds = time.perf_counter() - started
    metadata = dict(seed=seed, test_accuracy=evaluate(net, test), seconds=seconds, recipe=dict(RECIPE),
                    architecture=architecture(net), history=history.to_dict(orient="list"))
    save_checkpoint(net, path, **metadata)
    return net.eval(), {**metadata, "loaded": False, "path": str(path)}

"""Training and evaluation on in-memory tensors.

`fit` draws mini-batches straight from the tensors `load_mnist` returns (a new
random permutation every epoch), so the CPU time goes to the matrix products
rather than to a per-sample DataLoader. `baseline` loads the trained network
of the classic experiment from `checkpoints/` or trains and caches it, on the
55,000 training images; the 5,000 validation images are for choosing, the test
set only reports.

Used in 01_training (and by every later notebook through `baseline`).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from pathlib import Path

import pandas as pd
import torch
from torch import nn
from tqdm.auto import tqdm

from helpers.config import HIDDEN, checkpoint_dir, default_device
from helpers.data import MNIST, VALIDATION_SIZE, Split, load_mnist
from helpers.model import CheckpointError, architecture, load_checkpoint, make_mlp, save_checkpoint
from helpers.pruning import apply_masks_

#: The recipe of the baseline: SGD with Nesterov momentum and a one-cycle learning
#: rate, with weight decay (L2) and a small L1 penalty. The L1 penalty drives the
#: weights the network does not need to (almost) exactly zero during training, which
#: makes the network far easier to prune one-shot; its strength was chosen on the
#: validation split (`python -m benchmarks.recipe`, see 01_training).
#: The momentum cycles against the learning rate, as `OneCycleLR` does: 0.95 while the rate is low, down to 0.85
#: at its peak, back to 0.95 as it anneals (the pair is (high, low); a single number is a constant momentum).
RECIPE = dict(epochs=10, lr=0.1, batch_size=128, weight_decay=1e-3, l1=2e-5, momentum=(0.95, 0.85))

#: Named recipes with a cached baseline each: the series' recipe, and the same without L1
#: (the control that shows what L1 buys and what it costs, 01-03).
RECIPES = {"l1": RECIPE, "no-l1": {**RECIPE, "l1": 0.0}}

#: Seeds of `initial_network` are below this bound; random restarts (`restart_network`) draw above it,
#: so a restart can never reproduce a baseline's initial weights.
SEED_BOUND = 2**31


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
    # a network without parameters (int8, quantized: its weights are packed) runs on the CPU
    device = next(net.parameters(), torch.empty(0)).device
    correct, loss = 0, 0.0
    for start in range(0, len(data), batch_size):
        images = data.images[start : start + batch_size].to(device)
        labels = data.labels[start : start + batch_size].to(device)
        logits = net(images)
        correct += (logits.argmax(1) == labels).sum().item()
        loss += nn.functional.cross_entropy(logits, labels, reduction="sum").item()
    net.train(was_training)
    return correct / len(data), loss / len(data)


@torch.no_grad()
def correct(net: nn.Module, data: Split, batch_size: int = 10_000) -> torch.Tensor:
    """Per image of `data`, whether `net` classifies it right: a boolean tensor on the CPU.

    Two networks scored on the same images are compared with `helpers.stats.paired(correct(a, data),
    correct(b, data))`; `correct(net, data).float().mean()` equals `evaluate(net, data)`.

    >>> from helpers.data import Split
    >>> net = torch.nn.Linear(2, 2, bias=False)
    >>> _ = net.weight.data.copy_(torch.eye(2))
    >>> correct(net, Split(torch.tensor([[1., 0.], [0., 1.], [1., 0.]]), torch.tensor([0, 1, 1]))).tolist()
    [True, True, False]

    Used in 02-09.
    """
    if len(data) == 0:
        raise ValueError("cannot evaluate on an empty dataset")
    was_training = net.training
    net.eval()
    device = next(net.parameters(), torch.empty(0)).device
    right = [(net(data.images[start : start + batch_size].to(device)).argmax(1).cpu()
              == data.labels[start : start + batch_size]) for start in range(0, len(data), batch_size)]
    net.train(was_training)
    return torch.cat(right)


def _check_positive(name: str, value: float, integer: bool = False) -> None:
    kind = int if integer else (int, float)
    if isinstance(value, bool) or not isinstance(value, kind) or not value > 0 or not math.isfinite(value):
        raise ValueError(f"{name} must be a positive {'integer' if integer else 'number'}, got {value!r}")


def fit(
    net: nn.Module,
    train: Split,
    test: Split | None = None,
    validation: Split | None = None,
    epochs: int = RECIPE["epochs"],
    lr: float = RECIPE["lr"],
    batch_size: int = RECIPE["batch_size"],
    weight_decay: float = RECIPE["weight_decay"],
    momentum: float | tuple[float, float] = RECIPE["momentum"],
    l1: float = RECIPE["l1"],
    optimizer: str = "sgd",
    schedule: str = "one-cycle",
    seed: int = 0,
    masks: Mapping[str, torch.Tensor] | None = None,
    progress: bool = True,
    callback: Callable[[int, nn.Module], None] | None = None,
    every: int = 1,
    teacher: torch.Tensor | None = None,
    distillation: float = 0.0,
    temperature: float = 4.0,
) -> pd.DataFrame:
    """Train `net` in place with SGD (Nesterov momentum) and a one-cycle learning rate.

    Args:
        net: the network, on the device to train on.
        train: training split.
        test: evaluated after every epoch when given (to report, never to choose).
        validation: evaluated after every epoch when given (to choose).
        epochs: number of passes over `train` (>= 1).
        lr: peak learning rate of the one-cycle schedule (> 0).
        batch_size: examples per step (>= 1).
        weight_decay: L2 penalty (>= 0).
        momentum: SGD momentum in [0, 1): one number for a constant momentum, or a pair (high, low)
            that the one-cycle schedule cycles against the learning rate (high while the rate is
            low, low at its peak), as in `RECIPE`.
        l1: L1 penalty on the weights (>= 0), added to the gradient as
            l1 * sign(w); it pushes unimportant weights towards zero (Han et al. 2015).
        optimizer: "sgd" (Nesterov momentum) or "adam" (AdamW, `weight_decay` decoupled).
        schedule: "one-cycle" (warm up to `lr`, then anneal) or "constant" (`lr` throughout,
            as Frankle and Carbin train; 08_lottery_tickets).
        seed: seeds the batch order (the initialisation is seeded by the caller).
        masks: if given, {layer name: bool tensor}; pruned weights (False) are
            zeroed before training and after every step, and their gradients are
            zeroed, so they stay exactly zero (used for fine-tuning pruned nets).
        progress: show a tqdm progress bar.
        callback: if given, called as callback(step, net) before the first step (step 0) and
            after every `every`-th step, with the masks applied (to record a validation curve or
            keep the weights of a step; 08_lottery_tickets).
        every: steps between two calls of `callback` (>= 1).
        teacher: a teacher's logits on every image of `train`, in order (knowledge distillation, Hinton et al.
            2015): the loss becomes (1 − distillation) · cross-entropy(labels) + distillation · T² ·
            KL(teacher_T ‖ student_T), with `_T` the softmax at `temperature` T (used by `frontier.distil`).
        distillation: the weight of the teacher's term, in [0, 1]; 0 trains on the labels alone.
        temperature: T (> 0).

    Returns:
        One row per epoch: epoch, loss, train_accuracy (on the batches seen
        during the epoch), validation_accuracy (NaN without `validation`),
        test_accuracy (NaN without `test`), seconds.

    Raises:
        ValueError: epochs < 1, lr <= 0, batch_size < 1, empty `train`,
            negative weight decay, an unknown optimizer or schedule, distillation outside [0, 1] or
            distillation > 0 without teacher logits for every training image.
    """
    _check_positive("epochs", epochs, integer=True)
    _check_positive("temperature", temperature)
    if not 0 <= distillation <= 1:
        raise ValueError(f"distillation must be in [0, 1], got {distillation!r}")
    if distillation > 0 and (teacher is None or len(teacher) != len(train)):
        raise ValueError("distillation > 0 needs the teacher's logits on every training image, in order "
                         "(frontier.teacher_logits(teacher_net, train))")
    _check_positive("lr", lr)
    _check_positive("batch_size", batch_size, integer=True)
    _check_positive("every", every, integer=True)
    if schedule not in ("one-cycle", "constant"):
        raise ValueError(f"schedule must be 'one-cycle' or 'constant', got {schedule!r}")
    if not (weight_decay >= 0):
        raise ValueError(f"weight_decay must be >= 0, got {weight_decay!r}")
    if not (l1 >= 0):
        raise ValueError(f"l1 must be >= 0, got {l1!r}")
    cycle = isinstance(momentum, (tuple, list))
    if cycle and (len(momentum) != 2 or not momentum[0] >= momentum[1]):
        raise ValueError(f"momentum must be one number or a pair (high, low) with high >= low, got {momentum!r}")
    if not all(isinstance(m, (int, float)) and 0 <= m < 1 for m in (momentum if cycle else [momentum])):
        raise ValueError(f"momentum must be in [0, 1), got {momentum!r}")
    if cycle and optimizer == "sgd" and schedule != "one-cycle":
        raise ValueError(f"a momentum pair {tuple(momentum)} cycles only with schedule='one-cycle': "
                         "pass one number for a constant momentum")
    if len(train) == 0:
        raise ValueError("the training set is empty")
    high = momentum[0] if cycle else momentum
    device = next(net.parameters()).device
    images, labels = train.images.to(device), train.labels.to(device)
    steps_per_epoch = math.ceil(len(train) / batch_size)
    if optimizer == "sgd":
        # fused: one pass over the weights per step for decay, momentum and update (about 7x less time than
        # the default step on a CPU, where the step would otherwise cost a fifth of the training time)
        stepper = torch.optim.SGD(net.parameters(), lr=lr, momentum=high, nesterov=high > 0,
                                  weight_decay=weight_decay, fused=True)
    elif optimizer == "adam":
        stepper = torch.optim.AdamW(net.parameters(), lr=lr, weight_decay=weight_decay, fused=True)
    else:
        raise ValueError(f"optimizer must be 'sgd' or 'adam', got {optimizer!r}")
    total_steps = epochs * steps_per_epoch
    if schedule == "one-cycle" and total_steps >= 4:  # a one-cycle schedule needs a few steps to warm up and anneal
        scheduler = torch.optim.lr_scheduler.OneCycleLR(stepper, max_lr=lr, total_steps=total_steps,
                                                       pct_start=max(0.25, 2 / total_steps),
                                                       cycle_momentum=cycle and optimizer == "sgd",
                                                       max_momentum=high if optimizer == "sgd" else 0.95,
                                                       base_momentum=momentum[1] if cycle else 0.85)
    else:
        scheduler = torch.optim.lr_scheduler.LambdaLR(stepper, lambda step: 1.0)
    modules = dict(net.named_modules())
    weights = [parameter.detach() for parameter in net.parameters()]
    if masks is not None:
        # as 0/1 floats once, so that the two products per step need no conversion
        masks = {name: mask.to(device=device, dtype=modules[name].weight.dtype) for name, mask in masks.items()}
        apply_masks_(net, masks)
    soft = (teacher.to(device) / temperature).log_softmax(1) if distillation > 0 else None
    generator = torch.Generator().manual_seed(seed)
    history = []
    bar = tqdm(total=total_steps, desc="training", unit="step", disable=not progress, mininterval=0.5)
    net.train()
    step = 0
    if callback is not None:
        callback(0, net)
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
            if soft is not None:
                kl = nn.functional.kl_div((logits / temperature).log_softmax(1), soft[batch], log_target=True,
                                          reduction="batchmean")
                loss = (1 - distillation) * loss + distillation * temperature**2 * kl
            stepper.zero_grad(set_to_none=True)
            loss.backward()
            if l1:
                grads = [parameter.grad for parameter in net.parameters()]
                torch._foreach_add_(grads, torch._foreach_sign(weights), alpha=l1)
            if masks is not None:
                for name, mask in masks.items():
                    modules[name].weight.grad.mul_(mask)
            stepper.step()
            scheduler.step()
            if masks is not None:
                apply_masks_(net, masks)
            total_loss += loss.detach() * len(y)
            correct += (logits.detach().argmax(1) == y).sum()
            bar.update()
            step += 1
            if callback is not None and step % every == 0:
                callback(step, net)
                net.train()
        seconds = time.perf_counter() - started
        row = dict(epoch=epoch, loss=total_loss.item() / len(train),
                   train_accuracy=correct.item() / len(train), validation_accuracy=float("nan"),
                   test_accuracy=float("nan"), seconds=seconds)
        for name, split in (("validation", validation), ("test", test)):
            if split is not None:
                row[f"{name}_accuracy"] = evaluate(net, split)
                bar.set_postfix({"loss": f"{row['loss']:.4f}", name: f"{row[f'{name}_accuracy']:.4f}"})
        history.append(row)
    bar.close()
    net.eval()
    return pd.DataFrame(history)


def _legacy(stored: dict | None) -> dict | None:
    """A recipe stored before the momentum was written as the (high, low) pair it always cycled through:
    `momentum=0.9` under one-cycle SGD meant OneCycleLR's default cycle 0.95 -> 0.85, the same training."""
    if isinstance(stored, dict) and stored.get("momentum") == 0.9:
        return {**stored, "momentum": (0.95, 0.85)}
    if isinstance(stored, dict) and isinstance(stored.get("momentum"), list):
        return {**stored, "momentum": tuple(stored["momentum"])}
    return stored


def _check_recipe_name(recipe: str) -> dict:
    if recipe not in RECIPES:
        raise ValueError(f"recipe must be one of {sorted(RECIPES)}, got {recipe!r}")
    return RECIPES[recipe]


def _check_seed(seed: int) -> int:
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < SEED_BOUND:
        raise ValueError(f"seed must be an integer in [0, 2**31), got {seed!r}")
    return seed


def baseline_path(seed: int = 0, recipe: str = "l1") -> Path:
    """Where the baseline of `seed` trained with `RECIPES[recipe]` is cached."""
    _check_recipe_name(recipe)
    return checkpoint_dir() / f"baseline_{recipe}_seed{_check_seed(seed)}.pt"


def initial_path(seed: int = 0, recipe: str = "l1") -> Path:
    """Where the initial weights of `baseline(seed, recipe=recipe)` are saved, beside its checkpoint."""
    return baseline_path(seed, recipe).with_name(f"baseline_{recipe}_seed{seed}_init.pt")


def initial_weights(seed: int = 0, recipe: str = "l1", device: torch.device | None = None) -> nn.Sequential:
    """The initial weights `baseline(seed, recipe=recipe)` was trained from, as saved beside its checkpoint.

    Rewinding to these is exact whatever PyTorch version regenerates `initial_network`
    (08_lottery_tickets). The file is only read, never written here.

    Raises:
        CheckpointError: the file is missing (the baseline was trained before initial weights were
            saved, or they were deleted), corrupt, or of another architecture.
    """
    path = initial_path(seed, recipe)
    if not path.is_file():
        raise CheckpointError(
            f"the initial weights of the baseline (seed {seed}, recipe {recipe!r}) are missing: no {path}. "
            f"They are saved when the baseline is trained: baseline({seed}, recipe={recipe!r}, retrain=True) "
            "trains it again and saves both (initial_network(seed) regenerates them with this PyTorch version)")
    net, _ = load_checkpoint(path, expected=[784, *HIDDEN, 10])
    return net.to(device or default_device())


def initial_network(seed: int = 0, device: torch.device | None = None) -> nn.Sequential:
    """The baseline's initial weights for `seed`, before any training (PyTorch's default init, seeded).

    `baseline(seed)` starts from exactly these weights, so rewinding to them is exact
    (04_fine_tuning, 08_lottery_tickets).
    """
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(_check_seed(seed))
        net = make_mlp(HIDDEN)
    return net.to(device or default_device())


def restart_network(net: nn.Module, seed: int = 0) -> nn.Sequential:
    """A fresh random initialisation shaped like `net` that can never equal a baseline's initial weights.

    It is drawn from seed `SEED_BOUND + seed`, outside the range of the baseline seeds, so
    `restart_network(net, s)` differs from `initial_network(t)` for every s and t.
    """
    widths = architecture(net)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(SEED_BOUND + _check_seed(seed))
        fresh = make_mlp(tuple(widths[1:-1]), inputs=widths[0], classes=widths[-1])
    return fresh.to(next(net.parameters()).device)


def train_baseline(seed: int, train: Split, validation: Split | None = None, progress: bool = True,
                   device: torch.device | None = None, **recipe) -> tuple[nn.Sequential, pd.DataFrame]:
    """Train the classic network from `initial_network(seed)` with `RECIPE` (overridden by `recipe`)."""
    net = initial_network(seed, device)
    history = fit(net, train, validation=validation, seed=seed, progress=progress, **{**RECIPE, **recipe})
    return net, history


def baseline(seed: int = 0, data: MNIST | None = None, progress: bool = True,
             retrain: bool = False, device: torch.device | None = None,
             recipe: str = "l1") -> tuple[nn.Sequential, dict]:
    """The trained network of the classic experiment: loaded from cache, or trained and cached.

    Args:
        seed: seeds initialisation and batch order; each seed has its own checkpoint.
        data: `MNIST(train, validation, test)` as from `load_mnist`; loaded when needed.
            It trains on `train`, watches `validation` after every epoch and reports `test`.
        progress: show the training progress bar.
        retrain: train even if a checkpoint exists (the old one is replaced only
            when the new one is complete).
        device: where to put the network; default `default_device()`.
        recipe: a key of `RECIPES`: "l1" (the series' recipe) or "no-l1" (the same without L1).
            When it trains, it also saves the initial weights beside the checkpoint
            (`initial_path`, read by `initial_weights`), once: they are never overwritten.

    Returns:
        (net, metadata): metadata holds seed, recipe, validation_accuracy,
        test_accuracy, seconds, history (the per-epoch table as a dict of
        lists), "loaded" (whether it came from the cache) and "path".

    Raises:
        CheckpointError: the cached file is corrupt, of another architecture, or
            trained with another recipe or split; it is never overwritten silently
            (move it away, or pass retrain=True).

    Used in 01_training and every later notebook.
    """
    settings = _check_recipe_name(recipe)
    device = device or default_device()
    path = baseline_path(seed, recipe)
    if path.exists() and not retrain:
        net, metadata = load_checkpoint(path, expected=[784, *HIDDEN, 10])
        if _legacy(metadata.get("recipe")) != settings or metadata.get("validation_size") != VALIDATION_SIZE:
            raise CheckpointError(
                f"{path} was trained with recipe {metadata.get('recipe')} and "
                f"{metadata.get('validation_size', 'no')} validation images, not {settings} and {VALIDATION_SIZE}; "
                "move it away or pass retrain=True to train it again")
        return net.to(device).eval(), {**metadata, "loaded": True, "path": str(path)}
    train, validation, test = data if data is not None else load_mnist()
    if len(validation) != VALIDATION_SIZE:
        raise ValueError(f"baseline() needs the standard split with {VALIDATION_SIZE} validation images, "
                         f"got {len(validation)}; use load_mnist() with its default validation size")
    if not initial_path(seed, recipe).exists():  # saved once, never overwritten: what rewinding goes back to
        save_checkpoint(initial_network(seed), initial_path(seed, recipe), seed=seed, recipe_name=recipe,
                        kind="initial weights")
    started = time.perf_counter()
    net, history = train_baseline(seed, train, validation, progress=progress, device=device, **settings)
    seconds = time.perf_counter() - started
    metadata = dict(seed=seed, recipe=dict(settings), recipe_name=recipe, validation_size=VALIDATION_SIZE,
                    validation_accuracy=evaluate(net, validation), test_accuracy=evaluate(net, test),
                    seconds=seconds, architecture=architecture(net), history=history.to_dict(orient="list"))
    save_checkpoint(net, path, **metadata)
    return net.eval(), {**metadata, "loaded": False, "path": str(path)}

"""Pruning during training: networks that get sparse (gradual magnitude pruning) or stay sparse (RigL) while they train.

- **Gradual magnitude pruning** (Zhu & Gupta 2017) starts dense and prunes each layer to the share
  keep(t) = keep + (100 − keep)(1 − (t − t₀)/(t₁ − t₀))³ every `interval` steps between t₀ and t₁:
  fast at first, slowly at the end. Exact counts at every pruning step; a weight once pruned stays pruned.
- **RigL** (Evci et al. 2020) is sparse from the first step: every ΔT steps until T_end it drops, in each
  layer, the fraction f(t) = α/2 (1 + cos(πt/T_end)) of its active weights with the smallest magnitude and
  grows as many inactive ones with the largest gradient magnitude (the dense gradient of that step's
  batch); grown weights start at zero, so every layer keeps its count exactly.
- **fixed** masks (pruning at initialization, `helpers.at_init`) train through the same loop, so that every
  method is counted the same way.

`train_sparse` is a loop of its own rather than `training.fit`: fit copies its masks once and zeroes the
gradients of pruned weights before its callback can see them, while RigL needs the *dense* gradient on
the update step, masks that change during training, and the optimizer's state (momentum, Adam's moments)
reset for the weights that leave or join the mask. Masked weights are exactly zero after every step.

Training cost is counted from the masks at every step, in multiply-adds (as `pruning.flops`): a step costs
3 × (kept weights) per image (forward, and the two products of the backward pass); RigL's update step
computes the dense weight gradient, 2 × kept + dense per image (Evci et al., appendix H).

Used in 10_when_to_prune.
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import pandas as pd
import torch
from torch import nn
from tqdm.auto import tqdm

from helpers.at_init import check_keep, kept_count, largest_count
from helpers.data import Split
from helpers.model import linear_layers
from helpers.pruning import apply_masks_, check_masks, prunable_layers
from helpers.training import evaluate

__all__ = ["METHODS", "layer_keeps", "random_masks", "cubic_keep", "rigl_fraction", "training_flops", "GradualMagnitude", "RigL",
           "FixedMasks", "SparseRun", "train_sparse"]

METHODS = ("gradual", "rigl", "fixed")


def layer_keeps(net: nn.Module, keep: float | Mapping[str, float], distribution: str = "uniform",
                include_output: bool = False) -> dict[str, float]:
    """{layer name: percentage kept} for a share `keep` of the prunable weights.

    Args:
        net: the network.
        keep: a percentage in (0, 100], or {layer name: percentage} (then `distribution` is not used).
        distribution: "uniform" (every layer keeps `keep`%) or "erk" (Erdős–Rényi-Kernel, Evci et al.: a
            layer's density ∝ (fan_in + fan_out)/(fan_in · fan_out), capped at 100%, scaled so that `keep`%
            of all ranked weights are kept: small layers stay denser).
        include_output: share out the output layer too.

    >>> from helpers.model import make_mlp
    >>> keeps = layer_keeps(make_mlp((100, 100)), 10, "erk")
    >>> round(sum(keeps[n] * w for n, w in (("0", 78400), ("2", 10000))) / 88400, 6)
    10.0
    """
    layers = prunable_layers(net, include_output)
    if isinstance(keep, Mapping):
        unknown = set(keep) - set(dict(linear_layers(net)))
        if unknown:
            raise ValueError(f"per-layer keep for {sorted(unknown)}, but the network's Linear layers are "
                             f"{[name for name, _ in linear_layers(net)]}")
        return {name: check_keep(value) for name, value in keep.items()}
    check_keep(keep)
    if distribution == "uniform":
        return {name: keep for name in layers}
    if distribution != "erk":
        raise ValueError(f"distribution must be 'uniform' or 'erk', got {distribution!r}")
    sizes = {name: layer.weight.numel() for name, layer in layers.items()}
    raw = {name: sum(layer.weight.shape) / layer.weight.numel() for name, layer in layers.items()}
    budget = keep / 100 * sum(sizes.values())
    dense: set[str] = set()
    while True:
        scale = (budget - sum(sizes[n] for n in dense)) / sum(raw[n] * sizes[n] for n in raw if n not in dense)
        over = {n for n in raw if n not in dense and scale * raw[n] > 1}
        if not over:
            break
        dense |= over
    return {name: 100.0 if name in dense else 100 * scale * raw[name] for name in layers}


def random_masks(net: nn.Module, shares: Mapping[str, float], seed: int = 0) -> dict[str, torch.Tensor]:
    """Masks keeping exactly kept_count(shares[layer], n) weights of each layer, at places drawn from `seed`."""
    layers = dict(linear_layers(net))
    generator = torch.Generator().manual_seed(seed)
    masks = {}
    for name, share in shares.items():
        flat = torch.zeros(layers[name].weight.numel(), dtype=torch.bool)
        flat[torch.randperm(len(flat), generator=generator)[:kept_count(share, len(flat))]] = True
        masks[name] = flat.view(layers[name].weight.shape)
    return masks


def cubic_keep(step: int, start: int, end: int, keep: float, initial: float = 100.0) -> float:
    """Zhu & Gupta's share kept at `step`: `initial` (100%) until `start`, keep + (initial − keep)(1 − progress)³,
    `keep` from `end`.

    >>> [round(cubic_keep(t, 0, 10, 10), 2) for t in (0, 5, 10, 20)]
    [100.0, 21.25, 10.0, 10.0]
    """
    progress = min(max((step - start) / max(end - start, 1), 0.0), 1.0)
    return keep + (initial - keep) * (1 - progress) ** 3


def rigl_fraction(step: int, alpha: float, end: int) -> float:
    """RigL's update fraction α/2 · (1 + cos(π · step / end)), 0 from `end` on.

    >>> [round(rigl_fraction(step, 0.3, 100), 6) for step in (0, 50, 100)]
    [0.3, 0.15, 0.0]
    """
    return alpha / 2 * (1 + math.cos(math.pi * step / end)) if step < end else 0.0


def _kept_weights(net: nn.Module, masks: Mapping[str, torch.Tensor]) -> int:
    """Weights used by a forward pass: the kept ones of masked layers, all of the others."""
    return sum(int(masks[name].sum()) if name in masks else layer.weight.numel() for name, layer in linear_layers(net))


def training_flops(net: nn.Module, masks: Mapping[str, torch.Tensor] | None, examples: int) -> int:
    """Multiply-adds to train on `examples` images with `masks` held fixed (None: dense): 3 × kept weights each.

    >>> from helpers.model import make_mlp
    >>> training_flops(make_mlp((10,), inputs=4, classes=2), None, 100)
    18000
    """
    return 3 * _kept_weights(net, masks or {}) * examples


class FixedMasks:
    """Masks held fixed all through training (pruning at initialization, or a dense run with no masks)."""

    def __init__(self, masks: Mapping[str, torch.Tensor] | None = None):
        self.masks = {name: mask.bool().clone() for name, mask in (masks or {}).items()}
        self.updates: list[dict] = []

    def wants_gradient(self, step: int) -> bool:
        return False

    def update(self, step: int, net: nn.Module, grads: Mapping[str, torch.Tensor] | None = None) -> bool:
        return False


class GradualMagnitude:
    """Zhu & Gupta's gradual magnitude pruning from the dense network, layer by layer, on a cubic schedule.

    Every `interval` steps from `start` to `end` (and at `end`), each layer keeps exactly
    round(cubic_keep(step)/100 · n) of its weights still alive, those of largest magnitude.
    With `initial` below 100 it starts sparse instead: random masks keeping `initial`% of the weights (at the same
    `distribution`), pruned on the same schedule from there (a sparse start, as GraNet's; Liu et al. 2021).
    """

    def __init__(self, net: nn.Module, keep: float | Mapping[str, float], total_steps: int, start: float = 0.1,
                 end: float = 0.7, interval: int = 100, distribution: str = "uniform", include_output: bool = False,
                 initial: float = 100.0, seed: int = 0):
        if not 0 <= start < end <= 1:
            raise ValueError(f"start and end are fractions of training with 0 <= start < end <= 1, "
                             f"got start={start!r}, end={end!r}")
        _check_interval(interval)
        self.keeps = layer_keeps(net, keep, distribution, include_output)
        self.initial = layer_keeps(net, initial, distribution, include_output)
        fewer = [name for name in self.keeps if self.initial[name] < self.keeps[name]]
        if fewer:
            raise ValueError(f"initial ({initial!r}%) keeps fewer weights than keep in layers {fewer}: "
                             f"start from a larger share than the one you prune to")
        self.start, self.end = round(start * total_steps), round(end * total_steps)
        self.interval = interval
        self.masks = random_masks(net, self.initial, seed)
        self.updates: list[dict] = []

    def wants_gradient(self, step: int) -> bool:
        return False

    def update(self, step: int, net: nn.Module, grads: Mapping[str, torch.Tensor] | None = None) -> bool:
        """Prune to the schedule's share if `step` is a pruning step; True when the masks changed."""
        if not (self.start < step <= self.end and ((step - self.start) % self.interval == 0 or step == self.end)):
            return False
        layers = dict(linear_layers(net))
        for name, mask in self.masks.items():
            weight = layers[name].weight.detach()
            count = kept_count(cubic_keep(step, self.start, self.end, self.keeps[name], self.initial[name]), mask.numel())
            score = torch.where(mask.to(weight.device), weight.abs(), torch.tensor(-1.0, device=weight.device))
            new = largest_count(score, count).cpu()
            self.updates.append(dict(step=step, layer=name, kept=count, pruned=int((mask & ~new).sum()), grown=0))
            self.masks[name] = new
        return True


class RigL:
    """The Rigged Lottery (Evci et al. 2020): drop by magnitude, grow by gradient magnitude, count kept fixed.

    On an update step each layer drops its round(f(t) · active) active weights of smallest magnitude and grows
    as many of the others (the just-dropped included) with the largest dense-gradient magnitude. A grown
    weight starts at zero, with its optimizer state zeroed; a weight dropped and grown back in the same update
    simply stays, unchanged. As in the authors' code, the update step changes the masks instead of the weights
    (`train_sparse` takes no optimizer step on it). Ties go to the first position: the masks are deterministic.

    Args:
        net: the network to train (only its shapes and, for the first masks, nothing else are read).
        keep: percentage of the prunable weights kept, or {layer: percentage}.
        total_steps: optimizer steps of the whole training.
        interval: ΔT, steps between two updates (the paper: 100).
        alpha: the initial update fraction α (the paper: 0.3).
        end: T_end as a fraction of training; no update after it (the paper: 0.75).
        distribution: "erk" (the paper's default) or "uniform" per-layer shares.
        masks: start from these masks (e.g. SNIP's) instead of random ones at the `distribution`.
        include_output: sparsify the output layer too.
        seed: seeds the random first masks.

    Raises:
        ValueError: `interval` so long that no update happens before T_end; fix it by a smaller interval
            or a longer training.
    """

    def __init__(self, net: nn.Module, keep: float | Mapping[str, float], total_steps: int, interval: int = 100,
                 alpha: float = 0.3, end: float = 0.75, distribution: str = "erk",
                 masks: Mapping[str, torch.Tensor] | None = None, include_output: bool = False, seed: int = 0):
        _check_interval(interval)
        if not 0 < alpha <= 1:
            raise ValueError(f"alpha, the fraction of active weights updated at first, must be in (0, 1], "
                             f"got {alpha!r}")
        if not 0 < end <= 1:
            raise ValueError(f"end (T_end as a fraction of training) must be in (0, 1], got {end!r}")
        self.end = round(end * total_steps)
        if interval >= self.end:
            raise ValueError(f"the RigL update interval ({interval} steps) is not shorter than the time it may update "
                             f"the masks (T_end = {self.end} of {total_steps} steps): no update would ever happen. "
                             f"Pass a smaller interval (the paper uses 100) or train longer")
        self.interval, self.alpha = interval, alpha
        if masks is not None:
            check_masks(net, masks)
            self.masks = {name: mask.bool().cpu().clone() for name, mask in masks.items()}
        else:
            self.masks = random_masks(net, layer_keeps(net, keep, distribution, include_output), seed)
        self.updates: list[dict] = []
        self.grown: dict[str, torch.Tensor] = {}

    def wants_gradient(self, step: int) -> bool:
        """Whether `step` is an update step (it then needs the dense gradient of its batch)."""
        return 0 < step < self.end and step % self.interval == 0

    def update(self, step: int, net: nn.Module, grads: Mapping[str, torch.Tensor] | None = None) -> bool:
        """Drop and grow in every layer; `grads` are the dense gradients of the layers' weights. True if masks changed.

        Sets the grown weights of `net` to zero (they start at zero) and zeroes the dropped ones;
        `self.grown` holds, per layer, the weights grown by this update.
        """
        if not self.wants_gradient(step):
            return False
        if grads is None:
            raise ValueError("RigL grows by the dense gradient: pass grads={layer name: gradient of its weight}")
        fraction = rigl_fraction(step, self.alpha, self.end)
        layers = dict(linear_layers(net))
        self.grown = {}
        for name, mask in self.masks.items():
            weight = layers[name].weight
            active = mask.to(weight.device)
            count = round(fraction * int(active.sum()))
            low = torch.tensor(-math.inf, device=weight.device)
            # drop: the `count` active weights of smallest magnitude (keep the others, largest first)
            survivors = largest_count(torch.where(active, weight.detach().abs(), low), int(active.sum()) - count)
            # grow: the `count` weights not among the survivors with the largest gradient magnitude
            grow = largest_count(torch.where(survivors, low, grads[name].abs().to(weight.device)), count)
            new = survivors | grow
            grown = new & ~active
            with torch.no_grad():
                weight.masked_fill_(grown | ~new, 0.0)
            self.grown[name] = grown.cpu()
            self.updates.append(dict(step=step, layer=name, kept=int(new.sum()), pruned=int((active & ~new).sum()),
                                     grown=int(grown.sum())))
            self.masks[name] = new.cpu()
        return True


def _check_interval(interval: int) -> None:
    if isinstance(interval, bool) or not isinstance(interval, int) or interval < 1:
        raise ValueError(f"interval must be a positive number of steps, got {interval!r}")


@dataclass
class SparseRun:
    """What `train_sparse` returns.

    Attributes:
        net: the trained network (a copy; the one passed in is not modified), masked weights exactly zero.
        masks: the final masks.
        history: one row per epoch: epoch, loss, train_accuracy, validation_accuracy, test_accuracy,
            kept (weights used at the end of the epoch, all layers), flops (multiply-adds so far), seconds.
        steps: one row per step: step, kept (weights used by that step), flops (its multiply-adds), update
            (whether the masks changed before it).
        updates: one row per layer per mask update: step, layer, kept, pruned, grown.
    """

    net: nn.Module
    masks: dict[str, torch.Tensor]
    history: pd.DataFrame
    steps: pd.DataFrame
    updates: pd.DataFrame = field(default_factory=pd.DataFrame)

    @property
    def flops(self) -> int:
        """Multiply-adds of the whole training."""
        return int(self.steps["flops"].sum())


def _reset_state(stepper: torch.optim.Optimizer, weight: torch.Tensor, mask: torch.Tensor) -> None:
    """Zero the optimizer's per-weight state (momentum, Adam's moments) outside `mask`."""
    for value in stepper.state.get(weight, {}).values():
        if isinstance(value, torch.Tensor) and value.shape == weight.shape:
            value.mul_(mask)


def train_sparse(net: nn.Module, train: Split, method: str = "rigl", keep: float | Mapping[str, float] = 1.0,
                 validation: Split | None = None, test: Split | None = None, epochs: int = 10, lr: float = 1e-3,
                 batch_size: int = 128, optimizer: str = "adam", weight_decay: float = 0.0, momentum: float = 0.9,
                 schedule: str = "constant", seed: int = 0, masks: Mapping[str, torch.Tensor] | None = None,
                 progress: bool = True, callback: Callable[[int, nn.Module, dict], None] | None = None,
                 **options) -> SparseRun:
    """Train a copy of `net` sparse: "gradual" magnitude pruning, "rigl", or "fixed" `masks`.

    Args:
        net: the freshly initialised network (not modified; a copy trains).
        train, validation, test: the splits; validation and test are evaluated after every epoch when given.
        method: "gradual" (`GradualMagnitude`), "rigl" (`RigL`) or "fixed" (`masks` held fixed; None: dense).
        keep: percentage of the prunable weights kept at the end (gradual) or throughout (rigl), or
            {layer: percentage}; not used by "fixed".
        epochs, lr, batch_size: as in `training.fit`.
        optimizer: "adam" (AdamW) or "sgd" (Nesterov `momentum`).
        weight_decay: decoupled for AdamW, L2 for SGD.
        schedule: "constant" or "one-cycle" learning rate.
        seed: seeds the batch order (and RigL's first random masks).
        masks: the fixed masks, or RigL's first masks.
        progress: show a progress bar.
        callback: called as callback(step, net, masks) after every step (and with step 0 before the first).
        **options: passed to `GradualMagnitude` (start, end, interval, distribution, include_output, initial) or
            `RigL` (interval, alpha, end, distribution, include_output).

    Returns:
        A `SparseRun`: the trained copy, its masks, per-epoch history, per-step cost, mask updates.
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    for name, value, integer in (("epochs", epochs, True), ("batch_size", batch_size, True), ("lr", lr, False)):
        if isinstance(value, bool) or not isinstance(value, int if integer else (int, float)) or not value > 0:
            raise ValueError(f"{name} must be a positive {'integer' if integer else 'number'}, got {value!r}")
    if len(train) == 0:
        raise ValueError("the training set is empty")
    net = copy.deepcopy(net)
    device = next(net.parameters()).device
    steps_per_epoch = math.ceil(len(train) / batch_size)
    total_steps = epochs * steps_per_epoch
    if method == "gradual":
        sparsity = GradualMagnitude(net, keep, total_steps, seed=seed, **options)
    elif method == "rigl":
        sparsity = RigL(net, keep, total_steps, masks=masks, seed=seed, **options)
    else:
        if options:
            raise ValueError(f"method 'fixed' takes no options, got {sorted(options)}")
        if masks is not None:
            check_masks(net, masks)
        sparsity = FixedMasks(masks)
    if optimizer == "adam":
        stepper = torch.optim.AdamW(net.parameters(), lr=lr, weight_decay=weight_decay)
    elif optimizer == "sgd":
        stepper = torch.optim.SGD(net.parameters(), lr=lr, momentum=momentum, nesterov=momentum > 0,
                                  weight_decay=weight_decay)
    else:
        raise ValueError(f"optimizer must be 'adam' or 'sgd', got {optimizer!r}")
    if schedule == "one-cycle" and total_steps >= 4:
        scheduler = torch.optim.lr_scheduler.OneCycleLR(stepper, max_lr=lr, total_steps=total_steps,
                                                       pct_start=max(0.25, 2 / total_steps), cycle_momentum=False)
    elif schedule in ("constant", "one-cycle"):
        scheduler = torch.optim.lr_scheduler.LambdaLR(stepper, lambda step: 1.0)
    else:
        raise ValueError(f"schedule must be 'constant' or 'one-cycle', got {schedule!r}")
    modules = dict(net.named_modules())
    dense_weights = sum(layer.weight.numel() for _, layer in linear_layers(net))

    def refresh() -> tuple[dict[str, torch.Tensor], int]:
        """The new masks as 0/1 floats on the device, applied to the weights and to the optimizer's state."""
        masks = {name: mask.to(device=device, dtype=modules[name].weight.dtype)
                 for name, mask in sparsity.masks.items()}
        apply_masks_(net, masks)
        for name, mask in masks.items():
            _reset_state(stepper, modules[name].weight, mask)
        return masks, _kept_weights(net, sparsity.masks)

    current, kept = refresh()
    images, labels = train.images.to(device), train.labels.to(device)
    generator = torch.Generator().manual_seed(seed)
    history, per_step = [], []
    flops_so_far = 0
    bar = tqdm(total=total_steps, desc=method, unit="step", disable=not progress, mininterval=0.5)
    net.train()
    if callback is not None:
        callback(0, net, sparsity.masks)
    step = 0
    for epoch in range(1, epochs + 1):
        started = time.perf_counter()
        order = torch.randperm(len(train), generator=generator).to(device)
        total_loss = torch.zeros((), device=device)
        right = torch.zeros((), device=device, dtype=torch.long)
        for start in range(0, len(train), batch_size):
            batch = order[start : start + batch_size]
            x, y = images[batch], labels[batch]
            rigl_step = sparsity.wants_gradient(step)
            changed = not rigl_step and sparsity.update(step, net)
            if changed:  # gradual pruning: prune before this step's forward pass
                current, kept = refresh()
            logits = net(x)
            loss = nn.functional.cross_entropy(logits, y)
            stepper.zero_grad(set_to_none=True)
            loss.backward()
            if rigl_step:  # the masks change instead of the weights: forward and backward sparse, weight gradient dense
                cost = (2 * kept + dense_weights) * len(y)
                changed = sparsity.update(step, net, {name: modules[name].weight.grad for name in sparsity.masks})
                current, kept = refresh()
            else:
                cost = 3 * kept * len(y)
                for name, mask in current.items():
                    modules[name].weight.grad.mul_(mask)
                stepper.step()
            scheduler.step()
            apply_masks_(net, current)
            flops_so_far += cost
            per_step.append((step, kept, cost, changed))
            total_loss += loss.detach() * len(y)
            right += (logits.detach().argmax(1) == y).sum()
            step += 1
            bar.update()
            if callback is not None:
                callback(step, net, sparsity.masks)
                net.train()
        row = dict(epoch=epoch, loss=total_loss.item() / len(train), train_accuracy=right.item() / len(train),
                   validation_accuracy=evaluate(net, validation) if validation is not None else math.nan,
                   test_accuracy=evaluate(net, test) if test is not None else math.nan,
                   kept=kept, flops=flops_so_far, seconds=time.perf_counter() - started)
        history.append(row)
    bar.close()
    net.eval()
    return SparseRun(net=net, masks={name: mask.clone() for name, mask in sparsity.masks.items()},
                     history=pd.DataFrame(history),
                     steps=pd.DataFrame(per_step, columns=["step", "kept", "flops", "update"]),
                     updates=pd.DataFrame(sparsity.updates, columns=["step", "layer", "kept", "pruned", "grown"]))

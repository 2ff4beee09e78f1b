"""Lottery tickets: iterative magnitude pruning with rewinding, and the controls that say what a ticket is.

Frankle and Carbin (2019): train a dense network, prune the smallest-magnitude
share of its weights, put the survivors back to their *initial* values and
train again; repeat. The sparse subnetworks found this way ("winning tickets")
train as well as the dense network, or better, with a small fraction of its
weights, while the same architecture with new random initial values does not.

- `find_tickets(init, data)` runs that loop: round 0 trains the dense network
  from `init`; every later round prunes `rate` of the weights each layer still
  has (the output layer at half the rate, as Frankle and Carbin do), rewinds the
  survivors and trains them with the mask held fixed. `rewind="init"` goes back
  to the initial weights; `rewind=s` to the weights after s steps of round 0
  (late rewinding, Frankle et al. 2020).
- `branch(lottery, kind)` retrains each round's subnetwork with one thing
  changed, everything else (mask counts, recipe, data order) held equal:
  "reinitialised" (same mask, new random initial values), "reinitialised, rescaled"
  (the same, each layer's new values multiplied by 1/sqrt(the share of its weights
  the mask keeps), so that the thinned network starts with the dense one's signal
  size), "random mask" (same initial values, a random mask with the same number of
  weights per layer),
  "no rewind" (same mask, training continued from the previous round's
  trained weights instead of rewinding), "late rewind" (same mask, survivors
  rewound to their values after `step` steps of round 0 instead of step 0).

Every training records its validation loss every `every` steps; the step of the
smallest is the early-stopping iteration that Frankle and Carbin plot.

Used in 08_lottery_tickets.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import pandas as pd
import torch
from torch import nn
from tqdm.auto import tqdm

from helpers.data import MNIST, Split
from helpers.model import architecture
from helpers.pruning import SCOPES, apply_masks, check_masks, prunable_layers
from helpers.training import correct, evaluate, evaluate_loss, fit, restart_network

__all__ = ["LOTTERY", "RATE", "ROUNDS", "EVERY", "BRANCHES", "CONTROL_ROUNDS", "LATE_STEP", "Lottery", "find_tickets",
           "branch", "prune_round", "rewind_to", "rescale_to_density", "densities", "random_like", "remaining",
           "train_round", "check_rate", "check_rewind"]

#: Frankle and Carbin's recipe for LeNet-300-100 (Adam, constant learning rate 1.2e-3, no regularisation) made
#: short enough for a laptop CPU: 2 epochs of batch 128 (860 steps) instead of 50,000 steps of batch 60 (about
#: 55 epochs). Every branch trains with it, the dense network of round 0 included.
LOTTERY = dict(epochs=2, lr=1.2e-3, batch_size=128, weight_decay=0.0, l1=0.0, optimizer="adam", schedule="constant")
#: Share of each hidden layer's remaining weights pruned per round (the output layer: half of it). Frankle and
#: Carbin prune 20% per round; 40% reaches 2.8% of the weights in 7 rounds instead of 16 (one round trains for
#: about 15 s on 2 cores).
RATE = 0.4
#: Rounds after the dense one: 0.6^7 leaves 2.8% of the hidden layers' weights.
ROUNDS = 7
#: Steps between two measurements of the validation loss (5 per epoch at batch 128; one costs 0.14 s here).
EVERY = 86
#: The controls of `branch`, each changing one thing against the ticket.
BRANCHES = ("reinitialised", "reinitialised, rescaled", "random mask", "no rewind", "late rewind")
#: The rounds the controls retrain in 08_lottery_tickets and `make results` (21.6%, 7.8%, 4.7% and 2.8% of the
#: weights left): all seven would add three more trainings per control to the notebook's 26.
CONTROL_ROUNDS = (3, 5, 6, 7)
#: The step late rewinding goes back to: a tenth of round 0's 860 steps (Frankle et al. 2020 rewind to 0.1-7% of
#: training on larger networks).
LATE_STEP = 86


def check_rate(rate: float) -> float:
    """Return `rate` if it is a number strictly between 0 and 1 (a share of the remaining weights)."""
    if isinstance(rate, bool) or not isinstance(rate, (int, float)) or not 0 < rate < 1:
        raise ValueError(f"the pruning rate is the share of the remaining weights pruned per round, strictly between "
                         f"0 and 1 (Frankle and Carbin use 0.2), got {rate!r}")
    return float(rate)


def _steps(train: Split, recipe: Mapping) -> int:
    return recipe["epochs"] * math.ceil(len(train) / recipe["batch_size"])


def check_rewind(rewind: str | int, total_steps: int) -> int:
    """The step to rewind to: 0 for "init", else `rewind` if it is an integer in [0, total_steps]."""
    if rewind == "init":
        return 0
    if isinstance(rewind, bool) or not isinstance(rewind, int) or not 0 <= rewind <= total_steps:
        raise ValueError(f"rewind must be 'init' or a step of round 0's training, an integer in [0, {total_steps}] "
                         f"(the recipe trains for {total_steps} steps), got {rewind!r}")
    return rewind


def remaining(masks: Mapping[str, torch.Tensor], net: nn.Module) -> float:
    """Percentage of all the weights of `net` (every Linear layer) that `masks` keep."""
    layers = prunable_layers(net, include_output=True)
    total = sum(layer.weight.numel() for layer in layers.values())
    kept = sum(int(masks[name].sum()) if name in masks else layer.weight.numel() for name, layer in layers.items())
    return 100 * kept / total


def prune_round(net: nn.Module, masks: Mapping[str, torch.Tensor], rate: float = RATE, scope: str = "layer",
                output_rate: float | None = None) -> dict[str, torch.Tensor]:
    """The next round's masks: prune round(rate · n) of the n weights each layer still keeps, smallest |w| first.

    The output layer loses `output_rate` (default rate / 2) of its remaining weights. With scope="global" the
    hidden layers are ranked together, round(rate · their remaining weights) go in all. Pruned weights stay
    pruned, so the masks of successive rounds are nested. Neither `net` nor `masks` is modified.
    """
    check_rate(rate)
    output_rate = rate / 2 if output_rate is None else check_rate(output_rate)
    if scope not in SCOPES:
        raise ValueError(f"scope must be one of {SCOPES}, got {scope!r}")
    layers = prunable_layers(net, include_output=True)
    check_masks(net, masks)
    if set(masks) != set(layers):
        raise ValueError(f"masks must cover every Linear layer {list(layers)}, got {sorted(masks)}")
    *hidden, output = layers
    groups = [[name] for name in hidden] if scope == "layer" else [hidden]
    groups.append([output])
    new = {}
    for names in groups:
        share = output_rate if names == [output] else rate
        scores = torch.cat([torch.where(masks[name].to(layers[name].weight.device), layers[name].weight.detach().abs(),
                                        -1.0).flatten() for name in names])
        kept = int((scores >= 0).sum())
        prune = round(share * kept) + (len(scores) - kept)  # the already pruned (score -1) sort first
        keep = torch.ones(len(scores), dtype=torch.bool, device=scores.device)
        keep[torch.argsort(scores, stable=True)[:prune]] = False
        for name, part in zip(names, keep.split([layers[name].weight.numel() for name in names])):
            new[name] = part.view_as(layers[name].weight).cpu()
    return new


def rewind_to(start: nn.Module, masks: Mapping[str, torch.Tensor]) -> nn.Module:
    """A copy of `start` with the weights that `masks` prune set to zero: the survivors keep their `start` values."""
    return apply_masks(start, masks)


def densities(masks: Mapping[str, torch.Tensor]) -> dict[str, float]:
    """{layer name: the share of that layer's weights `masks` keep}, each in [0, 1]."""
    return {name: int(mask.sum()) / mask.numel() for name, mask in masks.items()}


def rescale_to_density(start: nn.Module, masks: Mapping[str, torch.Tensor]) -> nn.Module:
    """A copy of `start`, masked, with each layer's kept weights multiplied by 1/sqrt(the share of them it keeps).

    A unit that keeps a share d of its inputs sums d times as many terms, so the variance of its input falls
    by d (and by d again at every layer after it): PyTorch's default initialisation, thinned to a few percent,
    starts with almost no signal at the output. Multiplying the survivors by 1/sqrt(d) restores each layer's
    variance of the sum, as a sparsity-aware initialisation does (Evci et al. 2022 scale each unit by its own
    number of kept inputs; here one factor per layer). A layer `masks` does not name, or whose mask keeps
    nothing, is left as is.

    Args:
        start: the initial weights (not modified), e.g. `restart_network(init, seed)`.
        masks: {layer name: bool mask}, True = kept.

    Returns:
        The masked, rescaled copy.

    >>> import torch
    >>> net = torch.nn.Sequential(torch.nn.Linear(4, 1, bias=False))
    >>> _ = torch.nn.init.ones_(net[0].weight)
    >>> rescale_to_density(net, {"0": torch.tensor([[True, False, False, False]])})[0].weight.tolist()
    [[2.0, 0.0, 0.0, 0.0]]

    Used in 08_lottery_tickets ("reinitialised, rescaled").
    """
    net = rewind_to(start, masks)
    layers = prunable_layers(net, include_output=True)
    with torch.no_grad():
        for name, density in densities(masks).items():
            if name in layers and density > 0:
                layers[name].weight.mul_(1 / math.sqrt(density))
    return net


def random_like(masks: Mapping[str, torch.Tensor], seed: int = 0) -> dict[str, torch.Tensor]:
    """Random masks that keep exactly as many weights per layer as `masks`, at random positions."""
    generator = torch.Generator().manual_seed(seed)
    return {name: mask.flatten()[torch.randperm(mask.numel(), generator=generator)].view_as(mask).clone()
            for name, mask in masks.items()}


@dataclass
class Lottery:
    """What `find_tickets` found. Round r's subnetwork is masks[r]; round 0 is dense (all True).

    Attributes:
        init: the initial weights (a copy; never trained).
        start: what the survivors are rewound to: `init`, or the weights after `rewind_step` steps of round 0.
        masks: one dict of masks per round, nested.
        trained: the network trained in each round.
        correct: per round, a boolean per test image, True where that round's network classifies it right (for
            `helpers.stats.paired`).
        curves: one validation curve per round (step, validation_loss, validation_accuracy).
        snapshots: {step: round 0's weights after that many steps} for the steps asked for (late rewinding).
        table: one row per round (`train_round`'s columns, branch = "ticket").
        data, seed, rate, scope, rewind_step, recipe: how it was run (`branch` retrains with the same).
    """

    init: nn.Module
    start: nn.Module
    masks: list[dict[str, torch.Tensor]]
    trained: list[nn.Module]
    correct: list[torch.Tensor] = field(repr=False)
    curves: list[pd.DataFrame]
    table: pd.DataFrame
    snapshots: dict[int, nn.Module]
    data: MNIST = field(repr=False)
    seed: int
    rate: float
    scope: str
    rewind_step: int
    recipe: dict


def train_round(start: nn.Module, masks: Mapping[str, torch.Tensor], data: MNIST, seed: int = 0,
                every: int = EVERY, keep_steps: Sequence[int] = (), **recipe) -> tuple[nn.Module, dict, pd.DataFrame]:
    """Train a copy of `start` with `masks` held fixed; measure its validation loss every `every` steps.

    Args:
        start: the weights to start from (not modified); `masks` are applied first.
        masks: {layer name: bool mask}, True = kept.
        data: MNIST(train, validation, test); trains on train, chooses nothing, reports test.
        seed: the batch order (the same seed gives the same order in every branch).
        every: steps between two validation measurements.
        keep_steps: also return copies of the weights after these numbers of steps (for late rewinding).
        **recipe: `LOTTERY`, overridden.

    Returns:
        (the trained copy, a row, the validation curve), the row holding remaining (% of all weights),
        accuracy and validation_accuracy (at the end of training), early_stop (the step of the smallest
        validation loss), early_stop_accuracy (validation accuracy there), "correct" (a boolean per test
        image, True where the trained copy classifies it right; `accuracy` is its mean) and "kept" ({step: the
        weights after that many steps} for `keep_steps`).
    """
    recipe = {**LOTTERY, **recipe}
    net = rewind_to(start, masks)
    curve, kept = [], {}

    def record(step: int, model: nn.Module) -> None:
        if step % every == 0:
            accuracy, loss = evaluate_loss(model, data.validation)
            curve.append(dict(step=step, validation_loss=loss, validation_accuracy=accuracy))
        if step in keep_steps:
            kept[step] = copy.deepcopy(model).eval()

    fit(net, data.train, seed=seed, masks=masks, progress=False, callback=record, every=1, **recipe)
    curve = pd.DataFrame(curve)
    best = curve.loc[curve["validation_loss"].idxmin()]
    right = correct(net, data.test)  # one pass over the test images gives the accuracy and the paired test's input
    row = dict(remaining=remaining(masks, net), accuracy=int(right.sum()) / len(right),
               validation_accuracy=evaluate(net, data.validation), early_stop=int(best["step"]),
               early_stop_accuracy=float(best["validation_accuracy"]), correct=right, kept=kept)
    return net, row, curve


def find_tickets(init: nn.Module, data: MNIST, rounds: int = ROUNDS, rate: float = RATE, scope: str = "layer",
                 rewind: str | int = "init", seed: int = 0, every: int = EVERY, keep_steps: Sequence[int] = (),
                 progress: bool = True, **recipe) -> Lottery:
    """Iterative magnitude pruning with rewinding (Frankle and Carbin 2019): a lottery ticket per round.

    Args:
        init: the initial weights, e.g. `initial_weights(seed)` (not modified).
        data: MNIST(train, validation, test).
        rounds: pruning rounds after the dense round 0 (>= 1).
        rate: share of each hidden layer's remaining weights pruned per round, in (0, 1); the output layer at
            half of it.
        scope: "layer" (each layer loses `rate` of its own weights, as Frankle and Carbin for LeNet) or
            "global" (the hidden layers ranked together).
        rewind: "init" (back to `init`) or a step s of round 0's training (late rewinding: back to the
            weights after s steps).
        seed: the batch order of every round.
        every: steps between validation measurements.
        keep_steps: steps of round 0 whose weights to keep in `Lottery.snapshots` (for `branch(..., "late rewind")`).
        progress: a progress bar over the rounds.
        **recipe: overrides of `LOTTERY` (the same for every round).

    Returns:
        A `Lottery`.

    Raises:
        ValueError: rate outside (0, 1), rounds < 1, a rewind step beyond the training, an unknown scope,
            or `init` not a network for 784 inputs.
    """
    check_rate(rate)
    if isinstance(rounds, bool) or not isinstance(rounds, int) or rounds < 1:
        raise ValueError(f"rounds must be a positive integer (pruning rounds after the dense one), got {rounds!r}")
    if scope not in SCOPES:
        raise ValueError(f"scope must be one of {SCOPES}, got {scope!r}")
    recipe = {**LOTTERY, **recipe}
    rewind_step = check_rewind(rewind, _steps(data.train, recipe))
    keep_steps = sorted({check_rewind(step, _steps(data.train, recipe)) for step in keep_steps} | {rewind_step})
    if architecture(init)[0] != data.train.images.shape[1]:
        raise ValueError(f"the initial network reads {architecture(init)[0]} inputs, the images have "
                         f"{data.train.images.shape[1]}")
    init = copy.deepcopy(init).eval()
    masks = [{name: torch.ones_like(layer.weight, dtype=torch.bool).cpu()
              for name, layer in prunable_layers(init, include_output=True).items()}]
    trained, tested, curves, rows, start = [], [], [], [], init
    bar = tqdm(total=rounds + 1, desc="rounds", unit="round", disable=not progress)
    for r in range(rounds + 1):
        if r:
            masks.append(prune_round(trained[-1], masks[-1], rate, scope))
        net, row, curve = train_round(start, masks[r], data, seed, every, keep_steps=keep_steps if r == 0 else (),
                                      **recipe)
        if r == 0:
            snapshots = row["kept"]
            start = snapshots[rewind_step]
        row.pop("kept")
        tested.append(row.pop("correct"))
        trained.append(net)
        curves.append(curve)
        rows.append(dict(branch="ticket", round=r, **row))
        bar.set_postfix(remaining=f"{row['remaining']:.1f}%", accuracy=f"{100 * row['accuracy']:.2f}%")
        bar.update()
    bar.close()
    return Lottery(init=init, start=start, masks=masks, trained=trained, correct=tested, curves=curves,
                   table=pd.DataFrame(rows), snapshots=snapshots, data=data, seed=seed, rate=rate, scope=scope,
                   rewind_step=rewind_step, recipe=recipe)


def branch(lottery: Lottery, kind: str, rounds: Sequence[int] | None = None, step: int | None = None,
           progress: bool = True, every: int = EVERY) -> tuple[pd.DataFrame, list[pd.DataFrame], list[torch.Tensor]]:
    """Retrain the rounds of `lottery` with one thing changed (`kind` in `BRANCHES`).

    - "reinitialised": the ticket's mask, new random initial values (`restart_network`, never the ticket's).
    - "reinitialised, rescaled": the same new values, each layer's multiplied by 1/sqrt(the share of its weights
      the mask keeps) (`rescale_to_density`), so that the sparse network starts with the dense one's signal size.
    - "random mask": the ticket's starting weights, a random mask with the same number of weights per layer.
    - "no rewind": the ticket's mask, training continued from the previous round's trained weights.
    - "late rewind": the ticket's mask, the survivors rewound to round 0's weights after `step` steps
      (kept by `find_tickets(..., keep_steps=[step])`).

    Everything else is the ticket's: the recipe, the batch order (seed), the number of weights per layer.

    Args:
        lottery: from `find_tickets`.
        kind: one of `BRANCHES`.
        rounds: which rounds (>= 1) to retrain; default all.
        step: for "late rewind", the step of round 0 to rewind to.

    Returns:
        (one row per round, as in `lottery.table` with branch = kind; the validation curves; per round a
        boolean per test image, True where the retrained network classifies it right, as `Lottery.correct`),
        each in the order of `rounds`.
    """
    if kind not in BRANCHES:
        raise ValueError(f"kind must be one of {BRANCHES}, got {kind!r}")
    last = len(lottery.masks) - 1
    rounds = list(range(1, last + 1)) if rounds is None else list(rounds)
    if any(isinstance(r, bool) or not isinstance(r, int) or not 1 <= r <= last for r in rounds):
        raise ValueError(f"rounds must be integers in [1, {last}] (round 0 is the dense network), got {rounds}")
    if (kind == "late rewind") != (step is not None):
        raise ValueError(f"step is the rewind point of 'late rewind' and of no other branch; got kind {kind!r}, "
                         f"step {step!r}")
    if kind == "late rewind" and step not in lottery.snapshots:
        raise ValueError(f"round 0's weights after {step} steps were not kept (kept: {sorted(lottery.snapshots)}); "
                         f"run find_tickets(..., keep_steps=[{step}])")
    rows, curves, tested = [], [], []
    for r in tqdm(rounds, desc=kind, unit="round", disable=not progress):
        masks, start = lottery.masks[r], lottery.start
        if kind == "reinitialised":
            start = restart_network(lottery.init, lottery.seed)
        elif kind == "reinitialised, rescaled":
            start = rescale_to_density(restart_network(lottery.init, lottery.seed), masks)
        elif kind == "random mask":
            masks = random_like(masks, seed=lottery.seed + r)
        elif kind == "no rewind":
            start = lottery.trained[r - 1]
        else:
            start = lottery.snapshots[step]
        _, row, curve = train_round(start, masks, lottery.data, lottery.seed, every, **lottery.recipe)
        row.pop("kept")
        tested.append(row.pop("correct"))
        rows.append(dict(branch=kind, round=r, **row))
        curves.append(curve)
    return pd.DataFrame(rows), curves, tested

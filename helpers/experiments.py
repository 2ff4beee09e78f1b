"""Experiments that combine training and pruning, and the series' noise rule; most return a tidy DataFrame.

Used in 02_weight_pruning, 03_unit_pruning, 04_fine_tuning and 06_criteria.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable, Mapping, Sequence

import numpy as np
import pandas as pd
import torch
from torch import nn
from tqdm.auto import tqdm

from helpers.config import K_LIST
from helpers.data import Split
from helpers.model import linear_layers
from helpers.criteria import GLOBAL_ONLY
from helpers.criteria import calibration as draw_calibration
from helpers.pruning import (METHODS, apply_masks, check_k, check_masks, compact, compression, flops, masks_for,
                             keep_largest, prunable_layers, rank, unit_masks, weight_masks, weights_kept)
from helpers.training import RECIPE, evaluate, evaluate_loss, fit, initial_network, restart_network
from helpers.stats import TOO_CLOSE, differs, noise, paired, standard_error, verdict  # noqa: F401 (re-exported: the old import path)


def measure(pruned: nn.Module, dense_flops: int, total_weights: int, test: Split) -> dict:
    """Accuracy, loss, weights kept, compression and theoretical speedup of a pruned network.

    The network is compacted (dead units removed) before it is evaluated, which
    computes the same function faster.
    """
    small = compact(pruned)
    accuracy, loss = evaluate_loss(small, test)
    return dict(accuracy=accuracy, loss=loss, weights_kept=weights_kept(small),
                compression=compression(small, total_weights), speedup=dense_flops / max(flops(small), 1))


def sweep(net: nn.Module, test: Split, ks: Iterable[float] = K_LIST, methods: Iterable[str] = METHODS,
          scope: str = "layer", progress: bool = False, criterion: str | None = None,
          calibration: Split | None = None) -> pd.DataFrame:
    """Prune `net` one-shot at every k with every method and measure the result.

    Args:
        net: the trained network (not modified).
        test: the split to evaluate on.
        ks: percentages to prune.
        methods: "weight" and/or "unit".
        scope: "layer" or "global" (weight pruning only; unit pruning is layer-wise).
        progress: show a progress bar (one step per pruned network evaluated).
        criterion: an importance criterion of `helpers.criteria` valid for every
            method in `methods` (None: |w| for weights, the row's L2 norm for units).
        calibration: calibration data from the training split, for a data-aware criterion.

    Returns:
        One row per (method, k): method, k, accuracy, loss, weights_kept,
        compression (total / nonzero weights) and speedup (multiply-adds of the
        dense net / of the compacted pruned net).

    Used in 02_weight_pruning and 03_unit_pruning.
    """
    ks = [check_k(k) for k in ks]
    methods = list(methods)
    dense_flops = total = flops(net)
    rows = []
    bar = tqdm(total=len(methods) * len(ks), desc="pruning and evaluating", unit="net", disable=not progress)
    for method in methods:
        ranking = rank(net, method, scope if method == "weight" else "layer", criterion=criterion,
                       data=calibration)  # sort once, cut at every k
        for k in ks:
            pruned = apply_masks(net, ranking.masks(k))
            rows.append(dict(method=method, k=k, **measure(pruned, dense_flops, total, test)))
            bar.update()
    bar.close()
    return pd.DataFrame(rows)


# --- why unit pruning collapses: one layer at a time, and what the removed units carried (03_unit_pruning) ---

def per_layer_sweep(net: nn.Module, data: Split, k: float, method: str = "unit") -> pd.DataFrame:
    """Prune one hidden layer at a time at k (the others left intact), then all of them together.

    Args:
        net: the trained network (not modified).
        data: the split to evaluate on.
        k: percentage to prune in the pruned layer(s).
        method: "weight" or "unit".

    Returns:
        One row per case, in order: "none" (the unpruned network), each
        prunable layer's name alone, then "all": columns pruned, accuracy,
        weights_kept (nonzero weights of `compact()`).

    Used in 03_unit_pruning.
    """
    check_k(k)
    masks = masks_for(net, k, method)
    cases = {"none": {}, **{name: {name: mask} for name, mask in masks.items()}, "all": masks}
    rows = []
    for case, chosen in cases.items():
        pruned = apply_masks(net, chosen)
        rows.append(dict(pruned=case, accuracy=evaluate(pruned, data), weights_kept=weights_kept(pruned)))
    return pd.DataFrame(rows)


def unit_activity(net: nn.Module, images: torch.Tensor, threshold: float = 0.0,
                  batch_size: int = 5_000) -> pd.DataFrame:
    """What every hidden unit of an MLP of Linear and ReLU layers does on `images`.

    Args:
        net: a bias-free MLP such as `make_mlp` builds (Linear and ReLU layers only).
        images: inputs [N, features]: training images (never test: this decides what to prune).
        threshold: a unit is *active* on an image when its output exceeds this.
        batch_size: images per forward pass.

    Returns:
        One row per hidden unit: layer, unit (its row), norm (L2 norm of its
        incoming row), active_images (on how many images it is active),
        max_output (its largest output on any image), energy (sum over images
        of its output squared), energy_share (its share of its layer's energy)
        and alive (active on at least one image).

    An L1 penalty leaves "silenced" units whose rows have norms near 1e-10: they
    output about 1e-8, above zero but useless. `threshold=1e-6` counts them as dead.

    Used in 03_unit_pruning.
    """
    if any(not isinstance(module, (nn.Linear, nn.ReLU)) for module in net.children()):
        raise ValueError(f"unit_activity needs an MLP of nn.Linear and nn.ReLU layers, got {net}")
    if images.dim() != 2 or len(images) == 0:
        raise ValueError(f"images must be a non-empty [N, features] tensor, got shape {tuple(images.shape)}")
    hidden = list(prunable_layers(net).items())
    active = [torch.zeros(layer.out_features, dtype=torch.long) for _, layer in hidden]
    energy = [torch.zeros(layer.out_features, dtype=torch.float64) for _, layer in hidden]
    largest = [torch.zeros(layer.out_features, dtype=torch.float64) for _, layer in hidden]
    device = next(net.parameters()).device
    with torch.no_grad():
        for start in range(0, len(images), batch_size):
            x = images[start:start + batch_size].to(device)
            for i, (_, layer) in enumerate(hidden):
                x = torch.relu(layer(x))
                active[i] += (x > threshold).sum(dim=0).cpu()
                energy[i] += x.double().pow(2).sum(dim=0).cpu()
                largest[i] = torch.maximum(largest[i], x.double().max(dim=0).values.cpu())
    rows = []
    for (name, layer), counts, sums, peak in zip(hidden, active, energy, largest):
        total = float(sums.sum())
        rows.append(pd.DataFrame(dict(
            layer=name, unit=range(layer.out_features), norm=layer.weight.detach().norm(dim=1).cpu().numpy(),
            active_images=counts.numpy(), max_output=peak.numpy(), energy=sums.numpy(),
            energy_share=(sums / total).numpy() if total > 0 else 0.0, alive=(counts > 0).numpy())))
    return pd.concat(rows, ignore_index=True)


def energy_unit_masks(net: nn.Module, activity: pd.DataFrame, k: float) -> dict[str, torch.Tensor]:
    """Unit masks that prune, in each hidden layer, the k% of units with the least output energy on data.

    The same counts as `unit_masks` (round(k/100 · units) per layer), ranked by what the
    units measurably do (the `energy` column of `unit_activity` on training images)
    instead of the L2 norm of their weights. Ties are broken by position, as in `keep_largest`.

    Args:
        net: the network `activity` was measured on.
        activity: `unit_activity(net, training images)`.
        k: percentage of units to prune in each hidden layer.

    Returns:
        {layer name: bool mask shaped like its weight, True = kept}.

    Used in 03_unit_pruning.
    """
    check_k(k)
    masks = {}
    for name, layer in prunable_layers(net).items():
        energy = activity.loc[activity["layer"] == name, "energy"].to_numpy()
        if len(energy) != layer.out_features:
            raise ValueError(f"activity has {len(energy)} units for layer {name!r}, the network {layer.out_features}")
        keep = keep_largest(torch.tensor(energy), k).to(layer.weight.device)
        masks[name] = keep[:, None].expand_as(layer.weight).clone()
    return masks


def removed_units(net: nn.Module, images: torch.Tensor | None, k: float, threshold: float = 0.0,
                  activity: pd.DataFrame | None = None) -> pd.DataFrame:
    """Per hidden layer, which units unit pruning at k removes, judged by what they do on `images`.

    Args:
        net: the trained MLP (not modified).
        images: training images (never test); may be None when `activity` is given.
        k: percentage of units unit pruning removes in each hidden layer.
        threshold: as in `unit_activity`.
        activity: `unit_activity(net, images, threshold)`, when already computed (it is not recomputed).

    Returns:
        One row per hidden layer: layer, units, alive (active on some image),
        removed, removed_alive, removed_dead, kept_dead (dead units the cut
        keeps) and energy_removed (% of the layer's output energy on `images`
        that the removed units carried).

    Used in 03_unit_pruning.
    """
    if activity is None:
        if images is None:
            raise ValueError("removed_units needs images or a precomputed activity table")
        activity = unit_activity(net, images, threshold)
    rows = []
    for name, mask in unit_masks(net, k).items():
        units = activity[activity["layer"] == name]
        if len(units) != mask.shape[0]:
            raise ValueError(f"activity has {len(units)} units for layer {name!r}, the network {mask.shape[0]}")
        removed = ~mask.all(dim=1).cpu().numpy()
        alive = units["alive"].to_numpy()
        rows.append(dict(layer=name, units=len(units), alive=int(alive.sum()), removed=int(removed.sum()),
                         removed_alive=int((removed & alive).sum()), removed_dead=int((removed & ~alive).sum()),
                         kept_dead=int((~removed & ~alive).sum()),
                         energy_removed=100 * float(units["energy_share"].to_numpy()[removed].sum())))
    return pd.DataFrame(rows)


def compare_at_equal_cost(results: pd.DataFrame, cost: str, budgets: Sequence[float], n: int,
                          methods: Sequence[str] = ("weight", "unit")) -> pd.DataFrame:
    """Two methods' accuracies at the same cost (weights kept, multiply-adds), interpolated, with a verdict.

    A sweep measures each method at its own k, so the two rarely land on the same
    cost; each method's accuracy is interpolated linearly in log(cost) between its
    two nearest measured points (a fine k grid keeps this honest). A budget outside
    a method's measured range gives NaN for it.

    Args:
        results: columns method, k, accuracy (0-1) and `cost`, e.g. a `sweep` table.
        cost: the column to hold equal: "weights_kept" (storage) or "flops" (compute).
        budgets: the costs at which to compare (> 0).
        n: test images each accuracy was measured on.
        methods: the two methods to compare.

    Returns:
        One row per budget: the budget (column `cost`), "<method> accuracy" for
        both, gap (first minus second, 0-1), noise (two standard errors of the
        difference, `noise`) and better: `verdict`'s word, the winning method's name
        beyond the noise, else "too close to call".

    Used in 03_unit_pruning.
    """
    if len(methods) != 2:
        raise ValueError(f"compare exactly two methods, got {list(methods)}")
    missing = {"method", "accuracy", cost} - set(results.columns)
    if missing:
        raise ValueError(f"results lacks the columns {sorted(missing)}")
    budgets = [float(b) for b in budgets]
    if any(not b > 0 for b in budgets):
        raise ValueError(f"budgets must be positive costs, got {budgets}")
    curves = {}
    for method in methods:
        group = results[(results["method"] == method) & (results[cost] > 0)]
        if group.empty:
            raise ValueError(f"no rows of method {method!r} with a positive {cost}")
        curve = group.groupby(cost)["accuracy"].mean().sort_index()
        curves[method] = (np.log(curve.index.to_numpy(dtype=float)), curve.to_numpy(dtype=float))
    rows = []
    for budget in budgets:
        row = {cost: budget}
        for method, (x, y) in curves.items():
            row[f"{method} accuracy"] = float(np.interp(np.log(budget), x, y, left=np.nan, right=np.nan))
        first, second = (row[f"{m} accuracy"] for m in methods)
        row["gap"] = first - second
        known = not (np.isnan(first) or np.isnan(second))
        row["noise"] = noise(first, second, n) if known else np.nan
        row["better"] = verdict(first, second, n, higher=methods[0], lower=methods[1]) if known else None
        rows.append(row)
    return pd.DataFrame(rows)


# --- beyond one-shot: fine-tuning, iterative and gradual pruning, controls (04_fine_tuning) -------------

#: Fine-tuning recipe: short, a lower peak learning rate than the baseline, no L1 (what to prune is decided).
FINE_TUNE = dict(epochs=2, lr=0.02, weight_decay=1e-4, l1=0.0)

#: The k where retraining is worth studying: where one-shot pruning starts to lose accuracy and beyond.
FINE_TUNE_KS = {"weight": [90, 95, 97, 99], "unit": [70, 80, 90, 95]}


def fine_tune(net: nn.Module, masks: Mapping[str, torch.Tensor], train: Split, test: Split | None = None,
              seed: int = 0, progress: bool = False, compacted: bool = False,
              **recipe) -> tuple[nn.Module, pd.DataFrame]:
    """Retrain a copy of `net` with `masks` held fixed: pruned weights stay exactly zero.

    Args:
        net: the network to start from (not modified).
        masks: {layer name: bool mask}, False = pruned.
        train, test: data; `test` is evaluated after every epoch.
        seed: seeds the batch order.
        progress: show a progress bar.
        compacted: for unit masks: train `compact()` of the pruned network
            instead, which computes the same function with far fewer
            multiply-adds and has nothing left to mask. The result is the
            smaller network.
        **recipe: overrides of `FINE_TUNE` (epochs, lr, weight_decay, l1, batch_size, momentum, optimizer).

    Returns:
        (the fine-tuned copy, its per-epoch history).

    Raises:
        ValueError: masks that do not fit `net`; `compacted` with masks that
            prune single weights rather than whole rows; bad recipe values.

    Used in 04_fine_tuning.
    """
    check_masks(net, masks)
    tuned = apply_masks(net, masks)
    if compacted:
        if not all(torch.equal(mask.all(dim=1), mask.any(dim=1)) for mask in masks.values()):
            raise ValueError("compacted=True needs unit masks (whole rows kept or pruned); these prune single weights")
        tuned, masks = compact(tuned), None
    history = fit(tuned, train, test, seed=seed, masks=masks, progress=progress, **{**FINE_TUNE, **recipe})
    return tuned, history


def check_schedule(schedule: Sequence[float]) -> list[float]:
    """Return `schedule` if it is a non-empty, strictly increasing list of k in [0, 100]."""
    schedule = [check_k(k) for k in schedule]
    if not schedule or any(b <= a for a, b in zip(schedule, schedule[1:])):
        raise ValueError(f"a pruning schedule must be a non-empty, strictly increasing list of k, got {schedule}")
    return schedule


def cubic_schedule(k: float, steps: int, k_start: float = 0.0) -> list[float]:
    """Zhu and Gupta's (2017) gradual schedule: k_t = k + (k_start - k)(1 - t/steps)^3, t = 1..steps.

    It prunes fast first, while there are many redundant weights, then slowly.

    >>> cubic_schedule(90, 4)
    [52.03125, 78.75, 88.59375, 90.0]
    """
    check_k(k)
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise ValueError(f"steps must be a positive integer, got {steps!r}")
    return [k + (k_start - k) * (1 - t / steps) ** 3 for t in range(1, steps + 1)]


def iterative_prune(net: nn.Module, schedule: Sequence[float], train: Split, test: Split, method: str = "weight",
                    scope: str = "layer", seed: int = 0, progress: bool = False,
                    **recipe) -> tuple[nn.Module, pd.DataFrame]:
    """Prune a little, fine-tune, repeat: one round per k of `schedule` (e.g. [50, 80, 90, 95]).

    Each round ranks the *current* weights, so what an earlier round pruned (now
    exactly zero) ranks lowest and stays pruned. `recipe` overrides `FINE_TUNE`
    for every round (use epochs=1 for short rounds).

    Returns:
        (the final network, one row per round: round, k, accuracy before and
        after fine-tuning, weights kept).

    Used in 04_fine_tuning (with `cubic_schedule` it is gradual pruning).
    """
    schedule = check_schedule(schedule)
    current, rows = net, []
    for step, k in enumerate(schedule, 1):
        masks = masks_for(current, k, method, scope)
        pruned_accuracy = evaluate(apply_masks(current, masks), test)
        current, _ = fine_tune(current, masks, train, seed=seed + step, progress=progress, **recipe)
        rows.append(dict(round=step, k=k, pruned_accuracy=pruned_accuracy, accuracy=evaluate(current, test),
                         weights_kept=weights_kept(current)))
    return current, pd.DataFrame(rows)


def random_masks(net: nn.Module, k: float, method: str = "weight", scope: str = "layer", seed: int = 0,
                 include_output: bool = False) -> dict[str, torch.Tensor]:
    """Masks that prune as many weights (or units) per layer as `masks_for` would, but chosen at random.

    The control that tells whether magnitude matters: same counts, random choice.
    """
    generator = torch.Generator().manual_seed(seed)
    masks = {}
    for name, mask in masks_for(net, k, method, scope, include_output).items():
        if method == "unit":
            keep_rows = mask.all(dim=1)
            shuffled = keep_rows[torch.randperm(len(keep_rows), generator=generator)]
            masks[name] = shuffled[:, None].expand_as(mask).clone()
        else:
            flat = mask.flatten()
            masks[name] = flat[torch.randperm(len(flat), generator=generator)].view_as(mask)
    return masks


def from_scratch(net: nn.Module, masks: Mapping[str, torch.Tensor], train: Split, test: Split, seed: int = 0,
                 progress: bool = False, **recipe) -> tuple[nn.Module, pd.DataFrame]:
    """The control for "is it the weights or the architecture?": the sparse architecture of `masks`,
    re-initialised at random and trained from scratch with the masks held fixed.

    The initialisation is `restart_network(net, seed)`, drawn outside the range of the
    baseline seeds: it can never be the baseline's own initialisation (that experiment is
    `rewound`, a lottery ticket). `net` only gives the shape. `recipe` overrides the
    baseline's `RECIPE` (e.g. fewer epochs, or l1=0). The batch order is seeded by `seed`.

    Used in 04_fine_tuning.
    """
    fresh = restart_network(net, seed)
    check_masks(fresh, masks)
    history = fit(fresh, train, test, seed=seed, masks=masks, progress=progress, **{**RECIPE, **recipe})
    return fresh, history


def rewound(seed: int, masks: Mapping[str, torch.Tensor], train: Split, test: Split, progress: bool = False,
            device: torch.device | None = None, **recipe) -> tuple[nn.Module, pd.DataFrame]:
    """The sparse architecture of `masks` rewound to the baseline's own initial weights and trained again.

    Starts from `initial_network(seed)`, the exact weights `baseline(seed)` started from,
    keeps only the weights of `masks`, and trains with the masks held fixed and the
    baseline's batch order (seed `seed`). This is Frankle and Carbin's (2019)
    lottery-ticket experiment, not a random restart (`from_scratch` is that).

    Used in 04_fine_tuning (and 08_lottery_tickets takes it further).
    """
    start = initial_network(seed, device)
    check_masks(start, masks)
    history = fit(start, train, test, seed=seed, masks=masks, progress=progress, **{**RECIPE, **recipe})
    return start, history


def layer_sparsity(net: nn.Module, k: float, scope: str = "global") -> pd.DataFrame:
    """Per prunable layer, the share of weights that weight pruning at k removes with `scope`.

    Global pruning chooses its own per-layer shares; this table shows them.
    """
    rows = []
    for name, mask in weight_masks(net, k, scope).items():
        rows.append(dict(layer=name, shape=tuple(mask.shape), weights=mask.numel(), pruned=int((~mask).sum()),
                         pruned_percent=100 * (~mask).float().mean().item()))
    return pd.DataFrame(rows)


def fine_tuned_sweep(net: nn.Module, train: Split, test: Split, ks: Mapping[str, Iterable[float]],
                     seed: int = 0, **recipe) -> pd.DataFrame:
    """One-shot pruning followed by fine-tuning, for each method and k.

    Args:
        net: the trained network (not modified).
        ks: {method: the k to try}, e.g. {"weight": [95, 99], "unit": [80, 90]}.
        recipe: overrides of `FINE_TUNE`.

    Returns:
        One row per (method, k): method, k, procedure ("fine-tuned"),
        one_shot (accuracy before fine-tuning), accuracy, weights_kept.
        Unit-pruned networks are fine-tuned compacted (same function, fewer FLOPs).
    """
    rows = []
    for method, method_ks in ks.items():
        ranking = rank(net, method)
        for k in method_ks:
            masks = ranking.masks(k)
            tuned, _ = fine_tune(net, masks, train, seed=seed, compacted=method == "unit", **recipe)
            rows.append(dict(method=method, k=k, procedure="fine-tuned",
                             one_shot=evaluate(apply_masks(net, masks), test), accuracy=evaluate(tuned, test),
                             weights_kept=weights_kept(tuned)))
    return pd.DataFrame(rows)


def phrase(word: str) -> str:
    """A verdict as words that go before the thing compared with ("too close to call against");
    "higher" and "lower" words (e.g. "above") are returned as they are.

    >>> phrase("too close to call"), phrase("above")
    ('too close to call against', 'above')
    """
    return f"{word} against" if word == TOO_CLOSE else word


def compare_fine_tuning(net: nn.Module, masks: Mapping[str, torch.Tensor], train: Split, validation: Split,
                        settings: Mapping[str, Mapping], seed: int = 0, compacted: bool = False,
                        progress: bool = False) -> pd.DataFrame:
    """Fine-tune the same pruned network with each of several recipes and score each on validation.

    The way to choose (or check) `FINE_TUNE` without looking at the test set.

    Args:
        net: the trained network (not modified).
        masks: {layer name: bool mask}, False = pruned.
        train: the split to fine-tune on.
        validation: the split to score on (never the test set).
        settings: {name: overrides of `FINE_TUNE`}, e.g. {"FINE_TUNE": {}, "lr 0.05": {"lr": 0.05}}.
        seed, compacted, progress: as in `fine_tune`.

    Returns:
        One row per setting, in order: setting, the full recipe (epochs, lr,
        weight_decay, l1), validation_accuracy and its standard_error.

    Raises:
        ValueError: no settings, or an empty validation split.

    Used in 04_fine_tuning.
    """
    if not settings:
        raise ValueError("settings must name at least one recipe, got none")
    if len(validation) == 0:
        raise ValueError("the validation split is empty")
    rows = []
    for name, overrides in settings.items():
        tuned, _ = fine_tune(net, masks, train, seed=seed, compacted=compacted, progress=progress, **overrides)
        accuracy = evaluate(tuned, validation)
        recipe = {key: value for key, value in {**FINE_TUNE, **overrides}.items()
                  if key in ("epochs", "lr", "weight_decay", "l1")}
        rows.append(dict(setting=name, **recipe, validation_accuracy=accuracy,
                         standard_error=standard_error(accuracy, len(validation))))
    return pd.DataFrame(rows)


def kept_in_common(net: nn.Module, other: nn.Module, layer: str | None = None) -> float:
    """Share of the nonzero weights of `net` that are also nonzero in `other`.

    Two pruned versions of one network (say one-shot and iterative at the same k) may
    keep different connections; this says how much their choices overlap.

    Args:
        net, other: networks of the same architecture.
        layer: the name of one Linear layer (e.g. "0"); default all of them.

    Returns:
        A share in [0, 1] (1.0 when `net` keeps no weight at all).

    Raises:
        ValueError: different architectures, or no Linear layer named `layer`.

    Used in 04_fine_tuning.
    """
    ours, theirs = dict(linear_layers(net)), dict(linear_layers(other))
    if [w.weight.shape for w in ours.values()] != [w.weight.shape for w in theirs.values()]:
        raise ValueError("net and other must have the same architecture")
    if layer is not None and layer not in ours:
        raise ValueError(f"no Linear layer named {layer!r}; the layers are {list(ours)}")
    names = [layer] if layer is not None else list(ours)
    kept = sum(int((ours[name].weight != 0).sum()) for name in names)
    both = sum(int(((ours[name].weight != 0) & (theirs[name].weight != 0)).sum()) for name in names)
    return both / kept if kept else 1.0


# --- the always-blank pixels: a bias input in a bias-free network (02_weight_pruning) -------------------

def constant_inputs(images: torch.Tensor) -> torch.Tensor:
    """Bool [features]: the inputs that take one and the same value in every row of `images`.

    In MNIST these are pixels blank in every training image; after normalisation
    each of them is the constant -mean/std (about -0.42), not 0.

    >>> constant_inputs(torch.tensor([[1.0, 0.5, -0.4], [1.0, 0.7, -0.4]])).tolist()
    [True, False, True]

    Used in 02_weight_pruning.
    """
    if images.dim() != 2 or len(images) == 0:
        raise ValueError(f"images must be a non-empty [N, features] tensor, got shape {tuple(images.shape)}")
    return (images == images[0]).all(dim=0)


def _first_layer(net: nn.Module, inputs: torch.Tensor) -> nn.Linear:
    layers = list(prunable_layers(net, include_output=True).values())
    if inputs.dtype != torch.bool or inputs.shape != (layers[0].in_features,):
        raise ValueError(f"inputs must be a bool mask of the first layer's {layers[0].in_features} inputs, "
                         f"got {inputs.dtype} of shape {tuple(inputs.shape)}")
    return layers[0]


def input_bias(net: nn.Module, inputs: torch.Tensor, value: float) -> torch.Tensor:
    """Per first-layer unit, what inputs fixed at `value` add to its pre-activation: value · Σ_p W[unit, p].

    In a network without biases, constant inputs are its only bias.

    Used in 02_weight_pruning.
    """
    weight = _first_layer(net, inputs).weight.detach()
    return value * weight[:, inputs.to(weight.device)].sum(dim=1)


def without_inputs(net: nn.Module, inputs: torch.Tensor, keep_sum: bool = False) -> nn.Module:
    """A copy of `net` whose first layer no longer reads `inputs`: their weights are zeroed.

    Args:
        net: the network (not modified).
        inputs: bool mask of the first layer's inputs.
        keep_sum: move the sum of those weights (per unit) into the first of
            the inputs instead of dropping it. When the inputs all hold the same
            constant value (MNIST's blank pixels) the network computes exactly
            what it did, with one weight per unit instead of one per input.

    Used in 02_weight_pruning.
    """
    _first_layer(net, inputs)
    copy = apply_masks(net, {})
    layer = _first_layer(copy, inputs)
    columns = torch.nonzero(inputs).flatten().to(layer.weight.device)
    with torch.no_grad():
        total = layer.weight[:, columns].sum(dim=1)
        layer.weight[:, columns] = 0.0
        if keep_sum and len(columns):
            layer.weight[:, columns[0]] = total
    return copy


# --- what to prune: criteria compared, per-layer sensitivity and allocation (06_criteria) ---------------

def sweep_criteria(net: nn.Module, data: Split, ks: Mapping[str, Iterable[float]],
                   criteria: Mapping[str, Iterable[str]], calibration: Split | None = None,
                   progress: bool = False) -> pd.DataFrame:
    """One-shot sweeps of several criteria: each criterion ranks once and is cut at every k.

    Args:
        net: the trained network (not modified).
        data: the split to evaluate on (validation to choose, test to report).
        ks: {method: percentages}.
        criteria: {method: criteria of `helpers.criteria.CRITERIA[method]`}; "lamp"
            ranks globally, every other criterion layer by layer; the name
            "magnitude, global" asks for magnitude with a global ranking.
        calibration: calibration data from the training split, for the data-aware criteria.
        progress: show a progress bar.

    Returns:
        One row per (method, criterion, k): method, criterion, scope, k, accuracy,
        weights_kept, compression.

    Used in 06_criteria.
    """
    jobs = [(method, name) for method, names in criteria.items() for name in names]
    total, rows = flops(net), []
    bar = tqdm(total=sum(len(list(ks[method])) for method, _ in jobs), desc="criteria", unit="net",
               disable=not progress)
    for method, name in jobs:
        criterion, _, scope = name.partition(", ")
        scope = scope or ("global" if criterion in GLOBAL_ONLY else "layer")
        ranking = rank(net, method, scope, criterion=criterion, data=calibration)
        for k in ks[method]:
            pruned = apply_masks(net, ranking.masks(k))
            rows.append(dict(method=method, criterion=name, scope=scope, k=k, accuracy=evaluate(pruned, data),
                             weights_kept=weights_kept(pruned), compression=compression(pruned, total)))
            bar.update()
    bar.close()
    return pd.DataFrame(rows)


def sensitivity(net: nn.Module, data: Split, ks: Iterable[float], method: str = "weight",
                criterion: str | None = None, calibration: Split | None = None,
                progress: bool = False) -> pd.DataFrame:
    """Prune one layer at a time at each k, the others left intact, and measure the accuracy (Han et al. 2015, Fig. 6).

    Args:
        net: the trained network (not modified).
        data: the split to measure on: validation, since the curves choose an allocation.
        ks: percentages to prune in the one pruned layer.
        method, criterion: what is pruned and how it is ranked (layer-wise).
        calibration: calibration data from the training split, for the data-aware criteria.
        progress: show a progress bar.

    Returns:
        One row per (layer, k), k = 0 included: layer, k, accuracy, kept (weights
        or units kept in that layer), size (weights or units in it).

    Used in 06_criteria.
    """
    ks = sorted({0.0, *(float(check_k(k)) for k in ks)})
    ranking = rank(net, method, "layer", criterion=criterion, data=calibration)
    dense = evaluate(net, data)
    layers = prunable_layers(net)
    rows = []
    bar = tqdm(total=len(layers) * (len(ks) - 1), desc="sensitivity", unit="net", disable=not progress)
    for name, layer in layers.items():
        size = layer.weight.shape[0] if method == "unit" else layer.weight.numel()
        for k in ks:
            pruned = round(k / 100 * size)
            if k == 0:
                accuracy = dense
            else:
                accuracy = evaluate(apply_masks(net, {name: ranking.masks({name: k})[name]}), data)
                bar.update()
            rows.append(dict(layer=name, k=k, accuracy=accuracy, kept=size - pruned, size=size))
    bar.close()
    return pd.DataFrame(rows)


def allocate(table: pd.DataFrame, budget: int) -> dict[str, float]:
    """Per-layer k that keeps exactly `budget` weights (or units) in all, losing the least accuracy by the curves.

    Greedy on the sensitivity curves: every layer starts unpruned; at each step the
    layer whose next cut costs the least accuracy per entry removed goes further,
    to whichever later k of its curve gives the best such rate (so a steep step
    followed by a long flat stretch is judged as a whole). The last cut is
    shortened so the total is met exactly. Each curve is first made non-increasing
    in k (a dip that recovers is treated as a loss), so that noise on the
    validation set does not send a layer further. The curves measure one layer at
    a time: the losses of several pruned layers compound (notebook 03), so the
    allocation is a guess that the caller must measure.

    Args:
        table: a `sensitivity` table (layer, k, accuracy, kept, size; k = 0 included).
        budget: entries kept in all pruned layers together, in the table's unit.

    Returns:
        {layer name: k}, for `Ranking.masks` with one k per layer.

    Raises:
        ValueError: a table without k = 0 for a layer, or a budget outside what the
            table's k grid can reach.

    >>> table = pd.DataFrame(dict(layer=["a"] * 3 + ["b"] * 3, k=[0, 50, 90] * 2, size=[100] * 3 + [10] * 3,
    ...                           accuracy=[0.9, 0.9, 0.5, 0.9, 0.8, 0.7]))
    >>> allocate(table, 55)  # a's first 50 cost nothing; 5 more of a cost 0.4/40 each, less than b's 0.1/5
    {'a': 55.0, 'b': 0.0}
    """
    missing = {"layer", "k", "accuracy", "size"} - set(table.columns)
    if missing:
        raise ValueError(f"table lacks the columns {sorted(missing)}: pass a sensitivity() table")
    curves = {}
    for name, group in table.groupby("layer", sort=False):
        group = group.sort_values("k")
        if group["k"].iloc[0] != 0:
            raise ValueError(f"layer {name!r} has no k = 0 row: pass a sensitivity() table")
        size = int(group["size"].iloc[0])
        removed = [round(k / 100 * size) for k in group["k"]]
        curves[name] = (size, removed, np.minimum.accumulate(group["accuracy"].to_numpy(dtype=float)))
    total = sum(size for size, _, _ in curves.values())
    most = sum(removed[-1] for _, removed, _ in curves.values())
    if isinstance(budget, bool) or not isinstance(budget, (int, np.integer)) or not total - most <= budget <= total:
        raise ValueError(f"budget must be an integer number kept in [{total - most}, {total}] (the table's k grid "
                         f"reaches no further), got {budget!r}")
    need, position, removed_so_far = total - int(budget), {name: 0 for name in curves}, 0
    final = {name: 0 for name in curves}  # entries removed per layer
    while removed_so_far < need:
        best = None
        for name, (size, removed, accuracy) in curves.items():
            here = position[name]
            for later in range(here + 1, len(removed)):
                gained = removed[later] - removed[here]
                if gained <= 0:
                    continue
                rate = (accuracy[here] - accuracy[later]) / gained
                if best is None or rate < best[0]:
                    best = (rate, name, later)
        _, name, later = best
        size, removed, _ = curves[name]
        step = removed[later] - removed[position[name]]
        if removed_so_far + step >= need:
            final[name] = removed[position[name]] + need - removed_so_far
            removed_so_far = need
        else:
            position[name], final[name] = later, removed[later]
            removed_so_far += step
    return {name: 100 * final[name] / curves[name][0] for name in curves}



def calibration_sizes(net: nn.Module, train: Split, validation: Split, sizes: Sequence[int],
                      cases: Mapping[str, tuple[float, Sequence[str]]], seed: int = 0) -> pd.DataFrame:
    """Validation accuracy of data-aware criteria scored on calibration sets of several sizes, and the time it took.

    Args:
        net: the trained network (not modified).
        train: the split the calibration images are drawn from (`criteria.calibration`).
        validation: the split that measures.
        sizes: calibration sizes to try.
        cases: {method: (k, criteria)}, e.g. {"weight": (97, ["obd", "wanda"])}.
        seed: seed of the calibration draw.

    Returns:
        One row per (size, method, criterion): size, method, criterion, k, accuracy,
        seconds (to score the whole network).

    Used in 06_criteria.
    """
    rows = []
    for size in sizes:
        data = draw_calibration(train, size, seed)
        for method, (k, names) in cases.items():
            for criterion in names:
                started = time.perf_counter()
                ranking = rank(net, method, "layer", criterion=criterion, data=data)
                seconds = time.perf_counter() - started
                rows.append(dict(size=size, method=method, criterion=criterion, k=k, seconds=seconds,
                                 accuracy=evaluate(apply_masks(net, ranking.masks(k)), validation)))
    return pd.DataFrame(rows)


def smallest_sufficient(table: pd.DataFrame, n: int) -> int:
    """The smallest size whose accuracy, for every (method, criterion), is not below the largest size's beyond the noise.

    Args:
        table: a `calibration_sizes` table.
        n: images each accuracy was measured on (the noise rule, `noise`).

    >>> table = pd.DataFrame(dict(size=[10, 100, 1000], method="weight", criterion="obd", accuracy=[0.90, 0.975, 0.98]))
    >>> smallest_sufficient(table, 5_000)
    100
    """
    largest = table[table["size"] == table["size"].max()].set_index(["method", "criterion"])["accuracy"]
    for size, group in table.groupby("size", sort=True):
        accuracy = group.set_index(["method", "criterion"])["accuracy"]
        if all(accuracy[case] >= largest[case] or not differs(accuracy[case], largest[case], n) for case in largest.index):
            return int(size)
    raise AssertionError("unreachable: the largest size is sufficient by definition")


#: The k grids of the sensitivity curves in 06_criteria: fine where one layer starts to matter.
SENSITIVITY_KS = {"weight": (50, 70, 80, 90, 95, 97, 98, 99, 99.5, 99.7, 99.9),
                  "unit": (50, 70, 80, 85, 90, 93, 95, 97, 98, 99)}


def budget_candidates(net: nn.Module, method: str, k: float, tables: Mapping[str, pd.DataFrame],
                      calibration: Split | None = None) -> dict[str, dict[str, torch.Tensor]]:
    """Ways to keep exactly as many weights (or units) as uniform pruning at k keeps, as masks by name.

    Weights: "uniform, magnitude" (k in every layer), "global magnitude", "global LAMP"
    and "allocated, <criterion>" for each sensitivity table. Units: "uniform, <criterion>"
    and "allocated, <criterion>" for each table, so that the allocation's effect can be
    told from the criterion's. The allocations come from `allocate` on the tables
    (measured on validation).

    Args:
        net: the trained network (not modified).
        method: "weight" or "unit".
        k: the uniform k that sets the budget.
        tables: {criterion: a `sensitivity` table of `method` ranked by that criterion}.
        calibration: calibration data, for data-aware criteria among the tables.

    Used in 06_criteria and benchmarks.criteria.
    """
    layers = prunable_layers(net)
    sizes = {name: layer.weight.shape[0] if method == "unit" else layer.weight.numel() for name, layer in layers.items()}
    budget = sum(size - round(k / 100 * size) for size in sizes.values())
    candidates = {}
    if method == "weight":
        candidates["uniform, magnitude"] = rank(net, method, "layer").masks(k)
        candidates["global magnitude"] = rank(net, "weight", "global").masks(k)
        candidates["global LAMP"] = rank(net, "weight", "global", criterion="lamp").masks(k)
    rankings = {criterion: rank(net, method, "layer", criterion=criterion, data=calibration) for criterion in tables}
    if method == "unit":
        candidates.update({f"uniform, {criterion}": ranking.masks(k) for criterion, ranking in rankings.items()})
    for criterion, table in tables.items():
        candidates[f"allocated, {criterion}"] = rankings[criterion].masks(allocate(table, budget))
    return candidates


def measure_candidates(net: nn.Module, candidates: Mapping[str, Mapping[str, torch.Tensor]],
                       splits: Mapping[str, Split], method: str = "weight") -> pd.DataFrame:
    """Accuracy of `net` pruned by each set of masks, with what each keeps per layer.

    Returns:
        One row per candidate (index "how"): kept (weights or whole units kept in the
        pruned layers), "<layer> kept" (% of the layer's weights, or units kept),
        "weights stored" (nonzero weights of `compact()`, all layers: what the
        network costs to store), and the accuracy (%) on each split, named by `splits`' keys.

    Used in 06_criteria and benchmarks.criteria.
    """
    rows = []
    for how, masks in candidates.items():
        counts = {name: int(mask.any(dim=1).sum()) if method == "unit" else int(mask.sum()) for name, mask in masks.items()}
        row = {"how": how, "kept": sum(counts.values())}
        if method == "unit":
            row.update({f"layer {name} units kept": count for name, count in counts.items()})
        else:
            row.update({f"layer {name} kept (%)": 100 * count / masks[name].numel() for name, count in counts.items()})
        pruned = apply_masks(net, masks)
        row["weights stored"] = weights_kept(pruned)
        row.update({f"{split} (%)": 100 * evaluate(pruned, data) for split, data in splits.items()})
        rows.append(row)
    return pd.DataFrame(rows).set_index("how")

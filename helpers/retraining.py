"""Beyond one-shot: fine-tuning with masks held fixed, iterative and gradual pruning, and the controls
(random masks, a random restart, the rewound initialisation) that tell what the retraining recovers.

Used in 04_fine_tuning (and 05, 06, 07, 09 fine-tune with `FINE_TUNE`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

import pandas as pd
import torch
from torch import nn

from helpers.data import Split
from helpers.model import linear_layers
from helpers.pruning import apply_masks, check_k, check_masks, compact, masks_for, rank, weights_kept
from helpers.stats import paired, standard_error
from helpers.training import RECIPE, correct, evaluate, fit, initial_network, restart_network


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


#: The recipes notebooks 04 and 05 check `FINE_TUNE` against on validation: {name: overrides of FINE_TUNE}.
FINE_TUNE_CANDIDATES = {"FINE_TUNE": {}, "peak lr 0.05": {"lr": 0.05}, "1 epoch": {"epochs": 1}}


def compare_fine_tuning(net: nn.Module, masks: Mapping[str, torch.Tensor], train: Split, validation: Split,
                        settings: Mapping[str, Mapping] = FINE_TUNE_CANDIDATES, seed: int = 0, compacted: bool = False,
                        progress: bool = False) -> pd.DataFrame:
    """Fine-tune the same pruned network with each of several recipes and score each on validation.

    The way to choose (or check) `FINE_TUNE` without looking at the test set: every recipe's network is scored
    on the same validation images, so each meets the first setting (the reference) in the paired test.

    Args:
        net: the trained network (not modified).
        masks: {layer name: bool mask}, False = pruned.
        train: the split to fine-tune on.
        validation: the split to score on (never the test set).
        settings: {name: overrides of `FINE_TUNE`}, the reference first, e.g. {"FINE_TUNE": {}, "lr 0.05": {"lr": 0.05}}.
        seed, compacted, progress: as in `fine_tune`.

    Returns:
        One row per setting, indexed by its name, in order: the full recipe (epochs, lr, weight_decay, l1),
        validation_accuracy, standard_error, and the paired test against the first setting (a_only, b_only,
        gap, z, verdict; empty in the first row).

    Raises:
        ValueError: no settings, or an empty validation split.

    Used in 04_fine_tuning and 05_speed_and_size (with `chosen_recipe`).
    """
    if not settings:
        raise ValueError("settings must name at least one recipe, got none")
    if len(validation) == 0:
        raise ValueError("the validation split is empty")
    rows, right = {}, {}
    for name, overrides in settings.items():
        tuned, _ = fine_tune(net, masks, train, seed=seed, compacted=compacted, progress=progress, **overrides)
        right[name] = correct(tuned, validation)
        accuracy = int(right[name].sum()) / len(validation)
        recipe = {key: value for key, value in {**FINE_TUNE, **overrides}.items()
                  if key in ("epochs", "lr", "weight_decay", "l1")}
        reference = next(iter(right))
        rows[name] = dict(**recipe, validation_accuracy=accuracy, standard_error=standard_error(accuracy, len(validation)),
                          **(paired(right[name], right[reference]) if name != reference else {}))
    return pd.DataFrame(rows).T.infer_objects()


def chosen_recipe(table: pd.DataFrame) -> str:
    """The setting validation picks from `compare_fine_tuning`'s table: of those "higher" than the first setting by
    the paired test, the one with the largest z; the first setting when none is (a tie keeps the reference).

    >>> table = pd.DataFrame({"z": [None, 2.5, 3.1, -4.0], "verdict": [None, "higher", "higher", "lower"]},
    ...                      index=["FINE_TUNE", "a", "b", "c"])
    >>> chosen_recipe(table), chosen_recipe(table.iloc[[0, 3]])
    ('b', 'FINE_TUNE')
    """
    better = table[table["verdict"] == "higher"]
    return str(better["z"].astype(float).idxmax()) if len(better) else str(table.index[0])


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

"""Pruning: pure functions on networks and masks. No training, no plotting.

Two ways to prune a trained network, both "one-shot" (no retraining):

- **weight pruning** zeroes the k% of weights with the smallest magnitude,
  in each layer (``scope="layer"``) or over all layers at once (``"global"``);
- **unit pruning** zeroes the k% of each hidden layer's neurons whose weight
  rows have the smallest L2 norm. A unit is a *row* of `nn.Linear.weight`
  (shape out x in): the weights coming *into* that neuron.

Those are the default criteria; `rank(..., criterion=..., data=...)` and the
functions built on it rank by any score of `helpers.criteria` instead (Taylor,
OBD, Wanda, LAMP; APoZ and others for units).

A mask is a bool tensor shaped like the weight, True = kept; masks are
``dict[str, torch.Tensor]`` keyed by the layer's name in the network. In a
tensor of n entries exactly ``round(k / 100 * n)`` are pruned, ties included,
as `torch.nn.utils.prune` does; the tests prove our masks equal its masks.

Nothing here modifies the network it is given: `prune` and `apply_masks`
return a new one.

`cut_magnitudes` (the largest |w| pruning at k removes) and `pixel_survival` /
`pixel_values` (what the first layer still reads of each pixel) are the numbers
that `helpers.plots` draws as cut lines and pixel maps.

Used in 02_weight_pruning and 03_unit_pruning.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass
from collections.abc import Mapping, Sequence

import pandas as pd
import torch
from torch import nn

from helpers import criteria
from helpers.config import K_LIST
from helpers.criteria import GLOBAL_ONLY, check_criterion
from helpers.data import Split
from helpers.model import linear_layers

__all__ = ["K_LIST", "check_k", "rank", "Ranking", "prunable_layers", "weight_masks", "unit_masks", "masks_for",
           "apply_masks", "apply_masks_", "check_masks", "prune", "compact", "sparsity", "flops", "weights_kept", "METHODS", "SCOPES",
           "magnitudes", "pruned_below", "cut_magnitudes", "pixel_survival", "pixel_values", "PIXEL_VALUES"]

METHODS = ("weight", "unit")
SCOPES = ("layer", "global")


def check_k(k: float) -> float:
    """Return `k` if it is a percentage in [0, 100]; raise otherwise.

    >>> check_k(90)
    90
    >>> check_k(120)
    Traceback (most recent call last):
    ...
    ValueError: k must be a percentage in [0, 100], got 120
    """
    if isinstance(k, bool) or not isinstance(k, (int, float)):
        raise TypeError(f"k must be a number (a percentage in [0, 100]), got {k!r} of type {type(k).__name__}")
    if math.isnan(k) or not 0 <= k <= 100:
        raise ValueError(f"k must be a percentage in [0, 100], got {k!r}")
    return k


def prunable_layers(net: nn.Module, include_output: bool = False) -> dict[str, nn.Linear]:
    """The `nn.Linear` layers to prune, by name; the last one (the output) only if asked."""
    layers = linear_layers(net)
    if not layers:
        raise ValueError(f"{type(net).__name__} has no nn.Linear layers to prune")
    return dict(layers if include_output else layers[:-1])


def _cut(order: torch.Tensor, k: float) -> torch.Tensor:
    """Keep-mask over len(order) scores: the first round(k/100 * n) positions of `order` are pruned."""
    n_prune = round(check_k(k) / 100 * len(order))
    keep = torch.ones(len(order), dtype=torch.bool, device=order.device)
    keep[order[:n_prune]] = False
    return keep


def keep_largest(scores: torch.Tensor, k: float) -> torch.Tensor:
    """Mask that prunes the round(k/100 * n) smallest of `scores`, ties included.

    A stable sort breaks ties by position, so exactly that many entries go, and
    whatever is pruned at k is also pruned at every larger k.

    >>> keep_largest(torch.tensor([0.3, -0.1, 0.2, 0.1]).abs(), 50)
    tensor([ True, False,  True, False])
    """
    return _cut(torch.argsort(scores.flatten(), stable=True), k).view_as(scores)


@dataclass(frozen=True)
class Ranking:
    """The entries of each layer ordered from least to most important, ready to cut at any k.

    Sorting is the expensive part of pruning; a `Ranking` sorts once, and
    `masks(k)` then costs one indexing per layer. `weight_masks` and
    `unit_masks` are `rank(...).masks(k)`; a sweep over many k ranks once.

    Attributes:
        groups: (layer names ranked together, the stable argsort of their
            concatenated scores); one group per layer, or one for all layers
            when weights are ranked globally.
        score_shapes: shape of each layer's scores: its weight's shape, or
            (rows,) for units.
        weight_shapes: shape of each layer's weight.
    """

    groups: list[tuple[list[str], torch.Tensor]]
    score_shapes: dict[str, torch.Size]
    weight_shapes: dict[str, torch.Size]

    def masks(self, k: float | Mapping[str, float]) -> dict[str, torch.Tensor]:
        """{layer name: bool mask shaped like its weight, True = kept} at k%.

        `k` may also be {layer name: k} with one percentage per layer (a per-layer
        allocation); that needs a layer-wise ranking, and a layer left out is not pruned.
        """
        if isinstance(k, Mapping):
            unknown = set(k) - set(self.score_shapes)
            if unknown:
                raise ValueError(f"per-layer k for {sorted(unknown)}, but the ranked layers are {list(self.score_shapes)}")
            if any(len(names) > 1 for names, _ in self.groups):
                raise ValueError("a per-layer k needs a layer-wise ranking (scope='layer'), not a global one")
            per_layer = {name: check_k(k.get(name, 0)) for name in self.score_shapes}
        else:
            check_k(k)
        masks = {}
        for names, order in self.groups:
            cut_at = per_layer[names[0]] if isinstance(k, Mapping) else k
            keep = _cut(order, cut_at).split([self.score_shapes[name].numel() for name in names])
            for name, part in zip(names, keep):
                mask = part.view(self.score_shapes[name])
                if mask.dim() == 1:  # units: a whole row is kept or pruned
                    mask = mask[:, None].expand(self.weight_shapes[name]).clone()
                masks[name] = mask
        return masks


def rank(net: nn.Module, method: str = "weight", scope: str = "layer", include_output: bool = False,
         criterion: str | None = None, data: Split | torch.Tensor | None = None) -> Ranking:
    """Rank the weights or the units of `net` by an importance criterion, least important first.

    Args:
        net: the network (not modified).
        method: "weight" or "unit".
        scope: "layer" ranks each layer on its own; "global" ranks all
            prunable weights together (weight pruning only).
        include_output: rank the output layer too.
        criterion: one of `criteria.CRITERIA[method]`; None is the default,
            |w| for weights and the L2 norm of the row for units.
        data: calibration data from the training split, for the data-aware
            criteria (see `helpers.criteria`).

    Raises:
        ValueError: an unknown method, scope or criterion; unit pruning with
            global scope; a global-only criterion ("lamp") with layer scope.
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    if scope not in SCOPES:
        raise ValueError(f"scope must be one of {SCOPES}, got {scope!r}")
    if method == "unit" and scope != "layer":
        raise ValueError(f"unit pruning is layer-wise only, got scope={scope!r}")
    criterion = check_criterion(method, criterion)
    if criterion in GLOBAL_ONLY and scope != "global":
        raise ValueError(f"criterion {criterion!r} only makes sense with scope='global': within one layer it ranks "
                         "exactly as 'magnitude' does")
    layers = prunable_layers(net, include_output)
    weights = {name: layer.weight.detach() for name, layer in layers.items()}
    scores = criteria.scores(net, method, criterion, data, include_output)
    groups = [[name] for name in scores] if scope == "layer" else [list(scores)]
    return Ranking(
        groups=[(names, torch.argsort(torch.cat([scores[n].flatten() for n in names]), stable=True))
                for names in groups],
        score_shapes={name: score.shape for name, score in scores.items()},
        weight_shapes={name: w.shape for name, w in weights.items()},
    )


def weight_masks(net: nn.Module, k: float, scope: str = "layer", include_output: bool = False,
                 criterion: str = "magnitude", data: Split | torch.Tensor | None = None) -> dict[str, torch.Tensor]:
    """Masks that prune the k% of weights with the smallest magnitude (or the lowest score of `criterion`).

    Args:
        net: the network.
        k: percentage to prune, in [0, 100].
        scope: "layer" prunes k% of every layer; "global" ranks the weights of
            all prunable layers together (layers then lose different shares).
        include_output: prune the output layer too.
        criterion, data: the importance criterion and its calibration data (`helpers.criteria`).

    Returns:
        {layer name: bool tensor shaped like its weight, True = kept}.

    Used in 02_weight_pruning.
    """
    check_k(k)
    return rank(net, "weight", scope, include_output, criterion, data).masks(k)


def unit_masks(net: nn.Module, k: float, include_output: bool = False, criterion: str = "l2",
               data: Split | torch.Tensor | None = None) -> dict[str, torch.Tensor]:
    """Masks that prune, in each layer, the k% of units whose weight rows have the smallest L2 norm.

    `criterion` and `data` rank the units by another score instead (`helpers.criteria`).

    Returns:
        {layer name: bool tensor shaped like its weight}; a pruned unit's whole row is False.

    Used in 03_unit_pruning.
    """
    check_k(k)
    return rank(net, "unit", "layer", include_output, criterion, data).masks(k)


def masks_for(net: nn.Module, k: float, method: str = "weight", scope: str = "layer",
              include_output: bool = False, criterion: str | None = None,
              data: Split | torch.Tensor | None = None) -> dict[str, torch.Tensor]:
    """The masks of `method` ("weight" or "unit") at k; `scope` applies to weight pruning; `criterion` None is the default."""
    check_k(k)
    return rank(net, method, scope, include_output, criterion, data).masks(k)


def check_masks(net: nn.Module, masks: Mapping[str, torch.Tensor]) -> None:
    """Raise ValueError unless every mask names a Linear layer of `net` and has its weight's shape."""
    layers = dict(linear_layers(net))
    for name, mask in masks.items():
        if name not in layers:
            raise ValueError(f"mask for layer {name!r}, but the network's Linear layers are {list(layers)}")
        if tuple(mask.shape) != tuple(layers[name].weight.shape):
            raise ValueError(f"mask for layer {name!r} has shape {tuple(mask.shape)}, "
                             f"its weight has shape {tuple(layers[name].weight.shape)}")


def apply_masks(net: nn.Module, masks: Mapping[str, torch.Tensor]) -> nn.Module:
    """A copy of `net` with the weights that `masks` prune set to zero.

    Raises:
        ValueError: a mask names no Linear layer of `net`, or its shape differs
            from the layer's weight. `net` is not modified.
    """
    check_masks(net, masks)
    pruned = copy.deepcopy(net)
    apply_masks_(pruned, masks)
    return pruned


def apply_masks_(net: nn.Module, masks: Mapping[str, torch.Tensor]) -> None:
    """Zero, in place, the weights that `masks` prune (False = pruned). Used by fine-tuning after every step."""
    modules = dict(net.named_modules())
    with torch.no_grad():
        for name, mask in masks.items():
            weight = modules[name].weight
            weight.mul_(mask.to(weight.device, weight.dtype))


def prune(net: nn.Module, k: float, method: str = "weight", scope: str = "layer",
          include_output: bool = False, criterion: str | None = None,
          data: Split | torch.Tensor | None = None) -> nn.Module:
    """A copy of `net` pruned at k% by `method` (and `criterion`, default magnitude / row L2); `net` is never changed.

    >>> from helpers.model import make_mlp
    >>> net = make_mlp((8, 4))
    >>> sparsity(prune(net, 50, "unit"))["alive"].tolist()
    [4, 2, 10, 16]
    """
    return apply_masks(net, masks_for(net, k, method, scope, include_output, criterion, data))


def compact(net: nn.Module) -> nn.Sequential:
    """A physically smaller network without the dead hidden units.

    A hidden unit is dead when its weight row is all zero (it always outputs
    relu(0) = 0) or when no later layer reads it (its column in the next layer
    is all zero). Its row goes, and so does the matching column of the next
    layer. Without biases the result computes exactly the same function.

    Returns:
        A new `nn.Sequential` of Linear and ReLU layers.

    Used in 03_unit_pruning and 05_speed_and_size.
    """
    weights = [layer.weight.detach() for _, layer in linear_layers(net)]
    if not weights:
        raise ValueError(f"{type(net).__name__} has no nn.Linear layers")
    for i in range(len(weights) - 1):
        alive = (weights[i] != 0).any(dim=1) & (weights[i + 1] != 0).any(dim=0)
        weights[i] = weights[i][alive]
        weights[i + 1] = weights[i + 1][:, alive]
    layers: list[nn.Module] = []
    for weight in weights:
        linear = nn.Linear(weight.shape[1], weight.shape[0], bias=False, device=weight.device, dtype=weight.dtype)
        with torch.no_grad():
            linear.weight.copy_(weight)
        layers += [linear, nn.ReLU()]
    return nn.Sequential(*layers[:-1]).eval()


def weights_kept(net: nn.Module) -> int:
    """Nonzero weights that still matter: those of `compact(net)` (weights reading dead units do not count)."""
    return sum(int((layer.weight != 0).sum()) for _, layer in linear_layers(compact(net)))


def compression(net: nn.Module, total: int | None = None) -> float:
    """How many times fewer weights: `total` (default: all weights of `net`) / `weights_kept(net)`.

    The one definition of compression in the series: dense weights over the nonzero
    weights that still matter (those of `compact(net)`). Infinite when nothing is kept.

    >>> from helpers.model import make_mlp
    >>> compression(prune(make_mlp((8, 4)), 50, "unit"))  # 8*784+4*8+10*4 = 6344 weights, 4*784+2*4+10*2 = 3164 kept
    2.0050568900126424
    """
    kept = weights_kept(net)
    total = sum(layer.weight.numel() for _, layer in linear_layers(net)) if total is None else total
    return total / kept if kept else float("inf")


def flops(net: nn.Module) -> int:
    """Multiply-adds of one forward pass of one example (the sum of in x out over Linear layers)."""
    return sum(layer.weight.numel() for _, layer in linear_layers(net))


def sparsity(net: nn.Module) -> pd.DataFrame:
    """Per Linear layer: shape, weights total and nonzero, units total and alive, and a total row.

    A unit is alive when its weight row has a nonzero entry.
    """
    rows = []
    for name, layer in linear_layers(net):
        weight = layer.weight.detach()
        rows.append(dict(layer=name, shape=tuple(weight.shape), weights=weight.numel(),
                         nonzero=int((weight != 0).sum()), units=weight.shape[0],
                         alive=int((weight != 0).any(dim=1).sum())))
    table = pd.DataFrame(rows)
    total = dict(layer="total", shape=None, weights=table["weights"].sum(), nonzero=table["nonzero"].sum(),
                 units=table["units"].sum(), alive=table["alive"].sum())
    table = pd.concat([table, pd.DataFrame([total])], ignore_index=True)
    table["kept %"] = 100 * table["nonzero"] / table["weights"]
    return table


def _check_below(below: float) -> float:
    if isinstance(below, bool) or not isinstance(below, (int, float)) or not 0 < below < math.inf:
        raise ValueError(f"below must be a positive magnitude, got {below!r}")
    return below


def magnitudes(net: nn.Module, below: float = 1e-6, include_output: bool = True) -> pd.DataFrame:
    """Per Linear layer, how small its weights are: the two groups an L1 penalty leaves.

    Training with L1 (`RECIPE["l1"]`) drives the weights a layer does not need to about
    1e-11 ("silenced") while the others keep working at 1e-3 to 1e-1; without L1 hardly
    any weight gets that small. This table measures both groups.

    Args:
        net: the network.
        below: weights with |w| < `below` count as silenced (> 0).
        include_output: include the output layer.

    Returns:
        One row per layer: layer, shape, weights, median_abs (median |w|), below
        (weights with |w| < `below`), below_percent, silenced_median (median |w|
        of those, NaN if none), working_low and working_high (5th and 95th
        percentiles of |w| among the others, NaN if none).

    Raises:
        ValueError: `below` is not a positive number.

    >>> net = nn.Sequential(nn.Linear(4, 1, bias=False))
    >>> _ = net[0].weight.data.copy_(torch.tensor([[1e-11, -2e-11, 0.01, -0.1]]))
    >>> table = magnitudes(net)
    >>> int(table["below"][0]), float(table["below_percent"][0])
    (2, 50.0)

    Used in 01_training and 02_weight_pruning.
    """
    _check_below(below)
    layers = linear_layers(net) if include_output else linear_layers(net)[:-1]
    rows = []
    for name, layer in layers:
        size = layer.weight.detach().abs().flatten().double().cpu()
        silenced, working = size[size < below], size[size >= below]
        low, high = (working.quantile(torch.tensor([0.05, 0.95], dtype=torch.double)).tolist() if len(working)
                     else (math.nan, math.nan))
        rows.append(dict(layer=name, shape=tuple(layer.weight.shape), weights=len(size),
                         median_abs=float(size.median()), below=len(silenced),
                         below_percent=100 * len(silenced) / len(size),
                         silenced_median=float(silenced.median()) if len(silenced) else math.nan,
                         working_low=low, working_high=high))
    return pd.DataFrame(rows)


def pruned_below(net: nn.Module, ks: list[float] = K_LIST, below: float = 1e-6, scope: str = "layer") -> pd.DataFrame:
    """For each k, how many of the weights that weight pruning removes had |w| < `below` already.

    With an L1-trained network, up to k of about 90 nearly all of them: one-shot
    pruning then removes what training had silenced.

    Args:
        net: the trained network.
        ks: percentages to prune.
        below: the magnitude under which a weight counts as silenced.
        scope: "layer" or "global", as in `weight_masks`.

    Returns:
        One row per k: k, pruned (weights removed from the prunable layers),
        pruned_below (of those, how many had |w| < `below`), below_percent
        (their share of the pruned ones; NaN when nothing is pruned).

    Used in 02_weight_pruning.
    """
    _check_below(below)
    ks = [check_k(k) for k in ks]
    ranking = rank(net, "weight", scope)
    small = {name: layer.weight.detach().abs() < below for name, layer in prunable_layers(net).items()}
    rows = []
    for k in ks:
        masks = ranking.masks(k)
        pruned = sum(int((~mask).sum()) for mask in masks.values())
        tiny = sum(int((~mask & small[name]).sum()) for name, mask in masks.items())
        rows.append(dict(k=k, pruned=pruned, pruned_below=tiny,
                         below_percent=100 * tiny / pruned if pruned else math.nan))
    return pd.DataFrame(rows)


def cut_magnitudes(net: nn.Module, ks: Sequence[float]) -> dict[float, dict[str, float]]:
    """For each k, per prunable layer, the largest |w| that layer-wise weight pruning at k removes.

    In a layer of n weights that is the round(k/100 n)-th smallest |w| (`weight_masks`'
    count, ties included); 0.0 when k removes nothing. The histograms draw it as a line.

    >>> net = nn.Sequential(nn.Linear(4, 2, bias=False), nn.Linear(2, 1, bias=False))
    >>> _ = net[0].weight.data.copy_(torch.tensor([[1.0, -2.0, 0.5, 4.0], [-0.25, 8.0, 16.0, -0.125]]))
    >>> cut_magnitudes(net, [0, 25, 50])
    {0: {'0': 0.0}, 25: {'0': 0.25}, 50: {'0': 1.0}}

    Used in 02_weight_pruning (through `plots.weight_histograms`) and the explorer.
    """
    ks = [check_k(k) for k in ks]
    ordered = {name: layer.weight.detach().abs().flatten().sort().values.cpu()
               for name, layer in prunable_layers(net).items()}
    return {k: {name: float(values[round(k / 100 * len(values)) - 1]) if round(k / 100 * len(values)) else 0.0
                for name, values in ordered.items()} for k in ks}


def pixel_survival(net: nn.Module) -> torch.Tensor:
    """For each of the 784 input pixels, the share of its first-layer connections that are nonzero (28 x 28)."""
    weight = linear_layers(net)[0][1].weight.detach().cpu()
    if weight.shape[1] != 784:
        raise ValueError(f"pixel maps need a first layer that reads 784 pixels, got {weight.shape[1]} inputs")
    return (weight != 0).float().mean(dim=0).reshape(28, 28)


PIXEL_VALUES = ("kept", "magnitude")


def pixel_values(net: nn.Module, value: str = "kept") -> torch.Tensor:
    """What a pixel map shows for each of the 784 pixels (28 x 28).

    Args:
        net: a network whose first Linear layer reads the 784 pixels.
        value: "kept": the share of the pixel's first-layer connections that are
            nonzero, divided by the share of the whole layer (1 = as many as the
            average pixel; the map does not fade to black as k grows);
            "magnitude": the sum of |w| over the pixel's first-layer connections.

    Used in 02_weight_pruning, 03_unit_pruning and the explorer (through `pixel_maps`).
    """
    if value not in PIXEL_VALUES:
        raise ValueError(f"value must be one of {PIXEL_VALUES}, got {value!r}")
    if value == "kept":
        share = pixel_survival(net)
        return share / share.mean() if share.mean() > 0 else share
    weight = linear_layers(net)[0][1].weight.detach().cpu()
    pixel_survival(net)  # checks the shape
    return weight.abs().sum(dim=0).reshape(28, 28)

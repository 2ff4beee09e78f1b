"""Pruning before training: score the weights of a freshly initialised network, keep the best share.

Three published scores and two controls, each returning masks (``{layer name: bool tensor}``, True = kept)
at a share `keep` of the ranked weights, a percentage in (0, 100]:

- **SNIP** (Lee et al. 2019): |g ⊙ w|, the gradient of the loss on a batch with respect to a
  multiplicative mask c at c = 1 (dL/dc = g ⊙ w);
- **GraSP** (Wang et al. 2020): −w ⊙ (H g), the Hessian-gradient product by one extra backward pass;
  the weights with the *highest* score are removed (their removal reduces the gradient flow least);
- **SynFlow** (Tanaka et al. 2020): data-free; R = 1ᵀ(Π|W|)1 on an all-ones input, score |dR/dw ⊙ w|,
  pruned iteratively over n rounds to the shares keep^(r/n) (exponential schedule), in double precision;
- **random** pruning (uniform share per layer, or the per-layer counts of other masks) and the
  **shuffle** control of Frankle et al. (2021): each layer's mask permuted within the layer.

Conventions (the same as `helpers.pruning`): the ranking is *global* over the prunable layers, as the papers
do; the output layer is left dense unless ``include_output=True`` (the series' convention: it is 0.08% of
the classic network's weights and the only layer whose loss is a layer collapse by construction), and then
`keep` is the share of the *ranked* weights. Exactly ``round(keep / 100 * n)`` of the n ranked weights are
kept; ties are broken by position (a stable sort), so the masks are deterministic. Nothing here modifies
the network it is given.

A network that is already trained gets a warning, not a refusal (`check_initialised`).

Used in 10_when_to_prune.
"""

from __future__ import annotations

import copy
import math
import warnings
from collections.abc import Mapping

import pandas as pd
import torch
from torch import nn

from helpers.data import Split
from helpers.model import linear_layers
from helpers.pruning import check_masks, prunable_layers

__all__ = ["METHODS", "check_keep", "kept_count", "check_initialised", "snip_scores", "hessian_gradient_product",
           "grasp_scores", "synflow_scores", "largest_count", "top_masks", "snip_masks", "grasp_masks", "synflow_masks",
           "random_masks", "shuffle_masks", "masks_at_init", "scoring_flops", "shares_kept", "collapsed", "connected"]

#: The methods of `masks_at_init`, data-driven first.
METHODS = ("snip", "grasp", "synflow", "random")

#: GraSP's temperature on the logits (the authors' code divides them by 200 before the loss).
GRASP_TEMPERATURE = 200.0


def check_keep(keep: float) -> float:
    """Return `keep` if it is a share of weights kept in (0, 100] percent; raise otherwise.

    >>> check_keep(1)
    1
    >>> check_keep(0)
    Traceback (most recent call last):
    ...
    ValueError: keep is the percentage of weights kept, in (0, 100], got 0: pass e.g. keep=1 for 1% of the weights (keep=0 would prune every weight)
    """
    if isinstance(keep, bool) or not isinstance(keep, (int, float)):
        raise TypeError(f"keep must be a number, the percentage of weights kept in (0, 100], got {keep!r} "
                        f"of type {type(keep).__name__}")
    if math.isnan(keep) or not 0 < keep <= 100:
        hint = " (keep=0 would prune every weight)" if keep == 0 else ""
        raise ValueError(f"keep is the percentage of weights kept, in (0, 100], got {keep!r}: "
                         f"pass e.g. keep=1 for 1% of the weights{hint}")
    return keep


def kept_count(keep: float, n: int) -> int:
    """How many of `n` weights a share `keep` (percent) keeps: round(keep / 100 * n), at least 1.

    >>> kept_count(1, 2_384_000), kept_count(0.001, 10)
    (23840, 1)
    """
    return max(1, round(check_keep(keep) / 100 * n))


def check_initialised(net: nn.Module, tolerance: float = 0.15) -> bool:
    """Warn (and return False) when `net` does not look freshly initialised; True when it does.

    The test: every Linear layer's weight standard deviation lies within `tolerance` (plus the sampling
    noise of its n weights, 3/√n) of PyTorch's default initialisation, 1/√(3·fan_in), or of He's,
    √(2/fan_in). Training moves it far away: the series' trained baselines sit at 0.25-0.5 times the default
    in the hidden layers and 2.2-2.4 times in the output layer, and pruned or L1-trained layers are mostly
    exact zeros. A network initialised another way also gets the warning; the scores are still computed.

    >>> from helpers.model import make_mlp
    >>> check_initialised(make_mlp((300, 100)))
    True
    """
    far = []
    for name, layer in linear_layers(net):
        weight = layer.weight.detach().double()
        fan_in = weight.shape[1]
        ratio = float(weight.std()) / (1 / math.sqrt(3 * fan_in)) if weight.numel() > 1 else 1.0
        slack = tolerance + 3 / math.sqrt(weight.numel())
        if not any(abs(ratio / scale - 1) <= slack for scale in (1.0, math.sqrt(6))):
            far.append(f"{name} ({ratio:.2f}x)")
    if far:
        warnings.warn(f"the network does not look freshly initialised: the weight scale of layer(s) {', '.join(far)} "
                      "is far from PyTorch's default init 1/sqrt(3*fan_in) (or He's). Pruning at initialization "
                      "scores a network *before* training; pass a fresh one (helpers.training.initial_network(seed) "
                      "or initial_weights(seed)), not a trained or pruned one", UserWarning, stacklevel=3)
        return False
    return True


def _batch(net: nn.Module, data: Split, what: str) -> tuple[torch.Tensor, torch.Tensor]:
    if not isinstance(data, Split):
        raise TypeError(f"{what} needs a Split of training images and labels (e.g. criteria.calibration(train)), "
                        f"got {type(data).__name__}")
    width = linear_layers(net)[0][1].in_features
    if data.images.dim() != 2 or data.images.shape[1] != width or len(data) == 0:
        raise ValueError(f"{what} needs images of shape [N >= 1, {width}], got {tuple(data.images.shape)}")
    device = next(net.parameters()).device
    return data.images.to(device), data.labels.to(device)


def _scored(net: nn.Module, include_output: bool) -> tuple[nn.Module, dict[str, nn.Linear]]:
    """A copy of `net` (never the caller's) and its layers to score."""
    if not linear_layers(net):
        raise ValueError(f"{type(net).__name__} has no nn.Linear layers to prune")
    check_initialised(net)
    work = copy.deepcopy(net)
    work.eval()
    return work, prunable_layers(work, include_output)


def snip_scores(net: nn.Module, data: Split, include_output: bool = False) -> dict[str, torch.Tensor]:
    """SNIP's connection sensitivity |g ⊙ w| per weight, g the gradient of the mean cross-entropy on `data`.

    g ⊙ w is the derivative of the loss with respect to a multiplicative mask c on the weights, at c = 1
    (the paper's definition); the normalisation by the sum does not change the ranking and is left out.
    """
    work, layers = _scored(net, include_output)
    images, labels = _batch(work, data, "SNIP")
    loss = nn.functional.cross_entropy(work(images), labels)
    grads = torch.autograd.grad(loss, [layer.weight for layer in layers.values()])
    return {name: (grad * layer.weight).abs().detach() for (name, layer), grad in zip(layers.items(), grads)}


def hessian_gradient_product(net: nn.Module, data: Split, temperature: float = 1.0,
                             include_output: bool = True) -> dict[str, torch.Tensor]:
    """H g for the weights of the named layers: the Hessian of the loss times its gradient, by a double backward.

    g = dL/dw is computed with its graph kept; z = gᵀ(dL/dw) with the first g held constant (detached),
    and one more backward pass gives dz/dw = H g. The loss is the mean cross-entropy of the logits divided
    by `temperature`. The Hessian is taken with respect to *all* Linear weights (H g couples the layers);
    the product is returned for the prunable layers (all of them with `include_output`).
    """
    work = copy.deepcopy(net)
    work.eval()
    layers = dict(linear_layers(work))
    images, labels = _batch(work, data, "GraSP")
    weights = [layer.weight for layer in layers.values()]
    loss = nn.functional.cross_entropy(work(images) / temperature, labels)
    first = torch.autograd.grad(loss, weights, create_graph=True)
    z = sum((f * f.detach()).sum() for f in first)  # g held constant: dz/dw = H g
    hg = torch.autograd.grad(z, weights)
    keep = prunable_layers(work, include_output)
    return {name: product.detach() for name, product in zip(layers, hg) if name in keep}


def grasp_scores(net: nn.Module, data: Split, include_output: bool = False,
                 temperature: float = GRASP_TEMPERATURE) -> dict[str, torch.Tensor]:
    """GraSP's score −w ⊙ (H g) per weight; the weights with the *highest* score are the ones GraSP removes.

    `temperature` divides the logits as in the authors' code (200).
    """
    work, layers = _scored(net, include_output)
    hg = hessian_gradient_product(work, data, temperature, include_output)
    return {name: -(layer.weight.detach() * hg[name]) for name, layer in layers.items()}


def synflow_scores(net: nn.Module, masks: Mapping[str, torch.Tensor] | None = None,
                   include_output: bool = False) -> dict[str, torch.Tensor]:
    """SynFlow's score |dR/dw ⊙ w| with R = 1ᵀ(Π|W|)1: an all-ones input through the absolute weights.

    Computed in double precision on a copy with the weights |w| ⊙ mask (the masks of the earlier rounds);
    every layer of the network takes part in R, the scores are returned for the ranked layers. With
    non-negative weights and input the ReLUs pass everything, so R is a product of matrices.
    """
    work, layers = _scored(net, include_output)
    check_masks(work, masks or {})
    return _SynFlow(work, list(layers)).scores(masks or {})


class _SynFlow:
    """The double-precision copy of |W| that every round of SynFlow scores (made once, masked each round)."""

    def __init__(self, work: nn.Module, names: list[str]):
        self.net = work.double()
        self.layers = dict(linear_layers(self.net))
        self.names = names
        with torch.no_grad():
            self.absolute = {name: layer.weight.abs() for name, layer in self.layers.items()}
        device = next(self.net.parameters()).device
        self.ones = torch.ones(1, next(iter(self.layers.values())).in_features, dtype=torch.double, device=device)

    def scores(self, masks: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        with torch.no_grad():
            for name, layer in self.layers.items():
                weight = self.absolute[name]
                layer.weight.copy_(weight * masks[name].to(weight.device) if name in masks else weight)
        R = self.net(self.ones).sum()
        if not torch.isfinite(R):
            raise FloatingPointError(f"SynFlow's R = {float(R)} overflowed even in double precision; "
                                     "rescale the weights (R is homogeneous in each layer's scale)")
        weights = [self.layers[name].weight for name in self.names]
        grads = torch.autograd.grad(R, weights)
        return {name: (grad * weight).abs().detach() for name, grad, weight in zip(self.names, grads, weights)}


def largest_count(scores: torch.Tensor, count: int) -> torch.Tensor:
    """Bool tensor shaped like `scores`: True at its `count` largest entries; among equal scores, the first ones.

    The same choice as the first `count` of a stable descending sort, found in linear time by
    `torch.kthvalue` (a sort of the 2.4 million weights costs ten times more, a hundred times in SynFlow).

    >>> largest_count(torch.tensor([1., 2., 2., 0.]), 2)
    tensor([False,  True,  True, False])
    >>> largest_count(torch.tensor([2., 1., 2., 2.]), 2)
    tensor([ True, False,  True, False])
    """
    flat = scores.flatten()
    if count >= flat.numel():
        return torch.ones_like(scores, dtype=torch.bool)
    if count <= 0:
        return torch.zeros_like(scores, dtype=torch.bool)
    threshold = torch.kthvalue(flat, flat.numel() - count + 1).values
    chosen = flat > threshold
    ties = torch.nonzero(flat == threshold).flatten()[: count - int(chosen.sum())]
    chosen[ties] = True
    return chosen.view_as(scores)


def top_masks(scores: Mapping[str, torch.Tensor], keep: float, largest: bool = True,
              alive: Mapping[str, torch.Tensor] | None = None) -> dict[str, torch.Tensor]:
    """Keep exactly round(keep/100 * n) of the n scored weights, ranked globally, best first.

    Args:
        scores: {layer name: scores shaped like its weight}.
        keep: percentage kept, in (0, 100].
        largest: keep the highest scores (SNIP, SynFlow) or the lowest (GraSP).
        alive: if given, only these weights may be kept (they rank before all others): the earlier
            rounds of an iterative method.

    Ties are broken by position in the concatenated layers (a stable sort): the masks are deterministic.

    >>> top_masks({"0": torch.tensor([[3., 1.], [2., 2.]])}, 50)["0"]
    tensor([[ True, False],
            [ True, False]])
    """
    names = list(scores)
    flat = torch.cat([scores[name].flatten().double() for name in names])
    flat = flat if largest else -flat
    flat = torch.nan_to_num(flat, nan=-math.inf)
    count = kept_count(keep, len(flat))
    living = None if alive is None else torch.cat([alive[name].flatten().to(flat.device) for name in names])
    if living is not None and count <= int(living.sum()):  # rank the living only (fewer every round)
        where = torch.nonzero(living).flatten()
        kept = torch.zeros(len(flat), dtype=torch.bool, device=flat.device)
        kept[where[largest_count(flat[where], count)]] = True
    else:
        if living is not None:
            flat = torch.where(living, flat, torch.tensor(-math.inf, dtype=flat.dtype, device=flat.device))
        kept = largest_count(flat, count)
    parts = kept.split([scores[name].numel() for name in names])
    return {name: part.view(scores[name].shape).cpu() for name, part in zip(names, parts)}


def snip_masks(net: nn.Module, keep: float, data: Split, include_output: bool = False) -> dict[str, torch.Tensor]:
    """SNIP: keep the `keep`% of weights with the largest |g ⊙ w| on `data`, globally (Lee et al. 2019)."""
    check_keep(keep)
    return top_masks(snip_scores(net, data, include_output), keep)


def grasp_masks(net: nn.Module, keep: float, data: Split, include_output: bool = False,
                temperature: float = GRASP_TEMPERATURE) -> dict[str, torch.Tensor]:
    """GraSP: keep the `keep`% of weights with the *lowest* −w ⊙ Hg, globally (Wang et al. 2020)."""
    check_keep(keep)
    return top_masks(grasp_scores(net, data, include_output, temperature), keep, largest=False)


def synflow_masks(net: nn.Module, keep: float, rounds: int = 100, include_output: bool = False,
                  history: list | None = None) -> dict[str, torch.Tensor]:
    """SynFlow: `rounds` rounds of scoring and pruning to the shares keep^(r/rounds), r = 1..rounds.

    The share kept shrinks exponentially (100% → keep%), each round ranks |dR/dw ⊙ w| of the weights
    still alive, globally, and keeps exactly round(share/100 * n); a weight once pruned stays pruned.

    Args:
        net: a freshly initialised network (not modified).
        keep: percentage of the ranked weights kept at the end, in (0, 100].
        rounds: number of rounds (the paper uses 100).
        include_output: rank the output layer too.
        history: if a list is given, each round's masks are appended to it (to check the schedule).
    """
    check_keep(keep)
    if isinstance(rounds, bool) or not isinstance(rounds, int) or rounds < 1:
        raise ValueError(f"rounds must be a positive integer, got {rounds!r}")
    work, layers = _scored(net, include_output)
    synflow = _SynFlow(work, list(layers))
    masks = None
    for r in range(1, rounds + 1):
        share = 100 * (keep / 100) ** (r / rounds)
        masks = top_masks(synflow.scores(masks or {}), share, alive=masks)
        if history is not None:
            history.append(masks)
    return masks


def _generator(seed: int) -> torch.Generator:
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise ValueError(f"seed must be an integer, got {seed!r}")
    return torch.Generator().manual_seed(seed)


def shuffle_masks(masks: Mapping[str, torch.Tensor], seed: int = 0) -> dict[str, torch.Tensor]:
    """The shuffle control (Frankle et al. 2021): each layer's mask permuted at random within the layer.

    Every layer keeps exactly its count; only *which* weights changes. If a method's masks train no
    better than their shuffle, what the method found was its per-layer shares.

    >>> shuffled = shuffle_masks({"0": torch.tensor([[True, False, False, True]])}, seed=1)
    >>> int(shuffled["0"].sum())
    2
    """
    generator = _generator(seed)
    return {name: mask.flatten()[torch.randperm(mask.numel(), generator=generator)].view_as(mask).clone()
            for name, mask in masks.items()}


def random_masks(net: nn.Module, keep: float | None = None, seed: int = 0,
                 like: Mapping[str, torch.Tensor] | None = None,
                 include_output: bool = False) -> dict[str, torch.Tensor]:
    """Random pruning: keep `keep`% of every prunable layer at random, or as many per layer as `like`.

    With `like`, each layer keeps exactly the count of the same layer in `like` at fresh random positions:
    random pruning at a method's per-layer ratios (the same distribution as `shuffle_masks(like)`, drawn
    afresh). Without it, every layer keeps round(keep/100 * n) of its n weights (uniform ratios).
    """
    generator = _generator(seed)
    if like is not None:
        check_masks(net, like)
        counts = {name: int(mask.sum()) for name, mask in like.items()}
    else:
        if keep is None:
            raise ValueError("random_masks needs keep (a percentage of weights kept per layer) or like (masks whose "
                             "per-layer counts to copy)")
        counts = {name: kept_count(keep, layer.weight.numel())
                  for name, layer in prunable_layers(net, include_output).items()}
    layers = dict(linear_layers(net))
    masks = {}
    for name, count in counts.items():
        shape = layers[name].weight.shape
        flat = torch.zeros(shape.numel(), dtype=torch.bool)
        flat[torch.randperm(shape.numel(), generator=generator)[:count]] = True
        masks[name] = flat.view(shape)
    return masks


def masks_at_init(net: nn.Module, method: str, keep: float, data: Split | None = None, seed: int = 0,
                  include_output: bool = False, rounds: int = 100) -> dict[str, torch.Tensor]:
    """The masks of `method` (one of `METHODS`) at `keep`% for the freshly initialised `net`.

    "random" keeps `keep`% of every layer, seeded by `seed` (it reads no weight, so it does not check the
    initialisation); SNIP and GraSP need `data` (a Split of training images, e.g. `criteria.calibration(train)`);
    SynFlow needs none and runs `rounds` rounds.
    """
    check_keep(keep)
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    if method in ("snip", "grasp") and data is None:
        raise ValueError(f"{method} scores the weights on a batch: pass data=criteria.calibration(train)")
    if method == "snip":
        return snip_masks(net, keep, data, include_output)
    if method == "grasp":
        return grasp_masks(net, keep, data, include_output)
    if method == "synflow":
        return synflow_masks(net, keep, rounds, include_output)
    return random_masks(net, keep, seed, include_output=include_output)


def scoring_flops(net: nn.Module, method: str, examples: int = 0, rounds: int = 100) -> int:
    """Multiply-adds a method spends choosing its masks, to add to the training cost (dense network, as it scores).

    A forward and backward pass costs 3 × (weights) per image: SNIP one on each of `examples` images, GraSP
    two (the gradient, then the Hessian-gradient product by a double backward, about one more), SynFlow one
    on a single all-ones input per round, random none. Next to a training (55,000 images a epoch) it is small.

    >>> from helpers.model import make_mlp
    >>> scoring_flops(make_mlp((10,), inputs=4, classes=2), "snip", examples=100)
    18000
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    dense = sum(layer.weight.numel() for _, layer in linear_layers(net))
    passes = {"snip": examples, "grasp": 2 * examples, "synflow": rounds, "random": 0}[method]
    return 3 * dense * passes


def _reached(net: nn.Module, masks: Mapping[str, torch.Tensor]) -> tuple[list, list, list]:
    """(names, forward[l], backward[l]): units reached from the input before layer l, units reaching the output."""
    layers = linear_layers(net)
    kept = [masks[name].bool().cpu() if name in masks else torch.ones(layer.weight.shape, dtype=torch.bool)
            for name, layer in layers]
    forward = [torch.ones(kept[0].shape[1], dtype=torch.bool)]
    for mask in kept:
        forward.append((mask & forward[-1][None, :]).any(dim=1))
    backward = [torch.ones(kept[-1].shape[0], dtype=torch.bool)]
    for mask in reversed(kept):
        backward.insert(0, (mask & backward[0][:, None]).any(dim=0))
    return [name for name, _ in layers], kept, list(zip(forward[:-1], backward[1:]))


def shares_kept(net: nn.Module, masks: Mapping[str, torch.Tensor]) -> pd.DataFrame:
    """Per Linear layer: weights, kept, kept %, and the kept weights on an input-to-output path; a total row.

    A layer absent from `masks` counts as dense. `on_path` counts the kept weights that connect a unit
    reached from the input to a unit that reaches the output: the others do nothing (compare `pruning.compact`).

    >>> from helpers.model import make_mlp
    >>> net = make_mlp((4,), inputs=3, classes=2)
    >>> shares_kept(net, {"0": torch.zeros(4, 3, dtype=torch.bool)})["kept"].tolist()
    [0, 8, 8]
    """
    check_masks(net, masks)
    names, kept, reach = _reached(net, masks)
    rows = []
    for name, mask, (inputs, outputs) in zip(names, kept, reach):
        rows.append(dict(layer=name, shape=tuple(mask.shape), weights=mask.numel(), kept=int(mask.sum()),
                         on_path=int((mask & outputs[:, None] & inputs[None, :]).sum())))
    table = pd.DataFrame(rows)
    total = dict(layer="total", shape=None, weights=table["weights"].sum(), kept=table["kept"].sum(),
                 on_path=table["on_path"].sum())
    table = pd.concat([table, pd.DataFrame([total])], ignore_index=True)
    table["kept %"] = 100 * table["kept"] / table["weights"]
    table["on_path %"] = 100 * table["on_path"] / table["weights"]
    return table[["layer", "shape", "weights", "kept", "kept %", "on_path", "on_path %"]]


def collapsed(net: nn.Module, masks: Mapping[str, torch.Tensor]) -> list[str]:
    """The layers that lost every weight (layer collapse, Tanaka et al. 2020); [] when none did.

    A collapsed layer cuts every path from input to output: the network's output no longer depends on
    its input and it cannot train. `connected` also catches the subtler cut (kept weights in every layer,
    none of them chained).
    """
    check_masks(net, masks)
    return [name for name, mask in masks.items() if not mask.any()]


def connected(net: nn.Module, masks: Mapping[str, torch.Tensor]) -> bool:
    """Whether at least one path of kept weights leads from an input to an output."""
    return bool(shares_kept(net, masks)["on_path"].iloc[-1] > 0)

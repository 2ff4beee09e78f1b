"""Importance criteria: how much each weight or unit of a network matters, as a score.

Pruning removes the parts with the lowest scores. `pruning.rank` sorts these
scores, so every criterion here works with `weight_masks`, `unit_masks`,
`prune` and `sweep` through their `criterion=` argument. Each criterion is one
formula, written next to its paper:

Weight criteria, one score per weight w_ij of a layer (row i = unit, column j = input):

- ``"magnitude"`` |w_ij|. Han et al. 2015, the series' default.
- ``"random"`` a uniform random number: the control that knows nothing.
- ``"taylor"`` |w_ij · ∂L/∂w_ij| with L the mean loss over the calibration images:
  the first-order change of L when the weight is set to zero, with the batch-mean
  gradient (the score SNIP, Lee et al. 2019, uses at initialisation; Molchanov et al.
  2019 instead accumulate squared per-minibatch contributions).
- ``"obd"`` ½ · h_ij · w_ij², with h_ij the diagonal of the Gauss-Newton matrix
  of the mean cross-entropy: the second-order change of the loss when the weight
  is set to zero, at a minimum where the gradient vanishes. Optimal Brain Damage,
  LeCun et al. 1990. h is computed exactly over the 10 classes (no sampled labels,
  so it is deterministic); for softmax cross-entropy it equals the Fisher.
- ``"wanda"`` |w_ij| · ‖x_j‖₂, with x_j the layer's j-th input over the calibration
  images: a weight matters if it is large *and* its input is large. Sun et al. 2023.
- ``"lamp"`` w_u² / Σ_{v ≥ u} w_v², the weight's squared magnitude over the sum of
  the squares of the weights of its layer at least as large: comparable across
  layers, so it is for global scope. Lee et al. 2021.

Unit criteria, one score per unit (row i of a layer's weight, its output neuron):

- ``"l2"`` ‖W_i,:‖₂ of the incoming row, the reference notebook's and the default;
  ``"l1"`` ‖W_i,:‖₁ (Li et al. 2017).
- ``"l2_out"`` ‖W'_:,i‖₂ of the column of the next layer that reads the unit;
  ``"l2_in_out"`` the product of the two.
- ``"activation"`` the unit's mean output after the ReLU on the calibration images.
- ``"apoz"`` 1 − APoZ, the share of calibration images on which the unit's output is
  positive: units whose outputs are mostly zero go first. Hu et al. 2016.
- ``"taylor"`` mean_n |a_ni · ∂ℓ_n/∂a_ni| with a the unit's output after the ReLU and
  ℓ_n the loss on image n: the first-order change of each image's loss when the unit
  is removed, in absolute value, averaged over images. Molchanov et al. 2017.

Data-aware criteria take calibration data from the **training** images, never the
test set: images for ``"wanda"``, ``"obd"``, ``"activation"`` and ``"apoz"``; images
and labels (a `Split`) for ``"taylor"``, which needs a loss. Nothing here modifies
the network; hooks that record activations are removed even when an error is raised.

Each criterion is one `Criterion` record of `REGISTRY`: its name, method, the data it needs, its colour in
the plots and its formula. The menus and checks (`CRITERIA`, `DATA_AWARE`, `GLOBAL_ONLY`, `NEEDS_LABELS`)
and the plots' `COLOURS` are derived from the records; a criterion is named by its string everywhere else.

Used in 06_criteria.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F

from helpers.data import Split
from helpers.model import linear_layers

#: A criterion's formula: (the network, {name: layer to score}, calibration images or None, their labels or None,
#: the seed of "random") -> {layer name: scores}, per weight (shaped like the weight) or per unit (one per row).
ScoreFunction = Callable[[nn.Module, dict[str, nn.Linear], torch.Tensor | None, torch.Tensor | None, int],
                         dict[str, torch.Tensor]]


@dataclass(frozen=True)
class Criterion:
    """One importance criterion: what it scores, what it needs, how plots draw it, and its formula.

    Attributes:
        name: the public name (``criterion="obd"``); a weight and a unit criterion may share one ("taylor").
        method: "weight" (one score per weight) or "unit" (one score per row of a layer's weight).
        score: the formula, a `ScoreFunction`.
        colour: its line's colour in the plots (a matplotlib colour).
        needs_images: scores with calibration images from the training split (data-aware).
        needs_labels: scores with their labels too (a loss), so it needs a `Split`, not an image tensor.
        global_only: its scores compare across layers only in a global ranking.
        global_colour: the colour of its global ranking where plots draw one ("magnitude, global").
    """

    name: str
    method: str
    score: ScoreFunction
    colour: str
    needs_images: bool = False
    needs_labels: bool = False
    global_only: bool = False
    global_colour: str | None = None

    def __post_init__(self):
        if self.method not in ("weight", "unit"):
            raise ValueError(f"method must be 'weight' or 'unit', got {self.method!r}")
        if self.needs_labels and not self.needs_images:
            raise ValueError(f"criterion {self.name!r} needs labels, so it needs the images they label")


#: Default number of calibration images taken from the training split (`calibration`), chosen on validation in
#: 06_criteria: the smallest of 64, 256, 1024, 4096 whose one-shot validation accuracy is within the noise of the
#: largest for every data-aware criterion (the gradient-based "taylor" scores vary a lot with the sample).
CALIBRATION_SIZE = 4096

__all__ = ["Criterion", "REGISTRY", "CRITERIA", "WEIGHT_CRITERIA", "UNIT_CRITERIA", "DATA_AWARE", "GLOBAL_ONLY",
           "NEEDS_LABELS", "COLOURS", "CALIBRATION_SIZE", "calibration", "check_criterion", "weight_scores",
           "unit_scores", "scores"]


def check_criterion(method: str, criterion: str | None) -> str:
    """Return the criterion (the method's default for None); raise naming the choices otherwise.

    >>> check_criterion("unit", None)
    'l2'
    >>> check_criterion("weight", "apoz")
    Traceback (most recent call last):
    ...
    ValueError: 'apoz' is a unit criterion; weight criteria are ('magnitude', 'random', 'taylor', 'obd', 'wanda', 'lamp')
    """
    if method not in CRITERIA:
        raise ValueError(f"method must be one of {tuple(CRITERIA)}, got {method!r}")
    if criterion is None:
        return CRITERIA[method][0]
    if criterion not in CRITERIA[method]:
        other = next((m for m, names in CRITERIA.items() if m != method and criterion in names), None)
        start = f"{criterion!r} is a {other} criterion; " if other else f"unknown criterion {criterion!r}; "
        raise ValueError(start + f"{method} criteria are {CRITERIA[method]}")
    return criterion


def calibration(train: Split, size: int = CALIBRATION_SIZE, seed: int = 0) -> Split:
    """`size` images and labels drawn without replacement from the training split (a fixed permutation per seed).

    Raises:
        ValueError: size not a positive integer, or larger than the split.
    """
    if isinstance(size, bool) or not isinstance(size, int) or not 1 <= size <= len(train):
        raise ValueError(f"calibration size must be an integer in [1, {len(train)}], got {size!r}")
    order = torch.randperm(len(train), generator=torch.Generator().manual_seed(seed))[:size]
    return Split(train.images[order], train.labels[order])


def _layers(net: nn.Module, include_output: bool) -> dict[str, nn.Linear]:
    layers = linear_layers(net)
    if not layers:
        raise ValueError(f"{type(net).__name__} has no nn.Linear layers to score")
    return dict(layers if include_output else layers[:-1])


def _check_data(net: nn.Module, criterion: str, data: Split | torch.Tensor | None, labels: bool) -> tuple:
    """(images, labels or None) after checking that the criterion got what it needs."""
    if data is None:
        raise ValueError(f"criterion {criterion!r} needs calibration data from the training split: pass "
                         f"data=calibration(train) (a Split{'' if labels else ' or an image tensor'})")
    if isinstance(data, Split):
        images, targets = data.images, data.labels
    elif isinstance(data, torch.Tensor):
        if labels:
            raise ValueError(f"criterion {criterion!r} needs labels for its loss: pass a Split (images and labels), "
                             "not an image tensor")
        images, targets = data, None
    else:
        raise TypeError(f"data must be a Split or an image tensor, got {type(data).__name__}")
    width = linear_layers(net)[0][1].in_features
    if images.dim() != 2 or images.shape[1] != width or len(images) == 0:
        raise ValueError(f"calibration images must have shape [N >= 1, {width}], got {tuple(images.shape)}")
    device = next(net.parameters()).device
    return images.to(device), (targets.to(device) if targets is not None else None)


@contextmanager
def _recorded(net: nn.Module, names: list[str]) -> Iterator[dict[str, tuple[torch.Tensor, torch.Tensor]]]:
    """Record (input, pre-activation output) of the named Linear layers on the next forward pass.

    The hooks are removed on leaving the block, error or not.
    """
    layers = dict(linear_layers(net))
    record: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}
    handles = []
    try:
        for name in names:
            handles.append(layers[name].register_forward_hook(
                lambda module, inputs, output, name=name: record.__setitem__(name, (inputs[0], output))))
        yield record
    finally:
        for handle in handles:
            handle.remove()


def _lamp(weight: torch.Tensor) -> torch.Tensor:
    """LAMP score of each weight: w_u² over the sum of w_v² for the weights v at or after u in ascending |w| order."""
    squares = weight.flatten() ** 2
    order = torch.argsort(squares, stable=True)
    sorted_squares = squares[order]
    at_least_as_large = sorted_squares.flip(0).cumsum(0).flip(0)  # suffix sums
    scores = torch.empty_like(squares)
    scores[order] = sorted_squares / at_least_as_large.clamp_min(torch.finfo(squares.dtype).tiny)
    return scores.view_as(weight)


def _gauss_newton_diagonal(net: nn.Module, images: torch.Tensor, names: list[str],
                           batch_size: int = 2048) -> dict[str, torch.Tensor]:
    """Diagonal of the Gauss-Newton matrix of the mean cross-entropy for the weights of the named layers.

    For a weight w_ij with input x_j and pre-activation z_i: h_ij = mean_n x_nj² · s_ni,
    with s_ni = Σ_c p_c (∂f_c/∂z_i)² − (Σ_c p_c ∂f_c/∂z_i)², f the logits and p = softmax(f):
    Jᵀ (diag p − p pᵀ) J, exactly. One batched backward pass per batch of images gives
    the Jacobians of all the classes at once.
    """
    diagonal: dict[str, torch.Tensor] = {}
    for start in range(0, len(images), batch_size):
        chunk = images[start:start + batch_size]
        with _recorded(net, names) as record:
            logits = net(chunk)
        classes = logits.shape[1]
        probabilities = F.softmax(logits, dim=1).detach()
        outputs = [record[name][1] for name in names]
        basis = torch.eye(classes, dtype=logits.dtype, device=logits.device)[:, None, :].expand(classes, *logits.shape)
        jacobians = torch.autograd.grad(logits, outputs, grad_outputs=basis, is_grads_batched=True)  # [class, n, units]
        p = probabilities.T[:, :, None]
        for name, jacobian in zip(names, jacobians):
            s = (p * jacobian ** 2).sum(dim=0) - (p * jacobian).sum(dim=0) ** 2
            inputs = record[name][0].detach()
            part = s.T @ inputs ** 2
            diagonal[name] = diagonal[name] + part if name in diagonal else part
    return {name: h / len(images) for name, h in diagonal.items()}


# --- the formulas: one `ScoreFunction` per criterion ---------------------------------------------------------------

def _magnitude(net, layers, images, labels, seed):
    return {name: layer.weight.detach().abs() for name, layer in layers.items()}


def _random(net, layers, images, labels, seed):
    generator = torch.Generator().manual_seed(seed)
    return {name: torch.rand(layer.weight.shape, generator=generator).to(layer.weight.device)
            for name, layer in layers.items()}


def _lamp_scores(net, layers, images, labels, seed):
    return {name: _lamp(layer.weight.detach()) for name, layer in layers.items()}


def _weight_taylor(net, layers, images, labels, seed):
    names = list(layers)
    parameters = [layers[name].weight for name in names]
    gradients = torch.autograd.grad(F.cross_entropy(net(images), labels), parameters)
    return {name: (layers[name].weight.detach() * g).abs() for name, g in zip(names, gradients)}


def _obd(net, layers, images, labels, seed):
    h = _gauss_newton_diagonal(net, images, list(layers))
    return {name: 0.5 * h[name] * layer.weight.detach() ** 2 for name, layer in layers.items()}


def _wanda(net, layers, images, labels, seed):
    with torch.no_grad(), _recorded(net, list(layers)) as record:
        net(images)
    return {name: layer.weight.detach().abs() * record[name][0].norm(dim=0) for name, layer in layers.items()}


def _l2(net, layers, images, labels, seed):
    return {name: layer.weight.detach().norm(dim=1) for name, layer in layers.items()}


def _l1(net, layers, images, labels, seed):
    return {name: layer.weight.detach().abs().sum(dim=1) for name, layer in layers.items()}


def _next_weights(net: nn.Module, layers: dict[str, nn.Linear], criterion: str) -> dict[str, torch.Tensor]:
    """The weight of the layer that reads each scored layer's units; the output layer has none and is refused."""
    every = linear_layers(net)
    following = {name: every[i + 1][1].weight.detach() if i + 1 < len(every) else None
                 for i, (name, _) in enumerate(every)}
    if any(following[name] is None for name in layers):
        raise ValueError(f"criterion {criterion!r} reads the next layer, and the output layer has none: "
                         "use include_output=False")
    return {name: following[name] for name in layers}


def _l2_out(net, layers, images, labels, seed):
    return {name: w.norm(dim=0) for name, w in _next_weights(net, layers, "l2_out").items()}


def _l2_in_out(net, layers, images, labels, seed):
    following = _next_weights(net, layers, "l2_in_out")
    return {name: layer.weight.detach().norm(dim=1) * following[name].norm(dim=0) for name, layer in layers.items()}


def _unit_taylor(net, layers, images, labels, seed):
    names = list(layers)
    with _recorded(net, names) as record:
        loss = F.cross_entropy(net(images), labels)
    outputs = [record[name][1] for name in names]
    gradients = torch.autograd.grad(loss, outputs)
    # a = relu(z); ∂L/∂a = ∂L/∂z wherever a > 0, and a · ∂L/∂a = 0 wherever a = 0. Images do not interact in the
    # forward pass, so image n's own gradient is ∂ℓ_n/∂a_n = N · ∂L/∂a_n, and mean_n |a · N ∂L/∂a| = Σ_n |a · ∂L/∂a|.
    return {name: (F.relu(z.detach()) * g).abs().sum(dim=0) for name, z, g in zip(names, outputs, gradients)}


def _unit_outputs(net: nn.Module, layers: dict[str, nn.Linear], images: torch.Tensor) -> dict[str, torch.Tensor]:
    """Each scored layer's outputs after the ReLU on `images` [N, units]."""
    with torch.no_grad(), _recorded(net, list(layers)) as record:
        net(images)
    return {name: F.relu(record[name][1]) for name in layers}


def _activation(net, layers, images, labels, seed):
    return {name: a.mean(dim=0) for name, a in _unit_outputs(net, layers, images).items()}


def _apoz(net, layers, images, labels, seed):
    return {name: (a > 0).float().mean(dim=0) for name, a in _unit_outputs(net, layers, images).items()}  # 1 - zeros


# --- the registry: one record per criterion, in menu order (the first of each method is its default) --------------

REGISTRY: dict[tuple[str, str], Criterion] = {(record.method, record.name): record for record in (
    Criterion("magnitude", "weight", _magnitude, colour="C0", global_colour="C9"),
    Criterion("random", "weight", _random, colour="0.6"),
    Criterion("taylor", "weight", _weight_taylor, needs_images=True, needs_labels=True, colour="C3"),
    Criterion("obd", "weight", _obd, needs_images=True, colour="C2", global_colour="#0b5d1e"),
    Criterion("wanda", "weight", _wanda, needs_images=True, colour="C1"),
    Criterion("lamp", "weight", _lamp_scores, global_only=True, colour="C4"),
    Criterion("l2", "unit", _l2, colour="C0"),
    Criterion("l1", "unit", _l1, colour="C5"),
    Criterion("l2_out", "unit", _l2_out, colour="C6"),
    Criterion("l2_in_out", "unit", _l2_in_out, colour="C8"),
    Criterion("activation", "unit", _activation, needs_images=True, colour="C1"),
    Criterion("apoz", "unit", _apoz, needs_images=True, colour="C9"),
    Criterion("taylor", "unit", _unit_taylor, needs_images=True, needs_labels=True, colour="C3"),
)}


def _names(method: str, wanted: Callable[[Criterion], bool] = lambda record: True) -> tuple[str, ...]:
    return tuple(record.name for record in REGISTRY.values() if record.method == method and wanted(record))


# The public names below are derived from the registry; string names stay the public API.
WEIGHT_CRITERIA = _names("weight")
UNIT_CRITERIA = _names("unit")
#: The criteria of each pruning method; the first is the default.
CRITERIA = {"weight": WEIGHT_CRITERIA, "unit": UNIT_CRITERIA}
#: Criteria that need calibration images (and, for "taylor", their labels).
DATA_AWARE = {method: _names(method, lambda record: record.needs_images) for method in CRITERIA}
#: Criteria whose scores compare across layers only in a global ranking.
GLOBAL_ONLY = tuple(dict.fromkeys(record.name for record in REGISTRY.values() if record.global_only))
#: Criteria whose score needs the labels of the calibration images (a loss), not only the images.
NEEDS_LABELS = tuple(dict.fromkeys(record.name for record in REGISTRY.values() if record.needs_labels))
#: The plots' colour of each criterion's line, and of "<criterion>, global" where plots draw a global ranking.
COLOURS = {**{record.name: record.colour for record in REGISTRY.values()},
           **{f"{record.name}, global": record.global_colour for record in REGISTRY.values() if record.global_colour}}


def _scores(net: nn.Module, record: Criterion, data: Split | torch.Tensor | None, include_output: bool,
            seed: int = 0) -> dict[str, torch.Tensor]:
    """The record's scores of the layers to score, after checking that it got the data it needs."""
    layers = _layers(net, include_output)
    images, labels = (_check_data(net, record.name, data, labels=record.needs_labels) if record.needs_images
                      else (None, None))
    return record.score(net, layers, images, labels, seed)


def weight_scores(net: nn.Module, criterion: str = "magnitude", data: Split | torch.Tensor | None = None,
                  include_output: bool = False, seed: int = 0) -> dict[str, torch.Tensor]:
    """One importance score per weight: {layer name: scores shaped like its weight}; low scores are pruned first.

    Args:
        net: the network (not modified).
        criterion: one of `WEIGHT_CRITERIA` (see the module's docstring for each formula).
        data: calibration data from the training split, for the data-aware criteria:
            a `Split` ("taylor" needs labels) or an image tensor [N, inputs].
        include_output: score the output layer too.
        seed: the seed of ``"random"``.

    Raises:
        ValueError: an unknown criterion or a unit criterion; a data-aware criterion
            without data, or with images of the wrong width.

    >>> from helpers.model import make_mlp
    >>> net = make_mlp((3,), inputs=2, classes=2)
    >>> torch.equal(weight_scores(net)["0"], net[0].weight.abs())
    True
    """
    return _scores(net, REGISTRY["weight", check_criterion("weight", criterion)], data, include_output, seed)


def unit_scores(net: nn.Module, criterion: str = "l2", data: Split | torch.Tensor | None = None,
                include_output: bool = False) -> dict[str, torch.Tensor]:
    """One importance score per unit (row of a layer's weight): {layer name: scores [rows]}; low scores go first.

    Args:
        net: the network (not modified).
        criterion: one of `UNIT_CRITERIA` (see the module's docstring for each formula).
        data: calibration data from the training split, for the data-aware criteria:
            a `Split` ("taylor" needs labels) or an image tensor [N, inputs].
        include_output: score the output layer's units too ("l2_out" has no next layer
            there and refuses).

    Raises:
        ValueError: an unknown criterion or a weight criterion; a data-aware criterion
            without data, or with images of the wrong width.

    >>> from helpers.model import make_mlp
    >>> net = make_mlp((3,), inputs=2, classes=2)
    >>> torch.equal(unit_scores(net)["0"], net[0].weight.norm(dim=1))
    True
    """
    return _scores(net, REGISTRY["unit", check_criterion("unit", criterion)], data, include_output)


def scores(net: nn.Module, method: str = "weight", criterion: str | None = None,
           data: Split | torch.Tensor | None = None, include_output: bool = False) -> dict[str, torch.Tensor]:
    """`weight_scores` or `unit_scores` by method; `criterion` None means the method's default."""
    criterion = check_criterion(method, criterion)
    if method == "weight":
        return weight_scores(net, criterion, data, include_output)
    return unit_scores(net, criterion, data, include_output)

"""Repair without retraining: refit what pruning left so that each layer computes what it computed before.

When weights are removed, the others can be changed to make up for them
(Optimal Brain Surgeon, Hassibi and Stork 1993). Layer by layer that is a least
squares problem: feed a few thousand **unlabeled** training images through both
networks, and refit each layer's kept weights so that, on its inputs as the
pruned network sees them, its pre-activations match the unpruned network's.
No labels, no gradient step, no optimiser.

- `repair(net, pruned, images)` keeps the mask of `pruned` and refits its kept
  weights, front to back: each row on its own support (weight pruning), the
  surviving columns of the next layer (unit pruning), the output layer always.
- `obs_prune(net, k, images)` chooses *what* to remove by the OBS saliency and
  updates the rest as it goes: SparseGPT's algorithm (Frantar and Alistarh
  2023) on this small network, with one Cholesky factorisation per layer.
- `obs_unit_prune(net, k, images)` does the same for whole units: the unit whose
  removal changes the next layer's pre-activations least goes first (structured
  OBS; ThiNet, Luo et al. 2017, chooses by the same reconstruction error, greedily).

The problem of one layer, for row i with kept inputs S, inputs X (images x
inputs, as the pruned network sees them) and target y (the unpruned network's
pre-activations of unit i):

    minimise ‖X_S w_S − y‖² + λ‖w_S − w⁰_S‖²,   every pruned weight stays exactly 0.

The damping λ = `damping` · mean(diag XᵀX) keeps the solve well posed when
inputs are always zero (border pixels, dead units) and pulls towards the
weights w⁰ the layer had: λ → ∞ gives back the pruned network unchanged,
λ → 0 the plain least-squares fit. `DAMPING` (SparseGPT's default) and
`CALIBRATION_IMAGES` are the library's defaults; 07_repair chooses both on the
validation split of the reader's own network with the paired test
(`smallest_sufficient_paired`, `choose_damping`, in `helpers.repair.choices`) and uses what
validation picks.
Everything here takes images only, never labels, and never modifies the
networks it is given.

Used in 07_repair.
"""

from __future__ import annotations

import copy
import math

import pandas as pd
import torch
from torch import nn

from helpers.data import Split
from helpers.model import architecture
from helpers.pruning import _cut, check_k

__all__ = ["DAMPING", "CALIBRATION_IMAGES", "BLOCK", "repair", "obs_prune", "obs_unit_prune", "refit_layer",
           "obs_layer", "unit_saliency_order", "reconstruction_errors", "remove_one", "check_images", "check_damping"]

#: Relative damping of the least squares (a share of the mean diagonal of XᵀX): SparseGPT's default. 07_repair
#: chooses among 1e-4 ... 1 on validation (`choose_damping`) and uses its pick; this stays the default.
DAMPING = 0.01
#: Unlabeled training images `repair` is given by default. On seed 0 the paired rule
#: (`smallest_sufficient_paired`, at unit k = 90 and weight k = 99) picked 1,000 of 100, 300, 1,000, 3,000, 10,000;
#: 07_repair makes the choice again on the reader's network and uses its pick.
CALIBRATION_IMAGES = 1_000
#: Columns per block in `obs_layer`: the lazy-update block of SparseGPT and the block that chooses its own mask.
BLOCK = 128


def check_images(net: nn.Module, images: torch.Tensor) -> torch.Tensor:
    """Return `images` if they are a non-empty float tensor (n x inputs) that `net` can read; raise otherwise."""
    if isinstance(images, Split):
        raise TypeError("the calibration data is images only (labels are never used): pass split.images, not a Split")
    if not isinstance(images, torch.Tensor):
        raise TypeError(f"images must be a torch.Tensor (n x {architecture(net)[0]}), got {type(images).__name__}")
    if not images.is_floating_point():
        raise TypeError(f"images must be a floating-point tensor (normalised pixels), got dtype {images.dtype}")
    width = architecture(net)[0]
    if images.dim() != 2 or images.shape[1] != width:
        raise ValueError(f"images must have shape (n, {width}), flattened as load_mnist returns them; "
                         f"got {tuple(images.shape)}")
    if len(images) == 0:
        raise ValueError("the calibration set is empty: pass at least one image (a few thousand work well)")
    return images


def check_damping(damping: float) -> float:
    """Return `damping` if it is a positive finite number; raise naming the value otherwise."""
    if isinstance(damping, bool) or not isinstance(damping, (int, float)):
        raise TypeError(f"damping must be a positive number, got {damping!r}")
    if not math.isfinite(damping) or damping <= 0:
        raise ValueError(f"damping must be a positive finite number (a share of the mean diagonal of XᵀX, "
                         f"e.g. {DAMPING}), got {damping!r}")
    return float(damping)


def _linears(net: nn.Module) -> list[nn.Linear]:
    """The Linear layers of a make_mlp network (Linear, ReLU, ..., Linear); raise for anything else."""
    modules = list(net.children()) if isinstance(net, nn.Sequential) else []
    shape_ok = len(modules) % 2 == 1 and all(
        isinstance(m, nn.Linear if i % 2 == 0 else nn.ReLU) for i, m in enumerate(modules))
    if not shape_ok or any(m.bias is not None for m in modules[::2]):
        raise TypeError(f"repair works on networks made by make_mlp (nn.Sequential of bias-free Linear and ReLU), "
                        f"got {type(net).__name__}")
    return modules[::2]


def _check_pair(net: nn.Module, pruned: nn.Module) -> None:
    _linears(net), _linears(pruned)
    if architecture(net) != architecture(pruned):
        raise ValueError(f"the pruned network's architecture {architecture(pruned)} differs from the original's "
                         f"{architecture(net)}: repair needs the network it was pruned from "
                         "(a compacted network cannot be repaired; repair first, then compact)")


def _hessian(inputs: torch.Tensor, damping: float) -> tuple[torch.Tensor, float]:
    """(XᵀX in float64, λ = damping · mean of its diagonal); λ > 0 even when every input is zero."""
    x = inputs.double()
    gram = x.T @ x
    scale = gram.diagonal().mean().item()
    return gram, damping * (scale if scale > 0 else 1.0)


def refit_layer(weight: torch.Tensor, mask: torch.Tensor, inputs: torch.Tensor, target: torch.Tensor,
                damping: float = DAMPING) -> torch.Tensor:
    """Refit each row of `weight` on its own support so that inputs @ row ≈ target, ridge-damped towards `weight`.

    Solves, for every row i with kept inputs S = mask[i],
    (X_Sᵀ X_S + λI) w_S = X_Sᵀ y_i + λ w_S, with λ = damping · mean diag(XᵀX).
    Rows that share one support (all rows, after unit pruning) share one
    Cholesky factorisation; distinct supports (weight pruning) are solved as a
    batch, padded to the largest support of each chunk.

    Args:
        weight: (out x in) the weights to start from (w⁰); pruned entries are ignored.
        mask: (out x in) bool, True = kept.
        inputs: (n x in) the layer's inputs as the pruned network sees them.
        target: (n x out) the pre-activations to match (the unpruned network's).
        damping: positive, relative to the mean diagonal of XᵀX.

    Returns:
        A new (out x in) tensor, zero wherever `mask` is False.
    """
    gram, lam = _hessian(inputs, check_damping(damping))
    right = inputs.double().T @ target.double() + lam * weight.double().T  # (in x out): X_Sᵀ y + λ w⁰, per column i
    out = torch.zeros(weight.shape, dtype=torch.float64, device=weight.device)
    supports, row_group = torch.unique(mask, dim=0, return_inverse=True)
    eye = torch.eye(gram.shape[0], dtype=gram.dtype, device=gram.device)
    if len(supports) <= 16:                       # one factorisation per distinct support
        for group, support in enumerate(supports):
            rows, cols = (row_group == group).nonzero().flatten(), support.nonzero().flatten()
            if len(cols) == 0:
                continue
            factor = torch.linalg.cholesky(gram[cols][:, cols] + lam * eye[: len(cols), : len(cols)])
            out[rows[:, None], cols] = torch.cholesky_solve(right[cols][:, rows], factor).T
        return out.to(weight.dtype)
    counts = mask.sum(1)
    order = torch.argsort(counts, stable=True)   # similar supports side by side: little padding
    sorted_counts = counts[order]
    start = 0
    while start < len(order):
        # as many rows as fit 2 million matrix entries, padded to the largest support among them
        cost = torch.arange(1, len(order) - start + 1, device=mask.device) * sorted_counts[start:] ** 2
        chunk = max(1, int((cost <= 2_000_000).sum()))
        rows = order[start : start + chunk]
        start += chunk
        width = int(counts[rows].max().item())
        if width == 0:
            continue
        # the support of each row first (stable: in column order), padded with unused columns
        cols = torch.argsort((~mask[rows]).to(torch.int8), dim=1, stable=True)[:, :width]
        valid = torch.arange(width, device=mask.device)[None, :] < counts[rows][:, None]
        both = valid[:, :, None] & valid[:, None, :]
        system = torch.where(both, gram[cols[:, :, None], cols[:, None, :]], 0.0)
        system = system + torch.diag_embed(torch.where(valid, lam, 1.0).double())
        rhs = torch.where(valid, right[cols, rows[:, None]], 0.0)
        solution = torch.cholesky_solve(rhs[:, :, None], torch.linalg.cholesky(system))[:, :, 0]
        out[rows[:, None].expand_as(cols)[valid], cols[valid]] = solution[valid]
    return out.to(weight.dtype)


@torch.no_grad()
def repair(net: nn.Module, pruned: nn.Module, images: torch.Tensor, damping: float = DAMPING) -> nn.Sequential:
    """A copy of `pruned` whose kept weights are refit, layer by layer, to reproduce `net`'s pre-activations.

    Front to back: layer l is refit on the inputs the *repaired* layers before
    it produce, to match what `net`'s layer l computes on `net`'s own inputs;
    so each layer also makes up for the errors left before it. The output
    layer is refit too. Every weight that is zero in `pruned` stays exactly zero.

    Args:
        net: the unpruned network (it supplies the targets).
        pruned: the pruned network, same architecture (not compacted); its
            zeros are its mask, its other weights the starting point.
        images: unlabeled calibration images from the training split (n x 784).
        damping: positive; see the module docstring.

    Returns:
        A new network; `net` and `pruned` are not modified.

    Raises:
        TypeError, ValueError: images not a float tensor of width 784, or empty; a Split
            (labels are never used); architectures that differ; damping not positive.
    """
    _check_pair(net, pruned)
    check_images(net, images)
    check_damping(damping)
    repaired = copy.deepcopy(pruned)
    originals, layers = _linears(net), _linears(repaired)
    dense_x = pruned_x = images
    for position, (original, layer) in enumerate(zip(originals, layers)):
        target = dense_x @ original.weight.to(images.device).T
        weight = layer.weight.to(images.device)
        new = refit_layer(weight, weight != 0, pruned_x, target, damping)
        layer.weight.copy_(new)
        if position < len(layers) - 1:
            dense_x, pruned_x = torch.relu(target), torch.relu(pruned_x @ new.T)
    return repaired


def obs_layer(weight: torch.Tensor, hessian: torch.Tensor, k: float, block: int = BLOCK) -> tuple[torch.Tensor, torch.Tensor]:
    """Prune round(k/100 · n) weights of a layer by OBS saliency and update the rest: SparseGPT's loop.

    With U the upper Cholesky factor of H⁻¹ (H⁻¹ = UᵀU), columns are visited
    left to right. In each block of `block` columns the entries with the
    smallest saliency w² / U_jj² (the OBS saliency w_q² / [H⁻¹]_qq over the
    columns not yet visited) are pruned, as many as keep the running total at
    round(k/100 · n · columns visited / columns): exactly round(k/100 · n) in
    all. Pruning w_ij sets it to zero and adds −(w_ij / U_jj) · U_j,j: to the
    row's later columns: the OBS update over the columns still free, so each
    row makes up for its own loss. Updates to later blocks are applied once
    per block (the "lazy batch" of SparseGPT), which gives the same result.

    Args:
        weight: (out x in) the weights to prune.
        hessian: (in x in) positive definite: XᵀX + λI of the layer's inputs.
        k: percentage of the layer's weights to prune.
        block: columns per block.

    Returns:
        (new weights, keep-mask), both (out x in); the weights are zero off the mask.
    """
    check_k(k)
    if isinstance(block, bool) or not isinstance(block, int) or block < 1:
        raise ValueError(f"block must be a positive integer, got {block!r}")
    w = weight.double().clone()
    rows, cols = w.shape
    u = torch.linalg.cholesky(torch.cholesky_inverse(torch.linalg.cholesky(hessian.double())), upper=True)
    mask = torch.ones_like(w, dtype=torch.bool)
    total, done = round(k / 100 * w.numel()), 0
    for first in range(0, cols, block):
        last = min(first + block, cols)
        u_block, w_block = u[first:last, first:last], w[:, first:last]
        count = round(total * last / cols) - done
        saliency = w_block**2 / u_block.diagonal()[None, :] ** 2
        keep = _cut(torch.argsort(saliency.flatten(), stable=True), 100 * count / saliency.numel()).view_as(w_block)
        done += count
        errors = torch.zeros_like(w_block)
        for j in range(last - first):
            error = torch.where(keep[:, j], 0.0, w_block[:, j] / u_block[j, j])
            w_block[:, j:] -= error[:, None] * u_block[j, j:][None, :]
            errors[:, j] = error
        w_block[~keep] = 0.0          # exactly zero, not a rounding residue
        w[:, first:last] = w_block
        w[:, last:] -= errors @ u[first:last, last:]
        mask[:, first:last] = keep
    return w.to(weight.dtype), mask


@torch.no_grad()
def _prune_front_to_back(net: nn.Module, k: float, images: torch.Tensor, damping: float, prune_layer) -> nn.Sequential:
    """Refit each layer of a copy of `net` to `net`'s pre-activations on the inputs pruned so far, then prune it.

    `prune_layer(refit weights, inputs, next original layer, dense hidden outputs)` returns the layer's new
    weights and the input columns the next layer loses (units removed here).
    """
    check_k(k)
    check_images(net, images)
    check_damping(damping)
    pruned = copy.deepcopy(net)
    originals, layers = _linears(net), _linears(pruned)
    dense_x = pruned_x = images
    lost = torch.zeros(images.shape[1], dtype=torch.bool, device=images.device)
    for position, (original, layer) in enumerate(zip(originals, layers)):
        target = dense_x @ original.weight.to(images.device).T
        weight = layer.weight.to(images.device)
        keep = (~lost)[None, :].expand_as(weight).clone()
        new = refit_layer(weight, keep, pruned_x, target, damping)  # every weight free, except lost inputs
        lost = torch.zeros(weight.shape[0], dtype=torch.bool, device=images.device)
        if position < len(layers) - 1:
            new, lost = prune_layer(new, pruned_x, originals[position + 1], torch.relu(target))
        layer.weight.copy_(new)
        if position < len(layers) - 1:
            dense_x, pruned_x = torch.relu(target), torch.relu(pruned_x @ new.T)
    return pruned


def _damped(inputs: torch.Tensor, damping: float) -> torch.Tensor:
    gram, lam = _hessian(inputs, damping)
    return gram + lam * torch.eye(len(gram), dtype=gram.dtype, device=gram.device)


def obs_prune(net: nn.Module, k: float, images: torch.Tensor, damping: float = DAMPING, block: int = BLOCK) -> nn.Sequential:
    """Weight pruning by Optimal Brain Surgeon, layer by layer, front to back (SparseGPT's algorithm).

    For each hidden layer, on its inputs as the network pruned so far sees them:
    refit the layer to `net`'s pre-activations (as `repair` does, with every
    weight free), then prune exactly round(k/100 · n) of its weights with
    `obs_layer` and H = XᵀX + λI. Minimising ‖X w − y‖² + λ‖w − w⁰‖² is the
    same as minimising (w − w*)ᵀ H (w − w*) around the refit w*, which is what
    OBS does. The output layer is refit and never pruned.

    Args:
        net: the trained network; not modified.
        k: percentage of each hidden layer's weights to prune.
        images: unlabeled calibration images from the training split.
        damping: positive; see the module docstring.
        block: columns per block of `obs_layer`.

    Returns:
        A new network with exactly round(k/100 · n) zeros in each hidden layer.
    """
    _linears(net)
    if isinstance(block, bool) or not isinstance(block, int) or block < 1:
        raise ValueError(f"block must be a positive integer, got {block!r}")

    def prune_layer(weight, inputs, following, dense_hidden):
        new, _ = obs_layer(weight, _damped(inputs, damping), k, block)
        return new, torch.zeros(weight.shape[0], dtype=torch.bool, device=weight.device)
    return _prune_front_to_back(net, k, images, damping, prune_layer)


def unit_saliency_order(weight: torch.Tensor, hessian: torch.Tensor, count: int) -> tuple[list[int], torch.Tensor]:
    """Greedy structured OBS: remove `count` input columns of `weight` one at a time, each the cheapest to lose.

    Removing column q and updating the others optimally raises the squared
    reconstruction error (w − w*)ᵀH(w − w*) by ‖W_:,q‖² / [H⁻¹]_qq. After each
    removal W gets the OBS update W −= W_:,q [H⁻¹]_q,: / [H⁻¹]_qq and H⁻¹ loses
    row and column q (H⁻¹ −= [H⁻¹]_:,q [H⁻¹]_q,: / [H⁻¹]_qq).

    Returns:
        (the removed columns in order, the updated weights with those columns zero).
    """
    w = weight.double().clone()
    inverse = torch.cholesky_inverse(torch.linalg.cholesky(hessian.double()))
    alive = torch.ones(w.shape[1], dtype=torch.bool, device=w.device)
    removed = []
    for _ in range(count):
        saliency = torch.where(alive, (w**2).sum(0) / inverse.diagonal().clamp_min(1e-300), math.inf)
        q = int(torch.argmin(saliency))
        column = inverse[:, q] / inverse[q, q]
        w -= w[:, q : q + 1] * column[None, :]
        inverse -= column[:, None] * inverse[q : q + 1, :]
        w[:, q], inverse[q, :], inverse[:, q], alive[q] = 0.0, 0.0, 0.0, False
        inverse[q, q] = 1.0
        removed.append(q)
    return removed, w.to(weight.dtype)


def obs_unit_prune(net: nn.Module, k: float, images: torch.Tensor, damping: float = DAMPING) -> nn.Sequential:
    """Unit pruning by structured OBS: each hidden layer loses the round(k/100 · units) units that matter least.

    A unit of layer l is read by one column of layer l+1, so it is chosen
    there: refit layer l+1 to `net`'s pre-activations on the hidden outputs
    of the pruned network, then remove, greedily, the column whose removal
    (with the other columns updated to make up for it) raises the
    reconstruction error least (`unit_saliency_order`). Those units' rows of
    layer l become zero and layer l+1 is refit on the units left, which is the
    same as the OBS update. Front to back; the output layer is refit and never pruned.

    Returns:
        A new network, same architecture, with exactly round(k/100 · units) zero rows per hidden layer.
    """
    _linears(net)

    def prune_layer(weight, inputs, following, dense_hidden):
        hidden = torch.relu(inputs @ weight.T)
        target = dense_hidden @ following.weight.to(weight.device).T
        start = refit_layer(following.weight.to(weight.device), torch.ones_like(following.weight, dtype=torch.bool),
                            hidden, target, damping)
        removed, _ = unit_saliency_order(start, _damped(hidden, damping), round(k / 100 * weight.shape[0]))
        lost = torch.zeros(weight.shape[0], dtype=torch.bool, device=weight.device)
        lost[removed] = True
        return torch.where(lost[:, None], 0.0, weight), lost
    return _prune_front_to_back(net, k, images, damping, prune_layer)


@torch.no_grad()
def reconstruction_errors(net: nn.Module, pruned: nn.Module, images: torch.Tensor) -> pd.DataFrame:
    """How far each layer's pre-activations in `pruned` are from `net`'s, over the units `pruned` keeps.

    Both networks run on `images` (each on its own inputs), so the error of a
    layer includes what the layers before it got wrong. Units whose whole row
    is zero in `pruned` are left out: no refit can bring a removed unit back.

    Returns:
        One row per Linear layer: layer (its name), units (kept),
        relative_error ‖z_pruned − z‖² / ‖z‖² over the kept units.
    """
    _check_pair(net, pruned)
    check_images(net, images)
    rows, dense_x, pruned_x = [], images, images
    for position, (original, layer) in enumerate(zip(_linears(net), _linears(pruned))):
        dense_z, pruned_z = original(dense_x), layer(pruned_x)
        kept = layer.weight.abs().sum(1) > 0
        error = (pruned_z - dense_z)[:, kept].pow(2).sum() / dense_z[:, kept].pow(2).sum().clamp_min(1e-30)
        rows.append(dict(layer=str(2 * position), units=int(kept.sum()), relative_error=error.item()))
        dense_x, pruned_x = torch.relu(dense_z), torch.relu(pruned_z)
    return pd.DataFrame(rows)


def remove_one(weight: torch.Tensor, hessian: torch.Tensor) -> pd.DataFrame:
    """For each weight q of one row: the error E = ½ δwᵀ H δw of removing it without and with the OBS update.

    Without an update (magnitude, OBD) the cost is ½ H_qq w_q². With the OBS
    update δw = −(w_q / [H⁻¹]_qq) H⁻¹ e_q, which zeroes w_q and moves every
    other weight to make up for it, the cost is w_q² / (2 [H⁻¹]_qq), never more.

    Args:
        weight: (n,) the weights of one row.
        hessian: (n x n) positive definite.

    Returns:
        One row per weight q: weight (its value), cost_zeroed, cost_obs, and
        after_obs (the row after the OBS removal of q, as a list).
    """
    w, h = weight.double(), hessian.double()
    inverse = torch.linalg.inv(h)
    rows = []
    for q in range(len(w)):
        after = w - w[q] / inverse[q, q] * inverse[:, q]
        after[q] = 0.0
        rows.append(dict(weight=w[q].item(), cost_zeroed=0.5 * h[q, q].item() * w[q].item() ** 2,
                         cost_obs=w[q].item() ** 2 / (2 * inverse[q, q].item()), after_obs=after.tolist()))
    return pd.DataFrame(rows)

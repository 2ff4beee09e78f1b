"""What hidden units do on data: which fire, how much output energy each carries, and what unit pruning removes.

Why unit pruning collapses, measured on training images. Used in 03_unit_pruning (and 06_criteria).
"""

from __future__ import annotations

import pandas as pd
import torch
from torch import nn

from helpers.pruning import check_k, keep_largest, prunable_layers, unit_masks


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

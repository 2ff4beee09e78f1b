"""The always-blank pixels: inputs constant over the training images act as a bias in a bias-free network.

Find them, compute the bias they add, and remove them from the first layer. Used in 02_weight_pruning.
"""

from __future__ import annotations

import torch
from torch import nn

from helpers.pruning import apply_masks, prunable_layers


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

"""A setting of the explorer (method, scope, criterion, repair, k or one k per hidden layer) as a named value.

It is the key of everything the explorer keeps: the points computed, the fine-tuned accuracies.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Setting:
    """What the controls choose: a hashable, comparable value (the explorer's cache key).

    Attributes:
        method: "weight" or "unit".
        scope: "layer" or "global" (always "layer" for unit pruning and for one k per layer).
        criterion: the importance score that decides what goes.
        repaired: whether the survivors are refit by least squares (notebook 07).
        k: one k for every layer (an int), or one k per hidden layer (a tuple, to the sliders' step of 0.1).

    >>> setting = Setting("weight", "layer", "magnitude", False, 90)
    >>> setting.name, setting.layer_k
    ('weight pruning, layer-wise, magnitude', None)
    >>> Setting("unit", "layer", "l2", True, (90.0, 50.0)).name
    'unit pruning, layer-wise, l2, repaired'
    """

    method: str
    scope: str
    criterion: str
    repaired: bool
    k: int | tuple[float, ...]

    @property
    def per_layer(self) -> bool:
        """Whether each hidden layer has its own k."""
        return isinstance(self.k, tuple)

    @property
    def layer_k(self) -> tuple[float, ...] | None:
        """The k of each hidden layer, or None when one k holds for all."""
        return self.k if isinstance(self.k, tuple) else None

    @property
    def name(self) -> str:
        """"weight pruning, layer-wise, magnitude[, repaired]": how the readout names the setting."""
        scope = "layer-wise" if self.scope == "layer" else "one global threshold"
        return f"{self.method} pruning, {scope}, {self.criterion}" + (", repaired" if self.repaired else "")

"""Learned sparsity: L0 regularisation with hard-concrete gates (Louizos, Welling and Kingma 2018).

Magnitude pruning decides what to remove by a rule (the smallest weights go), then fine-tunes what is left. L0
regularisation lets training decide: every weight w gets a gate z in [0, 1], the layer computes (w · z) x, and the
loss adds λ times the expected number of gates that are not exactly zero, E[‖z‖₀] = Σ P(z ≠ 0). The expectation of
a count has no gradient, so the gate is a random variable whose law has a parameter log α per weight:

    u ~ U(0, 1),  s = sigmoid((log u − log(1 − u) + log α) / β),  z = min(1, max(0, s (ζ − γ) + γ))

(the *hard-concrete* distribution: a binary-concrete variable stretched to (γ, ζ) = (−0.1, 1.1) and clipped, so
that z is exactly 0 or exactly 1 with positive probability). Its gradient flows through s (the
reparameterisation trick) and P(z ≠ 0) has a closed form,

    P(z ≠ 0) = sigmoid(log α − β log(−γ / ζ)),

which is the penalty (`GatedLinear.expected_l0`). At test time the gate is deterministic,
z = min(1, max(0, sigmoid(log α) (ζ − γ) + γ)) (`GatedLinear.test_gates`), and exactly 0 for the weights the
training switched off: `ungated` folds it into the weights and gives back a plain sparse MLP.

Used in 11_how_small.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Mapping

import torch
from torch import nn

from helpers.data import Split
from helpers.model import linear_layers

__all__ = ["BETA", "GAMMA", "ZETA", "GatedLinear", "gated", "ungated", "expected_l0", "train_l0"]

#: The temperature β and the stretch (γ, ζ) of the hard-concrete distribution, as in Louizos et al. (2018).
BETA, GAMMA, ZETA = 2 / 3, -0.1, 1.1


class GatedLinear(nn.Module):
    """A bias-free Linear layer whose every weight has a hard-concrete gate.

    Args:
        weight: the starting weight (copied); its zeros stay zero (their gates are switched off for good).
        log_alpha: the starting log α of every gate; 3 keeps every gate at 1 at test time (the network computes
            what it computed before).
    """

    def __init__(self, weight: torch.Tensor, log_alpha: float = 3.0):
        super().__init__()
        self.weight = nn.Parameter(weight.detach().clone())
        self.log_alpha = nn.Parameter(torch.full_like(self.weight, float(log_alpha)))
        self.register_buffer("alive", weight.detach() != 0)

    def sample_gates(self, generator: torch.Generator | None = None) -> torch.Tensor:
        """One draw of the gates (differentiable in log α), zero where the weight was already pruned."""
        u = torch.rand(self.log_alpha.shape, generator=generator).clamp(1e-6, 1 - 1e-6).to(self.log_alpha.device)
        s = torch.sigmoid((torch.log(u) - torch.log1p(-u) + self.log_alpha) / BETA)
        return (s * (ZETA - GAMMA) + GAMMA).clamp(0, 1) * self.alive

    def test_gates(self) -> torch.Tensor:
        """The deterministic gates of test time: min(1, max(0, sigmoid(log α)(ζ − γ) + γ))."""
        return (torch.sigmoid(self.log_alpha) * (ZETA - GAMMA) + GAMMA).clamp(0, 1) * self.alive

    def probability_nonzero(self) -> torch.Tensor:
        """P(z ≠ 0) per gate: sigmoid(log α − β log(−γ/ζ)), 0 for a weight already pruned."""
        return torch.sigmoid(self.log_alpha - BETA * math.log(-GAMMA / ZETA)) * self.alive

    def expected_l0(self) -> torch.Tensor:
        """E[‖z‖₀] = Σ P(z ≠ 0), the penalty."""
        return self.probability_nonzero().sum()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        gates = self.sample_gates() if self.training else self.test_gates()
        return x @ (self.weight * gates).T


def gated(net: nn.Module, log_alpha: float = 3.0) -> nn.Sequential:
    """A copy of the bias-free ReLU MLP `net` with a `GatedLinear` for every Linear layer (`net` is not modified)."""
    layers: list[nn.Module] = []
    for position, (_, layer) in enumerate(linear_layers(net)):
        if layer.bias is not None:
            raise ValueError("gated() takes a bias-free MLP (make_mlp); this layer has a bias")
        layers += [GatedLinear(layer.weight, log_alpha), nn.ReLU()]
    return nn.Sequential(*layers[:-1])


def ungated(net: nn.Sequential) -> nn.Sequential:
    """The plain MLP that a gated network computes at test time: each weight times its deterministic gate."""
    layers: list[nn.Module] = []
    for module in net:
        if isinstance(module, GatedLinear):
            linear = nn.Linear(module.weight.shape[1], module.weight.shape[0], bias=False)
            with torch.no_grad():
                linear.weight.copy_(module.weight * module.test_gates())
            layers.append(linear)
        else:
            layers.append(copy.deepcopy(module))
    return nn.Sequential(*layers).eval()


def expected_l0(net: nn.Module) -> torch.Tensor:
    """The expected number of nonzero gates of all `GatedLinear` layers of `net`."""
    return sum(module.expected_l0() for module in net.modules() if isinstance(module, GatedLinear))


def train_l0(net: nn.Module, train: Split, epochs: int, strength: float, teacher: torch.Tensor | None = None,
             distillation: float = 0.0, temperature: float = 4.0, lr: float = 1e-3, gate_lr: float = 0.05,
             batch_size: int = 128, seed: int = 0, log_alpha: float = 3.0) -> nn.Sequential:
    """Train gates and weights of a copy of `net` with the L0 penalty; return the plain sparse MLP of test time.

    The loss is (1 − distillation) · cross-entropy + distillation · T² · KL(teacher_T ‖ student_T) (as
    `helpers.frontier.distil`) + strength · E[‖z‖₀] / len(train) (the penalty per training image, as Louizos et al.).
    Adam at `lr` for the weights and `gate_lr` for log α, the learning rates annealed by a cosine to 0.

    Args:
        net: a bias-free ReLU MLP (not modified); its zero weights stay zero.
        strength: λ, the price of one more nonzero weight in units of the total training loss.

    Raises:
        ValueError: epochs < 1, strength < 0, distillation outside [0, 1] or without teacher logits.
    """
    if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 1:
        raise ValueError(f"epochs must be a positive integer, got {epochs!r}")
    if not strength >= 0:
        raise ValueError(f"strength must be >= 0, got {strength}")
    if not 0 <= distillation <= 1:
        raise ValueError(f"distillation must be in [0, 1], got {distillation}")
    if distillation > 0 and (teacher is None or len(teacher) != len(train)):
        raise ValueError("distillation > 0 needs the teacher's logits on every training image")
    model = gated(net, log_alpha)
    gates = [module.log_alpha for module in model.modules() if isinstance(module, GatedLinear)]
    weights = [module.weight for module in model.modules() if isinstance(module, GatedLinear)]
    optimizer = torch.optim.Adam([dict(params=weights, lr=lr), dict(params=gates, lr=gate_lr)])
    steps = epochs * math.ceil(len(train) / batch_size)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, steps)
    generator = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)  # the gates' noise
    soft = (teacher / temperature).log_softmax(1) if distillation > 0 else None
    model.train()
    for _ in range(epochs):
        order = torch.randperm(len(train), generator=generator)
        for start in range(0, len(train), batch_size):
            batch = order[start : start + batch_size]
            logits = model(train.images[batch])
            loss = (1 - distillation) * nn.functional.cross_entropy(logits, train.labels[batch])
            if soft is not None:
                loss = loss + distillation * temperature**2 * nn.functional.kl_div(
                    (logits / temperature).log_softmax(1), soft[batch], log_target=True, reduction="batchmean")
            loss = loss + strength * expected_l0(model) / len(train)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            scheduler.step()
    return ungated(model)


def gate_summary(net: nn.Module) -> Mapping[str, float]:
    """Per gated layer, the share of gates open at test time."""
    return {name: float((module.test_gates() > 0).float().mean()) for name, module in net.named_modules()
            if isinstance(module, GatedLinear)}

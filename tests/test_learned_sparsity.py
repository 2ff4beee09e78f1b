"""helpers.learned_sparsity: the hard-concrete gate against independent computations, on tiny networks."""

import math

import pytest
import torch
from toys import toy, trained_toy, untouched

from helpers.learned_sparsity import (BETA, GAMMA, ZETA, GatedLinear, expected_l0, gated, train_l0, ungated)
from helpers.model import linear_layers


def layer_with_spread_gates():
    weight = torch.randn(4, 5, generator=torch.Generator().manual_seed(0))
    weight[0, 0] = 0.0  # already pruned: its gate is off for good
    layer = GatedLinear(weight)
    with torch.no_grad():
        layer.log_alpha.copy_(torch.linspace(-4, 4, 20).view(4, 5))
    return layer


def test_probability_nonzero_equals_the_binary_concrete_cdf_at_the_stretch_point():
    # z > 0  <=>  s (zeta - gamma) + gamma > 0  <=>  s > t = -gamma / (zeta - gamma); for the binary concrete
    # variable P(s <= t) = sigmoid(beta * logit(t) - log alpha), so P(z != 0) = 1 - sigmoid(beta logit(t) - log alpha)
    layer = layer_with_spread_gates()
    t = -GAMMA / (ZETA - GAMMA)
    independent = 1 - torch.sigmoid(BETA * math.log(t / (1 - t)) - layer.log_alpha.detach())
    independent = independent * (layer.weight != 0)
    assert torch.allclose(layer.probability_nonzero().detach(), independent, atol=1e-6)
    assert layer.expected_l0().item() == pytest.approx(independent.sum().item(), abs=1e-5)


def test_expected_l0_matches_monte_carlo_counts_of_nonzero_gates():
    layer = layer_with_spread_gates()
    draws = 20_000
    generator = torch.Generator().manual_seed(1)
    nonzero = sum((layer.sample_gates(generator) != 0).float() for _ in range(draws)) / draws
    p = layer.probability_nonzero().detach()
    tolerance = 4 * torch.sqrt(p * (1 - p) / draws) + 1e-9
    assert bool(((nonzero - p).abs() <= tolerance).all())
    assert nonzero[0, 0] == 0  # the pruned weight's gate never opens
    assert abs(nonzero.sum().item() - layer.expected_l0().item()) < 0.05


def test_gates_are_exactly_zero_and_exactly_one_with_positive_probability():
    layer = layer_with_spread_gates()
    gates = torch.stack([layer.sample_gates(torch.Generator().manual_seed(i)) for i in range(200)])
    assert (gates == 0).any() and (gates == 1).any() and ((gates > 0) & (gates < 1)).any()
    assert gates.min() >= 0 and gates.max() <= 1


def test_an_unsettled_gate_is_strictly_between_0_and_1_about_two_times_in_three():
    # at log alpha = 0: 0 < z < 1  <=>  t0 < s < t1 with t0 = -gamma / (zeta - gamma), t1 = (1 - gamma) / (zeta - gamma),
    # and P(s <= t) = sigmoid(beta * logit(t)); the notebook's "about two times in three" is this number
    t0, t1 = -GAMMA / (ZETA - GAMMA), (1 - GAMMA) / (ZETA - GAMMA)
    cdf = lambda t: 1 / (1 + math.exp(-BETA * math.log(t / (1 - t))))
    exact = cdf(t1) - cdf(t0)
    assert exact == pytest.approx(0.664, abs=0.001)
    layer = GatedLinear(torch.ones(100, 100), log_alpha=0.0)
    gates = layer.sample_gates(torch.Generator().manual_seed(0))
    assert ((gates > 0) & (gates < 1)).float().mean().item() == pytest.approx(exact, abs=0.02)  # 10,000 draws: 4 se


def test_the_test_time_gate_is_deterministic_and_folds_into_a_plain_network():
    layer = layer_with_spread_gates()
    expected = (torch.sigmoid(layer.log_alpha.detach()) * (ZETA - GAMMA) + GAMMA).clamp(0, 1) * (layer.weight != 0)
    assert torch.equal(layer.test_gates().detach(), expected)
    assert (expected[layer.log_alpha < -2.4] == 0).all()  # sigmoid(-2.4) * 1.2 - 0.1 < 0: closed
    layer.eval()
    x = torch.randn(7, 5)
    assert torch.equal(layer(x), layer(x))
    assert torch.allclose(layer(x), x @ (layer.weight * expected).T)


def test_gated_starts_as_the_network_it_wraps_and_ungated_gives_back_what_it_computes():
    net, before = trained_toy()
    model = gated(net).eval()
    x = toy(50, seed=4).images
    assert torch.allclose(model(x), net(x), atol=1e-6)  # log alpha = 3: every gate at 1
    with torch.no_grad():
        model[0].log_alpha[:5] = -5.0
    plain = ungated(model)
    assert torch.allclose(plain(x), model(x), atol=1e-6)
    assert int((plain[0].weight == 0).sum()) == 5 * 20
    assert untouched(net, before)
    assert expected_l0(model).item() == pytest.approx(sum(layer.expected_l0().item() for layer in model[::2]))


def test_train_l0_with_a_price_on_weights_keeps_fewer_and_keeps_pruned_weights_pruned():
    net, before = trained_toy()
    with torch.no_grad():
        net[0].weight[:, :3] = 0  # pruned before
    train = toy()
    free = train_l0(net, train, epochs=20, strength=0.0, batch_size=32)
    priced = train_l0(net, train, epochs=20, strength=200.0, batch_size=32)

    def kept(network):
        return sum(int((layer.weight != 0).sum()) for _, layer in linear_layers(network))
    assert kept(priced) < 0.8 * kept(free)
    assert bool((priced[0].weight[:, :3] == 0).all()) and bool((free[0].weight[:, :3] == 0).all())
    for bad, words in [(dict(epochs=0), "epochs"), (dict(strength=-1.0), "strength"),
                       (dict(distillation=0.5), "teacher")]:
        with pytest.raises(ValueError, match=words):
            train_l0(net, train, **{**dict(epochs=1, strength=1.0), **bad})

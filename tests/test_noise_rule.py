"""The noise rule of helpers.stats: the binomial standard error, twice that of a difference, and its three words."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from helpers.stats import differs, noise, standard_error, verdict


def test_standard_error_is_the_binomial_one():
    assert standard_error(0.5, 100) == pytest.approx(0.05)
    assert standard_error(0.986, 10_000) == pytest.approx((0.986 * 0.014 / 10_000) ** 0.5)
    assert standard_error(1.0, 7) == 0.0
    for accuracy, n in [(1.2, 10), (-0.1, 10), (float("nan"), 10), (0.5, 0), (0.5, 2.5), (0.5, True)]:
        with pytest.raises(ValueError, match="accuracy|n must"):
            standard_error(accuracy, n)


def test_noise_is_twice_the_standard_error_of_the_difference():
    # 98.6% against 98.6% on 10,000 images: 2 * sqrt(2) * 0.117 points
    assert noise(0.986, 0.986, 10_000) == pytest.approx(2 * 2 ** 0.5 * (0.986 * 0.014 / 10_000) ** 0.5)
    assert noise(0.9, 0.5, 100) == pytest.approx(2 * (0.0009 + 0.0025) ** 0.5)
    assert noise(1.0, 1.0, 50) == 0.0
    with pytest.raises(ValueError, match="n must"):
        noise(0.9, 0.9, 0)


def test_verdict_words_at_the_boundaries():
    n = 10_000
    threshold = noise(0.98, 0.98, n)  # 0.396 points
    assert verdict(0.99, 0.98, n) == "higher" and verdict(0.98, 0.99, n) == "lower"
    assert verdict(0.99, 0.98, n, higher="L1 better", lower="no L1 better") == "L1 better"
    assert verdict(0.98, 0.98, n) == "too close to call"
    assert verdict(0.98 + 0.4 * threshold, 0.98, n) == "too close to call"
    assert verdict(0.98 + 0.9 * threshold, 0.98, n) == "too close to call"
    assert verdict(0.98 - 0.9 * threshold, 0.98, n) == "too close to call"
    assert verdict(0.98 + 1.1 * threshold, 0.98, n) == "higher"
    assert verdict(1.0, 1.0, 7) == "too close to call"  # no spread at all: still no verdict of "equal"
    assert verdict(1.0, 0.0, 7) == "higher"


@given(st.floats(0, 1), st.floats(0, 1), st.integers(1, 100_000))
def test_verdict_is_antisymmetric_and_agrees_with_differs(a, b, n):
    forward, backward = verdict(a, b, n), verdict(b, a, n)
    assert {"higher": "lower", "lower": "higher"}.get(forward, forward) == backward
    assert differs(a, b, n) == (forward in ("higher", "lower")) == differs(b, a, n)
    assert noise(a, b, n) == noise(b, a, n) >= 0

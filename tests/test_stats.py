"""The statistics of comparison: the paired test against an independent count, the noise rule's words."""

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from helpers import experiments, stats


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.booleans(), st.booleans()), min_size=1, max_size=300))
def test_paired_counts_the_discordant_images_and_its_z(pairs):
    a = torch.tensor([p[0] for p in pairs])
    b = torch.tensor([p[1] for p in pairs])
    result = stats.paired(a, b)
    a_only = sum(1 for x, y in pairs if x and not y)
    b_only = sum(1 for x, y in pairs if y and not x)
    assert (result["a_only"], result["b_only"]) == (a_only, b_only)
    expected = 0.0 if a_only + b_only == 0 else (a_only - b_only) / math.sqrt(a_only + b_only)
    assert result["z"] == pytest.approx(expected)
    # the gap in points equals the difference of the two accuracies
    assert result["gap"] == pytest.approx(100 * (a.double().mean() - b.double().mean()).item(), abs=1e-9)
    # swapping the two networks flips the sign and the verdict
    swapped = stats.paired(b, a)
    assert swapped["z"] == pytest.approx(-result["z"])
    assert {result["verdict"], swapped["verdict"]} in ({"higher", "lower"}, {stats.TOO_CLOSE})


def test_paired_on_the_issues_numbers():
    """48 images lost against 18 gained is z = 3.69 (different); 15 against 30 is z = -2.24 (different)."""
    def make(a_only, b_only, both=900):
        a = torch.tensor([True] * a_only + [False] * b_only + [True] * both)
        b = torch.tensor([False] * a_only + [True] * b_only + [True] * both)
        return stats.paired(a, b)
    assert round(make(48, 18)["z"], 2) == 3.69 and make(48, 18)["verdict"] == "higher"
    assert round(make(15, 30)["z"], 2) == -2.24 and make(15, 30)["verdict"] == "lower"
    assert make(10, 12)["verdict"] == stats.TOO_CLOSE


def test_paired_is_sharper_than_the_unpaired_rule_for_the_same_images():
    """48 against 18 discordant images of 10,000: the noise rule (independent samples) cannot call it."""
    a = torch.tensor([True] * 48 + [False] * 18 + [True] * 9800 + [False] * 134)
    b = torch.tensor([False] * 48 + [True] * 18 + [True] * 9800 + [False] * 134)
    assert stats.paired(a, b)["verdict"] == "higher"
    assert stats.verdict(a.float().mean().item(), b.float().mean().item(), len(a)) == stats.TOO_CLOSE


@pytest.mark.parametrize("a, b, message", [
    (torch.tensor([1, 0]), torch.tensor([True, False]), "boolean"),
    (torch.tensor([True, False]), torch.tensor([True]), "same images"),
    (torch.ones(2, 2, dtype=torch.bool), torch.ones(2, 2, dtype=torch.bool), "1-d"),
])
def test_paired_refuses_what_is_not_two_scorings_of_the_same_images(a, b, message):
    with pytest.raises(ValueError, match=message):
        stats.paired(a, b)


def test_verdict_has_three_words_and_the_old_path_still_imports():
    assert {stats.verdict(0.99, 0.98, 10_000), stats.verdict(0.98, 0.99, 10_000), stats.verdict(0.986, 0.9861, 10_000)} \
        == {"higher", "lower", "too close to call"}
    assert experiments.verdict is stats.verdict and experiments.noise is stats.noise
    assert experiments.standard_error is stats.standard_error and experiments.paired is stats.paired


def test_seed_spread_is_the_mean_and_its_standard_error():
    mean, se = stats.seed_spread([0.9380, 0.9460, 0.9300])
    assert mean == pytest.approx(0.938)
    assert se == pytest.approx(torch.tensor([0.9380, 0.9460, 0.9300], dtype=torch.float64).std().item() / math.sqrt(3))
    with pytest.raises(ValueError, match="at least one"):
        stats.seed_spread([])

"""helpers.sweeps on small synthetic data: the k-sweep's rows against independent measurements, and the
per-layer shares of global pruning (the other sweeps are tested in test_criteria and test_unit_activity)."""

import pytest

from helpers.pruning import compact, prune, sparsity
from helpers.sweeps import layer_sparsity, sweep
from toys import toy, trained_toy, untouched  # tests/ is on sys.path under pytest

from helpers.training import evaluate


@pytest.fixture(scope="module")
def trained():
    return trained_toy()


def test_sweep_rows_are_exact(trained):
    net, before = trained
    test = toy(200, seed=1)
    table = sweep(net, test, ks=[0, 50, 90], methods=["weight", "unit"])
    assert list(table.columns) == ["method", "k", "accuracy", "loss", "weights_kept", "compression", "speedup"]
    assert table[["method", "k"]].values.tolist() == [["weight", 0], ["weight", 50], ["weight", 90],
                                                      ["unit", 0], ["unit", 50], ["unit", 90]]
    for _, row in table.iterrows():
        pruned = prune(net, row["k"], row["method"])
        assert row["accuracy"] == evaluate(pruned, test)
        small = compact(pruned)
        kept = int(sparsity(small).set_index("layer").loc["total", "nonzero"])
        assert row["weights_kept"] == kept
        assert row["compression"] == pytest.approx((20 * 32 + 32 * 16 + 16 * 5) / kept)
    dense = 20 * 32 + 32 * 16 + 16 * 5
    unit90 = table.set_index(["method", "k"]).loc[("unit", 90)]
    assert unit90["speedup"] == pytest.approx(dense / (20 * 3 + 3 * 2 + 2 * 5))
    assert untouched(net, before)


def test_layer_sparsity_of_global_pruning(trained):
    net, _ = trained
    table = layer_sparsity(net, 60, "global")
    assert table["pruned"].sum() == round(0.6 * (640 + 512))
    assert table["layer"].tolist() == ["0", "2"]
    layer_wise = layer_sparsity(net, 60, "layer")
    assert layer_wise["pruned"].tolist() == [round(0.6 * 640), round(0.6 * 512)]

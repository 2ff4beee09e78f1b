"""helpers.sweeps on small synthetic data: the k-sweep's rows against independent measurements, and the
per-layer shares of global pruning (the other sweeps are tested in test_criteria and test_unit_activity)."""

import pytest
import torch

from helpers.data import Split
from helpers.model import make_mlp
from helpers.pruning import compact, prune, sparsity
from helpers.sweeps import layer_sparsity, sweep
from helpers.training import evaluate


def toy(n=400, seed=0, features=20):
    generator = torch.Generator().manual_seed(seed)
    images = torch.randn(n, features, generator=generator)
    return Split(images, images[:, :5].argmax(1))


@pytest.fixture(scope="module")
def trained():
    torch.manual_seed(0)
    net = make_mlp((32, 16), inputs=20, classes=5)
    from helpers.training import fit
    fit(net, toy(), epochs=4, lr=0.1, batch_size=32, progress=False)
    return net, {name: t.clone() for name, t in net.state_dict().items()}


def untouched(net, before):
    return all(torch.equal(t, before[name]) for name, t in net.state_dict().items())


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

"""helpers.export: ONNX files against PyTorch's outputs, their sizes, and int8 quantization."""

import pytest
import torch

from helpers.data import Split
from helpers.compression import shared_network
from helpers.export import FORMS, deployment_table, onnx_session, open_shipped, run_onnx, ship, to_int8, to_onnx
from helpers.model import make_mlp
from helpers.pruning import compact, prune
from helpers.training import evaluate

pytest.importorskip("onnxruntime", reason="onnxruntime is a dependency of the package; install it with pip install -e .")


def net(seed=0):
    torch.manual_seed(seed)
    return make_mlp((300, 200), inputs=100, classes=10)


@pytest.mark.parametrize("method, k", [("unit", 90), ("weight", 95), ("unit", 0)])
def test_onnx_outputs_equal_pytorchs_for_masked_and_compacted_networks(tmp_path, method, k):
    pruned = prune(net(), k, method)
    images = torch.randn(257, 100)  # a batch size the export never saw
    for name, model in (("masked", pruned), ("compacted", compact(pruned))):
        size = to_onnx(model, tmp_path / f"{name}.onnx")
        assert size == (tmp_path / f"{name}.onnx").stat().st_size and not list(tmp_path.glob("*.data"))
        expected = model(images).detach()
        assert torch.allclose(run_onnx(onnx_session(tmp_path / f"{name}.onnx"), images), expected, atol=1e-4)


def test_a_masked_onnx_file_is_as_large_as_the_dense_one_and_the_compacted_one_is_small(tmp_path):
    dense, pruned = net(), prune(net(), 90, "unit")
    sizes = {name: to_onnx(model, tmp_path / f"{name}.onnx")
             for name, model in (("dense", dense), ("masked", pruned), ("compacted", compact(pruned)))}
    weights = sum(p.numel() for p in dense.parameters())
    assert sizes["masked"] == pytest.approx(sizes["dense"], rel=0.01) and sizes["dense"] > 4 * weights
    kept = sum(p.numel() for p in compact(pruned).parameters())
    assert sizes["compacted"] < 4 * kept + 8000 and sizes["dense"] / sizes["compacted"] > 10  # 4 bytes a weight + the graph


def test_int8_is_a_close_copy_with_int8_weights_and_leaves_the_network_alone():
    model = compact(prune(net(), 50, "unit"))
    before = [p.clone() for p in model.parameters()]
    quantized = to_int8(model)
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters()))
    linear = [m for m in quantized.modules() if "Linear" in type(m).__name__ and hasattr(m, "weight")]
    assert linear and all(m.weight().dtype == torch.qint8 for m in linear)
    for m, original in zip(linear, [m for m in model if isinstance(m, torch.nn.Linear)]):
        scale = m.weight().q_scale() if m.weight().qscheme() == torch.per_tensor_affine else None
        error = (m.weight().dequantize() - original.weight).abs().max()
        assert scale is None or error <= scale / 2 + 1e-7  # rounded to the nearest step of the int8 grid
    images = torch.randn(500, 100)
    data = Split(images, model(images).argmax(1))
    assert evaluate(quantized, data) > 0.95  # the float network scores 1.0 on its own predictions


def test_export_names_a_bad_network(tmp_path):
    with pytest.raises(ValueError, match="no nn.Linear layers"):
        to_onnx(torch.nn.Sequential(torch.nn.ReLU()), tmp_path / "x.onnx")
    with pytest.raises(ValueError, match="no nn.Linear layers"):
        to_int8(torch.nn.Sequential(torch.nn.ReLU()))
    assert not list(tmp_path.iterdir())


# --- every form, written and read back ----------------------------------------------------------------------------


@pytest.mark.parametrize("form", FORMS)
@pytest.mark.parametrize("method", ["weight", "unit"])
def test_every_form_read_back_computes_what_the_network_does(tmp_path, form, method):
    pruned = prune(net(), 90, method)
    before = [p.clone() for p in pruned.parameters()]
    images = torch.randn(300, 100)
    size = ship(pruned, form, tmp_path / "file")
    assert size == (tmp_path / "file").stat().st_size and [p.name for p in tmp_path.iterdir()] == ["file"]
    assert all(torch.equal(a, b) for a, b in zip(before, pruned.parameters()))  # the network is left alone
    logits = open_shipped(tmp_path / "file", form)(images)
    expected = pruned(images).detach()
    if form == "int8":  # 8-bit weights and activations: close, not equal
        assert (logits.argmax(1) == expected.argmax(1)).float().mean() > 0.9
    elif form == "Deep Compression":  # the weights shared among 31 values per layer: equal to the shared network
        assert torch.allclose(logits, shared_network(pruned)(images).detach(), atol=1e-5)
    else:
        assert torch.allclose(logits, expected, atol=1e-4)


def test_file_sizes_tell_the_story_of_the_forms(tmp_path):
    pruned = prune(net(), 90, "unit")
    size = {form: ship(pruned, form, tmp_path / form) for form in FORMS}
    assert size["ONNX, masked"] > 5 * size["ONNX"] and size["compacted"] > 2 * size["int8"]  # int8: 1 byte a weight, not 4, plus its structure
    dense = ship(net(), "state_dict", tmp_path / "dense")
    assert size["state_dict"] == dense  # zeros cost as much as any weight


def test_ship_and_open_refuse_an_unknown_form_naming_the_forms(tmp_path):
    with pytest.raises(ValueError, match="form must be one of"):
        ship(net(), "zip", tmp_path / "x")
    with pytest.raises(ValueError, match="form must be one of"):
        open_shipped(tmp_path / "x", "zip")
    assert not list(tmp_path.iterdir())


def test_deployment_table_measures_each_form_read_back(tmp_path):
    dense = net()
    images = torch.randn(400, 100)
    data = Split(images, dense(images).argmax(1).detach())
    pruned = prune(dense, 95)
    networks = [dict(name="dense", method="dense", k=0, procedure="trained", net=dense, forms=["state_dict", "int8"]),
                dict(name="w95", method="weight", k=95, procedure="one-shot", net=pruned,
                     forms=["CSR", "Deep Compression"], bits=3)]
    table = deployment_table(networks, tmp_path, data, data, repeat=2, single=5)
    assert table[["name", "form"]].values.tolist() == [["dense", "state_dict"], ["dense", "int8"], ["w95", "CSR"],
                                                        ["w95", "Deep Compression"]]
    files = sorted(tmp_path.iterdir())
    assert sorted(table["bytes"]) == sorted(f.stat().st_size for f in files) and len(files) == 4
    at = table.set_index(["name", "form"])
    assert at.loc[("dense", "state_dict"), "accuracy"] == 1.0 and at.loc[("dense", "state_dict"), "agrees"] == 1.0
    assert at.loc[("w95", "CSR"), "accuracy"] == evaluate(pruned, data) and at.loc[("w95", "CSR"), "agrees"] == 1.0
    assert at.loc[("w95", "Deep Compression"), "accuracy"] == evaluate(shared_network(pruned, 3), data)
    assert (table["latency_ms"] > 0).all() and (table["batch_ms"] > 0).all()
    assert (table["latency_iqr_ms"] >= 0).all() and (table["batch_iqr_ms"] >= 0).all()
    with pytest.raises(ValueError, match="lacks the keys"):
        deployment_table([dict(name="x", net=dense)], tmp_path, data, data)

"""helpers.export: ONNX files against PyTorch's outputs, their sizes, and int8 quantization."""

import pytest
import torch

from helpers.data import Split
from helpers.export import onnx_session, run_onnx, to_int8, to_onnx
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

"""helpers.export: ONNX files against PyTorch's outputs, their sizes, and int8 quantization."""

import statistics

import pandas as pd
import pytest
import torch

from helpers import export
from helpers.compression import shared_network
from helpers.data import Split
from helpers.export import (FORMS, deployment_table, onnx_session, open_shipped, run_onnx, ship, timing_comparisons,
                            timing_verdict, to_int8, to_onnx)
from helpers.model import make_mlp
from helpers.pruning import compact, prune
from helpers.training import correct, evaluate

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
    table = deployment_table(networks, tmp_path, data, data, rounds=3, single=5, batch=50)
    assert table[["name", "form"]].values.tolist() == [["dense", "state_dict"], ["dense", "int8"], ["w95", "CSR"],
                                                        ["w95", "Deep Compression"]]
    files = sorted(tmp_path.iterdir())
    assert sorted(table["bytes"]) == sorted(f.stat().st_size for f in files) and len(files) == 4
    at = table.set_index(["name", "form"])
    assert at.loc[("dense", "state_dict"), "accuracy"] == 1.0 and at.loc[("dense", "state_dict"), "agrees"] == 1.0
    assert at.loc[("w95", "CSR"), "accuracy"] == evaluate(pruned, data) and at.loc[("w95", "CSR"), "agrees"] == 1.0
    assert at.loc[("w95", "Deep Compression"), "accuracy"] == evaluate(shared_network(pruned, 3), data)
    # the paired test against the first network on validation: the dense network against itself loses nothing
    assert at.loc[("dense", "state_dict"), ["lost", "gained", "against"]].tolist() == [0, 0, "too close to call"]
    right = correct(pruned, data)  # the dense network is right on every image (the labels are its predictions)
    assert at.loc[("w95", "CSR"), ["lost", "gained"]].tolist() == [int((~right).sum()), 0]
    for column in ("latency", "batch"):
        assert (table[f"{column}_q1_ms"] > 0).all()
        assert (table[f"{column}_q1_ms"] <= table[f"{column}_ms"]).all()
        assert (table[f"{column}_ms"] <= table[f"{column}_q3_ms"]).all()
    with pytest.raises(ValueError, match="lacks the keys"):
        deployment_table([dict(name="x", net=dense)], tmp_path, data, data)
    with pytest.raises(ValueError, match="rounds must be an integer >= 3"):
        deployment_table(networks, tmp_path, data, data, rounds=2)
    with pytest.raises(ValueError, match="batch must be a positive integer"):
        deployment_table(networks, tmp_path, data, data, batch=0)
    with pytest.raises(ValueError, match="reference must name one of the networks"):
        deployment_table(networks, tmp_path, data, data, reference="sparse")


def test_the_timings_are_the_quartiles_of_the_rounds_after_the_warm_up(monkeypatch):
    clock = [0.0]  # a fake clock that only the timed functions move
    durations = {"f": iter([100.0, 3, 1, 2, 5, 4]), "g": iter([7.0] * 6)}  # f: a slow warm-up, then 3 1 2 5 4

    def takes(name):
        return lambda: clock.__setitem__(0, clock[0] + next(durations[name]))

    monkeypatch.setattr(export.time, "perf_counter", lambda: clock[0])
    timings = export._round_robin({"f": takes("f"), "g": takes("g")}, rounds=5)
    q1, _, q3 = statistics.quantiles([3, 1, 2, 5, 4], n=4)
    assert timings == {"f": (q1, 3, q3), "g": (7.0, 7.0, 7.0)}


def times(median, low, high, column="latency"):
    return {f"{column}_ms": median, f"{column}_q1_ms": low, f"{column}_q3_ms": high}


@pytest.mark.parametrize("this, reference, word", [
    (times(1.0, 0.9, 1.1), times(2.0, 1.9, 2.1), "faster"),
    (times(2.0, 1.9, 2.1), times(1.0, 0.9, 1.1), "slower"),
    (times(1.0, 0.95, 1.05), times(1.4, 1.35, 1.45), "too close to call"),  # intervals apart, ratio 1.4 < 1.5
    (times(11.7, 11.0, 12.5), times(27.5, 12.0, 60.0), "too close to call"),  # 2.35x, but the intervals overlap
    (times(11.7, 11.0, 12.5), times(27.5, 26.0, 29.0), "faster"),  # 2.35x and the intervals apart
    (times(1.0, 1.0, 1.0), times(1.0, 1.0, 1.0), "too close to call"),
])
def test_timing_verdict_needs_the_margin_and_intervals_apart(this, reference, word):
    assert timing_verdict(this, reference) == word
    mirrored = {"faster": "slower", "slower": "faster"}.get(word, word)
    assert timing_verdict(reference, this) == mirrored
    batch = {key.replace("latency", "batch"): value for key, value in this.items()}
    batch_reference = {key.replace("latency", "batch"): value for key, value in reference.items()}
    assert timing_verdict(batch, batch_reference, "batch_ms") == word


def test_timing_verdict_refuses_bad_timings_and_margins():
    with pytest.raises(ValueError, match="margin must be a finite number > 1"):
        timing_verdict(times(1, 1, 1), times(2, 2, 2), margin=1)
    with pytest.raises(ValueError, match="q1 <= median <= q3"):
        timing_verdict(times(1, 2, 3), times(2, 2, 2))
    with pytest.raises(ValueError, match="q1 <= median <= q3"):
        timing_verdict(times(0, 0, 0), times(2, 2, 2))


def test_timing_comparisons_put_each_pair_side_by_side():
    rows = [dict(name="a", form="x", **times(1.0, 0.9, 1.1), **times(10.0, 9.0, 11.0, "batch")),
            dict(name="b", form="y", **times(2.0, 1.9, 2.1), **times(12.0, 11.5, 12.5, "batch"))]
    table = timing_comparisons(pd.DataFrame(rows), {"a against b": (("a", "x"), ("b", "y"))})
    assert table[["timing", "speedup", "verdict"]].values.tolist() == [
        ["1 image", 2.0, "faster"], ["batch", 1.2, "too close to call"]]
    assert table["interval"].tolist() == ["0.9-1.1", "9-11"]
    with pytest.raises(KeyError):
        timing_comparisons(pd.DataFrame(rows), {"missing": (("a", "x"), ("c", "y"))})


def test_ship_refuses_a_network_that_would_read_back_as_another(tmp_path):
    torch.manual_seed(0)
    biased = torch.nn.Sequential(torch.nn.Linear(100, 30), torch.nn.Tanh(), torch.nn.Linear(30, 10, bias=False))
    for form in FORMS:
        if form == "ONNX, masked":  # ONNX stores the graph as it is: the bias and the Tanh come back
            ship(biased, form, tmp_path / "any.onnx")
            images = torch.randn(20, 100)
            assert torch.allclose(open_shipped(tmp_path / "any.onnx", form)(images), biased(images).detach(), atol=1e-5)
            (tmp_path / "any.onnx").unlink()
            continue
        with pytest.raises(ValueError, match="layer '0' has a bias.*ship this network as ONNX"):
            ship(biased, form, tmp_path / "file")
    assert not list(tmp_path.iterdir())


def test_onnxruntime_gets_as_many_threads_as_pytorch(tmp_path):
    to_onnx(net(), tmp_path / "net.onnx")
    assert onnx_session(tmp_path / "net.onnx").get_session_options().intra_op_num_threads == torch.get_num_threads()
    assert onnx_session(tmp_path / "net.onnx", threads=1).get_session_options().intra_op_num_threads == 1

"""helpers.deploy and helpers.timing: CSR export equals the dense masked network; sizes; timing helpers refuse bad
counts and synchronise CUDA; the shipping table, the Pareto front and timing comparisons in words."""

import gzip
import types

import pandas as pd
import pytest
import torch
from hypothesis import given, settings, strategies as st

import helpers.deploy
import helpers.timing
from helpers.data import Split
from helpers.deploy import (InferenceMLP, csr_state, from_csr_state, fused_kernel_available, pareto_front, shipping_table,
                           sizes, to_inference, to_sparse)
from helpers.model import make_mlp
from helpers.pruning import compact, compression, flops, prune, weights_kept
from helpers.timing import compare_times, compute_device, time_call, time_calls, time_forward
from helpers.training import evaluate


@pytest.mark.parametrize("name", ["SPEED_MARGIN", "compare_times", "compute_device", "time_call", "time_calls",
                                  "time_forward"])
def test_the_timings_old_import_path_gives_the_same_object(name):
    assert getattr(helpers.deploy, name) is getattr(helpers.timing, name)


def net(seed=0):
    torch.manual_seed(seed)
    return make_mlp((24, 16), inputs=30, classes=4)


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 100), st.floats(0, 100), st.sampled_from(["weight", "unit"]), st.sampled_from([1, 7, 50, 512]))
def test_sparse_export_predicts_like_the_dense_masked_net(seed, k, method, chunk):
    pruned = prune(net(seed % 10), k, method)
    sparse = to_sparse(pruned, chunk)
    x = torch.randn(50, 30, generator=torch.Generator().manual_seed(seed))
    with torch.no_grad():
        dense = pruned(x)
    assert torch.allclose(sparse(x), dense, atol=1e-5)
    assert sparse.nonzero == sum(int((p != 0).sum()) for p in pruned.parameters())


@pytest.mark.parametrize("chunk", [0, -5, 2.5, True, "512"])
def test_sparse_export_refuses_a_bad_chunk(chunk):
    with pytest.raises(ValueError, match="chunk must be a positive integer"):
        to_sparse(net(), chunk)


def test_unpruned_export_works_and_says_zero_sparsity():
    sparse = to_sparse(net())
    assert sparse.sparsity == 0
    assert "0.0% sparse" in repr(sparse)


def test_csr_state_round_trips():
    pruned = prune(net(), 80)
    state = csr_state(pruned)
    weight = torch.sparse_csr_tensor(state["0.crow_indices"], state["0.col_indices"], state["0.values"],
                                     tuple(state["0.shape"].tolist()), check_invariants=True).to_dense()
    assert torch.equal(weight, pruned[0].weight.detach())
    assert state["0.col_indices"].dtype == torch.int32


def test_sizes_are_real_file_sizes(tmp_path):
    pruned = prune(net(), 90, "unit")
    measured = sizes(pruned)
    path = tmp_path / "dense.pt"
    torch.save(pruned.state_dict(), path)
    assert measured["dense"] == path.stat().st_size
    assert measured["dense_gzip"] == len(gzip.compress(path.read_bytes(), compresslevel=6))
    small = tmp_path / "compacted.pt"
    torch.save(compact(pruned).state_dict(), small)
    assert measured["compacted"] == small.stat().st_size
    assert measured["compacted"] < measured["dense"] and measured["dense_gzip"] < measured["dense"]


def test_csr_shrinks_with_sparsity():
    assert sizes(prune(net(), 99))["csr"] < sizes(prune(net(), 50))["csr"] < sizes(net())["csr"]


@pytest.mark.parametrize("repeat", [0, -1, 1.5, True])
def test_time_call_refuses_bad_repeat(repeat):
    with pytest.raises(ValueError, match="repeat must be a positive integer"):
        time_call(lambda: None, repeat=repeat)


def test_time_call_counts_calls():
    calls = []
    timing = time_call(lambda: calls.append(1), repeat=5, warmup=2)
    assert len(calls) == 7 and timing["runs"] == 5 and timing["median"] >= 0 and timing["iqr"] >= 0


def test_time_forward_table():
    dense = net()
    table = time_forward({"dense": dense, "compacted": compact(prune(dense, 50, "unit"))},
                         torch.randn(80, 30), batch_sizes=(1, 64, None), repeat=3, warmup=1)
    assert table[["model", "batch"]].values.tolist() == [["dense", 1], ["compacted", 1], ["dense", 64],
                                                         ["compacted", 64], ["dense", 80], ["compacted", 80]]
    assert (table.loc[table["model"] == "dense", "speedup"] == 1).all()
    assert (table["threads"] == torch.get_num_threads()).all()


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 100), st.floats(0, 100), st.sampled_from(["weight", "unit"]), st.sampled_from([1, 8, 16]))
def test_inference_form_computes_the_same_function(seed, k, method, multiple):
    pruned = prune(net(seed % 10), k, method)
    x = torch.randn(40, 30, generator=torch.Generator().manual_seed(seed))
    fused = InferenceMLP(pruned, multiple, fused_min_rows=len(x))  # oneDNN's kernel where this build has it
    plain = InferenceMLP(pruned, multiple, fused=False)
    assert fused.uses_fused_kernel(x) == (fused_kernel_available() and all(w.numel() for w in fused.weights))
    assert not plain.uses_fused_kernel(x)
    with torch.no_grad():
        assert torch.allclose(fused(x), pruned(x), atol=1e-5)
        assert torch.allclose(plain(x), pruned(x), atol=1e-5)
    fast = to_inference(pruned, multiple)
    hidden = [w.shape[0] for w in fast.weights[:-1]]
    assert all(width % multiple == 0 for width in hidden)
    compacted = [m.weight.shape[0] for m in compact(pruned) if isinstance(m, torch.nn.Linear)][:-1]
    assert all(0 <= h - c < multiple for h, c in zip(hidden, compacted))


def test_fused_kernel_only_for_large_cpu_float32_batches():
    fast = to_inference(prune(net(), 50, "unit"))
    assert not fast.uses_fused_kernel(torch.randn(fast.fused_min_rows - 1, 30))
    assert fast.uses_fused_kernel(torch.randn(fast.fused_min_rows, 30)) == fused_kernel_available()
    assert not fast.uses_fused_kernel(torch.randn(fast.fused_min_rows, 30, dtype=torch.float64))


def test_without_the_fused_kernel_inference_falls_back_to_mm(monkeypatch):
    monkeypatch.setattr(helpers.deploy, "fused_kernel_available", lambda: False)
    pruned = prune(net(), 60, "unit")
    with pytest.raises(RuntimeError, match="fused=None"):
        to_inference(pruned, fused=True)
    fast = to_inference(pruned)
    x = torch.randn(2000, 30, generator=torch.Generator().manual_seed(1))
    assert not fast.fused and not fast.uses_fused_kernel(x) and "kernel: mm" in repr(fast)
    with torch.no_grad():
        assert torch.allclose(fast(x), pruned(x), atol=1e-5)


# --- CUDA synchronisation: the clock is read only after the queued work is done ---------------------------

class Recorder:
    """Stands in for torch.cuda.synchronize and time.perf_counter, logging the order of events."""

    def __init__(self, monkeypatch, cuda_started=False):
        self.events, self.clock = [], 0.0
        monkeypatch.setattr(torch.cuda, "synchronize", lambda device=None: self.events.append("sync"))
        monkeypatch.setattr(torch.cuda, "is_available", lambda: cuda_started)
        monkeypatch.setattr(torch.cuda, "is_initialized", lambda: cuda_started)
        monkeypatch.setattr(helpers.timing, "time", types.SimpleNamespace(perf_counter=self.read))

    def read(self):
        self.events.append("clock")
        self.clock += 1.0
        return self.clock

    def call(self, name):
        return lambda: self.events.append(name)


@pytest.mark.parametrize("device", ["cuda", "cuda:0", torch.device("cuda")])
def test_time_calls_synchronises_cuda_around_every_timed_call(monkeypatch, device):
    recorder = Recorder(monkeypatch)
    time_calls({"a": recorder.call("a"), "b": recorder.call("b")}, repeat=2, warmup=1, device=device)
    warmup, timed = recorder.events[:2], recorder.events[2:]
    assert warmup == ["a", "b"]
    assert timed == ["sync", "clock", "a", "sync", "clock", "sync", "clock", "b", "sync", "clock"] * 2


@pytest.mark.parametrize("device", ["cpu", torch.device("cpu")])
def test_time_calls_does_not_synchronise_on_cpu(monkeypatch, device):
    recorder = Recorder(monkeypatch, cuda_started=True)  # even with CUDA started, a CPU timing does not wait for it
    time_calls({"a": recorder.call("a")}, repeat=3, warmup=0, device=device)
    assert recorder.events == ["clock", "a", "clock"] * 3


@pytest.mark.parametrize("cuda_started", [True, False])
def test_time_calls_without_a_device_synchronises_only_once_cuda_has_started(monkeypatch, cuda_started):
    recorder = Recorder(monkeypatch, cuda_started=cuda_started)
    time_call(recorder.call("a"), repeat=1, warmup=0)
    assert recorder.events == (["sync", "clock", "a", "sync", "clock"] if cuda_started else ["clock", "a", "clock"])


def test_time_forward_synchronises_when_the_computation_is_on_cuda(monkeypatch):
    recorder = Recorder(monkeypatch)
    monkeypatch.setattr(helpers.timing, "compute_device", lambda models, images: torch.device("cuda"))
    table = time_forward({"dense": net()}, torch.randn(8, 30), batch_sizes=[None], repeat=2, warmup=0)
    assert recorder.events == ["sync", "clock", "sync", "clock"] * 2
    assert table["device"].tolist() == ["cuda"] and table["median_ms"].tolist() == [1e3]  # one fake second a call


def test_time_forward_does_not_synchronise_on_cpu(monkeypatch):
    recorder = Recorder(monkeypatch, cuda_started=True)
    table = time_forward({"dense": net()}, torch.randn(8, 30), batch_sizes=[None], repeat=2, warmup=0)
    assert recorder.events == ["clock", "clock"] * 2 and table["device"].tolist() == ["cpu"]


def test_compute_device_of_cpu_models_and_images():
    models = [net(), to_sparse(net()), to_inference(net())]
    assert compute_device(models, torch.randn(2, 30)) == torch.device("cpu")
    assert len(list(helpers.timing._tensors(models[1]))) == 3  # the CSR weights kept in a plain list are seen


# --- timings in words -------------------------------------------------------------------------------

@pytest.mark.parametrize("seconds, reference, words", [
    (1.0, 6.65, "6.7x faster than"), (1.0, 1.5, "about as fast as"), (1.0, 1.51, "1.5x faster than"),
    (1.5, 1.0, "about as fast as"), (1.6, 1.0, "1.6x slower than"), (3.0, 3.0, "about as fast as"),
    (0.002, 0.02, "10.0x faster than")])
def test_compare_times_words(seconds, reference, words):
    assert compare_times(seconds, reference) == words


def test_compare_times_margin():
    assert compare_times(1.0, 1.3, margin=1.2) == "1.3x faster than"
    assert compare_times(1.0, 1.3, margin=2) == "about as fast as"


@pytest.mark.parametrize("seconds, reference, margin", [(0, 1, 1.5), (1, -1, 1.5), (float("nan"), 1, 1.5),
                                                         (1, float("inf"), 1.5), (1, 1, 1.0), (1, 1, 0.5),
                                                         (True, 1, 1.5), ("1", 1, 1.5)])
def test_compare_times_refuses_bad_values(seconds, reference, margin):
    with pytest.raises(ValueError, match="must be"):
        compare_times(seconds, reference, margin)


# --- the Pareto front -------------------------------------------------------------------------------

def test_pareto_front_by_hand():
    table = pd.DataFrame(dict(accuracy=[0.98, 0.97, 0.96, 0.98, 0.90], bytes=[100, 10, 50, 100, 10]),
                         index=list("abcde"))
    front = pareto_front(table, {"accuracy": True, "bytes": False})
    assert front.to_dict() == dict(a=True, b=True, c=False, d=True, e=False)  # a and d tie; e loses to b


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 5), st.integers(0, 5), st.integers(0, 5)), min_size=1, max_size=12),
       st.tuples(st.booleans(), st.booleans(), st.booleans()))
def test_pareto_front_against_its_definition(points, directions):
    table = pd.DataFrame(points, columns=["x", "y", "z"])
    front = pareto_front(table, dict(zip("xyz", directions)))
    signed = [[v if up else -v for v, up in zip(p, directions)] for p in points]

    def beats(a, b):
        return all(u >= v for u, v in zip(a, b)) and any(u > v for u, v in zip(a, b))

    expected = [not any(beats(other, p) for other in signed) for p in signed]
    assert front.tolist() == expected
    assert front.any()  # a finite set always has a best point
    for p, on_front in zip(signed, expected):  # every point off the front is beaten by one on it
        assert on_front or any(beats(other, p) for other, f in zip(signed, expected) if f)


def test_pareto_front_refuses_bad_tables():
    table = pd.DataFrame(dict(accuracy=[0.9, float("nan")], speedup=[1, 2]))
    with pytest.raises(ValueError, match="missing values"):
        pareto_front(table, {"accuracy": True, "speedup": True})
    with pytest.raises(ValueError, match="not in the table"):
        pareto_front(table, {"bytes": False})
    with pytest.raises(ValueError, match="at least one column"):
        pareto_front(table, {})


# --- every network in every form -------------------------------------------------------------------------

def test_shipping_table_measures_every_form_against_the_dense_network_run_the_same_way():
    dense = net(3)
    generator = torch.Generator().manual_seed(0)
    images = torch.randn(64, 30, generator=generator)
    test = Split(images, torch.randint(0, 4, (64,), generator=generator))
    weight, unit = prune(dense, 80, "weight"), prune(dense, 50, "unit")
    with torch.no_grad():  # a dead unit in the weight-pruned network: its outgoing weights are not kept
        weight[0].weight[0] = 0
    assert weights_kept(weight) < sum(int((p != 0).sum()) for p in weight.parameters())
    tuned = compact(unit)  # a network that arrives compacted, as fine_tune(compacted=True) returns it
    networks = [dict(method="weight", k=80, procedure="one-shot", net=weight),
                dict(method="unit", k=50, procedure="one-shot", net=unit),
                dict(method="unit", k=50, procedure="fine-tuned", net=tuned)]
    table = shipping_table(dense, networks, images, test, validation=test, repeat=2, warmup=0)
    assert table[["method", "form", "compared_with"]].values.tolist() == [
        ["dense", "nn.Sequential", "dense, nn.Sequential"], ["dense", "to_inference", "dense, to_inference"],
        ["weight", "CSR", "fastest dense"], ["weight", "dense + gzip", "dense, nn.Sequential"],
        ["unit", "compacted", "dense, to_inference"], ["unit", "compacted", "dense, to_inference"]]
    reference = table.set_index("form")["ms"]
    dense_ms = {"dense, nn.Sequential": reference["nn.Sequential"], "dense, to_inference": reference["to_inference"]}
    dense_ms["fastest dense"] = min(dense_ms.values())
    assert table["speedup"].tolist() == pytest.approx([dense_ms[c] / ms for c, ms in
                                                       zip(table["compared_with"], table["ms"])])
    assert table.loc[table["method"] == "dense", "speedup"].tolist() == [1.0, 1.0]
    total = flops(dense)
    for row, network in zip(table.iloc[2:].itertuples(), [weight, weight, unit, tuned]):
        assert row.accuracy == evaluate(network, test) == row.validation_accuracy
        assert row.weights_kept == weights_kept(network)
        assert row.compression == compression(network, total)
    assert table["compression"].iloc[4] == table["compression"].iloc[5]  # compacted or not, the same weights kept
    weight_sizes, unit_sizes = sizes(weight), sizes(unit)
    # CSR is exported from compact(net): it stores the weights kept, none into or out of a dead unit
    assert table["bytes"].tolist() == [sizes(dense)["dense"]] * 2 + [sizes(compact(weight))["csr"],
                                                                     weight_sizes["dense_gzip"],
                                                                     unit_sizes["compacted"], sizes(tuned)["compacted"]]
    assert table["smaller"].tolist() == pytest.approx(sizes(dense)["dense"] / table["bytes"])
    assert table["flop_ratio"].tolist() == pytest.approx(
        [1, 1, total / weights_kept(weight), 1, total / flops(compact(unit)), total / flops(tuned)])
    assert table["flop_ratio"].iloc[2] == pytest.approx(table["compression"].iloc[2])  # CSR multiplies what is kept
    assert table["validation_accuracy"].notna().all()


def test_shipping_table_refuses_bad_networks():
    dense = net()
    test = Split(torch.randn(4, 30), torch.zeros(4, dtype=torch.long))
    with pytest.raises(ValueError, match="lacks the keys"):
        shipping_table(dense, [dict(method="unit", k=50, net=dense)], test.images, test)
    with pytest.raises(ValueError, match="method must be"):
        shipping_table(dense, [dict(method="global", k=50, procedure="one-shot", net=dense)], test.images, test)


def test_a_csr_state_read_back_is_the_network_that_was_stored():
    pruned = prune(net(), 90)
    images = torch.randn(70, pruned[0].in_features)
    sparse = from_csr_state(csr_state(pruned))
    assert sparse.nonzero == sum(int((p != 0).sum()) for p in pruned.parameters())
    assert torch.allclose(sparse(images), pruned(images).detach(), atol=1e-5)
    state = csr_state(pruned)
    del state["2.values"]
    with pytest.raises(ValueError, match=r"missing \['2.values'\]"):
        from_csr_state(state)
    with pytest.raises(ValueError, match="not a CSR state"):
        from_csr_state({})

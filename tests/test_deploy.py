"""helpers.deploy: CSR export equals the dense masked network; sizes; timing helpers refuse bad counts."""

import gzip

import pytest
import torch
from hypothesis import given, settings, strategies as st

import helpers.deploy
from helpers.deploy import (InferenceMLP, csr_state, fused_kernel_available, sizes, time_call, time_forward,
                           to_inference, to_sparse)
from helpers.model import make_mlp
from helpers.pruning import compact, prune


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

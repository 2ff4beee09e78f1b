"""What pruning buys: sparse storage, sizes on disk, and honest timings.

- `InferenceMLP` runs a compacted (unit-pruned) network with no overhead
  between its matrix products, and oneDNN's fused linear + ReLU kernel for
  large CPU batches;
- `SparseMLP` runs a weight-pruned network with its weights stored as CSR
  (`torch.sparse_csr_tensor`), computing on the transposed activations so
  that every layer is one sparse x dense product, in cache-sized chunks;
- `sizes` measures the bytes of each form of a network: the dense
  state_dict, the same gzip-compressed, CSR, and the compacted network;
- `time_forward` gives median and spread of several runs after a warm-up,
  for batches of 1, 64 and the whole test set, with the thread count.

Used in 05_speed_and_size.
"""

from __future__ import annotations

import functools
import gzip
import statistics
import tempfile
import time
import warnings
from collections.abc import Callable, Iterable
from pathlib import Path

import pandas as pd
import torch
from torch import nn

from helpers.model import linear_layers
from helpers.pruning import compact


def _to_csr(weight: torch.Tensor) -> torch.Tensor:
    """`weight.to_sparse_csr()`, without PyTorch's warning that CSR support is in beta."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta", category=UserWarning)
        return weight.to_sparse_csr()


class SparseMLP(nn.Module):
    """A bias-free ReLU MLP whose weights are stored in CSR form.

    Each layer computes h <- W h on activations laid out (features, batch),
    so the sparse matrix is always the left operand, the case sparse kernels
    are made for. The batch goes through in chunks of `chunk` images: a
    sparse product hops between rows of h, and a chunk's rows (512 floats,
    2 KB each) stay in the CPU's cache where the whole test set's (40 KB
    each, 40 MB a layer) would not; on the test set that alone makes it
    about 3x faster. Predictions equal the dense network's (same weights,
    zeros included), up to float rounding.

    Args:
        net: a network made of Linear (no bias) and ReLU layers, pruned or not.
        chunk: images per chunk (a positive integer).
    """

    def __init__(self, net: nn.Module, chunk: int = 512):
        super().__init__()
        if isinstance(chunk, bool) or not isinstance(chunk, int) or chunk < 1:
            raise ValueError(f"chunk must be a positive integer (images per chunk), got {chunk!r}")
        weights = [layer.weight.detach() for _, layer in linear_layers(net)]
        if not weights:
            raise ValueError(f"{type(net).__name__} has no nn.Linear layers")
        self.weights = [_to_csr(w) for w in weights]
        self.chunk = chunk
        total = sum(w.numel() for w in weights)
        self.nonzero = sum(int(w.values().numel()) for w in self.weights)
        self.sparsity = 1 - self.nonzero / total

    @torch.no_grad()
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = x.new_empty(len(x), self.weights[-1].shape[0])
        for start in range(0, len(x), self.chunk):
            h = x[start:start + self.chunk].t()
            for i, weight in enumerate(self.weights):
                h = weight @ h
                if i < len(self.weights) - 1:
                    h = torch.relu_(h)
            out[start:start + self.chunk] = h.t()
        return out

    def extra_repr(self) -> str:
        shapes = ", ".join(f"{tuple(w.shape)}" for w in self.weights)
        return (f"CSR layers {shapes}, {self.nonzero:,} nonzero weights ({100 * self.sparsity:.1f}% sparse), "
                f"chunks of {self.chunk}")


def to_sparse(net: nn.Module, chunk: int = 512) -> SparseMLP:
    """Export `net` with CSR weight storage. A network that is not pruned works too (0% sparse).

    Used in 05_speed_and_size.
    """
    return SparseMLP(net, chunk)


FUSED_MIN_ROWS = 1024
"""Batches with at least this many rows use oneDNN's fused kernel; below it, its fixed cost per call
(15-20 microseconds a layer here) outweighs what it saves, and plain `mm` is faster."""


def _fused_linear(x: torch.Tensor, weight: torch.Tensor, relu: bool) -> torch.Tensor:
    """x @ weight.T, then ReLU if asked, in one oneDNN call (an operator torch.compile's CPU backend also emits)."""
    return torch.ops.mkldnn._linear_pointwise(x, weight, None, "relu" if relu else "none", [], "")


@functools.cache
def fused_kernel_available() -> bool:
    """Whether oneDNN's fused linear + ReLU kernel runs on this CPU and agrees with `torch.mm` on a small check.

    It is a private PyTorch operator (`torch.ops.mkldnn._linear_pointwise`), so this is asked once, and
    `InferenceMLP` falls back to `mm` where the answer is no.
    """
    if not torch.backends.mkldnn.is_available():
        return False
    generator = torch.Generator().manual_seed(0)
    x, weight = torch.randn(5, 7, generator=generator), torch.randn(3, 7, generator=generator)
    try:
        return torch.allclose(_fused_linear(x, weight, relu=True), torch.mm(x, weight.t()).relu(), atol=1e-5)
    except (AttributeError, NotImplementedError, RuntimeError):
        return False


class InferenceMLP(nn.Module):
    """The compacted network in a form made for fast inference on a CPU.

    Dead units are removed (`compact`), then every hidden width is padded up
    to a multiple of `multiple` with all-zero units: matrix-product kernels
    work on vectors of 8 or 16 floats, and a layer 10 wide wastes most of a
    vector while one 16 wide does not. The padding units compute relu(0) = 0
    and are read by zero columns, so the function is unchanged.

    The forward pass is a plain loop over the weights, with no module
    dispatch. On a CPU batch of `fused_min_rows` rows or more, each layer is
    one call of oneDNN's fused linear + ReLU kernel: a compacted network is
    tall and skinny (10,000 images times 784 pixels, times a 784 x 16
    weight), a shape where MKL's general `mm` reaches about half the speed it
    has on the dense network's square products, and oneDNN most of it.
    Elsewhere (small batches, GPU, no oneDNN) it is `mm` and in-place `relu_`.

    Args:
        net: a network of bias-free Linear and ReLU layers (pruned or not).
        multiple: pad hidden widths to a multiple of this (1: no padding).
        fused: use the fused kernel where it pays (None: if `fused_kernel_available()`).
        fused_min_rows: the smallest batch that uses it.
    """

    def __init__(self, net: nn.Module, multiple: int = 16, fused: bool | None = None,
                 fused_min_rows: int = FUSED_MIN_ROWS):
        super().__init__()
        weights = [layer.weight.detach() for _, layer in linear_layers(compact(net))]
        padded, extra_inputs = [], 0
        for i, weight in enumerate(weights):
            rows, columns = weight.shape
            if i < len(weights) - 1:
                rows = -(-rows // multiple) * multiple
            full = weight.new_zeros(rows, columns + extra_inputs)
            full[: weight.shape[0], :columns] = weight
            padded.append(full)
            extra_inputs = rows - weight.shape[0]
        self.weights = padded
        if fused and not fused_kernel_available():
            raise RuntimeError("fused=True, but oneDNN's fused linear kernel does not run in this PyTorch build; "
                               "leave fused=None to fall back to torch.mm")
        # oneDNN refuses empty matrices: a network with a layer of no units left (k near 100) runs with mm
        self.fused = (fused_kernel_available() if fused is None else fused) and all(w.numel() for w in padded)
        self.fused_min_rows = fused_min_rows

    def uses_fused_kernel(self, x: torch.Tensor) -> bool:
        """Whether `forward(x)` runs oneDNN's fused kernel (a CPU float32 batch of `fused_min_rows` or more)."""
        return (self.fused and x.device.type == "cpu" and x.dtype == torch.float32
                and x.shape[0] >= self.fused_min_rows)

    @torch.no_grad()
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        last = len(self.weights) - 1
        if self.uses_fused_kernel(x):
            for i, weight in enumerate(self.weights):
                x = _fused_linear(x, weight, relu=i < last)
            return x
        for weight in self.weights[:-1]:
            x = torch.mm(x, weight.t()).relu_()
        return torch.mm(x, self.weights[-1].t())

    def extra_repr(self) -> str:
        kernel = f"oneDNN fused for batches >= {self.fused_min_rows}" if self.fused else "mm"
        widths = " -> ".join(str(w.shape[1]) for w in self.weights)
        return f"widths {widths} -> {self.weights[-1].shape[0]}, kernel: {kernel}"


def to_inference(net: nn.Module, multiple: int = 16, fused: bool | None = None) -> InferenceMLP:
    """Compact `net` and ready it for fast CPU inference (see `InferenceMLP`). Used in 05_speed_and_size."""
    return InferenceMLP(net, multiple, fused)


def _file_bytes(obj, folder: Path, name: str) -> bytes:
    path = folder / f"{name}.pt"
    torch.save(obj, path)
    return path.read_bytes()


def csr_state(net: nn.Module) -> dict[str, torch.Tensor]:
    """The weights of `net` as CSR parts with int32 indices: what a sparse file stores."""
    state = {}
    for name, layer in linear_layers(net):
        csr = _to_csr(layer.weight.detach().cpu())
        state[f"{name}.crow_indices"] = csr.crow_indices().to(torch.int32)
        state[f"{name}.col_indices"] = csr.col_indices().to(torch.int32)
        state[f"{name}.values"] = csr.values()
        state[f"{name}.shape"] = torch.tensor(csr.shape, dtype=torch.int32)
    return state


def sizes(net: nn.Module) -> dict[str, int]:
    """Bytes on disk of each form of `net` (pruned or not): files written by torch.save, then measured.

    Returns:
        {"dense": the state_dict, "dense_gzip": the same gzip-compressed,
        "csr": CSR parts with int32 indices, "compacted": the state_dict of
        `compact(net)` (dead units removed)}.
    """
    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        dense = _file_bytes(net.state_dict(), folder, "dense")
        return {
            "dense": len(dense),
            "dense_gzip": len(gzip.compress(dense, compresslevel=6)),
            "csr": len(_file_bytes(csr_state(net), folder, "csr")),
            "compacted": len(_file_bytes(compact(net).state_dict(), folder, "compacted")),
        }


def _check_counts(repeat: int, warmup: int) -> None:
    if isinstance(repeat, bool) or not isinstance(repeat, int) or repeat < 1:
        raise ValueError(f"repeat must be a positive integer, got {repeat!r}")
    if isinstance(warmup, bool) or not isinstance(warmup, int) or warmup < 0:
        raise ValueError(f"warmup must be a non-negative integer, got {warmup!r}")


def time_calls(functions: dict[str, Callable[[], object]], repeat: int = 7, warmup: int = 2) -> dict[str, dict]:
    """Time several functions side by side: round-robin, so that a machine that slows down or
    speeds up during the measurement affects them all alike.

    Returns:
        {name: {"median": seconds, "iqr": interquartile range in seconds, "runs": repeat}}.

    Raises:
        ValueError: `repeat` < 1 or `warmup` < 0.
    """
    _check_counts(repeat, warmup)
    for _ in range(warmup):
        for function in functions.values():
            function()
    times: dict[str, list[float]] = {name: [] for name in functions}
    for _ in range(repeat):
        for name, function in functions.items():
            started = time.perf_counter()
            function()
            times[name].append(time.perf_counter() - started)
    result = {}
    for name, values in times.items():
        quartiles = statistics.quantiles(values, n=4) if len(values) > 1 else [values[0]] * 3
        result[name] = dict(median=statistics.median(values), iqr=quartiles[2] - quartiles[0], runs=repeat)
    return result


def time_call(function: Callable[[], object], repeat: int = 7, warmup: int = 2) -> dict[str, float]:
    """Median and spread (interquartile range) of the wall time of `function()`, after `warmup` calls."""
    return time_calls({"call": function}, repeat, warmup)["call"]


def time_forward(models: dict[str, nn.Module], images: torch.Tensor, batch_sizes: Iterable[int | None] = (1, 64, None),
                 repeat: int = 7, warmup: int = 2) -> pd.DataFrame:
    """Time the forward pass of each model on the first `batch` images (None: all of them), side by side.

    Returns:
        One row per (model, batch): model, batch, median_ms, iqr_ms, runs,
        threads (torch's intra-op thread count), speedup (against the first model).
    """
    rows = []
    for batch in batch_sizes:
        x = images if batch is None else images[:batch]
        with torch.no_grad():
            timings = time_calls({name: (lambda model=model: model(x)) for name, model in models.items()},
                                 repeat, warmup)
        for name, timing in timings.items():
            rows.append(dict(model=name, batch=len(x), median_ms=1e3 * timing["median"], iqr_ms=1e3 * timing["iqr"],
                             runs=timing["runs"], threads=torch.get_num_threads()))
    table = pd.DataFrame(rows)
    first = table.groupby("batch")["median_ms"].transform("first")
    table["speedup"] = first / table["median_ms"]
    return table

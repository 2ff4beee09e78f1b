"""What pruning buys: sparse storage, sizes on disk, and honest timings.

- `InferenceMLP` runs a compacted (unit-pruned) network with no overhead
  between its matrix products;
- `SparseMLP` runs a weight-pruned network with its weights stored as CSR
  (`torch.sparse_csr_tensor`), computing on the transposed activations so
  that every layer is one sparse x dense product;
- `sizes` measures the bytes of each form of a network: the dense
  state_dict, the same gzip-compressed, CSR, and the compacted network;
- `time_forward` gives median and spread of several runs after a warm-up,
  for batches of 1, 64 and the whole test set, with the thread count.

Used in 05_speed_and_size.
"""

from __future__ import annotations

import gzip
import statistics
import tempfile
import time
from collections.abc import Callable, Iterable
from pathlib import Path

import pandas as pd
import torch
from torch import nn

from helpers.model import linear_layers
from helpers.pruning import compact


class SparseMLP(nn.Module):
    """A bias-free ReLU MLP whose weights are stored in CSR form.

    Each layer computes h <- W h on activations laid out (features, batch),
    so the sparse matrix is always the left operand, the case sparse kernels
    are made for. Predictions equal the dense network's (same weights, zeros
    included), up to float rounding.

    Args:
        net: a network made of Linear (no bias) and ReLU layers, pruned or not.
    """

    def __init__(self, net: nn.Module):
        super().__init__()
        weights = [layer.weight.detach() for _, layer in linear_layers(net)]
        if not weights:
            raise ValueError(f"{type(net).__name__} has no nn.Linear layers")
        self.weights = [w.to_sparse_csr() for w in weights]
        total = sum(w.numel() for w in weights)
        self.nonzero = sum(int(w.values().numel()) for w in self.weights)
        self.sparsity = 1 - self.nonzero / total

    @torch.no_grad()
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = x.t()
        for i, weight in enumerate(self.weights):
            h = weight @ h
            if i < len(self.weights) - 1:
                h = torch.relu_(h)
        return h.t()

    def extra_repr(self) -> str:
        shapes = ", ".join(f"{tuple(w.shape)}" for w in self.weights)
        return f"CSR layers {shapes}, {self.nonzero:,} nonzero weights ({100 * self.sparsity:.1f}% sparse)"


def to_sparse(net: nn.Module) -> SparseMLP:
    """Export `net` with CSR weight storage. A network that is not pruned works too (0% sparse).

    Used in 05_speed_and_size.
    """
    return SparseMLP(net)


class InferenceMLP(nn.Module):
    """The compacted network in a form made for fast inference on a CPU.

    Dead units are removed (`compact`), then every hidden width is padded up
    to a multiple of `multiple` with all-zero units: matrix-product kernels
    work on vectors of 8 or 16 floats, and a layer 10 wide wastes most of a
    vector while one 16 wide does not. The padding units compute relu(0) = 0
    and are read by zero columns, so the function is unchanged. The forward
    pass is a plain loop of `mm` and in-place `relu_`, with no module dispatch.

    Args:
        net: a network of bias-free Linear and ReLU layers (pruned or not).
        multiple: pad hidden widths to a multiple of this (1: no padding).
    """

    def __init__(self, net: nn.Module, multiple: int = 16):
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

    @torch.no_grad()
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for weight in self.weights[:-1]:
            x = torch.mm(x, weight.t()).relu_()
        return torch.mm(x, self.weights[-1].t())

    def extra_repr(self) -> str:
        return "widths " + " -> ".join(str(w.shape[1]) for w in self.weights) + f" -> {self.weights[-1].shape[0]}"


def to_inference(net: nn.Module, multiple: int = 16) -> InferenceMLP:
    """Compact `net` and pad it for fast CPU inference (see `InferenceMLP`). Used in 05_speed_and_size."""
    return InferenceMLP(net, multiple)


def _file_bytes(obj, folder: Path, name: str) -> bytes:
    path = folder / f"{name}.pt"
    torch.save(obj, path)
    return path.read_bytes()


def csr_state(net: nn.Module) -> dict[str, torch.Tensor]:
    """The weights of `net` as CSR parts with int32 indices: what a sparse file stores."""
    state = {}
    for name, layer in linear_layers(net):
        csr = layer.weight.detach().cpu().to_sparse_csr()
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

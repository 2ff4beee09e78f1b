"""What pruning buys: sparse storage, sizes on disk, and honest timings.

- `InferenceMLP` runs a compacted (unit-pruned) network with no overhead
  between its matrix products, and oneDNN's fused linear + ReLU kernel for
  large CPU batches;
- `SparseMLP` runs a weight-pruned network with its weights stored as CSR
  (`torch.sparse_csr_tensor`), computing on the transposed activations so
  that every layer is one sparse x dense product, in cache-sized chunks;
- `sizes` measures the bytes of each form of a network: the dense
  state_dict, the same gzip-compressed, CSR, and the compacted network;
- `shipping_table` measures every network in every form it ships in
  (accuracy, compression, bytes, speed against the dense network run the
  same way), and `pareto_front` picks those no other beats.

The timings (`time_calls`, `time_call`, `time_forward`, `compare_times`, `SPEED_MARGIN`) live in
`helpers.timing` and are re-exported here, their old import path.

Used in 05_speed_and_size.
"""

from __future__ import annotations

import functools
import gzip
import tempfile
import warnings
from collections.abc import Sequence
from pathlib import Path

import pandas as pd
import torch
from torch import nn

from helpers.data import Split
from helpers.model import linear_layers
from helpers.pruning import compact, compression, flops, weights_kept
# time_forward is used here; the rest is re-exported: helpers.deploy is the timings' old import path
from helpers.timing import SPEED_MARGIN, compare_times, compute_device, time_call, time_calls, time_forward
from helpers.training import evaluate


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


def from_csr_state(state: dict[str, torch.Tensor], chunk: int = 512) -> SparseMLP:
    """The `SparseMLP` stored in `state` (what `csr_state` wrote): the inverse of `csr_state`, so that a CSR file
    read back computes what was saved.

    Raises:
        ValueError: `state` is not a CSR state (no layer's four parts, or a part missing).
    """
    names = sorted({key.rsplit(".", 1)[0] for key in state}, key=lambda name: [int(p) if p.isdigit() else p
                                                                               for p in name.split(".")])
    parts = ("crow_indices", "col_indices", "values", "shape")
    missing = [f"{name}.{part}" for name in names for part in parts if f"{name}.{part}" not in state]
    if not names or missing:
        raise ValueError(f"not a CSR state written by csr_state: missing {missing or 'every layer'}")
    net = nn.Sequential()
    for i, name in enumerate(names):
        shape = tuple(int(n) for n in state[f"{name}.shape"])
        weight = torch.sparse_csr_tensor(state[f"{name}.crow_indices"].long(), state[f"{name}.col_indices"].long(),
                                         state[f"{name}.values"], shape, check_invariants=True).to_dense()
        layer = nn.Linear(shape[1], shape[0], bias=False)
        layer.weight.data = weight
        net.append(layer)
        if i < len(names) - 1:
            net.append(nn.ReLU())
    return SparseMLP(net, chunk)


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


# --- what to ship: every form of every network, measured side by side (05_speed_and_size) ---------------

def pareto_front(table: pd.DataFrame, higher_is_better: dict[str, bool]) -> pd.Series:
    """Which rows no other row beats: another row beats a row when it is at least as good in every
    column of `higher_is_better` and strictly better in one. Equal rows do not beat each other.

    Args:
        table: one row per candidate.
        higher_is_better: {column: True if more is better (accuracy, speedup), False if less is (bytes)}.

    Returns:
        A boolean Series aligned with `table`: True for the rows on the front.

    Raises:
        ValueError: no columns, a column missing, or a missing value (NaN) in one.

    >>> pareto_front(pd.DataFrame(dict(accuracy=[0.98, 0.97, 0.96], speedup=[1, 20, 10])),
    ...              {"accuracy": True, "speedup": True}).tolist()
    [True, True, False]

    Used in 05_speed_and_size.
    """
    if not higher_is_better:
        raise ValueError("higher_is_better must name at least one column")
    missing = [c for c in higher_is_better if c not in table.columns]
    if missing:
        raise ValueError(f"columns {missing} are not in the table (it has {list(table.columns)})")
    values = torch.tensor(table[list(higher_is_better)].to_numpy(dtype=float), dtype=torch.float64)
    if values.isnan().any():
        raise ValueError(f"the columns {list(higher_is_better)} hold missing values (NaN)")
    values = values * torch.tensor([1.0 if up else -1.0 for up in higher_is_better.values()], dtype=torch.float64)
    at_least = (values[:, None, :] >= values[None, :, :]).all(dim=2)  # [i, j]: i is at least as good as j
    better = (values[:, None, :] > values[None, :, :]).any(dim=2)
    beaten = (at_least & better).any(dim=0)
    return pd.Series((~beaten).tolist(), index=table.index, name="pareto")


def _forms(net: nn.Module, method: str, size: dict[str, int], dense_flops: int, images: torch.Tensor):
    """(form, module to time, bytes, FLOP ratio, kernel, compared with) for each way `net` ships."""
    if method == "weight":
        small = compact(net)  # no weight into or out of a dead unit is stored or multiplied
        sparse = to_sparse(small)
        with tempfile.TemporaryDirectory() as folder:
            csr_bytes = len(_file_bytes(csr_state(small), Path(folder), "csr"))
        return [("CSR", sparse, csr_bytes, dense_flops / max(sparse.nonzero, 1), "sparse CSR x dense",
                 "fastest dense"),
                ("dense + gzip", net, size["dense_gzip"], dense_flops / flops(net), "torch.mm (nn.Sequential)",
                 "dense, nn.Sequential")]
    if method == "unit":
        fast = to_inference(net)
        kernel = "oneDNN fused" if fast.uses_fused_kernel(images) else "torch.mm"
        return [("compacted", fast, size["compacted"], dense_flops / max(flops(compact(net)), 1),
                 f"{kernel} (to_inference)", "dense, to_inference")]
    raise ValueError(f"method must be 'weight' or 'unit', got {method!r}")


def shipping_table(dense: nn.Module, networks: Sequence[dict], images: torch.Tensor, test: Split,
                   validation: Split | None = None, repeat: int = 5, warmup: int = 1) -> pd.DataFrame:
    """Every network in every form it can ship in: accuracy, weights kept, compression, bytes on disk,
    and forward time on `images`, all timed in one round-robin (`time_forward`) together with the
    dense network run the same way.

    The forms: a weight-pruned network ships as CSR (`to_sparse(compact(net))`: the dead units are removed
    first, so the CSR file stores and multiplies exactly the weights kept), or as its dense file
    gzip-compressed, which runs as the dense network with zeros once loaded; a unit-pruned network ships
    compacted and runs as `to_inference`. Each speedup is against the dense network run the same way: the
    compacted form against `to_inference(dense)` (the same kernel on both sides), the dense file with
    zeros against the dense `nn.Sequential`, and CSR, which has no dense twin, against the faster of
    the two dense forms. Every form is checked to compute the same function as its network.

    Args:
        dense: the unpruned network.
        networks: one dict per network: method ("weight" or "unit"), k, procedure (e.g. "one-shot",
            "fine-tuned") and net (pruned, or already compacted).
        images: the batch timed (e.g. the whole test set), on the device to time on.
        test: reported accuracy.
        validation: if given, its accuracy too (to choose on).
        repeat, warmup: see `time_calls`.

    Returns:
        One row per (network, form), the dense network first (forms "nn.Sequential" and
        "to_inference"): method, k, procedure, form, kernel, accuracy, validation_accuracy,
        weights_kept, compression (`helpers.pruning.compression`: dense weights / weights kept),
        bytes, smaller (dense file / this file), flop_ratio (multiply-adds per image of the dense network /
        those of this form: the nonzero weights for CSR, so equal to the compression; all weights of the
        compacted network, before `to_inference` pads its widths; 1 for the dense file), ms (median of
        `repeat` runs over `images`), compared_with, speedup (the reference's ms / ms).

    Raises:
        ValueError: a network dict without the keys above, or an unknown method.
        RuntimeError: a form whose outputs differ from its network's.

    Used in 05_speed_and_size.
    """
    total = flops(dense)
    dense_size = sizes(dense)
    candidates = [dict(method="dense", k=0, procedure="trained", net=dense)] + list(networks)
    rows, models = [], {"dense, nn.Sequential": dense, "dense, to_inference": to_inference(dense)}
    for i, network in enumerate(candidates):
        missing = {"method", "k", "procedure", "net"} - set(network)
        if missing:
            raise ValueError(f"network {i} lacks the keys {sorted(missing)}")
        net = network["net"]
        size = sizes(net)
        if network["method"] == "dense":
            fast = models["dense, to_inference"]
            kernel = "oneDNN fused" if fast.uses_fused_kernel(images) else "torch.mm"
            forms = [("nn.Sequential", dense, size["dense"], 1.0, "torch.mm (nn.Sequential)", "dense, nn.Sequential"),
                     ("to_inference", fast, size["dense"], 1.0, f"{kernel} (to_inference)", "dense, to_inference")]
        else:
            forms = _forms(net, network["method"], size, total, images)
        accuracy = evaluate(net, test)
        validation_accuracy = evaluate(net, validation) if validation is not None else float("nan")
        with torch.no_grad():
            expected = net(images[:256])
        for form, module, nbytes, flop_ratio, kernel, compared_with in forms:
            with torch.no_grad():
                if not torch.allclose(module(images[:256]), expected, atol=1e-3, rtol=1e-3):
                    raise RuntimeError(f"the {form} form of network {i} computes another function than the network")
            # the dense network's two forms are the references themselves
            name = compared_with if network["method"] == "dense" else f"{i}: {form}"
            models.setdefault(name, module)
            rows.append(dict(method=network["method"], k=network["k"], procedure=network["procedure"], form=form,
                             kernel=kernel, accuracy=accuracy, validation_accuracy=validation_accuracy,
                             weights_kept=weights_kept(net), compression=compression(net, total), bytes=nbytes,
                             smaller=dense_size["dense"] / nbytes, flop_ratio=flop_ratio, name=name,
                             compared_with=compared_with))
    timing = time_forward(models, images, [None], repeat, warmup).set_index("model")["median_ms"]
    reference = {"dense, nn.Sequential": timing["dense, nn.Sequential"],
                 "dense, to_inference": timing["dense, to_inference"]}
    reference["fastest dense"] = min(reference.values())
    table = pd.DataFrame(rows)
    table["ms"] = [timing[name] for name in table["name"]]
    table["speedup"] = [reference[c] / ms for c, ms in zip(table["compared_with"], table["ms"])]
    return table.drop(columns="name")

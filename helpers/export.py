"""Shipping a pruned network outside PyTorch: ONNX files run by onnxruntime, and int8 dynamic quantization.

A masked network exported to ONNX is exactly as large as the dense one: the
zeros are stored like any other weight (users meet this as "my pruned ONNX
file did not get smaller"). Export the *compacted* network (`compact`) and the
file shrinks with the units removed. `to_onnx` writes one self-contained file
(weights inside, a dynamic batch dimension) atomically; `onnx_session` and
`run_onnx` run it with onnxruntime on the CPU; `to_int8` quantizes the Linear
layers to 8-bit integers with PyTorch's dynamic quantization.

Used in 09_ship_it.
"""

from __future__ import annotations

import contextlib
import copy
import io
import logging
import warnings
from pathlib import Path

import torch
from torch import nn

from helpers.model import architecture, write_atomically

__all__ = ["to_onnx", "onnx_session", "run_onnx", "to_int8"]


def to_onnx(net: nn.Module, path: str | Path) -> int:
    """Export `net` to one ONNX file (weights included, any batch size) and return its size in bytes.

    Args:
        net: an MLP of this series (masked or compacted); it is not modified.
        path: the file; written to a temporary name in the same folder and renamed when complete.

    Raises:
        ValueError: `net` has no Linear layer.
    """
    width = architecture(net)[0]
    model = copy.deepcopy(net).cpu().eval()
    example = torch.zeros(2, width)
    quiet = io.StringIO()
    with warnings.catch_warnings(), contextlib.redirect_stdout(quiet), contextlib.redirect_stderr(quiet):
        warnings.simplefilter("ignore")
        logging.getLogger("torch.onnx").setLevel(logging.ERROR)
        program = torch.onnx.export(model, (example,), input_names=["images"], output_names=["logits"],
                                    dynamic_shapes=({0: torch.export.Dim("batch")},), dynamo=True)

    def save(file) -> None:
        file.write(program.model_proto.SerializeToString())

    write_atomically(path, save)
    return Path(path).stat().st_size


def onnx_session(path: str | Path, threads: int | None = None):
    """An onnxruntime inference session for the file at `path`, on the CPU (`threads`: intra-op threads; default all)."""
    import onnxruntime

    options = onnxruntime.SessionOptions()
    if threads is not None:
        options.intra_op_num_threads = threads
    return onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def run_onnx(session, images: torch.Tensor) -> torch.Tensor:
    """The logits of `images` (n x inputs, float32) computed by an onnxruntime `session`, as a torch tensor."""
    return torch.from_numpy(session.run(None, {"images": images.detach().cpu().float().numpy()})[0])


def to_int8(net: nn.Module) -> nn.Module:
    """A copy of `net` with every Linear layer's weights quantized to int8 (dynamic quantization, on the CPU).

    Weights are stored as 8-bit integers with one scale per layer; activations are quantized on the fly,
    batch by batch. `net` is not modified.
    """
    architecture(net)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return torch.ao.quantization.quantize_dynamic(copy.deepcopy(net).cpu().eval(), {nn.Linear}, dtype=torch.qint8)

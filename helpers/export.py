"""Shipping a pruned network outside PyTorch: ONNX files run by onnxruntime, and int8 dynamic quantization.

A masked network exported to ONNX is exactly as large as the dense one: the
zeros are stored like any other weight (users meet this as "my pruned ONNX
file did not get smaller"). Export the *compacted* network (`compact`) and the
file shrinks with the units removed. `to_onnx` writes one self-contained file
(weights inside, a dynamic batch dimension) atomically; `onnx_session` and
`run_onnx` run it with onnxruntime on the CPU; `to_int8` quantizes the Linear
layers to 8-bit integers with PyTorch's dynamic quantization.

`ship(net, form, path)` writes a network in one of the deployable `FORMS`
and `open_shipped(path, form)` reads it back into something that computes
logits, so that `deployment_table` can measure every form as a user gets it:
bytes of the file, accuracy of what was read back, and latency.

Used in 09_ship_it.
"""

from __future__ import annotations

import contextlib
import copy
import io
import logging
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path

import pandas as pd
import torch
from torch import nn

from helpers.compression import BITS, load_compressed, save_compressed
from helpers.data import Split
from helpers.deploy import csr_state, from_csr_state, time_calls, to_inference
from helpers.model import architecture, make_mlp, write_atomically
from helpers.pruning import compact

__all__ = ["to_onnx", "onnx_session", "run_onnx", "to_int8", "FORMS", "ship", "open_shipped", "deployment_table"]


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


# --- every deployable form, written to a file and read back ----------------------------------------------------

#: The forms `ship` writes: the state_dict as it is (zeros and all); CSR of the compacted network (helpers.deploy);
#: a Deep Compression file (helpers.compression); the state_dict of the compacted network; ONNX of the network as
#: it is ("ONNX, masked") or compacted ("ONNX"); int8 weights of the compacted network.
FORMS = ("state_dict", "CSR", "Deep Compression", "compacted", "ONNX, masked", "ONNX", "int8")


def _mlp_for(state: dict, suffix: str, weight=lambda value: value) -> nn.Sequential:
    """An empty MLP of this series with the widths of the weights stored under the keys ending in `suffix` (layer
    order: the number before the first dot); `weight` picks the weight tensor out of each value."""
    shapes = [weight(state[key]).shape for key in sorted((k for k in state if k.endswith(suffix)),
                                                         key=lambda k: int(k.split(".")[0]))]
    return make_mlp(tuple(s[0] for s in shapes[:-1]), inputs=shapes[0][1], classes=shapes[-1][0])


def ship(net: nn.Module, form: str, path: str | Path, bits: int = BITS) -> int:
    """Write `net` in one deployable `form` to `path` (atomically); return the file's size in bytes.

    Args:
        net: an MLP of this series, pruned or not (not modified); "Deep Compression" needs a pruned one, and
            shares its weights among 2^bits - 1 values per layer (train them first with `fine_tune_centroids`
            to keep the accuracy).
        form: one of `FORMS`.
        bits: bits per weight code, for "Deep Compression" only.

    Raises:
        ValueError: an unknown form (the message lists them), or what the form's writer refuses.
    """
    if form not in FORMS:
        raise ValueError(f"form must be one of {FORMS}, got {form!r}")
    net = copy.deepcopy(net).cpu().eval()
    if form == "Deep Compression":
        return save_compressed(net, path, bits=bits)
    if form in ("ONNX", "ONNX, masked"):
        return to_onnx(compact(net) if form == "ONNX" else net, path)
    state = {"state_dict": net.state_dict, "compacted": compact(net).state_dict,
             "CSR": lambda: csr_state(compact(net)), "int8": lambda: to_int8(compact(net)).state_dict()}[form]()
    write_atomically(path, lambda file: torch.save(state, file))
    return Path(path).stat().st_size


def open_shipped(path: str | Path, form: str) -> Callable[[torch.Tensor], torch.Tensor]:
    """Read a file written by `ship(net, form, path)` and return a function images -> logits, computed the way
    the form runs: nn.Sequential for "state_dict" and "Deep Compression" (decoded into dense weights),
    `to_inference` for "compacted", CSR products for "CSR", onnxruntime for the ONNX forms, PyTorch's int8
    kernels for "int8". Everything runs on the CPU.
    """
    if form not in FORMS:
        raise ValueError(f"form must be one of {FORMS}, got {form!r}")
    if form == "Deep Compression":
        model = load_compressed(path)
    elif form.startswith("ONNX"):
        session = onnx_session(path)
        return lambda images: run_onnx(session, images)
    else:
        with warnings.catch_warnings():  # int8 weights are stored through the deprecated TypedStorage
            warnings.simplefilter("ignore", UserWarning)
            state = torch.load(path, map_location="cpu", weights_only=True)
        if form == "CSR":
            model = from_csr_state(state)
        elif form == "int8":  # packed parameters are (weight, bias)
            model = to_int8(_mlp_for(state, "_packed_params._packed_params", weight=lambda packed: packed[0]))
            model.load_state_dict(state)
        else:
            model = _mlp_for(state, "weight")
            model.load_state_dict(state)
            if form == "compacted":
                model = to_inference(model)
    model.eval()

    def run(images: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            return model(images.cpu())

    return run


def _share(predicted: torch.Tensor, expected: torch.Tensor) -> float:
    """The share of `predicted` equal to `expected` (as `training.evaluate` counts: right / all)."""
    return int((predicted == expected.cpu()).sum()) / len(expected)


def deployment_table(networks: Sequence[dict], folder: str | Path, validation: Split, test: Split,
                     repeat: int = 7, single: int = 200) -> pd.DataFrame:
    """Every network in every form it ships in, measured as a user gets it: written with `ship`, read back with
    `open_shipped`, then its bytes, accuracy and time; all forms timed side by side (`time_calls`, round-robin).

    Args:
        networks: one dict per network: name, method, k, procedure, net, forms (a list of `FORMS`), and
            optionally bits (for "Deep Compression").
        folder: where the files are written (one per network and form).
        validation, test: accuracies are measured on both (choose on validation).
        repeat: timed calls of each form (the median is kept).
        single: each latency call runs this many single-image forwards, one after the other.

    Returns:
        One row per (network, form): name, method, k, procedure, form, bytes, validation_accuracy, accuracy
        (test), latency_ms (one image: the median over `repeat` rounds of the mean time per image, `single`
        images sent one at a time), batch_ms (the whole test set as one batch, median), agrees (share of test
        images on which the form predicts what the network in memory does), latency_iqr_ms and batch_iqr_ms
        (the interquartile ranges of the two timings: their spread).
    """
    folder = Path(folder)
    rows, runs = [], {}
    images = test.images.cpu()
    one = images[:single]
    for i, network in enumerate(networks):
        missing = {"name", "method", "k", "procedure", "net", "forms"} - set(network)
        if missing:
            raise ValueError(f"network {i} lacks the keys {sorted(missing)}")
        with torch.no_grad():
            expected = copy.deepcopy(network["net"]).cpu()(images).argmax(1)
        for form in network["forms"]:
            path = folder / f"{i}-{form.replace(', ', '-').replace(' ', '-')}.bin"
            size = ship(network["net"], form, path, **({"bits": network["bits"]} if "bits" in network else {}))
            run = open_shipped(path, form)
            key = f"{i}: {form}"
            runs[key] = run
            predicted = run(images).argmax(1)
            rows.append(dict(name=network["name"], method=network["method"], k=network["k"],
                             procedure=network["procedure"], form=form, bytes=size,
                             validation_accuracy=_share(run(validation.images).argmax(1), validation.labels),
                             accuracy=_share(predicted, test.labels), agrees=_share(predicted, expected), key=key))

    def one_by_one(run):
        return lambda: [run(one[j:j + 1]) for j in range(len(one))]

    latency = time_calls({key: one_by_one(run) for key, run in runs.items()}, repeat=repeat, warmup=1, device="cpu")
    batch = time_calls({key: (lambda run=run: run(images)) for key, run in runs.items()}, repeat=repeat, warmup=1,
                       device="cpu")
    table = pd.DataFrame(rows)
    table["latency_ms"] = [1e3 * latency[key]["median"] / len(one) for key in table["key"]]
    table["latency_iqr_ms"] = [1e3 * latency[key]["iqr"] / len(one) for key in table["key"]]
    table["batch_ms"] = [1e3 * batch[key]["median"] for key in table["key"]]
    table["batch_iqr_ms"] = [1e3 * batch[key]["iqr"] for key in table["key"]]
    return table.drop(columns="key")

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

Timings follow one rule (`timing_verdict`): the median over enough rounds with
its interquartile interval, and a ratio counts only when it exceeds
`SPEED_MARGIN` (1.5x) *and* the two intervals do not overlap; anything else is
"too close to call". `timing_comparisons` puts chosen pairs side by side.

Used in 09_ship_it.
"""

from __future__ import annotations

import contextlib
import copy
import io
import logging
import statistics
import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import pandas as pd
import torch
from torch import nn

from helpers.compression import BITS, check_storable, load_compressed, save_compressed
from helpers.data import Split
from helpers.deploy import SPEED_MARGIN, csr_state, from_csr_state, time_calls, to_inference
from helpers.model import architecture, make_mlp, write_atomically
from helpers.pruning import compact
from helpers.stats import TOO_CLOSE, paired

__all__ = ["to_onnx", "onnx_session", "run_onnx", "to_int8", "FORMS", "ship", "open_shipped", "deployment_table",
           "ROUNDS", "timing_verdict", "timing_comparisons"]

#: Timed rounds of each form in `deployment_table`: enough for a median and an interquartile interval that one
#: slow round (another process, a frequency change) does not move.
ROUNDS = 11


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
    """An onnxruntime inference session for the file at `path`, on the CPU.

    `threads`: intra-op threads; default `torch.get_num_threads()`, the threads PyTorch uses, so that timings of
    onnxruntime and PyTorch compare like with like (onnxruntime's own default is every core).
    """
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = torch.get_num_threads() if threads is None else threads
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
        net: an MLP of this series (a bias-free ReLU MLP as `make_mlp` builds it), pruned or not (not modified);
            "Deep Compression" needs a pruned one, and shares its weights among 2^bits - 1 values per layer
            (train them first with `fine_tune_centroids` to keep the accuracy). "ONNX, masked" takes any network.
        form: one of `FORMS`.
        bits: bits per weight code, for "Deep Compression" only.

    Raises:
        ValueError: an unknown form (the message lists them); a network that `open_shipped` would not read back
            as itself (a bias, another activation: `helpers.compression.check_storable`, which names the fix);
            or what the form's writer refuses. Nothing is written.
    """
    if form not in FORMS:
        raise ValueError(f"form must be one of {FORMS}, got {form!r}")
    if form != "ONNX, masked":  # every other form is read back into an MLP of this series
        check_storable(net)
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
    `to_inference` for "compacted", CSR products for "CSR", onnxruntime for the ONNX forms (with PyTorch's number
    of threads, `onnx_session`), PyTorch's int8 kernels for "int8". Everything runs on the CPU.
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


def _round_robin(functions: dict[str, Callable[[], object]], rounds: int) -> dict[str, tuple[float, float, float]]:
    """{name: (first quartile, median, third quartile) in seconds} of each function over `rounds` timed calls, all
    functions taking turns (`helpers.deploy.time_calls`, after one untimed call each); CPU only."""
    times: dict[str, list[float]] = {name: [] for name in functions}

    def timed(name, function):
        def call():
            started = time.perf_counter()
            function()
            times[name].append(time.perf_counter() - started)
        return call

    time_calls({name: timed(name, function) for name, function in functions.items()}, repeat=rounds, warmup=1,
               device="cpu")
    result = {}
    for name, values in times.items():
        values = values[1:]  # the first call is the untimed warm-up
        q1, median, q3 = statistics.quantiles(values, n=4) if len(values) > 1 else [values[0]] * 3
        result[name] = (q1, statistics.median(values), q3)
    return result


def deployment_table(networks: Sequence[dict], folder: str | Path, validation: Split, test: Split,
                     rounds: int = ROUNDS, single: int = 100, batch: int = 1000,
                     reference: str | None = None) -> pd.DataFrame:
    """Every network in every form it ships in, measured as a user gets it: written with `ship`, read back with
    `open_shipped`, then its bytes, accuracy and time; all forms timed side by side (round-robin).

    Args:
        networks: one dict per network: name, method, k, procedure, net, forms (a list of `FORMS`), and
            optionally bits (for "Deep Compression").
        folder: where the files are written (one per network and form).
        validation, test: accuracies are measured on both (choose on validation).
        rounds: timed rounds of each form (>= 3); each timing is the median over them, with its interquartile
            interval (first to third quartile).
        single: each latency round runs this many single-image forwards, one after the other.
        batch: each batch round runs the first `batch` test images as one batch.
        reference: the name of the network (in memory) that every form is compared with on validation by the
            paired test; default the first network.

    Returns:
        One row per (network, form): name, method, k, procedure, form, bytes, validation_accuracy, accuracy
        (test), agrees (share of test images on which the form predicts what its network in memory does), lost,
        gained, z and against (the paired test on validation against `reference`: images the reference gets right
        and the form wrong, the reverse, McNemar's z and the verdict "higher" / "lower" / "too close to call"),
        latency_ms (one image: the median over `rounds` of the mean time per image, `single` images sent one at a
        time) with latency_q1_ms and latency_q3_ms (its interquartile interval), and batch_ms (`batch` test
        images as one batch) with batch_q1_ms and batch_q3_ms.

    Raises:
        ValueError: a network lacks a key, `rounds` < 3, `single` or `batch` < 1, or `reference` names no network.
    """
    if isinstance(rounds, bool) or not isinstance(rounds, int) or rounds < 3:
        raise ValueError(f"rounds must be an integer >= 3 (a median and two quartiles), got {rounds!r}")
    for name, value in (("single", single), ("batch", batch)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be a positive integer (images), got {value!r}")
    for i, network in enumerate(networks):
        missing = {"name", "method", "k", "procedure", "net", "forms"} - set(network)
        if missing:
            raise ValueError(f"network {i} lacks the keys {sorted(missing)}")
    by_name = {network["name"]: network for network in networks}
    reference = networks[0]["name"] if reference is None else reference
    if reference not in by_name:
        raise ValueError(f"reference must name one of the networks {list(by_name)}, got {reference!r}")
    folder = Path(folder)
    rows, runs = [], {}
    images = test.images.cpu()
    one, many = images[:single], images[:batch]
    with torch.no_grad():
        reference_net = copy.deepcopy(by_name[reference]["net"]).cpu().eval()
        reference_right = reference_net(validation.images.cpu()).argmax(1) == validation.labels.cpu()
    for i, network in enumerate(networks):
        with torch.no_grad():
            expected = copy.deepcopy(network["net"]).cpu()(images).argmax(1)
        for form in network["forms"]:
            path = folder / f"{i}-{form.replace(', ', '-').replace(' ', '-')}.bin"
            size = ship(network["net"], form, path, **({"bits": network["bits"]} if "bits" in network else {}))
            run = open_shipped(path, form)
            key = f"{i}: {form}"
            runs[key] = run
            predicted = run(images).argmax(1)
            right = run(validation.images).argmax(1) == validation.labels.cpu()
            against = paired(right, reference_right)
            rows.append(dict(name=network["name"], method=network["method"], k=network["k"],
                             procedure=network["procedure"], form=form, bytes=size,
                             validation_accuracy=int(right.sum()) / len(right),
                             accuracy=_share(predicted, test.labels), agrees=_share(predicted, expected),
                             lost=against["b_only"], gained=against["a_only"], z=against["z"],
                             against=against["verdict"], key=key))

    def one_by_one(run):
        return lambda: [run(one[j:j + 1]) for j in range(len(one))]

    latency = _round_robin({key: one_by_one(run) for key, run in runs.items()}, rounds)
    batches = _round_robin({key: (lambda run=run: run(many)) for key, run in runs.items()}, rounds)
    table = pd.DataFrame(rows)
    for column, timings, per in (("latency", latency, len(one)), ("batch", batches, 1)):
        for position, suffix in enumerate(("q1_ms", "ms", "q3_ms")):
            table[f"{column}_{suffix}"] = [1e3 * timings[key][position] / per for key in table["key"]]
    return table.drop(columns="key")


def timing_verdict(times: Mapping[str, float], reference: Mapping[str, float], column: str = "latency_ms",
                   margin: float = SPEED_MARGIN) -> str:
    """The series' one timing rule: "faster", "slower" or "too close to call" for `times` against `reference`.

    A ratio of the medians counts only when it exceeds `margin` (1.5x) *and* the interquartile intervals do not
    overlap: one slow round cannot make a difference, and a steady small one is not called one either.

    Args:
        times, reference: rows of a `deployment_table` (or any mapping) with `column`, `column`'s q1 and q3
            (for "latency_ms": "latency_ms", "latency_q1_ms", "latency_q3_ms").
        column: "latency_ms" or "batch_ms".
        margin: the ratio that must be exceeded (> 1).

    >>> fast = {"latency_ms": 1.0, "latency_q1_ms": 0.9, "latency_q3_ms": 1.2}
    >>> slow = {"latency_ms": 2.0, "latency_q1_ms": 1.9, "latency_q3_ms": 2.2}
    >>> noisy = {"latency_ms": 2.0, "latency_q1_ms": 1.1, "latency_q3_ms": 5.0}
    >>> timing_verdict(fast, slow), timing_verdict(slow, fast), timing_verdict(fast, noisy)
    ('faster', 'slower', 'too close to call')
    """
    if isinstance(margin, bool) or not isinstance(margin, (int, float)) or not 1 < margin < float("inf"):
        raise ValueError(f"margin must be a finite number > 1, got {margin!r}")
    stem = column.removesuffix("_ms")
    low, median, high = (float(times[f"{stem}_q1_ms"]), float(times[column]), float(times[f"{stem}_q3_ms"]))
    low_ref, median_ref, high_ref = (float(reference[f"{stem}_q1_ms"]), float(reference[column]),
                                     float(reference[f"{stem}_q3_ms"]))
    if not 0 < low <= median <= high or not 0 < low_ref <= median_ref <= high_ref:
        raise ValueError(f"timings must be positive with q1 <= median <= q3, got {(low, median, high)} and "
                         f"{(low_ref, median_ref, high_ref)}")
    if median_ref / median > margin and high < low_ref:
        return "faster"
    if median / median_ref > margin and low > high_ref:
        return "slower"
    return TOO_CLOSE


def timing_comparisons(table: pd.DataFrame, pairs: Mapping[str, tuple[tuple[str, str], tuple[str, str]]],
                       margin: float = SPEED_MARGIN) -> pd.DataFrame:
    """Chosen pairs of a `deployment_table` timed against each other by `timing_verdict`, one row per pair and
    timing ("1 image": latency_ms; "batch": batch_ms).

    Args:
        table: a `deployment_table`.
        pairs: {label: ((name, form), (reference name, reference form))}.
        margin: as `timing_verdict`.

    Returns:
        Columns: comparison, timing, ms, interval (q1-q3), reference_ms, reference_interval, speedup (reference
        median / median: above 1 is faster), verdict.

    Raises:
        KeyError: a (name, form) that is not in the table.
    """
    at = table.set_index(["name", "form"])
    rows = []
    for label, (this, other) in pairs.items():
        for column, timing in (("latency_ms", "1 image"), ("batch_ms", "batch")):
            a, b = at.loc[this], at.loc[other]
            stem = column.removesuffix("_ms")
            rows.append(dict(comparison=label, timing=timing, ms=a[column],
                             interval=f"{a[f'{stem}_q1_ms']:.3g}-{a[f'{stem}_q3_ms']:.3g}", reference_ms=b[column],
                             reference_interval=f"{b[f'{stem}_q1_ms']:.3g}-{b[f'{stem}_q3_ms']:.3g}",
                             speedup=b[column] / a[column], verdict=timing_verdict(a, b, column, margin)))
    return pd.DataFrame(rows)

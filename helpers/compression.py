"""Deep Compression (Han, Mao and Dally 2016): pruning, then weight sharing, then Huffman coding, in one file.

A pruned network stored as a dense state_dict is as large as the unpruned one;
stored as CSR it still spends 32 bits on every kept weight and 32 on its column.
Deep Compression spends a few bits on each:

1. **Weight sharing** (`share_weights`): the nonzero weights of a layer are
   clustered by k-means in one dimension into 2^bits − 1 centroids (the
   initial centroids spread linearly between the smallest and the largest
   weight, as the paper recommends); each weight is replaced by the index of
   its centroid. Code 0 is kept for the value 0.
2. **Relative positions** (`relative_positions`): instead of a column index,
   each kept weight stores how many zeros were skipped since the previous one,
   in `index_bits` bits; a gap too long for that gets a *filler* entry, a
   stored zero (code 0), as in the paper.
3. **Huffman coding** (`huffman_lengths`, `huffman_encode`, `huffman_decode`):
   the codes and the gaps are two streams of small integers with skewed
   frequencies; a canonical Huffman code gives the frequent ones short bit
   strings. Only the code lengths are stored.

Steps 2 and 3, lossless, live in `helpers.coding` (and are re-exported here).

`save_compressed(net, path)` writes all of it in a versioned, checksummed file
(the header, which holds the shapes, codebooks and code tables, compressed by lzma)
(written to a temporary name, then renamed); `load_compressed(path)` reads it
back and refuses a truncated, corrupt or foreign file with a clear error.

The format holds the weight matrices of a bias-free ReLU MLP as `make_mlp` builds it
(Linear, ReLU, ..., Linear) and nothing else; `check_storable` refuses any other network
(biases, another activation, extra state) with a ValueError that names the problem and
the fix, rather than writing a file that reads back as a different network. The file
format, byte by byte, is on one page: docs/compressed_format.md
(https://github.com/pruning-mnist/pruning-mnist/blob/main/docs/compressed_format.md).

Used in 09_ship_it.
"""

from __future__ import annotations

import json
import lzma
import math
import struct
import tempfile
import zlib
from collections.abc import Sequence
from pathlib import Path

import pandas as pd
import torch
from torch import nn

from helpers.coding import (CompressedFileError, _coded_bytes, absolute_positions, check_bits, huffman_decode,
                            huffman_encode, huffman_lengths, relative_positions)
from helpers.data import Split
from helpers.model import architecture, linear_layers, make_mlp, write_atomically
from helpers.stats import paired
from helpers.training import correct

__all__ = ["FORMAT_VERSION", "MAGIC", "BITS", "CompressedFileError", "share_weights", "fine_tune_centroids",
           "relative_positions",
           "absolute_positions", "huffman_lengths", "huffman_encode", "huffman_decode", "save_compressed",
           "load_compressed", "shared_network", "check_bits", "check_storable", "STAGES", "size_stages", "choose_bits"]

#: The first bytes of every file `save_compressed` writes.
MAGIC = b"PRUNING-MNIST-DC"
#: The file layout version; `load_compressed` reads exactly this one (version 2: the header is lzma-compressed).
FORMAT_VERSION = 2
#: Bits per weight code: 2^5 − 1 = 31 shared values per layer (Han et al. use 5 bits for fully connected layers).
BITS = 5
#: The index widths `save_compressed` tries per layer for the gaps, keeping the one that gives the fewest bytes.
INDEX_BITS = tuple(range(1, 13))


#: What to do with a network the format cannot hold (the end of `check_storable`'s messages).
_FIX = ("the format holds only a bias-free ReLU MLP as make_mlp builds it (Linear, ReLU, ..., Linear, no bias): "
        "rebuild the network with helpers.model.make_mlp and copy its weights in, or ship this network as ONNX "
        "(helpers.export.to_onnx), which stores any graph")


def check_storable(net: nn.Module) -> list[int]:
    """Return the widths of `net` if a Deep Compression file can hold it; raise ValueError naming what it cannot.

    The file stores the weight matrices of an `nn.Sequential` of bias-free Linear layers with a ReLU between
    every two (what `make_mlp` builds) and nothing else; `load_compressed` rebuilds that network. Anything more
    would be dropped without a word and read back as another network, so it is refused: a bias, another
    activation or module, a Linear layer whose inputs do not match the layer before, extra entries in the
    state_dict (e.g. `torch.nn.utils.prune`'s weight_orig and weight_mask: call `prune.remove` first).

    Raises:
        ValueError: the first thing the format cannot hold, and the fix.

    >>> check_storable(make_mlp((4,), inputs=3, classes=2))
    [3, 4, 2]
    >>> check_storable(nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 2, bias=False)))  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: layer '0' has a bias, which a Deep Compression file cannot hold; the format holds only ...

    Used in 09_ship_it (through `save_compressed`, `shared_network` and `fine_tune_centroids`).
    """
    if not isinstance(net, nn.Sequential):
        raise ValueError(f"a Deep Compression file cannot hold a {type(net).__name__} (its forward pass is its own "
                         f"code, not a sequence of layers); {_FIX}")
    widths = architecture(net)  # raises when there is no Linear layer
    expected = make_mlp(tuple(widths[1:-1]), inputs=widths[0], classes=widths[-1])
    modules, reference = list(net.named_children()), list(expected)
    for position, (name, module) in enumerate(modules):
        want = type(reference[position]).__name__ if position < len(reference) else None
        if want is None:
            raise ValueError(f"module {name!r} ({type(module).__name__}) comes after the output layer, which a Deep "
                             f"Compression file cannot hold; {_FIX}")
        if type(module).__name__ != want or not isinstance(module, type(reference[position])):
            raise ValueError(f"module {name!r} is {type(module).__name__} where a Deep Compression file has {want}, "
                             f"and would read back as {want}; {_FIX}")
        if isinstance(module, nn.Linear):
            if module.bias is not None:
                raise ValueError(f"layer {name!r} has a bias, which a Deep Compression file cannot hold; {_FIX}")
            if module.in_features != widths[position // 2]:
                raise ValueError(f"layer {name!r} takes {module.in_features} inputs but the layer before gives "
                                 f"{widths[position // 2]}; {_FIX}")
    extra = sorted(set(net.state_dict()) - set(expected.state_dict()))
    if extra:
        raise ValueError(f"the network's state_dict holds {extra}, which a Deep Compression file cannot hold (pruned "
                         "with torch.nn.utils.prune? call prune.remove(layer, 'weight') on each layer first); " + _FIX)
    return widths


# --- 1. weight sharing -------------------------------------------------------------------------------------------

def share_weights(weight: torch.Tensor, bits: int = BITS, iterations: int = 50) -> tuple[torch.Tensor, torch.Tensor]:
    """1-D k-means of the nonzero entries of `weight` into at most 2^bits − 1 centroids.

    A weight with no more distinct nonzero values than that is returned exactly (each value its own centroid),
    so sharing an already shared network changes nothing.

    Args:
        weight: any tensor; its zeros stay zero (code 0).
        bits: bits per code, 1 to 8.
        iterations: Lloyd iterations at most (it stops when no weight changes cluster).

    Returns:
        (codebook, codes): codebook is float32 of length 2^bits with codebook[0] = 0; codes has the shape of
        `weight`, dtype uint8, 0 exactly where `weight` is 0. `codebook[codes.long()]` is the shared weight.

    >>> codebook, codes = share_weights(torch.tensor([0.0, 1.0, 1.1, -2.0, -1.9]), bits=2)
    >>> codebook[codes.long()].tolist()
    [0.0, 1.0499999523162842, 1.0499999523162842, -1.9500000476837158, -1.9500000476837158]
    """
    check_bits(bits)
    flat = weight.detach().flatten().float().cpu()
    nonzero = flat != 0
    values = flat[nonzero]
    clusters = 2**bits - 1
    codebook = torch.zeros(2**bits)
    codes = torch.zeros(flat.shape, dtype=torch.uint8)
    if len(values) == 0:
        return codebook, codes.view(weight.shape)
    distinct, inverse = torch.unique(values, return_inverse=True)
    if len(distinct) <= clusters:  # already shared (e.g. by `fine_tune_centroids`): every value is its own centroid
        codebook[1 : len(distinct) + 1] = distinct
        codes[nonzero] = (inverse + 1).to(torch.uint8)
        return codebook, codes.view(weight.shape)
    centroids = torch.linspace(values.min().item(), values.max().item(), min(clusters, len(values)))
    assignment = None
    for _ in range(iterations):
        order = torch.argsort(centroids)
        centroids = centroids[order]
        boundaries = (centroids[1:] + centroids[:-1]) / 2  # nearest centroid: between two midpoints
        new = torch.bucketize(values, boundaries)
        if assignment is not None and torch.equal(new, assignment):
            break
        assignment = new
        sums = torch.zeros(len(centroids)).index_add_(0, assignment, values)
        counts = torch.bincount(assignment, minlength=len(centroids))
        centroids = torch.where(counts > 0, sums / counts.clamp(min=1), centroids)  # an empty cluster stays put
    codebook[1 : len(centroids) + 1] = centroids
    codes[nonzero] = (assignment + 1).to(torch.uint8)
    return codebook, codes.view(weight.shape)


def _shared_forward(codebooks: list[torch.Tensor], codes: list[torch.Tensor], images: torch.Tensor) -> torch.Tensor:
    """The MLP's forward pass with each layer's weight looked up as codebook[codes] (so gradients reach the codebook)."""
    h = images
    for i, (codebook, code) in enumerate(zip(codebooks, codes)):
        h = h @ codebook[code].T
        if i < len(codes) - 1:
            h = torch.relu(h)
    return h


def fine_tune_centroids(net: nn.Module, train: Split, bits: int = BITS, epochs: int = 1, lr: float = 1e-4,
                        batch_size: int = 128, seed: int = 0) -> nn.Sequential:
    """Weight sharing, then training of the shared values themselves (Han et al. 2016, section 3.1).

    The clusters stay as `share_weights` made them; each centroid's gradient is the sum of the gradients of the
    weights that share it (autograd through codebook[codes] computes exactly that), and Adam's step on that summed
    gradient moves it (with SGD, as Han et al., the step would be lr times the sum). Code 0 stays 0, so the
    pruned weights stay pruned. Adam at `lr`; `net` is not modified.

    Returns:
        A network whose weights are the trained shared values (at most 2^bits − 1 distinct nonzero values per layer).

    Raises:
        ValueError: bits out of 1-8, epochs not a positive integer, or a network the format cannot hold
            (`check_storable`: the shared forward pass is that of a bias-free ReLU MLP).
    """
    check_bits(bits)
    check_storable(net)
    if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 1:
        raise ValueError(f"epochs must be a positive integer, got {epochs!r}")
    device = next(net.parameters()).device
    pairs = [share_weights(layer.weight, bits) for _, layer in linear_layers(net)]
    codebooks = [codebook.to(device).requires_grad_() for codebook, _ in pairs]
    codes = [code.long().to(device) for _, code in pairs]
    optimizer = torch.optim.Adam(codebooks, lr=lr)
    generator = torch.Generator().manual_seed(seed)
    images, labels = train.images.to(device), train.labels.to(device)
    for _ in range(epochs):
        order = torch.randperm(len(train), generator=generator).to(device)
        for start in range(0, len(train), batch_size):
            batch = order[start : start + batch_size]
            loss = nn.functional.cross_entropy(_shared_forward(codebooks, codes, images[batch]), labels[batch])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            for codebook in codebooks:
                codebook.grad[0] = 0  # the value of pruned weights stays exactly 0
            optimizer.step()
    tuned = shared_network(net, bits)
    with torch.no_grad():
        for (_, layer), codebook, code in zip(linear_layers(tuned), codebooks, codes):
            layer.weight.copy_(codebook.detach()[code])
    return tuned


# --- the file ----------------------------------------------------------------------------------------------------

def _encode_layer(weight: torch.Tensor, bits: int, index_bits: Sequence[int]) -> tuple[dict, bytes, bytes]:
    codebook, codes = share_weights(weight, bits)
    best = None
    for width in index_bits:  # the gap width that gives the fewest coded bytes for this layer
        gaps, stored = relative_positions(codes, width)
        size = _coded_bytes(gaps) + _coded_bytes(stored)
        if best is None or size < best[0]:
            best = (size, width, gaps, stored)
    _, width, gaps, stored = best
    gap_lengths, code_lengths = huffman_lengths(gaps), huffman_lengths(stored)
    header = dict(shape=list(weight.shape), bits=bits, index_bits=width, entries=len(gaps),
                  codebook=codebook.tolist(), gap_lengths=sorted(gap_lengths.items()),
                  code_lengths=sorted(code_lengths.items()))
    return header, huffman_encode(gaps, gap_lengths), huffman_encode(stored, code_lengths)


def shared_network(net: nn.Module, bits: int = BITS) -> nn.Sequential:
    """A copy of `net` with every Linear layer's weights replaced by their shared values (what a compressed file holds).

    Raises:
        ValueError: a network the format cannot hold (`check_storable`), or bits out of 1-8.
    """
    widths = check_storable(net)
    shared = make_mlp(tuple(widths[1:-1]), inputs=widths[0], classes=widths[-1])
    shared.load_state_dict(net.state_dict())
    with torch.no_grad():
        for _, layer in linear_layers(shared):
            codebook, codes = share_weights(layer.weight, bits)
            layer.weight.copy_(codebook[codes.long()].to(layer.weight))
    return shared.to(next(net.parameters()).device)


def save_compressed(net: nn.Module, path: str | Path, bits: int = BITS,
                    index_bits: Sequence[int] = INDEX_BITS) -> int:
    """Write `net` (a pruned MLP of this series) as a Deep Compression file; return its size in bytes.

    The layout, byte by byte, is in docs/compressed_format.md.

    Args:
        net: the network, a bias-free ReLU MLP as `make_mlp` builds it; its zeros are what relative positions skip.
        path: the file; written to a temporary name in the same folder and renamed when complete.
        bits: bits per weight code (1 to 8): 2^bits − 1 shared values per layer.
        index_bits: the gap widths to try per layer (1 to 16 each); the one giving the fewest bytes is used.

    Raises:
        ValueError: a network the format cannot hold (a bias, another activation or module, extra state: see
            `check_storable`; the message names the problem and the fix); bits or an index width out of range;
            a network with no zero weight in its hidden layers (nothing pruned: relative positions would cost
            more than they save; prune it first). Nothing is written.
    """
    check_storable(net)
    check_bits(bits)
    index_bits = [check_bits(width, "index_bits", 1, 16) for width in index_bits]
    if not index_bits:
        raise ValueError("index_bits must name at least one gap width, e.g. (4, 8)")
    layers = linear_layers(net)
    if all(bool((layer.weight != 0).all()) for _, layer in layers[:-1]):
        raise ValueError("the network is not pruned (no hidden layer has a zero weight): relative positions would "
                         "store every weight and save nothing; prune it first, e.g. prune(net, 99)")
    headers, payload = [], bytearray()
    for name, layer in layers:
        header, gap_bytes, code_bytes = _encode_layer(layer.weight, bits, index_bits)
        header.update(name=name, gap_bytes=len(gap_bytes), code_bytes=len(code_bytes))
        headers.append(header)
        payload += gap_bytes + code_bytes
    # the header (shapes, codebooks, code tables) is JSON, compressed: the code tables are long lists of small integers
    header = lzma.compress(json.dumps(dict(architecture=architecture(net), layers=headers), separators=(",", ":")).encode())
    body = MAGIC + struct.pack("<HI", FORMAT_VERSION, len(header)) + header + struct.pack("<Q", len(payload)) + payload
    data = body + struct.pack("<I", zlib.crc32(body))
    write_atomically(path, lambda file: file.write(data))
    return len(data)


def load_compressed(path: str | Path, device: torch.device | str = "cpu") -> nn.Sequential:
    """Read a file written by `save_compressed` back into a network (its weights are the shared values).

    Raises:
        FileNotFoundError: no such file.
        CompressedFileError: not a file of this format, another format version, truncated, or corrupt (the
            checksum or the coded streams do not match), or a header that does not describe the layers of its own
            architecture (a missing key, a wrong type, an unknown, missing or misshapen layer, streams longer than
            the payload). Nothing is returned half-read.
    """
    path = Path(path)
    data = path.read_bytes()
    if not data.startswith(MAGIC):
        raise CompressedFileError(f"{path} is not a Deep Compression file of this project (it does not start with "
                                  f"{MAGIC!r}); write one with save_compressed(net, path)")
    fixed = len(MAGIC) + struct.calcsize("<HI")
    if len(data) < fixed:
        raise CompressedFileError(f"{path} is truncated: {len(data)} bytes, shorter than its own header")
    version, header_length = struct.unpack_from("<HI", data, len(MAGIC))
    if version != FORMAT_VERSION:
        raise CompressedFileError(f"{path} has format version {version}; this code reads version {FORMAT_VERSION} only")
    expected = fixed + header_length + 8
    if len(data) >= expected:
        (payload_length,) = struct.unpack_from("<Q", data, fixed + header_length)
        expected += payload_length + 4
    if len(data) != expected:
        raise CompressedFileError(f"{path} is truncated or has trailing bytes: {len(data)} bytes, its header says "
                                  f"{expected}; write it again with save_compressed")
    (checksum,) = struct.unpack_from("<I", data, len(data) - 4)
    if zlib.crc32(data[:-4]) != checksum:
        raise CompressedFileError(f"{path} is corrupt: its checksum does not match its contents")
    try:
        header = json.loads(lzma.decompress(data[fixed : fixed + header_length]))
    except (lzma.LZMAError, ValueError) as error:  # a checksum that matches a damaged header: written by other code
        raise CompressedFileError(f"{path} has an unreadable header ({error}); write it again with save_compressed") from error
    net = _check_header(header, path, payload_length)
    modules = dict(net.named_modules())
    at = fixed + header_length + 8
    with torch.no_grad():
        for layer in header["layers"]:
            gap_data = data[at : at + layer["gap_bytes"]]
            code_data = data[at + layer["gap_bytes"] : at + layer["gap_bytes"] + layer["code_bytes"]]
            at += layer["gap_bytes"] + layer["code_bytes"]
            gaps = huffman_decode(gap_data, dict(map(tuple, layer["gap_lengths"])), layer["entries"])
            codes = huffman_decode(code_data, dict(map(tuple, layer["code_lengths"])), layer["entries"])
            numel = math.prod(layer["shape"])
            flat = absolute_positions(gaps, codes, numel)
            codebook = torch.tensor(layer["codebook"], dtype=torch.float32)
            modules[layer["name"]].weight.copy_(codebook[flat.long()].view(layer["shape"]))
    return net.to(device).eval()


def _check_header(header: object, path: Path, payload_length: int) -> nn.Sequential:
    """The empty network `header` describes, if its layers are exactly those of its architecture, in order, with the
    right shapes and well-typed fields; CompressedFileError otherwise (written by other code, or forged)."""
    def refuse(problem: str):
        return CompressedFileError(f"{path} has a header that {problem}; write it again with save_compressed")

    def is_int(value, low=0):
        return isinstance(value, int) and not isinstance(value, bool) and value >= low

    if not isinstance(header, dict) or not isinstance(header.get("architecture"), list) \
            or not isinstance(header.get("layers"), list):
        raise refuse("lacks the architecture or the list of layers")
    widths = header["architecture"]
    if len(widths) < 2 or not all(is_int(width, 1) for width in widths):
        raise refuse(f"has an architecture that is not a list of at least two positive widths: {widths!r}")
    net = make_mlp(tuple(widths[1:-1]), inputs=widths[0], classes=widths[-1])
    expected = [(name, list(layer.weight.shape)) for name, layer in linear_layers(net)]
    layers = header["layers"]
    keys = {"name": str, "shape": list, "bits": int, "index_bits": int, "entries": int, "codebook": list,
            "gap_lengths": list, "code_lengths": list, "gap_bytes": int, "code_bytes": int}
    for layer in layers:
        if not isinstance(layer, dict) or any(not isinstance(layer.get(key), kind) or isinstance(layer.get(key), bool)
                                              for key, kind in keys.items()):
            raise refuse(f"lists a layer without all of {sorted(keys)} of the right types")
        if not 1 <= layer["bits"] <= 8 or len(layer["codebook"]) != 2 ** layer["bits"] \
                or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in layer["codebook"]):
            raise refuse(f"gives layer {layer['name']!r} a codebook that is not 2^bits numbers")
        for key in ("gap_lengths", "code_lengths"):
            if not all(isinstance(pair, list) and len(pair) == 2 and all(is_int(v) for v in pair) for pair in layer[key]):
                raise refuse(f"gives layer {layer['name']!r} a {key} that is not a list of [symbol, length] pairs")
    if [(layer["name"], layer["shape"]) for layer in layers] != expected:
        raise refuse(f"lists the layers {[(layer['name'], layer['shape']) for layer in layers]}, not those of its "
                     f"architecture {widths}: {expected}")
    if any(layer["entries"] < 0 or layer["gap_bytes"] < 0 or layer["code_bytes"] < 0 for layer in layers) \
            or sum(layer["gap_bytes"] + layer["code_bytes"] for layer in layers) != payload_length:
        raise refuse("gives stream lengths that do not add up to the payload")
    return net


# --- where the bytes go --------------------------------------------------------------------------------------------

#: The steps of the pipeline, in order, as `size_stages` names them.
STAGES = ("dense: 32-bit floats", "pruned: 32-bit values + relative positions",
          "weight sharing: codes + relative positions + codebook", "Huffman coding of both streams + codebook",
          "the file: + header and checksum")


def size_stages(net: nn.Module, bits: int = BITS, index_bits: Sequence[int] = INDEX_BITS) -> pd.DataFrame:
    """The bytes of `net`'s weights after each step of Deep Compression (Han et al. 2016, figure 1), layer by layer:

    1. dense: every weight a 32-bit float;
    2. pruned: each kept weight a 32-bit value plus its gap in a fixed width (the width that gives the fewest
       bytes for the layer), fillers included;
    3. weight sharing: each entry a `bits`-bit code plus its gap (fixed widths again), plus the layer's codebook of
       2^bits − 1 float32 values;
    4. Huffman coding: the gaps and the codes Huffman-coded (at the gap width `save_compressed` picks), plus the
       codebook; the code tables are counted in step 5;
    5. the file `save_compressed` writes: step 4 plus its header (shapes, codebooks, code lengths: JSON compressed
       by lzma), magic string, version and checksum. This step is measured on a file actually written.

    Steps 3-5 share `net`'s weights first (what `shared_network` does); a network whose weights are already
    shared (`fine_tune_centroids`) is stored exactly.

    Returns:
        One row per step: stage (`STAGES`), bytes, bits_per_weight (bits per nonzero weight), smaller
        (step 1's bytes / these).

    Raises:
        ValueError: as `save_compressed` (bits or widths out of range, a network with nothing pruned).
    """
    with tempfile.TemporaryDirectory() as folder:
        file_bytes = save_compressed(net, Path(folder) / "net.dc", bits, index_bits)  # checks every argument
    totals = [0, 0, 0, 0]
    kept = 0
    for _, layer in linear_layers(net):
        codebook_bits = (2**bits - 1) * 32
        codebook, codes = share_weights(layer.weight, bits)
        kept += int((layer.weight != 0).sum())
        streams = {width: relative_positions(codes, width) for width in index_bits}
        entries = {width: len(gaps) for width, (gaps, _) in streams.items()}
        coded = min(_coded_bytes(gaps) + _coded_bytes(stored) for gaps, stored in streams.values())
        totals[0] += layer.weight.numel() * 4
        totals[1] += math.ceil(min(n * (32 + width) for width, n in entries.items()) / 8)
        totals[2] += math.ceil((min(n * (bits + width) for width, n in entries.items()) + codebook_bits) / 8)
        totals[3] += coded + codebook_bits // 8
    table = pd.DataFrame(dict(stage=list(STAGES), bytes=totals + [file_bytes]))
    table["bits_per_weight"] = 8 * table["bytes"] / kept
    table["smaller"] = totals[0] / table["bytes"]
    return table


def choose_bits(net: nn.Module, validation: Split, candidates: Sequence[int] = range(2, 9)) -> tuple[int, pd.DataFrame]:
    """The fewest bits per weight code from which no candidate is clearly less accurate on `validation` than `net`.

    Each candidate shares `net`'s weights (`shared_network`, k-means only) and is scored on `validation` image by
    image; "clearly less accurate" is the paired test (`helpers.stats.paired`, McNemar's: the images `net` gets
    right and the shared network wrong against the reverse, z < -2) saying "lower". The choice is the fewest bits
    b such that neither b nor any larger candidate is "lower": each row is its own test, so a row with more bits
    can be called lower when one with fewer is not, and the rule does not pick a b that more bits would contradict.
    It leans to the cheaper option otherwise: a loss the test calls "too close to call" is accepted.

    Returns:
        (bits, table): the choice, and one row per candidate (index bits): values_per_layer, validation_accuracy,
        file_bytes (the file `save_compressed` writes), lost and gained (validation images `net` gets right and
        the shared network wrong, and the reverse), net (gained - lost), z and against (the paired test's verdict of the shared
        network against `net`: "higher", "lower" or "too close to call").

    Raises:
        ValueError: no candidate, a candidate out of 1-8, a network the format cannot hold (`check_storable`) or
            with nothing pruned; the largest candidate clearly less accurate (try more bits).
    """
    candidates = sorted(check_bits(b) for b in candidates)
    if not candidates:
        raise ValueError("candidates must name at least one number of bits, e.g. range(2, 9)")
    check_storable(net)
    reference = correct(net, validation)
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        for bits in candidates:
            shared = shared_network(net, bits)
            right = correct(shared, validation)
            test = paired(right, reference)
            rows.append(dict(bits=bits, values_per_layer=2**bits - 1, validation_accuracy=int(right.sum()) / len(right),
                             file_bytes=save_compressed(shared, Path(folder) / "net.dc", bits=bits),
                             lost=test["b_only"], gained=test["a_only"], net=test["a_only"] - test["b_only"],
                             z=test["z"], against=test["verdict"]))
    table = pd.DataFrame(rows).set_index("bits")
    lower = (table["against"] == "lower").tolist()
    good = [b for i, b in enumerate(table.index) if not any(lower[i:])]  # b and every larger candidate not lower
    if not good:
        raise ValueError(f"the largest candidate ({candidates[-1]} bits) is clearly less accurate than the network on "
                         f"validation ({100 * int(reference.sum()) / len(reference):.2f}%); try more bits")
    return int(good[0]), table

"""helpers.compression and helpers.coding: weight sharing, relative positions, Huffman coding and the file, on small
networks."""

import copy
import json
import lzma
import math
import os
import struct
import zlib
from collections import Counter
from pathlib import Path

import pytest
import torch
import torch.nn.utils.prune as torch_prune
from hypothesis import given, settings
from hypothesis import strategies as st

from helpers import coding, compression
from helpers.coding import (CompressedFileError, absolute_positions, huffman_decode, huffman_encode, huffman_lengths,
                            relative_positions)
from helpers.compression import (FORMAT_VERSION, MAGIC, STAGES, check_storable, choose_bits, fine_tune_centroids,
                                 load_compressed, save_compressed, share_weights, shared_network, size_stages)
from helpers.data import Split
from helpers.stats import paired, verdict
from helpers.training import correct, evaluate
from helpers.model import make_mlp, save_checkpoint
from helpers.pruning import prune


@pytest.mark.parametrize("name", ["CompressedFileError", "check_bits", "relative_positions", "absolute_positions",
                                  "huffman_lengths", "huffman_encode", "huffman_decode"])
def test_the_coding_old_import_path_gives_the_same_object(name):
    assert getattr(compression, name) is getattr(coding, name) and name in compression.__all__


def small(k=90, seed=0):
    torch.manual_seed(seed)
    return prune(make_mlp((40, 30), inputs=50, classes=5), k)


@given(seed=st.integers(0, 10_000), density=st.floats(0.0, 1.0), numel=st.integers(1, 3000),
       index_bits=st.integers(1, 10))
@settings(max_examples=60, deadline=None)
def test_relative_positions_round_trip_on_random_masks_including_long_gaps(seed, density, numel, index_bits):
    generator = torch.Generator().manual_seed(seed)
    codes = torch.randint(1, 32, (numel,), generator=generator, dtype=torch.uint8)
    codes[torch.rand(numel, generator=generator) >= density] = 0
    gaps, stored = relative_positions(codes, index_bits)
    assert all(0 <= gap < 2**index_bits for gap in gaps)
    assert torch.equal(absolute_positions(gaps, stored, numel), codes)
    # one entry per kept weight, plus one filler per full gap that a long run of zeros needs
    positions = torch.nonzero(codes).flatten().tolist()
    fillers = sum((b - a - 1) // 2**index_bits for a, b in zip([-1] + positions, positions))
    assert len(gaps) == len(positions) + fillers and stored.count(0) == fillers


@given(symbols=st.lists(st.integers(0, 40), min_size=0, max_size=400))
@settings(max_examples=80, deadline=None)
def test_huffman_round_trips_and_is_optimal_within_the_entropy_bounds(symbols):
    lengths = huffman_lengths(symbols)
    data = huffman_encode(symbols, lengths)
    assert huffman_decode(data, lengths, len(symbols)) == symbols
    if len(set(symbols)) > 1:
        assert sum(2.0 ** -length for length in lengths.values()) == pytest.approx(1.0)  # a complete prefix code
        counts = Counter(symbols)
        n = len(symbols)
        entropy = -sum(c / n * math.log2(c / n) for c in counts.values())
        average = sum(counts[s] * lengths[s] for s in counts) / n
        assert entropy - 1e-9 <= average < entropy + 1  # Shannon's bounds, which an optimal code meets
        assert len(data) == -(-sum(counts[s] * lengths[s] for s in counts) // 8)  # whole bits, rounded up to bytes


def test_huffman_codes_are_prefix_free():
    lengths = huffman_lengths([0] * 50 + [1] * 20 + [2] * 20 + [3] * 5 + [4] * 5 + [5])
    codes = [format(code, f"0{length}b") for code, length in coding._canonical(lengths).values()]
    assert not any(a != b and b.startswith(a) for a in codes for b in codes)


@given(seed=st.integers(0, 1000), bits=st.integers(1, 6))
@settings(max_examples=30, deadline=None)
def test_shared_weights_are_a_converged_k_means_that_keeps_the_zeros(seed, bits):
    generator = torch.Generator().manual_seed(seed)
    weight = torch.randn(30, 20, generator=generator)
    weight[torch.rand(30, 20, generator=generator) < 0.5] = 0
    codebook, codes = share_weights(weight, bits)
    assert codebook[0] == 0 and torch.equal(codes == 0, weight == 0)
    assert len(codebook) == 2**bits and int(codes.max()) < 2**bits
    values, assigned = weight[weight != 0], codes[weight != 0].long()
    used = sorted(set(assigned.tolist()))
    for code in used:  # each centroid is the mean of its cluster ...
        assert codebook[code] == pytest.approx(values[assigned == code].mean().item(), abs=1e-5)
    distances = (values[:, None] - codebook[used][None, :]).abs()
    chosen = (values - codebook[assigned]).abs()
    assert (chosen <= distances.min(dim=1).values + 1e-6).all()  # ... and each weight sits at its nearest centroid


def test_a_file_round_trips_to_the_shared_network_exactly(tmp_path):
    net = small()
    size = save_compressed(net, tmp_path / "net.dc", bits=4)
    assert size == (tmp_path / "net.dc").stat().st_size
    loaded, expected = load_compressed(tmp_path / "net.dc"), shared_network(net, bits=4)
    assert all(torch.equal(a, b) for a, b in zip(loaded.state_dict().values(), expected.state_dict().values()))
    images = torch.randn(64, 50)
    assert torch.equal(loaded(images).argmax(1), expected(images).argmax(1))
    for layer, original in zip(loaded, net):  # the zeros stay where pruning put them
        if isinstance(layer, torch.nn.Linear):
            assert torch.equal(layer.weight == 0, original.weight == 0)
            assert len(torch.unique(layer.weight)) <= 2**4


def test_the_file_is_far_smaller_than_the_dense_state_dict_and_csr(tmp_path):
    torch.manual_seed(0)
    net = prune(make_mlp((400, 300), inputs=784, classes=10), 95)
    size = save_compressed(net, tmp_path / "net.dc")
    nonzero = sum(int((p != 0).sum()) for p in net.parameters())
    assert size < nonzero * 2  # under 2 bytes per kept weight (CSR: 8, a float and an int32 column)
    torch.save(net.state_dict(), tmp_path / "dense.pt")
    assert (tmp_path / "dense.pt").stat().st_size > 40 * size


def test_bad_files_are_refused_with_the_reason(tmp_path):
    path = tmp_path / "net.dc"
    save_compressed(small(), path)
    data = path.read_bytes()
    (tmp_path / "short.dc").write_bytes(data[:-10])
    with pytest.raises(CompressedFileError, match="truncated"):
        load_compressed(tmp_path / "short.dc")
    flipped = bytearray(data)
    flipped[len(flipped) // 2] ^= 0x40
    (tmp_path / "flipped.dc").write_bytes(bytes(flipped))
    with pytest.raises(CompressedFileError, match="corrupt"):
        load_compressed(tmp_path / "flipped.dc")
    save_checkpoint(make_mlp((4,)), tmp_path / "checkpoint.pt")
    with pytest.raises(CompressedFileError, match="not a Deep Compression file"):
        load_compressed(tmp_path / "checkpoint.pt")
    newer = bytearray(data)
    struct.pack_into("<H", newer, len(MAGIC), FORMAT_VERSION + 1)
    (tmp_path / "newer.dc").write_bytes(bytes(newer))
    with pytest.raises(CompressedFileError, match=f"format version {FORMAT_VERSION + 1}; this code reads version {FORMAT_VERSION}"):
        load_compressed(tmp_path / "newer.dc")
    with pytest.raises(FileNotFoundError):
        load_compressed(tmp_path / "missing.dc")
    # a damaged header under a checksum that matches it (a writer other than save_compressed) is refused too
    start = len(MAGIC) + struct.calcsize("<HI")
    forged = bytearray(data[:-4])
    forged[start : start + 6] = b"garbag"
    (tmp_path / "forged.dc").write_bytes(bytes(forged) + struct.pack("<I", zlib.crc32(bytes(forged))))
    with pytest.raises(CompressedFileError, match="unreadable header"):
        load_compressed(tmp_path / "forged.dc")


@pytest.mark.parametrize("bits", [0, 9, 2.5, True, "5"])
def test_bits_out_of_range_are_refused(bits, tmp_path):
    with pytest.raises(ValueError, match="bits must be an integer from 1 to 8"):
        save_compressed(small(), tmp_path / "net.dc", bits=bits)
    assert not list(tmp_path.iterdir())


def test_an_unpruned_network_is_refused_and_a_failed_save_leaves_no_file(tmp_path, monkeypatch):
    with pytest.raises(ValueError, match="not pruned.*prune it first"):
        save_compressed(make_mlp((8,), inputs=10, classes=3), tmp_path / "net.dc")
    path = tmp_path / "net.dc"
    save_compressed(small(seed=1), path)
    before = path.read_bytes()

    def broken(source, target):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", broken)
    with pytest.raises(OSError, match="disk full"):
        save_compressed(small(seed=2), path)
    assert path.read_bytes() == before and [p.name for p in tmp_path.iterdir()] == ["net.dc"]  # no partial file


def test_a_centroid_moves_by_the_sum_of_its_weights_gradients_and_the_clusters_stay():
    net = small(80)
    images, labels = torch.randn(32, 50), torch.randint(0, 5, (32,))
    pairs = [share_weights(layer.weight, 3) for layer in net if isinstance(layer, torch.nn.Linear)]
    codebooks = [codebook.clone().requires_grad_() for codebook, _ in pairs]
    codes = [code.long() for _, code in pairs]
    torch.nn.functional.cross_entropy(compression._shared_forward(codebooks, codes, images), labels).backward()
    # the reference: autograd on the dense shared weights of an ordinary network, summed by cluster
    dense = shared_network(net, 3)
    torch.nn.functional.cross_entropy(dense(images), labels).backward()
    for codebook, code, layer in zip(codebooks, codes, [m for m in dense if isinstance(m, torch.nn.Linear)]):
        summed = torch.zeros(len(codebook)).index_add_(0, code.flatten(), layer.weight.grad.flatten())
        assert torch.allclose(codebook.grad, summed, atol=1e-6)


def test_fine_tuned_centroids_keep_the_codes_and_the_zeros_and_lower_the_loss():
    torch.manual_seed(0)
    net = small(70)
    data = Split(torch.randn(512, 50), torch.randint(0, 5, (512,)))
    before = shared_network(net, 3)
    tuned = fine_tune_centroids(net, data, bits=3, epochs=3, lr=1e-2)
    loss = lambda m: torch.nn.functional.cross_entropy(m(data.images), data.labels).item()
    assert loss(tuned) < loss(before)
    for a, b in zip([m for m in tuned if isinstance(m, torch.nn.Linear)], [m for m in before if isinstance(m, torch.nn.Linear)]):
        assert torch.equal(a.weight == 0, b.weight == 0)
        # the same clusters: weights equal before are equal after, so at most 2^3 - 1 nonzero values
        _, inverse = torch.unique(b.weight, return_inverse=True)
        for value in inverse.unique():
            assert len(a.weight[inverse == value].unique()) == 1
    assert all(torch.equal(x, y) for x, y in zip(net.state_dict().values(), small(70).state_dict().values()))
    with pytest.raises(ValueError, match="epochs must be a positive integer"):
        fine_tune_centroids(net, data, epochs=0)


def test_sharing_shared_weights_changes_nothing(tmp_path):
    net = small()
    once = shared_network(net, 4)
    assert all(torch.equal(a, b) for a, b in zip(shared_network(once, 4).state_dict().values(), once.state_dict().values()))
    save_compressed(once, tmp_path / "net.dc", bits=4)
    assert all(torch.equal(a, b) for a, b in zip(load_compressed(tmp_path / "net.dc").state_dict().values(),
                                                 once.state_dict().values()))


def tiny():
    """Two layers by hand: layer 0 keeps positions 0 and 7 of 8 (gaps 0 and 6), layer 2 keeps both its weights."""
    net = make_mlp((2,), inputs=4, classes=1)
    with torch.no_grad():
        net[0].weight.copy_(torch.tensor([[1.0, 0, 0, 0], [0, 0, 0, 2.0]]))
        net[2].weight.copy_(torch.tensor([[3.0, 4.0]]))
    return net


def test_size_stages_counts_the_bits_of_each_step_exactly():
    stages = size_stages(tiny(), bits=1).set_index("stage")["bytes"]
    assert list(stages.index) == list(STAGES)
    assert stages.iloc[0] == 4 * 10  # ten 32-bit floats
    # layer 0: 2 entries of 32 + 3 bits at gap width 3 (a gap of 6 fits; narrower widths need fillers) = 70 bits
    # -> 9 bytes; layer 2: 2 entries of 32 + 1 bits = 66 bits -> 9 bytes
    assert stages.iloc[1] == 9 + 9
    # one shared value per layer (1 bit): layer 0 2 x (1 + 3) + 32 bits of codebook = 40 bits; layer 2 2 x 2 + 32 = 36
    assert stages.iloc[2] == 5 + 5


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_size_stages_shrink_step_by_step_and_end_at_the_file(tmp_path, seed):
    net = small(k=95, seed=seed)
    stages = size_stages(net)
    assert stages["bytes"].iloc[:4].is_monotonic_decreasing  # each of Han et al.'s steps makes the weights smaller
    assert stages["bytes"].iloc[-1] == save_compressed(net, tmp_path / "net.dc")  # the last step is the real file
    kept = sum(int((p != 0).sum()) for p in net.parameters())
    assert stages["bits_per_weight"].tolist() == pytest.approx((8 * stages["bytes"] / kept).tolist())
    assert stages["smaller"].iloc[0] == 1 and stages["bytes"].iloc[0] == 4 * sum(p.numel() for p in net.parameters())
    with pytest.raises(ValueError, match="not pruned"):
        size_stages(make_mlp((4,), inputs=4, classes=2))


def test_choose_bits_takes_the_fewest_bits_the_paired_test_does_not_call_lower(tmp_path):
    net = small(k=80)
    # the labels of a teacher: the network with its kept weights jittered, so that a change of the network's
    # predictions can win images as well as lose them (labels copied from the network itself could only lose)
    teacher, generator = copy.deepcopy(net), torch.Generator().manual_seed(1)
    with torch.no_grad():
        for weight in teacher.parameters():
            weight.add_((weight != 0) * 0.2 * weight.abs().mean() * torch.randn(weight.shape, generator=generator))
    images = torch.randn(4000, 50, generator=torch.Generator().manual_seed(2))
    validation = Split(images, teacher(images).argmax(1).detach())
    bits, table = choose_bits(net, validation, candidates=[6, 1, 2, 3, 8])
    assert list(table.index) == [1, 2, 3, 6, 8] and table.loc[8, "values_per_layer"] == 255
    reference = correct(net, validation)
    for b in table.index:
        shared = shared_network(net, b)
        right = correct(shared, validation)
        assert table.loc[b, "validation_accuracy"] == evaluate(shared, validation)
        assert table.loc[b, "file_bytes"] == save_compressed(shared, tmp_path / "x.dc", bits=b)
        # the paired test counted by hand: images the network gets right and the shared one wrong, and the reverse
        lost, gained = int((reference & ~right).sum()), int((right & ~reference).sum())
        assert (table.loc[b, "lost"], table.loc[b, "gained"]) == (lost, gained)
        z = (gained - lost) / math.sqrt(lost + gained) if lost + gained else 0.0
        assert table.loc[b, "z"] == pytest.approx(z)
        assert table.loc[b, "against"] == ("lower" if z < -2 else "higher" if z > 2 else "too close to call")
    assert (table["net"] == table["gained"] - table["lost"]).all()
    # the rule: no candidate from `bits` up is lower, and the candidate just below `bits` is
    assert all(table.loc[b, "against"] != "lower" for b in table.index if b >= bits)
    below = [b for b in table.index if b < bits]
    assert not below or table.loc[below[-1], "against"] == "lower"
    assert bits > 1  # one shared value per layer is far worse
    with pytest.raises(ValueError, match="try more bits"):
        choose_bits(net, validation, candidates=[1])
    with pytest.raises(ValueError, match="bits must be an integer from 1 to 8"):
        choose_bits(net, validation, candidates=[0, 3])


def test_the_paired_test_rejects_a_loss_the_unpaired_rule_lets_through():
    """Two networks scored on the same images: a small loss on few images is clear to the paired test."""
    reference = torch.ones(5000, dtype=torch.bool)
    reference[:400] = False  # 92% right
    shared = reference.clone()
    shared[400:440] = False  # 40 images lost, none gained: 0.8 points, inside the unpaired noise (about 1.1)
    assert verdict(shared.float().mean().item(), reference.float().mean().item(), 5000) == "too close to call"
    assert paired(shared, reference)["verdict"] == "lower"


# --- what the format cannot hold ------------------------------------------------------------------------------------


def biased_tanh():
    """The issue's network: Linear with a bias, Tanh, Linear; pruned so that the file would have zeros to skip."""
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(6, 5), torch.nn.Tanh(), torch.nn.Linear(5, 3, bias=False))
    with torch.no_grad():
        net[0].weight[net[0].weight.abs() < 0.2] = 0
    return net


def refused_networks():
    torch.manual_seed(0)
    relu_with_bias = torch.nn.Sequential(torch.nn.Linear(6, 5), torch.nn.ReLU(), torch.nn.Linear(5, 3, bias=False))
    tanh = torch.nn.Sequential(torch.nn.Linear(6, 5, bias=False), torch.nn.Tanh(), torch.nn.Linear(5, 3, bias=False))
    after_output = torch.nn.Sequential(*make_mlp((5,), inputs=6, classes=3), torch.nn.Softmax(dim=1))
    no_relu = torch.nn.Sequential(torch.nn.Linear(6, 5, bias=False), torch.nn.Linear(5, 3, bias=False))
    dropout = torch.nn.Sequential(torch.nn.Linear(6, 5, bias=False), torch.nn.ReLU(), torch.nn.Dropout(),
                                  torch.nn.Linear(5, 3, bias=False))

    class Residual(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.first, self.second = torch.nn.Linear(6, 6, bias=False), torch.nn.Linear(6, 3, bias=False)

        def forward(self, x):
            return self.second(torch.relu(self.first(x)) + x)

    reparametrized = make_mlp((5,), inputs=6, classes=3)
    torch_prune.l1_unstructured(reparametrized[0], "weight", amount=0.5)
    return {
        "bias": (biased_tanh(), r"layer '0' has a bias"),
        "bias, ReLU": (relu_with_bias, r"layer '0' has a bias"),
        "Tanh": (tanh, r"module '1' is Tanh where a Deep Compression file has ReLU, and would read back as ReLU"),
        "after the output": (after_output, r"module '3' \(Softmax\) comes after the output layer"),
        "no ReLU": (no_relu, r"module '1' is Linear where a Deep Compression file has ReLU"),
        "Dropout": (dropout, r"module '2' is Dropout where a Deep Compression file has Linear"),
        "not Sequential": (Residual(), r"cannot hold a Residual"),
        "torch prune": (reparametrized, r"holds \['0.weight_mask', '0.weight_orig'\].*prune.remove"),
    }


@pytest.mark.parametrize("case", ["bias", "bias, ReLU", "Tanh", "after the output", "no ReLU", "Dropout",
                                  "not Sequential", "torch prune"])
def test_a_network_the_format_cannot_hold_is_refused_with_the_problem_and_the_fix(tmp_path, case):
    net, problem = refused_networks()[case]
    for write in (lambda: save_compressed(net, tmp_path / "net.dc"), lambda: shared_network(net),
                  lambda: size_stages(net)):
        with pytest.raises(ValueError, match=problem) as refused:
            write()
        if case != "torch prune":
            assert "rebuild the network with helpers.model.make_mlp" in str(refused.value)
            assert "ship this network as ONNX" in str(refused.value)
    assert not list(tmp_path.iterdir())  # nothing written


def test_the_issues_biased_tanh_network_is_refused_rather_than_read_back_as_another(tmp_path):
    net = biased_tanh()
    with pytest.raises(ValueError, match="has a bias, which a Deep Compression file cannot hold"):
        save_compressed(net, tmp_path / "net.dc")
    data = Split(torch.randn(64, 6), torch.randint(0, 3, (64,)))
    with pytest.raises(ValueError, match="has a bias"):
        fine_tune_centroids(net, data, bits=2)
    with pytest.raises(ValueError, match="has a bias"):
        choose_bits(net, data, candidates=[2])
    # what the format holds is accepted: the same widths, bias-free, ReLU
    assert check_storable(make_mlp((5,), inputs=6, classes=3)) == [6, 5, 3]
    inplace = torch.nn.Sequential(torch.nn.Linear(6, 5, bias=False), torch.nn.ReLU(inplace=True),
                                  torch.nn.Linear(5, 3, bias=False))
    assert check_storable(inplace) == [6, 5, 3]


# --- the format on one page ----------------------------------------------------------------------------------------


def _canonical_by_the_page(pairs):
    """The canonical Huffman code as docs/compressed_format.md describes it: {bit string: symbol}."""
    table, code, previous = {}, 0, None
    for symbol, length in sorted(pairs, key=lambda pair: (pair[1], pair[0])):
        if previous is not None:
            code = (code + 1) << (length - previous)
        table[format(code, f"0{length}b")] = symbol
        previous = length
    return table


def _stream_by_the_page(data, pairs, count):
    table, bits, symbols, word = _canonical_by_the_page(pairs), "".join(format(b, "08b") for b in data), [], ""
    for bit in bits:
        word += bit
        if word in table:
            symbols.append(table[word])
            word = ""
            if len(symbols) == count:
                break
    return symbols


def test_a_reader_written_from_the_format_page_alone_reads_the_file(tmp_path):
    """docs/compressed_format.md is the format: a decoder that follows only the page gets the shared weights."""
    page = Path(compression.__file__).parents[1] / "docs" / "compressed_format.md"
    assert page.is_file() and "docs/compressed_format.md" in compression.__doc__
    assert f"format version {FORMAT_VERSION}" in page.read_text() and MAGIC.decode() in page.read_text()
    net = small(k=97)
    bits = 3
    save_compressed(net, tmp_path / "net.dc", bits=bits, index_bits=(2, 4))  # short gap widths: fillers occur
    data = (tmp_path / "net.dc").read_bytes()
    assert data[:16] == b"PRUNING-MNIST-DC"
    version, header_length = struct.unpack("<HI", data[16:22])
    header = json.loads(lzma.decompress(data[22 : 22 + header_length]).decode("utf-8"))
    (payload_length,) = struct.unpack("<Q", data[22 + header_length : 30 + header_length])
    assert version == 2 and len(data) == 34 + header_length + payload_length
    assert struct.unpack("<I", data[-4:])[0] == zlib.crc32(data[:-4])
    assert header["architecture"] == [50, 40, 30, 5]
    expected = shared_network(net, bits)
    at, fillers = 30 + header_length, 0
    for layer in header["layers"]:
        gaps = _stream_by_the_page(data[at : at + layer["gap_bytes"]], layer["gap_lengths"], layer["entries"])
        at += layer["gap_bytes"]
        codes = _stream_by_the_page(data[at : at + layer["code_bytes"]], layer["code_lengths"], layer["entries"])
        at += layer["code_bytes"]
        weight, position = [0.0] * math.prod(layer["shape"]), -1
        for gap, code in zip(gaps, codes):
            position += gap + 1
            weight[position] = layer["codebook"][code]
            fillers += code == 0
        assert len(layer["codebook"]) == 2**layer["bits"] and layer["codebook"][0] == 0
        reference = dict(expected.named_modules())[layer["name"]].weight
        assert list(reference.shape) == layer["shape"]
        assert torch.equal(torch.tensor(weight, dtype=torch.float32).view(layer["shape"]), reference)
    assert at == 30 + header_length + payload_length and fillers > 0


def test_choose_bits_skips_a_few_bits_that_a_larger_candidate_contradicts(monkeypatch):
    """Each row is its own test: when 4 bits is 'too close to call' but 5 bits is 'lower', 4 bits is not chosen."""
    verdicts = {2: "lower", 3: "lower", 4: "too close to call", 5: "lower", 6: "too close to call", 7: "too close to call"}
    net = small(k=80)
    validation = Split(torch.randn(50, 50), torch.zeros(50, dtype=torch.long))
    calls = iter(verdicts.values())
    monkeypatch.setattr(compression, "paired", lambda a, b: dict(a_only=0, b_only=0, z=0.0, verdict=next(calls)))
    bits, table = choose_bits(net, validation, candidates=list(verdicts))
    assert bits == 6 and table["against"].to_dict() == verdicts
    calls = iter(["too close to call", "lower"])
    with pytest.raises(ValueError, match="largest candidate"):
        choose_bits(net, validation, candidates=[6, 7])


def _rewrite_header(data: bytes, change) -> bytes:
    """`data` with its header decoded, changed by `change(header)`, encoded again, and a checksum that matches."""
    start = len(MAGIC) + struct.calcsize("<HI")
    (length,) = struct.unpack_from("<I", data, len(MAGIC) + 2)
    header = json.loads(lzma.decompress(data[start : start + length]))
    change(header)
    packed = lzma.compress(json.dumps(header).encode())
    body = data[: len(MAGIC) + 2] + struct.pack("<I", len(packed)) + packed + data[start + length : -4]
    return body + struct.pack("<I", zlib.crc32(body))


@pytest.mark.parametrize("change", [
    lambda h: h["layers"][0].pop("codebook"),
    lambda h: h["layers"][1].update(entries="12"),
    lambda h: h["layers"][0].update(name="7"),
    lambda h: h["layers"].pop(),
    lambda h: h["layers"][0].update(shape=[30, 50]),
    lambda h: h.pop("architecture"),
    lambda h: h.update(architecture=[50, 40, 30, 5, 5]),
    lambda h: h["layers"][0].update(codebook=h["layers"][0]["codebook"][:-1]),
    lambda h: h["layers"][0].update(gap_lengths=[[0, "a"]]),
    lambda h: h["layers"][0].update(gap_bytes=h["layers"][0]["gap_bytes"] + 1),
], ids=["missing key", "wrong type", "unknown layer", "a layer missing", "wrong shape", "no architecture",
        "another architecture", "short codebook", "bad code table", "streams longer than the payload"])
def test_a_header_that_does_not_describe_its_architecture_is_refused(tmp_path, change):
    save_compressed(small(), tmp_path / "net.dc")
    data = (tmp_path / "net.dc").read_bytes()
    assert torch.equal(load_compressed(tmp_path / "net.dc")[0].weight,
                       load_compressed_bytes(tmp_path, _rewrite_header(data, lambda h: None))[0].weight)
    with pytest.raises(CompressedFileError, match="header"):
        load_compressed_bytes(tmp_path, _rewrite_header(data, change))


def load_compressed_bytes(folder: Path, data: bytes):
    (folder / "changed.dc").write_bytes(data)
    return load_compressed(folder / "changed.dc")

"""Relative positions and Huffman coding: the lossless last steps of Deep Compression (used by helpers.compression).

The nonzero weight codes of a layer become two streams of small integers (gaps and codes), each coded by a
canonical Huffman code of which only the code lengths are stored.
"""

from __future__ import annotations

import heapq
import math
from collections import Counter
from collections.abc import Sequence

import torch

__all__ = ["CompressedFileError", "check_bits", "relative_positions", "absolute_positions", "huffman_lengths",
           "huffman_encode", "huffman_decode"]


class CompressedFileError(ValueError):
    """A file that `load_compressed` cannot read: truncated, corrupt, foreign or of another version."""


def check_bits(bits: int, name: str = "bits", low: int = 1, high: int = 8) -> int:
    """Return `bits` if it is an integer in [low, high]; raise ValueError naming the value otherwise."""
    if isinstance(bits, bool) or not isinstance(bits, int) or not low <= bits <= high:
        raise ValueError(f"{name} must be an integer from {low} to {high}, got {bits!r}")
    return bits


# --- 2. relative positions ---------------------------------------------------------------------------------------

def relative_positions(codes: torch.Tensor, index_bits: int) -> tuple[list[int], list[int]]:
    """The nonzero codes of a flattened layer as (gaps, codes): gap = zeros skipped since the previous entry.

    A gap longer than 2^index_bits − 1 is split by filler entries: a full gap and a stored zero (code 0).

    >>> relative_positions(torch.tensor([0, 3, 0, 0, 0, 0, 0, 2]), index_bits=2)
    ([1, 3, 1], [3, 0, 2])
    """
    check_bits(index_bits, "index_bits", 1, 16)
    flat = codes.flatten()
    positions = torch.nonzero(flat).flatten().tolist()
    values = flat[positions].tolist()
    longest = 2**index_bits - 1
    gaps, stored, previous = [], [], -1
    for position, value in zip(positions, values):
        skip = position - previous - 1
        while skip > longest:  # filler: skip the longest gap, then store a zero
            gaps.append(longest)
            stored.append(0)
            skip -= longest + 1
        gaps.append(skip)
        stored.append(value)
        previous = position
    return gaps, stored


def absolute_positions(gaps: Sequence[int], codes: Sequence[int], numel: int) -> torch.Tensor:
    """The inverse of `relative_positions`: the flat uint8 codes of a layer of `numel` entries."""
    flat = torch.zeros(numel, dtype=torch.uint8)
    position = -1
    for gap, code in zip(gaps, codes):
        position += gap + 1
        if position >= numel:
            raise CompressedFileError(f"a stored position ({position}) lies beyond the layer's {numel} weights")
        flat[position] = code
    return flat


# --- 3. Huffman coding -------------------------------------------------------------------------------------------

def huffman_lengths(symbols: Sequence[int]) -> dict[int, int]:
    """Code length in bits of each distinct symbol of an optimal prefix code (Huffman 1952) for these frequencies.

    A single distinct symbol gets length 1. Ties are broken by symbol, so the result is deterministic.

    >>> huffman_lengths([0, 0, 0, 0, 1, 1, 2, 3])
    {0: 1, 1: 2, 2: 3, 3: 3}
    """
    counts = Counter(symbols)
    if len(counts) <= 1:
        return {symbol: 1 for symbol in counts}
    # each heap entry: (frequency, smallest symbol, the symbols below it)
    heap = [(count, symbol, [symbol]) for symbol, count in sorted(counts.items())]
    heapq.heapify(heap)
    lengths = dict.fromkeys(counts, 0)
    while len(heap) > 1:
        count_a, first_a, below_a = heapq.heappop(heap)
        count_b, first_b, below_b = heapq.heappop(heap)
        for symbol in below_a + below_b:  # every symbol under the merged node moves one level down
            lengths[symbol] += 1
        heapq.heappush(heap, (count_a + count_b, min(first_a, first_b), below_a + below_b))
    return dict(sorted(lengths.items()))


def _canonical(lengths: dict[int, int]) -> dict[int, tuple[int, int]]:
    """{symbol: (code, length)} of the canonical Huffman code with these lengths (shorter first, then by symbol)."""
    codes, code, previous = {}, 0, 0
    for symbol, length in sorted(lengths.items(), key=lambda item: (item[1], item[0])):
        code <<= length - previous
        codes[symbol] = (code, length)
        code, previous = code + 1, length
    return codes


def huffman_encode(symbols: Sequence[int], lengths: dict[int, int]) -> bytes:
    """The bit strings of `symbols` under the canonical code of `lengths`, packed into bytes (zero-padded)."""
    table = {symbol: format(code, f"0{length}b") for symbol, (code, length) in _canonical(lengths).items()}
    bits = "".join(table[symbol] for symbol in symbols)
    bits += "0" * (-len(bits) % 8)
    return int(bits, 2).to_bytes(len(bits) // 8, "big") if bits else b""


def huffman_decode(data: bytes, lengths: dict[int, int], count: int) -> list[int]:
    """The first `count` symbols of `data` under the canonical code of `lengths` (the inverse of `huffman_encode`)."""
    decode = {(length, code): symbol for symbol, (code, length) in _canonical(lengths).items()}
    longest = max(lengths.values(), default=0)
    bits = format(int.from_bytes(data, "big"), f"0{8 * len(data)}b") if data else ""
    symbols, code, length, at = [], 0, 0, 0
    while len(symbols) < count:
        if at >= len(bits):
            raise CompressedFileError(f"the coded stream ends after {len(symbols)} of its {count} symbols")
        code, length, at = (code << 1) | (bits[at] == "1"), length + 1, at + 1
        if (length, code) in decode:
            symbols.append(decode[length, code])
            code, length = 0, 0
        elif length > longest:
            raise CompressedFileError("the coded stream holds a bit string that is no code: the file is corrupt")
    return symbols


def _coded_bytes(symbols: list[int]) -> int:
    """The bytes of `symbols` Huffman-coded (their optimal code, the table not counted)."""
    lengths = huffman_lengths(symbols)
    counts = Counter(symbols)
    return math.ceil(sum(counts[s] * lengths[s] for s in counts) / 8)

"""What shipping a pruned network costs and saves, measured side by side in one run (issue: notebook 09).

- Deep Compression (`helpers.compression`) of weight pruning at k = 99 fine-tuned for 2 epochs (notebook 04),
  with the bits chosen on validation (`choose_bits`, as notebook 09) and with Han et al.'s 5 bits, its shared
  values trained for one epoch: bytes against the dense state_dict, and the test accuracy of the network read
  back from the file (targets: >= 200x smaller, >= 98.2%); lzma of the same CSR beside it;
- ONNX (`helpers.export`) of unit pruning at k = 90: the compacted network's file against the masked one's
  (target >= 20x); then the fine-tuned compacted network's outputs against PyTorch's, and onnxruntime's time
  against PyTorch's on the same inputs;
- int8 dynamic quantization of the fine-tuned compacted network: bytes, accuracy and time against float.
Writes build/results/ship.csv. Usage: python -m benchmarks.ship
"""

from __future__ import annotations

import io
import lzma
import tempfile
from pathlib import Path

import pandas as pd
import torch

from benchmarks.common import report, row
from helpers.config import project_home
from helpers.compression import choose_bits, fine_tune_centroids, load_compressed, save_compressed
from helpers.data import load_mnist
from helpers.deploy import csr_state, time_calls
from helpers.export import onnx_session, run_onnx, to_int8, to_onnx
from helpers.pruning import compact, masks_for, prune
from helpers.retraining import fine_tune
from helpers.stats import verdict
from helpers.training import baseline, evaluate


def _bytes(state: dict) -> bytes:
    buffer = io.BytesIO()
    torch.save(state, buffer)
    return buffer.getvalue()


def run() -> list[dict]:
    data = load_mnist()
    net, _ = baseline(data=data, progress=False, device=torch.device("cpu"))
    dense_bytes = len(_bytes(net.state_dict()))
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        tuned, _ = fine_tune(net, masks_for(net, 99, "weight"), data.train, seed=0)
        chosen, _ = choose_bits(tuned, data.validation)  # as notebook 09 chooses; 5 bits is Han et al.'s choice
        for bits in sorted({chosen, 5}):
            shared = fine_tune_centroids(tuned, data.train, bits=bits, epochs=1)
            size = save_compressed(shared, folder / "w99.dc", bits=bits)
            accuracy = evaluate(load_compressed(folder / "w99.dc"), data.test)
            how = f"{bits} bits" + (", chosen on validation" if bits == chosen else "")
            rows.append(row(f"weight k=99 fine-tuned, Deep Compression file ({how}), smaller", "file bytes", size,
                            "dense state_dict bytes", dense_bytes, ">= 200", higher_is_better=False))
            rows.append(row("  ... its test accuracy after load_compressed (%)", "%", 100 * accuracy,
                            "% fine-tuned, before sharing", 100 * evaluate(tuned, data.test), ">= 98.2 (ratio ~1)"))
        packed = len(lzma.compress(_bytes(csr_state(compact(tuned)))))
        rows.append(row("weight k=99 fine-tuned, CSR + lzma, smaller", "lzma bytes", packed, "dense state_dict bytes",
                        dense_bytes, "(beside Huffman)", higher_is_better=False))

        unit = prune(net, 90, "unit")
        small, _ = fine_tune(net, masks_for(net, 90, "unit"), data.train, seed=0, compacted=True)
        masked_bytes, small_bytes = to_onnx(unit, folder / "masked.onnx"), to_onnx(compact(unit), folder / "compacted.onnx")
        rows.append(row("unit k=90, ONNX compacted vs masked, smaller", "compacted .onnx bytes", small_bytes,
                        "masked .onnx bytes", masked_bytes, ">= 20", higher_is_better=False))
        to_onnx(small, folder / "tuned.onnx")
        session = onnx_session(folder / "tuned.onnx", threads=torch.get_num_threads())
        x = data.test.images
        difference = (run_onnx(session, x) - small(x)).abs().max().item()
        rows.append(row("  ... largest difference of a logit, onnxruntime against PyTorch", "", difference, "tolerance", 1e-4, "<= 1e-4 (ratio <= 1)"))
        quantized = to_int8(small)
        ms = {name: 1e3 * t["median"] for name, t in time_calls(
            {"pytorch": lambda: small(x), "onnxruntime": lambda: run_onnx(session, x), "int8": lambda: quantized(x)},
            repeat=15, warmup=2).items()}
        rows.append(row("unit k=90 fine-tuned compacted, onnxruntime vs PyTorch, speedup", "onnxruntime ms", ms["onnxruntime"],
                        "PyTorch ms", ms["pytorch"], "(same inputs, all threads)", higher_is_better=False))
        rows.append(row("unit k=90 fine-tuned compacted, int8 vs float, speedup", "int8 ms", ms["int8"], "float ms", ms["pytorch"],
                        "(PyTorch, dynamic quantization)", higher_is_better=False))
        rows.append(row("unit k=90 fine-tuned compacted, int8 vs float, smaller", "int8 state_dict bytes",
                        len(_bytes(quantized.state_dict())), "float state_dict bytes", len(_bytes(small.state_dict())),
                        "", higher_is_better=False))
        rows.append(row("  ... int8 test accuracy (%)", "%", 100 * evaluate(quantized, data.test), "% float",
                        100 * evaluate(small, data.test), "(ratio ~1)"))
    return rows


def summary(table: pd.DataFrame, n_test: int = 10_000) -> str:
    """The sentences of docs/speed_and_size.md on the shipping table (docs/ship.csv), every number and verdict computed from it."""
    files = table[table["benchmark"].str.contains("Deep Compression file")]
    accuracy = table.iloc[[i + 1 for i in files.index]]  # each file's row is followed by its accuracy row
    rows = [dict(bits=int(name.split("(")[1].split(" ")[0]), chosen="chosen on validation" in name, bytes=f.value,
                 ratio=f.ratio, accuracy=a.value, before=a.reference)
            for name, f, a in zip(files["benchmark"], files.itertuples(), accuracy.itertuples())]
    paper = next(r for r in rows if r["bits"] == 5)
    chosen = next((r for r in rows if r["chosen"]), paper)
    met = lambda r: r["ratio"] >= 200 and r["accuracy"] >= 98.2
    words = verdict(chosen["accuracy"] / 100, chosen["before"] / 100, n_test)
    onnx = table[table["benchmark"].str.startswith("unit k=90, ONNX compacted vs masked")].iloc[0]
    text = (f"With Han et al.'s 5 bits, weight pruning at k = 99 fine-tuned for 2 epochs fits in {paper['bytes']:,.0f} "
            f"bytes, {paper['ratio']:.0f} times smaller than the dense file, and scores {paper['accuracy']:.2f}% on test "
            f"after `load_compressed`: both targets {'met' if met(paper) else 'not met'}. ")
    if chosen is not paper:
        text += (f"With the {chosen['bits']} bits that validation chooses the file is {chosen['bytes']:,.0f} bytes "
                 f"({chosen['ratio']:.0f} times smaller) and scores {chosen['accuracy']:.2f}% on test"
                 + (f", {98.2 - chosen['accuracy']:.2f} points under the 98.2% target" if chosen["accuracy"] < 98.2 else "")
                 + f"; against the fine-tuned network before sharing ({chosen['before']:.2f}%) that is {words}. ")
    return text + (f"The ONNX file of the compacted unit-pruned network at k = 90 is {onnx.ratio:.1f} times smaller "
                   "than the masked network's, which is as large as the dense network's.")


def main() -> None:
    rows = run()
    report(rows)
    out = project_home() / "build" / "results" / "ship.csv"
    out.parent.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(rows).to_csv(out, index=False)
    print(f"wrote {out} (the values in full)")


if __name__ == "__main__":
    main()

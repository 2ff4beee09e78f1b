"""What shipping a pruned network costs and saves, measured side by side in one run (issue: notebook 09).

- Deep Compression (`helpers.compression`) of weight pruning at k = 99 fine-tuned for 2 epochs (notebook 04),
  with its shared values trained for one epoch: bytes against the dense state_dict, and the test accuracy of
  the network read back from the file (targets: >= 200x smaller, >= 98.2%); lzma of the same CSR beside it;
- ONNX (`helpers.export`) of unit pruning at k = 90: the compacted network's file against the masked one's
  (target >= 20x), outputs against PyTorch's, and onnxruntime's time against PyTorch's on the same inputs;
- int8 dynamic quantization of the compacted network: bytes, accuracy and time against float.
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
from helpers.compression import fine_tune_centroids, load_compressed, save_compressed
from helpers.data import load_mnist
from helpers.deploy import csr_state, time_calls
from helpers.experiments import fine_tune
from helpers.export import onnx_session, run_onnx, to_int8, to_onnx
from helpers.pruning import compact, masks_for, prune
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
        shared = fine_tune_centroids(tuned, data.train, epochs=1)
        size = save_compressed(shared, folder / "w99.dc")
        loaded = load_compressed(folder / "w99.dc")
        accuracy = evaluate(loaded, data.test)
        rows.append(row("weight k=99 fine-tuned, Deep Compression file, smaller", "file bytes", size,
                        "dense state_dict bytes", dense_bytes, ">= 200", higher_is_better=False))
        rows.append(row("  ... its test accuracy after load_compressed (%)", "%", 100 * accuracy,
                        "% fine-tuned, before sharing", 100 * evaluate(tuned, data.test), ">= 98.2 (ratio ~1)"))
        packed = len(lzma.compress(_bytes(csr_state(compact(tuned)))))
        rows.append(row("weight k=99 fine-tuned, CSR + lzma, smaller", "lzma bytes", packed, "dense state_dict bytes",
                        dense_bytes, "(beside Huffman)", higher_is_better=False))

        unit = prune(net, 90, "unit")
        small = compact(unit)
        masked_bytes, small_bytes = to_onnx(unit, folder / "masked.onnx"), to_onnx(small, folder / "compacted.onnx")
        rows.append(row("unit k=90, ONNX compacted vs masked, smaller", "compacted .onnx bytes", small_bytes,
                        "masked .onnx bytes", masked_bytes, ">= 20", higher_is_better=False))
        session = onnx_session(folder / "compacted.onnx", threads=torch.get_num_threads())
        x = data.test.images
        difference = (run_onnx(session, x) - small(x)).abs().max().item()
        rows.append(row("  ... largest |onnxruntime - PyTorch| logit", "", difference, "tolerance", 1e-4, "<= 1e-4 (ratio <= 1)"))
        quantized = to_int8(small)
        ms = {name: 1e3 * t["median"] for name, t in time_calls(
            {"pytorch": lambda: small(x), "onnxruntime": lambda: run_onnx(session, x), "int8": lambda: quantized(x)},
            repeat=15, warmup=2).items()}
        rows.append(row("unit k=90 compacted, onnxruntime vs PyTorch, speedup", "onnxruntime ms", ms["onnxruntime"],
                        "PyTorch ms", ms["pytorch"], "(same inputs, all threads)", higher_is_better=False))
        rows.append(row("unit k=90 compacted, int8 vs float, speedup", "int8 ms", ms["int8"], "float ms", ms["pytorch"],
                        "(PyTorch, dynamic quantization)", higher_is_better=False))
        rows.append(row("unit k=90 compacted, int8 vs float, smaller", "int8 state_dict bytes",
                        len(_bytes(quantized.state_dict())), "float state_dict bytes", len(_bytes(small.state_dict())),
                        "", higher_is_better=False))
        rows.append(row("  ... int8 test accuracy (%)", "%", 100 * evaluate(quantized, data.test), "% float",
                        100 * evaluate(small, data.test), "(ratio ~1)"))
    return rows


def main() -> None:
    rows = run()
    report(rows)
    out = project_home() / "build" / "results" / "ship.csv"
    out.parent.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(rows).to_csv(out, index=False)
    print(f"wrote {out} (the values in full)")


if __name__ == "__main__":
    main()

"""What pruning buys, measured side by side (round-robin) in one run on the whole test set.

- compacted unit-pruned networks (run as `to_inference`) at k = 90 and 99 vs the dense network, and vs the
  dense network run the same way (`to_inference` of the unpruned network: same kernel on both sides);
- weight pruning at k = 99 stored as CSR of `compact(net)` (dead units dropped first, as notebook 05 ships it) vs
  dense with zeros, in time and on disk;
- torch.nn.utils.prune's masked model vs the dense one.
Usage: python -m benchmarks.speed
"""

from __future__ import annotations

import copy

import torch
from torch.nn.utils import prune as torch_prune

from benchmarks.common import report, row
from helpers.data import load_mnist
from helpers.deploy import fused_kernel_available, sizes, time_calls, to_inference, to_sparse
from helpers.pruning import compact, flops, prune
from helpers.training import baseline


@torch.no_grad()
def run() -> list[dict]:
    train, validation, test = load_mnist()
    net, _ = baseline(data=(train, validation, test), progress=False, device=torch.device("cpu"))
    x = test.images
    pruned = prune(net, 99, "weight")
    hooked = copy.deepcopy(net)
    for module in list(hooked)[:-1]:
        if isinstance(module, torch.nn.Linear):
            torch_prune.l1_unstructured(module, "weight", amount=0.9)
    units = {k: prune(net, k, "unit") for k in (90, 99)}
    models = {"dense": net, "dense, to_inference": to_inference(net), "unit 90": to_inference(units[90]),
              "unit 99": to_inference(units[99]), "zeros 99": pruned, "csr 99": to_sparse(compact(pruned)),
              "hooks 90": hooked}
    ms = {name: 1e3 * t["median"] for name, t in
          time_calls({name: (lambda m=m: m(x)) for name, m in models.items()}, repeat=15, warmup=2).items()}
    kernel = "oneDNN fused" if fused_kernel_available() else "mm"
    rows = []
    for k, target in [(90, ">= 20"), (99, ">= 80")]:
        ratio = flops(net) / flops(compact(units[k]))
        rows.append(row(f"unit k={k}, compacted, speedup", f"ms (FLOP ratio {ratio:.0f}, {kernel})", ms[f"unit {k}"],
                        "dense nn.Sequential (torch.mm: kernel and pruning mixed), ms", ms["dense"], target,
                        higher_is_better=False))
    for k in units:
        rows.append(row(f"unit k={k}, compacted, speedup, same kernel", f"ms ({kernel})", ms[f"unit {k}"],
                        f"dense, to_inference ({kernel}), ms", ms["dense, to_inference"],
                        "(both sides the same kernel)", higher_is_better=False))
    rows.append(row("weight k=99, CSR, speedup", "CSR of compact(net) ms", ms["csr 99"], "dense with zeros, ms",
                    ms["zeros 99"], ">= 2.5", higher_is_better=False))
    size = sizes(pruned)
    rows.append(row("weight k=99, CSR, smaller on disk", "CSR of compact(net) bytes", sizes(compact(pruned))["csr"],
                    "dense state_dict bytes", size["dense"], ">= 20", higher_is_better=False))
    rows.append(row("weight k=99, dense gzip, smaller on disk", "gzip bytes", size["dense_gzip"],
                    "dense state_dict bytes", size["dense"], "", higher_is_better=False))
    rows.append(row("torch.nn.utils.prune hooks k=90, speedup", "hooked ms", ms["hooks 90"], "dense, ms",
                    ms["dense"], "(~1: masks save nothing)", higher_is_better=False))
    one = x[:1]
    ms1 = {name: 1e3 * t["median"] for name, t in
           time_calls({"dense": lambda: net(one), "hooks": lambda: hooked(one)}, repeat=201, warmup=20).items()}
    rows.append(row("torch.nn.utils.prune hooks k=90, batch 1, speedup", "hooked ms", ms1["hooks"], "dense, ms",
                    ms1["dense"], "(< 1: the hook costs time)", higher_is_better=False))
    return rows


if __name__ == "__main__":
    report(run())

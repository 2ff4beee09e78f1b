"""Repair without retraining over seeds (notebook 07), mean ± standard error, and its time beside fine-tuning's.

For each seed, with the cached baseline of `benchmarks.seeds` (trained here if missing), on the test set:
one-shot pruning, one-shot + `repair`, OBS (`obs_prune` for weights, `obs_unit_prune` for units) and
one-shot + fine-tuning (2 epochs, notebook 04; unit-pruned networks compacted first, as there) at weight
k = 95, 97, 99, 99.5 and unit k = 80, 90, 95.
The repair sees `CALIBRATION_IMAGES` unlabeled training images, drawn per seed.

And, on the first seed, the seconds to repair the whole network at weight k = 99 and unit k = 90 (median of
three; targets 10 s and 2 s) beside the seconds fine-tuning needs to reach the repair's accuracy, as a ratio.

Writes build/results/repair.csv, repair_summary.csv, repair_seconds.csv and repair.md (the table of docs/results.md).
Usage: python -m benchmarks.repair [--seeds 0 1 2]
"""

from __future__ import annotations

import time

import pandas as pd

from benchmarks.common import median_seconds
from benchmarks.seeds import cell, over_seeds
from helpers import repair as surgery
from helpers.criteria import calibration
from helpers.pruning import masks_for, prune
from helpers.retraining import fine_tune
from helpers.training import baseline, evaluate

APPROACHES = (*surgery.APPROACHES, "one-shot + fine-tuning")
TARGET_SECONDS = {("weight", 99): 10.0, ("unit", 90): 2.0}


def one_seed(seed: int, data) -> pd.DataFrame:
    net, _ = baseline(seed, data=data, progress=False)
    images = calibration(data.train, surgery.CALIBRATION_IMAGES, seed=seed).images
    table = surgery.compare(net, images, data.test)
    rows = []
    for method, ks in surgery.COMPARE_KS.items():
        for k in ks:
            started = time.perf_counter()
            tuned, _ = fine_tune(net, masks_for(net, k, method), data.train, seed=seed, compacted=method == "unit")
            rows.append(dict(method=method, k=k, approach="one-shot + fine-tuning", accuracy=evaluate(tuned, data.test),
                             seconds=time.perf_counter() - started))
    print(f"seed {seed} done", flush=True)
    return pd.concat([table, pd.DataFrame(rows)], ignore_index=True).assign(seed=seed)


def seconds_beside_fine_tuning(seed: int, data) -> pd.DataFrame:
    """Repair time (median of 3) against the fine-tuning time until its test accuracy first reaches the repair's."""
    net, _ = baseline(seed, data=data, progress=False)
    images = calibration(data.train, surgery.CALIBRATION_IMAGES, seed=seed).images
    rows = []
    for method, k in TARGET_SECONDS:
        pruned = prune(net, k, method)
        repaired = surgery.repair(net, pruned, images)
        accuracy = evaluate(repaired, data.test)
        seconds = median_seconds(lambda: surgery.repair(net, pruned, images), repeat=3, warmup=0)
        _, history = fine_tune(net, masks_for(net, k, method), data.train, data.test, seed=seed, epochs=4,
                               compacted=method == "unit")
        history["elapsed"] = history["seconds"].cumsum()
        reached = history[history["test_accuracy"] >= accuracy]
        rows.append(dict(method=method, k=k, repair_accuracy=accuracy, repair_seconds=seconds,
                         target_seconds=TARGET_SECONDS[method, k],
                         fine_tuning_epochs=int(reached["epoch"].iloc[0]) if len(reached) else None,
                         fine_tuning_seconds=float(reached["elapsed"].iloc[0]) if len(reached) else float("nan"),
                         fine_tuning_best=float(history["test_accuracy"].max()),
                         fine_tuning_seconds_4_epochs=float(history["elapsed"].iloc[-1])))
    table = pd.DataFrame(rows)
    table["ratio"] = table["fine_tuning_seconds"] / table["repair_seconds"]
    return table


def markdown(summary: pd.DataFrame) -> str:
    """The repair table of docs/results.md: test accuracy in %, mean ± standard error over seeds, one column per approach."""
    lines = ["| pruned | " + " | ".join(APPROACHES) + " |", "|---|" + "---|" * len(APPROACHES)]
    for (method, k), group in summary.groupby(["method", "k"], sort=False):
        cells = group.set_index("approach").reindex(list(APPROACHES))
        lines.append(f"| {method} k={k:g} | " + " | ".join(cell(row) if pd.notna(row["accuracy"]) else ""
                                                            for _, row in cells.iterrows()) + " |")
    return "\n".join(lines)


def main() -> None:
    summary, data, seeds, out = over_seeds("repair", one_seed, ("method", "k", "approach"), markdown,
                                           __doc__.splitlines()[0])
    seconds = seconds_beside_fine_tuning(seeds[0], data)
    seconds.to_csv(out / "repair_seconds.csv", index=False)
    print(markdown(summary))
    print("\nrepair time beside the fine-tuning that reaches the same test accuracy (seed "
          f"{seeds[0]}, this machine):")
    for _, r in seconds.iterrows():
        reached = (f"fine-tuning reaches it after {r['fine_tuning_epochs']} epoch(s), {r['fine_tuning_seconds']:.1f} s "
                   f"-> {r['ratio']:.0f}x" if pd.notna(r["fine_tuning_seconds"]) else
                   f"fine-tuning does not reach it in 4 epochs ({r['fine_tuning_seconds_4_epochs']:.1f} s, best "
                   f"{100 * r['fine_tuning_best']:.2f}%)")
        print(f"{r['method']} k={r['k']:g}: repair {r['repair_seconds']:.2f} s (target {r['target_seconds']:g} s) to "
              f"{100 * r['repair_accuracy']:.2f}%; {reached}")
    print(f"\nwrote {out}")


if __name__ == "__main__":
    main()

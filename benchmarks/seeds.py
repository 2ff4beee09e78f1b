"""One-shot k-sweeps of the baseline for 3 seeds: mean ± std per (method, k).

Trains (or loads) `baseline(seed)` for seeds 0, 1, 2, runs `sweep()` on each,
and writes build/results/seeds.csv (every run), build/results/summary.csv
(mean and std) and build/results/accuracy_vs_k.png (the README's figure).
Not part of CI (about 4 minutes here, most of it training).

Usage: python -m benchmarks.seeds [--seeds 0 1 2]
"""

from __future__ import annotations

import argparse

import pandas as pd

from helpers import plots
from helpers.config import project_home
from helpers.data import load_mnist
from helpers.experiments import sweep
from helpers.training import baseline


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    args = parser.parse_args()
    out = project_home() / "build" / "results"
    out.mkdir(parents=True, exist_ok=True)
    data = load_mnist()
    runs, baselines = [], []
    for seed in args.seeds:
        net, info = baseline(seed, data=data, progress=False)
        print(f"seed {seed}: baseline {100 * info['test_accuracy']:.2f}% "
              f"({'loaded' if info['loaded'] else 'trained'} in {info['seconds']:.0f} s)", flush=True)
        baselines.append(dict(seed=seed, accuracy=info["test_accuracy"], seconds=info["seconds"]))
        runs.append(sweep(net, data[1]).assign(seed=seed))
    runs = pd.concat(runs, ignore_index=True)
    runs.to_csv(out / "seeds.csv", index=False)
    summary = (runs.groupby(["method", "k"], sort=False)["accuracy"].agg(["mean", "std"]).reset_index()
               .rename(columns={"mean": "accuracy"}))
    summary.to_csv(out / "summary.csv", index=False)
    baselines = pd.DataFrame(baselines)
    baselines.to_csv(out / "baselines.csv", index=False)
    base = baselines["accuracy"].mean()
    figure = plots.accuracy_vs_k(summary, baseline=base,
                                 title=f"One-shot pruning, mean ± std of {len(args.seeds)} seeds")
    figure.savefig(out / "accuracy_vs_k.png", dpi=110)
    table = summary.assign(cell=lambda t: (100 * t["accuracy"]).map("{:.2f}".format) + " ± "
                           + (100 * t["std"]).map("{:.2f}".format)).pivot(index="method", columns="k", values="cell")
    print(f"\nbaseline: {100 * base:.2f} ± {100 * baselines['accuracy'].std():.2f}% "
          f"(training {baselines['seconds'].mean():.0f} s per seed)")
    print(table.to_string())
    print(f"\nwrote {out}")


if __name__ == "__main__":
    main()

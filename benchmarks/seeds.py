"""The results table over seeds: one-shot, fine-tuned and iterative pruning, mean ± std per (method, procedure, k).

For each seed: train (or load) `baseline(seed)`, run the one-shot `sweep`, a
`fine_tuned_sweep` and `iterative_prune` for both methods. Writes to
build/results/: runs.csv (every run), summary.csv (mean, std, n), baselines.csv,
and accuracy_vs_k.png (the README's figure). Not part of CI: about 15 minutes
here (about 1 minute with --one-shot-only once the baselines are cached).

Usage: python -m benchmarks.seeds [--seeds 0 1 2] [--one-shot-only]
"""

from __future__ import annotations

import argparse
import time

import matplotlib.pyplot as plt
import pandas as pd

from helpers import plots
from helpers.config import project_home
from helpers.data import load_mnist
from helpers.experiments import FINE_TUNE_KS, fine_tuned_sweep, iterative_prune, sweep
from helpers.training import baseline


def one_seed(seed: int, data, one_shot_only: bool) -> tuple[pd.DataFrame, dict]:
    train, test = data
    net, info = baseline(seed, data=data, progress=False)
    print(f"seed {seed}: baseline {100 * info['test_accuracy']:.2f}% "
          f"({'loaded' if info['loaded'] else 'trained'}; training took {info['seconds']:.0f} s)", flush=True)
    frames = [sweep(net, test).assign(procedure="one-shot")]
    if not one_shot_only:
        started = time.perf_counter()
        frames.append(fine_tuned_sweep(net, train, test, FINE_TUNE_KS, seed=seed))
        for method, ks in FINE_TUNE_KS.items():
            _, rounds = iterative_prune(net, ks, train, test, method, seed=seed, epochs=1)
            frames.append(rounds.assign(method=method, procedure="iterative"))
        print(f"  fine-tuned and iterative runs: {time.perf_counter() - started:.0f} s", flush=True)
    runs = pd.concat(frames, ignore_index=True)[["method", "procedure", "k", "accuracy"]].assign(seed=seed)
    return runs, dict(seed=seed, accuracy=info["test_accuracy"], seconds=info["seconds"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--one-shot-only", action="store_true", help="skip fine-tuning and iterative pruning")
    args = parser.parse_args()
    out = project_home() / "build" / "results"
    out.mkdir(parents=True, exist_ok=True)
    data = load_mnist()
    results = [one_seed(seed, data, args.one_shot_only) for seed in args.seeds]
    runs = pd.concat([r for r, _ in results], ignore_index=True)
    baselines = pd.DataFrame([b for _, b in results])
    runs.to_csv(out / "runs.csv", index=False)
    baselines.to_csv(out / "baselines.csv", index=False)
    summary = (runs.groupby(["method", "procedure", "k"], sort=False)["accuracy"].agg(["mean", "std", "count"])
               .reset_index().rename(columns={"mean": "accuracy", "count": "n"}))
    summary.to_csv(out / "summary.csv", index=False)

    base = baselines["accuracy"].mean()
    figure, (left, right) = plt.subplots(1, 2, figsize=(14, 5))
    plots.accuracy_vs_k(summary, baseline=base, style_by="procedure", axis=left,
                        title=f"Pruning the 784-1000-1000-500-200-10 MLP (mean ± std, {len(args.seeds)} seeds)")
    plots.accuracy_vs_k(summary[summary["k"] >= 80], baseline=base, style_by="procedure", axis=right,
                        reference=False, title="zoom: k ≥ 80")
    right.set_ylim(90, 99.2)
    right.legend().remove()
    figure.tight_layout()
    figure.savefig(out / "accuracy_vs_k.png", dpi=110)

    cells = summary.assign(cell=(100 * summary["accuracy"]).map("{:.2f}".format) + " ± "
                           + (100 * summary["std"]).map("{:.2f}".format))
    table = cells.pivot(index=["method", "procedure"], columns="k", values="cell").fillna("")
    print(f"\nbaseline: {100 * base:.2f} ± {100 * baselines['accuracy'].std():.2f}% over seeds {args.seeds} "
          f"(training: {', '.join(f'{s:.0f}' for s in baselines['seconds'])} s)")
    print(table.to_string())
    print(f"\nwrote {out}")


if __name__ == "__main__":
    main()

"""How small can it get (issue 28, notebook 11): the recipe of `helpers.frontier` on 3 seeds.

Per seed, on one CPU thread:
- the recipe (`frontier.RECIPE`) step by step: bytes, nonzero weights, validation and test accuracy after each step
  (the last row is the file `save_compressed` wrote, read back by `load_compressed`), and one point per weight
  round (shared, written and read back): the Pareto front;
- the issue's calibration recipe (`frontier.CALIBRATION`: unit k = 90, rounds 80/88/92/94% with 4 epochs, 4 bits);
- drop one step at a time (`frontier.drop_one`);
- learned sparsity (L0 gates) against magnitude pruning at the same epochs and nonzero weights (`frontier.versus_l0`).

Targets (mean over seeds): <= 5,000 bytes and <= 3,000 nonzero weights at >= 98.0% test accuracy.

Writes build/results/frontier.csv (every row of every seed), frontier_points.csv (the front), frontier_summary.csv
(mean and standard error over seeds per route and step). Usage:
    OMP_NUM_THREADS=1 python -m benchmarks.frontier [--seeds 0 1 2] [--skip-l0]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import pandas as pd
import torch

from helpers import frontier
from helpers.data import load_mnist
from helpers.training import baseline



def run_seed(seed: int, data, l0: bool = True) -> tuple[pd.DataFrame, pd.DataFrame]:
    net, _ = baseline(seed=seed, data=data, progress=False, device=torch.device("cpu"))
    train, validation, test = data
    teacher = frontier.teacher_logits(net, train)
    rows, points = [], []
    started = time.perf_counter()
    _, table = frontier.shrink(net, train, validation, test, frontier.RECIPE, seed=seed, teacher=teacher,
                               points=points)
    rows.append(table.assign(route="recipe"))
    print(f"seed {seed}: recipe {time.perf_counter() - started:.0f} s", flush=True)
    _, table = frontier.shrink(net, train, validation, test, frontier.CALIBRATION, seed=seed, teacher=teacher)
    rows.append(table.assign(route="calibration (the issue's recipe)"))
    dropped = frontier.drop_one(net, train, validation, test, frontier.RECIPE, seed=seed, teacher=teacher,
                                include_full=False)
    rows.append(dropped.assign(route="without " + dropped["dropped"], step="the file").drop(columns="dropped"))
    print(f"seed {seed}: drop one {time.perf_counter() - started:.0f} s", flush=True)
    if l0:
        start = frontier.distil(frontier.unit_step(net, frontier.RECIPE.unit_k), train, frontier.RECIPE.epochs,
                                teacher=teacher, distillation=frontier.RECIPE.distillation, lr=frontier.RECIPE.lr,
                                seed=seed)
        versus = frontier.versus_l0(start, train, validation, test, frontier.L0_EPOCHS, frontier.L0_STRENGTH,
                                    teacher=teacher,
                                    distillation=frontier.RECIPE.distillation, seed=seed)
        rows.append(versus.assign(step="the file"))
        print(f"seed {seed}: L0 {time.perf_counter() - started:.0f} s", flush=True)
    result = pd.concat(rows, ignore_index=True).assign(seed=seed)
    return result, pd.DataFrame(points).assign(seed=seed, route="recipe, after each round")


def summarise(results: pd.DataFrame) -> pd.DataFrame:
    """Mean and standard error over seeds of bytes, nonzero weights and accuracies, per route and step."""
    columns = ["bytes", "nonzero", "validation_accuracy", "test_accuracy"]
    grouped = results.groupby(["route", "step"], sort=False)[columns]
    mean, sem, count = grouped.mean(), grouped.sem(), grouped.size()
    summary = mean.join(sem, rsuffix="_se")
    summary["seeds"] = count
    return summary.reset_index()


def markdown(summary: pd.DataFrame) -> str:
    """The table of docs/speed_and_size.md: the recipe step by step, then each other route's file."""
    lines = ["| route | step | bytes | nonzero weights | validation (%) | test (%) |", "|---|---|---|---|---|---|"]
    rows = pd.concat([summary[summary["route"] == "recipe"],
                      summary[(summary["route"] != "recipe") & (summary["step"] == "the file")]])
    for _, r in rows.iterrows():
        lines.append(f"| {r['route']} | {r['step']} | {r['bytes']:,.0f} ± {r['bytes_se']:,.0f} | {r['nonzero']:,.0f} "
                     f"| {100 * r['validation_accuracy']:.2f} ± {100 * r['validation_accuracy_se']:.2f} "
                     f"| {100 * r['test_accuracy']:.2f} ± {100 * r['test_accuracy_se']:.2f} |")
    return "\n".join(lines)


def target(summary: pd.DataFrame) -> str:
    """The issue's three targets against the recipe's file, in one sentence."""
    final = summary[(summary["route"] == "recipe") & (summary["step"] == "the file")].iloc[0]
    checks = [(f"{final['bytes']:,.0f} bytes", final["bytes"] <= 5_000, "<= 5,000"),
              (f"{final['nonzero']:,.0f} nonzero weights", final["nonzero"] <= 3_000, "<= 3,000"),
              (f"{100 * final['test_accuracy']:.2f} ± {100 * final['test_accuracy_se']:.2f}% test accuracy",
               final["test_accuracy"] >= 0.98, ">= 98.0%")]
    said = "; ".join(f"{what} ({'met' if met else 'not met'}: {goal})" for what, met, goal in checks)
    return f"The recipe's file, read back by `load_compressed`, over {final['seeds']:.0f} seeds: {said}."


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--skip-l0", action="store_true", help="leave out the L0 comparison")
    parser.add_argument("--out", default=None, help="where the CSVs go (default: build/results of the checkout, "
                        "never of PRUNING_MNIST_HOME, which may be another checkout lending its checkpoints)")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    data = load_mnist()
    folder = Path(args.out) if args.out else Path(__file__).resolve().parent.parent / "build" / "results"
    folder.mkdir(parents=True, exist_ok=True)
    results, points = [], []
    for seed in args.seeds:
        result, point = run_seed(seed, data, l0=not args.skip_l0)
        results.append(result)
        points.append(point)
        pd.concat(results).to_csv(folder / "frontier.csv", index=False)  # after every seed: a partial run is kept
        pd.concat(points).to_csv(folder / "frontier_points.csv", index=False)
    summary = summarise(pd.concat(results))
    summary.to_csv(folder / "frontier_summary.csv", index=False)
    final = summary[(summary["route"] == "recipe") & (summary["step"] == "the file")].iloc[0]
    print(summary.to_string())
    print(f"recipe, {len(args.seeds)} seeds: {final['bytes']:.0f} ± {final['bytes_se']:.0f} bytes, "
          f"{final['nonzero']:.0f} nonzero weights, test accuracy {100 * final['test_accuracy']:.2f} ± "
          f"{100 * final['test_accuracy_se']:.2f}% (targets: <= 5,000 bytes, <= 3,000 weights, >= 98.0%)")


if __name__ == "__main__":
    main()

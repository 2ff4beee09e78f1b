"""The results table over seeds: one-shot, fine-tuned and iterative pruning, mean ± standard error.

For each seed: train (or load) `baseline(seed)` with the series' recipe and with the
same recipe without L1; run the one-shot `sweep` of both, and for the series' recipe a
`fine_tuned_sweep` and `iterative_prune` of both methods. Writes to build/results/:
runs.csv (every run), summary.csv (mean, std, standard error, n per row of the table),
baselines.csv, table.md (the table of docs/results.md, made by `markdown`) and accuracy_vs_k.png
(the README's figure). Copy summary.csv (as results_summary.csv), baselines.csv (as results_baselines.csv) and the figure to
docs/, then run make pages. Not part of CI: per seed it trains two networks (about 70 s
each on an idle 2-core CPU) and fine-tunes for 24 epochs.

Usage: python -m benchmarks.seeds [--seeds 0 1 2] [--one-shot-only]
"""

from __future__ import annotations

import argparse
import math
import time

import pandas as pd

from helpers import plots
from helpers.config import K_LIST, REFERENCE_ACCURACY, project_home
from helpers.data import load_mnist
from helpers.retraining import FINE_TUNE_KS, fine_tuned_sweep, iterative_prune
from helpers.sweeps import sweep
from helpers.training import baseline

#: The rows of the table, in order: (method, procedure).
PROCEDURES = ["one-shot", "one-shot, no L1", "fine-tuned", "iterative"]


def one_seed(seed: int, data, one_shot_only: bool) -> tuple[pd.DataFrame, list[dict]]:
    frames, baselines = [], []
    for recipe in ("l1", "no-l1"):
        net, info = baseline(seed, data=data, progress=False, recipe=recipe)
        print(f"seed {seed}, recipe {recipe}: baseline {100 * info['test_accuracy']:.2f}% test, "
              f"{100 * info['validation_accuracy']:.2f}% validation "
              f"({'loaded' if info['loaded'] else 'trained'}; training took {info['seconds']:.0f} s)", flush=True)
        baselines.append(dict(seed=seed, recipe=recipe, accuracy=info["test_accuracy"],
                              validation_accuracy=info["validation_accuracy"], seconds=info["seconds"]))
        frames.append(sweep(net, data.test).assign(procedure="one-shot" if recipe == "l1" else "one-shot, no L1"))
        if recipe == "l1" and not one_shot_only:
            started = time.perf_counter()
            frames.append(fine_tuned_sweep(net, data.train, data.test, FINE_TUNE_KS, seed=seed))
            for method, ks in FINE_TUNE_KS.items():
                _, rounds = iterative_prune(net, ks, data.train, data.test, method, seed=seed, epochs=1)
                frames.append(rounds.assign(method=method, procedure="iterative"))
            print(f"  fine-tuned and iterative runs: {time.perf_counter() - started:.0f} s", flush=True)
    runs = pd.concat(frames, ignore_index=True)[["method", "procedure", "k", "accuracy"]].assign(seed=seed)
    return runs, baselines


def summarise(runs: pd.DataFrame, by: tuple[str, ...] = ("method", "procedure", "k")) -> pd.DataFrame:
    """Mean, standard deviation, standard error of the mean and n of the accuracy per group of `by` (over seeds)."""
    summary = (runs.groupby(list(by), sort=False)["accuracy"].agg(["mean", "std", "count"])
               .reset_index().rename(columns={"mean": "accuracy", "count": "n"}))
    summary["se"] = summary["std"] / summary["n"].map(math.sqrt)
    return summary


def over_seeds(name: str, one_seed, by: tuple[str, ...], markdown, description: str, seeds: list[int] | None = None,
               summary_of=None):
    """Run `one_seed(seed, data)` for each seed, write build/results/<name>.csv, <name>_summary.csv and <name>.md.

    Args:
        name: the stem of the files written.
        one_seed: (seed, data) -> the runs of one seed (a DataFrame with an "accuracy" column).
        by: the columns that make one row of the summary (`summarise`).
        markdown: summary -> the table of docs/results.md.
        description: the command line's help text.
        seeds: the seeds; None reads them from the command line (--seeds, default 0 1 2).
        summary_of: runs -> summary, if the summary needs more than `summarise(runs, by)`.

    Returns:
        (summary, data, seeds, the folder written to).
    """
    if seeds is None:
        parser = argparse.ArgumentParser(description=description)
        parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
        seeds = parser.parse_args().seeds
    out = project_home() / "build" / "results"
    out.mkdir(parents=True, exist_ok=True)
    data = load_mnist()
    runs = pd.concat([one_seed(seed, data) for seed in seeds], ignore_index=True)
    runs.to_csv(out / f"{name}.csv", index=False)
    summary = summarise(runs, by=by) if summary_of is None else summary_of(runs)
    summary.to_csv(out / f"{name}_summary.csv", index=False)
    (out / f"{name}.md").write_text(markdown(summary) + "\n")
    return summary, data, seeds, out


def cell(row: pd.Series) -> str:
    """One table cell: mean ± standard error in percent (the mean alone when there is one run)."""
    mean = f"{100 * row['accuracy']:.2f}"
    return mean if math.isnan(row["se"]) else f"{mean} ± {100 * row['se']:.2f}"


def markdown(summary: pd.DataFrame) -> str:
    """The results table of docs/results.md: percentages, mean ± standard error, the reference notebook's rows beside ours."""
    ks = sorted(summary["k"].unique())
    lines = ["| method | procedure | " + " | ".join(f"k={k:g}" for k in ks) + " |",
             "|---|---|" + "---|" * len(ks)]
    for method in ("weight", "unit"):
        reference = dict(zip(K_LIST, REFERENCE_ACCURACY[method]))
        lines.append(f"| {method} | ref. (one-shot) | " + " | ".join(f"{reference[k]:.2f}" if k in reference else ""
                                                                    for k in ks) + " |")
        for procedure in PROCEDURES:
            rows = summary[(summary["method"] == method) & (summary["procedure"] == procedure)].set_index("k")
            if rows.empty:
                continue
            cells = [cell(rows.loc[k]) if k in rows.index else "" for k in ks]
            lines.append(f"| {method} | {procedure} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


#: The README's small table: where one-shot pruning starts to lose, and what retraining brings back.
HEADLINE = (("weight", 99), ("unit", 90))


def headline(summary: pd.DataFrame) -> str:
    """The README's small table: test accuracy (%) at weight k = 99 and unit k = 90, per procedure, with the reference."""
    at = summary.set_index(["method", "k", "procedure"])
    reference = {method: dict(zip(K_LIST, REFERENCE_ACCURACY[method])) for method in ("weight", "unit")}
    lines = ["| pruned | ref. (one-shot) | " + " | ".join(PROCEDURES) + " |", "|---|---|" + "---|" * len(PROCEDURES)]
    for method, k in HEADLINE:
        cells = [cell(at.loc[method, k, procedure]) if (method, k, procedure) in at.index else ""
                 for procedure in PROCEDURES]
        lines.append(f"| {method} k={k:g} | {reference[method][k]:.2f} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


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
    baselines = pd.DataFrame([b for _, seed_baselines in results for b in seed_baselines])
    runs.to_csv(out / "runs.csv", index=False)
    baselines.to_csv(out / "baselines.csv", index=False)
    summary = summarise(runs)
    summary.to_csv(out / "summary.csv", index=False)
    (out / "table.md").write_text(markdown(summary) + "\n")
    base = baselines.loc[baselines["recipe"] == "l1", "accuracy"].mean()
    plots.use_style()  # the README's figure in the notebooks' style
    figure = plots.accuracy_vs_k(summary, baseline=base, style_by="procedure",
                                 title=f"Pruning the 784-1000-1000-500-200-10 MLP ({len(args.seeds)} seeds)")
    figure.savefig(out / "accuracy_vs_k.png", dpi=110, bbox_inches="tight")

    for recipe, group in baselines.groupby("recipe", sort=False):
        print(f"\nbaseline, recipe {recipe}: {100 * group['accuracy'].mean():.2f} "
              f"± {100 * group['accuracy'].std() / math.sqrt(len(group)):.2f}% (test, mean ± standard error) "
              f"over seeds {args.seeds}; training {', '.join(f'{s:.0f}' for s in group['seconds'])} s")
    print(markdown(summary))
    print(f"\nwrote {out}")


if __name__ == "__main__":
    main()

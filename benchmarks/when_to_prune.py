"""Before, during or after training (notebook 10) over seeds, mean ± standard error, and the issue's target checked.

For each seed and share kept: every arm of `helpers.when_to_prune` at the baseline's budget of 10 epochs, then the
arms that are sparse from the first step trained longer (`LONG`), as long as their training still costs at most
5% of the dense baseline's: the target is >= 98.0% test accuracy with 1% of the hidden weights at that cost.

Writes build/results/when_to_prune.csv, when_to_prune_summary.csv and when_to_prune.md (the table of docs/results.md).
Usage: python -m benchmarks.when_to_prune [--seeds 0 1 2] [--keeps 1] (--help: running seeds in parallel)
"""

from __future__ import annotations

import argparse

import pandas as pd

from benchmarks.seeds import over_seeds, summarise
from helpers.config import project_home
from helpers.when_to_prune import ARMS, EPOCHS, SPARSE_FROM_START, train_arm

#: The arms trained longer, and for how many epochs: sparse from the first step, under 5% of the dense cost at 1%.
LONG = {"RigL": 35}

#: The target: at least this test accuracy (mean over seeds) ...
TARGET_ACCURACY = 0.98
#: ... with this share of the hidden weights, at no more than this share of the dense training's multiply-adds.
TARGET_KEEP, TARGET_COST = 1.0, 0.05

MEANS = ["validation_accuracy", "kept_share", "connected_share", "flops_share", "seconds"]


def one_seed(seed: int, data, keeps: list[float], arms=ARMS, long: dict[str, int] | None = None) -> pd.DataFrame:
    """Every arm of `arms` at the baseline's budget, then each of `long` (default `LONG`) for its epochs."""
    rows = []
    for keep in keeps:
        runs = [(arm, EPOCHS) for arm in arms] + list((LONG if long is None else long).items())
        for arm, epochs in runs:
            rows.append(train_arm(arm, keep, data, seed=seed, epochs=epochs)[1])
            print(f"seed {seed}, keep {keep:g}%, {arm} ({rows[-1]['epochs']:g} epochs): {100 * rows[-1]['accuracy']:.2f}%, "
                  f"cost {100 * rows[-1]['flops_share']:.2f}% of dense, {rows[-1]['seconds']:.0f} s", flush=True)
    return pd.DataFrame(rows)


def summary_of(runs: pd.DataFrame) -> pd.DataFrame:
    """Per arm, share kept and epochs: test accuracy (mean, se, n) and the means of the other columns."""
    by = ["arm", "when", "keep", "epochs"]
    summary = summarise(runs, by=tuple(by))
    return summary.merge(runs.groupby(by, sort=False)[MEANS].mean().reset_index(), on=by)


def _accuracy(row: pd.Series) -> str:
    """Test accuracy in %, mean ± standard error (the mean alone for one seed)."""
    return f"{100 * row['accuracy']:.2f}" + ("" if row["n"] < 2 else f" ± {100 * row['se']:.2f}")


def markdown(summary: pd.DataFrame) -> str:
    """The table of docs/results.md: one row per arm, share kept and budget."""
    lines = ["| when | arm | hidden weights kept | epochs | training cost (% of dense) | weights connected (%) "
             "| test accuracy (%) | n |", "|---|---|---|---|---|---|---|---|"]
    for _, r in summary.sort_values("keep", ascending=False, kind="stable").iterrows():
        accuracy = _accuracy(r)
        lines.append(f"| {r['when']} | {r['arm']} | {r['keep']:g}% | {r['epochs']:g} | {100 * r['flops_share']:.2f} "
                     f"| {r['connected_share']:.2f} | {accuracy} | {r['n']} |")
    return "\n".join(lines)


def target(summary: pd.DataFrame) -> str:
    """Whether the arm sparse from the first step that validation prefers (at the target's share and cost) met the
    target on test, in one line."""
    sparse = summary[summary["arm"].isin(SPARSE_FROM_START)]
    eligible = sparse[(sparse["keep"] == TARGET_KEEP) & (sparse["flops_share"] <= TARGET_COST)]
    if eligible.empty:
        return f"target: no arm sparse from the first step was run at {TARGET_KEEP:g}% within {TARGET_COST:.0%}"
    best = eligible.loc[eligible["validation_accuracy"].idxmax()]  # chosen on validation, reported on test
    met = "met" if best["accuracy"] >= TARGET_ACCURACY else "not met"
    return (f"target {met}: the arm sparse from the first step with the best validation accuracy at {TARGET_KEEP:g}% of the hidden weights and at most "
            f"{TARGET_COST:.0%} of the dense training cost: {best['arm']} ({best['epochs']:g} epochs), "
            f"{_accuracy(best)}% at {100 * best['flops_share']:.2f}% "
            f"(target {100 * TARGET_ACCURACY:.1f}%)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--keeps", type=float, nargs="+", default=[TARGET_KEEP], help="percentages of hidden weights kept")
    parser.add_argument("--arms", nargs="*", default=list(ARMS), help="the arms trained for the baseline's epochs")
    parser.add_argument("--long", nargs="*", default=[f"{arm}={epochs}" for arm, epochs in LONG.items()],
                        help="ARM=EPOCHS: arms trained longer (none: give the option alone)")
    parser.add_argument("--name", default="when_to_prune", help="the stem of the files written in build/results/")
    parser.add_argument("--runs", nargs="*", default=[], help="summarise these runs CSVs (of --name runs in parallel) "
                        "instead of training")
    args = parser.parse_args()
    out = project_home() / "build" / "results"
    long = {arm: int(epochs) for arm, epochs in (item.rsplit("=", 1) for item in args.long)}
    if args.runs:
        runs = pd.concat([pd.read_csv(path, keep_default_na=False) for path in args.runs], ignore_index=True)
        runs.to_csv(out / f"{args.name}.csv", index=False)
        summary = summary_of(runs)
        summary.to_csv(out / f"{args.name}_summary.csv", index=False)
        (out / f"{args.name}.md").write_text(markdown(summary) + "\n")
    else:
        summary, *_ = over_seeds(args.name, lambda seed, data: one_seed(seed, data, args.keeps, args.arms, long), ("arm", "keep"),
                                 markdown, "", seeds=args.seeds, summary_of=summary_of)
    print(markdown(summary))
    print("\n" + target(summary))
    print(f"\nwrote {out}")


if __name__ == "__main__":
    main()

"""The criteria table and the sensitivity allocation over seeds (notebook 06), mean ± standard error, and the time to score.

For each seed, with the cached baselines of `benchmarks.seeds` (both recipes; trained here if missing):
- every criterion one-shot at weight k = 99 and unit k = 90 on the test set, for both recipes;
- at 1% of the prunable weights kept (what uniform k = 99 keeps): uniform magnitude, global
  magnitude, global LAMP and the magnitude allocation of `allocate`; at 10% of the hidden
  units kept (uniform k = 90): uniform L2 and the allocations of four unit criteria, the
  best of which is chosen on validation per seed and reported on test.
And, on seed 0, the seconds to score the whole network with each criterion (target: 10 s).

Writes build/results/criteria.csv, criteria_summary.csv and criteria.md (the tables of docs/results.md).
Usage: python -m benchmarks.criteria [--seeds 0 1 2]
"""

from __future__ import annotations

import time

import pandas as pd

from benchmarks.seeds import cell, over_seeds
from helpers.allocation import SENSITIVITY_KS, budget_candidates, measure_candidates, sensitivity
from helpers.criteria import CRITERIA, calibration
from helpers.pruning import rank
from helpers.sweeps import sweep_criteria
from helpers.training import baseline

HARD = {"weight": [99], "unit": [90]}
CHOICES = {"weight": ["magnitude", "magnitude, global", "lamp", "obd", "wanda", "taylor", "random"],
           "unit": list(CRITERIA["unit"])}
UNIT_ALLOCATION_CRITERIA = ("l2", "l1", "l2_out", "l2_in_out")
NETWORKS = {"l1": "trained with L1", "no-l1": "trained without L1"}


def one_seed(seed: int, data) -> pd.DataFrame:
    rows = []
    for recipe in ("l1", "no-l1"):
        net, _ = baseline(seed, data=data, progress=False, recipe=recipe)
        sample = calibration(data.train, seed=seed)
        table = sweep_criteria(net, data.test, HARD, CHOICES, calibration=sample)
        rows.append(table.assign(procedure=f"one-shot, {recipe}")[["method", "criterion", "procedure", "k", "accuracy"]])
        if recipe != "l1":
            continue
        splits = {"validation": data.validation, "test": data.test}
        weights = measure_candidates(net, budget_candidates(
            net, "weight", 99, {"magnitude": sensitivity(net, data.validation, SENSITIVITY_KS["weight"])}), splits)
        units = measure_candidates(net, budget_candidates(
            net, "unit", 90, {c: sensitivity(net, data.validation, SENSITIVITY_KS["unit"], "unit", c, calibration=sample)
                              for c in UNIT_ALLOCATION_CRITERIA}, calibration=sample), splits, "unit")
        best = units[units.index.str.startswith("allocated")]["validation (%)"].idxmax()
        units = units.loc[["uniform, l2", best]].rename(index={best: "allocated, best on validation"})
        for method, table_ in (("weight", weights), ("unit", units)):
            for how, row in table_.iterrows():
                rows.append(pd.DataFrame([dict(method=method, criterion=how, procedure="equal budget, l1",
                                               k=99 if method == "weight" else 90, accuracy=row["test (%)"] / 100)]))
        print(f"seed {seed}: unit allocation chosen on validation: {best}", flush=True)
    return pd.concat(rows, ignore_index=True).assign(seed=seed)


def scoring_seconds(net, sample) -> pd.DataFrame:
    """Seconds to rank the whole network by each criterion (scores and sort), median of three."""
    rows = []
    for method, names in CRITERIA.items():
        for criterion in names:
            scope = "global" if criterion == "lamp" else "layer"
            times = []
            for _ in range(3):
                started = time.perf_counter()
                rank(net, method, scope, criterion=criterion, data=sample)
                times.append(time.perf_counter() - started)
            rows.append(dict(method=method, criterion=criterion, seconds=sorted(times)[1]))
    return pd.DataFrame(rows)


def markdown(summary: pd.DataFrame) -> str:
    """The criteria table of docs/results.mds: test accuracy in %, mean ± standard error over seeds."""
    lines = []
    for procedure, title in (("one-shot", "one-shot, test accuracy (%)"), ("equal budget, l1", "equal budget, L1 recipe, test accuracy (%)")):
        part = summary[summary["procedure"].str.startswith(procedure)]
        recipes = list(dict.fromkeys(part["procedure"]))
        lines += [f"| method | criterion | {' | '.join(NETWORKS[r.split(', ')[-1]] for r in recipes)} |",
                  "|---|---|" + "---|" * len(recipes)]
        for (method, criterion), group in part.groupby(["method", "criterion"], sort=False):
            cells = group.set_index("procedure").reindex(recipes)
            values = [cell(r) if pd.notna(r["accuracy"]) else "" for _, r in cells.iterrows()]
            k = group["k"].iloc[0]
            lines.append(f"| {method} k={k:g} | {criterion} | " + " | ".join(values) + " |")
        lines.append("")
    return "\n".join(lines).strip()


def main() -> None:
    summary, data, seeds, out = over_seeds("criteria", one_seed, ("method", "criterion", "procedure", "k"), markdown,
                                           __doc__.splitlines()[0])
    net, _ = baseline(seeds[0], data=data, progress=False)
    seconds = scoring_seconds(net, calibration(data.train, seed=seeds[0]))
    seconds.to_csv(out / "criteria_seconds.csv", index=False)
    print(markdown(summary))
    print("\nseconds to score and rank the whole network (target 10 s):")
    print(seconds.to_string(index=False))
    print(f"\nwrote {out}")


if __name__ == "__main__":
    main()

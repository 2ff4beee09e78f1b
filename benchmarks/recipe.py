"""How strong an L1 penalty? The baseline's recipe, chosen on the validation split.

Trains the classic network (seed 0) with the series' recipe and each candidate
L1 strength, prunes every network one-shot at every k of `K_LIST` by weights
and by units, and scores each on the 5,000 validation images (never the test
set). The rule, written here once:

1. keep the candidates whose dense validation accuracy is within `TOLERANCE`
   (0.2 points, about one standard error on 5,000 images) of the best one;
2. of those, choose the one with the highest mean validation accuracy over
   the one-shot sweep (both methods, all ten k): the most prunable network
   that costs nothing unpruned.

Writes build/results/recipe.csv (copy it to docs/recipe.csv: notebook 01 shows it
and asserts that `RECIPE` is the chosen one). About 6 minutes on 2 cores; the
l1 = 0 and l1 = 2e-5 networks are the cached baselines "no-l1" and "l1".

Usage: python -m benchmarks.recipe
"""

from __future__ import annotations

import pandas as pd

from helpers.config import K_LIST, project_home
from helpers.data import load_mnist
from helpers.sweeps import sweep
from helpers.training import RECIPE, RECIPES, baseline, evaluate, train_baseline

#: The L1 strengths tried (0 is the recipe without L1).
CANDIDATES = [0.0, 1e-5, 2e-5, 5e-5]

#: How far below the best dense validation accuracy a candidate may be and still be chosen.
TOLERANCE = 0.002


def choose(table: pd.DataFrame, tolerance: float = TOLERANCE) -> float:
    """The L1 strength the rule above picks from a table with columns l1, dense, pruned_mean."""
    eligible = table[table["dense"] >= table["dense"].max() - tolerance]
    return float(eligible.loc[eligible["pruned_mean"].idxmax(), "l1"])


def markdown(table: pd.DataFrame) -> str:
    """The recipe table of docs/results.md, made from docs/recipe.csv (validation accuracies in percent)."""
    lines = ["| L1 strength | unpruned, validation | mean of the one-shot sweep, validation | weight k=99 | unit k=80 | chosen |",
             "|---|---|---|---|---|---|"]
    for r in table.itertuples():
        lines.append(f"| {r.l1:g} | {100 * r.dense:.2f} | {100 * r.pruned_mean:.2f} | {100 * r.weight_99:.2f} "
                     f"| {100 * r.unit_80:.2f} | {'**yes**' if r.chosen else ''} |")
    return "\n".join(lines)


def main() -> None:
    data = load_mnist()
    names = {settings["l1"]: name for name, settings in RECIPES.items()}
    rows = []
    for l1 in CANDIDATES:
        if l1 in names:
            net, _ = baseline(0, data=data, progress=False, recipe=names[l1])
        else:
            net, _ = train_baseline(0, data.train, data.validation, progress=False, **{**RECIPE, "l1": l1})
        results = sweep(net, data.validation, K_LIST)
        rows.append(dict(l1=l1, dense=evaluate(net, data.validation), pruned_mean=results["accuracy"].mean(),
                         **{f"{m}_{k}": a for m, k, a in results[["method", "k", "accuracy"]].itertuples(index=False)}))
        print(f"l1 = {l1:g}: dense {100 * rows[-1]['dense']:.2f}%, "
              f"mean over the one-shot sweep {100 * rows[-1]['pruned_mean']:.2f}% (validation)", flush=True)
    table = pd.DataFrame(rows)
    table["chosen"] = table["l1"] == choose(table)
    out = project_home() / "build" / "results"
    out.mkdir(parents=True, exist_ok=True)
    table.to_csv(out / "recipe.csv", index=False)
    print(table[["l1", "dense", "pruned_mean", "chosen"]].to_string(index=False))
    print(f"chosen: l1 = {choose(table):g} (RECIPE has {RECIPE['l1']:g}); wrote {out / 'recipe.csv'}")


if __name__ == "__main__":
    main()

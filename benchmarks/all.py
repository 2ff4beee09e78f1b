"""Every performance figure the project claims, measured side by side in one run.

Prints one table of ratios and writes it to build/benchmarks.csv, from which the
table in docs/speed_and_size.md is made (make pages). Usage: make benchmark (or python -m benchmarks.all).
"""

from __future__ import annotations

import pandas as pd
import torch

from benchmarks import explorer, speed, sweep, training
from helpers.config import project_home


def markdown(table: pd.DataFrame, digits: int = 3) -> str:
    """The speed table of docs/speed_and_size.md, made from the CSV that `main` writes (copied to docs/benchmarks.csv); also the
    shipping table (docs/ship.csv, with `digits` = 4 so that accuracies keep their hundredths)."""
    def number(value: float) -> str:
        return f"{value:,.0f}" if abs(value) >= 1000 else f"{value:.{digits}g}"

    lines = ["| what | measured | compared with | ratio | target |", "|---|---|---|---|---|"]
    for r in table.fillna("").itertuples():
        lines.append(f"| {r.benchmark} | {number(r.value)} {r.measured} | {number(r.reference)} {r.compared_with} "
                     f"| **{r.ratio:.2f}** | {r.target} |")
    return "\n".join(lines)


def main() -> None:
    rows = []
    for module in (training, sweep, explorer, speed):
        print(f"running benchmarks.{module.__name__.split('.')[-1]} ...", flush=True)
        rows += module.run()
    table = pd.DataFrame(rows)
    table.insert(0, "threads", torch.get_num_threads())
    out = project_home() / "build" / "benchmarks.csv"
    out.parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(out, index=False)
    with pd.option_context("display.width", 200, "display.max_colwidth", 45):
        print(table[["benchmark", "value", "measured", "reference", "compared_with", "ratio", "target"]]
              .round(3).to_string(index=False))
    print(f"\nwrote {out}; the table of docs/speed_and_size.md, once it is copied to docs/benchmarks.csv and make pages has run:\n\n{markdown(table)}")


if __name__ == "__main__":
    main()

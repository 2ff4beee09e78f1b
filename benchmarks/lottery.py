"""Lottery tickets over seeds (notebook 08), mean ± standard error, and the two targets checked.

For each seed: the initial weights of `baseline(seed)` (trained here if missing), `find_tickets` with the
short recipe `LOTTERY` (7 rounds at 40%, the dense round 0 included), and at `CONTROL_ROUNDS` the four
controls (random reinitialisation, as drawn and rescaled by 1/sqrt(density); random mask; no rewind), plus late
rewinding to step `LATE_STEP` at the two sparsest rounds; test accuracy at the end of each training, and the
early-stopping step.

Targets: tickets with <= 10% of the weights reach at least the dense network of the same recipe; at <= 5%
random reinitialisation is below the ticket by more than the noise: the series' rule, twice the standard error of
the difference, taken over seeds or, where larger, from the binomial error of the test set. The reinitialisation
rescaled to the mask's density is measured against the ticket by the same rule, with no target.

Writes build/results/lottery.csv, lottery_summary.csv and lottery.md (the table of docs/results.md).
Usage: python -m benchmarks.lottery [--seeds 0 1 2]
"""

from __future__ import annotations


import pandas as pd

from benchmarks.seeds import cell, over_seeds, summarise
from helpers.lottery import CONTROL_ROUNDS, LATE_STEP, branch, find_tickets
from helpers.stats import noise_over_seeds
from helpers.config import project_home
from helpers.training import baseline, initial_weights

BRANCH_ORDER = ("ticket", "reinitialised", "reinitialised, rescaled", "random mask", "no rewind", "late rewind")


def one_seed(seed: int, data) -> pd.DataFrame:
    baseline(seed, data=data, progress=False)  # trains it (and saves its initial weights) if missing
    lottery = find_tickets(initial_weights(seed), data, seed=seed, keep_steps=[LATE_STEP], progress=False)
    tables = [lottery.table]
    for kind in ("reinitialised", "reinitialised, rescaled", "random mask", "no rewind"):
        tables.append(branch(lottery, kind, CONTROL_ROUNDS, progress=False)[0])
    tables.append(branch(lottery, "late rewind", CONTROL_ROUNDS[-2:], step=LATE_STEP, progress=False)[0])
    print(f"seed {seed} done", flush=True)
    return pd.concat(tables, ignore_index=True).assign(seed=seed)


def summary_of(runs: pd.DataFrame) -> pd.DataFrame:
    """Per branch and round: accuracy (mean, se, n), and the mean share remaining and early-stopping step."""
    summary = summarise(runs, by=("branch", "round"))
    means = runs.groupby(["branch", "round"], sort=False)[["remaining", "early_stop"]].mean().reset_index()
    return summary.merge(means, on=["branch", "round"])


def gap(summary: pd.DataFrame, a: tuple[str, int], b: tuple[str, int], n_test: int) -> tuple[float, float]:
    """(mean of a − mean of b, the noise): twice the standard error of the difference, over seeds or, if larger, binomial."""
    rows = summary.set_index(["branch", "round"])
    x, y = rows.loc[a], rows.loc[b]
    return x["accuracy"] - y["accuracy"], noise_over_seeds(x["accuracy"], x["se"], y["accuracy"], y["se"], n_test)


def markdown(summary: pd.DataFrame) -> str:
    """The lottery table of docs/results.md: test accuracy (%) per branch (rows) and share of weights remaining (columns)."""
    tickets = summary[summary["branch"] == "ticket"].set_index("round")
    rounds = [0, *sorted(summary.loc[summary["branch"] != "ticket", "round"].unique())]
    lines = ["| branch | " + " | ".join(f"{tickets.loc[r, 'remaining']:.1f}%" for r in rounds) + " |",
             "|---|" + "---|" * len(rounds)]
    for name in BRANCH_ORDER:
        rows = summary[summary["branch"] == name].set_index("round")
        if not rows.empty:
            lines.append(f"| {name} | " + " | ".join(cell(rows.loc[r]) if r in rows.index else ""
                                                     for r in rounds) + " |")
    return "\n".join(lines)


def targets(summary: pd.DataFrame, n_test: int) -> list[str]:
    """The issue's two targets, as sentences with the numbers that decide them."""
    tickets = summary[summary["branch"] == "ticket"].set_index("round")
    dense = tickets.loc[0, "accuracy"]
    lines = []
    for r, row in tickets[tickets["remaining"] <= 10].iterrows():
        lines.append(f"ticket at {row['remaining']:.1f}%: {100 * row['accuracy']:.2f}% against the dense "
                     f"{100 * dense:.2f}% -> {'met' if row['accuracy'] >= dense else 'MISSED'}")
    controls = summary[summary["branch"] == "reinitialised"].set_index("round")
    for r, row in controls[controls["remaining"] <= 5].iterrows():
        difference, noise = gap(summary, ("ticket", r), ("reinitialised", r), n_test)
        lines.append(f"at {row['remaining']:.1f}%: ticket − reinitialised = {100 * difference:.2f} points, noise "
                     f"{100 * noise:.2f} -> {'met' if difference > noise else 'MISSED'}")
    rescaled = summary[summary["branch"] == "reinitialised, rescaled"].set_index("round")  # a measurement, no target
    for r, row in rescaled[rescaled["remaining"] <= 5].iterrows():
        difference, noise = gap(summary, ("ticket", r), ("reinitialised, rescaled", r), n_test)
        word = "higher" if difference > noise else "lower" if -difference > noise else "too close to call"
        lines.append(f"at {row['remaining']:.1f}%: ticket − reinitialised, rescaled = {100 * difference:.2f} points, "
                     f"noise {100 * noise:.2f} -> the ticket {word} (no target)")
    return lines


def sentences(summary: pd.DataFrame, baselines: pd.DataFrame, n_test: int = 10_000) -> str:
    """The sentences of docs/results.md under the lottery table, every number and every word made from it: the
    targets, the tickets against the dense network and the series' baseline (`baselines`: docs/results_baselines.csv),
    and each control against the ticket by the noise rule (twice the standard error of the difference)."""
    rows = summary.set_index(["branch", "round"])
    sparse = [r for r in (5, 6, 7) if ("ticket", r) in rows.index]
    low = [r for r in (6, 7) if ("reinitialised", r) in rows.index]
    quoted = lambda branch, r: f"{100 * rows.loc[(branch, r), 'accuracy']:.2f} ± {100 * rows.loc[(branch, r), 'se']:.2f}"  # noqa: E731
    share = lambda r: f"{rows.loc[('ticket', r), 'remaining']:.1f}%"  # noqa: E731
    listed = lambda items: ", ".join(items[:-1]) + f" and {items[-1]}" if len(items) > 1 else items[0]  # noqa: E731
    l1 = 100 * baselines.loc[baselines["recipe"] == "l1", "accuracy"]
    below = [l1.mean() - 100 * rows.loc[("ticket", r), "accuracy"] for r in sparse]
    met = all(line.endswith("-> met") for line in targets(summary, n_test) if "(no target)" not in line)
    text = [("Both targets are met." if met else "Not every target is met (`python -m benchmarks.lottery` prints "
             "which).") + f" The tickets with {listed([share(r) for r in sparse])} of the weights score "
            f"{listed([quoted('ticket', r) for r in sparse])}, "
            + ("above" if all(rows.loc[('ticket', r), 'accuracy'] >= rows.loc[('ticket', 0), 'accuracy'] for r in sparse)
               else "not all above") + f" the dense network of the same recipe ({quoted('ticket', 0)}) and "
            f"{min(below):.2f} to {max(below):.2f} points below the 10-epoch baseline ({l1.mean():.2f} ± "
            f"{l1.std() / len(l1) ** 0.5:.2f})."]

    def against(kind: str) -> tuple[list[str], list[str], list[bool]]:
        gaps = [gap(summary, ("ticket", r), (kind, r), n_test) for r in low]
        return ([f"{100 * d:.2f}" for d, _ in gaps], [f"{100 * n:.2f}" for _, n in gaps], [abs(d) <= n for d, n in gaps])

    d, n, close = against("reinitialised")
    text.append(f"With new random initial values the same masks score {listed([f'{x} points less at {share(r)}' for x, r in zip(d, low)])} "
                f"(the noise, twice the standard error of the difference: {listed(n)})"
                + (", and a random mask with the ticket's initial values does worse still "
                   f"({quoted('random mask', 7)} at {share(7)})." if ("random mask", 7) in rows.index else "."))
    if ("reinitialised, rescaled", low[-1]) in rows.index:
        d, n, close = against("reinitialised, rescaled")
        closed = [100 * (rows.loc[("reinitialised, rescaled", r), "accuracy"] - rows.loc[("reinitialised", r), "accuracy"])
                  for r in low]
        text.append("Rescaled by 1/sqrt(density) per layer, the new values take back "
                    f"{listed([f'{x:.2f}' for x in closed])} points of that gap, and the ticket stays "
                    + ("ahead" if not any(close) else "ahead or too close to call")
                    + f" ({listed([f'{x} points at {share(r)}' for x, r in zip(d, low)])}; noise {listed(n)}).")
    for kind, verb in (("no rewind", "Going back to the initial weights instead of continuing to train the pruned "
                                     "network (*no rewind*)"), ("late rewind", "Rewinding to step 86 instead of 0")):
        if ("ticket", low[0]) in rows.index and (kind, low[-1]) in rows.index:
            d, n, close = against(kind)
            text.append(f"{verb} changes " + ("nothing beyond the noise" if all(close) else "the result by more than the noise")
                        + f" (the ticket minus it: {listed([f'{x} points at {share(r)}' for x, r in zip(d, low)])}; noise {listed(n)}).")
    return " ".join(text)


def main() -> None:
    summary, data, seeds, out = over_seeds("lottery", one_seed, ("branch", "round"), markdown, __doc__.splitlines()[0],
                                           summary_of=summary_of)
    print(markdown(summary))
    print("\n" + "\n".join(targets(summary, len(data.test))))
    print("\n" + sentences(summary, pd.read_csv(project_home() / "docs" / "results_baselines.csv")))
    print(f"\nwrote {out}")


if __name__ == "__main__":
    main()

"""The generated parts of the README and of the pages in docs/: every table and every sentence made from a CSV.

A page marks each generated part with a pair of HTML comments (invisible on GitHub):

    <!-- begin: results (made by `make pages` from docs/results_summary.csv; edit the CSV, not this) -->
    ...the table...
    <!-- end: results -->

`make pages` (python -m benchmarks.pages) rewrites what lies between them from the files in docs/: run it after
copying the CSVs that `make results`, `make recipe` and `make benchmark` write in build/ to docs/. The prose around
the parts is written by hand.
`python -m benchmarks.pages --check` exits 1 if a page is out of date, and tests/test_pages.py checks that every
committed page is what `make pages` would write.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Callable

import pandas as pd

from helpers.config import project_home
from helpers.model import write_atomically

#: The files with generated parts, relative to the project's root.
PAGES = ("README.md", "docs/results.md", "docs/speed_and_size.md", "docs/explorer.md")

_PART = re.compile(r"(<!-- begin: (?P<name>[\w-]+)[^>]*-->\n)(?P<body>.*?)(<!-- end: (?P=name) -->)", re.S)


def _csv(name: str) -> pd.DataFrame:
    return pd.read_csv(project_home() / "docs" / name)


def _browser() -> dict:
    return json.loads((project_home() / "docs" / "explorer_browser.json").read_text())


def _dense_evaluation() -> float:
    speed = _csv("benchmarks.csv").set_index("benchmark")
    return float(speed.loc["explorer: one dense evaluation of the test set, for scale", "value"])


def parts() -> dict[str, Callable[[], str]]:
    """Every generated part by name: a function that makes it from the files in docs/."""
    from benchmarks import all as speed_table, criteria, explorer, frontier, lottery, recipe, repair, seeds, ship, when_to_prune
    return {
        "headline": lambda: seeds.headline(_csv("results_summary.csv")),
        "results": lambda: seeds.markdown(_csv("results_summary.csv")),
        "recipe": lambda: recipe.markdown(_csv("recipe.csv")),
        "criteria": lambda: criteria.markdown(_csv("criteria_summary.csv")),
        "repair": lambda: repair.markdown(_csv("repair_summary.csv")),
        "lottery": lambda: lottery.markdown(_csv("lottery_summary.csv")),
        "lottery-summary": lambda: lottery.sentences(_csv("lottery_summary.csv"), _csv("results_baselines.csv")),
        "when-to-prune": lambda: when_to_prune.markdown(_csv("when_to_prune_summary.csv")),
        "when-to-prune-target": lambda: when_to_prune.target(_csv("when_to_prune_summary.csv")),
        "speed": lambda: speed_table.markdown(_csv("benchmarks.csv")),
        "explorer-browser": lambda: explorer.browser_table(_browser()),
        "explorer-browser-summary": lambda: explorer.browser_summary(_browser(), _dense_evaluation()),
        "ship": lambda: speed_table.markdown(_csv("ship.csv"), digits=4),
        "ship-summary": lambda: ship.summary(_csv("ship.csv")),
        "frontier": lambda: frontier.markdown(_csv("frontier_summary.csv")),
        "frontier-target": lambda: frontier.target(_csv("frontier_summary.csv")),
    }


def render(text: str, made: dict[str, Callable[[], str]] | None = None) -> str:
    """`text` with every generated part made again.

    Raises:
        KeyError: a part names nothing in `parts()` (the message lists the names there are).
        ValueError: a `begin` marker has no matching `end` marker.
    """
    made = parts() if made is None else made
    unknown = [m["name"] for m in _PART.finditer(text) if m["name"] not in made]
    if unknown:
        raise KeyError(f"generated part {unknown[0]!r} is not one of {sorted(made)}: fix its name in the page")
    if len(re.findall(r"<!-- begin: ", text)) != len(_PART.findall(text)):
        raise ValueError("a '<!-- begin: NAME ... -->' marker has no '<!-- end: NAME -->' after it: add it")
    return _PART.sub(lambda m: m.group(1) + made[m["name"]]() + "\n" + m.group(4), text)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="change nothing; exit 1 if a page is out of date")
    check = parser.parse_args(argv).check
    stale = []
    for name in PAGES:
        path = project_home() / name
        text = path.read_text()
        new = render(text)
        if new != text:
            stale.append(name)
            if not check:
                write_atomically(path, lambda file: file.write(new.encode()))
    verb = "out of date" if check else "rewritten"
    print(f"{verb}: {', '.join(stale)}" if stale else "every page is up to date")
    return 1 if check and stale else 0


if __name__ == "__main__":
    sys.exit(main())

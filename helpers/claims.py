"""Claims a notebook makes about its results, checked where they are made; and `make claims`.

A reader's network is never bit-equal to ours: another CPU, thread count, GPU, PyTorch
version or seed changes the bits. So a notebook states each claim with the numbers it rests
on through `check`, and what happens when the claim is false depends on who is running it:

- under `make test`, `make claims` and CI (`PRUNING_MNIST_CLAIMS=strict`, or `CI` set)
  a false claim raises `ClaimFailed` and fails the run;
- in a reader's session (the default) it shows a visible note, "on this run this does not
  hold", with the numbers and the 3-seed result, and the notebook goes on.

Either way, when `PRUNING_MNIST_CLAIMS_LOG` names a file, every claim is appended to it as
one JSON line; `make claims` reads those lines to write its table.

`python -m helpers.claims --seeds 1 2 [--notebooks 03 06]` (what `make claims` runs)
executes the series once per seed (`PRUNING_MNIST_SEED`), into build/claims/seed-N/, and
ends with one table of every claim that did not hold. It exits non-zero if any did not, or
if a notebook failed.
"""

from __future__ import annotations

import argparse
import html
import json
import os
import sys
import time
from collections.abc import Mapping
from pathlib import Path

import pandas as pd

from helpers.config import project_home

#: Where `make claims` writes the executed copies (one folder per seed) and its table.
CLAIMS_DIR = Path("build") / "claims"

#: Where the 3-seed tables live in a checkout, and where a reader without one (Colab) reads them.
DOCS = "docs"
DOCS_URL = "https://raw.githubusercontent.com/pruning-mnist/pruning-mnist/main/docs"


class ClaimFailed(AssertionError):
    """A claim of a notebook does not hold on this run (raised only in strict mode)."""


def strict() -> bool:
    """Whether a false claim fails the run: `PRUNING_MNIST_CLAIMS=strict`, or `CI` set and no other mode chosen."""
    mode = os.environ.get("PRUNING_MNIST_CLAIMS", "").strip().lower()
    if mode:
        if mode not in ("strict", "note"):
            raise ValueError(f"PRUNING_MNIST_CLAIMS must be 'strict' or 'note', got {mode!r}")
        return mode == "strict"
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false")


def _format(value) -> str:
    if hasattr(value, "item") and getattr(value, "ndim", None) == 0:  # a NumPy or torch scalar: as the number it is
        value = value.item()
    if isinstance(value, tuple | list):
        return "(" + ", ".join(_format(v) for v in value) + ")"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {_format(v)}" for k, v in value.items()) + "}"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:,.4g}" if abs(value) >= 1e-3 or value == 0 else f"{value:.1e}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def numbers_text(numbers: Mapping[str, object] | None) -> str:
    """The numbers a claim rests on as one line: "a = 1.5, b = 2".

    >>> numbers_text({"unit k": 70, "weight accuracy (%)": 98.4567, "seeds": "0-4"})
    'unit k = 70, weight accuracy (%) = 98.46, seeds = 0-4'
    >>> import numpy as np; numbers_text({"gap, noise": (np.float64(0.69), 0.45), "by k": {10.0: np.float64(-0.11)}})
    'gap, noise = (0.69, 0.45), by k = {10.0: -0.11}'
    """
    return ", ".join(f"{name} = {_format(value)}" for name, value in (numbers or {}).items())


def _log(record: dict) -> None:
    path = os.environ.get("PRUNING_MNIST_CLAIMS_LOG")
    if path:
        with open(path, "a", encoding="utf-8") as log:
            log.write(json.dumps(record, default=str) + "\n")


def _show(text_line: str, html_text: str) -> None:
    try:
        from IPython import get_ipython
        from IPython.display import HTML, display
    except ImportError:  # plain Python: a line on stdout is the visible note
        print(text_line)
        return
    if get_ipython() is None:
        print(text_line)
    else:
        display(HTML(html_text))


class Checked:
    """What `check` returns: true when the claim held. As the last line of a cell it shows nothing more than the
    note `check` has already shown (a bare `True` under it would only puzzle a reader)."""

    def __init__(self, holds: bool):
        self.holds = holds

    def __bool__(self) -> bool:
        return self.holds

    def __eq__(self, other: object) -> bool:
        return self.holds == (other.holds if isinstance(other, Checked) else other)

    __hash__ = None

    def __repr__(self) -> str:
        return f"Checked({self.holds})"

    def _ipython_display_(self) -> None:
        pass


def check(claim: str, holds: bool, numbers: Mapping[str, object] | None = None, seeds: str | None = None) -> Checked:
    """State a claim with the numbers it rests on; fail the run in strict mode when it is false.

    Args:
        claim: the claim in words, as the prose beside it makes it ("weight pruning stays
            near the dense network to a higher k than unit pruning").
        holds: whether it holds on this run (computed from `numbers`).
        numbers: the numbers it rests on, by name, shown with the claim.
        seeds: what the 3-seed tables say (shown when the claim does not hold on this run).

    Returns:
        a `Checked`, true when the claim held, so a notebook can go on differently when it is false; it
        displays nothing.

    Raises:
        ClaimFailed: the claim is false and the mode is strict (`make test`, `make claims`, CI).
        TypeError: `holds` is not a bool (a tensor or a NumPy bool is converted; None is refused).

    Used in 01-10.
    """
    if holds is None or not hasattr(holds, "__bool__"):
        raise TypeError(f"holds must be a bool, got {holds!r}")
    holds = bool(holds)
    detail = numbers_text(numbers)
    _log({"seed": os.environ.get("PRUNING_MNIST_SEED", "0") or "0", "claim": claim, "holds": holds,
          "numbers": detail, "notebook": os.environ.get("PRUNING_MNIST_NOTEBOOK", "")})
    if holds:
        _show(f"✓ {claim} ({detail})" if detail else f"✓ {claim}",
              f"<div class='pm-claim pm-claim-holds' style='color:#1b5e20'>✓ {html.escape(claim)}"
              + (f" <span style='color:#555'>({html.escape(detail)})</span>" if detail else "") + "</div>")
        return Checked(True)
    if strict():
        raise ClaimFailed(f"this claim does not hold on this run: {claim}" + (f" ({detail})" if detail else "")
                          + (f"; the 3-seed result: {seeds}" if seeds else ""))
    _show(f"NOTE: on this run this does not hold: {claim} ({detail})"
          + (f"; the 3-seed result: {seeds}" if seeds else ""),
          "<div class='pm-claim pm-claim-fails' style='border-left:4px solid #e65100;background:#fff3e0;"
          "padding:6px 10px;margin:4px 0'><b>On this run this does not hold:</b> " + html.escape(claim)
          + (f"<br>the numbers: {html.escape(detail)}" if detail else "")
          + (f"<br>the 3-seed result: {html.escape(seeds)}" if seeds else "")
          + "<br><i>Your network is not ours: another CPU, PyTorch version or seed changes the bits. "
            "The notebook goes on; the lesson rests on the 3-seed tables.</i></div>")
    return Checked(False)


def seed_table(name: str) -> pd.DataFrame:
    """A 3-seed table of `make results` (docs/NAME.csv): from the checkout, else from the repository online.

    >>> seed_table("results_summary").columns.tolist()[:3]
    ['method', 'procedure', 'k']

    Raises:
        ValueError: `name` is not a plain file name.
    """
    if not name.replace("_", "").isalnum():
        raise ValueError(f"name must be a table's file name without .csv (e.g. 'results_summary'), got {name!r}")
    local = project_home() / DOCS / f"{name}.csv"
    return pd.read_csv(local if local.is_file() else f"{DOCS_URL}/{name}.csv")


def _notebooks(selection: list[str]) -> list[Path]:
    folder = project_home() / "notebooks"
    everything = sorted(p for p in folder.glob("[0-9]*.ipynb") if not p.name.startswith("00"))
    if not selection:
        return everything
    chosen = []
    for wanted in selection:
        matches = [p for p in everything if p.name.startswith(wanted) or p.stem == wanted]
        if not matches:
            raise SystemExit(f"no notebook matches {wanted!r}: give its number, e.g. NOTEBOOKS=\"03 06\" "
                             f"(there are {', '.join(p.name[:2] for p in everything)})")
        chosen += [p for p in matches if p not in chosen]
    return sorted(chosen)


def run(seeds: list[int], selection: list[str]) -> pd.DataFrame:
    """Execute the chosen notebooks once per seed with every claim logged; return the claims that did not hold."""
    from helpers.run import NotebookFailed, execute

    notebooks = _notebooks(selection)
    rows, started = [], time.perf_counter()
    for seed in seeds:
        out_dir = project_home() / CLAIMS_DIR / f"seed-{seed}"
        out_dir.mkdir(parents=True, exist_ok=True)
        for number, path in enumerate(notebooks, 1):
            log = out_dir / f"{path.stem}.claims.jsonl"
            log.unlink(missing_ok=True)
            os.environ.update(PRUNING_MNIST_SEED=str(seed), PRUNING_MNIST_CLAIMS="note",
                              PRUNING_MNIST_CLAIMS_LOG=str(log), PRUNING_MNIST_NOTEBOOK=path.stem)
            try:
                execute(path, out_dir, position=f"seed {seed} [{number}/{len(notebooks)}] ")
            except NotebookFailed as failure:
                rows.append({"seed": seed, "notebook": path.stem, "claim": "the notebook ran to the end",
                             "numbers": str(failure).splitlines()[1].strip()})
            if log.is_file():
                for line in log.read_text(encoding="utf-8").splitlines():
                    record = json.loads(line)
                    if not record["holds"]:
                        rows.append({"seed": seed, "notebook": path.stem, "claim": record["claim"],
                                     "numbers": record["numbers"]})
    table = pd.DataFrame(rows, columns=["seed", "notebook", "claim", "numbers"])
    table.to_csv(project_home() / CLAIMS_DIR / "failed.csv", index=False)
    minutes = (time.perf_counter() - started) / 60
    print(f"\n{len(notebooks)} notebooks x {len(seeds)} seeds ({', '.join(map(str, seeds))}) in {minutes:.1f} min; "
          f"executed copies in {CLAIMS_DIR}/seed-N/")
    return table


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m helpers.claims", description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2, 3, 4])
    parser.add_argument("--notebooks", nargs="*", default=[], help="numbers, e.g. 03 06 (default: every notebook but 00)")
    arguments = parser.parse_args(argv)
    failed = run(arguments.seeds, arguments.notebooks)
    if failed.empty:
        print("every claim held.")
        return 0
    with pd.option_context("display.max_colwidth", 120, "display.width", 250):
        print(f"{len(failed)} claims did not hold:\n{failed.to_string(index=False)}")
    return 1


if __name__ == "__main__":
    sys.exit(main())

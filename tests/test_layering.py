"""The map of the helpers package: its layers, bottom to top, and a check that nothing imports upward.

A module may import modules of its own layer or of a layer below, never above; the imports also form no cycle.
A package (helpers/plots/, helpers/explorer/) counts as one unit named for it: imports inside it are free.
Every import of ours counts, at the top of a module or inside a function, absolute or relative.
"""

import ast
from pathlib import Path

import pytest

#: The layers of `helpers`, bottom to top: this is the map of the code.
LAYERS = (
    ("config", "stats"),                  # constants and paths; the statistics of comparison: nothing of ours
    ("data", "model"),                    # MNIST in as tensors; the network, its checkpoints
    ("criteria",),                        # importance scores, one record per criterion
    ("pruning",),                         # masks and pruned copies: pure functions, no training
    ("training",),                        # fit, evaluate, the cached baseline
    ("sweeps", "retraining", "activity",  # the experiments: one-shot sweeps, retraining, what units do,
     "inputs", "allocation",              # the blank pixels, per-layer budgets;
     "repair", "lottery",                 # repair without retraining (a package: refit, choices), lottery tickets;
     "at_init", "sparse_training",        # pruning before training (SNIP, GraSP, SynFlow) and during (gradual, RigL);
     "learned_sparsity",                  # L0 hard-concrete gates (learned sparsity);
     "experiments"),                      # the old import path of the first five, for one release
    ("when_to_prune",),                   # before, during or after training: every arm trained and costed alike
    ("deploy", "timing",                  # shipping: CSR and inference, the timings;
     "compression", "coding", "export",   # Deep Compression and its entropy coding, ONNX and int8,
     "frontier"),                         # the recipe to the smallest file at 98%
    ("plots",),                           # figures from results and networks
    ("explorer",),                        # the widgets over all of the above
    ("static_explorer", "warm"),          # the explorer's settings computed for the site; Binder's build step
    ("run", "claims", "site"),            # executing the notebooks, their claims, the website
)

HELPERS = Path(__file__).resolve().parent.parent / "helpers"


def units(root: Path) -> dict[str, list[Path]]:
    """{unit: its files}: a module of the package is a unit; a subpackage, all its files, is one."""
    found: dict[str, list[Path]] = {}
    for path in sorted(root.rglob("*.py")):
        parts = path.relative_to(root).parts
        if parts == ("__init__.py",):
            continue  # the package itself: its docstring and version
        found.setdefault(parts[0] if len(parts) > 1 else path.stem, []).append(path)
    return found


def imported_units(path: Path, root: Path, package: str, known: set[str]) -> set[str]:
    """The units of `package` (rooted at `root`) that the file at `path` imports."""
    here = [package, *path.relative_to(root).parent.parts]  # where its relative imports start
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module.split(".") if node.module else []
            if node.level:
                base = here[:len(here) - (node.level - 1)] + base
            names.add(".".join(base))
            names.update(".".join(base + [alias.name]) for alias in node.names)  # from helpers import plots
    found = set()
    for name in names:
        parts = name.split(".")
        if parts[0] == package and len(parts) > 1 and parts[1] in known:
            found.add(parts[1])
    return found


def import_graph(root: Path, package: str = "helpers") -> dict[str, set[str]]:
    """{unit: the other units it imports}."""
    files = units(root)
    graph = {unit: set() for unit in files}
    for unit, paths in files.items():
        for path in paths:
            graph[unit] |= imported_units(path, root, package, set(files)) - {unit}
    return graph


def upward_imports(graph: dict[str, set[str]], layers=LAYERS) -> list[str]:
    """Each import of a higher layer's unit, as "low imports high"; empty when the graph respects `layers`."""
    level = {unit: i for i, layer in enumerate(layers) for unit in layer}
    return sorted(f"{unit} (layer {level[unit]}) imports {other} (layer {level[other]})"
                  for unit, imports in graph.items() for other in imports
                  if unit in level and other in level and level[other] > level[unit])


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Import cycles (each a path that returns to its start); empty when there is none."""
    found, state = [], {}

    def visit(unit, path):
        state[unit] = "open"
        for other in sorted(graph.get(unit, ())):
            if state.get(other) == "open":
                found.append(path[path.index(other):] + [other])
            elif other not in state:
                visit(other, path + [other])
        state[unit] = "done"

    for unit in sorted(graph):
        if unit not in state:
            visit(unit, [unit])
    return found


# --- the package as it is ------------------------------------------------------------------------------------

def test_every_unit_of_helpers_has_a_layer_and_every_layer_entry_exists():
    declared = [unit for layer in LAYERS for unit in layer]
    assert len(declared) == len(set(declared)), "a unit is declared in two layers"
    assert set(units(HELPERS)) == set(declared)


def test_nothing_in_helpers_imports_upward():
    assert upward_imports(import_graph(HELPERS)) == []


def test_helpers_has_no_import_cycle():
    assert cycles(import_graph(HELPERS)) == []


def test_the_graph_sees_what_the_modules_import():
    graph = import_graph(HELPERS)
    assert graph["config"] == set() and graph["stats"] == set()
    assert graph["data"] == {"config"} and graph["model"] == {"config"}
    assert {"criteria", "config", "data", "model"} <= graph["pruning"]
    assert "training" in graph["run"]  # imported inside a function: it counts


# --- the check itself fails when it should ---------------------------------------------------------------

def test_an_upward_import_in_a_fake_graph_is_reported():
    graph = {"config": set(), "pruning": {"config", "training"}, "training": {"pruning"}}
    layers = (("config",), ("pruning",), ("training",))
    assert upward_imports(graph, layers) == ["pruning (layer 1) imports training (layer 2)"]
    assert cycles(graph) == [["pruning", "training", "pruning"]]
    assert upward_imports({"training": {"pruning"}, "pruning": set()}, layers) == []


@pytest.mark.parametrize("source", ["from fakepkg import high", "from fakepkg.high import thing",
                                    "import fakepkg.high", "from . import high", "from .high import thing",
                                    "def later():\n    from fakepkg.big import part\n",
                                    "from .big.part import thing"])
def test_an_upward_import_in_a_file_on_disk_is_found(tmp_path, source):
    root = tmp_path / "fakepkg"
    (root / "big").mkdir(parents=True)
    (root / "__init__.py").write_text('"""A package."""\n')
    (root / "high.py").write_text("thing = 1\n")
    (root / "big" / "__init__.py").write_text("from fakepkg.big.part import thing\n")  # inside a package: free
    (root / "big" / "part.py").write_text("from ..low import x\nthing = x\n")
    (root / "low.py").write_text(f"x = 0\n{source}\n")
    graph = import_graph(root, "fakepkg")
    assert set(graph) == {"low", "high", "big"}
    assert graph["big"] == {"low"}
    layers = (("low",), ("high", "big"))
    assert len(upward_imports(graph, layers)) == 1
    del graph["low"]
    assert upward_imports(graph, layers) == []

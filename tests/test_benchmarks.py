"""The pure parts of the benchmark scripts: the recipe rule and the results table."""

import math
from pathlib import Path

import pandas as pd
import pytest

from benchmarks.recipe import choose
from benchmarks.seeds import markdown, summarise

ROOT = Path(__file__).resolve().parent.parent


def page_with_table(name, make_table, page="results.md"):
    """(docs/<name>_summary.csv, the text of docs/<page>), after checking the page holds the table made from the CSV."""
    summary = pd.read_csv(ROOT / "docs" / f"{name}_summary.csv")
    text = (ROOT / "docs" / page).read_text()
    assert make_table(summary) in text, f"run make results, copy build/results/{name}_summary.csv to docs/, make pages"
    return summary, text


def test_recipe_rule_takes_the_most_prunable_of_the_candidates_within_tolerance():
    table = pd.DataFrame(dict(l1=[0.0, 1e-5, 2e-5, 5e-5], dense=[0.985, 0.986, 0.9845, 0.980],
                              pruned_mean=[0.80, 0.90, 0.93, 0.97]))
    # 5e-5 prunes best but loses 0.6 points unpruned; 2e-5 is within 0.2 points of the best dense accuracy
    assert choose(table) == 2e-5
    assert choose(table, tolerance=0.01) == 5e-5
    assert choose(table, tolerance=0.0) == 1e-5


def test_summary_has_the_standard_error_of_the_mean():
    runs = pd.DataFrame(dict(method="weight", procedure="one-shot", k=[90, 90, 90, 95],
                             accuracy=[0.98, 0.99, 0.97, 0.9], seed=[0, 1, 2, 0]))
    summary = summarise(runs).set_index("k")
    assert summary.loc[90, "accuracy"] == pytest.approx(0.98) and summary.loc[90, "n"] == 3
    assert summary.loc[90, "se"] == pytest.approx(0.01 / math.sqrt(3))
    assert math.isnan(summary.loc[95, "se"])  # one run: no error estimate, never a made-up zero


def test_results_table_rows_and_cells():
    runs = pd.DataFrame(dict(method=["weight", "weight", "unit"], procedure=["one-shot", "one-shot", "fine-tuned"],
                             k=[90, 90, 80], accuracy=[0.981, 0.983, 0.97], seed=[0, 1, 0]))
    table = markdown(summarise(runs)).splitlines()
    assert table[0] == "| method | procedure | k=80 | k=90 |"
    assert table[2] == "| weight | ref. (one-shot) | 97.00 | 96.40 |"  # REFERENCE_ACCURACY at k = 80, 90
    assert table[3] == "| weight | one-shot |  | 98.20 ± 0.10 |"
    assert table[5] == "| unit | fine-tuned | 97.00 |  |"  # one run: the mean alone


def test_page_recipe_table_is_the_one_made_from_docs_recipe_csv():
    from pathlib import Path

    from benchmarks.recipe import markdown as recipe_markdown
    from helpers.training import RECIPE
    root = Path(__file__).resolve().parent.parent
    table = pd.read_csv(root / "docs" / "recipe.csv")
    assert recipe_markdown(table) in (root / "docs" / "results.md").read_text(), "run make recipe, copy build/results/recipe.csv to docs/"
    assert table.loc[table["chosen"], "l1"].tolist() == [RECIPE["l1"]]
    assert choose(table) == RECIPE["l1"]


def test_criteria_tables_rows_and_cells():
    from benchmarks.criteria import markdown as criteria_markdown
    runs = pd.DataFrame(dict(method="weight", criterion=["magnitude", "magnitude", "obd", "magnitude"],
                             procedure=["one-shot, l1", "one-shot, l1", "one-shot, l1", "one-shot, no-l1"],
                             k=99, accuracy=[0.95, 0.97, 0.9, 0.5], seed=[0, 1, 0, 0]))
    lines = criteria_markdown(summarise(runs, by=("method", "criterion", "procedure", "k"))).splitlines()
    assert lines[0] == "| method | criterion | trained with L1 | trained without L1 |"
    assert lines[2] == "| weight k=99 | magnitude | 96.00 ± 1.00 | 50.00 |"  # one run: the mean alone
    assert lines[3] == "| weight k=99 | obd | 90.00 |  |"


def test_readme_results_table_is_the_one_made_from_docs_results_summary():
    from pathlib import Path
    root = Path(__file__).resolve().parent.parent
    summary = pd.read_csv(root / "docs" / "results_summary.csv")
    readme = (root / "README.md").read_text()
    assert markdown(summary) in (root / "docs" / "results.md").read_text(), "run make results, copy build/results/summary.csv to docs/results_summary.csv"
    at = summary.set_index(["method", "procedure", "k"])["accuracy"]
    tuned, dense = at["weight", "fine-tuned", 99], at["weight", "one-shot", 0]
    assert dense - tuned < 0.005  # the README's first paragraph: "less than half a point"
    assert f"({100 * tuned:.2f}% against {100 * dense:.2f}%, the mean of 3 seeds" in readme


def test_page_criteria_tables_and_sentences_are_the_ones_made_from_docs_criteria_summary():
    from benchmarks.criteria import markdown as criteria_markdown
    from helpers.criteria import DATA_AWARE
    summary, readme = page_with_table("criteria", criteria_markdown)
    at = summary.set_index(["method", "criterion", "procedure"])
    mean, se = at["accuracy"], at["se"]

    def quoted(method, criterion, procedure):
        return f"{100 * mean[method, criterion, procedure]:.2f} ± {100 * se[method, criterion, procedure]:.2f}"

    one_shot = summary[summary["procedure"] == "one-shot, l1"]
    for method in ("weight", "unit"):  # "no data-aware criterion beats the best data-free one" (with L1)
        rows = one_shot[one_shot["method"] == method]
        aware = rows["criterion"].str.split(", ").str[0].isin(DATA_AWARE[method])
        assert rows.loc[aware, "accuracy"].max() < rows.loc[~aware, "accuracy"].max()
    g, m = ("weight", "magnitude, global", "one-shot, l1"), ("weight", "magnitude", "one-shot, l1")
    assert mean[g] - se[g] > mean[m] + se[m]  # "helps that network"
    assert f"({quoted(*g)} against {quoted(*m)} layer-wise)" in readme
    g, m = ("weight", "magnitude, global", "one-shot, no-l1"), ("weight", "magnitude", "one-shot, no-l1")
    assert abs(mean[g] - mean[m]) < se[g] + se[m]  # "within their spread"
    assert f"({quoted(*g)} against {quoted(*m)})" in readme
    weights = one_shot[one_shot["method"] == "weight"].sort_values("accuracy")["criterion"].tolist()
    assert weights[:2] == ["random", "taylor"]  # "next to last, above only random masks"
    assert (summary.loc[summary["criterion"] == "apoz", "accuracy"] < 0.15).all()  # "near chance"
    budget = "equal budget, l1"
    for (method, uniform, allocated) in (("weight", "uniform, magnitude", "allocated, magnitude"),
                                         ("unit", "uniform, l2", "allocated, best on validation")):
        a, u = (method, allocated, budget), (method, uniform, budget)
        assert mean[a] - se[a] > mean[u] + se[u]
        assert f"{quoted(*a)} against {quoted(*u)}" in readme


def test_repair_table_rows_and_cells():
    from benchmarks.repair import APPROACHES, markdown as repair_markdown
    runs = pd.DataFrame(dict(method="unit", k=90, approach=["one-shot", "one-shot", "one-shot + repair", "OBS"],
                             accuracy=[0.88, 0.90, 0.98, 0.983], seed=[0, 1, 0, 0]))
    lines = repair_markdown(summarise(runs, by=("method", "k", "approach"))).splitlines()
    assert lines[0] == "| pruned | " + " | ".join(APPROACHES) + " |"
    assert lines[2] == "| unit k=90 | 89.00 ± 1.00 | 98.00 | 98.30 |  |"   # a missing approach: an empty cell


def test_page_repair_table_and_sentences_are_the_ones_made_from_docs_repair_summary():
    from benchmarks.repair import markdown as repair_markdown
    summary, readme = page_with_table("repair", repair_markdown)
    at = summary.set_index(["method", "k", "approach"])
    mean, se = at["accuracy"], at["se"]
    repaired = summary[summary["approach"] == "one-shot + repair"].set_index(["method", "k"])["accuracy"]
    one_shot = summary[summary["approach"] == "one-shot"].set_index(["method", "k"])["accuracy"]
    assert (repaired > one_shot).all()  # "raises every one-shot network"
    quoted = lambda m, k, a: f"{100 * mean[m, k, a]:.2f} ± {100 * se[m, k, a]:.2f}"
    clearly_above = lambda a, b: mean[a] - se[a] > mean[b] + se[b]
    assert f"(weight k = 99: {quoted('weight', 99, 'one-shot + repair')} against {quoted('weight', 99, 'one-shot')}" in readme
    obs, fixed = ("weight", 99.5, "OBS"), ("weight", 99.5, "one-shot + repair")
    assert clearly_above(fixed, obs) and f"({quoted(*obs)} against {quoted(*fixed)} at k = 99.5)" in readme
    obs, fixed = ("unit", 95, "OBS"), ("unit", 95, "one-shot + repair")
    assert clearly_above(obs, fixed) and f"({quoted(*obs)} against {quoted(*fixed)})" in readme
    for point in (("weight", 99.5), ("unit", 95)):  # "fine-tuning with labels stays ahead"
        assert all(clearly_above((*point, "one-shot + fine-tuning"), (*point, a)) for a in ("one-shot + repair", "OBS"))
    seconds = pd.read_csv(ROOT / "docs" / "repair_seconds.csv")
    assert (seconds["repair_seconds"] <= seconds["target_seconds"]).all()  # "within the targets"
    for _, row in seconds.iterrows():
        assert f"{row['repair_seconds']:.2f} s" in readme


def test_over_seeds_writes_runs_summary_and_table(tmp_path, monkeypatch):
    import benchmarks.seeds as seeds
    monkeypatch.setattr(seeds, "project_home", lambda: tmp_path)
    monkeypatch.setattr(seeds, "load_mnist", lambda: "data")
    one_seed = lambda seed, data: pd.DataFrame(dict(method="unit", k=90, approach="repair", accuracy=[0.9 + seed / 100],
                                                    seed=seed, data=data))
    summary, data, used, out = seeds.over_seeds("demo", one_seed, ("method", "k", "approach"),
                                                lambda table: f"{len(table)} row", "demo", seeds=[0, 2])
    assert data == "data" and used == [0, 2] and out == tmp_path / "build" / "results"
    assert summary["accuracy"].tolist() == pytest.approx([0.91]) and summary["n"].tolist() == [2]
    assert pd.read_csv(out / "demo.csv")["seed"].tolist() == [0, 2]
    assert (out / "demo.md").read_text() == "1 row\n" and (out / "demo_summary.csv").is_file()


def lottery_runs():
    rows = []
    for seed in range(3):
        for branch, rounds in (("ticket", range(3)), ("reinitialised", (1, 2)), ("late rewind", (2,))):
            for r in rounds:
                accuracy = 0.96 + 0.01 * r - (0.02 if branch == "reinitialised" and r == 2 else 0) + 0.001 * seed
                rows.append(dict(branch=branch, round=r, remaining=[100, 8.0, 4.0][r], accuracy=accuracy,
                                 early_stop=100 * r + seed, seed=seed))
    return pd.DataFrame(rows)


def test_lottery_table_rows_cells_and_targets():
    from benchmarks.lottery import gap, markdown as lottery_markdown, summary_of, targets
    summary = summary_of(lottery_runs())
    assert summary.set_index(["branch", "round"]).loc[("ticket", 2), "early_stop"] == 201  # mean over seeds
    lines = lottery_markdown(summary).splitlines()
    assert lines[0] == "| branch | 100.0% | 8.0% | 4.0% |"
    assert lines[2] == "| ticket | 96.10 ± 0.06 | 97.10 ± 0.06 | 98.10 ± 0.06 |"
    assert lines[3] == "| reinitialised |  | 97.10 ± 0.06 | 96.10 ± 0.06 |"
    assert lines[4] == "| late rewind |  |  | 98.10 ± 0.06 |"
    difference, noise = gap(summary, ("ticket", 2), ("reinitialised", 2), 10_000)
    binomial = math.sqrt(0.981 * 0.019 / 10_000 + 0.961 * 0.039 / 10_000)  # larger than the spread over seeds here
    assert difference == pytest.approx(0.02) and noise == pytest.approx(2 * binomial)
    assert targets(summary, 10_000) == [
        "ticket at 8.0%: 97.10% against the dense 96.10% -> met",
        "ticket at 4.0%: 98.10% against the dense 96.10% -> met",
        f"at 4.0%: ticket − reinitialised = 2.00 points, noise {100 * noise:.2f} -> met"]
    worse = summary.copy()
    worse.loc[(worse["branch"] == "ticket") & (worse["round"] == 1), "accuracy"] = 0.95
    assert targets(worse, 10_000)[0].endswith("-> MISSED")


def test_lottery_sentences_say_what_the_table_says():
    from benchmarks.lottery import sentences, targets
    summary = pd.read_csv(ROOT / "docs" / "lottery_summary.csv")
    baselines = pd.read_csv(ROOT / "docs" / "results_baselines.csv")
    text = sentences(summary, baselines)
    rows = summary.set_index(["branch", "round"])
    assert f"score {100 * rows.loc[('ticket', 5), 'accuracy']:.2f} ± {100 * rows.loc[('ticket', 5), 'se']:.2f}," in text
    assert text.startswith("Both targets are met.") == all(line.endswith("-> met") for line in targets(summary, 10_000)
                                                           if "(no target)" not in line)
    assert (rows.xs("random mask", level="branch")["accuracy"] < rows.xs("reinitialised", level="branch")["accuracy"]).all()
    # the words follow the numbers: move "no rewind" two points below the ticket, and the dense network above it
    moved = summary.copy()
    moved.loc[moved["branch"] == "no rewind", "accuracy"] -= 0.02
    moved.loc[(moved["branch"] == "ticket") & (moved["round"] == 0), "accuracy"] = 0.999
    text = sentences(moved, baselines)
    assert "(*no rewind*) changes the result by more than the noise" in text and "not all above the dense network" in text
    assert text.startswith("Not every target is met")


def test_page_shipping_table_and_sentences_are_the_ones_made_from_docs_ship_csv():
    from benchmarks.all import markdown as ratio_markdown
    from benchmarks.ship import summary
    table = pd.read_csv(ROOT / "docs" / "ship.csv")
    readme = (ROOT / "docs" / "speed_and_size.md").read_text()
    assert ratio_markdown(table, digits=4) in readme, "run make benchmark, copy build/results/ship.csv to docs/"
    assert summary(table) in readme
    assert "|" not in "".join(table["benchmark"])  # a bar inside a cell would break the README's table


def test_shipping_sentences_say_met_only_when_both_targets_are():
    from benchmarks.ship import summary
    rows = [("weight k=99 fine-tuned, Deep Compression file (5 bits), smaller", 40_000.0, 238.7, 9.5e6),
            ("  ... its test accuracy after load_compressed (%)", 98.15, 1.0, 98.1),
            ("unit k=90, ONNX compacted vs masked, smaller", 388_199.0, 24.6, 9.55e6)]
    table = pd.DataFrame(rows, columns=["benchmark", "value", "ratio", "reference"])
    assert "both targets not met" in summary(table)  # 98.15% < 98.2%
    table.loc[1, "value"] = 98.25
    text = summary(table)
    assert "fits in 40,000 bytes, 239 times smaller" in text and "both targets met" in text
    assert "validation chooses" not in text  # 5 bits was also the choice: one sentence


def when_to_prune_runs():
    rows = []
    for seed in range(3):
        for arm, when, epochs, accuracy, cost in (("SNIP", "before", 10, 0.96, 0.011), ("RigL", "during", 10, 0.97, 0.014),
                                                  ("RigL", "during", 35, 0.979 + 0.001 * seed, 0.046),
                                                  ("gradual", "during", 10, 0.985, 0.30)):
            rows.append(dict(arm=arm, when=when, keep=1.0, seed=seed, epochs=epochs, validation_accuracy=accuracy - 0.004,
                             accuracy=accuracy, kept_share=1.08, connected_share=1.0, collapsed="", flops_share=cost,
                             seconds=60.0))
    return pd.DataFrame(rows)


def test_when_to_prune_table_and_target_line():
    from benchmarks.when_to_prune import markdown as arms_markdown, summary_of, target
    summary = summary_of(when_to_prune_runs())
    lines = arms_markdown(summary).splitlines()
    assert lines[2] == "| before | SNIP | 1% | 10 | 1.10 | 1.00 | 96.00 ± 0.00 | 3 |"
    assert lines[4] == "| during | RigL | 1% | 35 | 4.60 | 1.00 | 98.00 ± 0.06 | 3 |"
    assert target(summary).startswith("target met: the arm sparse from the first step with the best validation")
    assert "RigL (35 epochs), 98.00 ± 0.06% at 4.60%" in target(summary)
    slower = summary.copy()
    slower.loc[slower["epochs"] == 35, "flops_share"] = 0.06  # over budget: the 10-epoch RigL is the best left
    assert target(slower).startswith("target not met") and "RigL (10 epochs), 97.00" in target(slower)
    assert "gradual" not in target(slower)  # it starts dense: not sparse from the first step
    chosen = summary.copy()
    chosen.loc[chosen["epochs"] == 35, "validation_accuracy"] = 0.9  # validation prefers the 10-epoch RigL
    assert "RigL (10 epochs), 97.00" in target(chosen) and target(chosen).startswith("target not met")
    sparse_start = summary[summary["arm"] == "gradual"].assign(arm="gradual, sparse start", flops_share=0.03)
    both = pd.concat([summary, sparse_start], ignore_index=True)  # sparse from the first step: it may be chosen
    assert "gradual, sparse start (10 epochs), 98.50 ± 0.00% at 3.00%" in target(both)


def test_page_when_to_prune_table_is_the_one_made_from_docs():
    from benchmarks.when_to_prune import markdown as arms_markdown, target
    summary = pd.read_csv(ROOT / "docs" / "when_to_prune_summary.csv")
    page = (ROOT / "docs" / "results.md").read_text()
    assert arms_markdown(summary) in page and target(summary) in page
    assert set(summary["arm"]) >= {"SNIP", "SNIP, shuffled", "GraSP", "SynFlow", "RigL", "gradual", "magnitude + fine-tuning"}


def test_frontier_page_table_and_target_are_made_from_docs():
    from benchmarks.frontier import markdown as frontier_markdown, target
    summary = pd.read_csv(ROOT / "docs" / "frontier_summary.csv")
    page = (ROOT / "docs" / "speed_and_size.md").read_text()
    assert frontier_markdown(summary) in page and target(summary) in page
    lines = frontier_markdown(summary).splitlines()
    assert lines[2].startswith("| recipe | baseline | 9,544,000 ± 0 | 2,386,000 |")  # 4 bytes per weight, dense
    met = summary.copy()
    final = (met["route"] == "recipe") & (met["step"] == "the file")
    met.loc[final, ["bytes", "nonzero", "test_accuracy"]] = [4_999, 3_000, 0.98]
    assert target(met).count("(met:") == 3
    met.loc[final, "bytes"] = 5_001
    assert "5,001 bytes (not met: <= 5,000)" in target(met)

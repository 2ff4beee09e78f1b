"""Claims: strict under make test and CI, a visible note for a reader, logged for make claims; the seed switch."""

import json
import subprocess
import sys

import nbformat
import pytest

from helpers import claims, config


@pytest.fixture
def reader(monkeypatch):
    monkeypatch.delenv("CI", raising=False)
    monkeypatch.delenv("PRUNING_MNIST_CLAIMS", raising=False)
    monkeypatch.delenv("PRUNING_MNIST_CLAIMS_LOG", raising=False)


def test_a_false_claim_fails_the_run_in_strict_mode(reader, monkeypatch):
    monkeypatch.setenv("PRUNING_MNIST_CLAIMS", "strict")
    with pytest.raises(claims.ClaimFailed, match=r"weight beats unit \(weight = 98\.1, unit = 97\.5\); the 3-seed result: 98 ± 0.1"):
        claims.check("weight beats unit", 98.1 < 97.5, {"weight": 98.1, "unit": 97.5}, seeds="98 ± 0.1")


def test_ci_alone_is_strict_and_a_reader_is_not(reader, monkeypatch):
    assert not claims.strict()
    monkeypatch.setenv("CI", "true")
    assert claims.strict()
    monkeypatch.setenv("PRUNING_MNIST_CLAIMS", "note")
    assert not claims.strict()
    monkeypatch.setenv("PRUNING_MNIST_CLAIMS", "loud")
    with pytest.raises(ValueError, match="'strict' or 'note', got 'loud'"):
        claims.strict()


def test_a_reader_sees_a_note_and_goes_on(reader, capsys):
    result = claims.check("weight beats unit", False, {"weight": 97.0}, seeds="3 seeds: 98.0 ± 0.1")
    assert not result and result == False and repr(result) == "Checked(False)"  # noqa: E712 (it compares as a bool)
    out = capsys.readouterr().out
    assert "NOTE: on this run this does not hold: weight beats unit (weight = 97)" in out and "3 seeds: 98.0 ± 0.1" in out
    assert claims.check("two is more than one", 2 > 1, {"two": 2}) == True  # noqa: E712
    assert "✓ two is more than one (two = 2)" in capsys.readouterr().out


def test_every_claim_is_logged_for_make_claims(reader, monkeypatch, tmp_path):
    log = tmp_path / "claims.jsonl"
    monkeypatch.setenv("PRUNING_MNIST_CLAIMS_LOG", str(log))
    monkeypatch.setenv("PRUNING_MNIST_SEED", "3")
    claims.check("a", True, {"x": 1})
    claims.check("b", False, {"y": 0.5})
    records = [json.loads(line) for line in log.read_text().splitlines()]
    assert [(r["claim"], r["holds"], r["numbers"], r["seed"]) for r in records] == [
        ("a", True, "x = 1", "3"), ("b", False, "y = 0.5", "3")]


def test_holds_must_be_a_truth_value(reader):
    with pytest.raises(TypeError, match="holds must be a bool"):
        claims.check("a", None)


def test_a_claim_in_a_kernel_is_a_visible_note_and_the_notebook_goes_on(tmp_path):
    """Executed like a reader's Run all: the note is in the output, the next cell runs."""
    from helpers.run import execute

    notebook = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell("from helpers.claims import check\ncheck('pruning is free', False, {'loss': 6.2})"),
        nbformat.v4.new_code_cell("print('went on')"),
        nbformat.v4.new_code_cell("check('one is one', 1 == 1)")])
    path = tmp_path / "reader.ipynb"
    nbformat.write(notebook, path)
    env = {"PRUNING_MNIST_CLAIMS": "note", "CI": ""}
    with pytest.MonkeyPatch.context() as patch:
        for name, value in env.items():
            patch.setenv(name, value)
        executed = nbformat.read(execute(path, tmp_path / "out"), as_version=4)
    first = executed.cells[0].outputs[0]["data"]["text/html"]
    assert "On this run this does not hold:</b> pruning is free" in first and "loss = 6.2" in first
    assert executed.cells[1].outputs[0]["text"] == "went on\n"
    assert len(executed.cells[0].outputs) == 1  # the note, and no "False" under it
    assert [o["output_type"] for o in executed.cells[2].outputs] == ["display_data"]  # the ✓ line, no "True"


def test_the_series_seed_comes_from_the_environment(monkeypatch):
    monkeypatch.delenv("PRUNING_MNIST_SEED", raising=False)
    assert config.series_seed() == 0
    monkeypatch.setenv("PRUNING_MNIST_SEED", " 4 ")
    assert config.series_seed() == 4
    for bad in ("-1", "1.5", "two", str(2**31)):
        monkeypatch.setenv("PRUNING_MNIST_SEED", bad)
        with pytest.raises(ValueError, match=f"PRUNING_MNIST_SEED must be a whole number .*got '{bad}'"):
            config.series_seed()


def test_make_claims_names_an_unknown_notebook():
    result = subprocess.run([sys.executable, "-m", "helpers.claims", "--seeds", "1", "--notebooks", "42"],
                            capture_output=True, text=True)
    assert result.returncode != 0 and "no notebook matches '42'" in result.stderr


def test_make_claims_tables_the_claims_that_did_not_hold(monkeypatch, tmp_path):
    """Two tiny notebooks, two seeds: one claim depends on the seed, one notebook fails on seed 2."""
    home = tmp_path / "home"
    (home / "notebooks").mkdir(parents=True)
    monkeypatch.setenv("PRUNING_MNIST_HOME", str(home))
    cells = {"01_a.ipynb": "from helpers.claims import check\nfrom helpers.config import series_seed\n"
                           "check('the seed is odd', series_seed() % 2 == 1, {'seed': series_seed()})",
             "02_b.ipynb": "from helpers.config import series_seed\nassert series_seed() != 2, 'boom'"}
    for name, source in cells.items():
        nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(source)]), home / "notebooks" / name)
    table = claims.run([1, 2], [])
    assert table[["seed", "notebook", "claim"]].values.tolist() == [
        [2, "01_a", "the seed is odd"], [2, "02_b", "the notebook ran to the end"]]
    assert table.loc[0, "numbers"] == "seed = 2" and "boom" in table.loc[1, "numbers"]
    assert (home / "build" / "claims" / "seed-1" / "01_a.ipynb").is_file()
    assert (home / "build" / "claims" / "failed.csv").is_file()

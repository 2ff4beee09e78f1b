"""`make run`: execute every notebook top to bottom and report what it produced.

Executed copies go to build/notebooks/, never over the committed notebooks.
Usage: python -m helpers.run notebooks/01_training.ipynb ...
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

from helpers.config import project_home


def execute(path: Path, out_dir: Path, timeout: int = 1800) -> Path:
    """Execute the notebook at `path` in its own folder; write the executed copy to `out_dir`."""
    notebook = nbformat.read(path, as_version=4)
    client = NotebookClient(notebook, timeout=timeout, kernel_name="python3",
                            resources={"metadata": {"path": str(path.parent.resolve())}})
    client.execute()
    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / path.name
    nbformat.write(notebook, target)
    return target


def main(paths: list[str]) -> None:
    out_dir = project_home() / "build" / "notebooks"
    for name in paths:
        started = time.perf_counter()
        target = execute(Path(name), out_dir)
        print(f"executed {name} in {time.perf_counter() - started:.0f} s -> {target}", flush=True)
    from helpers.training import baseline
    _, metadata = baseline(progress=False)
    print(f"\nbaseline (seed {metadata['seed']}): test accuracy {100 * metadata['test_accuracy']:.2f}%, "
          f"trained in {metadata['seconds']:.0f} s, checkpoint {metadata['path']}")
    produced = sorted(p for p in (project_home() / "build").rglob("*") if p.is_file())
    print("produced:\n" + "\n".join(f"  {p.relative_to(project_home())}" for p in produced))


if __name__ == "__main__":
    main(sys.argv[1:])

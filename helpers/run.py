"""`make run`: execute every notebook top to bottom, with a progress bar each, and report what it produced.

Executed copies go to build/executed/ (the folder `make test` executes into and `make site` reads), never over
the committed notebooks. Each notebook gets a progress bar (code cells done out of the total, elapsed time).
The kernel talks to this process over local IPC sockets rather than TCP, so it has no reason to warn about
unencrypted TCP. The kernel process's own stderr (ipykernel's log, such as a race it reports while shutting down)
goes to a log file, not over the progress bar; a failure names that file. A failing cell stops the run with one
paragraph: the notebook, the cell number, its first line and the error; the full traceback is in the executed copy,
which is written even then.
Usage: python -m helpers.run notebooks/01_training.ipynb ...
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError
from tqdm.auto import tqdm

from helpers.config import project_home

#: Where executed copies go; `make test` writes the same copies there and `make site` reads them.
EXECUTED = Path("build") / "executed"


class NotebookFailed(RuntimeError):
    """A cell of a notebook raised an error: the message names the notebook, the cell and the error."""


def _client(notebook, path: Path, timeout: int, bar, sockets: Path) -> NotebookClient:
    client = NotebookClient(notebook, timeout=timeout, kernel_name="python3",
                            resources={"metadata": {"path": str(path.parent.resolve())}})
    client.km = client.create_kernel_manager()
    client.km.transport = "ipc"  # local sockets: no "running over TCP without encryption" warning
    client.km.ip = str(sockets / "ipc")  # IPC socket files live beside this name
    client.on_cell_executed = lambda cell, cell_index, execute_reply: bar.update(1) if cell.cell_type == "code" else None
    return client


def execute(path: Path, out_dir: Path, timeout: int = 1800, position: str = "") -> Path:
    """Execute the notebook at `path` in its own folder with a progress bar; write the executed copy to `out_dir`.

    Raises:
        NotebookFailed: a cell raised; the copy written to `out_dir` holds the full traceback.
    """
    notebook = nbformat.read(path, as_version=4)
    code = [i for i, cell in enumerate(notebook.cells) if cell.cell_type == "code"]
    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / path.name
    with tqdm(total=len(code), desc=f"{position}{path.name}", unit="cell", dynamic_ncols=True,
              bar_format="{desc}: {n_fmt}/{total_fmt} code cells |{bar}| {elapsed}") as bar:
        sockets = Path(tempfile.mkdtemp(prefix="kernel-"))
        client = _client(notebook, path, timeout, bar, sockets)
        log = sockets / "kernel-stderr.log"
        try:
            with log.open("w") as kernel_stderr:
                client.execute(stderr=kernel_stderr)  # passed on to the kernel process
        except CellExecutionError as error:
            nbformat.write(notebook, target)
            failed = next((i for i in code if any(o.get("output_type") == "error"
                                                  for o in notebook.cells[i].get("outputs", []))), None)
            where = (f"code cell {code.index(failed) + 1} of {len(code)} (cell [{failed}], which starts "
                     f"{notebook.cells[failed].source.strip().splitlines()[0][:80]!r})" if failed is not None
                     else "a cell")
            raise NotebookFailed(f"{path} failed at {where}:\n    {error.ename}: {error.evalue}\n"
                                 f"the executed copy, with the full traceback: {target}\n"
                                 f"the kernel's own log: {log}") from None
    nbformat.write(notebook, target)
    return target


def main(paths: list[str]) -> None:
    out_dir = project_home() / EXECUTED
    started = time.perf_counter()
    for number, name in enumerate(paths, 1):
        try:
            execute(Path(name), out_dir, position=f"[{number}/{len(paths)}] ")
        except NotebookFailed as failure:
            print(f"\nFAILED: {failure}", file=sys.stderr, flush=True)
            sys.exit(1)
    print(f"\nall {len(paths)} notebooks ran in {time.perf_counter() - started:.0f} s; executed copies in {out_dir}")
    from helpers.training import baseline
    _, metadata = baseline(progress=False)
    print(f"baseline (seed {metadata['seed']}): test accuracy {100 * metadata['test_accuracy']:.2f}%, "
          f"trained in {metadata['seconds']:.0f} s, checkpoint {metadata['path']}")
    produced = sorted(p for p in (project_home() / "build").rglob("*") if p.is_file())
    print("produced:\n" + "\n".join(f"  {p.relative_to(project_home())}" for p in produced))


if __name__ == "__main__":
    main(sys.argv[1:])

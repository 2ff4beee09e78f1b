"""`make run` (helpers.run): a progress bar per notebook, no kernel transport warning, a failure in one paragraph."""

from pathlib import Path

import nbformat
import pytest

from helpers.run import NotebookFailed, execute


def notebook(path, *sources):
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell("# a notebook")] + [nbformat.v4.new_code_cell(s) for s in sources]
    nbformat.write(nb, path)
    return path


def test_a_notebook_runs_with_a_progress_bar_and_no_transport_warning(tmp_path, capfd):
    path = notebook(tmp_path / "good.ipynb", "x = 6 * 7", "print(x)")
    target = execute(path, tmp_path / "out")
    executed = nbformat.read(target, as_version=4)
    assert executed.cells[2].outputs[0]["text"] == "42\n"
    assert nbformat.read(path, as_version=4).cells[2].outputs == []  # the notebook itself is left as it was
    _, err = capfd.readouterr()
    assert "good.ipynb: 2/2 code cells" in err
    assert "without encryption" not in err and "Traceback" not in err


def test_the_kernels_own_stderr_goes_to_its_log_not_over_the_bar(tmp_path, capfd):
    chatter = "import os\nos.write(2, b'Traceback: kernel chatter on fd 2\\n')"
    path = notebook(tmp_path / "noisy.ipynb", chatter, "1 / 0")
    with pytest.raises(NotebookFailed) as failure:
        execute(path, tmp_path / "out")
    _, err = capfd.readouterr()
    assert "kernel chatter" not in err
    log = Path(str(failure.value).rsplit("the kernel's own log: ", 1)[1].strip())
    assert "Traceback: kernel chatter on fd 2" in log.read_text()


def test_a_failing_cell_is_reported_in_one_paragraph_and_the_copy_kept(tmp_path, capfd):
    path = notebook(tmp_path / "bad.ipynb", "x = 1", "def f():\n    return 1 / 0\nf()", "never = True")
    with pytest.raises(NotebookFailed) as failure:
        execute(path, tmp_path / "out")
    message = str(failure.value)
    assert "code cell 2 of 3" in message and "'def f():'" in message
    assert "ZeroDivisionError: division by zero" in message and "Traceback" not in message
    executed = nbformat.read(tmp_path / "out" / "bad.ipynb", as_version=4)
    assert executed.cells[2].outputs[0]["ename"] == "ZeroDivisionError"  # the full traceback stays in the copy
    assert "never" not in str(executed.cells[3].get("outputs"))

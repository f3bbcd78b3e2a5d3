"""The solution notebooks' runs fail on any output to standard error (``solutions/conftest.py``).

CI executes every solution notebook on every backend under that rule; this proves the rule can
fail, and that it lets a clean notebook through.
"""

import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

SOLUTIONS = Path(__file__).resolve().parents[1] / "solutions"

pytestmark = pytest.mark.backend_independent


def _run_notebook(folder, *sources):
    shutil.copy(SOLUTIONS / "conftest.py", folder / "conftest.py")
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(s) for s in sources])
    nbformat.write(notebook, folder / "probe.ipynb")
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--nbval-lax",
         "--rootdir", str(folder), "probe.ipynb"],
        cwd=folder, capture_output=True, text=True, timeout=300)


def test_a_cell_that_writes_to_stderr_fails_and_shows_what_it_wrote(tmp_path):
    run = _run_notebook(tmp_path, "print('to stdout')",
                        "import warnings\nwarnings.warn('a red box')", "x = 1")
    assert run.returncode == 1, run.stdout + run.stderr
    assert "1 failed, 2 passed" in run.stdout
    assert "the cell wrote to standard error" in run.stdout
    assert "UserWarning: a red box" in run.stdout


def test_a_clean_notebook_passes(tmp_path):
    run = _run_notebook(tmp_path, "print('to stdout')", "x = 1\nx")
    assert run.returncode == 0, run.stdout + run.stderr
    assert "2 passed" in run.stdout

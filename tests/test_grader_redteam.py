"""The red-team corpus in one run with --jobs 2, and a run killed with SIGKILL that resumes.

The sandbox does not depend on the Keras backend (the per-backend probes are covered by
test_grader_sandbox.py), so these tests run once, on the JAX backend, whose student
processes start fastest.
"""

import hashlib
import importlib.util
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from grader.grade import grade
from grader.notebooks import graded_cell

pytestmark = pytest.mark.skipif(
    os.environ.get("KERAS_BACKEND", "tensorflow") != "jax",
    reason="sandbox behaviour is backend-independent; the red-team run happens once, on jax",
)

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT / "tests" / "submissions"


def tree_digest(folder):
    digest = hashlib.sha256()
    for path in sorted(folder.rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts:
            digest.update(str(path.relative_to(folder)).encode() + path.read_bytes())
    return digest.hexdigest()


def test_corpus_notebooks_are_what_the_builder_writes():
    spec = importlib.util.spec_from_file_location("build_corpus", CORPUS / "build.py")
    builder = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(builder)
    for path, text in builder.outputs().items():
        assert path.read_text() == text, f"{path} is stale: run python tests/submissions/build.py"


def test_red_team_corpus(tmp_path):
    expected = json.loads((CORPUS / "expected.json").read_text())
    grader_before = tree_digest(ROOT / "grader")
    corpus_before = tree_digest(CORPUS)
    out = tmp_path / "results"
    results = grade(CORPUS, out, jobs=2, only=expected["questions"], timeout=12, memory_mb=1024,
                    progress=False, print_summary=False)
    scores = {r["student"]: sum(q["auto_score"] for q in r["questions"].values()) for r in results}
    table = "\n".join(f"{name:26s} {lo:>4} - {hi:<4} {scores.get(name)}"
                      for name, (lo, hi) in expected["scores"].items())
    print("\nsubmission                 expected  actual\n" + table)
    assert sorted(scores) == sorted(expected["scores"])
    for name, (low, high) in expected["scores"].items():
        assert low <= scores[name] <= high, f"{name}: {scores[name]} not in range\n{table}"
    by_name = {r["student"]: r for r in results}
    for name in expected["scores"]:
        if name not in ("reference", "empty"):
            honest = by_name[name]["questions"]["q1_5"]["auto_score"]
            assert honest == 3, f"{name}: the honest q1_5 lost its points"
    q12 = lambda name: by_name[name]["questions"]["q1_2"]  # noqa: E731
    assert q12("infinite_loop")["status"] == "timeout"
    assert "timed out after 12 s" in q12("long_sleep")["notes"][0]
    assert "exited with code 0" in q12("os_exit_at_import")["notes"][0]
    assert q12("sys_exit_at_import")["notes"][0].startswith("SystemExit")
    assert q12("keyboard_interrupt")["notes"][0].startswith("KeyboardInterrupt")
    assert "memory" in q12("memory_hog")["notes"][0].lower()
    assert "not allowed while grading: reading" in q12("read_references")["notes"][0]
    assert "not allowed while grading" in q12("network_socket")["notes"][0]
    assert q12("import_kit")["status"] == q12("subclass_kit_obfuscated")["status"] == "forbidden"
    assert "SyntaxError" in q12("syntax_error")["notes"][0]
    assert "at cell q1_2, line 2: def VanillaRNNCell(:" in q12("syntax_error")["notes"][0]
    assert tree_digest(ROOT / "grader") == grader_before, "a submission changed the grader"
    assert tree_digest(CORPUS) == corpus_before, "a submission changed the submissions"
    for path in out.rglob("*.json"):
        assert '{"score": 100}' not in path.read_text(), f"{path} was overwritten"
    assert len((out / "grades.csv").read_text().splitlines()) == 1 + len(expected["scores"])


def test_run_killed_with_sigkill_resumes_and_grades_everyone_once(tmp_path):
    submissions = tmp_path / "submissions"
    source = "def count_parameters(d, n, c):\n    return 4 * (d * n + n * n + n) + n * c + c"
    import nbformat

    for student in ("s1", "s2", "s3"):
        (submissions / student).mkdir(parents=True)
        nbformat.write(nbformat.v4.new_notebook(cells=[graded_cell(source, "q1_5")]),
                       submissions / student / "01.ipynb")
    out = tmp_path / "results"
    command = [sys.executable, "-m", "grader", "grade", str(submissions), "--out", str(out),
               "--only", "q1_5", "--no-progress"]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    run = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + 120
    while not list(out.glob("*/result.json")) and time.monotonic() < deadline:
        time.sleep(0.1)
    os.killpg(run.pid, signal.SIGKILL)
    run.wait()
    finished = {p.parent.name: json.loads(p.read_text())["graded_at"]
                for p in out.glob("*/result.json")}
    assert 1 <= len(finished) < 3, "the run was meant to be killed half-way"
    subprocess.run(command, cwd=ROOT, env=env, check=True, capture_output=True)
    results = {p.parent.name: json.loads(p.read_text()) for p in out.glob("*/result.json")}
    assert sorted(results) == ["s1", "s2", "s3"]
    for student, graded_at in finished.items():
        assert results[student]["graded_at"] == graded_at, f"{student} was graded twice"
    assert all(r["questions"]["q1_5"]["auto_score"] == 3 for r in results.values())
    assert len((out / "grades.csv").read_text().splitlines()) == 4
    assert not list(out.rglob("*.tmp"))
    leftovers = list(Path(tempfile.gettempdir()).glob(f"grader-*-{run.pid}-*"))
    assert not leftovers, f"the killed run's temporary folders were not removed: {leftovers}"

"""The Gradescope export: results.json against Gradescope's specification, the upload's intake,
the bundle's scripts, and the outline in docs/gradescope.md.

The Python 3.10 run of the whole bundle, as Gradescope's container runs it, is
tests/gradescope_py310.py (a CI stage of its own: it builds a virtual environment).
"""

import json
import subprocess
import zipfile
from pathlib import Path

import pytest

from grader.gradescope import (
    build_bundle,
    grade_upload,
    gradescope_outline,
    main,
    results_json,
    schema_problems,
    stage_upload,
)
from grader.registry import QUESTIONS

ROOT = Path(__file__).resolve().parent.parent

# Every field Gradescope's autograder specification documents, each with a value of its type.
DOCUMENTED = {
    "score": 12.5, "execution_time": 40, "output": "for the whole submission",
    "output_format": "simple_format", "test_output_format": "text", "test_name_format": "md",
    "visibility": "after_due_date", "stdout_visibility": "after_published",
    "extra_data": {"anything": [1, 2]},
    "tests": [{"score": 2, "max_score": 4.0, "status": "failed", "name": "a check",
               "name_format": "html", "number": "1.2", "output": "long text",
               "output_format": "ansi", "tags": ["part 1"], "visibility": "hidden",
               "extra_data": {}},
              {"name": "an informational check", "status": "passed"}],
    "leaderboard": [{"name": "accuracy", "value": 0.93},
                    {"name": "seconds", "value": 12, "order": "asc"},
                    {"name": "stars", "value": "***", "order": "desc"}],
}


def with_change(path, value):
    """A copy of DOCUMENTED with the field at ``path`` set to ``value`` (None: removed)."""
    results = json.loads(json.dumps(DOCUMENTED))
    *parents, last = path
    target = results
    for key in parents:
        target = target[key]
    if value is None:
        del target[last]
    else:
        target[last] = value
    return results


def test_schema_accepts_every_documented_field():
    assert schema_problems(DOCUMENTED) == []
    assert schema_problems({"score": 0}) == []
    assert schema_problems({"tests": [{"score": 1, "max_score": 1}]}) == []


@pytest.mark.parametrize("path, value, problem", [
    (("extra_credit",), 3, "results.extra_credit is not a field"),
    (("score",), True, "results.score is bool, not number"),
    (("score",), float("nan"), "not a finite number"),
    (("execution_time",), "40 s", "results.execution_time is str, not number"),
    (("output",), ["a", "b"], "results.output is list, not text"),
    (("output_format",), "markdown", "not one of text, simple_format, html, md, ansi"),
    (("visibility",), "never", "not one of hidden, after_due_date, after_published, visible"),
    (("stdout_visibility",), "public", "results.stdout_visibility is 'public'"),
    (("extra_data",), [], "results.extra_data is list, not object"),
    (("tests",), {"a": 1}, "results.tests is dict, not list"),
    (("tests", 0, "status"), "pending", "results.tests[0].status is 'pending'"),
    (("tests", 0, "max_score"), "4", "results.tests[0].max_score is str"),
    (("tests", 0, "number"), 1.2, "results.tests[0].number is float, not text"),
    (("tests", 0, "tags"), ["part", 1], "results.tests[0].tags holds something"),
    (("tests", 0, "bonus"), True, "results.tests[0].bonus is not a field"),
    (("tests", 1), "a check", "results.tests[1] is str, not an object"),
    (("leaderboard", 1, "order"), "up", "results.leaderboard[1].order is 'up'"),
])
def test_schema_refuses_what_the_specification_does_not_allow(path, value, problem):
    problems = schema_problems(with_change(path, value))
    assert any(problem in p for p in problems), problems


def test_schema_needs_a_score_somewhere():
    without = with_change(("score",), None)
    assert schema_problems(without) == [
        "results.tests[1] has no score, and results has none either"]
    assert schema_problems({}) == ["results has neither a score nor tests"]
    assert schema_problems([]) == ["results is list, not an object"]


def entry_for(qid, *, passed=True, status=None, notes=()):
    """The grader's result entry of ``qid`` with every check passed (or failed)."""
    question = QUESTIONS[qid]
    checks = [{"name": c.name, "points": c.points if passed else 0.0, "max": c.points,
               "passed": passed, "message": "exact match" if passed else "3 entries differ"}
              for c in question.checks]
    return {"title": question.title, "max": question.points, "auto_max": question.auto_points,
            "manual_max": question.manual_points, "manual_score": None, "bonus": question.bonus,
            "status": status or ("manual" if not question.automatic else
                                 "passed" if passed else "failed"),
            "auto_score": sum(c["points"] for c in checks), "notes": list(notes),
            "checks": checks}


def result_for(entries, problems=(), device="cpu"):
    return {"student": "student", "backend": "jax", "device": device, "seconds": 12.4,
            "problems": list(problems), "final": True, "questions": entries}


def test_reference_scores_the_automatic_total_and_its_bonus_as_extra_credit():
    results = results_json(result_for({qid: entry_for(qid) for qid in QUESTIONS}))
    assert schema_problems(results) == []
    automatic = sum(q.auto_points for q in QUESTIONS.values() if not q.bonus)
    bonus = sum(q.auto_points for q in QUESTIONS.values() if q.bonus)
    assert bonus > 0, "the course has bonus checks; this test is about them"
    assert sum(t["max_score"] for t in results["tests"]) == automatic
    assert results["score"] == automatic + bonus
    assert all(t["status"] == "passed" for t in results["tests"])
    extra = [t for t in results["tests"] if t["max_score"] == 0]
    assert sum(t["score"] for t in extra) == bonus
    assert all(t["name"].endswith("[extra credit]") for t in extra)
    assert results["output"].startswith(f"Automatic checks: {automatic:g} / {automatic:g} "
                                        f"points, plus {bonus:g} points of extra credit.")
    assert results["stdout_visibility"] == "hidden" and results["output_format"] == "text"


def test_hand_marked_parts_are_not_tests_but_are_named():
    entries = {"q1_1": entry_for("q1_1", passed=False), "q2_4": entry_for("q2_4", passed=False),
               "q3_4": entry_for("q3_4")}
    results = results_json(result_for(entries))
    assert schema_problems(results) == []
    names = [t["name"] for t in results["tests"]]
    assert len(names) == len(QUESTIONS["q1_1"].checks) + len(QUESTIONS["q2_4"].checks)
    assert not any("q3_4" in name or "by hand" in name for name in names)
    assert sum(t["max_score"] for t in results["tests"]) == QUESTIONS["q1_1"].auto_points
    bonus = [t for t in results["tests"] if t["name"].startswith("q2_4")]
    assert [(t["score"], t["max_score"], t["status"]) for t in bonus] == [(0.0, 0.0, "failed")]
    assert results["score"] == 0.0
    assert results["output"].splitlines()[-1] == (
        "Marked by hand in Gradescope, not by the autograder: q1_1 (7 points), "
        "q2_4 (1 point, bonus), q3_4 (3 points).")


def test_an_unreadable_upload_says_why_everywhere():
    reason = "02_vanilla_rnn.ipynb: not a readable notebook (invalid JSON: Expecting value)"
    note = "no readable notebook in the submission (see the problems above)"
    entries = {qid: entry_for(qid, passed=False, status="invalid", notes=[note])
               for qid in ("q1_2", "q3_4")}
    results = results_json(result_for(entries, problems=[
        reason, "no readable notebook found in the submission"], device="not used"))
    assert schema_problems(results) == []
    assert results["score"] == 0.0
    assert results["output"].splitlines()[:4] == [
        "Nothing was graded: no notebook in your upload could be read.", "Why:",
        f"- {reason}", "- no readable notebook found in the submission"]
    assert ("Upload the notebooks 02_vanilla_rnn.ipynb, 11_graphs_and_sequences.ipynb, each "
            "as an .ipynb file or all of them in one .zip.") in results["output"]
    assert "not used" not in results["output"]
    for test in results["tests"]:
        assert reason in test["output"] and test["status"] == "failed"


def test_a_missing_cell_names_its_notebook_and_that_notebook_s_problem():
    problem = "02_vanilla_rnn.ipynb: cell 3 has no source; open it in Jupyter, save it"
    entries = {"q1_2": entry_for("q1_2", passed=False, status="not found",
                                 notes=["cell q1_2 not found"]),
               "q1_4": entry_for("q1_4")}
    results = results_json(result_for(entries, problems=[problem]))
    assert schema_problems(results) == []
    first = results["tests"][0]
    assert first["output"].splitlines()[:3] == [
        "cell q1_2 not found", "q1_2's graded cells belong in 02_vanilla_rnn.ipynb, each "
        "starting with its '# graded: <cell id>' line", problem]
    assert "Graded cells not found for q1_2: see their tests." in results["output"]
    assert f"- {problem}" in results["output"]
    assert "Your code ran on cpu with the jax backend." in results["output"]
    q1_4 = [t for t in results["tests"] if t["name"].startswith("q1_4")]
    assert all(problem not in t["output"] for t in q1_4)


def test_a_lone_zip_is_graded_as_a_zip_and_anything_else_as_the_folder(tmp_path):
    upload = tmp_path / "upload"
    upload.mkdir()
    (upload / "_my work.zip").write_bytes(b"PK")

    def staged_from(name):
        (tmp_path / name).mkdir()  # grade_upload makes the folder
        return stage_upload(upload, tmp_path / name)

    lone = staged_from("lone")
    assert lone == tmp_path / "lone" / "my work.zip" and lone.read_bytes() == b"PK"
    (upload / "02_vanilla_rnn.ipynb").write_text("{}")
    mixed = staged_from("mixed")
    assert mixed.is_dir() and sorted(p.name for p in mixed.iterdir()) == [
        "02_vanilla_rnn.ipynb", "_my work.zip"]
    (upload / "02_vanilla_rnn.ipynb").unlink()
    (upload / "second.zip").write_bytes(b"PK")
    assert staged_from("two").is_dir()
    upload = tmp_path / "nothing"
    missing = staged_from("missing")
    assert missing.is_dir() and not any(missing.iterdir())


def test_bundle_scripts_take_their_root_from_the_environment(tmp_path):
    path = build_bundle(tmp_path / "autograder.zip", only="q1_2,q1_5", backend="torch")
    with zipfile.ZipFile(path) as bundle:
        names = set(bundle.namelist())
        assert {"setup.sh", "run_autograder", "kit/pyproject.toml", "kit/grader/gradescope.py",
                "kit/grader/references/q1_2.npz"} <= names
        assert not any("sample_submissions" in n or "__pycache__" in n for n in names)
        scripts = {}
        for script in ("setup.sh", "run_autograder"):
            assert (bundle.getinfo(script).external_attr >> 16) & 0o111
            scripts[script] = bundle.read(script).decode()
            (tmp_path / script).write_text(scripts[script])
            subprocess.run(["bash", "-n", str(tmp_path / script)], check=True)
            assert 'root="${AUTOGRADER_ROOT:-/autograder}"' in scripts[script]
    run, setup = scripts["run_autograder"], scripts["setup.sh"]
    assert "export KERAS_BACKEND=torch" in run
    assert '-m grader.gradescope --root "$root" --only q1_2,q1_5' in run
    assert "sys.exit(sys.version_info < (3, 10))" in setup
    assert 'pip" install "$root/source/kit[torch]"' in setup
    with pytest.raises(ValueError, match="unknown question"):
        build_bundle(tmp_path / "x.zip", only="q7_1")


def test_setup_refuses_a_python_older_than_3_10(tmp_path):
    """setup.sh stops with a clear message where the image's python3 is too old (its apt-get
    and python3 replaced by stand-ins, the latter claiming to be 3.8)."""
    build_bundle(tmp_path / "autograder.zip")
    with zipfile.ZipFile(tmp_path / "autograder.zip") as bundle:
        (tmp_path / "setup.sh").write_bytes(bundle.read("setup.sh"))
    bin_ = tmp_path / "bin"
    bin_.mkdir()
    (bin_ / "apt-get").write_text("#!/bin/sh\nexit 0\n")
    (bin_ / "python3").write_text(
        "#!/bin/sh\n[ \"$1\" = --version ] && echo 'Python 3.8.10' && exit 0\nexit 1\n")
    for tool in bin_.iterdir():
        tool.chmod(0o755)
    done = subprocess.run(["bash", str(tmp_path / "setup.sh")], capture_output=True, text=True,
                          env={"PATH": f"{bin_}:/usr/bin:/bin",
                               "AUTOGRADER_ROOT": str(tmp_path / "root")})
    assert done.returncode == 1
    assert "the kit needs Python 3.10 or later; this image has Python 3.8.10" in done.stderr
    assert not (tmp_path / "root" / "venv").exists()


def test_docs_hold_the_gradescope_outline():
    docs = (ROOT / "docs" / "gradescope.md").read_text()
    assert gradescope_outline() in docs, "docs/gradescope.md: paste gradescope_outline() again"


@pytest.mark.backend_independent
def test_grading_an_empty_and_an_unreadable_upload_writes_valid_results(tmp_path):
    empty, corrupt = tmp_path / "empty", tmp_path / "corrupt"
    (empty / "submission").mkdir(parents=True)
    (corrupt / "submission").mkdir(parents=True)
    (corrupt / "submission" / "02_vanilla_rnn.ipynb").write_text('{"cells": [')
    assert main(["--root", str(empty), "--only", "q1_2"]) == 0
    assert grade_upload(corrupt, only="q1_2") == 0
    for root in (empty, corrupt):
        results = json.loads((root / "results" / "results.json").read_text())
        assert schema_problems(results) == []
        assert results["score"] == 0.0
        assert "Upload the notebooks 02_vanilla_rnn.ipynb" in results["output"]
        assert [t["max_score"] for t in results["tests"]] == [
            c.points for c in QUESTIONS["q1_2"].checks]
    corrupt_results = json.loads((corrupt / "results" / "results.json").read_text())
    reason = "02_vanilla_rnn.ipynb: not a readable notebook (invalid JSON"
    assert reason in corrupt_results["output"]
    assert all(reason in t["output"] for t in corrupt_results["tests"])

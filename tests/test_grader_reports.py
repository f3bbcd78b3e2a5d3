"""Reports, grades.csv, merge-manual, the Gradescope export and bundle, and the CLI."""

import csv
import json
import zipfile

import pytest

from grader.__main__ import build_parser, main
from grader.files import atomic_write_text
from grader.gradescope import build_bundle, results_json
from grader.report import (
    class_summary,
    load_results,
    merge_manual,
    write_grades_csv,
    write_student,
)


def result_for(student, auto_score):
    return {
        "student": student, "backend": "jax", "device": "cpu", "seconds": 1.0, "problems": [],
        "questions": {
            "q1_2": {"title": "cell", "max": 7, "auto_max": 7, "manual_max": 0,
                     "auto_score": auto_score,
                     "manual_score": None, "score": auto_score, "status": "partial", "bonus": False,
                     "notes": [], "checks": [{"name": "outputs", "points": auto_score, "max": 7,
                                              "passed": auto_score == 7, "message": "m"}]},
            "q3_4": {"title": "applications", "max": 3, "auto_max": 0, "manual_max": 3,
                     "auto_score": 0.0, "manual_score": None, "score": 0.0, "status": "manual",
                     "bonus": False, "notes": [], "checks": []},
        },
    }


def test_files_grades_csv_and_gradescope_format(tmp_path):
    write_student(tmp_path, result_for("ann", 7.0), {"q3_4_answer": "Molecules; traffic."})
    write_student(tmp_path, result_for("ben", 3.0), {})
    students = tmp_path / "students"
    assert {p.name for p in (students / "ann").iterdir()} == {
        "result.json", "feedback.md", "manual.md", "results.json"}
    assert "Molecules; traffic." in (students / "ann" / "manual.md").read_text()
    assert "(cell q3_4_answer not found)" in (students / "ben" / "manual.md").read_text()
    rows = list(csv.DictReader(write_grades_csv(tmp_path).read_text().splitlines()))
    assert [(r["student"], r["q1_2"], r["total"], r["max"]) for r in rows] == [
        ("ann", "7", "7", "10"), ("ben", "3", "3", "10")]
    gradescope = json.loads((students / "ann" / "results.json").read_text())
    assert gradescope["score"] == 7.0
    assert [t["max_score"] for t in gradescope["tests"]] == [7]  # q3_4 is marked by hand
    assert "q3_4 (3 points)" in gradescope["output"]
    assert not list(tmp_path.rglob("*.tmp")), "atomic writes leave no temporary files"


def test_merge_manual_folds_marks_and_rejects_bad_rows(tmp_path):
    write_student(tmp_path, result_for("ann", 7.0), {})
    marks = tmp_path / "marks.csv"
    marks.write_text("student,question,points,comment\nann,q3_4,2.5,good examples\n")
    assert merge_manual(marks, tmp_path) == 1
    (ann,) = load_results(tmp_path)
    assert ann["questions"]["q3_4"]["manual_score"] == 2.5
    assert ann["questions"]["q3_4"]["status"] == "marked"
    assert "good examples" in (tmp_path / "students" / "ann" / "feedback.md").read_text()
    # Gradescope marks the hand-marked parts itself: results.json leaves them out.
    assert results_json(ann)["score"] == 7.0
    assert not any(t["name"].startswith("q3_4") for t in results_json(ann)["tests"])
    grades = csv.DictReader((tmp_path / "grades.csv").read_text().splitlines())
    assert next(grades)["total"] == "9.5"
    bad = tmp_path / "bad.csv"
    bad.write_text("student,question,points\nzoe,q3_4,1\nann,q1_2,1\nann,q3_4,9\n")
    with pytest.raises(ValueError) as error:
        merge_manual(bad, tmp_path)
    message = str(error.value)
    assert "no graded student 'zoe'" in message
    assert "question 'q1_2' has no manual part" in message
    assert "points 9 outside 0..3" in message
    assert load_results(tmp_path)[0]["questions"]["q3_4"]["manual_score"] == 2.5


def test_untouched_answer_is_not_answered_and_marks_for_it_are_warned_about(tmp_path, capsys):
    stub = "<!-- graded: q3_4_answer -->\nYOUR ANSWER HERE"
    write_student(tmp_path, result_for("ann", 7.0), {"q3_4_answer": stub})
    write_student(tmp_path, result_for("ben", 7.0), {"q3_4_answer": stub.replace(
        "YOUR ANSWER HERE", "Molecules; YOUR ANSWER HERE was replaced.")})
    ann_manual = (tmp_path / "students" / "ann" / "manual.md").read_text()
    assert "(not answered: cell q3_4_answer still reads 'YOUR ANSWER HERE')" in ann_manual
    assert "> YOUR ANSWER HERE" not in ann_manual
    assert "> Molecules" in (tmp_path / "students" / "ben" / "manual.md").read_text()
    marks = tmp_path / "marks.csv"
    marks.write_text("student,question,points\nann,q3_4,2\nben,q3_4,2\nann,q3_4,0\n")
    assert merge_manual(marks, tmp_path) == 3
    warnings = [line for line in capsys.readouterr().err.splitlines() if line]
    assert len(warnings) == 1, warnings  # ben answered; 0 points for ann is no mistake
    assert warnings[0].startswith("warning: ") and "line 2" in warnings[0]
    assert "'ann', who did not answer it" in warnings[0]
    assert load_results(tmp_path)[0]["questions"]["q3_4"]["manual_score"] == 0


def test_result_that_is_not_a_grade_shows_no_numbers_and_takes_no_marks(tmp_path):
    unfinished = result_for("cat", 0.0)
    unfinished["final"] = False
    unfinished["questions"]["q1_2"]["status"] = "grader-error"
    write_student(tmp_path, result_for("ann", 7.0), {})
    write_student(tmp_path, unfinished, {})
    rows = {r["student"]: r for r in csv.DictReader(
        write_grades_csv(tmp_path).read_text().splitlines())}
    assert (rows["ann"]["q1_2"], rows["ann"]["total"]) == ("7", "7")
    assert (rows["cat"]["q1_2"], rows["cat"]["q3_4"], rows["cat"]["total"]) == (
        "grader-error", "manual", "incomplete")
    summary = class_summary(load_results(tmp_path))
    assert "incomplete/10" in summary and summary.splitlines()[-1].split()[-1] == "7.0"
    marks = tmp_path / "marks.csv"
    marks.write_text("student,question,points\ncat,q3_4,1\n")
    with pytest.raises(ValueError, match="'cat' is not completely graded"):
        merge_manual(marks, tmp_path)


def test_gradescope_bundle_has_executable_scripts_and_source(tmp_path):
    path = build_bundle(tmp_path / "autograder.zip", only="q1_2,q1_5", backend="torch")
    with zipfile.ZipFile(path) as bundle:
        names = set(bundle.namelist())
        assert {"setup.sh", "run_autograder", "kit/pyproject.toml",
                "kit/grader/__main__.py", "kit/grader/references/q1_2.npz"} <= names
        assert not any("sample_submissions" in n for n in names)
        for script in ("setup.sh", "run_autograder"):
            assert (bundle.getinfo(script).external_attr >> 16) & 0o111
        run = bundle.read("run_autograder").decode()
        assert "KERAS_BACKEND=torch" in run and "--only q1_2,q1_5" in run
        assert '-m grader.gradescope --root "$root" --only q1_2,q1_5' in run
    with pytest.raises(ValueError, match="unknown question"):
        build_bundle(tmp_path / "x.zip", only="q7_1")


def test_every_command_has_help(capsys):
    commands = ["release", "record", "grade", "mutants", "merge-manual", "gradescope-bundle",
                "demo", "similarity", "check"]
    subparsers = next(a for a in build_parser()._actions if a.dest == "command")
    assert sorted(subparsers.choices) == sorted(commands)
    for command in commands:
        with pytest.raises(SystemExit) as exit_:
            main([command, "--help"])
        assert exit_.value.code == 0
        assert "usage: python -m grader" in capsys.readouterr().out


def test_cli_reports_bad_arguments(tmp_path, capsys):
    assert main(["grade", str(tmp_path / "missing"), "--out", str(tmp_path / "r")]) == 2
    assert "not a folder, .zip or .ipynb" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_:
        main(["grade", str(tmp_path), "--out", str(tmp_path / "r"), "--jobs", "0"])
    assert exit_.value.code == 2
    assert "argument --jobs: '0' is not a positive integer" in capsys.readouterr().err


def test_atomic_write_replaces_whole_file(tmp_path):
    target = tmp_path / "a.txt"
    atomic_write_text(target, "old")
    atomic_write_text(target, "new")
    assert target.read_text() == "new" and [p.name for p in tmp_path.iterdir()] == ["a.txt"]

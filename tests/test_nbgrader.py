"""nbgrader on the solution notebooks as they are: ``generate_assignment`` releases them, and
``autograde`` gives the reference solution every automatic point while a wrong answer loses
the points of its check.

The notebooks run in fast mode on this session's backend. How nbgrader reads the metadata does
not depend on the backend, so the test runs once in CI.
"""

import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from grader.notebooks import cell_id, notebook_text
from grader.registry import QUESTIONS, module

ROOT = Path(__file__).resolve().parent.parent
# A Part 1 and a Part 3 notebook, both quick in fast mode.
NOTEBOOKS = ("02_vanilla_rnn.ipynb", "09_gcn.ipynb")
ASSIGNMENT = "assignment"
# The wrong answer: q3_2's A + I without the identity, which its check must catch.
WRONG_QUESTION, WRONG_MUTANT = "q3_2", "no_identity"
CONFIG = f"""\
c = get_config()
c.CourseDirectory.course_id = "course-kit"
c.CourseDirectory.db_assignments = [dict(name="{ASSIGNMENT}")]
c.CourseDirectory.db_students = [dict(id="reference"), dict(id="wrong")]
# nbgrader's default of 30 s per cell is too short for the training cells
c.Execute.timeout = 600
"""

pytestmark = [pytest.mark.backend_independent, pytest.mark.slow]


def prepend(variable, folder):
    return os.pathsep.join(filter(None, (str(folder), os.environ.get(variable))))


def run_nbgrader(course, backend, *args):
    # nbgrader calls the `alembic` command of its environment to set up the gradebook
    environment = {**os.environ, "COURSE_KIT_FAST": "1", "KERAS_BACKEND": backend,
                   "PATH": prepend("PATH", Path(sys.executable).parent),
                   "PYTHONPATH": prepend("PYTHONPATH", ROOT)}
    result = subprocess.run([sys.executable, "-m", "nbgrader", *args], cwd=course,
                            env=environment, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, f"nbgrader {' '.join(args)} failed:\n{result.stderr[-4000:]}"
    return result


def with_wrong_answer(notebook):
    """``notebook`` with the graded cell of WRONG_QUESTION replaced by its mutant."""
    cell = next(c for c in notebook.cells if cell_id(c) == WRONG_QUESTION)
    cell.source = f"# graded: {WRONG_QUESTION}\n{module(WRONG_QUESTION).MUTANTS[WRONG_MUTANT]}"
    return notebook


def automatic_points(notebook_name):
    """What the registry says each question of a notebook is worth automatically."""
    return {f"{q.id}_check": q.auto_points for q in QUESTIONS.values()
            if q.notebook == notebook_name and q.automatic}


def scores(course, student):
    """``{notebook: {grade id: (automatic score, max score)}}`` from nbgrader's gradebook."""
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gradebook:
        return {name: {grade.name: (grade.auto_score, grade.max_score) for grade in
                       gradebook.find_submission_notebook(
                           name.removesuffix(".ipynb"), ASSIGNMENT, student).grades}
                for name in NOTEBOOKS}


def test_nbgrader_releases_and_autogrades_the_solutions(tmp_path, backend):
    course = tmp_path / "course"
    source = course / "source" / ASSIGNMENT
    source.mkdir(parents=True)
    (course / "nbgrader_config.py").write_text(CONFIG)
    for name in NOTEBOOKS:
        (source / name).write_bytes((ROOT / "solutions" / name).read_bytes())
    run_nbgrader(course, backend, "generate_assignment", ASSIGNMENT)
    for name in NOTEBOOKS:
        released = (course / "release" / ASSIGNMENT / name).read_text(encoding="utf-8")
        assert "### BEGIN SOLUTION" not in released and "raise NotImplementedError" in released

    for student in ("reference", "wrong"):
        folder = course / "submitted" / student / ASSIGNMENT
        folder.mkdir(parents=True)
        for name in NOTEBOOKS:
            notebook = nbformat.read(ROOT / "solutions" / name, as_version=4)
            if student == "wrong" and name == QUESTIONS[WRONG_QUESTION].notebook:
                notebook = with_wrong_answer(notebook)
            (folder / name).write_text(notebook_text(notebook), encoding="utf-8")
    run_nbgrader(course, backend, "autograde", ASSIGNMENT)

    reference, wrong = scores(course, "reference"), scores(course, "wrong")
    for name in NOTEBOOKS:
        checks = {grade_id: points for grade_id, points in reference[name].items()
                  if grade_id.endswith("_check")}
        expected = automatic_points(name)
        assert checks == {grade_id: (points, points) for grade_id, points in expected.items()}, (
            name, "the reference solution must earn every automatic point")
        manual = {grade_id: score for grade_id, (score, _) in reference[name].items()
                  if grade_id.endswith("_answer")}
        assert manual and all(score is None for score in manual.values()), (
            name, "free-text answers are left to a person")
    wrong_checks = {grade_id: score for grade_id, (score, _) in
                    wrong[QUESTIONS[WRONG_QUESTION].notebook].items()
                    if grade_id.endswith("_check")}
    assert wrong_checks[f"{WRONG_QUESTION}_check"] == 0
    assert all(score == reference[QUESTIONS[WRONG_QUESTION].notebook][grade_id][0]
               for grade_id, score in wrong_checks.items()
               if grade_id != f"{WRONG_QUESTION}_check")

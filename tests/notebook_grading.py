"""Grading the solution notebooks and their untouched student release, for the notebook tests."""

import nbformat

from grader.grade import grade_submission
from grader.notebooks import release_notebook
from grader.registry import QUESTIONS


def assert_solutions_full_and_release_zero(folder, solutions, names, qids, backend):
    """Grade ``names`` (from the ``solutions`` folder) as one student and their release as
    another: the solutions earn every automatic point of ``qids`` and hand in every answer
    cell; the untouched release earns nothing, without crashing the grader."""
    solution, untouched = folder / "solution", folder / "untouched"
    solution.mkdir()
    untouched.mkdir()
    for name in names:
        notebook = nbformat.read(solutions / name, as_version=4)
        nbformat.write(notebook, solution / name)
        nbformat.write(release_notebook(notebook), untouched / name)
    questions = [QUESTIONS[q] for q in qids]

    result, answers = grade_submission(solution, questions, backend=backend)
    for qid in qids:
        entry = result["questions"][qid]
        assert entry["auto_score"] == entry["auto_max"], (qid, entry["notes"], entry["checks"])
    assert {f"{q}_answer" for q in qids if QUESTIONS[q].rubric} <= set(answers)

    result, _ = grade_submission(untouched, questions, backend=backend)
    for qid in qids:
        entry = result["questions"][qid]
        assert entry["auto_score"] == 0.0 and entry["status"] in ("error", "failed"), (qid, entry)

"""nbgrader's cell metadata on the solution notebooks, made from the kit's own markers.

So that ``nbgrader generate_assignment`` and ``nbgrader autograde`` work on ``solutions/`` as
they are, every cell nbgrader has to know about carries ``{"nbgrader": {...}}``, derived from
what the kit already records and never written by hand:

- a code cell with a ``### BEGIN SOLUTION`` region is an *autograded answer* (``solution``);
  its grade id is its graded id (``q1_2``), or ``solution_<n>`` for an ungraded one (a class
  carried over from an earlier notebook);
- the first code cell after a graded code cell is that question's visible check, an
  *autograder tests* cell (``grade``, ``locked``) worth the question's automatic points in
  :mod:`grader.registry`, with the grade id ``<id>_check``;
- a Markdown free-text answer (``q1_3_answer``) is a *manually graded answer* (``grade`` and
  ``solution``) worth the question's rubric points.

Every other cell has no nbgrader metadata: nbgrader runs all cells anyway, and locking them
would make ``autograde`` put back the release's version of cells a student is asked to change
(the experiments and their settings). ``python -m grader release`` writes the metadata
(:func:`stamp_solutions`) and ``release --check`` reports every cell whose metadata is missing
or out of step with the registry (:func:`metadata_problems`).
"""

from __future__ import annotations

import re
from pathlib import Path

import nbformat

from grader.notebooks import cell_id, notebook_text
from grader.registry import QUESTIONS

__all__ = ["KEY", "SCHEMA_VERSION", "expected_metadata", "metadata_problems", "stamp",
           "stamp_solutions"]

KEY = "nbgrader"
SCHEMA_VERSION = 3
# nbgrader's own test for a solution region (any line that holds it), stricter than the
# kit's release, which reads only lines ending in ``### BEGIN SOLUTION``.
SOLUTION_DELIMITER = "BEGIN SOLUTION"
ANSWER_SUFFIX = "_answer"
CHECK_SUFFIX = "_check"
CHECK_CALL = re.compile(r"\bcheck_\w+\(")


class MalformedSolution(ValueError):
    """A solution notebook whose markers do not say what nbgrader should make of a cell."""


def _cell_metadata(grade_id: str, *, solution: bool, grade: bool, locked: bool,
                   points: float | None = None) -> dict:
    metadata = {"grade": grade, "grade_id": grade_id, "locked": locked,
                "schema_version": SCHEMA_VERSION, "solution": solution}
    if grade:
        metadata["points"] = points
    return metadata


def _has_solution_region(cell) -> bool:
    return any(SOLUTION_DELIMITER in line for line in cell.source.splitlines())


def expected_metadata(notebook, name: str) -> list[dict | None]:
    """The nbgrader metadata each cell of the solution notebook ``name`` should carry (None:
    none), from its graded ids and the points of the questions in the registry.

    Raises:
        MalformedSolution: naming the notebook and the cell whose markers cannot be read:
            a Markdown solution that is not a free-text answer, an id that is no question or
            occurs twice, a graded code cell without a solution region or without a check
            cell after it.
    """
    expected: list[dict | None] = [None] * len(notebook.cells)
    seen: dict[str, int] = {}
    ungraded_solutions = 0

    def fail(number, problem):
        raise MalformedSolution(f"{name} cell {number}: {problem}")

    def claim(grade_id, number):
        if grade_id in seen:
            fail(number, f"grade id {grade_id!r} is already cell {seen[grade_id]}'s; nbgrader "
                 "needs one cell per id")
        seen[grade_id] = number

    for index, cell in enumerate(notebook.cells):
        number, graded = index + 1, cell_id(cell)
        solution = _has_solution_region(cell)
        if cell.cell_type == "markdown" and (solution or graded):
            qid = (graded or "").removesuffix(ANSWER_SUFFIX)
            question = QUESTIONS.get(qid)
            if graded is None or graded == qid or question is None or not question.rubric:
                fail(number, f"a Markdown cell with a solution region or a graded id must be a "
                     f"free-text answer <!-- graded: qN_M{ANSWER_SUFFIX} --> of a question with "
                     f"a rubric; found {graded!r}")
            if not solution:
                fail(number, f"the free-text answer {graded} has no {SOLUTION_DELIMITER} region")
            claim(graded, number)
            expected[index] = _cell_metadata(graded, solution=True, grade=True, locked=False,
                                             points=question.manual_points)
        elif cell.cell_type == "code" and graded is not None:
            question = QUESTIONS.get(graded)
            if question is None or not question.automatic:
                fail(number, f"graded id {graded!r} is not an automatically graded question")
            if not solution:
                fail(number, f"graded cell {graded} has no {SOLUTION_DELIMITER} region")
            claim(graded, number)
            expected[index] = _cell_metadata(graded, solution=True, grade=False, locked=False)
            check = next((i for i in range(index + 1, len(notebook.cells))
                          if notebook.cells[i].cell_type == "code"), None)
            if (check is None or cell_id(notebook.cells[check]) is not None
                    or _has_solution_region(notebook.cells[check])
                    or not CHECK_CALL.search(notebook.cells[check].source)):
                fail(number, f"graded cell {graded} must be followed by its visible check: a "
                     "code cell that calls a check_... function")
            claim(graded + CHECK_SUFFIX, check + 1)
            expected[check] = _cell_metadata(graded + CHECK_SUFFIX, solution=False, grade=True,
                                             locked=True, points=question.auto_points)
        elif solution:
            ungraded_solutions += 1
            grade_id = f"solution_{ungraded_solutions}"
            claim(grade_id, number)
            expected[index] = _cell_metadata(grade_id, solution=True, grade=False, locked=False)
    return expected


def stamp(notebook, name: str) -> bool:
    """Give every cell of ``notebook`` its :func:`expected_metadata` (in place, removing
    nbgrader metadata where none belongs); return whether anything changed."""
    changed = False
    for cell, metadata in zip(notebook.cells, expected_metadata(notebook, name)):
        if cell.metadata.get(KEY) == metadata:
            continue
        changed = True
        if metadata is None:
            del cell.metadata[KEY]
        else:
            cell.metadata[KEY] = metadata
    return changed


def _solution_notebooks(solutions: Path) -> list[Path]:
    solutions = Path(solutions)
    if not solutions.is_dir():
        raise ValueError(f"solutions directory {solutions} does not exist")
    return sorted(solutions.glob("*.ipynb"))


def stamp_solutions(solutions: Path) -> list[Path]:
    """Write the nbgrader metadata into every ``solutions/*.ipynb``; return the notebooks
    that changed (the others are not rewritten)."""
    from grader.files import atomic_write_text

    changed = []
    for path in _solution_notebooks(solutions):
        notebook = nbformat.read(path, as_version=4)
        if stamp(notebook, path.name):
            atomic_write_text(path, notebook_text(notebook))
            changed.append(path)
    return changed


def _describe(number: int, have, want) -> str:
    if have is None:
        return f"cell {number} ({want['grade_id']}) has no nbgrader metadata"
    if want is None:
        return f"cell {number} has nbgrader metadata but is no answer or check"
    if not isinstance(have, dict):
        return f"cell {number} ({want['grade_id']}) has nbgrader metadata that is not an object"
    differences = ", ".join(f"{key} {have.get(key)!r} instead of {want.get(key)!r}"
                            for key in sorted(set(have) | set(want))
                            if have.get(key) != want.get(key))
    return f"cell {number} ({want['grade_id']}) has nbgrader {differences}"


def metadata_problems(solutions: Path) -> list[str]:
    """One line per solution cell whose nbgrader metadata is missing, superfluous or out of
    step with the registry's points; empty when every notebook is as :func:`stamp` leaves it.

    Raises:
        MalformedSolution: as :func:`expected_metadata`.
    """
    problems = []
    for path in _solution_notebooks(solutions):
        notebook = nbformat.read(path, as_version=4)
        for number, (cell, want) in enumerate(
                zip(notebook.cells, expected_metadata(notebook, path.name)), start=1):
            have = cell.metadata.get(KEY)
            if have != want:
                problems.append(f"{path.name} {_describe(number, have, want)}")
    return problems

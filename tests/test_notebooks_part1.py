"""The Part 1 solution notebooks: structure, student release, and grading as a submission.

Executing the notebooks is CI's separate ``pytest --nbval-lax solutions/`` run; these tests
check what must hold without running them.
"""

from pathlib import Path

import keras
import nbformat
import pytest
from notebook_grading import assert_solutions_full_and_release_zero

from grader.notebooks import cell_id, find_cells, release_notebook
from grader.registry import QUESTIONS

ROOT = Path(__file__).resolve().parent.parent
SOLUTIONS = ROOT / "solutions"

#: Which notebook holds each Part 1 question.
PART1 = {
    "01_backprop_through_time.ipynb": ("q1_1",),
    "02_vanilla_rnn.ipynb": ("q1_2", "q1_3"),
    "03_optimizers.ipynb": ("q1_4",),
    "04_lstm.ipynb": ("q1_5", "q1_6"),
    "05_gradients_over_time.ipynb": ("q1_7",),
    "06_lstm_variants.ipynb": ("q1_8", "q1_9"),
}
SOLUTION_WORDS = ("### BEGIN SOLUTION", "### END SOLUTION", "Model answer", "Rubric")


def _read(name):
    return nbformat.read(SOLUTIONS / name, as_version=4)


@pytest.fixture(scope="module")
def notebooks():
    return {name: _read(name) for name in PART1}


@pytest.mark.backend_independent
@pytest.mark.parametrize("name", sorted(PART1))
def test_solution_notebook_is_committed_without_outputs(name, notebooks):
    for cell in notebooks[name].cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, cell.source[:80]


@pytest.mark.backend_independent
@pytest.mark.parametrize("name", sorted(PART1))
def test_every_question_has_its_graded_cells_in_its_notebook(name, notebooks):
    cells = find_cells({name: notebooks[name]})
    for qid in PART1[name]:
        question = QUESTIONS[qid]
        wanted = ((qid,) if question.automatic else ()) + question.answer_cells
        for graded in wanted:
            assert graded in cells, f"{name} has no cell {graded}"
            # Both markers (first line and metadata), so either one surviving is enough.
            cell = next(c for c in notebooks[name].cells if cell_id(c) == graded)
            assert cell.metadata["course_kit"]["graded"] == graded
            assert graded in cell.source.splitlines()[0]


@pytest.mark.backend_independent
@pytest.mark.parametrize("name", sorted(PART1))
def test_release_hides_solutions_and_rubrics_and_starts_with_the_environment_check(name, notebooks):
    student = release_notebook(notebooks[name])
    text = nbformat.writes(student)
    for word in SOLUTION_WORDS:
        assert word not in text, f"{name}: {word!r} left in the student release"
    code = [c for c in student.cells if c.cell_type == "code"]
    assert "check_environment()" in code[0].source
    for cell in code:
        if cell_id(cell) in PART1[name]:
            assert 'raise NotImplementedError("write your solution here")' in cell.source
    # Every solution region of a check's subject is followed by a visible check cell.
    for index, cell in enumerate(notebooks[name].cells):
        if cell.cell_type == "code" and cell_id(cell) in PART1[name] and cell_id(cell) != "q1_3":
            following = [c for c in notebooks[name].cells[index + 1:] if c.cell_type == "code"]
            assert "check_" in following[0].source, f"{name}: no check after {cell_id(cell)}"


# q1_3 and q1_8 train models for a few hundred steps: they are graded once, on TensorFlow, below.
FAST_AUTOMATIC = ("q1_1", "q1_2", "q1_4", "q1_5", "q1_6", "q1_7", "q1_9")


@pytest.mark.slow
def test_solution_notebooks_get_full_automatic_marks_and_the_release_gets_zero(tmp_path, backend):
    assert_solutions_full_and_release_zero(tmp_path, SOLUTIONS, PART1, FAST_AUTOMATIC, backend)


@pytest.mark.slow
@pytest.mark.skipif(keras.backend.backend() != "tensorflow",
                    reason="the training questions are graded once, on the TensorFlow backend")
def test_solution_palindrome_training_gets_full_marks(tmp_path, backend):
    assert_solutions_full_and_release_zero(
        tmp_path, SOLUTIONS, ["02_vanilla_rnn.ipynb", "06_lstm_variants.ipynb"], ("q1_3", "q1_8"),
        backend,
    )


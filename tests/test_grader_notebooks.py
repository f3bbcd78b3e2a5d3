"""Graded cells, submissions in every accepted form, `release` / `release --check`, and the
nbgrader metadata the release gives the solution notebooks."""

import re
import zipfile
from pathlib import Path

import nbformat
import pytest

from grader.__main__ import main
from grader.grade import grade_submission
from grader.nbgrader_metadata import MalformedSolution, metadata_problems
from grader.notebooks import (
    cell_id,
    find_cells,
    graded_cell,
    load_submission,
    release,
    release_notebook,
)
from grader.registry import QUESTIONS

ROOT = Path(__file__).resolve().parent.parent


def write_notebook(path, cells):
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nbformat.v4.new_notebook(cells=cells), path)


def test_cell_found_by_comment_or_by_metadata():
    both = graded_cell("x = 1", "q1_2")
    comment_only = nbformat.v4.new_code_cell("# graded: q1_5\ny = 2")
    metadata_only = nbformat.v4.new_code_cell("z = 3", metadata={"course_kit": {"graded": "q3_2"}})
    answer = nbformat.v4.new_markdown_cell("<!-- graded: q1_1_answer -->\nBecause.")
    plain = nbformat.v4.new_code_cell("print('not graded')")
    assert [cell_id(c) for c in (both, comment_only, metadata_only, answer, plain)] == [
        "q1_2", "q1_5", "q3_2", "q1_1_answer", None]


def test_later_duplicate_cell_wins():
    notebook = nbformat.v4.new_notebook(cells=[graded_cell("a = 1", "q1_5"),
                                               graded_cell("a = 2", "q1_5")])
    assert find_cells({"n.ipynb": notebook})["q1_5"]["source"].endswith("a = 2")


def test_folder_zip_and_single_notebook_are_read_alike(tmp_path):
    cells = [graded_cell("def count_parameters(d, n, c):\n    return 0", "q1_5")]
    folder = tmp_path / "alice"
    write_notebook(folder / "01.ipynb", cells)
    archive = tmp_path / "bob.zip"
    with zipfile.ZipFile(archive, "w") as z:
        z.write(folder / "01.ipynb", "bob/01.ipynb")
    single = tmp_path / "carol.ipynb"
    write_notebook(single, cells)
    for path, student in ((folder, "alice"), (archive, "bob"), (single, "carol")):
        submission = load_submission(path)
        assert submission.student == student
        assert "q1_5" in submission.cells, path


def test_unreadable_notebook_and_bad_path_are_reported(tmp_path):
    (tmp_path / "dave").mkdir()
    (tmp_path / "dave" / "broken.ipynb").write_text("{ not json")
    submission = load_submission(tmp_path / "dave")
    assert any("broken.ipynb: not a readable notebook" in p for p in submission.problems)
    with pytest.raises(ValueError, match="expected a folder, a .zip or an .ipynb"):
        load_submission(tmp_path / "notes.txt")


def test_missing_cell_scores_zero_with_its_name(tmp_path):
    write_notebook(tmp_path / "eve" / "01.ipynb", [nbformat.v4.new_code_cell("x = 1")])
    result, answers = grade_submission(tmp_path / "eve", [QUESTIONS["q1_2"], QUESTIONS["q3_4"]],
                                       backend="jax")
    entry = result["questions"]["q1_2"]
    assert entry["score"] == 0 and entry["status"] == "not found"
    assert entry["notes"] == ["cell q1_2 not found"]
    assert result["questions"]["q3_4"]["status"] == "manual"
    assert answers == {}


SOLUTION_CELL = """# graded: q1_5
def count_parameters(d, n, c):
    ### BEGIN SOLUTION
    return 4 * (d * n + n * n + n) + n * c + c
    ### END SOLUTION
"""


def make_solutions(folder):
    code = nbformat.v4.new_code_cell(SOLUTION_CELL, metadata={"course_kit": {"graded": "q1_5"}})
    code.outputs = [nbformat.v4.new_output("stream", text="hello")]
    code.execution_count = 3
    check = nbformat.v4.new_code_cell("check_parameter_count(count_parameters)")
    answer = nbformat.v4.new_markdown_cell(
        "<!-- graded: q1_5_answer -->\n### BEGIN SOLUTION\nGates decide.\n### END SOLUTION")
    write_notebook(folder / "01_recurrent_networks.ipynb", [code, check, answer])


def test_release_replaces_solutions_clears_outputs_keeps_metadata(tmp_path):
    make_solutions(tmp_path / "solutions")
    solution = nbformat.read(tmp_path / "solutions" / "01_recurrent_networks.ipynb", as_version=4)
    student = release_notebook(solution)
    code, _, answer = student.cells
    assert "return 4 *" not in code.source
    assert '    raise NotImplementedError("write your solution here")' in code.source.splitlines()
    assert code.outputs == [] and code.execution_count is None
    assert code.metadata["course_kit"] == {"graded": "q1_5"}
    assert "Gates decide" not in answer.source and "YOUR ANSWER HERE" in answer.source
    assert solution.cells[0].outputs, "release must not change the solution notebook"


def test_release_check_names_stale_files(tmp_path, capsys):
    solutions, notebooks = tmp_path / "solutions", tmp_path / "notebooks"
    folders = ["--only", "notebooks", "--solutions", str(solutions), "--notebooks", str(notebooks)]
    solutions.mkdir()
    assert main(["release", "--check", *folders]) == 0  # no notebooks at all is consistent
    make_solutions(solutions)
    assert main(["release", "--check", *folders]) == 1
    assert "01_recurrent_networks.ipynb" in capsys.readouterr().err
    assert main(["release", *folders]) == 0
    assert main(["release", "--check", *folders]) == 0
    (notebooks / "extra.ipynb").write_text("{}")
    (notebooks / "01_recurrent_networks.ipynb").write_text("edited by hand")
    assert main(["release", "--check", *folders]) == 1
    err = capsys.readouterr().err
    assert "extra.ipynb" in err and "01_recurrent_networks.ipynb" in err
    assert main(["release", *folders]) == 0
    assert sorted(p.name for p in notebooks.iterdir()) == ["01_recurrent_networks.ipynb"]


def test_unterminated_solution_region_is_an_error():
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("### BEGIN SOLUTION\nx")])
    with pytest.raises(ValueError, match="unterminated"):
        release_notebook(notebook)


# ---------------------------------------------------------------- nbgrader metadata


def nbgrader_of(path):
    return [cell.metadata.get("nbgrader") for cell in nbformat.read(path, as_version=4).cells]


def test_release_gives_solutions_nbgrader_metadata_from_the_registry(tmp_path):
    solutions, notebooks = tmp_path / "solutions", tmp_path / "notebooks"
    make_solutions(solutions)
    assert main(["release", "--only", "notebooks", "--solutions", str(solutions),
                 "--notebooks", str(notebooks)]) == 0
    q1_5 = QUESTIONS["q1_5"]
    expected = [
        {"grade": False, "grade_id": "q1_5", "locked": False, "schema_version": 3,
         "solution": True},
        {"grade": True, "grade_id": "q1_5_check", "locked": True, "points": q1_5.auto_points,
         "schema_version": 3, "solution": False},
        {"grade": True, "grade_id": "q1_5_answer", "locked": False,
         "points": q1_5.manual_points, "schema_version": 3, "solution": True},
    ]
    name = "01_recurrent_networks.ipynb"
    assert nbgrader_of(solutions / name) == expected
    assert nbgrader_of(notebooks / name) == expected
    student = nbformat.read(notebooks / name, as_version=4)
    assert [cell_id(cell) for cell in student.cells] == ["q1_5", None, "q1_5_answer"]


def test_release_check_fails_on_missing_or_outdated_nbgrader_metadata(tmp_path, capsys):
    solutions, notebooks = tmp_path / "solutions", tmp_path / "notebooks"
    folders = ["--only", "notebooks", "--solutions", str(solutions), "--notebooks", str(notebooks)]
    make_solutions(solutions)
    assert main(["release", *folders]) == 0
    path = solutions / "01_recurrent_networks.ipynb"
    notebook = nbformat.read(path, as_version=4)
    notebook.cells[1].metadata["nbgrader"]["points"] = 99
    del notebook.cells[2].metadata["nbgrader"]
    nbformat.write(notebook, path)
    capsys.readouterr()
    assert main(["release", "--check", *folders]) == 1
    err = capsys.readouterr().err
    assert (f"01_recurrent_networks.ipynb cell 2 (q1_5_check) has nbgrader points 99 instead "
            f"of {QUESTIONS['q1_5'].auto_points}") in err
    assert "01_recurrent_networks.ipynb cell 3 (q1_5_answer) has no nbgrader metadata" in err


@pytest.mark.parametrize("cells, problem", [
    ([graded_cell("def count_parameters(d, n, c):\n    ### BEGIN SOLUTION\n    return 0\n"
                  "    ### END SOLUTION", "q1_5")],
     "cell 1: graded cell q1_5 must be followed by its visible check"),
    ([nbformat.v4.new_markdown_cell("### BEGIN SOLUTION\nan answer\n### END SOLUTION")],
     "cell 1: a Markdown cell with a solution region or a graded id must be a free-text answer"),
    ([graded_cell("x = 1", "q1_5")], "cell 1: graded cell q1_5 has no BEGIN SOLUTION region"),
    ([graded_cell("### BEGIN SOLUTION\nx = 1\n### END SOLUTION", "q9_9")],
     "cell 1: graded id 'q9_9' is not an automatically graded question"),
])
def test_release_names_the_notebook_and_cell_nbgrader_cannot_read(tmp_path, cells, problem):
    write_notebook(tmp_path / "solutions" / "05_broken.ipynb", cells)
    with pytest.raises(MalformedSolution, match=re.escape(f"05_broken.ipynb {problem}")):
        release(tmp_path / "solutions", tmp_path / "notebooks")


def test_solution_notebooks_carry_valid_nbgrader_metadata():
    from nbgrader.nbgraderformat import MetadataValidator

    assert metadata_problems(ROOT / "solutions") == []
    for path in sorted((ROOT / "solutions").glob("*.ipynb")):
        notebook = nbformat.read(path, as_version=4)
        MetadataValidator().validate_nb(notebook)
        points = {cell.metadata["nbgrader"]["grade_id"]: cell.metadata["nbgrader"]["points"]
                  for cell in notebook.cells if cell.metadata.get("nbgrader", {}).get("grade")}
        questions = [q for q in QUESTIONS.values() if q.notebook == path.name]
        assert points == {
            **{f"{q.id}_check": q.auto_points for q in questions if q.automatic},
            **{f"{q.id}_answer": q.manual_points for q in questions if q.rubric}}, path.name

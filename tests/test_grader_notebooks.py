"""Graded cells, submissions in every accepted form, and `release` / `release --check`."""

import zipfile

import nbformat
import pytest

from grader.__main__ import main
from grader.grade import grade_submission
from grader.notebooks import cell_id, find_cells, graded_cell, load_submission, release_notebook
from grader.registry import QUESTIONS


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
    answer = nbformat.v4.new_markdown_cell(
        "<!-- graded: q1_5_answer -->\n### BEGIN SOLUTION\nGates decide.\n### END SOLUTION")
    write_notebook(folder / "01_recurrent_networks.ipynb", [code, answer])


def test_release_replaces_solutions_clears_outputs_keeps_metadata(tmp_path):
    make_solutions(tmp_path / "solutions")
    solution = nbformat.read(tmp_path / "solutions" / "01_recurrent_networks.ipynb", as_version=4)
    student = release_notebook(solution)
    code, answer = student.cells
    assert "return 4 *" not in code.source
    assert '    raise NotImplementedError("write your solution here")' in code.source.splitlines()
    assert code.outputs == [] and code.execution_count is None
    assert code.metadata["course_kit"] == {"graded": "q1_5"}
    assert "Gates decide" not in answer.source and "YOUR ANSWER HERE" in answer.source
    assert solution.cells[0].outputs, "release must not change the solution notebook"


def test_release_check_names_stale_files(tmp_path, capsys):
    solutions, notebooks = tmp_path / "solutions", tmp_path / "notebooks"
    folders = ["--solutions", str(solutions), "--notebooks", str(notebooks)]
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

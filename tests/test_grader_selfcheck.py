"""``python -m grader check``: a student's table before hand-in, in both directions."""

import nbformat
import pytest

from grader.__main__ import main
from grader.notebooks import ANSWER_STUB, CODE_STUB, graded_cell
from grader.selfcheck import report_notebook

pytestmark = pytest.mark.backend_independent

COUNT = ("def count_parameters(d, n, c):\n"
         "    return 4 * (d * n + n * n + n) + n * c + c\n")
CHECK = "from course_kit.checks import check_parameter_count\ncheck_parameter_count(count_parameters)"


def lstm_notebook(code, answer, check=CHECK):
    """A stand-in for 04_lstm.ipynb: q1_5's graded cell, its check, its answer cell."""
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [graded_cell(code, "q1_5"), nbformat.v4.new_code_cell(check),
                      graded_cell(answer, "q1_5_answer", "markdown")]
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                       "language": "python"}
    return notebook


def executed(notebook, error=None):
    """``notebook`` as if run: every code cell executed, the check cell raising ``error``."""
    for number, cell in enumerate(c for c in notebook.cells if c.cell_type == "code"):
        cell.execution_count = number + 1
        if error and CHECK in cell.source:
            cell.outputs = [nbformat.v4.new_output("error", ename=error[0], evalue=error[1],
                                                   traceback=[])]
    return notebook


def row(report, qid):
    return next(r for r in report.rows if r.question == qid)


def test_a_written_passing_answered_question_is_ready():
    report = report_notebook("04_lstm.ipynb", executed(lstm_notebook(COUNT, "Gates decide.")))
    q1_5 = row(report, "q1_5")
    assert (q1_5.cell, q1_5.checks, q1_5.answer) == ("found", "passed", "filled in")
    assert row(report, "q1_6").cell == "missing"  # the stand-in has no LSTM cell
    assert not report.ready


def test_the_stub_a_failed_check_and_an_empty_answer_are_reported():
    stub = f"def count_parameters(d, n, c):\n    {CODE_STUB}\n"
    report = report_notebook("04_lstm.ipynb", executed(
        lstm_notebook(stub, ANSWER_STUB), error=("NotImplementedError", "write your solution")))
    q1_5 = row(report, "q1_5")
    assert (q1_5.cell, q1_5.checks, q1_5.answer) == ("not written", "failed", "empty")
    assert q1_5.detail == "NotImplementedError: write your solution"


def test_a_check_that_did_not_run_is_not_passed():
    notebook = lstm_notebook(COUNT, "Gates decide.")
    assert row(report_notebook("04_lstm.ipynb", notebook), "q1_5").checks == "not run"


def test_a_notebook_of_another_course_is_named():
    report = report_notebook("99_other.ipynb", lstm_notebook(COUNT, "x"))
    assert "not one of the course's notebooks" in report.problem and not report.ready


@pytest.mark.slow
def test_the_command_runs_the_notebooks_and_prints_one_table(tmp_path, capsys):
    """A real kernel, both directions: the right count passes, a wrong one fails."""
    right, wrong = tmp_path / "right", tmp_path / "wrong"
    for folder, code in ((right, COUNT), (wrong, COUNT.replace(" + c\n", "\n"))):
        folder.mkdir()
        nbformat.write(lstm_notebook(code, "Gates decide."), folder / "04_lstm.ipynb")
    assert main(["check", str(right / "04_lstm.ipynb")]) == 1  # q1_6 is missing
    out = capsys.readouterr().out
    assert "| 04_lstm.ipynb | q1_5 | found | passed | filled in |" in out
    assert "| 04_lstm.ipynb | q1_6 | missing |" in out
    assert main(["check", str(wrong)]) == 1
    out = capsys.readouterr().out
    assert "| 04_lstm.ipynb | q1_5 | found | failed (CheckFailed:" in out
    assert "0 of 1 notebook(s) ready to hand in" in out

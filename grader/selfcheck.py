"""A student's check before hand-in: ``python -m grader check notebooks/``.

Runs the student's notebooks headless, in fast mode, in the student's own environment (no
jail: it is their code on their machine, and nothing is graded), and prints one table per
notebook: for each question, whether its graded code cell is there and written, whether the
visible checks after it passed, and whether its free-text answer is filled in. The graded
cells are found the way the grader finds them (:func:`grader.notebooks.find_cells`), so a
cell the table calls missing is one the grader cannot see either.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from grader.notebooks import ANSWER_STUB, CODE_STUB, cell_id

#: What a visible check cell calls (``check_cell(...)``, ``check_bptt(...)``, ...).
CHECK_CALL = "check_"
#: The first-cell environment check passes or fails on its own; it belongs to no question.
ENVIRONMENT_CHECK = "check_environment"

__all__ = ["NotebookReport", "QuestionRow", "check_notebooks", "report_notebook", "table"]


@dataclass
class QuestionRow:
    """One question of a notebook: ``cell`` is found / missing / not written (the stub is
    still there); ``checks`` is passed / failed / not run / none, with ``detail`` the first
    failure's one-line reason; ``answer`` is filled in / empty / missing / none."""

    question: str
    cell: str
    checks: str
    answer: str
    detail: str = ""

    @property
    def ready(self) -> bool:
        return (self.cell in ("found", "none") and self.checks in ("passed", "none")
                and self.answer in ("filled in", "none"))


@dataclass
class NotebookReport:
    notebook: str
    rows: list[QuestionRow] = field(default_factory=list)
    problem: str = ""

    @property
    def ready(self) -> bool:
        return not self.problem and all(row.ready for row in self.rows)


def _error_line(cell) -> str | None:
    """``"Name: first line of the message"`` of a cell that raised, else None."""
    for output in cell.get("outputs", []):
        if output.get("output_type") == "error":
            message = (output.get("evalue") or "").strip().splitlines()
            return f"{output.get('ename', 'error')}: {message[0] if message else ''}".strip()
    return None


def _questions_of(notebook_name: str):
    from grader.registry import QUESTIONS

    return [q for q in QUESTIONS.values() if q.notebook == notebook_name]


def report_notebook(name: str, notebook) -> NotebookReport:
    """The table rows of one *executed* notebook (outputs present)."""
    report = NotebookReport(name)
    questions = _questions_of(name)
    if not questions:
        report.problem = f"{name} is not one of the course's notebooks"
        return report
    # The check cells that follow each graded code cell, up to the next graded cell.
    followers: dict[str, list] = {}
    graded: dict[str, object] = {}
    current = None
    for cell in notebook.cells:
        graded_id = cell_id(cell)
        if graded_id is not None:
            graded[graded_id] = cell
            current = graded_id if cell.cell_type == "code" else current
        elif (current and cell.cell_type == "code" and CHECK_CALL in cell.source
              and ENVIRONMENT_CHECK not in cell.source):
            followers.setdefault(current, []).append(cell)
    for question in questions:
        code = graded.get(question.id)
        if not question.code_cells or question.id not in question.code_cells:
            cell_state = "none"
        elif code is None:
            cell_state = "missing"
        elif CODE_STUB in code.source:
            cell_state = "not written"
        else:
            cell_state = "found"
        checks, detail = "none", ""
        cells = followers.get(question.id, [])
        if cells:
            errors = [_error_line(c) for c in cells]
            ran = all(c.get("execution_count") is not None for c in cells)
            failed = next((e for e in errors if e), None)
            checks = "failed" if failed else "passed" if ran else "not run"
            detail = failed or ""
        if code is not None and cell_state == "not written" and not detail:
            detail = _error_line(code) or ""
        answer = "none"
        for answer_id in question.answer_cells:
            cell = graded.get(answer_id)
            text = "" if cell is None else cell.source.split("\n", 1)[-1].strip()
            answer = ("missing" if cell is None else
                      "empty" if not text or ANSWER_STUB in text else "filled in")
        report.rows.append(QuestionRow(question.id, cell_state, checks, answer, detail))
    return report


def _execute(path: Path, timeout: float):
    import nbclient
    import nbformat

    notebook = nbformat.read(path, as_version=4)
    client = nbclient.NotebookClient(notebook, timeout=timeout, allow_errors=True,
                                     kernel_name="python3",
                                     resources={"metadata": {"path": str(path.parent)}})
    client.execute()
    return notebook


def check_notebooks(paths, timeout: float = 600.0, fast: bool = True) -> list[NotebookReport]:
    """Execute every notebook in ``paths`` (files or folders of ``*.ipynb``) and report it.

    A notebook that cannot be read or executed gets a report with its ``problem``; the others
    are still checked.
    """
    import nbformat

    notebooks = []
    for path in map(Path, paths):
        notebooks += sorted(path.glob("*.ipynb")) if path.is_dir() else [path]
    if fast:
        os.environ["COURSE_KIT_FAST"] = "1"  # the kernels inherit it
    reports = []
    for path in notebooks:
        print(f"running {path} ...", flush=True)
        try:
            executed = _execute(path, timeout)
        except (OSError, nbformat.ValidationError, ValueError) as error:
            reports.append(NotebookReport(path.name, problem=f"cannot be read: {error}"))
            continue
        except Exception as error:  # a kernel that died or timed out: report, go on
            reports.append(NotebookReport(path.name, problem=f"did not run to the end: "
                                                            f"{type(error).__name__}: {error}"))
            continue
        reports.append(report_notebook(path.name, executed))
    return reports


def table(reports: list[NotebookReport]) -> str:
    """One Markdown-style table of every question of every notebook."""
    lines = ["| notebook | question | graded cell | visible checks | free-text answer |",
             "|---|---|---|---|---|"]
    for report in reports:
        if report.problem:
            lines.append(f"| {report.notebook} | - | - | {report.problem} | - |")
        for row in report.rows:
            checks = f"{row.checks} ({row.detail})" if row.detail else row.checks
            lines.append(f"| {report.notebook} | {row.question} | {row.cell} | {checks} | "
                         f"{row.answer} |")
    ready = sum(r.ready for r in reports)
    lines.append("")
    lines.append(f"{ready} of {len(reports)} notebook(s) ready to hand in. This run grades "
                 "nothing: the grader runs your graded cells on other inputs.")
    return "\n".join(lines)

"""What the grader writes: result.json, feedback.md, manual.md, Gradescope results.json,
grades.csv, the class summary, and merging manual marks back in.

Layout: ``RESULTS/students/<student>/`` holds each student's files, so no student name can
collide with the class-level files at the top (``grades.csv``, ``run.json``, the lock).
``result.json`` is each student's record and is written last; every other file can be rebuilt
from it. A result with ``"final": false`` holds no grade (the grader failed on it).
"""

from __future__ import annotations

import csv
import io
import json
import re
import sys
from pathlib import Path

from grader.files import atomic_write_json, atomic_write_text, results_lock
from grader.gradescope import results_json
from grader.notebooks import ANSWER_STUB
from grader.registry import QUESTIONS

__all__ = ["class_summary", "feedback_markdown", "is_final",
           "load_results", "manual_markdown", "merge_manual", "result_path", "student_folder",
           "write_grades_csv", "write_student"]

RESULT = "result.json"
STUDENTS = "students"
# What grades.csv and the class table show instead of a total for a result with no grade.
INCOMPLETE = "incomplete"


def _number(value):
    return f"{value:g}"


def is_unanswered(text: str | None) -> bool:
    """Whether a free-text answer cell was left as released: empty, or only the stub
    ``YOUR ANSWER HERE`` beside its marker comment."""
    written = re.sub(r"<!--.*?-->", "", text or "", flags=re.DOTALL).strip()
    return written in ("", ANSWER_STUB)


def _unanswered_cells(question, answers: dict) -> list[str]:
    return [cell for cell in question.answer_cells if is_unanswered(answers.get(cell))]


def question_score(entry: dict) -> float:
    return float(entry.get("auto_score") or 0.0) + float(entry.get("manual_score") or 0.0)


def is_final(result: dict) -> bool:
    """Whether ``result`` is a grade (results written before the flag existed are)."""
    return result.get("final", True) is True


def student_folder(out: Path, student: str) -> Path:
    """``out/students/<student>``.

    Raises:
        ValueError: if ``student`` is not a plain folder name (it would land elsewhere).
    """
    if not student or student.startswith(".") or Path(student).name != student:
        raise ValueError(f"student name {student!r} is not a plain folder name")
    return Path(out) / STUDENTS / student


def result_path(out: Path, student: str) -> Path:
    return student_folder(out, student) / RESULT


def _cell(result: dict, qid: str) -> str:
    """One question's cell in grades.csv and the class table: its score, or its status in a
    result that is not a grade (numbers there would be taken for marks)."""
    entry = result["questions"][qid]
    return _number(question_score(entry)) if is_final(result) else entry["status"]


def _total(result: dict) -> str:
    return _number(totals(result)[0]) if is_final(result) else INCOMPLETE


def totals(result: dict) -> tuple[float, float]:
    """(score, maximum) of a student; bonus questions add to the score, not the maximum."""
    score = sum(question_score(e) for e in result["questions"].values())
    maximum = sum(e["max"] for q, e in result["questions"].items() if not e.get("bonus"))
    return score, maximum


def feedback_markdown(result: dict) -> str:
    score, maximum = totals(result)
    lines = [f"# Feedback for {result['student']}", ""]
    if not is_final(result):
        lines += ["**Grading did not finish**: the grader failed on this submission (see "
                  "below). This is not a grade; the submission is graded again.", ""]
    lines += [f"Score so far: **{_number(score)} / {_number(maximum)}** "
              f"(backend {result.get('backend')}, device {result.get('device')}). "
              "Free-text parts are marked by hand and added later.", ""]
    for problem in result.get("problems", []):
        lines.append(f"- Submission: {problem}")
    for qid, entry in result["questions"].items():
        lines += ["", f"## {qid}: {entry['title']}", "",
                  f"Status: {entry['status']}; automatic {_number(entry['auto_score'] or 0)} / "
                  f"{_number(entry['auto_max'])}"
                  + (f"; manual {_number(entry['manual_score'])} / {_number(entry['manual_max'])}"
                     if entry.get("manual_score") is not None else
                     f"; manual part ({_number(entry['manual_max'])} points) to be marked"
                     if entry["manual_max"] else "")
                  + (f"; {entry['seconds']:.1f} s" if entry.get("seconds") else ""), ""]
        lines += [f"- {note}" for note in entry.get("notes", [])]
        if entry.get("checks"):
            lines += ["", "| check | points | result |", "|---|---|---|"]
            for check in entry["checks"]:
                mark = "passed" if check["passed"] else "failed"
                message = str(check.get("message", "")).replace("|", "\\|").replace("\n", " ")
                lines.append(f"| {check['name']} | {_number(check['points'])} / "
                             f"{_number(check['max'])} | {mark}: {message} |")
        if entry.get("manual_comment"):
            lines += ["", f"Marker's comment: {entry['manual_comment']}"]
    return "\n".join(lines) + "\n"


def manual_markdown(result: dict, answers: dict) -> str:
    """The free-text answers of one student with the rubric, for a person to mark."""
    lines = [f"# Manual marking: {result['student']}", "",
             "Give marks per question in MARKS.csv (student,question,points,comment) and run "
             "`python -m grader merge-manual MARKS.csv --out RESULTS`.", ""]
    for qid, question in QUESTIONS.items():
        if qid not in result["questions"] or not question.rubric:
            continue
        lines += [f"## {qid}: {question.title} ({_number(question.manual_points)} points)", "",
                  "Rubric:", ""]
        lines += [f"- [{_number(item.points)}] {item.text}" for item in question.rubric]
        lines += ["", "Answer:", ""]
        for cell in question.answer_cells:
            text = answers.get(cell)
            if text is None:
                lines.append(f"(cell {cell} not found)")
            elif is_unanswered(text):
                lines.append(f"(not answered: cell {cell} still reads {ANSWER_STUB!r})")
            else:
                lines += [f"> {line}" for line in text.splitlines()]
        lines.append("")
    return "\n".join(lines)


def write_student(out: Path, result: dict, answers: dict) -> None:
    """Write every file of one student; ``result.json`` last (it marks the student done)."""
    folder = student_folder(out, result["student"])
    atomic_write_text(folder / "feedback.md", feedback_markdown(result))
    atomic_write_text(folder / "manual.md", manual_markdown(result, answers))
    atomic_write_json(folder / "results.json", results_json(result))
    atomic_write_json(folder / RESULT, {**result, "answers": answers})


def load_results(out: Path) -> list[dict]:
    results = []
    for path in sorted((Path(out) / STUDENTS).glob(f"*/{RESULT}")):
        results.append(json.loads(path.read_text()))
    return results


def write_grades_csv(out: Path) -> Path:
    """Rebuild ``grades.csv`` (one row per graded student) from every ``result.json``."""
    results = load_results(out)
    qids = [q for q in QUESTIONS if any(q in r["questions"] for r in results)]
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["student", *qids, "total", "max", "device", "backend"])
    for result in results:
        row = [_cell(result, q) if q in result["questions"] else "" for q in qids]
        writer.writerow([result["student"], *row, _total(result), _number(totals(result)[1]),
                         result.get("device"), result.get("backend")])
    path = Path(out) / "grades.csv"
    atomic_write_text(path, buffer.getvalue())
    return path


def class_summary(results: list[dict]) -> str:
    """A plain-text class table: one row per student, then the mean per question."""
    if not results:
        return "no graded submissions"
    qids = [q for q in QUESTIONS if any(q in r["questions"] for r in results)]
    header = ["student", *qids, "total"]
    rows = []
    for result in results:
        rows.append([result["student"],
                     *[_cell(result, q) if q in result["questions"] else "-" for q in qids],
                     f"{_total(result)}/{_number(totals(result)[1])}"])
    graded = [r for r in results if is_final(r)]
    means = ["mean"]
    for q in qids:
        scores = [question_score(r["questions"][q]) for r in graded if q in r["questions"]]
        means.append(f"{sum(scores) / len(scores):.1f}" if scores else "-")
    totals_list = [totals(r)[0] for r in graded]
    means.append(f"{sum(totals_list) / len(totals_list):.1f}" if totals_list else "-")
    widths = [max(len(str(row[i])) for row in [header, *rows, means]) for i in range(len(header))]
    line = lambda row: "  ".join(str(v).rjust(w) if i else str(v).ljust(w)  # noqa: E731
                                 for i, (v, w) in enumerate(zip(row, widths)))
    rule = "-" * len(line(header))
    return "\n".join([line(header), rule, *map(line, rows), rule, line(means)])


def merge_manual(marks_csv: Path, out: Path) -> int:
    """Fold manual marks (CSV: student,question,points[,comment]) into the results.

    Every row is checked before anything is written; the student's files and ``grades.csv``
    are then rewritten. Returns the number of marks merged. Marks above zero for a question
    the student did not answer (every answer cell missing or still the stub) are merged, but
    each prints a ``warning:`` line to standard error: usually a row meant for someone else.

    Raises:
        ValueError: naming each bad row (unknown student or question, a question without a
            manual part, points outside 0..max, a student not completely graded).
        ResultsBusy: when a grader is writing to ``out``.
    """
    out = Path(out)
    with open(marks_csv, newline="") as stream:
        rows = list(csv.DictReader(stream))
    required = {"student", "question", "points"}
    if not rows or not required <= set(rows[0]):
        raise ValueError(f"{marks_csv}: expected a header with columns {sorted(required)} "
                         f"(and optionally comment)")
    if not out.is_dir():
        raise ValueError(f"--out {out}: no results folder")
    with results_lock(out):  # a grader writing the same students would undo the marks
        results = {r["student"]: r for r in load_results(out)}
        errors, changed = [], set()
        for line, row in enumerate(rows, start=2):
            student, qid = row["student"].strip(), row["question"].strip()
            result = results.get(student)
            if result is None:
                errors.append(f"line {line}: no graded student {student!r} in {out}")
                continue
            if not is_final(result):
                errors.append(f"line {line}: {student!r} is not completely graded (the grader "
                              "failed on it); grade again before merging marks")
                continue
            entry = result["questions"].get(qid)
            if entry is None or not entry["manual_max"]:
                errors.append(f"line {line}: question {qid!r} has no manual part for {student!r}")
                continue
            try:
                points = float(row["points"])
            except ValueError:
                errors.append(f"line {line}: points {row['points']!r} is not a number")
                continue
            if not 0 <= points <= entry["manual_max"]:
                errors.append(f"line {line}: points {points:g} outside 0..{entry['manual_max']:g}")
                continue
            question = QUESTIONS.get(qid)
            unanswered = _unanswered_cells(question, result.get("answers", {})) if question else []
            if points > 0 and question and len(unanswered) == len(question.answer_cells):
                print(f"warning: {marks_csv} line {line}: {points:g} point(s) for {qid} of "
                      f"{student!r}, who did not answer it (cell {', '.join(unanswered)} "
                      f"missing or {ANSWER_STUB!r})", file=sys.stderr)
            entry["manual_score"] = points
            entry["manual_comment"] = (row.get("comment") or "").strip()
            if entry["status"] == "manual":
                entry["status"] = "marked"
            changed.add(student)
        if errors:
            raise ValueError(f"{marks_csv}: " + "; ".join(errors))
        for student in sorted(changed):
            result = results[student]
            answers = result.pop("answers", {})
            for entry in result["questions"].values():
                entry["score"] = question_score(entry)
            write_student(out, result, answers)
        write_grades_csv(out)
    return sum(1 for _ in rows)

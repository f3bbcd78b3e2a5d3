"""What the grader writes: result.json, feedback.md, manual.md, Gradescope results.json,
grades.csv, the class summary, and merging manual marks back in.

``result.json`` is each student's record and is written last, so its presence means the
student is completely graded; every other file can be rebuilt from it.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

from grader.files import atomic_write_json, atomic_write_text
from grader.registry import QUESTIONS

__all__ = ["class_summary", "feedback_markdown", "gradescope_results", "load_results",
           "manual_markdown", "merge_manual", "write_grades_csv", "write_student"]

RESULT = "result.json"


def _number(value):
    return f"{value:g}"


def question_score(entry: dict) -> float:
    return float(entry.get("auto_score") or 0.0) + float(entry.get("manual_score") or 0.0)


def totals(result: dict) -> tuple[float, float]:
    """(score, maximum) of a student; bonus questions add to the score, not the maximum."""
    score = sum(question_score(e) for e in result["questions"].values())
    maximum = sum(e["max"] for q, e in result["questions"].items() if not e.get("bonus"))
    return score, maximum


def feedback_markdown(result: dict) -> str:
    score, maximum = totals(result)
    lines = [f"# Feedback for {result['student']}", "",
             f"Score so far: **{_number(score)} / {_number(maximum)}** "
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
            if text:
                lines += [f"> {line}" for line in text.splitlines()]
            else:
                lines.append(f"(cell {cell} not found)")
        lines.append("")
    return "\n".join(lines)


def gradescope_results(result: dict) -> dict:
    """The student's result in Gradescope's ``results.json`` format."""
    tests = []
    for qid, entry in result["questions"].items():
        output = "\n".join(entry.get("notes", []))
        for check in entry.get("checks", []):
            tests.append({"name": f"{qid} {entry['title']}: {check['name']}",
                          "score": check["points"], "max_score": check["max"],
                          "output": "\n".join(filter(None, [output, check.get("message", "")])),
                          "visibility": "visible"})
        if entry["manual_max"]:
            tests.append({"name": f"{qid} {entry['title']}: marked by hand",
                          "score": entry.get("manual_score") or 0.0,
                          "max_score": entry["manual_max"],
                          "output": entry.get("manual_comment") or "to be marked by hand",
                          "visibility": "visible"})
    score, _ = totals(result)
    return {"score": score, "execution_time": round(result.get("seconds", 0.0), 1),
            "output": f"graded on {result.get('device')} with the {result.get('backend')} backend",
            "tests": tests}


def write_student(out: Path, result: dict, answers: dict) -> None:
    """Write every file of one student; ``result.json`` last (it marks the student done)."""
    folder = Path(out) / result["student"]
    atomic_write_text(folder / "feedback.md", feedback_markdown(result))
    atomic_write_text(folder / "manual.md", manual_markdown(result, answers))
    atomic_write_json(folder / "results.json", gradescope_results(result))
    atomic_write_json(folder / RESULT, {**result, "answers": answers})


def load_results(out: Path) -> list[dict]:
    results = []
    for path in sorted(Path(out).glob(f"*/{RESULT}")):
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
        score, maximum = totals(result)
        row = [_number(question_score(result["questions"][q])) if q in result["questions"] else ""
               for q in qids]
        writer.writerow([result["student"], *row, _number(score), _number(maximum),
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
        score, maximum = totals(result)
        rows.append([result["student"],
                     *[_number(question_score(result["questions"][q])) if q in result["questions"]
                       else "-" for q in qids],
                     f"{_number(score)}/{_number(maximum)}"])
    means = ["mean"]
    for q in qids:
        scores = [question_score(r["questions"][q]) for r in results if q in r["questions"]]
        means.append(f"{sum(scores) / len(scores):.1f}")
    totals_list = [totals(r)[0] for r in results]
    means.append(f"{sum(totals_list) / len(totals_list):.1f}")
    widths = [max(len(str(row[i])) for row in [header, *rows, means]) for i in range(len(header))]
    line = lambda row: "  ".join(str(v).rjust(w) if i else str(v).ljust(w)  # noqa: E731
                                 for i, (v, w) in enumerate(zip(row, widths)))
    rule = "-" * len(line(header))
    return "\n".join([line(header), rule, *map(line, rows), rule, line(means)])


def merge_manual(marks_csv: Path, out: Path) -> int:
    """Fold manual marks (CSV: student,question,points[,comment]) into the results.

    Every row is checked before anything is written; the student's files and ``grades.csv``
    are then rewritten. Returns the number of marks merged.

    Raises:
        ValueError: naming each bad row (unknown student or question, a question without a
            manual part, points outside 0..max).
    """
    out = Path(out)
    with open(marks_csv, newline="") as stream:
        rows = list(csv.DictReader(stream))
    required = {"student", "question", "points"}
    if not rows or not required <= set(rows[0]):
        raise ValueError(f"{marks_csv}: expected a header with columns {sorted(required)} "
                         f"(and optionally comment)")
    results = {r["student"]: r for r in load_results(out)}
    errors, changed = [], set()
    for line, row in enumerate(rows, start=2):
        student, qid = row["student"].strip(), row["question"].strip()
        result = results.get(student)
        if result is None:
            errors.append(f"line {line}: no graded student {student!r} in {out}")
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

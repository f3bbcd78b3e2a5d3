"""Grading a folder of submissions: resumable, parallel, one confined process per student."""

from __future__ import annotations

import os
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from datetime import datetime, timezone
from pathlib import Path

from grader import references
from grader.notebooks import load_submission
from grader.registry import select
from grader.report import RESULT, class_summary, load_results, write_grades_csv, write_student
from grader.sandbox import Limits, Task, remove_stale_folders, run_tasks
from grader.scoring import score_question

__all__ = ["discover", "grade", "grade_submission", "keras_backend"]

SUBMISSION_SUFFIXES = (".zip", ".ipynb")


def keras_backend() -> str:
    """The Keras backend the students' code will run on (``KERAS_BACKEND`` or Keras' config)."""
    if os.environ.get("KERAS_BACKEND"):
        return os.environ["KERAS_BACKEND"]
    import keras

    return keras.backend.backend()


def discover(submissions: Path) -> list[Path]:
    """The submissions in ``submissions``: its sub-folders, ``.zip`` and ``.ipynb`` files
    (or ``submissions`` itself when it is one ``.zip`` / ``.ipynb``).

    Raises:
        ValueError: if the path does not exist or two submissions share a student name.
    """
    submissions = Path(submissions)
    if submissions.is_file() and submissions.suffix in SUBMISSION_SUFFIXES:
        return [submissions]
    if not submissions.is_dir():
        raise ValueError(f"SUBMISSIONS {submissions}: not a folder, .zip or .ipynb")
    found = [p for p in sorted(submissions.iterdir())
             if not p.name.startswith((".", "_")) and
             (p.is_dir() or p.suffix in SUBMISSION_SUFFIXES)]
    names = {}
    for path in found:
        name = path.stem if path.is_file() else path.name
        if name in names:
            raise ValueError(f"two submissions for student {name!r}: {names[name]} and {path}")
        names[name] = path
    return found


def _entry_base(question, device, backend):
    return {"title": question.title, "max": question.points, "auto_max": question.auto_points,
            "manual_max": question.manual_points, "manual_score": None, "bonus": question.bonus,
            "device": device, "backend": backend, "seconds": 0.0, "notes": [], "checks": []}


def grade_submission(path: Path, questions, *, backend, device="auto", limits=Limits(),
                     deny=()) -> tuple[dict, dict]:
    """Grade one submission; returns ``(result, answers)`` without writing anything."""
    started = time.monotonic()
    submission = load_submission(path)
    cells = submission.cells
    meta = {"device": "not used", "backend": backend}
    tasks, entries, missing = [], {}, {}
    for question in questions:
        if not question.automatic:
            continue
        absent = [c for c in question.code_cells if c not in cells]
        if absent:
            missing[question.id] = [f"cell {c} not found" for c in absent]
            continue
        inputs, _ = references.load(question.id)
        tasks.append(Task(question.id, question.probe,
                          [{"id": c, "source": cells[c]["source"]} for c in question.code_cells],
                          inputs, question.forbidden, limits.timeout * question.time_factor))
    outcomes = {o.qid: o for o in run_tasks(tasks, submission.files, backend=backend, device=device,
                                            limits=limits, deny=deny, meta=meta)}
    for question in questions:
        entry = _entry_base(question, meta["device"], meta["backend"])
        if question.id in missing:
            entry.update(status="not found", auto_score=0.0, notes=missing[question.id],
                         checks=[dict(name=c.name, points=0.0, max=c.points, passed=False,
                                      message="not run: cell not found") for c in question.checks])
        elif question.id in outcomes:
            outcome = outcomes[question.id]
            _, expected = references.load(question.id)
            sources = [cells[c]["source"] for c in question.code_cells]
            entry.update(score_question(question, outcome, expected, sources),
                         seconds=round(outcome.seconds, 2))
        else:
            entry.update(status="manual", auto_score=0.0)
        entry["score"] = entry["auto_score"]
        entries[question.id] = entry
    answers = {}
    for question in questions:
        for cell in question.answer_cells:
            if cell in cells:
                answers[cell] = cells[cell]["source"]
    result = {
        "student": submission.student,
        "graded_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "backend": meta["backend"],
        "device": meta["device"],
        "seconds": round(time.monotonic() - started, 2),
        "problems": submission.problems,
        "questions": entries,
    }
    return result, answers


def grade(submissions, out, *, jobs=1, device="auto", only=None, timeout=60.0, force=False,
          memory_mb=4096, progress=True, print_summary=True) -> list[dict]:
    """Grade every submission in ``submissions`` into ``out`` and return all results.

    Students whose ``result.json`` exists are skipped unless ``force``; a run killed at any
    moment can be started again and finishes the rest.

    Raises:
        ValueError: bad arguments (named), FileNotFoundError: missing references.
    """
    if jobs < 1:
        raise ValueError(f"--jobs must be >= 1, got {jobs}")
    if timeout <= 0:
        raise ValueError(f"--timeout must be positive, got {timeout}")
    if device not in ("auto", "cpu", "gpu"):
        raise ValueError(f"--device must be auto, cpu or gpu, got {device!r}")
    questions = select(only)
    for question in questions:
        if question.automatic:
            references.load(question.id)  # fail now, not once per student
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    paths = discover(submissions)
    remove_stale_folders()
    name = lambda p: p.stem if p.is_file() else p.name  # noqa: E731
    todo = [p for p in paths if force or not (out / name(p) / RESULT).is_file()]
    backend = keras_backend()
    limits = Limits(timeout=timeout, memory_mb=memory_mb,
                    threads=max(1, (os.cpu_count() or 1) // jobs))
    deny = (Path(submissions).resolve(), out.resolve())

    def one(path):
        result, answers = grade_submission(path, questions, backend=backend, device=device,
                                           limits=limits, deny=deny)
        write_student(out, result, answers)
        return result

    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=len(todo), desc="grading", unit="student")
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        futures = [pool.submit(one, path) for path in todo]
        for future in as_completed(futures):
            future.result()
            if bar:
                bar.update(1)
    if bar:
        bar.close()
    write_grades_csv(out)
    results = [r for r in load_results(out) if r["student"] in {name(p) for p in paths}]
    if print_summary:
        print(class_summary(results))
    return results

"""Grading a folder of submissions: resumable, parallel, one jailed process per student.

The run trusts nothing it receives: a submission that cannot be read is graded ``invalid``,
an exception while grading one student becomes that student's (non-final) result and the run
goes on, and a failure of the grader itself (``grader-error``) is never stored as a grade: the
student's result is written with ``"final": false`` and graded again by the next run.
"""

from __future__ import annotations

import json
import os
import resource
import sys
import time
import traceback
from concurrent.futures import ThreadPoolExecutor, as_completed
from datetime import datetime, timezone
from pathlib import Path

from grader import references
from grader.files import atomic_write_json, results_lock
from grader.notebooks import SUBMISSION_SUFFIXES, load_submission, student_name
from grader.registry import select
from grader.report import (
    class_summary,
    is_final,
    load_results,
    result_path,
    write_grades_csv,
    write_student,
)
from grader.sandbox import (
    Limits,
    Task,
    choose_isolation,
    preflight,
    remove_stale_folders,
    run_tasks,
)
from grader.scoring import score_question
from grader.similarity import save_graded_cells, write_similarity

__all__ = ["BACKENDS", "GradingIncomplete", "discover", "grade",
           "grade_submission", "keras_backend"]

BACKENDS = ("tensorflow", "jax", "torch")
RUN = "run.json"


class GradingIncomplete(RuntimeError):
    """Everything was written, but some students' results are not final (grader errors)."""

    def __init__(self, message: str, results: list[dict]):
        super().__init__(message)
        self.results = results


def peak_resident_mb() -> float:
    """This process's peak resident memory since it started its program.

    Linux's ``VmHWM``, not ``ru_maxrss``: the latter also keeps the size of the process this
    one was forked from (a test runner with Keras loaded, say) before its ``exec``.
    """
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 2**10  # bytes there, KiB here


def _keras_config_dir() -> Path:
    """The folder Keras reads ``keras.json`` from, found as Keras finds it."""
    if os.environ.get("KERAS_HOME"):
        return Path(os.environ["KERAS_HOME"])
    home = os.path.expanduser("~")
    return Path(home if os.access(home, os.W_OK) else "/tmp") / ".keras"


def keras_backend() -> str:
    """The Keras backend the students' code will run on: ``KERAS_BACKEND``, else the backend
    in Keras' ``keras.json``, else tensorflow (Keras' default).

    Read without importing Keras: the grader's own process never loads a framework.
    """
    if os.environ.get("KERAS_BACKEND"):
        return os.environ["KERAS_BACKEND"]
    try:
        config = json.loads((_keras_config_dir() / "keras.json").read_text())
    except (OSError, ValueError):  # Keras ignores a missing or unreadable config as well
        return "tensorflow"
    backend = config.get("backend") if isinstance(config, dict) else None
    return backend if isinstance(backend, str) else "tensorflow"


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
        name = student_name(path)
        if name in names:
            raise ValueError(f"two submissions for student {name!r}: {names[name]} and {path}")
        names[name] = path
    return found


def _entry_base(question, device, backend):
    return {"title": question.title, "max": question.points, "auto_max": question.auto_points,
            "manual_max": question.manual_points, "manual_score": None, "bonus": question.bonus,
            "device": device, "backend": backend, "seconds": 0.0, "notes": [], "checks": []}


def _unscored(entry: dict, question, status: str, notes: list[str], reason: str) -> dict:
    entry.update(status=status, auto_score=0.0, score=0.0, notes=notes,
                 checks=[dict(name=c.name, points=0.0, max=c.points, passed=False,
                              message=f"not run: {reason}") for c in question.checks])
    return entry


def grade_submission(path: Path, questions, *, backend, device="auto", limits=Limits(),
                     isolation=None, also_hide=()) -> tuple[dict, dict]:
    """Grade one submission; returns ``(result, answers)`` without writing anything.

    ``isolation`` is the jail level to run the student's code in (None: the best one
    available here). ``result["final"]`` is False when the grader itself failed on a
    question (status ``grader-error``): that is not a grade, and the student is graded again.
    """
    started = time.monotonic()
    submission = load_submission(path)
    cells = submission.cells
    meta = {"device": "not used", "backend": backend, "isolation": isolation or "not used"}
    tasks, missing = [], {}
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
    outcomes = {}
    if tasks:
        outcomes = {o.qid: o for o in run_tasks(
            tasks, submission.files, backend=backend, device=device, limits=limits,
            isolation=isolation or choose_isolation("auto"), meta=meta, also_hide=also_hide)}
    entries = {}
    for question in questions:
        entry = _entry_base(question, meta["device"], meta["backend"])
        outcome = outcomes.get(question.id)
        if not submission.notebooks:
            _unscored(entry, question, "invalid",
                      ["no readable notebook in the submission (see the problems above)"],
                      "no readable notebook")
        elif question.id in missing:
            _unscored(entry, question, "not found", missing[question.id], "cell not found")
        elif not question.automatic:
            entry.update(status="manual", auto_score=0.0)
        elif outcome is None or outcome.status == "grader-error":
            reason = outcome.message if outcome else "the sandbox returned no outcome"
            _unscored(entry, question, "grader-error",
                      [f"the grader failed to run this question ({reason}); this is not a "
                       "grade: the question is graded again on the next run"], "grader error")
        else:
            _, expected = references.load(question.id)
            sources = [cells[c]["source"] for c in question.code_cells]
            entry.update(score_question(question, outcome, expected, sources),
                         seconds=round(outcome.seconds, 2))
        entry["score"] = entry["auto_score"]
        entries[question.id] = entry
    answers = {cell: cells[cell]["source"] for question in questions
               for cell in question.answer_cells if cell in cells}
    result = {
        "student": submission.student,
        "submission": Path(path).name,
        "graded_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "final": all(e["status"] != "grader-error" for e in entries.values()),
        "backend": meta["backend"],
        "device": meta["device"],
        "isolation": meta["isolation"],
        "seconds": round(time.monotonic() - started, 2),
        "problems": submission.problems,
        "questions": entries,
    }
    return result, answers


def _failed_result(path: Path, questions, error: BaseException, backend: str,
                   isolation: str) -> dict:
    """The result of a student whose grading raised: no grade, every question ``error``.

    An exception here is the grader's failure (student input is reported, never raised), so
    the result is not final and the student is graded again on the next run.
    """
    note = (f"the grader failed while grading this submission ({type(error).__name__}: "
            f"{error}); this is not a grade: it is graded again on the next run")
    entries = {q.id: _unscored(_entry_base(q, "not used", backend), q, "error", [note],
                               "grader failure") for q in questions}
    return {
        "student": student_name(path),
        "submission": Path(path).name,
        "graded_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "final": False,
        "backend": backend,
        "device": "not used",
        "isolation": isolation,
        "seconds": 0.0,
        "problems": [],
        "questions": entries,
        "grader_traceback": "".join(traceback.format_exception(error)),
    }


def _is_finished(out: Path, student: str) -> bool:
    """Whether ``student`` has a final ``result.json`` (an unreadable one is graded again)."""
    try:
        return is_final(json.loads(result_path(out, student).read_text()))
    except (OSError, ValueError):
        return False


def grade(submissions, out, *, jobs=1, device="auto", only=None, timeout=60.0, force=False,
          memory_mb=4096, isolation="auto", progress=True, print_summary=True) -> list[dict]:
    """Grade every submission in ``submissions`` into ``out`` and return all results.

    Students with a final ``result.json`` are skipped unless ``force``; a run killed at any
    moment can be started again and finishes the rest. Nothing is written before the backend
    and the jail are known to work, and ``out`` is locked against a second grader.

    Raises:
        ValueError: bad arguments or backend (named), FileNotFoundError: missing references,
        SetupError: the jail or the backend cannot start here, ResultsBusy: another grader
        holds ``out``, GradingIncomplete: after writing everything, when some results are not
        final because the grader failed on them.
    """
    started = time.monotonic()
    if jobs < 1:
        raise ValueError(f"--jobs must be >= 1, got {jobs}")
    if timeout <= 0:
        raise ValueError(f"--timeout must be positive, got {timeout}")
    if device not in ("auto", "cpu", "gpu"):
        raise ValueError(f"--device must be auto, cpu or gpu, got {device!r}")
    backend = keras_backend()
    if backend not in BACKENDS:
        raise ValueError(f"the Keras backend is {backend!r}; students' code is graded on "
                         f"{', '.join(BACKENDS)}: set KERAS_BACKEND to one of them")
    questions = select(only)
    for question in questions:
        if question.automatic:
            references.load(question.id)  # fail now, not once per student
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise ValueError(f"--out {out}: not a folder")
    paths = [p for p in discover(submissions) if p.resolve() != out.resolve()]
    level = choose_isolation(isolation)
    limits = Limits(timeout=timeout, memory_mb=memory_mb,
                    threads=max(1, (os.cpu_count() or 1) // jobs))
    ready = preflight(backend=backend, device=device, isolation=level, limits=limits)
    out.mkdir(parents=True, exist_ok=True)
    with results_lock(out):
        remove_stale_folders()
        todo = [p for p in paths if force or not _is_finished(out, student_name(p))]
        also_hide = (Path(submissions).resolve(), out.resolve())

        def one(path):
            try:
                result, answers = grade_submission(path, questions, backend=backend,
                                                   device=device, limits=limits,
                                                   isolation=level, also_hide=also_hide)
            except Exception as error:  # one student's failure must not stop the class
                result, answers = _failed_result(path, questions, error, backend, level), {}
            save_graded_cells(out, path, questions)  # before result.json marks the student done
            write_student(out, result, answers)
            return result

        bar = None
        if progress:
            from tqdm import tqdm

            bar = tqdm(total=len(todo), desc="grading", unit="student")
        graded = []
        with ThreadPoolExecutor(max_workers=jobs) as pool:
            for future in as_completed([pool.submit(one, path) for path in todo]):
                graded.append(future.result())
                if bar:
                    bar.update(1)
        if bar:
            bar.close()
        write_grades_csv(out)
        incomplete = sorted(r["student"] for r in graded if not is_final(r))
        atomic_write_json(out / RUN, {
            "backend": backend,
            "device": ready.get("device"),
            "isolation": level,
            "students": len(paths),
            "graded": len(graded),
            "grader_errors": len(incomplete),
            "seconds": round(time.monotonic() - started, 2),
            "peak_rss_mb": round(peak_resident_mb(), 1),
        })
        try:
            similarity = write_similarity(out, lock=False)  # this run holds the lock
        except Exception as error:  # a review aid: its failure must leave every grade as it is
            print(f"warning: the similarity report failed ({type(error).__name__}: {error}); "
                  "the grades are complete; run `python -m grader similarity RESULTS` again",
                  file=sys.stderr)
        else:
            if print_summary:
                print(similarity.summary())
    names = {student_name(p) for p in paths}
    results = [r for r in load_results(out) if r["student"] in names]
    if print_summary:
        print(class_summary(results))
    if incomplete:
        raise GradingIncomplete(
            f"the grader failed on {len(incomplete)} student(s) ({', '.join(incomplete[:10])}"
            f"{', ...' if len(incomplete) > 10 else ''}); their results are not final and are "
            "graded again on the next run", results)
    return results

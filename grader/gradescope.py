"""A Gradescope autograder bundle: ``setup.sh``, ``run_autograder`` and the kit's source, and
the grading of one Gradescope submission into Gradescope's ``results.json``.

Gradescope unpacks the zip into ``/autograder/source``, runs ``setup.sh`` once per image,
then, in a fresh container per submission, ``run_autograder`` with the student's upload in
``/autograder/submission``; it reads ``/autograder/results/results.json``. Both scripts take
the root from ``AUTOGRADER_ROOT`` (default ``/autograder``), so that a test can run them in
another folder. See ``docs/gradescope.md``.

``results.json`` holds the automatic checks only: the rubric parts are marked by hand in
Gradescope (its outline: :func:`gradescope_outline`). A bonus check is extra credit: a test
with ``max_score`` 0 and the points it earned as its ``score``, so that the ``max_score``s
add up to the automatic points without bonus.
"""

from __future__ import annotations

import argparse
import math
import shutil
import sys
import tempfile
import zipfile
from pathlib import Path

from grader.registry import QUESTIONS, select

__all__ = ["build_bundle", "grade_upload", "gradescope_outline", "results_json",
           "run_autograder_script", "schema_problems", "setup_script", "stage_upload"]

ROOT = Path(__file__).resolve().parent.parent
SOURCE_PARTS = ("course_kit", "grader", "pyproject.toml", "README.md")
STUDENT = "student"
# The oldest Python the kit supports: Ubuntu 22.04's, Gradescope's default image.
MINIMUM_PYTHON = (3, 10)

# Gradescope's results.json, from its autograder specification: the fields it documents and
# the values it accepts. schema_problems() refuses anything else (a misspelt field is ignored
# by Gradescope without a word).
VISIBILITIES = ("hidden", "after_due_date", "after_published", "visible")
FORMATS = ("text", "simple_format", "html", "md", "ansi")
STATUSES = ("passed", "failed")
TOP_FIELDS = {"score": "number", "execution_time": "number", "output": "text",
              "output_format": FORMATS, "test_output_format": FORMATS,
              "test_name_format": FORMATS, "visibility": VISIBILITIES,
              "stdout_visibility": VISIBILITIES, "extra_data": "object", "tests": "list",
              "leaderboard": "list"}
TEST_FIELDS = {"score": "number", "max_score": "number", "status": STATUSES, "name": "text",
               "name_format": FORMATS, "number": "text", "output": "text",
               "output_format": FORMATS, "tags": "list", "visibility": VISIBILITIES,
               "extra_data": "object"}
LEADERBOARD_FIELDS = {"name": "text", "value": "number or text", "order": ("asc", "desc")}
# stdout holds the grader's log (its class table, the jail it chose, a grader failure's
# traceback): for the instructor. What a student needs is in the output fields.
STDOUT_VISIBILITY = "hidden"


def setup_script(backend: str) -> str:
    return f"""#!/usr/bin/env bash
# Runs once when Gradescope builds the image: install the kit with the {backend} backend into a
# virtual environment of the image's python3 (Python 3.10 on Ubuntu 22.04, the default image),
# and bubblewrap for the grader's jail (used where the container allows namespaces).
set -euo pipefail
root="${{AUTOGRADER_ROOT:-/autograder}}"
apt-get update
DEBIAN_FRONTEND=noninteractive apt-get install -y python3 python3-pip python3-venv bubblewrap
if ! python3 -c 'import sys; sys.exit(sys.version_info < {MINIMUM_PYTHON})'; then
    echo "error: the kit needs Python {'.'.join(map(str, MINIMUM_PYTHON))} or later; this" \\
        "image has $(python3 --version): choose a newer base image" >&2
    exit 1
fi
python3 -m venv "$root/venv"
"$root/venv/bin/pip" install --upgrade pip
"$root/venv/bin/pip" install "$root/source/kit[{backend}]"
"""


def run_autograder_script(backend: str, only: str | None) -> str:
    only_flag = f" --only {only}" if only else ""
    return f"""#!/usr/bin/env bash
# Runs once per submission, in its own container: grade the upload into results.json. A grader
# failure exits non-zero without writing it, so Gradescope shows an autograder error, never a
# score made of it. The grader runs from its source folder, which its jail hides from the
# student's code, not from the copy installed in the environment, which student code can read.
set -euo pipefail
root="${{AUTOGRADER_ROOT:-/autograder}}"
export KERAS_BACKEND={backend}
cd "$root/source/kit"
exec "$root/venv/bin/python" -m grader.gradescope --root "$root"{only_flag}
"""


def build_bundle(out: Path, only: str | None = None, backend: str = "jax") -> Path:
    """Write the bundle to ``out`` (a ``.zip``); ``only`` limits the graded questions.

    Raises:
        ValueError: for an unknown question id or backend.
    """
    if backend not in ("tensorflow", "jax", "torch"):
        raise ValueError(f"backend must be tensorflow, jax or torch, got {backend!r}")
    select(only)  # validates the ids
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as bundle:
        for name, text in (("setup.sh", setup_script(backend)),
                           ("run_autograder", run_autograder_script(backend, only))):
            info = zipfile.ZipInfo(name)
            info.external_attr = 0o100755 << 16  # executable, as Gradescope requires
            bundle.writestr(info, text)
        for part in SOURCE_PARTS:
            path = ROOT / part
            files = [path] if path.is_file() else sorted(path.rglob("*"))
            for file in files:
                if file.is_file() and "__pycache__" not in file.parts and \
                        "sample_submissions" not in file.parts:
                    bundle.write(file, f"kit/{file.relative_to(ROOT).as_posix()}")
    return out


def gradescope_outline(only: str | None = None) -> str:
    """The Gradescope assignment outline for a bundle built with ``only``, as a Markdown
    table: the autograder's points, then one question per rubric, marked by hand there."""
    questions = select(only)
    automatic = sum(q.auto_points for q in questions if not q.bonus)
    rows = [("Autograder", f"{automatic:g}",
             "the automatic checks; bonus checks add extra credit above this")]
    for question in questions:
        if question.rubric:
            rows.append((f"{question.id} {question.title}", f"{question.manual_points:g}",
                         "bonus: extra credit" if question.bonus else "marked by hand"))
    lines = ["| Gradescope question | points | graded |", "|---|---|---|"]
    lines += [f"| {name} | {points} | {how} |" for name, points, how in rows]
    return "\n".join(lines) + "\n"


def _points(value: float) -> str:
    return f"{value:g} point" + ("" if value == 1 else "s")


def _notebooks_of(qids) -> list[str]:
    return sorted({QUESTIONS[qid].notebook for qid in qids})


def _test(qid: str, entry: dict, check: dict, reasons: list[str]) -> dict:
    """One automatic check as a Gradescope test; a bonus check is extra credit (max 0)."""
    bonus = bool(entry.get("bonus"))
    return {
        "name": f"{qid} {entry['title']}: {check['name']}"
                + (" [extra credit]" if bonus else ""),
        "score": float(check["points"]),
        "max_score": 0.0 if bonus else float(check["max"]),
        # explicit, because a bonus test that earned nothing has score == max_score
        "status": "passed" if check["passed"] else "failed",
        "output": "\n".join(filter(None, [*entry.get("notes", []), *reasons,
                                           check.get("message", "")])),
        "visibility": "visible",
    }


def _reasons(qid: str, entry: dict, problems: list[str]) -> list[str]:
    """What the student needs, beyond the grader's notes, to see why ``qid`` was not run."""
    notebook = QUESTIONS[qid].notebook
    if entry["status"] == "invalid":
        return problems
    if entry["status"] == "not found":
        return [f"{qid}'s graded cells belong in {notebook}, each starting with its "
                "'# graded: <cell id>' line", *[p for p in problems if notebook in p]]
    return []


def results_json(result: dict) -> dict:
    """The grader's ``result`` (one student's ``result.json``) as Gradescope's results.json."""
    entries = result["questions"]
    problems = list(result.get("problems", []))
    tests = [_test(qid, entry, check, _reasons(qid, entry, problems))
             for qid, entry in entries.items() for check in entry.get("checks", [])]
    earned = sum(t["score"] for t in tests)
    bonus = sum(float(e["auto_score"] or 0.0) for e in entries.values() if e.get("bonus"))
    maximum = sum(t["max_score"] for t in tests)
    lines = []
    if entries and all(e["status"] == "invalid" for e in entries.values()):
        lines += ["Nothing was graded: no notebook in your upload could be read.", "Why:"]
        lines += [f"- {problem}" for problem in problems]
        lines.append(f"Upload the notebooks {', '.join(_notebooks_of(entries))}, each as an "
                     ".ipynb file or all of them in one .zip.")
    else:
        lines.append(f"Automatic checks: {earned - bonus:g} / {_points(maximum)}"
                     + (f", plus {_points(bonus)} of extra credit" if bonus else "") + ".")
        if result.get("device") != "not used":
            lines.append(f"Your code ran on {result.get('device')} with the "
                         f"{result.get('backend')} backend.")
        if problems:
            lines += ["Problems with your upload:", *[f"- {problem}" for problem in problems]]
        missing = [qid for qid, e in entries.items() if e["status"] == "not found"]
        if missing:
            lines.append(f"Graded cells not found for {', '.join(missing)}: see their tests.")
    marked = [f"{qid} ({_points(e['manual_max'])}{', bonus' if e.get('bonus') else ''})"
              for qid, e in entries.items() if e["manual_max"]]
    if marked:
        lines.append("Marked by hand in Gradescope, not by the autograder: "
                     f"{', '.join(marked)}.")
    return {"score": earned, "execution_time": round(float(result.get("seconds", 0.0))),
            "output": "\n".join(lines), "output_format": "text",
            "stdout_visibility": STDOUT_VISIBILITY, "tests": tests}


def _field_problem(where: str, value, kind) -> str | None:
    if isinstance(kind, tuple):
        return None if value in kind else f"{where} is {value!r}, not one of {', '.join(kind)}"
    number = isinstance(value, (int, float)) and not isinstance(value, bool)
    if number and not math.isfinite(value):
        return f"{where} is {value!r}, not a finite number"
    valid = {"number": number, "text": isinstance(value, str),
             "number or text": number or isinstance(value, str),
             "object": isinstance(value, dict), "list": isinstance(value, list)}[kind]
    return None if valid else f"{where} is {type(value).__name__}, not {kind}"


def _object_problems(where: str, value, fields: dict) -> list[str]:
    if not isinstance(value, dict):
        return [f"{where} is {type(value).__name__}, not an object"]
    problems = [f"{where}.{key} is not a field of Gradescope's results.json"
                for key in value if key not in fields]
    for key, kind in fields.items():
        if key in value:
            problem = _field_problem(f"{where}.{key}", value[key], kind)
            if problem:
                problems.append(problem)
    return problems


def schema_problems(results) -> list[str]:
    """Every way ``results`` departs from Gradescope's documented results.json (empty: none)."""
    problems = _object_problems("results", results, TOP_FIELDS)
    if not isinstance(results, dict):
        return problems
    tests = results.get("tests", [])
    for number, test in enumerate(tests if isinstance(tests, list) else []):
        where = f"results.tests[{number}]"
        problems += _object_problems(where, test, TEST_FIELDS)
        if isinstance(test, dict):
            tags = test.get("tags", [])
            if isinstance(tags, list) and not all(isinstance(tag, str) for tag in tags):
                problems.append(f"{where}.tags holds something that is not text")
            if "score" not in results and "score" not in test:
                problems.append(f"{where} has no score, and results has none either")
    if "score" not in results and "tests" not in results:
        problems.append("results has neither a score nor tests")
    board = results.get("leaderboard", [])
    for number, entry in enumerate(board if isinstance(board, list) else []):
        problems += _object_problems(f"results.leaderboard[{number}]", entry,
                                     LEADERBOARD_FIELDS)
    return problems


def stage_upload(upload: Path, submissions: Path) -> Path:
    """Put a Gradescope upload into ``submissions`` as one student, the way local grading
    reads it; returns the submission.

    An upload with no notebook and a single ``.zip`` is that zip (read, with its checks, as
    ``grade`` reads a zip), under its own name so that the grader's messages name the file
    the student uploaded, less what ``grade`` would skip (a leading ``.`` or ``_``).
    Anything else is the upload's folder, links kept as links (the grader reports and leaves
    them out). A missing upload is an empty folder.
    """
    upload, submissions = Path(upload), Path(submissions)
    if upload.is_dir():
        zips = [p for p in upload.iterdir()
                if p.suffix.lower() == ".zip" and p.is_file() and not p.is_symlink()]
        if len(zips) == 1 and not any(upload.rglob("*.ipynb")):
            name = zips[0].stem.lstrip("._") or STUDENT
            return Path(shutil.copyfile(zips[0], submissions / f"{name}.zip"))
        return Path(shutil.copytree(upload, submissions / STUDENT, symlinks=True))
    (submissions / STUDENT).mkdir()
    return submissions / STUDENT


def grade_upload(root: Path, only: str | None = None) -> int:
    """Grade ``root/submission`` and write ``root/results/results.json``; the exit status.

    Returns 1 without writing results.json when the grader cannot start or fails on the
    submission (that is not a grade).

    Raises:
        RuntimeError: if the results.json made does not follow Gradescope's specification.
    """
    from grader.files import atomic_write_json
    from grader.grade import GradingIncomplete, grade
    from grader.sandbox import SetupError

    root = Path(root)
    with tempfile.TemporaryDirectory(prefix="gradescope-") as scratch:
        submissions = Path(scratch) / "submissions"
        submissions.mkdir()
        stage_upload(root / "submission", submissions)
        try:
            (result,) = grade(submissions, Path(scratch) / "results", only=only,
                              progress=False)
        except (SetupError, GradingIncomplete) as error:
            print(f"error: {error}", file=sys.stderr)
            return 1
    results = results_json(result)
    problems = schema_problems(results)
    if problems:
        raise RuntimeError("the results.json made is not Gradescope's format: "
                           + "; ".join(problems))
    (root / "results").mkdir(parents=True, exist_ok=True)
    atomic_write_json(root / "results" / "results.json", results)
    return 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m grader.gradescope",
        description="Grade one Gradescope submission, ROOT/submission, into "
        "ROOT/results/results.json (what the bundle's run_autograder runs).")
    parser.add_argument("--root", type=Path, default=Path("/autograder"))
    parser.add_argument("--only", help="comma-separated question ids to grade")
    args = parser.parse_args(argv)
    return grade_upload(args.root, args.only)


if __name__ == "__main__":
    raise SystemExit(main())

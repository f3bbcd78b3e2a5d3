"""The Gradescope bundle run as Gradescope's container runs it, on Python 3.10 (Ubuntu 22.04's,
the default image's): a CI stage of its own, since it builds a virtual environment.

    python tests/gradescope_py310.py [--root FOLDER]

It builds the bundle with ``python -m grader gradescope-bundle`` (JAX, the default backend),
unpacks it into ``FOLDER/source``, and runs its ``setup.sh`` there with Python 3.10 standing in
for the image's ``python3`` and ``apt-get`` skipped (the machine has bubblewrap, or the grader
uses its next jail). Then, for each upload below, it fills ``FOLDER/submission``, runs
``run_autograder`` from ``FOLDER`` as Gradescope does (``AUTOGRADER_ROOT`` points the scripts
there), and checks ``results.json``: Gradescope's format, the scores and the messages.

Python 3.10 is ``$PYTHON310``, else ``python3.10`` on the PATH, else a 3.10 that pyenv installed
(``~/.pyenv/versions/3.10.*``). Finding none is an error, never a skip. pip's cache
is used as usual, so a second run downloads nothing.
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import shutil
import subprocess
import sys
import time
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # run as a script: the checkout's grader, not an installed one

from grader.gradescope import schema_problems  # noqa: E402
from grader.registry import QUESTIONS  # noqa: E402

REFERENCE = ROOT / "grader" / "sample_submissions" / "reference_solution"
# Left out of the JAX run's dependencies on purpose: PyTorch's pinned CPU wheel is built for
# Python 3.11 only, and an unpinned torch would pull a CUDA build of several GB.
BACKEND = "jax"
ZIPPED_NOTEBOOKS = ("03_optimizers.ipynb", "04_lstm.ipynb")


def find_python310() -> str:
    """The path of a Python 3.10 interpreter.

    Raises:
        SystemExit: naming where it looked, when there is none.
    """
    candidates = [os.environ.get("PYTHON310"), shutil.which("python3.10"),
                  *sorted(glob.glob(os.path.expanduser("~/.pyenv/versions/3.10.*/bin/python3.10")))]
    for candidate in filter(None, candidates):
        version = subprocess.run([candidate, "-c", "import sys; print(sys.version_info[:2])"],
                                 capture_output=True, text=True)
        if version.returncode == 0 and version.stdout.strip() == "(3, 10)":
            return candidate
    raise SystemExit("error: no Python 3.10 found (looked at $PYTHON310, python3.10 on the "
                     "PATH and ~/.pyenv/versions/3.10.*): install one, e.g. `pyenv install "
                     "3.10`, or set PYTHON310. This stage runs the Gradescope bundle on Ubuntu "
                     "22.04's Python and must not be skipped.")


def unpack_bundle(root: Path) -> None:
    bundle = root.parent / f"{root.name}-autograder.zip"
    subprocess.run([sys.executable, "-m", "grader", "gradescope-bundle", "--out", str(bundle),
                    "--backend", BACKEND], cwd=ROOT, check=True)
    with zipfile.ZipFile(bundle) as archive:
        archive.extractall(root / "source")
        for info in archive.infolist():  # extractall drops the modes Gradescope keeps
            (root / "source" / info.filename).chmod((info.external_attr >> 16) & 0o777 or 0o644)
    bundle.unlink()
    # Gradescope copies run_autograder to the root when it builds the image.
    shutil.copy2(root / "source" / "run_autograder", root / "run_autograder")


def run_setup(root: Path, python310: str) -> None:
    """setup.sh as Gradescope runs it, with stand-ins for the image's apt-get and python3."""
    stand_ins = root / "stand-ins"
    stand_ins.mkdir()
    # A script, not a link: the environment's python must lead to the interpreter itself,
    # which the grader's jail can see (it cannot see this folder).
    (stand_ins / "python3").write_text(f'#!/bin/sh\nexec "{python310}" "$@"\n')
    (stand_ins / "apt-get").write_text(
        '#!/bin/sh\necho "apt-get $* (skipped: this machine\'s packages stand in)"\n')
    for stand_in in stand_ins.iterdir():
        stand_in.chmod(0o755)
    env = {**os.environ, "AUTOGRADER_ROOT": str(root),
           "PATH": f"{stand_ins}{os.pathsep}{os.environ['PATH']}"}
    subprocess.run(["bash", str(root / "source" / "setup.sh")], env=env, check=True)
    version = subprocess.run([str(root / "venv" / "bin" / "python"), "--version"],
                             capture_output=True, text=True, check=True).stdout.strip()
    print(f"setup.sh installed the kit into a {version} environment")


def fill_reference(upload: Path) -> None:
    for notebook in REFERENCE.glob("*.ipynb"):
        shutil.copy2(notebook, upload)


def fill_zip(upload: Path) -> None:
    """Two notebooks in a zip of their folder, left zipped (the top folder is stripped)."""
    with zipfile.ZipFile(upload / "my notebooks.zip", "w") as archive:
        for name in ZIPPED_NOTEBOOKS:
            archive.write(REFERENCE / name, f"coursework/{name}")


def fill_corrupt_notebook(upload: Path) -> None:
    (upload / "02_vanilla_rnn.ipynb").write_text('{"cells": [')


def fill_broken_zip(upload: Path) -> None:
    (upload / "notebooks.zip").write_bytes(b"PK\x03\x04 cut short")


def fill_nothing(upload: Path) -> None:
    pass


def automatic_points(questions, bonus: bool) -> float:
    return sum(q.auto_points for q in questions if q.bonus == bonus)


def check_reference(results: dict) -> list[str]:
    automatic = automatic_points(QUESTIONS.values(), bonus=False)
    bonus = automatic_points(QUESTIONS.values(), bonus=True)
    failed = [t["name"] for t in results["tests"] if t["status"] != "passed"]
    return [*(f"failed: {name}" for name in failed),
            *([] if results["score"] == automatic + bonus else
              [f"score {results['score']:g}, expected {automatic:g} + {bonus:g} bonus"]),
            *([] if sum(t["max_score"] for t in results["tests"]) == automatic else
              [f"max_scores add up to {sum(t['max_score'] for t in results['tests']):g}, "
               f"not the automatic total without bonus, {automatic:g}"])]


def check_zip(results: dict) -> list[str]:
    graded = [q for q in QUESTIONS.values() if q.notebook in ZIPPED_NOTEBOOKS and q.automatic]
    expected = automatic_points(graded, bonus=False)
    ids = tuple(q.id for q in graded)
    wrong = [t["name"] for t in results["tests"]
             if (t["status"] == "passed") != t["name"].startswith(ids)]
    return [*(f"unexpected status: {name}" for name in wrong),
            *([] if results["score"] == expected else
              [f"score {results['score']:g}, expected {expected:g} from {', '.join(ids)}"])]


def check_unreadable(reason: str):
    def check(results: dict) -> list[str]:
        problems = [] if results["score"] == 0 else [f"score {results['score']:g}, expected 0"]
        if reason not in results["output"]:
            problems.append(f"the output does not say {reason!r}")
        if "Upload the notebooks 01_backprop_through_time.ipynb" not in results["output"]:
            problems.append("the output does not name the notebooks to upload")
        problems += [f"{t['name']}: its output does not say {reason!r}"
                     for t in results["tests"] if reason not in t["output"]]
        return problems

    return check


CASES = {
    "reference solution": (fill_reference, check_reference),
    "a zip left zipped": (fill_zip, check_zip),
    "a corrupt notebook": (fill_corrupt_notebook,
                           check_unreadable("02_vanilla_rnn.ipynb: not a readable notebook")),
    "a broken zip": (fill_broken_zip,
                     check_unreadable("notebooks.zip is not a readable zip file")),
    "an empty upload": (fill_nothing,
                        check_unreadable("no readable notebook found in the submission")),
}


def grade_case(root: Path, fill) -> tuple[dict | None, float]:
    """Run run_autograder on the upload ``fill`` makes; its results.json (None: none written)."""
    for folder in ("submission", "results"):
        shutil.rmtree(root / folder, ignore_errors=True)
        (root / folder).mkdir()
    fill(root / "submission")
    started = time.monotonic()
    done = subprocess.run([str(root / "run_autograder")], cwd=root, capture_output=True,
                          text=True, env={**os.environ, "AUTOGRADER_ROOT": str(root)})
    seconds = time.monotonic() - started
    (root / "results" / "stdout").write_text(done.stdout + done.stderr)  # as Gradescope keeps it
    path = root / "results" / "results.json"
    if done.returncode != 0 or not path.is_file():
        print(done.stdout[-4000:], done.stderr[-4000:], sep="\n")
        return None, seconds
    return json.loads(path.read_text()), seconds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--root", type=Path, default=ROOT / "build" / "gradescope-py310",
                        help="the stand-in for /autograder; emptied first (default: %(default)s)")
    root = parser.parse_args().root.resolve()
    if root.is_dir() and any(root.iterdir()) and not (root / "run_autograder").is_file():
        raise SystemExit(f"error: --root {root} holds files of something else; not emptied")
    started = time.monotonic()
    python310 = find_python310()
    print(f"Python 3.10: {python310}")
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)
    unpack_bundle(root)
    run_setup(root, python310)
    print(f"bundle built and set up in {time.monotonic() - started:.0f} s")
    failures = []
    for case, (fill, check) in CASES.items():
        results, seconds = grade_case(root, fill)
        if results is None:
            failures.append(f"{case}: run_autograder wrote no results.json")
            continue
        problems = schema_problems(results)
        if results.get("stdout_visibility") != "hidden":
            problems.append(f"stdout_visibility is {results.get('stdout_visibility')!r}")
        if not problems:
            problems = check(results)
        failures += [f"{case}: {problem}" for problem in problems]
        maximum = sum(t["max_score"] for t in results["tests"])
        print(f"\n== {case}: {results['score']:g} / {maximum:g} in {seconds:.0f} s; output:")
        print("   " + results["output"].replace("\n", "\n   "))
    print(f"\n{len(CASES)} uploads graded in {time.monotonic() - started:.0f} s in all")
    if failures:
        print("FAILED:", *failures, sep="\n  ", file=sys.stderr)
        return 1
    print("every results.json follows Gradescope's format and says what it should")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""A Gradescope autograder bundle: ``setup.sh``, ``run_autograder`` and the kit's source.

Gradescope unpacks the zip into ``/autograder/source``, runs ``setup.sh`` once per image,
then, in a fresh container per submission, ``run_autograder`` with the student's files in
``/autograder/submission``; it reads ``/autograder/results/results.json``.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

from grader.registry import select

__all__ = ["build_bundle", "run_autograder_script", "setup_script"]

ROOT = Path(__file__).resolve().parent.parent
SOURCE_PARTS = ("course_kit", "grader", "pyproject.toml", "README.md")


def setup_script(backend: str) -> str:
    return f"""#!/usr/bin/env bash
# Runs once when Gradescope builds the image: install the kit with the {backend} backend, and
# bubblewrap for the grader's jail (used where the container allows namespaces).
set -euo pipefail
apt-get update && apt-get install -y python3 python3-pip python3-venv bubblewrap
python3 -m venv /autograder/venv
/autograder/venv/bin/pip install --upgrade pip
/autograder/venv/bin/pip install "/autograder/source/kit[{backend}]"
"""


def run_autograder_script(backend: str, only: str | None) -> str:
    only_flag = f" --only {only}" if only else ""
    return f"""#!/usr/bin/env bash
# Runs once per submission, in its own container: grade it and hand Gradescope the result.
# A grader failure exits non-zero before the copy, so Gradescope shows an autograder error,
# never a score made of it.
set -euo pipefail
export KERAS_BACKEND={backend}
rm -rf /tmp/submissions /tmp/results
mkdir -p /tmp/submissions /autograder/results
cp -r /autograder/submission /tmp/submissions/student
cd /autograder/source/kit
/autograder/venv/bin/python -m grader grade /tmp/submissions --out /tmp/results \\
    --jobs 1 --isolation auto --no-progress{only_flag}
cp /tmp/results/students/student/results.json /autograder/results/results.json
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

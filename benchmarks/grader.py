"""Grading throughput: one complete submission, then several with --jobs 1 and --jobs 2.

    KERAS_BACKEND=jax python benchmarks/grader.py [--copies 4] [--device cpu]

Grades copies of the bundled reference solution on every automatically checked question and
prints one table: seconds per submission and submissions per hour for each setting, with the
ratio to ``--jobs 1``. Target: under 60 s per submission on a 2-core machine.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from grader.grade import grade, keras_backend  # noqa: E402
from grader.registry import QUESTIONS  # noqa: E402

REFERENCE = ROOT / "grader" / "sample_submissions" / "reference_solution"


def timed_run(copies, jobs, device, only):
    with tempfile.TemporaryDirectory() as folder:
        submissions = Path(folder) / "submissions"
        for index in range(copies):
            shutil.copytree(REFERENCE, submissions / f"student_{index:02d}")
        started = time.perf_counter()
        results = grade(submissions, Path(folder) / "results", jobs=jobs, device=device,
                        only=only, timeout=300, progress=False, print_summary=False)
        seconds = time.perf_counter() - started
    full = all(e["auto_score"] == e["auto_max"] for r in results for e in r["questions"].values())
    return seconds, results[0]["device"], full


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--copies", type=int, default=4, help="submissions per parallel run")
    parser.add_argument("--device", choices=("auto", "cpu", "gpu"), default="cpu")
    args = parser.parse_args()
    only = ",".join(q.id for q in QUESTIONS.values() if q.automatic)
    rows = []
    for label, copies, jobs in (("one submission, --jobs 1", 1, 1),
                                (f"{args.copies} submissions, --jobs 1", args.copies, 1),
                                (f"{args.copies} submissions, --jobs 2", args.copies, 2)):
        seconds, device, full = timed_run(copies, jobs, args.device, only)
        rows.append((label, seconds / copies, 3600 * copies / seconds, device, full))
    base = rows[1][2]
    print(f"backend {keras_backend()}, questions {only}")
    print(f"{'setting':32s} {'s/submission':>13s} {'per hour':>9s} {'ratio':>6s}  "
          "device  full marks")
    for label, per, hourly, device, full in rows:
        print(f"{label:32s} {per:13.1f} {hourly:9.0f} {hourly / base:6.2f}  {device:6s}  {full}")


if __name__ == "__main__":
    main()

"""Grading throughput, and what the jail costs.

    KERAS_BACKEND=jax python benchmarks/grader.py [--copies 4] [--device cpu]
    KERAS_BACKEND=jax python benchmarks/grader.py --isolation-cost [--repeats 3]

The first form grades copies of the bundled reference solution on every automatically
checked question and prints one table: seconds per submission and submissions per hour for
each setting, with the ratio to ``--jobs 1``. Target: under 60 s per submission on a 2-core
machine.

``--isolation-cost`` grades one full submission with ``--isolation none`` and with the jail
(``namespaces``), alternating the two ``--repeats`` times in one process, and prints the
median of each and their ratio. Target: the jail adds at most 5%.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from grader.grade import grade, keras_backend, peak_resident_mb  # noqa: E402
from grader.registry import QUESTIONS  # noqa: E402

REFERENCE = ROOT / "grader" / "sample_submissions" / "reference_solution"


def timed_run(copies, jobs, device, only, isolation="auto"):
    with tempfile.TemporaryDirectory() as folder:
        submissions = Path(folder) / "submissions"
        for index in range(copies):
            shutil.copytree(REFERENCE, submissions / f"student_{index:02d}")
        started = time.perf_counter()
        results = grade(submissions, Path(folder) / "results", jobs=jobs, device=device,
                        only=only, timeout=300, progress=False, print_summary=False,
                        isolation=isolation)
        seconds = time.perf_counter() - started
    full = all(e["auto_score"] == e["auto_max"] for r in results for e in r["questions"].values())
    return seconds, results[0]["device"], full


def throughput(args, only):
    rows = []
    for label, copies, jobs in (("one submission, --jobs 1", 1, 1),
                                (f"{args.copies} submissions, --jobs 1", args.copies, 1),
                                (f"{args.copies} submissions, --jobs 2", args.copies, 2)):
        seconds, device, full = timed_run(copies, jobs, args.device, only)
        rows.append((label, seconds / copies, 3600 * copies / seconds, device, full))
    base = rows[1][2]
    print(f"{'setting':32s} {'s/submission':>13s} {'per hour':>9s} {'ratio':>6s}  "
          "device  full marks")
    for label, per, hourly, device, full in rows:
        print(f"{label:32s} {per:13.1f} {hourly:9.0f} {hourly / base:6.2f}  {device:6s}  {full}")


def isolation_cost(args, only):
    levels = ("none", "namespaces")
    seconds = {level: [] for level in levels}
    full = {level: True for level in levels}
    for _ in range(args.repeats):
        for level in levels:
            elapsed, _, complete = timed_run(1, 1, args.device, only, isolation=level)
            seconds[level].append(elapsed)
            full[level] &= complete
    base = statistics.median(seconds["none"])
    print(f"{'isolation':12s} {'median s':>9s} {'runs (s)':>28s} {'ratio':>6s}  full marks")
    for level in levels:
        runs = ", ".join(f"{s:.1f}" for s in seconds[level])
        median = statistics.median(seconds[level])
        print(f"{level:12s} {median:9.1f} {runs:>28s} {median / base:6.3f}  {full[level]}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--copies", type=int, default=4, help="submissions per parallel run")
    parser.add_argument("--device", choices=("auto", "cpu", "gpu"), default="cpu")
    parser.add_argument("--isolation-cost", action="store_true",
                        help="compare one submission without and with the jail")
    parser.add_argument("--repeats", type=int, default=3, help="runs per level (--isolation-cost)")
    args = parser.parse_args()
    only = ",".join(q.id for q in QUESTIONS.values() if q.automatic)
    print(f"backend {keras_backend()}, questions {only}, load average "
          f"{', '.join(f'{x:.2f}' for x in os.getloadavg())}")
    (isolation_cost if args.isolation_cost else throughput)(args, only)
    print(f"grader peak resident memory {peak_resident_mb():.0f} MB")


if __name__ == "__main__":
    main()

"""Grading throughput, and what the jail costs.

    KERAS_BACKEND=jax python benchmarks/grader.py [--copies 4] [--device cpu]
    KERAS_BACKEND=jax python benchmarks/grader.py --isolation-cost [--repeats 3]

The first form grades copies of the bundled reference solution on every automatically
checked question (or on ``--questions q1_8,...``) and prints one table: seconds per
submission and submissions per hour for each setting, with the ratio to ``--jobs 1``, and the
largest resident memory of any one student process, sampled every 0.2 s with psutil (the
jailed processes live in PID namespaces of their own, beyond ``RUSAGE_CHILDREN``). Target: under 60 s per submission on a 2-core machine. ``--csv PATH`` also writes
the table, with the load average, for the documentation.

``--isolation-cost`` grades one full submission with ``--isolation none`` and with the jail
(``namespaces``), alternating the two ``--repeats`` times in one process, and prints the
median of each and their ratio. Target: the jail adds at most 5%.
"""

from __future__ import annotations

import argparse
import csv
import os
import shutil
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from grader.grade import grade, keras_backend, peak_resident_mb  # noqa: E402
from grader.registry import QUESTIONS  # noqa: E402

REFERENCE = ROOT / "grader" / "sample_submissions" / "reference_solution"


def timed_run(copies, jobs, device, only, isolation="auto"):
    """Seconds, device, full marks and the largest student process's resident MiB."""
    with tempfile.TemporaryDirectory() as folder, StudentMemory() as memory:
        submissions = Path(folder) / "submissions"
        for index in range(copies):
            shutil.copytree(REFERENCE, submissions / f"student_{index:02d}")
        started = time.perf_counter()
        results = grade(submissions, Path(folder) / "results", jobs=jobs, device=device,
                        only=only, timeout=300, progress=False, print_summary=False,
                        isolation=isolation)
        seconds = time.perf_counter() - started
    full = all(e["auto_score"] == e["auto_max"] for r in results for e in r["questions"].values())
    return seconds, results[0]["device"], full, memory.peak_mib


class StudentMemory:
    """The largest resident memory of any one process below this one, sampled in a thread."""

    def __init__(self, interval=0.2):
        self.interval, self.peak_mib = interval, 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self):
        import psutil

        me = psutil.Process()
        while not self._stop.wait(self.interval):
            for process in me.children(recursive=True):
                try:
                    self.peak_mib = max(self.peak_mib, process.memory_info().rss / 2**20)
                except psutil.Error:  # ended between listing and reading
                    pass

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()


def throughput(args, only):
    rows = []
    for label, copies, jobs in (("one submission, --jobs 1", 1, 1),
                                (f"{args.copies} submissions, --jobs 1", args.copies, 1),
                                (f"{args.copies} submissions, --jobs 2", args.copies, 2)):
        seconds, device, full, peak = timed_run(copies, jobs, args.device, only)
        rows.append({"backend": keras_backend(), "setting": label, "s_per_submission": f"{seconds / copies:.1f}",
                     "per_hour": f"{3600 * copies / seconds:.0f}", "device": device,
                     "full_marks": full, "student_peak_mib": f"{peak:.0f}",
                     "load": f"{os.getloadavg()[0]:.2f}"})
    base = float(rows[1]["per_hour"])
    print(f"{'setting':32s} {'s/submission':>13s} {'per hour':>9s} {'ratio':>6s} "
          f"{'student MiB':>12s} {'load':>5s}  device  full marks")
    for row in rows:
        row["ratio"] = f"{float(row['per_hour']) / base:.2f}"
        print(f"{row['setting']:32s} {row['s_per_submission']:>13s} {row['per_hour']:>9s} "
              f"{row['ratio']:>6s} {row['student_peak_mib']:>12s} {row['load']:>5s}  "
              f"{row['device']:6s}  {row['full_marks']}")
    return rows


def isolation_cost(args, only):
    levels = ("none", "namespaces")
    seconds = {level: [] for level in levels}
    full = {level: True for level in levels}
    for _ in range(args.repeats):
        for level in levels:
            elapsed, _, complete, _ = timed_run(1, 1, args.device, only, isolation=level)
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
    parser.add_argument("--questions", help="comma-separated question ids (default: all "
                        "automatically checked ones)")
    parser.add_argument("--csv", type=Path, help="write the throughput table to this CSV")
    args = parser.parse_args()
    only = args.questions or ",".join(q.id for q in QUESTIONS.values() if q.automatic)
    print(f"backend {keras_backend()}, questions {only}, load average "
          f"{', '.join(f'{x:.2f}' for x in os.getloadavg())}")
    if args.isolation_cost:
        isolation_cost(args, only)
    else:
        rows = throughput(args, only)
        if args.csv:
            with open(args.csv, "w", newline="", encoding="utf-8") as stream:
                fields = ["backend", "setting", "s_per_submission", "per_hour", "ratio",
                          "student_peak_mib", "load", "device", "full_marks"]
                writer = csv.DictWriter(stream, fieldnames=fields)
                writer.writeheader()
                writer.writerows(rows)
    print(f"grader peak resident memory {peak_resident_mb():.0f} MB")


if __name__ == "__main__":
    main()

"""Command line: ``python -m grader {release,record,grade,mutants,merge-manual,gradescope-bundle,
demo,similarity,check}``."""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from course_kit.cli import CommandLine, positive_float, positive_int
from grader.files import ResultsBusy
from grader.jail import SetupError

ROOT = Path(__file__).resolve().parent.parent
# grader.similarity.THRESHOLD, written out because that module imports nbformat, which takes
# seconds, and --help must not wait for it (a test keeps the two equal).
SIMILARITY_THRESHOLD = 0.5


def _release(args):
    from grader.edition import build_student_wheel, check_student_wheel, student_wheel
    from grader.notebooks import release, release_problems

    parts = ("notebooks", "edition") if args.only is None else (args.only,)
    if args.check:
        problems = []
        if "notebooks" in parts:
            problems += release_problems(args.solutions, args.notebooks)
        if "edition" in parts:
            problems += check_student_wheel(student_wheel(args.wheel_dir))
        if problems:
            print("the release is not up to date; run `python -m grader release`:",
                  *problems, sep="\n  ", file=sys.stderr)
            return 1
        print(f"up to date: {' and '.join(parts)}")
        return 0
    if "notebooks" in parts:
        written = release(args.solutions, args.notebooks)
        print(f"wrote {len(written)} notebook(s) to {args.notebooks}")
    if "edition" in parts:
        wheel = build_student_wheel(args.wheel_dir)
        print(f"wrote the student edition {wheel} ({wheel.stat().st_size / 1e6:.2f} MB)")
    return 0


def _record(args):
    from grader.references import public_recordable, record
    from grader.registry import select

    only = [q.id for q in select(args.only) if q.automatic]
    if args.public and not args.only:
        only = [qid for qid in only if qid in public_recordable()]
    for path in record(only, args.out, public=args.public):
        print(f"recorded {path}")
    return 0


def _run_grading(run) -> int:
    """Exit status of a grading run: 1 when it finished but the grader failed on some students
    (their results are not grades); one that could not start raises ``SetupError``."""
    from grader.grade import GradingIncomplete

    try:
        run()
    except GradingIncomplete as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


def _grade(args):
    from grader.grade import grade

    return _run_grading(lambda: grade(
        args.submissions, args.out, jobs=args.jobs, device=args.device, only=args.only,
        timeout=args.timeout, force=args.force, memory_mb=args.memory_mb,
        isolation=args.isolation, progress=not args.no_progress))


def _mutants(args):
    from grader.mutants import run

    report = run(args.only, jobs=args.jobs, slow=args.slow, timeout=args.timeout,
                 device=args.device, isolation=args.isolation, progress=not args.no_progress)
    print(report.table())
    return 0 if report.ok else 1


def _check(args):
    from grader.selfcheck import check_notebooks, table

    reports = check_notebooks(args.paths, timeout=args.timeout, fast=not args.full)
    print(table(reports))
    return 0 if reports and all(report.ready for report in reports) else 1


def _merge_manual(args):
    from grader.report import class_summary, load_results, merge_manual

    count = merge_manual(args.marks, args.out)
    print(f"merged {count} manual mark(s) into {args.out}")
    print(class_summary(load_results(args.out)))
    return 0


def _bundle(args):
    from grader.gradescope import build_bundle

    path = build_bundle(args.out, only=args.only, backend=args.backend)
    print(f"wrote {path}")
    return 0


def _similarity(args):
    from grader.similarity import write_similarity

    report = write_similarity(args.results, threshold=args.threshold, only=args.only)
    print(report.summary())
    print(f"for a person to review (no grade changed): {args.results}/similarity.md")
    return 0


def _demo(args):
    from grader.grade import grade

    samples = Path(__file__).resolve().parent / "sample_submissions"

    def run(out):
        print(f"grading the sample submissions in {samples}")
        return _run_grading(lambda: grade(
            samples, out, jobs=args.jobs, device=args.device, only=args.only, force=True,
            timeout=args.timeout, isolation=args.isolation, progress=not args.no_progress))

    if args.out:
        status = run(args.out)
        print(f"feedback per student: {args.out}/students/<student>/feedback.md; "
              f"class table: {args.out}/grades.csv")
        return status
    with tempfile.TemporaryDirectory(prefix="grader-demo-") as out:
        status = run(out)
    print("the results were temporary and are deleted; add --out RESULTS to keep them")
    return status


def _common_grading(parser):
    parser.add_argument("--jobs", type=positive_int, default=1,
                        help="students graded in parallel")
    parser.add_argument("--device", choices=("auto", "cpu", "gpu"), default="auto",
                        help="auto uses a GPU when the backend sees one")
    parser.add_argument("--only", help="comma-separated question ids, e.g. q1_2,q1_6 "
                        "(default: all)")
    parser.add_argument("--timeout", type=positive_float, default=60.0,
                        help="wall-clock seconds per question (training questions get a multiple)")
    parser.add_argument("--isolation", choices=("auto", "namespaces", "user", "none"),
                        default="auto",
                        help="how student code is jailed: auto picks the strongest available; "
                        "none only for trusted code")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def build_parser():
    parser = CommandLine(prog="python -m grader",
                         description="Release notebooks, record references, grade.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    from grader.edition import WHEEL_DIR

    release = commands.add_parser(
        "release", help="solutions/ -> notebooks/, and the kit's student edition (a wheel)",
        description="Write the student notebooks (solution regions become stubs, outputs are "
        "cleared, metadata is kept) and build the student edition of the kit, a wheel in "
        "dist/student/ in which every answer raises NotImplementedError naming its question.")
    release.add_argument("--check", action="store_true",
                         help="write nothing; exit 1 when notebooks/ is stale, or the wheel is "
                         "missing, stale or holds an answer")
    release.add_argument("--only", choices=("notebooks", "edition"),
                         help="only the notebooks, or only the student edition")
    release.add_argument("--solutions", type=Path, default=ROOT / "solutions",
                         help="the solution notebooks")
    release.add_argument("--notebooks", type=Path, default=ROOT / "notebooks",
                         help="where the student notebooks go")
    release.add_argument("--wheel-dir", type=Path, default=WHEEL_DIR,
                         help="where the student edition's wheel goes")
    release.set_defaults(func=_release)

    record = commands.add_parser("record", help="store reference outputs in grader/references/",
                                 description="Run the kit's reference implementations on fixed "
                                 "inputs and store inputs and expected outputs (float64). "
                                 "Record on TensorFlow.")
    record.add_argument("--only", help="comma-separated question ids (default: all)")
    record.add_argument("--public", action="store_true",
                        help="record the public fixtures of the notebooks' visible checks "
                        "(other inputs) into course_kit/checks/fixtures/ instead")
    record.add_argument("--out", type=Path, metavar="FOLDER",
                        help="where to write (default: grader/references/, or "
                        "course_kit/checks/fixtures/ with --public)")
    record.set_defaults(func=_record)

    grade = commands.add_parser("grade", help="grade a folder of submissions",
                                description="Grade SUBMISSIONS (a folder of student folders, "
                                ".zip or .ipynb files) into RESULTS; resumable.")
    grade.add_argument("submissions", type=Path, metavar="SUBMISSIONS",
                       help="a folder of student folders, .zip or .ipynb files")
    grade.add_argument("--out", type=Path, required=True, metavar="RESULTS",
                       help="the results folder")
    grade.add_argument("--force", action="store_true", help="regrade students already graded")
    grade.add_argument("--memory-mb", type=positive_int, default=4096,
                       help="memory limit per student process")
    _common_grading(grade)
    grade.set_defaults(func=_grade)

    mutants = commands.add_parser(
        "mutants", help="prove the checks: grade every question's wrong and alternative answers",
        description="Grade each question's MUTANTS (wrong answers, which must lose points) and "
        "ALTERNATIVES (right answers written differently, which must score full marks), each "
        "as its own student, through the normal grading path; print a table per question; "
        "exit 1 when a mutant survives or an alternative loses a point.")
    mutants.add_argument("--slow", action="store_true",
                         help="include the training questions (q1_3, q1_8), which train a "
                         "model per answer")
    _common_grading(mutants)
    mutants.set_defaults(func=_mutants, timeout=30.0)

    check = commands.add_parser(
        "check", help="a student's check before hand-in: run the notebooks, print one table",
        description="Run the notebooks headless (fast mode unless --full) and print, per "
        "question, whether its graded cell is found and written, whether the visible checks "
        "after it passed, and whether its free-text answer is filled in. Grades nothing; "
        "exit 1 unless every notebook is ready.")
    check.add_argument("paths", type=Path, nargs="*", default=[Path("notebooks")],
                       metavar="NOTEBOOK", help="notebooks or folders of them")
    check.add_argument("--timeout", type=positive_float, default=600.0,
                       help="seconds one cell may run")
    check.add_argument("--full", action="store_true",
                       help="full experiments instead of fast mode (slow)")
    check.set_defaults(func=_check)

    merge = commands.add_parser("merge-manual", help="fold manual marks into the results",
                                description="MARKS.csv has columns student,question,points "
                                "and optionally comment.")
    merge.add_argument("marks", type=Path, metavar="MARKS.csv", help="the manual marks")
    merge.add_argument("--out", type=Path, required=True, metavar="RESULTS",
                       help="the results folder")
    merge.set_defaults(func=_merge_manual)

    bundle = commands.add_parser("gradescope-bundle", help="build a Gradescope autograder zip",
                                 description="Write a zip with setup.sh, run_autograder and the "
                                 "kit's source, for Gradescope's one container per "
                                 "submission.")
    bundle.add_argument("--out", type=Path, default=Path("autograder.zip"),
                        help="the zip to write")
    bundle.add_argument("--only", help="comma-separated question ids to grade (default: all)")
    bundle.add_argument("--backend", choices=("tensorflow", "jax", "torch"), default="jax",
                        help="the Keras backend the autograder installs and grades on")
    bundle.set_defaults(func=_bundle)

    demo = commands.add_parser("demo", help="grade the bundled sample submissions",
                               description="Grade grader/sample_submissions (the reference "
                               "solution and flawed ones) and print the class table.")
    demo.add_argument("--out", type=Path,
                      help="results folder to keep (default: a temporary one, deleted at the end)")
    _common_grading(demo)
    demo.set_defaults(func=_demo, jobs=2)

    similarity = commands.add_parser(
        "similarity", help="flag similar graded cells for a person to review",
        description="Compare every student's graded code cells with every other student's and "
        "with the kit's answers (normalised: names, numbers, strings, comments and the stub "
        "do not count) and write RESULTS/similarity.csv and RESULTS/similarity.md. Never "
        "changes a grade; see docs/similarity.md.")
    similarity.add_argument("results", type=Path, metavar="RESULTS",
                            help="the results folder of a grading run")
    similarity.add_argument("--threshold", type=float, default=SIMILARITY_THRESHOLD,
                            help="score from which a pair is listed, in (0, 1]")
    similarity.add_argument("--only", help="comma-separated question ids, e.g. q1_2,q1_6 "
                            "(default: all)")
    similarity.set_defaults(func=_similarity)
    return parser


def main(argv=None):
    return build_parser().run(argv, user_errors=(ResultsBusy, SetupError))


if __name__ == "__main__":
    raise SystemExit(main())

"""Mutation tests of the grader's checks: ``python -m grader mutants``.

Every question module (``grader/questions/<id>.py``) lists ``MUTANTS``, wrong answers that
must lose points, and ``ALTERNATIVES``, right answers written differently that must score
full marks. :func:`run` writes each of them as its own student folder (one notebook with the
solution's cells of the questions it depends on, from ``solutions/``, and the mutated or
alternative cell), grades all of them in one run through :func:`grader.grade.grade` (the
jail included), and reports, per question, the mutants killed and the alternatives at full
marks. A surviving mutant is a hole in the checks; an alternative that loses a point is a
check that grades the style instead of the answer.

The training questions (``time_factor > 1``) train a model per variant: they are left out
unless asked for (``slow``).
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["Outcome", "Report", "Variant", "run", "variants"]

ROOT = Path(__file__).resolve().parent.parent
SOLUTIONS = ROOT / "solutions"
KINDS = ("mutant", "alternative")


@dataclass(frozen=True)
class Variant:
    """One wrong (``mutant``) or differently written right (``alternative``) answer."""

    qid: str
    kind: str
    name: str
    source: str

    @property
    def student(self) -> str:
        return f"{self.qid}.{self.kind}.{self.name}"


@dataclass
class Outcome:
    variant: Variant
    score: float
    max: float
    status: str
    failed: list[str] = field(default_factory=list)

    @property
    def graded(self) -> bool:
        """Whether the grader graded it (a grader-error is no verdict on the checks)."""
        return self.status not in ("grader-error", "not found", "invalid")

    @property
    def ok(self) -> bool:
        """A mutant loses points; an alternative scores full marks."""
        if not self.graded:
            return False
        return self.score < self.max if self.variant.kind == "mutant" else self.score == self.max


@dataclass
class Report:
    outcomes: list[Outcome]
    backend: str = ""

    @property
    def ok(self) -> bool:
        return all(outcome.ok for outcome in self.outcomes)

    def by_question(self) -> dict[str, list[Outcome]]:
        grouped: dict[str, list[Outcome]] = {}
        for outcome in self.outcomes:
            grouped.setdefault(outcome.variant.qid, []).append(outcome)
        return grouped

    def table(self) -> str:
        """One line per question: mutants killed, alternatives at full marks, and the names
        of any surviving mutant or failing alternative; then each variant's score."""
        lines = [f"mutation tests ({self.backend} backend)",
                 f"{'question':<9} {'mutants killed':<15} {'alternatives full':<18} problems"]
        for qid, outcomes in self.by_question().items():
            mutants = [o for o in outcomes if o.variant.kind == "mutant"]
            alternatives = [o for o in outcomes if o.variant.kind == "alternative"]
            problems = [f"{o.variant.kind} {o.variant.name} "
                        f"({'survived' if o.graded and o.variant.kind == 'mutant' else o.status})"
                        for o in outcomes if not o.ok]
            lines.append(f"{qid:<9} {sum(o.ok for o in mutants)}/{len(mutants):<13} "
                         f"{sum(o.ok for o in alternatives)}/{len(alternatives):<16} "
                         f"{', '.join(problems) or '-'}")
        lines.append("")
        for outcome in self.outcomes:
            failed = f"; failed: {', '.join(outcome.failed)}" if outcome.failed else ""
            lines.append(f"  {outcome.variant.student}: {outcome.score:g}/{outcome.max:g} "
                         f"({outcome.status}{failed})")
        killed = sum(o.ok for o in self.outcomes if o.variant.kind == "mutant")
        total = sum(o.variant.kind == "mutant" for o in self.outcomes)
        full = sum(o.ok for o in self.outcomes if o.variant.kind == "alternative")
        alternatives = sum(o.variant.kind == "alternative" for o in self.outcomes)
        lines.append(f"\n{killed}/{total} mutants killed, {full}/{alternatives} alternatives at "
                     f"full marks: {'OK' if self.ok else 'FAILED'}")
        return "\n".join(lines)


def variants(only: str | None = None, slow: bool = False) -> list[Variant]:
    """The mutants and alternatives of the automatically checked questions in ``only`` (all
    by default); training questions only with ``slow`` (or when named in ``only``)."""
    from grader.registry import module, select

    found = []
    for question in select(only):
        if not question.automatic or (question.time_factor > 1 and not slow and not only):
            continue
        loaded = module(question.id)
        for kind, table in (("mutant", loaded.MUTANTS), ("alternative", loaded.ALTERNATIVES)):
            found += [Variant(question.id, kind, name, source) for name, source in table.items()]
    return found


def _solution_cells(solutions: Path) -> dict[str, str]:
    from grader.notebooks import load_submission

    submission = load_submission(solutions)
    return {qid: cell["source"] for qid, cell in submission.cells.items()}


def write_folders(root: Path, chosen: list[Variant], solutions: Path = SOLUTIONS) -> None:
    """One student folder per variant under ``root``: a notebook with the solution's cells
    of the questions the variant's question depends on, then the variant's cell."""
    import nbformat

    from grader.notebooks import graded_cell, notebook_text
    from grader.registry import QUESTIONS

    cells = _solution_cells(solutions)
    for variant in chosen:
        question = QUESTIONS[variant.qid]
        missing = [c for c in question.depends if c not in cells]
        if missing:
            raise ValueError(f"{variant.qid}: no solution cell {', '.join(missing)} in "
                             f"{solutions}")
        sources = [(c, cells[c]) for c in question.depends] + [(variant.qid, variant.source)]
        notebook = nbformat.v4.new_notebook(cells=[graded_cell(s, c) for c, s in sources])
        folder = root / variant.student
        folder.mkdir(parents=True)
        (folder / question.notebook).write_text(notebook_text(notebook), encoding="utf-8")


def run(only: str | None = None, *, jobs: int = 1, slow: bool = False, timeout: float = 30.0,
        device: str = "auto", isolation: str = "auto", solutions: Path = SOLUTIONS,
        progress: bool = False) -> Report:
    """Grade every mutant and alternative of the questions ``only`` (see :func:`variants`)
    in one grading run, in a temporary folder; returns the :class:`Report`.

    Raises:
        ValueError: for unknown ids, or when no question of ``only`` has variants.
        SetupError: when the jail or the backend cannot start.
    """
    from grader.grade import GradingIncomplete, grade, keras_backend

    chosen = variants(only, slow)
    if not chosen:
        raise ValueError("no mutants or alternatives to grade (training questions need --slow)")
    qids = ",".join(dict.fromkeys(v.qid for v in chosen))
    with tempfile.TemporaryDirectory(prefix="grader-mutants-") as folder:
        submissions, out = Path(folder) / "submissions", Path(folder) / "results"
        write_folders(submissions, chosen, solutions)
        try:
            results = grade(submissions, out, jobs=jobs, device=device, only=qids,
                            timeout=timeout, force=True, isolation=isolation,
                            progress=progress, print_summary=False)
        except GradingIncomplete as error:  # reported per variant as grader-error
            results = error.results
    by_student = {result["student"]: result for result in results}
    outcomes = []
    for variant in chosen:
        entry = by_student[variant.student]["questions"][variant.qid]
        failed = [c["name"] for c in entry["checks"] if not c["passed"]]
        outcomes.append(Outcome(variant, float(entry["auto_score"]), float(entry["auto_max"]),
                                entry["status"], failed))
    return Report(outcomes, keras_backend())

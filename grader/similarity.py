"""Similarity flags: graded code cells that look copied, listed for a person to review.

``python -m grader similarity RESULTS`` (also run at the end of ``python -m grader grade``)
compares, cell by cell, every student's graded code with every other student's and with the
full kit's answers (:func:`grader.edition.answers`), and writes ``RESULTS/similarity.csv``
and ``RESULTS/similarity.md``: the pairs whose score reaches the threshold, both cells shown.
It reads the results and never writes one: a flag is a question for a person, not a mark.

A pair is scored in three steps (``docs/similarity.md`` explains them to the reader):

1. *Normalise.* The cell's syntax tree is written out in pre-order as one token per node.
   Every name the cell binds (variables, parameters, functions, classes, the attributes it
   assigns) becomes one placeholder, every number another and every string a third; an
   imported name stands for what it imports (``np`` is ``numpy``); docstrings, comments and
   layout are gone. Renaming, reformatting or re-commenting copied code changes nothing.
2. *Fingerprint.* Every run of :data:`KGRAM_TOKENS` tokens is hashed and the hashes are
   winnowed with copydetect over windows of :data:`WINDOW`, so any match of at least
   ``KGRAM_TOKENS + WINDOW - 1`` tokens is seen. Runs that occur in the cell as the release
   hands it out (the stub in ``notebooks/``) are dropped first, as MOSS drops its base files.
3. *Score.* Each cell's share is the fraction of its fingerprints that the other cell has
   too. The score is the larger share (a copy inside a longer cell still counts) times a
   weight ``min(1, shared fingerprints / FULL_WEIGHT_FINGERPRINTS)``: a short answer that
   everyone writes the same way has few fingerprints and cannot reach the threshold alone.
"""

from __future__ import annotations

import ast
import contextlib
import csv
import functools
import hashlib
import io
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

# copydetect (it loads matplotlib) and grader.notebooks (nbformat) take a second each to
# import: the functions that use them import them, so that ``python -m grader`` starts at once.
from grader.files import atomic_write_json, atomic_write_text, results_lock
from grader.policy import strip_magics
from grader.registry import select
from grader.report import RESULT, STUDENTS, student_folder

__all__ = ["CELLS", "FULL_WEIGHT_FINGERPRINTS", "KGRAM_TOKENS", "KIT", "THRESHOLD", "WINDOW",
           "Flag", "Fingerprint", "Party", "SimilarityReport", "boilerplate", "compare",
           "find_similar", "fingerprint", "kit_answers", "load_graded_cells", "normalised_tokens",
           "save_graded_cells", "stub_cells", "write_similarity"]

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"
CELLS = "cells.json"
CSV_NAME = "similarity.csv"
MARKDOWN_NAME = "similarity.md"
KIT = "the kit's answer"

# A run of ten tokens is about one short statement (``h = ops.tanh(x)`` is nine): shorter
# runs match between any two Keras cells, longer ones miss copies edited every other line.
KGRAM_TOKENS = 10
# Winnowing keeps one hash in four, yet sees every match of KGRAM_TOKENS + WINDOW - 1 tokens.
WINDOW = 4
# A pair sharing fewer distinct fingerprints than this is scored down in proportion: 25
# fingerprints are some 100 tokens of identical structure outside the stub, several lines
# that two people rarely write alike by chance; a one-line answer has about ten.
FULL_WEIGHT_FINGERPRINTS = 25
# Calibrated on the questions' cells (docs/similarity.md): independent right answers (the
# alternatives against the solution notebooks and the kit) score 0.2 at most, renamed and
# reformatted copies 1, copies with a few statements added 0.83 (median).
THRESHOLD = 0.5
# An odd 64-bit constant (the golden ratio's): k-gram hashes multiply by it, modulo 2**64.
_MULTIPLIER = 0x9E3779B97F4A7C15


# ---------------------------------------------------------------- normalising


def _bindings(tree: ast.AST) -> tuple[set[str], set[str], dict[str, str]]:
    """The names and attribute names ``tree`` binds, and what each imported name stands for."""
    names, attributes, imports = set(), set(), {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and not isinstance(node.ctx, ast.Load):
            names.add(node.id)
        elif isinstance(node, ast.Attribute) and not isinstance(node.ctx, ast.Load):
            attributes.add(node.attr)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            # a method is read back as an attribute (``self._gate(x)``): rename it there too
            names.add(node.name)
            attributes.add(node.name)
        elif isinstance(node, ast.arg):
            names.add(node.arg)
        elif isinstance(node, (ast.Global, ast.Nonlocal)):
            names.update(node.names)
        elif isinstance(node, (ast.ExceptHandler, ast.MatchAs, ast.MatchStar)) and node.name:
            names.add(node.name)
        elif isinstance(node, ast.MatchMapping) and node.rest:
            names.add(node.rest)
        elif isinstance(node, ast.Import):
            for alias in node.names:
                top = alias.name.split(".")[0]
                imports[alias.asname or top] = alias.name if alias.asname else top
        elif isinstance(node, ast.ImportFrom):
            module = "." * node.level + (node.module or "")
            for alias in node.names:
                imports[alias.asname or alias.name] = f"{module}.{alias.name}"
    return names, attributes, imports


def _constant(value) -> str:
    if value is None or isinstance(value, bool) or value is Ellipsis:
        return repr(value)
    return "str" if isinstance(value, str) else "bytes" if isinstance(value, bytes) else "number"


def _is_docstring(node: ast.AST) -> bool:
    """A string standing alone as a statement: a docstring, or a comment written as one."""
    return (isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant)
            and isinstance(node.value.value, str))


def normalised_tokens(source: str, imports: str = "") -> tuple[list[str], list[int]]:
    """The normalised token sequence of a cell, and the cell's line of each token.

    ``imports`` is code whose imports ``source`` uses without repeating them: a kit answer
    is a region of a module that imports ``ops`` at its top, a student's cell imports it.

    Raises:
        SyntaxError: if the cell is not Python (after commenting out IPython magics), or
            ValueError, RecursionError, MemoryError for input ``ast.parse`` cannot take.
    """
    tree = ast.parse(strip_magics(source))
    names, attributes, imported = _bindings(ast.Module(
        body=[*ast.parse(imports).body, *tree.body], type_ignores=[]))

    own_keywords: set[int] = set()  # ids of keyword nodes passed to the cell's own callables

    def label(node: ast.AST) -> str:
        if isinstance(node, ast.Name):
            return f"Name:{'_' if node.id in names else imported.get(node.id, node.id)}"
        if isinstance(node, ast.Attribute):
            return f"Attribute:{'_' if node.attr in attributes else node.attr}"
        if isinstance(node, ast.Constant):
            return f"Constant:{_constant(node.value)}"
        if isinstance(node, ast.keyword):
            return f"keyword:{'_' if id(node) in own_keywords else node.arg or '**'}"
        if isinstance(node, ast.alias):
            return f"alias:{node.name}"
        if isinstance(node, ast.Call) and (
                isinstance(node.func, ast.Name) and node.func.id in names
                or isinstance(node.func, ast.Attribute) and node.func.attr in attributes):
            # the parameter names of a function the cell defines are the student's choice;
            # those of a library call (``add_weight(shape=...)``) are not
            own_keywords.update(id(keyword) for keyword in node.keywords)
        return type(node).__name__

    tokens, lines = [], []
    # An explicit stack, not recursion: a long chain like ``a + b + ... + z`` nests deeply.
    stack = [(child, 1) for child in reversed(tree.body)]
    while stack:
        node, line = stack.pop()
        if isinstance(node, ast.expr_context) or _is_docstring(node):
            continue
        line = getattr(node, "lineno", line)
        tokens.append(label(node))  # a Call before its keywords: pre-order
        lines.append(line)
        stack.extend((child, line) for child in reversed(list(ast.iter_child_nodes(node))))
    return tokens, lines


@functools.lru_cache(maxsize=None)
def _token_hash(token: str) -> int:
    return int.from_bytes(hashlib.blake2b(token.encode(), digest_size=8).digest(), "little")


def _kgram_hashes(tokens: list[str]) -> np.ndarray:
    """A stable 64-bit hash of every run of :data:`KGRAM_TOKENS` tokens (a polynomial over
    the tokens' own hashes, wrapping around 2**64).

    Not copydetect's ``hashed_kgrams``: it uses Python's ``hash``, salted per process, and
    winnowing keeps the smallest hashes, so its flags would change from run to run.
    """
    count = len(tokens) - KGRAM_TOKENS + 1
    if count <= 0:
        return np.array([], dtype=np.int64)
    each = np.array([_token_hash(token) for token in tokens], dtype=np.uint64)
    kgrams = np.zeros(count, dtype=np.uint64)
    with np.errstate(over="ignore"):
        for offset in range(KGRAM_TOKENS):
            kgrams = kgrams * np.uint64(_MULTIPLIER) + each[offset:offset + count]
    return kgrams.view(np.int64)


def boilerplate(source: str | None) -> np.ndarray:
    """Every k-gram hash of ``source`` (a stub), unwinnowed; empty when there is no stub or
    it does not parse."""
    if not source:
        return np.array([], dtype=np.int64)
    try:
        tokens, _ = normalised_tokens(source)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return np.array([], dtype=np.int64)
    return np.unique(_kgram_hashes(tokens))


# ---------------------------------------------------------------- comparing


@dataclass(frozen=True)
class Party:
    """One side of a comparison: a student's cell, or one answer of the kit (``where`` then
    names its module and definitions, ``imports`` are that module's imports)."""

    name: str
    source: str
    where: str = ""
    imports: str = ""

    @property
    def label(self) -> str:
        return f"{self.name} ({self.where})" if self.where else self.name


@dataclass(eq=False)
class Fingerprint:
    """A cell's winnowed fingerprints outside its stub, and where in the cell they are."""

    party: Party
    positions: dict[int, list[int]]  # fingerprint -> token positions where it starts
    lines: np.ndarray  # the cell's line of each token
    hashes: frozenset[int] = field(init=False)  # the fingerprints, kept for set arithmetic

    def __post_init__(self):
        self.hashes = frozenset(self.positions)

    def matching_lines(self, fingerprints: frozenset[int]) -> frozenset[int]:
        """The cell's lines inside the stretches that ``fingerprints`` cover (copydetect's
        copied slices)."""
        from copydetect.utils import get_copied_slices

        starts = np.fromiter((start for value in fingerprints & self.hashes
                              for start in self.positions[value]), dtype=np.int64)
        inside = np.zeros(len(self.lines), dtype=bool)
        for begin, end in get_copied_slices(starts, KGRAM_TOKENS).astype(np.int64).T:
            inside[begin:end] = True
        return frozenset(np.unique(self.lines[inside]).tolist())


def fingerprint(party: Party, stub: np.ndarray) -> Fingerprint:
    """``party``'s fingerprints with every k-gram of ``stub`` (see :func:`boilerplate`) left out.

    Raises:
        SyntaxError (and the others of :func:`normalised_tokens`): the cell is not Python.
    """
    from copydetect.utils import winnow

    tokens, lines = normalised_tokens(party.source, party.imports)
    hashes, starts = winnow(_kgram_hashes(tokens), WINDOW, remove_duplicates=False)
    kept = ~np.isin(hashes, stub)
    positions: dict[int, list[int]] = {}
    for value, start in zip(hashes[kept].tolist(), starts[kept].tolist()):
        positions.setdefault(value, []).append(start)
    return Fingerprint(party, positions, np.array(lines, dtype=np.int64))


def _line_ranges(lines: set[int]) -> str:
    """``{3, 4, 5, 9}`` -> ``"3-5, 9"``."""
    ranges, ordered = [], sorted(lines)
    for line in ordered:
        if ranges and line == ranges[-1][1] + 1:
            ranges[-1][1] = line
        else:
            ranges.append([line, line])
    return ", ".join(str(a) if a == b else f"{a}-{b}" for a, b in ranges)


@dataclass(frozen=True)
class Flag:
    """A pair of cells of one question whose score reached the threshold."""

    question: str
    prints: tuple[Fingerprint, Fingerprint]
    score: float
    shares: tuple[float, float]  # each cell's fingerprints that the other has, as a fraction
    shared: int  # distinct fingerprints the two cells have in common

    @property
    def first(self) -> Party:
        return self.prints[0].party

    @property
    def second(self) -> Party:
        return self.prints[1].party


def compare(question: str, first: Fingerprint, second: Fingerprint,
            threshold: float = THRESHOLD) -> Flag | None:
    """The flag for this pair, or None when its score stays under ``threshold``.

    Set arithmetic only: a class of 300 makes some 45,000 pairs per question.
    """
    shared = len(first.hashes & second.hashes)
    weight = min(1.0, shared / FULL_WEIGHT_FINGERPRINTS)
    if not shared or weight < threshold:  # shares are at most 1: the threshold is out of reach
        return None
    shares = shared / len(first.hashes), shared / len(second.hashes)
    score = max(shares) * weight
    if score < threshold:
        return None
    return Flag(question, (first, second), round(score, 3),
                (round(shares[0], 3), round(shares[1], 3)), shared)


@dataclass
class SimilarityReport:
    """What :func:`find_similar` compared and flagged; ``notes`` say what it left out."""

    flags: list[Flag]
    threshold: float
    students: int = 0
    cells: int = 0
    pairs: int = 0
    notes: list[str] = field(default_factory=list)

    def summary(self) -> str:
        return (f"similarity: {len(self.flags)} pair(s) flagged for review at threshold "
                f"{self.threshold:g} ({self.students} students, {self.cells} cells, "
                f"{self.pairs} pairs compared)")


def _question_order(cell: str) -> tuple:
    numbers = cell[1:].split("_")
    return tuple(int(n) for n in numbers) if all(n.isdigit() for n in numbers) else (10**9,)


def find_similar(cells: dict[str, dict[str, str]], stubs: dict[str, str],
                 kit: dict[str, list[Party]], *, threshold: float = THRESHOLD,
                 only: set[str] | None = None) -> SimilarityReport:
    """Compare every student's cell with every other student's and with the kit's answers.

    ``cells`` maps student -> cell id -> source, ``stubs`` cell id -> the released cell,
    ``kit`` cell id -> the kit's answers for it; ``only`` limits the cell ids compared.
    """
    report = SimilarityReport([], threshold, students=len(cells))
    questions = sorted({cell for by_cell in cells.values() for cell in by_cell
                        if only is None or cell in only}, key=_question_order)
    missing_stubs = [cell for cell in questions if cell not in stubs]
    if missing_stubs:
        report.notes.append(f"no stub found for {', '.join(missing_stubs)}: the code the "
                            "release hands out counts there as the student's")
    for question in questions:
        stub = boilerplate(stubs.get(question))
        students, unreadable = [], []
        for student in sorted(cells):
            if question not in cells[student]:
                continue
            try:
                students.append(fingerprint(Party(student, cells[student][question]), stub))
            except (SyntaxError, ValueError, RecursionError, MemoryError):
                unreadable.append(student)
        if unreadable:
            report.notes.append(f"{question}: not compared, the cell is not Python: "
                                f"{', '.join(unreadable)}")
        answers = [fingerprint(party, stub) for party in kit.get(question, [])]
        report.cells += len(students)
        for index, first in enumerate(students):
            for second in [*students[index + 1:], *answers]:
                report.pairs += 1
                flag = compare(question, first, second, threshold)
                if flag:
                    report.flags.append(flag)
    report.flags.sort(key=lambda f: (_question_order(f.question), -f.score,
                                     f.first.name, f.second.label))
    return report


# ---------------------------------------------------------------- inputs


def save_graded_cells(out: Path, submission: Path, questions) -> None:
    """Write ``students/<student>/cells.json``: the source of each graded code cell of
    ``questions`` found in ``submission``, the input of :func:`write_similarity`.

    Never raises: the cells are for the similarity report, and a submission that cannot be
    read here has no cells to compare (an older ``cells.json`` is removed, so that the file
    always matches the last grading).
    """
    from grader.notebooks import load_submission, student_name

    try:
        path = student_folder(out, student_name(submission)) / CELLS
        path.unlink(missing_ok=True)
        found = load_submission(submission).cells
        wanted = {cell for question in questions for cell in question.code_cells}
        atomic_write_json(path, {cell: found[cell]["source"] for cell in sorted(wanted)
                                 if cell in found and found[cell]["cell_type"] == "code"})
    except Exception as error:  # a review aid must not stop the grading of a class
        print(f"warning: the graded cells of {Path(submission).name} were not saved for the "
              f"similarity report ({type(error).__name__}: {error})", file=sys.stderr)


def load_graded_cells(out: Path) -> tuple[dict[str, dict[str, str]], list[str]]:
    """Every student's saved cells (student -> cell id -> source), and notes on students
    who have a result but no readable ``cells.json``."""
    cells, without = {}, []
    students = Path(out) / STUDENTS
    for folder in sorted(students.iterdir()) if students.is_dir() else []:
        if not (folder / RESULT).is_file():
            continue
        try:
            saved = json.loads((folder / CELLS).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            without.append(folder.name)
            continue
        if isinstance(saved, dict):
            cells[folder.name] = {cell: source for cell, source in saved.items()
                                  if isinstance(source, str)}
        else:
            without.append(folder.name)
    notes = [f"not compared, no readable {CELLS} (graded before cells were saved? grade again "
             f"with --force): {', '.join(without)}"] if without else []
    return cells, notes


def stub_cells(notebooks: Path = NOTEBOOKS) -> dict[str, str]:
    """Each graded code cell as the student notebooks hand it out (cell id -> source)."""
    import nbformat

    from grader.notebooks import find_cells

    if not Path(notebooks).is_dir():
        return {}
    released = {path.name: nbformat.read(path, as_version=4)
                for path in sorted(Path(notebooks).glob("*.ipynb"))}
    return {cell: found["source"] for cell, found in find_cells(released).items()
            if found["cell_type"] == "code"}


def kit_answers() -> dict[str, list[Party]]:
    """The full kit's answers by question, each one :class:`Party` named :data:`KIT`."""
    from grader.edition import answers

    kit: dict[str, list[Party]] = {}
    module_imports: dict[str, str] = {}
    for answer in answers():
        if answer.path not in module_imports:
            module = ast.parse((ROOT / answer.path).read_text(encoding="utf-8"))
            module_imports[answer.path] = "\n".join(
                ast.unparse(node) for node in module.body
                if isinstance(node, (ast.Import, ast.ImportFrom)))
        kit.setdefault(answer.qid, []).append(Party(
            KIT, answer.source, f"{answer.path}: {', '.join(answer.names)}",
            module_imports[answer.path]))
    return kit


# ---------------------------------------------------------------- reports


def _csv(report: SimilarityReport) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["question", "first", "second", "second_source", "score", "first_share",
                     "second_share", "shared_fingerprints"])
    for flag in report.flags:
        writer.writerow([flag.question, flag.first.name, flag.second.name,
                         flag.second.where or "student", f"{flag.score:.3f}",
                         f"{flag.shares[0]:.3f}", f"{flag.shares[1]:.3f}", flag.shared])
    return buffer.getvalue()


def _numbered(source: str, matching: frozenset[int]) -> list[str]:
    """The cell in a fence, each line numbered, lines in matching stretches marked ``>``.

    Every line starts with its number, so no line of the cell can close the fence early.
    """
    return ["```text", *(f"{'>' if number in matching else ' '}{number:4d}  {line}"
                         for number, line in enumerate(source.splitlines(), start=1)), "```"]


def _groups(flags: list[Flag]) -> list[list[Flag]]:
    """One question's flags gathered into groups of cells linked by flagged pairs, the group
    with the highest score first (each group keeps the flags' order, highest score first)."""
    parent: dict[str, str] = {}

    def root(label: str) -> str:
        while parent.setdefault(label, label) != label:
            parent[label] = parent[parent[label]]  # path halving keeps chains short
            label = parent[label]
        return label

    for flag in flags:
        parent[root(flag.first.label)] = root(flag.second.label)
    groups: dict[str, list[Flag]] = {}
    for flag in sorted(flags, key=lambda f: -f.score):
        groups.setdefault(root(flag.first.label), []).append(flag)
    return sorted(groups.values(), key=lambda group: -group[0].score)


def _group_markdown(number: int, group: list[Flag]) -> list[str]:
    """One group: a single pair with its two cells, or a larger group's pairs in a table and
    each of its cells once."""
    matched: dict[int, tuple[Fingerprint, set[int]]] = {}  # by id(): a cell in several pairs
    for flag in group:
        first, second = flag.prints
        common = first.hashes & second.hashes
        matched.setdefault(id(first), (first, set()))[1].update(common)
        matched.setdefault(id(second), (second, set()))[1].update(common)
    cells = [(print_.party, print_.matching_lines(frozenset(common)))
             for print_, common in matched.values()]
    if len(group) == 1:
        (flag,) = group
        (_, first_lines), (_, second_lines) = cells
        lines = [f"### {number}. {flag.first.name} and {flag.second.label}: score "
                 f"{flag.score:.2f}", "",
                 f"{flag.shared} shared fingerprints: {flag.shares[0]:.0%} of "
                 f"{flag.first.name}'s, {flag.shares[1]:.0%} of {flag.second.name}'s. "
                 f"Matching stretches (lines marked >): {flag.first.name} lines "
                 f"{_line_ranges(first_lines)}; {flag.second.name} lines "
                 f"{_line_ranges(second_lines)}.", ""]
    else:
        lines = [f"### {number}. {len(cells)} cells linked by {len(group)} pairs: "
                 f"{', '.join(party.label for party, _ in cells)}", "",
                 "A group this size can be one source passed around, or an answer there are "
                 "few ways to write. Lines marked > are in a stretch matching another cell "
                 "of the group.", "",
                 "| first | second | score | shares | shared fingerprints |",
                 "|---|---|---|---|---|",
                 *(f"| {f.first.name} | {f.second.label} | {f.score:.2f} | "
                   f"{f.shares[0]:.0%}, {f.shares[1]:.0%} | {f.shared} |" for f in group), ""]
    for party, matching in cells:
        lines += [f"**{party.label}**", "", *_numbered(party.source, matching), ""]
    return lines


def _markdown(report: SimilarityReport) -> str:
    from grader.registry import QUESTIONS

    lines = [
        "# Similar graded cells, for a person to review", "",
        "This report never changes a grade. It lists pairs of graded code cells whose "
        "normalised code (names, numbers and strings replaced by placeholders; comments, "
        "docstrings and layout removed; the code the release hands out left out) matches "
        "over long stretches, between two students or between a student and the kit's "
        "answer. Similar code can be innocent (a shared study group, a lecture example, an "
        "answer there are few ways to write): read both cells before drawing any conclusion. "
        "How the score is computed: docs/similarity.md.", "",
        f"Threshold {report.threshold:g}. Compared {report.students} students, "
        f"{report.cells} cells, {report.pairs} pairs; **{len(report.flags)} pair(s) "
        "flagged**.", ""]
    lines += [f"- Note: {note}" for note in report.notes]
    if report.notes:
        lines.append("")
    if not report.flags:
        lines.append("No pair reached the threshold.")
        return "\n".join(lines) + "\n"
    by_question: dict[str, list[Flag]] = {}
    for flag in report.flags:
        by_question.setdefault(flag.question, []).append(flag)
    grouped = {question: _groups(flags) for question, flags in by_question.items()}
    lines += ["| question | pairs flagged | groups of linked cells |", "|---|---|---|"]
    lines += [f"| {question} | {len(by_question[question])} | {len(groups)} |"
              for question, groups in grouped.items()]
    for question, groups in grouped.items():
        title = QUESTIONS[question].title if question in QUESTIONS else "graded cell"
        lines += ["", f"## {question}: {title} ({len(by_question[question])} pair(s))", ""]
        for number, group in enumerate(groups, start=1):
            lines += _group_markdown(number, group)
    return "\n".join(lines) + "\n"


def write_similarity(out: Path, *, threshold: float = THRESHOLD, only: str | None = None,
                     notebooks: Path = NOTEBOOKS, lock: bool = True) -> SimilarityReport:
    """Compare the graded cells saved in ``out`` and write ``similarity.csv`` and
    ``similarity.md`` there. Reads no grade and changes none.

    ``only`` is a comma-separated list of question ids (all when None). ``lock=False`` is
    for a caller that already holds ``out``'s lock (the grader, at the end of its run).

    Raises:
        ValueError: if ``out`` is not a results folder, ``threshold`` is not in (0, 1] or
            ``only`` names an unknown question.
        ResultsBusy: when ``lock`` and a grader is writing to ``out``.
    """
    out = Path(out)
    if not (out / STUDENTS).is_dir():
        raise ValueError(f"RESULTS {out}: no results folder (no {STUDENTS}/ in it)")
    if not 0 < threshold <= 1:
        raise ValueError(f"--threshold must be in (0, 1], got {threshold:g}")
    with results_lock(out) if lock else contextlib.nullcontext():
        cells, notes = load_graded_cells(out)
        try:
            kit = kit_answers()
        except Exception as error:  # the kit's source is absent from an installed grader
            kit = {}
            notes.append(f"the kit's answers could not be read ({type(error).__name__}: "
                         f"{error}); students were compared with each other only")
        wanted = {question.id for question in select(only)} if only else None
        report = find_similar(cells, stub_cells(notebooks), kit, threshold=threshold,
                              only=wanted)
        report.notes[:0] = notes
        atomic_write_text(out / CSV_NAME, _csv(report))
        atomic_write_text(out / MARKDOWN_NAME, _markdown(report))
    return report

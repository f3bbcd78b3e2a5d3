"""Similarity report throughput: all-pairs comparison of a large class.

    python benchmarks/similarity.py [--students 300] [--questions q1_2,q1_4,...] [--seed 0]

Builds a results folder of synthetic students: for each question each student hands in one
of the question's known cells (the solution notebook's, an alternative or a mutant, from
``grader/questions/<id>.py``) with every name it binds renamed at random, the layout
rewritten and a few statements added, then runs ``write_similarity`` on it as ``python -m grader similarity`` does
(every student against every other and against the kit's answers). Prints one table:
students, cells, pairs compared, pairs flagged, seconds, the process's peak resident memory
(and what it was before the comparison: the class and the imports) and the size of
similarity.md. Target: under 60 s for 300 students on a 2-core machine.

The class is a worst case: with a handful of known cells per question, dozens of students
share each one, so most pairs are scored in full instead of being cut at the first count.
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import random
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import nbformat  # noqa: E402

from grader.grade import peak_resident_mb  # noqa: E402
from grader.notebooks import find_cells  # noqa: E402
from grader.registry import module  # noqa: E402
from grader.similarity import write_similarity  # noqa: E402

QUESTIONS = "q1_1,q1_2,q1_4,q1_6,q1_9,q2_5,q3_1,q3_3"
WORDS = ("alpha", "beta", "gamma", "delta", "value", "temp", "acc", "res", "out", "buf",
         "node", "step", "item", "part", "vec", "mat", "tmp", "state", "cur", "prev")


def solution_cells() -> dict[str, str]:
    cells = {}
    for path in sorted((ROOT / "solutions").glob("*.ipynb")):
        for cell, found in find_cells({path.name: nbformat.read(path, as_version=4)}).items():
            if found["cell_type"] == "code":
                cells[cell] = found["source"]
    return cells


class _Renamer(ast.NodeTransformer):
    """Gives every name a cell binds (not its imports) a random new one, consistently."""

    def __init__(self, tree: ast.AST, rng: random.Random):
        bound = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
                bound.add(node.id)
            elif isinstance(node, ast.arg):
                bound.add(node.arg)
            elif isinstance(node, (ast.FunctionDef, ast.ClassDef)) and \
                    not node.name.startswith("__"):
                bound.add(node.name)
        self.new = {name: f"{rng.choice(WORDS)}_{rng.randrange(1000)}" for name in bound}

    def visit_Name(self, node):
        node.id = self.new.get(node.id, node.id)
        return node

    def visit_arg(self, node):
        node.arg = self.new.get(node.arg, node.arg)
        return self.generic_visit(node)

    def visit_FunctionDef(self, node):
        node.name = self.new.get(node.name, node.name)
        return self.generic_visit(node)

    visit_ClassDef = visit_FunctionDef


def disguised(source: str, rng: random.Random) -> str:
    """``source`` with its bound names renamed, its layout and comments rewritten, and one
    to three statements of the student's own inserted, so that no two cells are the same."""
    tree = ast.parse(source)
    tree = _Renamer(tree, rng).visit(tree)
    bodies = [node.body for node in ast.walk(tree) if isinstance(node, (
        ast.Module, ast.FunctionDef, ast.For, ast.If, ast.With))]
    for _ in range(rng.randint(1, 3)):
        body = rng.choice(bodies)
        extra = ast.parse(f"{rng.choice(WORDS)}_{rng.randrange(1000)} = "
                          f"{rng.choice(WORDS)}_{rng.randrange(1000)} * {rng.randrange(9)}")
        body.insert(rng.randrange(len(body) + 1), extra.body[0])
    return ast.unparse(ast.fix_missing_locations(tree))


def build_class(folder: Path, students: int, questions: list[str], seed: int) -> int:
    """Write ``students`` students' ``result.json`` and ``cells.json``; return the cells."""
    rng = random.Random(seed)
    solutions = solution_cells()
    pools = {}
    for qid in questions:
        question = module(qid)
        pools[qid] = [solutions[qid], *question.ALTERNATIVES.values(),
                      *question.MUTANTS.values()]
    cells = 0
    for index in range(students):
        student = f"student_{index:03d}"
        by_cell = {qid: f"# graded: {qid}\n" + disguised(rng.choice(pools[qid]), rng)
                   for qid in questions}
        cells += len(by_cell)
        (folder / "students" / student).mkdir(parents=True)
        (folder / "students" / student / "result.json").write_text(
            json.dumps({"student": student, "final": True, "questions": {}}))
        (folder / "students" / student / "cells.json").write_text(json.dumps(by_cell))
    return cells


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--students", type=int, default=300)
    parser.add_argument("--questions", default=QUESTIONS, help="comma-separated question ids")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    questions = [q.strip() for q in args.questions.split(",") if q.strip()]
    print(f"questions {','.join(questions)}, load average "
          f"{', '.join(f'{x:.2f}' for x in os.getloadavg())}")
    with tempfile.TemporaryDirectory(prefix="similarity-benchmark-") as folder:
        out = Path(folder)
        cells = build_class(out, args.students, questions, args.seed)
        resident_before = peak_resident_mb()
        started = time.perf_counter()
        report = write_similarity(out)
        seconds = time.perf_counter() - started
        markdown_mb = (out / "similarity.md").stat().st_size / 1e6
    print(f"{'students':>8s} {'cells':>6s} {'pairs compared':>15s} {'flagged':>8s} "
          f"{'seconds':>8s} {'peak resident MB':>17s} {'before the run':>15s} "
          f"{'similarity.md MB':>17s}")
    print(f"{args.students:8d} {cells:6d} {report.pairs:15d} {len(report.flags):8d} "
          f"{seconds:8.1f} {peak_resident_mb():17.0f} {resident_before:15.0f} "
          f"{markdown_mb:17.1f}")


if __name__ == "__main__":
    main()

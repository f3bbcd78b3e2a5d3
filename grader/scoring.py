"""Scoring in the grader's own process: compare probe arrays with references, explain.

Nothing here runs student code; the arrays come from :mod:`grader.sandbox` (decoded without
pickle), the references from ``grader/references/``.
"""

from __future__ import annotations

import ast

import numpy as np

from grader.registry import Check, Question

__all__ = ["compare", "forbidden_uses", "score_question"]


def _error_summary(actual, expected):
    difference = np.abs(actual - expected)
    scale = np.abs(expected)
    max_abs = float(np.max(difference)) if difference.size else 0.0
    relative = difference / np.where(scale > 0, scale, 1.0)
    max_rel = float(np.max(relative)) if relative.size else 0.0
    return max_abs, max_rel


def compare(check: Check, outputs: dict, reference: dict) -> dict:
    """Score one check; returns ``{"name", "points", "max", "passed", "message"}``."""
    result = {"name": check.name, "points": 0.0, "max": check.points, "passed": False}
    expected = reference.get(check.reference_key)
    if expected is None:
        result["message"] = "no reference recorded for this check (run `python -m grader record`)"
        return result
    if check.output not in outputs:
        result["message"] = "not computed (see the notes above)"
        return result
    actual = np.asarray(outputs[check.output])
    if check.kind == "accuracy":
        if actual.shape != expected.shape:
            result["message"] = f"shape mismatch: got {actual.shape}, expected {expected.shape}"
            return result
        accuracy = float(np.mean(actual == expected))
        result["passed"] = accuracy >= check.threshold
        result["message"] = f"held-out accuracy {accuracy:.3f} (needs {check.threshold:.2f})"
    elif check.kind == "distribution":
        if actual.shape != expected.shape or actual.sum() <= 0:
            result["message"] = f"shape mismatch: got {actual.shape}, expected {expected.shape}"
            return result
        distance = 0.5 * float(np.abs(actual / actual.sum() - expected).sum())
        result["passed"] = distance <= check.threshold
        result["message"] = (f"total variation distance {distance:.3f} between the draws and "
                             f"the formula (allowed {check.threshold:g})")
    elif actual.shape != expected.shape:
        result["message"] = f"shape mismatch: got {actual.shape}, expected {expected.shape}"
    elif check.kind == "equal":
        wrong = int(np.sum(actual != expected))
        result["passed"] = wrong == 0
        result["message"] = ("exact match" if wrong == 0
                             else f"{wrong} of {actual.size} entries differ")
    else:
        if not np.issubdtype(actual.dtype, np.number):
            result["message"] = f"expected numbers, got dtype {actual.dtype}"
            return result
        actual = actual.astype(np.float64)
        if not np.all(np.isfinite(actual)):
            result["message"] = f"{int(np.sum(~np.isfinite(actual)))} entries are NaN or infinite"
            return result
        max_abs, max_rel = _error_summary(actual, expected.astype(np.float64))
        result["passed"] = bool(np.allclose(actual, expected, rtol=check.rtol, atol=check.atol))
        result["message"] = (f"max absolute error {max_abs:.3g}, max relative error {max_rel:.3g} "
                             f"(tolerance atol {check.atol:g} + rtol {check.rtol:g})")
    if result["passed"]:
        result["points"] = float(check.points)
    return result


class _DottedNames(ast.NodeVisitor):
    """Full dotted names a source refers to, with ``import x as y`` aliases resolved."""

    def __init__(self):
        self.aliases, self.names = {}, set()

    def visit_Import(self, node):
        for alias in node.names:
            self.names.add(alias.name)
            self.aliases[alias.asname or alias.name.split(".")[0]] = (
                alias.name if alias.asname else alias.name.split(".")[0])

    def visit_ImportFrom(self, node):
        module = node.module or ""
        for alias in node.names:
            full = f"{module}.{alias.name}"
            self.names.add(full)
            self.aliases[alias.asname or alias.name] = full

    def visit_Attribute(self, node):
        parts, current = [], node
        while isinstance(current, ast.Attribute):
            parts.append(current.attr)
            current = current.value
        if isinstance(current, ast.Name) and current.id in self.aliases:
            self.names.add(".".join([self.aliases[current.id], *reversed(parts)]))
        self.generic_visit(node)

    def visit_Name(self, node):
        if node.id in self.aliases:
            self.names.add(self.aliases[node.id])


def forbidden_uses(source: str, forbidden) -> list[str]:
    """Dotted names in ``source`` that a forbidden prefix matches (``ast``, never executed)."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return []
    visitor = _DottedNames()
    visitor.visit(tree)
    return sorted(
        name for name in visitor.names
        if any(name == prefix or name.startswith(prefix + ".") for prefix in forbidden)
    )


def _matches(name, forbidden):
    return any(name == p or name.startswith(p + ".") for p in forbidden)


def score_question(question: Question, outcome, reference: dict, sources: list[str]) -> dict:
    """The result entry of one automatically checked question."""
    entry = {"checks": [], "notes": []}
    static = sorted({n for source in sources for n in forbidden_uses(source, question.forbidden)})
    imported = [n for n in (outcome.header.get("imports") or []) if _matches(n, question.forbidden)]
    classes = list(outcome.header.get("kit_classes") or [])
    if static or imported or classes:
        used = sorted(set(static) | set(imported)) + classes
        entry.update(status="forbidden", auto_score=0.0)
        entry["notes"].append(
            "this question asks for your own implementation, but the graded cells use "
            f"{', '.join(used)}; no credit for the automatic checks (write the computation "
            "from raw weights and keras.ops instead)")
        entry["checks"] = [dict(name=c.name, points=0.0, max=c.points, passed=False,
                                message="not scored: forbidden reuse") for c in question.checks]
        return entry
    if outcome.status != "ok":
        entry["status"] = outcome.status
        if outcome.status == "error":
            header = outcome.header
            where = header.get("where")
            entry["notes"].append(
                f"{header.get('error_type', 'Error')}: {header.get('error_message', '')}"
                + (f" (at {where})" if where else ""))
        else:
            entry["notes"].append(outcome.message)
        entry["checks"] = [dict(name=c.name, points=0.0, max=c.points, passed=False,
                                message=f"not run ({outcome.status})") for c in question.checks]
        entry["auto_score"] = 0.0
        return entry
    entry["notes"] += [str(note) for note in outcome.header.get("notes") or []]
    entry["checks"] = [compare(check, outcome.arrays, reference) for check in question.checks]
    entry["auto_score"] = float(sum(c["points"] for c in entry["checks"]))
    passed = sum(c["passed"] for c in entry["checks"])
    entry["status"] = ("passed" if passed == len(entry["checks"])
                       else "partial" if passed else "failed")
    return entry

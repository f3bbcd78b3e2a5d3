"""Scoring in the grader's own process: compare probe arrays with references, explain.

Nothing here runs student code; the arrays come from :mod:`grader.sandbox` (decoded without
pickle), the references from ``grader/references/``.
"""

from __future__ import annotations

import numpy as np

from grader import policy
from grader.registry import Check, Question

__all__ = ["compare", "score_question"]

# dtype kinds that are not real numbers or booleans: complex, object, text, bytes, void
# (structured arrays are void), datetimes.
_NOT_REAL = {
    "c": "complex-valued output: expected real numbers",
    "O": "object array output: expected an array of numbers",
    "U": "text output: expected numbers",
    "S": "bytes output: expected numbers",
    "V": "raw or structured output: expected a plain array of numbers",
    "M": "date-time output: expected numbers",
    "m": "time-delta output: expected numbers",
}


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
    if actual.dtype.kind in _NOT_REAL or actual.dtype.fields is not None:
        # never compare through a cast: float(1+2j) would silently drop the imaginary part
        kind = "V" if actual.dtype.fields is not None else actual.dtype.kind
        result["message"] = f"{_NOT_REAL[kind]} (got dtype {actual.dtype})"
        return result
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


def score_question(question: Question, outcome, reference: dict, sources: list[str]) -> dict:
    """The result entry of one automatically checked question.

    Whether the graded cells may score is decided here, in the grader's process, from their
    source (:func:`grader.policy.violations`). The student process's own report (the
    forbidden classes its probe found in the student's objects) may only ever take credit
    away, never give it: that process runs the student's code, so a clean report proves
    nothing.
    """
    entry = {"checks": [], "notes": []}
    reasons = policy.violations(sources, question.forbidden, names=question.code_cells)
    reported = [str(name) for name in outcome.header.get("kit_classes") or []]
    if reported and question.forbidden:
        reasons.append("the graded cells' objects are built on "
                       f"{', '.join(reported)}; {policy.OWN}")
    not_scored = [dict(name=c.name, points=0.0, max=c.points, passed=False,
                       message="not scored: see the notes") for c in question.checks]
    if reasons and outcome.status == "ok":
        entry.update(status="forbidden", auto_score=0.0, checks=not_scored)
        entry["notes"] += [f"no credit for the automatic checks: {r}" for r in reasons]
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
        # the run failed anyway: its own message comes first, the policy's after it
        entry["notes"] += [f"no credit for the automatic checks: {r}" for r in reasons]
        return entry
    entry["notes"] += [str(note) for note in outcome.header.get("notes") or []]
    entry["checks"] = [compare(check, outcome.arrays, reference) for check in question.checks]
    entry["auto_score"] = float(sum(c["points"] for c in entry["checks"]))
    passed = sum(c["passed"] for c in entry["checks"])
    entry["status"] = ("passed" if passed == len(entry["checks"])
                       else "partial" if passed else "failed")
    return entry

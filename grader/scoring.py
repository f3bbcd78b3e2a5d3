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


def relative_error(actual, expected) -> float:
    """The notebooks' error metric, :func:`course_kit.feedback.relative_error` (pure NumPy;
    imported here, on first use, so that loading the grader loads nothing of the kit)."""
    from course_kit.feedback import relative_error as metric

    return metric(actual, expected)


def _hint(qid, key):
    """The notebooks' hint ``key`` of question ``qid`` (``course_kit.feedback.HINTS``)."""
    if qid is None:
        return None
    from course_kit.feedback import HINTS

    return HINTS.get(qid, {}).get(key)


def _distance(actual, probabilities):
    return 0.5 * float(np.abs(actual / actual.sum() - probabilities).sum())


def _matches(check: Check, actual, expected) -> bool:
    """Whether ``actual`` passes ``check`` against ``expected`` (same shape, real numbers)."""
    if check.kind == "distribution":
        return _distance(actual, expected) <= check.threshold
    if check.kind in ("equal", "accuracy"):
        return bool(np.array_equal(actual, expected))
    return bool(np.allclose(actual, expected, rtol=check.rtol, atol=check.atol))


def _recognised_mistake(check: Check, actual, reference: dict) -> str | None:
    """The hint key of the first recorded mistake of ``check`` that ``actual`` matches."""
    for key, mutant in check.mistakes:
        mistaken = reference.get(f"{check.reference_key}@{mutant}")
        if mistaken is not None and mistaken.shape == actual.shape and \
                np.all(np.isfinite(actual)) and _matches(check, actual, mistaken):
            return key
    return None


def compare(check: Check, outputs: dict, reference: dict, qid: str | None = None) -> dict:
    """Score one check; returns ``{"name", "points", "max", "passed", "message"}``.

    With the question's id ``qid``, a failed check's message ends with the notebooks' hint
    for it (``course_kit.feedback.HINTS[qid]``): the hint of a recorded mistake the output
    matches (``check.mistakes``), else the hint for the check's output.
    """
    result = _compare(check, outputs, reference)
    if not result["passed"] and check.output in outputs:
        actual = np.asarray(outputs[check.output])
        key = check.output
        if actual.dtype.kind in "biuf" and actual.dtype.fields is None:
            key = _recognised_mistake(check, actual.astype(np.float64)
                                      if check.kind not in ("equal", "accuracy") else actual,
                                      reference) or key
            if key != check.output:
                result["message"] += "; this is a known mistake"
        hint = _hint(qid, key)
        if hint:
            result["message"] += f"; hint: {hint}"
    return result


def _compare(check: Check, outputs: dict, reference: dict) -> dict:
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
        distance = _distance(actual, expected)
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
    elif check.kind == "at_least":
        if not np.all(np.isfinite(actual.astype(np.float64))):
            result["message"] = f"{int(np.sum(~np.isfinite(actual)))} entries are NaN or infinite"
            return result
        short = int(np.sum(actual < expected))
        result["passed"] = short == 0
        result["message"] = (f"got {np.round(actual.astype(np.float64), 6).tolist()}, needs at "
                             f"least {expected.tolist()}" + ("" if short == 0 else
                                                             f": {short} below"))
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
        result["message"] = (f"relative error {relative_error(actual, expected):.2e} (as in the "
                             f"notebooks); max absolute error {max_abs:.3g}, max relative error "
                             f"{max_rel:.3g} per entry (tolerance atol {check.atol:g} + rtol "
                             f"{check.rtol:g})")
    if result["passed"]:
        result["points"] = float(check.points)
    return result


def _withdraw_unmet_requirements(question: Question, results: list[dict]) -> None:
    """Take the points of every passed check whose required checks did not pass, until no
    more change (a requirement withdrawn in one round can withdraw another in the next)."""
    names = {check.output: check.name for check in question.checks}
    while True:
        passed = {c.output for c, r in zip(question.checks, results) if r["passed"]}
        withdrawn = False
        for check, result in zip(question.checks, results):
            unmet = [names[output] for output in check.requires if output not in passed]
            if result["passed"] and unmet:
                result.update(points=0.0, passed=False,
                              message=f"{result['message']}; not scored: it counts only when "
                                      + " and ".join(f'"{name}"' for name in unmet)
                                      + (" passes" if len(unmet) == 1 else " pass"))
                withdrawn = True
        if not withdrawn:
            return


def score_question(question: Question, outcome, reference: dict, sources: list[str]) -> dict:
    """The result entry of one automatically checked question.

    Whether the graded cells may score is decided here, in the grader's process, from their
    source (:func:`grader.policy.violations`). The student process's own report (the
    forbidden classes its probe found in the student's objects) may only ever take credit
    away, never give it: that process runs the student's code, so a clean report proves
    nothing.
    """
    entry = {"checks": [], "notes": []}
    reasons = policy.violations(sources, question.policy_names, names=question.code_cells)
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
    entry["checks"] = [compare(check, outcome.arrays, reference, question.id)
                       for check in question.checks]
    _withdraw_unmet_requirements(question, entry["checks"])
    entry["auto_score"] = float(sum(c["points"] for c in entry["checks"]))
    passed = sum(c["passed"] for c in entry["checks"])
    entry["status"] = ("passed" if passed == len(entry["checks"])
                       else "partial" if passed else "failed")
    return entry

"""Scoring in the grader's process: comparisons, feedback, forbidden reuse, the wire format."""

import io
import pickle
import warnings

import numpy as np
import pytest

from grader import policy
from grader.protocol import FrameError, FrameReader, decode_arrays, encode_arrays, encode_frame
from grader.registry import QUESTIONS, Check, Question, select
from grader.sandbox import Outcome
from grader.scoring import compare, score_question

CHECK = Check("outputs", 3, "out", rtol=1e-4, atol=1e-6)


def test_compare_passes_within_tolerance_and_reports_errors():
    reference = {"out": np.array([1.0, 2.0, 3.0])}
    passed = compare(CHECK, {"out": np.array([1.0, 2.0, 3.0001])}, reference)
    assert passed["passed"] and passed["points"] == 3
    failed = compare(CHECK, {"out": np.array([1.0, 2.0, 3.1])}, reference)
    assert not failed["passed"] and failed["points"] == 0
    assert "max absolute error 0.1" in failed["message"]
    assert "max relative error 0.0333" in failed["message"]


def test_compare_names_shape_mismatch_nan_and_missing_output():
    reference = {"out": np.zeros((2, 3))}
    assert "shape mismatch: got (3, 2), expected (2, 3)" in compare(
        CHECK, {"out": np.zeros((3, 2))}, reference)["message"]
    nan = compare(CHECK, {"out": np.full((2, 3), np.nan)}, reference)
    assert not nan["passed"] and "6 entries are NaN or infinite" in nan["message"]
    assert "not computed" in compare(CHECK, {}, reference)["message"]


def test_accuracy_check_uses_labels_only_the_grader_has():
    check = Check("accuracy", 4, "predictions", kind="accuracy", reference="labels", threshold=0.9)
    labels = {"labels": np.arange(10) % 3}
    good = labels["labels"].copy()
    good[0] = 2
    assert compare(check, {"predictions": good}, labels)["passed"]
    assert not compare(check, {"predictions": np.zeros(10, int)}, labels)["passed"]


@pytest.mark.parametrize("kind", ["allclose", "equal", "accuracy", "distribution"])
@pytest.mark.parametrize("value, message", [
    (np.array([1.0 + 0j, 2.0, 3.0]), "complex-valued output: expected real numbers"),
    (np.array([1.0, 2.0, 3.0 + 1e-30j]), "complex-valued output: expected real numbers"),
    (np.array([1.0, 2.0, 3.0], dtype=object), "object array output"),
    (np.array(["1", "2", "3"]), "text output"),
    (np.array([b"1", b"2", b"3"]), "bytes output"),
    (np.zeros(3, dtype=[("a", "f8")]), "structured output"),
    (np.zeros(3, dtype="V8"), "raw or structured output"),
])
def test_compare_refuses_arrays_that_are_not_real_numbers(kind, value, message):
    check = Check("out", 2, "out", kind=kind, threshold=0.5)
    reference = {"out": np.array([1.0, 2.0, 3.0]) if kind != "distribution"
                 else np.array([0.2, 0.3, 0.5])}
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a ComplexWarning would mean a silent cast
        result = compare(check, {"out": value}, reference)
    assert not result["passed"] and result["points"] == 0
    assert message in result["message"] and str(value.dtype) in result["message"]


def test_compare_still_accepts_booleans_integers_and_floats():
    reference = {"out": np.array([1, 0, 1])}
    equal = Check("out", 1, "out", kind="equal")
    for value in (np.array([True, False, True]), np.array([1, 0, 1], np.int8),
                  np.array([1.0, 0.0, 1.0], np.float32)):
        assert compare(equal, {"out": value}, reference)["passed"], value.dtype


OK_HEADER = {"kit_classes": []}


def test_score_question_refuses_forbidden_reuse_from_the_source_alone():
    """A clean report from the student process gives no credit: the source decides."""
    question = QUESTIONS["q1_2"]
    for source in ("from course_kit.layers import VanillaRNNCell\n",
                   "import importlib\nm = importlib.import_module('course_kit.' + 'layers')\n",
                   "exec(open('cell.py').read())\n"):
        entry = score_question(question, Outcome("q1_2", "ok", header=dict(OK_HEADER)), {},
                               [source])
        assert entry["status"] == "forbidden" and entry["auto_score"] == 0, source
        assert all(not c["passed"] and c["points"] == 0 for c in entry["checks"])
        assert entry["notes"][0].startswith("no credit for the automatic checks: the graded "
                                            "cells "), entry["notes"]
    (note,) = score_question(question, Outcome("q1_2", "ok", header=OK_HEADER), {},
                             ["from keras.layers import SimpleRNNCell\n"])["notes"]
    assert "import `keras.layers.SimpleRNNCell` (cell q1_2, line 1)" in note
    assert "your own implementation from raw weights and keras.ops" in note


def test_the_student_process_report_only_takes_credit_away():
    question = QUESTIONS["q1_2"]
    arrays = {"weight_shapes": np.array([1]), "outputs": np.zeros(2), "gradients": np.zeros(2)}
    reference = dict(arrays)
    honest = score_question(question, Outcome("q1_2", "ok", arrays=arrays, header=OK_HEADER),
                            reference, ["x = 1"])
    assert honest["status"] == "passed" and honest["auto_score"] == question.auto_points
    header = {"kit_classes": ["course_kit.layers.recurrent.VanillaRNNCell "
                              "(from course_kit.layers)"]}
    reported = score_question(question, Outcome("q1_2", "ok", arrays=arrays, header=header),
                              reference, ["x = 1"])
    assert reported["status"] == "forbidden" and reported["auto_score"] == 0
    assert "VanillaRNNCell (from course_kit.layers)" in reported["notes"][0]
    # a question without a forbidden list has nothing to take away
    free = Question("q9_9", "no forbidden list", 1, "free.ipynb",
                    checks=(Check("counts", 3, "counts", kind="equal"),))
    counts = {"counts": np.array([1, 2])}
    assert score_question(free, Outcome("q9_9", "ok", arrays=counts, header=header), counts,
                          ["from course_kit.layers import LSTMCell"])["status"] == "passed"


def test_score_question_explains_errors_before_forbidden_reuse():
    question = QUESTIONS["q1_2"]
    error = score_question(question, Outcome("q1_2", "error", header={
        "error_type": "ZeroDivisionError", "error_message": "division by zero",
        "where": "cell q1_2, line 3: 1 / 0"}), {}, ["x = 1"])
    assert error["notes"] == ["ZeroDivisionError: division by zero (at cell q1_2, line 3: 1 / 0)"]
    timeout = score_question(question, Outcome("q1_2", "timeout", message="timed out after 5 s"),
                             {}, ["x = 1"])
    assert timeout["status"] == "timeout" and "timed out" in timeout["notes"][0]
    both = score_question(question, Outcome("q1_2", "error", header={
        "error_type": "SystemExit", "error_message": "0"}), {}, ["import sys\nsys.exit(0)\n"])
    assert both["status"] == "error" and both["auto_score"] == 0
    assert both["notes"][0].startswith("SystemExit")
    assert "`sys.exit` (cell q1_2, line 2)" in both["notes"][1]


def test_policy_reads_the_text_the_student_process_compiles():
    from grader.probes import strip_magics

    source = "%matplotlib inline\n  !pip install x\nimport keras\n%time exec('x')\ny = '%s'\n"
    assert policy.strip_magics(source) == strip_magics(source)


def test_frames_round_trip_and_reject_garbage_and_pickles():
    frame = encode_frame({"kind": "result", "qid": "q1_2", "status": "ok"},
                         encode_arrays({"a": np.arange(3)}))
    reader = FrameReader()
    assert reader.feed(frame[:5]) == []
    (header, payload), = reader.feed(frame[5:])
    assert header["qid"] == "q1_2" and decode_arrays(payload)["a"].tolist() == [0, 1, 2]
    with pytest.raises(FrameError, match="frame marker"):
        FrameReader().feed(b"{'score': 100}" * 2)
    buffer = io.BytesIO()
    np.savez(buffer, a=np.array([object()], dtype=object))
    with pytest.raises(FrameError):  # object arrays are refused (tests/test_grader_protocol.py)
        decode_arrays(buffer.getvalue())
    with pytest.raises(FrameError):
        decode_arrays(pickle.dumps({"a": 1}))


def test_registry_covers_every_curriculum_question():
    ids = [f"q1_{n}" for n in range(1, 10)] + [f"q2_{n}" for n in range(1, 6)] + [
        f"q3_{n}" for n in range(1, 6)]
    assert list(QUESTIONS) == ids
    for question in QUESTIONS.values():
        assert question.points > 0, question.id
        assert question.checks or question.rubric, question.id
    with pytest.raises(ValueError, match="unknown question id.*q9_9"):
        select("q1_2,q9_9")

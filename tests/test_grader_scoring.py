"""Scoring in the grader's process: comparisons, feedback, forbidden reuse, the wire format."""

import io
import pickle

import numpy as np
import pytest

from grader.protocol import FrameError, FrameReader, decode_arrays, encode_arrays, encode_frame
from grader.registry import QUESTIONS, Check, select
from grader.sandbox import Outcome
from grader.scoring import compare, forbidden_uses, score_question

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


def test_forbidden_uses_resolves_aliases():
    prefixes = ("course_kit.layers", "keras.layers.LSTMCell")
    source = """
import course_kit.layers as kit
from keras import layers as L
import keras
x = kit.LSTMCell(3)
y = L.LSTMCell(3)
z = keras.layers.Dense(3)
"""
    assert forbidden_uses(source, prefixes) == ["course_kit.layers", "course_kit.layers.LSTMCell",
                                                "keras.layers.LSTMCell"]
    assert forbidden_uses("from keras import ops\nops.tanh(1)", prefixes) == []
    assert forbidden_uses("def broken(:", prefixes) == []


def test_score_question_explains_forbidden_reuse_and_errors():
    question = QUESTIONS["q1_2"]
    header = {"kit_classes": ["X (from course_kit.layers)"]}
    reuse = score_question(question, Outcome("q1_2", "ok", header=header), {}, ["x = 1"])
    assert reuse["status"] == "forbidden" and reuse["auto_score"] == 0
    assert "your own implementation" in reuse["notes"][0]
    error = score_question(question, Outcome("q1_2", "error", header={
        "error_type": "ZeroDivisionError", "error_message": "division by zero",
        "where": "cell q1_2, line 3: 1 / 0"}), {}, ["x = 1"])
    assert error["notes"] == ["ZeroDivisionError: division by zero (at cell q1_2, line 3: 1 / 0)"]
    timeout = score_question(question, Outcome("q1_2", "timeout", message="timed out after 5 s"),
                             {}, ["x = 1"])
    assert timeout["status"] == "timeout" and "timed out" in timeout["notes"][0]


def test_frames_round_trip_and_reject_garbage_and_pickles():
    frame = encode_frame({"kind": "result", "qid": "q1_2"}, encode_arrays({"a": np.arange(3)}))
    reader = FrameReader()
    assert reader.feed(frame[:5]) == []
    (header, payload), = reader.feed(frame[5:])
    assert header["qid"] == "q1_2" and decode_arrays(payload)["a"].tolist() == [0, 1, 2]
    with pytest.raises(FrameError, match="frame marker"):
        FrameReader().feed(b"{'score': 100}" * 2)
    buffer = io.BytesIO()
    np.savez(buffer, a=np.array([object()], dtype=object))
    with pytest.raises(FrameError, match="unreadable array payload"):
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

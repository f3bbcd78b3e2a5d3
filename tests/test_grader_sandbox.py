"""Grading the reference solution end to end on this backend (and on a GPU where present)."""

import os
import shutil
from pathlib import Path

import pytest

from grader.grade import grade
from grader.registry import QUESTIONS

SAMPLES = Path(__file__).resolve().parents[1] / "grader" / "sample_submissions"
# Training questions take minutes on some backends; their grading path (the student's model
# predicts held-out inputs, the grader scores them against labels it keeps) is the same on
# every backend, so they are graded once, on TensorFlow, where training is fastest.
TRAINING = ",".join(q.id for q in QUESTIONS.values() if q.automatic and q.time_factor > 1)
AUTOMATIC = ",".join(q.id for q in QUESTIONS.values() if q.automatic and q.time_factor == 1)


def gpu_available(backend):
    if backend == "tensorflow":
        import tensorflow as tf

        return bool(tf.config.list_physical_devices("GPU"))
    if backend == "jax":
        import jax

        return any(d.platform == "gpu" for d in jax.devices())
    import torch

    return torch.cuda.is_available()


def grade_reference(tmp_path, device, only=AUTOMATIC):
    submissions = tmp_path / "submissions"
    shutil.copytree(SAMPLES / "reference_solution", submissions / "reference_solution")
    (result,) = grade(submissions, tmp_path / "results", device=device, only=only,
                      timeout=120, progress=False, print_summary=False)
    return result


def assert_full_marks(result):
    for qid, entry in result["questions"].items():
        assert entry["auto_score"] == entry["auto_max"], (qid, entry["notes"], entry["checks"])


def test_reference_solution_gets_full_marks_on_cpu(tmp_path, backend):
    result = grade_reference(tmp_path, "cpu")
    assert result["device"] == "cpu" and result["backend"] == backend
    assert_full_marks(result)


@pytest.mark.skipif(os.environ.get("KERAS_BACKEND", "tensorflow") != "tensorflow",
                    reason="training questions are graded once, on TensorFlow (see TRAINING)")
def test_training_question_scores_the_reference(tmp_path):
    result = grade_reference(tmp_path, "cpu", only=TRAINING)
    assert set(result["questions"]) == set(TRAINING.split(","))
    assert_full_marks(result)


@pytest.mark.gpu
def test_reference_solution_gets_full_marks_on_gpu(tmp_path, backend):
    if not gpu_available(backend):
        pytest.skip(f"no GPU visible to the {backend} backend on this machine")
    result = grade_reference(tmp_path, "gpu")
    assert result["device"].startswith("gpu:")
    assert_full_marks(result)


COUNT = "def count_parameters(d, n, c):\n    return 4 * (d * n + n * n + n) + n * c + c\n"


def count_task(source, timeout=60.0):
    from grader import references
    from grader.sandbox import Task

    inputs, _ = references.load("q1_5")
    return Task("q1_5", "parameter_count", [{"id": "q1_5", "source": source}], inputs,
                timeout=timeout)


@pytest.mark.backend_independent
def test_a_backend_that_cannot_start_is_a_grader_error_not_a_grade():
    from grader.sandbox import SetupError, preflight, run_tasks

    outcomes = run_tasks([count_task(COUNT)] * 2, {}, backend="jaxx", device="cpu")
    assert [o.status for o in outcomes] == ["grader-error", "grader-error"]
    assert "before any student code ran" in outcomes[0].message
    with pytest.raises(SetupError, match="unknown Keras backend 'jaxx'"):
        preflight(backend="jaxx")


@pytest.mark.backend_independent
def test_frames_out_of_turn_void_the_question_that_sent_them(backend):
    """A second result, or data sent after the result by a thread the question left behind,
    costs that question; the next question still runs in a fresh child."""
    from grader.sandbox import run_tasks

    forge = COUNT + (
        "import os, threading, time\n"
        "from protocol import encode_frame\n"
        "def later():\n"
        "    time.sleep(0.5)\n"
        "    frame = encode_frame({'kind': 'result', 'qid': 'q1_5', 'status': 'ok'})\n"
        "    for fd in range(3, 64):\n"
        "        try:\n"
        "            os.write(fd, frame)\n"
        "        except OSError:\n"
        "            pass\n"
        "threading.Thread(target=later, daemon=True).start()\n"
        "time.sleep(1)\n"
    )
    outcomes = run_tasks([count_task(forge), count_task(COUNT)], {}, backend=backend,
                         device="cpu")
    assert [o.status for o in outcomes] == ["crashed", "ok"], [o.message for o in outcomes]
    assert "forged or extra data" in outcomes[0].message or "malformed" in outcomes[0].message


@pytest.mark.backend_independent
def test_a_thread_left_behind_cannot_forge_the_next_questions_result(backend):
    """A thread that floods forged results keeps running after its question; the child
    then ends, and the next question runs, honestly, in a fresh one. (The source policy would
    refuse this cell; run_tasks alone does not apply it.)"""
    from grader.sandbox import run_tasks

    flood = COUNT + (
        "import os, threading, time\n"
        "from protocol import encode_frame\n"
        "def flood():\n"
        "    frame = encode_frame({'kind': 'result', 'qid': 'q1_5', 'status': 'ok'})\n"
        "    while True:\n"
        "        for fd in range(3, 64):\n"
        "            try:\n"
        "                os.write(fd, frame)\n"
        "            except OSError:\n"
        "                pass\n"
        "        time.sleep(0.01)\n"
        "threading.Thread(target=flood, daemon=True).start()\n"
    )
    outcomes = run_tasks([count_task(flood), count_task(COUNT)], {}, backend=backend,
                         device="cpu")
    # The first question keeps its own result if that came first, else it is void.
    first, second = outcomes
    assert (first.status, "counts" in first.arrays) in (("ok", True), ("crashed", False))
    assert second.status == "ok" and "counts" in second.arrays


@pytest.mark.backend_independent
def test_the_child_refuses_to_build_a_forbidden_class_from_a_configuration(backend):
    from grader import references
    from grader.registry import QUESTIONS
    from grader.sandbox import Task, run_tasks

    smuggle = (
        "import keras\n"
        "config = {'module': 'keras.layers', 'class_name': 'SimpleRNNCell',\n"
        "          'config': {'units': 4}, 'registered_name': None}\n"
        "engine = keras.layers.Activation(config).activation\n"
    )
    question = QUESTIONS["q1_2"]
    inputs, _ = references.load("q1_2")
    task = Task("q1_2", question.probe, [{"id": "q1_2", "source": smuggle}], inputs,
                question.forbidden)
    (outcome,) = run_tasks([task], {}, backend=backend, device="cpu")
    assert outcome.status == "error"
    assert "building keras.layers.SimpleRNNCell from a configuration" in \
        outcome.header["error_message"]


def test_torch_gets_one_thread_and_the_others_their_share():
    from grader.sandbox import _environment

    inside = {"scratch": "/scratch", "tmp": "/tmp"}
    assert _environment(inside, "torch", "cpu", 4)["OMP_NUM_THREADS"] == "1"
    assert _environment(inside, "torch", "auto", 4)["MKL_NUM_THREADS"] == "1"
    assert _environment(inside, "jax", "cpu", 4)["OMP_NUM_THREADS"] == "4"
    assert _environment(inside, "tensorflow", "cpu", 4)["TF_NUM_INTRAOP_THREADS"] == "4"

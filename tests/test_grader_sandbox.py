"""Grading the reference solution end to end on this backend (and on a GPU where present)."""

import shutil
from pathlib import Path

import pytest

from grader.grade import grade
from grader.registry import QUESTIONS

SAMPLES = Path(__file__).resolve().parents[1] / "grader" / "sample_submissions"
AUTOMATIC = ",".join(q.id for q in QUESTIONS.values() if q.automatic)


def gpu_available(backend):
    if backend == "tensorflow":
        import tensorflow as tf

        return bool(tf.config.list_physical_devices("GPU"))
    if backend == "jax":
        import jax

        return any(d.platform == "gpu" for d in jax.devices())
    import torch

    return torch.cuda.is_available()


def grade_reference(tmp_path, device):
    submissions = tmp_path / "submissions"
    shutil.copytree(SAMPLES / "reference_solution", submissions / "reference_solution")
    (result,) = grade(submissions, tmp_path / "results", device=device, only=AUTOMATIC,
                      timeout=120, progress=False, print_summary=False)
    return result


def assert_full_marks(result):
    for qid, entry in result["questions"].items():
        assert entry["auto_score"] == entry["auto_max"], (qid, entry["notes"], entry["checks"])


def test_reference_solution_gets_full_marks_on_cpu(tmp_path, backend):
    result = grade_reference(tmp_path, "cpu")
    assert result["device"] == "cpu" and result["backend"] == backend
    assert_full_marks(result)


@pytest.mark.gpu
def test_reference_solution_gets_full_marks_on_gpu(tmp_path, backend):
    if not gpu_available(backend):
        pytest.skip(f"no GPU visible to the {backend} backend on this machine")
    result = grade_reference(tmp_path, "gpu")
    assert result["device"].startswith("gpu:")
    assert_full_marks(result)

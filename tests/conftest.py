"""Shared test setup: quiet TensorFlow, let Spektral's legacy tf.keras live beside Keras 3."""

import os

# Both must be set before TensorFlow is first imported (Keras imports it on the TF backend).
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

BACKEND = keras.backend.backend()

if BACKEND == "torch":
    import torch

    # The test models are tiny: spreading each op over threads costs more than it gains.
    torch.set_num_threads(1)


@pytest.fixture
def backend():
    """The Keras backend this test session runs on (set by ``KERAS_BACKEND``)."""
    return BACKEND


@pytest.fixture
def rng():
    return np.random.default_rng(1234)


# CI runs the suite once per backend; tests marked ``backend_independent`` need to run only
# once, in the run whose backend is COURSE_KIT_PRIMARY_BACKEND (unset: every run).
PRIMARY_BACKEND = os.environ.get("COURSE_KIT_PRIMARY_BACKEND", BACKEND)


def pytest_collection_modifyitems(config, items):
    if PRIMARY_BACKEND == BACKEND:
        return
    skip = pytest.mark.skip(
        reason=f"backend-independent: runs in the {PRIMARY_BACKEND} run (COURSE_KIT_PRIMARY_BACKEND)"
    )
    for item in items:
        if "backend_independent" in item.keywords:
            item.add_marker(skip)


# Mutation tables of tests/test_grader_mutants.py, printed at the end of the run.
MUTATION_TABLES = pytest.StashKey[list]()


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    for table in config.stash.get(MUTATION_TABLES, []):
        terminalreporter.write_sep("-", "mutation table")
        terminalreporter.write_line(table)


def pytest_report_header(config):
    return f"keras {keras.__version__}, backend {BACKEND}, primary backend {PRIMARY_BACKEND}"

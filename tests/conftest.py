"""Shared test setup: quiet TensorFlow, let Spektral's legacy tf.keras live beside Keras 3."""

import os

# Both must be set before TensorFlow is first imported (Keras imports it on the TF backend).
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

BACKEND = keras.backend.backend()


@pytest.fixture
def backend():
    """The Keras backend this test session runs on (set by ``KERAS_BACKEND``)."""
    return BACKEND


@pytest.fixture
def rng():
    return np.random.default_rng(1234)


def pytest_report_header(config):
    return f"keras {keras.__version__}, backend {BACKEND}"

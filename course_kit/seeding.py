"""Seeding that never imports TensorFlow on the JAX or PyTorch backend.

``keras.utils.set_random_seed`` also seeds TensorFlow whenever it is installed, for the sake of
``tf.data`` pipelines. The kit uses none, and importing TensorFlow on a JAX or PyTorch run
costs seconds and prints its oneDNN, CUDA and absl log lines into the student's notebook.
"""

import random

import keras
import numpy as np

# Private to Keras, but the only way to reset its global seed generator as
# ``keras.utils.set_random_seed`` does, without that function's TensorFlow import.
from keras.src.backend.common import global_state
from keras.src.random import seed_generator
from keras.src.utils import rng_utils

# Keras 3.13 named the key of its global seed generator; earlier versions (the last for Python
# 3.10 is 3.12) used the same string unnamed.
_GLOBAL_SEED_GENERATOR = getattr(seed_generator, "GLOBAL_SEED_GENERATOR", "global_seed_generator")


def set_random_seed(seed):
    """Seed Python, NumPy, Keras' global seed generator and the backend, like
    ``keras.utils.set_random_seed``, but import TensorFlow only on the TensorFlow backend.

    Args:
        seed: a non-negative integer.

    Example:
        >>> from course_kit import set_random_seed
        >>> set_random_seed(0)
        >>> import numpy as np
        >>> float(np.random.rand()) == float(np.random.RandomState(0).rand())
        True
    """
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise ValueError(f"set_random_seed: seed must be an integer, got {seed!r}")
    seed = int(seed)
    backend = keras.backend.backend()
    if backend == "tensorflow":
        keras.utils.set_random_seed(seed)
        return
    global_state.set_global_attribute(rng_utils.GLOBAL_RANDOM_SEED, seed)
    global_state.set_global_attribute(_GLOBAL_SEED_GENERATOR, None)
    random.seed(seed)
    np.random.seed(seed)
    if backend == "torch":
        import torch

        torch.manual_seed(seed)

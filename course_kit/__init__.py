"""course_kit: the library behind the recurrent and graph neural network notebooks.

Submodules are imported on first use, so ``import course_kit`` stays light; only Keras
(and through it the chosen backend) is loaded by the modules that need it.
"""

import importlib

from course_kit._edition import EDITION
from course_kit._tensorflow_logs import quiet_tensorflow

# Before anything imports Keras: on the TensorFlow backend, Keras imports TensorFlow.
quiet_tensorflow()

__version__ = "0.1.0"

_SUBMODULES = (
    "autodiff",
    "checks",
    "data",
    "layers",
    "models",
    "plots",
    "sampling",
    "training",
)


def __getattr__(name):
    if name == "set_random_seed":
        from course_kit.seeding import set_random_seed

        return set_random_seed
    if name in _SUBMODULES:
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["EDITION", "__version__", "set_random_seed", *_SUBMODULES]

"""Recorded references: fixed inputs and the kit's outputs on them, in ``grader/references/``.

``python -m grader record`` computes, for every automatically checked question, seeded inputs
and the expected arrays by calling its module's ``record()`` (``grader/questions/<id>.py``),
which runs the question's probe on the kit's reference implementation, with Keras' ``floatx``
set to float64. Each question is one ``.npz`` file; keys ``input.NAME`` go to the student
process, keys ``expected.NAME`` never leave the grader. ``expected.OUTPUT@MUTANT`` is what
the mutant ``MUTANT`` of the question's ``MUTANTS`` outputs: a common mistake the grader
recognises (see :class:`grader.registry.Check`).

The helpers below (:func:`weights`, :func:`run_cells`) are for the modules' ``record()``.
"""

from __future__ import annotations

import io
from contextlib import contextmanager
from pathlib import Path

import numpy as np

__all__ = ["REFERENCE_DIR", "compute", "graph_inputs", "load", "record", "recordable", "run_cells",
           "weights"]

REFERENCE_DIR = Path(__file__).resolve().parent / "references"
INPUT, EXPECTED = "input.", "expected."


@contextmanager
def float64():
    """Keras' floatx float64 inside the block (exact on TensorFlow; see ``record``)."""
    import keras

    previous_floatx, previous_policy = keras.config.floatx(), keras.config.dtype_policy()
    # The global dtype policy is fixed from floatx once any layer exists: set both.
    keras.config.set_floatx("float64")
    keras.config.set_dtype_policy("float64")
    try:
        yield
    finally:
        keras.config.set_floatx(previous_floatx)
        keras.config.set_dtype_policy(previous_policy)


def weights(rng, shapes, scale=0.5):
    """Inputs ``w_<name>``: normal weights of standard deviation ``scale``, one per shape."""
    return {f"w_{name}": rng.normal(0.0, scale, size=shape) for name, shape in shapes.items()}


def vanilla_rnn_inputs(rng, batch, steps, input_dim, units, classes):
    """Inputs of a question on the vanilla RNN's loss (q1_1, q1_7): sequences ``x`` of shape
    ``(batch, steps, input_dim)``, labels ``y`` and the weights of a cell of ``units`` with a
    readout to ``classes``."""
    return {"x": rng.normal(size=(batch, steps, input_dim)),
            "y": rng.integers(0, classes, size=batch),
            **weights(rng, {"W_hx": (input_dim, units), "W_hh": (units, units), "b_h": (units,),
                            "W_ph": (units, classes), "b_p": (classes,)})}


def graph_inputs(rng, shapes):
    """Inputs of a graph-layer question on the fall 2019 example graph (6 nodes): its dense
    ``adjacency`` and ``edge_index`` (row 0 sources, row 1 targets), ``features`` ``(6, 4)``,
    ``channels`` 3, a ``readout`` ``(6, 3)`` and the weights ``shapes``."""
    import networkx as nx

    from course_kit.data import example_graph

    adjacency = nx.to_numpy_array(example_graph("fall2019"), dtype=np.float64)
    return {"features": rng.normal(size=(6, 4)), "adjacency": adjacency,
            "edge_index": np.stack(np.nonzero(adjacency.T)).astype(np.int64),
            "channels": np.array(3), "readout": rng.normal(size=(6, 3)),
            **weights(rng, shapes)}


def run_cells(probe, sources, inputs):
    """The outputs of the question's ``probe`` on cells ``sources`` (executed in order in one
    fresh namespace, as the student process does) and ``inputs``: how a module records what
    one of its mutants outputs. Trusted code only: it runs in the grader's process."""
    from grader import probes

    namespace = {"__name__": "__main__"}
    for source in sources:
        exec(compile(probes.strip_magics(source), "<recorded cell>", "exec"), namespace)
    return probe(namespace, probes.Context(inputs))


def compute(qid: str) -> tuple[dict, dict]:
    """``(inputs, expected)`` for question ``qid``, computed now by its module's ``record()``.

    Raises:
        ValueError: if ``qid`` has no automatic checks.
    """
    from grader.registry import QUESTIONS, module

    question = QUESTIONS.get(qid)
    if question is None or not question.automatic:
        raise ValueError(f"question {qid!r} has no automatic checks to record")
    with float64():
        inputs, expected = module(qid).record()
    return ({k: np.asarray(v) for k, v in inputs.items()},
            {k: np.asarray(v) for k, v in expected.items()})


def recordable() -> list[str]:
    from grader.registry import QUESTIONS

    return [q.id for q in QUESTIONS.values() if q.automatic]


def _npz_bytes(inputs, expected) -> bytes:
    buffer = io.BytesIO()
    arrays = {INPUT + k: v for k, v in inputs.items()}
    arrays.update({EXPECTED + k: v for k, v in expected.items()})
    np.savez_compressed(buffer, **dict(sorted(arrays.items())))
    return buffer.getvalue()


def record(qids=None, directory: Path = REFERENCE_DIR) -> list[Path]:
    """Compute and store the references of ``qids`` (all automatic questions by default).

    Record on the TensorFlow backend: there the kit's layers compute in float64 throughout,
    while JAX (without ``jax_enable_x64``) and, for some operations, PyTorch fall back to
    float32 (differences of about 1e-7, far inside the students' tolerances).
    """
    from grader.files import atomic_write_bytes

    written = []
    for qid in qids or recordable():
        inputs, expected = compute(qid)
        path = Path(directory) / f"{qid}.npz"
        atomic_write_bytes(path, _npz_bytes(inputs, expected))
        written.append(path)
    return written


def load(qid: str, directory: Path = REFERENCE_DIR) -> tuple[dict, dict]:
    """``(inputs, expected)`` of ``qid`` as recorded.

    Raises:
        FileNotFoundError: naming the missing file and the command that makes it.
    """
    path = Path(directory) / f"{qid}.npz"
    if not path.is_file():
        raise FileNotFoundError(f"no reference for {qid} at {path}; run `python -m grader record`")
    with np.load(path, allow_pickle=False) as archive:
        inputs = {k[len(INPUT):]: archive[k] for k in archive.files if k.startswith(INPUT)}
        expected = {k[len(EXPECTED):]: archive[k] for k in archive.files if k.startswith(EXPECTED)}
    return inputs, expected

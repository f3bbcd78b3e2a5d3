"""Recorded references: fixed inputs and the kit's outputs on them, in ``grader/references/``,
and the public fixtures of the notebooks' visible checks, in ``course_kit/checks/fixtures/``.

``python -m grader record`` computes, for every automatically checked question, seeded inputs
and the expected arrays by calling its module's ``record()`` (``grader/questions/<id>.py``),
which runs the question's probe on the kit's reference implementation, with Keras' ``floatx``
set to float64. Each question is one ``.npz`` file; keys ``input.NAME`` go to the student
process, keys ``expected.NAME`` never leave the grader. ``expected.OUTPUT@MUTANT`` is what
the mutant ``MUTANT`` of the question's ``MUTANTS`` outputs: a common mistake the grader
recognises (see :class:`grader.registry.Check`).

``python -m grader record --public`` runs the same recorders with ``record(public=True)``:
other seeds (:func:`seeded`) and, where the contract allows, other sizes. Those files, in the
same format, ship inside the kit for :mod:`course_kit.checks`, which compare a student's code
with them: a submission that replays them meets other inputs in the grader. A module whose
``record`` takes no ``public`` argument has no public fixture (q1_3 and q1_8, whose visible
check is the accuracy a notebook measures).

The helpers below (:func:`weights`, :func:`run_cells`, ...) are for the modules' ``record()``.
"""

from __future__ import annotations

import inspect
import io
from contextlib import contextmanager
from pathlib import Path

import numpy as np

__all__ = ["GRAPH_SIZES", "PUBLIC_DIR", "REFERENCE_DIR", "cell_sizes", "compute", "graph_inputs",
           "load", "public_recordable", "record", "recordable", "run_cells", "seeded", "weights"]

REFERENCE_DIR = Path(__file__).resolve().parent / "references"
PUBLIC_DIR = Path(__file__).resolve().parent.parent / "course_kit" / "checks" / "fixtures"
INPUT, EXPECTED = "input.", "expected."
# A public fixture's seed is its hidden reference's seed plus this.
PUBLIC_SEED_OFFSET = 1000
#: (example graph, features per node, channels) of a graph question's inputs, hidden and public.
GRAPH_SIZES = {False: ("fall2019", 4, 3), True: ("2020", 5, 2)}


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


def seeded(seed, public=False):
    """The random generator of a ``record``: seed ``seed`` for the hidden reference, another
    one for the public fixture."""
    return np.random.default_rng(seed + PUBLIC_SEED_OFFSET if public else seed)


def cell_sizes(public=False):
    """Keyword arguments of ``grader.probes.cell_inputs``: its defaults (3 inputs, 4 units,
    2 sequences of 5 steps) for the hidden reference, other sizes for the public fixture."""
    return {"input_dim": 2, "units": 3, "batch": 3, "steps": 4} if public else {}


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


def graph_inputs(rng, shapes, graph="fall2019", num_features=4, channels=3):
    """Inputs of a graph-layer question on the example graph ``graph`` (N = 6 nodes): its dense
    ``adjacency`` and ``edge_index`` (row 0 sources, row 1 targets), ``features`` ``(N,
    num_features)``, ``channels``, a ``readout`` ``(N, channels)`` and the weights ``shapes``
    (see :data:`GRAPH_SIZES`)."""
    import networkx as nx

    from course_kit.data import example_graph

    adjacency = nx.to_numpy_array(example_graph(graph), dtype=np.float64)
    return {"features": rng.normal(size=(len(adjacency), num_features)), "adjacency": adjacency,
            "edge_index": np.stack(np.nonzero(adjacency.T)).astype(np.int64),
            "channels": np.array(channels), "readout": rng.normal(size=(len(adjacency), channels)),
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


def compute(qid: str, public: bool = False) -> tuple[dict, dict]:
    """``(inputs, expected)`` for question ``qid``, computed now by its module's ``record()``:
    the hidden reference, or with ``public`` the public fixture.

    Raises:
        ValueError: if ``qid`` has no automatic checks, or (``public``) no public fixture.
    """
    from grader.registry import QUESTIONS, module

    question = QUESTIONS.get(qid)
    if question is None or not question.automatic:
        raise ValueError(f"question {qid!r} has no automatic checks to record")
    if public and qid not in public_recordable():
        raise ValueError(f"question {qid!r} has no public fixture (its record() takes no "
                         "`public` argument)")
    with float64():
        inputs, expected = module(qid).record(public=True) if public else module(qid).record()
    return ({k: np.asarray(v) for k, v in inputs.items()},
            {k: np.asarray(v) for k, v in expected.items()})


def recordable() -> list[str]:
    from grader.registry import QUESTIONS

    return [q.id for q in QUESTIONS.values() if q.automatic]


def public_recordable() -> list[str]:
    """The questions with a public fixture: those whose ``record`` takes ``public``."""
    from grader.registry import module

    return [qid for qid in recordable()
            if "public" in inspect.signature(module(qid).record).parameters]


def _npz_bytes(inputs, expected) -> bytes:
    buffer = io.BytesIO()
    arrays = {INPUT + k: v for k, v in inputs.items()}
    arrays.update({EXPECTED + k: v for k, v in expected.items()})
    np.savez_compressed(buffer, **dict(sorted(arrays.items())))
    return buffer.getvalue()


def record(qids=None, directory: Path | None = None, public: bool = False) -> list[Path]:
    """Compute and store the references of ``qids`` (all automatic questions by default) in
    ``directory`` (:data:`REFERENCE_DIR`); with ``public``, the public fixtures (of all
    :func:`public_recordable` questions by default, in :data:`PUBLIC_DIR`).

    Record on the TensorFlow backend: there the kit's layers compute in float64 throughout,
    while JAX (without ``jax_enable_x64``) and, for some operations, PyTorch fall back to
    float32 (differences of about 1e-7, far inside the students' tolerances).
    """
    from grader.files import atomic_write_bytes

    directory = Path(directory or (PUBLIC_DIR if public else REFERENCE_DIR))
    written = []
    for qid in qids or (public_recordable() if public else recordable()):
        inputs, expected = compute(qid, public)
        path = directory / f"{qid}.npz"
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

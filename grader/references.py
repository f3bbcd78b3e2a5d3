"""Recorded references: fixed inputs and the kit's outputs on them, in ``grader/references/``.

``python -m grader record`` computes, for every automatically checked question, seeded inputs
and the expected arrays, by running the question's probe on the kit's reference
implementation with Keras' ``floatx`` set to float64. Each question is one ``.npz`` file;
keys ``input.NAME`` go to the student process, keys ``expected.NAME`` never leave the grader.
"""

from __future__ import annotations

import io
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from grader.registry import QUESTIONS

__all__ = ["REFERENCE_DIR", "compute", "load", "record", "recordable"]

REFERENCE_DIR = Path(__file__).resolve().parent / "references"
INPUT, EXPECTED = "input.", "expected."
# Training questions grade predictions on held-out samples; this many, from this seed.
HELD_OUT_SAMPLES, HELD_OUT_SEED = 500, 2024
PALINDROME_LENGTH, PALINDROME_STEPS = 5, 300
BINARY_PALINDROME_LENGTH, BINARY_PALINDROME_STEPS = 10, 600


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


def _weights(rng, shapes, scale=0.5):
    return {f"w_{name}": rng.normal(0.0, scale, size=shape) for name, shape in shapes.items()}


def _cell_inputs(rng, class_name, input_dim=3, units=4, batch=2, steps=5):
    from grader.probes import CELL_WEIGHTS

    shapes = {}
    for name in CELL_WEIGHTS[class_name]:
        if name.startswith("b"):
            shapes[name] = (units,)
        elif name.endswith("x") and name != "W_h":
            shapes[name] = (input_dim, units)
        else:
            shapes[name] = (units, units)
    return {"x": rng.normal(size=(batch, steps, input_dim)),
            "readout": rng.normal(size=(batch, steps, units)), **_weights(rng, shapes)}


def _kit_cells():
    from course_kit import layers

    return {name: getattr(layers, name) for name in
            ("VanillaRNNCell", "LSTMCell", "PeepholeLSTMCell", "GRUCell")}


def _reference_bptt(x, y, W_hx, W_hh, b_h, W_ph, b_p):
    """Gradients of the last-step mean cross-entropy of the vanilla RNN, by autodiff."""
    import keras
    from keras import ops

    from course_kit.autodiff import value_and_grad

    def loss(W_hx, W_hh, b_h, W_ph, b_p):
        h = ops.zeros((x.shape[0], W_hh.shape[0]), dtype="float64")
        for t in range(x.shape[1]):
            h = ops.tanh(ops.matmul(x[:, t], W_hx) + ops.matmul(h, W_hh) + b_h)
        logits = ops.matmul(h, W_ph) + b_p
        return ops.mean(keras.losses.sparse_categorical_crossentropy(y, logits, from_logits=True))

    _, grads = value_and_grad(loss, W_hx, W_hh, b_h, W_ph, b_p)
    names = ("W_hx", "W_hh", "b_h", "W_ph", "b_p")
    return {name: np.asarray(ops.convert_to_numpy(g)) for name, g in zip(names, grads)}


def _reference_gradient_norms(cell, x, y, W_ph, b_p):
    """Norm of dL/dh_t for every t, by autodiff through a zero added to each h_t."""
    import keras
    from keras import ops

    from course_kit.autodiff import value_and_grad

    batch, steps, _ = x.shape
    units = W_ph.shape[0]
    W_ph, b_p = ops.convert_to_tensor(W_ph), ops.convert_to_tensor(b_p)

    def loss(shift):
        h = ops.zeros((batch, units), dtype=keras.config.floatx())
        for t in range(steps):
            h, _ = cell(x[:, t], [h])
            h = h + shift[t]
        logits = ops.matmul(h, W_ph) + b_p
        return ops.mean(keras.losses.sparse_categorical_crossentropy(y, logits, from_logits=True))

    _, (grad,) = value_and_grad(loss, np.zeros((steps, batch, units)))
    return np.linalg.norm(ops.convert_to_numpy(grad).reshape(steps, -1), axis=1)


def _parameter_count(d, n, c):
    """Trainable parameters of a real Keras model: the kit's LSTM cell and a dense layer."""
    import keras

    from course_kit.layers import LSTMCell

    model = keras.Sequential([keras.Input((None, d)), keras.layers.RNN(LSTMCell(n)),
                              keras.layers.Dense(c)])
    return model.count_params()


def _keras_optimizer_trajectories(param, grads, learning_rate):
    import keras

    optimizers = {
        "momentum": keras.optimizers.SGD(learning_rate, momentum=0.9),
        "rmsprop": keras.optimizers.RMSprop(learning_rate, rho=0.9, epsilon=1e-7),
        "adam": keras.optimizers.Adam(learning_rate, beta_1=0.9, beta_2=0.999, epsilon=1e-7),
    }
    results = {}
    for name, optimizer in optimizers.items():
        variable = keras.Variable(param, dtype="float64")
        trajectory = []
        for grad in grads:
            optimizer.apply([keras.ops.convert_to_tensor(grad, dtype="float64")], [variable])
            trajectory.append(np.asarray(keras.ops.convert_to_numpy(variable)))
        results[name] = np.stack(trajectory)
    return results


def _example_graph_reference():
    from course_kit.data import example_graph
    from course_kit.graphs import propagation_steps, self_loop_adjacency

    expected = {}
    for name in ("fall2019", "2020"):
        graph = example_graph(name)
        expected[f"a_plus_i_{name}"] = self_loop_adjacency(graph)
        expected[f"updates_{name}"] = np.array(propagation_steps(graph, "C", "E"))
    return expected


def _graph_inputs(rng, weights):
    import networkx as nx

    from course_kit.data import example_graph

    adjacency = nx.to_numpy_array(example_graph("fall2019"), dtype=np.float64)
    return {"features": rng.normal(size=(6, 4)), "adjacency": adjacency,
            "edge_index": np.stack(np.nonzero(adjacency.T)).astype(np.int64),
            "channels": np.array(3), "readout": rng.normal(size=(6, 3)),
            **_weights(rng, weights)}


def _reference_gat(inputs):
    """The kit's one-head GATConv with these weights; attention scattered into (N, N)."""
    from keras import ops

    from course_kit.checks import dense_attention
    from course_kit.layers import GATConv

    layer = GATConv(3, attn_heads=1, dropout_rate=0.0, return_attn_coef=True)
    features, adjacency = inputs["features"], inputs["adjacency"]
    layer([features, adjacency])
    layer.kernel.assign(inputs["w_kernel"][:, None, :])
    layer.attn_kernel_self.assign(inputs["w_attn_kernel_self"][:, None, :])
    layer.attn_kernel_neighs.assign(inputs["w_attn_kernel_neighs"][:, None, :])
    layer.bias.assign(inputs["w_bias"])
    output, coefficients = layer([features, adjacency])
    attention = dense_attention(adjacency, coefficients)
    shapes = [(4, 3), (3, 1), (3, 1), (3, 0)]
    return {"weight_shapes": np.array(shapes), "outputs": ops.convert_to_numpy(output),
            "attention": attention}


def _toy_model_inputs(rng, vocab_size=5, units=6):
    from course_kit.checks import ToyCharModel

    weights = ToyCharModel.random_weights(rng, vocab_size, units)
    return {f"model_{k}": w for k, w in zip(("embedding", "recurrent", "readout"), weights)}


def _brute_force_best(model, first, length):
    """The highest log-probability sequence of ``length`` tokens starting with ``first``."""
    import itertools

    best, best_score = None, -np.inf
    for tail in itertools.product(range(model.vocab_size), repeat=length - 1):
        sequence, state, score = (first, *tail), model.initial_state(), 0.0
        for current, following in zip(sequence, sequence[1:]):
            logits, state = model.step([current], state)
            log_probs = logits[0] - np.logaddexp.reduce(logits[0])
            score += log_probs[following]
        if score > best_score:
            best, best_score = sequence, score
    return np.array(best, dtype=np.int64)


def compute(qid: str) -> tuple[dict, dict]:
    """``(inputs, expected)`` for question ``qid``, computed now from the kit.

    Raises:
        ValueError: if ``qid`` has no automatic checks.
    """
    from grader import probes

    question = QUESTIONS.get(qid)
    if question is None or not question.automatic:
        raise ValueError(f"question {qid!r} has no automatic checks to record")
    rng = np.random.default_rng(int(qid[1:].replace("_", "")))  # q1_2 -> seed 12
    cells = {"vanilla_rnn_cell": "VanillaRNNCell", "lstm_cell": "LSTMCell"}
    with float64():
        if question.probe in cells:
            inputs = _cell_inputs(rng, cells[question.probe])
            expected = probes.PROBES[question.probe](_kit_cells(), probes.Context(inputs))
        elif question.probe == "peephole_and_gru_cells":
            inputs = {}
            for class_name, prefix in (("PeepholeLSTMCell", "peephole_"), ("GRUCell", "gru_")):
                inputs.update({prefix + k: v for k, v in _cell_inputs(rng, class_name).items()})
            expected = probes.PROBES[question.probe](_kit_cells(), probes.Context(inputs))
        elif question.probe == "bptt":
            inputs = {"x": rng.normal(size=(3, 6, 4)), "y": rng.integers(0, 3, size=3),
                      **_weights(rng, {"W_hx": (4, 5), "W_hh": (5, 5), "b_h": (5,),
                                       "W_ph": (5, 3), "b_p": (3,)})}
            expected = probes.PROBES["bptt"]({"bptt_vanilla_rnn": _reference_bptt},
                                             probes.Context(inputs))
        elif question.probe == "parameter_count":
            inputs = {"sizes": np.array([[1, 1, 1], [3, 8, 2], [10, 128, 10], [2, 256, 5]])}
            counts = [_parameter_count(*map(int, size)) for size in inputs["sizes"]]
            expected = {"counts": np.array(counts)}
        elif question.probe == "optimizers":
            inputs = {"param": rng.normal(size=(3,)), "grads": rng.normal(size=(6, 3)),
                      "learning_rate": np.array(0.01)}
            expected = _keras_optimizer_trajectories(inputs["param"], inputs["grads"], 0.01)
        elif question.probe == "palindrome_training":
            from course_kit.data import make_task

            x, y = make_task("digit_palindrome", PALINDROME_LENGTH).sample(HELD_OUT_SAMPLES,
                                                                           HELD_OUT_SEED)
            inputs = {"x": x, "steps": np.array(PALINDROME_STEPS)}
            expected = {"labels": np.asarray(y, dtype=np.int64)}
        elif question.probe == "binary_palindrome_training":
            from course_kit.data import make_task

            task = make_task("binary_palindrome", BINARY_PALINDROME_LENGTH)
            x, y = task.sample(HELD_OUT_SAMPLES, HELD_OUT_SEED)
            inputs = {"x": x, "length": np.array(BINARY_PALINDROME_LENGTH),
                      "steps": np.array(BINARY_PALINDROME_STEPS)}
            expected = {"labels": np.asarray(y, dtype=np.int64)}
        elif question.probe == "graph_lstm_cell":
            from course_kit.checks import GraphLSTMReference
            from course_kit.layers import gcn_normalize

            adjacency = _graph_inputs(rng, {})["adjacency"]  # the fall 2019 example graph
            inputs = {"a_hat": gcn_normalize(adjacency), "x": rng.normal(size=(2, 4, 6, 2)),
                      "readout": rng.normal(size=(2, 4, 6, 3)),
                      **_weights(rng, {"kernel": (2, 12), "recurrent_kernel": (3, 12),
                                       "bias": (12,)})}
            cell = {"GraphConvLSTMCell": lambda units, a_hat: GraphLSTMReference(units,
                                                                                 adjacency)}
            expected = probes.PROBES["graph_lstm_cell"](cell, probes.Context(inputs))
        elif question.probe == "gradient_norms":
            inputs = {"x": rng.normal(size=(4, 12, 3)), "y": rng.integers(0, 3, size=4),
                      **_weights(rng, {"W_hx": (3, 6), "W_hh": (6, 6), "b_h": (6,),
                                       "W_ph": (6, 3), "b_p": (3,)})}
            expected = probes.PROBES["gradient_norms"](
                {"gradient_norms_over_time": _reference_gradient_norms}, probes.Context(inputs))
        elif question.probe == "gcn":
            from course_kit.layers import GCNConv, gcn_normalize

            inputs = _graph_inputs(rng, {"kernel": (4, 3), "bias": (3,)})
            expected = probes.PROBES["gcn"]({"GCNConv": GCNConv, "gcn_normalize": gcn_normalize},
                                            probes.Context(inputs))
        elif question.probe == "gat":
            inputs = _graph_inputs(rng, {"kernel": (4, 3), "attn_kernel_self": (3, 1),
                                         "attn_kernel_neighs": (3, 1), "bias": (3,)})
            expected = _reference_gat(inputs)
        elif question.probe == "text_model":
            inputs = {"vocab_size": np.array(7), "ids": rng.integers(0, 7, size=(2, 9))}
            expected = {"logits_shape": np.array([2, 9, 7])}
        elif question.probe in ("greedy", "completion", "beam_search"):
            from course_kit.checks import greedy_continuation

            inputs = _toy_model_inputs(rng)
            model = probes._toy_model(probes.Context(inputs))
            if question.probe == "greedy":
                inputs.update(first_token=np.array(2), lengths=np.array([5, 40]))
                expected = {f"greedy_{n}": greedy_continuation(model, [2], n) for n in (5, 40)}
            elif question.probe == "completion":
                inputs.update(prompt=np.array([1, 4, 0, 3]), length=np.array(12))
                expected = {"completion": greedy_continuation(model, [1, 4, 0, 3], 16)}
            else:
                inputs.update(first_token=np.array(1), length=np.array(5),
                              beam_width=np.array(5**4))
                expected = {"beam": _brute_force_best(model, 1, 5)}
        elif question.probe == "temperature":
            logits = np.array([1.0, 0.2, -0.5, 2.0, 0.0])
            inputs = {"logits": logits, "taus": np.array([0.5, 1.0, 2.0]), "draws": np.array(20000),
                      "seed": np.array(7)}
            from course_kit.sampling import inverse_temperature_probabilities

            expected = {f"probabilities_{tau:g}": np.asarray(
                inverse_temperature_probabilities(logits, tau), dtype=np.float64)
                for tau in (0.5, 1.0, 2.0)}
        elif question.probe == "example_graphs":
            inputs = {}
            expected = _example_graph_reference()
        else:
            raise ValueError(f"question {qid!r}: no recorder for probe {question.probe!r}")
    return ({k: np.asarray(v) for k, v in inputs.items()},
            {k: np.asarray(v) for k, v in expected.items()})


def recordable() -> list[str]:
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

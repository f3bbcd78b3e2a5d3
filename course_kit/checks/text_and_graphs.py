"""Visible checks for Parts 2 and 3 (notebooks 07 to 10), re-exported by
:mod:`course_kit.checks`.

The graph checks build the student's layer and the kit's reference layer on the same small
random graph, give them the same weights and print the relative error of every compared
quantity. The text checks run the student's samplers on :class:`ToyCharModel`, a fixed
character model small enough to search exhaustively. Each check ends with ``PASS`` or raises
:class:`course_kit.checks.CheckFailed` with a hint.
"""

import functools
import itertools

import keras
import networkx as nx
import numpy as np
from keras import ops

from course_kit.autodiff import variables_value_and_grad
from course_kit.checks import CheckFailed, _compare, _student_code, _verdict

__all__ = [
    "GraphLSTMReference",
    "ToyCharModel",
    "check_a_plus_i",
    "check_beam_search",
    "check_completion",
    "check_gat_layer",
    "check_gcn_layer",
    "check_gcn_normalize",
    "check_graph_lstm_cell",
    "check_greedy",
    "check_temperature",
    "check_text_model",
    "dense_attention",
    "greedy_continuation",
]


def _stub_aware(check):
    """Run ``check`` so that a graded cell still holding its stub fails with a plain message."""

    @functools.wraps(check)
    def wrapped(*args, **kwargs):
        with _student_code(check.__name__.removeprefix("check_")):
            return check(*args, **kwargs)

    return wrapped


def _small_graph(seed, num_nodes=7, num_features=5):
    """Features ``(N, F)``, a dense symmetric 0/1 adjacency and its edge index ``(2, E)``."""
    rng = np.random.default_rng(seed)
    graph = nx.connected_watts_strogatz_graph(num_nodes, 2, 0.5, seed=seed)
    adjacency = nx.to_numpy_array(graph, nodelist=range(num_nodes), dtype=np.float32)
    targets, sources = np.nonzero(adjacency)
    edge_index = np.stack([sources, targets]).astype(np.int32)
    features = rng.normal(size=(num_nodes, num_features)).astype(np.float32)
    return features, adjacency, edge_index


def _weight(layer, name, expected_shape):
    """``layer.<name>`` if it exists with ``expected_shape``; prints what is wrong otherwise."""
    variable = getattr(layer, name, None)
    if variable is None:
        print(f"  weight {name}: missing (create it in build with add_weight and keep it as "
              f"self.{name})")
        return None
    shape = tuple(int(s) for s in variable.shape)
    if shape != tuple(expected_shape):
        print(f"  weight {name}: shape {shape}, expected {tuple(expected_shape)}")
        return None
    print(f"  weight {name}: shape {shape}")
    return variable


@_stub_aware
def check_gcn_normalize(student_function, seed=0):
    """Compare ``student_function(adjacency)`` with ``D~^-1/2 (A + I) D~^-1/2`` in NumPy."""
    _, adjacency, _ = _small_graph(seed)
    a_hat = adjacency.astype(np.float64) + np.eye(len(adjacency))
    inverse_sqrt = 1.0 / np.sqrt(a_hat.sum(axis=1))
    expected = a_hat * inverse_sqrt[:, None] * inverse_sqrt[None, :]
    ok = _compare("normalised adjacency", student_function(adjacency), expected,
                  "add the self-loops before computing the degrees, then scale rows and columns")
    return _verdict("gcn_normalize", ok, "see the line marked with <-- above")


@_stub_aware
def check_gcn_layer(student_class, channels=3, seed=0):
    """Compare a student's ``GCNConv(channels)`` with the kit's, dense and edge-list inputs.

    Compares the weights' shapes, the outputs for a dense adjacency and for an edge index,
    and the gradients of a fixed linear read-out with respect to ``kernel`` and ``bias``.
    """
    from course_kit.layers import GCNConv

    features, adjacency, edge_index = _small_graph(seed)
    layer = student_class(channels)
    layer([ops.convert_to_tensor(features), ops.convert_to_tensor(adjacency)])
    reference = GCNConv(channels)
    reference([features, adjacency])
    expected = {"kernel": (features.shape[1], channels), "bias": (channels,)}
    variables = [_weight(layer, name, shape) for name, shape in expected.items()]
    if any(v is None for v in variables):
        raise CheckFailed("GCNConv weights: name them kernel (F, channels) and bias (channels,)")
    for mine, theirs in zip(variables, (reference.kernel, reference.bias)):
        theirs.assign(ops.convert_to_numpy(mine))
    rng = np.random.default_rng(seed + 1)
    mine_bias = rng.normal(size=(channels,)).astype(np.float32)
    variables[1].assign(mine_bias)
    reference.bias.assign(mine_bias)
    x, a = ops.convert_to_tensor(features), ops.convert_to_tensor(adjacency)
    edges = ops.convert_to_tensor(edge_index)
    readout = ops.convert_to_tensor(rng.normal(size=(len(features), channels)).astype(np.float32))
    ok = _compare("outputs, dense adjacency", layer([x, a]), reference([x, a]),
                  "A_hat = D^-1/2 (A+I) D^-1/2, then A_hat @ features @ kernel + bias")
    ok &= _compare("outputs, edge index", layer([x, edges]), reference([x, edges]),
                   "add one self-loop per node; weight each edge j->i by 1/sqrt(d_i d_j), "
                   "then sum the messages at the target node")
    _, mine = variables_value_and_grad(lambda: ops.sum(layer([x, a]) * readout), variables)
    _, theirs = variables_value_and_grad(lambda: ops.sum(reference([x, a]) * readout),
                                         [reference.kernel, reference.bias])
    for name, g_mine, g_theirs in zip(expected, mine, theirs):
        ok &= _compare(f"gradient wrt {name}", g_mine, g_theirs,
                       "use keras.ops only, so the backend can differentiate the layer")
    return _verdict("GCNConv", ok, "see the lines marked with <-- above")


def dense_attention(adjacency, coefficients):
    """One head's attention as an ``(N, N)`` matrix: ``coefficients`` ``(E', heads)`` of a
    ``GATConv`` with self-loops on the graph ``adjacency``, scattered to ``[target, source]``."""
    from course_kit.layers import add_self_loops, graph_inputs

    edge_index, edge_weight = graph_inputs(adjacency)
    edge_index, _ = add_self_loops(ops.convert_to_tensor(edge_index),
                                   ops.convert_to_tensor(edge_weight), len(adjacency))
    sources, targets = ops.convert_to_numpy(edge_index)
    attention = np.zeros_like(adjacency)
    attention[targets, sources] = ops.convert_to_numpy(coefficients)[:, 0]
    return attention


@_stub_aware
def check_gat_layer(student_class, channels=3, seed=0):
    """Compare a student's one-head ``GATConv(channels)`` with the kit's on a dense graph.

    The student's call returns ``(output, attention)`` with ``attention`` the dense ``(N, N)``
    matrix of coefficients; both are compared.
    """
    from course_kit.layers import GATConv

    features, adjacency, _ = _small_graph(seed)
    x, a = ops.convert_to_tensor(features), ops.convert_to_tensor(adjacency)
    layer = student_class(channels)
    returned = layer([x, a])
    if not isinstance(returned, (tuple, list)) or len(returned) != 2:
        raise CheckFailed("GATConv must return the pair (output, attention)")
    reference = GATConv(channels, attn_heads=1, dropout_rate=0.0, return_attn_coef=True)
    reference([features, adjacency])
    num_features = features.shape[1]
    shapes = {"kernel": (num_features, channels), "attn_kernel_self": (channels, 1),
              "attn_kernel_neighs": (channels, 1), "bias": (channels,)}
    variables = [_weight(layer, name, shape) for name, shape in shapes.items()]
    if any(v is None for v in variables):
        raise CheckFailed("GATConv weights: kernel (F, channels), attn_kernel_self and "
                          "attn_kernel_neighs (channels, 1), bias (channels,)")
    rng = np.random.default_rng(seed + 1)
    for (name, shape), variable in zip(shapes.items(), variables):
        value = rng.normal(size=shape).astype(np.float32)
        variable.assign(value)
        target = getattr(reference, name)
        target.assign(value.reshape(target.shape))
    output, attention = layer([x, a])
    expected_output, coefficients = reference([x, a])
    expected_attention = dense_attention(adjacency, coefficients)
    ok = _compare("attention coefficients", attention, expected_attention,
                  "softmax of e_ij over the neighbours j of i and i itself; 0 elsewhere")
    ok &= _compare("outputs", output, expected_output,
                   "output_i = sum_j alpha_ij z_j + bias, with z = features @ kernel")
    return _verdict("GATConv", ok, "see the lines marked with <-- above")


@_stub_aware
def check_a_plus_i(student_a_plus_i, student_updates):
    """Compare ``a_plus_i(graph)`` and ``updates_between(graph, "C", "E")`` with the kit's
    answers on both example graphs."""
    from course_kit.data import example_graph
    from course_kit.graphs import propagation_steps, self_loop_adjacency

    ok = True
    for name in ("fall2019", "2020"):
        graph = example_graph(name)
        ok &= _compare(f"A+I of the {name} graph", student_a_plus_i(graph),
                       self_loop_adjacency(graph), "ones on the diagonal and at every edge")
        mine, theirs = int(student_updates(graph, "C", "E")), propagation_steps(graph, "C", "E")
        same = mine == theirs
        print(f"  updates from C to E, {name} graph: {mine}"
              + ("" if same else "  <-- count the powers of A+I until entry (E, C) is nonzero"))
        ok &= same
    return _verdict("A+I and propagation steps", ok, "see the lines marked with <-- above")


# ---------------------------------------------------------------- graph meets sequence


class GraphLSTMReference(keras.layers.Layer):
    """The kit's ``GraphConvLSTMCell`` behind the contract of question q3_5.

    Built from the raw adjacency ``(N, N)`` (the kit normalises it), it reads node signals
    ``x_t`` ``(batch, N, F)`` and states ``[h, c]`` of shape ``(batch, N, units)`` and returns
    ``(h_t, [h_t, c_t])``, the shapes a student's cell works in; the kit's cell itself works on
    signals flattened node-major, as ``keras.layers.RNN`` needs. Its weights ``kernel``,
    ``recurrent_kernel`` and ``bias`` are the kit cell's.
    """

    num_states = 2

    def __init__(self, units, adjacency, **kwargs):
        super().__init__(**kwargs)
        self.units = units
        self.adjacency = np.asarray(adjacency)
        self.num_nodes = self.adjacency.shape[0]

    def build(self, input_shape):
        from course_kit.layers import GraphConvLSTMCell

        features = input_shape[-1]
        self.cell = GraphConvLSTMCell(
            self.units, self.adjacency, self.num_nodes, input_features=features
        )
        self.cell.build((None, self.num_nodes * features))
        self.kernel, self.recurrent_kernel, self.bias = (
            self.cell.kernel, self.cell.recurrent_kernel, self.cell.bias
        )

    def call(self, x_t, states):
        def flat(value):
            return ops.reshape(value, (ops.shape(value)[0], -1))

        h, new_states = self.cell(flat(x_t), [flat(state) for state in states])
        shape = (-1, self.num_nodes, self.units)
        return ops.reshape(h, shape), [ops.reshape(state, shape) for state in new_states]


def check_graph_lstm_cell(student_class, units=3, num_features=2, batch=2, steps=4, seed=0):
    """Compare ``student_class(units, a_hat)`` with the kit's graph-convolutional LSTM cell on
    a small random graph: weight names and shapes, ``h_t`` at every step, weight gradients.

    ``a_hat`` is the dense normalised adjacency ``D~^-1/2 (A + I) D~^-1/2``; the cell reads
    ``x_t`` ``(batch, N, F)`` and states ``[h, c]`` ``(batch, N, units)``.
    """
    from course_kit.checks import compare_cells
    from course_kit.layers import gcn_normalize

    _, adjacency, _ = _small_graph(seed)
    rng = np.random.default_rng(seed)
    a_hat = gcn_normalize(adjacency)
    return compare_cells(
        f"{student_class.__name__} matches the kit's graph-convolutional LSTM cell",
        lambda: student_class(units, a_hat),
        GraphLSTMReference(units, adjacency),
        rng.normal(size=(batch, steps, adjacency.shape[0], num_features)),
        units,
        rng,
    )


# ---------------------------------------------------------------- text generation


class ToyCharModel:
    """A fixed character-level RNN in NumPy with the interface the samplers expect.

    ``initial_state(batch)`` gives zeros ``(batch, units)``; ``step(tokens, state)`` takes int
    tokens ``(batch,)`` and returns ``(logits (batch, vocab_size), new_state)`` with
    ``state' = tanh(E[tokens] + state R)`` and ``logits = state' V``. The grader hands the
    same model to submissions, built from recorded weights.
    """

    def __init__(self, embedding, recurrent, readout):
        self.embedding, self.recurrent, self.readout = (
            np.asarray(w, dtype=np.float64) for w in (embedding, recurrent, readout)
        )
        self.vocab_size = self.readout.shape[1]

    @staticmethod
    def random_weights(rng, vocab_size=5, units=6):
        """Weights ``(embedding, recurrent, readout)`` scaled so greedy paths vary."""
        return (rng.normal(0, 1.0, size=(vocab_size, units)),
                rng.normal(0, 0.6, size=(units, units)),
                rng.normal(0, 1.5, size=(units, vocab_size)))

    @classmethod
    def random(cls, vocab_size=5, units=6, seed=0):
        return cls(*cls.random_weights(np.random.default_rng(seed), vocab_size, units))

    def initial_state(self, batch=1):
        return np.zeros((batch, self.recurrent.shape[0]))

    def step(self, tokens, state):
        tokens = np.asarray(tokens, dtype=np.int64).reshape(-1)
        state = np.tanh(self.embedding[tokens] + np.asarray(state) @ self.recurrent)
        return state @ self.readout, state


def greedy_continuation(model, tokens, length):
    """``tokens`` extended greedily to ``length`` tokens, the state warmed on all of them."""
    state = model.initial_state()
    sequence = list(tokens)
    for token in sequence[:-1]:
        _, state = model.step([token], state)
    while len(sequence) < length:
        logits, state = model.step([sequence[-1]], state)
        sequence.append(int(np.argmax(logits[0])))
    return np.array(sequence[:length], dtype=np.int64)


def _same_ids(label, actual, expected, hint):
    actual = np.asarray(actual).reshape(-1)
    same = actual.shape == expected.shape and np.array_equal(actual, expected)
    print(f"  {label}: {actual.tolist()}" + ("" if same else f"  <-- expected "
                                              f"{expected.tolist()}; {hint}"))
    return same


@_stub_aware
def check_text_model(student_build, vocab_size=7, units=16):
    """``student_build(vocab_size, units)`` maps ids ``(B, T)`` to logits ``(B, T, V)``, and
    the logits at step t do not depend on later characters (the model reads left to right)."""
    model = student_build(vocab_size, units)
    ids = np.random.default_rng(0).integers(0, vocab_size, size=(2, 9)).astype("int32")
    logits = ops.convert_to_numpy(model(ops.convert_to_tensor(ids)))
    ok = tuple(logits.shape) == (2, 9, vocab_size)
    print(f"  logits shape: {tuple(logits.shape)}" + ("" if ok else
          f"  <-- expected (2, 9, {vocab_size}): return_sequences=True on every LSTM"))
    if ok:
        changed = ids.copy()
        changed[:, 5:] = (changed[:, 5:] + 1) % vocab_size
        later = ops.convert_to_numpy(model(ops.convert_to_tensor(changed)))
        ok &= _compare("logits of steps 0-4 after changing steps 5-8", later[:, :5],
                       logits[:, :5], "the model must not look ahead (no bidirectional layer)")
    return _verdict("build_text_model", ok, "see the lines marked with <-- above")


@_stub_aware
def check_greedy(student_greedy):
    """``student_greedy(model, first_token, length)`` on :class:`ToyCharModel`, twice."""
    model = ToyCharModel.random(seed=5)
    ok = True
    for length in (5, 40):
        first = student_greedy(model, 2, length)
        ok &= _same_ids(f"greedy, length {length}", first, greedy_continuation(model, [2], length),
                        "start with first_token, keep the state between steps, take the argmax")
        ok &= _same_ids(f"greedy again, length {length}", student_greedy(model, 2, length),
                        np.asarray(first).reshape(-1), "greedy sampling must be deterministic")
    return _verdict("greedy_sample", ok, "see the lines marked with <-- above")


@_stub_aware
def check_temperature(student_sample, draws=20000, tolerance=0.03):
    """Draw ``draws`` times per tau in {0.5, 1, 2}; the frequencies must be within total
    variation ``tolerance`` of ``softmax(tau * logits)``."""
    logits = np.array([1.0, 0.2, -0.5, 2.0, 0.0])
    ok = True
    for tau in (0.5, 1.0, 2.0):
        rng = np.random.default_rng(7)
        picks = np.array([int(student_sample(logits, tau, rng)) for _ in range(draws)])
        frequencies = np.bincount(picks, minlength=len(logits))[: len(logits)] / draws
        expected = np.exp(tau * logits) / np.exp(tau * logits).sum()
        distance = 0.5 * float(np.abs(frequencies - expected).sum())
        good = distance <= tolerance
        print(f"  tau={tau:g}: frequencies {np.round(frequencies, 3).tolist()}, total variation "
              f"{distance:.4f}" + ("" if good else "  <-- tau multiplies the logits here"))
        ok &= good
    return _verdict("sample_temperature", ok, "see the lines marked with <-- above")


@_stub_aware
def check_completion(student_complete):
    """``student_complete(model, prompt, length)``: prompt kept, state warmed, greedy tail."""
    model = ToyCharModel.random(seed=5)
    prompt = np.array([1, 4, 0, 3])
    ok = _same_ids("completion", student_complete(model, prompt.copy(), 12),
                   greedy_continuation(model, prompt, 16),
                   "feed every prompt token through step before continuing greedily")
    return _verdict("complete", ok, "see the line marked with <-- above")


@_stub_aware
def check_beam_search(student_beam_search, length=5):
    """With a beam as wide as all sequences, ``student_beam_search`` must find the sequence of
    highest log-probability, found here by brute force."""
    model = ToyCharModel.random(seed=2)
    best, best_score = None, -np.inf
    for tail in itertools.product(range(model.vocab_size), repeat=length - 1):
        sequence, state, score = (1, *tail), model.initial_state(), 0.0
        for current, following in itertools.pairwise(sequence):
            logits, state = model.step([current], state)
            score += logits[0][following] - np.logaddexp.reduce(logits[0])
        if score > best_score:
            best, best_score = sequence, score
    ok = _same_ids("beam search, full width", student_beam_search(
        model, 1, length, model.vocab_size ** (length - 1)), np.array(best),
        "score by the sum of log-softmax, keep the beam_width best at every step")
    return _verdict("beam_search", ok, "see the line marked with <-- above")

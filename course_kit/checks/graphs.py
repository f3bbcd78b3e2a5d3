"""Visible checks of Part 3 (notebooks 09 to 11): GCN normalisation and layer, A+I, GAT, and
the graph-convolutional LSTM cell.

The checks build the student's layer and the kit's reference layer on the same small random
graph, give them the same weights and print the relative error of every compared quantity.
"""

import keras
import networkx as nx
import numpy as np
from keras import ops

from course_kit.autodiff import variables_value_and_grad
from course_kit.checks._common import Report
from course_kit.checks.recurrent import compare_cells

__all__ = [
    "GraphLSTMReference",
    "check_a_plus_i",
    "check_gat_layer",
    "check_gcn_layer",
    "check_gcn_normalize",
    "check_graph_lstm_cell",
    "dense_attention",
]


def _small_graph(seed, num_nodes=7, num_features=5):
    """Features ``(N, F)``, a dense symmetric 0/1 adjacency and its edge index ``(2, E)``."""
    rng = np.random.default_rng(seed)
    graph = nx.connected_watts_strogatz_graph(num_nodes, 2, 0.5, seed=seed)
    adjacency = nx.to_numpy_array(graph, nodelist=range(num_nodes), dtype=np.float32)
    targets, sources = np.nonzero(adjacency)
    edge_index = np.stack([sources, targets]).astype(np.int32)
    features = rng.normal(size=(num_nodes, num_features)).astype(np.float32)
    return features, adjacency, edge_index


def _gcn_normalizations(adjacency):
    """``D~^-1/2 (A + I) D~^-1/2`` of a connected graph, and ``{mistake: [what it gives]}``
    for the mistakes of ``course_kit.feedback.MISTAKES["q3_1"]``."""
    plain = np.asarray(adjacency, dtype=np.float64)
    loops = plain + np.eye(len(plain))
    plain_degrees, loop_degrees = plain.sum(axis=1), loops.sum(axis=1)

    def scaled(matrix, row_scale, column_scale):
        return row_scale[:, None] * matrix * column_scale[None, :]

    inverse_sqrt = loop_degrees ** -0.5
    mistakes = {
        "no_self_loops": [
            scaled(plain, plain_degrees ** -0.5, plain_degrees ** -0.5),
            scaled(loops, plain_degrees ** -0.5, plain_degrees ** -0.5),
            scaled(plain, inverse_sqrt, inverse_sqrt),
        ],
        "inverse_degree": [
            scaled(loops, 1 / loop_degrees, 1 / loop_degrees),
            scaled(loops, 1 / loop_degrees, np.ones(len(loops))),
        ],
    }
    return scaled(loops, inverse_sqrt, inverse_sqrt), mistakes


def _weight(report, layer, name, expected_shape):
    """``layer.<name>`` if it exists with ``expected_shape``; reports what is wrong otherwise."""
    variable = getattr(layer, name, None)
    if variable is None:
        report.record(f"weight {name}", f"missing, expected shape {tuple(expected_shape)}",
                      False, "weight_shapes")
        return None
    shape = tuple(int(s) for s in variable.shape)
    right = shape == tuple(expected_shape)
    text = f"shape {shape}" + ("" if right else f", expected {tuple(expected_shape)}")
    return variable if report.record(f"weight {name}", text, right, "weight_shapes") else None


def check_gcn_normalize(student_function, seed=0):
    """Compare ``student_function(adjacency)`` with ``D~^-1/2 (A + I) D~^-1/2`` in NumPy."""
    _, adjacency, _ = _small_graph(seed)
    expected, mistakes = _gcn_normalizations(adjacency)
    with Report("q3_1", student_function.__name__, "gives D~^-1/2 (A + I) D~^-1/2") as report:
        report.arrays("normalised adjacency", student_function(adjacency), expected,
                      "normalized", mistakes=[(name, lambda wrong=wrong: wrong)
                                              for name, wrong in mistakes.items()])


def check_gcn_layer(student_class, channels=3, seed=0):
    """Compare a student's ``GCNConv(channels)`` with the kit's, dense and edge-list inputs.

    Compares the weights' shapes, the outputs for a dense adjacency and for an edge index,
    and the gradients of a fixed linear read-out with respect to ``kernel`` and ``bias``.
    Outputs computed without the self-loops or with ``D^-1`` get those mistakes' hints.
    """
    from course_kit.layers import GCNConv

    features, adjacency, edge_index = _small_graph(seed)
    x, a = ops.convert_to_tensor(features), ops.convert_to_tensor(adjacency)
    edges = ops.convert_to_tensor(edge_index)
    with Report("q3_1", student_class.__name__, "matches the kit's GCNConv") as report:
        layer = student_class(channels)
        layer([x, a])
        reference = GCNConv(channels)
        reference([features, adjacency])
        expected = {"kernel": (features.shape[1], channels), "bias": (channels,)}
        variables = [_weight(report, layer, name, shape) for name, shape in expected.items()]
        if report.failures:
            return
        rng = np.random.default_rng(seed + 1)
        values = [rng.normal(size=shape).astype(np.float32) for shape in expected.values()]
        for value, mine, theirs in zip(values, variables, (reference.kernel, reference.bias)):
            mine.assign(value)
            theirs.assign(value)
        readout = ops.convert_to_tensor(
            rng.normal(size=(len(features), channels)).astype(np.float32))

        _, wrong_normalizations = _gcn_normalizations(adjacency)
        kernel, bias = values

        def wrong_outputs(normalizations):
            return lambda: [a_hat @ features @ kernel + bias for a_hat in normalizations]

        mistakes = [(name, wrong_outputs(wrong)) for name, wrong in wrong_normalizations.items()]
        report.arrays("outputs, dense adjacency", layer([x, a]), reference([x, a]),
                      "outputs_dense", mistakes=mistakes)
        report.arrays("outputs, edge index", layer([x, edges]), reference([x, edges]),
                      "outputs_sparse", mistakes=mistakes)
        if report.failures:
            print("  gradients: not compared until the outputs match")
            return
        _, mine = variables_value_and_grad(lambda: ops.sum(layer([x, a]) * readout), variables)
        _, theirs = variables_value_and_grad(lambda: ops.sum(reference([x, a]) * readout),
                                             [reference.kernel, reference.bias])
        for name, g_mine, g_theirs in zip(expected, mine, theirs):
            report.arrays(f"gradient wrt {name}", g_mine, g_theirs, "gradients")


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


def check_gat_layer(student_class, channels=3, seed=0):
    """Compare a student's one-head ``GATConv(channels)`` with the kit's on a dense graph.

    The student's call returns ``(output, attention)`` with ``attention`` the dense ``(N, N)``
    matrix of coefficients; both are compared.
    """
    from course_kit.layers import GATConv

    features, adjacency, _ = _small_graph(seed)
    x, a = ops.convert_to_tensor(features), ops.convert_to_tensor(adjacency)
    with Report("q3_3", student_class.__name__, "matches the kit's GATConv") as report:
        layer = student_class(channels)
        returned = layer([x, a])
        if not isinstance(returned, (tuple, list)) or len(returned) != 2:
            report.stop("returned value", f"a {type(returned).__name__}", "returns")
        reference = GATConv(channels, attn_heads=1, dropout_rate=0.0, return_attn_coef=True)
        reference([features, adjacency])
        num_features = features.shape[1]
        shapes = {"kernel": (num_features, channels), "attn_kernel_self": (channels, 1),
                  "attn_kernel_neighs": (channels, 1), "bias": (channels,)}
        variables = [_weight(report, layer, name, shape) for name, shape in shapes.items()]
        if report.failures:
            return
        rng = np.random.default_rng(seed + 1)
        for (name, shape), variable in zip(shapes.items(), variables):
            value = rng.normal(size=shape).astype(np.float32)
            variable.assign(value)
            target = getattr(reference, name)
            target.assign(value.reshape(target.shape))
        output, attention = layer([x, a])
        expected_output, coefficients = reference([x, a])
        report.arrays("attention coefficients", attention,
                      dense_attention(adjacency, coefficients), "attention")
        report.arrays("outputs", output, expected_output, "outputs")


def check_a_plus_i(student_a_plus_i, student_updates):
    """Compare ``a_plus_i(graph)`` and ``updates_between(graph, "C", "E")`` with the kit's
    answers on both example graphs."""
    from course_kit.data import example_graph
    from course_kit.graphs import propagation_steps, self_loop_adjacency

    with Report("q3_2", student_a_plus_i.__name__,
                f"and {student_updates.__name__} match both example graphs") as report:
        for name in ("fall2019", "2020"):
            graph = example_graph(name)
            report.arrays(f"A+I of the {name} graph", student_a_plus_i(graph),
                          self_loop_adjacency(graph), f"a_plus_i_{name}")
            mine, theirs = int(student_updates(graph, "C", "E")), propagation_steps(graph, "C", "E")
            report.record(f"updates from C to E, {name} graph", str(mine), mine == theirs,
                          f"updates_{name}")


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
    from course_kit.layers import gcn_normalize

    _, adjacency, _ = _small_graph(seed)
    rng = np.random.default_rng(seed)
    a_hat = gcn_normalize(adjacency)
    with Report("q3_5", student_class.__name__,
                "matches the kit's graph-convolutional LSTM cell") as report:
        compare_cells(report, lambda: student_class(units, a_hat),
                      GraphLSTMReference(units, adjacency),
                      rng.normal(size=(batch, steps, adjacency.shape[0], num_features)),
                      units, rng)

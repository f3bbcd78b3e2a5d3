"""Visible checks for the graph notebooks (09, 10), in the style of :mod:`course_kit.checks`.

Each check builds the student's layer and the kit's reference layer on the same small random
graph, gives them the same weights, prints the relative error of every compared quantity and
ends with ``PASS`` or raises :class:`course_kit.checks.CheckFailed` with a hint.
"""

import keras
import networkx as nx
import numpy as np
from keras import ops

from course_kit.autodiff import variables_value_and_grad
from course_kit.checks import CheckFailed, _compare, _verdict

__all__ = ["check_a_plus_i", "check_gat_layer", "check_gcn_layer", "check_gcn_normalize"]


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


def check_gcn_normalize(student_function, seed=0):
    """Compare ``student_function(adjacency)`` with ``D~^-1/2 (A + I) D~^-1/2`` in NumPy."""
    _, adjacency, _ = _small_graph(seed)
    a_hat = adjacency.astype(np.float64) + np.eye(len(adjacency))
    inverse_sqrt = 1.0 / np.sqrt(a_hat.sum(axis=1))
    expected = a_hat * inverse_sqrt[:, None] * inverse_sqrt[None, :]
    ok = _compare("normalised adjacency", student_function(adjacency), expected,
                  "add the self-loops before computing the degrees, then scale rows and columns")
    return _verdict("gcn_normalize", ok, "see the line marked with <-- above")


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


def check_gat_layer(student_class, channels=3, seed=0):
    """Compare a student's one-head ``GATConv(channels)`` with the kit's on a dense graph.

    The student's call returns ``(output, attention)`` with ``attention`` the dense ``(N, N)``
    matrix of coefficients; both are compared.
    """
    from course_kit.layers import GATConv, add_self_loops, graph_inputs

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
    edge_index, edge_weight = graph_inputs(adjacency)
    edge_index, _ = add_self_loops(ops.convert_to_tensor(edge_index),
                                   ops.convert_to_tensor(edge_weight), len(adjacency))
    sources, targets = ops.convert_to_numpy(edge_index)
    expected_attention = np.zeros_like(adjacency)
    expected_attention[targets, sources] = ops.convert_to_numpy(coefficients)[:, 0]
    ok = _compare("attention coefficients", attention, expected_attention,
                  "softmax of e_ij over the neighbours j of i and i itself; 0 elsewhere")
    ok &= _compare("outputs", output, expected_output,
                   "output_i = sum_j alpha_ij z_j + bias, with z = features @ kernel")
    return _verdict("GATConv", ok, "see the lines marked with <-- above")


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

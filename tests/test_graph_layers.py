"""GCNConv and GATConv against dense float64 NumPy formulas, on the current Keras backend."""

import keras
import numpy as np
import pytest
import scipy.sparse as sp
from graph_reference import gat_attention, gat_layer, gcn_layer, gcn_propagation, random_graph
from keras import ops

from course_kit.autodiff import variables_value_and_grad
from course_kit.layers import GATConv, GCNConv, add_self_loops, gcn_normalize, graph_inputs
from course_kit.layers.graph_ops import _segment_max, propagate, segment_sum
from course_kit.seeding import set_random_seed

NUM_NODES, NUM_FEATURES = 9, 5
# Few distinct layer sizes: eager JAX compiles every operation once per new shape.
CHANNELS, HEADS = 3, 2


def numpy(tensor):
    return np.asarray(ops.convert_to_numpy(tensor), dtype=np.float64)


def weights(layer):
    return [numpy(w) for w in layer.weights]


@pytest.fixture(autouse=True)
def seeded():
    set_random_seed(0)


@pytest.fixture
def graph(rng):
    adjacency = random_graph(rng, NUM_NODES)
    features = rng.normal(size=(NUM_NODES, NUM_FEATURES)).astype(np.float32)
    return features, adjacency


def graph_forms(adjacency):
    """The same graph in every accepted form."""
    edge_index, edge_weight = graph_inputs(adjacency)
    return {
        "dense": adjacency.astype(np.float32),
        "scipy": sp.csr_matrix(adjacency),
        "edge_index": edge_index,
        "pair": (edge_index, edge_weight),
        "tensor_pair": (ops.convert_to_tensor(edge_index), ops.convert_to_tensor(edge_weight)),
    }


@pytest.mark.parametrize("form", ["dense", "scipy", "edge_index", "pair", "tensor_pair"])
def test_gcn_matches_dense_formula_for_every_graph_form(graph, form):
    features, adjacency = graph
    layer = GCNConv(CHANNELS, activation="relu", bias_initializer="random_normal")
    output = numpy(layer([features, graph_forms(adjacency)[form]]))
    kernel, bias = weights(layer)
    expected = np.maximum(gcn_layer(features.astype(np.float64), adjacency, kernel, bias), 0)
    np.testing.assert_allclose(output, expected, rtol=1e-5, atol=1e-5)


def test_gcn_uses_edge_weights_and_directions(rng):
    adjacency = random_graph(rng, NUM_NODES, symmetric=False, weighted=True)
    features = rng.normal(size=(NUM_NODES, NUM_FEATURES)).astype(np.float32)
    layer = GCNConv(CHANNELS, use_bias=False)
    output = numpy(layer([features, graph_inputs(adjacency)]))
    expected = gcn_layer(features.astype(np.float64), adjacency, weights(layer)[0])
    np.testing.assert_allclose(output, expected, rtol=1e-5, atol=1e-5)


def test_gcn_without_self_loops_or_normalisation(graph):
    features, adjacency = graph
    plain = GCNConv(CHANNELS, add_self_loops=False, normalize=False, use_bias=False)
    output = numpy(plain([features, adjacency]))
    np.testing.assert_allclose(output, adjacency @ features @ weights(plain)[0], rtol=1e-5,
                               atol=1e-5)
    # Feeding gcn_normalize's edge list to the plain layer is the default layer on the raw graph.
    default = GCNConv(CHANNELS, use_bias=False)
    default.build([features.shape, ((2, None), (None,))])
    default.set_weights(plain.get_weights())
    np.testing.assert_allclose(
        numpy(plain([features, gcn_normalize(graph_inputs(adjacency), NUM_NODES)])),
        numpy(default([features, adjacency])),
        rtol=1e-5, atol=1e-5,
    )


def test_propagate_is_a_sparse_matmul_with_its_gradients(rng):
    """Unsorted edges with a repeated pair: A @ H and both gradients of sum(G * A @ H)."""
    num_edges = 30
    edge_index = rng.integers(NUM_NODES, size=(2, num_edges)).astype(np.int32)
    edge_index[:, 1] = edge_index[:, 0]
    values = keras.Variable(rng.normal(size=(NUM_NODES, CHANNELS)).astype(np.float32))
    edge_weight = keras.Variable(rng.random(num_edges).astype(np.float32))
    upstream = rng.normal(size=(NUM_NODES, CHANNELS)).astype(np.float32)
    sources, targets = edge_index
    adjacency = np.zeros((NUM_NODES, NUM_NODES))
    np.add.at(adjacency, (targets, sources), numpy(edge_weight))

    def loss():
        output = propagate(values, ops.convert_to_tensor(edge_index), edge_weight, NUM_NODES)
        return ops.sum(output * ops.convert_to_tensor(upstream))

    value, (grad_values, grad_weight) = variables_value_and_grad(loss, [values, edge_weight])
    expected_value = np.sum(upstream * (adjacency @ numpy(values)))
    np.testing.assert_allclose(float(numpy(value)), expected_value, rtol=1e-5)
    np.testing.assert_allclose(numpy(grad_values), adjacency.T @ upstream, rtol=1e-5, atol=1e-6)
    expected_weight_grad = np.sum(upstream[targets] * numpy(values)[sources], axis=1)
    np.testing.assert_allclose(numpy(grad_weight), expected_weight_grad, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_segment_sum_and_max_match_keras_ops_with_empty_segments(rng, dtype):
    """The backend's fast paths (``index_add`` on PyTorch) keep the dtype and give what
    ``keras.ops`` gives, empty segments included (0 for a sum; for a maximum -inf, or the
    lowest float on TensorFlow)."""
    data = rng.normal(size=(7, 2, 3)).astype(dtype)
    segments = np.array([0, 3, 3, 1, 0, 3, 1], np.int32)  # segments 2 and 4 are empty
    tensor, ids = ops.convert_to_tensor(data), ops.convert_to_tensor(segments)  # float32 on JAX
    summed, largest = segment_sum(tensor, ids, 5), _segment_max(tensor, ids, 5)
    assert summed.dtype == tensor.dtype and largest.dtype == tensor.dtype
    expected_sum = np.zeros((5, 2, 3))
    np.add.at(expected_sum, segments, data)
    np.testing.assert_allclose(numpy(summed), expected_sum, rtol=1e-6)
    # Keras' own maximum runs in float32 on PyTorch, hence a tolerance.
    np.testing.assert_allclose(numpy(largest), numpy(ops.segment_max(tensor, ids, 5)), rtol=1e-6)
    expected_max = np.stack([data[segments == s].max(axis=0) for s in (0, 1, 3)])
    np.testing.assert_allclose(numpy(largest)[[0, 1, 3]], expected_max, rtol=1e-6)


def test_gcn_normalize_is_the_same_matrix_in_every_form(graph):
    _, adjacency = graph
    expected = gcn_propagation(adjacency)
    np.testing.assert_allclose(gcn_normalize(adjacency), expected, rtol=1e-12)
    normalized = gcn_normalize(sp.csr_matrix(adjacency))
    assert sp.issparse(normalized)
    np.testing.assert_allclose(normalized.toarray(), expected, rtol=1e-12)
    edge_index, edge_weight = gcn_normalize(graph_inputs(adjacency))
    rebuilt = np.zeros_like(expected)
    np.add.at(rebuilt, (edge_index[1], edge_index[0]), edge_weight)
    np.testing.assert_allclose(rebuilt, expected, rtol=1e-6)


@pytest.mark.parametrize("heads, concat", [(1, True), (HEADS, True), (HEADS, False)])
def test_gat_matches_dense_formula(graph, heads, concat):
    features, adjacency = graph
    layer = GATConv(CHANNELS, attn_heads=heads, concat_heads=concat, dropout_rate=0.0,
                    bias_initializer="random_normal", activation="elu")
    output = numpy(layer([features, adjacency]))
    kernel, attn_self, attn_neighs, bias = weights(layer)
    expected = gat_layer(features.astype(np.float64), adjacency, kernel, attn_self, attn_neighs,
                         bias, concat)
    expected = np.where(expected > 0, expected, np.expm1(expected))
    assert output.shape == (NUM_NODES, CHANNELS * heads if concat else CHANNELS)
    np.testing.assert_allclose(output, expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("layer_class", [GCNConv, GATConv])
def test_layers_run_in_float64(graph, layer_class):
    # Keras computes float64 matrix products in float32 on PyTorch, and JAX without x64 has no
    # float64 at all; the layers must still run, without a float32/float64 mix, and return
    # the backend's float64.
    features, adjacency = graph
    layer = layer_class(CHANNELS, dtype="float64")
    output = layer([features.astype(np.float64), adjacency])
    backend_float64 = ops.convert_to_tensor(np.zeros(1, np.float64)).dtype
    assert keras.backend.standardize_dtype(output.dtype) == keras.backend.standardize_dtype(
        backend_float64)
    if layer_class is GCNConv:
        expected = gcn_layer(features.astype(np.float64), adjacency, *weights(layer))
    else:
        expected = gat_layer(features.astype(np.float64), adjacency, *weights(layer))
    np.testing.assert_allclose(numpy(output), expected, rtol=1e-5, atol=1e-6)


def test_gat_directed_graph_without_self_loops(rng):
    adjacency = random_graph(rng, NUM_NODES, symmetric=False)
    features = rng.normal(size=(NUM_NODES, NUM_FEATURES)).astype(np.float32)
    layer = GATConv(CHANNELS, attn_heads=HEADS, add_self_loops=False, dropout_rate=0.0, use_bias=False)
    output = numpy(layer([features, sp.coo_matrix(adjacency)]))
    expected = gat_layer(features.astype(np.float64), adjacency, *weights(layer),
                         add_self_loops=False)
    np.testing.assert_allclose(output, expected, rtol=1e-5, atol=1e-5)


def test_gat_attention_rows_sum_to_one_and_match_formula(graph):
    features, adjacency = graph
    # A listed self-loop must not make a node attend to itself twice.
    adjacency = adjacency.copy()
    adjacency[0, 0] = 1.0
    layer = GATConv(CHANNELS, attn_heads=HEADS, return_attn_coef=True, dropout_rate=0.0)
    _output, attn_coef = layer([features, adjacency])
    attn_coef = numpy(attn_coef)
    edge_index, edge_weight = graph_inputs(adjacency)
    all_edges, _ = add_self_loops(edge_index, edge_weight, NUM_NODES)
    all_edges = ops.convert_to_numpy(all_edges)
    assert attn_coef.shape == (all_edges.shape[1], 2)
    dense = np.zeros((NUM_NODES, NUM_NODES, 2))
    np.add.at(dense, (all_edges[1], all_edges[0]), attn_coef)
    np.testing.assert_allclose(dense.sum(axis=1), 1.0, rtol=1e-5)
    kernel, attn_self, attn_neighs, _ = weights(layer)
    expected, _ = gat_attention(features.astype(np.float64), adjacency, kernel, attn_self,
                                attn_neighs)
    np.testing.assert_allclose(dense, expected, rtol=1e-5, atol=1e-6)


def test_gat_attention_dropout_only_while_training(graph):
    features, adjacency = graph
    layer = GATConv(CHANNELS, attn_heads=HEADS, dropout_rate=0.5, seed=3)
    inputs = [features, adjacency]
    np.testing.assert_allclose(numpy(layer(inputs)), numpy(layer(inputs, training=False)))
    assert not np.allclose(numpy(layer(inputs, training=True)), numpy(layer(inputs)))


def test_segment_softmax_survives_huge_logits_and_masks():
    from course_kit.layers import segment_softmax

    logits = np.array([1000.0, 1001.0, -1000.0, 5.0, 7.0], np.float32)
    segments = np.array([0, 0, 1, 2, 2], np.int32)
    mask = np.array([True, True, True, False, False])
    result = numpy(segment_softmax(logits, segments, 3, mask=mask))
    np.testing.assert_allclose(result[:2], np.exp([-1, 0]) / np.exp([-1, 0]).sum(), rtol=1e-6)
    np.testing.assert_allclose(result[2:], [1.0, 0.0, 0.0])


@pytest.mark.parametrize("layer_class", [GCNConv, GATConv])
def test_gradients_match_finite_differences_direction(graph, layer_class):
    """Gradients exist for every weight and agree with a central difference along them."""
    features, adjacency = graph
    layer = layer_class(CHANNELS, **({"attn_heads": HEADS} if layer_class is GATConv else {}))
    pair = graph_inputs(adjacency)
    layer([features, pair])

    def loss():
        return ops.sum(ops.tanh(layer([features, pair], training=False)))

    _value, grads = variables_value_and_grad(loss, layer.trainable_variables)
    for variable, grad in zip(layer.trainable_variables, grads):
        grad = numpy(grad)
        assert np.abs(grad).sum() > 0, variable.path
        original = numpy(variable)
        direction = grad / np.linalg.norm(grad)
        step = 3e-3
        variable.assign((original + step * direction).astype(np.float32))
        plus = float(numpy(loss()))
        variable.assign((original - step * direction).astype(np.float32))
        minus = float(numpy(loss()))
        variable.assign(original.astype(np.float32))
        np.testing.assert_allclose((plus - minus) / (2 * step), np.linalg.norm(grad), rtol=2e-2)


@pytest.mark.parametrize(
    "layer",
    [
        GCNConv(CHANNELS, activation="relu", kernel_regularizer="l2"),
        GATConv(CHANNELS, attn_heads=HEADS, concat_heads=False, dropout_rate=0.1,
                return_attn_coef=True),
    ],
    ids=["gcn", "gat"],
)
def test_layers_save_and_reload_in_a_functional_model(tmp_path, graph, layer):
    features, adjacency = graph
    edge_index, edge_weight = graph_inputs(adjacency)
    node_input = keras.Input(shape=(NUM_FEATURES,), batch_size=NUM_NODES, name="features")
    index_input = keras.Input(shape=(edge_index.shape[1],), batch_size=2, dtype="int32")
    weight_input = keras.Input(shape=(), batch_size=edge_index.shape[1])
    outputs = layer([node_input, (index_input, weight_input)])
    model = keras.Model([node_input, index_input, weight_input], outputs)
    before = keras.tree.map_structure(numpy, model([features, edge_index, edge_weight]))
    path = tmp_path / "graph_layer.keras"
    model.save(path)
    reloaded = keras.saving.load_model(path)
    after = reloaded([features, edge_index, edge_weight])
    for expected, actual in zip(keras.tree.flatten(before), keras.tree.flatten(after)):
        np.testing.assert_allclose(numpy(actual), expected, rtol=1e-6, atol=1e-6)
    assert reloaded.layers[-1].get_config() == layer.get_config()


@pytest.mark.parametrize("layer_class", [GCNConv, GATConv])
def test_bad_inputs_raise_clear_errors(graph, layer_class):
    features, adjacency = graph
    layer = layer_class(CHANNELS)
    with pytest.raises(ValueError, match="square"):
        layer([features, adjacency[:, :-1]])
    with pytest.raises(ValueError, match="nodes"):
        layer([features, adjacency[:-1, :-1]])
    with pytest.raises(ValueError, match="only 9 nodes"):
        layer([features, np.array([[0, 1, 2], [1, 2, 9]])])
    with pytest.raises(ValueError, match="negative"):
        layer([features, np.array([[0, -1, 2], [1, 2, 3]])])
    with pytest.raises(ValueError, match="rank 2"):
        layer([features[None], adjacency])
    with pytest.raises(ValueError, match="edge_weight"):
        layer([features, (np.array([[0, 1, 2], [1, 2, 3]]), np.ones(4, np.float32))])
    with pytest.raises(ValueError, match="could be an adjacency or an edge index"):
        layer([features[:2], np.array([[0, 1], [1, 0]])])

"""Spektral as the oracle: same weights in Spektral's GCNConv / GATConv give the same outputs.

Spektral 1.3.1 runs on legacy tf.keras (``TF_USE_LEGACY_KERAS=1``, set by conftest before
TensorFlow is imported), so these tests need the TensorFlow backend. In CI a missing Spektral
is an error, never a skip.
"""

import os

import keras
import numpy as np
import pytest
import scipy.sparse as sp
from graph_reference import random_graph

from course_kit.layers import GATConv, GCNConv, gcn_normalize

pytestmark = pytest.mark.spektral

if keras.backend.backend() != "tensorflow":
    pytest.skip(
        "Spektral parity needs the TensorFlow backend (Spektral runs on legacy tf.keras); "
        "run with KERAS_BACKEND=tensorflow",
        allow_module_level=True,
    )
try:
    import spektral  # noqa: F401
    import tensorflow as tf
    from spektral.layers import GATConv as SpektralGATConv
    from spektral.layers import GCNConv as SpektralGCNConv
    from spektral.utils import gcn_filter, sp_matrix_to_sp_tensor
except ImportError as error:
    if os.environ.get("CI"):
        raise ImportError(
            "Spektral parity tests must run in CI: install the dev extra (tf-keras, spektral)"
        ) from error
    pytest.skip(f"Spektral / tf-keras not installed ({error}); pip install -e .[spektral]",
                allow_module_level=True)

NUM_NODES, NUM_FEATURES = 12, 6


def numpy(tensor):
    return np.asarray(keras.ops.convert_to_numpy(tensor))


@pytest.fixture
def features(rng):
    return rng.normal(size=(NUM_NODES, NUM_FEATURES)).astype(np.float32)


@pytest.mark.parametrize("symmetric, weighted", [(True, False), (False, True)])
def test_gcn_normalize_matches_gcn_filter(rng, symmetric, weighted):
    adjacency = random_graph(rng, NUM_NODES, symmetric=symmetric, weighted=weighted)
    adjacency[3, 3] = 1.0  # an existing self-loop: both add I on top
    np.testing.assert_allclose(gcn_normalize(adjacency), gcn_filter(adjacency.copy()), rtol=1e-12)
    ours = gcn_normalize(sp.csr_matrix(adjacency))
    theirs = gcn_filter(sp.csr_matrix(adjacency))
    np.testing.assert_allclose(ours.toarray(), theirs.toarray(), rtol=1e-12)


@pytest.mark.parametrize("sparse", [False, True])
def test_gcn_conv_matches_spektral(rng, features, sparse):
    adjacency = random_graph(rng, NUM_NODES, symmetric=not sparse, weighted=True)
    ours = GCNConv(4, activation="relu", bias_initializer="random_normal")
    output = numpy(ours([features, adjacency]))
    spektral_layer = SpektralGCNConv(4, activation="relu")
    propagation = gcn_filter(adjacency.astype(np.float32))
    graph = sp_matrix_to_sp_tensor(sp.csr_matrix(propagation)) if sparse else propagation
    spektral_layer([tf.constant(features), graph])
    assert [w.shape for w in spektral_layer.get_weights()] == [w.shape for w in ours.get_weights()]
    spektral_layer.set_weights(ours.get_weights())
    expected = spektral_layer([tf.constant(features), graph]).numpy()
    np.testing.assert_allclose(output, expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("heads, concat", [(1, True), (2, True), (4, True), (3, False)])
@pytest.mark.parametrize("sparse", [False, True])
def test_gat_conv_matches_spektral(rng, features, heads, concat, sparse):
    # Spektral's sparse path aggregates along columns, its dense path along rows; on a
    # symmetric graph both agree with ours. The dense case also runs a directed graph.
    adjacency = random_graph(rng, NUM_NODES, symmetric=sparse).astype(np.float32)
    ours = GATConv(5, attn_heads=heads, concat_heads=concat, activation="elu",
                   bias_initializer="random_normal", return_attn_coef=True)
    output, attn_coef = ours([features, adjacency])
    spektral_layer = SpektralGATConv(5, attn_heads=heads, concat_heads=concat, activation="elu",
                                     return_attn_coef=True)
    graph = sp_matrix_to_sp_tensor(sp.csr_matrix(adjacency)) if sparse else adjacency
    spektral_layer([tf.constant(features), graph])
    names = [w.name.split("/")[-1].split(":")[0] for w in spektral_layer.weights]
    assert [w.shape for w in spektral_layer.get_weights()] == [w.shape for w in ours.get_weights()]
    assert names[:2] == ["kernel", "attn_kernel_self"] and names[-1] == "bias"
    spektral_layer.set_weights(ours.get_weights())
    expected, expected_attention = spektral_layer([tf.constant(features), graph], training=False)
    np.testing.assert_allclose(numpy(output), expected.numpy(), rtol=1e-5, atol=1e-5)
    if not sparse:
        # Spektral's dense attention is (N, heads, N); ours is per edge, self-loops appended.
        edges = np.nonzero(adjacency)
        loops = np.arange(NUM_NODES)
        targets = np.concatenate([edges[0], loops])
        sources = np.concatenate([edges[1], loops])
        dense = expected_attention.numpy()[targets, :, sources]
        np.testing.assert_allclose(numpy(attn_coef), dense, rtol=1e-5, atol=1e-6)

"""q3_1: the GCN layer and its normalisation.

Contract: ``gcn_normalize(adjacency)`` returns ``D~^-1/2 (A + I) D~^-1/2`` of a dense NumPy
adjacency; ``GCNConv(channels)`` is a Keras layer with weights ``kernel`` ``(F, channels)``
and ``bias`` ``(channels,)``, no activation, whose call ``layer([features, graph])`` takes
``features`` ``(N, F)`` and ``graph`` either a dense adjacency ``(N, N)`` or a sparse edge
index ``(2, E)`` (int; row 0 sources, row 1 targets) and returns ``A_hat features kernel +
bias``, ``(N, channels)``. Two common mistakes are recognised and get the notebook's hints:
no self-loops, and 1 / degree instead of 1 / sqrt(degree).
"""

from grader.registry import KERAS_GRAPH, KIT_ANSWERS, Check, Question, RubricItem

from . import edit, helpers

_MISTAKES = (("no_self_loops", "no_self_loops"), ("inverse_degree", "inverse_degree"))

QUESTION = Question(
    "q3_1", "GCN layer", 3, "09_gcn.ipynb",
    checks=(
        Check("gcn_normalize: D^-1/2 (A+I) D^-1/2", 2, "normalized", rtol=1e-6, atol=1e-8,
              mistakes=_MISTAKES),
        Check("weight names and shapes", 1, "weight_shapes", kind="equal"),
        Check("outputs with a dense adjacency", 2, "outputs_dense", mistakes=_MISTAKES),
        Check("outputs with a sparse edge index", 2, "outputs_sparse", mistakes=_MISTAKES),
        Check("gradients with respect to the weights", 1, "gradients"),
    ),
    forbidden=KIT_ANSWERS + KERAS_GRAPH,
    rubric=(
        RubricItem("message passing explained in terms of A_hat", 2),
        RubricItem("one drawback and a remedy", 2),
    ),
)


def probe(namespace, context):
    import numpy as np
    from keras import ops

    from course_kit.autodiff import variables_value_and_grad

    probes = helpers()
    results = {}
    try:
        normalize = probes.student_object(namespace, "gcn_normalize", "function")
        results["normalized"] = np.asarray(
            probes.to_numpy(normalize(np.asarray(context["adjacency"]))), dtype=np.float64)
    except Exception as error:
        context.notes.append(f"gcn_normalize: {type(error).__name__}: {error}")
    layer, variables, shapes = probes.graph_layer(namespace, context, "GCNConv",
                                                  ("kernel", "bias"))
    results.update(shapes)
    if layer is None:
        return results
    features = ops.convert_to_tensor(context.array("features"))
    dense = ops.convert_to_tensor(context.array("adjacency"))
    results["outputs_dense"] = probes.to_numpy(layer([features, dense]))
    try:
        edges = ops.convert_to_tensor(np.asarray(context["edge_index"], dtype=np.int32))
        results["outputs_sparse"] = probes.to_numpy(layer([features, edges]))
    except Exception as error:
        context.notes.append(f"edge-index input: {type(error).__name__}: {error}")
    readout = ops.convert_to_tensor(context.array("readout"))
    _, grads = variables_value_and_grad(lambda: ops.sum(layer([features, dense]) * readout),
                                        variables)
    results["gradients"] = np.concatenate([probes.to_numpy(g).ravel() for g in grads])
    return results


def record(public=False):
    """Seed 31: the fall 2019 example graph, 4 features, 3 channels (public: the 2020 graph, 5
    features, 2 channels); the kit's layer, and the two recognised mistakes."""
    from course_kit.layers import GCNConv, gcn_normalize
    from grader.probes import Context
    from grader.references import GRAPH_SIZES, graph_inputs, run_cells, seeded

    graph, features, channels = GRAPH_SIZES[public]
    inputs = graph_inputs(seeded(31, public), {"kernel": (features, channels),
                                               "bias": (channels,)}, graph, features, channels)
    expected = probe({"GCNConv": GCNConv, "gcn_normalize": gcn_normalize}, Context(inputs))
    for _, mutant in _MISTAKES:
        outputs = run_cells(probe, [MUTANTS[mutant]], inputs)
        for key in ("normalized", "outputs_dense", "outputs_sparse"):
            expected[f"{key}@{mutant}"] = outputs[key]
    return inputs, expected


_ANSWER = '''
import keras
import numpy as np
from keras import ops


def gcn_normalize(adjacency):
    a = np.asarray(adjacency, dtype=float) + np.eye(len(adjacency))
    scale = 1.0 / np.sqrt(a.sum(axis=1))
    return a * scale[:, None] * scale[None, :]


class GCNConv(keras.layers.Layer):
    def __init__(self, channels, **kwargs):
        super().__init__(**kwargs)
        self.channels = channels

    def build(self, input_shape):
        self.kernel = self.add_weight(shape=(input_shape[0][-1], self.channels), name="kernel")
        self.bias = self.add_weight(shape=(self.channels,), initializer="zeros", name="bias")

    def call(self, inputs):
        features, graph = inputs
        n = ops.shape(features)[0]
        if "int" in keras.backend.standardize_dtype(graph.dtype):
            pairs = ops.stack([graph[1], graph[0]], axis=1)
            graph = ops.scatter(pairs, ops.ones((ops.shape(pairs)[0],), features.dtype), (n, n))
        a = graph + ops.eye(n, dtype=features.dtype)
        scale = 1.0 / ops.sqrt(ops.sum(a, axis=1))
        a_hat = a * scale[:, None] * scale[None, :]
        return ops.matmul(a_hat, ops.matmul(features, self.kernel)) + self.bias
'''

MUTANTS = {
    # D^-1/2 A D^-1/2: no self-loops, in the normalisation and in the layer
    "no_self_loops": edit(
        _ANSWER, ("a = np.asarray(adjacency, dtype=float) + np.eye(len(adjacency))",
                  "a = np.asarray(adjacency, dtype=float)"),
        ("a = graph + ops.eye(n, dtype=features.dtype)", "a = graph")),
    # D^-1 (A + I) D^-1: 1 / degree instead of 1 / sqrt(degree)
    "inverse_degree": edit(_ANSWER, ("scale = 1.0 / np.sqrt(a.sum(axis=1))",
                                     "scale = 1.0 / a.sum(axis=1)"),
                           ("scale = 1.0 / ops.sqrt(ops.sum(a, axis=1))",
                            "scale = 1.0 / ops.sum(a, axis=1)")),
    # the bias propagated with the features: A_hat (X W + b)
    "bias_propagated": edit(_ANSWER, (
        "ops.matmul(a_hat, ops.matmul(features, self.kernel)) + self.bias",
        "ops.matmul(a_hat, ops.matmul(features, self.kernel) + self.bias)")),
    # only dense adjacencies: the edge index is used as if it were a matrix
    "dense_only": edit(_ANSWER, (
        '''        if "int" in keras.backend.standardize_dtype(graph.dtype):
            pairs = ops.stack([graph[1], graph[0]], axis=1)
            graph = ops.scatter(pairs, ops.ones((ops.shape(pairs)[0],), features.dtype), (n, n))
''', "")),
}

ALTERNATIVES = {
    # diagonal matrices D^-1/2, and the edge index made dense by one-hot products
    "diagonal_matrices_one_hot_edges": '''
import keras
import numpy as np
from keras import ops


def gcn_normalize(adjacency):
    a_tilde = np.asarray(adjacency, dtype=float) + np.identity(np.shape(adjacency)[0])
    d_inv_sqrt = np.diag(np.power(a_tilde.sum(axis=0), -0.5))
    return d_inv_sqrt @ a_tilde @ d_inv_sqrt


class GCNConv(keras.layers.Layer):
    def __init__(self, channels, **kwargs):
        super().__init__(**kwargs)
        self.channels = channels

    def build(self, input_shape):
        features, _ = input_shape
        self.kernel = self.add_weight(shape=(features[-1], self.channels),
                                      initializer="glorot_uniform", name="kernel")
        self.bias = self.add_weight(shape=(self.channels,), initializer="zeros", name="bias")

    def call(self, inputs):
        features, graph = inputs
        n = ops.shape(features)[0]
        if "int" in keras.backend.standardize_dtype(graph.dtype):
            sources = ops.one_hot(graph[0], n, dtype=features.dtype)  # (E, N)
            targets = ops.one_hot(graph[1], n, dtype=features.dtype)
            graph = ops.matmul(ops.transpose(targets), sources)  # A[target, source]
        a_tilde = ops.cast(graph, features.dtype) + ops.eye(n, dtype=features.dtype)
        d_inv_sqrt = ops.diag(ops.power(ops.sum(a_tilde, axis=-1), -0.5))
        a_hat = ops.matmul(d_inv_sqrt, ops.matmul(a_tilde, d_inv_sqrt))
        return ops.matmul(a_hat, ops.matmul(features, self.kernel)) + self.bias
''',
}

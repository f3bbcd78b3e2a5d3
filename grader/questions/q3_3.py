"""q3_3: the graph attention (GAT) layer.

Contract: ``GATConv(channels)`` is a one-head graph attention layer with weights ``kernel``
``(F, channels)``, ``attn_kernel_self`` and ``attn_kernel_neighs`` ``(channels, 1)`` and
``bias`` ``(channels,)``, no activation. ``layer([features, adjacency])`` (dense ``(N, N)``,
``A[i, j] = 1`` when j is a neighbour of i) returns ``(output, attention)``: ``z = features
kernel``, ``e_ij = LeakyReLU_0.2(z_i attn_kernel_self + z_j attn_kernel_neighs)``,
``alpha_ij`` the softmax of ``e_ij`` over the neighbours j of i and i itself, ``output_i =
sum_j alpha_ij z_j + bias`` ``(N, channels)`` and ``attention`` the dense ``(N, N)`` matrix of
``alpha_ij`` (0 outside the neighbourhood). The reference is the kit's ``GATConv``.
"""

from grader.registry import KERAS_GRAPH, KIT_ANSWERS, Check, Question, RubricItem

from . import edit, helpers

WEIGHTS = ("kernel", "attn_kernel_self", "attn_kernel_neighs", "bias")

QUESTION = Question(
    "q3_3", "Graph attention (GAT) layer", 3, "10_gat.ipynb",
    checks=(
        Check("weight names and shapes", 1, "weight_shapes", kind="equal"),
        Check("outputs", 3, "outputs"),
        Check("attention: softmax over each neighbourhood", 2, "attention"),
    ),
    forbidden=KIT_ANSWERS + KERAS_GRAPH,
    rubric=(RubricItem("the attention update written as a formula", 2),),
)


def probe(namespace, context):
    from keras import ops

    probes = helpers()
    layer, _, results = probes.graph_layer(namespace, context, "GATConv", WEIGHTS)
    if layer is None:
        return results
    returned = layer([ops.convert_to_tensor(context.array("features")),
                      ops.convert_to_tensor(context.array("adjacency"))])
    if not isinstance(returned, (tuple, list)) or len(returned) != 2:
        raise probes.ContractError("GATConv must return the pair (output, attention)")
    results["outputs"] = probes.to_numpy(returned[0])
    results["attention"] = probes.to_numpy(returned[1])
    return results


def _dense_attention(adjacency, coefficients):
    """One head's attention as an ``(N, N)`` matrix: the ``coefficients`` ``(E', heads)`` of
    the kit's ``GATConv`` on the graph ``adjacency``, with self-loops, scattered to ``[target,
    source]``."""
    import numpy as np
    from keras import ops

    from course_kit.layers import add_self_loops, graph_inputs

    edge_index, edge_weight = graph_inputs(adjacency)
    edge_index, _ = add_self_loops(ops.convert_to_tensor(edge_index),
                                   ops.convert_to_tensor(edge_weight), len(adjacency))
    sources, targets = ops.convert_to_numpy(edge_index)
    attention = np.zeros_like(adjacency)
    attention[targets, sources] = ops.convert_to_numpy(coefficients)[:, 0]
    return attention


def record(public=False):
    """Seed 33: the fall 2019 example graph, 4 features, 3 channels (public: the 2020 graph, 5
    features, 2 channels); the kit's one-head GATConv with these weights, its attention
    scattered into (N, N)."""
    import numpy as np
    from keras import ops

    from course_kit.layers import GATConv
    from grader.references import GRAPH_SIZES, graph_inputs, seeded

    graph, num_features, channels = GRAPH_SIZES[public]
    shapes = {"kernel": (num_features, channels), "attn_kernel_self": (channels, 1),
              "attn_kernel_neighs": (channels, 1), "bias": (channels,)}
    inputs = graph_inputs(seeded(33, public), shapes, graph, num_features, channels)
    layer = GATConv(channels, attn_heads=1, dropout_rate=0.0, return_attn_coef=True)
    features, adjacency = inputs["features"], inputs["adjacency"]
    layer([features, adjacency])
    for name in WEIGHTS[:3]:
        getattr(layer, name).assign(inputs[f"w_{name}"][:, None, :])
    layer.bias.assign(inputs["w_bias"])
    output, coefficients = layer([features, adjacency])
    expected = {"weight_shapes": np.array([(*shape, 0)[:2] for shape in shapes.values()]),
                "outputs": ops.convert_to_numpy(output),
                "attention": _dense_attention(adjacency, coefficients)}
    return inputs, expected


_ANSWER = '''
import keras
from keras import ops


class GATConv(keras.layers.Layer):
    def __init__(self, channels, **kwargs):
        super().__init__(**kwargs)
        self.channels = channels

    def build(self, input_shape):
        c = self.channels
        self.kernel = self.add_weight(shape=(input_shape[0][-1], c), name="kernel")
        self.attn_kernel_self = self.add_weight(shape=(c, 1), name="attn_kernel_self")
        self.attn_kernel_neighs = self.add_weight(shape=(c, 1), name="attn_kernel_neighs")
        self.bias = self.add_weight(shape=(c,), initializer="zeros", name="bias")

    def call(self, inputs):
        features, adjacency = inputs
        z = ops.matmul(features, self.kernel)
        scores = (ops.matmul(z, self.attn_kernel_self)
                  + ops.transpose(ops.matmul(z, self.attn_kernel_neighs)))
        scores = ops.leaky_relu(scores, negative_slope=0.2)
        neighbours = (adjacency + ops.eye(ops.shape(features)[0], dtype=features.dtype)) > 0
        alpha = ops.softmax(ops.where(neighbours, scores, -1e9), axis=-1)
        alpha = ops.where(neighbours, alpha, 0.0)
        return ops.matmul(alpha, z) + self.bias, alpha
'''

MUTANTS = {
    # attention over every node, not the neighbourhood
    "softmax_over_all_nodes": edit(_ANSWER, (
        "alpha = ops.softmax(ops.where(neighbours, scores, -1e9), axis=-1)\n"
        "        alpha = ops.where(neighbours, alpha, 0.0)",
        "alpha = ops.softmax(scores, axis=-1)")),
    # the node itself left out of its neighbourhood
    "no_self_attention": edit(_ANSWER, (
        "neighbours = (adjacency + ops.eye(ops.shape(features)[0], dtype=features.dtype)) > 0",
        "neighbours = adjacency > 0")),
    # normalised over the wrong axis: columns sum to 1
    "softmax_over_columns": edit(_ANSWER, ("scores, -1e9), axis=-1)", "scores, -1e9), axis=0)")),
    # the self and neighbour attention kernels swapped
    "attention_kernels_swapped": edit(_ANSWER, (
        "(ops.matmul(z, self.attn_kernel_self)\n"
        "                  + ops.transpose(ops.matmul(z, self.attn_kernel_neighs)))",
        "(ops.matmul(z, self.attn_kernel_neighs)\n"
        "                  + ops.transpose(ops.matmul(z, self.attn_kernel_self)))")),
}

ALTERNATIVES = {
    # the softmax written out: LeakyReLU by hand, masked exponentials, row sums
    "masked_exponentials": '''
import keras
from keras import ops


class GATConv(keras.layers.Layer):
    def __init__(self, channels, **kwargs):
        super().__init__(**kwargs)
        self.channels = channels

    def build(self, input_shape):
        f, c = input_shape[0][-1], self.channels
        self.kernel = self.add_weight(shape=(f, c), name="kernel")
        self.attn_kernel_self = self.add_weight(shape=(c, 1), name="attn_kernel_self")
        self.attn_kernel_neighs = self.add_weight(shape=(c, 1), name="attn_kernel_neighs")
        self.bias = self.add_weight(shape=(c,), initializer="zeros", name="bias")

    def call(self, inputs):
        features, adjacency = inputs
        n = ops.shape(features)[0]
        z = ops.matmul(features, self.kernel)
        source = ops.reshape(ops.matmul(z, self.attn_kernel_self), (n, 1))
        target = ops.reshape(ops.matmul(z, self.attn_kernel_neighs), (1, n))
        e = source + target
        e = ops.where(e > 0, e, 0.2 * e)
        mask = ops.cast((ops.cast(adjacency, z.dtype) + ops.eye(n, dtype=z.dtype)) > 0, z.dtype)
        e = e - ops.max(ops.where(mask > 0, e, -1e9), axis=1, keepdims=True)
        weights = ops.exp(ops.minimum(e, 0.0)) * mask
        attention = weights / ops.sum(weights, axis=1, keepdims=True)
        return ops.matmul(attention, z) + self.bias, attention
''',
}

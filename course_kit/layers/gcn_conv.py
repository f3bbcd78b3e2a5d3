"""Graph convolution (Kipf & Welling, 2017) as message passing over an edge list."""

import keras
from keras import ops

from course_kit.layers.graph_ops import (
    GraphLayer,
    gcn_normalize,
    node_count,
    normalize_edges,
    propagate,
    split_graph_inputs,
)
from course_kit.layers.graph_ops import add_self_loops as append_self_loops

__all__ = ["GCNConv", "gcn_normalize"]


# BEGIN ANSWER q3_1
@keras.saving.register_keras_serializable(package="course_kit")
class GCNConv(GraphLayer):
    """Graph convolution ``H' = activation(A_hat H W + b)``, ``A_hat = D~^-1/2 (A + I) D~^-1/2``.

    ``D~_ii = sum_j (A + I)_ij``. The layer never forms a dense N x N matrix: it computes
    ``H W``, gathers it along the edges, scales each message by its normalised weight
    ``w_ij / sqrt(D~_ii D~_jj)`` and sums the messages per target node
    (``course_kit.layers.graph_ops.propagate``), on any Keras backend.

    Call: ``layer([features, graph])``

    - ``features``: ``(N, F)`` node features (one graph, no batch axis).
    - ``graph``: the raw (unnormalised) graph as a dense adjacency ``(N, N)``, a SciPy sparse
      matrix, an integer edge index ``(2, E)``, or a pair ``(edge_index, edge_weight)`` with
      ``edge_index`` int ``(2, E)`` (row 0 sources, row 1 targets; ``A[target, source] =
      weight``) and ``edge_weight`` float ``(E,)``. Dense and SciPy matrices are converted on
      the host, so they work in eager calls only; in a ``keras.Model`` feed the pair from
      ``course_kit.layers.graph_inputs(graph)`` as two model inputs.

    Output: ``(N, channels)``.

    Weights (named after the equation): ``kernel`` ``W`` of shape ``(F, channels)`` and
    ``bias`` ``b`` of shape ``(channels,)``, the same names and shapes as Spektral's
    ``GCNConv``. Spektral's layer expects ``gcn_filter(A)`` as its graph; this one normalises
    inside, so ``GCNConv(c)([x, A])`` equals Spektral's ``GCNConv(c)([x, gcn_filter(A)])``
    with the same weights, and equals ``GCNConv(c, add_self_loops=False, normalize=False)(
    [x, gcn_normalize(A)])``.

    Args:
        channels: number of output features.
        activation: activation applied last (``None``: linear).
        use_bias: add ``bias``.
        add_self_loops: use ``A + I`` (each node keeps its own features). ``I`` is added even
            where ``A`` has a self-loop, as in ``gcn_normalize`` and Spektral's ``gcn_filter``.
        normalize: scale edge weights symmetrically by degree; ``False`` uses the graph's
            weights as given (for a graph already passed through ``gcn_normalize``).
        kernel_initializer, bias_initializer, kernel_regularizer, bias_regularizer,
        kernel_constraint, bias_constraint: as in ``keras.layers.Dense``.
    """

    def __init__(
        self,
        channels,
        activation=None,
        use_bias=True,
        add_self_loops=True,
        normalize=True,
        kernel_initializer="glorot_uniform",
        bias_initializer="zeros",
        kernel_regularizer=None,
        bias_regularizer=None,
        kernel_constraint=None,
        bias_constraint=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if int(channels) != channels or channels < 1:
            raise ValueError(f"channels must be a positive integer; got {channels!r}")
        self.channels = int(channels)
        self.activation = keras.activations.get(activation)
        self.use_bias = use_bias
        self.add_self_loops = add_self_loops
        self.normalize = normalize
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.bias_initializer = keras.initializers.get(bias_initializer)
        self.kernel_regularizer = keras.regularizers.get(kernel_regularizer)
        self.bias_regularizer = keras.regularizers.get(bias_regularizer)
        self.kernel_constraint = keras.constraints.get(kernel_constraint)
        self.bias_constraint = keras.constraints.get(bias_constraint)

    def build(self, input_shape):
        features_shape = input_shape[0]
        if len(features_shape) != 2:
            raise ValueError(
                f"{self.name}: features must have rank 2 (num_nodes, num_features); got shape "
                f"{tuple(features_shape)}"
            )
        self.kernel = self.add_weight(
            name="kernel",
            shape=(features_shape[-1], self.channels),
            initializer=self.kernel_initializer,
            regularizer=self.kernel_regularizer,
            constraint=self.kernel_constraint,
        )
        if self.use_bias:
            self.bias = self.add_weight(
                name="bias",
                shape=(self.channels,),
                initializer=self.bias_initializer,
                regularizer=self.bias_regularizer,
                constraint=self.bias_constraint,
            )

    def call(self, inputs):
        features, edge_index, edge_weight = split_graph_inputs(inputs, self.name)
        num_nodes = node_count(features)
        if self.normalize:
            edge_index, edge_weight = normalize_edges(
                edge_index, edge_weight, num_nodes, self.add_self_loops
            )
        elif self.add_self_loops:
            edge_index, edge_weight = append_self_loops(edge_index, edge_weight, num_nodes)
        transformed = ops.matmul(features, self.kernel)  # H W: (N, channels)
        output = propagate(transformed, edge_index, edge_weight, num_nodes)  # A_hat H W
        if self.use_bias:
            output = output + self.bias
        return self.activation(output)

    def compute_output_shape(self, input_shape):
        return (input_shape[0][0], self.channels)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "channels": self.channels,
                "activation": keras.activations.serialize(self.activation),
                "use_bias": self.use_bias,
                "add_self_loops": self.add_self_loops,
                "normalize": self.normalize,
                "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
                "bias_initializer": keras.initializers.serialize(self.bias_initializer),
                "kernel_regularizer": keras.regularizers.serialize(self.kernel_regularizer),
                "bias_regularizer": keras.regularizers.serialize(self.bias_regularizer),
                "kernel_constraint": keras.constraints.serialize(self.kernel_constraint),
                "bias_constraint": keras.constraints.serialize(self.bias_constraint),
            }
        )
        return config
# END ANSWER

"""Graph attention (Velickovic et al., 2018) as message passing over an edge list."""

import keras
from keras import ops

from course_kit.layers.graph_ops import (
    GraphLayer,
    gather_rows,
    node_count,
    segment_softmax,
    segment_sum,
    split_graph_inputs,
)
from course_kit.layers.graph_ops import (
    add_self_loops as append_self_loops,
)

__all__ = ["GATConv"]


# BEGIN ANSWER q3_3
@keras.saving.register_keras_serializable(package="course_kit")
class GATConv(GraphLayer):
    """Graph attention layer with several heads.

    For each head ``k`` and each edge ``j -> i`` (``j`` a neighbour of ``i``, ``i`` itself
    included when ``add_self_loops``)::

        z_j       = h_j W_k                                       (W_k = kernel[:, k, :])
        e_ij      = LeakyReLU_0.2(a_self_k . z_i + a_neighs_k . z_j)
        alpha_ij  = exp(e_ij) / sum_{l in N(i)} exp(e_il)         (segment softmax over i's edges)
        h'_i,k    = sum_{j in N(i)} dropout(alpha_ij) z_j

    and ``h'_i = activation(concat_k h'_i,k + b)`` (``concat_heads=True``, output
    ``heads * channels`` wide) or ``activation(mean_k h'_i,k + b)`` (``channels`` wide).
    ``a . [z_i || z_j]`` of the paper is split into ``a_self . z_i + a_neighs . z_j``.
    Nothing N x N is formed: the softmax runs per target node over the edge list.

    The graph's structure is what counts: edges of weight 0 are treated as absent, other
    weights are ignored (as in Spektral). With ``add_self_loops`` every node attends to itself
    exactly once, whether or not the graph already lists a self-loop.

    Call: ``layer([features, graph])``, inputs as for :class:`GCNConv`: ``features`` ``(N, F)``
    and ``graph`` a dense adjacency ``(N, N)``, a SciPy sparse matrix, an integer edge index
    ``(2, E)`` (row 0 sources, row 1 targets) or a pair ``(edge_index, edge_weight)``; in a
    compiled ``keras.Model`` use the pair from ``course_kit.layers.graph_inputs(graph)``.

    Returns ``output`` of shape ``(N, heads * channels)`` or ``(N, channels)``; with
    ``return_attn_coef=True`` the pair ``(output, attn_coef)``, ``attn_coef`` of shape
    ``(E', heads)``: one coefficient per edge and head (before dropout), for the edges of
    ``graph_inputs(graph)`` in their order followed, when ``add_self_loops``, by one self-loop
    per node ``0..N-1`` (``course_kit.layers.add_self_loops`` builds that edge list). Over the
    edges of each target node the coefficients sum to 1.

    Weights, with Spektral's names and shapes (copying into Spektral's ``GATConv`` is a direct
    ``set_weights``): ``kernel`` ``(F, heads, channels)``, ``attn_kernel_self`` and
    ``attn_kernel_neighs`` ``(channels, heads, 1)``, ``bias`` ``(heads * channels,)`` or
    ``(channels,)``.

    Args:
        channels: output features per head.
        attn_heads: number of heads.
        concat_heads: concatenate the heads (``True``) or average them.
        dropout_rate: dropout on the attention coefficients while training. Dropout on the
            layer's input features is a separate ``keras.layers.Dropout`` in the model, as in
            the paper's and Spektral's GAT.
        return_attn_coef: also return the attention coefficients.
        add_self_loops: let every node attend to itself.
        activation, use_bias: as in ``keras.layers.Dense``.
        kernel_initializer, bias_initializer, attn_kernel_initializer, kernel_regularizer,
        bias_regularizer, attn_kernel_regularizer, kernel_constraint, bias_constraint,
        attn_kernel_constraint: for ``kernel``, ``bias`` and both attention kernels.
    """

    def __init__(
        self,
        channels,
        attn_heads=1,
        concat_heads=True,
        dropout_rate=0.5,
        return_attn_coef=False,
        add_self_loops=True,
        activation=None,
        use_bias=True,
        kernel_initializer="glorot_uniform",
        bias_initializer="zeros",
        attn_kernel_initializer="glorot_uniform",
        kernel_regularizer=None,
        bias_regularizer=None,
        attn_kernel_regularizer=None,
        kernel_constraint=None,
        bias_constraint=None,
        attn_kernel_constraint=None,
        seed=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if int(channels) != channels or channels < 1:
            raise ValueError(f"channels must be a positive integer; got {channels!r}")
        if int(attn_heads) != attn_heads or attn_heads < 1:
            raise ValueError(f"attn_heads must be a positive integer; got {attn_heads!r}")
        if not 0.0 <= dropout_rate < 1.0:
            raise ValueError(f"dropout_rate must be in [0, 1); got {dropout_rate!r}")
        self.channels = int(channels)
        self.attn_heads = int(attn_heads)
        self.concat_heads = concat_heads
        self.dropout_rate = dropout_rate
        self.return_attn_coef = return_attn_coef
        self.add_self_loops = add_self_loops
        self.activation = keras.activations.get(activation)
        self.use_bias = use_bias
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.bias_initializer = keras.initializers.get(bias_initializer)
        self.attn_kernel_initializer = keras.initializers.get(attn_kernel_initializer)
        self.kernel_regularizer = keras.regularizers.get(kernel_regularizer)
        self.bias_regularizer = keras.regularizers.get(bias_regularizer)
        self.attn_kernel_regularizer = keras.regularizers.get(attn_kernel_regularizer)
        self.kernel_constraint = keras.constraints.get(kernel_constraint)
        self.bias_constraint = keras.constraints.get(bias_constraint)
        self.attn_kernel_constraint = keras.constraints.get(attn_kernel_constraint)
        self.seed = seed
        self.attention_dropout = keras.layers.Dropout(
            dropout_rate, seed=seed, dtype=self.dtype_policy
        )
        self.output_dim = self.channels * self.attn_heads if concat_heads else self.channels

    def build(self, input_shape):
        features_shape = input_shape[0]
        if len(features_shape) != 2:
            raise ValueError(
                f"{self.name}: features must have rank 2 (num_nodes, num_features); got shape "
                f"{tuple(features_shape)}"
            )
        self.kernel = self.add_weight(
            name="kernel",
            shape=(features_shape[-1], self.attn_heads, self.channels),
            initializer=self.kernel_initializer,
            regularizer=self.kernel_regularizer,
            constraint=self.kernel_constraint,
        )
        attention_shape = (self.channels, self.attn_heads, 1)
        self.attn_kernel_self = self.add_weight(
            name="attn_kernel_self",
            shape=attention_shape,
            initializer=self.attn_kernel_initializer,
            regularizer=self.attn_kernel_regularizer,
            constraint=self.attn_kernel_constraint,
        )
        self.attn_kernel_neighs = self.add_weight(
            name="attn_kernel_neighs",
            shape=attention_shape,
            initializer=self.attn_kernel_initializer,
            regularizer=self.attn_kernel_regularizer,
            constraint=self.attn_kernel_constraint,
        )
        if self.use_bias:
            self.bias = self.add_weight(
                name="bias",
                shape=(self.output_dim,),
                initializer=self.bias_initializer,
                regularizer=self.bias_regularizer,
                constraint=self.bias_constraint,
            )

    def call(self, inputs, training=None):
        features, edge_index, edge_weight = split_graph_inputs(inputs, self.name)
        num_nodes = node_count(features)
        present = edge_weight != 0
        if self.add_self_loops:
            # Listed self-loops give way to the appended ones, so each node attends to itself once.
            present = ops.logical_and(present, edge_index[0] != edge_index[1])
            edge_index, edge_weight = append_self_loops(edge_index, edge_weight, num_nodes)
            present = ops.concatenate([present, ops.ones((num_nodes,), "bool")])
        sources, targets = edge_index[0], edge_index[1]

        flat_kernel = ops.reshape(self.kernel, (-1, self.attn_heads * self.channels))
        # Keras' type promotion on JAX and PyTorch turns float64 products into float32; cast
        # back, so a float64 layer does not mix dtypes further on.
        transformed = ops.reshape(
            ops.cast(ops.matmul(features, flat_kernel), self.compute_dtype),
            (-1, self.attn_heads, self.channels),
        )  # z = h W for every head: (N, heads, channels)
        score_self = ops.einsum("nhc,ch->nh", transformed, self.attn_kernel_self[..., 0])
        score_neighs = ops.einsum("nhc,ch->nh", transformed, self.attn_kernel_neighs[..., 0])
        logits = ops.leaky_relu(
            gather_rows(score_self, targets) + gather_rows(score_neighs, sources),
            negative_slope=0.2,
        )  # e_ij: (E', heads)
        attn_coef = segment_softmax(logits, targets, num_nodes, mask=present[:, None])
        dropped = self.attention_dropout(attn_coef, training=training)
        messages = dropped[:, :, None] * gather_rows(transformed, sources)
        output = segment_sum(messages, targets, num_nodes)  # (N, heads, channels)

        if self.concat_heads:
            output = ops.reshape(output, (-1, self.attn_heads * self.channels))
        else:
            output = ops.mean(output, axis=1)
        if self.use_bias:
            output = output + self.bias
        output = self.activation(output)
        if self.return_attn_coef:
            return output, attn_coef
        return output

    def compute_output_shape(self, input_shape):
        output_shape = (input_shape[0][0], self.output_dim)
        if self.return_attn_coef:
            return output_shape, (None, self.attn_heads)
        return output_shape

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "channels": self.channels,
                "attn_heads": self.attn_heads,
                "concat_heads": self.concat_heads,
                "dropout_rate": self.dropout_rate,
                "return_attn_coef": self.return_attn_coef,
                "add_self_loops": self.add_self_loops,
                "activation": keras.activations.serialize(self.activation),
                "use_bias": self.use_bias,
                "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
                "bias_initializer": keras.initializers.serialize(self.bias_initializer),
                "attn_kernel_initializer": keras.initializers.serialize(
                    self.attn_kernel_initializer
                ),
                "kernel_regularizer": keras.regularizers.serialize(self.kernel_regularizer),
                "bias_regularizer": keras.regularizers.serialize(self.bias_regularizer),
                "attn_kernel_regularizer": keras.regularizers.serialize(
                    self.attn_kernel_regularizer
                ),
                "kernel_constraint": keras.constraints.serialize(self.kernel_constraint),
                "bias_constraint": keras.constraints.serialize(self.bias_constraint),
                "attn_kernel_constraint": keras.constraints.serialize(
                    self.attn_kernel_constraint
                ),
                "seed": self.seed,
            }
        )
        return config
# END ANSWER

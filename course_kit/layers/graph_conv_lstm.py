"""An LSTM cell whose input and recurrent transforms are graph convolutions over a fixed graph."""

import keras
import numpy as np
from keras import ops

from course_kit.layers.graph_ops import gcn_normalize, graph_inputs, propagate

__all__ = ["GraphConvLSTMCell"]


# BEGIN ANSWER q3_5
@keras.saving.register_keras_serializable(package="course_kit")
class GraphConvLSTMCell(keras.layers.Layer):
    """LSTM over node signals in which every matrix product becomes a graph convolution.

    With ``A_hat = D~^-1/2 (A + I) D~^-1/2`` (fixed, from ``graph``), node inputs ``X_t``
    ``(N, F)`` and states ``H, C`` ``(N, units)``::

        [i, f, g, o] = A_hat X_t W + A_hat H_{t-1} U + b     (W = kernel, U = recurrent_kernel)
        C_t = sigmoid(f) * C_{t-1} + sigmoid(i) * tanh(g)
        H_t = sigmoid(o) * tanh(C_t)

    so each node's gates see its neighbours' inputs and states (one hop per step; ``T`` steps
    reach ``T`` hops). This is the graph-convolutional LSTM of Seo et al. (2018) with first-order
    (GCN) filters. Weights as in ``keras.layers.LSTMCell``: ``kernel`` ``(F, 4 * units)``,
    ``recurrent_kernel`` ``(units, 4 * units)``, ``bias`` ``(4 * units,)`` (gate order i, f, g,
    o; forget-gate bias starts at 1).

    Use it in ``keras.layers.RNN``, whose inputs are ``(batch, time, N * F)`` (node signals
    flattened node-major; the cell reshapes them) and whose states and outputs are ``(batch,
    N * units)``; reshape the output to ``(batch, N, units)``.

    Args:
        units: state size per node.
        graph: the fixed graph, anything ``course_kit.layers.graph_inputs`` accepts.
        num_nodes: ``N``.
        input_features: ``F``, features per node and time step.
    """

    def __init__(self, units, graph, num_nodes, input_features=1, **kwargs):
        super().__init__(**kwargs)
        if int(units) != units or units < 1:
            raise ValueError(f"units must be a positive integer; got {units!r}")
        self.units = int(units)
        self.num_nodes = int(num_nodes)
        self.input_features = int(input_features)
        self.graph = graph_inputs(graph, num_nodes)
        edge_index, edge_weight = gcn_normalize(self.graph, num_nodes)
        self.edge_index = np.asarray(edge_index, np.int32)
        self.edge_weight = np.asarray(edge_weight, np.float32)
        self.state_size = [self.num_nodes * self.units, self.num_nodes * self.units]
        self.output_size = self.num_nodes * self.units

    def build(self, input_shape):
        expected = self.num_nodes * self.input_features
        if input_shape[-1] != expected:
            raise ValueError(
                f"{self.name}: inputs must have num_nodes * input_features = {expected} features "
                f"per step; got {input_shape[-1]}"
            )
        self.kernel = self.add_weight(
            name="kernel", shape=(self.input_features, 4 * self.units),
            initializer="glorot_uniform",
        )
        self.recurrent_kernel = self.add_weight(
            name="recurrent_kernel", shape=(self.units, 4 * self.units), initializer="orthogonal"
        )
        forget_bias = np.zeros(4 * self.units, np.float32)
        forget_bias[self.units : 2 * self.units] = 1.0
        self.bias = self.add_weight(
            name="bias", shape=(4 * self.units,),
            initializer=keras.initializers.Constant(forget_bias),
        )

    def propagate(self, signals):
        """``A_hat`` applied to ``(batch, N, channels)`` node signals, over the edge list."""
        channels = signals.shape[-1]
        # propagate() mixes the leading (node) axis: nodes first, batch and channels flattened.
        by_node = ops.reshape(ops.transpose(signals, (1, 0, 2)), (self.num_nodes, -1))
        edge_weight = ops.convert_to_tensor(self.edge_weight, signals.dtype)
        mixed = propagate(by_node, self.edge_index, edge_weight, self.num_nodes)
        return ops.transpose(ops.reshape(mixed, (self.num_nodes, -1, channels)), (1, 0, 2))

    def call(self, inputs, states):
        hidden, cell = (ops.reshape(s, (-1, self.num_nodes, self.units)) for s in states)
        node_inputs = ops.reshape(inputs, (-1, self.num_nodes, self.input_features))
        gates = (
            ops.matmul(self.propagate(node_inputs), self.kernel)
            + ops.matmul(self.propagate(hidden), self.recurrent_kernel)
            + self.bias
        )
        input_gate, forget_gate, candidate, output_gate = ops.split(gates, 4, axis=-1)
        cell = ops.sigmoid(forget_gate) * cell + ops.sigmoid(input_gate) * ops.tanh(candidate)
        hidden = ops.sigmoid(output_gate) * ops.tanh(cell)
        flat_hidden = ops.reshape(hidden, (-1, self.num_nodes * self.units))
        return flat_hidden, [flat_hidden, ops.reshape(cell, (-1, self.num_nodes * self.units))]

    def get_config(self):
        config = super().get_config()
        config.update(
            units=self.units,
            graph=[part.tolist() for part in self.graph],
            num_nodes=self.num_nodes,
            input_features=self.input_features,
        )
        return config
# END ANSWER

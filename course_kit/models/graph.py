"""Two-layer GCN and GAT node classifiers with the published hyperparameters as defaults.

Both models take a dict of three inputs, each with a leading axis of size 1 (one whole graph is
one sample, so ``model.fit`` trains full-batch with ``batch_size=1``):

- ``"features"``: float ``(1, N, F)``;
- ``"edge_index"``: int ``(1, 2, E)`` (row 0 sources, row 1 targets);
- ``"edge_weight"``: float ``(1, E)``;

and return class logits ``(1, N, num_classes)``. ``course_kit.training.graph.graph_batch``
builds the dict from features and any graph.

By default both are built from the kit's ``GCNConv`` and ``GATConv``. With ``conv=`` they are
built from layers of your own instead (the ``GCNConv`` of notebook 09, the one-head ``GATConv``
of notebook 10): ``conv`` is a layer class or any callable ``channels -> layer``, called once per
layer (and per head), with the contract of those notebooks:

- GCN: ``layer([features, edge_index])`` with ``features (N, F)`` and the int edge index
  ``(2, E)`` (every edge weight taken as 1); it adds the self-loops and normalises itself, and
  returns ``(N, channels)`` without an activation;
- GAT: ``layer([features, adjacency])`` with the dense ``(N, N)`` adjacency
  (``A[i, j] = 1`` when ``j`` sends to ``i``, no self-loops); it returns ``(output, attention)``
  or just ``output`` ``(N, channels)``, without an activation.

The model adds the activations, the dropout on the layers' inputs and the weight decay, once the
layers are built (GCN: on the first layer's ``kernel``; GAT: on every weight whose name does not
start with ``bias``). A dense GAT layer forms ``N x N`` scores per head: fine for Cora (2708
nodes), slow and memory-hungry far beyond it.
"""

import keras
from keras import ops

from course_kit.layers.dropout import Dropout
from course_kit.layers.gat_conv import GATConv
from course_kit.layers.gcn_conv import GCNConv
from course_kit.layers.graph_ops import node_count, normalize_edges, segment_sum

__all__ = ["GATNodeClassifier", "GCNNodeClassifier"]


def _unbatch(inputs):
    """The single graph of a batch of one: ``features (N, F)`` and ``(edge_index, edge_weight)``.

    ``squeeze`` rather than ``[0]``: on TensorFlow a slice copies the whole feature matrix on
    every step, a squeeze does not.
    """
    return ops.squeeze(inputs["features"], 0), (
        ops.squeeze(inputs["edge_index"], 0),
        ops.squeeze(inputs["edge_weight"], 0),
    )


def _layer_shapes(input_shape, width):
    """The shapes a graph layer sees for node features ``width`` wide, from the model's input."""
    num_nodes = input_shape["features"][1]
    num_edges = input_shape["edge_index"][2]
    return [(num_nodes, width), ((2, num_edges), (num_edges,))]


def _weight_decay(l2):
    # The papers add l2 * sum(w^2) / 2 (TensorFlow's l2_loss); Keras' L2(c) adds c * sum(w^2).
    return keras.regularizers.L2(l2 / 2) if l2 else None


def _own_layer(conv, channels):
    """``conv(channels)``: a layer of the caller's (a class or a callable ``channels -> layer``)."""
    if isinstance(conv, keras.layers.Layer) or not callable(conv):
        raise TypeError(
            "conv must be a layer class or a callable channels -> layer (one layer is created "
            f"per graph layer and head); got {conv!r}"
        )
    layer = conv(channels)
    if not isinstance(layer, keras.layers.Layer):
        raise TypeError(f"conv({channels}) must return a keras.layers.Layer; got {layer!r}")
    return layer


def _decay_weights(layer, l2, names=None):
    """Weight decay on a built layer of the caller's: on its weights called ``names`` (every
    weight whose name does not start with ``bias`` when ``None``)."""
    regularizer = _weight_decay(l2)
    if regularizer is None:
        return
    for weight in layer.trainable_weights:
        wanted = weight.name in names if names is not None else not weight.name.startswith("bias")
        if wanted:
            weight.regularizer = regularizer


def _own_shapes(input_shape, width, graph_shape):
    """The shapes a caller's layer sees: ``[(N, width), graph_shape]``."""
    return [(input_shape["features"][1], width), graph_shape]


def _dense_adjacency(inputs, num_nodes, dtype):
    """The dense ``(N, N)`` adjacency ``A[target, source] = weight`` of a batch of one graph."""
    edge_index = ops.cast(ops.squeeze(inputs["edge_index"], 0), "int32")
    edge_weight = ops.cast(ops.squeeze(inputs["edge_weight"], 0), dtype)
    # A segment sum over the flat positions rather than ops.scatter, which PyTorch's backend
    # runs as a Python loop over the edges.
    flat = edge_index[1] * num_nodes + edge_index[0]
    summed = segment_sum(edge_weight, flat, num_nodes * num_nodes)
    return ops.reshape(summed, (num_nodes, num_nodes))


def _output_of(result):
    """A layer's output: the first element when it returns ``(output, attention)``."""
    return result[0] if isinstance(result, (list, tuple)) else result


def _registered(conv):
    """The registered name of ``conv`` for a saved configuration (``None`` without ``conv``)."""
    if conv is None:
        return None
    name = keras.saving.get_registered_name(conv)
    if keras.saving.get_registered_object(name) is not conv:
        raise ValueError(
            f"a model built with conv={conv!r} can only be saved when conv is a class registered "
            "with @keras.saving.register_keras_serializable(); save its weights instead "
            "(model.save_weights)"
        )
    return name


def _resolve(conv):
    if conv is None or not isinstance(conv, str):
        return conv
    found = keras.saving.get_registered_object(conv)
    if found is None:
        raise ValueError(f"conv {conv!r} is not a registered Keras class")
    return found


@keras.saving.register_keras_serializable(package="course_kit")
class GCNNodeClassifier(keras.Model):
    """Kipf & Welling's GCN: dropout, GCNConv(hidden, relu), dropout, GCNConv(num_classes).

    Weight decay acts on the first layer's kernel only, as in the paper.

    Args:
        num_classes: output classes.
        hidden: hidden channels (16).
        dropout_rate: dropout on the input of both layers (0.5).
        l2: weight decay ``l2 * sum(W^2) / 2`` on the first kernel (5e-4).
        conv: ``None`` for the kit's ``GCNConv``, or your own GCN layer: a class or a callable
            ``channels -> layer`` with the contract of notebook 09 (see the module's
            docstring); the model adds the ReLU and decays the first layer's ``kernel``.
    """

    def __init__(self, num_classes, hidden=16, dropout_rate=0.5, l2=5e-4, conv=None, **kwargs):
        super().__init__(**kwargs)
        self.num_classes = num_classes
        self.hidden = hidden
        self.dropout_rate = dropout_rate
        self.l2 = l2
        self.conv = _resolve(conv)
        self.input_dropout = Dropout(dropout_rate)
        self.hidden_dropout = Dropout(dropout_rate)
        if self.conv is not None:
            self.hidden_conv = _own_layer(self.conv, hidden)
            self.output_conv = _own_layer(self.conv, num_classes)
            return
        # The graph is normalised once per call, for both layers.
        prenormalized = {"add_self_loops": False, "normalize": False}
        self.hidden_conv = GCNConv(
            hidden, activation="relu", kernel_regularizer=_weight_decay(l2), **prenormalized
        )
        self.output_conv = GCNConv(num_classes, **prenormalized)

    def build(self, input_shape):
        # Built from shapes, so no backend has to trace call() on placeholder edge indices.
        if self.conv is not None:
            edges = (2, input_shape["edge_index"][2])
            self.hidden_conv.build(_own_shapes(input_shape, input_shape["features"][-1], edges))
            self.output_conv.build(_own_shapes(input_shape, self.hidden, edges))
            _decay_weights(self.hidden_conv, self.l2, names=("kernel",))
            return
        self.hidden_conv.build(_layer_shapes(input_shape, input_shape["features"][-1]))
        self.output_conv.build(_layer_shapes(input_shape, self.hidden))

    def call(self, inputs, training=None):
        features, (edge_index, edge_weight) = _unbatch(inputs)
        if self.conv is not None:
            edge_index = ops.cast(edge_index, "int32")
            hidden = ops.relu(
                self.hidden_conv([self.input_dropout(features, training=training), edge_index])
            )
            logits = self.output_conv([self.hidden_dropout(hidden, training=training), edge_index])
            return ops.expand_dims(logits, 0)
        graph = normalize_edges(edge_index, edge_weight, node_count(features))
        hidden = self.hidden_conv([self.input_dropout(features, training=training), graph])
        logits = self.output_conv([self.hidden_dropout(hidden, training=training), graph])
        return ops.expand_dims(logits, 0)

    def get_config(self):
        config = super().get_config()
        config.update(
            num_classes=self.num_classes,
            hidden=self.hidden,
            dropout_rate=self.dropout_rate,
            l2=self.l2,
        )
        if self.conv is not None:
            config.update(conv=_registered(self.conv))
        return config


@keras.saving.register_keras_serializable(package="course_kit")
class GATNodeClassifier(keras.Model):
    """Velickovic et al.'s GAT for transductive node classification.

    Dropout, GATConv(hidden x heads, concatenated, ELU), dropout, GATConv(num_classes,
    ``output_heads`` averaged). Both layers also drop attention coefficients with the same
    rate; weight decay acts on every kernel and attention kernel.

    Args:
        num_classes: output classes.
        hidden: channels per head in the first layer (8).
        heads: heads in the first layer (8).
        output_heads: heads of the output layer, averaged (1).
        dropout_rate: dropout on each layer's input and (kit layers only) on attention
            coefficients (0.6).
        l2: weight decay ``l2 * sum(W^2) / 2`` (5e-4).
        conv: ``None`` for the kit's multi-head ``GATConv``, or your own one-head GAT layer: a
            class or a callable ``channels -> layer`` with the contract of notebook 10 (see the
            module's docstring). The model then holds ``heads`` such layers in
            ``hidden_convs`` (outputs concatenated, then ELU) and ``output_heads`` in
            ``output_convs`` (outputs averaged), feeds them the dense adjacency and decays
            every weight but the biases. Your layers drop no attention coefficients.
    """

    def __init__(
        self, num_classes, hidden=8, heads=8, output_heads=1, dropout_rate=0.6, l2=5e-4,
        conv=None, **kwargs,
    ):
        super().__init__(**kwargs)
        self.num_classes = num_classes
        self.hidden = hidden
        self.heads = heads
        self.output_heads = output_heads
        self.dropout_rate = dropout_rate
        self.l2 = l2
        self.conv = _resolve(conv)
        if self.conv is not None:
            self.input_dropout = Dropout(dropout_rate)
            self.hidden_dropout = Dropout(dropout_rate)
            self.hidden_convs = [_own_layer(self.conv, hidden) for _ in range(heads)]
            self.output_convs = [_own_layer(self.conv, num_classes) for _ in range(output_heads)]
            return
        decay = {
            "kernel_regularizer": _weight_decay(l2),
            "attn_kernel_regularizer": _weight_decay(l2),
        }
        self.input_dropout = Dropout(dropout_rate)
        self.hidden_conv = GATConv(
            hidden, attn_heads=heads, dropout_rate=dropout_rate, activation="elu", **decay
        )
        self.hidden_dropout = Dropout(dropout_rate)
        self.output_conv = GATConv(
            num_classes,
            attn_heads=output_heads,
            concat_heads=False,
            dropout_rate=dropout_rate,
            **decay,
        )

    def build(self, input_shape):
        # Built from shapes, so no backend has to trace call() on placeholder edge indices.
        if self.conv is not None:
            num_nodes = input_shape["features"][1]
            adjacency = (num_nodes, num_nodes)
            for layer in self.hidden_convs:
                layer.build(_own_shapes(input_shape, input_shape["features"][-1], adjacency))
            for layer in self.output_convs:
                layer.build(_own_shapes(input_shape, self.hidden * self.heads, adjacency))
            for layer in self.hidden_convs + self.output_convs:
                _decay_weights(layer, self.l2)
            return
        self.hidden_conv.build(_layer_shapes(input_shape, input_shape["features"][-1]))
        self.output_conv.build(_layer_shapes(input_shape, self.hidden * self.heads))

    def call(self, inputs, training=None):
        if self.conv is not None:
            return self._call_own_layers(inputs, training)
        features, graph = _unbatch(inputs)
        hidden = self.hidden_conv(
            [self.input_dropout(features, training=training), graph], training=training
        )
        logits = self.output_conv(
            [self.hidden_dropout(hidden, training=training), graph], training=training
        )
        return ops.expand_dims(logits, 0)

    def _call_own_layers(self, inputs, training):
        features = ops.squeeze(inputs["features"], 0)
        adjacency = _dense_adjacency(inputs, node_count(features), features.dtype)
        dropped = self.input_dropout(features, training=training)
        hidden = ops.elu(ops.concatenate(
            [_output_of(layer([dropped, adjacency])) for layer in self.hidden_convs], axis=-1))
        dropped = self.hidden_dropout(hidden, training=training)
        outputs = [_output_of(layer([dropped, adjacency])) for layer in self.output_convs]
        logits = outputs[0] if len(outputs) == 1 else ops.mean(ops.stack(outputs), axis=0)
        return ops.expand_dims(logits, 0)

    def get_config(self):
        config = super().get_config()
        config.update(
            num_classes=self.num_classes,
            hidden=self.hidden,
            heads=self.heads,
            output_heads=self.output_heads,
            dropout_rate=self.dropout_rate,
            l2=self.l2,
        )
        if self.conv is not None:
            config.update(conv=_registered(self.conv))
        return config

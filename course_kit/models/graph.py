"""Two-layer GCN and GAT node classifiers with the published hyperparameters as defaults.

Both models take a dict of three inputs, each with a leading axis of size 1 (one whole graph is
one sample, so ``model.fit`` trains full-batch with ``batch_size=1``):

- ``"features"``: float ``(1, N, F)``;
- ``"edge_index"``: int ``(1, 2, E)`` (row 0 sources, row 1 targets);
- ``"edge_weight"``: float ``(1, E)``;

and return class logits ``(1, N, num_classes)``. ``course_kit.training.graph.graph_batch``
builds the dict from features and any graph.
"""

import keras
from keras import ops

from course_kit.layers.gat_conv import GATConv
from course_kit.layers.gcn_conv import GCNConv
from course_kit.layers.graph_ops import node_count, normalize_edges

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


@keras.saving.register_keras_serializable(package="course_kit")
class GCNNodeClassifier(keras.Model):
    """Kipf & Welling's GCN: dropout, GCNConv(hidden, relu), dropout, GCNConv(num_classes).

    Weight decay acts on the first layer's kernel only, as in the paper.

    Args:
        num_classes: output classes.
        hidden: hidden channels (16).
        dropout_rate: dropout on the input of both layers (0.5).
        l2: weight decay ``l2 * sum(W^2) / 2`` on the first kernel (5e-4).
    """

    def __init__(self, num_classes, hidden=16, dropout_rate=0.5, l2=5e-4, **kwargs):
        super().__init__(**kwargs)
        self.num_classes = num_classes
        self.hidden = hidden
        self.dropout_rate = dropout_rate
        self.l2 = l2
        self.input_dropout = keras.layers.Dropout(dropout_rate)
        # The graph is normalised once per call, for both layers.
        prenormalized = {"add_self_loops": False, "normalize": False}
        self.hidden_conv = GCNConv(
            hidden, activation="relu", kernel_regularizer=_weight_decay(l2), **prenormalized
        )
        self.hidden_dropout = keras.layers.Dropout(dropout_rate)
        self.output_conv = GCNConv(num_classes, **prenormalized)

    def build(self, input_shape):
        # Built from shapes, so no backend has to trace call() on placeholder edge indices.
        self.hidden_conv.build(_layer_shapes(input_shape, input_shape["features"][-1]))
        self.output_conv.build(_layer_shapes(input_shape, self.hidden))

    def call(self, inputs, training=None):
        features, (edge_index, edge_weight) = _unbatch(inputs)
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
        dropout_rate: dropout on each layer's input and on attention coefficients (0.6).
        l2: weight decay ``l2 * sum(W^2) / 2`` (5e-4).
    """

    def __init__(
        self, num_classes, hidden=8, heads=8, output_heads=1, dropout_rate=0.6, l2=5e-4, **kwargs
    ):
        super().__init__(**kwargs)
        self.num_classes = num_classes
        self.hidden = hidden
        self.heads = heads
        self.output_heads = output_heads
        self.dropout_rate = dropout_rate
        self.l2 = l2
        decay = {
            "kernel_regularizer": _weight_decay(l2),
            "attn_kernel_regularizer": _weight_decay(l2),
        }
        self.input_dropout = keras.layers.Dropout(dropout_rate)
        self.hidden_conv = GATConv(
            hidden, attn_heads=heads, dropout_rate=dropout_rate, activation="elu", **decay
        )
        self.hidden_dropout = keras.layers.Dropout(dropout_rate)
        self.output_conv = GATConv(
            num_classes,
            attn_heads=output_heads,
            concat_heads=False,
            dropout_rate=dropout_rate,
            **decay,
        )

    def build(self, input_shape):
        # Built from shapes, so no backend has to trace call() on placeholder edge indices.
        self.hidden_conv.build(_layer_shapes(input_shape, input_shape["features"][-1]))
        self.output_conv.build(_layer_shapes(input_shape, self.hidden * self.heads))

    def call(self, inputs, training=None):
        features, graph = _unbatch(inputs)
        hidden = self.hidden_conv(
            [self.input_dropout(features, training=training), graph], training=training
        )
        logits = self.output_conv(
            [self.hidden_dropout(hidden, training=training), graph], training=training
        )
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
        return config

"""Keras 3 layers of the kit: recurrent cells and graph layers (every backend)."""
from course_kit.layers.gat_conv import GATConv
from course_kit.layers.gcn_conv import GCNConv
from course_kit.layers.graph_conv_lstm import GraphConvLSTMCell
from course_kit.layers.graph_ops import add_self_loops, gcn_normalize, graph_inputs, segment_softmax
from course_kit.layers.recurrent import GRUCell, LSTMCell, PeepholeLSTMCell, VanillaRNNCell

__all__ = [
    "GATConv",
    "GCNConv",
    "GRUCell",
    "GraphConvLSTMCell",
    "LSTMCell",
    "PeepholeLSTMCell",
    "VanillaRNNCell",
    "add_self_loops",
    "gcn_normalize",
    "graph_inputs",
    "segment_softmax",
]

"""Keras 3 layers of the kit: recurrent cells and graph layers (every backend)."""
from course_kit.layers.gat_conv import GATConv
from course_kit.layers.gcn_conv import GCNConv
from course_kit.layers.graph_conv_lstm import GraphConvLSTMCell
from course_kit.layers.graph_ops import add_self_loops
from course_kit.layers.graph_ops import gcn_normalize
from course_kit.layers.graph_ops import graph_inputs
from course_kit.layers.graph_ops import segment_softmax
from course_kit.layers.recurrent import GRUCell
from course_kit.layers.recurrent import LSTMCell
from course_kit.layers.recurrent import PeepholeLSTMCell
from course_kit.layers.recurrent import VanillaRNNCell

"""Keras 3 layers of the kit: recurrent cells and graph layers (every backend)."""
from course_kit.layers.recurrent import GRUCell
from course_kit.layers.recurrent import LSTMCell
from course_kit.layers.recurrent import PeepholeLSTMCell
from course_kit.layers.recurrent import VanillaRNNCell

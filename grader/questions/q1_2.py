"""q1_2: the vanilla RNN cell from raw weights.

Contract (see :func:`grader.probes.probe_cell`): ``VanillaRNNCell(units)`` is a Keras layer
with weights ``W_hx`` ``(input_dim, units)``, ``W_hh`` ``(units, units)`` and ``b_h``
``(units,)`` created in ``build``, ``state_size = units`` (q1_3 wraps the cell in
``keras.layers.RNN``, which reads it), and ``cell(x_t, [h]) -> (h_t, [h_t])``.
"""

from grader.registry import KERAS_RECURRENT, KIT_ANSWERS, Check, Question

from . import edit, helpers

QUESTION = Question(
    "q1_2", "Vanilla RNN cell from raw weights", 1, "02_vanilla_rnn.ipynb",
    checks=(
        Check("weight names and shapes, and state_size", 1, "weight_shapes", kind="equal"),
        Check("outputs over a sequence", 3, "outputs", mistakes=(("no_tanh", "no_tanh"),)),
        Check("gradients with respect to the weights", 3, "gradients"),
    ),
    forbidden=KIT_ANSWERS + KERAS_RECURRENT,
)


def probe(namespace, context):
    return helpers().probe_cell(namespace, context, "VanillaRNNCell", state_size=True)


def record(public=False):
    """Seed 12: 2 sequences of 5 steps, 3 inputs, 4 units (public: ``cell_sizes(True)``); the
    kit's cell, and the cell without its tanh (mistake ``no_tanh``)."""
    from course_kit.layers import VanillaRNNCell
    from grader.probes import Context, cell_inputs
    from grader.references import cell_sizes, run_cells, seeded

    inputs = cell_inputs(seeded(12, public), "VanillaRNNCell", **cell_sizes(public))
    expected = probe({"VanillaRNNCell": VanillaRNNCell}, Context(inputs))
    expected["outputs@no_tanh"] = run_cells(probe, [MUTANTS["no_tanh"]], inputs)["outputs"]
    return inputs, expected


_ANSWER = '''
import keras
from keras import ops


class VanillaRNNCell(keras.layers.Layer):
    def __init__(self, units, **kwargs):
        super().__init__(**kwargs)
        self.units = units
        self.state_size = units

    def build(self, input_shape):
        d = input_shape[-1]
        self.W_hx = self.add_weight(shape=(d, self.units), name="W_hx")
        self.W_hh = self.add_weight(shape=(self.units, self.units), name="W_hh")
        self.b_h = self.add_weight(shape=(self.units,), initializer="zeros", name="b_h")

    def call(self, x, states):
        h = ops.tanh(ops.matmul(x, self.W_hx) + ops.matmul(states[0], self.W_hh) + self.b_h)
        return h, [h]
'''

MUTANTS = {
    # the pre-activation returned as it is (recognised: the notebook's hint for no_tanh)
    "no_tanh": edit(_ANSWER, (
        "h = ops.tanh(ops.matmul(x, self.W_hx) + ops.matmul(states[0], self.W_hh) + self.b_h)",
        "h = ops.matmul(x, self.W_hx) + ops.matmul(states[0], self.W_hh) + self.b_h")),
    # no state_size: right outputs, but keras.layers.RNN (q1_3) cannot use the cell
    "no_state_size": edit(_ANSWER, ("        self.state_size = units\n", "")),
    # output-major input matrix, transposed in call: right numbers, wrong contract
    "output_major_weights": edit(
        _ANSWER, ("shape=(d, self.units), name=\"W_hx\"", "shape=(self.units, d), name=\"W_hx\""),
        ("ops.matmul(x, self.W_hx)", "ops.matmul(x, ops.transpose(self.W_hx))")),
    # the bias added after the non-linearity
    "bias_outside_tanh": edit(_ANSWER, (
        "h = ops.tanh(ops.matmul(x, self.W_hx) + ops.matmul(states[0], self.W_hh) + self.b_h)",
        "h = ops.tanh(ops.matmul(x, self.W_hx) + ops.matmul(states[0], self.W_hh)) + self.b_h")),
}

ALTERNATIVES = {
    # one stacked kernel [W_hx; W_hh] applied to [x_t, h_{t-1}]; state_size as a list
    "stacked_kernel": '''
import keras
from keras import ops


class VanillaRNNCell(keras.layers.Layer):
    def __init__(self, units, **kwargs):
        super().__init__(**kwargs)
        self.units = units
        self.state_size = [units]

    def build(self, input_shape):
        self.W_hx = self.add_weight(shape=(input_shape[-1], self.units),
                                    initializer="glorot_uniform", name="W_hx")
        self.W_hh = self.add_weight(shape=(self.units, self.units), initializer="orthogonal",
                                    name="W_hh")
        self.b_h = self.add_weight(shape=(self.units,), initializer="zeros", name="b_h")

    def call(self, inputs, states):
        (h_prev,) = states
        stacked = ops.concatenate([inputs, h_prev], axis=-1)
        kernel = ops.concatenate([self.W_hx, self.W_hh], axis=0)
        h = ops.tanh(ops.add(ops.matmul(stacked, kernel), self.b_h))
        return h, [h]
''',
    # other algebra: tanh(a) = 2 sigmoid(2a) - 1, with einsum
    "tanh_from_sigmoid": '''
import keras
from keras import ops


class VanillaRNNCell(keras.layers.Layer):
    def __init__(self, units, **kwargs):
        super().__init__(**kwargs)
        self.units = units
        self.state_size = units

    def build(self, input_shape):
        n = self.units
        self.W_hx = self.add_weight(shape=(input_shape[-1], n), name="W_hx")
        self.W_hh = self.add_weight(shape=(n, n), name="W_hh")
        self.b_h = self.add_weight(shape=(n,), name="b_h")

    def call(self, x_t, states):
        a = ops.einsum("bi,ij->bj", x_t, self.W_hx) + ops.einsum("bi,ij->bj", states[0],
                                                                 self.W_hh) + self.b_h
        h = 2.0 * ops.sigmoid(2.0 * a) - 1.0
        return h, [h]
''',
}

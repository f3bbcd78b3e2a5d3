"""q1_6: the LSTM cell from raw weights.

Contract (see :func:`grader.probes.probe_cell`): ``LSTMCell(units)`` with weights
``W_gx, W_gh, b_g, W_ix, ...`` (gates g, i, f, o; input matrices ``(input_dim, units)``,
recurrent ones ``(units, units)``, biases ``(units,)``) and ``cell(x_t, [h, c]) -> (h_t,
[h_t, c_t])``.
"""

from grader.registry import KERAS_RECURRENT, KIT_ANSWERS, Check, Question, RubricItem

from . import edit, helpers

# The three ways of mixing up the non-linearities, each recorded: one hint for all.
_NONLINEARITIES = tuple(("wrong_gate_nonlinearity", name) for name in
                        ("gates_tanh", "candidate_sigmoid", "swapped_nonlinearities"))

QUESTION = Question(
    "q1_6", "LSTM cell; LSTM against RNN on palindromes", 1, "04_lstm.ipynb",
    checks=(
        Check("weight names and shapes", 1, "weight_shapes", kind="equal"),
        Check("outputs over a sequence", 3, "outputs", mistakes=_NONLINEARITIES),
        Check("gradients with respect to the weights", 3, "gradients"),
    ),
    rubric=(RubricItem("comparison of LSTM and RNN accuracy against T", 3),),
    forbidden=KIT_ANSWERS + KERAS_RECURRENT,
)


def probe(namespace, context):
    return helpers().probe_cell(namespace, context, "LSTMCell")


def record(public=False):
    """Seed 16: 2 sequences of 5 steps, 3 inputs, 4 units (public: ``cell_sizes(True)``); the
    kit's LSTM cell, and the three mix-ups of its non-linearities."""
    from course_kit.layers import LSTMCell
    from grader.probes import Context, cell_inputs
    from grader.references import cell_sizes, run_cells, seeded

    inputs = cell_inputs(seeded(16, public), "LSTMCell", **cell_sizes(public))
    expected = probe({"LSTMCell": LSTMCell}, Context(inputs))
    for _, mutant in _NONLINEARITIES:
        expected[f"outputs@{mutant}"] = run_cells(probe, [MUTANTS[mutant]], inputs)["outputs"]
    return inputs, expected


_ANSWER = '''
import keras
from keras import ops


class LSTMCell(keras.layers.Layer):
    def __init__(self, units, **kwargs):
        super().__init__(**kwargs)
        self.units = units
        self.state_size = [units, units]

    def build(self, input_shape):
        d, n = input_shape[-1], self.units
        for gate in "gifo":
            setattr(self, f"W_{gate}x", self.add_weight(shape=(d, n), name=f"W_{gate}x"))
            setattr(self, f"W_{gate}h", self.add_weight(shape=(n, n), name=f"W_{gate}h"))
            setattr(self, f"b_{gate}", self.add_weight(shape=(n,), initializer="zeros",
                                                       name=f"b_{gate}"))

    def call(self, x, states):
        h, c = states

        def pre(gate):
            return (ops.matmul(x, getattr(self, f"W_{gate}x"))
                    + ops.matmul(h, getattr(self, f"W_{gate}h")) + getattr(self, f"b_{gate}"))

        g = ops.tanh(pre("g"))
        i, f, o = ops.sigmoid(pre("i")), ops.sigmoid(pre("f")), ops.sigmoid(pre("o"))
        c = g * i + c * f
        h = ops.tanh(c) * o
        return h, [h, c]
'''

_GATES = 'i, f, o = ops.sigmoid(pre("i")), ops.sigmoid(pre("f")), ops.sigmoid(pre("o"))'
_GATES_TANH = 'i, f, o = ops.tanh(pre("i")), ops.tanh(pre("f")), ops.tanh(pre("o"))'

MUTANTS = {
    # tanh for the gates i, f, o
    "gates_tanh": edit(_ANSWER, (_GATES, _GATES_TANH)),
    # sigmoid for the candidate g
    "candidate_sigmoid": edit(_ANSWER, ('g = ops.tanh(pre("g"))', 'g = ops.sigmoid(pre("g"))')),
    # both swapped
    "swapped_nonlinearities": edit(_ANSWER, (_GATES, _GATES_TANH),
                                   ('g = ops.tanh(pre("g"))', 'g = ops.sigmoid(pre("g"))')),
    # h_t = c_t * o, the tanh of the cell state forgotten (the "forgot_the_tanh" sample)
    "no_tanh_on_cell": edit(_ANSWER, ("h = ops.tanh(c) * o", "h = c * o")),
    # the input and forget gates swapped in the cell update
    "input_forget_swapped": edit(_ANSWER, ("c = g * i + c * f", "c = g * f + c * i")),
    # h_t from the previous cell state: tanh(c_{t-1}) * o instead of tanh(c_t) * o
    "output_from_previous_cell": edit(_ANSWER, ("c = g * i + c * f", "c_next = g * i + c * f"),
                                      ("return h, [h, c]", "return h, [h, c_next]")),
}

ALTERNATIVES = {
    # the four gates stacked into one kernel at call time, split after one matmul
    "stacked_gates": '''
import keras
from keras import ops


class LSTMCell(keras.layers.Layer):
    def __init__(self, units, **kwargs):
        super().__init__(**kwargs)
        self.units = units
        self.state_size = [units, units]

    def build(self, input_shape):
        d, n = input_shape[-1], self.units
        self.W_gx = self.add_weight(shape=(d, n), name="W_gx")
        self.W_ix = self.add_weight(shape=(d, n), name="W_ix")
        self.W_fx = self.add_weight(shape=(d, n), name="W_fx")
        self.W_ox = self.add_weight(shape=(d, n), name="W_ox")
        self.W_gh = self.add_weight(shape=(n, n), name="W_gh")
        self.W_ih = self.add_weight(shape=(n, n), name="W_ih")
        self.W_fh = self.add_weight(shape=(n, n), name="W_fh")
        self.W_oh = self.add_weight(shape=(n, n), name="W_oh")
        self.b_g = self.add_weight(shape=(n,), initializer="zeros", name="b_g")
        self.b_i = self.add_weight(shape=(n,), initializer="zeros", name="b_i")
        self.b_f = self.add_weight(shape=(n,), initializer="ones", name="b_f")
        self.b_o = self.add_weight(shape=(n,), initializer="zeros", name="b_o")

    def call(self, inputs, states):
        h_prev, c_prev = states
        kernel = ops.concatenate([self.W_gx, self.W_ix, self.W_fx, self.W_ox], axis=1)
        recurrent = ops.concatenate([self.W_gh, self.W_ih, self.W_fh, self.W_oh], axis=1)
        bias = ops.concatenate([self.b_g, self.b_i, self.b_f, self.b_o])
        z = ops.matmul(inputs, kernel) + ops.matmul(h_prev, recurrent) + bias
        g, i, f, o = ops.split(z, 4, axis=-1)
        c = ops.tanh(g) * ops.sigmoid(i) + c_prev * ops.sigmoid(f)
        h = ops.sigmoid(o) * ops.tanh(c)
        return h, [h, c]
''',
}

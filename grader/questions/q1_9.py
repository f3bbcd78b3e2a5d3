"""q1_9: the peephole LSTM (2020 definition) and GRU (2020 variant A) cells.

Contract (see :func:`grader.probes.probe_cell`): ``PeepholeLSTMCell(units)`` with weights
``W_fx, W_fh, b_f, W_ix, W_ih, b_i, W_ox, W_oh, b_o, W_cx, b_c`` (the gates read
``c_{t-1}``; ``c_t = sigmoid(x W_cx + b_c) * i + c_{t-1} * f``, ``h_t = tanh(c_t) * o``),
states ``[h, c]``; ``GRUCell(units)`` with ``W_zx, W_zh, b_z, W_rx, W_rh, b_r, W_x, W_h,
b`` (``h_t = (1 - z) h_{t-1} + z h~``, ``h~ = tanh(x W_x + (r * h_{t-1}) W_h + b)``), state
``[h]``. A failure in one cell still lets the other score.
"""

from grader.registry import KERAS_RECURRENT, KIT_ANSWERS, Check, Question, RubricItem

from . import edit, helpers

CELLS = (("PeepholeLSTMCell", "peephole_"), ("GRUCell", "gru_"))


def _cell_checks(label, prefix, points):
    names, outputs, gradients = points
    return (
        Check(f"{label}: weight names and shapes", names, f"{prefix}weight_shapes", kind="equal"),
        Check(f"{label}: outputs over a sequence", outputs, f"{prefix}outputs"),
        Check(f"{label}: gradients with respect to the weights", gradients,
              f"{prefix}gradients"),
    )


QUESTION = Question(
    "q1_9", "Peephole LSTM and GRU cells", 1, "06_lstm_variants.ipynb",
    checks=_cell_checks("peephole LSTM", "peephole_", (1, 2, 2))
    + _cell_checks("GRU", "gru_", (1, 1, 1)),
    rubric=(RubricItem("convergence compared with the LSTM", 3),),
    forbidden=KIT_ANSWERS + KERAS_RECURRENT,
)


def probe(namespace, context):
    """Both cells, each on its own prefixed inputs; a failure in one is a note."""
    probes = helpers()
    results = {}
    for class_name, prefix in CELLS:
        inputs = {k[len(prefix):]: v for k, v in context.inputs.items() if k.startswith(prefix)}
        sub = probes.Context(inputs, context.forbidden_names)
        try:
            results.update(probes.probe_cell(namespace, sub, class_name, prefix))
        except Exception as error:  # reported per cell, so the other cell still counts
            context.notes.append(f"{class_name}: {type(error).__name__}: {error}")
        context.notes += sub.notes
        context.kit_classes |= sub.kit_classes
    return results


def record(public=False):
    """Seed 19: inputs of both cells (2 sequences of 5 steps, 3 inputs, 4 units; public:
    ``cell_sizes(True)``), prefixed ``peephole_`` and ``gru_``; the kit's cells."""
    from course_kit import layers
    from grader.probes import Context, cell_inputs
    from grader.references import cell_sizes, seeded

    rng = seeded(19, public)
    inputs = {}
    for class_name, prefix in CELLS:
        inputs.update({prefix + k: v for k, v in
                       cell_inputs(rng, class_name, **cell_sizes(public)).items()})
    expected = probe({name: getattr(layers, name) for name, _ in CELLS}, Context(inputs))
    return inputs, expected


_ANSWER = '''
import keras
from keras import ops


class PeepholeLSTMCell(keras.layers.Layer):
    def __init__(self, units, **kwargs):
        super().__init__(**kwargs)
        self.units = units
        self.state_size = [units, units]

    def build(self, input_shape):
        d, n = input_shape[-1], self.units
        for gate in "fio":
            setattr(self, f"W_{gate}x", self.add_weight(shape=(d, n), name=f"W_{gate}x"))
            setattr(self, f"W_{gate}h", self.add_weight(shape=(n, n), name=f"W_{gate}h"))
            setattr(self, f"b_{gate}", self.add_weight(shape=(n,), initializer="zeros",
                                                       name=f"b_{gate}"))
        self.W_cx = self.add_weight(shape=(d, n), name="W_cx")
        self.b_c = self.add_weight(shape=(n,), initializer="zeros", name="b_c")

    def call(self, x, states):
        h_prev, c = states

        def gate(name):
            return ops.sigmoid(ops.matmul(x, getattr(self, f"W_{name}x"))
                               + ops.matmul(c, getattr(self, f"W_{name}h"))
                               + getattr(self, f"b_{name}"))

        f, i, o = gate("f"), gate("i"), gate("o")
        c = ops.sigmoid(ops.matmul(x, self.W_cx) + self.b_c) * i + c * f
        h = ops.tanh(c) * o
        return h, [h, c]


class GRUCell(keras.layers.Layer):
    def __init__(self, units, **kwargs):
        super().__init__(**kwargs)
        self.units = units
        self.state_size = units

    def build(self, input_shape):
        d, n = input_shape[-1], self.units
        for name, shape in (("W_zx", (d, n)), ("W_zh", (n, n)), ("b_z", (n,)),
                            ("W_rx", (d, n)), ("W_rh", (n, n)), ("b_r", (n,)),
                            ("W_x", (d, n)), ("W_h", (n, n)), ("b", (n,))):
            setattr(self, name, self.add_weight(shape=shape, name=name))

    def call(self, x, states):
        (h,) = states
        z = ops.sigmoid(ops.matmul(x, self.W_zx) + ops.matmul(h, self.W_zh) + self.b_z)
        r = ops.sigmoid(ops.matmul(x, self.W_rx) + ops.matmul(h, self.W_rh) + self.b_r)
        candidate = ops.tanh(ops.matmul(x, self.W_x) + ops.matmul(r * h, self.W_h) + self.b)
        h = (1 - z) * h + z * candidate
        return h, [h]
'''

MUTANTS = {
    # the standard LSTM's gates: they read h_{t-1}, not c_{t-1}
    "peephole_gates_read_h": edit(_ANSWER, (
        "+ ops.matmul(c, getattr(self, f\"W_{name}h\"))",
        "+ ops.matmul(h_prev, getattr(self, f\"W_{name}h\"))")),
    # a tanh for the new content, as in the ordinary LSTM
    "peephole_content_tanh": edit(_ANSWER, ("c = ops.sigmoid(ops.matmul(x, self.W_cx)",
                                            "c = ops.tanh(ops.matmul(x, self.W_cx)")),
    # Keras' convention, z and 1 - z swapped
    "gru_update_swapped": edit(_ANSWER, ("h = (1 - z) * h + z * candidate",
                                         "h = z * h + (1 - z) * candidate")),
    # the reset gate applied after W_h ("reset after", Keras' default)
    "gru_reset_after_matmul": edit(_ANSWER, ("ops.matmul(r * h, self.W_h)",
                                             "r * ops.matmul(h, self.W_h)")),
}

ALTERNATIVES = {
    # stacked kernels: the peephole's three gates in one matmul on c, the GRU's z and r in one
    "stacked_kernels": '''
import keras
from keras import ops


class PeepholeLSTMCell(keras.layers.Layer):
    def __init__(self, units, **kwargs):
        super().__init__(**kwargs)
        self.units = units
        self.state_size = [units, units]

    def build(self, input_shape):
        d, n = input_shape[-1], self.units
        names = [("W_fx", (d, n)), ("W_fh", (n, n)), ("b_f", (n,)), ("W_ix", (d, n)),
                 ("W_ih", (n, n)), ("b_i", (n,)), ("W_ox", (d, n)), ("W_oh", (n, n)),
                 ("b_o", (n,)), ("W_cx", (d, n)), ("b_c", (n,))]
        for name, shape in names:
            setattr(self, name, self.add_weight(shape=shape, name=name))

    def call(self, inputs, states):
        c_prev = states[1]
        gates = ops.sigmoid(
            ops.matmul(inputs, ops.concatenate([self.W_fx, self.W_ix, self.W_ox], axis=1))
            + ops.matmul(c_prev, ops.concatenate([self.W_fh, self.W_ih, self.W_oh], axis=1))
            + ops.concatenate([self.b_f, self.b_i, self.b_o]))
        forget, keep, out = ops.split(gates, 3, axis=-1)
        c = c_prev * forget + keep * ops.sigmoid(ops.matmul(inputs, self.W_cx) + self.b_c)
        h = out * ops.tanh(c)
        return h, [h, c]


class GRUCell(keras.layers.Layer):
    def __init__(self, units, **kwargs):
        super().__init__(**kwargs)
        self.units = units
        self.state_size = [units]

    def build(self, input_shape):
        d, n = input_shape[-1], self.units
        self.W_zx, self.W_rx, self.W_x = (self.add_weight(shape=(d, n), name=name)
                                          for name in ("W_zx", "W_rx", "W_x"))
        self.W_zh, self.W_rh, self.W_h = (self.add_weight(shape=(n, n), name=name)
                                          for name in ("W_zh", "W_rh", "W_h"))
        self.b_z, self.b_r, self.b = (self.add_weight(shape=(n,), initializer="zeros",
                                                      name=name) for name in ("b_z", "b_r", "b"))

    def call(self, inputs, states):
        h_prev = states[0]
        both = ops.sigmoid(
            ops.matmul(ops.concatenate([inputs, h_prev], axis=-1),
                       ops.concatenate([ops.concatenate([self.W_zx, self.W_rx], axis=1),
                                        ops.concatenate([self.W_zh, self.W_rh], axis=1)],
                                       axis=0))
            + ops.concatenate([self.b_z, self.b_r]))
        z, r = ops.split(both, 2, axis=-1)
        candidate = ops.tanh(ops.matmul(inputs, self.W_x) + ops.matmul(r * h_prev, self.W_h)
                             + self.b)
        h = h_prev + z * (candidate - h_prev)
        return h, [h]
''',
}

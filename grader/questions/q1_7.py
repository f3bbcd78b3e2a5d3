"""q1_7: the magnitude of the loss' gradient over time.

Contract: ``gradient_norms_over_time(cell, x, y, W_ph, b_p)`` runs ``cell`` over ``x``
``(batch, T, d)`` from a zero state, reads out ``p = h_T W_ph + b_p``, takes the mean
cross-entropy with labels ``y`` and returns the norm of ``dL/dh_t`` for t = 1..T (shape
``(T,)``). The probe passes Keras' ``SimpleRNNCell`` (the vanilla RNN step) with recorded
weights; the reference is ``course_kit.training.cell_gradient_norms``.
"""

from grader.registry import KIT_ANSWERS, Check, Question, RubricItem

from . import edit, helpers

QUESTION = Question(
    "q1_7", "Gradient magnitude over time", 1, "05_gradients_over_time.ipynb",
    checks=(Check("norm of dL/dh_t for every t", 4, "norms", rtol=1e-3, atol=1e-6),),
    rubric=(RubricItem("plot for RNN and LSTM, and its interpretation", 3),),
    forbidden=KIT_ANSWERS,
)


def probe(namespace, context):
    import keras
    import numpy as np

    probes = helpers()
    function = probes.student_object(namespace, "gradient_norms_over_time", "function")
    x = context.array("x")
    # Keras' cell computes tanh(x W_hx + h W_hh + b_h), the vanilla RNN step; the kit's own
    # cell is an answer, a stub in the student edition the jail holds.
    cell = keras.layers.SimpleRNNCell(context["w_W_hh"].shape[0])
    cell.build((None, x.shape[-1]))
    for variable, name in zip((cell.kernel, cell.recurrent_kernel, cell.bias),
                              ("W_hx", "W_hh", "b_h")):
        variable.assign(context.array(f"w_{name}"))
    norms = function(cell, x, np.asarray(context["y"]), context.array("w_W_ph"),
                     context.array("w_b_p"))
    return {"norms": np.asarray(probes.to_numpy(norms), dtype=np.float64).ravel()}


def record(public=False):
    """Seed 17: 4 sequences of 12 steps, 3 inputs, 6 units, 3 classes (public: 3 sequences of
    10 steps, 2 inputs, 5 units, 4 classes)."""
    from course_kit.training import cell_gradient_norms
    from grader.probes import Context
    from grader.references import seeded, vanilla_rnn_inputs

    sizes = (dict(batch=3, steps=10, input_dim=2, units=5, classes=4) if public else
             dict(batch=4, steps=12, input_dim=3, units=6, classes=3))
    inputs = vanilla_rnn_inputs(seeded(17, public), **sizes)
    expected = probe({"gradient_norms_over_time": cell_gradient_norms}, Context(inputs))
    return inputs, expected


_ANSWER = '''
import keras
import numpy as np
from keras import ops

from course_kit.autodiff import value_and_grad


def gradient_norms_over_time(cell, x, y, W_ph, b_p):
    batch, steps, _ = x.shape
    units = W_ph.shape[0]
    W_ph, b_p = ops.convert_to_tensor(W_ph), ops.convert_to_tensor(b_p)

    def loss(shift):
        h = ops.zeros((batch, units), dtype=x.dtype)
        for t in range(steps):
            h, _ = cell(x[:, t], [h])
            h = h + shift[t]
        logits = ops.matmul(h, W_ph) + b_p
        return ops.mean(keras.losses.sparse_categorical_crossentropy(y, logits, from_logits=True))

    _, (grad,) = value_and_grad(loss, np.zeros((steps, batch, units), dtype=x.dtype))
    return np.linalg.norm(ops.convert_to_numpy(grad).reshape(steps, -1), axis=1)
'''

_NORMS = "np.linalg.norm(ops.convert_to_numpy(grad).reshape(steps, -1), axis=1)"

MUTANTS = {
    # t = T first
    "reversed_order": edit(_ANSWER, (f"return {_NORMS}", f"return {_NORMS}[::-1]")),
    # the loss summed over the batch: every norm 4 times too big
    "sum_instead_of_mean": edit(_ANSWER, ("return ops.mean(keras", "return ops.sum(keras")),
    # the mean of per-sequence norms instead of the norm of the whole gradient
    "mean_of_norms": edit(_ANSWER, (
        _NORMS, "np.linalg.norm(ops.convert_to_numpy(grad), axis=2).mean(axis=1)")),
    # dL/dx_t instead of dL/dh_t
    "gradient_of_inputs": edit(
        _ANSWER, ("h, _ = cell(x[:, t], [h])\n            h = h + shift[t]",
                  "h, _ = cell(x[:, t] + shift[t], [h])"),
        ("np.zeros((steps, batch, units)", "np.zeros((steps, batch, x.shape[-1])")),
}

ALTERNATIVES = {
    # a different loop: for every t, differentiate the rest of the run with respect to h_t
    "one_gradient_per_step": '''
import keras
import numpy as np
from keras import ops

from course_kit.autodiff import value_and_grad


def gradient_norms_over_time(cell, x, y, W_ph, b_p):
    steps = x.shape[1]
    W_ph, b_p = ops.convert_to_tensor(W_ph), ops.convert_to_tensor(b_p)
    h = ops.zeros((x.shape[0], W_ph.shape[0]), dtype=x.dtype)
    states = []
    for t in range(steps):
        h, _ = cell(x[:, t], [h])
        states.append(h)

    def loss_after(t):
        def loss(h):
            for s in range(t + 1, steps):
                h, _ = cell(x[:, s], [h])
            logits = ops.matmul(h, W_ph) + b_p
            return ops.mean(keras.losses.sparse_categorical_crossentropy(y, logits,
                                                                         from_logits=True))
        return loss

    norms = []
    for t in range(steps):
        _, (grad,) = value_and_grad(loss_after(t), states[t])
        norms.append(float(np.sqrt(np.sum(ops.convert_to_numpy(grad) ** 2))))
    return np.array(norms)
''',
}

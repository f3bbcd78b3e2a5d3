"""q1_1: backpropagation through time for the vanilla RNN, by hand in NumPy.

Contract: ``bptt_vanilla_rnn(x, y, W_hx, W_hh, b_h, W_ph, b_p)`` with NumPy arrays (``x``
``(batch, T, d)``, ``y`` int ``(batch,)``, weights input-major) returns a dict of NumPy
gradients of the mean cross-entropy at the last step, keyed by weight name. The reference is
automatic differentiation (``course_kit.training.autodiff_vanilla_rnn_gradients``).

By hand means by hand: the graded cell may not use a framework or a library that
differentiates (``grader.registry.AUTODIFF``), and the gradients must match to float64
round-off (``rtol`` 1e-12, ``atol`` 1e-13). Exact backpropagation in NumPy is within about
3e-16 of the reference; central finite differences come within 2e-11 at best, and with
Richardson extrapolation within about 5e-13, so a numerical gradient does not pass.
"""

from grader.registry import AUTODIFF, KIT_ANSWERS, Check, Question, RubricItem

from . import edit, helpers

# Float64 round-off: what exact gradients give, and finite differences do not reach.
EXACT = {"rtol": 1e-12, "atol": 1e-13}

QUESTION = Question(
    "q1_1", "Backpropagation through time for the vanilla RNN", 1,
    "01_backprop_through_time.ipynb",
    checks=(
        Check("dL/dW_ph and dL/db_p", 2, "grad_output", **EXACT),
        Check("dL/dW_hh", 2, "grad_W_hh", **EXACT),
        Check("dL/dW_hx and dL/db_h", 2, "grad_input", **EXACT),
    ),
    rubric=(
        RubricItem("dL_T/dW_ph written correctly (depends only on the last step)", 2),
        RubricItem("dL_T/dW_hh as a sum over earlier steps, with the reason", 3),
        RubricItem("vanishing and exploding gradients explained", 2),
    ),
    forbidden=KIT_ANSWERS,
    forbidden_in_source=AUTODIFF,
)

WEIGHTS = ("W_hx", "W_hh", "b_h", "W_ph", "b_p")
# Each output and the gradients it holds, flattened and concatenated in this order.
OUTPUTS = {"grad_output": ("W_ph", "b_p"), "grad_W_hh": ("W_hh",),
           "grad_input": ("W_hx", "b_h")}


def probe(namespace, context):
    """Call the student's function on the recorded problem; one output per group of weights."""
    import numpy as np

    probes = helpers()
    function = probes.student_object(namespace, "bptt_vanilla_rnn", "function")
    weights = {name: np.asarray(context[f"w_{name}"], dtype=np.float64) for name in WEIGHTS}
    grads = function(np.asarray(context["x"], dtype=np.float64), np.asarray(context["y"]),
                     **weights)
    if not isinstance(grads, dict):
        raise probes.ContractError(f"bptt_vanilla_rnn must return a dict of gradients, got "
                                   f"{type(grads).__name__}")
    results = {}
    for output, names in OUTPUTS.items():
        missing = [n for n in names if n not in grads]
        if missing:
            context.notes.append(f"the returned dict has no gradient for {missing}")
            continue
        results[output] = np.concatenate([np.asarray(grads[n], dtype=np.float64).ravel()
                                          for n in names])
    return results


def record(public=False):
    """Seed 11: a batch of 3 sequences of 6 steps, 4 inputs, 5 units, 3 classes (public: 2
    sequences of 5 steps, 3 inputs, 4 units, 4 classes)."""
    from course_kit.training import autodiff_vanilla_rnn_gradients
    from grader.probes import Context
    from grader.references import seeded, vanilla_rnn_inputs

    sizes = (dict(batch=2, steps=5, input_dim=3, units=4, classes=4) if public else
             dict(batch=3, steps=6, input_dim=4, units=5, classes=3))
    inputs = vanilla_rnn_inputs(seeded(11, public), **sizes)
    expected = probe({"bptt_vanilla_rnn": autodiff_vanilla_rnn_gradients}, Context(inputs))
    return inputs, expected


_ANSWER = '''
import numpy as np


def bptt_vanilla_rnn(x, y, W_hx, W_hh, b_h, W_ph, b_p):
    batch, steps, _ = x.shape
    hs = [np.zeros((batch, W_hh.shape[0]))]
    for t in range(steps):
        hs.append(np.tanh(x[:, t] @ W_hx + hs[-1] @ W_hh + b_h))
    logits = hs[-1] @ W_ph + b_p
    p = np.exp(logits - logits.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    dlogits = p.copy()
    dlogits[np.arange(batch), y] -= 1.0
    dlogits /= batch
    grads = {"W_ph": hs[-1].T @ dlogits, "b_p": dlogits.sum(axis=0),
             "W_hx": np.zeros_like(W_hx), "W_hh": np.zeros_like(W_hh), "b_h": np.zeros_like(b_h)}
    dh = dlogits @ W_ph.T
    for t in range(steps, 0, -1):
        da = dh * (1.0 - hs[t] ** 2)
        grads["W_hx"] += x[:, t - 1].T @ da
        grads["W_hh"] += hs[t - 1].T @ da
        grads["b_h"] += da.sum(axis=0)
        dh = da @ W_hh.T
    return grads
'''

_FINITE_DIFFERENCES = '''
import numpy as np


def loss(x, y, weights):
    h = np.zeros((x.shape[0], weights["W_hh"].shape[0]))
    for t in range(x.shape[1]):
        h = np.tanh(x[:, t] @ weights["W_hx"] + h @ weights["W_hh"] + weights["b_h"])
    logits = h @ weights["W_ph"] + weights["b_p"]
    logits = logits - logits.max(axis=1, keepdims=True)
    return np.mean(np.log(np.exp(logits).sum(axis=1)) - logits[np.arange(len(y)), y])


def central_difference(x, y, weights, name, index, step):
    plus = {key: value.copy() for key, value in weights.items()}
    minus = {key: value.copy() for key, value in weights.items()}
    plus[name][index] += step
    minus[name][index] -= step
    return (loss(x, y, plus) - loss(x, y, minus)) / (2 * step)


def derivative(x, y, weights, name, index):
    return central_difference(x, y, weights, name, index, 6e-6)


def bptt_vanilla_rnn(x, y, W_hx, W_hh, b_h, W_ph, b_p):
    weights = {"W_hx": W_hx, "W_hh": W_hh, "b_h": b_h, "W_ph": W_ph, "b_p": b_p}
    grads = {}
    for name, value in weights.items():
        grads[name] = np.zeros_like(value)
        for index in np.ndindex(value.shape):
            grads[name][index] = derivative(x, y, weights, name, index)
    return grads
'''

MUTANTS = {
    # no backward pass: central finite differences at the best step (about 2e-11 off)
    "central_differences": _FINITE_DIFFERENCES,
    # the same, with Richardson extrapolation (about 5e-13 off)
    "richardson_differences": edit(_FINITE_DIFFERENCES, (
        "    return central_difference(x, y, weights, name, index, 6e-6)",
        "    coarse = central_difference(x, y, weights, name, index, 1e-3)\n"
        "    fine = central_difference(x, y, weights, name, index, 5e-4)\n"
        "    return (4 * fine - coarse) / 3")),
    # no backward pass: the forward pass in keras.ops, differentiated by the kit's helper
    "autodiff_with_the_kit": '''
import numpy as np
from keras import ops

from course_kit.autodiff import value_and_grad


def bptt_vanilla_rnn(x, y, W_hx, W_hh, b_h, W_ph, b_p):
    def loss(W_hx, W_hh, b_h, W_ph, b_p):
        h = ops.zeros((x.shape[0], W_hh.shape[0]), dtype=W_hh.dtype)
        for t in range(x.shape[1]):
            h = ops.tanh(ops.convert_to_tensor(x[:, t], W_hh.dtype) @ W_hx + h @ W_hh + b_h)
        logits = h @ W_ph + b_p
        return ops.mean(ops.sparse_categorical_crossentropy(y, logits, from_logits=True))

    _, grads = value_and_grad(loss, W_hx, W_hh, b_h, W_ph, b_p)
    names = ("W_hx", "W_hh", "b_h", "W_ph", "b_p")
    return {name: ops.convert_to_numpy(g).astype(np.float64) for name, g in zip(names, grads)}
''',
    # no backward pass: jax.grad of a forward pass in jax.numpy
    "jax_grad": '''
import jax
import jax.numpy as jnp
import numpy as np


def bptt_vanilla_rnn(x, y, W_hx, W_hh, b_h, W_ph, b_p):
    def loss(weights):
        h = jnp.zeros((x.shape[0], W_hh.shape[0]))
        for t in range(x.shape[1]):
            h = jnp.tanh(x[:, t] @ weights["W_hx"] + h @ weights["W_hh"] + weights["b_h"])
        logits = h @ weights["W_ph"] + weights["b_p"]
        return -jnp.mean(jax.nn.log_softmax(logits)[jnp.arange(len(y)), y])

    weights = {"W_hx": W_hx, "W_hh": W_hh, "b_h": b_h, "W_ph": W_ph, "b_p": b_p}
    return {name: np.asarray(g, dtype=np.float64) for name, g in jax.grad(loss)(weights).items()}
''',
    # the chain rule through tanh forgotten: da_t = dL/dh_t
    "no_tanh_derivative": edit(_ANSWER, ("da = dh * (1.0 - hs[t] ** 2)", "da = dh")),
    # the loss summed over the batch instead of averaged
    "no_batch_mean": edit(_ANSWER, ("    dlogits /= batch\n", "")),
    # truncated: only the last step's contribution to the recurrent gradients
    "last_step_only": edit(_ANSWER, ("range(steps, 0, -1)", "range(steps, steps - 1, -1)")),
    # h_t where h_{t-1} belongs in dL/dW_hh
    "state_after_the_step": edit(_ANSWER, ("hs[t - 1].T @ da", "hs[t].T @ da")),
}

ALTERNATIVES = {
    # all deltas first (a different loop), then every weight gradient as one einsum
    "deltas_then_einsum": '''
import numpy as np


def bptt_vanilla_rnn(x, y, W_hx, W_hh, b_h, W_ph, b_p):
    batch, steps, _ = x.shape
    states = np.zeros((steps + 1, batch, W_hh.shape[0]))
    for t in range(1, steps + 1):
        states[t] = np.tanh(x[:, t - 1] @ W_hx + states[t - 1] @ W_hh + b_h)
    logits = states[-1] @ W_ph + b_p
    log_probs = logits - np.logaddexp.reduce(logits, axis=1, keepdims=True)
    d_logits = (np.exp(log_probs) - np.eye(W_ph.shape[1])[y]) / batch
    deltas = np.zeros_like(states[1:])  # dL/da_t, a_t the pre-activation of step t
    d_h = d_logits @ W_ph.T
    for t in reversed(range(steps)):
        deltas[t] = d_h * (1.0 - states[t + 1] ** 2)
        d_h = deltas[t] @ W_hh.T
    return {
        "W_ph": states[-1].T @ d_logits,
        "b_p": d_logits.sum(axis=0),
        "W_hh": np.einsum("tbi,tbj->ij", states[:-1], deltas),
        "W_hx": np.einsum("bti,tbj->ij", x, deltas),
        "b_h": deltas.sum(axis=(0, 1)),
    }
''',
}

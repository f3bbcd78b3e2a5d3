"""q1_1: backpropagation through time for the vanilla RNN, by hand in NumPy.

Contract: ``bptt_vanilla_rnn(x, y, W_hx, W_hh, b_h, W_ph, b_p)`` with NumPy arrays (``x``
``(batch, T, d)``, ``y`` int ``(batch,)``, weights input-major) returns a dict of NumPy
gradients of the mean cross-entropy at the last step, keyed by weight name. The reference is
automatic differentiation (``course_kit.training.autodiff_vanilla_rnn_gradients``).
"""

from grader.registry import KIT_ANSWERS, Check, Question, RubricItem

from . import edit, helpers

QUESTION = Question(
    "q1_1", "Backpropagation through time for the vanilla RNN", 1,
    "01_backprop_through_time.ipynb",
    checks=(
        Check("dL/dW_ph and dL/db_p", 2, "grad_output"),
        Check("dL/dW_hh", 2, "grad_W_hh"),
        Check("dL/dW_hx and dL/db_h", 2, "grad_input"),
    ),
    rubric=(
        RubricItem("dL_T/dW_ph written correctly (depends only on the last step)", 2),
        RubricItem("dL_T/dW_hh as a sum over earlier steps, with the reason", 3),
        RubricItem("vanishing and exploding gradients explained", 2),
    ),
    forbidden=KIT_ANSWERS,
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

MUTANTS = {
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

"""What the visible checks and the grader tell a student: one error metric and the hints.

Pure NumPy, so that the grader's own process, which never imports Keras, reports with the
same metric and the same words as the notebooks' checks (:mod:`course_kit.checks`).

``HINTS[question][key]`` is a hint, where ``key`` is one of:

- the name of a compared quantity. Where the grader scores that quantity, the key is the
  ``output`` of its check in ``grader.registry.QUESTIONS`` (``"outputs"``, ``"gradients"``,
  ``"peephole_outputs"``, ``"counts_0.5"``, ...); the other keys name what only the notebook
  check compares (``"returns"`` for a result that breaks the contract, ``"state_size"``,
  ``"deterministic"``, ``"step_shape"``);
- ``"not_implemented"``, for a graded cell that still holds its stub;
- the name of a mistake of ``MISTAKES[question]``, which the checks recognise by comparing the
  student's result with the recorded result of a reference that makes that mistake.

``MISTAKES[question][name]`` names the mutants of the question's grader module
(``grader/questions/<question>.py``) that make mistake ``name``: their outputs are recorded,
as ``<output>@<mutant>``, in the grader's hidden references and in the public fixtures of
the checks, where a failing result that matches one of them gets the mistake's hint.

Example:

>>> relative_error([1.0, -2.0], [1.0, -2.0])
0.0
>>> HINTS["q3_1"]["no_self_loops"]
'add the self-loops (A + I) before computing the degrees, and keep them in the product'
"""

import numpy as np

__all__ = ["HINTS", "MISTAKES", "relative_error"]


def relative_error(actual, expected):
    """Scale-free distance of two arrays: ``max|a - b| / max(max|a| + max|b|, 1e-8)``.

    Unlike an element-wise ratio it does not blow up on entries that are zero in both arrays.
    A correct float32 computation scores about 1e-7.

    Args:
        actual: array-like, the student's result.
        expected: array-like of the same shape, the reference.

    Returns:
        A Python float, 0.0 for equal (or empty) arrays; NaN if ``actual`` holds a NaN.

    Raises:
        ValueError: if the shapes differ.
    """
    actual = np.asarray(actual, dtype=np.float64)
    expected = np.asarray(expected, dtype=np.float64)
    if actual.shape != expected.shape:
        raise ValueError(f"shape {actual.shape} differs from the expected {expected.shape}")
    if actual.size == 0:
        return 0.0
    scale = max(np.max(np.abs(actual)) + np.max(np.abs(expected)), 1e-8)
    return float(np.max(np.abs(actual - expected)) / scale)


MISTAKES = {
    # h_t = x_t W_hx + h_{t-1} W_hh + b_h, the pre-activation without its tanh
    "q1_2": {"no_tanh": ("no_tanh",)},
    # tanh for the gates i, f, o, or sigmoid for the candidate g, or both
    "q1_6": {"wrong_gate_nonlinearity": ("gates_tanh", "candidate_sigmoid",
                                         "swapped_nonlinearities")},
    # draws from softmax(logits / tau) instead of softmax(tau * logits)
    "q2_3": {"divides_by_tau": ("divides_by_tau",)},
    # D^-1/2 A D^-1/2 (no self-loops), and D^-1 (A + I) D^-1 (1 / degree, no square root)
    "q3_1": {"no_self_loops": ("no_self_loops",), "inverse_degree": ("inverse_degree",)},
}

# Hints that several questions share, written once.
_NOT_IMPLEMENTED = ("replace the `raise NotImplementedError(...)` line(s) in the graded cell "
                    "above with your code")
_DIFFERENTIABLE = ("the outputs match but the gradients do not: compute with keras.ops only "
                   "(no NumPy, no convert_to_numpy), so the backend can differentiate")
_CELL_WEIGHTS = ("create each weight in build() as self.<name> = self.add_weight(name=\"<name>\", "
                 "shape=...), named as in the equations and input-major: (input_dim, units) for "
                 "input matrices, (units, units) for recurrent ones, (units,) for biases")
_GREEDY = "start with first_token, keep the state between steps, take the argmax"
_TEMPERATURE = "draw one index with probabilities softmax(tau * logits), using the rng given"
_A_PLUS_I = "ones on the diagonal and at every edge"
_UPDATES = "count the powers of A+I until entry (E, C) is nonzero"

HINTS = {
    "q1_1": {
        "not_implemented": _NOT_IMPLEMENTED,
        "returns": "return a dict of the five gradients keyed W_hx, W_hh, b_h, W_ph and b_p",
        "exact": "the gradients must be exact to float64 round-off (relative error under 1e-13): "
                 "keep the inputs' float64 and write the backward pass out; a numerical "
                 "gradient is only an approximation",
        "grad_output": "only the last step counts: dL/dW_ph = h_T^T (softmax - one_hot) / batch "
                       "and dL/db_p is its sum over the batch",
        "grad_W_hh": "visit t = T, T-1, ..., 1: da_t = dL/dh_t * (1 - h_t^2), add "
                     "h_{t-1}^T da_t, then carry dL/dh_{t-1} = da_t W_hh^T",
        "grad_input": "add x_t^T da_t (for W_hx) and the batch sum of da_t (for b_h) at every "
                      "step t = T, ..., 1",
    },
    "q1_2": {
        "not_implemented": _NOT_IMPLEMENTED,
        "weight_shapes": _CELL_WEIGHTS,
        "state_size": "set self.state_size = units in __init__: keras.layers.RNN reads it to "
                      "make the first state (q1_3 wraps your cell in keras.layers.RNN)",
        "outputs": "compare call() with h_t = tanh(x_t @ W_hx + h_{t-1} @ W_hh + b_h) term by "
                   "term, and return (h_t, [h_t])",
        "gradients": _DIFFERENTIABLE,
        "no_tanh": "apply tanh to the pre-activation: h_t = tanh(x_t @ W_hx + h_{t-1} @ W_hh "
                   "+ b_h)",
    },
    "q1_3": {
        "not_implemented": _NOT_IMPLEMENTED,
        "predictions": "pass check_cell with your VanillaRNNCell first; then train longer or "
                       "check the learning rate",
        "architecture": "build the model on your own VanillaRNNCell from q1_2, inside "
                        "keras.layers.RNN, and compute the scores from it",
        "swapped_predictions": "feed the embedded digits straight to keras.layers.RNN and let "
                               "it carry the first digit to the end: the answer must come from "
                               "the RNN's memory, not from a rule or a digit computed beside it",
    },
    "q1_4": {
        "not_implemented": _NOT_IMPLEMENTED,
        "step_shape": "step(weights, gradients) returns the updated weights, an array of the "
                      "same shape",
        "momentum": "as in Keras, keep the velocity between steps: v = momentum * v - "
                    "learning_rate * g, then w = w + v",
        "rmsprop": "as in Keras, epsilon goes inside the square root: w = w - learning_rate * g "
                   "/ sqrt(s + epsilon)",
        "adam": "the bias correction counts steps from t = 1, and epsilon goes outside the "
                "square root, as in Keras",
    },
    "q1_5": {
        "not_implemented": _NOT_IMPLEMENTED,
        "counts": "count each gate's input matrix, recurrent matrix and bias, then the output "
                  "layer's weights and biases",
    },
    "q1_6": {
        "not_implemented": _NOT_IMPLEMENTED,
        "weight_shapes": _CELL_WEIGHTS,
        "outputs": "compare call() with the equations term by term: every gate reads x_t and "
                   "h_{t-1}, c_t = g * i + c_{t-1} * f, h_t = tanh(c_t) * o",
        "gradients": _DIFFERENTIABLE,
        "wrong_gate_nonlinearity": "the gates i, f and o go through a sigmoid, the candidate g "
                                   "through a tanh",
    },
    "q1_7": {
        "not_implemented": _NOT_IMPLEMENTED,
        "norms": "start every state at zero, read out h_T only, and differentiate the "
                 "batch-mean cross-entropy",
    },
    "q1_8": {
        "not_implemented": _NOT_IMPLEMENTED,
        "predictions": "pass check_cell with your LSTMCell first; then train longer or check the "
                       "learning rate",
        "architecture": "use a keras.layers.Embedding and an LSTM (keras.layers.LSTM, or an LSTM "
                        "cell in keras.layers.RNN), and compute the scores from them",
        "swapped_predictions": "feed the embedded bits straight to the LSTM and let it carry the "
                               "first bit to the end: the answer must come from the LSTM's "
                               "memory, not from a rule or a bit computed beside it",
    },
    "q1_9": {
        "not_implemented": _NOT_IMPLEMENTED,
        "peephole_weight_shapes": _CELL_WEIGHTS,
        "peephole_outputs": "the gates read c_{t-1}, not h_{t-1}, and the new content "
                            "sigmoid(x_t @ W_cx + b_c) reads only the input",
        "peephole_gradients": _DIFFERENTIABLE,
        "gru_weight_shapes": _CELL_WEIGHTS,
        "gru_outputs": "the reset gate multiplies h_{t-1} before W_h, and h_t = (1 - z) * "
                       "h_{t-1} + z * h~ (Keras swaps z and 1 - z)",
        "gru_gradients": _DIFFERENTIABLE,
    },
    "q2_1": {
        "not_implemented": _NOT_IMPLEMENTED,
        "logits_shape": "return logits (batch, T, vocab_size) at every step: "
                        "return_sequences=True on every LSTM",
        "causal": "the logits at step t must not depend on later characters: no bidirectional "
                  "layer",
        "context": "the logits at step t must depend on earlier characters: carry a recurrent "
                   "state (keras.layers.LSTM with return_sequences=True)",
    },
    "q2_2": {
        "not_implemented": _NOT_IMPLEMENTED,
        "greedy_5": _GREEDY,
        "greedy_40": _GREEDY,
        "deterministic": "greedy sampling draws nothing at random: the same call gives the same "
                         "sequence",
    },
    "q2_3": {
        "not_implemented": _NOT_IMPLEMENTED,
        "counts_0.5": _TEMPERATURE,
        "counts_2": _TEMPERATURE,
        "divides_by_tau": "tau multiplies the logits here: softmax(tau * logits), not "
                          "softmax(logits / tau)",
        "rng": "draw with the generator you are given (rng.choice, rng.random), not with "
               "np.random's global functions",
    },
    "q2_4": {
        "not_implemented": _NOT_IMPLEMENTED,
        "completion": "feed every prompt token through step before continuing greedily",
    },
    "q2_5": {
        "not_implemented": _NOT_IMPLEMENTED,
        "beam": "score by the sum of log-softmax, keep the beam_width best at every step",
    },
    "q3_1": {
        "not_implemented": _NOT_IMPLEMENTED,
        "normalized": "add the self-loops, compute the degrees of A + I, then scale rows and "
                      "columns by 1 / sqrt(degree)",
        "weight_shapes": "create kernel (F, channels) and bias (channels,) in build() with "
                         "self.add_weight",
        "outputs_dense": "A_hat @ features @ kernel + bias, with A_hat = D^-1/2 (A+I) D^-1/2",
        "outputs_sparse": "add one self-loop per node; weight each edge j->i by "
                          "1/sqrt(d_i d_j), then sum the messages at the target node",
        "gradients": _DIFFERENTIABLE,
        "no_self_loops": "add the self-loops (A + I) before computing the degrees, and keep "
                         "them in the product",
        "inverse_degree": "scale rows and columns by 1 / sqrt(degree): D^-1/2 (A + I) D^-1/2, "
                          "not D^-1",
    },
    "q3_2": {
        "not_implemented": _NOT_IMPLEMENTED,
        "a_plus_i_fall2019": _A_PLUS_I,
        "a_plus_i_2020": _A_PLUS_I,
        "updates_fall2019": _UPDATES,
        "updates_2020": _UPDATES,
    },
    "q3_3": {
        "not_implemented": _NOT_IMPLEMENTED,
        "returns": "call() returns the pair (output, attention)",
        "weight_shapes": "create kernel (F, channels), attn_kernel_self and attn_kernel_neighs "
                         "(channels, 1) and bias (channels,) in build() with self.add_weight",
        "attention": "softmax of e_ij over the neighbours j of i and i itself; 0 elsewhere",
        "outputs": "output_i = sum_j alpha_ij z_j + bias, with z = features @ kernel",
    },
    "q3_5": {
        "not_implemented": _NOT_IMPLEMENTED,
        "weight_shapes": "create kernel (features, 4 * units), recurrent_kernel (units, "
                         "4 * units) and bias (4 * units,) in build() with self.add_weight",
        "outputs": "[I, F, G, O] = A_hat X_t W + A_hat H_{t-1} U + b in that order; "
                   "C_t = sigmoid(F) C_{t-1} + sigmoid(I) tanh(G), H_t = sigmoid(O) tanh(C_t)",
        "gradients": _DIFFERENTIABLE,
    },
}

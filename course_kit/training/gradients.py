"""How much of the loss' gradient reaches each time step (question q1_7)."""

import keras
import numpy as np
from keras import ops

from course_kit.autodiff import value_and_grad

__all__ = ["cell_gradient_norms", "gradient_norms_over_time"]


# BEGIN ANSWER q1_7
def gradient_norms_over_time(model, batch):
    """The norm of ``dL/dh_t`` for every step t = 1..T of a ``SequenceClassifier``.

    ``L`` is the batch-mean cross-entropy of the logits at the last step. The cell is
    unrolled step by step and a zero tensor ``e_t`` is added to each hidden state
    (``h_t + e_t`` is what later steps and the output layer read), so ``dL/de_t = dL/dh_t``.
    Each norm is the Frobenius norm of that ``(batch, units)`` gradient.

    Args:
        model: a ``SequenceClassifier`` (not bidirectional); untrained is fine.
        batch: ``(x, y)``, inputs as the model takes them and integer labels ``(batch,)``.

    Returns:
        A float64 NumPy array of shape ``(T,)``; entry ``t - 1`` belongs to ``h_t``.
    """
    if getattr(model, "bidirectional", True):
        raise ValueError("model must be a SequenceClassifier that is not bidirectional")
    x, y = batch
    cell = model.recurrent.cell
    if not cell.built:
        model(ops.convert_to_tensor(x))
    return _state_gradient_norms(cell, model.encode(ops.convert_to_tensor(x)), y,
                                 model.classifier, model.compute_dtype)


def cell_gradient_norms(cell, x, y, W_ph, b_p):
    """The norm of ``dL/dh_t`` for every step t = 1..T of ``cell`` run over ``x`` from zero
    states, read out by ``p = h_T W_ph + b_p`` (the contract of question q1_7).

    Args:
        cell: a built recurrent cell, ``cell(x_t, states) -> (h_t, new_states)``.
        x: ``(batch, T, features)`` float inputs.
        y: ``(batch,)`` integer labels of the last step.
        W_ph: ``(units, num_classes)``; b_p: ``(num_classes,)``.

    Returns:
        A float64 NumPy array of shape ``(T,)``; entry ``t - 1`` belongs to ``h_t``.
    """
    inputs = ops.convert_to_tensor(x)
    W_ph, b_p = ops.convert_to_tensor(W_ph), ops.convert_to_tensor(b_p)
    dtype = keras.backend.standardize_dtype(inputs.dtype)
    return _state_gradient_norms(cell, inputs, y, lambda h: ops.matmul(h, W_ph) + b_p, dtype)


def _state_gradient_norms(cell, inputs, y, readout, dtype):
    """||dL/dh_t|| by autodiff: a zero tensor ``e_t`` is added to each hidden state, so
    ``dL/de_t = dL/dh_t``; ``L`` is the batch-mean cross-entropy of ``readout(h_T)``."""
    labels = ops.convert_to_tensor(np.asarray(y, dtype="int32"))
    batch_size, steps = inputs.shape[0], inputs.shape[1]
    size = cell.state_size
    num_states = len(size) if isinstance(size, (list, tuple)) else 1
    units = cell.units

    def loss(*perturbations):
        states = [ops.zeros((batch_size, units), dtype=dtype) for _ in range(num_states)]
        for t in range(steps):
            h, states = cell(inputs[:, t], states)
            if not isinstance(states, (list, tuple)):
                states = [states]
            states = [h + perturbations[t], *states[1:]]
        logits = readout(states[0])
        return ops.mean(
            keras.losses.sparse_categorical_crossentropy(labels, logits, from_logits=True)
        )

    zeros = [np.zeros((batch_size, units), dtype=dtype)] * steps
    _, grads = value_and_grad(loss, *zeros)
    return np.array([np.linalg.norm(ops.convert_to_numpy(g)) for g in grads], dtype=np.float64)
# END ANSWER

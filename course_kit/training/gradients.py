"""How much of the loss' gradient reaches each time step (question q1_7)."""

import keras
import numpy as np
from keras import ops

from course_kit.autodiff import value_and_grad

__all__ = ["gradient_norms_over_time"]


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
    inputs = model.encode(ops.convert_to_tensor(x))
    labels = ops.convert_to_tensor(np.asarray(y, dtype="int32"))
    batch_size, steps = inputs.shape[0], inputs.shape[1]
    cell = model.recurrent.cell
    if not cell.built:
        model(ops.convert_to_tensor(x))

    def loss(*perturbations):
        states = cell.get_initial_state(batch_size)
        for t in range(steps):
            h, states = cell(inputs[:, t], states)
            states = [h + perturbations[t], *states[1:]]
        logits = model.classifier(states[0])
        return ops.mean(
            keras.losses.sparse_categorical_crossentropy(labels, logits, from_logits=True)
        )

    zeros = [np.zeros((batch_size, cell.units), dtype=model.compute_dtype)] * steps
    _, grads = value_and_grad(loss, *zeros)
    return np.array([np.linalg.norm(ops.convert_to_numpy(g)) for g in grads], dtype=np.float64)

"""Backpropagation through time for the vanilla RNN (question q1_1): by hand in NumPy, and
the same gradients by the backend's automatic differentiation (the oracle the notebook's
check and the grader's reference use)."""

import numpy as np

__all__ = ["autodiff_vanilla_rnn_gradients", "bptt_vanilla_rnn"]


# BEGIN ANSWER q1_1
def bptt_vanilla_rnn(x, y, W_hx, W_hh, b_h, W_ph, b_p, h0=None):
    """Loss and gradients of a vanilla RNN with cross-entropy on the last step only.

    Forward pass (row vectors, weights input-major as in ``VanillaRNNCell``)::

        h_t = tanh(x_t @ W_hx + h_{t-1} @ W_hh + b_h),   t = 1..T
        p   = h_T @ W_ph + b_p
        L   = mean over the batch of -log softmax(p)[y]

    The backward pass walks from t = T down to 1, carrying ``dL/dh_t``: the gradient reaching
    ``W_hh`` at step t has been multiplied by ``W_hh^T`` and the tanh derivative once for every
    later step, which is why it depends on all earlier states and can vanish or explode.

    Args:
        x: ``(batch, T, input_dim)`` float inputs.
        y: ``(batch,)`` integer labels of the last step.
        W_hx: ``(input_dim, units)``; W_hh: ``(units, units)``; b_h: ``(units,)``.
        W_ph: ``(units, num_classes)``; b_p: ``(num_classes,)``.
        h0: initial state ``(batch, units)``; zeros when ``None``.

    Returns:
        A dict with the float64 ``"loss"`` and the gradients ``"W_ph"``, ``"b_p"``, ``"W_hh"``,
        ``"W_hx"``, ``"b_h"``, each the shape of its weight.
    """
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y)
    W_hx, W_hh, b_h, W_ph, b_p = (
        np.asarray(w, dtype=np.float64) for w in (W_hx, W_hh, b_h, W_ph, b_p)
    )
    if x.ndim != 3:
        raise ValueError(f"x must have shape (batch, T, input_dim), got shape {x.shape}")
    batch, steps, _ = x.shape
    if y.shape != (batch,):
        raise ValueError(f"y must have shape ({batch},), got shape {y.shape}")
    units = W_hh.shape[0]
    h = np.zeros((batch, units)) if h0 is None else np.asarray(h0, dtype=np.float64)

    states = [h]
    for t in range(steps):
        states.append(np.tanh(x[:, t] @ W_hx + states[-1] @ W_hh + b_h))
    logits = states[-1] @ W_ph + b_p
    shifted = logits - logits.max(axis=1, keepdims=True)
    log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    loss = -log_probs[np.arange(batch), y].mean()

    d_logits = np.exp(log_probs)
    d_logits[np.arange(batch), y] -= 1.0
    d_logits /= batch
    grads = {
        "W_ph": states[-1].T @ d_logits,
        "b_p": d_logits.sum(axis=0),
        "W_hh": np.zeros_like(W_hh),
        "W_hx": np.zeros_like(W_hx),
        "b_h": np.zeros_like(b_h),
    }
    d_h = d_logits @ W_ph.T
    for t in range(steps, 0, -1):
        d_pre = d_h * (1.0 - states[t] ** 2)
        grads["W_hx"] += x[:, t - 1].T @ d_pre
        grads["W_hh"] += states[t - 1].T @ d_pre
        grads["b_h"] += d_pre.sum(axis=0)
        d_h = d_pre @ W_hh.T
    return {"loss": float(loss), **grads}
# END ANSWER


def autodiff_vanilla_rnn_gradients(x, y, W_hx, W_hh, b_h, W_ph, b_p, dtype=None):
    """The gradients :func:`bptt_vanilla_rnn` computes, by automatic differentiation.

    Same forward pass and loss (the batch-mean cross-entropy at the last step), differentiated
    by the Keras backend (:func:`course_kit.autodiff.value_and_grad`).

    Args:
        x, y, W_hx, W_hh, b_h, W_ph, b_p: as for :func:`bptt_vanilla_rnn`.
        dtype: the float type to compute in; Keras' ``floatx`` when ``None``.

    Returns:
        A dict of NumPy gradients keyed ``"W_hx"``, ``"W_hh"``, ``"b_h"``, ``"W_ph"``,
        ``"b_p"``.
    """
    import keras
    from keras import ops

    from course_kit.autodiff import value_and_grad

    dtype = dtype or keras.config.floatx()
    names = ("W_hx", "W_hh", "b_h", "W_ph", "b_p")
    inputs = ops.convert_to_tensor(np.asarray(x, dtype=dtype))
    labels = ops.convert_to_tensor(np.asarray(y, dtype="int32"))

    def loss(W_hx, W_hh, b_h, W_ph, b_p):
        h = ops.zeros((inputs.shape[0], W_hh.shape[0]), dtype=dtype)
        for t in range(inputs.shape[1]):
            h = ops.tanh(ops.matmul(inputs[:, t], W_hx) + ops.matmul(h, W_hh) + b_h)
        logits = ops.matmul(h, W_ph) + b_p
        return ops.mean(keras.losses.sparse_categorical_crossentropy(labels, logits,
                                                                     from_logits=True))

    weights = [np.asarray(w, dtype=dtype) for w in (W_hx, W_hh, b_h, W_ph, b_p)]
    _, grads = value_and_grad(loss, *weights)
    return {name: np.asarray(ops.convert_to_numpy(g)) for name, g in zip(names, grads)}

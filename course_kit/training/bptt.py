"""Backpropagation through time for the vanilla RNN, by hand in NumPy (question q1_1)."""

import numpy as np

__all__ = ["bptt_vanilla_rnn"]


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

"""Gradients on any Keras backend.

Keras 3 has no backend-neutral ``grad``. This module is the one place that talks to the
backend's own autodiff (``tf.GradientTape``, ``jax.value_and_grad``, ``torch.autograd``);
everything else in the kit calls these two functions.
"""

import keras
from keras import ops

__all__ = ["value_and_grad", "variables_value_and_grad"]


def value_and_grad(fn, *args):
    """Evaluate ``fn(*args)`` and its gradient with respect to every argument.

    Args:
        fn: a function of tensors returning a scalar tensor.
        *args: arrays or tensors (float).

    Returns:
        ``(value, grads)``: the scalar and a tuple with one gradient per argument, each the
        shape of its argument, as backend tensors.
    """
    backend = keras.backend.backend()
    tensors = [ops.convert_to_tensor(a) for a in args]
    if backend == "tensorflow":
        import tensorflow as tf

        with tf.GradientTape() as tape:
            for t in tensors:
                tape.watch(t)
            value = fn(*tensors)
        grads = tape.gradient(value, tensors, unconnected_gradients=tf.UnconnectedGradients.ZERO)
        return value, tuple(grads)
    if backend == "jax":
        import jax

        value, grads = jax.value_and_grad(lambda *xs: fn(*xs), argnums=tuple(range(len(tensors))))(
            *tensors
        )
        return value, tuple(grads)
    if backend == "torch":
        import torch

        leaves = [t.detach().clone().requires_grad_(True) for t in tensors]
        value = fn(*leaves)
        grads = torch.autograd.grad(value, leaves, allow_unused=True)
        grads = tuple(torch.zeros_like(x) if g is None else g for x, g in zip(leaves, grads))
        return value.detach(), grads
    raise ValueError(f"unsupported Keras backend {backend!r}: expected tensorflow, jax or torch")


def variables_value_and_grad(fn, variables):
    """Evaluate ``fn()`` and its gradient with respect to Keras variables.

    Args:
        fn: a function without arguments that reads ``variables`` (for instance through a
            layer or model call) and returns a scalar tensor.
        variables: a list of ``keras.Variable``.

    Returns:
        ``(value, grads)``: the scalar and a list of gradients, one per variable, each the
        shape of its variable (zeros where the value does not depend on a variable).
    """
    variables = list(variables)
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        with tf.GradientTape() as tape:
            value = fn()
        # The backing tf.Variables: zeros for an unconnected gradient need a TensorFlow dtype,
        # and a Keras variable's dtype is a string.
        grads = tape.gradient(value, [v.value for v in variables],
                              unconnected_gradients=tf.UnconnectedGradients.ZERO)
        return value, list(grads)
    if backend == "jax":
        import jax

        def pure(values):
            with keras.StatelessScope(state_mapping=list(zip(variables, values))):
                return fn()

        value, grads = jax.value_and_grad(pure)([v.value for v in variables])
        return value, list(grads)
    if backend == "torch":
        import torch

        value = fn()
        grads = torch.autograd.grad(value, [v.value for v in variables], allow_unused=True)
        return value.detach(), [
            torch.zeros_like(v.value) if g is None else g for v, g in zip(variables, grads)
        ]
    raise ValueError(f"unsupported Keras backend {backend!r}: expected tensorflow, jax or torch")

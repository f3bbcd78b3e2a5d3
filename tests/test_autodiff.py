"""The one autodiff interop module, checked against analytic gradients on each backend."""

import keras
import numpy as np
import pytest
from keras import ops

from course_kit.autodiff import value_and_grad, variables_value_and_grad


def test_value_and_grad_of_tensors():
    x = np.array([1.0, -2.0, 3.0], dtype="float32")
    w = np.array([[0.5], [1.5], [-1.0]], dtype="float32")

    value, (dx, dw) = value_and_grad(lambda x, w: ops.sum(ops.square(ops.matmul(x[None], w))), x, w)
    s = float(x @ w[:, 0])
    assert float(value) == pytest.approx(s**2)
    np.testing.assert_allclose(ops.convert_to_numpy(dx), 2 * s * w[:, 0], rtol=1e-6)
    np.testing.assert_allclose(ops.convert_to_numpy(dw), 2 * s * x[:, None], rtol=1e-6)


def test_unused_argument_gets_zero_gradient():
    _, (_, dy) = value_and_grad(lambda x, y: ops.sum(x * x), np.ones(3, "float32"), np.ones(2, "float32"))
    np.testing.assert_array_equal(ops.convert_to_numpy(dy), 0.0)


def test_variables_value_and_grad_through_a_layer():
    layer = keras.layers.Dense(2, activation=None)
    x = np.array([[1.0, 2.0, 3.0]], dtype="float32")
    layer.build((None, 3))
    value, (d_kernel, d_bias) = variables_value_and_grad(
        lambda: ops.sum(layer(x)), [layer.kernel, layer.bias]
    )
    expected = float(np.sum(x @ ops.convert_to_numpy(layer.kernel) + ops.convert_to_numpy(layer.bias)))
    assert float(value) == pytest.approx(expected, rel=1e-6)
    np.testing.assert_allclose(ops.convert_to_numpy(d_kernel), np.repeat(x.T, 2, axis=1))
    np.testing.assert_allclose(ops.convert_to_numpy(d_bias), [1.0, 1.0])


def test_variables_value_and_grad_leaves_values_unchanged():
    variable = keras.Variable(np.array([2.0, 3.0], dtype="float32"))
    _, (grad,) = variables_value_and_grad(lambda: ops.sum(variable**3), [variable])
    np.testing.assert_allclose(ops.convert_to_numpy(grad), [12.0, 27.0])
    np.testing.assert_allclose(ops.convert_to_numpy(variable), [2.0, 3.0])

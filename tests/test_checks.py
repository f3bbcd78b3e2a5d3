"""The visible notebook checks pass right answers and fail wrong ones with a hint."""

import keras
import numpy as np
import pytest
from keras import ops

from course_kit import checks
from course_kit.layers import GRUCell, LSTMCell, PeepholeLSTMCell, VanillaRNNCell
from course_kit.training import bptt_vanilla_rnn, count_lstm_parameters
from course_kit.training.optimizers import SGD, Adam, RMSProp


def test_rel_error_is_scale_free_and_zero_for_equal_arrays():
    a = np.array([1.0, -2.0, 0.0])
    assert checks.rel_error(a, a) == 0.0
    assert checks.rel_error(1e6 * a, 1e6 * (a + [1e-3, 0, 0])) == pytest.approx(1e-3 / 4)
    with pytest.raises(checks.CheckFailed, match="shape"):
        checks.rel_error(a, a[:2])


@pytest.mark.parametrize("cell, name", [(VanillaRNNCell, "rnn"), (LSTMCell, "lstm"),
                                        (PeepholeLSTMCell, "peephole_lstm"), (GRUCell, "gru")])
def test_check_cell_passes_the_reference_cells(cell, name, capsys):
    assert checks.check_cell(cell, name)
    out = capsys.readouterr().out
    assert "PASS" in out and "relative error" in out


class NoTanhRNNCell(VanillaRNNCell):
    def call(self, inputs, states):
        h = ops.matmul(inputs, self.W_hx) + ops.matmul(states[0], self.W_hh) + self.b_h
        return h, [h]


class RenamedRNNCell(keras.layers.Layer):
    def __init__(self, units):
        super().__init__()
        self.units = units

    def build(self, input_shape):
        self.kernel = self.add_weight(shape=(input_shape[-1], self.units), name="kernel")

    def call(self, inputs, states):
        h = ops.tanh(ops.matmul(inputs, self.kernel))
        return h, [h]


class HiddenStatePeepholeCell(PeepholeLSTMCell):
    """The common slip: gates read h_{t-1} instead of c_{t-1}."""

    def call(self, inputs, states):
        h, c = states
        return super().call(inputs, [h, h])


def test_check_cell_fails_a_missing_non_linearity(capsys):
    with pytest.raises(checks.CheckFailed):
        checks.check_cell(NoTanhRNNCell, "rnn")
    assert "FAIL" not in capsys.readouterr().out  # failure is the exception, with its hint


def test_check_cell_names_missing_weights(capsys):
    with pytest.raises(checks.CheckFailed, match="contract"):
        checks.check_cell(RenamedRNNCell, "rnn")
    assert "weight W_hh: missing" in capsys.readouterr().out


def test_check_cell_catches_gates_reading_the_wrong_state():
    with pytest.raises(checks.CheckFailed):
        checks.check_cell(HiddenStatePeepholeCell, "peephole_lstm")


def test_check_bptt_passes_the_numpy_reference_and_fails_a_truncated_one():
    assert checks.check_bptt(bptt_vanilla_rnn)

    def one_step_only(x, y, W_hx, W_hh, b_h, W_ph, b_p):
        grads = bptt_vanilla_rnn(x[:, -1:], y, W_hx, W_hh, b_h, W_ph, b_p)
        return grads

    with pytest.raises(checks.CheckFailed):
        checks.check_bptt(one_step_only)


def test_check_optimizer_passes_the_kit_optimizers(capsys):
    assert checks.check_optimizer(SGD, "momentum")
    assert checks.check_optimizer(RMSProp, "rmsprop")
    assert checks.check_optimizer(Adam, "adam")
    assert "relative error" in capsys.readouterr().out


class UncorrectedAdam(Adam):
    """Adam without bias correction, a common slip."""

    def _update(self, weight, gradient, slots):
        slots["m"] = self.beta_1 * slots["m"] + (1 - self.beta_1) * gradient
        slots["v"] = self.beta_2 * slots["v"] + (1 - self.beta_2) * gradient**2
        return weight - self.learning_rate * slots["m"] / (np.sqrt(slots["v"]) + self.epsilon)


def test_check_optimizer_fails_adam_without_bias_correction(capsys):
    with pytest.raises(checks.CheckFailed, match="Adam"):
        checks.check_optimizer(UncorrectedAdam, "adam")
    assert "first step that differs: 1" in capsys.readouterr().out
    with pytest.raises(ValueError, match="optimizer"):
        checks.check_optimizer(Adam, "adagrad")


def test_check_parameter_count():
    assert checks.check_parameter_count(count_lstm_parameters)
    with pytest.raises(checks.CheckFailed):
        checks.check_parameter_count(lambda d, n, c: 4 * (d * n + n * n) + n * c + c)


def test_check_gradient_norms():
    from course_kit.autodiff import value_and_grad

    def norms(cell, x, y, W_ph, b_p, skip_last=False):
        batch, steps, _ = x.shape
        units = W_ph.shape[0]
        count = len(cell.state_size) if isinstance(cell.state_size, (list, tuple)) else 1
        W_ph, b_p = ops.convert_to_tensor(W_ph), ops.convert_to_tensor(b_p)

        def loss(*shifts):
            states = [ops.zeros((batch, units)) for _ in range(count)]
            for t in range(steps):
                h, states = cell(x[:, t], states)
                states = [h + shifts[t], *states[1:]]
            logits = ops.matmul(states[0], W_ph) + b_p
            return ops.mean(keras.losses.sparse_categorical_crossentropy(y, logits,
                                                                         from_logits=True))

        _, grads = value_and_grad(loss, *[np.zeros((batch, units), "float32")] * steps)
        result = np.array([np.linalg.norm(ops.convert_to_numpy(g)) for g in grads])
        return result[::-1] if skip_last else result

    assert checks.check_gradient_norms(norms)
    with pytest.raises(checks.CheckFailed):
        checks.check_gradient_norms(lambda *a: norms(*a, skip_last=True))


def test_check_accuracy_and_fast_mode(monkeypatch, capsys):
    assert checks.check_accuracy(0.95, 0.9)
    with pytest.raises(checks.CheckFailed, match="train longer"):
        checks.check_accuracy(0.5, 0.9)
    monkeypatch.setenv("COURSE_KIT_FAST", "1")
    assert checks.fast_mode()
    monkeypatch.setenv("COURSE_KIT_FAST", "0")
    assert not checks.fast_mode()


def test_check_environment_reports_backend_and_missing_data(capsys):
    checks.check_environment()
    assert keras.backend.backend() in capsys.readouterr().out
    with pytest.raises(RuntimeError, match="not ready"):
        checks.check_environment(data=("no_such_file.npz",))


class StubCell(keras.layers.Layer):
    """What a student receives: the released cell before it is filled in."""

    def __init__(self, units):
        super().__init__()
        self.units = units

    def build(self, input_shape):
        raise NotImplementedError("write your solution here")


def test_checks_say_when_the_graded_cell_is_still_a_stub():
    def stub(*args, **kwargs):
        raise NotImplementedError("write your solution here")

    with pytest.raises(checks.CheckFailed, match="not implemented yet"):
        checks.check_cell(StubCell, "rnn")
    with pytest.raises(checks.CheckFailed, match="not implemented yet"):
        checks.check_bptt(stub)
    with pytest.raises(checks.CheckFailed, match="not implemented yet"):
        checks.check_parameter_count(stub)

"""The recurrent cells against an independent float64 NumPy forward, Keras' own layers and
finite differences, on whichever backend the session runs."""

import keras
import numpy as np
import pytest
from keras import ops

from course_kit.autodiff import variables_value_and_grad
from course_kit.layers import GRUCell, LSTMCell, PeepholeLSTMCell, VanillaRNNCell


def sigmoid(a):
    return 1.0 / (1.0 + np.exp(-a))


# --- NumPy oracles: one step each, written straight from the curriculum's equations ---------


def vanilla_step(w, x, h, c):
    h = np.tanh(x @ w["W_hx"] + h @ w["W_hh"] + w["b_h"])
    return h, c


def lstm_step(w, x, h, c):
    g = np.tanh(x @ w["W_gx"] + h @ w["W_gh"] + w["b_g"])
    i = sigmoid(x @ w["W_ix"] + h @ w["W_ih"] + w["b_i"])
    f = sigmoid(x @ w["W_fx"] + h @ w["W_fh"] + w["b_f"])
    o = sigmoid(x @ w["W_ox"] + h @ w["W_oh"] + w["b_o"])
    c = g * i + c * f
    return np.tanh(c) * o, c


def peephole_step(w, x, h, c):
    f = sigmoid(x @ w["W_fx"] + c @ w["W_fh"] + w["b_f"])
    i = sigmoid(x @ w["W_ix"] + c @ w["W_ih"] + w["b_i"])
    o = sigmoid(x @ w["W_ox"] + c @ w["W_oh"] + w["b_o"])
    c = sigmoid(x @ w["W_cx"] + w["b_c"]) * i + c * f
    return np.tanh(c) * o, c


def gru_step(w, x, h, c):
    # The assignment's form: W_z acts on the concatenation [h, x].
    hx = np.concatenate([h, x], axis=1)
    z = sigmoid(hx @ np.concatenate([w["W_zh"], w["W_zx"]]) + w["b_z"])
    r = sigmoid(hx @ np.concatenate([w["W_rh"], w["W_rx"]]) + w["b_r"])
    rhx = np.concatenate([r * h, x], axis=1)
    candidate = np.tanh(rhx @ np.concatenate([w["W_h"], w["W_x"]]) + w["b"])
    return (1 - z) * h + z * candidate, c


CELLS = {
    "vanilla": (VanillaRNNCell, vanilla_step, ["W_hx", "W_hh", "b_h"]),
    "lstm": (
        LSTMCell,
        lstm_step,
        [
            "W_gx",
            "W_gh",
            "b_g",
            "W_ix",
            "W_ih",
            "b_i",
            "W_fx",
            "W_fh",
            "b_f",
            "W_ox",
            "W_oh",
            "b_o",
        ],
    ),
    "peephole": (
        PeepholeLSTMCell,
        peephole_step,
        ["W_fx", "W_fh", "b_f", "W_ix", "W_ih", "b_i", "W_ox", "W_oh", "b_o", "W_cx", "b_c"],
    ),
    "gru": (GRUCell, gru_step, ["W_zx", "W_zh", "b_z", "W_rx", "W_rh", "b_r", "W_x", "W_h", "b"]),
}

INPUT_DIM, UNITS, BATCH, STEPS = 3, 4, 2, 5


def oracle_sequence(step, weights, x):
    """All hidden states ``(batch, T, units)`` and the last cell state, in float64."""
    h = np.zeros((x.shape[0], UNITS))
    c = np.zeros((x.shape[0], UNITS))
    hs = []
    for t in range(x.shape[1]):
        h, c = step(weights, x[:, t], h, c)
        hs.append(h)
    return np.stack(hs, axis=1), c


def expected_shape(name):
    if name.endswith("x"):
        return (INPUT_DIM, UNITS)
    if name.startswith("W"):
        return (UNITS, UNITS)
    return (UNITS,)


def random_weights(cell, names, rng):
    """Give every weight of a built cell a random value; return them as float64 arrays."""
    weights = {}
    for name in names:
        value = rng.uniform(-0.8, 0.8, size=expected_shape(name))
        getattr(cell, name).assign(value.astype("float32"))
        weights[name] = value.astype("float32").astype("float64")
    return weights


def built_rnn(cell_class, rng, names, **rnn_kwargs):
    rnn = keras.layers.RNN(cell_class(UNITS), **rnn_kwargs)
    rnn.build((None, STEPS, INPUT_DIM))
    return rnn, random_weights(rnn.cell, names, rng)


def sequence_input(rng):
    return rng.normal(size=(BATCH, STEPS, INPUT_DIM)).astype("float32")


@pytest.mark.parametrize("name", sorted(CELLS))
def test_weights_have_the_math_names_and_input_major_shapes(name):
    cell_class, _, names = CELLS[name]
    cell = cell_class(UNITS)
    cell.build((None, INPUT_DIM))
    assert sorted(v.name for v in cell.trainable_weights) == sorted(names)
    for weight_name in names:
        assert tuple(getattr(cell, weight_name).shape) == expected_shape(weight_name)


@pytest.mark.parametrize("name", sorted(CELLS))
def test_sequence_matches_the_numpy_oracle(name, rng):
    cell_class, step, names = CELLS[name]
    rnn, weights = built_rnn(cell_class, rng, names, return_sequences=True, return_state=True)
    x = sequence_input(rng)
    outputs = rnn(x)
    expected_hs, expected_c = oracle_sequence(step, weights, x.astype("float64"))
    np.testing.assert_allclose(ops.convert_to_numpy(outputs[0]), expected_hs, atol=1e-5)
    np.testing.assert_allclose(ops.convert_to_numpy(outputs[1]), expected_hs[:, -1], atol=1e-5)
    if len(outputs) == 3:
        np.testing.assert_allclose(ops.convert_to_numpy(outputs[2]), expected_c, atol=1e-5)


@pytest.mark.parametrize("name", sorted(CELLS))
def test_go_backwards_and_bidirectional_read_the_reversed_sequence(name, rng):
    cell_class, step, names = CELLS[name]
    x = sequence_input(rng)
    backward, weights = built_rnn(cell_class, rng, names, go_backwards=True)
    expected_backward = oracle_sequence(step, weights, x[:, ::-1].astype("float64"))[0][:, -1]
    np.testing.assert_allclose(ops.convert_to_numpy(backward(x)), expected_backward, atol=1e-5)

    bidirectional = keras.layers.Bidirectional(keras.layers.RNN(cell_class(UNITS)))
    bidirectional.build((None, STEPS, INPUT_DIM))
    forward_weights = random_weights(bidirectional.forward_layer.cell, names, rng)
    backward_weights = random_weights(bidirectional.backward_layer.cell, names, rng)
    expected = np.concatenate(
        [
            oracle_sequence(step, forward_weights, x.astype("float64"))[0][:, -1],
            oracle_sequence(step, backward_weights, x[:, ::-1].astype("float64"))[0][:, -1],
        ],
        axis=1,
    )
    np.testing.assert_allclose(ops.convert_to_numpy(bidirectional(x)), expected, atol=1e-5)


@pytest.mark.parametrize("name", sorted(CELLS))
def test_gradients_match_finite_differences_of_the_oracle(name, rng):
    cell_class, step, names = CELLS[name]
    rnn, weights = built_rnn(cell_class, rng, names)
    x = sequence_input(rng)
    probe = rng.normal(size=(BATCH, UNITS))

    def oracle_loss(w):
        return float(np.sum(oracle_sequence(step, w, x.astype("float64"))[0][:, -1] * probe))

    probe_tensor = ops.convert_to_tensor(probe.astype("float32"))
    variables = [getattr(rnn.cell, n) for n in names]
    _, grads = variables_value_and_grad(lambda: ops.sum(rnn(x) * probe_tensor), variables)

    eps = 1e-6
    for weight_name, grad in zip(names, grads):
        numeric = np.zeros(weights[weight_name].shape)
        for index in np.ndindex(*numeric.shape):
            plus = {k: v.copy() for k, v in weights.items()}
            minus = {k: v.copy() for k, v in weights.items()}
            plus[weight_name][index] += eps
            minus[weight_name][index] -= eps
            numeric[index] = (oracle_loss(plus) - oracle_loss(minus)) / (2 * eps)
        np.testing.assert_allclose(
            ops.convert_to_numpy(grad), numeric, rtol=1e-3, atol=1e-4, err_msg=weight_name
        )


def test_vanilla_cell_matches_keras_simple_rnn(rng):
    rnn, weights = built_rnn(VanillaRNNCell, rng, CELLS["vanilla"][2], return_sequences=True)
    reference = keras.layers.SimpleRNN(UNITS, return_sequences=True)
    reference.build((None, STEPS, INPUT_DIM))
    reference.set_weights([weights["W_hx"], weights["W_hh"], weights["b_h"]])
    x = sequence_input(rng)
    np.testing.assert_allclose(
        ops.convert_to_numpy(rnn(x)), ops.convert_to_numpy(reference(x)), atol=1e-5
    )


def test_lstm_cell_matches_keras_lstm(rng):
    rnn, w = built_rnn(LSTMCell, rng, CELLS["lstm"][2], return_sequences=True)
    reference = keras.layers.LSTM(UNITS, return_sequences=True)
    reference.build((None, STEPS, INPUT_DIM))
    # Keras packs the gates as i, f, c (our g), o.
    reference.set_weights(
        [
            np.concatenate([w["W_ix"], w["W_fx"], w["W_gx"], w["W_ox"]], axis=1),
            np.concatenate([w["W_ih"], w["W_fh"], w["W_gh"], w["W_oh"]], axis=1),
            np.concatenate([w["b_i"], w["b_f"], w["b_g"], w["b_o"]]),
        ]
    )
    x = sequence_input(rng)
    np.testing.assert_allclose(
        ops.convert_to_numpy(rnn(x)), ops.convert_to_numpy(reference(x)), atol=1e-5
    )


def test_gru_cell_matches_keras_gru_with_the_update_gate_negated(rng):
    rnn, w = built_rnn(GRUCell, rng, CELLS["gru"][2], return_sequences=True)
    reference = keras.layers.GRU(UNITS, return_sequences=True, reset_after=False)
    reference.build((None, STEPS, INPUT_DIM))
    # Keras keeps z*h_{t-1}; the curriculum keeps (1-z)*h_{t-1}: sigmoid(-a) = 1 - sigmoid(a).
    reference.set_weights(
        [
            np.concatenate([-w["W_zx"], w["W_rx"], w["W_x"]], axis=1),
            np.concatenate([-w["W_zh"], w["W_rh"], w["W_h"]], axis=1),
            np.concatenate([-w["b_z"], w["b_r"], w["b"]]),
        ]
    )
    x = sequence_input(rng)
    np.testing.assert_allclose(
        ops.convert_to_numpy(rnn(x)), ops.convert_to_numpy(reference(x)), atol=1e-5
    )


@pytest.mark.parametrize("name", sorted(CELLS))
def test_model_saves_and_reloads(name, rng, tmp_path):
    cell_class = CELLS[name][0]
    model = keras.Sequential(
        [
            keras.Input((STEPS, INPUT_DIM)),
            keras.layers.RNN(cell_class(UNITS, kernel_initializer="he_normal")),
            keras.layers.Dense(2),
        ]
    )
    x = sequence_input(rng)
    path = tmp_path / "model.keras"
    model.save(path)
    reloaded = keras.saving.load_model(path)
    np.testing.assert_allclose(
        ops.convert_to_numpy(reloaded(x)), ops.convert_to_numpy(model(x)), atol=1e-6
    )
    config = reloaded.layers[0].cell.get_config()
    assert config["units"] == UNITS
    assert config["kernel_initializer"]["class_name"] == "HeNormal"


@pytest.mark.parametrize("units", [0, -3, 2.5, True, None])
@pytest.mark.parametrize("name", sorted(CELLS))
def test_units_must_be_a_positive_integer(name, units):
    with pytest.raises(ValueError, match="units"):
        CELLS[name][0](units)


@pytest.mark.parametrize("name", sorted(CELLS))
def test_wrong_input_rank_is_rejected(name):
    cell_class = CELLS[name][0]
    with pytest.raises(ValueError, match="rank"):
        keras.layers.RNN(cell_class(UNITS))(np.zeros((BATCH, STEPS, INPUT_DIM, 1), "float32"))
    with pytest.raises(ValueError, match="rank"):
        cell_class(UNITS).build((BATCH, STEPS, INPUT_DIM))


@pytest.mark.parametrize("name", sorted(CELLS))
def test_integer_inputs_are_rejected(name):
    cell = CELLS[name][0](UNITS)
    states = cell.get_initial_state(BATCH)
    with pytest.raises(ValueError, match="integer inputs"):
        cell(np.zeros((BATCH, INPUT_DIM), "int32"), states)


@pytest.mark.parametrize("name", sorted(CELLS))
def test_mismatched_states_are_rejected(name):
    cell = CELLS[name][0](UNITS)
    x = np.zeros((BATCH, INPUT_DIM), "float32")
    wrong_width = [np.zeros((BATCH, UNITS + 1), "float32")] * cell.num_states
    with pytest.raises(ValueError, match="states of shape"):
        cell(x, wrong_width)
    too_many = [np.zeros((BATCH, UNITS), "float32")] * (cell.num_states + 1)
    with pytest.raises(ValueError, match="state tensor"):
        cell(x, too_many)

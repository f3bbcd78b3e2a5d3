"""The graph models' dropout: Keras' contract on every backend, the cheaper mask on JAX."""

import keras
import numpy as np
import pytest

from course_kit import set_random_seed
from course_kit.layers.dropout import Dropout


def _dropped(rate, shape=(400, 500), seed=0):
    layer = Dropout(rate, seed=seed)
    return np.asarray(keras.ops.convert_to_numpy(layer(np.ones(shape, "float32"),
                                                       training=True)))


@pytest.mark.parametrize("rate", [0.5, 0.6, 0.1])
def test_the_kept_fraction_is_one_minus_the_rate_and_the_mean_is_kept(rate):
    output = _dropped(rate)
    kept = output != 0
    # 200,000 entries: the kept fraction's standard deviation is at most 0.0012
    assert abs(kept.mean() - (1 - rate)) < 0.005
    values = np.unique(output[kept])
    assert values.size == 1 and values[0] == pytest.approx(1 / (1 - rate), rel=1e-4)
    assert output.mean() == pytest.approx(1.0, abs=0.02)


def test_inference_and_rate_zero_leave_the_input_alone():
    x = np.random.default_rng(0).normal(size=(30, 7)).astype("float32")
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(Dropout(0.5)(x)), x)
    np.testing.assert_array_equal(
        keras.ops.convert_to_numpy(Dropout(0.0)(x, training=True)), x)


def test_masks_follow_the_seed_and_change_between_calls():
    set_random_seed(3)
    first = _dropped(0.5, (50, 40), seed=None)
    set_random_seed(3)
    again = _dropped(0.5, (50, 40), seed=None)
    np.testing.assert_array_equal(first, again)
    layer = Dropout(0.5, seed=1)
    ones = np.ones((50, 40), "float32")
    one, two = (keras.ops.convert_to_numpy(layer(ones, training=True)) for _ in range(2))
    assert (one != two).mean() > 0.3


def test_an_odd_sized_input_is_masked_throughout():
    output = _dropped(0.5, shape=(3, 33_333))
    assert output.shape == (3, 33_333)
    for row in output:
        assert abs((row != 0).mean() - 0.5) < 0.02
    assert (output[0] != output[1]).mean() > 0.3  # each row has bits of its own


@pytest.mark.skipif(keras.backend.backend() != "jax", reason="the 16-bit mask is JAX's path")
def test_the_jax_mask_rounds_the_keep_probability_to_sixteen_bits():
    from course_kit.layers import jax_random

    for rate in (0.5, 0.6, 0.123, 1e-6, 0.999999):
        keep = jax_random.keep_threshold(rate) / jax_random.LEVELS
        assert abs(keep - (1 - rate)) <= 2**-17
    assert jax_random.keep_threshold(0.5) == 2**15


def test_the_graph_models_use_it():
    from course_kit.models.graph import GATNodeClassifier, GCNNodeClassifier

    for model in (GCNNodeClassifier(3), GATNodeClassifier(3)):
        assert isinstance(model.input_dropout, Dropout)
        assert isinstance(model.hidden_dropout, Dropout)


def test_neighbouring_entries_and_successive_steps_are_independent():
    layer = Dropout(0.6, seed=5)
    ones = np.ones((300, 401), "float32")
    first, second = (keras.ops.convert_to_numpy(layer(ones, training=True)) != 0
                     for _ in range(2))
    flat = first.ravel()
    pairs = flat[: flat.size // 2 * 2].reshape(-1, 2)  # on JAX: the two halves of one word
    # 60,000 pairs: the standard deviation of each frequency is about 0.0015
    assert abs(np.mean(pairs[:, 0] & pairs[:, 1]) - 0.16) < 0.008
    assert abs(np.mean(first[:-1] & first[1:]) - 0.16) < 0.008  # rows
    assert abs(np.mean(first & second) - 0.16) < 0.008  # steps

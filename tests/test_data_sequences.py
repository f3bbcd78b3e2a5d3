"""Toy sequence tasks: semantics as properties, determinism, bad input."""

import math

import keras
import numpy as np
import pytest

from course_kit.data import TASKS, BaumSweet, BinaryPalindrome, is_baum_sweet, make_task


@pytest.mark.parametrize("length", [2, 5, 10, 11])
def test_digit_palindrome_label_is_first_digit_and_input_mirrors(length):
    x, y = make_task("digit_palindrome", length, batch_size=256, seed=3)[0]
    assert x.shape == (256, length) and y.shape == (256,)
    assert x.dtype == np.int32 and y.dtype == np.int32
    full = np.concatenate([x, y[:, None]], axis=1)
    np.testing.assert_array_equal(full, full[:, ::-1])
    np.testing.assert_array_equal(y, x[:, 0])
    assert x.min() >= 0 and x.max() <= 9


def test_digit_palindrome_labels_cover_all_digits_evenly():
    _, y = make_task("digit_palindrome", 6, batch_size=20000, seed=0)[0]
    frequencies = np.bincount(y, minlength=10) / len(y)
    assert np.all(np.abs(frequencies - 0.1) < 0.015)


@pytest.mark.parametrize("length", [3, 10, 20])
def test_binary_palindrome_structure(length):
    task = make_task("binary_palindrome", length, batch_size=512, seed=1)
    x, y = task[0]
    assert task.input_length == 4 * length + 1 and x.shape == (512, 4 * length + 1)
    assert set(np.unique(x)) <= {0, 1, 2} and set(np.unique(y)) <= {0, 1}
    for row, label in zip(x, y):
        symbols = np.append(row, label + 1)
        body = symbols[np.argmax(symbols > 0):]
        assert 0 not in body, "padding only on the left"
        np.testing.assert_array_equal(body, body[::-1])
        assert len(body) % 2 == 0


def test_binary_palindrome_majority_baseline_is_two_thirds():
    task = make_task("binary_palindrome", 10, batch_size=30000, seed=2)
    _, y = task[0]
    assert task.majority_baseline == pytest.approx(2 / 3)
    assert abs(y.mean() - 2 / 3) < 0.01


def test_random_combinations_label_is_the_missing_value():
    task = make_task("random_combinations", 8, batch_size=300, seed=0)
    x, y = task[0]
    assert x.shape == (300, 7)
    full = np.sort(np.concatenate([x, y[:, None]], axis=1), axis=1)
    np.testing.assert_array_equal(full, np.tile(np.arange(1, 9), (300, 1)))
    assert task.num_classes == 9 and task.vocab_size == 9


@pytest.mark.parametrize("length", [3, 10, 25])
def test_baum_sweet_labels_match_definition_and_are_balanced(length):
    task = make_task("baum_sweet", length, batch_size=2000, seed=4)
    x, y = task[0]
    assert x.shape == (2000, 4 * length)
    for row, label in zip(x, y):
        bits = row[row > 0] - 1
        assert bits[0] == 1, "binary digits start with a leading 1"
        assert is_baum_sweet(bits) == bool(label)
    assert abs(y.mean() - 0.5) < 0.05


def test_baum_sweet_definition_on_known_numbers():
    # Baum-Sweet sequence b(n) for n = 1..16 (OEIS A086747)
    expected = [1, 0, 1, 1, 0, 0, 1, 0, 1, 0, 0, 1, 0, 0, 1, 1]
    assert [int(is_baum_sweet([int(c) for c in format(n, "b")])) for n in range(1, 17)] == expected


def test_valid_baum_sweet_strings_are_uniform():
    # Valid 6-bit strings: 1 followed by tokens 1 / 00 filling 5 bits: count = Fib = 8.
    rng = np.random.default_rng(0)
    draws = [tuple(BaumSweet._valid_bits(rng, 6)) for _ in range(8000)]
    counts = np.array(list({d: draws.count(d) for d in set(draws)}.values()))
    assert len(counts) == 8
    assert counts.min() > 800 and counts.max() < 1200


@pytest.mark.parametrize("name", sorted(TASKS))
def test_same_seed_same_batches_any_order(name):
    a = make_task(name, 6, batch_size=32, seed=11)
    b = make_task(name, 6, batch_size=32, seed=11)
    for x1, x2 in zip(a[5], b[5]):
        np.testing.assert_array_equal(x1, x2)
    assert not np.array_equal(a[0][0], a[1][0])
    assert not np.array_equal(a[0][0], make_task(name, 6, batch_size=32, seed=12)[0][0])
    held_out = a.sample(32, seed=0)[0]
    assert not any(np.array_equal(held_out, a[i][0]) for i in range(5))


def test_one_hot_inputs():
    task = make_task("digit_palindrome", 5, batch_size=4, seed=0, one_hot=True)
    x, _ = task[0]
    codes, _ = make_task("digit_palindrome", 5, batch_size=4, seed=0)[0]
    assert x.shape == (4, 5, 10) and x.dtype == np.float32
    np.testing.assert_array_equal(x.argmax(-1), codes)


def test_task_plugs_into_model_fit():
    task = make_task("digit_palindrome", 4, batch_size=16, seed=0, steps=3, one_hot=True)
    model = keras.Sequential([keras.Input((4, 10)), keras.layers.SimpleRNN(8), keras.layers.Dense(10)])
    model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    history = model.fit(task, epochs=1, verbose=0)
    assert math.isfinite(history.history["loss"][0])


@pytest.mark.parametrize(
    "kwargs, argument",
    [
        (dict(name="digit_palindrome", length=1), "length"),
        (dict(name="binary_palindrome", length=0), "length"),
        (dict(name="digit_palindrome", length=5, batch_size=0), "batch_size"),
        (dict(name="digit_palindrome", length=5, batch_size=-3), "batch_size"),
        (dict(name="digit_palindrome", length=5, steps=0), "steps"),
        (dict(name="digit_palindrome", length=5, seed=-1), "seed"),
        (dict(name="digit_palindrome", length=2.5), "length"),
        (dict(name="sorting", length=5), "unknown task"),
    ],
)
def test_bad_arguments_raise_value_error_naming_them(kwargs, argument):
    with pytest.raises(ValueError, match=argument):
        make_task(**kwargs)


def test_batch_index_out_of_range():
    with pytest.raises(IndexError):
        BinaryPalindrome(5, steps=2)[2]

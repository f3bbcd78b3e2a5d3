"""Samplers: their empirical distributions against the formulas, and their argument checks."""

import numpy as np
import pytest
from scipy import stats

from course_kit import sampling

# The samplers draw on the host with NumPy, whatever the backend.
pytestmark = pytest.mark.backend_independent

DRAWS = 20000
LOGITS = np.array([2.0, 1.2, 0.9, 0.3, 0.0, -0.4, -1.0, -2.5])


def _softmax(x):
    e = np.exp(x - x.max())
    return e / e.sum()


def _counts(sampler, logits=LOGITS, seed=7):
    """Counts of DRAWS draws, all made in one batched call."""
    ids = sampler(np.tile(logits, (DRAWS, 1)), np.random.default_rng(seed))
    return np.bincount(ids, minlength=len(logits))


def _chi_square_p_value(counts, expected_probabilities):
    """p-value of counts against the probabilities; zero-probability ids must have no draws."""
    support = expected_probabilities > 0
    assert counts[~support].sum() == 0, "drew a character the formula excludes"
    if support.sum() == 1:
        return 1.0  # every draw fell on the only allowed character
    return stats.chisquare(counts[support], DRAWS * expected_probabilities[support]).pvalue


@pytest.mark.parametrize("temperature", [0.5, 1.0, 2.0])
def test_temperature_divides_the_logits(temperature):
    counts = _counts(lambda x, rng: sampling.sample_with_temperature(x, temperature, rng))
    assert _chi_square_p_value(counts, _softmax(LOGITS / temperature)) > 1e-3
    if temperature != 1.0:
        # The same test rejects the other convention, so it has the power to fail.
        assert _chi_square_p_value(counts, _softmax(LOGITS * temperature)) < 1e-6


@pytest.mark.parametrize("beta", [0.5, 2.0])
def test_inverse_temperature_multiplies_the_logits(beta):
    counts = _counts(lambda x, rng: sampling.sample_with_inverse_temperature(x, beta, rng))
    assert _chi_square_p_value(counts, _softmax(beta * LOGITS)) > 1e-3
    assert _chi_square_p_value(counts, _softmax(LOGITS / beta)) < 1e-6


def test_beta_is_the_reciprocal_of_temperature():
    np.testing.assert_allclose(
        sampling.inverse_temperature_probabilities(LOGITS, 2.0),
        sampling.temperature_probabilities(LOGITS, 0.5),
    )


@pytest.mark.parametrize("k, temperature", [(1, 1.0), (3, 1.0), (5, 2.0)])
def test_top_k_keeps_the_k_likeliest(k, temperature):
    counts = _counts(lambda x, rng: sampling.sample_top_k(x, k, rng, temperature=temperature))
    expected = _softmax(LOGITS / temperature)
    expected[np.argsort(-LOGITS)[k:]] = 0.0
    expected /= expected.sum()
    assert _chi_square_p_value(counts, expected) > 1e-3


@pytest.mark.parametrize("p", [0.3, 0.6, 0.9, 1.0])
def test_top_p_keeps_the_smallest_nucleus_reaching_p(p):
    counts = _counts(lambda x, rng: sampling.sample_top_p(x, p, rng))
    probabilities = _softmax(LOGITS)  # LOGITS are sorted, so the nucleus is a prefix
    size = int(np.searchsorted(np.cumsum(probabilities), p) + 1)
    expected = np.where(np.arange(len(LOGITS)) < size, probabilities, 0.0)
    expected /= expected.sum()
    assert _chi_square_p_value(counts, expected) > 1e-3


def test_top_p_with_a_tiny_p_is_greedy():
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(50, 12))
    np.testing.assert_array_equal(
        sampling.sample_top_p(logits, 1e-9, rng), sampling.greedy(logits)
    )


def test_greedy_is_deterministic_and_the_argmax():
    logits = np.random.default_rng(3).normal(size=(20, 9))
    np.testing.assert_array_equal(sampling.greedy(logits), np.argmax(logits, axis=-1))
    sampler = sampling.make_sampler("greedy")
    first = sampler(logits, np.random.default_rng(1))
    np.testing.assert_array_equal(first, sampler(logits, np.random.default_rng(2)))


def test_a_seed_reproduces_the_draws():
    sampler = sampling.make_sampler("top_p", p=0.8, temperature=1.5)
    logits = np.tile(LOGITS, (100, 1))
    np.testing.assert_array_equal(
        sampler(logits, np.random.default_rng(5)), sampler(logits, np.random.default_rng(5))
    )
    assert not np.array_equal(
        sampler(logits, np.random.default_rng(5)), sampler(logits, np.random.default_rng(6))
    )


@pytest.mark.parametrize(
    "call, argument",
    [
        (lambda: sampling.temperature_probabilities(LOGITS, 0.0), "temperature"),
        (lambda: sampling.temperature_probabilities(LOGITS, -1.0), "temperature"),
        (lambda: sampling.temperature_probabilities(LOGITS, float("nan")), "temperature"),
        (lambda: sampling.inverse_temperature_probabilities(LOGITS, 0), "beta"),
        (lambda: sampling.top_k_probabilities(LOGITS, 0), "k"),
        (lambda: sampling.top_k_probabilities(LOGITS, 2.5), "k"),
        (lambda: sampling.top_p_probabilities(LOGITS, 0.0), "p"),
        (lambda: sampling.top_p_probabilities(LOGITS, 1.01), "p"),
        (lambda: sampling.make_sampler("temperature", temperature=0), "temperature"),
        (lambda: sampling.make_sampler("top_k", k=0), "k"),
        (lambda: sampling.make_sampler("top_p", p=2.0), "p"),
        (lambda: sampling.make_sampler("top_k"), "needs k"),
        (lambda: sampling.make_sampler("inverse_temperature"), "needs beta"),
        (lambda: sampling.make_sampler("temperature", beta=2.0), "beta"),
        (lambda: sampling.make_sampler("greedy", temperature=2.0), "temperature"),
        (lambda: sampling.make_sampler("nucleus"), "strategy"),
    ],
)
def test_bad_arguments_raise_naming_them(call, argument):
    with pytest.raises(ValueError, match=argument):
        call()

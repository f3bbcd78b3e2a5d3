"""Turning a character model's logits into text: greedy, temperature, top-k, top-p, beam search.

Two temperature conventions exist and both are offered, under different names:

* ``temperature`` (the usual one) *divides* the logits: ``softmax(logits / temperature)``.
  Small temperatures sharpen the distribution, large ones flatten it.
* ``beta``, the *inverse temperature* of the course assignment, *multiplies* the logits:
  ``softmax(beta * logits)``. So ``beta=2`` is sharper than ``beta=1``, the opposite of
  ``temperature=2``; ``beta`` equals ``1 / temperature``.

Every sampler takes logits of shape ``(..., vocab_size)`` and a ``numpy.random.Generator``, and
draws on the host in float64, so a seed gives the same text on every Keras backend (given the
same logits). Generation carries the LSTM states from one character to the next through
:meth:`TextGenerationModel.generation_step`.
"""

import math
import numbers

import keras
import numpy as np
from scipy.special import log_softmax, softmax

__all__ = [
    "STRATEGIES",
    "beam_search",
    "beam_search_ids",
    "complete",
    "exhaustive_best_ids",
    "generate",
    "greedy",
    "greedy_ids",
    "inverse_temperature_probabilities",
    "make_sampler",
    "sequence_log_probability",
    "sample_from_probabilities",
    "sample_top_k",
    "sample_top_p",
    "sample_with_inverse_temperature",
    "sample_with_temperature",
    "temperature_probabilities",
    "top_k_probabilities",
    "top_p_probabilities",
]

STRATEGIES = ("greedy", "temperature", "inverse_temperature", "top_k", "top_p")


def _check_positive(name, value):
    if (
        isinstance(value, bool)
        or not isinstance(value, numbers.Real)
        or not math.isfinite(value)
        or value <= 0
    ):
        raise ValueError(f"{name} must be a finite number > 0, got {value!r}")


def _check_k(k):
    if isinstance(k, bool) or not isinstance(k, numbers.Integral) or k < 1:
        raise ValueError(f"k must be an integer >= 1, got {k!r}")


def _check_p(p):
    if isinstance(p, bool) or not isinstance(p, numbers.Real) or not 0 < p <= 1:
        raise ValueError(f"p must be a number in (0, 1], got {p!r}")


def _as_logits(logits):
    return np.asarray(keras.ops.convert_to_numpy(logits), dtype="float64")


def greedy(logits):
    """The most likely character: ``argmax`` over the last axis (ties go to the lower id)."""
    return np.argmax(_as_logits(logits), axis=-1)


def temperature_probabilities(logits, temperature):
    """``softmax(logits / temperature)``; ``temperature`` > 0 divides the logits."""
    _check_positive("temperature", temperature)
    return softmax(_as_logits(logits) / temperature, axis=-1)


# BEGIN ANSWER q2_3
def inverse_temperature_probabilities(logits, beta):
    """``softmax(beta * logits)``, the assignment's convention; ``beta`` > 0 multiplies."""
    _check_positive("beta", beta)
    return softmax(beta * _as_logits(logits), axis=-1)
# END ANSWER


def top_k_probabilities(logits, k, temperature=1.0):
    """The temperature distribution restricted to the ``k`` likeliest characters, renormalised.

    Ties at the boundary keep the lower ids. ``k`` larger than the vocabulary keeps all.
    """
    _check_k(k)
    probabilities = temperature_probabilities(logits, temperature)
    order = np.argsort(-probabilities, axis=-1, kind="stable")
    keep = np.zeros(probabilities.shape, dtype=bool)
    np.put_along_axis(keep, order[..., :k], True, axis=-1)
    kept = np.where(keep, probabilities, 0.0)
    return kept / kept.sum(axis=-1, keepdims=True)


def top_p_probabilities(logits, p, temperature=1.0):
    """Nucleus sampling's distribution: the smallest set of likeliest characters whose total
    probability reaches ``p``, renormalised (the likeliest character is always kept)."""
    _check_p(p)
    probabilities = temperature_probabilities(logits, temperature)
    order = np.argsort(-probabilities, axis=-1, kind="stable")
    sorted_probabilities = np.take_along_axis(probabilities, order, axis=-1)
    mass_before = np.cumsum(sorted_probabilities, axis=-1) - sorted_probabilities
    keep = np.zeros(probabilities.shape, dtype=bool)
    np.put_along_axis(keep, order, mass_before < p, axis=-1)
    kept = np.where(keep, probabilities, 0.0)
    return kept / kept.sum(axis=-1, keepdims=True)


def sample_from_probabilities(probabilities, rng):
    """One draw per row of ``probabilities`` ``(..., vocab_size)`` by inverting the CDF."""
    probabilities = np.asarray(probabilities, dtype="float64")
    cumulative = np.cumsum(probabilities, axis=-1)
    uniform = rng.random(probabilities.shape[:-1] + (1,)) * cumulative[..., -1:]
    ids = np.sum(cumulative <= uniform, axis=-1)
    # Round-off can leave ``uniform`` a hair above the last cumulative value.
    return np.minimum(ids, probabilities.shape[-1] - 1)


def sample_with_temperature(logits, temperature, rng):
    """Draw from ``softmax(logits / temperature)``."""
    return sample_from_probabilities(temperature_probabilities(logits, temperature), rng)


# BEGIN ANSWER q2_3
def sample_with_inverse_temperature(logits, beta, rng):
    """Draw from ``softmax(beta * logits)`` (the assignment's tau)."""
    return sample_from_probabilities(inverse_temperature_probabilities(logits, beta), rng)
# END ANSWER


def sample_top_k(logits, k, rng, temperature=1.0):
    """Draw from :func:`top_k_probabilities`."""
    return sample_from_probabilities(top_k_probabilities(logits, k, temperature), rng)


def sample_top_p(logits, p, rng, temperature=1.0):
    """Draw from :func:`top_p_probabilities`."""
    return sample_from_probabilities(top_p_probabilities(logits, p, temperature), rng)


def make_sampler(strategy, *, temperature=None, beta=None, k=None, p=None):
    """A function ``sampler(logits, rng) -> ids`` for a strategy name and its parameters.

    Args:
        strategy: one of :data:`STRATEGIES`.
        temperature: divides the logits (``"temperature"``, and optionally ``"top_k"`` and
            ``"top_p"``, default 1).
        beta: inverse temperature that multiplies the logits (``"inverse_temperature"``).
        k: characters kept by ``"top_k"``.
        p: probability mass kept by ``"top_p"``.

    Parameters a strategy does not use, or ``temperature`` together with ``beta``, raise a
    ``ValueError``, so a mistaken convention cannot pass silently.
    """
    if strategy not in STRATEGIES:
        raise ValueError(f"strategy must be one of {STRATEGIES}, got {strategy!r}")
    given = {
        name
        for name, value in (("temperature", temperature), ("beta", beta), ("k", k), ("p", p))
        if value is not None
    }
    accepted = {
        "greedy": set(),
        "temperature": {"temperature"},
        "inverse_temperature": {"beta"},
        "top_k": {"k", "temperature"},
        "top_p": {"p", "temperature"},
    }[strategy]
    unused = given - accepted
    if unused:
        raise ValueError(
            f"strategy {strategy!r} does not take {sorted(unused)}; it takes {sorted(accepted)}"
        )
    temperature = 1.0 if temperature is None else temperature
    if strategy == "greedy":
        return lambda logits, rng: greedy(logits)
    if strategy == "temperature":
        _check_positive("temperature", temperature)
        return lambda logits, rng: sample_with_temperature(logits, temperature, rng)
    if strategy == "inverse_temperature":
        if beta is None:
            raise ValueError("strategy 'inverse_temperature' needs beta")
        _check_positive("beta", beta)
        return lambda logits, rng: sample_with_inverse_temperature(logits, beta, rng)
    _check_positive("temperature", temperature)
    if strategy == "top_k":
        if k is None:
            raise ValueError("strategy 'top_k' needs k")
        _check_k(k)
        return lambda logits, rng: sample_top_k(logits, k, rng, temperature)
    if p is None:
        raise ValueError("strategy 'top_p' needs p")
    _check_p(p)
    return lambda logits, rng: sample_top_p(logits, p, rng, temperature)


def _check_length(length):
    if isinstance(length, bool) or not isinstance(length, numbers.Integral) or length < 1:
        raise ValueError(f"length must be an integer >= 1, got {length!r}")


def _check_prompt(prompt):
    if not isinstance(prompt, str):
        raise TypeError(f"prompt must be a string, got {type(prompt).__name__}")
    if not prompt:
        raise ValueError("prompt must not be empty: the model needs a first character")


def _warm_up(model, prompt_ids, batch_size):
    """Feed the prompt through the model; returns the logits after its last character and
    the states, for ``batch_size`` identical copies."""
    states = model.initial_state(batch_size)
    for char_id in prompt_ids:
        logits, states = model.generation_step(np.full(batch_size, char_id), states)
    return logits, states


def generate(model, length, prompt=None, strategy="greedy", seed=0, **options):
    """Generate ``length`` characters after ``prompt`` with one of :data:`STRATEGIES`.

    Args:
        model: a :class:`course_kit.models.TextGenerationModel`.
        length: number of new characters.
        prompt: text that warms up the state; ``None`` starts from one character drawn
            uniformly from the vocabulary (with ``seed``).
        strategy: sampler name; ``options`` are its parameters (see :func:`make_sampler`).
        seed: seed of the ``numpy.random.Generator`` used for the first character and for
            every draw.

    Returns:
        The prompt (or first character) followed by the ``length`` generated characters.
    """
    _check_length(length)
    sampler = make_sampler(strategy, **options)
    rng = np.random.default_rng(seed)
    if prompt is None:
        prompt = model.vocabulary[rng.integers(model.vocab_size)]
    _check_prompt(prompt)
    logits, states = _warm_up(model, model.encode(prompt), batch_size=1)
    generated = []
    for position in range(length):
        char_id = int(sampler(logits, rng)[0])
        generated.append(char_id)
        if position < length - 1:
            logits, states = model.generation_step(np.array([char_id]), states)
    return prompt + model.decode(generated)


# BEGIN ANSWER q2_4
def complete(model, prompt, length, strategy="greedy", seed=0, **options):
    """Sentence completion: warm the state on ``prompt`` and continue it by ``length``
    characters. Returns ``prompt`` followed by the continuation."""
    _check_prompt(prompt)
    return generate(model, length, prompt=prompt, strategy=strategy, seed=seed, **options)
# END ANSWER


# BEGIN ANSWER q2_5
def beam_search(model, prompt, length, beam_width=5):
    """The likeliest continuations of ``prompt`` by beam search.

    Every step extends each of the ``beam_width`` best partial sequences by every character
    and keeps the ``beam_width`` best, scored by the sum of the characters' log-probabilities
    (all continuations have the same length, so no length normalisation is needed). With
    ``beam_width >= vocab_size ** (length - 1)`` the search is exhaustive.

    Returns:
        A list of ``(text, log_probability)``, best first, where ``text`` is ``prompt``
        followed by ``length`` characters (at most ``beam_width`` entries).
    """
    _check_prompt(prompt)
    _check_length(length)
    if isinstance(beam_width, bool) or not isinstance(beam_width, numbers.Integral) or beam_width < 1:
        raise ValueError(f"beam_width must be an integer >= 1, got {beam_width!r}")
    logits, states = _warm_up(model, model.encode(prompt), batch_size=beam_width)
    # The beams start as copies of one sequence; only the first is live, so the first step
    # does not pick the same character several times.
    scores = np.full(beam_width, -np.inf)
    scores[0] = 0.0
    sequences = np.zeros((beam_width, 0), dtype="int64")
    for position in range(length):
        candidates = (scores[:, None] + log_softmax(_as_logits(logits), axis=-1)).ravel()
        best = np.argsort(-candidates, kind="stable")[:beam_width]
        parents, char_ids = np.divmod(best, model.vocab_size)
        scores = candidates[best]
        sequences = np.concatenate([sequences[parents], char_ids[:, None]], axis=1)
        if position < length - 1:
            states = [[state[parents] for state in layer] for layer in states]
            logits, states = model.generation_step(char_ids, states)
    return [
        (prompt + model.decode(sequence), float(score))
        for sequence, score in zip(sequences, scores)
        if np.isfinite(score)
    ]
# END ANSWER


# ---------------------------------------------------------------- on a step model
#
# The functions below search over token ids with a *step model*: anything with
# ``initial_state(batch)`` and ``step(ids (batch,), state) -> (logits (batch, vocab_size),
# state)``, such as ``course_kit.checks.ToyCharModel``. They are the oracles of questions
# q2_2, q2_4 and q2_5 (the notebooks' checks and the grader's references).


def _step_log_probabilities(logits):
    return log_softmax(np.asarray(logits, dtype="float64"), axis=-1)


def _take(state, rows):
    """The rows ``rows`` of every array in a (possibly nested) state."""
    if isinstance(state, (list, tuple)):
        return type(state)(_take(part, rows) for part in state)
    return np.asarray(state)[rows]


# BEGIN ANSWER q2_2
def greedy_ids(model, tokens, length):
    """``tokens`` extended greedily to ``length`` ids (each next id the argmax of the logits),
    the state warmed on every given token; returns int64 ``(length,)``."""
    state = model.initial_state(1)
    sequence = [int(t) for t in np.asarray(tokens).reshape(-1)]
    for token in sequence[:-1]:
        _, state = model.step([token], state)
    while len(sequence) < length:
        logits, state = model.step([sequence[-1]], state)
        sequence.append(int(np.argmax(np.asarray(logits)[0])))
    return np.array(sequence[:length], dtype=np.int64)
# END ANSWER


def sequence_log_probability(model, tokens):
    """The log-probability of ``tokens[1:]`` given ``tokens[0]``: the sum of each next id's
    log-softmax."""
    state, total = model.initial_state(1), 0.0
    tokens = [int(t) for t in np.asarray(tokens).reshape(-1)]
    for current, following in zip(tokens, tokens[1:]):
        logits, state = model.step([current], state)
        total += float(_step_log_probabilities(logits)[0][following])
    return total


def exhaustive_best_ids(model, first_token, length):
    """The ``length``-id sequence starting with ``first_token`` of highest log-probability,
    by trying every one (``vocab_size ** (length - 1)`` of them; small models only). Ties go
    to the sequence that comes first in lexicographic order."""
    vocab_size = int(np.asarray(model.step([first_token], model.initial_state(1))[0]).shape[-1])
    sequences = np.array([[first_token]], dtype=np.int64)
    scores = np.zeros(1)
    state = model.initial_state(1)
    for _ in range(length - 1):  # every prefix at once, a batch of vocab_size ** k rows
        logits, state = model.step(sequences[:, -1], state)
        log_probs = _step_log_probabilities(logits)
        rows = np.repeat(np.arange(len(sequences)), vocab_size)
        scores = (scores[:, None] + log_probs).reshape(-1)
        sequences = np.concatenate([sequences[rows], np.tile(np.arange(vocab_size),
                                                             len(sequences))[:, None]], axis=1)
        state = _take(state, rows)
    return sequences[int(np.argmax(scores))]


# BEGIN ANSWER q2_5
def beam_search_ids(model, first_token, length, beam_width):
    """Beam search from ``first_token`` to ``length`` ids.

    Every step extends each of the (at most) ``beam_width`` kept sequences by every id and
    keeps the ``beam_width`` of highest cumulative log-probability (stable: ties keep the
    earlier beam and the lower id); returns the best sequence at the end, int64 ``(length,)``.
    """
    sequences = np.array([[first_token]], dtype=np.int64)
    scores = np.zeros(1)
    state = model.initial_state(1)
    for _ in range(length - 1):
        logits, state = model.step(sequences[:, -1], state)
        log_probs = _step_log_probabilities(logits)
        candidates = (scores[:, None] + log_probs).reshape(-1)
        best = np.argsort(-candidates, kind="stable")[:beam_width]
        parents, ids = np.divmod(best, log_probs.shape[-1])
        sequences = np.concatenate([sequences[parents], ids[:, None]], axis=1)
        scores = candidates[best]
        state = _take(state, parents)
    return sequences[0]
# END ANSWER

"""Visible checks of Part 2 (notebooks 07 and 08): the character model and the samplers.

The samplers run on :class:`ToyCharModel`, a fixed character model small enough to search
exhaustively; the grader hands the same model to submissions.
"""

import itertools

import numpy as np
from keras import ops

from course_kit.checks._common import Report

__all__ = [
    "ToyCharModel",
    "check_beam_search",
    "check_completion",
    "check_greedy",
    "check_temperature",
    "check_text_model",
    "greedy_continuation",
]


class ToyCharModel:
    """A fixed character-level RNN in NumPy with the interface the samplers expect.

    ``initial_state(batch)`` gives zeros ``(batch, units)``; ``step(tokens, state)`` takes int
    tokens ``(batch,)`` and returns ``(logits (batch, vocab_size), new_state)`` with
    ``state' = tanh(E[tokens] + state R)`` and ``logits = state' V``. The grader hands the
    same model to submissions, built from recorded weights.
    """

    def __init__(self, embedding, recurrent, readout):
        self.embedding, self.recurrent, self.readout = (
            np.asarray(w, dtype=np.float64) for w in (embedding, recurrent, readout)
        )
        self.vocab_size = self.readout.shape[1]

    @staticmethod
    def random_weights(rng, vocab_size=5, units=6):
        """Weights ``(embedding, recurrent, readout)`` scaled so greedy paths vary."""
        return (rng.normal(0, 1.0, size=(vocab_size, units)),
                rng.normal(0, 0.6, size=(units, units)),
                rng.normal(0, 1.5, size=(units, vocab_size)))

    @classmethod
    def random(cls, vocab_size=5, units=6, seed=0):
        return cls(*cls.random_weights(np.random.default_rng(seed), vocab_size, units))

    def initial_state(self, batch=1):
        return np.zeros((batch, self.recurrent.shape[0]))

    def step(self, tokens, state):
        tokens = np.asarray(tokens, dtype=np.int64).reshape(-1)
        state = np.tanh(self.embedding[tokens] + np.asarray(state) @ self.recurrent)
        return state @ self.readout, state


def greedy_continuation(model, tokens, length):
    """``tokens`` extended greedily to ``length`` tokens, the state warmed on all of them."""
    state = model.initial_state()
    sequence = list(tokens)
    for token in sequence[:-1]:
        _, state = model.step([token], state)
    while len(sequence) < length:
        logits, state = model.step([sequence[-1]], state)
        sequence.append(int(np.argmax(logits[0])))
    return np.array(sequence[:length], dtype=np.int64)


def check_text_model(student_build, vocab_size=7, units=16):
    """``student_build(vocab_size, units)`` maps ids ``(B, T)`` to logits ``(B, T, V)``, and
    the logits at step t do not depend on later characters (the model reads left to right)."""
    with Report("q2_1", student_build.__name__, "gives causal logits at every step") as report:
        model = student_build(vocab_size, units)
        ids = np.random.default_rng(0).integers(0, vocab_size, size=(2, 9)).astype("int32")
        logits = ops.convert_to_numpy(model(ops.convert_to_tensor(ids)))
        expected_shape = (2, 9, vocab_size)
        if not report.record("logits shape", f"{tuple(logits.shape)}, expected {expected_shape}",
                             tuple(logits.shape) == expected_shape, "logits_shape"):
            return
        changed = ids.copy()
        changed[:, 5:] = (changed[:, 5:] + 1) % vocab_size
        later = ops.convert_to_numpy(model(ops.convert_to_tensor(changed)))
        report.arrays("logits of steps 0-4 after changing steps 5-8", later[:, :5],
                      logits[:, :5], "causal")


def check_greedy(student_greedy):
    """``student_greedy(model, first_token, length)`` on :class:`ToyCharModel`, twice."""
    model = ToyCharModel.random(seed=5)
    with Report("q2_2", student_greedy.__name__, "matches greedy decoding") as report:
        for length in (5, 40):
            first = student_greedy(model, 2, length)
            report.same_ids(f"greedy, length {length}", first,
                            greedy_continuation(model, [2], length), f"greedy_{length}")
            report.same_ids(f"greedy again, length {length}", student_greedy(model, 2, length),
                            np.asarray(first).reshape(-1), "deterministic")


def _softmax(logits):
    exponentials = np.exp(logits - np.max(logits))
    return exponentials / exponentials.sum()


def check_temperature(student_sample, draws=20000, tolerance=0.03):
    """Draw ``draws`` times per tau in {0.5, 1, 2}; the frequencies must be within total
    variation ``tolerance`` of ``softmax(tau * logits)``.

    Frequencies that follow ``softmax(logits / tau)`` instead get the hint of the mistake
    ``divides_by_tau``.
    """
    logits = np.array([1.0, 0.2, -0.5, 2.0, 0.0])
    with Report("q2_3", student_sample.__name__, "draws from softmax(tau * logits)") as report:
        for tau in (0.5, 1.0, 2.0):
            rng = np.random.default_rng(7)
            picks = np.array([int(student_sample(logits, tau, rng)) for _ in range(draws)])
            frequencies = np.bincount(picks, minlength=len(logits))[: len(logits)] / draws

            def distance(probabilities, frequencies=frequencies):
                return 0.5 * float(np.abs(frequencies - probabilities).sum())

            error = distance(_softmax(tau * logits))
            divides = distance(_softmax(logits / tau)) <= tolerance
            report.record(f"tau={tau:g}", f"frequencies {np.round(frequencies, 3).tolist()}, "
                          f"total variation {error:.4f}", error <= tolerance,
                          "divides_by_tau" if divides else f"counts_{tau:g}")


def check_completion(student_complete):
    """``student_complete(model, prompt, length)``: prompt kept, state warmed, greedy tail."""
    model = ToyCharModel.random(seed=5)
    prompt = np.array([1, 4, 0, 3])
    with Report("q2_4", student_complete.__name__, "keeps the prompt and continues greedily"
                ) as report:
        report.same_ids("completion", student_complete(model, prompt.copy(), 12),
                        greedy_continuation(model, prompt, 16), "completion")


def check_beam_search(student_beam_search, length=5):
    """With a beam as wide as all sequences, ``student_beam_search`` must find the sequence of
    highest log-probability, found here by brute force."""
    model = ToyCharModel.random(seed=2)
    best, best_score = None, -np.inf
    for tail in itertools.product(range(model.vocab_size), repeat=length - 1):
        sequence, state, score = (1, *tail), model.initial_state(), 0.0
        for current, following in itertools.pairwise(sequence):
            logits, state = model.step([current], state)
            score += logits[0][following] - np.logaddexp.reduce(logits[0])
        if score > best_score:
            best, best_score = sequence, score
    with Report("q2_5", student_beam_search.__name__, "finds the most likely sequence"
                ) as report:
        report.same_ids("beam search, full width", student_beam_search(
            model, 1, length, model.vocab_size ** (length - 1)), np.array(best), "beam")

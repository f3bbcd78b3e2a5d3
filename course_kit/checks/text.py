"""Visible checks of Part 2 (notebooks 07 and 08): the character model and the samplers.

The samplers run on :class:`ToyCharModel`, a fixed character model small enough to search
exhaustively; the grader hands the same model to submissions. Each check reads its inputs
and the expected results from its question's public fixture
(:func:`course_kit.checks._common.fixture`).
"""

import numpy as np
from keras import ops

from course_kit.checks._common import (
    Report,
    fixture,
    recorded_mistakes,
    recurrent_inputs_replaced,
    recurrent_layers,
    rel_error,
)

__all__ = [
    "ToyCharModel",
    "check_beam_search",
    "check_completion",
    "check_greedy",
    "check_temperature",
    "check_text_model",
    "first_character_context",
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


def _toy_model(inputs, prefix="model_"):
    """The :class:`ToyCharModel` whose weights a fixture records as ``<prefix>embedding``,
    ``<prefix>recurrent`` and ``<prefix>readout``."""
    return ToyCharModel(*(inputs[f"{prefix}{name}"] for name in
                          ("embedding", "recurrent", "readout")))


# The characters from this position on are changed to test causality (as in the grader's q2_1),
# and this is the ``units`` the model is built with.
CAUSAL_FROM, TEXT_MODEL_UNITS = 5, 16


def first_character_context(model, ids, vocab_size):
    """How the logits after step 0 depend on character 0 of ``ids``: ``(effect, carried)``.

    ``effect`` is the relative change of those logits when only character 0 changes;
    ``carried`` the share of that change that goes through the model's recurrent layers,
    ``1 - bypass / effect``, where ``bypass`` is the change left while every recurrent layer
    reads the sequences it read for the unchanged ``ids``. A model whose memory is its
    recurrent state carries all of it (1.0); one whose context comes from elsewhere (a causal
    convolution beside an unused LSTM) none. ``carried`` is 0 without a recurrent layer or
    an effect.
    """
    def logits_of(batch):
        return ops.convert_to_numpy(model(ops.convert_to_tensor(batch)))

    first = ids.copy()
    first[:, 0] = (first[:, 0] + 1) % vocab_size
    logits = logits_of(ids)
    effect = rel_error(logits_of(first)[:, 1:], logits[:, 1:])
    layers = recurrent_layers(model)
    if not layers or effect == 0:
        return effect, 0.0
    read = {}
    with recurrent_inputs_replaced(layers, lambda layer, seq: read.setdefault(id(layer), seq)):
        logits_of(ids)
    with recurrent_inputs_replaced(layers, lambda layer, seq: read[id(layer)]):
        bypass = rel_error(logits_of(first)[:, 1:], logits[:, 1:])
    return effect, max(0.0, 1.0 - bypass / effect)


def check_text_model(student_build):
    """``student_build(vocab_size, units)`` maps the recorded ids ``(B, T)`` to logits ``(B, T,
    V)``; the logits at step t do not depend on later characters (the model reads left to
    right) but do depend on earlier ones, through a recurrent layer."""
    inputs, expected = fixture("q2_1")
    vocab_size, ids = int(inputs["vocab_size"]), inputs["ids"].astype("int32")
    with Report("q2_1", student_build.__name__, "gives causal logits with memory at every step"
                ) as report:
        model = student_build(vocab_size, TEXT_MODEL_UNITS)

        def logits_of(batch):
            return ops.convert_to_numpy(model(ops.convert_to_tensor(batch)))

        logits = logits_of(ids)
        expected_shape = tuple(expected["logits_shape"].tolist())
        if not report.record("logits shape", f"{tuple(logits.shape)}, expected {expected_shape}",
                             tuple(logits.shape) == expected_shape, "logits_shape"):
            return
        later = ids.copy()
        later[:, CAUSAL_FROM:] = (later[:, CAUSAL_FROM:] + 1) % vocab_size
        report.arrays(f"logits of steps 0-{CAUSAL_FROM - 1} after changing the later ones",
                      logits_of(later)[:, :CAUSAL_FROM], logits[:, :CAUSAL_FROM], "causal")
        effect, carried = first_character_context(model, ids, vocab_size)
        least_effect, least_recurrent, least_carried = expected["context"].tolist()
        report.record("logits of the later steps after changing step 0",
                      f"relative change {effect:.2e} (needs >= {least_effect:g})",
                      effect >= least_effect, "context")
        recurrent = len(recurrent_layers(model))
        report.record("recurrent layers (keras.layers.RNN, LSTM, ...)",
                      f"{recurrent} (needs >= {least_recurrent:g})",
                      recurrent >= least_recurrent, "context")
        report.record("share of that change carried by the recurrent layers",
                      f"{carried:.2f} (needs >= {least_carried:g})",
                      carried >= least_carried, "context")


def check_greedy(student_greedy):
    """``student_greedy(model, first_token, length)`` on the recorded :class:`ToyCharModel`,
    twice per recorded length."""
    inputs, expected = fixture("q2_2")
    model, first_token = _toy_model(inputs), int(inputs["first_token"])
    with Report("q2_2", student_greedy.__name__, "matches greedy decoding") as report:
        for length in inputs["lengths"].tolist():
            first = student_greedy(model, first_token, length)
            report.same_ids(f"greedy, length {length}", first, expected[f"greedy_{length}"],
                            f"greedy_{length}")
            report.same_ids(f"greedy again, length {length}",
                            student_greedy(model, first_token, length), first, "deterministic")


def _total_variation(frequencies, probabilities):
    return 0.5 * float(np.abs(frequencies - probabilities).sum())


def check_temperature(student_sample, draws=20000, tolerance=0.03):
    """Draw ``draws`` times per recorded tau; the frequencies must be within total variation
    ``tolerance`` of the recorded ``softmax(tau * logits)``. And the draws must come from the
    generator given: the same state gives the same draws, the generator advances, another
    seed gives other draws.

    Frequencies that follow ``softmax(logits / tau)`` instead get the hint of the mistake
    ``divides_by_tau``.
    """
    inputs, expected = fixture("q2_3")
    logits, seed = inputs["logits"], int(inputs["seed"])

    def picks(tau, count, rng):
        return np.array([int(student_sample(logits.copy(), tau, rng)) for _ in range(count)])

    with Report("q2_3", student_sample.__name__, "draws from softmax(tau * logits)") as report:
        for tau in inputs["taus"].tolist():
            frequencies = np.bincount(picks(tau, draws, np.random.default_rng(seed)),
                                      minlength=len(logits))[: len(logits)] / draws
            error = _total_variation(frequencies, expected[f"probabilities_{tau:g}"])
            divides = any(_total_variation(frequencies, wrong) <= tolerance for wrong in
                          recorded_mistakes("q2_3", expected, f"probabilities_{tau:g}").get(
                              "divides_by_tau", ()))
            report.record(f"tau={tau:g}", f"frequencies {np.round(frequencies, 3).tolist()}, "
                          f"total variation {error:.4f}", error <= tolerance,
                          "divides_by_tau" if divides else f"counts_{tau:g}")
        count, tau = int(inputs["rng_draws"]), float(inputs["taus"][0])
        rng = np.random.default_rng(seed)
        drawn = picks(tau, count, rng)
        found = [np.array_equal(drawn, picks(tau, count, np.random.default_rng(seed))),
                 rng.bit_generator.state != np.random.default_rng(seed).bit_generator.state,
                 not np.array_equal(drawn, picks(tau, count, np.random.default_rng(seed + 1)))]
        report.record("draws from the rng given",
                      "same state, same draws: {}; rng advanced: {}; other seed, other draws: {}"
                      .format(*("yes" if ok else "no" for ok in found)),
                      found == expected["rng"].astype(bool).tolist(), "rng")


def check_completion(student_complete):
    """``student_complete(model, prompt, length)`` on the recorded :class:`ToyCharModel` and
    prompt: prompt kept, state warmed on it, greedy tail."""
    inputs, expected = fixture("q2_4")
    with Report("q2_4", student_complete.__name__, "keeps the prompt and continues greedily"
                ) as report:
        report.same_ids("completion", student_complete(
            _toy_model(inputs), inputs["prompt"].copy(), int(inputs["length"])),
            expected["completion"], "completion")


def check_beam_search(student_beam_search):
    """``student_beam_search(model, first_token, length, beam_width)`` with beams that prune
    (the recorded widths), each on its recorded :class:`ToyCharModel`, must find what beam
    search found there: models on which beam search, greedy search and exhaustive search
    each find another sequence."""
    inputs, expected = fixture("q2_5")
    first_token, length = int(inputs["first_token"]), int(inputs["length"])
    with Report("q2_5", student_beam_search.__name__, "finds what beam search finds"
                ) as report:
        for width, best in zip(inputs["widths"].tolist(), expected["beam"]):
            model = _toy_model(inputs, prefix=f"width_{width}_model_")
            report.same_ids(f"beam search, width {width}",
                            student_beam_search(model, first_token, length, width), best, "beam")

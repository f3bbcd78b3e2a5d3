"""Generation with a model: beam search against brute force, completion, prompt checks."""

import itertools

import keras
import numpy as np
import pytest
from scipy.special import log_softmax

from course_kit.models import TextGenerationModel
from course_kit.sampling import beam_search, complete, generate
from course_kit.seeding import set_random_seed

VOCABULARY = "abc"


@pytest.fixture(scope="module")
def model():
    set_random_seed(11)
    model = TextGenerationModel(VOCABULARY, embedding_dim=4, units=8)
    # Larger output weights spread the probabilities, so the best sequence is clear-cut.
    model.output_projection.kernel.assign(model.output_projection.kernel * 8.0)
    return model


def _sequence_log_probabilities(model, prompt, continuations):
    """log p(continuation | prompt) of every continuation, from one teacher-forced call."""
    texts = [prompt + c for c in continuations]
    ids = np.stack([model.encode(text) for text in texts])
    logits = keras.ops.convert_to_numpy(model(ids[:, :-1])).astype("float64")
    log_probabilities = log_softmax(logits, axis=-1)
    positions = np.arange(len(prompt) - 1, ids.shape[1] - 1)
    chosen = np.take_along_axis(log_probabilities[:, positions], ids[:, positions + 1, None], -1)
    return chosen[..., 0].sum(axis=1)


def test_beam_search_finds_the_best_sequence(model):
    prompt, length = "ab", 4
    continuations = ["".join(c) for c in itertools.product(VOCABULARY, repeat=length)]
    scores = _sequence_log_probabilities(model, prompt, continuations)
    order = np.argsort(-scores)
    assert scores[order[0]] - scores[order[1]] > 1e-3, "the test model has a near tie"

    # Width vocab_size ** (length - 1) keeps every prefix: an exhaustive search.
    beams = beam_search(model, prompt, length, beam_width=len(VOCABULARY) ** (length - 1))
    assert beams[0][0] == prompt + continuations[order[0]]
    np.testing.assert_allclose(beams[0][1], scores[order[0]], atol=1e-4)
    found = [score for _, score in beams]
    assert found == sorted(found, reverse=True)
    # The runners-up are the next best sequences too.
    assert [text for text, _ in beams[:5]] == [prompt + continuations[i] for i in order[:5]]


def test_beam_width_one_is_greedy(model):
    (text, _), = beam_search(model, "ca", 6, beam_width=1)
    assert text == complete(model, "ca", 6)


def test_completion_starts_with_the_prompt_and_uses_it(model):
    for strategy, options in (("greedy", {}), ("top_p", {"p": 0.9}), ("temperature", {"temperature": 0.7})):
        text = complete(model, "abca", 15, strategy=strategy, seed=3, **options)
        assert text.startswith("abca") and len(text) == 4 + 15
    # The first new character is drawn from the model's distribution after the whole prompt.
    logits = keras.ops.convert_to_numpy(model(model.encode("abca")[None]))[0, -1]
    assert complete(model, "abca", 1)[-1] == VOCABULARY[int(np.argmax(logits))]


def test_sampling_is_seeded(model):
    first = generate(model, 40, strategy="inverse_temperature", beta=0.5, seed=1)
    assert first == generate(model, 40, strategy="inverse_temperature", beta=0.5, seed=1)
    assert first != generate(model, 40, strategy="inverse_temperature", beta=0.5, seed=2)
    assert len(first) == 41 and first[0] in VOCABULARY  # a random first character


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda m: complete(m, "", 5), "prompt must not be empty"),
        (lambda m: generate(m, 5, prompt=""), "prompt must not be empty"),
        (lambda m: beam_search(m, "", 3), "prompt must not be empty"),
        (lambda m: complete(m, "abz!", 5), r"\['!', 'z'\]"),
        (lambda m: beam_search(m, "xa", 3), r"\['x'\]"),
        (lambda m: complete(m, "ab", 0), "length"),
        (lambda m: beam_search(m, "ab", 3, beam_width=0), "beam_width"),
        (lambda m: complete(m, "ab", 5, strategy="temperature", temperature=0), "temperature"),
        (lambda m: complete(m, "ab", 5, strategy="top_k", k=0), "k must"),
        (lambda m: complete(m, "ab", 5, strategy="top_p", p=1.5), "p must"),
    ],
)
def test_bad_prompts_and_parameters_raise(model, call, message):
    with pytest.raises(ValueError, match=message):
        call(model)

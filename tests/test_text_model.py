"""TextGenerationModel: shapes, the generation step, saving, learning, the selectable cell."""

import keras
import numpy as np
import pytest

from course_kit.layers import LSTMCell
from course_kit.models import TextGenerationModel
from course_kit.sampling import complete, generate
from course_kit.seeding import set_random_seed
from course_kit.training.text import make_text_model

VOCABULARY = "abcdefgh ."


def _model(seed=0, **kwargs):
    set_random_seed(seed)
    return TextGenerationModel(VOCABULARY, **{"embedding_dim": 6, "units": 12, **kwargs})


def _numpy(x):
    return keras.ops.convert_to_numpy(x)


def test_shapes_and_states():
    model = _model(num_layers=3)
    ids = np.random.default_rng(0).integers(0, len(VOCABULARY), size=(4, 7))
    logits, states = model(ids, return_state=True)
    assert tuple(logits.shape) == (4, 7, len(VOCABULARY))
    assert len(states) == 3
    assert all(tuple(s.shape) == (4, 12) for layer in states for s in layer)
    assert [w.name for w in model.embedding.weights] == ["embeddings"]
    assert model.output_projection.kernel.shape == (12, len(VOCABULARY))


def test_state_carries_across_calls():
    """Reading a sequence in two halves with the state passed on equals reading it whole."""
    model = _model()
    ids = np.random.default_rng(1).integers(0, len(VOCABULARY), size=(3, 10))
    whole = _numpy(model(ids))
    first, states = model(ids[:, :4], return_state=True)
    second = model(ids[:, 4:], initial_state=states)
    np.testing.assert_allclose(np.concatenate([_numpy(first), _numpy(second)], 1), whole, atol=1e-5)


def test_generation_step_matches_the_sequence_call_and_compiles_once(backend):
    model = _model()
    ids = np.random.default_rng(2).integers(0, len(VOCABULARY), size=(2, 9))
    states = model.initial_state(2)
    step_logits = []
    for t in range(ids.shape[1]):
        logits, states = model.generation_step(ids[:, t], states)
        step_logits.append(logits)
    np.testing.assert_allclose(np.stack(step_logits, 1), _numpy(model(ids)), atol=1e-5)

    # One trace per batch size: generating a second text of another length adds none.
    generate(model, 5, prompt="a")
    traces = model.generation_traces
    generate(model, 30, prompt="abc")
    if backend == "torch":
        # Keras runs PyTorch eagerly: every step runs the Python code, nothing is traced.
        assert model.generation_traces == traces + 3 + 29
    else:
        assert model.generation_traces == traces, "the generation step was re-traced"


def test_greedy_generation_follows_the_model():
    """Each greedy character is the argmax of the model reading the whole text before it."""
    model = _model(seed=3)
    text = generate(model, 10, prompt="ab")
    assert text == generate(model, 10, prompt="ab", seed=99)  # greedy ignores the seed
    # The model is causal, so one call on the final text gives every step's logits.
    logits = _numpy(model(model.encode(text[:-1])[None]))[0]
    assert model.decode(np.argmax(logits[1:], axis=-1)) == text[2:]


def test_save_and_load_give_identical_outputs(tmp_path):
    model = make_text_model(VOCABULARY, embedding_dim=6, units=12)
    ids = np.random.default_rng(4).integers(0, len(VOCABULARY), size=(2, 8))
    model.fit(ids, np.roll(ids, -1, axis=1), epochs=1, verbose=0)
    model.save(tmp_path / "model.keras")
    loaded = keras.saving.load_model(tmp_path / "model.keras")
    assert isinstance(loaded, TextGenerationModel)
    assert loaded.get_config() == model.get_config()
    np.testing.assert_array_equal(_numpy(loaded(ids)), _numpy(model(ids)))
    assert generate(loaded, 20, prompt="a", strategy="top_k", k=3) == generate(
        model, 20, prompt="a", strategy="top_k", k=3
    )


def test_one_step_lowers_the_loss_and_a_tiny_text_is_learnt():
    text = "hello world, hold the door. "
    model = make_text_model(sorted(set(text)), embedding_dim=8, units=24, learning_rate=2e-2)
    ids = model.encode(text * 2)
    seq_length = 12
    windows = np.stack([ids[s : s + seq_length + 1] for s in range(len(text))])
    inputs, targets = windows[:, :-1], windows[:, 1:]

    before = model.evaluate(inputs, targets, verbose=0, return_dict=True)["loss"]
    model.train_on_batch(inputs, targets)
    after = model.evaluate(inputs, targets, verbose=0, return_dict=True)["loss"]
    assert after < before

    for _ in range(80):
        model.train_on_batch(inputs, targets)
    predictions = np.argmax(_numpy(model(inputs)), axis=-1)
    # The first characters of a window lack the context that makes the next one certain.
    accuracy = np.mean(predictions[:, 3:] == targets[:, 3:])
    assert accuracy > 0.98, f"did not learn the tiny text (accuracy {accuracy:.3f})"


def test_course_kit_cell_is_selectable(tmp_path):
    model = _model(cell="course_kit")
    assert all(isinstance(lstm.cell, LSTMCell) for lstm in model.lstm_layers)
    ids = np.random.default_rng(5).integers(0, len(VOCABULARY), size=(2, 6))
    states = model.initial_state(2)
    for t in range(6):
        logits, states = model.generation_step(ids[:, t], states)
    np.testing.assert_allclose(logits, _numpy(model(ids))[:, -1], atol=1e-5)
    model.save(tmp_path / "cell.keras")
    loaded = keras.saving.load_model(tmp_path / "cell.keras")
    np.testing.assert_array_equal(_numpy(loaded(ids)), _numpy(model(ids)))


@pytest.mark.parametrize(
    "kwargs, argument",
    [
        ({"vocabulary": ""}, "vocabulary"),
        ({"vocabulary": "abca"}, "vocabulary"),
        ({"units": 0}, "units"),
        ({"num_layers": 1.5}, "num_layers"),
        ({"cell": "gru"}, "cell"),
    ],
)
def test_bad_configuration_raises(kwargs, argument):
    with pytest.raises(ValueError, match=argument):
        TextGenerationModel(**{"vocabulary": VOCABULARY, **kwargs})


def test_unknown_characters_are_named():
    with pytest.raises(ValueError, match="'z'"):
        _model().encode("abz")


def test_the_bundled_grimms_model_beats_the_unigram_baseline():
    from course_kit.data import load_corpus
    from course_kit.models import load_pretrained_text_model
    from course_kit.training.text import unigram_baseline

    corpus = load_corpus("grimms")
    model = load_pretrained_text_model("grimms")
    assert list(model.vocabulary) == corpus.vocab
    inputs, targets = corpus.validation_windows(30)
    predictions = np.argmax(_numpy(model(inputs[:64])), axis=-1)
    accuracy = np.mean(predictions == targets[:64])
    assert accuracy > unigram_baseline(corpus)["accuracy"] + 0.2
    assert complete(model, "Sleeping beauty is", 20, strategy="top_p", p=0.9).startswith("Sleep")
    with pytest.raises(ValueError, match="no pretrained model"):
        load_pretrained_text_model("moby_dick")


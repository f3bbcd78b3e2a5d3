"""q2_1: the character-level text model.

Contract: ``build_text_model(vocab_size, units)`` returns a Keras model mapping int ids
``(batch, T)`` to logits ``(batch, T, vocab_size)`` (embedding, two LSTM layers, dense) that
reads left to right.

Checked on a fixed batch, with the notebooks' relative error:

- the logits' shape;
- causality: the same batch with every character from position ``K`` on changed gives the
  same logits before ``K`` (a bidirectional layer fails);
- memory: changing only the first character changes the logits at later steps, the model
  has a recurrent layer (``keras.layers.RNN``; Keras' LSTM is one), and at least half of
  that change goes through its recurrent layers: while they read what they read for the
  unchanged batch, the later logits must move at most half as much. A model that reads one
  character at a time (``Embedding`` then ``Dense``) is causal but has no context; one whose
  context comes from a causal convolution beside an unused LSTM has no recurrent memory.
"""

from grader.registry import KIT_ANSWERS, Check, Question, RubricItem

from . import edit, helpers

QUESTION = Question(
    "q2_1", "Character-level text model", 2, "07_text_generation.ipynb",
    checks=(
        Check("logits shape (batch, T, vocab)", 1, "logits_shape", kind="equal"),
        Check("causal: changing later characters leaves earlier logits unchanged", 1, "causal",
              rtol=0.0, atol=1e-6),
        Check("memory: later logits depend on the first character, through a recurrent "
              "layer (its effect, the recurrent layers, the share they carry)", 1, "context",
              kind="at_least"),
    ),
    rubric=(
        RubricItem("model trained; loss and accuracy curves", 3),
        RubricItem("hyperparameters justified", 2),
    ),
    forbidden=KIT_ANSWERS,
)

# Characters from position K on are changed for the causality test.
K = 5
UNITS = 16
# What "depends on the first character" means: a relative change of the later logits of at
# least this much (a model with memory changes them by 1e-2 or more; one without, by 0).
CONTEXT_EFFECT = 1e-4
# The least share of that change the recurrent layers must carry (an LSTM stack carries all
# of it; a convolution beside an unused LSTM none).
CARRIED_SHARE = 0.5


def probe(namespace, context):
    """Returns ``logits_shape``; when it is right, ``causal`` (the relative change of the
    logits before K when the characters from K on change) and ``context`` ([the relative
    change of the logits after step 0 when only character 0 changes, the number of recurrent
    layers, the share of that change they carry])."""
    import numpy as np
    from keras import ops

    from course_kit.checks._common import recurrent_layers
    from course_kit.checks.text import first_character_context

    probes = helpers()
    build = probes.student_object(namespace, "build_text_model", "function")
    vocab_size = int(context["vocab_size"])
    ids = np.asarray(context["ids"], dtype=np.int32)
    model = build(vocab_size, UNITS)
    context.inspect(model)

    def logits_of(batch):
        return probes.to_numpy(model(ops.convert_to_tensor(batch)))

    logits = logits_of(ids)
    results = {"logits_shape": np.array(logits.shape, dtype=np.int64)}
    if logits.shape != (*ids.shape, vocab_size):
        context.notes.append(f"causality and memory not checked: logits of shape "
                             f"{logits.shape}, expected {(*ids.shape, vocab_size)}")
        return results
    later = ids.copy()
    later[:, K:] = (later[:, K:] + 1) % vocab_size
    results["causal"] = np.array(probes.relative_error(logits_of(later)[:, :K], logits[:, :K]))
    effect, carried = first_character_context(model, ids, vocab_size)
    recurrent = len(recurrent_layers(model))
    if effect < CONTEXT_EFFECT:
        context.notes.append("the logits after step 0 do not depend on the first character: "
                             "the model has no memory of earlier characters")
    if not recurrent:
        context.notes.append("the model has no recurrent layer (keras.layers.LSTM or another "
                             "keras.layers.RNN)")
    elif effect >= CONTEXT_EFFECT and carried < CARRIED_SHARE:
        context.notes.append(f"only {carried:.0%} of the first character's effect on later "
                             "logits goes through the recurrent layers: the model's memory "
                             "must be their state")
    results["context"] = np.array([effect, recurrent, carried], dtype=np.float64)
    return results


def record(public=False):
    """Seed 21: a batch of 2 sequences of 9 ids from a vocabulary of 7 (public: 3 sequences of
    10 ids from 6)."""
    import numpy as np

    from grader.references import seeded

    vocab_size, shape = (6, (3, 10)) if public else (7, (2, 9))
    inputs = {"vocab_size": np.array(vocab_size),
              "ids": seeded(21, public).integers(0, vocab_size, size=shape)}
    expected = {"logits_shape": np.array([*shape, vocab_size]), "causal": np.array(0.0),
                "context": np.array([CONTEXT_EFFECT, 1.0, CARRIED_SHARE])}
    return inputs, expected


_ANSWER = '''
import keras


def build_text_model(vocab_size, units):
    return keras.Sequential([
        keras.layers.Embedding(vocab_size, units),
        keras.layers.LSTM(units, return_sequences=True),
        keras.layers.LSTM(units, return_sequences=True),
        keras.layers.Dense(vocab_size),
    ])
'''

MUTANTS = {
    # logits of the right shape, computed from nothing
    "shape_only": '''
import keras
from keras import ops


def build_text_model(vocab_size, units):
    return keras.Sequential([
        keras.layers.Embedding(vocab_size, units),
        keras.layers.Lambda(lambda x: ops.zeros((*ops.shape(x)[:2], vocab_size))),
    ])
''',
    # a bidirectional layer: each step sees the characters after it
    "bidirectional": edit(_ANSWER, (
        "keras.layers.LSTM(units, return_sequences=True),\n        keras.layers.LSTM",
        "keras.layers.Bidirectional(keras.layers.LSTM(units, return_sequences=True)),\n"
        "        keras.layers.LSTM")),
    # one character at a time: causal, but no context
    "context_free": '''
import keras


def build_text_model(vocab_size, units):
    return keras.Sequential([keras.layers.Embedding(vocab_size, 1),
                             keras.layers.Dense(vocab_size)])
''',
    # context from a causal convolution, but no recurrent state
    "causal_convolution": '''
import keras


def build_text_model(vocab_size, units):
    return keras.Sequential([
        keras.layers.Embedding(vocab_size, units),
        keras.layers.Conv1D(units, 3, padding="causal", activation="tanh"),
        keras.layers.Dense(vocab_size),
    ])
''',
    # the same convolution's context beside an LSTM that the logits never use
    "causal_convolution_beside_unused_lstm": '''
import keras


def build_text_model(vocab_size, units):
    ids = keras.Input((None,), dtype="int32")
    embedded = keras.layers.Embedding(vocab_size, units)(ids)
    context = keras.layers.Conv1D(units, 3, padding="causal", activation="tanh")(embedded)
    unused = keras.layers.LSTM(units, return_sequences=True)(embedded)
    logits = keras.layers.Dense(vocab_size)(context)
    return keras.Model(ids, logits + 0.0 * keras.layers.Dense(vocab_size)(unused))
''',
}

ALTERNATIVES = {
    # the functional API, with LSTM cells in keras.layers.RNN
    "functional_rnn_cells": '''
import keras


def build_text_model(vocab_size, units):
    ids = keras.Input((None,), dtype="int32")
    x = keras.layers.Embedding(vocab_size, 32)(ids)
    x = keras.layers.RNN(keras.layers.LSTMCell(units), return_sequences=True)(x)
    x = keras.layers.RNN(keras.layers.LSTMCell(units), return_sequences=True)(x)
    return keras.Model(ids, keras.layers.Dense(vocab_size)(x))
''',
    # two LSTM layers with a residual connection from the embedding to the readout
    "residual_lstm": '''
import keras


def build_text_model(vocab_size, units):
    ids = keras.Input((None,), dtype="int32")
    embedded = keras.layers.Embedding(vocab_size, units)(ids)
    hidden = keras.layers.LSTM(units, return_sequences=True)(embedded)
    hidden = keras.layers.LSTM(units, return_sequences=True)(hidden)
    return keras.Model(ids, keras.layers.Dense(vocab_size)(hidden + embedded))
''',
}

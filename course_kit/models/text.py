"""A character-level language model: embedding -> stacked LSTMs -> logits over the vocabulary.

Training uses teacher forcing: the model reads a window of characters and predicts, at every
position, the next one; the loss is the mean cross-entropy over all time steps. Generation
feeds one character at a time and carries each LSTM's state ``[h, c]`` from one character to
the next through :meth:`TextGenerationModel.generation_step`, which Keras compiles once per
batch size (a ``tf.function`` on TensorFlow, ``jax.jit`` on JAX; PyTorch runs it eagerly), so
generating more characters never re-traces it.
"""

import keras
import numpy as np
from keras import layers

__all__ = ["PRETRAINED", "TextGenerationModel", "load_pretrained_text_model"]

CELLS = ("keras", "course_kit")

# Bundled checkpoints (no optimizer state), trained by scripts/train_text_checkpoint.sh.
PRETRAINED = {"grimms": "grimms_lstm128.keras"}


def _lstm_layer(cell, units, name):
    """One LSTM layer over a sequence that returns every output and its final state."""
    if cell == "keras":
        return layers.LSTM(units, return_sequences=True, return_state=True, name=name)
    # Imported here so the model works (with cell="keras") where the kit's cell is absent.
    try:
        from course_kit.layers import LSTMCell
    except ImportError as error:
        raise ImportError(
            "cell='course_kit' needs course_kit.layers.LSTMCell, which is not available; "
            "use cell='keras'"
        ) from error
    return layers.RNN(LSTMCell(units), return_sequences=True, return_state=True, name=name)


@keras.saving.register_keras_serializable(package="course_kit")
class TextGenerationModel(keras.Model):
    """Embedding -> ``num_layers`` LSTMs -> dense logits over the characters of ``vocabulary``.

    The vocabulary is part of the model (and of its saved file), so a checkpoint can encode a
    prompt and decode what it generates without the corpus it was trained on.

    Args:
        vocabulary: the characters the model reads and writes, in id order (a string or a
            sequence of single characters, no repeats); ``CharCorpus.vocab`` fits.
        embedding_dim: size of the learned character embedding.
        units: hidden units of every LSTM layer.
        num_layers: number of stacked LSTM layers.
        cell: ``"keras"`` for ``keras.layers.LSTM`` or ``"course_kit"`` for
            ``keras.layers.RNN(course_kit.layers.LSTMCell)``.

    Call:
        ``model(ids)`` with int ``ids`` of shape ``(batch, time)`` returns logits
        ``(batch, time, vocab_size)``. With ``return_state=True`` it also returns the final
        states, one ``[h, c]`` pair per layer, each ``(batch, units)``; ``initial_state``
        takes the same structure.
    """

    def __init__(
        self, vocabulary, embedding_dim=64, units=256, num_layers=2, cell="keras", **kwargs
    ):
        super().__init__(**kwargs)
        vocabulary = "".join(vocabulary)
        if not vocabulary:
            raise ValueError("vocabulary must contain at least one character")
        if len(set(vocabulary)) != len(vocabulary):
            raise ValueError("vocabulary must not repeat a character")
        for name, value in (("embedding_dim", embedding_dim), ("units", units),
                            ("num_layers", num_layers)):
            if int(value) != value or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        if cell not in CELLS:
            raise ValueError(f"cell must be one of {CELLS}, got {cell!r}")
        self.vocabulary = vocabulary
        self.embedding_dim = int(embedding_dim)
        self.units = int(units)
        self.num_layers = int(num_layers)
        self.cell = cell
        self._char_to_id = {char: i for i, char in enumerate(vocabulary)}

        self.embedding = layers.Embedding(self.vocab_size, self.embedding_dim, name="embedding")
        self.lstm_layers = [
            _lstm_layer(cell, self.units, name=f"lstm_{i + 1}") for i in range(self.num_layers)
        ]
        self.output_projection = layers.Dense(self.vocab_size, name="logits")
        self.build((None, None))
        # A plain holder: Keras does not track it, so it is never saved with the model.
        self._compiled_step = _CompiledStep(self)

    @property
    def vocab_size(self):
        return len(self.vocabulary)

    def build(self, input_shape):
        self.embedding.build(input_shape)
        features_shape = (None, None, self.embedding_dim)
        for lstm in self.lstm_layers:
            lstm.build(features_shape)
            features_shape = (None, None, self.units)
        self.output_projection.build(features_shape)
        self.built = True

    def call(self, inputs, initial_state=None, return_state=False, training=None):
        features = self.embedding(inputs)
        final_states = []
        for i, lstm in enumerate(self.lstm_layers):
            layer_state = None if initial_state is None else list(initial_state[i])
            features, *state = lstm(features, initial_state=layer_state, training=training)
            final_states.append(state)
        logits = self.output_projection(features)
        return (logits, final_states) if return_state else logits

    def step(self, char_ids, states):
        """One generation step on tensors: the logits for the next character and new states.

        Args:
            char_ids: int tensor ``(batch,)``, the current characters.
            states: one ``[h, c]`` per layer, each ``(batch, units)``.

        Returns:
            ``(logits, new_states)``: logits ``(batch, vocab_size)`` and the states after
            reading ``char_ids``, in the structure of ``states``.
        """
        # ``call`` rather than ``__call__``: the layers are built, and skipping Keras' call
        # bookkeeping matters where the step runs eagerly, once per character (PyTorch).
        features = self.embedding.call(char_ids)
        new_states = []
        for lstm, state in zip(self.lstm_layers, states):
            features, state = lstm.cell.call(features, list(state))
            new_states.append(list(state))
        return self.output_projection.call(features), new_states

    def initial_state(self, batch_size):
        """Zero states for ``batch_size`` sequences: one ``[h, c]`` per layer (NumPy)."""
        return [
            [np.zeros((batch_size, size), dtype="float32") for size in lstm.cell.state_size]
            for lstm in self.lstm_layers
        ]

    def generation_step(self, char_ids, states):
        """:meth:`step` on NumPy arrays, compiled once per batch size; returns NumPy arrays."""
        return self._compiled_step(char_ids, states)

    @property
    def generation_traces(self):
        """How many times the generation step has been traced (compiled) so far."""
        return self._compiled_step.step_model.traces

    def encode(self, text):
        """The ids of the characters of ``text`` (int32 array); unknown characters raise."""
        unknown = sorted({char for char in text if char not in self._char_to_id})
        if unknown:
            raise ValueError(
                f"text contains characters outside the model's vocabulary: {unknown!r}"
            )
        return np.array([self._char_to_id[char] for char in text], dtype="int32")

    def decode(self, ids):
        """The string of the character ids ``ids``."""
        return "".join(self.vocabulary[int(i)] for i in np.asarray(ids).reshape(-1))

    def get_config(self):
        config = super().get_config()
        config.update(
            vocabulary=self.vocabulary,
            embedding_dim=self.embedding_dim,
            units=self.units,
            num_layers=self.num_layers,
            cell=self.cell,
        )
        return config


class _StepModel(keras.Model):
    """Wraps :meth:`TextGenerationModel.step` so Keras' predict function compiles it.

    Inputs and outputs are flat lists, ``[char_ids, h_1, c_1, h_2, c_2, ...]`` and
    ``[logits, h_1, c_1, ...]``, the form ``predict_on_batch`` takes on every backend.
    """

    def __init__(self, text_model):
        super().__init__(name="generation_step")
        self.text_model = text_model
        # A Python side effect: it runs only while a backend traces ``call`` (every call
        # on PyTorch, which runs eagerly), so it counts compilations.
        self.traces = 0

    def call(self, inputs):
        self.traces += 1
        char_ids, *flat_states = inputs
        states = keras.tree.pack_sequence_as(self.text_model.initial_state(1), flat_states)
        logits, new_states = self.text_model.step(char_ids, states)
        return [logits, *keras.tree.flatten(new_states)]


class _CompiledStep:
    def __init__(self, text_model):
        self.step_model = _StepModel(text_model)
        self.text_model = text_model

    def __call__(self, char_ids, states):
        char_ids = np.asarray(char_ids, dtype="int32").reshape(-1)
        flat_states = [np.asarray(s, dtype="float32") for s in keras.tree.flatten(states)]
        logits, *new_flat_states = self.step_model.predict_on_batch([char_ids, *flat_states])
        return np.asarray(logits), keras.tree.pack_sequence_as(states, new_flat_states)


def load_pretrained_text_model(book="grimms"):
    """The bundled :class:`TextGenerationModel` trained on ``book`` (see :data:`PRETRAINED`).

    The Grimms model has 2 LSTM layers of 128 units and a 64-dimensional embedding, trained
    for 6,000 steps of 64 windows of 30 characters (about 15 minutes on a laptop CPU).
    """
    from course_kit.data.bundled import bundled_file

    if book not in PRETRAINED:
        raise ValueError(f"no pretrained model for book {book!r}; available: {sorted(PRETRAINED)}")
    return keras.saving.load_model(bundled_file(PRETRAINED[book]), compile=False)

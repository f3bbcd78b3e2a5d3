"""A sequence classifier: symbols -> (one-hot, embedding or scalar) -> recurrent cell -> last
state -> dense logits, the model of every Part 1 experiment."""

import keras
from keras import ops

from course_kit.layers import GRUCell, LSTMCell, PeepholeLSTMCell, VanillaRNNCell

__all__ = ["CELLS", "ENCODINGS", "SequenceClassifier", "make_cell"]

#: Cell classes by the short names the experiments use.
CELLS = {
    "rnn": VanillaRNNCell,
    "lstm": LSTMCell,
    "peephole_lstm": PeepholeLSTMCell,
    "gru": GRUCell,
}

#: How integer symbol codes become the vectors a cell reads: a one-hot vector, a learned
#: embedding, or the code itself as a single float feature (the 2019 assignment's input).
ENCODINGS = ("one_hot", "embedding", "scalar")


def make_cell(cell, units, **kwargs):
    """Create a recurrent cell with ``units`` units.

    Args:
        cell: the name of one of the kit's cells (a key of ``CELLS``: ``"rnn"``, ``"lstm"``,
            ``"peephole_lstm"``, ``"gru"``), or a cell class or any callable ``units -> cell``
            (your own ``VanillaRNNCell``, ``keras.layers.LSTMCell``, a ``lambda``).
        units: the cell's state size, passed as the first argument.
        **kwargs: passed to the cell's constructor (initialisers, for instance).

    Returns:
        The cell, a layer with ``units`` and ``state_size`` that ``keras.layers.RNN`` can run.
    """
    if isinstance(cell, str):
        if cell not in CELLS:
            raise ValueError(f"unknown cell {cell!r}; choose one of {sorted(CELLS)}")
        return CELLS[cell](units, **kwargs)
    if isinstance(cell, keras.layers.Layer) or not callable(cell):
        raise TypeError(
            f"cell must be a cell name ({', '.join(sorted(CELLS))}), a cell class or a callable "
            f"units -> cell; got {cell!r} (to use a cell you have already created, pass it to "
            "SequenceClassifier directly)"
        )
    made = cell(units, **kwargs)
    if not isinstance(made, keras.layers.Layer) or not hasattr(made, "state_size"):
        raise TypeError(
            f"{_describe(cell)}({units}) must return a recurrent cell (a keras.layers.Layer with "
            f"a state_size), got {made!r}"
        )
    return made


def _describe(factory):
    return getattr(factory, "__qualname__", None) or repr(factory)


def _cell(cell, units):
    """``cell`` itself when it is a layer (whose ``units`` must match ``units`` if given), else
    ``make_cell(cell, units)``."""
    if isinstance(cell, keras.layers.Layer):
        if units is not None and getattr(cell, "units", units) != units:
            raise ValueError(f"units={units} does not match the cell's units={cell.units}")
        return cell
    if units is None:
        raise ValueError(
            f"cell={_describe(cell)} is not a cell: pass units= to create one, or pass a cell "
            "such as make_cell('lstm', 128)"
        )
    return make_cell(cell, units)


@keras.saving.register_keras_serializable(package="course_kit")
class SequenceClassifier(keras.Model):
    """Classify a sequence from the last hidden state of a recurrent cell.

    ``inputs -> encode -> keras.layers.RNN(cell) -> h_T -> Dense(num_classes)`` (logits, no
    softmax). The dense layer is the output layer ``p = W_ph h_T + b_p`` of the equations:
    its ``kernel`` is ``W_ph`` stored input-major, ``(units, num_classes)``, its ``bias`` is
    ``b_p``.

    Inputs are either integer symbol codes ``(batch, T)``, encoded as ``encoding`` says, or
    float vectors ``(batch, T, features)`` used as they are. Encodings of the codes:

    - ``"one_hot"``: ``(batch, T, vocab_size)`` one-hot vectors (needs ``vocab_size``);
    - ``"embedding"``: a learned ``keras.layers.Embedding`` of size ``embedding_dim``;
    - ``"scalar"``: the code itself as one float feature, ``(batch, T, 1)``. The 2019
      assignment fed the digits this way (input dimension 1), which makes long palindromes much
      harder for the vanilla RNN than one-hot inputs do.

    Args:
        cell: a recurrent cell layer (for instance ``make_cell("lstm", 128)`` or
            ``keras.layers.LSTMCell(128)``), or what :func:`make_cell` accepts (a cell name, a
            cell class such as your own ``VanillaRNNCell``, a callable ``units -> cell``)
            together with ``units``.
        num_classes: number of classes (size of the logits).
        vocab_size: number of input symbols, for integer inputs.
        embedding_dim: size of a learned embedding of the symbols (``encoding="embedding"``).
        bidirectional: run a forward and a backward copy of the cell and classify from the
            concatenation ``[h_fwd(T); h_bwd(0)]`` (the 2020 bidirectional LSTM).
        encoding: one of ``ENCODINGS``; by default ``"embedding"`` when ``embedding_dim`` is
            given, else ``"one_hot"``.
        units: the cell's units, when ``cell`` is a name, a class or a callable rather than a
            cell (for a cell, ``None`` or its own ``units``).
    """

    def __init__(
        self,
        cell,
        num_classes,
        vocab_size=None,
        embedding_dim=None,
        bidirectional=False,
        encoding=None,
        units=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        cell = _cell(cell, units)
        for name, value in (("num_classes", num_classes), ("vocab_size", vocab_size)):
            if value is not None and (not isinstance(value, int) or value <= 0):
                raise ValueError(f"{name} must be a positive integer, got {name}={value!r}")
        if encoding is None:
            encoding = "one_hot" if embedding_dim is None else "embedding"
        if encoding not in ENCODINGS:
            raise ValueError(f"unknown encoding {encoding!r}; choose one of {ENCODINGS}")
        if (encoding == "embedding") != (embedding_dim is not None):
            raise ValueError(
                f"embedding_dim={embedding_dim!r} does not fit encoding={encoding!r}: give "
                "embedding_dim exactly when the encoding is 'embedding'"
            )
        if embedding_dim is not None and vocab_size is None:
            raise ValueError("embedding_dim needs vocab_size (the number of input symbols)")
        self.cell = cell
        self.num_classes = num_classes
        self.vocab_size = vocab_size
        self.embedding_dim = embedding_dim
        self.bidirectional = bidirectional
        self.encoding = encoding
        self.embedding = (
            keras.layers.Embedding(vocab_size, embedding_dim, name="embedding")
            if embedding_dim is not None
            else None
        )
        recurrent = keras.layers.RNN(cell, name="recurrent")
        self.recurrent = keras.layers.Bidirectional(recurrent) if bidirectional else recurrent
        self.classifier = keras.layers.Dense(num_classes, name="output")

    _needs_vocab_size = (
        "integer symbol codes (batch, time) need vocab_size (one-hot encoding, or an embedding "
        "with embedding_dim); pass vocab_size= or feed float vectors (batch, time, features)"
    )

    def build(self, input_shape):
        if len(input_shape) == 2:  # integer symbol codes
            features = {"one_hot": self.vocab_size, "embedding": self.embedding_dim, "scalar": 1}
            features = features[self.encoding]
            if features is None:
                raise ValueError(self._needs_vocab_size)
            if self.embedding is not None:
                self.embedding.build(input_shape)
        elif len(input_shape) == 3:
            features = input_shape[-1]
        else:
            raise ValueError(
                f"inputs must be (batch, time) symbol codes or (batch, time, features) vectors, "
                f"got shape {tuple(input_shape)}"
            )
        self.recurrent.build((input_shape[0], input_shape[1], features))
        directions = 2 if self.bidirectional else 1
        self.classifier.build((input_shape[0], directions * self.cell.units))

    def encode(self, inputs):
        """The float vectors ``(batch, T, features)`` that the cell reads at each step."""
        if "int" in keras.backend.standardize_dtype(inputs.dtype):
            if self.encoding == "scalar":
                return ops.expand_dims(ops.cast(inputs, self.compute_dtype), -1)
            if self.vocab_size is None:
                raise ValueError(self._needs_vocab_size)
            if self.embedding is not None:
                return self.embedding(inputs)
            return ops.one_hot(inputs, self.vocab_size, dtype=self.compute_dtype)
        if self.embedding is not None:
            raise ValueError(
                f"this model embeds integer symbol codes but got inputs of dtype {inputs.dtype}"
            )
        if len(inputs.shape) != 3:
            raise ValueError(
                f"float inputs must have rank 3 (batch, time, features), got shape {inputs.shape}"
            )
        return inputs

    def call(self, inputs):
        return self.classifier(self.recurrent(self.encode(inputs)))

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "cell": keras.layers.serialize(self.cell),
                "num_classes": self.num_classes,
                "vocab_size": self.vocab_size,
                "embedding_dim": self.embedding_dim,
                "bidirectional": self.bidirectional,
                "encoding": self.encoding,
            }
        )
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config, cell=keras.layers.deserialize(config["cell"]))
        return cls(**config)

"""q1_8: an LSTM with an embedding on the binary palindrome.

Contract: ``train_binary_palindrome(length, steps, seed)`` trains an LSTM (the student's,
the kit's or Keras') with an embedding on the binary palindrome
(``course_kit.data.make_task("binary_palindrome", length)``, inputs of ``4 * length + 1``
codes) for at most ``steps`` steps and returns a Keras model mapping int inputs ``(n, 4 *
length + 1)`` to class scores ``(n, 2)``.

The accuracy counts only for such a model: one with a ``keras.layers.Embedding`` and an
LSTM run by ``keras.layers.RNN`` or ``keras.layers.LSTM`` (not a subclass, whose own ``call``
could answer without the cell) whose scores go through the LSTM (they change when its
weights are zeroed) and whose answer is the LSTM's memory of the first bit. When the LSTM
reads, at the step holding a sample's first bit, the first bit of another sample that starts
at the same step, its answers must follow that sample's label: a rule that reads the first
bit beside the LSTM, or a bit precomputed and handed to the LSTM at every step, keeps its own.
"""

from grader.registry import Check, Question, RubricItem

from . import edit, helpers, swap_partners

QUESTION = Question(
    "q1_8", "LSTM with an embedding on the binary palindrome", 1, "06_lstm_variants.ipynb",
    checks=(
        Check("the model has an Embedding and an LSTM in keras.layers.RNN, and its scores go "
              "through the LSTM", 1, "architecture", kind="equal"),
        Check("the LSTM remembers the first bit: reading another sample's first bit, the "
              "model answers that sample's label (>= 0.8 of held-out samples)", 1,
              "swapped_predictions", kind="accuracy", reference="partner_labels",
              threshold=0.8, requires=("architecture",)),
        Check("held-out accuracy at T=10 (>= 0.99)", 1, "predictions", kind="accuracy",
              reference="labels", threshold=0.99,
              requires=("architecture", "swapped_predictions")),
    ),
    rubric=(RubricItem("steps to convergence at T=10 and 20, mean and std over 3 seeds, "
                       "plotted; majority baseline of about 2/3 named and explained", 3),),
    time_factor=4.0,
)

HELD_OUT_SAMPLES, HELD_OUT_SEED = 500, 2024
BINARY_PALINDROME_LENGTH, BINARY_PALINDROME_STEPS = 10, 600


def probe(namespace, context):
    """Train through the student's function, predict the held-out inputs, and describe the
    model: ``architecture`` = [a keras.Model, an Embedding, an LSTM cell in a
    keras.layers.RNN or a keras.layers.LSTM, scores that change when that LSTM's weights are
    zeroed]; ``swapped_predictions``: the answers when the LSTM reads each sample's partner at
    the step of its first bit."""
    import keras
    import numpy as np

    probes = helpers()
    function = probes.student_object(namespace, "train_binary_palindrome", "function")
    model = function(length=context.integer("length"), steps=context.integer("steps"), seed=0)
    predictions, scores = probes.held_out_predictions(model, context)
    layers = probes.layers_of(model)
    running_lstm = [layer for layer in layers if isinstance(layer, keras.layers.RNN)
                    and "lstm" in type(layer.cell).__name__.lower()]
    lstms = [layer for layer in running_lstm
             if type(layer) in (keras.layers.RNN, keras.layers.LSTM)]
    through = bool(lstms) and probes.zeroed_changes(model, lstms[0], context["x"], scores)
    found = [isinstance(model, keras.Model),
             any(isinstance(layer, keras.layers.Embedding) for layer in layers),
             bool(lstms), through]
    reasons = ("train_binary_palindrome must return a keras.Model",
               "the model has no keras.layers.Embedding",
               "the LSTM runs in a subclass of keras.layers.RNN: use keras.layers.RNN or "
               "keras.layers.LSTM itself" if running_lstm else
               "the model has no LSTM (keras.layers.LSTM, or an LSTM cell in keras.layers.RNN)",
               "the model's scores do not change when the LSTM's weights are set to zero: they "
               "do not come from the LSTM")
    context.notes += [reason for ok, reason in zip(found, reasons) if not ok]
    outputs = {"predictions": predictions, "architecture": np.array(found, dtype=np.int64)}
    if lstms:
        outputs["swapped_predictions"] = probes.swapped_step_predictions(
            model, lstms, context["x"], context["partner"], context["first_bit_step"])
    return outputs


def record():
    """500 held-out binary palindromes of T=10 (seed 2024), each with a partner whose first
    bit is at the same step and differs where one exists; 600 training steps allowed."""
    import numpy as np

    from course_kit.data import make_task

    task = make_task("binary_palindrome", BINARY_PALINDROME_LENGTH)
    x, y = task.sample(HELD_OUT_SAMPLES, HELD_OUT_SEED)
    labels = np.asarray(y, dtype=np.int64)
    # the label is the first bit after the left padding, and appears nowhere else in x
    first_bit_step = np.argmax(np.asarray(x) != 0, axis=1).astype(np.int64)
    partner = swap_partners(labels, first_bit_step, HELD_OUT_SEED)
    inputs = {"x": x, "length": np.array(BINARY_PALINDROME_LENGTH),
              "steps": np.array(BINARY_PALINDROME_STEPS), "partner": partner,
              "first_bit_step": first_bit_step}
    expected = {"labels": labels, "partner_labels": labels[partner],
                "architecture": np.array([1, 1, 1, 1], dtype=np.int64)}
    return inputs, expected


_RULE = '''
import keras
from keras import ops


def first_bit(x):
    first = ops.argmax(ops.cast(x > 0, "int32"), axis=1)
    symbol = ops.take_along_axis(x, first[:, None], axis=1)[:, 0]
    return 10.0 * ops.one_hot(symbol - 1, 2)


def train_binary_palindrome(length, steps, seed):
    return keras.Sequential([keras.Input((4 * length + 1,), dtype="int32"),
                             keras.layers.Lambda(first_bit)])
'''

_TRAINED = '''
import keras
from course_kit import set_random_seed
from course_kit.data import make_task


def train_binary_palindrome(length, steps, seed):
    set_random_seed(seed)
    task = make_task("binary_palindrome", length, batch_size=128, seed=seed, steps=steps)
    model = keras.Sequential([
        keras.Input((task.input_length,), dtype="int32"),
        keras.layers.Embedding(task.vocab_size, 2 * length),
        keras.layers.LSTM(128),
        keras.layers.Dense(2),
    ])
    model.compile(keras.optimizers.Adam(2e-3, clipnorm=10.0),
                  keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.fit(task, epochs=1, verbose=0)
    return model
'''

MUTANTS = {
    # no LSTM at all: the label is the first bit after the padding, so a rule is perfect
    "rule_reads_first_bit": _RULE,
    # the rule beside an untrained LSTM whose output is multiplied by zero
    "rule_beside_unused_lstm": edit(_RULE, (
        '''    return keras.Sequential([keras.Input((4 * length + 1,), dtype="int32"),
                             keras.layers.Lambda(first_bit)])''',
        '''    inputs = keras.Input((4 * length + 1,), dtype="int32")
    hidden = keras.layers.LSTM(8)(keras.layers.Embedding(3, 4)(inputs))
    ignored = keras.layers.Dense(2)(hidden)
    return keras.Model(inputs, keras.layers.Lambda(first_bit)(inputs) + 0.0 * ignored)''')),
    # the rule, plus a faint LSTM term that makes the scores depend on the LSTM's weights
    "rule_plus_faint_lstm": edit(_RULE, (
        '''    return keras.Sequential([keras.Input((4 * length + 1,), dtype="int32"),
                             keras.layers.Lambda(first_bit)])''',
        '''    inputs = keras.Input((4 * length + 1,), dtype="int32")
    hidden = keras.layers.LSTM(8)(keras.layers.Embedding(3, 4)(inputs))
    faint = keras.layers.Dense(2)(hidden)
    return keras.Model(inputs, keras.layers.Lambda(first_bit)(inputs) + 1e-3 * faint)''')),
    # the first bit found before the LSTM and handed to it at every step: the LSTM only
    # passes on its last input and remembers nothing (trained briefly: the task is trivial)
    "first_bit_fed_at_every_step": edit(_TRAINED, (
        "keras.layers.Embedding(task.vocab_size, 2 * length),",
        "keras.layers.Lambda(first_symbol_everywhere),\n"
        "        keras.layers.Embedding(task.vocab_size, 2 * length),"), (
        "def train_binary_palindrome", '''def first_symbol_everywhere(x):
    first = ops.argmax(ops.cast(x > 0, "int32"), axis=1)
    symbol = ops.take_along_axis(x, first[:, None], axis=1)
    return ops.repeat(symbol, x.shape[1], axis=1)


def train_binary_palindrome'''), ("import keras\n", "import keras\nfrom keras import ops\n"),
        ("steps=steps)", "steps=min(steps, 200))")),
    # a GRU where the question asks for an LSTM (trained briefly: it fails on its kind)
    "gru_instead_of_lstm": edit(_TRAINED, ("keras.layers.LSTM(128)", "keras.layers.GRU(32)"),
                                ("steps=steps)", "steps=min(steps, 50))")),
    # the right model, never trained: about the majority class, 2/3
    "untrained": edit(_TRAINED, ("    model.fit(task, epochs=1, verbose=0)\n", "")),
}

ALTERNATIVES = {
    # Keras' LSTM layer and model.fit instead of the kit's SequenceClassifier and trainer
    "keras_lstm_fit": _TRAINED,
    # Keras' LSTMCell inside keras.layers.RNN
    "lstm_cell_in_rnn": edit(_TRAINED, ("keras.layers.LSTM(128)",
                                        "keras.layers.RNN(keras.layers.LSTMCell(128))")),
}

"""q1_3: palindrome accuracy against sequence length, with the student's own RNN cell.

Contract: ``train_palindrome(input_length, steps, seed)`` trains a classifier built on the
student's ``VanillaRNNCell`` (q1_2's cell, run before this one, inside
``keras.layers.RNN``) on the digit palindrome (``course_kit.data.make_task(
"digit_palindrome", input_length)``) for at most ``steps`` steps and returns a Keras model
mapping int inputs ``(n, input_length)`` to class scores ``(n, 10)``.

The accuracy counts only for such a model: one whose scores go through that cell (they
change when the cell's weights are zeroed) and whose answer is the RNN's memory of the first
digit. When the RNN reads another sample's input at the first step (and this sample's at
every other step), its answers must follow that sample's first digit: a rule that reads the
first digit beside the RNN, or a digit precomputed and handed to the RNN at every step, keeps
its own. The RNN layer must be ``keras.layers.RNN`` itself: a subclass's own ``call`` could
answer without the cell.
"""

from grader.registry import Check, Question, RubricItem

from . import edit, helpers, swap_partners

QUESTION = Question(
    "q1_3", "Palindrome accuracy against sequence length", 1, "02_vanilla_rnn.ipynb",
    checks=(
        Check("the model runs your VanillaRNNCell (q1_2) in keras.layers.RNN, and its scores "
              "go through it", 1, "architecture", kind="equal"),
        Check("the RNN remembers the first digit: reading another sample's first digit, the "
              "model answers that sample's label (>= 0.8 of held-out samples)", 1,
              "swapped_predictions", kind="accuracy", reference="partner_labels",
              threshold=0.8, requires=("architecture",)),
        Check("held-out accuracy at T=5 (>= 0.9)", 2, "predictions", kind="accuracy",
              reference="labels", threshold=0.9,
              requires=("architecture", "swapped_predictions")),
    ),
    rubric=(
        RubricItem("plot of accuracy against T, several seeds, held-out data", 3),
        RubricItem("discussion of where and why the RNN fails", 2),
    ),
    time_factor=4.0,
    # train_palindrome trains the student's own VanillaRNNCell (q1_2).
    cells=("q1_2", "q1_3"),
)

# Held-out samples the predictions are graded on (the labels never leave the grader).
HELD_OUT_SAMPLES, HELD_OUT_SEED = 500, 2024
PALINDROME_LENGTH, PALINDROME_STEPS = 5, 300
# The cell whose class must have written the RNN's call(): the student's q1_2 cell.
CELL_FILE = "<cell q1_2>"


def _own_cell(cell):
    code = getattr(getattr(type(cell), "call", None), "__code__", None)
    return code is not None and code.co_filename == CELL_FILE


def probe(namespace, context):
    """Train through the student's function, predict the held-out inputs, and describe the
    model: ``architecture`` = [a keras.Model, a keras.layers.RNN running the q1_2 cell, its
    scores change when that cell's weights are zeroed]; ``swapped_predictions``: the answers
    when that RNN reads each sample's partner at the first step."""
    import keras
    import numpy as np

    probes = helpers()
    function = probes.student_object(namespace, "train_palindrome", "function")
    model = function(input_length=np.asarray(context["x"]).shape[1],
                     steps=context.integer("steps"), seed=0)
    predictions, scores = probes.held_out_predictions(model, context)
    running_cell = [layer for layer in probes.layers_of(model)
                    if isinstance(layer, keras.layers.RNN) and _own_cell(layer.cell)]
    recurrent = [layer for layer in running_cell if type(layer) is keras.layers.RNN]
    through = bool(recurrent) and probes.zeroed_changes(model, recurrent[0], context["x"],
                                                        scores)
    found = [isinstance(model, keras.Model), bool(recurrent), through]
    reasons = ("train_palindrome must return a keras.Model",
               "a subclass of keras.layers.RNN runs your cell: use keras.layers.RNN itself"
               if running_cell else
               "no keras.layers.RNN in the model runs the VanillaRNNCell of your q1_2 cell",
               "the model's scores do not change when the weights of your RNN cell are set to "
               "zero: they do not come from the RNN")
    context.notes += [reason for ok, reason in zip(found, reasons) if not ok]
    outputs = {"predictions": predictions, "architecture": np.array(found, dtype=np.int64)}
    if recurrent:
        outputs["swapped_predictions"] = probes.swapped_step_predictions(
            model, recurrent, context["x"], context["partner"],
            np.zeros(len(predictions), dtype=np.int64))
    return outputs


def record():
    """500 held-out palindromes of length 5 (seed 2024), each with a partner of another first
    digit; 300 training steps allowed."""
    import numpy as np

    from course_kit.data import make_task

    x, y = make_task("digit_palindrome", PALINDROME_LENGTH).sample(HELD_OUT_SAMPLES,
                                                                   HELD_OUT_SEED)
    labels = np.asarray(y, dtype=np.int64)
    # the first digit, the label, is at step 0 of every sample
    partner = swap_partners(labels, np.zeros_like(labels), HELD_OUT_SEED)
    inputs = {"x": x, "steps": np.array(PALINDROME_STEPS), "partner": partner}
    expected = {"labels": labels, "partner_labels": labels[partner],
                "architecture": np.array([1, 1, 1], dtype=np.int64)}
    return inputs, expected


_RULE = '''
import keras
from keras import ops


def train_palindrome(input_length, steps, seed):
    return keras.Sequential([
        keras.Input((input_length,), dtype="int32"),
        keras.layers.Lambda(lambda x: 10.0 * ops.one_hot(x[:, 0], 10)),
    ])
'''

_TRAINED = '''
import keras
from course_kit import set_random_seed
from course_kit.data import make_task


def train_palindrome(input_length, steps, seed):
    set_random_seed(seed)
    task = make_task("digit_palindrome", input_length, batch_size=128, seed=seed, steps=steps)
    model = keras.Sequential([
        keras.Input((input_length,), dtype="int32"),
        keras.layers.Embedding(10, 16),
        keras.layers.RNN(VanillaRNNCell(128)),
        keras.layers.Dense(10),
    ])
    model.compile(keras.optimizers.Adam(3e-3, clipnorm=10.0),
                  keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.fit(task, epochs=1, verbose=0)
    return model
'''

_UNUSED_RNN = '''
import keras
from keras import ops


def train_palindrome(input_length, steps, seed):
    inputs = keras.Input((input_length,), dtype="int32")
    hidden = keras.layers.RNN(VanillaRNNCell(8))(keras.layers.Embedding(10, 4)(inputs))
    ignored = keras.layers.Dense(10)(hidden)
    rule = keras.layers.Lambda(lambda x: 10.0 * ops.one_hot(x[:, 0], 10))(inputs)
    return keras.Model(inputs, rule + 0.0 * ignored)
'''

MUTANTS = {
    # no RNN at all: the label is the first digit, so a rule is perfect
    "rule_reads_first_digit": _RULE,
    # the same rule beside an RNN whose output is multiplied by zero
    "rule_beside_unused_rnn": _UNUSED_RNN,
    # the rule, plus a faint RNN term that makes the scores depend on the cell's weights
    "rule_plus_faint_rnn": edit(_UNUSED_RNN, ("rule + 0.0 * ignored", "rule + 1e-3 * ignored")),
    # the rule scaled by a gate the RNN computes: zeroing the cell changes every score
    "rule_gated_by_rnn": edit(_UNUSED_RNN, (
        "rule + 0.0 * ignored", "rule * (1.0 + ops.mean(hidden ** 2, axis=-1, keepdims=True))")),
    # the first digit computed before the RNN and handed to it at every step: the RNN only
    # passes on its last input and remembers nothing
    "first_digit_fed_at_every_step": edit(_TRAINED, (
        "keras.layers.Embedding(10, 16),",
        "keras.layers.Lambda(lambda x: ops.one_hot(ops.repeat(x[:, :1], input_length, axis=1), "
        "10)),"), ("import keras\n", "import keras\nfrom keras import ops\n")),
    # a subclass of keras.layers.RNN whose call answers from the first input, the cell aside
    "rnn_subclass_answers": '''
import keras
from keras import ops


class FirstStepRNN(keras.layers.RNN):
    def call(self, sequences, initial_state=None, mask=None, training=False):
        return 10.0 * sequences[:, 0] + 1e-3 * super().call(sequences, training=training)


def train_palindrome(input_length, steps, seed):
    return keras.Sequential([
        keras.Input((input_length,), dtype="int32"),
        keras.layers.Lambda(lambda x: ops.one_hot(x, 10)),
        FirstStepRNN(VanillaRNNCell(10)),
    ])
''',
    # Keras' own SimpleRNN trained instead of the student's cell
    "keras_simple_rnn": edit(_TRAINED, ("keras.layers.RNN(VanillaRNNCell(128))",
                                        "keras.layers.SimpleRNN(128)")),
    # the right model, never trained
    "untrained": edit(_TRAINED, ("    model.fit(task, epochs=1, verbose=0)\n", "")),
}

ALTERNATIVES = {
    # keras.Sequential and model.fit instead of the kit's SequenceClassifier and trainer
    "sequential_fit": _TRAINED,
    # one-hot inputs, read from the last digit back to the first
    "one_hot_backwards": edit(_TRAINED, (
        "keras.layers.Embedding(10, 16),",
        "keras.layers.Lambda(lambda x: ops.one_hot(x, 10)),"), (
        "keras.layers.RNN(VanillaRNNCell(128)),",
        "keras.layers.RNN(VanillaRNNCell(128), go_backwards=True),"), (
        "import keras\n", "import keras\nfrom keras import ops\n")),
}

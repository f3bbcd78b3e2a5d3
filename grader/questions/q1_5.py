"""q1_5: the number of trainable parameters of an LSTM cell and its output layer.

Contract: ``count_parameters(d, n, c)`` returns the number of trainable parameters of an
LSTM cell with d inputs and n units plus a dense output layer with c classes. The reference
is ``count_params()`` of real Keras models. The kit's own answer
(``course_kit.training.count_lstm_parameters``) may not be used, nor Keras' recurrent and dense
layers (or another library's), whose ``count_params()`` would count for the student.
"""

from grader.registry import KERAS_RECURRENT, KIT_ANSWERS, Check, Question, RubricItem

from . import edit, helpers

QUESTION = Question(
    "q1_5", "LSTM gates and parameter count", 1, "04_lstm.ipynb",
    checks=(Check("count_parameters(d, n, c) on several sizes", 3, "counts", kind="equal"),),
    rubric=(RubricItem("purpose of each gate and the choice of its non-linearity", 4),),
    forbidden=KIT_ANSWERS + KERAS_RECURRENT,
)


def probe(namespace, context):
    import numpy as np

    function = helpers().student_object(namespace, "count_parameters", "function")
    sizes = np.asarray(context["sizes"])
    return {"counts": np.array([int(function(int(d), int(n), int(c))) for d, n, c in sizes],
                               dtype=np.int64)}


def record(public=False):
    """Four sizes (public: three others); each count is ``count_params()`` of the kit's LSTM
    cell in ``keras.layers.RNN`` followed by ``keras.layers.Dense``."""
    import keras
    import numpy as np

    from course_kit.layers import LSTMCell

    sizes = np.array([[1, 2, 1], [4, 16, 3], [12, 64, 7]] if public else
                     [[1, 1, 1], [3, 8, 2], [10, 128, 10], [2, 256, 5]])
    counts = [keras.Sequential([keras.Input((None, int(d))), keras.layers.RNN(LSTMCell(int(n))),
                                keras.layers.Dense(int(c))]).count_params()
              for d, n, c in sizes]
    return {"sizes": sizes}, {"counts": np.array(counts)}


_ANSWER = '''
def count_parameters(d, n, c):
    return 4 * (d * n + n * n + n) + n * c + c
'''

MUTANTS = {
    # Keras counts: an LSTM and a Dense layer built and asked for count_params()
    "keras_count_params": '''
import keras


def count_parameters(d, n, c):
    model = keras.Sequential([keras.Input((None, d)), keras.layers.LSTM(n), keras.layers.Dense(c)])
    return model.count_params()
''',
    # the same through PyTorch's LSTM and Linear
    "torch_count_params": '''
import torch


def count_parameters(d, n, c):
    layers = [torch.nn.LSTM(d, n, batch_first=True), torch.nn.Linear(n, c)]
    # PyTorch keeps two bias vectors per gate where Keras keeps one
    return sum(p.numel() for layer in layers for p in layer.parameters()) - 4 * n
''',
    "no_gate_biases": edit(_ANSWER, ("4 * (d * n + n * n + n)", "4 * (d * n + n * n)")),
    "three_gates": edit(_ANSWER, ("4 * (d * n", "3 * (d * n")),
    "no_output_layer": edit(_ANSWER, (" + n * c + c", "")),
    # the kit's answer: forbidden
    "kit_answer": '''
from course_kit.training import count_lstm_parameters


def count_parameters(d, n, c):
    return count_lstm_parameters(d, n, c)
''',
}

ALTERNATIVES = {
    # a loop over the gates, and the output layer as (n + 1) c
    "per_gate_loop": '''
def count_parameters(d, n, c):
    total = 0
    for gate in ("input", "forget", "cell", "output"):
        total += d * n  # W_x of the gate
        total += n * n  # W_h of the gate
        total += n  # its bias
    return total + (n + 1) * c
''',
}

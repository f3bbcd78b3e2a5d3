"""What the probes share: the helpers that run inside the student process.

Each question's probe lives in its own module (``grader/questions/<id>.py``, staged into the
jail as ``questions/<id>.py``). A probe receives the namespace the question's cells created
and a :class:`Context` holding the recorded inputs, calls the student's functions and
classes following the contract of the question (documented in the probe and in the
notebooks), and returns a dict of arrays. It never sees a reference. ``grader record`` calls
the same probes on the kit's reference implementations (with ``floatx`` float64), so student
and reference go through one code path.

In the student process this file is the top-level module ``probes``; in the grader's
process it is ``grader.probes`` (imported only when recording: it imports Keras).
"""

from __future__ import annotations

import re
import sys

import keras
import numpy as np
from keras import ops

__all__ = ["CELL_STATES", "CELL_WEIGHTS", "Context", "ContractError", "graph_layer",
           "cell_inputs", "held_out_predictions", "ids", "layers_of", "probe_cell",
           "relative_error",
           "shape_row", "strip_magics", "student_object", "swapped_step_predictions",
           "to_numpy", "toy_model", "toy_model_inputs", "zeroed_changes"]

MAGIC_LINE = re.compile(r"^(\s*)([%!].*)$")


def strip_magics(source: str) -> str:
    """Comment out IPython magics (``%matplotlib``, ``!pip``), which are not Python."""
    return "\n".join(MAGIC_LINE.sub(r"\1# \2", line) for line in source.splitlines())


class ContractError(Exception):
    """The student's code does not follow the question's contract (missing name, bad type)."""


def _resolve(dotted):
    """The already-imported module or object named ``dotted`` (``keras.layers.LSTM``), or None.

    Never imports (nor triggers a package's lazy ``__getattr__``): a package nobody imported
    cannot have been used, and importing, say, torch just to look would cost seconds.
    """
    if dotted in sys.modules:
        return sys.modules[dotted]
    module, _, attribute = dotted.rpartition(".")
    return vars(sys.modules[module]).get(attribute) if module in sys.modules else None


class Context:
    """Inputs for one question, and a record of forbidden classes found in student objects."""

    def __init__(self, inputs, forbidden=()):
        self.inputs = inputs
        self.notes = []
        self.kit_classes = set()
        self.forbidden_names = tuple(forbidden)

    def __getitem__(self, name):
        return self.inputs[name]

    def array(self, name):
        """An input as a float array in Keras' current ``floatx``."""
        return np.asarray(self.inputs[name], dtype=keras.config.floatx())

    def integer(self, name):
        return int(self.inputs[name])

    def _forbidden_class(self, cls):
        for name in self.forbidden_names:
            target = _resolve(name)
            if isinstance(target, type) and cls is target:
                return name
            if target is not None and not isinstance(target, type) and hasattr(target, "__name__"):
                module = getattr(cls, "__module__", "") or ""
                if module == target.__name__ or module.startswith(target.__name__ + "."):
                    return name
        return None

    def inspect(self, obj):
        """Record every forbidden class in ``obj``'s class hierarchy and in its sub-layers."""
        objects = [obj]
        if isinstance(obj, keras.layers.Layer):
            objects += list(obj._flatten_layers(include_self=False, recursive=True))
        for item in objects:
            for cls in type(item).__mro__:
                name = self._forbidden_class(cls)
                if name:
                    self.kit_classes.add(f"{cls.__module__}.{cls.__qualname__} (from {name})")


def student_object(namespace, name, kind="function or class"):
    """``namespace[name]``, or a ContractError saying the cell does not define it."""
    if name not in namespace:
        raise ContractError(f"the graded cell does not define {name!r} (a {kind})")
    return namespace[name]


def to_numpy(value):
    return np.asarray(keras.ops.convert_to_numpy(value))


# ---------------------------------------------------------------- recurrent cells


CELL_WEIGHTS = {
    "VanillaRNNCell": ("W_hx", "W_hh", "b_h"),
    "LSTMCell": tuple(f"{k}_{g}{s}" if k == "W" else f"b_{g}" for g in "gifo"
                      for k, s in (("W", "x"), ("W", "h"), ("b", ""))),
    "PeepholeLSTMCell": ("W_fx", "W_fh", "b_f", "W_ix", "W_ih", "b_i", "W_ox", "W_oh", "b_o",
                         "W_cx", "b_c"),
    "GRUCell": ("W_zx", "W_zh", "b_z", "W_rx", "W_rh", "b_r", "W_x", "W_h", "b"),
    "GraphConvLSTMCell": ("kernel", "recurrent_kernel", "bias"),
}
CELL_STATES = {"VanillaRNNCell": 1, "LSTMCell": 2, "PeepholeLSTMCell": 2, "GRUCell": 1,
               "GraphConvLSTMCell": 2}


def shape_row(shape):
    """A weight shape as two integers (a vector of n is ``(n, 0)``, missing is ``(-1, -1)``)."""
    shape = tuple(int(s) for s in shape)
    return (shape + (0, 0))[:2] if len(shape) <= 2 else (-2, -2)


def _single_size(size):
    """``state_size`` as one integer (``units`` or ``[units]``), or -1."""
    if isinstance(size, (list, tuple)) and len(size) == 1:
        size = size[0]
    try:
        return int(size) if int(size) == size and not isinstance(size, bool) else -1
    except (TypeError, ValueError):
        return -1


def probe_cell(namespace, context, class_name, prefix="", state_size=False):
    """Contract of a recurrent-cell question.

    ``class_name(units)`` is a Keras layer whose weights are created on the first call and
    exposed as attributes named after the equations (``cell.W_hx``, input-major: shape
    ``(input_dim, units)``); ``cell(x_t, states)`` with ``x_t`` ``(batch, input_dim)`` and
    ``states`` a list of ``(batch, units)`` tensors returns ``(h_t, new_states)``.

    A graph-recurrent cell (q3_5) is built as ``class_name(units, a_hat)`` with the dense
    normalised adjacency ``a_hat`` ``(N, N)``; its inputs are node signals ``x_t`` ``(batch, N,
    features)`` and its states ``(batch, N, units)``.

    Returns ``weight_shapes`` (one row per weight), ``outputs`` (``h_t`` for every step,
    ``(batch, T, ..., units)``) and ``gradients`` (of ``sum_t <h_t, R_t>`` with respect to
    every weight, flattened and concatenated in the order of ``CELL_WEIGHTS``).

    With ``state_size``, the contract also asks for ``cell.state_size`` equal to ``units``
    (what ``keras.layers.RNN`` reads to make the first state): ``weight_shapes`` gets one
    more row, ``(state_size, 0)``, ``(-1, 0)`` when it is missing or not one integer.
    """
    cls = student_object(namespace, class_name, "class")
    names = CELL_WEIGHTS[class_name]
    x = context.array("x")
    readout = context.array("readout")
    batch, steps = x.shape[:2]
    units = readout.shape[-1]
    cell = cls(units, context.array("a_hat")) if "a_hat" in context.inputs else cls(units)
    context.inspect(cell)
    states = [ops.zeros((batch, *x.shape[2:-1], units), dtype=keras.config.floatx())
              for _ in range(CELL_STATES[class_name])]
    cell(ops.convert_to_tensor(x[:, 0]), states)
    variables = [getattr(cell, name, None) for name in names]
    shapes = [(-1, -1) if v is None else shape_row(v.shape) for v in variables]
    expected = [shape_row(context[f"w_{name}"].shape) for name in names]
    contract = list(shapes)
    if state_size:
        size = _single_size(getattr(cell, "state_size", None))
        contract.append((size, 0))
        if size != units:
            found = (f"state_size {cell.state_size!r}, expected {units}"
                     if hasattr(cell, "state_size") else "no state_size")
            context.notes.append(
                f"{class_name} has {found}: set self.state_size = units in __init__ "
                f"(keras.layers.RNN reads it to make the first state; q1_3 wraps your cell "
                f"in keras.layers.RNN)")
    results = {f"{prefix}weight_shapes": np.array(contract, dtype=np.int64)}
    if shapes != expected:
        missing = [n for n, s, e in zip(names, shapes, expected) if s != e]
        context.notes.append(f"{prefix}outputs and gradients not computed: weights {missing} "
                             f"missing or mis-shaped")
        return results
    for name, variable in zip(names, variables):
        variable.assign(context.array(f"w_{name}"))

    def run():
        state = list(states)
        outputs = []
        for t in range(steps):
            h, state = cell(ops.convert_to_tensor(x[:, t]), state)
            if not isinstance(state, (list, tuple)):
                state = [state]
            outputs.append(h)
        return ops.stack(outputs, axis=1)

    from course_kit.autodiff import variables_value_and_grad

    outputs = run()
    _, grads = variables_value_and_grad(
        lambda: ops.sum(run() * ops.convert_to_tensor(readout)), variables
    )
    results[f"{prefix}outputs"] = to_numpy(outputs)
    results[f"{prefix}gradients"] = np.concatenate([to_numpy(g).ravel() for g in grads])
    return results


def cell_inputs(rng, class_name, input_dim=3, units=4, batch=2, steps=5, scale=0.5):
    """Recorded inputs of a cell question: ``x``, ``readout`` and one ``w_<name>`` per weight
    of ``CELL_WEIGHTS[class_name]`` (input matrices ``(input_dim, units)``, recurrent ones
    ``(units, units)``, biases ``(units,)``). Used by ``record`` only."""
    shapes = {}
    for name in CELL_WEIGHTS[class_name]:
        if name.startswith("b"):
            shapes[name] = (units,)
        elif name.endswith("x") and name != "W_h":
            shapes[name] = (input_dim, units)
        else:
            shapes[name] = (units, units)
    return {"x": rng.normal(size=(batch, steps, input_dim)),
            "readout": rng.normal(size=(batch, steps, units)),
            **{f"w_{name}": rng.normal(0.0, scale, size=shape) for name, shape in shapes.items()}}


# ---------------------------------------------------------------- trained models


def layers_of(obj):
    """``obj`` and every layer inside it (recursively), for a Keras layer or model."""
    if not isinstance(obj, keras.layers.Layer):
        return [obj]
    return [obj, *obj._flatten_layers(include_self=False, recursive=True)]


def held_out_predictions(model, context):
    """The labels ``model`` predicts for the recorded held-out inputs ``x`` (the true labels
    stay in the grader), and the scores they come from."""
    scores = to_numpy(model(ops.convert_to_tensor(np.asarray(context["x"]))))
    return np.argmax(scores, axis=-1).astype(np.int64), scores


def zeroed_changes(model, layer, x, scores):
    """Whether ``model``'s scores on ``x`` change when every weight of ``layer`` is set to
    zero (the weights are restored afterwards): False for a model that computes its answer
    around the layer rather than through it."""
    weights = list(layer.weights)
    if not weights:
        return False
    saved = [to_numpy(w) for w in weights]
    try:
        for variable in weights:
            variable.assign(ops.zeros(variable.shape, dtype=variable.dtype))
        zeroed = to_numpy(model(ops.convert_to_tensor(np.asarray(x))))
    finally:
        for variable, value in zip(weights, saved):
            variable.assign(value)
    if zeroed.shape != scores.shape:
        return True
    return relative_error(zeroed, scores) > 1e-6


def swapped_step_predictions(model, layers, x, partner, step):
    """The labels ``model`` predicts for ``x`` when each of ``layers`` (recurrent layers, all
    patched alike) reads sample ``partner[i]``'s input at time step ``step[i]`` and sample
    ``i``'s own input at every other step.

    The swap happens at the recurrent layers' inputs, not at the model's: a model whose answer
    is carried by its RNN from that step to the end follows the partner, while a model that
    computes its answer elsewhere (a rule on the raw input beside the RNN, or an answer
    precomputed and handed to the RNN at every step) keeps sample ``i``'s. The layers are
    restored afterwards.
    """
    from course_kit.checks._common import recurrent_inputs_replaced

    partner = ops.convert_to_tensor(np.asarray(partner, dtype=np.int32))
    step = np.asarray(step, dtype=np.int32)

    def swapped(layer, sequences):
        at_step = ops.one_hot(step, sequences.shape[1])[:, :, None] > 0
        return ops.where(at_step, ops.take(sequences, partner, axis=0), sequences)

    with recurrent_inputs_replaced(layers, swapped):
        scores = to_numpy(model(ops.convert_to_tensor(np.asarray(x))))
    return np.argmax(scores, axis=-1).astype(np.int64)


def relative_error(actual, expected):
    """The notebooks' error metric (:func:`course_kit.feedback.relative_error`)."""
    from course_kit.feedback import relative_error as metric

    return metric(actual, expected)


# ---------------------------------------------------------------- text generation


def toy_model(context, prefix="model_"):
    """The recorded toy character model (see :class:`course_kit.checks.ToyCharModel`)."""
    from course_kit.checks import ToyCharModel

    return ToyCharModel(*(context[f"{prefix}{k}"] for k in ("embedding", "recurrent", "readout")))


def toy_model_inputs(rng, vocab_size=5, units=6, prefix="model_"):
    """Weights of a random toy character model, as recorded inputs (``record`` only)."""
    from course_kit.checks import ToyCharModel

    weights = ToyCharModel.random_weights(rng, vocab_size, units)
    return {f"{prefix}{k}": w for k, w in zip(("embedding", "recurrent", "readout"), weights)}


def ids(value):
    """A student's token sequence as a flat int64 array."""
    return np.asarray(value, dtype=np.int64).reshape(-1)


# ---------------------------------------------------------------- graphs


def graph_layer(namespace, context, class_name, weight_names):
    """Build the student's graph layer on the recorded features; check and set its weights."""
    cls = student_object(namespace, class_name, "class")
    features = context.array("features")
    adjacency = context.array("adjacency")
    layer = cls(int(context["channels"]))
    context.inspect(layer)
    layer([ops.convert_to_tensor(features), ops.convert_to_tensor(adjacency)])
    variables = [getattr(layer, name, None) for name in weight_names]
    shapes = [(-1, -1) if v is None else shape_row(v.shape) for v in variables]
    expected = [shape_row(context[f"w_{name}"].shape) for name in weight_names]
    results = {"weight_shapes": np.array(shapes, dtype=np.int64)}
    if shapes != expected:
        context.notes.append(f"outputs not computed: weights "
                             f"{[n for n, s, e in zip(weight_names, shapes, expected) if s != e]} "
                             f"missing or mis-shaped")
        return None, None, results
    for name, variable in zip(weight_names, variables):
        variable.assign(context.array(f"w_{name}").reshape(variable.shape))
    return layer, variables, results



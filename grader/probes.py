"""Probes: what runs inside the student process for each question.

A probe receives the namespace the question's cells created and a :class:`Context` holding
the recorded inputs, calls the student's functions and classes following the contract of
the question (documented in each probe and in the notebooks), and returns a dict of arrays.
It never sees a reference. ``grader record`` calls the same probes on the kit's reference
implementations (with ``floatx`` float64), so student and reference go through one code path.
"""

from __future__ import annotations

import re
import sys

import keras
import numpy as np
from keras import ops

__all__ = ["Context", "ContractError", "PROBES", "strip_magics"]

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
}
CELL_STATES = {"VanillaRNNCell": 1, "LSTMCell": 2, "PeepholeLSTMCell": 2, "GRUCell": 1}


def _shape_row(shape):
    """A weight shape as two integers (a vector of n is ``(n, 0)``, missing is ``(-1, -1)``)."""
    shape = tuple(int(s) for s in shape)
    return (shape + (0, 0))[:2] if len(shape) <= 2 else (-2, -2)


def probe_cell(namespace, context, class_name, prefix=""):
    """Contract of a recurrent-cell question.

    ``class_name(units)`` is a Keras layer whose weights are created on the first call and
    exposed as attributes named after the equations (``cell.W_hx``, input-major: shape
    ``(input_dim, units)``); ``cell(x_t, states)`` with ``x_t`` ``(batch, input_dim)`` and
    ``states`` a list of ``(batch, units)`` tensors returns ``(h_t, new_states)``.

    Returns ``weight_shapes`` (one row per weight), ``outputs`` (``h_t`` for every step,
    ``(batch, T, units)``) and ``gradients`` (of ``sum_t <h_t, R_t>`` with respect to every
    weight, flattened and concatenated in the order of ``CELL_WEIGHTS``).
    """
    cls = student_object(namespace, class_name, "class")
    names = CELL_WEIGHTS[class_name]
    x = context.array("x")
    readout = context.array("readout")
    batch, steps, _ = x.shape
    units = readout.shape[-1]
    cell = cls(units)
    context.inspect(cell)
    states = [ops.zeros((batch, units), dtype=keras.config.floatx())
              for _ in range(CELL_STATES[class_name])]
    cell(ops.convert_to_tensor(x[:, 0]), states)
    variables = [getattr(cell, name, None) for name in names]
    shapes = [(-1, -1) if v is None else _shape_row(v.shape) for v in variables]
    results = {f"{prefix}weight_shapes": np.array(shapes, dtype=np.int64)}
    expected = [_shape_row(context[f"w_{name}"].shape) for name in names]
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


def probe_vanilla_rnn_cell(namespace, context):
    return probe_cell(namespace, context, "VanillaRNNCell")


def probe_lstm_cell(namespace, context):
    return probe_cell(namespace, context, "LSTMCell")


def probe_peephole_and_gru_cells(namespace, context):
    """Both cells of q1_9; a failure in one still lets the other score."""
    results = {}
    for class_name, prefix in (("PeepholeLSTMCell", "peephole_"), ("GRUCell", "gru_")):
        sub = Context({k[len(prefix):]: v for k, v in context.inputs.items() if k.startswith(prefix)},
                      context.forbidden_names)
        try:
            results.update(probe_cell(namespace, sub, class_name, prefix))
        except Exception as error:  # reported per cell, so the other cell still counts
            context.notes.append(f"{class_name}: {type(error).__name__}: {error}")
        context.notes += sub.notes
        context.kit_classes |= sub.kit_classes
    return results


# ---------------------------------------------------------------- other part-1 questions


def probe_bptt(namespace, context):
    """Contract: ``bptt_vanilla_rnn(x, y, W_hx, W_hh, b_h, W_ph, b_p)`` with NumPy arrays
    (``x`` ``(batch, T, d)``, ``y`` int ``(batch,)``, weights input-major) returns a dict of
    NumPy gradients of the mean cross-entropy at the last step, keyed by weight name."""
    function = student_object(namespace, "bptt_vanilla_rnn", "function")
    weights = {name: np.asarray(context[f"w_{name}"], dtype=np.float64)
               for name in ("W_hx", "W_hh", "b_h", "W_ph", "b_p")}
    grads = function(np.asarray(context["x"], dtype=np.float64), np.asarray(context["y"]), **weights)
    if not isinstance(grads, dict):
        raise ContractError(f"bptt_vanilla_rnn must return a dict of gradients, got {type(grads).__name__}")

    def flat(*names):
        missing = [n for n in names if n not in grads]
        if missing:
            raise ContractError(f"the returned dict has no gradient for {missing}")
        return np.concatenate([np.asarray(grads[n], dtype=np.float64).ravel() for n in names])

    results = {}
    for output, names in (("grad_output", ("W_ph", "b_p")), ("grad_W_hh", ("W_hh",)),
                          ("grad_input", ("W_hx", "b_h"))):
        try:
            results[output] = flat(*names)
        except ContractError as error:
            context.notes.append(str(error))
    return results


def probe_parameter_count(namespace, context):
    """Contract: ``count_parameters(d, n, c)`` returns the number of trainable parameters of
    an LSTM cell with d inputs and n units plus a dense output layer with c classes."""
    function = student_object(namespace, "count_parameters", "function")
    sizes = np.asarray(context["sizes"])
    return {"counts": np.array([int(function(int(d), int(n), int(c))) for d, n, c in sizes],
                               dtype=np.int64)}


def probe_optimizers(namespace, context):
    """Contract (NumPy, one step each, returning new arrays):

    - ``momentum_step(param, grad, velocity, learning_rate, momentum) -> (param, velocity)``
    - ``rmsprop_step(param, grad, mean_square, learning_rate, rho, epsilon)
      -> (param, mean_square)``
    - ``adam_step(param, grad, m, v, t, learning_rate, beta_1, beta_2, epsilon)
      -> (param, m, v)`` with ``t`` the 1-based step number.

    Returns the parameter after every step of a fixed gradient sequence, per optimiser.
    """
    param0 = np.asarray(context["param"], dtype=np.float64)
    grads = np.asarray(context["grads"], dtype=np.float64)
    lr = float(context["learning_rate"])
    results = {}
    runs = {
        "momentum": ("momentum_step", lambda f, p, g, s, t: f(p, g, s[0], lr, 0.9),
                     lambda p: (np.zeros_like(p),)),
        "rmsprop": ("rmsprop_step", lambda f, p, g, s, t: f(p, g, s[0], lr, 0.9, 1e-7),
                    lambda p: (np.zeros_like(p),)),
        "adam": ("adam_step", lambda f, p, g, s, t: f(p, g, s[0], s[1], t, lr, 0.9, 0.999, 1e-7),
                 lambda p: (np.zeros_like(p), np.zeros_like(p))),
    }
    for output, (name, step, initial) in runs.items():
        try:
            function = student_object(namespace, name, "function")
            param, state, trajectory = param0.copy(), initial(param0), []
            for t, grad in enumerate(grads, start=1):
                param, *state = step(function, param, grad, state, t)
                trajectory.append(np.asarray(param, dtype=np.float64))
            results[output] = np.stack(trajectory)
        except Exception as error:  # one broken rule must not cost the other two
            context.notes.append(f"{name}: {type(error).__name__}: {error}")
    return results


def probe_palindrome_training(namespace, context):
    """Contract: ``train_palindrome(input_length, steps, seed)`` trains a vanilla-RNN
    classifier on the digit palindrome (``course_kit.data.make_task("digit_palindrome",
    input_length)``) and returns a Keras model mapping int inputs ``(n, input_length)`` to
    class scores ``(n, 10)``. Returns its predicted labels on held-out inputs; the labels
    themselves stay in the grader."""
    function = student_object(namespace, "train_palindrome", "function")
    x = np.asarray(context["x"])
    model = function(input_length=x.shape[1], steps=context.integer("steps"), seed=0)
    scores = to_numpy(model(ops.convert_to_tensor(x)))
    return {"predictions": np.argmax(scores, axis=-1).astype(np.int64)}


def probe_gradient_norms(namespace, context):
    """Contract: ``gradient_norms_over_time(cell, x, y, W_ph, b_p)`` runs ``cell`` over ``x``
    ``(batch, T, d)`` from a zero state, reads out ``p = h_T W_ph + b_p``, takes the mean
    cross-entropy with labels ``y`` and returns the norm of ``dL/dh_t`` for t = 1..T (shape
    ``(T,)``). The probe passes the kit's vanilla RNN cell with recorded weights."""
    from course_kit.layers import VanillaRNNCell

    function = student_object(namespace, "gradient_norms_over_time", "function")
    x = context.array("x")
    cell = VanillaRNNCell(context["w_W_hh"].shape[0])
    cell.build((None, x.shape[-1]))
    for name in ("W_hx", "W_hh", "b_h"):
        getattr(cell, name).assign(context.array(f"w_{name}"))
    norms = function(cell, x, np.asarray(context["y"]), context.array("w_W_ph"),
                     context.array("w_b_p"))
    return {"norms": np.asarray(to_numpy(norms), dtype=np.float64).ravel()}


# ---------------------------------------------------------------- graphs


def probe_example_graphs(namespace, context):
    """Contract: ``a_plus_i(graph)`` returns A+I of a networkx graph (rows and columns in
    the order of ``graph.nodes``), and ``updates_between(graph, source, target)`` the number
    of GCN updates (layers) needed for information from ``source`` to reach ``target``."""
    from course_kit.data import example_graph

    a_plus_i = student_object(namespace, "a_plus_i", "function")
    updates = student_object(namespace, "updates_between", "function")
    results = {}
    for name in ("fall2019", "2020"):
        graph = example_graph(name)
        try:
            results[f"a_plus_i_{name}"] = np.rint(to_numpy(a_plus_i(graph))).astype(np.int64)
        except Exception as error:
            context.notes.append(f"a_plus_i({name!r}): {type(error).__name__}: {error}")
        try:
            results[f"updates_{name}"] = np.array(int(updates(graph, "C", "E")), dtype=np.int64)
        except Exception as error:
            context.notes.append(f"updates_between({name!r}): {type(error).__name__}: {error}")
    return results


PROBES = {
    name[len("probe_"):]: function
    for name, function in dict(globals()).items()
    if name.startswith("probe_") and name != "probe_cell"
}

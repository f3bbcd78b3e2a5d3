"""Visible checks of Part 1 (notebooks 01 to 06): recurrent cells, BPTT, optimisers, the LSTM's
parameter count, gradient norms over time, trained accuracy, and the environment.

Each check runs the student's code and the kit's reference implementation (or Keras' own, or
automatic differentiation) on the same fixed random inputs and prints the relative error of
every compared quantity (see :mod:`course_kit.checks`).
"""

import functools
import platform

import keras
import numpy as np
from keras import ops

from course_kit.autodiff import value_and_grad, variables_value_and_grad
from course_kit.checks._common import TOLERANCE, Report, _numpy, fast_mode, rel_error

__all__ = [
    "OPTIMIZERS",
    "check_accuracy",
    "check_bptt",
    "check_cell",
    "check_environment",
    "check_gradient_norms",
    "check_optimizer",
    "check_parameter_count",
    "compare_cells",
]


def check_environment(data=()):
    """Print the versions and the backend, check the bundled ``data`` files, report fast mode.

    Read fast mode with :func:`course_kit.checks.fast_mode`.

    Args:
        data: bundled file names this notebook needs (see ``course_kit.data``); each is
            checked for presence and checksum.

    Raises:
        RuntimeError: listing what to install or fix.
    """
    from course_kit.data.bundled import bundled_file

    problems = []
    major = int(keras.__version__.split(".")[0])
    print(f"Python {platform.python_version()}, Keras {keras.__version__}, "
          f"backend {keras.backend.backend()}")
    if major < 3:
        problems.append(f"Keras {keras.__version__} is too old: install Keras 3 "
                        "(pip install -U keras)")
    for name in data:
        try:
            bundled_file(name)
            print(f"data {name}: present")
        except OSError as error:
            problems.append(str(error))
    print("Fast mode ON (COURSE_KIT_FAST=1): short experiments, for testing the notebook."
          if fast_mode() else
          "Fast mode off: full experiments (set COURSE_KIT_FAST=1 for a quick run).")
    print("To change the backend, set KERAS_BACKEND (tensorflow, jax or torch) before "
          "starting Jupyter.")
    if problems:
        raise RuntimeError("the environment is not ready:\n- " + "\n- ".join(problems))


# ---------------------------------------------------------------- recurrent cells


def _reference_cell(name, units):
    # Imported here: loading course_kit.checks must not load (and register) the kit's layers.
    from course_kit.models import make_cell

    return make_cell(name, units)


def _run_cell(cell, x, units, num_states):
    """``h_t`` for every step of ``x``, from zero states.

    ``x`` is ``(batch, T, d)`` for a sequence cell, giving ``(batch, T, units)``, or node
    signals ``(batch, T, N, d)`` for a graph-recurrent cell, giving ``(batch, T, N, units)``.
    ``cell`` is anything called as ``cell(x_t, states) -> (h_t, new_states)``.
    """
    batch, steps = x.shape[:2]
    states = [ops.zeros((batch, *x.shape[2:-1], units)) for _ in range(num_states)]
    outputs = []
    for t in range(steps):
        h, states = cell(x[:, t], states)
        if not isinstance(states, (list, tuple)):
            states = [states]
        outputs.append(h)
    return ops.stack(outputs, axis=1)


def _pre_activation(cell, name, inputs, h_prev):
    """``x_t @ W_<name>x + h_{t-1} @ W_<name>h + b_<name>`` with the weights of ``cell``."""
    return (ops.matmul(inputs, getattr(cell, f"W_{name}x"))
            + ops.matmul(h_prev, getattr(cell, f"W_{name}h")) + getattr(cell, f"b_{name}"))


def _rnn_without_tanh(cell, inputs, states):
    """The vanilla RNN step of ``cell`` without its tanh (mistake ``no_tanh``)."""
    h = ops.matmul(inputs, cell.W_hx) + ops.matmul(states[0], cell.W_hh) + cell.b_h
    return h, [h]


def _lstm_with(gate, candidate):
    """The LSTM step with ``gate`` for i, f, o and ``candidate`` for g, on a kit cell's weights."""

    def step(cell, inputs, states):
        h_prev, c_prev = states
        i, f, o = (gate(_pre_activation(cell, name, inputs, h_prev)) for name in "ifo")
        c = candidate(_pre_activation(cell, "g", inputs, h_prev)) * i + c_prev * f
        h = ops.tanh(c) * o
        return h, [h, c]

    return step


#: For each reference cell of :func:`check_cell`: its question, the prefix of its hints in
#: ``course_kit.feedback.HINTS`` and the mistakes it recognises, each as steps
#: ``step(reference_cell, x_t, states)`` that make that mistake.
REFERENCE_CELLS = {
    "rnn": ("q1_2", "", {"no_tanh": (_rnn_without_tanh,)}),
    "lstm": ("q1_6", "", {"wrong_gate_nonlinearity": (
        _lstm_with(ops.tanh, ops.tanh), _lstm_with(ops.sigmoid, ops.sigmoid),
        _lstm_with(ops.tanh, ops.sigmoid))}),
    "peephole_lstm": ("q1_9", "peephole_", {}),
    "gru": ("q1_9", "gru_", {}),
}


def check_cell(student_class, reference, units=4, input_dim=3, batch=2, steps=5, seed=0):
    """Compare a student's recurrent cell with the kit's cell ``reference``.

    Both cells get the same random weights; they run over the same random sequence from a
    zero state. Compared: the weight names and shapes, the hidden state ``h_t`` at every step,
    and the gradients of ``sum_t <h_t, R_t>`` (``R`` fixed random) with respect to every
    weight. Prints one line per comparison and ``PASS``, or raises :class:`CheckFailed`.

    Args:
        student_class: the class to test; ``student_class(units)`` must give a Keras layer
            whose ``call(x_t, states)`` returns ``(h_t, new_states)``.
        reference: ``"rnn"``, ``"lstm"``, ``"peephole_lstm"`` or ``"gru"``.

    Raises:
        ValueError: for an unknown ``reference``.
    """
    if reference not in REFERENCE_CELLS:
        raise ValueError(f"reference must be one of {sorted(REFERENCE_CELLS)}, "
                         f"got {reference!r}")
    question, hint_prefix, mistakes = REFERENCE_CELLS[reference]
    rng = np.random.default_rng(seed)
    with Report(question, student_class.__name__, f"matches the kit's {reference} cell",
                hint_prefix) as report:
        compare_cells(report, lambda: student_class(units), _reference_cell(reference, units),
                      rng.normal(size=(batch, steps, input_dim)), units, rng, mistakes)


def compare_cells(report, make_student, expected_cell, x, units, rng, mistakes=None):
    """Run the student's cell and ``expected_cell`` over ``x`` with the same random weights
    and compare weight names and shapes, ``h_t`` at every step and the weight gradients.

    Args:
        report: the check's :class:`course_kit.checks._common.Report`.
        make_student: builds the student's cell.
        expected_cell: the reference, a kit cell with ``num_states``.
        x: ``(batch, T, ..., d)`` inputs.
        units: the state size.
        rng: ``numpy.random.Generator`` for the weights and the read-out.
        mistakes: ``{name: steps}``: when the outputs differ but match those of a step
            ``step(expected_cell, x_t, states)``, the hint is that of mistake ``name``.
    """
    x = ops.convert_to_tensor(np.asarray(x, dtype="float32"))
    readout = ops.convert_to_tensor(rng.normal(size=(*x.shape[:-1], units)).astype("float32"))
    num_states = expected_cell.num_states
    _run_cell(expected_cell, x[:, :1], units, num_states)
    names = [v.name for v in expected_cell.weights]

    student = make_student()
    _run_cell(student, x[:, :1], units, num_states)
    for variable in expected_cell.weights:
        mine = getattr(student, variable.name, None)
        if mine is None or not hasattr(mine, "assign"):
            report.record(f"weight {variable.name}", f"missing, expected shape "
                          f"{tuple(variable.shape)}", False, "weight_shapes")
        elif tuple(mine.shape) != tuple(variable.shape):
            report.record(f"weight {variable.name}", f"shape {tuple(mine.shape)}, expected "
                          f"{tuple(variable.shape)}", False, "weight_shapes")
    if report.failures:
        return  # without the contract's weights nothing else can be compared
    print(f"  weights {', '.join(names)}: names and shapes right")

    for variable in expected_cell.weights:
        value = rng.normal(0.0, 0.5, size=tuple(variable.shape)).astype("float32")
        variable.assign(value)
        getattr(student, variable.name).assign(value)

    def mistaken_outputs(steps):
        return lambda: [_run_cell(functools.partial(step, expected_cell), x, units, num_states)
                        for step in steps]

    outputs_match = report.arrays(
        "h_t at every step", _run_cell(student, x, units, num_states),
        _run_cell(expected_cell, x, units, num_states), "outputs",
        mistakes=[(name, mistaken_outputs(steps)) for name, steps in (mistakes or {}).items()])
    if not outputs_match:
        print("  gradients: not compared until h_t matches")
        return

    def gradients(cell):
        variables = [getattr(cell, name) for name in names]
        _, grads = variables_value_and_grad(
            lambda: ops.sum(_run_cell(cell, x, units, num_states) * readout), variables)
        return dict(zip(names, grads))

    mine, theirs = gradients(student), gradients(expected_cell)
    for name in names:
        report.arrays(f"gradient wrt {name}", mine[name], theirs[name], "gradients")


# ---------------------------------------------------------------- BPTT


def _rnn_problem(seed=0, batch=3, steps=6, input_dim=4, units=5, classes=3):
    rng = np.random.default_rng(seed)
    shapes = {"W_hx": (input_dim, units), "W_hh": (units, units), "b_h": (units,),
              "W_ph": (units, classes), "b_p": (classes,)}
    weights = {name: rng.normal(0.0, 0.5, size=shape) for name, shape in shapes.items()}
    x = rng.normal(size=(batch, steps, input_dim))
    y = rng.integers(0, classes, size=batch)
    return x, y, weights


def _autodiff_rnn_gradients(x, y, weights):
    """Gradients of the vanilla RNN's last-step mean cross-entropy, by the backend's autodiff."""
    names = list(weights)
    inputs = ops.convert_to_tensor(x.astype("float32"))

    def loss(*values):
        w = dict(zip(names, values))
        h = ops.zeros((x.shape[0], w["W_hh"].shape[0]))
        for t in range(x.shape[1]):
            h = ops.tanh(ops.matmul(inputs[:, t], w["W_hx"]) + ops.matmul(h, w["W_hh"]) + w["b_h"])
        logits = ops.matmul(h, w["W_ph"]) + w["b_p"]
        return ops.mean(keras.losses.sparse_categorical_crossentropy(y, logits, from_logits=True))

    _, grads = value_and_grad(loss, *[weights[n].astype("float32") for n in names])
    return dict(zip(names, grads))


#: The hint of each gradient of :func:`check_bptt`, named as the grader's outputs of q1_1.
_BPTT_HINTS = {"W_ph": "grad_output", "b_p": "grad_output", "W_hh": "grad_W_hh",
               "W_hx": "grad_input", "b_h": "grad_input"}


def check_bptt(student_function, seed=0):
    """Compare ``student_function(x, y, W_hx, W_hh, b_h, W_ph, b_p) -> dict of gradients``
    with the gradients that Keras' backend computes by automatic differentiation."""
    x, y, weights = _rnn_problem(seed)
    with Report("q1_1", student_function.__name__,
                "matches automatic differentiation") as report:
        grads = student_function(x, y, **weights)
        if not isinstance(grads, dict):
            report.stop("returned value", f"a {type(grads).__name__}", "returns")
        expected = _autodiff_rnn_gradients(x, y, weights)
        for name, key in _BPTT_HINTS.items():
            if name in grads:
                report.arrays(f"dL/d{name}", grads[name], expected[name], key)
            else:
                report.record(f"dL/d{name}", "missing from the returned dict", False, "returns")


# ---------------------------------------------------------------- optimisers


#: Keras optimizer and settings behind each name :func:`check_optimizer` accepts.
OPTIMIZERS = {
    "momentum": ("SGD", {"learning_rate": 0.01, "momentum": 0.9}),
    "rmsprop": ("RMSprop", {"learning_rate": 0.01, "rho": 0.9, "epsilon": 1e-7}),
    "adam": ("Adam", {"learning_rate": 0.01, "beta_1": 0.9, "beta_2": 0.999, "epsilon": 1e-7}),
}


def check_optimizer(student_class, optimizer, steps=8, seed=0):
    """Run the student's optimiser for ``steps`` steps on fixed random gradients beside the
    Keras optimizer ``optimizer`` (``"momentum"``, ``"rmsprop"`` or ``"adam"``) with the same
    settings, and compare the weights after every step.

    The contract: ``student_class(**settings)`` with the keyword arguments of Keras
    (``learning_rate`` and ``momentum``; ``rho`` and ``epsilon``; ``beta_1``, ``beta_2`` and
    ``epsilon``) has a method ``step(weights, gradients)`` that returns the updated weights
    (a new NumPy array) and keeps its own state between calls.

    Raises:
        ValueError: for an unknown ``optimizer``.
    """
    if optimizer not in OPTIMIZERS:
        raise ValueError(f"optimizer must be one of {sorted(OPTIMIZERS)}, got {optimizer!r}")
    keras_name, settings = OPTIMIZERS[optimizer]
    rng = np.random.default_rng(seed)
    weights = rng.normal(size=(5,))
    grads = rng.normal(size=(steps, 5))

    keras_optimizer = getattr(keras.optimizers, keras_name)(**settings)
    variable = keras.Variable(weights.astype("float32"))
    expected = []
    for grad in grads:
        keras_optimizer.apply([ops.convert_to_tensor(grad.astype("float32"))], [variable])
        expected.append(ops.convert_to_numpy(variable))

    with Report("q1_4", student_class.__name__,
                f"follows keras.optimizers.{keras_name}") as report:
        mine, trajectory = student_class(**settings), [weights.copy()]
        for t, grad in enumerate(grads, start=1):
            trajectory.append(_numpy(mine.step(trajectory[-1].copy(), grad)))
            if trajectory[-1].shape != weights.shape:
                report.stop(f"weights after step {t}", f"shape {trajectory[-1].shape}, "
                            f"expected {weights.shape}", "step_shape")
        trajectory = trajectory[1:]
        errors = [rel_error(a, b) for a, b in zip(trajectory, expected)]
        first_bad = next((t for t, e in enumerate(errors, start=1) if not e <= TOLERANCE), None)
        report.arrays(f"weights after each of {steps} steps", np.stack(trajectory),
                      np.stack(expected), optimizer)
        if first_bad is not None:
            print(f"  first step that differs: {first_bad}")


# ---------------------------------------------------------------- LSTM size, training, gradients


def check_parameter_count(student_function, sizes=((1, 1, 1), (3, 8, 2), (10, 128, 10))):
    """Compare ``student_function(d, n, c)`` with the parameters of real Keras models: an
    LSTM layer with ``n`` units on ``d`` inputs followed by a dense layer over ``c`` classes."""
    from course_kit.layers import LSTMCell

    with Report("q1_5", student_function.__name__,
                "counts the parameters of real models") as report:
        for d, n, c in sizes:
            model = keras.Sequential([keras.Input((None, d)), keras.layers.RNN(LSTMCell(n)),
                                      keras.layers.Dense(c)])
            actual, expected = student_function(d, n, c), model.count_params()
            report.record(f"d={d}, n={n}, c={c}", f"yours {actual}, model {expected}",
                          actual == expected, "counts")


def check_gradient_norms(student_function, steps=12, seed=0):
    """Compare ``student_function(cell, x, y, W_ph, b_p) -> norms (T,)`` with the kit's
    ``course_kit.training.gradient_norms_over_time`` for a vanilla RNN and an LSTM cell."""
    from course_kit.models import SequenceClassifier, make_cell
    from course_kit.training import gradient_norms_over_time

    rng = np.random.default_rng(seed)
    x = rng.normal(size=(4, steps, 3)).astype("float32")
    y = rng.integers(0, 3, size=4).astype("int32")
    with Report("q1_7", student_function.__name__, "matches the reference") as report:
        for name in ("rnn", "lstm"):
            keras.utils.set_random_seed(seed)
            model = SequenceClassifier(make_cell(name, 6), 3)
            model(x)
            W_ph, b_p = (ops.convert_to_numpy(w) for w in model.classifier.weights)
            expected = gradient_norms_over_time(model, (x, y))
            actual = np.ravel(_numpy(student_function(model.recurrent.cell, x, y, W_ph, b_p)))
            report.arrays(f"||dL/dh_t|| for t = 1..{steps}, {name} cell", actual, expected,
                          "norms")


def check_accuracy(accuracy, threshold, question, what="held-out accuracy"):
    """Pass when ``accuracy`` reaches ``threshold``; print both.

    Args:
        accuracy: the measured accuracy.
        threshold: the least accuracy that passes.
        question: the question the accuracy answers (``"q1_3"``, ``"q1_8"``), for its hint.
        what: what was measured, for the printed lines.
    """
    with Report(question, what, f"reaches {threshold}") as report:
        report.record(what, f"{accuracy:.3f} (needs >= {threshold})", accuracy >= threshold,
                      "predictions")

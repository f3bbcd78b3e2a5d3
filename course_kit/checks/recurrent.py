"""Visible checks of Part 1 (notebooks 01 to 06): BPTT, recurrent cells, optimisers, the LSTM's
parameter count, gradient norms over time, trained accuracy, and the environment.

Each check runs the student's code on the inputs of its question's public fixture
(:func:`course_kit.checks._common.fixture`) and prints the relative error of every compared
quantity against the outputs recorded there (see :mod:`course_kit.checks`).
"""

import platform
from dataclasses import dataclass

import keras
import numpy as np
from keras import ops

from course_kit.autodiff import variables_value_and_grad
from course_kit.checks._common import (
    TOLERANCE,
    Report,
    _numpy,
    fast_mode,
    fixture,
    floats,
    recorded_mistakes,
    rel_error,
)

__all__ = [
    "BPTT_OUTPUTS",
    "CELLS",
    "OPTIMIZERS",
    "RecordedCell",
    "check_accuracy",
    "check_bptt",
    "check_cell",
    "check_environment",
    "check_gradient_norms",
    "check_optimizer",
    "check_parameter_count",
    "compare_cell",
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


@dataclass(frozen=True)
class RecordedCell:
    """What the checks know of a recurrent cell's question.

    Attributes:
        question: its id, whose fixture holds the cell's recording.
        prefix: of the cell's keys in that fixture and in ``HINTS[question]`` (q1_9 records
            two cells).
        weights: the weights' names, in the order of the recorded ``gradients``.
        num_states: how many state tensors ``call`` takes and returns.
        state_size: whether the contract also asks for ``state_size = units``.
    """

    question: str
    prefix: str
    weights: tuple
    num_states: int
    state_size: bool = False


#: The cells :func:`check_cell` compares, by the name it takes.
CELLS = {
    "rnn": RecordedCell("q1_2", "", ("W_hx", "W_hh", "b_h"), 1, state_size=True),
    "lstm": RecordedCell("q1_6", "", ("W_gx", "W_gh", "b_g", "W_ix", "W_ih", "b_i", "W_fx",
                                      "W_fh", "b_f", "W_ox", "W_oh", "b_o"), 2),
    "peephole_lstm": RecordedCell("q1_9", "peephole_", (
        "W_fx", "W_fh", "b_f", "W_ix", "W_ih", "b_i", "W_ox", "W_oh", "b_o", "W_cx", "b_c"), 2),
    "gru": RecordedCell("q1_9", "gru_", ("W_zx", "W_zh", "b_z", "W_rx", "W_rh", "b_r", "W_x",
                                         "W_h", "b"), 1),
}


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


def check_cell(student_class, reference):
    """Compare a student's recurrent cell with the kit's cell ``reference``, as recorded in the
    fixture of its question.

    The student's cell gets the recorded weights and runs over the recorded sequence from a
    zero state. Compared: the weight names and shapes (and ``state_size`` for ``"rnn"``), the
    hidden state ``h_t`` at every step, and the gradients of ``sum_t <h_t, R_t>`` (``R`` the
    recorded read-out) with respect to every weight. Prints one line per comparison and
    ``PASS``, or raises :class:`CheckFailed`.

    Args:
        student_class: the class to test; ``student_class(units)`` must give a Keras layer
            whose ``call(x_t, states)`` returns ``(h_t, new_states)``.
        reference: ``"rnn"``, ``"lstm"``, ``"peephole_lstm"`` or ``"gru"``.

    Raises:
        ValueError: for an unknown ``reference``.
    """
    if reference not in CELLS:
        raise ValueError(f"reference must be one of {sorted(CELLS)}, got {reference!r}")
    cell = CELLS[reference]
    inputs, expected = fixture(cell.question, cell.prefix)
    with Report(cell.question, student_class.__name__, f"matches the kit's {reference} cell",
                cell.prefix) as report:
        compare_cell(report, student_class, inputs, expected, cell)


def _state_size_line(report, cell, units):
    """Record whether ``cell.state_size`` is ``units`` (or ``[units]``)."""
    size = getattr(cell, "state_size", None)
    if isinstance(size, (list, tuple)) and len(size) == 1:
        size = size[0]
    right = isinstance(size, (int, np.integer)) and int(size) == units
    report.record("state_size", f"{size!r}" + ("" if right else f", expected {units}"), right,
                  "state_size")


def compare_cell(report, make_cell, inputs, expected, recorded):
    """Run the student's cell on a fixture's inputs and compare it with the recorded outputs,
    as the grader's probe of a cell question does.

    Args:
        report: the check's :class:`course_kit.checks._common.Report`.
        make_cell: ``make_cell(units)`` builds the student's cell.
        inputs: recorded ``x`` ``(batch, T, ..., d)``, ``readout`` ``(batch, T, ..., units)``
            and one ``w_<name>`` per weight of ``recorded.weights``.
        expected: recorded ``outputs`` (``h_t`` at every step, shaped as ``readout``),
            ``gradients`` (of ``sum_t <h_t, readout_t>``, flattened and concatenated in the
            order of ``recorded.weights``) and the outputs of mistaken cells
            (``outputs@<mutant>``).
        recorded: the cell's :class:`RecordedCell`.
    """
    x, readout = floats(inputs["x"]), floats(inputs["readout"])
    units = readout.shape[-1]
    cell = make_cell(units)
    _run_cell(cell, x[:, :1], units, recorded.num_states)
    variables = []
    for name in recorded.weights:
        want = inputs[f"w_{name}"].shape
        variable = getattr(cell, name, None)
        if variable is None or not hasattr(variable, "assign"):
            report.record(f"weight {name}", f"missing, expected shape {want}", False,
                          "weight_shapes")
        elif tuple(variable.shape) != want:
            report.record(f"weight {name}", f"shape {tuple(variable.shape)}, expected {want}",
                          False, "weight_shapes")
        variables.append(variable)
    if report.failures:
        return  # without the contract's weights nothing else can be compared
    print(f"  weights {', '.join(recorded.weights)}: names and shapes right")
    if recorded.state_size:
        _state_size_line(report, cell, units)
    for name, variable in zip(recorded.weights, variables):
        variable.assign(inputs[f"w_{name}"].astype(variable.dtype))

    outputs_match = report.arrays(
        "h_t at every step", _run_cell(cell, x, units, recorded.num_states), expected["outputs"],
        "outputs", mistakes=recorded_mistakes(report.question, expected, "outputs"))
    if not outputs_match:
        print("  gradients: not compared until h_t matches")
        return
    _, grads = variables_value_and_grad(
        lambda: ops.sum(_run_cell(cell, x, units, recorded.num_states) * readout), variables)
    sizes = [inputs[f"w_{name}"].size for name in recorded.weights]
    recorded_grads = np.split(expected["gradients"], np.cumsum(sizes)[:-1])
    for name, mine, theirs in zip(recorded.weights, grads, recorded_grads):
        report.arrays(f"gradient wrt {name}", np.ravel(_numpy(mine)), theirs, "gradients")


# ---------------------------------------------------------------- BPTT


#: The gradients of :func:`check_bptt`, grouped and ordered as the grader's outputs of q1_1,
#: each group also the key of its hint.
BPTT_OUTPUTS = {"grad_output": ("W_ph", "b_p"), "grad_W_hh": ("W_hh",),
                "grad_input": ("W_hx", "b_h")}


#: Exact backpropagation in float64 is within about 3e-16 of automatic differentiation; finite
#: differences come within 2e-11 at best (5e-13 with Richardson extrapolation).
BPTT_TOLERANCE = 1e-13


def check_bptt(student_function):
    """Compare ``student_function(x, y, W_hx, W_hh, b_h, W_ph, b_p) -> dict of gradients``
    with the gradients that automatic differentiation gave on the recorded problem, to float64
    round-off (``BPTT_TOLERANCE``): the inputs are float64, and a backward pass written out
    is exact where a numerical gradient is not."""
    inputs, expected = fixture("q1_1")
    weights = {name: inputs[f"w_{name}"] for names in BPTT_OUTPUTS.values() for name in names}
    with Report("q1_1", student_function.__name__,
                "matches automatic differentiation") as report:
        grads = student_function(inputs["x"].copy(), inputs["y"].copy(),
                                 **{name: w.copy() for name, w in weights.items()})
        if not isinstance(grads, dict):
            report.stop("returned value", f"a {type(grads).__name__}", "returns")
        for output, names in BPTT_OUTPUTS.items():
            sizes = [weights[name].size for name in names]
            recorded = np.split(expected[output], np.cumsum(sizes)[:-1])
            for name, theirs in zip(names, recorded):
                if name in grads:
                    yours = np.ravel(_numpy(grads[name]))
                    # close but not exact: float32, or a numerical gradient
                    close = yours.shape == theirs.shape and rel_error(yours, theirs) <= TOLERANCE
                    report.arrays(f"dL/d{name}", yours, theirs, "exact" if close else output,
                                  tolerance=BPTT_TOLERANCE)
                else:
                    report.record(f"dL/d{name}", "missing from the returned dict", False,
                                  "returns")


# ---------------------------------------------------------------- optimisers


#: Keras optimizer and settings behind each name :func:`check_optimizer` accepts (those of
#: the grader's q1_4, whose recorded trajectories the check compares with).
OPTIMIZERS = {
    "momentum": ("SGD", {"learning_rate": 0.01, "momentum": 0.9}),
    "rmsprop": ("RMSprop", {"learning_rate": 0.01, "rho": 0.9, "epsilon": 1e-7}),
    "adam": ("Adam", {"learning_rate": 0.01, "beta_1": 0.9, "beta_2": 0.9, "epsilon": 1e-7}),
}
# Adam written as in textbooks, m_hat / (sqrt(v_hat) + epsilon), and Keras' form (epsilon not
# bias-corrected) differ by about 1e-5 on the weights; its mistakes by 1e-2 and more.
_OPTIMIZER_TOLERANCE = {"adam": 1e-4}


def check_optimizer(student_class, optimizer):
    """Run the student's optimiser on recorded gradients, from recorded weights, and compare the
    weights after every step with those that the Keras optimizer ``optimizer``
    (``"momentum"``, ``"rmsprop"`` or ``"adam"``) with the same settings reached.

    The gradients' three columns have very different sizes (about 1e4, 1 and a tiny one),
    so that where epsilon goes shows. The contract: ``student_class(**settings)`` with the
    keyword arguments of Keras (``learning_rate`` and ``momentum``; ``rho`` and ``epsilon``;
    ``beta_1``, ``beta_2`` and ``epsilon``) has a method ``step(weights, gradients)`` that
    returns the updated weights (a new NumPy array) and keeps its own state between calls.

    Raises:
        ValueError: for an unknown ``optimizer``.
    """
    if optimizer not in OPTIMIZERS:
        raise ValueError(f"optimizer must be one of {sorted(OPTIMIZERS)}, got {optimizer!r}")
    keras_name, settings = OPTIMIZERS[optimizer]
    inputs, expected = fixture("q1_4")
    weights, gradients = inputs["param"], inputs[f"grads_{optimizer}"]
    tolerance = _OPTIMIZER_TOLERANCE.get(optimizer, TOLERANCE)
    with Report("q1_4", student_class.__name__,
                f"follows keras.optimizers.{keras_name}") as report:
        mine, trajectory = student_class(**settings), [weights.copy()]
        for t, grad in enumerate(gradients, start=1):
            trajectory.append(_numpy(mine.step(trajectory[-1].copy(), grad.copy())))
            if trajectory[-1].shape != weights.shape:
                report.stop(f"weights after step {t}", f"shape {trajectory[-1].shape}, "
                            f"expected {weights.shape}", "step_shape")
        trajectory = np.stack(trajectory[1:])
        errors = [rel_error(a, b) for a, b in zip(trajectory, expected[optimizer])]
        first_bad = next((t for t, e in enumerate(errors, start=1) if not e <= tolerance), None)
        report.arrays(f"weights after each of {len(gradients)} steps", trajectory,
                      expected[optimizer], optimizer, tolerance=tolerance)
        if first_bad is not None:
            print(f"  first step that differs: {first_bad}")


# ---------------------------------------------------------------- LSTM size, training, gradients


def check_parameter_count(student_function):
    """Compare ``student_function(d, n, c)`` with the recorded parameter counts of real Keras
    models: an LSTM layer with ``n`` units on ``d`` inputs followed by a dense layer over ``c``
    classes."""
    inputs, expected = fixture("q1_5")
    with Report("q1_5", student_function.__name__,
                "counts the parameters of real models") as report:
        for (d, n, c), count in zip(inputs["sizes"].tolist(), expected["counts"].tolist()):
            actual = student_function(d, n, c)
            report.record(f"d={d}, n={n}, c={c}", f"yours {actual}, model {count}",
                          actual == count, "counts")


def check_gradient_norms(student_function):
    """Compare ``student_function(cell, x, y, W_ph, b_p) -> norms (T,)`` with the recorded norms
    of ``dL/dh_t`` of a vanilla RNN cell with recorded weights.

    The cell handed to the student is ``keras.layers.SimpleRNNCell``, which computes the
    vanilla RNN's ``h_t = tanh(x_t W_hx + h_{t-1} W_hh + b_h)`` with ``kernel = W_hx``,
    ``recurrent_kernel = W_hh`` and ``bias = b_h``.
    """
    inputs, expected = fixture("q1_7")
    floatx = keras.config.floatx()
    x = inputs["x"].astype(floatx)
    cell = keras.layers.SimpleRNNCell(inputs["w_W_hh"].shape[0])
    cell.build((None, x.shape[-1]))
    for variable, name in ((cell.kernel, "W_hx"), (cell.recurrent_kernel, "W_hh"),
                           (cell.bias, "b_h")):
        variable.assign(inputs[f"w_{name}"].astype(floatx))
    with Report("q1_7", student_function.__name__, "matches the recorded norms") as report:
        norms = student_function(cell, x, inputs["y"].copy(), inputs["w_W_ph"].astype(floatx),
                                 inputs["w_b_p"].astype(floatx))
        report.arrays(f"||dL/dh_t|| for t = 1..{x.shape[1]}", np.ravel(_numpy(norms)),
                      expected["norms"], "norms")


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

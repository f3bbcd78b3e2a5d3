"""Visible checks that students run inside the notebooks, in the style of CS231n.

This module holds the shared machinery and the Part 1 checks; the Part 2 and 3 checks live
in :mod:`course_kit.checks.text_and_graphs` and are importable from here too.

Each check runs the student's code and the kit's reference implementation (or an analytic
answer) on the same fixed random inputs, prints one line per comparison with the relative
error, and ends with ``PASS`` or ``FAIL``. A failure raises :class:`CheckFailed` with a hint
on the most likely mistake, so "Run all" stops at the first piece that needs work.

The relative error of two arrays is ``max|a - b| / max(max|a| + max|b|, 1e-8)``: it is
scale-free and, unlike an element-wise ratio, does not blow up on entries that are zero in
both arrays. In float32 a correct implementation scores about 1e-7; the default tolerance is
1e-5.
"""

import contextlib
import os
import platform

import keras
import numpy as np
from keras import ops

__all__ = [
    "CheckFailed",
    "check_accuracy",
    "check_bptt",
    "check_cell",
    "compare_cells",
    "check_environment",
    "check_gradient_norms",
    "check_optimizer",
    "check_parameter_count",
    "fast_mode",
    "rel_error",
]  # and every name of course_kit.checks.text_and_graphs, added below

#: Tolerance on the relative error of float32 computations.
TOLERANCE = 1e-5


class CheckFailed(AssertionError):
    """A visible check found a difference from the reference; the message says what to fix."""


def rel_error(actual, expected):
    """``max|a - b| / max(max|a| + max|b|, 1e-8)``, a scale-free distance of two arrays."""
    actual, expected = _numpy(actual), _numpy(expected)
    if actual.shape != expected.shape:
        raise CheckFailed(f"shape {actual.shape} differs from the expected {expected.shape}")
    if actual.size == 0:
        return 0.0
    scale = max(np.max(np.abs(actual)) + np.max(np.abs(expected)), 1e-8)
    return float(np.max(np.abs(actual - expected)) / scale)


def _numpy(value):
    """A float64 NumPy copy of an array or a backend tensor (detached from autodiff)."""
    if not isinstance(value, (np.ndarray, np.generic, list, tuple, float, int)):
        value = ops.convert_to_numpy(value)
    return np.asarray(value, dtype=np.float64)


def _compare(label, actual, expected, hint, tolerance=TOLERANCE):
    """Print ``label: relative error E`` and return whether it is within ``tolerance``."""
    actual, expected = _numpy(actual), _numpy(expected)
    if actual.shape != expected.shape:
        print(f"  {label}: shape {actual.shape}, expected {expected.shape}  <-- wrong shape")
        return False
    if not np.all(np.isfinite(actual)):
        print(f"  {label}: contains NaN or inf  <-- {hint}")
        return False
    error = rel_error(actual, expected)
    ok = error <= tolerance
    print(f"  {label}: relative error {error:.2e}" + ("" if ok else f"  <-- {hint}"))
    return ok


@contextlib.contextmanager
def _student_code(title):
    """Turn the stub's NotImplementedError into a failed check that says what to do."""
    try:
        yield
    except NotImplementedError:
        raise CheckFailed(f"{title}: not implemented yet; replace the `raise "
                          "NotImplementedError(...)` line(s) in the graded cell above") from None


def _verdict(title, ok, hint):
    if ok:
        print(f"PASS: {title}")
        return True
    raise CheckFailed(f"{title}: {hint}")


def fast_mode():
    """Whether ``COURSE_KIT_FAST=1`` asks for the short version of the experiments."""
    return os.environ.get("COURSE_KIT_FAST", "0").strip().lower() in ("1", "true", "yes")


def check_environment(data=()):
    """Print the versions and the backend, check the bundled ``data`` files, report fast mode.

    Args:
        data: bundled file names this notebook needs (see ``course_kit.data``); each is
            checked for presence and checksum.

    Returns:
        ``fast_mode()``.
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
    fast = fast_mode()
    print("Fast mode ON (COURSE_KIT_FAST=1): short experiments, for testing the notebook."
          if fast else
          "Fast mode off: full experiments (set COURSE_KIT_FAST=1 for a quick run).")
    print("To change the backend, set KERAS_BACKEND (tensorflow, jax or torch) before "
          "starting Jupyter.")
    if problems:
        raise RuntimeError("the environment is not ready:\n- " + "\n- ".join(problems))
    return fast


# ---------------------------------------------------------------- recurrent cells


def _reference_cell(name, units):
    from course_kit.models import make_cell

    return make_cell(name, units)


def _run_cell(cell, x, units, num_states):
    """``h_t`` for every step of ``x``, from zero states.

    ``x`` is ``(batch, T, d)`` for a sequence cell, giving ``(batch, T, units)``, or node
    signals ``(batch, T, N, d)`` for a graph-recurrent cell, giving ``(batch, T, N, units)``.
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


def check_cell(student_class, reference, units=4, input_dim=3, batch=2, steps=5, seed=0):
    """Compare a student's recurrent cell with the kit's cell ``reference``.

    Both cells get the same random weights; they run over the same random sequence from a
    zero state. Compared: the weight names and shapes, the hidden state ``h_t`` at every step,
    and the gradients of ``sum_t <h_t, R_t>`` (``R`` fixed random) with respect to every
    weight.

    Args:
        student_class: the class to test; ``student_class(units)`` must give a Keras layer
            whose ``call(x_t, states)`` returns ``(h_t, new_states)``.
        reference: ``"rnn"``, ``"lstm"``, ``"peephole_lstm"`` or ``"gru"``.
    """
    rng = np.random.default_rng(seed)
    return compare_cells(
        f"{student_class.__name__} matches the reference {reference} cell",
        lambda: student_class(units),
        _reference_cell(reference, units),
        rng.normal(size=(batch, steps, input_dim)),
        units,
        rng,
    )


def compare_cells(title, make_student, expected_cell, x, units, rng):
    """Run the student's cell and ``expected_cell`` over ``x`` with the same random weights
    and compare weight names and shapes, ``h_t`` at every step and the weight gradients."""
    from course_kit.autodiff import variables_value_and_grad

    x = ops.convert_to_tensor(np.asarray(x, dtype="float32"))
    readout = ops.convert_to_tensor(rng.normal(size=(*x.shape[:-1], units)).astype("float32"))
    num_states = expected_cell.num_states
    _run_cell(expected_cell, x[:, :1], units, num_states)
    names = [v.name for v in expected_cell.weights]

    with _student_code(title):
        student = make_student()
        _run_cell(student, x[:, :1], units, num_states)
    ok = True
    for variable in expected_cell.weights:
        mine = getattr(student, variable.name, None)
        if mine is None or not hasattr(mine, "assign"):
            print(f"  weight {variable.name}: missing  <-- create it in build() with "
                  f"self.{variable.name} = self.add_weight(name={variable.name!r}, "
                  f"shape={tuple(variable.shape)})")
            ok = False
        elif tuple(mine.shape) != tuple(variable.shape):
            print(f"  weight {variable.name}: shape {tuple(mine.shape)}, expected "
                  f"{tuple(variable.shape)}  <-- weights are input-major: (input_dim, units) for "
                  "input matrices, (units, units) for recurrent ones")
            ok = False
    if not ok:
        return _verdict(title, False, "the weights do not follow the contract (see above)")
    print(f"  weights {', '.join(names)}: names and shapes right")

    for variable in expected_cell.weights:
        value = rng.normal(0.0, 0.5, size=tuple(variable.shape)).astype("float32")
        variable.assign(value)
        getattr(student, variable.name).assign(value)
    with _student_code(title):
        outputs = _run_cell(student, x, units, num_states)
    ok &= _compare("h_t at every step", outputs, _run_cell(expected_cell, x, units, num_states),
                   "the forward pass differs: compare your call() with the equations "
                   "term by term (non-linearities, which state each gate reads)")

    def gradients(cell):
        variables = [getattr(cell, name) for name in names]
        _, grads = variables_value_and_grad(
            lambda: ops.sum(_run_cell(cell, x, units, num_states) * readout), variables)
        return {name: ops.convert_to_numpy(g) for name, g in zip(names, grads)}

    mine, theirs = gradients(student), gradients(expected_cell)
    for name in names:
        ok &= _compare(f"gradient wrt {name}", mine[name], theirs[name],
                       f"{name} is used differently from the equations (or not at all)")
    return _verdict(title, ok, "see the lines marked <-- above")


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
    from course_kit.autodiff import value_and_grad

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
    return {name: ops.convert_to_numpy(g) for name, g in zip(names, grads)}


def check_bptt(student_function, seed=0):
    """Compare ``student_function(x, y, W_hx, W_hh, b_h, W_ph, b_p) -> dict of gradients``
    with the gradients that Keras' backend computes by automatic differentiation."""
    title = f"{student_function.__name__} matches automatic differentiation"
    x, y, weights = _rnn_problem(seed)
    with _student_code(title):
        grads = student_function(x, y, **weights)
    if not isinstance(grads, dict):
        raise CheckFailed(f"{title}: return a dict of gradients keyed by weight name, got "
                          f"{type(grads).__name__}")
    expected = _autodiff_rnn_gradients(x, y, weights)
    hints = {
        "W_ph": "dL/dW_ph only needs h_T and (softmax - one_hot)/batch",
        "b_p": "dL/db_p is the batch sum of (softmax - one_hot)/batch",
        "W_hh": "sum h_{t-1}^T da_t over every t, carrying dL/dh back through W_hh^T",
        "W_hx": "sum x_t^T da_t over every t",
        "b_h": "sum da_t over every t and the batch",
    }
    ok = True
    for name, hint in hints.items():
        if name not in grads:
            print(f"  dL/d{name}: missing from the returned dict")
            ok = False
            continue
        ok &= _compare(f"dL/d{name}", grads[name], expected[name], hint)
    return _verdict(title, ok, "see the lines marked <-- above (the backward loop must visit "
                               "t = T, T-1, ..., 1 and multiply by 1 - h_t^2)")


# ---------------------------------------------------------------- optimisers


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
    """
    if optimizer not in OPTIMIZERS:
        raise ValueError(f"optimizer must be one of {sorted(OPTIMIZERS)}, got {optimizer!r}")
    keras_name, settings = OPTIMIZERS[optimizer]
    title = f"{student_class.__name__} follows keras.optimizers.{keras_name}"
    rng = np.random.default_rng(seed)
    weights = rng.normal(size=(5,))
    grads = rng.normal(size=(steps, 5))

    keras_optimizer = getattr(keras.optimizers, keras_name)(**settings)
    variable = keras.Variable(weights.astype("float32"))
    expected = []
    for grad in grads:
        keras_optimizer.apply([ops.convert_to_tensor(grad.astype("float32"))], [variable])
        expected.append(ops.convert_to_numpy(variable))

    mine, trajectory = student_class(**settings), [weights.copy()]
    for t, grad in enumerate(grads, start=1):
        with _student_code(title):
            trajectory.append(_numpy(mine.step(trajectory[-1].copy(), grad)))
        if trajectory[-1].shape != weights.shape:
            raise CheckFailed(f"{title}: step {t} returned weights of shape "
                              f"{trajectory[-1].shape}, expected {weights.shape}")
    trajectory = trajectory[1:]
    errors = [rel_error(a, b) for a, b in zip(trajectory, expected)]
    first_bad = next((t for t, e in enumerate(errors, start=1) if not e <= TOLERANCE), None)
    hint = ("the bias correction counts steps from t = 1" if optimizer == "adam" else
            "compare the update with the rule in the text, term by term")
    ok = _compare(f"weights after each of {steps} steps", np.stack(trajectory),
                  np.stack(expected), hint)
    if first_bad is not None:
        print(f"  first step that differs: {first_bad}")
    return _verdict(title, ok, "see the line marked <-- above")


# ---------------------------------------------------------------- LSTM size, training, gradients


def check_parameter_count(student_function, sizes=((1, 1, 1), (3, 8, 2), (10, 128, 10))):
    """Compare ``student_function(d, n, c)`` with the parameters of real Keras models: an
    LSTM layer with ``n`` units on ``d`` inputs followed by a dense layer over ``c`` classes."""
    from course_kit.layers import LSTMCell

    title = f"{student_function.__name__} counts the parameters of real models"
    ok = True
    for d, n, c in sizes:
        model = keras.Sequential([keras.Input((None, d)), keras.layers.RNN(LSTMCell(n)),
                                  keras.layers.Dense(c)])
        with _student_code(title):
            actual = student_function(d, n, c)
        expected = model.count_params()
        right = actual == expected
        print(f"  d={d}, n={n}, c={c}: yours {actual}, model {expected}"
              + ("" if right else "  <-- count each gate's input matrix, recurrent matrix and "
                                  "bias, then the output layer's weights and biases"))
        ok &= right
    return _verdict(title, ok, "see the lines marked <-- above")


def check_gradient_norms(student_function, steps=12, seed=0):
    """Compare ``student_function(cell, x, y, W_ph, b_p) -> norms (T,)`` with the kit's
    ``course_kit.training.gradient_norms_over_time`` for a vanilla RNN and an LSTM cell."""
    from course_kit.models import SequenceClassifier, make_cell
    from course_kit.training import gradient_norms_over_time

    title = f"{student_function.__name__} matches the reference"
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(4, steps, 3)).astype("float32")
    y = rng.integers(0, 3, size=4).astype("int32")
    ok = True
    for name in ("rnn", "lstm"):
        keras.utils.set_random_seed(seed)
        model = SequenceClassifier(make_cell(name, 6), 3)
        model(x)
        W_ph, b_p = (ops.convert_to_numpy(w) for w in model.classifier.weights)
        expected = gradient_norms_over_time(model, (x, y))
        with _student_code(title):
            actual = np.ravel(_numpy(student_function(model.recurrent.cell, x, y, W_ph, b_p)))
        ok &= _compare(f"||dL/dh_t|| for t = 1..{steps}, {name} cell", actual, expected,
                       "start every state at zero, read out h_T only, and differentiate the "
                       "batch-mean cross-entropy")
    return _verdict(title, ok, "see the lines marked <-- above")


def check_accuracy(accuracy, threshold, what="held-out accuracy"):
    """Pass when ``accuracy`` reaches ``threshold``; print both."""
    ok = accuracy >= threshold
    print(f"  {what}: {accuracy:.3f} (needs >= {threshold})")
    return _verdict(f"{what} reaches {threshold}", ok,
                    "train longer, check the learning rate, or test your cell first")


# Imported last: the Part 2 and 3 checks use the machinery defined above.
from course_kit.checks import text_and_graphs  # noqa: E402
from course_kit.checks.text_and_graphs import *  # noqa: E402, F403

__all__ += text_and_graphs.__all__

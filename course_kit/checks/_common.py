"""What every visible check shares: its fixtures, the failure it raises, the report it prints,
fast mode.

A check prints one line per comparison (``label: relative error E``), marks a failing one
with ``<--`` and its hint, and ends with ``PASS ...`` or raises :class:`CheckFailed`. The
metric, every hint and the recognised mistakes come from :mod:`course_kit.feedback`, which
the grader shares.
"""

import os
from contextlib import contextmanager
from pathlib import Path

import keras
import numpy as np
from keras import ops

from course_kit.feedback import HINTS, MISTAKES, relative_error

__all__ = ["FIXTURES", "TOLERANCE", "CheckFailed", "Report", "fast_mode", "fixture", "floats",
           "recurrent_inputs_replaced", "recurrent_layers",
           "recorded_mistakes", "rel_error"]

#: Tolerance on the relative error of float32 computations.
TOLERANCE = 1e-5
#: The public fixtures, one ``<question>.npz`` each, written by ``python -m grader record
#: --public``.
FIXTURES = Path(__file__).resolve().parent / "fixtures"
_INPUT, _EXPECTED = "input.", "expected."


def fixture(question, prefix=""):
    """The public fixture of ``question``: ``(inputs, expected)``, two dicts of NumPy arrays.

    The grader's recorder wrote it with its probe's inputs (``inputs``) and the kit's reference
    outputs on them (``expected``, float64 where the values are real), the same way as its
    hidden references but from other seeds. ``expected["<output>@<mutant>"]`` is what the
    mutant ``<mutant>`` outputs (see :data:`course_kit.feedback.MISTAKES`). With ``prefix``,
    only the keys that start with it, without it (``"gru_"`` for the GRU of q1_9).

    Raises:
        FileNotFoundError: naming the missing file and the command that makes it.
    """
    path = FIXTURES / f"{question}.npz"
    if not path.is_file():
        raise FileNotFoundError(f"no fixture for {question} at {path}; reinstall course_kit, or "
                                "run `python -m grader record --public` in its repository")
    with np.load(path, allow_pickle=False) as archive:
        arrays = {key: archive[key] for key in archive.files}

    def part(kind):
        start = kind + prefix
        return {k[len(start):]: v for k, v in arrays.items() if k.startswith(start)}

    return part(_INPUT), part(_EXPECTED)


def recurrent_layers(model):
    """The recurrent layers (``keras.layers.RNN``, Keras' ``LSTM`` and ``GRU`` among them)
    anywhere inside ``model``, each once; both halves of a ``Bidirectional`` are listed."""
    if not isinstance(model, keras.layers.Layer):
        return []
    found = [model, *model._flatten_layers(include_self=False, recursive=True)]
    return list({id(layer): layer for layer in found
                 if isinstance(layer, keras.layers.RNN)}.values())


@contextmanager
def recurrent_inputs_replaced(layers, replace):
    """Within the block, each recurrent layer of ``layers`` runs on ``replace(layer,
    sequences)`` instead of the sequences ``(batch, time, features)`` it is called on, the
    rest of the model unchanged: an intervention on what the recurrent layers read, to see
    which of a model's answers they carry. The layers are restored afterwards."""
    layers = list({id(layer): layer for layer in layers}.values())

    def replacing(layer, call):
        def replaced(sequences, *args, **kwargs):
            return call(replace(layer, sequences), *args, **kwargs)
        return replaced

    for layer in layers:
        layer.call = replacing(layer, layer.call)
    try:
        yield
    finally:
        for layer in layers:
            del layer.call


def floats(array):
    """A recorded float array as a backend tensor in Keras' ``floatx`` (float32 unless set),
    what a student's layer computes in."""
    return ops.convert_to_tensor(np.asarray(array, dtype=keras.config.floatx()))


def recorded_mistakes(question, expected, output):
    """``{mistake: [arrays]}``: the recorded ``output`` of every mutant that makes each mistake
    of ``course_kit.feedback.MISTAKES[question]``, found in the fixture's ``expected``."""
    found = {}
    for mistake, mutants in MISTAKES.get(question, {}).items():
        arrays = [expected[f"{output}@{mutant}"] for mutant in mutants
                  if f"{output}@{mutant}" in expected]
        if arrays:
            found[mistake] = arrays
    return found


class CheckFailed(AssertionError):
    """A visible check found a difference from the reference; the message says what to fix.

    It is an ``AssertionError``, so pytest and nbval treat it as a failed check. In a notebook
    IPython shows :meth:`_render_traceback_` instead of the traceback: the failed comparison
    and its hint, not the check's internals.

    Args:
        title: what was checked, e.g. ``"q1_2 VanillaRNNCell"``.
        failed: what differs, e.g. ``"h_t at every step"``.
        hint: what to do about it.
    """

    def __init__(self, title, failed, hint):
        super().__init__(f"{title}: {failed}; hint: {hint}")
        self.title, self.failed, self.hint = title, failed, hint

    def __reduce__(self):  # the arguments are not the message: pickle them
        return type(self), (self.title, self.failed, self.hint)

    def _render_traceback_(self):
        """The two lines IPython shows for this exception: what failed, and the hint."""
        return [f"FAIL {self.title}: {self.failed}", f"  hint: {self.hint}"]


def rel_error(actual, expected):
    """:func:`course_kit.feedback.relative_error` of two arrays or backend tensors.

    Raises:
        ValueError: if the shapes differ.
    """
    return relative_error(_numpy(actual), _numpy(expected))


def _numpy(value):
    """A float64 NumPy copy of an array or a backend tensor (detached from autodiff)."""
    if not isinstance(value, (np.ndarray, np.generic, list, tuple, float, int)):
        value = ops.convert_to_numpy(value)
    return np.asarray(value, dtype=np.float64)


def fast_mode():
    """Whether ``COURSE_KIT_FAST=1`` asks for the short version of the experiments."""
    return os.environ.get("COURSE_KIT_FAST", "0").strip().lower() in ("1", "true", "yes")


class Report:
    """The printed lines and the verdict of one check of question ``question``.

    Use it as a context manager around the check: on leaving the block it prints
    ``PASS <question> <subject>: <claim>``, or raises :class:`CheckFailed` with the first
    failed comparison and its hint. A ``NotImplementedError`` raised inside the block (a
    graded cell that still holds its stub) becomes a ``CheckFailed`` that says so.

    Args:
        question: question id, the key of ``course_kit.feedback.HINTS``.
        subject: what is checked, usually the student's class or function name.
        claim: what passing means, e.g. ``"matches the kit's rnn cell"``.
        hint_prefix: prefix of this subject's keys in ``HINTS[question]``, for a question that
            checks several subjects (``"gru_"`` for ``HINTS["q1_9"]["gru_outputs"]``).

    Example:

    >>> with Report("q1_5", "count_parameters", "counts the parameters") as report:
    ...     right = report.record("d=1, n=1, c=1", "yours 14, model 14", True, "counts")
      d=1, n=1, c=1: yours 14, model 14
    PASS q1_5 count_parameters: counts the parameters
    """

    def __init__(self, question, subject, claim, hint_prefix=""):
        self.question, self.claim, self.hint_prefix = question, claim, hint_prefix
        self.title = f"{question} {subject}"
        self.failures = []  # (label, hint) of every failed comparison, in order

    def __enter__(self):
        return self

    def __exit__(self, error_type, error, traceback):
        if error_type is not None and issubclass(error_type, NotImplementedError):
            raise CheckFailed(self.title, "not implemented yet",
                              HINTS[self.question]["not_implemented"]) from None
        if error_type is not None:
            return False
        if self.failures:
            labels = ", ".join(label for label, _ in self.failures)
            raise CheckFailed(self.title, labels, self.failures[0][1])
        print(f"PASS {self.title}: {self.claim}")
        return False

    def hint(self, key):
        """The hint ``key`` of this subject (a compared quantity or a mistake)."""
        return HINTS[self.question][self.hint_prefix + key]

    def record(self, label, text, ok, key):
        """Print ``label: text``; unless ``ok``, add ``<-- hint`` and remember the failure."""
        if ok:
            print(f"  {label}: {text}")
            return True
        hint = self.hint(key)
        print(f"  {label}: {text}  <-- {hint}")
        self.failures.append((label, hint))
        return False

    def stop(self, label, text, key):
        """Record a failure that makes the rest of the check meaningless, and raise."""
        self.record(label, text, False, key)
        raise CheckFailed(self.title, label, self.hint(key))

    def arrays(self, label, actual, expected, key, tolerance=TOLERANCE, mistakes=None):
        """Compare two arrays by relative error; return whether it is within ``tolerance``.

        Args:
            label: what is compared, printed at the start of the line.
            actual, expected: arrays or backend tensors.
            key: the hint of a difference.
            tolerance: the largest relative error that passes.
            mistakes: ``{mistake: [arrays]}`` (:func:`recorded_mistakes`): what references
                making each mistake of ``course_kit.feedback.MISTAKES`` computed; when
                ``actual`` fails but matches one of them, the line gets that mistake's hint.
        """
        actual, expected = _numpy(actual), _numpy(expected)
        if actual.shape != expected.shape:
            return self.record(label, f"shape {actual.shape}, expected {expected.shape}",
                               False, key)
        if not np.all(np.isfinite(actual)):
            return self.record(label, "contains NaN or inf", False, key)
        error = relative_error(actual, expected)
        if error <= tolerance:
            return self.record(label, f"relative error {error:.2e}", True, key)
        for name, variants in (mistakes or {}).items():
            if any(np.shape(v) == actual.shape and relative_error(actual, _numpy(v)) <= tolerance
                   for v in variants):
                key = name
                break
        return self.record(label, f"relative error {error:.2e}", False, key)

    def same_ids(self, label, actual, expected, key):
        """Compare two sequences of token ids exactly, printing the student's."""
        actual = np.asarray(actual).reshape(-1)
        expected = np.asarray(expected).reshape(-1)
        same = actual.shape == expected.shape and np.array_equal(actual, expected)
        text = str(actual.tolist()) + ("" if same else f", expected {expected.tolist()}")
        return self.record(label, text, same, key)

"""The questions of the curriculum, gathered from :mod:`grader.questions`, and their types.

Each automatically checked question is one module ``grader/questions/<id>.py`` holding all
of it: its :class:`Question` (title, points, notebook, graded cells, forbidden names,
checks with tolerances, rubric), its *probe* (what runs inside the student process), how
its reference is recorded, and the wrong answers (``MUTANTS``) and differently written
right answers (``ALTERNATIVES``) that prove its checks (``python -m grader mutants``). See
``docs/adding_a_question.md``. This module keeps only what they share: the types, the
forbidden lists, and :data:`QUESTIONS`, built by listing the package.

A question scores ``auto_points`` from its automatic checks (partial credit per check) and
``manual_points`` from its rubric (marked by a person and merged with ``merge-manual``).
A graded code cell has the question's id (``q1_2``); a free-text answer cell has the id with
``_answer`` appended (``q1_2_answer``).

The grader's own process never imports Keras or a framework: question modules import them
only inside their functions, so listing them here is cheap.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Mapping
from dataclasses import dataclass, field

__all__ = ["AUTODIFF", "Check", "KERAS_GRAPH", "KERAS_RECURRENT", "KIT_ANSWERS", "NOTEBOOKS",
           "OPTIMIZER_LIBRARIES", "QUESTIONS", "Question", "RubricItem", "module", "select"]

# What an implementation question may not use: the kit's own answers and Keras' built-in
# recurrent and dense layers (a dotted prefix matches a module, a class or anything inside).
# grader/policy.py applies these lists to the submitted source: a Keras class is also
# refused under any other path that ends in its name (keras.src..., tf.keras.layers...), a
# kit answer module under any re-export, and reflection or dynamic code is refused outright.
KIT_ANSWERS = ("course_kit.layers", "course_kit.models", "course_kit.sampling",
               "course_kit.training", "course_kit.graphs")
# Other libraries' layers (torch.nn, flax, spektral, ...) are refused by the policy itself,
# not listed here: these lists also go to the student process, where the probe looks for
# them in the student's classes, and on the torch backend every Keras layer is a
# torch.nn.Module.
KERAS_RECURRENT = ("keras.layers.SimpleRNNCell", "keras.layers.SimpleRNN", "keras.layers.LSTMCell",
                   "keras.layers.LSTM", "keras.layers.GRUCell", "keras.layers.GRU",
                   "keras.layers.RNN", "keras.layers.ConvLSTM1D", "keras.layers.ConvLSTM2D",
                   "keras.layers.ConvLSTM3D", "keras.layers.Dense", "keras.layers.EinsumDense")
KERAS_GRAPH = ("keras.layers.Dense", "keras.layers.EinsumDense", "keras.layers.Attention",
               "keras.layers.AdditiveAttention", "keras.layers.MultiHeadAttention",
               "keras.layers.GroupQueryAttention")
# What a derivative by hand (q1_1) may not use: the frameworks' automatic differentiation
# (the whole framework: a forward pass in it is one call away from its gradient), the kit's
# gradient helper, and libraries that differentiate numerically or symbolically. Finite
# differences in NumPy are caught by the tolerance instead (q1_1's module says how).
AUTODIFF = ("keras", "tensorflow", "tf_keras", "jax", "torch", "autograd", "course_kit.autodiff",
            "scipy.differentiate", "scipy.optimize.approx_fprime", "scipy.optimize.check_grad",
            "numdifftools", "sympy")
OPTIMIZER_LIBRARIES = ("keras.optimizers", "tensorflow.keras.optimizers", "tf_keras.optimizers",
                       "tensorflow.optimizers", "torch.optim", "optax",
                       "jax.example_libraries.optimizers")

CHECK_KINDS = ("allclose", "equal", "accuracy", "distribution", "at_least")


@dataclass(frozen=True)
class Check:
    """One automatic check: compares the probe's array ``output`` with the reference.

    ``kind`` is ``"allclose"`` (shape, then ``|student - ref| <= atol + rtol * |ref|``; the
    message gives the notebooks' relative error), ``"equal"`` (exact, for integers and
    booleans), ``"accuracy"`` (the output holds predicted labels; the reference holds the
    true labels, which never leave the grader; it passes when the accuracy reaches
    ``threshold``), ``"distribution"`` (the output holds counts of random draws, the
    reference the probabilities; it passes when their total variation distance is at most
    ``threshold``) or ``"at_least"`` (every entry of the output reaches the reference entry
    at the same place: the reference holds the thresholds).

    ``mistakes`` pairs a hint key of ``course_kit.feedback.HINTS`` with the name of a mutant
    whose output was recorded as ``<reference key>@<mutant>``: a failing output that matches
    it gets that hint, the notebook's words for that mistake. ``requires`` names the outputs
    of other checks of the question that must pass for this one to score (the accuracy of
    a model that is not the model asked for is worth nothing).
    """

    name: str
    points: float
    output: str
    kind: str = "allclose"
    reference: str | None = None
    rtol: float = 1e-4
    atol: float = 1e-5
    threshold: float = 0.0
    mistakes: tuple[tuple[str, str], ...] = ()
    requires: tuple[str, ...] = ()

    def __post_init__(self):
        if self.kind not in CHECK_KINDS:
            raise ValueError(f"check {self.name!r}: kind must be one of {CHECK_KINDS}, "
                             f"got {self.kind!r}")

    @property
    def reference_key(self) -> str:
        return self.reference or self.output


@dataclass(frozen=True)
class RubricItem:
    text: str
    points: float


@dataclass(frozen=True)
class Question:
    """One question. ``cells`` are the graded code cells run for it, in order (its own id
    unless stated: q1_3 also runs q1_2's cell, whose VanillaRNNCell it trains)."""

    id: str
    title: str
    part: int
    notebook: str
    checks: tuple[Check, ...] = ()
    rubric: tuple[RubricItem, ...] = ()
    forbidden: tuple[str, ...] = ()
    # Names too broad to look for in the student's objects (a whole framework, whose classes
    # are every Keras layer's bases): refused in the graded cells' source only.
    forbidden_in_source: tuple[str, ...] = ()
    bonus: bool = False
    time_factor: float = 1.0
    cells: tuple[str, ...] = field(default=())

    def __post_init__(self):
        outputs = {check.output for check in self.checks}
        for check in self.checks:
            unknown = [output for output in check.requires if output not in outputs]
            if isinstance(check.requires, str) or unknown:
                raise ValueError(f"{self.id}: check {check.name!r} requires outputs "
                                 f"{check.requires!r}: a tuple of outputs of the question's "
                                 f"checks ({sorted(outputs)})")

    @property
    def policy_names(self) -> tuple[str, ...]:
        """Everything the source policy refuses in the graded cells."""
        return self.forbidden + self.forbidden_in_source

    @property
    def probe(self) -> str:
        """The module whose ``probe`` the student process calls (``questions.<id>``)."""
        return f"questions.{self.id}"

    @property
    def code_cells(self) -> tuple[str, ...]:
        """Graded code cells executed for this question (its own id unless stated)."""
        return self.cells or ((self.id,) if self.checks else ())

    @property
    def depends(self) -> tuple[str, ...]:
        """Other questions whose cells this one runs."""
        return tuple(cell for cell in self.code_cells if cell != self.id)

    @property
    def answer_cells(self) -> tuple[str, ...]:
        return (f"{self.id}_answer",) if self.rubric else ()

    @property
    def auto_points(self) -> float:
        return sum(check.points for check in self.checks)

    @property
    def manual_points(self) -> float:
        return sum(item.points for item in self.rubric)

    @property
    def points(self) -> float:
        return self.auto_points + self.manual_points

    @property
    def automatic(self) -> bool:
        return bool(self.checks)


def _order(qid: str) -> tuple[int, ...]:
    return tuple(int(part) for part in qid[1:].split("_"))


def module(qid: str):
    """The module ``grader.questions.<qid>`` (imports no framework).

    Raises:
        ValueError: for an id that is not a question.
    """
    if qid not in QUESTIONS:
        raise ValueError(f"unknown question id {qid!r}; known: {', '.join(QUESTIONS)}")
    return importlib.import_module(f"grader.questions.{qid}")


def _load() -> dict[str, Question]:
    from grader import questions

    found = {}
    for info in pkgutil.iter_modules(questions.__path__):
        if info.name.startswith("_"):
            continue
        loaded = importlib.import_module(f"grader.questions.{info.name}")
        question = getattr(loaded, "QUESTION", None)
        if not isinstance(question, Question) or question.id != info.name:
            raise RuntimeError(f"grader/questions/{info.name}.py must define QUESTION, a "
                               f"Question with id {info.name!r}")
        found[question.id] = question
    return dict(sorted(found.items(), key=lambda item: _order(item[0])))


class _Listed(Mapping):
    """A read-only mapping built on first use, so that a question module (which imports the
    types above) can be imported on its own, before or without the others."""

    def __init__(self, build):
        self._build, self._data = build, None

    def _loaded(self) -> dict:
        if self._data is None:
            self._data = self._build()
        return self._data

    def __getitem__(self, key):
        return self._loaded()[key]

    def __iter__(self):
        return iter(self._loaded())

    def __len__(self):
        return len(self._loaded())

    def __repr__(self):
        return repr(self._loaded())


QUESTIONS: Mapping[str, Question] = _Listed(_load)
# The notebook that asks each question.
NOTEBOOKS: Mapping[str, str] = _Listed(lambda: {qid: q.notebook for qid, q in QUESTIONS.items()})


def select(only: str | None = None) -> list[Question]:
    """The questions named in a comma-separated ``only`` (all when None).

    Raises:
        ValueError: naming every unknown id.
    """
    if not only:
        return list(QUESTIONS.values())
    wanted = [item.strip() for item in only.split(",") if item.strip()]
    unknown = [item for item in wanted if item not in QUESTIONS]
    if unknown:
        raise ValueError(f"--only: unknown question id(s) {', '.join(unknown)}; known: "
                         f"{', '.join(QUESTIONS)}")
    return [QUESTIONS[item] for item in wanted]

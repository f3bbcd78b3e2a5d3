"""Visible checks that students run inside the notebooks, in the style of CS231n.

Each check runs the student's code on the inputs of its question's public fixture,
``course_kit/checks/fixtures/<question>.npz``, and compares the results with the outputs
recorded there: what the kit's reference implementation (or Keras, or automatic
differentiation) gave on those inputs, and what some common mistakes give. The grader
records the fixtures with the same recorders as its hidden references, from other inputs
(``python -m grader record --public``), so nothing is computed here from an answer, and a
cell that replays a fixture earns nothing.

A check prints one line per comparison with the relative error
(:func:`course_kit.feedback.relative_error`), and ends with a ``PASS`` line, returning
``None``. A failure marks the failing comparisons with ``<--`` and a hint, then raises
:class:`CheckFailed`, which a notebook shows in two lines instead of a traceback, so "Run all"
stops at the first piece that needs work. In float32 a correct implementation scores about
1e-7; the default tolerance is 1e-5.

The checks live by part: :mod:`course_kit.checks.recurrent` (Part 1),
:mod:`course_kit.checks.text` (Part 2) and :mod:`course_kit.checks.graphs` (Part 3); what they
share is in :mod:`course_kit.checks._common`, and the hints in :mod:`course_kit.feedback`.
"""

from course_kit.checks._common import TOLERANCE, CheckFailed, fast_mode, rel_error
from course_kit.checks.graphs import (
    check_a_plus_i,
    check_gat_layer,
    check_gcn_layer,
    check_gcn_normalize,
    check_graph_lstm_cell,
)
from course_kit.checks.recurrent import (
    OPTIMIZERS,
    check_accuracy,
    check_bptt,
    check_cell,
    check_environment,
    check_gradient_norms,
    check_optimizer,
    check_parameter_count,
)
from course_kit.checks.text import (
    ToyCharModel,
    check_beam_search,
    check_completion,
    check_greedy,
    check_temperature,
    check_text_model,
)

__all__ = [
    "OPTIMIZERS",
    "TOLERANCE",
    "CheckFailed",
    "ToyCharModel",
    "check_a_plus_i",
    "check_accuracy",
    "check_beam_search",
    "check_bptt",
    "check_cell",
    "check_completion",
    "check_environment",
    "check_gat_layer",
    "check_gcn_layer",
    "check_gcn_normalize",
    "check_gradient_norms",
    "check_graph_lstm_cell",
    "check_greedy",
    "check_optimizer",
    "check_parameter_count",
    "check_temperature",
    "check_text_model",
    "fast_mode",
    "rel_error",
]

"""Visible checks that students run inside the notebooks, in the style of CS231n.

Each check runs the student's code and the kit's reference implementation (or an analytic
answer) on the same fixed random inputs, prints one line per comparison with the relative
error (:func:`course_kit.feedback.relative_error`), and ends with a ``PASS`` line, returning
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
    GraphLSTMReference,
    check_a_plus_i,
    check_gat_layer,
    check_gcn_layer,
    check_gcn_normalize,
    check_graph_lstm_cell,
    dense_attention,
)
from course_kit.checks.recurrent import (
    OPTIMIZERS,
    _reference_cell,  # noqa: F401  (reached by the grader's red-team submissions)
    check_accuracy,
    check_bptt,
    check_cell,
    check_environment,
    check_gradient_norms,
    check_optimizer,
    check_parameter_count,
    compare_cells,
)
from course_kit.checks.text import (
    ToyCharModel,
    check_beam_search,
    check_completion,
    check_greedy,
    check_temperature,
    check_text_model,
    greedy_continuation,
)

__all__ = [
    "OPTIMIZERS",
    "TOLERANCE",
    "CheckFailed",
    "GraphLSTMReference",
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
    "compare_cells",
    "dense_attention",
    "fast_mode",
    "greedy_continuation",
    "rel_error",
]

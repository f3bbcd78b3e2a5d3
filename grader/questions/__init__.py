"""One module per question: ``q1_1.py`` ... ``q3_5.py`` (see ``docs/adding_a_question.md``).

Each module is the single place for its question and defines:

``QUESTION``
    the :class:`grader.registry.Question`: title, part, notebook, graded cells, forbidden
    names, checks (tolerances, recognised mistakes) and rubric.
``probe(namespace, context)``
    what runs inside the student process: builds the student's objects from the namespace
    the graded cells made, feeds them ``context``'s recorded inputs, returns arrays.
``record() -> (inputs, expected)``
    the recorded reference: seeded inputs and the kit's outputs on them (``python -m grader
    record`` runs it with Keras' floatx float64, on TensorFlow).
``MUTANTS`` and ``ALTERNATIVES``
    ``{name: cell source}``: wrong answers that must lose points, and right answers written
    differently that must score full marks (``python -m grader mutants``).

The grader's own process imports these modules to list the questions, so they import Keras,
the kit and the shared probe helpers only inside functions. The student process gets a copy
of each (``grader.jail.stage_runtime``) holding only ``probe`` and what it uses: no
``QUESTION``, ``record``, ``MUTANTS`` or ``ALTERNATIVES`` (the alternatives are answers).
There this package is the top-level ``questions`` and the helpers the top-level ``probes``.
"""

import importlib

__all__ = ["edit", "helpers", "swap_partners"]


def helpers():
    """The shared probe helpers: :mod:`grader.probes` in the grader's process, the top-level
    ``probes`` module in the student process. Imports Keras."""
    parent = __name__.rpartition(".")[0]
    return importlib.import_module(f"{parent}.probes" if parent else "probes")


def edit(source, *replacements):
    """``source`` with each ``(old, new)`` of ``replacements`` applied, where ``old`` must
    occur exactly once (a mutant whose edit no longer applies fails loudly, not silently)."""
    for old, new in replacements:
        count = source.count(old)
        if count != 1:
            raise ValueError(f"edit: {old!r} occurs {count} times in the source, expected once")
        source = source.replace(old, new)
    return source


def swap_partners(labels, step, seed):
    """For each sample ``i``, another sample ``j`` whose deciding symbol sits at the same step
    (``step[j] == step[i]``) and whose label differs, drawn with ``seed``; one with the same
    label where no other label shares the step, and ``i`` itself where no sample does. Used
    by :func:`grader.probes.swapped_step_predictions`: handed ``j``'s symbol, a model that
    remembers it answers ``labels[j]``."""
    import numpy as np

    labels, step = np.asarray(labels), np.asarray(step)
    rng = np.random.default_rng(seed)
    samples = np.arange(len(labels))
    partner = samples.copy()
    for i in samples:
        same_step = np.flatnonzero((step == step[i]) & (samples != i))
        other_label = same_step[labels[same_step] != labels[i]]
        candidates = other_label if other_label.size else same_step
        if candidates.size:
            partner[i] = rng.choice(candidates)
    return partner

"""The recorded references, and the public fixtures of the notebooks' checks, stay equal to what
the kit computes now, on this backend; the fixtures are not the references."""

import numpy as np
import pytest

from grader import references
from grader.policy import violations
from grader.registry import QUESTIONS, module
from grader.scoring import compare

PUBLIC = references.public_recordable()

# The references are recorded on TensorFlow, in float64. On JAX and PyTorch parts of the
# computation run in float32 (see grader.references.record): agreement to float32 precision.
TOLERANCE = {"tensorflow": (1e-9, 1e-12), "jax": (1e-5, 1e-6), "torch": (1e-5, 1e-6)}


def _assert_recorded_now(qid, backend, public):
    rtol, atol = TOLERANCE[backend]
    directory = references.PUBLIC_DIR if public else references.REFERENCE_DIR
    command = "python -m grader record" + (" --public" if public else "")
    stored_inputs, stored_expected = references.load(qid, directory)
    inputs, expected = references.compute(qid, public)
    assert sorted(stored_inputs) == sorted(inputs)
    for name in inputs:
        np.testing.assert_array_equal(stored_inputs[name], inputs[name], err_msg=f"input {name}")
    assert sorted(stored_expected) == sorted(expected)
    for name in expected:
        np.testing.assert_allclose(stored_expected[name], expected[name], rtol=rtol, atol=atol,
                                   err_msg=f"{qid}: expected {name} changed; run `{command}` "
                                           "if the change is intended")


@pytest.mark.parametrize("qid", references.recordable())
def test_stored_reference_equals_library(qid, backend):
    _assert_recorded_now(qid, backend, public=False)


@pytest.mark.parametrize("qid", PUBLIC)
def test_public_fixture_equals_library(qid, backend):
    _assert_recorded_now(qid, backend, public=True)


def test_the_fixtures_are_those_of_the_questions_with_a_visible_check():
    assert sorted(p.name for p in references.PUBLIC_DIR.iterdir()) == [f"{q}.npz" for q in PUBLIC]
    assert set(references.recordable()) - set(PUBLIC) == {"q1_3", "q1_8"}  # trained models


@pytest.mark.parametrize("qid", PUBLIC)
def test_public_fixture_inputs_are_not_the_hidden_ones(qid):
    """Replaying a fixture earns nothing: no recorded input of the fixture (beyond settings of
    one or two numbers the question fixes: taus, lengths, widths, labels of tiny batches) is
    one of the hidden reference's, under any name."""
    hidden, _ = references.load(qid)
    public, _ = references.load(qid, references.PUBLIC_DIR)
    if qid == "q3_2":
        # The question asks for A+I of the kit's two example graphs, which the notebook draws:
        # there are no inputs, and the answers are the curriculum's, not a secret.
        assert not hidden and not public
        return
    assert public and public.keys() == hidden.keys()
    for name, value in public.items():
        if value.size > 2:
            reused = [other for other, hidden_value in hidden.items()
                      if hidden_value.shape == value.shape and np.array_equal(hidden_value, value)]
            assert not reused, f"{qid}: public input {name} is the hidden input {reused}"


def _failed_checks(qid, outputs, expected):
    return {check.output for check in QUESTIONS[qid].checks
            if not compare(check, outputs, expected)["passed"]}


@pytest.mark.slow
@pytest.mark.parametrize("qid", PUBLIC)
def test_public_fixtures_catch_the_mutants_the_references_catch(qid):
    """On the fixture's inputs the same mutants of the question fail a check as on the hidden
    inputs (all but those only the policy catches, such as q1_5's kit_answer), so a visible
    check does not pass what the grader penalises."""
    question_module = module(qid)

    def caught_by(source, inputs, expected):
        try:
            outputs = references.run_cells(question_module.probe, [source], inputs)
        except Exception:  # a mutant that raises (on this backend) loses every point
            return True
        return bool(_failed_checks(qid, outputs, expected))

    # What the source policy refuses is refused whatever its outputs; the visible checks
    # cannot apply it, and the question's other checks need not agree on it.
    policy_caught = {name for name, source in question_module.MUTANTS.items()
                     if violations([source], QUESTIONS[qid].policy_names)}
    caught = {}
    for where in (references.REFERENCE_DIR, references.PUBLIC_DIR):
        inputs, expected = references.load(qid, where)
        with references.float64():
            caught[where] = {name: caught_by(source, inputs, expected)
                             for name, source in question_module.MUTANTS.items()
                             if name not in policy_caught}
    assert caught[references.PUBLIC_DIR] == caught[references.REFERENCE_DIR]


def test_example_graph_references_match_the_curriculum():
    _, expected = references.load("q3_2")
    rows = {"fall2019": "110011 111100 011100 011101 100011 100111",
            "2020": "110011 110100 001100 011101 100010 100101"}
    for name, text in rows.items():
        matrix = np.array([[int(c) for c in row] for row in text.split()])
        np.testing.assert_array_equal(expected[f"a_plus_i_{name}"], matrix)
    assert int(expected["updates_fall2019"]) == 3 and int(expected["updates_2020"]) == 4


def test_parameter_count_reference_matches_the_formula():
    inputs, expected = references.load("q1_5")
    formula = [4 * (d * n + n * n + n) + n * c + c for d, n, c in inputs["sizes"]]
    assert expected["counts"].tolist() == formula


def test_missing_reference_names_the_command(tmp_path):
    with pytest.raises(FileNotFoundError, match="python -m grader record"):
        references.load("q1_2", tmp_path)


def test_the_step_model_oracles_agree_with_brute_force():
    import itertools

    from course_kit.checks import ToyCharModel
    from course_kit.sampling import (
        beam_search_ids,
        exhaustive_best_ids,
        greedy_ids,
        sequence_log_probability,
    )

    model = ToyCharModel.random(seed=2)
    scores = {(1, *tail): sequence_log_probability(model, (1, *tail))
              for tail in itertools.product(range(model.vocab_size), repeat=4)}
    best = max(scores, key=scores.get)
    np.testing.assert_array_equal(exhaustive_best_ids(model, 1, 5), best)
    np.testing.assert_array_equal(beam_search_ids(model, 1, 5, 5**4), best)
    np.testing.assert_array_equal(beam_search_ids(model, 1, 5, 1), greedy_ids(model, [1], 5))


@pytest.mark.parametrize("directory", [references.REFERENCE_DIR, references.PUBLIC_DIR])
def test_beam_references_prune_on_models_where_the_searches_disagree(directory):
    from course_kit.sampling import exhaustive_best_ids, greedy_ids
    from grader.probes import Context, toy_model

    inputs, expected = references.load("q2_5", directory)
    first, length = int(inputs["first_token"]), int(inputs["length"])
    assert list(inputs["widths"]) == [2, 3]
    for row, width in enumerate(inputs["widths"]):
        model = toy_model(Context(inputs), prefix=f"width_{width}_model_")
        beam = expected["beam"][row]
        assert not np.array_equal(beam, greedy_ids(model, [first], length))
        assert not np.array_equal(beam, exhaustive_best_ids(model, first, length))


@pytest.mark.parametrize("directory", [references.REFERENCE_DIR, references.PUBLIC_DIR])
def test_optimizer_gradients_span_the_sizes_where_epsilon_matters(directory):
    inputs, _ = references.load("q1_4", directory)
    for name in ("momentum", "rmsprop", "adam"):
        sizes = np.abs(inputs[f"grads_{name}"]).max(axis=0)
        assert sizes.max() > 1e3 and sizes.min() < 1e-3, (name, sizes)

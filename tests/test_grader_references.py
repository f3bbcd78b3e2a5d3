"""The recorded references stay equal to what the kit computes now, on this backend."""

import numpy as np
import pytest

from grader import references

# The references are recorded on TensorFlow, in float64. On JAX and PyTorch parts of the
# computation run in float32 (see grader.references.record): agreement to float32 precision.
TOLERANCE = {"tensorflow": (1e-9, 1e-12), "jax": (1e-5, 1e-6), "torch": (1e-5, 1e-6)}


@pytest.mark.parametrize("qid", references.recordable())
def test_stored_reference_equals_library(qid, backend):
    rtol, atol = TOLERANCE[backend]
    stored_inputs, stored_expected = references.load(qid)
    inputs, expected = references.compute(qid)
    assert sorted(stored_inputs) == sorted(inputs)
    for name in inputs:
        np.testing.assert_array_equal(stored_inputs[name], inputs[name], err_msg=f"input {name}")
    assert sorted(stored_expected) == sorted(expected)
    for name in expected:
        np.testing.assert_allclose(stored_expected[name], expected[name], rtol=rtol, atol=atol,
                                   err_msg=f"{qid}: expected {name} changed; run "
                                           "`python -m grader record` if the change is intended")


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


def test_beam_references_prune_on_models_where_the_searches_disagree():
    from course_kit.sampling import exhaustive_best_ids, greedy_ids
    from grader.probes import Context, toy_model

    inputs, expected = references.load("q2_5")
    first, length = int(inputs["first_token"]), int(inputs["length"])
    assert list(inputs["widths"]) == [2, 3]
    for row, width in enumerate(inputs["widths"]):
        model = toy_model(Context(inputs), prefix=f"width_{width}_model_")
        beam = expected["beam"][row]
        assert not np.array_equal(beam, greedy_ids(model, [first], length))
        assert not np.array_equal(beam, exhaustive_best_ids(model, first, length))


def test_optimizer_gradients_span_the_sizes_where_epsilon_matters():
    inputs, _ = references.load("q1_4")
    for name in ("momentum", "rmsprop", "adam"):
        sizes = np.abs(inputs[f"grads_{name}"]).max(axis=0)
        assert sizes.max() > 1e3 and sizes.min() < 1e-3, (name, sizes)

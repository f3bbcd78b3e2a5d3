"""Checks that can fail: every question's wrong answers lose points, its other right answers
score full marks (``python -m grader mutants``), and the question modules stay in their
place (no framework in the grader's process, no answer in the jail).

The mutation runs grade through the normal path, jail included, on every backend (CI's run
per backend prints its own tables): a tolerance or a probe that only holds on one backend
shows up there. The training questions (q1_3, q1_8) train a model per answer: they run on
TensorFlow, where training is fastest. The tables are printed at the end of the pytest run.
"""

import ast
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import MUTATION_TABLES

from course_kit.feedback import HINTS
from grader import jail, mutants, references
from grader.registry import QUESTIONS, module
from grader.sandbox import Outcome
from grader.scoring import compare, score_question
from grader.scoring import relative_error as probes_relative_error

ROOT = Path(__file__).resolve().parents[1]
AUTOMATIC = [qid for qid, q in QUESTIONS.items() if q.automatic]
TRAINING = [qid for qid in AUTOMATIC if QUESTIONS[qid].time_factor > 1]
QUICK = [qid for qid in AUTOMATIC if qid not in TRAINING]


# ---------------------------------------------------------------- the modules


@pytest.mark.parametrize("qid", AUTOMATIC)
def test_every_question_has_three_mutants_and_an_alternative(qid):
    loaded = module(qid)
    assert loaded.QUESTION is QUESTIONS[qid]
    assert callable(loaded.probe) and callable(loaded.record)
    assert len(loaded.MUTANTS) >= 3 and len(loaded.ALTERNATIVES) >= 1
    sources = {**loaded.MUTANTS, **loaded.ALTERNATIVES}
    assert len(sources) == len(loaded.MUTANTS) + len(loaded.ALTERNATIVES), "names must differ"
    for name, source in sources.items():
        ast.parse(source, f"{qid}.{name}")
    assert not set(loaded.MUTANTS.values()) & set(loaded.ALTERNATIVES.values())


def test_registry_lists_one_module_per_question():
    files = sorted(p.stem for p in (ROOT / "grader" / "questions").glob("q*.py"))
    assert files == list(QUESTIONS)
    assert all(q.notebook.endswith(".ipynb") for q in QUESTIONS.values())


def test_listing_the_questions_imports_no_framework():
    code = ("import sys\nfrom grader.registry import QUESTIONS\nfrom grader import mutants\n"
            "mutants.variants(slow=True)\n"
            "print(sorted({m.split('.')[0] for m in sys.modules} & "
            "{'keras', 'tensorflow', 'jax', 'torch'}))\n"
            "print(sorted(m for m in sys.modules if m.startswith('course_kit')))")
    env = {k: v for k, v in os.environ.items() if k != "KERAS_BACKEND"}
    run = subprocess.run([sys.executable, "-c", code], env={**env, "PYTHONPATH": str(ROOT)},
                         capture_output=True, text=True, check=True)
    frameworks, kit_modules = run.stdout.strip().splitlines()
    assert frameworks == "[]"
    # The package itself (its TensorFlow log filter), no more.
    assert kit_modules == str(["course_kit", "course_kit._edition", "course_kit._tensorflow_logs"])


# ---------------------------------------------------------------- the jail


@pytest.fixture(scope="module")
def staged(tmp_path_factory):
    folder = tmp_path_factory.mktemp("runtime")
    jail.stage_runtime(folder)
    return folder


def _significant_lines(source):
    """The lines of an answer that say something (not imports, blanks or short lines)."""
    return [line.strip() for line in source.splitlines()
            if len(line.strip()) > 30 and not line.strip().startswith(("import ", "from "))]


def test_no_alternative_answer_reaches_the_jail(staged):
    texts = {path: path.read_text(errors="replace") for path in staged.rglob("*")
             if path.is_file()}
    staged_questions = {p: t for p, t in texts.items() if "questions" in p.parts}
    for qid in AUTOMATIC:
        for name, source in module(qid).ALTERNATIVES.items():
            answer = source.strip()
            leaks = [str(p) for p, text in texts.items() if answer in text]
            assert not leaks, f"{qid} alternative {name} in {leaks}"
            for line in _significant_lines(source):
                assert not any(line in text for text in staged_questions.values()), (qid, line)
    for text in staged_questions.values():
        tree = ast.parse(text)
        names = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}
        assert not names & {"MUTANTS", "ALTERNATIVES", "QUESTION", "record", "_ANSWER"}
        imported = [n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)]
        imported += [a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names]
        assert not [m for m in imported if m and m.split(".")[0] == "grader"]


def test_staged_question_modules_import_and_expose_their_probe(staged):
    code = ("import sys, importlib\nsys.path.insert(0, sys.argv[1])\n"
            f"for qid in {AUTOMATIC!r}:\n"
            "    m = importlib.import_module('questions.' + qid)\n"
            "    assert callable(m.probe), qid\n"
            "    assert not hasattr(m, 'MUTANTS') and not hasattr(m, 'record'), qid\n"
            "print(sorted({m.split('.')[0] for m in sys.modules} & {'keras', 'grader'}))")
    run = subprocess.run([sys.executable, "-I", "-c", code, str(staged / "child")],
                         capture_output=True, text=True, check=True)
    assert run.stdout.strip() == "[]"


def test_a_probe_that_needs_the_grader_package_is_refused_at_staging():
    source = ("from grader.registry import KIT_ANSWERS\n\n\n"
              "def probe(namespace, context):\n    return {'x': KIT_ANSWERS}\n")
    with pytest.raises(ValueError, match="no grader package"):
        jail.child_source(source)


# ---------------------------------------------------------------- feedback


def test_a_recognised_mistake_gets_the_notebooks_hint():
    question = QUESTIONS["q1_2"]
    _, expected = references.load("q1_2")
    check = next(c for c in question.checks if c.output == "outputs")
    mistaken = compare(check, {"outputs": expected["outputs@no_tanh"]}, expected, "q1_2")
    assert not mistaken["passed"]
    assert "known mistake" in mistaken["message"]
    assert HINTS["q1_2"]["no_tanh"] in mistaken["message"]
    other = compare(check, {"outputs": expected["outputs"] + 0.5}, expected, "q1_2")
    assert HINTS["q1_2"]["outputs"] in other["message"] and "known" not in other["message"]
    assert "relative error" in other["message"]


def test_draws_from_the_other_temperature_convention_get_its_hint():
    _, expected = references.load("q2_3")
    check = next(c for c in QUESTIONS["q2_3"].checks if c.output == "counts_2")
    counts = np.rint(expected["probabilities_2@divides_by_tau"] * 20000).astype(np.int64)
    result = compare(check, {"counts_2": counts}, expected, "q2_3")
    assert not result["passed"] and HINTS["q2_3"]["divides_by_tau"] in result["message"]


def test_accuracy_of_a_model_that_is_not_the_one_asked_for_scores_nothing():
    question = QUESTIONS["q1_3"]
    _, expected = references.load("q1_3")

    def graded(architecture, swapped):
        arrays = {"predictions": expected["labels"], "architecture": np.array(architecture),
                  "swapped_predictions": swapped}
        return score_question(question, Outcome("q1_3", "ok", arrays=arrays, header={}),
                              expected, ["x = 1"])

    remembers = expected["partner_labels"]
    entry = graded([1, 0, 0], remembers)
    assert entry["auto_score"] == 0 and entry["status"] == "failed"
    assert all("counts only when" in check["message"] for check in entry["checks"][1:])
    # a rule beside the RNN keeps its own answers when the RNN reads another sample's digit
    entry = graded([1, 1, 1], expected["labels"])
    assert [c["passed"] for c in entry["checks"]] == [True, False, False]
    assert 'counts only when "the RNN remembers' in entry["checks"][2]["message"]
    assert entry["auto_score"] == 1
    assert graded([1, 1, 1], remembers)["auto_score"] == question.auto_points


def test_a_requirement_withdrawn_in_turn_withdraws_the_checks_that_need_it():
    from grader.registry import Check, Question

    question = Question("q9_9", "chain", 1, "x.ipynb", checks=(
        Check("c", 1, "c", kind="equal", requires=("b",)),
        Check("b", 1, "b", kind="equal", requires=("a",)),
        Check("a", 1, "a", kind="equal")))
    ones = np.ones(2, dtype=np.int64)
    reference = {"a": ones, "b": ones, "c": ones}
    arrays = {"a": ones - 1, "b": ones, "c": ones}
    entry = score_question(question, Outcome("q9_9", "ok", arrays=arrays, header={}),
                           reference, ["x = 1"])
    assert entry["auto_score"] == 0 and [c["passed"] for c in entry["checks"]] == [False] * 3
    arrays["a"] = ones
    entry = score_question(question, Outcome("q9_9", "ok", arrays=arrays, header={}),
                           reference, ["x = 1"])
    assert entry["auto_score"] == 3


def test_a_requirement_must_name_checks_of_the_question():
    from grader.registry import Check, Question

    for requires in ("a", ("a", "nothing")):
        with pytest.raises(ValueError, match="requires outputs"):
            Question("q9_9", "bad", 1, "x.ipynb", checks=(
                Check("a", 1, "a", kind="equal"), Check("b", 1, "b", requires=requires)))


# ---------------------------------------------------------------- the probes' interventions


def _first_step_memory(rule_weight):
    """A model whose RNN (run backwards, identity kernel) ends holding the one-hot first
    digit, plus ``rule_weight`` times a rule that reads the first digit from the raw input."""
    import keras
    from keras import ops

    inputs = keras.Input((5,), dtype="int32")
    rnn = keras.layers.RNN(keras.layers.SimpleRNNCell(10, activation=None), go_backwards=True)
    memory = rnn(keras.layers.Lambda(lambda x: ops.one_hot(x, 10))(inputs))
    rule = keras.layers.Lambda(lambda x: ops.one_hot(x[:, 0], 10))(inputs)
    model = keras.Model(inputs, memory + rule_weight * rule)
    kernel, recurrent, bias = rnn.cell.weights
    kernel.assign(np.eye(10, dtype="float32"))
    recurrent.assign(np.zeros((10, 10), dtype="float32"))
    bias.assign(np.zeros(10, dtype="float32"))
    return model, rnn


def test_swapping_an_rnn_input_step_tells_memory_from_a_rule_beside_it():
    from grader import probes
    from grader.questions import swap_partners

    x = np.random.default_rng(0).integers(0, 10, (40, 5)).astype("int32")
    partner = swap_partners(x[:, 0], np.zeros(40), seed=1)
    assert np.all(x[partner, 0] != x[:, 0])
    step = np.zeros(40, dtype=np.int64)
    remembering, rnn = _first_step_memory(rule_weight=0.0)
    swapped = probes.swapped_step_predictions(remembering, [rnn, rnn], x, partner, step)
    np.testing.assert_array_equal(swapped, x[partner, 0])  # a layer listed twice swaps once
    predictions, _ = probes.held_out_predictions(remembering, {"x": x})
    np.testing.assert_array_equal(predictions, x[:, 0])  # restored afterwards
    ruled, rnn = _first_step_memory(rule_weight=2.0)
    np.testing.assert_array_equal(
        probes.swapped_step_predictions(ruled, [rnn], x, partner, step), x[:, 0])
    # at a step that does not hold the answer, the swap changes nothing
    np.testing.assert_array_equal(probes.swapped_step_predictions(
        remembering, [rnn], x, partner, np.full(40, 3)), x[:, 0])


def test_q1_1s_shortcuts_do_compute_the_gradients():
    """The autodiff and finite-difference mutants of q1_1 get the gradients right to 1e-6 or
    better: what makes them lose the points is the source policy and the float64 tolerance,
    which this proves they need."""
    from grader.questions import q1_1

    inputs, expected = references.load("q1_1")
    weights = {name: np.asarray(inputs[f"w_{name}"], dtype=np.float64) for name in q1_1.WEIGHTS}
    for name in ("central_differences", "richardson_differences", "autodiff_with_the_kit",
                 "jax_grad"):
        namespace = {}
        exec(q1_1.MUTANTS[name], namespace)
        grads = namespace["bptt_vanilla_rnn"](np.asarray(inputs["x"], dtype=np.float64),
                                              np.asarray(inputs["y"]), **weights)
        for output, names in q1_1.OUTPUTS.items():
            found = np.concatenate([np.ravel(grads[n]) for n in names])
            assert probes_relative_error(found, expected[output]) < 1e-6, (name, output)
            check = next(c for c in QUESTIONS["q1_1"].checks if c.output == output)
            if name.endswith("differences"):
                assert not compare(check, {output: found}, expected)["passed"], (name, output)
    for name in ("autodiff_with_the_kit", "jax_grad"):
        from grader import policy

        reasons = policy.violations([q1_1.MUTANTS[name]], QUESTIONS["q1_1"].policy_names)
        assert any("by hand" in reason for reason in reasons), (name, reasons)


def test_q1_5s_library_counts_are_right_and_refused():
    from grader import policy
    from grader.questions import q1_5

    inputs, expected = references.load("q1_5")
    for name in ("keras_count_params", "torch_count_params"):
        namespace = {}
        exec(q1_5.MUTANTS[name], namespace)
        counts = [namespace["count_parameters"](int(d), int(n), int(c))
                  for d, n, c in inputs["sizes"]]
        assert counts == expected["counts"].tolist(), name
        assert policy.violations([q1_5.MUTANTS[name]], QUESTIONS["q1_5"].policy_names), name


def test_swap_partners_share_the_step_and_differ_in_label_where_they_can():
    from grader.questions import swap_partners

    labels = np.array([0, 1, 0, 1, 1, 0])
    step = np.array([2, 2, 5, 5, 5, 7])
    partner = swap_partners(labels, step, seed=0)
    assert list(partner[:2]) == [1, 0] and partner[5] == 5  # alone at its step: itself
    assert all(step[partner] == step) and labels[partner[2]] == 1
    assert labels[partner[3]] == 0 and labels[partner[4]] == 0


# ---------------------------------------------------------------- the mutation runs


def _assert_proven(report, request):
    request.config.stash.setdefault(MUTATION_TABLES, []).append(report.table())
    assert report.ok, report.table()


@pytest.mark.slow
def test_every_mutant_loses_points_and_every_alternative_scores_full_marks(request):
    _assert_proven(mutants.run(",".join(QUICK), jobs=2, timeout=30.0, device="cpu"), request)


@pytest.mark.slow
@pytest.mark.skipif(os.environ.get("KERAS_BACKEND", "tensorflow") != "tensorflow",
                    reason="the training questions train a model per answer: they are proven "
                           "once, on TensorFlow, where training is fastest")
def test_training_questions_refuse_rules_and_credit_trained_models(request):
    _assert_proven(mutants.run(",".join(TRAINING), jobs=2, slow=True, timeout=60.0,
                               device="cpu"), request)

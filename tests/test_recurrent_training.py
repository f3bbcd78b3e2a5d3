"""Part 1 helpers: BPTT, optimisers, parameter count, gradient norms, the sequence classifier,
the experiment runner, plots and the palindrome command."""

import csv

import keras
import matplotlib
import numpy as np
import pytest
from keras import ops

from course_kit.autodiff import variables_value_and_grad
from course_kit.data import make_task
from course_kit.experiments.__main__ import main as experiments_main
from course_kit.layers import LSTMCell, VanillaRNNCell
from course_kit.models import SequenceClassifier, make_cell
from course_kit.plots import (
    plot_accuracy_vs_length,
    plot_gradient_norms,
    plot_learning_curves,
    plot_optimizer_paths,
)
from course_kit.seeding import set_random_seed
from course_kit.training import (
    bptt_vanilla_rnn,
    count_lstm_parameters,
    gradient_norms_over_time,
    run_experiments,
    summarize,
    train_classifier,
)
from course_kit.training.optimizers import SGD, Adam, IllConditionedQuadratic, RMSProp, optimize

matplotlib.use("Agg")


def vanilla_classifier(rng, input_dim=3, units=5, num_classes=4):
    """A built vanilla-RNN classifier on float inputs with random weights, and its weights."""
    model = SequenceClassifier(VanillaRNNCell(units), num_classes)
    model.build((None, 6, input_dim))
    cell = model.recurrent.cell
    weights = {
        "W_hx": rng.uniform(-0.7, 0.7, (input_dim, units)),
        "W_hh": rng.uniform(-0.7, 0.7, (units, units)),
        "b_h": rng.uniform(-0.3, 0.3, units),
        "W_ph": rng.uniform(-0.7, 0.7, (units, num_classes)),
        "b_p": rng.uniform(-0.3, 0.3, num_classes),
    }
    weights = {k: v.astype("float32") for k, v in weights.items()}
    cell.W_hx.assign(weights["W_hx"])
    cell.W_hh.assign(weights["W_hh"])
    cell.b_h.assign(weights["b_h"])
    model.classifier.kernel.assign(weights["W_ph"])
    model.classifier.bias.assign(weights["b_p"])
    variables = {
        "W_hx": cell.W_hx,
        "W_hh": cell.W_hh,
        "b_h": cell.b_h,
        "W_ph": model.classifier.kernel,
        "b_p": model.classifier.bias,
    }
    return model, weights, variables


def mean_cross_entropy(model, x, y):
    logits = model(x)
    return ops.mean(keras.losses.sparse_categorical_crossentropy(y, logits, from_logits=True))


# --- q1_1: BPTT -------------------------------------------------------------------------------


def test_bptt_matches_autodiff(rng):
    model, weights, variables = vanilla_classifier(rng)
    x = rng.normal(size=(8, 6, 3)).astype("float32")
    y = rng.integers(0, 4, size=8).astype("int32")
    names = list(variables)
    loss, grads = variables_value_and_grad(
        lambda: mean_cross_entropy(model, x, y), [variables[n] for n in names]
    )
    manual = bptt_vanilla_rnn(x, y, **weights)
    assert manual["loss"] == pytest.approx(float(ops.convert_to_numpy(loss)), rel=1e-5)
    for name, grad in zip(names, grads):
        np.testing.assert_allclose(
            manual[name], ops.convert_to_numpy(grad), rtol=1e-4, atol=1e-6, err_msg=name
        )


@pytest.mark.backend_independent
def test_bptt_rejects_bad_shapes(rng):
    _, weights, _ = vanilla_classifier(rng)
    with pytest.raises(ValueError, match="x must have shape"):
        bptt_vanilla_rnn(np.zeros((8, 3)), np.zeros(8, int), **weights)
    with pytest.raises(ValueError, match="y must have shape"):
        bptt_vanilla_rnn(np.zeros((8, 6, 3)), np.zeros(7, int), **weights)


# --- q1_4: optimisers -------------------------------------------------------------------------

OPTIMIZER_PAIRS = [
    (lambda: SGD(0.01, momentum=0.9), lambda: keras.optimizers.SGD(0.01, momentum=0.9)),
    (lambda: RMSProp(0.01), lambda: keras.optimizers.RMSprop(0.01)),
    (lambda: Adam(0.01), lambda: keras.optimizers.Adam(0.01)),
]


@pytest.mark.parametrize("ours, theirs", OPTIMIZER_PAIRS, ids=["sgd_momentum", "rmsprop", "adam"])
def test_numpy_update_rules_follow_keras_for_100_steps(ours, theirs, rng):
    # A gradient from a fixed non-quadratic function of the weights; both optimisers receive
    # the same gradient at every step, computed from the NumPy weights.
    target = rng.normal(size=(3, 2))
    start = rng.normal(size=(3, 2))
    numpy_optimizer, keras_optimizer = ours(), theirs()
    variable = keras.Variable(start.astype("float32"))
    keras_optimizer.build([variable])
    weights = start
    for _ in range(100):
        gradient = np.tanh(weights - target) + 0.1 * weights**3
        weights = numpy_optimizer.step(weights, gradient)
        keras_optimizer.apply_gradients([(ops.convert_to_tensor(gradient, "float32"), variable)])
        np.testing.assert_allclose(ops.convert_to_numpy(variable), weights, rtol=2e-4, atol=2e-5)
    assert np.abs(weights - start).max() > 0.1  # the weights did move


def test_optimizer_step_keeps_the_structure_and_checks_it():
    optimizer = Adam(0.1)
    updated = optimizer.step([np.ones(2), np.ones((2, 2))], [np.ones(2), np.ones((2, 2))])
    assert [u.shape for u in updated] == [(2,), (2, 2)]
    with pytest.raises(ValueError, match="gradients"):
        Adam(0.1).step([np.ones(2)], [np.ones(2), np.ones(2)])
    with pytest.raises(ValueError, match="learning_rate"):
        RMSProp(0.0)


@pytest.mark.backend_independent
def test_quadratic_gradient_and_momentum_beats_plain_sgd_in_the_valley():
    quadratic = IllConditionedQuadratic((1.0, 50.0))
    w = np.array([0.7, -0.3])
    eps = 1e-6
    numeric = [
        (quadratic.value(w + eps * e) - quadratic.value(w - eps * e)) / (2 * eps) for e in np.eye(2)
    ]
    np.testing.assert_allclose(quadratic.gradient(w), numeric, rtol=1e-6)
    start = np.array([-4.0, 1.0])
    # The largest stable plain-SGD step is 2/50; along the flat axis it then shrinks the error
    # by only (1 - 0.03) a step, while momentum accumulates speed there.
    plain = optimize(SGD(0.03), quadratic, start, 100)
    heavy_ball = optimize(SGD(0.03, momentum=0.8), quadratic, start, 100)
    assert plain.shape == (101, 2)
    np.testing.assert_array_equal(plain[0], start)
    assert quadratic.value(heavy_ball[-1]) < quadratic.value(plain[-1]) / 100
    with pytest.raises(ValueError, match="curvatures"):
        IllConditionedQuadratic((1.0, -2.0))


# --- q1_5: parameter count --------------------------------------------------------------------


@pytest.mark.parametrize("d, n, c", [(10, 16, 10), (1, 1, 1)])
def test_lstm_parameter_count_equals_real_models(d, n, c):
    ours = SequenceClassifier(LSTMCell(n), c)
    ours.build((None, 5, d))
    builtin = keras.Sequential([keras.Input((5, d)), keras.layers.LSTM(n), keras.layers.Dense(c)])
    assert count_lstm_parameters(d, n, c) == ours.count_params() == builtin.count_params()


@pytest.mark.backend_independent
@pytest.mark.parametrize("bad", [0, -1, 2.0, None])
def test_lstm_parameter_count_rejects_bad_sizes(bad):
    with pytest.raises(ValueError, match="n must be"):
        count_lstm_parameters(3, bad, 2)


# --- q1_7: gradient norms over time -----------------------------------------------------------


def test_gradient_norms_match_a_numpy_backward_pass(rng):
    model, w, _ = vanilla_classifier(rng)
    x = rng.normal(size=(8, 6, 3)).astype("float32")
    y = rng.integers(0, 4, size=8).astype("int32")
    norms = gradient_norms_over_time(model, (x, y))

    states = [np.zeros((8, 5))]
    for t in range(6):
        states.append(np.tanh(x[:, t] @ w["W_hx"] + states[-1] @ w["W_hh"] + w["b_h"]))
    logits = states[-1] @ w["W_ph"] + w["b_p"]
    probabilities = np.exp(logits - logits.max(1, keepdims=True))
    probabilities /= probabilities.sum(1, keepdims=True)
    probabilities[np.arange(8), y] -= 1
    d_h = probabilities / 8 @ w["W_ph"].T
    expected = []
    for t in range(6, 0, -1):
        expected.append(np.linalg.norm(d_h))
        d_h = (d_h * (1 - states[t] ** 2)) @ w["W_hh"].T
    np.testing.assert_allclose(norms, expected[::-1], rtol=1e-4)


def test_gradient_norms_of_an_lstm_on_symbols_and_bad_models():
    task = make_task("digit_palindrome", 5, batch_size=4)
    model = SequenceClassifier(make_cell("lstm", 8), 10, vocab_size=10, embedding_dim=3)
    norms = gradient_norms_over_time(model, task[0])
    assert norms.shape == (5,)
    assert np.all(np.isfinite(norms)) and np.all(norms > 0)
    bidirectional = SequenceClassifier(make_cell("lstm", 4), 10, vocab_size=10, bidirectional=True)
    with pytest.raises(ValueError, match="bidirectional"):
        gradient_norms_over_time(bidirectional, task[0])


# --- the sequence classifier ------------------------------------------------------------------


@pytest.mark.parametrize(
    "cell, kwargs",
    [
        ("rnn", {}),
        ("gru", {"embedding_dim": 4}),
        ("peephole_lstm", {"embedding_dim": 4}),
        ("lstm", {"bidirectional": True}),
    ],
)
def test_classifier_saves_and_reloads(cell, kwargs, tmp_path):
    x, _ = make_task("binary_palindrome", 3, batch_size=5)[0]
    model = SequenceClassifier(make_cell(cell, 6), 2, vocab_size=3, **kwargs)
    logits = ops.convert_to_numpy(model(x))
    assert logits.shape == (5, 2)
    path = tmp_path / "classifier.keras"
    model.save(path)
    reloaded = keras.saving.load_model(path)
    np.testing.assert_allclose(ops.convert_to_numpy(reloaded(x)), logits, atol=1e-6)
    assert reloaded.bidirectional == model.bidirectional


def test_scalar_encoding_feeds_each_code_as_one_number():
    x = np.array([[3, 0, 7]], dtype="int32")
    model = SequenceClassifier(make_cell("rnn", 4), 10, encoding="scalar")
    np.testing.assert_array_equal(ops.convert_to_numpy(model.encode(x)), [[[3.0], [0.0], [7.0]]])
    assert ops.convert_to_numpy(model(x)).shape == (1, 10)
    assert model.cell.W_hx.shape == (1, 4)  # input dimension 1, as in the 2019 assignment
    one_hot = SequenceClassifier(make_cell("rnn", 4), 10, vocab_size=10)
    assert one_hot.encoding == "one_hot" and ops.convert_to_numpy(one_hot.encode(x)).shape == (
        1, 3, 10)
    embedded = SequenceClassifier(make_cell("rnn", 4), 10, vocab_size=10, embedding_dim=5)
    assert embedded.encoding == "embedding"
    assert SequenceClassifier.from_config(model.get_config()).encoding == "scalar"


def test_classifier_rejects_bad_input():
    with pytest.raises(ValueError, match="unknown encoding 'binary'"):
        SequenceClassifier(make_cell("rnn", 4), 2, encoding="binary")
    with pytest.raises(ValueError, match="does not fit encoding='scalar'"):
        SequenceClassifier(make_cell("rnn", 4), 2, vocab_size=3, embedding_dim=3,
                           encoding="scalar")
    with pytest.raises(ValueError, match="does not fit encoding='embedding'"):
        SequenceClassifier(make_cell("rnn", 4), 2, vocab_size=3, encoding="embedding")
    with pytest.raises(ValueError, match="need vocab_size"):
        SequenceClassifier(make_cell("rnn", 4), 2)(np.zeros((2, 5), "int32"))
    with pytest.raises(ValueError, match="embedding_dim needs vocab_size"):
        SequenceClassifier(make_cell("rnn", 4), 2, embedding_dim=3)
    with pytest.raises(ValueError, match="num_classes"):
        SequenceClassifier(make_cell("rnn", 4), 0)
    with pytest.raises(ValueError, match="unknown cell"):
        make_cell("transformer", 4)
    with pytest.raises(ValueError, match="rank 3"):
        SequenceClassifier(make_cell("rnn", 4), 2, vocab_size=3)(np.zeros((2, 5), "float32"))


# --- the experiment runner (q1_3) -------------------------------------------------------------


def test_vanilla_rnn_learns_the_length_5_digit_palindrome():
    task = make_task("digit_palindrome", 5, batch_size=64, seed=0, steps=300)
    set_random_seed(0)
    model = SequenceClassifier(make_cell("rnn", 64), 10, vocab_size=10)
    result = train_classifier(
        model, task, 300, optimizer="rmsprop", stop_accuracy=1.0, eval_samples=500
    )
    assert result.steps_to_convergence == len(result.loss) < 300
    assert result.accuracy[-1] == 1.0
    assert result.held_out_accuracy > 0.95  # chance is 0.1


def test_run_experiments_gives_one_reproducible_row_per_run():
    def build(name, task):
        return SequenceClassifier(make_cell(name, 8), task.num_classes, vocab_size=task.vocab_size)

    settings = {"steps": 3, "batch_size": 16, "show_progress": False, "eval_samples": 50}
    settings["jit_compile"] = False  # compiling costs more than three steps
    saved = []
    rows = run_experiments(build, ["rnn"], "digit_palindrome", [3], [0, 1],
                           on_run=lambda table: saved.append(len(table)), **settings)
    assert [(r["model"], r["length"], r["seed"]) for r in rows] == [("rnn", 3, 0), ("rnn", 3, 1)]
    assert saved == [1, 2]  # the table is handed over after every run
    assert all(len(r["loss"]) == r["steps_run"] == 3 for r in rows)
    assert all(r["steps_to_convergence"] is None for r in rows)
    again = run_experiments(build, ["rnn"], "digit_palindrome", [3], [1], **settings)
    np.testing.assert_allclose(again[0]["loss"], rows[1]["loss"], rtol=1e-5)
    assert rows[0]["loss"] != rows[1]["loss"]  # another seed, another run

    summary = summarize(rows, "held_out_accuracy")
    assert len(summary) == 1 and summary[0]["n"] == 2
    accuracies = [r["held_out_accuracy"] for r in rows]
    assert summary[0]["mean"] == pytest.approx(np.mean(accuracies))
    assert summary[0]["std"] == pytest.approx(np.std(accuracies))
    (convergence,) = summarize(rows, "steps_to_convergence")
    assert convergence["missing"] == 2 and np.isnan(convergence["mean"])


@pytest.mark.backend_independent
def test_plots_draw_one_line_per_model_or_curve():
    rows = [
        {
            "model": m,
            "length": t,
            "seed": s,
            "held_out_accuracy": 0.5 + 0.1 * s,
            "loss": [1.0, 0.5][: 1 + s],
            "accuracy": [0.2, 0.9][: 1 + s],
        }
        for m in ["rnn", "lstm"]
        for t in [5, 10]
        for s in [0, 1]
    ]
    assert len(plot_accuracy_vs_length(rows, chance=0.1).containers) == 2
    assert len(plot_learning_curves(rows).lines) == 4
    assert len(plot_gradient_norms({"rnn": np.ones(5), "lstm": np.ones(5)}).lines) == 2
    quadratic = IllConditionedQuadratic()
    paths = {"sgd": optimize(SGD(0.03), quadratic, [-2.0, 1.0], 5)}
    assert len(plot_optimizer_paths(quadratic, paths).lines) == 2  # the path and the minimum


def test_palindrome_command_writes_tables_and_figures(tmp_path):
    experiments_main(
        [
            "palindrome",
            "--preset",
            "2020",
            "--models",
            "peephole_lstm",
            "--lengths",
            "2",
            "--seeds",
            "1",
            "--steps",
            "2",
            "--units",
            "4",
            "--batch-size",
            "8",
            "--eval-samples",
            "20",
            "--gradient-length",
            "3",
            "--no-progress",
            "--out",
            str(tmp_path),
        ]
    )
    with open(tmp_path / "runs.csv") as handle:
        rows = list(csv.DictReader(handle))
    assert [(r["model"], r["length"], r["seed"]) for r in rows] == [("peephole_lstm", "2", "0")]
    for name in ["accuracy_vs_length.png", "learning_curves.png", "gradient_norms.png"]:
        assert (tmp_path / name).stat().st_size > 0


def test_palindrome_presets_choose_the_input_encoding(monkeypatch, tmp_path):
    from course_kit.experiments import palindrome

    built = []
    real_builder = palindrome.model_builder

    def recording_builder(args):
        build = real_builder(args)

        def wrapped(name, task):
            built.append(build(name, task))
            return built[-1]

        return wrapped

    monkeypatch.setattr(palindrome, "model_builder", recording_builder)
    common = ["--models", "rnn", "--lengths", "3", "--seeds", "1", "--steps", "1", "--units",
              "4", "--batch-size", "4", "--eval-samples", "4", "--gradient-length", "0",
              "--no-progress", "--out", str(tmp_path)]
    experiments_main(["palindrome", "--preset", "2019", *common])
    experiments_main(["palindrome", "--preset", "2019", "--encoding", "one_hot", *common])
    experiments_main(["palindrome", "--preset", "2019", "--embedding-dim", "6", *common])
    assert [model.encoding for model in built] == ["scalar", "one_hot", "embedding"]
    assert built[2].embedding_dim == 6

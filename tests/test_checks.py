"""The visible notebook checks pass right answers (returning None, writing nothing to stderr)
and fail wrong ones with the hint of ``course_kit.feedback`` that names the mistake; a failure
shows in a few lines. They compare with their public fixtures only: nothing in
``course_kit.checks`` imports an answer, and they pass right answers in the student edition of
the kit, where every answer raises."""

import ast
import json
import os
import subprocess
import sys
import warnings
from pathlib import Path

import keras
import nbformat
import numpy as np
import pytest
from answers import answer
from keras import ops
from nbclient import NotebookClient

from course_kit import checks
from course_kit.checks.recurrent import CELLS
from course_kit.feedback import HINTS, MISTAKES, relative_error
from course_kit.graphs import propagation_steps, self_loop_adjacency
from course_kit.layers import (
    GCNConv,
    GRUCell,
    LSTMCell,
    PeepholeLSTMCell,
    VanillaRNNCell,
    gcn_normalize,
)
from course_kit.sampling import (
    beam_search_ids,
    exhaustive_best_ids,
    greedy_ids,
    sample_with_inverse_temperature,
)
from course_kit.training import bptt_vanilla_rnn, count_lstm_parameters
from course_kit.training.optimizers import SGD, Adam, RMSProp
from grader.registry import KIT_ANSWERS, QUESTIONS, module

ROOT = Path(__file__).resolve().parent.parent


def fails_with(question, key, check, *args, **kwargs):
    """Run a check that must fail; return its CheckFailed after checking the hint."""
    with pytest.raises(checks.CheckFailed) as failure:
        check(*args, **kwargs)
    assert failure.value.hint == HINTS[question][key], str(failure.value)
    return failure.value


# ---------------------------------------------------------------- feedback


def test_relative_error_is_scale_free_and_zero_for_equal_arrays():
    a = np.array([1.0, -2.0, 0.0])
    assert relative_error(a, a) == 0.0
    assert relative_error(1e6 * a, 1e6 * (a + [1e-3, 0, 0])) == pytest.approx(1e-3 / 4)
    assert relative_error([], []) == 0.0
    with pytest.raises(ValueError, match="shape"):
        relative_error(a, a[:2])
    assert checks.rel_error(ops.convert_to_tensor(a), a) == 0.0  # backend tensors too


@pytest.mark.backend_independent
def test_feedback_imports_no_framework():
    code = ("import sys, course_kit.feedback; "
            "print([m for m in ('keras', 'tensorflow', 'jax', 'torch') if m in sys.modules])")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True)
    assert result.stdout.strip() == "[]"


def test_every_graded_quantity_and_mistake_has_a_hint():
    for qid, question in QUESTIONS.items():
        if question.checks:
            expected = {check.output for check in question.checks} | {"not_implemented"}
            assert expected <= set(HINTS[qid]), qid
    for qid, mistakes in MISTAKES.items():
        assert set(mistakes) <= set(HINTS[qid]), qid
    assert all(isinstance(h, str) and h for hints in HINTS.values() for h in hints.values())


def test_the_recognised_mistakes_are_the_graders_recorded_mutants():
    for qid, question in QUESTIONS.items():
        recorded = {}
        for check in question.checks:
            for mistake, mutant in check.mistakes:
                recorded.setdefault(mistake, set()).add(mutant)
        assert {k: set(v) for k, v in MISTAKES.get(qid, {}).items()} == recorded, qid


def test_the_checks_follow_the_contracts_of_the_graders_probes():
    from course_kit.checks.graphs import GRAPH_LSTM_CELL
    from course_kit.checks.recurrent import BPTT_OUTPUTS, OPTIMIZERS
    from course_kit.checks.text import CAUSAL_FROM, TEXT_MODEL_UNITS
    from grader.probes import CELL_STATES, CELL_WEIGHTS

    classes = {"rnn": "VanillaRNNCell", "lstm": "LSTMCell", "peephole_lstm": "PeepholeLSTMCell",
               "gru": "GRUCell"}
    for name, cell in [*CELLS.items(), ("graph", GRAPH_LSTM_CELL)]:
        class_name = classes.get(name, "GraphConvLSTMCell")
        assert cell.weights == CELL_WEIGHTS[class_name], name
        assert cell.num_states == CELL_STATES[class_name], name
    assert BPTT_OUTPUTS == module("q1_1").OUTPUTS
    assert OPTIMIZERS == {output: (keras_name, settings) for output, (_, keras_name, settings)
                          in module("q1_4").SETTINGS.items()}
    assert (CAUSAL_FROM, TEXT_MODEL_UNITS) == (module("q2_1").K, module("q2_1").UNITS)


def test_vanilla_rnn_hints_do_not_speak_of_gates():
    assert not any("gate" in hint for hint in HINTS["q1_2"].values())


# ---------------------------------------------------------------- failures in a notebook


def test_check_failed_is_an_assertion_rendered_in_a_few_lines():
    failure = checks.CheckFailed("q1_2 VanillaRNNCell", "h_t at every step",
                                 HINTS["q1_2"]["no_tanh"])
    assert isinstance(failure, AssertionError)
    lines = failure._render_traceback_()
    assert len(lines) <= 5
    assert lines[0] == "FAIL q1_2 VanillaRNNCell: h_t at every step"
    assert HINTS["q1_2"]["no_tanh"] in "\n".join(lines)


def test_a_failed_check_shows_its_hint_in_a_notebook_without_a_traceback():
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(
        "import numpy as np\n"
        "from course_kit.checks import check_gcn_normalize\n"
        "check_gcn_normalize(lambda a: a / np.sqrt(np.outer(a.sum(1), a.sum(1))))\n"
    )])
    NotebookClient(notebook, timeout=300, kernel_name="python3", allow_errors=True).execute()
    errors = [o for o in notebook.cells[0].outputs if o.output_type == "error"]
    assert len(errors) == 1 and errors[0].ename == "CheckFailed"
    traceback = errors[0].traceback
    assert len(traceback) <= 5, traceback
    assert HINTS["q3_1"]["no_self_loops"] in "\n".join(traceback)


# ---------------------------------------------------------------- recurrent cells


@pytest.mark.parametrize("cell, name", [(VanillaRNNCell, "rnn"), (LSTMCell, "lstm"),
                                        (PeepholeLSTMCell, "peephole_lstm"), (GRUCell, "gru")])
def test_check_cell_passes_the_reference_cells(cell, name, capsys):
    assert checks.check_cell(cell, name) is None
    out = capsys.readouterr().out
    assert f"PASS {CELLS[name].question} {cell.__name__}" in out
    assert "relative error" in out


class NoTanhRNNCell(VanillaRNNCell):
    def call(self, inputs, states):
        h = ops.matmul(inputs, self.W_hx) + ops.matmul(states[0], self.W_hh) + self.b_h
        return h, [h]


class NoGradientRNNCell(VanillaRNNCell):
    """Right outputs, but W_hh hidden from automatic differentiation."""

    def call(self, inputs, states):
        h = ops.tanh(ops.matmul(inputs, self.W_hx)
                     + ops.matmul(states[0], ops.stop_gradient(self.W_hh)) + self.b_h)
        return h, [h]


class NoStateSizeRNNCell(VanillaRNNCell):
    """Right outputs, but a state_size that keras.layers.RNN cannot use."""

    @property
    def state_size(self):
        return [self.units, self.units]


class RenamedRNNCell(keras.layers.Layer):
    def __init__(self, units):
        super().__init__()
        self.units = units

    def build(self, input_shape):
        self.kernel = self.add_weight(shape=(input_shape[-1], self.units), name="kernel")

    def call(self, inputs, states):
        h = ops.tanh(ops.matmul(inputs, self.kernel))
        return h, [h]


class TanhGatesLSTMCell(LSTMCell):
    """Every gate through a tanh, the candidate too."""

    def call(self, inputs, states):
        h_prev, c_prev = states

        def pre(name):
            return (ops.matmul(inputs, getattr(self, f"W_{name}x"))
                    + ops.matmul(h_prev, getattr(self, f"W_{name}h")) + getattr(self, f"b_{name}"))

        g, i, f, o = (ops.tanh(pre(name)) for name in "gifo")
        c = g * i + c_prev * f
        h = ops.tanh(c) * o
        return h, [h, c]


class HiddenStatePeepholeCell(PeepholeLSTMCell):
    """The common slip: gates read h_{t-1} instead of c_{t-1}."""

    def call(self, inputs, states):
        h, c = states
        return super().call(inputs, [h, h])


class KerasConventionGRUCell(GRUCell):
    """Keras' h_t = z * h_{t-1} + (1 - z) * h~ instead of the course's."""

    def call(self, inputs, states):
        h_prev = states[0]
        z = ops.sigmoid(ops.matmul(inputs, self.W_zx) + ops.matmul(h_prev, self.W_zh) + self.b_z)
        r = ops.sigmoid(ops.matmul(inputs, self.W_rx) + ops.matmul(h_prev, self.W_rh) + self.b_r)
        candidate = ops.tanh(ops.matmul(inputs, self.W_x) + ops.matmul(r * h_prev, self.W_h)
                             + self.b)
        h = z * h_prev + (1 - z) * candidate
        return h, [h]


def test_check_cell_names_a_missing_tanh_and_skips_the_gradients(capsys):
    failure = fails_with("q1_2", "no_tanh", checks.check_cell, NoTanhRNNCell, "rnn")
    assert failure.failed == "h_t at every step"
    out = capsys.readouterr().out
    assert "gradient wrt" not in out and "FAIL" not in out  # failure is the exception


def test_check_cell_names_the_wrong_gate_non_linearity():
    fails_with("q1_6", "wrong_gate_nonlinearity", checks.check_cell, TanhGatesLSTMCell, "lstm")


@pytest.mark.parametrize("cell, name, key", [
    (HiddenStatePeepholeCell, "peephole_lstm", "peephole_outputs"),
    (KerasConventionGRUCell, "gru", "gru_outputs"),
])
def test_check_cell_gives_each_cell_its_own_hint(cell, name, key):
    fails_with("q1_9", key, checks.check_cell, cell, name)


def test_check_cell_names_missing_weights_and_non_differentiable_code(capsys):
    fails_with("q1_2", "weight_shapes", checks.check_cell, RenamedRNNCell, "rnn")
    assert "weight W_hh: missing" in capsys.readouterr().out
    fails_with("q1_2", "gradients", checks.check_cell, NoGradientRNNCell, "rnn")
    with pytest.raises(ValueError, match="reference"):
        checks.check_cell(VanillaRNNCell, "elman")


def test_check_cell_asks_the_rnn_cell_for_its_state_size(capsys):
    failure = fails_with("q1_2", "state_size", checks.check_cell, NoStateSizeRNNCell, "rnn")
    assert failure.failed == "state_size"
    assert "h_t at every step: relative error" in capsys.readouterr().out


# ---------------------------------------------------------------- BPTT, optimisers, counts


def test_check_bptt_passes_the_numpy_reference_and_names_the_wrong_gradient():
    assert checks.check_bptt(bptt_vanilla_rnn) is None

    def no_recurrent_gradient(x, y, W_hx, W_hh, b_h, W_ph, b_p):
        grads = bptt_vanilla_rnn(x, y, W_hx, W_hh, b_h, W_ph, b_p)
        return {**grads, "W_hh": np.zeros_like(W_hh)}

    def without_bias(*args, **kwargs):
        return {k: v for k, v in bptt_vanilla_rnn(*args, **kwargs).items() if k != "b_h"}

    fails_with("q1_1", "grad_W_hh", checks.check_bptt, no_recurrent_gradient)
    fails_with("q1_1", "returns", checks.check_bptt, without_bias)
    fails_with("q1_1", "returns", checks.check_bptt, lambda *args, **kwargs: [])


def test_check_bptt_wants_exact_gradients_not_numerical_or_float32_ones():
    from grader.questions import q1_1

    namespace = {}
    exec(q1_1.MUTANTS["richardson_differences"], namespace)
    fails_with("q1_1", "exact", checks.check_bptt, namespace["bptt_vanilla_rnn"])

    def in_float32(x, y, **weights):
        return bptt_vanilla_rnn(x.astype("float32"), y,
                                **{name: w.astype("float32") for name, w in weights.items()})

    fails_with("q1_1", "exact", checks.check_bptt, in_float32)


def test_check_optimizer_passes_the_kit_optimizers(capsys):
    assert checks.check_optimizer(SGD, "momentum") is None
    assert checks.check_optimizer(RMSProp, "rmsprop") is None
    assert checks.check_optimizer(Adam, "adam") is None
    assert "relative error" in capsys.readouterr().out
    with pytest.raises(ValueError, match="optimizer"):
        checks.check_optimizer(Adam, "adagrad")


class UncorrectedAdam(Adam):
    """Adam without bias correction, a common slip."""

    def _update(self, weight, gradient, slots):
        slots["m"] = self.beta_1 * slots["m"] + (1 - self.beta_1) * gradient
        slots["v"] = self.beta_2 * slots["v"] + (1 - self.beta_2) * gradient**2
        return weight - self.learning_rate * slots["m"] / (np.sqrt(slots["v"]) + self.epsilon)


class ForgetfulSGD(SGD):
    """Momentum whose velocity restarts at every step."""

    def _update(self, weight, gradient, slots):
        return weight - self.learning_rate * gradient


class UnaveragedRMSProp(RMSProp):
    """RMSProp without the (1 - rho) weight on the new squared gradient."""

    def _update(self, weight, gradient, slots):
        slots["mean_square"] = self.rho * slots["mean_square"] + gradient**2
        return weight - self.learning_rate * gradient / np.sqrt(slots["mean_square"] + self.epsilon)


class FlatteningSGD(SGD):
    def step(self, weights, gradients):
        return super().step(weights, gradients)[None]


@pytest.mark.parametrize("optimizer, name", [(ForgetfulSGD, "momentum"),
                                             (UnaveragedRMSProp, "rmsprop"),
                                             (UncorrectedAdam, "adam")])
def test_check_optimizer_fails_a_wrong_update_rule(optimizer, name, capsys):
    fails_with("q1_4", name, checks.check_optimizer, optimizer, name)
    assert "first step that differs:" in capsys.readouterr().out


def test_check_optimizer_fails_weights_of_another_shape():
    fails_with("q1_4", "step_shape", checks.check_optimizer, FlatteningSGD, "momentum")


def test_check_parameter_count():
    assert checks.check_parameter_count(count_lstm_parameters) is None
    fails_with("q1_5", "counts", checks.check_parameter_count,
               lambda d, n, c: 4 * (d * n + n * n) + n * c + c)


def test_check_gradient_norms():
    from course_kit.autodiff import value_and_grad

    def norms(cell, x, y, W_ph, b_p, reverse=False):
        batch, steps, _ = x.shape
        units = W_ph.shape[0]
        count = len(cell.state_size) if isinstance(cell.state_size, (list, tuple)) else 1
        W_ph, b_p = ops.convert_to_tensor(W_ph), ops.convert_to_tensor(b_p)

        def loss(*shifts):
            states = [ops.zeros((batch, units)) for _ in range(count)]
            for t in range(steps):
                h, states = cell(x[:, t], states)
                states = [h + shifts[t], *states[1:]]
            logits = ops.matmul(states[0], W_ph) + b_p
            return ops.mean(keras.losses.sparse_categorical_crossentropy(y, logits,
                                                                         from_logits=True))

        _, grads = value_and_grad(loss, *[np.zeros((batch, units), "float32")] * steps)
        result = np.array([np.linalg.norm(ops.convert_to_numpy(g)) for g in grads])
        return result[::-1] if reverse else result

    assert checks.check_gradient_norms(norms) is None
    fails_with("q1_7", "norms", checks.check_gradient_norms,
               lambda *args: norms(*args, reverse=True))


def test_check_accuracy_and_fast_mode(monkeypatch):
    assert checks.check_accuracy(0.95, 0.9, "q1_3") is None
    failure = fails_with("q1_8", "predictions", checks.check_accuracy, 0.5, 0.99, "q1_8")
    assert failure.title.startswith("q1_8")
    monkeypatch.setenv("COURSE_KIT_FAST", "1")
    assert checks.fast_mode()
    monkeypatch.setenv("COURSE_KIT_FAST", "0")
    assert not checks.fast_mode()


def test_check_environment_reports_backend_and_missing_data(capsys):
    assert checks.check_environment() is None
    assert keras.backend.backend() in capsys.readouterr().out
    with pytest.raises(RuntimeError, match="not ready"):
        checks.check_environment(data=("no_such_file.npz",))


# ---------------------------------------------------------------- text


def build_text_model(vocab_size, units, bidirectional=False, every_step=True):
    lstm = keras.layers.LSTM(units, return_sequences=every_step)
    return keras.Sequential([
        keras.layers.Embedding(vocab_size, 8),
        keras.layers.Bidirectional(lstm) if bidirectional else lstm,
        keras.layers.Dense(vocab_size),
    ])


def test_check_text_model():
    assert checks.check_text_model(build_text_model) is None
    fails_with("q2_1", "causal", checks.check_text_model,
               lambda v, u: build_text_model(v, u, bidirectional=True))
    fails_with("q2_1", "logits_shape", checks.check_text_model,
               lambda v, u: build_text_model(v, u, every_step=False))


def convolution_beside_unused_lstm(vocab_size, units):
    ids = keras.Input((None,), dtype="int32")
    embedded = keras.layers.Embedding(vocab_size, units)(ids)
    context = keras.layers.Conv1D(units, 3, padding="causal")(embedded)
    unused = keras.layers.LSTM(units, return_sequences=True)(embedded)
    return keras.Model(ids, keras.layers.Dense(vocab_size)(context) + 0.0 * unused[..., :1])


def test_check_text_model_wants_the_memory_in_the_recurrent_state():
    failure = fails_with("q2_1", "context", checks.check_text_model,
                         convolution_beside_unused_lstm)
    assert "carried by the recurrent layers" in str(failure)
    effect, carried = checks.text.first_character_context(
        build_text_model(6, 8), np.zeros((2, 7), "int32"), 6)
    assert effect > 0 and carried == pytest.approx(1.0)


def greedy(model, first_token, length):
    return greedy_ids(model, [first_token], length)


def beam_search(model, first_token, length, beam_width):
    beams = [((first_token,), model.initial_state(), 0.0)]
    for _ in range(length - 1):
        candidates = []
        for sequence, state, score in beams:
            logits, new_state = model.step([sequence[-1]], state)
            log_probabilities = logits[0] - np.logaddexp.reduce(logits[0])
            candidates += [((*sequence, token), new_state, score + log_probabilities[token])
                           for token in range(model.vocab_size)]
        beams = sorted(candidates, key=lambda beam: -beam[2])[:beam_width]
    return np.array(beams[0][0])


def test_check_greedy():
    assert checks.check_greedy(greedy) is None
    fails_with("q2_2", "greedy_5", checks.check_greedy,
               lambda model, first, length: np.full(length, first))
    calls = []

    def right_only_once(model, first_token, length):
        calls.append(length)
        if calls.count(length) == 1:
            return greedy(model, first_token, length)
        return np.full(length, first_token)

    fails_with("q2_2", "deterministic", checks.check_greedy, right_only_once)


def test_check_temperature_tells_the_two_conventions_apart():
    assert checks.check_temperature(sample_with_inverse_temperature, draws=4000) is None
    fails_with("q2_3", "divides_by_tau", checks.check_temperature,
               lambda x, tau, rng: sample_with_inverse_temperature(x, 1 / tau, rng), draws=4000)
    fails_with("q2_3", "counts_0.5", checks.check_temperature,
               lambda x, tau, rng: sample_with_inverse_temperature(x, tau + 1, rng), draws=4000)


def test_check_temperature_wants_the_draws_from_the_rng_given(capsys):
    shared = np.random.default_rng(0)
    failure = fails_with("q2_3", "rng", checks.check_temperature,
                         lambda x, tau, rng: sample_with_inverse_temperature(x, tau, shared),
                         draws=4000)
    assert failure.failed == "draws from the rng given"
    assert "rng advanced: no" in capsys.readouterr().out


def test_check_completion():
    assert checks.check_completion(
        lambda model, prompt, length: greedy_ids(model, prompt, len(prompt) + length)) is None
    fails_with("q2_4", "completion", checks.check_completion,  # the state is not warmed
               lambda model, prompt, length: np.concatenate(
                   [prompt[:-1], greedy(model, prompt[-1], length + 1)]))


def test_check_beam_search_prunes_where_the_searches_disagree(capsys):
    assert checks.check_beam_search(beam_search) is None
    assert checks.check_beam_search(beam_search_ids) is None
    out = capsys.readouterr().out
    assert "width 2" in out and "width 3" in out
    for wrong in (lambda model, first, length, width: exhaustive_best_ids(model, first, length),
                  lambda model, first, length, width: greedy(model, first, length),
                  lambda model, first, length, width: np.full(length, first)):
        fails_with("q2_5", "beam", checks.check_beam_search, wrong)


# ---------------------------------------------------------------- graphs


class NormalizedGCN(GCNConv):
    """The kit's GCN, with another propagation matrix for the dense adjacency and edges."""

    def __init__(self, channels, normalize):
        super().__init__(channels)
        self.normalize = normalize

    def call(self, inputs):
        features, graph = inputs
        graph = ops.convert_to_numpy(graph)
        if graph.dtype.kind == "i":  # an edge index (2, E): back to the dense adjacency
            sources, targets = graph
            graph = np.zeros((len(features),) * 2)
            graph[targets, sources] = 1.0
        a_hat = self.normalize(graph.astype("float64")).astype("float32")
        return ops.matmul(a_hat, ops.matmul(features, self.kernel)) + self.bias


def no_self_loops(a):
    inverse_sqrt = 1 / np.sqrt(a.sum(1))
    return inverse_sqrt[:, None] * a * inverse_sqrt[None, :]


def inverse_degree(a):
    loops = a + np.eye(len(a))
    inverse = 1 / loops.sum(1)
    return inverse[:, None] * loops * inverse[None, :]


@pytest.mark.parametrize("normalize, mistake", [(no_self_loops, "no_self_loops"),
                                                (inverse_degree, "inverse_degree")])
def test_gcn_checks_name_the_normalisation_mistakes(normalize, mistake):
    fails_with("q3_1", mistake, checks.check_gcn_normalize, normalize)
    fails_with("q3_1", mistake, checks.check_gcn_layer,
               lambda channels: NormalizedGCN(channels, normalize))


def test_gcn_checks_pass_the_kit_and_fail_other_mistakes():
    assert checks.check_gcn_normalize(gcn_normalize) is None
    assert checks.check_gcn_layer(GCNConv) is None
    fails_with("q3_1", "normalized", checks.check_gcn_normalize, lambda a: a + np.eye(len(a)))
    fails_with("q3_1", "weight_shapes", checks.check_gcn_layer,
               lambda channels: keras.layers.Lambda(lambda inputs: inputs[0]))


class DenseGAT(keras.layers.Layer):
    """One-head GAT on a dense adjacency returning ``(output, attention)``."""

    def __init__(self, channels, self_loops=True):
        super().__init__()
        self.channels, self.self_loops = channels, self_loops

    def build(self, input_shape):
        features = input_shape[0][-1]
        self.kernel = self.add_weight(shape=(features, self.channels), name="kernel")
        self.attn_kernel_self = self.add_weight(shape=(self.channels, 1), name="attn_kernel_self")
        self.attn_kernel_neighs = self.add_weight(shape=(self.channels, 1),
                                                  name="attn_kernel_neighs")
        self.bias = self.add_weight(shape=(self.channels,), name="bias")

    def call(self, inputs):
        features, adjacency = inputs
        z = ops.matmul(features, self.kernel)
        scores = ops.leaky_relu(ops.matmul(z, self.attn_kernel_self)
                                + ops.transpose(ops.matmul(z, self.attn_kernel_neighs)), 0.2)
        linked = adjacency + (ops.eye(ops.shape(features)[0]) if self.self_loops else 0) > 0
        attention = ops.where(linked, ops.softmax(ops.where(linked, scores, -1e9), axis=1), 0.0)
        return ops.matmul(attention, z) + self.bias, attention


def test_check_gat_layer():
    assert checks.check_gat_layer(DenseGAT) is None
    fails_with("q3_3", "attention", checks.check_gat_layer,
               lambda channels: DenseGAT(channels, self_loops=False))
    fails_with("q3_3", "returns", checks.check_gat_layer, GCNConv)


def test_check_a_plus_i():
    assert checks.check_a_plus_i(self_loop_adjacency, propagation_steps) is None
    fails_with("q3_2", "a_plus_i_fall2019", checks.check_a_plus_i,
               lambda g: self_loop_adjacency(g) - np.eye(len(g), dtype=int), propagation_steps)
    fails_with("q3_2", "updates_fall2019", checks.check_a_plus_i, self_loop_adjacency,
               lambda graph, source, target: propagation_steps(graph, source, target) + 1)


def test_check_graph_lstm_cell():
    assert checks.check_graph_lstm_cell(answer("q3_5")["GraphConvLSTMCell"]) is None
    fails_with("q3_5", "outputs", checks.check_graph_lstm_cell,
               answer("q3_5", "no_graph")["GraphConvLSTMCell"])


# ---------------------------------------------------------------- stubs


def test_checks_say_when_the_graded_cell_is_still_a_stub():
    def stub(*args, **kwargs):
        raise NotImplementedError("write your solution here")

    class StubCell(keras.layers.Layer):
        def __init__(self, units):
            super().__init__()

        def build(self, input_shape):
            raise NotImplementedError("write your solution here")

    for question, check, args in [("q1_2", checks.check_cell, (StubCell, "rnn")),
                                  ("q1_1", checks.check_bptt, (stub,)),
                                  ("q1_5", checks.check_parameter_count, (stub,)),
                                  ("q2_3", checks.check_temperature, (stub,)),
                                  ("q3_1", checks.check_gcn_normalize, (stub,))]:
        failure = fails_with(question, "not_implemented", check, *args)
        assert failure.failed == "not implemented yet"


# ---------------------------------------------------------------- nothing from the answers


def _imports(tree):
    """Every module ``tree`` imports (``from x import y`` gives ``x`` and ``x.y``)."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = ("course_kit.checks." * bool(node.level)) + (node.module or "")
            yield base
            yield from (f"{base}.{alias.name}" for alias in node.names)


@pytest.mark.backend_independent
def test_the_checks_import_no_answer_module():
    found = []
    for path in sorted((ROOT / "course_kit" / "checks").glob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        found += [f"{path.name}: {name}" for name in _imports(tree)
                  if name.startswith(KIT_ANSWERS) or name in ("importlib", "runpy")]
        found += [f"{path.name}: {node.id}" for node in ast.walk(tree)
                  if isinstance(node, ast.Name) and node.id in ("__import__", "exec", "eval")]
    assert not found, found


# The right answers the grader's mutation tests start from (each question module's _ANSWER,
# written without the kit), and the check each one must pass.
_ANSWERS_AND_CHECKS = [
    ("q1_1", "check_bptt(bptt_vanilla_rnn)"),
    ("q1_2", "check_cell(VanillaRNNCell, 'rnn')"),
    ("q1_4", "check_optimizer(SGD, 'momentum'); check_optimizer(RMSProp, 'rmsprop'); "
             "check_optimizer(Adam, 'adam')"),
    ("q1_5", "check_parameter_count(count_parameters)"),
    ("q1_6", "check_cell(LSTMCell, 'lstm')"),
    ("q1_7", "check_gradient_norms(gradient_norms_over_time)"),
    ("q1_9", "check_cell(PeepholeLSTMCell, 'peephole_lstm'); check_cell(GRUCell, 'gru')"),
    ("q2_1", "check_text_model(build_text_model)"),
    ("q2_2", "check_greedy(greedy_sample)"),
    ("q2_3", "check_temperature(sample_temperature, draws=4000)"),
    ("q2_4", "check_completion(complete)"),
    ("q2_5", "check_beam_search(beam_search)"),
    ("q3_1", "check_gcn_normalize(gcn_normalize); check_gcn_layer(GCNConv)"),
    ("q3_2", "check_a_plus_i(a_plus_i, updates_between)"),
    ("q3_3", "check_gat_layer(GATConv)"),
    ("q3_5", "check_graph_lstm_cell(GraphConvLSTMCell)"),
]

_RUN_IN_THE_STUDENT_EDITION = """
import json, sys
import course_kit
from course_kit import checks
from course_kit.layers import VanillaRNNCell

try:
    VanillaRNNCell(3)
except NotImplementedError:
    pass
else:
    raise SystemExit("not the student edition: its answers do not raise")
for source, calls in json.load(sys.stdin):
    namespace = {"__name__": "__main__"}
    exec(source, namespace)
    exec(calls, {**vars(checks), **namespace})
print(course_kit.EDITION)
"""


@pytest.mark.slow
def test_the_checks_pass_right_answers_in_the_student_edition(tmp_path, backend):
    from grader.edition import stage_student_kit

    stage_student_kit(tmp_path)
    jobs = [(module(qid)._ANSWER, calls) for qid, calls in _ANSWERS_AND_CHECKS]
    env = {**os.environ, "PYTHONPATH": str(tmp_path), "KERAS_BACKEND": backend}
    result = subprocess.run([sys.executable, "-c", _RUN_IN_THE_STUDENT_EDITION],
                            input=json.dumps(jobs), capture_output=True, text=True, env=env,
                            cwd=tmp_path, timeout=900)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert result.stdout.count("PASS ") == 20, result.stdout
    assert result.stdout.strip().splitlines()[-1] == "student"


# Warnings Python does not show outside __main__, so never in a student's notebook.
_HIDDEN_WARNINGS = (DeprecationWarning, PendingDeprecationWarning, ImportWarning, ResourceWarning)


def test_every_check_returns_none_and_writes_nothing_to_stderr(capfd):
    """nbgrader scores a check cell with output on stderr (a warning too) as failed, and reads
    a value the cell returns as its score: a passing check must do neither."""
    jobs = [(answer(qid), call) for qid, calls in _ANSWERS_AND_CHECKS
            for call in calls.split("; ")]
    jobs += [({}, "check_accuracy(0.95, 0.9, question='q1_3')"), ({}, "check_environment()")]
    for namespace, call in jobs:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            returned = eval(call, {**vars(checks), **namespace})
        assert returned is None, (call, returned)
        shown = [f"{w.category.__name__}: {w.message}" for w in caught
                 if not issubclass(w.category, _HIDDEN_WARNINGS)]
        assert not shown, (call, shown)
    captured = capfd.readouterr()
    assert captured.err == ""
    assert captured.out.count("PASS ") == len(jobs) - 1  # check_environment prints no PASS

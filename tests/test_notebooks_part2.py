"""Notebooks 07 to 11: their visible checks (``course_kit.checks``) pass a correct
implementation and stop a wrong one; the notebooks' structure and release; grading them.

Executing the notebooks is CI's separate ``pytest --nbval-lax solutions/`` run."""

from pathlib import Path

import nbformat
import numpy as np
import pytest
from answers import answer
from keras import ops
from notebook_grading import assert_solutions_full_and_release_zero

from course_kit.checks import (
    CheckFailed,
    check_a_plus_i,
    check_beam_search,
    check_completion,
    check_gat_layer,
    check_gcn_layer,
    check_gcn_normalize,
    check_graph_lstm_cell,
    check_greedy,
    check_temperature,
)
from course_kit.graphs import propagation_steps, self_loop_adjacency
from course_kit.layers import GCNConv
from grader.notebooks import cell_id, find_cells, release_notebook
from grader.registry import QUESTIONS


class NoSelfLoopGCN(GCNConv):
    """A classic mistake: the degree normalisation without the self-loops."""

    def call(self, inputs):
        features, graph = inputs
        if "int" in str(graph.dtype):
            return super().call(inputs)
        adjacency = ops.cast(graph, "float32")
        inverse_sqrt = ops.rsqrt(ops.maximum(ops.sum(adjacency, axis=1), 1.0))
        a_hat = inverse_sqrt[:, None] * adjacency * inverse_sqrt[None, :]
        return ops.matmul(a_hat, ops.matmul(features, self.kernel)) + self.bias


def test_graph_lstm_check_passes_a_dense_cell_and_stops_a_per_node_lstm(capsys):
    assert check_graph_lstm_cell(answer("q3_5")["GraphConvLSTMCell"]) is None
    with pytest.raises(CheckFailed):
        check_graph_lstm_cell(answer("q3_5", "no_graph")["GraphConvLSTMCell"])
    assert "h_t at every step: relative error" in capsys.readouterr().out


def greedy(model, first_token, length):
    state, sequence = model.initial_state(1), [int(first_token)]
    while len(sequence) < length:
        logits, state = model.step([sequence[-1]], state)
        sequence.append(int(np.argmax(logits[0])))
    return np.array(sequence)


def test_graph_checks_pass_the_reference():
    assert check_gcn_layer(GCNConv) is None
    assert check_a_plus_i(self_loop_adjacency, propagation_steps) is None
    assert check_gcn_normalize(
        lambda a: np.diag(1 / np.sqrt(a.sum(1) + 1)) @ (a + np.eye(len(a)))
        @ np.diag(1 / np.sqrt(a.sum(1) + 1))) is None


def test_graph_checks_stop_mistakes(capsys):
    with pytest.raises(CheckFailed):
        check_gcn_layer(NoSelfLoopGCN)
    assert "<--" in capsys.readouterr().out
    with pytest.raises(CheckFailed):
        check_gcn_normalize(lambda a: a + np.eye(len(a)))
    with pytest.raises(CheckFailed):
        check_a_plus_i(lambda g: self_loop_adjacency(g) - np.eye(len(g), dtype=int),
                       propagation_steps)
    with pytest.raises(CheckFailed, match="pair"):
        check_gat_layer(GCNConv)


def test_text_checks_pass_correct_and_stop_wrong_samplers():
    assert check_greedy(greedy) is None
    with pytest.raises(CheckFailed):
        check_greedy(lambda model, first, length: np.full(length, first))
    completion = check_completion(lambda model, prompt, length: greedy_after(model, prompt, length))
    assert completion is None
    with pytest.raises(CheckFailed):  # continues from the last token without warming the state
        check_completion(lambda model, prompt, length: np.concatenate(
            [prompt[:-1], greedy(model, prompt[-1], length + 1)]))
    assert check_beam_search(beam_search) is None
    with pytest.raises(CheckFailed):  # the beams prune: keeping every sequence finds another
        check_beam_search(lambda model, first, length, width: brute_force(model, first, length))
    with pytest.raises(CheckFailed):
        check_beam_search(lambda model, first, length, width: np.full(length, first))


def test_temperature_check_tells_the_two_conventions_apart():
    def multiply(logits, tau, rng):
        p = np.exp(tau * logits - np.max(tau * logits))
        return rng.choice(len(p), p=p / p.sum())

    assert check_temperature(multiply, draws=4000, tolerance=0.03) is None
    with pytest.raises(CheckFailed):
        check_temperature(lambda x, tau, rng: multiply(x, 1 / tau, rng), draws=4000)


def greedy_after(model, prompt, length):
    state, sequence = model.initial_state(1), [int(t) for t in prompt]
    for token in sequence:
        logits, state = model.step([token], state)
    for _ in range(length):
        sequence.append(int(np.argmax(logits[0])))
        logits, state = model.step([sequence[-1]], state)
    return np.array(sequence)


def beam_search(model, first, length, width):
    beams = [(0.0, [int(first)], model.initial_state(1))]
    for _ in range(length - 1):
        grown = []
        for score, sequence, state in beams:
            logits, after = model.step([sequence[-1]], state)
            log_probabilities = logits[0] - np.logaddexp.reduce(logits[0])
            grown += [(score + log_probabilities[token], [*sequence, token], after)
                      for token in range(model.vocab_size)]
        beams = sorted(grown, key=lambda beam: -beam[0])[:width]
    return np.array(beams[0][1])


def brute_force(model, first, length):
    import itertools

    def score(sequence):
        state, total = model.initial_state(1), 0.0
        for current, following in itertools.pairwise(sequence):
            logits, state = model.step([current], state)
            total += logits[0][following] - np.logaddexp.reduce(logits[0])
        return total

    tails = itertools.product(range(model.vocab_size), repeat=length - 1)
    return np.array(max(((first, *tail) for tail in tails), key=score))


# ---------------------------------------------------------------- the notebooks themselves

SOLUTIONS = Path(__file__).resolve().parent.parent / "solutions"
#: Which notebook holds each question of Parts 2 and 3.
PARTS_2_3 = {
    "07_text_generation.ipynb": ("q2_1", "q2_2"),
    "08_sampling.ipynb": ("q2_3", "q2_4", "q2_5"),
    "09_gcn.ipynb": ("q3_1", "q3_2"),
    "10_gat.ipynb": ("q3_3",),
    "11_graphs_and_sequences.ipynb": ("q3_4", "q3_5"),
}
AUTOMATIC = tuple(q for qs in PARTS_2_3.values() for q in qs if QUESTIONS[q].automatic)


def _read(name):
    return nbformat.read(SOLUTIONS / name, as_version=4)


@pytest.mark.backend_independent
@pytest.mark.parametrize("name", sorted(PARTS_2_3))
def test_notebook_structure_and_release(name):
    notebook = _read(name)
    for cell in notebook.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, cell.source[:80]
    cells = find_cells({name: notebook})
    for qid in PARTS_2_3[name]:
        question = QUESTIONS[qid]
        for graded in ((qid,) if question.automatic else ()) + question.answer_cells:
            assert graded in cells, f"{name} has no cell {graded}"
            cell = next(c for c in notebook.cells if cell_id(c) == graded)
            assert cell.metadata["course_kit"]["graded"] == graded
            assert graded in cell.source.splitlines()[0]
        if question.automatic:  # the next code cell after a graded cell is its visible check
            index = next(i for i, c in enumerate(notebook.cells) if cell_id(c) == qid)
            following = [c for c in notebook.cells[index + 1:] if c.cell_type == "code"]
            assert "check_" in following[0].source, f"{name}: no check after {qid}"
    student = release_notebook(notebook)
    text = nbformat.writes(student)
    for word in ("### BEGIN SOLUTION", "### END SOLUTION", "Model answer"):
        assert word not in text, f"{name}: {word!r} left in the student release"
    code = [c for c in student.cells if c.cell_type == "code"]
    assert "check_environment(" in code[0].source


@pytest.mark.slow
def test_solutions_get_full_automatic_marks_and_the_release_gets_zero(tmp_path, backend):
    assert_solutions_full_and_release_zero(tmp_path, SOLUTIONS, PARTS_2_3, AUTOMATIC, backend)


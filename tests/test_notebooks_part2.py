"""The visible checks of notebooks 07 to 10 (``course_kit.checks_part23``): they pass a
correct implementation and stop a wrong one with CheckFailed."""

import numpy as np
import pytest
from keras import ops

from course_kit.checks import CheckFailed
from course_kit.checks_part23 import (
    check_a_plus_i,
    check_beam_search,
    check_completion,
    check_gat_layer,
    check_gcn_layer,
    check_gcn_normalize,
    check_greedy,
    check_temperature,
)
from course_kit.graphs import propagation_steps, self_loop_adjacency
from course_kit.layers import GCNConv


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


def greedy(model, first_token, length):
    state, sequence = model.initial_state(1), [int(first_token)]
    while len(sequence) < length:
        logits, state = model.step([sequence[-1]], state)
        sequence.append(int(np.argmax(logits[0])))
    return np.array(sequence)


def test_graph_checks_pass_the_reference():
    assert check_gcn_layer(GCNConv)
    assert check_a_plus_i(self_loop_adjacency, propagation_steps)
    assert check_gcn_normalize(
        lambda a: np.diag(1 / np.sqrt(a.sum(1) + 1)) @ (a + np.eye(len(a)))
        @ np.diag(1 / np.sqrt(a.sum(1) + 1)))


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
    assert check_greedy(greedy)
    with pytest.raises(CheckFailed):
        check_greedy(lambda model, first, length: np.full(length, first))
    assert check_completion(lambda model, prompt, length: greedy_after(model, prompt, length))
    with pytest.raises(CheckFailed):  # continues from the last token without warming the state
        check_completion(lambda model, prompt, length: np.concatenate(
            [prompt[:-1], greedy(model, prompt[-1], length + 1)]))
    assert check_beam_search(lambda model, first, length, width: brute_force(model, first, length))
    with pytest.raises(CheckFailed):
        check_beam_search(lambda model, first, length, width: np.full(length, first))


def test_temperature_check_tells_the_two_conventions_apart():
    def multiply(logits, tau, rng):
        p = np.exp(tau * logits - np.max(tau * logits))
        return rng.choice(len(p), p=p / p.sum())

    assert check_temperature(multiply, draws=4000, tolerance=0.03)
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


def brute_force(model, first, length):
    import itertools

    def score(sequence):
        state, total = model.initial_state(1), 0.0
        for current, following in zip(sequence, sequence[1:]):
            logits, state = model.step([current], state)
            total += logits[0][following] - np.logaddexp.reduce(logits[0])
        return total

    tails = itertools.product(range(model.vocab_size), repeat=length - 1)
    return np.array(max(((first, *tail) for tail in tails), key=score))

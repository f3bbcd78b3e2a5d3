"""The diffusion task and the forecasters of ``course_kit.experiments.spatiotemporal`` without
the kit's answers: the task's data do not depend on ``gcn_normalize`` (and are the same as when
they did), and the graph LSTM runs a cell of the student's (the q3_5 contract)."""

import keras
import networkx as nx
import numpy as np
import pytest
from answers import answer
from graph_reference import gcn_propagation
from keras import ops

from course_kit.experiments.spatiotemporal import (
    NodeSignalCell,
    compare_forecasters,
    diffusion_task,
    graph_lstm_forecaster,
)
from course_kit.layers import GraphConvLSTMCell
from course_kit.layers.graph_ops import gcn_normalize
from course_kit.seeding import set_random_seed

# The q3_5 contract (x_t (batch, N, F), states [H, C]; no state_size: NodeSignalCell adds it),
# as the grader's own answer writes it with a dense A_hat.
DenseGraphLSTMCell = answer("q3_5")["GraphConvLSTMCell"]


def diffusion_task_with_gcn_normalize(num_nodes=12, steps=2, horizon=1, samples=512, noise=0.01,
                                      seed=0):
    """The task's data as the kit made them before, with the kit's ``gcn_normalize``."""
    rng = np.random.default_rng(seed)
    graph = nx.connected_watts_strogatz_graph(num_nodes, 4, 0.3, seed=int(rng.integers(2**31)))
    transition = gcn_normalize(nx.to_numpy_array(graph, nodelist=range(num_nodes)))
    signal = rng.normal(size=(samples, num_nodes))
    history = []
    for _ in range(steps + horizon):
        history.append(signal)
        signal = signal @ transition.T + noise * rng.normal(size=signal.shape)
    history = np.stack(history, axis=1)
    edges = np.array(graph.edges).T
    edge_index = np.concatenate([edges, edges[::-1]], axis=1).astype(np.int32)
    return (edge_index, history[:, :steps].astype(np.float32),
            history[:, steps + horizon - 1].astype(np.float32))


@pytest.mark.backend_independent
@pytest.mark.parametrize("settings", [
    {}, {"num_nodes": 12, "steps": 2, "samples": 256, "seed": 0}, {"seed": 1},
    {"num_nodes": 6, "steps": 3, "samples": 4, "seed": 1},
    {"num_nodes": 30, "steps": 4, "horizon": 2, "samples": 100, "noise": 0.05, "seed": 7},
])
def test_diffusion_task_data_are_those_gcn_normalize_made(settings):
    task = diffusion_task(**settings)
    edge_index, x, y = diffusion_task_with_gcn_normalize(**settings)
    assert np.array_equal(task.graph[0], edge_index)
    assert np.array_equal(task.graph[1], np.ones(edge_index.shape[1], np.float32))
    assert task.x.dtype == x.dtype == np.float32 and np.array_equal(task.x, x)
    assert task.y.dtype == y.dtype == np.float32 and np.array_equal(task.y, y)


@pytest.mark.backend_independent
def test_diffusion_task_does_not_call_the_answer(monkeypatch):
    import course_kit.layers.graph_ops as graph_ops

    def answer(*args, **kwargs):
        raise NotImplementedError("q3_1: write gcn_normalize in notebook 09 (09_gcn.ipynb)")

    monkeypatch.setattr(graph_ops, "gcn_normalize", answer)
    task = diffusion_task(num_nodes=6, samples=3, seed=2)
    assert task.x.shape == (3, 2, 6)


def test_node_signal_cell_runs_a_node_layout_cell_in_keras_rnn():
    task = diffusion_task(num_nodes=6, steps=3, samples=5, seed=1)
    adjacency = np.zeros((6, 6))
    adjacency[task.graph[0][1], task.graph[0][0]] = 1.0
    a_hat = gcn_propagation(adjacency).astype("float32")
    set_random_seed(0)
    inner = DenseGraphLSTMCell(3, a_hat)
    cell = NodeSignalCell(inner, num_nodes=6, units=3)
    assert cell.state_size == [18, 18] and cell.output_size == 18
    flat = ops.convert_to_numpy(keras.layers.RNN(cell)(task.x))
    # The same steps by hand, in the node layout.
    h = c = ops.zeros((5, 6, 3))
    for t in range(3):
        h, (h, c) = inner(task.x[:, t, :, None], [h, c])
    np.testing.assert_allclose(flat, ops.convert_to_numpy(h).reshape(5, 18), atol=1e-6)
    with pytest.raises(ValueError, match="num_nodes \\* input_features"):
        keras.layers.RNN(NodeSignalCell(DenseGraphLSTMCell(3, a_hat), 6, 3))(keras.Input((3, 7)))


def test_graph_lstm_forecaster_gives_an_own_cell_the_task_a_hat():
    task = diffusion_task(num_nodes=6, steps=3, samples=4, seed=1)
    received = {}

    def factory(units, a_hat):
        received.update(units=units, a_hat=a_hat)
        return DenseGraphLSTMCell(units, a_hat)

    model = graph_lstm_forecaster(task, units=5, cell=factory)
    assert ops.convert_to_numpy(model(task.x)).shape == (4, 6)
    adjacency = np.zeros((6, 6))
    adjacency[task.graph[0][1], task.graph[0][0]] = 1.0
    assert received["units"] == 5 and received["a_hat"].dtype == np.float32
    np.testing.assert_allclose(received["a_hat"], gcn_propagation(adjacency), rtol=1e-6)
    kit = graph_lstm_forecaster(task, units=5)
    assert any(isinstance(layer, keras.layers.RNN) and isinstance(layer.cell, GraphConvLSTMCell)
               for layer in kit.layers)
    with pytest.raises(TypeError, match="\\(units, a_hat\\) -> cell"):
        graph_lstm_forecaster(task, cell=DenseGraphLSTMCell(3, np.eye(6)))


def test_an_own_graph_lstm_cell_beats_a_per_node_lstm_on_diffusion():
    task = diffusion_task(seed=0)
    results = compare_forecasters(task, epochs=12, seed=0, cell=DenseGraphLSTMCell)
    graph_mse = results["graph_lstm"]["test_mse"]
    assert graph_mse < 0.5 * results["node_lstm"]["test_mse"], results
    assert graph_mse < 0.25 * results["persistence"]["test_mse"], results

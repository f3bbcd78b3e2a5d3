"""Graph meets sequence: forecast a signal diffusing over a graph (question q3_5, beyond).

Each sample is a random signal on a fixed random graph that diffuses by
``x_{t+1} = A_hat x_t + noise``, ``A_hat = D~^-1/2 (A + I) D~^-1/2`` (each node mixes its own
and its neighbours' values), starting from independent normal values. A model sees steps ``0..T-1`` and predicts every node's value ``horizon`` steps after
the last one. What arrives at a node comes from its neighbours, so a per-node LSTM that only
sees its own history cannot know it; an LSTM whose transforms are graph convolutions
(:class:`course_kit.layers.GraphConvLSTMCell`) can.

``python -m course_kit.experiments spatiotemporal`` trains both and prints their test MSE.
"""

from pathlib import Path

import keras
import networkx as nx
import numpy as np

from course_kit.layers.graph_conv_lstm import GraphConvLSTMCell
from course_kit.layers.graph_ops import gcn_normalize
from course_kit.plots.graph import plot_loss_curves

__all__ = [
    "DiffusionTask",
    "compare_forecasters",
    "diffusion_task",
    "graph_lstm_forecaster",
    "node_lstm_forecaster",
    "register",
    "run",
]


class DiffusionTask(dict):
    """``graph`` (edge_index, edge_weight), ``x`` ``(S, T, N)``, ``y`` ``(S, N)``, ``num_nodes``."""

    __getattr__ = dict.__getitem__


def diffusion_task(num_nodes=12, steps=2, horizon=1, samples=512, noise=0.01, seed=0):
    """Samples of a signal diffusing over a connected random graph (fixed by ``seed``).

    The initial node values are independent standard normals, so a node's own past says
    little about what its neighbours will send it. Returns a :class:`DiffusionTask` with float32 ``x`` (the observed steps) and
    ``y`` (the signal ``horizon`` steps after the last observed one).
    """
    if steps < 1 or horizon < 1 or num_nodes < 2 or samples < 1:
        raise ValueError(
            "num_nodes >= 2, steps >= 1, horizon >= 1 and samples >= 1 are required; got "
            f"{num_nodes}, {steps}, {horizon}, {samples}"
        )
    rng = np.random.default_rng(seed)
    graph = nx.connected_watts_strogatz_graph(num_nodes, 4, 0.3, seed=int(rng.integers(2**31)))
    transition = gcn_normalize(nx.to_numpy_array(graph, nodelist=range(num_nodes)))

    signal = rng.normal(size=(samples, num_nodes))
    history = []
    for _ in range(steps + horizon):
        history.append(signal)
        signal = signal @ transition.T + noise * rng.normal(size=signal.shape)
    history = np.stack(history, axis=1)  # (S, steps + horizon, N)
    edges = np.array(graph.edges).T
    edge_index = np.concatenate([edges, edges[::-1]], axis=1).astype(np.int32)
    return DiffusionTask(
        graph=(edge_index, np.ones(edge_index.shape[1], np.float32)),
        x=history[:, :steps].astype(np.float32),
        y=history[:, steps + horizon - 1].astype(np.float32),
        num_nodes=num_nodes,
    )


def graph_lstm_forecaster(task, units=16):
    """RNN(GraphConvLSTMCell) over ``(S, T, N)``, then a per-node linear read-out -> ``(S, N)``."""
    num_nodes = task.num_nodes
    inputs = keras.Input(shape=task.x.shape[1:])
    cell = GraphConvLSTMCell(units, task.graph, num_nodes)
    hidden = keras.layers.RNN(cell)(inputs)
    hidden = keras.layers.Reshape((num_nodes, units))(hidden)
    outputs = keras.layers.Reshape((num_nodes,))(keras.layers.Dense(1)(hidden))
    return keras.Model(inputs, outputs, name="graph_lstm")


def node_lstm_forecaster(task, units=16):
    """One LSTM shared by all nodes, each reading only its own series -> ``(S, N)``."""
    num_nodes = task.num_nodes
    inputs = keras.Input(shape=task.x.shape[1:])
    per_node = keras.layers.Reshape((-1, num_nodes, 1))(inputs)
    per_node = keras.layers.Permute((2, 1, 3))(per_node)  # (S, N, T, 1)
    hidden = keras.layers.TimeDistributed(keras.layers.LSTM(units))(per_node)  # (S, N, units)
    outputs = keras.layers.Reshape((num_nodes,))(keras.layers.Dense(1)(hidden))
    return keras.Model(inputs, outputs, name="node_lstm")


def compare_forecasters(task, test_fraction=0.25, epochs=10, units=16, seed=0,
                        learning_rate=0.01):
    """Train both forecasters on the same split; returns ``{name: {"test_mse", "history"}}``.

    Also reports the MSE of predicting the last observed value (``"persistence"``).
    """
    split = int(len(task.x) * (1 - test_fraction))
    results = {}
    for name, build in (("graph_lstm", graph_lstm_forecaster), ("node_lstm", node_lstm_forecaster)):
        keras.utils.set_random_seed(seed)
        model = build(task, units)
        model.compile(optimizer=keras.optimizers.Adam(learning_rate), loss="mse")
        history = model.fit(task.x[:split], task.y[:split], batch_size=32, epochs=epochs,
                            verbose=0).history
        test_mse = float(model.evaluate(task.x[split:], task.y[split:], verbose=0))
        results[name] = {"test_mse": test_mse, "history": history}
    persistence = float(np.mean((task.x[split:, -1] - task.y[split:]) ** 2))
    results["persistence"] = {"test_mse": persistence, "history": None}
    return results


def register(subparsers):
    parser = subparsers.add_parser(
        "spatiotemporal", help="graph-convolutional LSTM vs per-node LSTM on graph diffusion"
    )
    parser.add_argument("--nodes", type=int, default=12)
    parser.add_argument("--steps", type=int, default=2)
    parser.add_argument("--horizon", type=int, default=1)
    parser.add_argument("--samples", type=int, default=512)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path("results"))
    parser.set_defaults(func=run)


def run(args):
    task = diffusion_task(args.nodes, args.steps, args.horizon, args.samples, seed=args.seed)
    results = compare_forecasters(task, epochs=args.epochs, seed=args.seed)
    for name, result in results.items():
        print(f"{keras.backend.backend()} {name}: test MSE {result['test_mse']:.2e}")
    args.out.mkdir(parents=True, exist_ok=True)
    histories = {name: r["history"] for name, r in results.items() if r["history"] is not None}
    ax = plot_loss_curves(histories, title="Forecasting diffusion on a graph (training MSE)")
    ax.axhline(results["persistence"]["test_mse"], color="grey", linestyle="--",
               label="repeat last value (test)")
    ax.legend()
    figure = args.out / "spatiotemporal.png"
    ax.figure.savefig(figure, dpi=120, bbox_inches="tight")
    print(f"figure: {figure}")
    return 0

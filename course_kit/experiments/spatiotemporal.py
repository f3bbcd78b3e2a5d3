"""Graph meets sequence: forecast a signal diffusing over a graph (question q3_5, beyond).

Each sample is a random signal on a fixed random graph that diffuses by
``x_{t+1} = A_hat x_t + noise``, ``A_hat = D~^-1/2 (A + I) D~^-1/2`` (each node mixes its own
and its neighbours' values), starting from independent normal values. A model sees steps ``0..T-1`` and predicts every node's value ``horizon`` steps after
the last one. What arrives at a node comes from its neighbours, so a per-node LSTM that only
sees its own history cannot know it; an LSTM whose transforms are graph convolutions
(:class:`course_kit.layers.GraphConvLSTMCell`, or a cell of your own with the contract of
notebook 11: ``cell=`` in :func:`graph_lstm_forecaster` and :func:`compare_forecasters`) can.

``python -m course_kit.experiments spatiotemporal`` trains both and prints their test MSE.
"""

import keras
import networkx as nx
import numpy as np
from keras import ops
from tqdm.auto import tqdm

from course_kit.layers.graph_conv_lstm import GraphConvLSTMCell
from course_kit.plots.graph import plot_loss_curves
from course_kit.seeding import set_random_seed

__all__ = [
    "DiffusionTask",
    "NodeSignalCell",
    "compare_forecasters",
    "diffusion_task",
    "graph_lstm_forecaster",
    "node_lstm_forecaster",
    "run",
]


class DiffusionTask(dict):
    """``graph`` (edge_index, edge_weight), ``x`` ``(S, T, N)``, ``y`` ``(S, N)``, ``num_nodes``."""

    __getattr__ = dict.__getitem__


def _diffusion_matrix(adjacency):
    """``D~^-1/2 (A + I) D~^-1/2`` (float64) of a dense 0/1 adjacency without self-loops, the
    matrix the signal diffuses by. Computed here rather than with ``gcn_normalize``, which the
    student edition of the kit leaves for notebook 09 to write; the arithmetic, ``(s_i a_ij)
    s_j`` with ``s = degree ** -0.5``, gives the same float64 values bit for bit."""
    a_hat = np.asarray(adjacency, dtype=np.float64) + np.eye(len(adjacency))
    degree = a_hat.sum(axis=1)
    scale = np.zeros_like(degree)
    scale[degree > 0] = degree[degree > 0] ** -0.5
    return scale[:, None] * a_hat * scale[None, :]


def _task_adjacency(task):
    """The dense ``(N, N)`` 0/1 adjacency of a :class:`DiffusionTask`'s graph."""
    edge_index, _ = task.graph
    adjacency = np.zeros((task.num_nodes, task.num_nodes))
    adjacency[edge_index[1], edge_index[0]] = 1.0
    return adjacency


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
    transition = _diffusion_matrix(nx.to_numpy_array(graph, nodelist=range(num_nodes)))

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


@keras.saving.register_keras_serializable(package="course_kit")
class NodeSignalCell(keras.layers.Layer):
    """Runs a graph-recurrent cell with the layout of notebook 11 inside ``keras.layers.RNN``.

    The wrapped cell reads node signals ``x_t`` ``(batch, N, input_features)`` and states
    ``[H, C]``, each ``(batch, N, units)``, and returns ``(H_t, [H_t, C_t])``;
    ``keras.layers.RNN`` hands a cell flat vectors. This wrapper reshapes the step's input
    ``(batch, N * input_features)`` and the flat states ``(batch, N * units)`` on the way in and
    flattens the results on the way out, so any such cell (your ``GraphConvLSTMCell``) runs
    over a sequence of graph signals.

    Args:
        cell: the wrapped cell (a layer).
        num_nodes: ``N``.
        units: the state size per node.
        input_features: features per node and time step.
    """

    def __init__(self, cell, num_nodes, units, input_features=1, **kwargs):
        super().__init__(**kwargs)
        self.cell = cell
        self.num_nodes = int(num_nodes)
        self.units = int(units)
        self.input_features = int(input_features)
        self.state_size = [self.num_nodes * self.units, self.num_nodes * self.units]
        self.output_size = self.num_nodes * self.units

    def build(self, input_shape):
        if input_shape[-1] != self.num_nodes * self.input_features:
            raise ValueError(
                f"{self.name}: inputs must have num_nodes * input_features = "
                f"{self.num_nodes * self.input_features} features per step; got {input_shape[-1]}"
            )
        if not self.cell.built:
            self.cell.build((input_shape[0], self.num_nodes, self.input_features))

    def call(self, inputs, states):
        signals = ops.reshape(inputs, (-1, self.num_nodes, self.input_features))
        node_states = [ops.reshape(s, (-1, self.num_nodes, self.units)) for s in states]
        hidden, new_states = self.cell(signals, node_states)
        flat = self.num_nodes * self.units
        return ops.reshape(hidden, (-1, flat)), [ops.reshape(s, (-1, flat)) for s in new_states]

    def get_config(self):
        config = super().get_config()
        config.update(
            cell=keras.layers.serialize(self.cell),
            num_nodes=self.num_nodes,
            units=self.units,
            input_features=self.input_features,
        )
        return config

    @classmethod
    def from_config(cls, config):
        return cls(**dict(config, cell=keras.layers.deserialize(config["cell"])))


def _graph_cell(task, units, cell):
    """The kit's cell, or ``cell(units, a_hat)`` wrapped for ``keras.layers.RNN``."""
    if cell is None:
        return GraphConvLSTMCell(units, task.graph, task.num_nodes)
    if isinstance(cell, keras.layers.Layer) or not callable(cell):
        raise TypeError(
            "cell must be a cell class or a callable (units, a_hat) -> cell, such as your "
            f"GraphConvLSTMCell; got {cell!r}"
        )
    a_hat = _diffusion_matrix(_task_adjacency(task)).astype(np.float32)
    return NodeSignalCell(cell(units, a_hat), task.num_nodes, units)


def graph_lstm_forecaster(task, units=16, cell=None):
    """RNN(graph LSTM cell) over ``(S, T, N)``, then a per-node linear read-out -> ``(S, N)``.

    Args:
        task: a :class:`DiffusionTask`.
        units: state size per node.
        cell: ``None`` for the kit's :class:`~course_kit.layers.GraphConvLSTMCell`, or a cell
            class or callable ``(units, a_hat) -> cell`` with the contract of notebook 11 (your
            ``GraphConvLSTMCell``), given the task's ``A_hat`` ``(N, N)`` (float32) and run
            through :class:`NodeSignalCell`.
    """
    num_nodes = task.num_nodes
    inputs = keras.Input(shape=task.x.shape[1:])
    hidden = keras.layers.RNN(_graph_cell(task, units, cell))(inputs)
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
                        learning_rate=0.01, cell=None, show_progress=False):
    """Train both forecasters on the same split; returns ``{name: {"test_mse", "history"}}``.

    Also reports the MSE of predicting the last observed value (``"persistence"``). ``cell``
    is the graph LSTM's cell, as in :func:`graph_lstm_forecaster` (the kit's when ``None``);
    ``show_progress`` shows a progress bar over the epochs of both.
    """
    split = int(len(task.x) * (1 - test_fraction))
    results = {}
    builders = (
        ("graph_lstm", lambda task, units: graph_lstm_forecaster(task, units, cell=cell)),
        ("node_lstm", node_lstm_forecaster),
    )
    with tqdm(total=len(builders) * epochs, unit="epoch", disable=not show_progress) as bar:
        count_epoch = keras.callbacks.LambdaCallback(on_epoch_end=lambda epoch, logs: bar.update())
        for name, build in builders:
            bar.set_description(name)
            set_random_seed(seed)
            model = build(task, units)
            model.compile(optimizer=keras.optimizers.Adam(learning_rate), loss="mse")
            history = model.fit(task.x[:split], task.y[:split], batch_size=32, epochs=epochs,
                                callbacks=[count_epoch], verbose=0).history
            test_mse = float(model.evaluate(task.x[split:], task.y[split:], verbose=0))
            results[name] = {"test_mse": test_mse, "history": history}
    persistence = float(np.mean((task.x[split:, -1] - task.y[split:]) ** 2))
    results["persistence"] = {"test_mse": persistence, "history": None}
    return results


def run(args):
    """The command line's run (see ``python -m course_kit.experiments spatiotemporal --help``)."""
    task = diffusion_task(args.nodes, args.length, args.horizon, args.samples, seed=args.seed)
    results = compare_forecasters(task, epochs=args.epochs, seed=args.seed,
                                  show_progress=not args.no_progress)
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

"""The models and runners built from the student's own cells and layers (or Keras' cells)
instead of the kit's answers: ``make_cell`` and ``SequenceClassifier`` with a cell class or
factory, ``GCNNodeClassifier(conv=...)`` and ``GATNodeClassifier(conv=...)``, and all of it in
the student edition of the kit, where every answer raises."""

import json
import os
import subprocess
import sys

import keras
import networkx as nx
import numpy as np
import pytest
from graph_reference import gat_layer, gcn_layer
from keras import ops
from test_graph_models import community_graph

from course_kit.data import make_task
from course_kit.layers import GRUCell
from course_kit.models import SequenceClassifier, make_cell
from course_kit.models.graph import GATNodeClassifier, GCNNodeClassifier
from course_kit.seeding import set_random_seed
from course_kit.training import run_experiments
from course_kit.training.graph import graph_batch, train_node_classifier

# ---------------------------------------------------------------- own layers, as a student writes


class OwnRNNCell(keras.layers.Layer):
    """A vanilla RNN cell written from raw weights (the q1_2 contract)."""

    def __init__(self, units, **kwargs):
        super().__init__(**kwargs)
        self.units = units
        self.state_size = units

    def build(self, input_shape):
        self.W_hx = self.add_weight(shape=(input_shape[-1], self.units), name="W_hx")
        self.W_hh = self.add_weight(shape=(self.units, self.units), name="W_hh")
        self.b_h = self.add_weight(shape=(self.units,), initializer="zeros", name="b_h")

    def call(self, x_t, states):
        h = ops.tanh(ops.matmul(x_t, self.W_hx) + ops.matmul(states[0], self.W_hh) + self.b_h)
        return h, [h]


@keras.saving.register_keras_serializable(package="course_kit_tests")
class OwnGCNConv(keras.layers.Layer):
    """The q3_1 contract: ``[features, graph]`` with a dense adjacency or an int edge index."""

    def __init__(self, channels, **kwargs):
        super().__init__(**kwargs)
        self.channels = channels

    def build(self, input_shape):
        self.kernel = self.add_weight(shape=(input_shape[0][-1], self.channels), name="kernel")
        self.bias = self.add_weight(shape=(self.channels,), initializer="zeros", name="bias")

    def call(self, inputs):
        features, graph = inputs
        transformed = ops.matmul(features, self.kernel)
        num_nodes = ops.shape(features)[0]
        if "int" in keras.backend.standardize_dtype(graph.dtype):
            loops = ops.arange(num_nodes, dtype=graph.dtype)
            sources = ops.concatenate([graph[0], loops])
            targets = ops.concatenate([graph[1], loops])
            degree = ops.segment_sum(ops.ones(ops.shape(targets), transformed.dtype), targets,
                                     num_segments=num_nodes)
            scale = ops.rsqrt(ops.take(degree, sources) * ops.take(degree, targets))
            messages = ops.take(transformed, sources, axis=0) * scale[:, None]
            return ops.segment_sum(messages, targets, num_segments=num_nodes) + self.bias
        a_hat = ops.cast(graph, transformed.dtype) + ops.eye(num_nodes, dtype=transformed.dtype)
        scale = ops.rsqrt(ops.sum(a_hat, axis=1))
        return scale[:, None] * ops.matmul(a_hat, scale[:, None] * transformed) + self.bias

    def get_config(self):
        return {**super().get_config(), "channels": self.channels}


class OwnGATConv(keras.layers.Layer):
    """The q3_3 contract: one head on a dense adjacency, returns ``(output, attention)``."""

    def __init__(self, channels, **kwargs):
        super().__init__(**kwargs)
        self.channels = channels

    def build(self, input_shape):
        features = input_shape[0][-1]
        self.kernel = self.add_weight(shape=(features, self.channels), name="kernel")
        self.attn_kernel_self = self.add_weight(shape=(self.channels, 1), name="attn_kernel_self")
        self.attn_kernel_neighs = self.add_weight(shape=(self.channels, 1),
                                                  name="attn_kernel_neighs")
        self.bias = self.add_weight(shape=(self.channels,), initializer="zeros", name="bias")

    def call(self, inputs):
        features, adjacency = inputs
        z = ops.matmul(features, self.kernel)
        scores = ops.leaky_relu(ops.matmul(z, self.attn_kernel_self)
                                + ops.transpose(ops.matmul(z, self.attn_kernel_neighs)), 0.2)
        eye = ops.eye(ops.shape(features)[0], dtype=z.dtype)
        linked = (ops.cast(adjacency, z.dtype) + eye) > 0
        attention = ops.softmax(ops.where(linked, scores, -1e9), axis=1)
        attention = ops.where(linked, attention, 0.0)
        return ops.matmul(attention, z) + self.bias, attention


# ---------------------------------------------------------------- make_cell / SequenceClassifier


def test_make_cell_takes_a_name_a_class_or_a_factory():
    assert isinstance(make_cell("gru", 3), GRUCell)
    cell = make_cell(keras.layers.LSTMCell, 5, unit_forget_bias=False)
    assert isinstance(cell, keras.layers.LSTMCell) and cell.units == 5
    assert not cell.unit_forget_bias  # keyword arguments reach the constructor
    own = make_cell(OwnRNNCell, 4)
    assert isinstance(own, OwnRNNCell) and own.units == 4
    made = make_cell(lambda units: keras.layers.SimpleRNNCell(2 * units), 3)
    assert made.units == 6


def test_make_cell_refuses_what_is_not_a_cell_maker():
    with pytest.raises(ValueError, match="unknown cell"):
        make_cell("transformer", 4)
    with pytest.raises(TypeError, match="SequenceClassifier directly"):
        make_cell(keras.layers.LSTMCell(4), 4)
    with pytest.raises(TypeError, match="cell name"):
        make_cell(3, 4)
    with pytest.raises(TypeError, match="must return a recurrent cell"):
        make_cell(lambda units: keras.layers.Dense(units), 4)


@pytest.mark.parametrize("cell", [keras.layers.LSTMCell, OwnRNNCell, "rnn",
                                  lambda units: keras.layers.GRUCell(units)],
                         ids=["keras_class", "own_class", "name", "factory"])
def test_classifier_creates_its_cell_from_a_class_or_factory_and_units(cell):
    x, _ = make_task("binary_palindrome", 3, batch_size=4)[0]
    model = SequenceClassifier(cell, 2, units=6, vocab_size=3, embedding_dim=4)
    assert model.cell.units == 6 and model.recurrent.cell is model.cell
    assert ops.convert_to_numpy(model(x)).shape == (4, 2)


def test_classifier_with_a_keras_cell_is_bidirectional_and_reloads(tmp_path):
    x, _ = make_task("binary_palindrome", 3, batch_size=5)[0]
    model = SequenceClassifier(keras.layers.LSTMCell, 2, units=4, vocab_size=3,
                               embedding_dim=6, bidirectional=True)
    logits = ops.convert_to_numpy(model(x))
    assert model.classifier.kernel.shape == (8, 2)  # [h_fwd; h_bwd]
    path = tmp_path / "classifier.keras"
    model.save(path)
    reloaded = keras.saving.load_model(path)
    assert isinstance(reloaded.cell, keras.layers.LSTMCell)
    np.testing.assert_allclose(ops.convert_to_numpy(reloaded(x)), logits, atol=1e-6)


def test_classifier_needs_units_for_a_class_and_checks_them_for_a_cell():
    with pytest.raises(ValueError, match="pass units="):
        SequenceClassifier(keras.layers.LSTMCell, 2)
    with pytest.raises(ValueError, match="pass units="):
        SequenceClassifier("lstm", 2)
    with pytest.raises(ValueError, match="units=5 does not match the cell's units=4"):
        SequenceClassifier(keras.layers.LSTMCell(4), 2, units=5)
    assert SequenceClassifier(keras.layers.LSTMCell(4), 2, units=4).cell.units == 4


def test_run_experiments_trains_a_students_cell():
    def build(name, task):
        cells = {"own_rnn": OwnRNNCell, "keras_lstm": keras.layers.LSTMCell}
        return SequenceClassifier(cells[name], task.num_classes, units=8,
                                  vocab_size=task.vocab_size)

    rows = run_experiments(build, ["own_rnn", "keras_lstm"], "digit_palindrome", [3], [0],
                           steps=3, batch_size=16, show_progress=False, eval_samples=50,
                           jit_compile=False)
    assert [r["model"] for r in rows] == ["own_rnn", "keras_lstm"]
    assert all(r["steps_run"] == 3 and np.isfinite(r["final_loss"]) for r in rows)


# ---------------------------------------------------------------- node classifiers


def small_graph(seed=0, num_nodes=9, num_features=5):
    graph = nx.connected_watts_strogatz_graph(num_nodes, 4, 0.3, seed=seed)
    adjacency = nx.to_numpy_array(graph, nodelist=range(num_nodes))
    features = np.random.default_rng(seed).normal(size=(num_nodes, num_features))
    return features.astype("float32"), adjacency


def test_gcn_classifier_from_own_layer_computes_the_two_layer_gcn():
    features, adjacency = small_graph()
    inputs = graph_batch(features, adjacency)
    model = GCNNodeClassifier(3, hidden=4, dropout_rate=0.0, conv=OwnGCNConv)
    logits = ops.convert_to_numpy(model(inputs))[0]
    assert isinstance(model.hidden_conv, OwnGCNConv) and model.hidden_conv.channels == 4
    w1, b1 = (ops.convert_to_numpy(w) for w in (model.hidden_conv.kernel, model.hidden_conv.bias))
    w2, b2 = (ops.convert_to_numpy(w) for w in (model.output_conv.kernel, model.output_conv.bias))
    hidden = np.maximum(gcn_layer(features, adjacency, w1, b1), 0.0)
    np.testing.assert_allclose(logits, gcn_layer(hidden, adjacency, w2, b2), atol=1e-5)
    # Weight decay on the first kernel only, as in the kit's model.
    assert model.hidden_conv.kernel.regularizer is not None
    assert model.output_conv.kernel.regularizer is None and len(model.losses) == 1


def test_gat_classifier_from_own_layer_concatenates_heads_and_averages_outputs():
    features, adjacency = small_graph(1)
    inputs = graph_batch(features, adjacency)
    model = GATNodeClassifier(3, hidden=2, heads=3, output_heads=2, dropout_rate=0.0,
                              conv=OwnGATConv)
    logits = ops.convert_to_numpy(model(inputs))[0]
    assert len(model.hidden_convs) == 3 and len(model.output_convs) == 2

    def head_output(layer, values):
        kernel, attn_self, attn_neighs, bias = (ops.convert_to_numpy(w) for w in layer.weights)
        return gat_layer(values, adjacency, kernel[:, None, :], attn_self[:, None, :],
                         attn_neighs[:, None, :], bias)

    hidden = np.concatenate([head_output(layer, features) for layer in model.hidden_convs], 1)
    hidden = np.where(hidden > 0, hidden, np.expm1(np.minimum(hidden, 0)))  # ELU
    expected = np.mean([head_output(layer, hidden) for layer in model.output_convs], axis=0)
    np.testing.assert_allclose(logits, expected, atol=1e-5)
    # Weight decay on every kernel and attention kernel, not on the biases.
    assert len(model.losses) == 3 * (3 + 2)
    assert all(layer.bias.regularizer is None for layer in model.hidden_convs)


@pytest.mark.parametrize("model_class, learning_rate, conv",
                         [(GCNNodeClassifier, 0.01, OwnGCNConv),
                          (GATNodeClassifier, 0.01, OwnGATConv)], ids=["gcn", "gat"])
def test_node_classifier_from_own_layers_learns_from_the_graph(model_class, learning_rate, conv):
    features, adjacency, labels, (train, val, test), classes = community_graph()
    set_random_seed(0)
    model = model_class(classes, conv=conv)
    result = train_node_classifier(model, graph_batch(features, adjacency), labels, train, val,
                                   test, learning_rate=learning_rate, epochs=60, patience=20)
    assert result.test_accuracy >= 0.8, result


def test_own_layer_models_save_only_with_a_registered_layer(tmp_path):
    features, adjacency = small_graph()
    inputs = graph_batch(features, adjacency)
    model = GCNNodeClassifier(3, conv=OwnGCNConv)
    model(inputs)
    model.save(tmp_path / "gcn.keras")
    reloaded = keras.saving.load_model(tmp_path / "gcn.keras")
    assert reloaded.conv is OwnGCNConv
    np.testing.assert_allclose(reloaded.predict_on_batch(inputs), model.predict_on_batch(inputs),
                               atol=1e-6)
    unregistered = GATNodeClassifier(3, conv=OwnGATConv)
    unregistered(inputs)
    with pytest.raises(ValueError, match="register_keras_serializable"):
        unregistered.save(tmp_path / "gat.keras")


def test_node_classifiers_refuse_a_layer_instead_of_a_layer_maker():
    with pytest.raises(TypeError, match="channels -> layer"):
        GCNNodeClassifier(3, conv=OwnGCNConv(4))
    with pytest.raises(TypeError, match="must return a keras.layers.Layer"):
        GATNodeClassifier(3, conv=lambda channels: np.zeros(channels))


# ---------------------------------------------------------------- in the student edition

_IN_THE_STUDENT_EDITION = """
import json, sys
import keras
import numpy as np
from keras import ops

import course_kit
sys.path.insert(0, sys.argv[1])  # the tests folder, for the own layers
from test_models_own_layers import OwnGATConv, OwnGCNConv, OwnRNNCell, small_graph
from test_experiments_spatiotemporal import DenseGraphLSTMCell
from course_kit.data import make_task
from course_kit.experiments.spatiotemporal import diffusion_task, graph_lstm_forecaster
from course_kit.models import SequenceClassifier
from course_kit.models.graph import GATNodeClassifier, GCNNodeClassifier
from course_kit.training.graph import graph_batch

x, _ = make_task("binary_palindrome", 3, batch_size=4)[0]
shapes = {}
for name, cell in (("keras", keras.layers.LSTMCell), ("own", OwnRNNCell)):
    model = SequenceClassifier(cell, 2, units=4, vocab_size=3, embedding_dim=6)
    shapes[name] = list(ops.convert_to_numpy(model(x)).shape)
features, adjacency = small_graph()
inputs = graph_batch(features, adjacency)
shapes["gcn"] = list(ops.convert_to_numpy(GCNNodeClassifier(3, conv=OwnGCNConv)(inputs)).shape)
shapes["gat"] = list(ops.convert_to_numpy(GATNodeClassifier(3, conv=OwnGATConv)(inputs)).shape)
task = diffusion_task(num_nodes=6, steps=3, samples=4, seed=1)
forecaster = graph_lstm_forecaster(task, units=3, cell=DenseGraphLSTMCell)
shapes["forecast"] = list(ops.convert_to_numpy(forecaster(task.x)).shape)
try:
    SequenceClassifier("lstm", 2, units=4)
except NotImplementedError as error:
    shapes["kit_lstm"] = str(error)
print(json.dumps({"edition": course_kit.EDITION, "shapes": shapes}))
"""


@pytest.mark.slow
def test_own_cells_and_layers_run_in_the_student_edition(tmp_path, backend):
    from grader.edition import stage_student_kit

    stage_student_kit(tmp_path)
    tests = os.path.dirname(os.path.abspath(__file__))
    env = {**os.environ, "PYTHONPATH": str(tmp_path), "KERAS_BACKEND": backend}
    result = subprocess.run([sys.executable, "-c", _IN_THE_STUDENT_EDITION, tests],
                            capture_output=True, text=True, env=env, cwd=tmp_path, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["edition"] == "student"
    assert report["shapes"] == {
        "keras": [4, 2], "own": [4, 2], "gcn": [1, 9, 3], "gat": [1, 9, 3],
        "forecast": [4, 6],
        "kit_lstm": "q1_6: write LSTMCell in notebook 04 (04_lstm.ipynb)",
    }

"""Builds the red-team corpus (tests/submissions/) and the demo's sample submissions
(grader/sample_submissions/) from the cell sources below.

Run ``python tests/submissions/build.py`` after changing a source; a test checks that the
committed notebooks are what this script writes. Every red-team submission cheats or breaks
in one question and answers ``q1_5`` honestly, to show that honest questions still score.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from grader.files import atomic_write_text  # noqa: E402
from grader.notebooks import graded_cell, notebook_text  # noqa: E402

CORPUS = Path(__file__).resolve().parent
SAMPLES = ROOT / "grader" / "sample_submissions"

# ----------------------------------------------------------------- the reference solution

BPTT = '''
import numpy as np


def bptt_vanilla_rnn(x, y, W_hx, W_hh, b_h, W_ph, b_p):
    """Gradients of the mean last-step cross-entropy, by backpropagation through time."""
    batch, steps, _ = x.shape
    hs = [np.zeros((batch, W_hh.shape[0]))]
    for t in range(steps):
        hs.append(np.tanh(x[:, t] @ W_hx + hs[-1] @ W_hh + b_h))
    logits = hs[-1] @ W_ph + b_p
    p = np.exp(logits - logits.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    dlogits = p.copy()
    dlogits[np.arange(batch), y] -= 1.0
    dlogits /= batch
    grads = {"W_ph": hs[-1].T @ dlogits, "b_p": dlogits.sum(axis=0),
             "W_hx": np.zeros_like(W_hx), "W_hh": np.zeros_like(W_hh), "b_h": np.zeros_like(b_h)}
    dh = dlogits @ W_ph.T
    for t in range(steps, 0, -1):
        da = dh * (1.0 - hs[t] ** 2)
        grads["W_hx"] += x[:, t - 1].T @ da
        grads["W_hh"] += hs[t - 1].T @ da
        grads["b_h"] += da.sum(axis=0)
        dh = da @ W_hh.T
    return grads
'''

RNN_CELL = '''
import keras
from keras import ops


class VanillaRNNCell(keras.layers.Layer):
    def __init__(self, units, **kwargs):
        super().__init__(**kwargs)
        self.units = units

    def build(self, input_shape):
        d = input_shape[-1]
        self.W_hx = self.add_weight(shape=(d, self.units), name="W_hx")
        self.W_hh = self.add_weight(shape=(self.units, self.units), name="W_hh")
        self.b_h = self.add_weight(shape=(self.units,), initializer="zeros", name="b_h")

    def call(self, x, states):
        h = ops.tanh(ops.matmul(x, self.W_hx) + ops.matmul(states[0], self.W_hh) + self.b_h)
        return h, [h]
'''

PALINDROME = '''
import keras
from course_kit.data import make_task


def train_palindrome(input_length, steps, seed):
    keras.utils.set_random_seed(seed)
    task = make_task("digit_palindrome", input_length, batch_size=128, seed=seed, steps=steps)
    model = keras.Sequential([
        keras.Input((input_length,), dtype="int32"),
        keras.layers.Embedding(10, 16),
        keras.layers.SimpleRNN(128),
        keras.layers.Dense(10),
    ])
    model.compile(keras.optimizers.Adam(3e-3, clipnorm=10.0),
                  keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.fit(task, epochs=1, verbose=0)
    return model
'''

BINARY_PALINDROME = '''
import keras
from course_kit.data import make_task


def train_binary_palindrome(length, steps, seed):
    keras.utils.set_random_seed(seed)
    task = make_task("binary_palindrome", length, batch_size=128, seed=seed, steps=steps)
    model = keras.Sequential([
        keras.Input((task.input_length,), dtype="int32"),
        keras.layers.Embedding(task.vocab_size, 2 * length),
        keras.layers.LSTM(128),
        keras.layers.Dense(2),
    ])
    model.compile(keras.optimizers.Adam(2e-3, clipnorm=10.0),
                  keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.fit(task, epochs=1, verbose=0)
    return model
'''

GRAPH_LSTM = '''
import keras
from keras import ops


class GraphConvLSTMCell(keras.layers.Layer):
    def __init__(self, units, a_hat):
        super().__init__()
        self.units, self.a_hat = units, a_hat

    def build(self, input_shape):
        self.kernel = self.add_weight(shape=(input_shape[-1], 4 * self.units), name="kernel")
        self.recurrent_kernel = self.add_weight(shape=(self.units, 4 * self.units),
                                                name="recurrent_kernel")
        self.bias = self.add_weight(shape=(4 * self.units,), name="bias")

    def call(self, x, states):
        h, c = states
        a_hat = ops.cast(self.a_hat, x.dtype)
        z = (ops.einsum("ij,bjf,fk->bik", a_hat, x, self.kernel)
             + ops.einsum("ij,bju,uk->bik", a_hat, h, self.recurrent_kernel) + self.bias)
        i, f, g, o = ops.split(z, 4, axis=-1)
        c = ops.sigmoid(f) * c + ops.sigmoid(i) * ops.tanh(g)
        h = ops.sigmoid(o) * ops.tanh(c)
        return h, [h, c]
'''

OPTIMIZERS = '''
import numpy as np


class SGD:
    def __init__(self, learning_rate=0.01, momentum=0.0):
        self.learning_rate, self.momentum, self.velocity = learning_rate, momentum, 0.0

    def step(self, weights, gradients):
        self.velocity = self.momentum * self.velocity - self.learning_rate * gradients
        return weights + self.velocity


class RMSProp:
    def __init__(self, learning_rate=0.001, rho=0.9, epsilon=1e-7):
        self.learning_rate, self.rho, self.epsilon = learning_rate, rho, epsilon
        self.mean_square = 0.0

    def step(self, weights, gradients):
        self.mean_square = self.rho * self.mean_square + (1 - self.rho) * gradients**2
        return weights - self.learning_rate * gradients / (np.sqrt(self.mean_square) + self.epsilon)


class Adam:
    def __init__(self, learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7):
        self.learning_rate, self.beta_1, self.beta_2 = learning_rate, beta_1, beta_2
        self.epsilon = epsilon
        self.m = self.v = 0.0
        self.t = 0

    def step(self, weights, gradients):
        self.t += 1
        self.m = self.beta_1 * self.m + (1 - self.beta_1) * gradients
        self.v = self.beta_2 * self.v + (1 - self.beta_2) * gradients**2
        m_hat, v_hat = self.m / (1 - self.beta_1**self.t), self.v / (1 - self.beta_2**self.t)
        return weights - self.learning_rate * m_hat / (np.sqrt(v_hat) + self.epsilon)
'''

COUNT = '''
def count_parameters(d, n, c):
    """LSTM cell (4 gates, each W_x: d x n, W_h: n x n, b: n) plus a dense layer n -> c."""
    return 4 * (d * n + n * n + n) + n * c + c
'''

LSTM_CELL = '''
import keras
from keras import ops


class LSTMCell(keras.layers.Layer):
    def __init__(self, units, **kwargs):
        super().__init__(**kwargs)
        self.units = units

    def build(self, input_shape):
        d, n = input_shape[-1], self.units
        for gate in "gifo":
            setattr(self, f"W_{gate}x", self.add_weight(shape=(d, n), name=f"W_{gate}x"))
            setattr(self, f"W_{gate}h", self.add_weight(shape=(n, n), name=f"W_{gate}h"))
            setattr(self, f"b_{gate}", self.add_weight(shape=(n,), initializer="zeros",
                                                       name=f"b_{gate}"))

    def call(self, x, states):
        h, c = states

        def pre(gate):
            return (ops.matmul(x, getattr(self, f"W_{gate}x"))
                    + ops.matmul(h, getattr(self, f"W_{gate}h")) + getattr(self, f"b_{gate}"))

        g = ops.tanh(pre("g"))
        i, f, o = ops.sigmoid(pre("i")), ops.sigmoid(pre("f")), ops.sigmoid(pre("o"))
        c = g * i + c * f
        h = ops.tanh(c) * o
        return h, [h, c]
'''

GRADIENT_NORMS = '''
import keras
import numpy as np
from keras import ops

from course_kit.autodiff import value_and_grad


def gradient_norms_over_time(cell, x, y, W_ph, b_p):
    """||dL/dh_t|| for every t: differentiate with respect to a zero added to each h_t."""
    batch, steps, _ = x.shape
    units = W_ph.shape[0]
    W_ph, b_p = ops.convert_to_tensor(W_ph), ops.convert_to_tensor(b_p)

    def loss(shift):
        h = ops.zeros((batch, units), dtype=x.dtype)
        for t in range(steps):
            h, _ = cell(x[:, t], [h])
            h = h + shift[t]
        logits = ops.matmul(h, W_ph) + b_p
        return ops.mean(keras.losses.sparse_categorical_crossentropy(y, logits, from_logits=True))

    _, (grad,) = value_and_grad(loss, np.zeros((steps, batch, units), dtype=x.dtype))
    return np.linalg.norm(ops.convert_to_numpy(grad).reshape(steps, -1), axis=1)
'''

PEEPHOLE_GRU = '''
import keras
from keras import ops


class PeepholeLSTMCell(keras.layers.Layer):
    def __init__(self, units, **kwargs):
        super().__init__(**kwargs)
        self.units = units

    def build(self, input_shape):
        d, n = input_shape[-1], self.units
        for gate in "fio":
            setattr(self, f"W_{gate}x", self.add_weight(shape=(d, n), name=f"W_{gate}x"))
            setattr(self, f"W_{gate}h", self.add_weight(shape=(n, n), name=f"W_{gate}h"))
            setattr(self, f"b_{gate}", self.add_weight(shape=(n,), initializer="zeros",
                                                       name=f"b_{gate}"))
        self.W_cx = self.add_weight(shape=(d, n), name="W_cx")
        self.b_c = self.add_weight(shape=(n,), initializer="zeros", name="b_c")

    def call(self, x, states):
        _, c = states

        def gate(name):
            return ops.sigmoid(ops.matmul(x, getattr(self, f"W_{name}x"))
                               + ops.matmul(c, getattr(self, f"W_{name}h"))
                               + getattr(self, f"b_{name}"))

        f, i, o = gate("f"), gate("i"), gate("o")
        c = ops.sigmoid(ops.matmul(x, self.W_cx) + self.b_c) * i + c * f
        h = ops.tanh(c) * o
        return h, [h, c]


class GRUCell(keras.layers.Layer):
    def __init__(self, units, **kwargs):
        super().__init__(**kwargs)
        self.units = units

    def build(self, input_shape):
        d, n = input_shape[-1], self.units
        for name, shape in (("W_zx", (d, n)), ("W_zh", (n, n)), ("b_z", (n,)),
                            ("W_rx", (d, n)), ("W_rh", (n, n)), ("b_r", (n,)),
                            ("W_x", (d, n)), ("W_h", (n, n)), ("b", (n,))):
            setattr(self, name, self.add_weight(shape=shape, name=name))

    def call(self, x, states):
        (h,) = states
        z = ops.sigmoid(ops.matmul(x, self.W_zx) + ops.matmul(h, self.W_zh) + self.b_z)
        r = ops.sigmoid(ops.matmul(x, self.W_rx) + ops.matmul(h, self.W_rh) + self.b_r)
        candidate = ops.tanh(ops.matmul(x, self.W_x) + ops.matmul(r * h, self.W_h) + self.b)
        h = (1 - z) * h + z * candidate
        return h, [h]
'''

EXAMPLE_GRAPHS = '''
import numpy as np


def a_plus_i(graph):
    nodes = list(graph.nodes)
    index = {node: k for k, node in enumerate(nodes)}
    matrix = np.eye(len(nodes), dtype=int)
    for u, v in graph.edges:
        matrix[index[u], index[v]] = matrix[index[v], index[u]] = 1
    return matrix


def updates_between(graph, source, target):
    """Smallest k with (A+I)^k[source, target] > 0: k GCN layers carry the message."""
    nodes = list(graph.nodes)
    step = a_plus_i(graph)
    reach = np.eye(len(nodes), dtype=int)
    for k in range(1, len(nodes) + 1):
        reach = np.minimum(reach @ step, 1)
        if reach[nodes.index(source), nodes.index(target)]:
            return k
    raise ValueError(f"{target} cannot be reached from {source}")
'''

GCN = '''
import keras
import numpy as np
from keras import ops


def gcn_normalize(adjacency):
    a = np.asarray(adjacency, dtype=float) + np.eye(len(adjacency))
    scale = 1.0 / np.sqrt(a.sum(axis=1))
    return a * scale[:, None] * scale[None, :]


class GCNConv(keras.layers.Layer):
    def __init__(self, channels, **kwargs):
        super().__init__(**kwargs)
        self.channels = channels

    def build(self, input_shape):
        self.kernel = self.add_weight(shape=(input_shape[0][-1], self.channels), name="kernel")
        self.bias = self.add_weight(shape=(self.channels,), initializer="zeros", name="bias")

    def call(self, inputs):
        features, graph = inputs
        n = ops.shape(features)[0]
        if "int" in keras.backend.standardize_dtype(graph.dtype):
            # an edge index: row 0 sources, row 1 targets, A[target, source] = 1
            pairs = ops.stack([graph[1], graph[0]], axis=1)
            graph = ops.scatter(pairs, ops.ones((ops.shape(pairs)[0],), features.dtype), (n, n))
        a = graph + ops.eye(n, dtype=features.dtype)
        scale = 1.0 / ops.sqrt(ops.sum(a, axis=1))
        a_hat = a * scale[:, None] * scale[None, :]
        return ops.matmul(a_hat, ops.matmul(features, self.kernel)) + self.bias
'''

GAT = '''
import keras
from keras import ops


class GATConv(keras.layers.Layer):
    def __init__(self, channels, **kwargs):
        super().__init__(**kwargs)
        self.channels = channels

    def build(self, input_shape):
        c = self.channels
        self.kernel = self.add_weight(shape=(input_shape[0][-1], c), name="kernel")
        self.attn_kernel_self = self.add_weight(shape=(c, 1), name="attn_kernel_self")
        self.attn_kernel_neighs = self.add_weight(shape=(c, 1), name="attn_kernel_neighs")
        self.bias = self.add_weight(shape=(c,), initializer="zeros", name="bias")

    def call(self, inputs):
        features, adjacency = inputs
        z = ops.matmul(features, self.kernel)
        scores = (ops.matmul(z, self.attn_kernel_self)
                  + ops.transpose(ops.matmul(z, self.attn_kernel_neighs)))  # e[i, j]
        scores = ops.leaky_relu(scores, negative_slope=0.2)
        neighbours = (adjacency + ops.eye(ops.shape(features)[0], dtype=features.dtype)) > 0
        alpha = ops.softmax(ops.where(neighbours, scores, -1e9), axis=-1)
        alpha = ops.where(neighbours, alpha, 0.0)
        return ops.matmul(alpha, z) + self.bias, alpha
'''

TEXT_MODEL = '''
import keras


def build_text_model(vocab_size, units):
    return keras.Sequential([
        keras.layers.Embedding(vocab_size, units),
        keras.layers.LSTM(units, return_sequences=True),
        keras.layers.LSTM(units, return_sequences=True),
        keras.layers.Dense(vocab_size),
    ])
'''

GREEDY = '''
import numpy as np


def greedy_sample(model, first_token, length):
    tokens, state = [first_token], model.initial_state(1)
    while len(tokens) < length:
        logits, state = model.step([tokens[-1]], state)
        tokens.append(int(np.argmax(logits[0])))
    return tokens
'''

TEMPERATURE = '''
import numpy as np


def sample_temperature(logits, tau, rng):
    """The assignment's convention: tau multiplies the logits (tau = 2 is sharper)."""
    scaled = tau * np.asarray(logits, dtype=float)
    p = np.exp(scaled - scaled.max())
    return rng.choice(len(p), p=p / p.sum())
'''

COMPLETION = '''
import numpy as np


def complete(model, prompt, length):
    state = model.initial_state(1)
    for token in prompt[:-1]:
        _, state = model.step([token], state)
    tokens = list(prompt)
    for _ in range(length):
        logits, state = model.step([tokens[-1]], state)
        tokens.append(int(np.argmax(logits[0])))
    return tokens
'''

BEAM = '''
import numpy as np


def beam_search(model, first_token, length, beam_width):
    beams = [([first_token], model.initial_state(1), 0.0)]
    while len(beams[0][0]) < length:
        candidates = []
        for tokens, state, score in beams:
            logits, new_state = model.step([tokens[-1]], state)
            log_probs = logits[0] - np.logaddexp.reduce(logits[0])
            candidates += [(tokens + [k], new_state, score + log_probs[k])
                           for k in range(len(log_probs))]
        beams = sorted(candidates, key=lambda c: -c[2])[:beam_width]
    return beams[0][0]
'''

ANSWERS = {
    "q1_1": "dL/dW_ph uses only h_T; dL/dW_hh sums over every earlier step through the chain "
            "of Jacobians W_hh^T diag(1 - h_k^2), which shrinks or grows geometrically.",
    "q1_4": "Momentum averages noisy gradients; RMSProp and Adam scale each step per parameter.",
    "q3_4": "Molecule property prediction (atoms, bonds); recommendation (users, items).",
}

REFERENCE_CELLS = {
    1: {"q1_1": BPTT, "q1_2": RNN_CELL, "q1_3": PALINDROME, "q1_4": OPTIMIZERS, "q1_5": COUNT,
        "q1_6": LSTM_CELL, "q1_7": GRADIENT_NORMS, "q1_8": BINARY_PALINDROME,
        "q1_9": PEEPHOLE_GRU},
    2: {"q2_1": TEXT_MODEL, "q2_2": GREEDY, "q2_3": TEMPERATURE, "q2_4": COMPLETION,
        "q2_5": BEAM},
    3: {"q3_1": GCN, "q3_2": EXAMPLE_GRAPHS, "q3_3": GAT, "q3_5": GRAPH_LSTM},
}

# ----------------------------------------------------------------- broken and cheating cells

CHEATS = {
    "syntax_error": "def VanillaRNNCell(:\n    pass\n",
    "wrong_shapes": RNN_CELL.replace("shape=(d, self.units)", "shape=(self.units, d)")
                            .replace("ops.matmul(x, self.W_hx)",
                                     "ops.matmul(x, ops.transpose(self.W_hx))"),
    "nan_outputs": RNN_CELL.replace("return h, [h]", "h = h * float('nan')\n        return h, [h]"),
    "infinite_loop": "while True:\n    pass\n",
    "long_sleep": "import time\ntime.sleep(10**6)\n",
    "memory_hog": "hoard = []\nwhile True:\n    hoard.append(bytearray(50 * 2**20))\n",
    "process_storm": (
        "import os, subprocess, multiprocessing\nstarted = []\n"
        "for attempt in (lambda: subprocess.Popen(['sleep', '30']),\n"
        "                lambda: os.fork(),\n"
        "                lambda: multiprocessing.Process(target=print).start()):\n"
        "    for _ in range(300):\n"
        "        try:\n            started.append(attempt())\n"
        "        except Exception:\n            break\n"
        + RNN_CELL),
    "os_exit_at_import": "import os\nos._exit(0)\n" + RNN_CELL,
    "sys_exit_at_import": "import sys\nsys.exit(0)\n" + RNN_CELL,
    "keyboard_interrupt": "raise KeyboardInterrupt\n" + RNN_CELL,
    "fake_result": (
        "import os, sys, json\n"
        "print(json.dumps({'student': 'me', 'score': 100, "
        "'q1_2': {'score': 7, 'status': 'passed'}}))\n"
        "from grader.protocol import encode_frame, encode_arrays\n"
        "import numpy as np\n"
        "frame = encode_frame({'kind': 'result', 'qid': 'q1_2', 'status': 'ok'},\n"
        "                     encode_arrays({'outputs': np.zeros((2, 5, 4))}))\n"
        "for fd in range(3, 64):\n"
        "    try:\n        os.write(fd, frame)\n    except OSError:\n        pass\n"
        + RNN_CELL.replace("return h, [h]", "return h * 0, [h * 0]")),
    "write_results": (
        "import os, pathlib, course_kit\n"
        "repo = pathlib.Path(course_kit.__file__).resolve().parent.parent\n"
        "targets = [repo / 'grader' / 'references' / 'q1_2.npz', repo / 'grader' / 'registry.py']\n"
        "for root, dirs, files in os.walk('/tmp'):\n"
        "    targets += [pathlib.Path(root) / f for f in files "
        "if f in ('result.json', 'grades.csv')]\n"
        "    if len(targets) > 50:\n        break\n"
        "for target in targets:\n"
        "    try:\n        target.write_text('{\"score\": 100}')\n"
        "    except OSError:\n        pass\n"
        + RNN_CELL.replace("return h, [h]", "return h * 0, [h * 0]")),
    "read_references": (
        "import os, pathlib, numpy as np, course_kit\n"
        "repo = pathlib.Path(course_kit.__file__).resolve().parent.parent\n"
        "stolen = np.load(repo / 'grader' / 'references' / 'q1_2.npz')\n"
        "class VanillaRNNCell:\n    pass\n"),
    "read_references_dir_fd": (
        "import os, pathlib, course_kit\n"
        "repo = pathlib.Path(course_kit.__file__).resolve().parent.parent\n"
        "fd = os.open(repo, os.O_RDONLY)\n"
        "data = os.read(os.open('grader/references/q1_2.npz', os.O_RDONLY, dir_fd=fd), 10**6)\n"),
    "network_socket": (
        "import socket\nconnection = socket.create_connection(('93.184.216.34', 80), timeout=2)\n"
        + RNN_CELL),
    "monkeypatch_numpy": (
        "import numpy, numpy.testing\n"
        "numpy.allclose = lambda *a, **k: True\n"
        "numpy.testing.assert_allclose = lambda *a, **k: None\n"
        "numpy.array_equal = lambda *a, **k: True\n"
        + RNN_CELL.replace("return h, [h]", "return h * 0 + 1, [h * 0 + 1]")),
    "import_kit": "from course_kit.layers import VanillaRNNCell\n",
    "subclass_kit_obfuscated": (
        "import importlib\n"
        "base = getattr(importlib.import_module('course_kit.' + 'lay' + 'ers'), "
        "'Vanilla' + 'RNNCell')\n"
        "class VanillaRNNCell(base):\n    pass\n"),
    "huge_output": "for _ in range(100):\n    print('x' * 1_000_000)\n" + RNN_CELL,
}

# Red-team questions and points: q1_2 (7 points: 1 weights, 3 outputs, 3 gradients) and q1_5 (3).
CORPUS_QUESTIONS = "q1_2,q1_5"
EXPECTED = {
    "reference": [10, 10],
    "empty": [0, 0],
    "syntax_error": [3, 3],
    "wrong_shapes": [3, 3],
    "nan_outputs": [4, 4],           # weight names and shapes are right
    "infinite_loop": [3, 3],
    "long_sleep": [3, 3],
    "memory_hog": [3, 3],
    "process_storm": [10, 10],       # every spawn is refused; the honest cell then scores
    "os_exit_at_import": [3, 3],
    "sys_exit_at_import": [3, 3],
    "keyboard_interrupt": [3, 3],
    "fake_result": [3, 4],           # forged frames are rejected; weights may still count
    "write_results": [3, 4],
    "read_references": [3, 3],
    "read_references_dir_fd": [3, 3],
    "network_socket": [3, 3],
    "monkeypatch_numpy": [3, 4],
    "import_kit": [3, 3],
    "subclass_kit_obfuscated": [3, 3],
    "huge_output": [10, 10],
}


def notebook(cells_by_id, answers=None):
    cells = [nbformat.v4.new_markdown_cell("Submission built by tests/submissions/build.py.")]
    for graded_id, source in cells_by_id.items():
        cells.append(graded_cell(source, graded_id))
    for graded_id, text in (answers or {}).items():
        cells.append(graded_cell(text, f"{graded_id}_answer", "markdown"))
    for index, cell in enumerate(cells):
        cell.id = f"cell-{index}"  # fixed ids keep the files identical from build to build
    return nbformat.v4.new_notebook(cells=cells, metadata={"kernelspec": {
        "name": "python3", "display_name": "Python 3", "language": "python"}})


def outputs():
    """Every file this script writes, as ``{path: text}``."""
    from grader.registry import NOTEBOOKS

    files = {}

    def reference_folder(folder, replace=None, drop=()):
        cells = {k: (replace or {}).get(k, v) for part in REFERENCE_CELLS.values()
                 for k, v in part.items() if k not in drop}
        for name in sorted(set(NOTEBOOKS.values())):
            own = {k: v for k, v in cells.items() if NOTEBOOKS.get(k) == name}
            answers = {k: v for k, v in ANSWERS.items() if NOTEBOOKS[k] == name}
            if own or answers:
                files[folder / name] = notebook(own, answers)

    reference_folder(CORPUS / "reference")
    files[CORPUS / "empty" / "submission.ipynb"] = notebook({})
    for name, source in CHEATS.items():
        files[CORPUS / name / "submission.ipynb"] = notebook({"q1_2": source, "q1_5": COUNT})
    reference_folder(SAMPLES / "reference_solution")
    reference_folder(SAMPLES / "forgot_the_tanh",
                     replace={"q1_6": LSTM_CELL.replace("h = ops.tanh(c) * o", "h = c * o")})
    reference_folder(SAMPLES / "only_part_one",
                     drop=("q2_1", "q2_2", "q2_3", "q2_4", "q2_5", "q3_1", "q3_2", "q3_3",
                           "q3_5"))
    reference_folder(SAMPLES / "borrowed_the_kit",
                     replace={"q1_2": "from course_kit.layers import VanillaRNNCell\n"})
    texts = {path: notebook_text(nb) for path, nb in files.items()}
    texts[CORPUS / "expected.json"] = json.dumps(
        {"questions": CORPUS_QUESTIONS, "scores": EXPECTED}, indent=2) + "\n"
    return texts


def main():
    for path, text in outputs().items():
        atomic_write_text(path, text)
        print(f"wrote {path.relative_to(ROOT)}")


if __name__ == "__main__":
    main()

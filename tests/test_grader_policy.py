"""The source policy (grader/policy.py): cheats are refused, honest solutions never are.

Pure ``ast``: nothing here runs the sources, imports Keras for them or starts a student
process. Each cheat is one way a student was seen (or could be expected) to reach the kit's
answers or Keras' layers around a check of plain imports; each honest source is a reference
solution, a solution notebook's graded cell, or another style a correct student may write.
"""

import importlib.util
import sys
from pathlib import Path

import nbformat
import pytest

from grader import policy
from grader.notebooks import find_cells
from grader.policy import violations
from grader.registry import KERAS_RECURRENT, KIT_ANSWERS, QUESTIONS

ROOT = Path(__file__).resolve().parents[1]


def _load_build():
    spec = importlib.util.spec_from_file_location("submissions_build",
                                                  ROOT / "tests" / "submissions" / "build.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    try:
        spec.loader.exec_module(module)
    finally:
        del sys.modules[spec.name]
    return module


BUILD = _load_build()
# The reference solution of every question, by the names build.py gives them.
REFERENCES = {
    "q1_1": "BPTT", "q1_2": "RNN_CELL", "q1_3": "PALINDROME", "q1_4": "OPTIMIZERS",
    "q1_5": "COUNT", "q1_6": "LSTM_CELL", "q1_7": "GRADIENT_NORMS", "q1_8": "BINARY_PALINDROME",
    "q1_9": "PEEPHOLE_GRU", "q2_1": "TEXT_MODEL", "q2_2": "GREEDY", "q2_3": "TEMPERATURE",
    "q2_4": "COMPLETION", "q2_5": "BEAM", "q3_1": "GCN", "q3_2": "EXAMPLE_GRAPHS",
    "q3_3": "GAT", "q3_5": "GRAPH_LSTM",
}
STRICT = KIT_ANSWERS + KERAS_RECURRENT  # the forbidden list of the recurrent-cell questions


def check(source, qid="q1_2"):
    return violations([source], QUESTIONS[qid].policy_names, names=[qid])


# ---------------------------------------------------------------- honest sources


def test_reference_map_covers_every_reference_cell_of_build_py():
    cells = BUILD.REFERENCE_CELLS
    assert sorted(cells) == sorted(REFERENCES)
    for qid, name in REFERENCES.items():
        assert cells[qid] == getattr(BUILD, name), qid


@pytest.mark.parametrize("qid", sorted(REFERENCES))
def test_reference_solutions_pass_their_questions_policy(qid):
    assert check(getattr(BUILD, REFERENCES[qid]), qid) == []


@pytest.mark.parametrize("name", ["RNN_CELL", "LSTM_CELL", "PEEPHOLE_GRU", "GRAPH_LSTM", "BPTT",
                                  "OPTIMIZERS", "COUNT", "GCN", "GAT", "GREEDY", "BEAM"])
def test_own_implementations_pass_even_the_strictest_list(name):
    assert violations([getattr(BUILD, name)], STRICT) == []


def _notebook_cells(folder):
    notebooks = {path.name: nbformat.read(path, as_version=4)
                 for path in sorted((ROOT / folder).glob("*.ipynb"))}
    return {qid: cell["source"] for qid, cell in find_cells(notebooks).items()
            if qid in QUESTIONS and cell["cell_type"] == "code"}


SOLUTION_CELLS = _notebook_cells("solutions")
STUDENT_CELLS = _notebook_cells("notebooks")


def test_every_automatically_checked_question_has_a_solution_cell():
    code_cells = {c for q in QUESTIONS.values() for c in q.code_cells}
    assert sorted(SOLUTION_CELLS) == sorted(code_cells)
    assert any(QUESTIONS[q].forbidden for q in SOLUTION_CELLS)


@pytest.mark.parametrize("qid", sorted(SOLUTION_CELLS))
def test_solution_notebooks_pass_their_questions_policy(qid):
    """Honest students following the notebooks never lose points."""
    question = QUESTIONS[qid]
    sources = [SOLUTION_CELLS[c] for c in question.code_cells]
    assert violations(sources, question.policy_names, names=question.code_cells) == []


@pytest.mark.parametrize("qid", sorted(STUDENT_CELLS))
def test_student_notebook_stubs_pass_their_questions_policy(qid):
    question = QUESTIONS[qid]
    if all(c in STUDENT_CELLS for c in question.code_cells):
        sources = [STUDENT_CELLS[c] for c in question.code_cells]
        assert violations(sources, question.policy_names, names=question.code_cells) == []


HONEST = {
    "numpy_only_bptt": ("q1_1", '''
import math

import numpy as np


def bptt_vanilla_rnn(x, y, W_hx, W_hh, b_h, W_ph, b_p):
    """BPTT by hand (keras.layers.SimpleRNN and course_kit.layers named only in here)."""
    batch, steps, _ = x.shape
    h = np.zeros((steps + 1, batch, W_hh.shape[0]))
    for t in range(steps):
        h[t + 1] = np.tanh(np.einsum("bi,ij->bj", x[:, t], W_hx) + h[t] @ W_hh + b_h)
    logits = h[-1] @ W_ph + b_p
    p = np.exp(logits - logits.max(axis=1, keepdims=True))
    d = (p / p.sum(axis=1, keepdims=True) - np.eye(W_ph.shape[1])[y]) / batch
    grads = dict(W_ph=h[-1].T @ d, b_p=d.sum(0), W_hx=np.zeros_like(W_hx),
                 W_hh=np.zeros_like(W_hh), b_h=np.zeros_like(b_h))
    dh = d @ W_ph.T
    for t in reversed(range(1, steps + 1)):
        da = dh * (1 - h[t] ** 2)
        grads["W_hx"] += x[:, t - 1].T @ da
        grads["W_hh"] += h[t - 1].T @ da
        grads["b_h"] += da.sum(axis=0)
        dh = da @ W_hh.T
    assert math.isfinite(float(grads["b_p"].sum()))
    return grads
'''),
    "getattr_self_loops_and_helpers": ("q1_6", '''
%load_ext autoreload
!echo "magics are commented out, as in the student process"
import os
import sys

import keras
import numpy as np
from keras import initializers, ops

EPS = sys.float_info.epsilon
DEBUG = os.environ.get("DEBUG_CELL", "") == "1" or os.path.exists("debug.flag")


@keras.saving.register_keras_serializable(package="student")
class LSTMCell(keras.layers.Layer):
    """My own LSTM step: not keras.layers.LSTMCell, not course_kit.layers.LSTMCell."""

    GATES = ("i", "f", "o", "g")

    def __init__(self, units, activation="tanh", **kwargs):
        super().__init__(**kwargs)
        self.units = units
        self.state_size = [units, units]
        self.activation = keras.activations.get(activation)

    def build(self, input_shape):
        d, n = input_shape[-1], self.units
        for gate in self.GATES:
            setattr(self, "W_" + gate + "x", self.add_weight(
                shape=(d, n), name=f"W_{gate}x", initializer=initializers.GlorotUniform()))
            setattr(self, f"W_{gate}h", self.add_weight(shape=(n, n), name=f"W_{gate}h"))
            setattr(self, f"b_{gate}", self.add_weight(shape=(n,), initializer="zeros",
                                                       name=f"b_{gate}"))

    @property
    def kernels(self):
        return [getattr(self, name) for name in ("W_ix", "W_fx", "W_ox", "W_gx")]

    def weight(self, name):
        return getattr(self, name)

    def call(self, x_t, states):
        h, c = states
        pre = {gate: ops.matmul(x_t, self.weight("W_" + gate + "x"))
               + ops.matmul(h, getattr(self, f"W_{gate}h")) + getattr(self, f"b_{gate}")
               for gate in "ifog"}
        i, f, o = (ops.sigmoid(pre[k]) for k in "ifo")
        c = f * c + i * self.activation(pre["g"])
        h = o * ops.tanh(c)
        if DEBUG and hasattr(h, "__len__") and getattr(h, "dtype", None) is not None:
            print(type(self).__name__, self.__class__.__name__, EPS)
        return h, [h, c]

    def get_config(self):
        return {**super().get_config(), "units": self.units}


if __name__ == "__main__":
    cell = LSTMCell(4)
    cell.build((None, 3))
    out, _ = cell(np.zeros((2, 3), np.float32), [np.zeros((2, 4), np.float32)] * 2)
    assert isinstance(out, type(out)) and out.shape == (2, 4)
'''),
    "stacked_kernels": ("q1_9", '''
import keras
from keras import ops


class PeepholeLSTMCell(keras.layers.Layer):
    def __init__(self, units, **kwargs):
        super().__init__(**kwargs)
        self.units = units
        self.state_size = [units, units]

    def build(self, input_shape):
        d, n = input_shape[-1], self.units
        self.kernel = self.add_weight(shape=(d, 3 * n), name="kernel")
        self.peephole = self.add_weight(shape=(n, 3 * n), name="peephole")
        self.bias = self.add_weight(shape=(3 * n,), initializer="zeros", name="bias")
        self.W_cx = self.add_weight(shape=(d, n), name="W_cx")
        self.b_c = self.add_weight(shape=(n,), initializer="zeros", name="b_c")

    def call(self, x_t, states):
        _, c = states
        gates = ops.sigmoid(x_t @ self.kernel + c @ self.peephole + self.bias)
        f, i, o = ops.split(gates, 3, axis=-1)
        c = ops.sigmoid(x_t @ self.W_cx + self.b_c) * i + c * f
        return ops.tanh(c) * o, [ops.tanh(c) * o, c]


class GRUCell(keras.layers.Layer):
    def __init__(self, units, **kwargs):
        super().__init__(**kwargs)
        self.units = units
        self.state_size = units

    def build(self, input_shape):
        d, n = input_shape[-1], self.units
        for name, shape in (("W_zx", (d, n)), ("W_zh", (n, n)), ("b_z", (n,))):
            setattr(self, name, self.add_weight(shape=shape, name=name))
        for name in ("W_rx", "W_x"):
            setattr(self, name, self.add_weight(shape=(d, n), name=name))
        for name in ("W_rh", "W_h"):
            setattr(self, name, self.add_weight(shape=(n, n), name=name))
        for name in ("b_r", "b"):
            setattr(self, name, self.add_weight(shape=(n,), initializer="zeros", name=name))

    def call(self, x_t, states):
        (h,) = states
        z = ops.sigmoid(ops.matmul(x_t, getattr(self, "W_zx")) + h @ self.W_zh + self.b_z)
        r = ops.sigmoid(ops.matmul(x_t, self.W_rx) + ops.matmul(h, self.W_rh) + self.b_r)
        candidate = ops.tanh(ops.matmul(x_t, self.W_x) + ops.matmul(r * h, self.W_h) + self.b)
        stacked = ops.stack([h, candidate])
        h = (1 - z) * stacked[0] + z * stacked[1]
        return h, [h]
'''),
    "dataclass_optimizers": ("q1_4", '''
import math
from dataclasses import dataclass, field

import numpy as np


@dataclass
class Adam:
    learning_rate: float = 0.001
    beta_1: float = 0.9
    beta_2: float = 0.999
    epsilon: float = 1e-7
    state: dict = field(default_factory=dict)

    def step(self, weights, gradients):
        t = self.state.get("t", 0) + 1
        m = self.beta_1 * self.state.get("m", 0.0) + (1 - self.beta_1) * gradients
        v = self.beta_2 * self.state.get("v", 0.0) + (1 - self.beta_2) * np.square(gradients)
        self.state.update(t=t, m=m, v=v)
        scale = math.sqrt(1 - self.beta_2 ** t) / (1 - self.beta_1 ** t)
        return weights - self.learning_rate * scale * m / (np.sqrt(v) + self.epsilon)


class SGD:
    name = "SGD"

    def __init__(self, learning_rate=0.01, momentum=0.0):
        self.learning_rate, self.momentum, self.velocity = learning_rate, momentum, 0.0

    def step(self, weights, gradients):
        self.velocity = self.momentum * self.velocity - self.learning_rate * gradients
        return weights + self.velocity


class RMSProp(SGD):
    name = "RMSProp"

    def __init__(self, learning_rate=0.001, rho=0.9, epsilon=1e-7):
        super().__init__(learning_rate)
        self.rho, self.epsilon, self.mean_square = rho, epsilon, 0.0

    def step(self, weights, gradients):
        self.mean_square = self.rho * self.mean_square + (1 - self.rho) * gradients**2
        return weights - self.learning_rate * gradients / (np.sqrt(self.mean_square) + self.epsilon)
'''),
    "heapq_beam_search": ("q2_5", '''
import heapq
import itertools
import re

import numpy as np

SPACES = re.compile(r"\\s+")


def beam_search(model, first_token, length, beam_width):
    beams = [(0.0, [first_token], model.initial_state(1))]
    for _ in itertools.repeat(None, length - 1):
        candidates = []
        for score, tokens, state in beams:
            logits, new_state = model.step([tokens[-1]], state)
            logits = np.asarray(logits, dtype=np.float64)[0]
            log_probs = logits - np.logaddexp.reduce(logits)
            candidates += [(score + float(lp), tokens + [k], new_state)
                           for k, lp in enumerate(log_probs)]
        beams = heapq.nlargest(beam_width, candidates, key=lambda c: c[0])
    return np.array(max(beams, key=lambda c: c[0])[1])
'''),
    "main_guard_and_activation_by_name": ("q3_1", '''
import keras
import numpy as np
from keras import ops


def gcn_normalize(adjacency):
    a = np.asarray(adjacency, dtype=np.float64)
    a_tilde = a + np.eye(a.shape[0])
    d = np.diag(1.0 / np.sqrt(a_tilde.sum(axis=1)))
    return d @ a_tilde @ d


class GCNConv(keras.layers.Layer):
    def __init__(self, channels, activation=None, **kwargs):
        super().__init__(**kwargs)
        self.channels = channels
        self.activation = keras.activations.get(activation)
        self.tanh = getattr(np, "tanh")

    def build(self, input_shape):
        self.kernel = self.add_weight(shape=(input_shape[0][-1], self.channels), name="kernel",
                                      initializer=keras.initializers.GlorotUniform(seed=0))
        self.bias = self.add_weight(shape=(self.channels,), initializer="zeros", name="bias")

    def call(self, inputs):
        features, graph = inputs
        n = ops.shape(features)[0]
        if "int" in keras.backend.standardize_dtype(graph.dtype):
            graph = ops.scatter(ops.flip(ops.transpose(graph), axis=1),
                                ops.ones((ops.shape(graph)[1],), features.dtype), (n, n))
        a = ops.cast(graph, features.dtype) + ops.eye(n, dtype=features.dtype)
        scale = ops.power(ops.sum(a, axis=1), -0.5)
        out = (scale[:, None] * a * scale[None, :]) @ (features @ self.kernel) + self.bias
        return self.activation(out)


if __name__ == "__main__":
    layer = GCNConv(2, activation="relu")
    print(layer([np.ones((3, 2)), np.eye(3)]).shape)
'''),
    "jax_and_kit_autodiff": ("q1_7", '''
import jax
import keras
import numpy as np
from keras import ops

from course_kit.autodiff import value_and_grad
from course_kit.data import make_task


def gradient_norms_over_time(cell, x, y, W_ph, b_p):
    steps, units = x.shape[1], W_ph.shape[0]
    n_states = len(cell.state_size) if hasattr(cell.state_size, "__len__") else 1

    def loss(shift):
        states = [ops.zeros((x.shape[0], units), dtype=x.dtype)] * n_states
        for t in range(steps):
            h, states = cell(x[:, t], states)
            states = [h + shift[t], *states[1:]]
        logits = states[0] @ W_ph + b_p
        return ops.mean(keras.losses.sparse_categorical_crossentropy(y, logits, from_logits=True))

    _, (grad,) = value_and_grad(loss, np.zeros((steps, x.shape[0], units), dtype=x.dtype))
    assert jax.numpy.ndim(grad) == 3 and make_task is not None
    return np.linalg.norm(np.reshape(ops.convert_to_numpy(grad), (steps, -1)), axis=1)
'''),
}


@pytest.mark.parametrize("name", sorted(HONEST))
def test_other_honest_styles_pass(name):
    qid, source = HONEST[name]
    assert check(source, qid) == []


def test_no_forbidden_list_means_no_check_and_broken_cells_are_not_violations():
    assert violations(["from course_kit.layers import VanillaRNNCell"], ()) == []
    assert check("def VanillaRNNCell(:\n    pass\n") == []
    assert check("exec('x')\n" + "def broken(:\n") == []  # the child reports the SyntaxError


# ---------------------------------------------------------------- cheats

CHEATS = {
    # the kit's answers and Keras' layers under their own names, aliases and re-exports
    "import_kit": "from course_kit.layers import VanillaRNNCell\n",
    "alias_module": "import course_kit.layers as kit\nCell = kit.VanillaRNNCell\n",
    "alias_from": "from keras import layers as L\ncell = L.RNN(L.SimpleRNNCell(3))\n",
    "keras_attribute": "import keras\nclass C(keras.layers.SimpleRNNCell):\n    pass\n",
    "assigned_alias": "import keras\nL = keras.layers\nCell = L.LSTMCell\n",
    "keras_src": "import keras\ncell = keras.src.layers.rnn.lstm.LSTMCell(3)\n",
    "keras_src_import": "from keras.src.layers.rnn.simple_rnn import SimpleRNNCell as Cell\n",
    "tf_keras": "import tensorflow as tf\ncell = tf.keras.layers.SimpleRNNCell(3)\n",
    "torch": "import torch\ncell = torch.nn.RNNCell(3, 4)\n",
    "kit_reexport": "from course_kit.experiments.palindrome import make_cell\n",
    "kit_checks": "from course_kit.checks import _reference_cell\n",
    "star_keras": "from keras.layers import *\ncell = SimpleRNNCell(3)\n",
    "star_kit": "from course_kit.layers import *\n",
    "relative": "from .layers import VanillaRNNCell\n",
    "package_dunder": "__package__ = 'course_kit'\nfrom .layers import VanillaRNNCell\n",
    # loading by name
    "dunder_import": "base = __import__('course_kit.lay' + 'ers', fromlist=['x'])\n",
    "importlib": "import importlib\nm = importlib.import_module('course_kit.' + 'layers')\n",
    "importlib_from": "from importlib import import_module as load\nm = load('x')\n",
    "getattr_module": "import course_kit\nm = getattr(course_kit, 'lay' + 'ers')\n",
    "getattr_keras": "import keras\nCell = getattr(keras.layers, 'SimpleRNN' + 'Cell')\n",
    "getattr_literal": "import keras\nCell = getattr(keras.layers, 'SimpleRNNCell')\n",
    "getattr_value": "import functools\nf = functools.reduce(getattr, ['layers'], None)\n",
    "getattr_plain_function": "def grab(self, n):\n    return getattr(self, n)\n",
    "getattr_staticmethod": ("class A:\n    @staticmethod\n    def grab(self, n):\n"
                             "        return getattr(self, f'W{n}')\n"),
    "getattr_self_rebound": ("import keras\nclass A:\n    def f(self):\n"
                             "        self = keras.layers\n        return getattr(self, f'L{1}')\n"),
    "getattr_self_dunder": ("class A:\n    def f(self):\n"
                            "        return getattr(self, '_' + '_class__')\n"),
    "getattr_self_unknown_name": ("class A:\n    def f(self, name):\n"
                                  "        return getattr(self, name)\n"
                                  "    def g(self):\n        return self.f(input())\n"),
    "getattr_method_via_class": ("import keras\nclass A:\n    def f(self, name):\n"
                                 "        return getattr(self, name)\n"
                                 "A.f(keras.ops.tanh, 'W')\n"),
    "sys_modules": "import sys\nm = sys.modules['course_kit.layers']\n",
    "sys_alias": "import sys as s\nm = s.modules\n",
    "pkgutil": "import pkgutil\nC = pkgutil.resolve_name('x')\n",
    "pydoc": "import pydoc\nC = pydoc.locate('x')\n",
    "attrgetter": "import operator\nC = operator.attrgetter('x')\n",
    "runpy": "import runpy\nns = runpy.run_path('helper.py')\n",
    "keras_registered": "import keras\nC = keras.saving.get_registered_object('course' + '_kit>X')\n",
    "keras_utils_registered": "import keras\nC = keras.utils.get_registered_object(name)\n",
    "keras_deserialize": "import keras\ncell = keras.layers.deserialize(config)\n",
    "keras_from_json": "import keras\nm = keras.models.model_from_json(text)\n",
    "keras_from_config": "import keras\nm = keras.Model.from_config(config)\n",
    "keras_get_config": ("import keras\ncfg = {}\ncfg['x'] = 1\n"
                         "cell = keras.initializers.get(cfg)\n"),
    "keras_get_dict": "import keras\ncell = keras.activations.get({'config': {}})\n",
    "keras_load_model": "import keras\nm = keras.saving.load_model('kit.keras')\n",
    "config_keyword": "config = dict(class_name='X', config={})\n",
    # code built from text
    "exec": "exec(open('helper.py').read())\n",
    "exec_kit_source": ("import pathlib\nimport course_kit.data as d\n"
                        "exec(pathlib.Path(d.__file__).with_name('x').read_text())\n"),
    "exec_solution": ("import json\nnb = json.load(open('solutions/02_vanilla_rnn.ipynb'))\n"
                      "exec(nb['cells'][3]['source'])\n"),
    "eval": "x = eval('1 + 1')\n",
    "compile": "c = compile('x = 1', 'f', 'exec')\n",
    "eval_alias": "run = eval\nrun('1')\n",
    "code_module": "import code\ncode.InteractiveInterpreter().runsource('x = 1')\n",
    "magic_hides_nothing": "%time x = 1\n!echo hi\nexec('x = 1')\n",
    "types": "import types\nf = types.FunctionType(code, {})\n",
    "typing": "import typing\nh = typing.get_type_hints(f)\n",
    "breakpoint": "breakpoint()\n",
    # namespaces and the interpreter's internals
    "globals": "C = globals()['VanillaRNNCell']\n",
    "vars": "import keras\nd = vars(keras.layers)\n",
    "locals": "d = locals()\n",
    "builtins_name": "b = __builtins__\n",
    "builtins_module": "import builtins\nf = builtins.getattr\n",
    "subclasses": "import keras\nall_layers = keras.layers.Layer.__subclasses__()\n",
    "object_dict": "class A:\n    pass\nd = A().__dict__\n",
    "function_globals": "def f():\n    pass\ng = f.__globals__\n",
    "class_mro": "import keras\nm = keras.layers.Layer.mro()\n",
    "tuple_subclasses": "s = ().__class__.__base__.__subclasses__()\n",
    "inspect": "import inspect\nm = inspect.getmembers(x)\n",
    "gc": "import gc\nobjs = gc.get_objects()\n",
    "ctypes": "import ctypes\n",
    "numpy_ctypes": "import numpy as np\nlib = np.ctypeslib\n",
    "frame": "import sys\nf = sys._getframe(1).f_globals\n",
    "generator_frame": "def g():\n    yield me.gi_frame.f_back.f_globals\nme = g()\n",
    # pickles
    "pickle": "import pickle\nx = pickle.loads(data)\n",
    "marshal": "import marshal\nx = marshal.loads(data)\n",
    "dill": "import dill\n",
    "cloudpickle": "import cloudpickle\n",
    "numpy_pickle": "import numpy as np\nx = np.load('x.npy', allow_pickle=True)\n",
    "numpy_pickle_positional": "import numpy as np\nx = np.load('x.npy', None, True)\n",
    "pandas_pickle": "import pandas as pd\nx = pd.read_pickle('x.pkl')\n",
    # other programs, the grader itself
    "subprocess": "import subprocess\nsubprocess.run(['python', '-c', 'x'])\n",
    "multiprocessing": "import multiprocessing\n",
    "os_system": "import os\nos.system('python -c 1')\n",
    "os_fork": "import os\npid = os.fork()\n",
    "pty": "import pty\n",
    "socket": "import socket\n",
    "signal": "import signal\n",
    "grader": "import grader.policy\ngrader.policy.violations = lambda *a, **k: []\n",
    "child_module": "import probes\n",
    # a module passed around as a value hides what is used
    "module_in_list": "import keras\nmods = [keras.layers]\nC = mods[0].SimpleRNNCell\n",
    "module_returned": ("import course_kit.data.sequences as s\ndef f():\n    return s\n"
                        "t = f().make_task\n"),
    "module_argument": "import keras\nprint(keras.layers)\n",
    # strings naming forbidden things
    "string_module": "name = 'course_kit.layers'\n",
    "string_class": "name = 'SimpleRNNCell'\n",
    "string_dunder": "x = '__globals__'\n",
    "string_config": "x = {'module': 'keras.layers', 'class_name': 'LSTM' + 'Cell'}\n",
    "string_bytes": "x = b'course_kit'\n",
    "string_keras_src": "x = 'keras.src.layers'\n",
}


@pytest.mark.parametrize("name", sorted(CHEATS))
def test_every_evasion_is_refused(name):
    reasons = check(CHEATS[name])
    assert reasons, f"{name} was not refused"
    assert all(r.startswith("the graded cells ") for r in reasons), reasons


def _red_team_q1_2():
    """The q1_2 source of each red-team submission that has one (tests/submissions/build.py)."""
    sources = {}
    for name, case in BUILD.CASES.items():
        notebook = case.files.get("submission.ipynb")
        if hasattr(notebook, "cells"):
            cell = find_cells({"submission.ipynb": notebook}).get("q1_2")
            if cell is not None:
                sources[name] = (case, cell["source"])
    return sources


def test_the_red_team_cheats_that_reuse_names_are_refused():
    cases = _red_team_q1_2()
    # Which of them the policy must flag (statuses differ: in the jail the kit's answers are
    # stubs that raise, so a reuse the policy missed could not score either).
    refused = [name for name, (case, _) in cases.items() if case.policy == "flagged"]
    assert len(refused) >= 5
    for name in refused:
        assert check(cases[name][1]), name
    for name in ("wrong_shapes", "syntax_error", "huge_output"):
        assert check(cases[name][1]) == [], name


def test_messages_name_the_use_the_line_and_what_to_do():
    source = "import keras\n\nx = keras.layers.LSTMCell(3)\nimport numpy\nexec(text)\n"
    assert check(source) == [
        "the graded cells use `keras.layers.LSTMCell` (cell q1_2, line 3): this question asks "
        "for your own implementation from raw weights and keras.ops",
        "the graded cells call `exec` (cell q1_2, line 5): graded cells may not run code built "
        "from text",
    ]
    assert violations(["exec(text)"], STRICT) == [
        "the graded cells call `exec` (line 1): graded cells may not run code built from text"]
    (kit,) = check("from course_kit.layers import VanillaRNNCell\nc = VanillaRNNCell(3)\n")
    assert kit == ("the graded cells import `course_kit.layers.VanillaRNNCell` (cell q1_2, "
                   "lines 1, 2): "
                   "this question asks for your own implementation, not the course kit's answer")


def test_cells_share_one_namespace_and_are_named_in_messages():
    question = QUESTIONS["q1_2"]
    reasons = violations(["import keras.layers as L\n", "# graded\nC = L.GRUCell\n"],
                         question.forbidden, names=("first", "second"))
    assert reasons == ["the graded cells use `keras.layers.GRUCell` (cell second, line 2): this "
                       "question asks for your own implementation from raw weights and keras.ops"]


def test_a_class_name_is_refused_under_any_path_and_only_where_forbidden():
    assert check("from somewhere.deep.inside import SimpleRNNCell\n")
    assert check("import keras\nx = keras.layers.LSTM(3)\n", "q1_2")
    assert check("import keras\nx = keras.layers.LSTM(3)\n", "q2_1") == []  # kit-only list
    assert check("import keras\nx = keras.layers.Dense(3)\n", "q3_1")
    assert check("import keras\nx = keras.layers.LSTM(3)\n", "q3_1") == []  # graph list


def test_other_libraries_layers_are_refused_where_keras_layers_are():
    for source in ("import torch\nlayer = torch.nn.Linear(3, 4)\n",
                   "from flax import linen as nn\ncell = nn.OptimizedLSTMCell(4)\n",
                   "import spektral\nconv = spektral.layers.GCNConv(4)\n"):
        assert check(source, "q1_2") and check(source, "q3_1"), source
        assert check(source, "q2_2") == [], source  # the kit-only list
    assert check("import types\nns = types.SimpleNamespace(a=1)\n") == []
    assert check("import types\nf = types.MethodType(g, obj)\n")


def test_registry_lists_never_match_a_keras_base_class_on_any_backend():
    """The lists also reach the student process, whose probe flags a class when any class in
    its MRO lives under a listed module: a Keras layer's own bases must never match."""
    bases = ("keras.src.layers.layer", "keras.src.backend.jax.layer",
             "keras.src.backend.torch.layer", "torch.nn.modules.module", "flax.nnx.module",
             "tensorflow.python.trackable.autotrackable", "tensorflow.python.module.module",
             "builtins")
    for question in QUESTIONS.values():
        for entry in question.forbidden:
            assert not any(policy._matches(base, entry) for base in bases), (question.id, entry)


def test_getattr_on_self_needs_a_name_that_cannot_be_a_dunder():
    template = "class A:\n    def f(self, gate):\n        return getattr(self, {})\n"
    for name in ('f"W_{gate}x"', '"W_" + gate', '"kernel"', '"_private"'):
        assert check(template.format(name)) == [], name
    for name in ('f"{gate}"', '"_" + gate', "gate", '"__dict__"', 'f"_{gate}"'):
        assert check(template.format(name)), name
    calls = ("class A:\n    def f(self, name):\n        return getattr(self, name)\n"
             "    def g(self):\n        return self.f({})\n")
    assert check(calls.format('"W_x"')) == []
    assert check(calls.format('"_" + "_class__"'))


def test_the_check_fails_closed_on_what_it_cannot_read():
    deep = "x = 'a'" + " + 'a'" * 5000 + "\nclass A:\n    def f(self):\n        return " \
        "getattr(self, 'W' " + "+ 'a' " * 5000 + ")\n"
    assert check(deep), "a cell too deep to analyse must not pass unchecked"


def test_strip_magics_is_the_student_process_text():
    source = "  %matplotlib inline\n!pip install x\nx = '%not a magic'\n"
    assert policy.strip_magics(source) == "  # %matplotlib inline\n# !pip install x\n" \
                                          "x = '%not a magic'"

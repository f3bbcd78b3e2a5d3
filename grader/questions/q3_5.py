"""q3_5: a graph-convolutional LSTM cell (sequences meet graphs).

Contract (see :func:`grader.probes.probe_cell`): ``GraphConvLSTMCell(units, a_hat)`` with
``kernel (F, 4u)``, ``recurrent_kernel (u, 4u)``, ``bias (4u,)`` (gates i, f, g, o, in that
order); ``cell(x_t, [H, C])`` on node signals ``(batch, N, F)``, states ``(batch, N, u)``:
``[I, F, G, O] = A_hat X_t W + A_hat H_{t-1} U + b``, ``C_t = sigmoid(F) C_{t-1} +
sigmoid(I) tanh(G)``, ``H_t = sigmoid(O) tanh(C_t)``. The reference is the kit's
``GraphConvLSTMCell`` behind this contract (:func:`_kit_cell`).
"""

from grader.registry import KERAS_RECURRENT, KIT_ANSWERS, Check, Question, RubricItem

from . import edit, helpers

QUESTION = Question(
    "q3_5", "Sequences against graphs; a graph-convolutional LSTM cell", 3,
    "11_graphs_and_sequences.ipynb",
    checks=(
        Check("weight names and shapes", 1, "weight_shapes", kind="equal"),
        Check("node states over a sequence", 2, "outputs"),
        Check("gradients with respect to the weights", 2, "gradients"),
    ),
    rubric=(
        RubricItem("when to use an RNN and when a GNN", 2),
        RubricItem("a model that combines both, named and explained", 2),
    ),
    forbidden=KIT_ANSWERS + KERAS_RECURRENT,
)


def probe(namespace, context):
    return helpers().probe_cell(namespace, context, "GraphConvLSTMCell")


def _kit_cell(adjacency):
    """The class of the kit's ``GraphConvLSTMCell`` on the graph ``adjacency`` ``(N, N)`` (the
    kit normalises it) behind this question's contract: built as ``cls(units, a_hat)`` (its
    ``a_hat`` unused), it reads node signals ``x_t`` ``(batch, N, F)`` and states ``[h, c]``
    ``(batch, N, units)`` and returns ``(h_t, [h_t, c_t])``; the kit's cell itself works on
    signals flattened node-major, as ``keras.layers.RNN`` needs. Its weights ``kernel``,
    ``recurrent_kernel`` and ``bias`` are the kit cell's."""
    import keras
    from keras import ops

    from course_kit.layers import GraphConvLSTMCell

    num_nodes = len(adjacency)

    class KitGraphConvLSTMCell(keras.layers.Layer):
        def __init__(self, units, a_hat):
            super().__init__()
            self.units = units

        def build(self, input_shape):
            features = input_shape[-1]
            self.cell = GraphConvLSTMCell(self.units, adjacency, num_nodes,
                                          input_features=features)
            self.cell.build((None, num_nodes * features))
            self.kernel, self.recurrent_kernel, self.bias = (
                self.cell.kernel, self.cell.recurrent_kernel, self.cell.bias)

        def call(self, x_t, states):
            def flat(value):
                return ops.reshape(value, (ops.shape(value)[0], -1))

            h, new_states = self.cell(flat(x_t), [flat(state) for state in states])
            shape = (-1, num_nodes, self.units)
            return ops.reshape(h, shape), [ops.reshape(state, shape) for state in new_states]

    return KitGraphConvLSTMCell


def record(public=False):
    """Seed 35: the normalised fall 2019 example graph (drawn after the graph inputs of
    seed 35), 2 sequences of 4 steps of 2 features per node, 3 units (public: the 2020 graph,
    3 sequences of 3 steps of 3 features, 2 units)."""
    from course_kit.layers import gcn_normalize
    from grader.probes import Context
    from grader.references import GRAPH_SIZES, graph_inputs, seeded, weights

    rng = seeded(35, public)
    adjacency = graph_inputs(rng, {}, GRAPH_SIZES[public][0])["adjacency"]
    batch, steps, features, units = (3, 3, 3, 2) if public else (2, 4, 2, 3)
    nodes = len(adjacency)
    inputs = {"a_hat": gcn_normalize(adjacency),
              "x": rng.normal(size=(batch, steps, nodes, features)),
              "readout": rng.normal(size=(batch, steps, nodes, units)),
              **weights(rng, {"kernel": (features, 4 * units),
                              "recurrent_kernel": (units, 4 * units), "bias": (4 * units,)})}
    return inputs, probe({"GraphConvLSTMCell": _kit_cell(adjacency)}, Context(inputs))


_ANSWER = '''
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

MUTANTS = {
    # the state not propagated over the graph: H_{t-1} U instead of A_hat H_{t-1} U
    "state_not_propagated": edit(_ANSWER, (
        'ops.einsum("ij,bju,uk->bik", a_hat, h, self.recurrent_kernel)',
        'ops.einsum("bju,uk->bjk", h, self.recurrent_kernel)')),
    # no graph at all: an LSTM per node
    "no_graph": edit(_ANSWER, (
        'ops.einsum("ij,bjf,fk->bik", a_hat, x, self.kernel)',
        'ops.einsum("bjf,fk->bjk", x, self.kernel)'), (
        'ops.einsum("ij,bju,uk->bik", a_hat, h, self.recurrent_kernel)',
        'ops.einsum("bju,uk->bjk", h, self.recurrent_kernel)')),
    # the gates read in another order (i, f, o, g)
    "gate_order_ifog": edit(_ANSWER, ("i, f, g, o = ops.split(", "i, f, o, g = ops.split(")),
}

ALTERNATIVES = {
    # propagate first (A_hat by matmul), then one matmul per gate with split kernels
    "per_gate_kernels": '''
import keras
from keras import ops


class GraphConvLSTMCell(keras.layers.Layer):
    def __init__(self, units, a_hat, **kwargs):
        super().__init__(**kwargs)
        self.units = units
        self.a_hat = a_hat
        self.state_size = [units, units]

    def build(self, input_shape):
        u = self.units
        self.kernel = self.add_weight(shape=(input_shape[-1], 4 * u), name="kernel")
        self.recurrent_kernel = self.add_weight(shape=(u, 4 * u), name="recurrent_kernel")
        self.bias = self.add_weight(shape=(4 * u,), initializer="zeros", name="bias")

    def call(self, x_t, states):
        h_prev, c_prev = states
        a_hat = ops.convert_to_tensor(self.a_hat, dtype=x_t.dtype)
        ax, ah = ops.matmul(a_hat, x_t), ops.matmul(a_hat, h_prev)
        i, f, g, o = (ops.matmul(ax, w) + ops.matmul(ah, u) + b for w, u, b in zip(
            ops.split(self.kernel, 4, axis=1), ops.split(self.recurrent_kernel, 4, axis=1),
            ops.split(self.bias, 4)))
        c = ops.sigmoid(f) * c_prev + ops.sigmoid(i) * ops.tanh(g)
        h = ops.sigmoid(o) * ops.tanh(c)
        return h, [h, c]
''',
}

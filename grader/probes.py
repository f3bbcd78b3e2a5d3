"""Probes: what runs inside the student process for each question.

A probe receives the namespace the question's cells created and a :class:`Context` holding
the recorded inputs, calls the student's functions and classes following the contract of
the question (documented in each probe and in the notebooks), and returns a dict of arrays.
It never sees a reference. ``grader record`` calls the same probes on the kit's reference
implementations (with ``floatx`` float64), so student and reference go through one code path.
"""

from __future__ import annotations

import re
import sys

import keras
import numpy as np
from keras import ops

__all__ = ["Context", "ContractError", "PROBES", "strip_magics"]

MAGIC_LINE = re.compile(r"^(\s*)([%!].*)$")


def strip_magics(source: str) -> str:
    """Comment out IPython magics (``%matplotlib``, ``!pip``), which are not Python."""
    return "\n".join(MAGIC_LINE.sub(r"\1# \2", line) for line in source.splitlines())


class ContractError(Exception):
    """The student's code does not follow the question's contract (missing name, bad type)."""


def _resolve(dotted):
    """The already-imported module or object named ``dotted`` (``keras.layers.LSTM``), or None.

    Never imports (nor triggers a package's lazy ``__getattr__``): a package nobody imported
    cannot have been used, and importing, say, torch just to look would cost seconds.
    """
    if dotted in sys.modules:
        return sys.modules[dotted]
    module, _, attribute = dotted.rpartition(".")
    return vars(sys.modules[module]).get(attribute) if module in sys.modules else None


class Context:
    """Inputs for one question, and a record of forbidden classes found in student objects."""

    def __init__(self, inputs, forbidden=()):
        self.inputs = inputs
        self.notes = []
        self.kit_classes = set()
        self.forbidden_names = tuple(forbidden)

    def __getitem__(self, name):
        return self.inputs[name]

    def array(self, name):
        """An input as a float array in Keras' current ``floatx``."""
        return np.asarray(self.inputs[name], dtype=keras.config.floatx())

    def integer(self, name):
        return int(self.inputs[name])

    def _forbidden_class(self, cls):
        for name in self.forbidden_names:
            target = _resolve(name)
            if isinstance(target, type) and cls is target:
                return name
            if target is not None and not isinstance(target, type) and hasattr(target, "__name__"):
                module = getattr(cls, "__module__", "") or ""
                if module == target.__name__ or module.startswith(target.__name__ + "."):
                    return name
        return None

    def inspect(self, obj):
        """Record every forbidden class in ``obj``'s class hierarchy and in its sub-layers."""
        objects = [obj]
        if isinstance(obj, keras.layers.Layer):
            objects += list(obj._flatten_layers(include_self=False, recursive=True))
        for item in objects:
            for cls in type(item).__mro__:
                name = self._forbidden_class(cls)
                if name:
                    self.kit_classes.add(f"{cls.__module__}.{cls.__qualname__} (from {name})")


def student_object(namespace, name, kind="function or class"):
    """``namespace[name]``, or a ContractError saying the cell does not define it."""
    if name not in namespace:
        raise ContractError(f"the graded cell does not define {name!r} (a {kind})")
    return namespace[name]


def to_numpy(value):
    return np.asarray(keras.ops.convert_to_numpy(value))


# ---------------------------------------------------------------- recurrent cells


CELL_WEIGHTS = {
    "VanillaRNNCell": ("W_hx", "W_hh", "b_h"),
    "LSTMCell": tuple(f"{k}_{g}{s}" if k == "W" else f"b_{g}" for g in "gifo"
                      for k, s in (("W", "x"), ("W", "h"), ("b", ""))),
    "PeepholeLSTMCell": ("W_fx", "W_fh", "b_f", "W_ix", "W_ih", "b_i", "W_ox", "W_oh", "b_o",
                         "W_cx", "b_c"),
    "GRUCell": ("W_zx", "W_zh", "b_z", "W_rx", "W_rh", "b_r", "W_x", "W_h", "b"),
    "GraphConvLSTMCell": ("kernel", "recurrent_kernel", "bias"),
}
CELL_STATES = {"VanillaRNNCell": 1, "LSTMCell": 2, "PeepholeLSTMCell": 2, "GRUCell": 1,
               "GraphConvLSTMCell": 2}


def _shape_row(shape):
    """A weight shape as two integers (a vector of n is ``(n, 0)``, missing is ``(-1, -1)``)."""
    shape = tuple(int(s) for s in shape)
    return (shape + (0, 0))[:2] if len(shape) <= 2 else (-2, -2)


def probe_cell(namespace, context, class_name, prefix=""):
    """Contract of a recurrent-cell question.

    ``class_name(units)`` is a Keras layer whose weights are created on the first call and
    exposed as attributes named after the equations (``cell.W_hx``, input-major: shape
    ``(input_dim, units)``); ``cell(x_t, states)`` with ``x_t`` ``(batch, input_dim)`` and
    ``states`` a list of ``(batch, units)`` tensors returns ``(h_t, new_states)``.

    A graph-recurrent cell (q3_5) is built as ``class_name(units, a_hat)`` with the dense
    normalised adjacency ``a_hat`` ``(N, N)``; its inputs are node signals ``x_t`` ``(batch, N,
    features)`` and its states ``(batch, N, units)``.

    Returns ``weight_shapes`` (one row per weight), ``outputs`` (``h_t`` for every step,
    ``(batch, T, ..., units)``) and ``gradients`` (of ``sum_t <h_t, R_t>`` with respect to
    every weight, flattened and concatenated in the order of ``CELL_WEIGHTS``).
    """
    cls = student_object(namespace, class_name, "class")
    names = CELL_WEIGHTS[class_name]
    x = context.array("x")
    readout = context.array("readout")
    batch, steps = x.shape[:2]
    units = readout.shape[-1]
    cell = cls(units, context.array("a_hat")) if "a_hat" in context.inputs else cls(units)
    context.inspect(cell)
    states = [ops.zeros((batch, *x.shape[2:-1], units), dtype=keras.config.floatx())
              for _ in range(CELL_STATES[class_name])]
    cell(ops.convert_to_tensor(x[:, 0]), states)
    variables = [getattr(cell, name, None) for name in names]
    shapes = [(-1, -1) if v is None else _shape_row(v.shape) for v in variables]
    results = {f"{prefix}weight_shapes": np.array(shapes, dtype=np.int64)}
    expected = [_shape_row(context[f"w_{name}"].shape) for name in names]
    if shapes != expected:
        missing = [n for n, s, e in zip(names, shapes, expected) if s != e]
        context.notes.append(f"{prefix}outputs and gradients not computed: weights {missing} "
                             f"missing or mis-shaped")
        return results
    for name, variable in zip(names, variables):
        variable.assign(context.array(f"w_{name}"))

    def run():
        state = list(states)
        outputs = []
        for t in range(steps):
            h, state = cell(ops.convert_to_tensor(x[:, t]), state)
            if not isinstance(state, (list, tuple)):
                state = [state]
            outputs.append(h)
        return ops.stack(outputs, axis=1)

    from course_kit.autodiff import variables_value_and_grad

    outputs = run()
    _, grads = variables_value_and_grad(
        lambda: ops.sum(run() * ops.convert_to_tensor(readout)), variables
    )
    results[f"{prefix}outputs"] = to_numpy(outputs)
    results[f"{prefix}gradients"] = np.concatenate([to_numpy(g).ravel() for g in grads])
    return results


def probe_vanilla_rnn_cell(namespace, context):
    return probe_cell(namespace, context, "VanillaRNNCell")


def probe_lstm_cell(namespace, context):
    return probe_cell(namespace, context, "LSTMCell")


def probe_graph_lstm_cell(namespace, context):
    return probe_cell(namespace, context, "GraphConvLSTMCell")


def probe_peephole_and_gru_cells(namespace, context):
    """Both cells of q1_9; a failure in one still lets the other score."""
    results = {}
    for class_name, prefix in (("PeepholeLSTMCell", "peephole_"), ("GRUCell", "gru_")):
        inputs = {k[len(prefix):]: v for k, v in context.inputs.items() if k.startswith(prefix)}
        sub = Context(inputs, context.forbidden_names)
        try:
            results.update(probe_cell(namespace, sub, class_name, prefix))
        except Exception as error:  # reported per cell, so the other cell still counts
            context.notes.append(f"{class_name}: {type(error).__name__}: {error}")
        context.notes += sub.notes
        context.kit_classes |= sub.kit_classes
    return results


# ---------------------------------------------------------------- other part-1 questions


def probe_bptt(namespace, context):
    """Contract: ``bptt_vanilla_rnn(x, y, W_hx, W_hh, b_h, W_ph, b_p)`` with NumPy arrays
    (``x`` ``(batch, T, d)``, ``y`` int ``(batch,)``, weights input-major) returns a dict of
    NumPy gradients of the mean cross-entropy at the last step, keyed by weight name."""
    function = student_object(namespace, "bptt_vanilla_rnn", "function")
    weights = {name: np.asarray(context[f"w_{name}"], dtype=np.float64)
               for name in ("W_hx", "W_hh", "b_h", "W_ph", "b_p")}
    x = np.asarray(context["x"], dtype=np.float64)
    grads = function(x, np.asarray(context["y"]), **weights)
    if not isinstance(grads, dict):
        raise ContractError(f"bptt_vanilla_rnn must return a dict of gradients, got "
                            f"{type(grads).__name__}")

    def flat(*names):
        missing = [n for n in names if n not in grads]
        if missing:
            raise ContractError(f"the returned dict has no gradient for {missing}")
        return np.concatenate([np.asarray(grads[n], dtype=np.float64).ravel() for n in names])

    results = {}
    for output, names in (("grad_output", ("W_ph", "b_p")), ("grad_W_hh", ("W_hh",)),
                          ("grad_input", ("W_hx", "b_h"))):
        try:
            results[output] = flat(*names)
        except ContractError as error:
            context.notes.append(str(error))
    return results


def probe_parameter_count(namespace, context):
    """Contract: ``count_parameters(d, n, c)`` returns the number of trainable parameters of
    an LSTM cell with d inputs and n units plus a dense output layer with c classes."""
    function = student_object(namespace, "count_parameters", "function")
    sizes = np.asarray(context["sizes"])
    return {"counts": np.array([int(function(int(d), int(n), int(c))) for d, n, c in sizes],
                               dtype=np.int64)}


def probe_optimizers(namespace, context):
    """Contract (NumPy, as ``course_kit.training.optimizers``): classes
    ``SGD(learning_rate, momentum)``, ``RMSProp(learning_rate, rho, epsilon)`` and
    ``Adam(learning_rate, beta_1, beta_2, epsilon)``, each with ``step(weights, gradients)``
    returning the updated weights and keeping its own state (velocity, mean square, m, v, t).

    Returns the weights after every step of a fixed gradient sequence, per optimiser.
    """
    param0 = np.asarray(context["param"], dtype=np.float64)
    grads = np.asarray(context["grads"], dtype=np.float64)
    lr = float(context["learning_rate"])
    settings = {
        "momentum": ("SGD", {"learning_rate": lr, "momentum": 0.9}),
        "rmsprop": ("RMSProp", {"learning_rate": lr, "rho": 0.9, "epsilon": 1e-7}),
        "adam": ("Adam", {"learning_rate": lr, "beta_1": 0.9, "beta_2": 0.999, "epsilon": 1e-7}),
    }
    results = {}
    for output, (name, arguments) in settings.items():
        try:
            optimizer = student_object(namespace, name, "class")(**arguments)
            context.inspect(optimizer)
            param, trajectory = param0.copy(), []
            for grad in grads:
                param = np.asarray(optimizer.step(param, grad), dtype=np.float64)
                trajectory.append(param)
            results[output] = np.stack(trajectory)
        except Exception as error:  # one broken rule must not cost the other two
            context.notes.append(f"{name}: {type(error).__name__}: {error}")
    return results


def _held_out_predictions(model, context):
    """The labels ``model`` predicts for the recorded held-out inputs (the true labels stay in
    the grader)."""
    scores = to_numpy(model(ops.convert_to_tensor(np.asarray(context["x"]))))
    return {"predictions": np.argmax(scores, axis=-1).astype(np.int64)}


def probe_palindrome_training(namespace, context):
    """Contract: ``train_palindrome(input_length, steps, seed)`` trains a vanilla-RNN
    classifier on the digit palindrome (``course_kit.data.make_task("digit_palindrome",
    input_length)``) for at most ``steps`` steps and returns a Keras model mapping int inputs
    ``(n, input_length)`` to class scores ``(n, 10)``."""
    function = student_object(namespace, "train_palindrome", "function")
    model = function(input_length=np.asarray(context["x"]).shape[1],
                     steps=context.integer("steps"), seed=0)
    return _held_out_predictions(model, context)


def probe_binary_palindrome_training(namespace, context):
    """Contract: ``train_binary_palindrome(length, steps, seed)`` trains an LSTM with an
    embedding on the binary palindrome (``course_kit.data.make_task("binary_palindrome",
    length)``, inputs of ``4 * length + 1`` codes) for at most ``steps`` steps and returns a
    Keras model mapping int inputs ``(n, 4 * length + 1)`` to class scores ``(n, 2)``."""
    function = student_object(namespace, "train_binary_palindrome", "function")
    model = function(length=context.integer("length"), steps=context.integer("steps"), seed=0)
    return _held_out_predictions(model, context)


def probe_gradient_norms(namespace, context):
    """Contract: ``gradient_norms_over_time(cell, x, y, W_ph, b_p)`` runs ``cell`` over ``x``
    ``(batch, T, d)`` from a zero state, reads out ``p = h_T W_ph + b_p``, takes the mean
    cross-entropy with labels ``y`` and returns the norm of ``dL/dh_t`` for t = 1..T (shape
    ``(T,)``). The probe passes the kit's vanilla RNN cell with recorded weights."""
    from course_kit.layers import VanillaRNNCell

    function = student_object(namespace, "gradient_norms_over_time", "function")
    x = context.array("x")
    cell = VanillaRNNCell(context["w_W_hh"].shape[0])
    cell.build((None, x.shape[-1]))
    for name in ("W_hx", "W_hh", "b_h"):
        getattr(cell, name).assign(context.array(f"w_{name}"))
    norms = function(cell, x, np.asarray(context["y"]), context.array("w_W_ph"),
                     context.array("w_b_p"))
    return {"norms": np.asarray(to_numpy(norms), dtype=np.float64).ravel()}


# ---------------------------------------------------------------- graphs


def probe_example_graphs(namespace, context):
    """Contract: ``a_plus_i(graph)`` returns A+I of a networkx graph (rows and columns in
    the order of ``graph.nodes``), and ``updates_between(graph, source, target)`` the number
    of GCN updates (layers) needed for information from ``source`` to reach ``target``."""
    from course_kit.data import example_graph

    a_plus_i = student_object(namespace, "a_plus_i", "function")
    updates = student_object(namespace, "updates_between", "function")
    results = {}
    for name in ("fall2019", "2020"):
        graph = example_graph(name)
        try:
            results[f"a_plus_i_{name}"] = np.rint(to_numpy(a_plus_i(graph))).astype(np.int64)
        except Exception as error:
            context.notes.append(f"a_plus_i({name!r}): {type(error).__name__}: {error}")
        try:
            results[f"updates_{name}"] = np.array(int(updates(graph, "C", "E")), dtype=np.int64)
        except Exception as error:
            context.notes.append(f"updates_between({name!r}): {type(error).__name__}: {error}")
    return results


# ---------------------------------------------------------------- text generation


def _toy_model(context):
    """The recorded toy character model (see :class:`course_kit.checks.ToyCharModel`)."""
    from course_kit.checks import ToyCharModel

    return ToyCharModel(*(context[f"model_{k}"] for k in ("embedding", "recurrent", "readout")))


def _ids(value):
    return np.asarray(value, dtype=np.int64).reshape(-1)


def probe_text_model(namespace, context):
    """Contract: ``build_text_model(vocab_size, units)`` returns a Keras model mapping int
    ids ``(batch, T)`` to logits ``(batch, T, vocab_size)`` (embedding, two LSTM layers,
    dense). Returns the logits' shape on a fixed batch."""
    build = student_object(namespace, "build_text_model", "function")
    model = build(int(context["vocab_size"]), 16)
    context.inspect(model)
    logits = model(ops.convert_to_tensor(np.asarray(context["ids"], dtype=np.int32)))
    return {"logits_shape": np.array(logits.shape, dtype=np.int64)}


def probe_greedy(namespace, context):
    """Contract: ``greedy_sample(model, first_token, length)`` returns ``length`` token ids
    starting with ``first_token``, each next token the argmax of ``model.step`` (see
    :class:`ToyCharModel`), keeping the recurrent state between characters. Called twice to
    check that it is deterministic."""
    sample = student_object(namespace, "greedy_sample", "function")
    model = _toy_model(context)
    results = {}
    for length in np.asarray(context["lengths"]):
        first = [_ids(sample(model, int(context["first_token"]), int(length))) for _ in range(2)]
        if not np.array_equal(first[0], first[1]):
            context.notes.append(f"greedy_sample gave two different results for length {length}")
            first[0] = np.full_like(first[0], -1)
        results[f"greedy_{length}"] = first[0]
    return results


def probe_temperature(namespace, context):
    """Contract: ``sample_temperature(logits, tau, rng)`` draws one index from
    ``exp(tau * logits) / sum exp(tau * logits)`` (the assignment's convention: tau
    multiplies the logits) with the NumPy generator ``rng``. Returns the counts of many draws
    per tau; the grader tests them against the formula."""
    sample = student_object(namespace, "sample_temperature", "function")
    logits = np.asarray(context["logits"], dtype=np.float64)
    draws = int(context["draws"])
    results = {}
    for tau in np.asarray(context["taus"]):
        rng = np.random.default_rng(int(context["seed"]))
        picks = np.array([int(sample(logits, float(tau), rng)) for _ in range(draws)])
        if picks.min() < 0 or picks.max() >= len(logits):
            raise ContractError(f"sample_temperature returned an index outside "
                                f"0..{len(logits) - 1}")
        results[f"counts_{tau:g}"] = np.bincount(picks, minlength=len(logits)).astype(np.int64)
    return results


def probe_completion(namespace, context):
    """Contract: ``complete(model, prompt, length)`` feeds the prompt ids through
    ``model.step`` to warm the state, then appends ``length`` greedy tokens; returns prompt
    plus continuation as one id sequence."""
    complete = student_object(namespace, "complete", "function")
    model = _toy_model(context)
    prompt = _ids(context["prompt"])
    return {"completion": _ids(complete(model, prompt.copy(), int(context["length"])))}


def probe_beam_search(namespace, context):
    """Contract: ``beam_search(model, first_token, length, beam_width)`` returns the
    ``length``-token sequence starting with ``first_token`` with the highest total
    log-probability it finds (``model.step`` as in :class:`ToyCharModel`). With a beam as
    wide as the vocabulary on this small model it must find the brute-force optimum."""
    search = student_object(namespace, "beam_search", "function")
    model = _toy_model(context)
    return {"beam": _ids(search(model, int(context["first_token"]), int(context["length"]),
                                int(context["beam_width"])))}


def _graph_layer(namespace, context, class_name, weight_names):
    """Build the student's graph layer on the recorded features; check and set its weights."""
    cls = student_object(namespace, class_name, "class")
    features = context.array("features")
    adjacency = context.array("adjacency")
    layer = cls(int(context["channels"]))
    context.inspect(layer)
    layer([ops.convert_to_tensor(features), ops.convert_to_tensor(adjacency)])
    variables = [getattr(layer, name, None) for name in weight_names]
    shapes = [(-1, -1) if v is None else _shape_row(v.shape) for v in variables]
    expected = [_shape_row(context[f"w_{name}"].shape) for name in weight_names]
    results = {"weight_shapes": np.array(shapes, dtype=np.int64)}
    if shapes != expected:
        context.notes.append(f"outputs not computed: weights "
                             f"{[n for n, s, e in zip(weight_names, shapes, expected) if s != e]} "
                             f"missing or mis-shaped")
        return None, None, results
    for name, variable in zip(weight_names, variables):
        variable.assign(context.array(f"w_{name}").reshape(variable.shape))
    return layer, variables, results


def probe_gcn(namespace, context):
    """Contract: ``gcn_normalize(adjacency)`` returns ``D~^-1/2 (A + I) D~^-1/2`` of a dense
    NumPy adjacency; ``GCNConv(channels)`` is a Keras layer with weights ``kernel``
    ``(F, channels)`` and ``bias`` ``(channels,)``, no activation, whose call
    ``layer([features, graph])`` takes ``features`` ``(N, F)`` and ``graph`` either a dense
    adjacency ``(N, N)`` or a sparse edge index ``(2, E)`` (int; row 0 sources, row 1
    targets) and returns ``A_hat features kernel + bias``, ``(N, channels)``."""
    from course_kit.autodiff import variables_value_and_grad

    results = {}
    try:
        normalize = student_object(namespace, "gcn_normalize", "function")
        results["normalized"] = np.asarray(to_numpy(normalize(np.asarray(context["adjacency"]))),
                                           dtype=np.float64)
    except Exception as error:
        context.notes.append(f"gcn_normalize: {type(error).__name__}: {error}")
    layer, variables, shapes = _graph_layer(namespace, context, "GCNConv", ("kernel", "bias"))
    results.update(shapes)
    if layer is None:
        return results
    features = ops.convert_to_tensor(context.array("features"))
    dense = ops.convert_to_tensor(context.array("adjacency"))
    results["outputs_dense"] = to_numpy(layer([features, dense]))
    try:
        edges = ops.convert_to_tensor(np.asarray(context["edge_index"], dtype=np.int32))
        results["outputs_sparse"] = to_numpy(layer([features, edges]))
    except Exception as error:
        context.notes.append(f"edge-index input: {type(error).__name__}: {error}")
    readout = ops.convert_to_tensor(context.array("readout"))
    _, grads = variables_value_and_grad(lambda: ops.sum(layer([features, dense]) * readout),
                                        variables)
    results["gradients"] = np.concatenate([to_numpy(g).ravel() for g in grads])
    return results


def probe_gat(namespace, context):
    """Contract: ``GATConv(channels)`` is a one-head graph attention layer with weights
    ``kernel`` ``(F, channels)``, ``attn_kernel_self`` and ``attn_kernel_neighs``
    ``(channels, 1)`` and ``bias`` ``(channels,)``, no activation. ``layer([features,
    adjacency])`` (dense ``(N, N)``, ``A[i, j] = 1`` when j is a neighbour of i) returns
    ``(output, attention)``: ``z = features kernel``, ``e_ij = LeakyReLU_0.2(z_i
    attn_kernel_self + z_j attn_kernel_neighs)``, ``alpha_ij`` the softmax of ``e_ij`` over the
    neighbours j of i and i itself, ``output_i = sum_j alpha_ij z_j + bias`` ``(N, channels)``
    and ``attention`` the dense ``(N, N)`` matrix of ``alpha_ij`` (0 outside the
    neighbourhood)."""
    names = ("kernel", "attn_kernel_self", "attn_kernel_neighs", "bias")
    layer, _, results = _graph_layer(namespace, context, "GATConv", names)
    if layer is None:
        return results
    returned = layer([ops.convert_to_tensor(context.array("features")),
                      ops.convert_to_tensor(context.array("adjacency"))])
    if not isinstance(returned, (tuple, list)) or len(returned) != 2:
        raise ContractError("GATConv must return the pair (output, attention)")
    results["outputs"] = to_numpy(returned[0])
    results["attention"] = to_numpy(returned[1])
    return results


PROBES = {
    name[len("probe_"):]: function
    for name, function in dict(globals()).items()
    if name.startswith("probe_") and name != "probe_cell"
}

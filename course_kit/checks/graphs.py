"""Visible checks of Part 3 (notebooks 09 to 11): GCN normalisation and layer, A+I, GAT, and
the graph-convolutional LSTM cell.

Each check builds the student's function or layer on the small graph of its question's
public fixture (:func:`course_kit.checks._common.fixture`), gives it the recorded weights and
prints the relative error of every compared quantity against the recorded results.
"""

import keras
import numpy as np
from keras import ops

from course_kit.autodiff import variables_value_and_grad
from course_kit.checks._common import Report, _numpy, fixture, floats, recorded_mistakes
from course_kit.checks.recurrent import RecordedCell, compare_cell

__all__ = [
    "GRAPH_LSTM_CELL",
    "check_a_plus_i",
    "check_gat_layer",
    "check_gcn_layer",
    "check_gcn_normalize",
    "check_graph_lstm_cell",
]


def check_gcn_normalize(student_function):
    """Compare ``student_function(adjacency)`` with the recorded ``D~^-1/2 (A + I) D~^-1/2`` of
    the fixture's graph. A normalisation without the self-loops, or by ``1 / degree``, gets
    that mistake's hint."""
    inputs, expected = fixture("q3_1")
    with Report("q3_1", student_function.__name__, "gives D~^-1/2 (A + I) D~^-1/2") as report:
        report.arrays("normalised adjacency", student_function(inputs["adjacency"].copy()),
                      expected["normalized"], "normalized",
                      mistakes=recorded_mistakes("q3_1", expected, "normalized"))


def _set_weights(report, layer, inputs, weight_names):
    """Set the weights ``weight_names`` of the built ``layer`` to the recorded ones and return
    them; None, after reporting, when one is missing or mis-shaped."""
    variables = []
    for name in weight_names:
        want = inputs[f"w_{name}"].shape
        variable = getattr(layer, name, None)
        shape = None if variable is None else tuple(int(s) for s in variable.shape)
        text = f"missing, expected shape {want}" if variable is None else (
            f"shape {shape}" + ("" if shape == want else f", expected {want}"))
        report.record(f"weight {name}", text, shape == want, "weight_shapes")
        variables.append(variable)
    if report.failures:
        return None
    for name, variable in zip(weight_names, variables):
        variable.assign(inputs[f"w_{name}"].astype(variable.dtype))
    return variables


def check_gcn_layer(student_class):
    """Compare a student's ``GCNConv(channels)`` with the recorded kit's layer, dense and
    edge-list inputs.

    Compares the weights' shapes, the outputs for a dense adjacency and for an edge index,
    and the gradients of a fixed linear read-out with respect to ``kernel`` and ``bias``.
    Outputs computed without the self-loops or with ``D^-1`` get those mistakes' hints.
    """
    inputs, expected = fixture("q3_1")
    x, a, readout = (floats(inputs[name]) for name in ("features", "adjacency", "readout"))
    edges = ops.convert_to_tensor(inputs["edge_index"].astype("int32"))
    with Report("q3_1", student_class.__name__, "matches the kit's GCNConv") as report:
        layer = student_class(int(inputs["channels"]))
        layer([x, a])
        variables = _set_weights(report, layer, inputs, ("kernel", "bias"))
        if variables is None:
            return
        for graph, label, output in ((a, "dense adjacency", "outputs_dense"),
                                     (edges, "edge index", "outputs_sparse")):
            report.arrays(f"outputs, {label}", layer([x, graph]), expected[output], output,
                          mistakes=recorded_mistakes("q3_1", expected, output))
        if report.failures:
            print("  gradients: not compared until the outputs match")
            return
        _, grads = variables_value_and_grad(lambda: ops.sum(layer([x, a]) * readout), variables)
        recorded = np.split(expected["gradients"], [inputs["w_kernel"].size])
        for name, mine, theirs in zip(("kernel", "bias"), grads, recorded):
            report.arrays(f"gradient wrt {name}", np.ravel(_numpy(mine)), theirs, "gradients")


def check_gat_layer(student_class):
    """Compare a student's one-head ``GATConv(channels)`` with the recorded kit's layer on a
    dense graph.

    The student's call returns ``(output, attention)`` with ``attention`` the dense ``(N, N)``
    matrix of coefficients; both are compared.
    """
    inputs, expected = fixture("q3_3")
    x, a = floats(inputs["features"]), floats(inputs["adjacency"])
    with Report("q3_3", student_class.__name__, "matches the kit's GATConv") as report:
        layer = student_class(int(inputs["channels"]))
        returned = layer([x, a])
        if not isinstance(returned, (tuple, list)) or len(returned) != 2:
            report.stop("returned value", f"a {type(returned).__name__}", "returns")
        if _set_weights(report, layer, inputs, (
                "kernel", "attn_kernel_self", "attn_kernel_neighs", "bias")) is None:
            return
        output, attention = layer([x, a])
        report.arrays("attention coefficients", attention, expected["attention"], "attention")
        report.arrays("outputs", output, expected["outputs"], "outputs")


def check_a_plus_i(student_a_plus_i, student_updates):
    """Compare ``a_plus_i(graph)`` and ``updates_between(graph, "C", "E")`` with the recorded
    answers on both example graphs."""
    from course_kit.data import example_graph

    _, expected = fixture("q3_2")
    names = [key.removeprefix("a_plus_i_") for key in expected if key.startswith("a_plus_i_")]
    with Report("q3_2", student_a_plus_i.__name__,
                f"and {student_updates.__name__} match both example graphs") as report:
        for name in names:
            graph = example_graph(name)
            report.arrays(f"A+I of the {name} graph", student_a_plus_i(graph),
                          expected[f"a_plus_i_{name}"], f"a_plus_i_{name}")
            mine, theirs = int(student_updates(graph, "C", "E")), int(expected[f"updates_{name}"])
            report.record(f"updates from C to E, {name} graph", str(mine), mine == theirs,
                          f"updates_{name}")


# ---------------------------------------------------------------- graph meets sequence


#: The cell of q3_5 as :func:`course_kit.checks.recurrent.compare_cell` knows it.
GRAPH_LSTM_CELL = RecordedCell("q3_5", "", ("kernel", "recurrent_kernel", "bias"), 2)


def check_graph_lstm_cell(student_class):
    """Compare ``student_class(units, a_hat)`` with the kit's graph-convolutional LSTM cell as
    recorded on a small graph: weight names and shapes, ``h_t`` at every step, weight
    gradients.

    ``a_hat`` is the recorded dense normalised adjacency ``D~^-1/2 (A + I) D~^-1/2``; the cell
    reads ``x_t`` ``(batch, N, F)`` and states ``[h, c]`` ``(batch, N, units)``.
    """
    inputs, expected = fixture("q3_5")
    a_hat = inputs["a_hat"].astype(keras.config.floatx())
    with Report("q3_5", student_class.__name__,
                "matches the kit's graph-convolutional LSTM cell") as report:
        compare_cell(report, lambda units: student_class(units, a_hat.copy()), inputs, expected,
                     GRAPH_LSTM_CELL)

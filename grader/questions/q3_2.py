"""q3_2: A+I of the example graphs, and the number of GCN updates from C to E.

Contract: ``a_plus_i(graph)`` returns A+I of a networkx graph (rows and columns in the order
of ``graph.nodes``), and ``updates_between(graph, source, target)`` the number of GCN
updates (layers) needed for information from ``source`` to reach ``target``. The references
are ``course_kit.graphs.self_loop_adjacency`` and ``propagation_steps``.
"""

from grader.registry import KIT_ANSWERS, Check, Question

from . import edit, helpers

GRAPHS = ("fall2019", "2020")

QUESTION = Question(
    "q3_2", "A+I of the example graph; updates from C to E", 3, "09_gcn.ipynb",
    checks=(
        Check("A+I of the fall 2019 graph", 1, "a_plus_i_fall2019", kind="equal"),
        Check("A+I of the 2020 graph", 1, "a_plus_i_2020", kind="equal"),
        Check("updates from C to E, fall 2019 graph", 1, "updates_fall2019", kind="equal"),
        Check("updates from C to E, 2020 graph", 1, "updates_2020", kind="equal"),
    ),
    forbidden=KIT_ANSWERS,
)


def probe(namespace, context):
    import numpy as np

    from course_kit.data import example_graph

    probes = helpers()
    a_plus_i = probes.student_object(namespace, "a_plus_i", "function")
    updates = probes.student_object(namespace, "updates_between", "function")
    results = {}
    for name in GRAPHS:
        graph = example_graph(name)
        try:
            results[f"a_plus_i_{name}"] = np.rint(probes.to_numpy(a_plus_i(graph))).astype(np.int64)
        except Exception as error:
            context.notes.append(f"a_plus_i({name!r}): {type(error).__name__}: {error}")
        try:
            results[f"updates_{name}"] = np.array(int(updates(graph, "C", "E")), dtype=np.int64)
        except Exception as error:
            context.notes.append(f"updates_between({name!r}): {type(error).__name__}: {error}")
    return results


def record(public=False):
    """No inputs: the two example graphs are part of the kit, and the question asks for their
    A+I, which the course prints; the public fixture is the same as the hidden reference."""
    import numpy as np

    from course_kit.data import example_graph
    from course_kit.graphs import propagation_steps, self_loop_adjacency

    expected = {}
    for name in GRAPHS:
        graph = example_graph(name)
        expected[f"a_plus_i_{name}"] = self_loop_adjacency(graph)
        expected[f"updates_{name}"] = np.array(propagation_steps(graph, "C", "E"))
    return {}, expected


_ANSWER = '''
import numpy as np


def a_plus_i(graph):
    nodes = list(graph.nodes)
    index = {node: k for k, node in enumerate(nodes)}
    matrix = np.eye(len(nodes), dtype=int)
    for u, v in graph.edges:
        matrix[index[u], index[v]] = matrix[index[v], index[u]] = 1
    return matrix


def updates_between(graph, source, target):
    nodes = list(graph.nodes)
    step = a_plus_i(graph)
    reach = np.eye(len(nodes), dtype=int)
    for k in range(1, len(nodes) + 1):
        reach = np.minimum(reach @ step, 1)
        if reach[nodes.index(source), nodes.index(target)]:
            return k
    raise ValueError(f"{target} cannot be reached from {source}")
'''

MUTANTS = {
    # A without I
    "no_identity": edit(_ANSWER, ("matrix = np.eye(len(nodes), dtype=int)",
                                  "matrix = np.zeros((len(nodes), len(nodes)), dtype=int)")),
    # each undirected edge written in one direction only
    "one_direction_only": edit(_ANSWER, ("matrix[index[u], index[v]] = matrix[index[v], "
                                         "index[u]] = 1", "matrix[index[u], index[v]] = 1")),
    # the number of nodes on the path, not the number of hops
    "updates_off_by_one": edit(_ANSWER, ("            return k\n", "            return k + 1\n")),
}

ALTERNATIVES = {
    # networkx: the adjacency matrix plus the identity, and a breadth-first search
    "networkx_bfs": '''
import networkx as nx
import numpy as np


def a_plus_i(graph):
    adjacency = nx.adjacency_matrix(graph, nodelist=list(graph.nodes), weight=None).toarray()
    return (adjacency > 0).astype(int) + np.identity(graph.number_of_nodes(), dtype=int)


def updates_between(graph, source, target):
    return nx.shortest_path_length(graph, source=source, target=target)
''',
}

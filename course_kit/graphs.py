"""Small-graph helpers for the GCN questions: ``A + I`` and how far information travels.

One GCN layer mixes each node with its neighbours: the receptive field after ``k`` layers is
the nonzero pattern of ``(A + I)^k``. Information from ``source`` reaches ``target`` after the
smallest ``k`` for which ``(A + I)^k[target, source] > 0``, which is the length of the shortest
path between them.
"""

import networkx as nx
import numpy as np

__all__ = ["propagation_steps", "self_loop_adjacency"]


# BEGIN ANSWER q3_2
def self_loop_adjacency(graph, nodelist=None):
    """``A + I`` of a NetworkX graph as an int array, rows and columns in ``nodelist`` order.

    Args:
        graph: a ``networkx.Graph`` (or ``DiGraph``: ``A[i, j] = 1`` for an edge ``i -> j``).
        nodelist: node order; defaults to the graph's own node order.

    Returns:
        int64 ``(N, N)`` with ones on the diagonal and at every edge.
    """
    if not isinstance(graph, nx.Graph):
        raise ValueError(f"graph must be a networkx graph; got {type(graph).__name__}")  # noqa: TRY004
    adjacency = nx.to_numpy_array(graph, nodelist=nodelist, weight=None, dtype=np.int64)
    adjacency = (adjacency != 0).astype(np.int64)
    np.fill_diagonal(adjacency, 1)
    return adjacency


def propagation_steps(graph, source, target):
    """Number of GCN updates (layers) before ``source``'s features reach ``target``.

    Computed from powers of ``A + I``: the smallest ``k`` with ``(A + I)^k[target, source] >
    0`` (``k = 0`` when ``source == target``). Equal to the shortest-path length.

    Args:
        graph: a ``networkx.Graph``.
        source, target: node labels of ``graph``.

    Returns:
        The number of steps as an int.

    Raises:
        ValueError: a node is not in the graph, or ``target`` cannot be reached.
    """
    nodes = list(graph.nodes)
    for name, node in (("source", source), ("target", target)):
        if node not in graph:
            raise ValueError(f"{name} {node!r} is not a node of the graph (nodes: {nodes})")
    # receive[i, j] = 1 when node i hears node j in one update; reach = receive^k after k.
    receive = self_loop_adjacency(graph, nodelist=nodes).T
    reach = np.eye(len(nodes), dtype=np.int64)
    source_at, target_at = nodes.index(source), nodes.index(target)
    for steps in range(len(nodes)):
        if reach[target_at, source_at]:
            return steps
        reach = np.minimum(receive @ reach, 1)  # clipped, so the counts cannot overflow
    raise ValueError(f"target {target!r} cannot be reached from source {source!r}")
# END ANSWER

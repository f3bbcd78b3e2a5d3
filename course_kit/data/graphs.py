"""The two six-node example graphs of the assignment (nodes "A".."F")."""

import networkx as nx

__all__ = ["EXAMPLE_GRAPHS", "example_graph"]

EXAMPLE_GRAPHS = {
    "fall2019": [("A", "B"), ("A", "E"), ("A", "F"), ("B", "C"), ("B", "D"), ("C", "D"), ("D", "F"), ("E", "F")],
    "2020": [("A", "B"), ("A", "E"), ("A", "F"), ("B", "D"), ("C", "D"), ("D", "F")],
}


def example_graph(name):
    """The undirected example graph ``"fall2019"`` or ``"2020"`` as a ``networkx.Graph``
    whose nodes are "A".."F" in that order."""
    if name not in EXAMPLE_GRAPHS:
        raise ValueError(f"unknown example graph {name!r}; choose one of {sorted(EXAMPLE_GRAPHS)}")
    graph = nx.Graph(name=name)
    graph.add_nodes_from("ABCDEF")
    graph.add_edges_from(EXAMPLE_GRAPHS[name])
    return graph

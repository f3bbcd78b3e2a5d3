"""Figures for the graph part: a small graph with its labels, and training curves side by side."""

import matplotlib.pyplot as plt
import networkx as nx

__all__ = ["draw_graph", "plot_loss_curves"]


def draw_graph(graph, ax=None, highlight=(), seed=0):
    """Draw a small NetworkX graph with node labels; ``highlight`` nodes are drawn in orange.

    Returns the matplotlib ``Axes``.
    """
    if ax is None:
        _, ax = plt.subplots(figsize=(4, 3.5))
    positions = nx.spring_layout(graph, seed=seed)
    colours = ["tab:orange" if node in set(highlight) else "tab:blue" for node in graph.nodes]
    nx.draw_networkx(graph, positions, ax=ax, node_color=colours, font_color="white")
    ax.set_axis_off()
    if graph.name:
        ax.set_title(graph.name)
    return ax


def plot_loss_curves(histories, ax=None, key="loss", log_scale=True, title=None):
    """One line per named Keras history dict (``{name: history}``), epochs on the x axis.

    Returns the matplotlib ``Axes``.
    """
    if ax is None:
        _, ax = plt.subplots(figsize=(5, 3.5))
    for name, history in histories.items():
        values = history[key]
        ax.plot(range(1, len(values) + 1), values, label=name)
    ax.set_xlabel("epoch")
    ax.set_ylabel(key)
    if log_scale:
        ax.set_yscale("log")
    if title:
        ax.set_title(title)
    ax.legend()
    return ax

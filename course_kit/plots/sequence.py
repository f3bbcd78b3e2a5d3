"""Figures of Part 1: accuracy against sequence length, learning curves, gradient norms over
time and optimiser paths. Each function draws on ``ax`` (a new figure when ``None``) and
returns the axes."""

import matplotlib.pyplot as plt
import numpy as np

from course_kit.training.experiments import summarize

__all__ = [
    "plot_accuracy_vs_length",
    "plot_gradient_norms",
    "plot_learning_curves",
    "plot_optimizer_paths",
]


def _axes(ax):
    return plt.subplots(figsize=(6, 4))[1] if ax is None else ax


def plot_accuracy_vs_length(rows, chance=None, ax=None):
    """Held-out accuracy against T, mean +- std over seeds, one line per model.

    Args:
        rows: the table of ``course_kit.training.run_experiments``.
        chance: draw this accuracy (chance or majority class) as a dashed line.
    """
    ax = _axes(ax)
    summary = summarize(rows, "held_out_accuracy")
    for model in dict.fromkeys(row["model"] for row in summary):
        points = sorted((r["length"], r["mean"], r["std"]) for r in summary if r["model"] == model)
        lengths, means, stds = map(np.array, zip(*points))
        ax.errorbar(lengths, means, yerr=stds, marker="o", capsize=3, label=model)
    if chance is not None:
        ax.axhline(chance, color="grey", linestyle="--", label="chance")
    ax.set_xlabel("sequence length T")
    ax.set_ylabel("held-out accuracy")
    ax.set_ylim(0, 1.05)
    ax.legend()
    return ax


def plot_learning_curves(rows, metric="accuracy", ax=None):
    """Per-step training ``metric`` (``"accuracy"`` or ``"loss"``): the mean over seeds of each
    (model, T) with a +- std band. A run stopped early at convergence keeps its last value."""
    ax = _axes(ax)
    groups = {}
    for row in rows:
        groups.setdefault((row["model"], row["length"]), []).append(row[metric])
    for (model, length), curves in groups.items():
        steps = max(len(c) for c in curves)
        padded = np.array([np.pad(c, (0, steps - len(c)), mode="edge") for c in curves])
        mean, std = padded.mean(axis=0), padded.std(axis=0)
        x = np.arange(1, steps + 1)
        (line,) = ax.plot(x, mean, label=f"{model} T={length}")
        ax.fill_between(x, mean - std, mean + std, color=line.get_color(), alpha=0.2)
    ax.set_xlabel("training step")
    ax.set_ylabel(f"training {metric}")
    if metric == "loss":
        ax.set_yscale("log")
    ax.legend(fontsize="small")
    return ax


def plot_gradient_norms(norms, ax=None):
    """``||dL/dh_t||`` against t on a log scale.

    Args:
        norms: ``{label: array (T,)}``, e.g. from ``gradient_norms_over_time`` per model.
    """
    ax = _axes(ax)
    for label, values in norms.items():
        ax.plot(np.arange(1, len(values) + 1), values, label=label)
    ax.set_yscale("log")
    ax.set_xlabel("time step t")
    ax.set_ylabel(r"$\|\partial L / \partial h_t\|$")
    ax.legend()
    return ax


def plot_optimizer_paths(objective, paths, ax=None):
    """Contours of a 2-D ``objective`` (``value(w)`` on ``(..., 2)`` arrays) with the paths
    ``{label: array (steps + 1, 2)}`` of several optimisers."""
    ax = _axes(ax)
    every = np.concatenate(list(paths.values()))
    extent = max(np.abs(every).max() * 1.1, 1e-3)
    grid = np.linspace(-extent, extent, 200)
    w0, w1 = np.meshgrid(grid, grid)
    values = objective.value(np.stack([w0, w1], axis=-1))
    ax.contour(
        w0, w1, values, levels=np.geomspace(values.max() * 1e-4, values.max(), 15), cmap="Greys"
    )
    for label, path in paths.items():
        ax.plot(path[:, 0], path[:, 1], marker=".", markersize=3, label=label)
    ax.plot(0, 0, "k*", markersize=10)
    ax.set_xlabel("$w_0$")
    ax.set_ylabel("$w_1$")
    ax.legend()
    return ax

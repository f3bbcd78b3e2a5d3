"""Figures for the character model: loss and accuracy curves of a training run."""

from pathlib import Path

import matplotlib.pyplot as plt

__all__ = ["plot_training_curves"]


def plot_training_curves(rows, path=None, baseline=None, title=None):
    """Training and validation loss (left) and accuracy (right) against the step.

    Args:
        rows: metrics rows with ``step``, ``loss``, ``accuracy``, ``val_loss`` and
            ``val_accuracy`` (what ``course_kit.training.text.read_metrics`` returns).
        path: where to save a PNG; ``None`` only returns the figure.
        baseline: optional ``{"loss": ..., "accuracy": ...}`` of the unigram baseline, drawn
            as dashed lines.
        title: figure title.

    Returns:
        The matplotlib figure.
    """
    if not rows:
        raise ValueError("rows is empty: there is nothing to plot")
    steps = [row["step"] for row in rows]
    figure, axes = plt.subplots(1, 2, figsize=(10, 3.8))
    for axis, metric, label in ((axes[0], "loss", "cross-entropy (nats)"),
                                (axes[1], "accuracy", "next-character accuracy")):
        axis.plot(steps, [row[metric] for row in rows], marker=".", label="training (round mean)")
        axis.plot(steps, [row[f"val_{metric}"] for row in rows], marker=".", label="validation")
        if baseline is not None:
            axis.axhline(baseline[metric], color="grey", linestyle="--", label="unigram baseline")
        for row in rows:
            if row.get("stage"):
                axis.axvline(row["step"], color="lightgrey", linewidth=0.8, zorder=0)
        axis.set_xlabel("step")
        axis.set_ylabel(label)
        axis.grid(alpha=0.3)
    axes[1].legend(loc="lower right")
    figure.suptitle(title or "Character model training (grey lines: sample stages)")
    figure.tight_layout()
    if path is not None:
        figure.savefig(Path(path), dpi=120)
        plt.close(figure)
    return figure

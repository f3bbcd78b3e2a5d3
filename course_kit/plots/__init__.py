"""The figures the notebooks ask for (matplotlib)."""

from course_kit.plots.sequence import (
    plot_accuracy_vs_length,
    plot_gradient_norms,
    plot_learning_curves,
    plot_optimizer_paths,
)

__all__ = [
    "plot_accuracy_vs_length",
    "plot_gradient_norms",
    "plot_learning_curves",
    "plot_optimizer_paths",
]

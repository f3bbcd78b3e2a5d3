"""The figures the notebooks ask for (matplotlib)."""

from course_kit.plots.sequence import plot_accuracy_vs_length
from course_kit.plots.sequence import plot_gradient_norms
from course_kit.plots.sequence import plot_learning_curves
from course_kit.plots.sequence import plot_optimizer_paths

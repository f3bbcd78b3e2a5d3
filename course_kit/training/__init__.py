"""Training loops, seeded multi-run experiments and gradient diagnostics."""

from course_kit.training.bptt import autodiff_vanilla_rnn_gradients, bptt_vanilla_rnn
from course_kit.training.experiments import run_experiments, summarize, train_classifier, write_csv
from course_kit.training.gradients import cell_gradient_norms, gradient_norms_over_time
from course_kit.training.parameters import count_lstm_parameters

__all__ = [
    "autodiff_vanilla_rnn_gradients",
    "bptt_vanilla_rnn",
    "cell_gradient_norms",
    "count_lstm_parameters",
    "gradient_norms_over_time",
    "run_experiments",
    "summarize",
    "train_classifier",
    "write_csv",
]

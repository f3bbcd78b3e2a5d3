"""Training loops, seeded multi-run experiments and gradient diagnostics."""

from course_kit.training.bptt import bptt_vanilla_rnn
from course_kit.training.experiments import run_experiments
from course_kit.training.experiments import summarize
from course_kit.training.experiments import train_classifier
from course_kit.training.experiments import write_csv
from course_kit.training.gradients import gradient_norms_over_time
from course_kit.training.parameters import count_lstm_parameters

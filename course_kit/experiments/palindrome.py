"""``python -m course_kit.experiments palindrome``: accuracy against palindrome length and
steps to convergence for the Part 1 models, with the 2019 or 2020 reference settings (the
options and presets are in ``course_kit.experiments.__main__``).

Writes into ``--out``: ``runs.csv`` (one row per model, T and seed, saved after every run, so
an interrupted experiment keeps its finished runs), ``accuracy.csv`` and ``convergence.csv``
(mean and std over seeds), ``accuracy_vs_length.png``, ``learning_curves.png`` and, unless
``--gradient-length 0``, ``gradient_norms.csv/.png`` (the norm of dL/dh_t of the untrained
models at that length).
"""

import csv
import math
import os

import matplotlib

from course_kit.data import make_task
from course_kit.models import SequenceClassifier, make_cell
from course_kit.plots import plot_accuracy_vs_length, plot_gradient_norms, plot_learning_curves
from course_kit.seeding import set_random_seed
from course_kit.training import gradient_norms_over_time, run_experiments, summarize, write_csv


def embedding_size(value, length):
    """``None``, an int, or ``"2T"`` (twice the task length, the 2020 setting)."""
    if value in (None, "none", "None"):
        return None
    if isinstance(value, str) and value.endswith("T"):
        return int(float(value[:-1] or 1) * length)
    return int(value)


def model_builder(args):
    def build(name, task):
        cell_name = "lstm" if name == "bilstm" else name
        cell = make_cell(cell_name, args.units, kernel_initializer=args.init)
        return SequenceClassifier(
            cell,
            num_classes=task.num_classes,
            vocab_size=task.vocab_size,
            embedding_dim=embedding_size(args.embedding_dim, task.length),
            bidirectional=name == "bilstm",
            encoding=args.encoding,
        )

    return build


def write_summary(summary, path):
    with open(path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(summary[0]))
        writer.writeheader()
        writer.writerows(summary)


def markdown_table(summary, value_name, digits, missing_name="runs without a value"):
    """Mean, std and counts per (model, T), as a Markdown table."""
    lines = [
        f"| model | T | {value_name} mean | std | runs | {missing_name} |",
        "|---|---|---|---|---|---|",
    ]
    for row in summary:
        mean = "-" if math.isnan(row["mean"]) else f"{row['mean']:.{digits}f}"
        std = "-" if math.isnan(row["std"]) else f"{row['std']:.{digits}f}"
        lines.append(
            f"| {row['model']} | {row['length']} | {mean} | {std} | {row['n']} | {row['missing']} |"
        )
    return "\n".join(lines)


def run(args):
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    os.makedirs(args.out, exist_ok=True)
    build = model_builder(args)
    runs_path = os.path.join(args.out, "runs.csv")
    rows = run_experiments(
        build,
        args.models,
        args.task,
        args.lengths,
        args.seeds,
        args.steps,
        batch_size=args.batch_size,
        show_progress=not args.no_progress,
        optimizer=args.optimizer,
        learning_rate=args.learning_rate,
        clip_norm=args.clip_norm,
        stop_loss=args.stop_loss,
        stop_accuracy=args.stop_accuracy,
        eval_samples=args.eval_samples,
        on_run=lambda rows: write_csv(rows, runs_path),
    )
    accuracy = summarize(rows, "held_out_accuracy")
    convergence = summarize(rows, "steps_to_convergence")
    write_summary(accuracy, os.path.join(args.out, "accuracy.csv"))
    write_summary(convergence, os.path.join(args.out, "convergence.csv"))
    print(markdown_table(accuracy, "held-out accuracy", 3))
    print()
    print(markdown_table(convergence, "steps to convergence", 0, "runs not converged"))

    chance = make_task(args.task, args.lengths[0]).majority_baseline
    ax = plot_accuracy_vs_length(rows, chance=chance)
    ax.set_title(f"{args.task}: held-out accuracy (mean ± std over {len(args.seeds)} seeds)")
    ax.figure.savefig(
        os.path.join(args.out, "accuracy_vs_length.png"), dpi=120, bbox_inches="tight"
    )
    ax = plot_learning_curves(rows, "accuracy")
    ax.set_title(f"{args.task}: training accuracy (mean ± std over seeds)")
    ax.figure.savefig(os.path.join(args.out, "learning_curves.png"), dpi=120, bbox_inches="tight")
    plt.close("all")

    if args.gradient_length:
        task = make_task(args.task, args.gradient_length, batch_size=args.batch_size, seed=0)
        norms = {}
        for name in args.models:
            if name == "bilstm":
                continue
            set_random_seed(0)
            norms[name] = gradient_norms_over_time(build(name, task), task[0])
        with open(os.path.join(args.out, "gradient_norms.csv"), "w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(["t", *norms])
            writer.writerows([t + 1, *values] for t, values in enumerate(zip(*norms.values())))
        ax = plot_gradient_norms(norms)
        ax.set_title(f"untrained models, {args.task} T={args.gradient_length}")
        ax.figure.savefig(
            os.path.join(args.out, "gradient_norms.png"), dpi=120, bbox_inches="tight"
        )
        plt.close("all")
    return 0

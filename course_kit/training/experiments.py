"""Seeded multi-run experiments: train models on toy tasks, stop at convergence, evaluate on
fresh held-out samples, and collect a tidy table (questions q1_3, q1_6, q1_8, q1_9)."""

import csv
import math
import os
from dataclasses import dataclass, field

import keras
import numpy as np
from tqdm.auto import tqdm

from course_kit.data import make_task
from course_kit.seeding import set_random_seed

__all__ = ["TrainingResult", "run_experiments", "summarize", "train_classifier", "write_csv"]


@dataclass
class TrainingResult:
    """What one training run produced.

    Attributes:
        loss, accuracy: per-step training loss and batch accuracy (one entry per step run).
        steps_to_convergence: the step (1-based) at which the stop criterion first held, or
            ``None`` if it never did.
        held_out_accuracy: accuracy on fresh samples the model never trained on.
    """

    loss: list = field(default_factory=list)
    accuracy: list = field(default_factory=list)
    steps_to_convergence: int | None = None
    held_out_accuracy: float = math.nan


def train_classifier(
    model,
    task,
    steps,
    optimizer="adam",
    learning_rate=1e-3,
    clip_norm=10.0,
    stop_loss=None,
    stop_accuracy=None,
    eval_samples=1000,
    progress=None,
    jit_compile="auto",
):
    """Train ``model`` (logits) on the batches of ``task`` and evaluate it on held-out samples.

    Args:
        model: a Keras model mapping the task's inputs to logits.
        task: a ``course_kit.data`` sequence task; batch i of training is ``task[i]``.
        steps: maximum number of training steps (at most ``len(task)``).
        optimizer: a Keras optimizer name (``"adam"``, ``"rmsprop"``, ``"sgd"``).
        learning_rate: its learning rate.
        clip_norm: clip the global norm of the gradient to this value (``None``: no clipping).
        stop_loss: stop once a training batch's loss is below this value.
        stop_accuracy: stop once a training batch's accuracy reaches this value (1.0: every
            sample of the batch right).
        eval_samples: number of held-out samples for the final accuracy.
        progress: an optional tqdm bar, advanced once per step.
        jit_compile: passed to ``model.compile``; ``False`` skips XLA compilation, which is
            quicker for a handful of steps.

    Returns:
        A ``TrainingResult``.
    """
    if steps > len(task):
        raise ValueError(f"steps={steps} exceeds the task's {len(task)} batches")
    model.compile(
        optimizer=keras.optimizers.get(
            {
                "class_name": optimizer,
                "config": {"learning_rate": learning_rate, "global_clipnorm": clip_norm},
            }
        ),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
        jit_compile=jit_compile,
    )
    result = TrainingResult()
    for step in range(steps):
        logs = model.train_on_batch(*task[step], return_dict=True)
        result.loss.append(float(logs["loss"]))
        result.accuracy.append(float(logs["accuracy"]))
        if progress is not None:
            progress.update()
        if (stop_loss is not None and result.loss[-1] < stop_loss) or (
            stop_accuracy is not None and result.accuracy[-1] >= stop_accuracy
        ):
            result.steps_to_convergence = step + 1
            break
    x, y = task.sample(eval_samples, seed=0)
    # A direct call rather than predict(): one forward pass needs no compiled function.
    logits = keras.ops.convert_to_numpy(model(x, training=False))
    predictions = np.argmax(logits, axis=-1)
    result.held_out_accuracy = float(np.mean(predictions == y))
    return result


def run_experiments(
    build_model,
    models,
    task_name,
    lengths,
    seeds,
    steps,
    batch_size=128,
    one_hot=False,
    show_progress=True,
    on_run=None,
    **training,
):
    """Train every model at every length with every seed; return a tidy table.

    Args:
        build_model: ``build_model(name, task) -> keras.Model``, called after
            ``set_random_seed(seed)`` so that initial weights follow the seed.
        models: model names passed to ``build_model``.
        task_name: a ``course_kit.data.make_task`` name.
        lengths: task lengths T.
        seeds: seeds; each seeds both the weights and the task's stream of batches.
        steps: maximum training steps of each run.
        batch_size, one_hot: passed to ``make_task``.
        show_progress: show a progress bar over all steps of all runs.
        on_run: called with the table so far after every run, so that a long experiment can
            save what it has (an interrupted experiment keeps its finished runs).
        **training: passed to ``train_classifier`` (optimizer, learning_rate, clip_norm,
            stop_loss, stop_accuracy, eval_samples, jit_compile).

    Returns:
        A list of dicts, one per run, with ``model``, ``length``, ``seed``,
        ``held_out_accuracy``, ``steps_to_convergence`` (``None`` if not converged),
        ``steps_run``, ``final_loss``, and the curves ``loss`` and ``accuracy`` (lists).
    """
    runs = [(m, T, s) for m in models for T in lengths for s in seeds]
    rows = []
    with tqdm(total=len(runs) * steps, disable=not show_progress, unit="step") as bar:
        for name, length, seed in runs:
            bar.set_description(f"{name} T={length} seed={seed}")
            task = make_task(
                task_name, length, batch_size=batch_size, seed=seed, steps=steps, one_hot=one_hot
            )
            set_random_seed(seed)
            result = train_classifier(
                build_model(name, task), task, steps, progress=bar, **training
            )
            bar.update(steps - len(result.loss))
            rows.append(
                {
                    "model": name,
                    "length": length,
                    "seed": seed,
                    "held_out_accuracy": result.held_out_accuracy,
                    "steps_to_convergence": result.steps_to_convergence,
                    "steps_run": len(result.loss),
                    "final_loss": result.loss[-1],
                    "loss": result.loss,
                    "accuracy": result.accuracy,
                }
            )
            if on_run is not None:
                on_run(rows)
    return rows


def summarize(rows, value, by=("model", "length")):
    """Mean, standard deviation (over runs, ddof=0) and count of ``value`` per group.

    Runs where ``value`` is ``None`` (for instance, never converged) are left out of the mean
    and counted in ``missing``.
    """
    groups = {}
    for row in rows:
        groups.setdefault(tuple(row[k] for k in by), []).append(row[value])
    summary = []
    for key, values in groups.items():
        present = np.array([v for v in values if v is not None], dtype=np.float64)
        summary.append(
            {
                **dict(zip(by, key)),
                "mean": float(present.mean()) if present.size else math.nan,
                "std": float(present.std()) if present.size else math.nan,
                "n": int(present.size),
                "missing": len(values) - int(present.size),
            }
        )
    return summary


def write_csv(rows, path):
    """Write the scalar columns of ``rows`` (curves left out) to a CSV file, atomically: the
    file is complete or absent, never half written."""
    columns = [k for k, v in rows[0].items() if not isinstance(v, list)]
    partial = f"{path}.partial"
    with open(partial, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    os.replace(partial, path)

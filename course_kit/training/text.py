"""Training a character model on a book, with validation, samples, checkpoints and resume.

The run is split into rounds of ``eval_every`` steps (Keras epochs). After each round the
model is evaluated on the held-out windows, a row is appended to ``metrics.csv`` and the
checkpoint ``last.keras`` (model and optimizer) is replaced. At 1/3, 2/3 and 3/3 of the run
samples are printed and appended to ``samples.md``. Batch ``i`` of the training stream depends
only on ``(seed, i)``, and the optimizer's step counter is saved in the checkpoint, so a
resumed run continues exactly where the interrupted one stopped.
"""

import csv
import json
import os
import time
from pathlib import Path

import keras
import numpy as np
from tqdm.auto import tqdm

from course_kit.models.text import TextGenerationModel
from course_kit.sampling import generate
from course_kit.seeding import set_random_seed

__all__ = [
    "CHECKPOINT",
    "METRICS",
    "SAMPLES",
    "export_for_inference",
    "make_text_model",
    "read_metrics",
    "stage_samples",
    "train_text_model",
    "unigram_baseline",
]

CHECKPOINT = "last.keras"
METRICS = "metrics.csv"
SAMPLES = "samples.md"
SETTINGS = "settings.json"
CURVES = "curves.png"
METRIC_COLUMNS = (
    "step", "stage", "elapsed_s", "learning_rate", "loss", "accuracy", "val_loss", "val_accuracy",
)
# Settings that change the computation; a resumed run must agree on all of them.
_RUN_SETTINGS = (
    "book", "steps", "batch_size", "seq_length", "embedding_dim", "units", "num_layers", "cell",
    "learning_rate", "decay_rate", "decay_steps", "clip_norm", "eval_every", "seed",
)


def make_text_model(
    vocabulary,
    embedding_dim=64,
    units=256,
    num_layers=2,
    cell="keras",
    learning_rate=2e-3,
    decay_rate=0.96,
    decay_steps=5000,
    clip_norm=5.0,
    seed=0,
):
    """A compiled :class:`TextGenerationModel` with the assignment's reference optimiser:
    Adam, learning rate decayed by ``decay_rate`` every ``decay_steps`` steps (staircase),
    gradients clipped to global norm ``clip_norm``, mean cross-entropy over all time steps."""
    set_random_seed(seed)
    model = TextGenerationModel(
        vocabulary, embedding_dim=embedding_dim, units=units, num_layers=num_layers, cell=cell
    )
    schedule = keras.optimizers.schedules.ExponentialDecay(
        learning_rate, decay_steps=decay_steps, decay_rate=decay_rate, staircase=True
    )
    model.compile(
        optimizer=keras.optimizers.Adam(schedule, global_clipnorm=clip_norm),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=[keras.metrics.SparseCategoricalAccuracy(name="accuracy")],
    )
    return model


def unigram_baseline(corpus, seq_length=30):
    """What a model that ignores the context scores on the held-out windows.

    It predicts every character with its training frequency (add-one smoothed, so a
    character absent from the training part has a finite loss).

    Returns:
        ``{"accuracy": ..., "loss": ...}``: the accuracy of always predicting the commonest
        training character, and the mean cross-entropy (nats) of the frequencies.
    """
    counts = np.bincount(corpus.train_ids, minlength=corpus.vocab_size) + 1.0
    log_frequencies = np.log(counts / counts.sum())
    _, targets = corpus.validation_windows(seq_length)
    return {
        "accuracy": float(np.mean(targets == np.argmax(counts))),
        "loss": float(-np.mean(log_frequencies[targets])),
    }


def stage_samples(model, stage, seq_length=30, seed=0):
    """The samples written at a stage of training, as ``(description, text)`` pairs.

    Greedy continuations of a random first character, shorter than, equal to and longer than
    the training window, then inverse-temperature samples (the assignment's tau multiplies the
    logits) at beta 0.5, 1 and 2.
    """
    seed = [seed, stage]
    samples = []
    for i, length in enumerate((seq_length // 2, seq_length, 4 * seq_length)):
        text = generate(model, length, seed=seed + [i])
        samples.append((f"greedy, {length} characters", text))
    for beta in (0.5, 1.0, 2.0):
        text = generate(model, 4 * seq_length, strategy="inverse_temperature", beta=beta,
                        seed=seed + [int(10 * beta)])
        samples.append((f"inverse temperature beta={beta}, {4 * seq_length} characters", text))
    return samples


def export_for_inference(model, path):
    """Save ``model``'s configuration and weights without the optimizer (a smaller file)."""
    bare = TextGenerationModel.from_config(model.get_config())
    bare.set_weights(model.get_weights())
    bare.save(path)
    return Path(path)


class _OffsetBatches(keras.utils.PyDataset):
    """Batches ``start, start + 1, ...`` of another dataset, so a resumed run reads the same
    batches an uninterrupted one would."""

    def __init__(self, batches, start):
        super().__init__()
        self.batches = batches
        self.start = start

    def __len__(self):
        return len(self.batches) - self.start

    def __getitem__(self, index):
        return self.batches[self.start + index]


class _ProgressBar(keras.callbacks.Callback):
    """One bar over the whole run, with the last round's losses (Keras' own bar restarts at
    every round and cannot show the time left to the end)."""

    # It only counts batches, so Keras may call it off the training loop's thread.
    async_safe = True

    def __init__(self, steps, start):
        super().__init__()
        self.bar = tqdm(total=steps, initial=start, unit="step", desc="training")

    def on_train_batch_end(self, batch, logs=None):
        self.bar.update(1)

    def on_epoch_end(self, epoch, logs=None):
        self.bar.set_postfix({name: f"{logs[name]:.4f}" for name in ("loss", "val_loss")})

    def on_train_end(self, logs=None):
        self.bar.close()


class _RoundEnd(keras.callbacks.Callback):
    """After each round: metrics row, samples at the stages, checkpoint, time limit."""

    def __init__(self, out_dir, settings, stages_done, elapsed_before, time_limit, log):
        super().__init__()
        self.out_dir = out_dir
        self.settings = settings
        self.stages_done = stages_done
        self.elapsed_before = elapsed_before
        self.time_limit = time_limit
        self.log = log
        self.started = time.perf_counter()

    def elapsed(self):
        return self.elapsed_before + time.perf_counter() - self.started

    def _stage_due(self, step, elapsed):
        steps, stage = self.settings["steps"], self.stages_done + 1
        by_steps = step >= stage * steps / 3
        by_time = self.time_limit is not None and elapsed >= stage * self.time_limit / 3
        return by_steps or by_time

    def on_epoch_end(self, epoch, logs=None):
        step = int(keras.ops.convert_to_numpy(self.model.optimizer.iterations))
        elapsed = self.elapsed()
        out_of_time = self.time_limit is not None and elapsed >= self.time_limit
        if out_of_time:
            self.model.stop_training = True
        stage = 0
        final = step >= self.settings["steps"] or out_of_time
        if final:
            # The last round, also of a run cut short by the clock, is the final stage.
            self.stages_done = max(self.stages_done, 2)
        if self.stages_done < 3 and (final or self._stage_due(step, elapsed)):
            self.stages_done += 1
            stage = self.stages_done
            self._write_samples(stage, step)
        learning_rate = keras.ops.convert_to_numpy(self.model.optimizer.learning_rate)
        row = {
            "step": step,
            "stage": stage,
            "elapsed_s": round(elapsed, 2),
            "learning_rate": float(learning_rate),
            **{name: float(logs[name]) for name in METRIC_COLUMNS[4:]},
        }
        _append_row(self.out_dir / METRICS, row)
        _atomic_save(self.model, self.out_dir / CHECKPOINT)

    def _write_samples(self, stage, step):
        samples = stage_samples(self.model, stage, self.settings["seq_length"], self.settings["seed"])
        lines = [f"## Stage {stage}/3 (step {step})", ""]
        for description, text in samples:
            lines += [f"{description}:", "", "```", text, "```", ""]
        with open(self.out_dir / SAMPLES, "a", encoding="utf-8") as file:
            file.write("\n".join(lines) + "\n")
        self.log("\n".join(lines))


def _beside_the_bar(log):
    """``log`` with the progress bar cleared while it writes, and drawn again after."""

    def log_beside_the_bar(text):
        with tqdm.external_write_mode():
            log(text)

    return log_beside_the_bar


def _append_row(path, row):
    new = not path.exists()
    with open(path, "a", newline="", encoding="utf-8") as file:
        writer = csv.DictWriter(file, fieldnames=METRIC_COLUMNS)
        if new:
            writer.writeheader()
        writer.writerow(row)


def _atomic_save(model, path):
    # Write beside the target and rename, so an interruption never leaves half a checkpoint.
    partial = path.with_name(path.stem + ".partial.keras")
    model.save(partial)
    os.replace(partial, path)


def read_metrics(path):
    """The rows of a ``metrics.csv`` as a list of dicts of numbers."""
    with open(path, newline="", encoding="utf-8") as file:
        return [
            {name: (int(value) if name in ("step", "stage") else float(value))
             for name, value in row.items()}
            for row in csv.DictReader(file)
        ]


def _resume_state(out_dir, settings):
    """Load the checkpoint of an interrupted run and drop metrics rows written after it."""
    saved = json.loads((out_dir / SETTINGS).read_text(encoding="utf-8"))
    differing = {k: (saved.get(k), settings[k]) for k in _RUN_SETTINGS if saved.get(k) != settings[k]}
    if differing:
        raise ValueError(
            f"--resume needs the settings of the interrupted run; these differ "
            f"(saved, given): {differing}"
        )
    model = keras.saving.load_model(out_dir / CHECKPOINT)
    step = int(keras.ops.convert_to_numpy(model.optimizer.iterations))
    rows = [row for row in read_metrics(out_dir / METRICS) if row["step"] <= step]
    (out_dir / METRICS).unlink()
    for row in rows:
        _append_row(out_dir / METRICS, row)
    stages_done = max((row["stage"] for row in rows), default=0)
    elapsed = rows[-1]["elapsed_s"] if rows else 0.0
    return model, step, stages_done, elapsed


def train_text_model(
    corpus,
    out_dir,
    steps,
    *,
    batch_size=64,
    seq_length=30,
    embedding_dim=64,
    units=256,
    num_layers=2,
    cell="keras",
    learning_rate=2e-3,
    decay_rate=0.96,
    decay_steps=5000,
    clip_norm=5.0,
    eval_every=500,
    seed=0,
    resume=False,
    time_limit=None,
    verbose=1,
    log=print,
):
    """Train a :class:`TextGenerationModel` on ``corpus`` and write the run to ``out_dir``.

    Args:
        corpus: a ``course_kit.data.CharCorpus``.
        out_dir: folder for ``settings.json``, ``metrics.csv``, ``samples.md``,
            ``curves.png`` and the checkpoint ``last.keras``.
        steps: training steps (batches); a multiple of ``eval_every``.
        eval_every: steps per round; validation, metrics and checkpoint follow each round.
        resume: continue the run in ``out_dir`` from its checkpoint (same settings needed).
        time_limit: wall-clock seconds after which training stops at the end of a round
            (the final samples are still taken); ``None`` for no limit.
        verbose: a progress bar over the run (1), one line per round (2) or silent (0).
        log: where sample texts and notes are printed.
        The other arguments are those of :func:`make_text_model` and
        ``CharCorpus.training_batches``.

    Returns:
        ``(model, rows)``: the trained model and the metrics rows of the whole run.
    """
    from course_kit.plots.text import plot_training_curves

    if int(eval_every) != eval_every or eval_every < 1:
        raise ValueError(f"eval_every must be a positive integer, got {eval_every!r}")
    if int(steps) != steps or steps < 1 or steps % eval_every:
        raise ValueError(f"steps must be a positive multiple of eval_every={eval_every}, got {steps!r}")
    if time_limit is not None and not time_limit > 0:
        raise ValueError(f"time_limit must be > 0 seconds, got {time_limit!r}")
    out_dir = Path(out_dir)
    settings = {
        "book": corpus.name, "steps": steps, "batch_size": batch_size, "seq_length": seq_length,
        "embedding_dim": embedding_dim, "units": units, "num_layers": num_layers, "cell": cell,
        "learning_rate": learning_rate, "decay_rate": decay_rate, "decay_steps": decay_steps,
        "clip_norm": clip_norm, "eval_every": eval_every, "seed": seed,
    }
    batches = corpus.training_batches(batch_size, seq_length, seed=seed, steps=steps)
    validation = corpus.validation_windows(seq_length)
    if resume:
        if not (out_dir / CHECKPOINT).exists():
            raise FileNotFoundError(f"--resume: no checkpoint {out_dir / CHECKPOINT}")
        model, start, stages_done, elapsed = _resume_state(out_dir, settings)
        log(f"resuming at step {start} of {steps}")
    else:
        if (out_dir / CHECKPOINT).exists():
            raise FileExistsError(
                f"{out_dir} already holds a run; pass resume=True (--resume) or use another folder"
            )
        out_dir.mkdir(parents=True, exist_ok=True)
        for name in (METRICS, SAMPLES):
            (out_dir / name).unlink(missing_ok=True)
        model = make_text_model(
            corpus.vocab, embedding_dim, units, num_layers, cell, learning_rate, decay_rate,
            decay_steps, clip_norm, seed,
        )
        start, stages_done, elapsed = 0, 0, 0.0
        baseline = unigram_baseline(corpus, seq_length)
        settings["unigram_baseline"] = baseline
        (out_dir / SETTINGS).write_text(json.dumps(settings, indent=2), encoding="utf-8")
    if start < steps:
        callbacks = []
        if verbose == 1:
            callbacks.append(_ProgressBar(steps, start))
            log = _beside_the_bar(log)
        callbacks.append(_RoundEnd(out_dir, settings, stages_done, elapsed, time_limit, log))
        model.fit(
            _OffsetBatches(batches, start),
            epochs=steps // eval_every,
            initial_epoch=start // eval_every,
            steps_per_epoch=eval_every,
            validation_data=validation,
            validation_batch_size=256,
            shuffle=False,
            callbacks=callbacks,
            verbose=0 if verbose == 1 else verbose,
        )
    rows = read_metrics(out_dir / METRICS)
    baseline = json.loads((out_dir / SETTINGS).read_text(encoding="utf-8"))["unigram_baseline"]
    plot_training_curves(rows, out_dir / CURVES, baseline=baseline)
    return model, rows

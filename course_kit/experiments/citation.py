"""Node classification on Cora / CiteSeer with GCN and GAT over several seeds.

``python -m course_kit.experiments citation --models gcn gat --datasets cora citeseer --seeds 10``
appends one CSV row per run (backend, model, dataset, seed, accuracies, epochs, time per epoch)
to ``--out``/citation.csv and prints mean +- std test accuracy per backend, model and dataset.
"""

import csv
import os

import keras
import numpy as np
from tqdm.auto import tqdm

from course_kit.data import load_citation
from course_kit.models.graph import GATNodeClassifier, GCNNodeClassifier
from course_kit.seeding import set_random_seed
from course_kit.training.graph import graph_batch, row_normalize, train_node_classifier

__all__ = ["PUBLISHED_SETTINGS", "run", "run_citation", "summarize"]

# Kipf & Welling (2017) and Velickovic et al. (2018), transductive Cora / CiteSeer settings.
PUBLISHED_SETTINGS = {
    "gcn": {
        "model": {"hidden": 16, "dropout_rate": 0.5, "l2": 5e-4},
        "learning_rate": 0.01,
        "epochs": 200,
        "patience": 10,
        "stop_on": "val_loss",
    },
    "gat": {
        "model": {"hidden": 8, "heads": 8, "output_heads": 1, "dropout_rate": 0.6, "l2": 5e-4},
        "learning_rate": 0.005,
        "epochs": 1000,
        "patience": 100,
        "stop_on": "val_loss_or_accuracy",
    },
}
MODELS = {"gcn": GCNNodeClassifier, "gat": GATNodeClassifier}
FIELDS = [
    "backend", "model", "dataset", "seed", "test_accuracy", "val_accuracy", "train_accuracy",
    "best_epoch", "epochs_run", "seconds_per_epoch",
]


def run_citation(model_name, dataset, seed, epochs=None):
    """Train one model on one dataset with one seed; returns the CSV row as a dict."""
    settings = PUBLISHED_SETTINGS[model_name]
    graph = load_citation(dataset)
    inputs = graph_batch(row_normalize(graph.features), graph.edge_index)
    set_random_seed(seed)
    model = MODELS[model_name](graph.num_classes, **settings["model"])
    result = train_node_classifier(
        model,
        inputs,
        graph.labels,
        graph.train_mask,
        graph.val_mask,
        graph.test_mask,
        learning_rate=settings["learning_rate"],
        epochs=epochs or settings["epochs"],
        patience=settings["patience"],
        stop_on=settings["stop_on"],
    )
    row = {"backend": keras.backend.backend(), "model": model_name, "dataset": dataset,
           "seed": seed}
    row.update({key: result[key] for key in FIELDS if key in result})
    return row


def summarize(rows):
    """``{(backend, model, dataset): (mean, std, runs)}`` of test accuracy (population std)."""
    groups = {}
    for row in rows:
        key = (row["backend"], row["model"], row["dataset"])
        groups.setdefault(key, []).append(float(row["test_accuracy"]))
    return {key: (float(np.mean(v)), float(np.std(v)), len(v)) for key, v in groups.items()}


def run(args):
    """The command line's run (see ``python -m course_kit.experiments citation --help``)."""
    args.out.mkdir(parents=True, exist_ok=True)
    table = args.out / "citation.csv"
    new_file = not table.exists()
    runs = [(dataset, model_name, seed)
            for dataset in args.datasets for model_name in args.models for seed in args.seeds]
    rows = []
    with open(table, "a", newline="") as handle, tqdm(
        runs, unit="run", disable=args.no_progress
    ) as bar:
        writer = csv.DictWriter(handle, fieldnames=FIELDS)
        if new_file:
            writer.writeheader()
        for dataset, model_name, seed in bar:
            bar.set_description(f"{model_name} {dataset} seed {seed}")
            row = run_citation(model_name, dataset, seed, args.epochs)
            writer.writerow(row)
            handle.flush()
            os.fsync(handle.fileno())
            rows.append(row)
            bar.write(
                f"{row['backend']} {model_name} {dataset} seed {seed}: test "
                f"{row['test_accuracy']:.3f} (val {row['val_accuracy']:.3f}, "
                f"{row['epochs_run']} epochs, {row['seconds_per_epoch'] * 1e3:.0f} ms/epoch)"
            )
    for (backend, model_name, dataset), (mean, std, count) in sorted(summarize(rows).items()):
        print(f"{backend} {model_name} {dataset}: {100 * mean:.1f} +- {100 * std:.1f}% "
              f"({count} seeds)")
    return 0

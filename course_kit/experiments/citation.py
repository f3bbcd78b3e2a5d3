"""Node classification on Cora / CiteSeer with GCN and GAT over several seeds.

``python -m course_kit.experiments citation --model gcn gat --dataset cora citeseer --seeds 10``
appends one CSV row per run (backend, model, dataset, seed, accuracies, epochs, time per epoch)
to ``--out``/citation.csv and prints mean +- std test accuracy per backend, model and dataset.
"""

import csv
import os
from pathlib import Path

import keras
import numpy as np

from course_kit.data import load_citation
from course_kit.models.graph import GATNodeClassifier, GCNNodeClassifier
from course_kit.training.graph import graph_batch, row_normalize, train_node_classifier

__all__ = ["PUBLISHED_SETTINGS", "register", "run", "run_citation", "summarize"]

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
    keras.utils.set_random_seed(seed)
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


def register(subparsers):
    parser = subparsers.add_parser(
        "citation", help="GCN / GAT node classification on Cora and CiteSeer over seeds"
    )
    parser.add_argument("--model", nargs="+", choices=sorted(MODELS), default=["gcn", "gat"])
    parser.add_argument("--dataset", nargs="+", choices=["cora", "citeseer"],
                        default=["cora", "citeseer"])
    parser.add_argument("--seeds", type=int, default=10, help="runs with seeds 0..SEEDS-1")
    parser.add_argument("--first-seed", type=int, default=0)
    parser.add_argument("--epochs", type=int, default=None,
                        help="override the epoch budget (for a quick look)")
    parser.add_argument("--out", type=Path, default=Path("results"))
    parser.set_defaults(func=run)


def run(args):
    if args.seeds < 1:
        raise ValueError(f"--seeds must be at least 1; got {args.seeds}")
    args.out.mkdir(parents=True, exist_ok=True)
    table = args.out / "citation.csv"
    new_file = not table.exists()
    rows = []
    with open(table, "a", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=FIELDS)
        if new_file:
            writer.writeheader()
        for dataset in args.dataset:
            for model_name in args.model:
                for seed in range(args.first_seed, args.first_seed + args.seeds):
                    row = run_citation(model_name, dataset, seed, args.epochs)
                    writer.writerow(row)
                    handle.flush()
                    os.fsync(handle.fileno())
                    rows.append(row)
                    print(
                        f"{row['backend']} {model_name} {dataset} seed {seed}: test "
                        f"{row['test_accuracy']:.3f} (val {row['val_accuracy']:.3f}, "
                        f"{row['epochs_run']} epochs, {row['seconds_per_epoch'] * 1e3:.0f} ms/epoch)",
                        flush=True,
                    )
    for (backend, model_name, dataset), (mean, std, runs) in sorted(summarize(rows).items()):
        print(f"{backend} {model_name} {dataset}: {100 * mean:.1f} +- {100 * std:.1f}% ({runs} seeds)")
    return 0

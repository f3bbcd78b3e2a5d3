"""Graph layer speed and memory, side by side in one run.

1. Training time per epoch (one full-batch step) of the GCN and GAT node classifiers on Cora:
   course_kit on each Keras backend beside Spektral on TensorFlow (legacy tf.keras), with the
   same architecture and hyperparameters, printed with ratios to Spektral.
2. Scale: one GCNConv forward pass on a random graph of 200,000 nodes and 2,000,000 edges,
   with the process's peak resident memory. A dense float32 adjacency of that graph alone
   would need 160 GB, so a peak of a few hundred MB shows that none is formed.

Every measurement runs in a fresh subprocess (the Keras backend is fixed at import):

    python benchmarks/graph_layers.py                      # all backends, Spektral, scale
    python benchmarks/graph_layers.py --backends jax --epochs 20 --no-scale
"""

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BACKENDS = ("tensorflow", "jax", "torch")


def peak_memory_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


def median_step_seconds(step, epochs, warmup=3):
    for _ in range(warmup):  # compilation / tracing happens here
        step()
    durations = []
    for _ in range(epochs):
        started = time.perf_counter()
        step()
        durations.append(time.perf_counter() - started)
    durations.sort()
    return durations[len(durations) // 2]


def cora_course_kit(model_name, epochs):
    import keras

    from course_kit.data import load_citation
    from course_kit.experiments.citation import MODELS, PUBLISHED_SETTINGS
    from course_kit.training.graph import graph_batch, row_normalize

    graph = load_citation("cora")
    settings = PUBLISHED_SETTINGS[model_name]
    keras.utils.set_random_seed(0)
    model = MODELS[model_name](graph.num_classes, **settings["model"])
    model.compile(
        optimizer=keras.optimizers.Adam(settings["learning_rate"]),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    inputs = {
        key: keras.ops.convert_to_tensor(value)
        for key, value in graph_batch(row_normalize(graph.features), graph.edge_index).items()
    }
    labels = keras.ops.convert_to_tensor(graph.labels[None])
    weight = keras.ops.convert_to_tensor(
        (graph.train_mask / graph.train_mask.mean()).astype("float32")[None]
    )
    return median_step_seconds(lambda: model.train_on_batch(inputs, labels, weight), epochs)


def cora_spektral(model_name, epochs):
    import numpy as np
    import tensorflow as tf
    from spektral.layers import GATConv, GCNConv
    from spektral.utils import gcn_filter, sp_matrix_to_sp_tensor

    from course_kit.data import load_citation
    from course_kit.experiments.citation import PUBLISHED_SETTINGS
    from course_kit.training.graph import row_normalize

    layers = tf.keras.layers
    graph = load_citation("cora")
    settings = PUBLISHED_SETTINGS[model_name]
    hyper = settings["model"]
    decay = tf.keras.regularizers.L2(hyper["l2"] / 2)
    tf.keras.utils.set_random_seed(0)
    if model_name == "gcn":
        adjacency = sp_matrix_to_sp_tensor(gcn_filter(graph.adjacency.astype("float32")))
        stack = [
            layers.Dropout(hyper["dropout_rate"]),
            GCNConv(hyper["hidden"], activation="relu", kernel_regularizer=decay),
            layers.Dropout(hyper["dropout_rate"]),
            GCNConv(graph.num_classes),
        ]
    else:
        adjacency = sp_matrix_to_sp_tensor(graph.adjacency.astype("float32"))
        gat = {"dropout_rate": hyper["dropout_rate"], "kernel_regularizer": decay,
               "attn_kernel_regularizer": decay}
        stack = [
            layers.Dropout(hyper["dropout_rate"]),
            GATConv(hyper["hidden"], attn_heads=hyper["heads"], activation="elu", **gat),
            layers.Dropout(hyper["dropout_rate"]),
            GATConv(graph.num_classes, attn_heads=hyper["output_heads"], concat_heads=False,
                    **gat),
        ]
    features = tf.constant(row_normalize(graph.features))
    labels = tf.constant(graph.labels)
    weight = tf.constant((graph.train_mask / graph.train_mask.mean()).astype(np.float32))
    optimizer = tf.keras.optimizers.Adam(settings["learning_rate"])
    loss_fn = tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True)

    def forward(training):
        hidden = features
        for layer in stack:
            hidden = layer(hidden, training=training) if isinstance(layer, layers.Dropout) \
                else layer([hidden, adjacency], training=training)
        return hidden

    forward(False)
    variables = [v for layer in stack for v in layer.trainable_variables]

    @tf.function
    def step():
        with tf.GradientTape() as tape:
            loss = loss_fn(labels, forward(True), sample_weight=weight)
            loss += tf.add_n([loss for layer in stack for loss in layer.losses])
        optimizer.apply_gradients(zip(tape.gradient(loss, variables), variables))

    return median_step_seconds(step, epochs)


def scale_forward(num_nodes, num_edges, num_features, channels):
    import keras
    import numpy as np

    from course_kit.layers import GCNConv

    rng = np.random.default_rng(0)
    edge_index = rng.integers(num_nodes, size=(2, num_edges), dtype=np.int64).astype(np.int32)
    edge_weight = np.ones(num_edges, np.float32)
    features = rng.normal(size=(num_nodes, num_features)).astype(np.float32)
    layer = GCNConv(channels)
    before = peak_memory_mb()
    started = time.perf_counter()
    output = keras.ops.convert_to_numpy(layer([features, (edge_index, edge_weight)]))
    seconds = time.perf_counter() - started
    return {
        "seconds": seconds,
        "peak_mb": peak_memory_mb(),
        "peak_before_mb": before,
        "output_shape": list(output.shape),
        "dense_adjacency_gb": num_nodes**2 * 4 / 1e9,
    }


def worker(args):
    if args.task == "scale":
        result = scale_forward(args.nodes, args.edges, args.features, args.channels)
    elif args.task == "spektral":
        result = {"seconds": cora_spektral(args.model, args.epochs)}
    else:
        result = {"seconds": cora_course_kit(args.model, args.epochs)}
    print("RESULT " + json.dumps(result), flush=True)


def spawn(backend, *arguments):
    env = dict(os.environ, KERAS_BACKEND=backend, TF_CPP_MIN_LOG_LEVEL="3",
               TF_USE_LEGACY_KERAS="1", PYTHONPATH=str(ROOT))
    completed = subprocess.run(
        [sys.executable, __file__, "--worker", *arguments], check=False, env=env, cwd=ROOT,
        capture_output=True, text=True,
    )
    for line in completed.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[len("RESULT "):])
    raise RuntimeError(f"{backend} {arguments} failed:\n{completed.stderr[-3000:]}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backends", nargs="+", choices=BACKENDS, default=list(BACKENDS))
    parser.add_argument("--models", nargs="+", choices=["gcn", "gat"], default=["gcn", "gat"])
    parser.add_argument("--epochs", type=int, default=50, help="timed epochs per measurement")
    parser.add_argument("--no-scale", action="store_true")
    parser.add_argument("--scale-backends", nargs="+", choices=BACKENDS, default=["tensorflow"])
    parser.add_argument("--nodes", type=int, default=200_000)
    parser.add_argument("--edges", type=int, default=2_000_000)
    parser.add_argument("--features", type=int, default=32)
    parser.add_argument("--channels", type=int, default=16)
    # Internal: one measurement in this (fresh) process.
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--task", choices=["course_kit", "spektral", "scale"], help=argparse.SUPPRESS)
    parser.add_argument("--model", choices=["gcn", "gat"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        return worker(args)

    print(f"Training time per epoch on Cora (median of {args.epochs} full-batch steps)")
    print(f"{'model':6} {'implementation':28} {'ms/epoch':>9} {'vs Spektral':>12}")
    for model in args.models:
        common = ["--model", model, "--epochs", str(args.epochs)]
        reference = spawn("tensorflow", "--task", "spektral", *common)["seconds"]
        print(f"{model:6} {'Spektral 1.3.1 (tf.keras)':28} {reference * 1e3:9.1f} {1.0:12.2f}")
        for backend in args.backends:
            seconds = spawn(backend, "--task", "course_kit", *common)["seconds"]
            print(f"{model:6} {'course_kit / ' + backend:28} {seconds * 1e3:9.1f} "
                  f"{seconds / reference:12.2f}")
    if args.no_scale:
        return 0
    print(f"\nGCNConv forward pass, {args.nodes:,} nodes, {args.edges:,} edges, "
          f"{args.features} -> {args.channels} features")
    print(f"{'backend':12} {'seconds':>8} {'peak RSS MB':>12} {'before call MB':>15} "
          f"{'dense A would be GB':>20}")
    for backend in args.scale_backends:
        result = spawn(backend, "--task", "scale", "--nodes", str(args.nodes), "--edges",
                       str(args.edges), "--features", str(args.features), "--channels",
                       str(args.channels))
        print(f"{backend:12} {result['seconds']:8.2f} {result['peak_mb']:12.0f} "
              f"{result['peak_before_mb']:15.0f} {result['dense_adjacency_gb']:20.0f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

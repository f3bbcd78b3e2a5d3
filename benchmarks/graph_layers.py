"""Graph layer speed and memory, side by side in one run.

1. Training time per epoch (one full-batch step) of the GCN and GAT node classifiers on Cora:
   course_kit on each Keras backend beside Spektral on TensorFlow (legacy tf.keras), with the
   same architecture and hyperparameters, printed with ratios to Spektral. Two ways of running
   a step are timed, each the same on both sides: Keras' ``train_on_batch`` (course_kit on every
   backend, Spektral in a compiled tf.keras model) and a hand-written ``tf.function`` step
   (TensorFlow only), so the ratios compare the layers and not the training loops.
   Spektral and course_kit on TensorFlow run in one process, their steps interleaved in
   blocks, so a drift in machine load hits both alike; JAX and PyTorch need a process each.
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
HARNESSES = ("train_on_batch", "tf_function")


def peak_memory_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


def median_step_seconds(steps, epochs, warmup=3, block=10):
    """Median seconds per call of each step in ``steps`` (a dict), run in interleaved blocks."""
    for step in steps.values():
        for _ in range(warmup):  # compilation / tracing happens here
            step()
    durations = {name: [] for name in steps}
    block = min(block, epochs)
    for _ in range(epochs // block):
        for name, step in steps.items():
            for _ in range(block):
                started = time.perf_counter()
                step()
                durations[name].append(time.perf_counter() - started)
    return {name: sorted(times)[len(times) // 2] for name, times in durations.items()}


def cora_problem(model_name):
    """Cora, the model's published settings, row-normalised features and the loss weights."""
    import numpy as np

    from course_kit.data import load_citation
    from course_kit.experiments.citation import PUBLISHED_SETTINGS
    from course_kit.training.graph import row_normalize

    graph = load_citation("cora")
    weight = (graph.train_mask / graph.train_mask.mean()).astype(np.float32)
    return graph, PUBLISHED_SETTINGS[model_name], row_normalize(graph.features), weight


def tf_function_step(forward, variables, regularization, labels, weight, optimizer, loss_fn):
    """One compiled training step: the same code for course_kit and Spektral."""
    import tensorflow as tf

    @tf.function
    def step():
        with tf.GradientTape() as tape:
            loss = loss_fn(labels, forward(), sample_weight=weight) + tf.add_n(regularization())
        optimizer.apply_gradients(zip(tape.gradient(loss, variables), variables))

    return step


def cora_course_kit(model_name, harness):
    import keras

    from course_kit.experiments.citation import MODELS
    from course_kit.training.graph import graph_batch

    graph, settings, features, weight = cora_problem(model_name)
    keras.utils.set_random_seed(0)
    model = MODELS[model_name](graph.num_classes, **settings["model"])
    inputs = {
        key: keras.ops.convert_to_tensor(value)
        for key, value in graph_batch(features, graph.edge_index).items()
    }
    labels = keras.ops.convert_to_tensor(graph.labels[None])
    weight = keras.ops.convert_to_tensor(weight[None])
    optimizer = keras.optimizers.Adam(settings["learning_rate"])
    loss_fn = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    if harness == "tf_function":
        model(inputs)
        step = tf_function_step(lambda: model(inputs, training=True), model.trainable_variables,
                                lambda: model.losses, labels, weight, optimizer, loss_fn)
    else:
        model.compile(optimizer=optimizer, loss=loss_fn)
        step = lambda: model.train_on_batch(inputs, labels, weight)  # noqa: E731
    return step


def cora_spektral(model_name, harness):
    import tensorflow as tf
    from spektral.layers import GATConv, GCNConv
    from spektral.utils import gcn_filter, sp_matrix_to_sp_tensor

    layers = tf.keras.layers
    graph, settings, features, weight = cora_problem(model_name)
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

    class Classifier(tf.keras.Model):
        def __init__(self):
            super().__init__()
            self.stack = stack

        def call(self, hidden, training=None):
            for layer in self.stack:
                hidden = (layer(hidden, training=training) if isinstance(layer, layers.Dropout)
                          else layer([hidden, adjacency], training=training))
            return hidden

    model = Classifier()
    features, labels, weight = tf.constant(features), tf.constant(graph.labels), tf.constant(weight)
    model(features)
    optimizer = tf.keras.optimizers.Adam(settings["learning_rate"])
    loss_fn = tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    if harness == "tf_function":
        step = tf_function_step(lambda: model(features, training=True),
                                model.trainable_variables, lambda: model.losses, labels, weight,
                                optimizer, loss_fn)
    else:
        model.compile(optimizer=optimizer, loss=loss_fn)
        # The whole graph is one batch: train_on_batch never splits its inputs.
        step = lambda: model.train_on_batch(features, labels, weight)  # noqa: E731
    return step


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
    else:
        steps = {"course_kit": cora_course_kit(args.model, args.harness)}
        if args.task == "with_spektral":
            steps["spektral"] = cora_spektral(args.model, args.harness)
        result = median_step_seconds(steps, args.epochs)
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
    parser.add_argument("--task", choices=["course_kit", "with_spektral", "scale"],
                        help=argparse.SUPPRESS)
    parser.add_argument("--model", choices=["gcn", "gat"], help=argparse.SUPPRESS)
    parser.add_argument("--harness", choices=HARNESSES, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        return worker(args)

    print(f"Training time per epoch on Cora (median of {args.epochs} full-batch steps)")
    print(f"{'model':6} {'step':16} {'implementation':28} {'ms/epoch':>9} {'vs Spektral':>12}")
    for model in args.models:
        for harness, backends in (("train_on_batch", args.backends),
                                  ("tf_function", ["tensorflow"])):
            common = ["--model", model, "--epochs", str(args.epochs), "--harness", harness]
            paired = spawn("tensorflow", "--task", "with_spektral", *common)
            reference = paired["spektral"]
            rows = [("Spektral 1.3.1 (tf.keras)", reference)]
            for backend in backends:
                seconds = (paired if backend == "tensorflow"
                           else spawn(backend, "--task", "course_kit", *common))["course_kit"]
                rows.append(("course_kit / " + backend, seconds))
            for implementation, seconds in rows:
                print(f"{model:6} {harness:16} {implementation:28} "
                      f"{seconds * 1e3:9.1f} {seconds / reference:12.2f}")
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

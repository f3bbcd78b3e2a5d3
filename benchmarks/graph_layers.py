"""Graph layer speed and memory against Spektral and PyTorch Geometric, side by side.

1. Training time per epoch (one full-batch step) of the GCN and GAT node classifiers on Cora,
   course_kit on each Keras backend beside two anchors with the same architecture and
   hyperparameters: Spektral on TensorFlow (legacy tf.keras) and PyTorch Geometric (PyG) on
   plain PyTorch. Two harnesses:

   ``layer``
       the layers' cost: dropout 0 and no weight decay, so a step is the two graph layers
       forward and backward, the loss and Adam;
   ``epoch``
       a full epoch with the papers' settings: GCN (Kipf & Welling) 16 hidden, dropout 0.5,
       weight decay 5e-4 on the first layer; GAT (Velickovic et al.) 8 heads x 8 hidden,
       dropout 0.6 on inputs and attention, weight decay 5e-4; Adam.

   Each side steps the way it is meant to be trained: course_kit with Keras'
   ``train_on_batch``, Spektral with tf.keras' compiled ``train_on_batch``, PyG with a plain
   PyTorch step (``zero_grad``, forward, loss, ``backward``, ``Adam.step``, weight decay as
   Adam's ``weight_decay``, the normalised GCN graph cached as in PyG's own GCN example;
   Spektral normalises its graph once on the host as well). Spektral and course_kit on
   TensorFlow run in one process, PyG and course_kit on PyTorch in another, their steps
   interleaved in blocks, so a drift in machine load hits both sides of a pair alike;
   course_kit on JAX runs in a process of its own and is compared with Spektral. Each line
   reports the median over the timed steps and the ratio to its anchor (below 1: course_kit
   is faster).

   Memory: ``peak MiB`` is the peak resident memory (``ru_maxrss``) of a fresh process that
   runs one side alone (its framework's imports, Cora, both harnesses' models and a few
   steps of each), so the two sides of a pair are not mixed; ``growth MiB`` is how far that
   peak rose above the resident memory after the imports and the data, i.e. what the models
   and their steps add.

2. Scale: one GCNConv forward pass on a random graph of 200,000 nodes and 2,000,000 edges,
   with the process's peak resident memory. A dense float32 adjacency of that graph alone
   would need 160 GB, so a peak of a few hundred MB shows that none is formed.

Every measurement runs in a fresh subprocess (the Keras backend is fixed at import), by
default with one thread per framework (``--threads``): on a small machine that other jobs
share, PyTorch's OpenMP threads wait on each other for longer than the small Cora kernels run
(a PyG GCN step took 14 ms with one thread and 160 ms with two at a load of 6 on 2 cores).
Every line carries the 1-minute load average at the end of its measurement: on a shared
machine the ratios of a pair hold up far better than the times themselves.

    python benchmarks/graph_layers.py                                 # everything
    python benchmarks/graph_layers.py --backends torch --models gcn --epochs 20 --no-scale
    python benchmarks/graph_layers.py --csv-dir docs/results           # also write the CSVs
"""

import argparse
import csv
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BACKENDS = ("tensorflow", "jax", "torch")
HARNESSES = ("layer", "epoch")
ANCHORS = {"tensorflow": "spektral", "torch": "pyg", "jax": "spektral"}
IMPLEMENTATIONS = {
    "spektral": "Spektral 1.3.1 / tensorflow",
    "pyg": "PyG {version} / torch",
    "course_kit": "course_kit / {backend}",
}
EPOCH_FIELDS = ["model", "harness", "implementation", "ms_per_epoch", "vs_anchor", "anchor",
                "peak_mib", "growth_mib", "load"]
SCALE_FIELDS = ["backend", "nodes", "edges", "seconds", "peak_mib", "before_call_mib",
                "dense_adjacency_gb", "load"]


def peak_memory_mib():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


def resident_memory_mib():
    with open("/proc/self/statm") as stream:
        return int(stream.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def load_average():
    return os.getloadavg()[0]


def median_step_seconds(steps, epochs, warmup=3, block=10):
    """Median seconds per call of each step in ``steps`` (a dict), run in interleaved blocks."""
    for step in steps.values():
        for _ in range(warmup):  # compilation / tracing happens here
            step()
    durations = {name: [] for name in steps}
    block = min(block, epochs)
    for _ in range(max(1, epochs // block)):
        for name, step in steps.items():
            for _ in range(block):
                started = time.perf_counter()
                step()
                durations[name].append(time.perf_counter() - started)
    return {name: sorted(times)[len(times) // 2] for name, times in durations.items()}


def cora_problem(model_name, harness):
    """Cora, the hyperparameters of the harness, row-normalised features, the loss weights."""
    import numpy as np

    from course_kit.data import load_citation
    from course_kit.experiments.citation import PUBLISHED_SETTINGS
    from course_kit.training.graph import row_normalize

    graph = load_citation("cora")
    settings = dict(PUBLISHED_SETTINGS[model_name])
    if harness == "layer":
        settings["model"] = dict(settings["model"], dropout_rate=0.0, l2=0.0)
    weight = (graph.train_mask / graph.train_mask.mean()).astype(np.float32)
    return graph, settings, row_normalize(graph.features), weight


def course_kit_step(model_name, harness):
    import keras

    from course_kit.experiments.citation import MODELS
    from course_kit.seeding import set_random_seed
    from course_kit.training.graph import graph_batch

    graph, settings, features, weight = cora_problem(model_name, harness)
    set_random_seed(0)
    model = MODELS[model_name](graph.num_classes, **settings["model"])
    inputs = {
        key: keras.ops.convert_to_tensor(value)
        for key, value in graph_batch(features, graph.edge_index).items()
    }
    labels = keras.ops.convert_to_tensor(graph.labels[None])
    weight = keras.ops.convert_to_tensor(weight[None])
    model.compile(optimizer=keras.optimizers.Adam(settings["learning_rate"]),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    return lambda: model.train_on_batch(inputs, labels, weight)


def spektral_step(model_name, harness):
    import tensorflow as tf
    from spektral.layers import GATConv, GCNConv
    from spektral.utils import gcn_filter, sp_matrix_to_sp_tensor

    layers = tf.keras.layers
    graph, settings, features, weight = cora_problem(model_name, harness)
    hyper = settings["model"]
    decay = tf.keras.regularizers.L2(hyper["l2"] / 2) if hyper["l2"] else None
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
    model.compile(optimizer=tf.keras.optimizers.Adam(settings["learning_rate"]),
                  loss=tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    # The whole graph is one batch: train_on_batch never splits its inputs.
    return lambda: model.train_on_batch(features, labels, weight)


def pyg_step(model_name, harness):
    import torch
    import torch.nn.functional as F
    from torch_geometric.nn import GATConv, GCNConv

    graph, settings, features, _ = cora_problem(model_name, harness)
    hyper = settings["model"]
    torch.manual_seed(0)
    features = torch.as_tensor(features)
    edge_index = torch.as_tensor(graph.edge_index, dtype=torch.long)
    labels = torch.as_tensor(graph.labels, dtype=torch.long)
    train = torch.as_tensor(graph.train_mask, dtype=torch.bool)
    rate = hyper["dropout_rate"]
    if model_name == "gcn":
        first = GCNConv(features.shape[1], hyper["hidden"], cached=True)
        second = GCNConv(hyper["hidden"], graph.num_classes, cached=True)
        activation = F.relu
        groups = [{"params": first.parameters(), "weight_decay": hyper["l2"]},
                  {"params": second.parameters(), "weight_decay": 0.0}]
    else:
        first = GATConv(features.shape[1], hyper["hidden"], heads=hyper["heads"], dropout=rate)
        second = GATConv(hyper["hidden"] * hyper["heads"], graph.num_classes,
                         heads=hyper["output_heads"], concat=False, dropout=rate)
        activation = F.elu
        groups = [{"params": [*first.parameters(), *second.parameters()],
                   "weight_decay": hyper["l2"]}]
    optimizer = torch.optim.Adam(groups, lr=settings["learning_rate"])

    def step():
        optimizer.zero_grad()
        hidden = F.dropout(features, rate, training=True)
        hidden = F.dropout(activation(first(hidden, edge_index)), rate, training=True)
        logits = second(hidden, edge_index)
        F.cross_entropy(logits[train], labels[train]).backward()
        optimizer.step()

    return step


STEPS = {"course_kit": course_kit_step, "spektral": spektral_step, "pyg": pyg_step}


def scale_forward(num_nodes, num_edges, num_features, channels):
    import keras
    import numpy as np

    from course_kit.layers import GCNConv

    rng = np.random.default_rng(0)
    edge_index = rng.integers(num_nodes, size=(2, num_edges), dtype=np.int64).astype(np.int32)
    edge_weight = np.ones(num_edges, np.float32)
    features = rng.normal(size=(num_nodes, num_features)).astype(np.float32)
    layer = GCNConv(channels)
    before = peak_memory_mib()
    started = time.perf_counter()
    output = keras.ops.convert_to_numpy(layer([features, (edge_index, edge_weight)]))
    seconds = time.perf_counter() - started
    assert output.shape == (num_nodes, channels)
    return {
        "seconds": seconds,
        "peak_mib": peak_memory_mib(),
        "before_call_mib": before,
        "dense_adjacency_gb": num_nodes**2 * 4 / 1e9,
    }


def timed_sides(sides, model_name, epochs):
    """``{(side, harness): seconds}``: every side and harness interleaved in one process."""
    steps = {(side, harness): STEPS[side](model_name, harness)
             for harness in HARNESSES for side in sides}
    return steps, median_step_seconds(steps, epochs)


def worker(args):
    if args.task == "scale":
        result = scale_forward(args.nodes, args.edges, args.features, args.channels)
    else:
        import keras  # noqa: F401 - the backend, and through it TensorFlow, JAX or PyTorch

        if "spektral" in args.sides:
            import spektral  # noqa: F401
        if "pyg" in args.sides:
            import torch_geometric  # noqa: F401
        cora_problem(args.model, "epoch")
        baseline = resident_memory_mib()
        _, seconds = timed_sides(args.sides, args.model, args.epochs)
        result = {"seconds": {f"{side}/{harness}": value
                              for (side, harness), value in seconds.items()},
                  "peak_mib": peak_memory_mib(), "growth_mib": peak_memory_mib() - baseline}
    result["load"] = load_average()
    print("RESULT " + json.dumps(result), flush=True)


def thread_environment(threads):
    """Environment variables that hold every framework to ``threads`` threads per process."""
    return {"OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads),
            "TF_NUM_INTRAOP_THREADS": str(threads), "TF_NUM_INTEROP_THREADS": str(threads),
            "XLA_FLAGS": f"--xla_cpu_multi_thread_eigen={'true' if threads > 1 else 'false'}"}


def spawn(backend, *arguments, threads=1):
    env = dict(os.environ, KERAS_BACKEND=backend, TF_CPP_MIN_LOG_LEVEL="3",
               TF_USE_LEGACY_KERAS="1", PYTHONPATH=str(ROOT), **thread_environment(threads))
    completed = subprocess.run(
        [sys.executable, __file__, "--worker", *arguments], check=False, env=env, cwd=ROOT,
        capture_output=True, text=True,
    )
    for line in completed.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[len("RESULT "):])
    raise RuntimeError(f"{backend} {arguments} failed:\n{completed.stderr[-3000:]}")


def implementation_name(side, backend):
    version = ""
    if side == "pyg":
        from importlib.metadata import version as installed

        version = installed("torch-geometric")
    return IMPLEMENTATIONS[side].format(backend=backend, version=version)


def epoch_rows(model, backends, epochs, memory_epochs, threads, memory=True):
    """The table rows of one model: both harnesses, each anchor and course_kit per backend."""
    pairs = {"tensorflow": ["spektral", "course_kit"], "torch": ["pyg", "course_kit"],
             "jax": ["course_kit"]}
    if "jax" in backends and "tensorflow" not in backends:
        backends = ["tensorflow", *backends]  # JAX is compared with Spektral
    timings, peaks = {}, {}
    for backend in backends:
        measured = spawn(backend, "--task", "time", "--model", model, "--epochs", str(epochs),
                         "--sides", *pairs[backend], threads=threads)
        for key, seconds in measured["seconds"].items():
            side, harness = key.split("/")
            timings[side, backend, harness] = (seconds, measured["load"])
        for side in pairs[backend] if memory else ():
            # A process of one side alone: the timing process itself where it has no partner.
            peaks[side, backend] = measured if len(pairs[backend]) == 1 else spawn(
                backend, "--task", "time", "--model", model, "--epochs", str(memory_epochs),
                "--sides", side, threads=threads)
    rows = []
    for harness in HARNESSES:
        for backend in backends:
            anchor = ANCHORS[backend]
            reference = timings[anchor, "tensorflow" if anchor == "spektral" else backend,
                                harness][0]
            for side in pairs[backend]:
                seconds, load = timings[side, backend, harness]
                peak = peaks.get((side, backend), {})
                rows.append({
                    "model": model, "harness": harness,
                    "implementation": implementation_name(side, backend),
                    "ms_per_epoch": f"{seconds * 1e3:.2f}",
                    "vs_anchor": f"{seconds / reference:.2f}",
                    "anchor": implementation_name(anchor, "tensorflow" if anchor == "spektral"
                                                  else backend),
                    "peak_mib": _rounded(peak.get("peak_mib")),
                    "growth_mib": _rounded(peak.get("growth_mib")),
                    "load": f"{load:.2f}",
                })
    return rows


def _rounded(value):
    return "" if value in (None, "") else f"{value:.0f}"


def write_csv(path, fields, rows):
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as stream:
        writer = csv.DictWriter(stream, fieldnames=fields)
        writer.writeheader()
        writer.writerows(rows)


def print_table(fields, rows):
    widths = [max(len(field), *(len(str(row[field])) for row in rows)) for field in fields]
    print("  ".join(field.ljust(width) for field, width in zip(fields, widths)))
    for row in rows:
        print("  ".join(str(row[field]).ljust(width) for field, width in zip(fields, widths)))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backends", nargs="+", choices=BACKENDS, default=list(BACKENDS))
    parser.add_argument("--models", nargs="+", choices=["gcn", "gat"], default=["gcn", "gat"])
    parser.add_argument("--epochs", type=int, default=50, help="timed epochs per measurement")
    parser.add_argument("--memory-epochs", type=int, default=5,
                        help="steps per harness in each memory process")
    parser.add_argument("--no-memory", action="store_true")
    parser.add_argument("--threads", type=int, default=1,
                        help="threads per framework and process (OpenMP, TensorFlow, XLA)")
    parser.add_argument("--no-scale", action="store_true")
    parser.add_argument("--scale-backends", nargs="+", choices=BACKENDS, default=["tensorflow"])
    parser.add_argument("--nodes", type=int, default=200_000)
    parser.add_argument("--edges", type=int, default=2_000_000)
    parser.add_argument("--features", type=int, default=32)
    parser.add_argument("--channels", type=int, default=16)
    parser.add_argument("--csv-dir", type=Path,
                        help="write graph_epochs.csv and graph_scale.csv into this folder")
    # Internal: one measurement in this (fresh) process.
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--task", choices=["time", "scale"], help=argparse.SUPPRESS)
    parser.add_argument("--model", choices=["gcn", "gat"], help=argparse.SUPPRESS)
    parser.add_argument("--sides", nargs="+", choices=list(STEPS), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        return worker(args)

    print(f"Training time per epoch on Cora (median of {args.epochs} full-batch steps), "
          f"load average at start {load_average():.2f}")
    rows = [row for model in args.models
            for row in epoch_rows(model, args.backends, args.epochs, args.memory_epochs,
                                  args.threads, memory=not args.no_memory)]
    print_table(EPOCH_FIELDS, rows)
    if args.csv_dir:
        write_csv(args.csv_dir / "graph_epochs.csv", EPOCH_FIELDS, rows)
    if args.no_scale:
        return 0
    print(f"\nGCNConv forward pass, {args.nodes:,} nodes, {args.edges:,} edges, "
          f"{args.features} -> {args.channels} features")
    scale = []
    for backend in args.scale_backends:
        result = spawn(backend, "--task", "scale", "--nodes", str(args.nodes), "--edges",
                       str(args.edges), "--features", str(args.features), "--channels",
                       str(args.channels), threads=args.threads)
        scale.append({"backend": backend, "nodes": args.nodes, "edges": args.edges,
                      "seconds": f"{result['seconds']:.2f}",
                      "peak_mib": _rounded(result["peak_mib"]),
                      "before_call_mib": _rounded(result["before_call_mib"]),
                      "dense_adjacency_gb": _rounded(result["dense_adjacency_gb"]),
                      "load": f"{result['load']:.2f}"})
    print_table(SCALE_FIELDS, scale)
    if args.csv_dir:
        write_csv(args.csv_dir / "graph_scale.csv", SCALE_FIELDS, scale)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

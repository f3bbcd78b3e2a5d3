"""Training speed and peak memory of the kit's recurrent cells against Keras' built-in layers.

For each backend and cell, one fresh Python process builds ``Input -> RNN -> Dense`` twice,
once with the kit's cell and once with the built-in layer that computes the same equations
(the peephole LSTM beside ``keras.layers.LSTM``, its nearest relative), trains both with Adam
on random one-hot sequences, and times them in alternating rounds after a warm-up, so that a
change in the machine's load hits both alike; the best round of each counts. Peak memory is
measured in two more fresh processes, one per layer: the growth of the process' peak resident
memory over a few training steps. The ratio is custom / built-in steps per second (higher is
better for the kit). Each row carries the 1-minute load average at its end; ``--csv PATH``
also writes the table, for the documentation.

Every process runs one thread per framework by default (``--threads``), as the graph layer
benchmark and the grader's student processes do: Keras runs a cell one time step at a time, on
small ``(batch, units)`` blocks, and on a small machine that other jobs share, PyTorch's OpenMP
threads wait on each other at every such operation for longer than it computes, which turns
the comparison into a measure of the machine's load.

    python benchmarks/rnn_cells.py                       # all backends, all cells
    python benchmarks/rnn_cells.py --backends jax --cells lstm --steps 10
"""

import argparse
import csv
import json
import os
import resource
import subprocess
import sys
import time

from graph_layers import thread_environment

PAIRS = {
    "vanilla": ("VanillaRNNCell", "SimpleRNN"),
    "lstm": ("LSTMCell", "LSTM"),
    "peephole": ("PeepholeLSTMCell", "LSTM"),
    "gru": ("GRUCell", "GRU"),
}


def build(layer, length, units, input_dim):
    import keras

    import course_kit.layers as kit_layers

    if hasattr(kit_layers, layer):
        recurrent = keras.layers.RNN(getattr(kit_layers, layer)(units))
    elif layer == "GRU":
        recurrent = keras.layers.GRU(units, reset_after=False)
    else:
        recurrent = getattr(keras.layers, layer)(units)
    model = keras.Sequential(
        [keras.Input((length, input_dim)), recurrent, keras.layers.Dense(input_dim)]
    )
    model.compile(optimizer="adam", loss=keras.losses.SparseCategoricalCrossentropy(True))
    return model


def batch_of_data(batch, length, input_dim):
    import numpy as np

    symbols = np.random.default_rng(0).integers(0, input_dim, size=(batch, length))
    return np.eye(input_dim, dtype="float32")[symbols], symbols[:, 0].astype("int32")


def peak_mib():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def measure_speed(layers, args):
    """Steps per second of each layer: the best of ``args.rounds`` alternating rounds."""
    x, y = batch_of_data(args.batch, args.length, args.input_dim)
    models = {layer: build(layer, args.length, args.units, args.input_dim) for layer in layers}
    for model in models.values():
        for _ in range(args.warmup):
            model.train_on_batch(x, y)
    best = dict.fromkeys(layers, 0.0)
    for _ in range(args.rounds):
        for layer, model in models.items():
            start = time.perf_counter()
            for _ in range(args.steps):
                model.train_on_batch(x, y)
            best[layer] = max(best[layer], args.steps / (time.perf_counter() - start))
    return best


def measure_memory(layer, args):
    """Growth of peak resident memory (MiB) while building and training one layer."""
    x, y = batch_of_data(args.batch, args.length, args.input_dim)
    import keras  # noqa: F401  (the backend's own import is not the layer's memory)

    before = peak_mib()
    model = build(layer, args.length, args.units, args.input_dim)
    for _ in range(args.warmup):
        model.train_on_batch(x, y)
    return peak_mib() - before


def run_child(backend, mode, layers, args):
    """Run this script in a fresh process on ``backend`` and return its result."""
    env = dict(os.environ, KERAS_BACKEND=backend, TF_CPP_MIN_LOG_LEVEL="3",
               **thread_environment(args.threads))
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [root, env.get("PYTHONPATH")]))
    command = [sys.executable, os.path.abspath(__file__), f"--{mode}", *layers]
    for name in ("batch", "length", "units", "input_dim", "steps", "warmup", "rounds"):
        command += [f"--{name.replace('_', '-')}", str(getattr(args, name))]
    completed = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    for line in completed.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[len("RESULT ") :])
    raise RuntimeError(f"{backend} {mode} {layers} failed:\n{completed.stderr[-2000:]}")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backends", nargs="+", default=["tensorflow", "jax", "torch"])
    parser.add_argument("--cells", nargs="+", default=list(PAIRS), choices=list(PAIRS))
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--length", type=int, default=20)
    parser.add_argument("--units", type=int, default=128)
    parser.add_argument("--input-dim", type=int, default=10)
    parser.add_argument("--steps", type=int, default=10, help="timed train steps per round")
    parser.add_argument("--rounds", type=int, default=3, help="alternating timed rounds")
    parser.add_argument("--warmup", type=int, default=3, help="untimed steps (compilation)")
    parser.add_argument("--threads", type=int, default=1,
                        help="threads per framework and process (OpenMP, TensorFlow, XLA)")
    parser.add_argument("--speed", nargs="+", metavar="LAYER", help=argparse.SUPPRESS)
    parser.add_argument("--memory", nargs=1, metavar="LAYER", help=argparse.SUPPRESS)
    parser.add_argument("--csv", help="also write the table to this CSV file")
    args = parser.parse_args(argv)
    if args.speed:
        print("RESULT", json.dumps(measure_speed(args.speed, args)))
        return
    if args.memory:
        print("RESULT", json.dumps(measure_memory(args.memory[0], args)))
        return

    print(
        f"batch {args.batch}, T={args.length}, {args.units} units, input_dim {args.input_dim}, "
        f"best of {args.rounds} alternating rounds of {args.steps} steps after {args.warmup} "
        f"warm-up steps, {args.threads} thread(s) per framework"
    )
    fields = ["backend", "cell", "custom_steps_per_s", "builtin", "builtin_steps_per_s",
              "ratio", "custom_peak_mib", "builtin_peak_mib", "load"]
    print("| " + " | ".join(fields) + " |")
    print("|" + "---|" * len(fields))
    rows = []
    for backend in args.backends:
        for cell in args.cells:
            custom_layer, builtin_layer = PAIRS[cell]
            speed = run_child(backend, "speed", [custom_layer, builtin_layer], args)
            memory = [run_child(backend, "memory", [layer], args) for layer in PAIRS[cell]]
            row = dict(zip(fields, [
                backend, custom_layer, f"{speed[custom_layer]:.1f}", builtin_layer,
                f"{speed[builtin_layer]:.1f}", f"{speed[custom_layer] / speed[builtin_layer]:.2f}",
                f"{memory[0]:.0f}", f"{memory[1]:.0f}", f"{os.getloadavg()[0]:.2f}"]))
            rows.append(row)
            print("| " + " | ".join(row.values()) + " |", flush=True)
    if args.csv:
        with open(args.csv, "w", newline="", encoding="utf-8") as stream:
            writer = csv.DictWriter(stream, fieldnames=fields)
            writer.writeheader()
            writer.writerows(rows)


if __name__ == "__main__":
    main()

"""Training speed and peak memory of the kit's recurrent cells against Keras' built-in layers.

Each measurement runs in a fresh Python process (one backend per process, so the backends do
not share memory or threads), trains ``Input -> RNN -> Dense`` with Adam on random one-hot
sequences, and reports train steps per second after a warm-up and the growth of the process'
peak resident memory during training. The table puts each custom cell beside the built-in layer
that computes the same equations (the peephole LSTM beside ``keras.layers.LSTM``, its nearest
relative) and gives the ratio custom / built-in (higher is better for the kit).

    python benchmarks/rnn_cells.py                       # all backends, all cells
    python benchmarks/rnn_cells.py --backends jax --cells lstm --steps 50
"""

import argparse
import json
import os
import subprocess
import sys
import time

PAIRS = {
    "vanilla": ("VanillaRNNCell", "SimpleRNN"),
    "lstm": ("LSTMCell", "LSTM"),
    "peephole": ("PeepholeLSTMCell", "LSTM"),
    "gru": ("GRUCell", "GRU"),
}


def measure(layer, batch, length, units, input_dim, steps, warmup):
    """Run inside the child process: train steps per second and peak memory growth (MiB)."""
    import resource

    import keras
    import numpy as np

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
    rng = np.random.default_rng(0)
    symbols = rng.integers(0, input_dim, size=(batch, length))
    x = np.eye(input_dim, dtype="float32")[symbols]
    y = symbols[:, 0].astype("int32")

    def peak_mib():
        # ru_maxrss is in KiB on Linux.
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    before = peak_mib()
    for _ in range(warmup):
        model.train_on_batch(x, y)
    start = time.perf_counter()
    for _ in range(steps):
        model.train_on_batch(x, y)
    elapsed = time.perf_counter() - start
    return {"steps_per_second": steps / elapsed, "peak_memory_mib": peak_mib() - before}


def run_child(backend, layer, args):
    """Measure one layer on one backend in a fresh process running this script."""
    env = dict(os.environ, KERAS_BACKEND=backend, TF_CPP_MIN_LOG_LEVEL="3")
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [root, env.get("PYTHONPATH")]))
    command = [sys.executable, os.path.abspath(__file__), "--measure", layer]
    for name in ("batch", "length", "units", "input_dim", "steps", "warmup"):
        command += [f"--{name.replace('_', '-')}", str(getattr(args, name))]
    completed = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    for line in completed.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[len("RESULT ") :])
    raise RuntimeError(f"{backend}/{layer} failed:\n{completed.stderr[-2000:]}")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backends", nargs="+", default=["tensorflow", "jax", "torch"])
    parser.add_argument("--cells", nargs="+", default=list(PAIRS), choices=list(PAIRS))
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--length", type=int, default=20)
    parser.add_argument("--units", type=int, default=128)
    parser.add_argument("--input-dim", type=int, default=10)
    parser.add_argument("--steps", type=int, default=30, help="timed train steps per layer")
    parser.add_argument("--warmup", type=int, default=5, help="untimed steps (compilation)")
    parser.add_argument("--measure", metavar="LAYER", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.measure:
        result = measure(
            args.measure,
            args.batch,
            args.length,
            args.units,
            args.input_dim,
            args.steps,
            args.warmup,
        )
        print("RESULT", json.dumps(result))
        return

    print(
        f"batch {args.batch}, T={args.length}, {args.units} units, input_dim {args.input_dim}, "
        f"{args.steps} timed steps after {args.warmup} warm-up steps"
    )
    header = (
        "| backend | cell | custom steps/s | built-in | built-in steps/s | ratio | "
        "custom peak MiB | built-in peak MiB |"
    )
    print(header)
    print("|" + "---|" * 8)
    for backend in args.backends:
        for cell in args.cells:
            custom_layer, builtin_layer = PAIRS[cell]
            custom = run_child(backend, custom_layer, args)
            builtin = run_child(backend, builtin_layer, args)
            ratio = custom["steps_per_second"] / builtin["steps_per_second"]
            print(
                f"| {backend} | {custom_layer} | {custom['steps_per_second']:.1f} | "
                f"{builtin_layer} | {builtin['steps_per_second']:.1f} | {ratio:.2f} | "
                f"{custom['peak_memory_mib']:.0f} | {builtin['peak_memory_mib']:.0f} |",
                flush=True,
            )


if __name__ == "__main__":
    main()

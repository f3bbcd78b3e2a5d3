"""Character model speed, side by side on every Keras backend, in one run.

For each backend (each in its own process, since the backend is fixed at import) it measures:

* training throughput in characters per second (``batch_size * seq_length`` per step, Adam
  with the reference clipping) with the built-in ``keras.layers.LSTM`` and with
  ``course_kit.layers.LSTMCell`` inside ``keras.layers.RNN``;
* generation throughput: top-p sampling of 1,000 characters, one compiled step per character;
* the process's peak resident memory (``ru_maxrss``): the backend, the corpus, both models and
  their steps, since the two cells share the process; and the 1-minute load average at the
  end, since the machine may be running other jobs.

Usage: ``python benchmarks/text_generation.py [--backends tensorflow jax torch] [--steps 20]``.
Prints a Markdown table; ``--json PATH`` also saves the numbers.
"""

import argparse
import json
import os
import resource
import subprocess
import sys
import time

BACKENDS = ("tensorflow", "jax", "torch")
GENERATED = 1000


def measure(args):
    """Runs inside one backend's process; prints one JSON line."""
    import keras

    from course_kit.data import load_corpus
    from course_kit.sampling import complete
    from course_kit.training.text import make_text_model

    corpus = load_corpus(args.book)
    batches = corpus.training_batches(args.batch_size, args.seq_length, seed=0, steps=args.steps + 2)
    result = {"backend": keras.backend.backend()}
    for cell in ("keras", "course_kit"):
        try:
            model = make_text_model(corpus.vocab, units=args.units, cell=cell)
        except ImportError as error:
            result[f"train_{cell}"] = None
            result[f"train_{cell}_note"] = str(error)
            continue
        for i in range(2):  # compile and warm up
            model.train_on_batch(*batches[i])
        start = time.perf_counter()
        for i in range(2, args.steps + 2):
            model.train_on_batch(*batches[i])
        seconds = time.perf_counter() - start
        result[f"train_{cell}"] = args.steps * args.batch_size * args.seq_length / seconds
        if cell == "keras":
            complete(model, "The", 10, strategy="top_p", p=0.9)  # compile the step
            start = time.perf_counter()
            complete(model, "The", GENERATED, strategy="top_p", p=0.9)
            result["generation_seconds"] = time.perf_counter() - start
            result["generation"] = GENERATED / result["generation_seconds"]
    result["peak_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    result["load"] = os.getloadavg()[0]
    print(json.dumps(result))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backends", nargs="+", choices=BACKENDS, default=list(BACKENDS))
    parser.add_argument("--book", default="grimms")
    parser.add_argument("--units", type=int, default=128)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--seq-length", type=int, default=30)
    parser.add_argument("--steps", type=int, default=20, help="timed training steps")
    parser.add_argument("--json", help="also write the results to this file")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        return measure(args)

    results = []
    for backend in args.backends:
        command = [sys.executable, __file__, "--worker", "--book", args.book,
                   "--units", str(args.units), "--batch-size", str(args.batch_size),
                   "--seq-length", str(args.seq_length), "--steps", str(args.steps)]
        env = {**os.environ, "KERAS_BACKEND": backend, "TF_CPP_MIN_LOG_LEVEL": "3"}
        done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
        if done.returncode:
            sys.exit(f"{backend} failed:\n{done.stderr[-3000:]}")
        results.append(json.loads(done.stdout.strip().splitlines()[-1]))

    def rate(value):
        return "n/a" if value is None else f"{value:,.0f}"

    print(f"2-layer LSTM, {args.units} units, batch {args.batch_size} x {args.seq_length} "
          f"characters, {args.steps} timed steps; generation: top-p (p=0.9), {GENERATED} characters\n")
    print("| backend | train chars/s, keras LSTM | train chars/s, course_kit LSTM | course_kit / keras "
          "| generation chars/s | 1,000 characters (s) | peak MiB | load |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for r in results:
        ratio = "n/a" if r["train_course_kit"] is None else f"{r['train_course_kit'] / r['train_keras']:.2f}"
        print(f"| {r['backend']} | {rate(r['train_keras'])} | {rate(r['train_course_kit'])} | {ratio} "
              f"| {rate(r['generation'])} | {r['generation_seconds']:.2f} | {r['peak_mib']:.0f} "
              f"| {r['load']:.2f} |")
    notes = {r["train_course_kit_note"] for r in results if "train_course_kit_note" in r}
    for note in notes:
        print(f"\nn/a: {note}")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as file:
            json.dump(results, file, indent=2)


if __name__ == "__main__":
    main()

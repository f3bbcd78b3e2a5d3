"""``python -m course_kit.experiments NAME [options]``: the curriculum's experiments.

The options of every experiment are defined here, and its module (which imports Keras) is
imported only when it runs, so that ``--help`` answers at once.
"""

import importlib
import re
from argparse import ArgumentTypeError
from pathlib import Path

from course_kit.cli import CommandLine, non_negative_int, positive_float, positive_int

# Names defined by the library, written out so that --help needs no Keras (a test keeps them
# equal): course_kit.data.TASKS, course_kit.models.ENCODINGS, course_kit.data.CITATION_GRAPHS
# and course_kit.experiments.citation.MODELS.
TASKS = ("baum_sweet", "binary_palindrome", "digit_palindrome", "random_combinations")
ENCODINGS = ("one_hot", "embedding", "scalar")
CITATION_GRAPHS = ("cora", "citeseer")
CITATION_MODELS = ("gcn", "gat")

PALINDROME_MODELS = ("rnn", "lstm", "peephole_lstm", "gru", "bilstm")
#: The assignment's reference settings; every value can be overridden on the command line.
PRESETS = {
    "2019": {
        "task": "digit_palindrome",
        "models": ["rnn", "lstm"],
        "lengths": [5, 10, 15, 20, 25],
        "seeds": 3,
        "optimizer": "rmsprop",
        "learning_rate": 1e-3,
        "batch_size": 128,
        "units": 128,
        "steps": 10000,
        "clip_norm": 10.0,
        "init": "glorot_uniform",
        # The 2019 script fed each digit as one number (input dimension 1).
        "encoding": "scalar",
        "embedding_dim": None,
        "stop_loss": None,
        "stop_accuracy": None,
    },
    "2020": {
        "task": "binary_palindrome",
        "models": ["lstm", "peephole_lstm"],
        "lengths": [10, 20],
        "seeds": 3,
        "optimizer": "adam",
        "learning_rate": 1e-4,
        "batch_size": 256,
        "units": 256,
        "steps": 3000,
        "clip_norm": 10.0,
        "init": "he_normal",
        "encoding": "embedding",
        "embedding_dim": "2T",
        "stop_loss": 0.005,
        "stop_accuracy": None,
    },
}


SEEDS_HELP = "runs per setting, with seeds FIRST_SEED ... FIRST_SEED+N-1"


def add_seed_options(parser, runs, seeds_help=SEEDS_HELP):
    """``--seeds N`` and ``--first-seed S``: each setting runs with seeds S, S+1, ..., S+N-1."""
    parser.add_argument("--seeds", type=positive_int, default=runs, metavar="N", help=seeds_help)
    parser.add_argument("--first-seed", type=int, default=0, metavar="FIRST_SEED",
                        help="the first of the seeds")


def add_output_options(parser, out):
    parser.add_argument("--out", type=Path, default=Path(out), help="folder for the results")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def run_experiment(args):
    """Import the experiment's module and call its ``run(args)``, which gets ``args.seeds`` as
    the list of seeds (where the experiment has ``--seeds``)."""
    if "seeds" in args:
        args.seeds = list(range(args.first_seed, args.first_seed + args.seeds))
    module = importlib.import_module(f"course_kit.experiments.{args.experiment}")
    return module.run(args)


def _embedding_dim(text):
    if re.fullmatch(r"none|\d+|(\d+(\.\d*)?)?T", text):
        return text
    raise ArgumentTypeError(f"{text!r} is neither an integer, none, nor a multiple of T (2T)")


def _preset_help(text, key):
    values = {name: _shown(settings[key]) for name, settings in PRESETS.items()}
    if len(set(values.values())) == 1:
        return f"{text} (default: {next(iter(values.values()))} in every preset)"
    presets = ", ".join(f"{value} in {name}" for name, value in values.items())
    return f"{text} (default: the preset's: {presets})"


def _shown(value):
    if value is None:
        return "none"
    return " ".join(map(str, value)) if isinstance(value, list) else str(value)


def _palindrome(args):
    if args.embedding_dim is not None and args.encoding is None:
        args.encoding = "embedding"
    if args.encoding is not None and args.encoding != "embedding":
        args.embedding_dim = "none"
    for key, value in PRESETS[args.preset].items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    return run_experiment(args)


def add_palindrome(commands):
    parser = commands.add_parser(
        "palindrome",
        help="accuracy against length and steps to convergence on the palindrome tasks",
        description="""Accuracy against palindrome length and steps to convergence for the
        Part 1 models, with the 2019 or 2020 reference settings (--preset); every option
        below overrides its preset value.

        Writes into --out: runs.csv (one row per model, T and seed, saved after every run, so
        an interrupted experiment keeps its finished runs), accuracy.csv and convergence.csv
        (mean and std over seeds), accuracy_vs_length.png, learning_curves.png and, unless
        --gradient-length 0, gradient_norms.csv and .png (the norm of dL/dh_t of the
        untrained models at that length).""",
    )
    parser.add_argument("--preset", choices=sorted(PRESETS), default="2019",
                        help="the reference settings")
    parser.add_argument("--task", choices=TASKS, help=_preset_help("the toy task", "task"))
    parser.add_argument("--models", nargs="+", choices=PALINDROME_MODELS,
                        help=_preset_help("the models to compare", "models"))
    parser.add_argument("--lengths", nargs="+", type=positive_int,
                        help=_preset_help("task lengths T", "lengths"))
    add_seed_options(parser, None, _preset_help(SEEDS_HELP, "seeds"))
    parser.add_argument("--steps", type=positive_int,
                        help=_preset_help("maximum training steps per run", "steps"))
    parser.add_argument("--batch-size", type=positive_int,
                        help=_preset_help("sequences per step", "batch_size"))
    parser.add_argument("--units", type=positive_int,
                        help=_preset_help("units of the cell", "units"))
    parser.add_argument("--optimizer", choices=("sgd", "rmsprop", "adam"),
                        help=_preset_help("the optimizer", "optimizer"))
    parser.add_argument("--learning-rate", type=positive_float,
                        help=_preset_help("the learning rate", "learning_rate"))
    parser.add_argument("--clip-norm", type=positive_float,
                        help=_preset_help("global gradient-norm clip", "clip_norm"))
    parser.add_argument("--init", help=_preset_help("kernel initializer", "init"))
    parser.add_argument("--encoding", choices=ENCODINGS,
                        help=_preset_help("how symbols reach the cell: one_hot, a learned "
                                          "embedding, or scalar (the code as one number)",
                                          "encoding"))
    parser.add_argument("--embedding-dim", type=_embedding_dim,
                        help=_preset_help("an integer or a multiple of T such as 2T (twice "
                                          "the length); implies --encoding embedding",
                                          "embedding_dim"))
    parser.add_argument("--stop-loss", type=positive_float,
                        help=_preset_help("stop a run once a batch loss is below this",
                                          "stop_loss"))
    parser.add_argument("--stop-accuracy", type=positive_float,
                        help=_preset_help("stop a run once a batch reaches this accuracy",
                                          "stop_accuracy"))
    parser.add_argument("--eval-samples", type=positive_int, default=1000,
                        help="held-out samples per run")
    parser.add_argument("--gradient-length", type=non_negative_int, default=100,
                        help="T of the gradient-norm figure (0: no figure)")
    add_output_options(parser, "results/palindrome")
    parser.set_defaults(func=_palindrome)


def add_citation(commands):
    parser = commands.add_parser(
        "citation", help="GCN / GAT node classification on Cora and CiteSeer over seeds",
        description="Train every model on every dataset with every seed, in the published "
        "settings; append one row per run (backend, model, dataset, seed, accuracies, epochs, "
        "time per epoch) to --out/citation.csv and print the mean and std of the test "
        "accuracy per backend, model and dataset.")
    parser.add_argument("--models", nargs="+", choices=CITATION_MODELS,
                        default=list(CITATION_MODELS), help="the models to compare")
    parser.add_argument("--datasets", nargs="+", choices=CITATION_GRAPHS,
                        default=list(CITATION_GRAPHS), help="the citation graphs")
    add_seed_options(parser, runs=10)
    parser.add_argument("--epochs", type=positive_int,
                        help="the epoch budget (default: the published one: 200 for gcn, 1000 "
                        "for gat, both with early stopping)")
    add_output_options(parser, "results")
    parser.set_defaults(func=run_experiment)


def add_spatiotemporal(commands):
    parser = commands.add_parser(
        "spatiotemporal", help="graph-convolutional LSTM vs per-node LSTM on graph diffusion",
        description="Forecast a signal diffusing over a random graph with a graph LSTM and a "
        "per-node LSTM; print their test MSE and write --out/spatiotemporal.png.")
    parser.add_argument("--nodes", type=positive_int, default=12, help="nodes of the graph")
    parser.add_argument("--length", type=positive_int, default=2,
                        help="time steps the models see (T)")
    parser.add_argument("--horizon", type=positive_int, default=1,
                        help="steps after the last seen one to forecast")
    parser.add_argument("--samples", type=positive_int, default=512, help="signals generated")
    parser.add_argument("--epochs", type=positive_int, default=10, help="training epochs")
    parser.add_argument("--seed", type=int, default=0, help="seed of the data and the weights")
    add_output_options(parser, "results")
    parser.set_defaults(func=run_experiment)


def build_parser():
    parser = CommandLine(
        prog="python -m course_kit.experiments",
        description="Reproduce the curriculum's experiments; each writes CSV tables and PNG "
        "figures.",
    )
    commands = parser.add_subparsers(dest="experiment", required=True, metavar="EXPERIMENT")
    add_citation(commands)
    add_palindrome(commands)
    add_spatiotemporal(commands)
    return parser


def main(argv=None):
    return build_parser().run(argv)


if __name__ == "__main__":
    raise SystemExit(main())

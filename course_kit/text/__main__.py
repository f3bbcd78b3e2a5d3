"""``python -m course_kit.text train ...`` trains a character model on a book;
``python -m course_kit.text sample ...`` generates text from a checkpoint."""

import argparse
import os

# Quiet TensorFlow's start-up logging; it must be set before Keras imports TensorFlow.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

STRATEGY_CHOICES = ("greedy", "temperature", "inverse_temperature", "top_k", "top_p", "beam")


def train(args):
    from course_kit.data import load_corpus
    from course_kit.training.text import export_for_inference, train_text_model

    corpus = load_corpus(args.book)
    print(corpus)
    model, rows = train_text_model(
        corpus,
        args.out,
        args.steps,
        batch_size=args.batch_size,
        seq_length=args.seq_length,
        embedding_dim=args.embedding_dim,
        units=args.units,
        num_layers=args.layers,
        cell=args.cell,
        learning_rate=args.learning_rate,
        eval_every=args.eval_every,
        seed=args.seed,
        resume=args.resume,
        time_limit=None if args.time_limit is None else 60 * args.time_limit,
        verbose=args.verbose,
    )
    last = rows[-1]
    print(
        f"step {last['step']} of {args.steps} in {last['elapsed_s']:.0f} s: "
        f"validation loss {last['val_loss']:.4f}, accuracy {last['val_accuracy']:.4f}; "
        f"run written to {args.out}"
    )
    if args.export:
        print(f"inference checkpoint: {export_for_inference(model, args.export)}")
    return 0


def sample(args):
    import keras

    from course_kit import sampling
    from course_kit.models import TextGenerationModel  # registers the class for loading

    model = keras.saving.load_model(args.checkpoint, compile=False)
    if not isinstance(model, TextGenerationModel):
        raise TypeError(f"--checkpoint {args.checkpoint} does not hold a TextGenerationModel")
    if args.strategy == "beam":
        for text, log_probability in sampling.beam_search(
            model, args.prompt, args.length, beam_width=args.beam_width
        ):
            print(f"[log p = {log_probability:.3f}] {text}")
        return 0
    options = {name: getattr(args, name) for name in ("temperature", "beta", "k", "p")}
    options = {name: value for name, value in options.items() if value is not None}
    print(
        sampling.generate(
            model, args.length, prompt=args.prompt, strategy=args.strategy, seed=args.seed,
            **options,
        )
    )
    return 0


def build_parser():
    parser = argparse.ArgumentParser(prog="python -m course_kit.text", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    trainer = commands.add_parser("train", help="train a character model on a book")
    trainer.add_argument("--book", default="grimms",
                         help="bundled book name (see course_kit.data.list_books()) or a text file")
    trainer.add_argument("--out", required=True, help="folder for the run's files")
    trainer.add_argument("--steps", type=int, default=15000)
    trainer.add_argument("--eval-every", type=int, default=500,
                         help="steps per round; validation, metrics and checkpoint after each")
    trainer.add_argument("--batch-size", type=int, default=64)
    trainer.add_argument("--seq-length", type=int, default=30)
    trainer.add_argument("--embedding-dim", type=int, default=64)
    trainer.add_argument("--units", type=int, default=256)
    trainer.add_argument("--layers", type=int, default=2)
    trainer.add_argument("--cell", choices=("keras", "course_kit"), default="keras")
    trainer.add_argument("--learning-rate", type=float, default=2e-3,
                         help="initial Adam learning rate, decayed by 0.96 every 5000 steps")
    trainer.add_argument("--seed", type=int, default=0)
    trainer.add_argument("--time-limit", type=float, metavar="MINUTES",
                         help="stop after this many minutes (at the end of a round)")
    trainer.add_argument("--resume", action="store_true",
                         help="continue the run in --out from its last checkpoint")
    trainer.add_argument("--export", metavar="PATH",
                         help="also save the final model without optimizer state to PATH")
    trainer.add_argument("--verbose", type=int, choices=(0, 1, 2), default=1,
                         help="Keras progress: 1 progress bar, 2 one line per round, 0 silent")
    trainer.set_defaults(func=train)

    sampler = commands.add_parser("sample", help="generate text from a checkpoint")
    sampler.add_argument("--checkpoint", required=True, help="a .keras file written by train")
    sampler.add_argument("--prompt", help="text to continue (default: a random first character)")
    sampler.add_argument("--length", type=int, default=200, help="characters to generate")
    sampler.add_argument("--strategy", choices=STRATEGY_CHOICES, default="greedy")
    sampler.add_argument("--temperature", type=float,
                         help="divides the logits (temperature, top_k, top_p)")
    sampler.add_argument("--beta", type=float,
                         help="inverse temperature that multiplies the logits (inverse_temperature)")
    sampler.add_argument("--k", type=int, help="characters kept by top_k")
    sampler.add_argument("--p", type=float, help="probability mass kept by top_p")
    sampler.add_argument("--beam-width", type=int, default=5, help="beams kept by beam")
    sampler.add_argument("--seed", type=int, default=0)
    sampler.set_defaults(func=sample)
    return parser


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "sample" and args.strategy == "beam" and args.prompt is None:
        parser.error("--strategy beam needs --prompt")
    try:
        return args.func(args)
    except (ValueError, TypeError, FileNotFoundError, FileExistsError) as error:
        parser.exit(2, f"error: {error}\n")


if __name__ == "__main__":
    raise SystemExit(main())

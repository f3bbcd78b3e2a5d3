"""``python -m course_kit.text train`` trains a character model on a book;
``python -m course_kit.text sample`` generates text from a checkpoint or a bundled model."""

from pathlib import Path

from course_kit.cli import CommandLine, positive_float, positive_int

STRATEGY_CHOICES = ("greedy", "temperature", "inverse_temperature", "top_k", "top_p", "beam")
# The names of course_kit.data.BOOKS and course_kit.models.text.PRETRAINED, written out so that
# --help needs no Keras (a test keeps them equal).
BUNDLED_BOOKS = ("anna_en", "anna_nl", "darwin_nl", "democracy", "grimms", "shakespeare")
BUNDLED_MODELS = ("grimms",)
ROUND_STEPS = 500


def train(args):
    from course_kit.data import load_corpus
    from course_kit.training.text import export_for_inference, train_text_model

    eval_every = args.eval_every or min(ROUND_STEPS, args.steps)
    if args.steps % eval_every:
        raise ValueError(f"--steps {args.steps} is not a multiple of --eval-every {eval_every}: "
                         "training runs in whole rounds; choose --eval-every to divide --steps")
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
        eval_every=eval_every,
        seed=args.seed,
        resume=args.resume,
        time_limit=None if args.time_limit is None else 60 * args.time_limit,
        verbose=2 if args.no_progress else 1,
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


def load_checkpoint(checkpoint):
    """The model in the ``.keras`` file ``checkpoint``, or the bundled model of that name."""
    is_file = Path(checkpoint).is_file()
    if not is_file and checkpoint not in BUNDLED_MODELS:
        raise FileNotFoundError(f"--checkpoint {checkpoint}: no such file, and no bundled model "
                                f"of that name ({', '.join(BUNDLED_MODELS)})")
    import keras

    from course_kit.models.text import TextGenerationModel, load_pretrained_text_model

    if is_file:
        model = keras.saving.load_model(checkpoint, compile=False)
    else:
        model = load_pretrained_text_model(checkpoint)
    if not isinstance(model, TextGenerationModel):
        raise ValueError(f"--checkpoint {checkpoint} does not hold a TextGenerationModel")
    return model


def sample(args):
    from course_kit import sampling

    if args.strategy == "beam" and args.prompt is None:
        raise ValueError("--strategy beam needs --prompt")
    model = load_checkpoint(args.checkpoint)
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
    parser = CommandLine(prog="python -m course_kit.text",
                         description="Train a character model on a book, or generate text "
                         "from one.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    trainer = commands.add_parser(
        "train", help="train a character model on a book",
        description="Train a character model on a book in rounds of --eval-every steps; after "
        "each round: validation, a row of metrics.csv and the checkpoint last.keras in --out.")
    trainer.add_argument("--book", default="grimms",
                         help=f"a bundled book ({', '.join(BUNDLED_BOOKS)}) or a UTF-8 text file")
    trainer.add_argument("--out", type=Path, required=True, help="folder for the run's files")
    trainer.add_argument("--steps", type=positive_int, default=15000, help="training steps")
    trainer.add_argument("--eval-every", type=positive_int, metavar="STEPS",
                         help="steps per round, a divisor of --steps (default: "
                         f"{ROUND_STEPS}, or --steps when that is fewer)")
    trainer.add_argument("--batch-size", type=positive_int, default=64,
                         help="windows per training step")
    trainer.add_argument("--seq-length", type=positive_int, default=30,
                         help="characters per window")
    trainer.add_argument("--embedding-dim", type=positive_int, default=64,
                         help="size of the character embedding")
    trainer.add_argument("--units", type=positive_int, default=256, help="units per LSTM layer")
    trainer.add_argument("--layers", type=positive_int, default=2, help="stacked LSTM layers")
    trainer.add_argument("--cell", choices=("keras", "course_kit"), default="keras",
                         help="keras.layers.LSTM, or the kit's LSTMCell")
    trainer.add_argument("--learning-rate", type=positive_float, default=2e-3,
                         help="initial Adam learning rate, decayed by 0.96 every 5000 steps")
    trainer.add_argument("--seed", type=int, default=0,
                         help="seed of the weights and of the order of the batches")
    trainer.add_argument("--time-limit", type=positive_float, metavar="MINUTES",
                         help="stop after this many minutes (at the end of a round)")
    trainer.add_argument("--resume", action="store_true",
                         help="continue the run in --out from its last checkpoint")
    trainer.add_argument("--export", type=Path, metavar="PATH",
                         help="also save the final model without optimizer state to PATH")
    trainer.add_argument("--no-progress", action="store_true",
                         help="no progress bar: one line per round instead")
    trainer.set_defaults(func=train)

    sampler = commands.add_parser(
        "sample", help="generate text from a checkpoint or a bundled model",
        description="Generate text from a model: a .keras file written by train, or a bundled "
        f"model named by its short name ({', '.join(BUNDLED_MODELS)}).")
    sampler.add_argument("--checkpoint", default=BUNDLED_MODELS[0],
                         help="a .keras file written by train, or a bundled model: "
                         f"{', '.join(BUNDLED_MODELS)}")
    sampler.add_argument("--prompt", help="text to continue (default: a random first character)")
    sampler.add_argument("--length", type=positive_int, default=200,
                         help="characters to generate")
    sampler.add_argument("--strategy", choices=STRATEGY_CHOICES, default="greedy",
                         help="how the next character is chosen")
    sampler.add_argument("--temperature", type=float,
                         help="divides the logits, for temperature, top_k and top_p "
                         "(default: 1)")
    sampler.add_argument("--beta", type=float,
                         help="inverse temperature that multiplies the logits; needed by "
                         "inverse_temperature")
    sampler.add_argument("--k", type=int, help="characters kept; needed by top_k")
    sampler.add_argument("--p", type=float, help="probability mass kept; needed by top_p")
    sampler.add_argument("--beam-width", type=positive_int, default=5, help="beams kept by beam")
    sampler.add_argument("--seed", type=int, default=0,
                         help="seed of the first character and of the random strategies")
    sampler.set_defaults(func=sample)
    return parser


def main(argv=None):
    return build_parser().run(argv)


if __name__ == "__main__":
    raise SystemExit(main())

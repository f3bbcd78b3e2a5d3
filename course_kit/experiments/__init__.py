"""Reproduction experiments, run as ``python -m course_kit.experiments NAME ...``.

Each module of this package that defines ``register(subparsers)`` adds one sub-command;
``register`` must set ``func`` on its parser (``parser.set_defaults(func=run)``).
"""

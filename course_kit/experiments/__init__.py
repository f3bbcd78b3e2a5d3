"""Reproduction experiments, run as ``python -m course_kit.experiments NAME ...``.

The options of every experiment are defined in ``__main__``, which imports an experiment's
module only to run it; each module has ``run(args)``, called with the parsed options.
"""

"""What the kit's command lines share: the parser, option types and one way to fail.

``python -m grader``, ``python -m course_kit.experiments`` and ``python -m course_kit.text``
build their parsers with :class:`CommandLine`, so that every help shows the defaults and a
user's mistake (a bad value, an unknown name, a missing file) ends in one ``error: ...`` line
on standard error and exit status 2, never in a traceback. Nothing here imports Keras, which
keeps ``--help`` quick: the commands import it when they run.
"""

import argparse
import math
import sys
import textwrap

__all__ = [
    "USER_ERRORS",
    "CommandLine",
    "HelpFormatter",
    "fail",
    "non_negative_int",
    "positive_float",
    "positive_int",
]

# What a command raises when the user's input is wrong (a bad value, an unknown name, a file
# that is missing or already there); anything else is a bug and keeps its traceback.
USER_ERRORS = (ValueError, OSError)


# Defaults that say nothing: no value, an unset flag, or argparse's "no attribute".
_NOT_SHOWN = (None, False, argparse.SUPPRESS)


class HelpFormatter(argparse.HelpFormatter):
    """Appends every option's default to its help, and keeps a description's paragraphs."""

    def _get_help_string(self, action):
        text = action.help or ""
        default = action.default
        if "%(default)" in text or any(default is hidden for hidden in _NOT_SHOWN):
            return text
        shown = " ".join(map(str, default)) if isinstance(default, (list, tuple)) else str(default)
        return f"{text} (default: {shown.replace('%', '%%')})"

    def _split_lines(self, text, width):
        # argparse's wrapping breaks after hyphens and inside long words, which cuts a default
        # path in two.
        return textwrap.wrap(self._whitespace_matcher.sub(" ", text).strip(), width,
                             break_on_hyphens=False, break_long_words=False)

    def _fill_text(self, text, width, indent):
        fill = super()._fill_text
        paragraphs = textwrap.dedent(text).strip().split("\n\n")
        return "\n\n".join(fill(paragraph, width, indent) for paragraph in paragraphs)


class CommandLine(argparse.ArgumentParser):
    """An ``ArgumentParser`` (sub-commands included) with :class:`HelpFormatter`, whose
    errors are one line, like those of the commands it runs."""

    def __init__(self, *args, formatter_class=HelpFormatter, **kwargs):
        super().__init__(*args, formatter_class=formatter_class, **kwargs)

    def error(self, message):
        self.exit(fail(f"{message} (see {self.prog} --help)"))

    def run(self, argv=None, user_errors=()):
        """Parse ``argv`` and call the chosen command's ``func(args)``; returns the exit status.

        :data:`USER_ERRORS` and ``user_errors`` raised by the command are reported by
        :func:`fail`.
        """
        args = self.parse_args(argv)
        try:
            return args.func(args)
        except (*USER_ERRORS, *user_errors) as error:
            return fail(error)


def fail(error) -> int:
    """Print ``error: <error>`` to standard error; returns 2, the exit status of a user error."""
    print(f"error: {error}", file=sys.stderr)
    return 2


def _number(convert, text, valid, requirement):
    try:
        value = convert(text)
    except ValueError:
        value = None
    if value is None or not valid(value):
        raise argparse.ArgumentTypeError(f"{text!r} is not {requirement}")
    return value


def positive_int(text):
    """Option type: an integer of at least 1."""
    return _number(int, text, lambda value: value >= 1, "a positive integer")


def non_negative_int(text):
    """Option type: an integer of at least 0."""
    return _number(int, text, lambda value: value >= 0, "an integer >= 0")


def positive_float(text):
    """Option type: a finite number above 0."""
    return _number(float, text, lambda value: math.isfinite(value) and value > 0,
                   "a positive number")

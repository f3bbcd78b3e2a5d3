"""The three command lines (``python -m grader``, ``python -m course_kit.experiments``,
``python -m course_kit.text``) share one style: help that imports no Keras and shows every
default, one ``error:`` line for a user's mistake, and options that mean the same everywhere."""

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from course_kit.cli import CommandLine, positive_int
from course_kit.experiments import __main__ as experiments_cli
from course_kit.text import __main__ as text_cli
from grader import __main__ as grader_cli

ROOT = Path(__file__).resolve().parent.parent
CLIS = {
    "grader": grader_cli,
    "course_kit.experiments": experiments_cli,
    "course_kit.text": text_cli,
}

# `python -m MODULE [COMMAND] --help` for the top level and every command, in one fresh
# process; prints the exit codes and the frameworks that got imported.
HELP_EVERYWHERE = """
import json, runpy, sys
module, commands = sys.argv[1], sys.argv[2:]
codes = []
for command in [[], *[[name] for name in commands]]:
    sys.argv = [module, *command, "--help"]
    try:
        runpy.run_module(module, run_name="__main__", alter_sys=True)
    except SystemExit as exit_:
        codes.append(exit_.code)
imported = {name.split(".")[0] for name in sys.modules}
frameworks = sorted(imported & {"keras", "tensorflow", "jax", "torch"})
print(json.dumps({"codes": codes, "frameworks": frameworks}))
"""


def python(arguments, cwd):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, *arguments], capture_output=True, text=True, env=env,
                          cwd=cwd, timeout=120)


def commands_of(parser):
    (subparsers,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return subparsers.choices


@pytest.mark.backend_independent  # no command here imports a framework
@pytest.mark.parametrize("module", CLIS)
def test_help_of_every_command_imports_no_framework(module, tmp_path):
    commands = list(commands_of(CLIS[module].build_parser()))
    run = python(["-c", HELP_EVERYWHERE, module, *commands], cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    result = json.loads(run.stdout.strip().splitlines()[-1])
    assert result == {"codes": [0] * (len(commands) + 1), "frameworks": []}


def _shown_default(action):
    default = action.default
    if default is None or default is False or default is argparse.SUPPRESS:
        return None
    return " ".join(map(str, default)) if isinstance(default, (list, tuple)) else str(default)


@pytest.mark.backend_independent  # no command here imports a framework
@pytest.mark.parametrize("module", CLIS)
def test_every_help_shows_the_defaults(module):
    for name, parser in commands_of(CLIS[module].build_parser()).items():
        text = " ".join(parser.format_help().split())
        for action in parser._actions:
            shown = _shown_default(action)
            if shown is not None:
                assert f"(default: {shown})" in text, (name, action.dest)
            elif action.option_strings and action.help is not argparse.SUPPRESS:
                assert action.help, (name, action.dest)


def test_a_default_path_with_hyphens_is_not_cut(tmp_path):
    parser = CommandLine(prog="prog")
    folder = tmp_path / "a-long-folder-name-with-hyphens" / "and-more-of-them" / "results"
    parser.add_argument("--out", default=folder, help="where the results go")
    assert f"(default: {folder})" in " ".join(parser.format_help().split())


def test_defaults_that_depend_on_others_are_explained():
    train = " ".join(commands_of(text_cli.build_parser())["train"].format_help().split())
    assert "(default: 500, or --steps when that is fewer)" in train
    palindrome = commands_of(experiments_cli.build_parser())["palindrome"].format_help()
    assert "5 10 15 20 25 in 2019, 10 20 in 2020" in " ".join(palindrome.split())


@pytest.mark.backend_independent  # no command here imports a framework
@pytest.mark.parametrize("module, arguments, named", [
    ("grader", ["grade", "submissions", "--out", "results", "--jobs", "0"], "'0'"),
    ("grader", ["grade", "no_such_folder", "--out", "results"], "no_such_folder"),
    ("grader", ["no_such_command"], "'no_such_command'"),
    ("course_kit.experiments", ["citation", "--seeds", "0"], "'0'"),
    ("course_kit.experiments", ["palindrome", "--models", "nnr"], "'nnr'"),
    ("course_kit.experiments", ["palindrome", "--embedding-dim", "twice"], "'twice'"),
    ("course_kit.text", ["train", "--out", "run", "--steps", "700", "--eval-every", "500"],
     "--steps 700"),
    ("course_kit.text", ["sample", "--checkpoint", "no_such.keras"], "no_such.keras"),
    ("course_kit.text", ["sample", "--length", "-3"], "'-3'"),
])
def test_a_mistake_is_one_error_line_with_status_2(module, arguments, named, tmp_path):
    run = python(["-m", module, *arguments], cwd=tmp_path)
    assert run.returncode == 2
    assert "Traceback" not in run.stderr
    (line,) = run.stderr.splitlines()
    assert line.startswith("error: ") and named in line


def test_an_error_while_running_is_one_line_too(tmp_path, capsys):
    taken = tmp_path / "a_file"
    taken.write_text("")
    assert experiments_cli.main(["citation", "--out", str(taken), "--no-progress"]) == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith("error: ") and "a_file" in line


def test_seeds_mean_the_same_in_every_experiment(monkeypatch, tmp_path):
    from course_kit.experiments import citation, palindrome

    seen = {}
    for name, module in (("citation", citation), ("palindrome", palindrome)):
        monkeypatch.setattr(module, "run",
                            lambda args, name=name: seen.__setitem__(name, args.seeds) or 0)
        assert experiments_cli.main([name, "--seeds", "3", "--first-seed", "5",
                                     "--out", str(tmp_path)]) == 0
    assert seen == {"citation": [5, 6, 7], "palindrome": [5, 6, 7]}
    experiments_cli.main(["palindrome", "--out", str(tmp_path)])
    assert seen["palindrome"] == [0, 1, 2]  # the preset's 3 seeds


def test_shared_options_are_defined_once():
    parsers = [parser for cli in CLIS.values()
               for parser in commands_of(cli.build_parser()).values()]
    with_seeds = []
    for parser in parsers:
        options = parser._option_string_actions
        if "--seeds" in options:
            with_seeds.append(parser.prog.split()[-1])
            assert options["--seeds"].help.startswith(experiments_cli.SEEDS_HELP)
            assert options["--seeds"].type is positive_int and "--first-seed" in options
        if "--out" in options:
            assert options["--out"].type is Path, parser.prog
        if "--no-progress" in options:
            assert options["--no-progress"].help.startswith("no progress bar"), parser.prog
    assert sorted(with_seeds) == ["citation", "palindrome"]


def test_the_bundled_model_is_named_by_its_short_name(capsys):
    assert text_cli.main(["sample", "--checkpoint", "grimms", "--prompt", "The", "--length",
                          "3"]) == 0
    assert capsys.readouterr().out.startswith("The")
    sample_help = " ".join(commands_of(text_cli.build_parser())["sample"].format_help().split())
    assert "or a bundled model: grimms" in sample_help


def test_names_written_out_for_a_quick_help_match_the_library():
    from course_kit.data import BOOKS, CITATION_GRAPHS, TASKS
    from course_kit.experiments.citation import MODELS
    from course_kit.models import ENCODINGS
    from course_kit.models.text import PRETRAINED
    from grader.similarity import THRESHOLD

    assert set(text_cli.BUNDLED_BOOKS) == set(BOOKS)
    assert set(text_cli.BUNDLED_MODELS) == set(PRETRAINED)
    assert set(experiments_cli.TASKS) == set(TASKS)
    assert set(experiments_cli.ENCODINGS) == set(ENCODINGS)
    assert set(experiments_cli.CITATION_GRAPHS) == set(CITATION_GRAPHS)
    assert set(experiments_cli.CITATION_MODELS) == set(MODELS)
    assert grader_cli.SIMILARITY_THRESHOLD == THRESHOLD


def test_a_short_training_run_needs_no_eval_every_and_shows_a_progress_bar(tmp_path, capsys):
    book = tmp_path / "tiny.txt"
    book.write_text("Once upon a time a king had a daughter.\n" * 40, encoding="utf-8")
    assert text_cli.main(["train", "--book", str(book), "--out", str(tmp_path / "run"),
                          "--steps", "3", "--batch-size", "4", "--seq-length", "8",
                          "--embedding-dim", "4", "--units", "4", "--layers", "1"]) == 0
    captured = capsys.readouterr()
    assert "step 3 of 3" in captured.out
    assert "training: 100%" in captured.err and "3/3" in captured.err

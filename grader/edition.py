"""The two editions of the kit: the full one in the repository, and the student edition.

Every graded answer in ``course_kit`` sits between two marker lines, as the solution regions
of the notebooks do::

    # BEGIN ANSWER q1_2
    @keras.saving.register_keras_serializable(package="course_kit")
    class VanillaRNNCell(_RecurrentCell):
        ...
    # END ANSWER

A region holds only whole top-level functions and classes. The student edition keeps each of
them with its decorators, signature and docstring (the contract the notebook asks for) and
replaces the rest by ``raise NotImplementedError("q1_2: write VanillaRNNCell in notebook 02
(02_vanilla_rnn.ipynb)")`` (for a class, in its ``__init__``). Everything outside the regions
(data, training loops, models, plots, checks, the pretrained text model) is copied as it is.

``python -m grader release`` builds the student edition as a wheel in ``dist/student/``; the
grader's student processes import a staged copy of the same edition (:func:`stage_student_kit`),
never the full kit. :func:`check_student_wheel` proves a wheel holds no answer and is not stale.
"""

from __future__ import annotations

import ast
import hashlib
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
KIT = ROOT / "course_kit"
WHEEL_DIR = ROOT / "dist" / "student"
EDITION_MODULE = "_edition.py"
# What only the grader needs, left out of the student wheel's requirements.
GRADER_ONLY = ("copydetect", "nbformat", "nbclient")
BEGIN = re.compile(r"^# BEGIN ANSWER (?P<qid>\S+)\s*$")
END = re.compile(r"^# END ANSWER\s*$")
_IGNORED = shutil.ignore_patterns("__pycache__", "*.pyc")


class MalformedAnswer(ValueError):
    """An answer region that cannot be stripped safely (unterminated, nested, loose code)."""


@dataclass(frozen=True)
class Answer:
    """One marked region of the kit: question ``qid``, the module ``path`` (relative to the
    repository), the top-level ``names`` it defines and its ``source``."""

    qid: str
    path: str
    names: tuple[str, ...]
    source: str


def _kit_files(kit: Path = KIT):
    """Every file of the kit except caches and the edition marker, sorted."""
    return sorted(p for p in kit.rglob("*") if p.is_file() and "__pycache__" not in p.parts
                  and p.suffix != ".pyc" and p.relative_to(kit).as_posix() != EDITION_MODULE)


def source_digest(kit: Path = KIT) -> str:
    """sha256 of the full kit's files (names and bytes): what a student wheel was built from."""
    digest = hashlib.sha256()
    for path in _kit_files(kit):
        digest.update(path.relative_to(kit).as_posix().encode() + b"\0")
        digest.update(path.read_bytes() + b"\0")
    return digest.hexdigest()


def _regions(text: str, label: str):
    """``(qid, first_line, last_line)`` of each answer region (0-based, markers excluded)."""
    regions, open_at, qid = [], None, None
    for number, line in enumerate(text.splitlines()):
        begin, end = BEGIN.match(line), END.match(line)
        if begin:
            if open_at is not None:
                raise MalformedAnswer(f"{label}:{number + 1}: answer region {begin['qid']} opens "
                                      f"inside region {qid} (line {open_at})")
            open_at, qid = number + 1, begin["qid"]
        elif end:
            if open_at is None:
                raise MalformedAnswer(f"{label}:{number + 1}: '# END ANSWER' without a BEGIN")
            regions.append((qid, open_at, number - 1))
            open_at = None
        elif line.lstrip().startswith("# BEGIN ANSWER") or line.lstrip().startswith("# END ANS"):
            raise MalformedAnswer(f"{label}:{number + 1}: answer markers must start the line "
                                  f"and read '# BEGIN ANSWER qN_M' / '# END ANSWER'")
    if open_at is not None:
        raise MalformedAnswer(f"{label}:{open_at}: answer region {qid} is never closed")
    return regions


def _definitions(source: str, label: str) -> list[ast.FunctionDef | ast.ClassDef]:
    try:
        body = ast.parse(source).body
    except SyntaxError as error:
        raise MalformedAnswer(f"{label}: an answer region is not whole top-level code: "
                              f"{error}") from None
    loose = [node for node in body
             if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))]
    if loose or not body:
        line = loose[0].lineno if loose else 1
        raise MalformedAnswer(f"{label}: an answer region holds only whole functions and "
                              f"classes; found other code on its line {line}")
    return body


def _notebooks() -> dict[str, str]:
    from grader.registry import QUESTIONS

    return {q.id: q.notebook for q in QUESTIONS.values()}


def stub_message(qid: str, name: str, notebooks: dict[str, str] | None = None) -> str:
    """``"q1_2: write VanillaRNNCell in notebook 02 (02_vanilla_rnn.ipynb)"``."""
    notebook = (notebooks or _notebooks()).get(qid)
    if notebook is None:
        raise MalformedAnswer(f"answer region names {qid!r}, which is not a question")
    return f"{qid}: write {name} in notebook {notebook[:2]} ({notebook})"


def _docstring(node) -> list[ast.stmt]:
    first = node.body[0] if node.body else None
    if (isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant)
            and isinstance(first.value.value, str)):
        return [first]
    return []


def _raise(message: str) -> ast.Raise:
    return ast.Raise(exc=ast.Call(func=ast.Name("NotImplementedError", ast.Load()),
                                  args=[ast.Constant(message)], keywords=[]))


def stub(node, message: str):
    """``node`` (a function or class definition) with its body replaced by a stub that
    raises ``NotImplementedError(message)``; decorators, signature and docstring are kept."""
    if isinstance(node, ast.ClassDef):
        init = ast.parse("def __init__(self, *args, **kwargs):\n    pass").body[0]
        init.body = [_raise(message)]
        body = [*_docstring(node), init]
    else:
        body = [*_docstring(node), _raise(message)]
    replaced = type(node)(**{**{f: getattr(node, f) for f in node._fields}, "body": body})
    return ast.fix_missing_locations(ast.copy_location(replaced, node))


def strip_answers(text: str, label: str, notebooks: dict[str, str] | None = None) -> str:
    """``text`` of a kit module with every answer region replaced by its stubs."""
    regions = _regions(text, label)
    if not regions:
        return text
    notebooks = notebooks or _notebooks()
    lines = text.splitlines(keepends=True)
    out, cursor = [], 0
    for qid, first, last in regions:
        out.extend(lines[cursor:first - 1])
        definitions = _definitions("".join(lines[first:last + 1]), f"{label}:{first + 1}")
        stubs = [ast.unparse(stub(node, stub_message(qid, node.name, notebooks)))
                 for node in definitions]
        out.append("\n\n\n".join(stubs) + "\n")
        cursor = last + 2
    out.extend(lines[cursor:])
    return "".join(out)


def answers(kit: Path = KIT) -> list[Answer]:
    """Every answer region of the full kit, in file order."""
    found = []
    for path in _kit_files(kit):
        if path.suffix != ".py":
            continue
        text = path.read_text(encoding="utf-8")
        lines = text.splitlines(keepends=True)
        label = path.relative_to(kit.parent).as_posix()
        for qid, first, last in _regions(text, label):
            source = "".join(lines[first:last + 1])
            names = tuple(node.name for node in _definitions(source, f"{label}:{first + 1}"))
            found.append(Answer(qid, label, names, source))
    return found


def stage_student_kit(destination: Path, kit: Path = KIT) -> Path:
    """Write the student edition of the kit to ``destination/course_kit``; return that folder.

    Raises:
        MalformedAnswer: naming the file and line of a region that cannot be stripped.
    """
    notebooks = _notebooks()
    target = Path(destination) / "course_kit"
    shutil.copytree(kit, target, ignore=_IGNORED)
    for path in _kit_files(kit):
        if path.suffix == ".py":
            text = path.read_text(encoding="utf-8")
            label = path.relative_to(kit.parent).as_posix()
            (target / path.relative_to(kit)).write_text(
                strip_answers(text, label, notebooks), encoding="utf-8")
    (target / EDITION_MODULE).write_text(
        '"""Which edition of the kit this is (written by ``python -m grader release``)."""\n\n'
        f'EDITION = "student"\nSOURCE_DIGEST = "{source_digest(kit)}"\n', encoding="utf-8")
    return target


def _project_metadata() -> dict:
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10 (Gradescope's image) grades, but builds no wheel
        raise RuntimeError("building the student edition needs Python 3.11 or later "
                           "(it reads pyproject.toml with tomllib)") from None

    with open(ROOT / "pyproject.toml", "rb") as handle:
        return tomllib.load(handle)["project"]


_STUDENT_README = """\
# course-kit, student edition

The library behind the course's notebooks. Every graded answer raises `NotImplementedError`
naming its question and notebook: you write it in the notebook. The checks after each graded
cell compare your code with the recorded fixtures in `course_kit/checks/fixtures/`.
"""


def _pyproject(project: dict) -> str:
    def strings(values):
        return "[" + ", ".join(f'"{v}"' for v in values) + "]"

    requirements = [d for d in project["dependencies"] if not d.startswith(GRADER_ONLY)]
    extras = "\n".join(f"{name} = {strings(values)}" for name, values in
                       project.get("optional-dependencies", {}).items()
                       if name in ("tensorflow", "jax", "torch"))
    return f"""\
[build-system]
requires = ["setuptools>=77"]
build-backend = "setuptools.build_meta"

[project]
name = "{project['name']}"
version = "{project['version']}+student"
description = "The library behind the course-kit notebooks on recurrent and graph neural networks (student edition: the graded answers are left to write)"
readme = "README.md"
requires-python = "{project['requires-python']}"
license = "{project['license']}"
dependencies = {strings(requirements)}

[project.optional-dependencies]
{extras}

[tool.setuptools.packages.find]
include = ["course_kit*"]

[tool.setuptools.package-data]
course_kit = ["data/files/*", "checks/fixtures/*"]
"""


def build_student_wheel(out: Path = WHEEL_DIR) -> Path:
    """Build the student edition's wheel into ``out`` (older student wheels there are removed).

    Raises:
        RuntimeError: with pip's output when the build fails.
    """
    out = Path(out)
    with tempfile.TemporaryDirectory(prefix="course-kit-student-") as staging:
        staging = Path(staging)
        stage_student_kit(staging)
        (staging / "pyproject.toml").write_text(_pyproject(_project_metadata()), "utf-8")
        (staging / "README.md").write_text(_STUDENT_README, encoding="utf-8")
        shutil.copy2(ROOT / "LICENSE", staging / "LICENSE")
        built = staging / "wheel"
        result = subprocess.run(
            [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps",
             "--no-build-isolation", "--wheel-dir", str(built), str(staging)],
            capture_output=True, text=True)
        wheels = sorted(built.glob("*.whl")) if built.is_dir() else []
        if result.returncode != 0 or len(wheels) != 1:
            raise RuntimeError(f"building the student wheel failed:\n{result.stdout}"
                               f"{result.stderr}")
        out.mkdir(parents=True, exist_ok=True)
        for old in out.glob("*.whl"):
            old.unlink()
        return Path(shutil.copy2(wheels[0], out / wheels[0].name))


def student_wheel(out: Path = WHEEL_DIR) -> Path | None:
    wheels = sorted(Path(out).glob("*.whl"))
    return wheels[0] if len(wheels) == 1 else None


def _body_dumps(tree) -> set[str]:
    """``ast.dump`` of the body of every function and class in ``tree``, docstrings left out."""
    dumps = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            body = node.body[len(_docstring(node)):]
            if body:
                dumps.add(ast.dump(ast.Module(body=body, type_ignores=[])))
    return dumps


def _is_stub(node, message: str) -> bool:
    return ast.dump(node) == ast.dump(stub(node, message))


def _find(tree, name):
    return next((node for node in tree.body if getattr(node, "name", None) == name), None)


def check_student_wheel(wheel: Path | None, kit: Path = KIT) -> list[str]:
    """Problems with the student wheel ``wheel``; empty when it is sound.

    A sound wheel is built from the current kit (its recorded source digest matches), says it
    is the student edition, has every answer of the full kit as exactly its stub, and holds
    no function or class whose body is that of an answer's function, method or class anywhere
    (answer code moved elsewhere in the wheel is found too).
    """
    if wheel is None or not Path(wheel).is_file():
        return [f"no student wheel in {WHEEL_DIR.relative_to(ROOT)}; run "
                "`python -m grader release`"]
    problems = []
    with zipfile.ZipFile(wheel) as archive:
        modules = {name: archive.read(name).decode("utf-8") for name in archive.namelist()
                   if name.startswith("course_kit/") and name.endswith(".py")}
    edition = modules.get(f"course_kit/{EDITION_MODULE}", "")
    if 'EDITION = "student"' not in edition:
        problems.append(f"{Path(wheel).name} does not say it is the student edition")
    if f'SOURCE_DIGEST = "{source_digest(kit)}"' not in edition:
        problems.append(f"{Path(wheel).name} is stale: the kit changed since it was built; run "
                        "`python -m grader release`")
    trees = {name: ast.parse(text) for name, text in modules.items()}
    wheel_bodies = set().union(*(_body_dumps(tree) for tree in trees.values()))
    notebooks = _notebooks()
    for answer in answers(kit):
        tree = trees.get(answer.path)
        for node in _definitions(answer.source, answer.path):
            found = _find(tree, node.name) if tree else None
            where = f"{answer.qid} {answer.path}:{node.name}"
            if found is None:
                problems.append(f"{where} is missing from the wheel")
            elif not _is_stub(found, stub_message(answer.qid, node.name, notebooks)):
                problems.append(f"{where} is not its stub in the wheel")
            leaked = _body_dumps(node) & wheel_bodies
            if leaked:
                problems.append(f"{where}: {len(leaked)} body(ies) of the answer are in the wheel")
    return problems

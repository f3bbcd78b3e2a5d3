"""Notebooks: finding graded cells, reading submissions, and making student notebooks.

A graded cell names its id on its first line (``# graded: q1_2`` in code,
``<!-- graded: q1_1_answer -->`` in Markdown) and in its metadata
(``{"course_kit": {"graded": "q1_2"}}``). Either one is enough: students delete comments and
some editors drop metadata, so the grader accepts whichever survived.
"""

from __future__ import annotations

import re
import zipfile
from dataclasses import dataclass
from pathlib import Path

import nbformat

__all__ = [
    "GRADED_LINE",
    "METADATA_KEY",
    "Submission",
    "cell_id",
    "find_cells",
    "graded_cell",
    "load_submission",
    "notebook_text",
    "release",
    "release_notebook",
    "stale_notebooks",
]

METADATA_KEY = "course_kit"
GRADED_LINE = re.compile(r"^\s*(?:#|<!--)\s*graded:\s*([A-Za-z0-9_]+)\s*(?:-->)?\s*$")
BEGIN_SOLUTION = "### BEGIN SOLUTION"
END_SOLUTION = "### END SOLUTION"
CODE_STUB = 'raise NotImplementedError("write your solution here")'
ANSWER_STUB = "YOUR ANSWER HERE"
# The largest notebook the grader reads; a bigger one is almost certainly saved output.
MAX_NOTEBOOK_BYTES = 50_000_000


def cell_id(cell) -> str | None:
    """The graded id of a notebook cell (first-line comment, else metadata), or None."""
    lines = cell.get("source", "").lstrip("\n").splitlines()
    if lines:
        match = GRADED_LINE.match(lines[0])
        if match:
            return match.group(1)
    graded = cell.get("metadata", {}).get(METADATA_KEY, {})
    if isinstance(graded, dict) and isinstance(graded.get("graded"), str):
        return graded["graded"]
    return None


def graded_cell(source: str, graded_id: str, cell_type: str = "code"):
    """A new notebook cell carrying ``graded_id`` in both places the grader looks."""
    marker = f"# graded: {graded_id}" if cell_type == "code" else f"<!-- graded: {graded_id} -->"
    make = nbformat.v4.new_code_cell if cell_type == "code" else nbformat.v4.new_markdown_cell
    return make(f"{marker}\n{source.strip()}", metadata={METADATA_KEY: {"graded": graded_id}})


def find_cells(notebooks: dict[str, object]) -> dict[str, dict]:
    """Map every graded id found in ``notebooks`` (name -> notebook) to its cell.

    Returns ``{id: {"notebook": name, "cell_type": ..., "source": ...}}``. When an id occurs
    more than once, the last occurrence wins (a student who pasted a second attempt below the
    first is graded on the later one, as Jupyter would run it).
    """
    found = {}
    for name in sorted(notebooks):
        for cell in notebooks[name].cells:
            graded = cell_id(cell)
            if graded is not None:
                found[graded] = {
                    "notebook": name,
                    "cell_type": cell.cell_type,
                    "source": cell.source,
                }
    return found


@dataclass
class Submission:
    """One student's work: their name, their notebooks, and the other files they handed in."""

    student: str
    notebooks: dict[str, object]
    files: dict[str, bytes]
    problems: list[str]

    @property
    def cells(self) -> dict[str, dict]:
        return find_cells(self.notebooks)


def _read_notebook(name: str, data: bytes, problems: list[str]):
    if len(data) > MAX_NOTEBOOK_BYTES:
        problems.append(f"{name}: larger than {MAX_NOTEBOOK_BYTES} bytes, not read")
        return None
    try:
        return nbformat.reads(data.decode("utf-8"), as_version=4)
    except Exception as error:  # any malformed file is the student's problem, reported
        problems.append(f"{name}: not a readable notebook ({type(error).__name__}: {error})")
        return None


def load_submission(path: Path) -> Submission:
    """Read a submission: a folder of notebooks, a ``.zip`` of that folder, or one ``.ipynb``.

    Raises:
        ValueError: if ``path`` is none of these.
    """
    path = Path(path)
    files: dict[str, bytes] = {}
    if path.is_dir():
        student = path.name
        for item in sorted(path.rglob("*")):
            if item.is_file() and not item.is_symlink() and "__pycache__" not in item.parts:
                files[item.relative_to(path).as_posix()] = item.read_bytes()
    elif path.suffix == ".zip":
        student = path.stem
        with zipfile.ZipFile(path) as archive:
            names = [n for n in archive.namelist() if not n.endswith("/")]
            # A zip of the folder has one top directory; strip it so paths match a folder.
            tops = {n.split("/", 1)[0] for n in names}
            strip = len(tops) == 1 and all("/" in n for n in names)
            for name in names:
                relative = name.split("/", 1)[1] if strip else name
                if ".." in Path(relative).parts or relative.startswith("/"):
                    continue
                files[relative] = archive.read(name)
    elif path.suffix == ".ipynb":
        student = path.stem
        files[path.name] = path.read_bytes()
    else:
        raise ValueError(f"submission {path}: expected a folder, a .zip or an .ipynb file")
    problems: list[str] = []
    notebooks = {}
    for name, data in files.items():
        if name.endswith(".ipynb") and ".ipynb_checkpoints" not in name:
            notebook = _read_notebook(name, data, problems)
            if notebook is not None:
                notebooks[name] = notebook
    if not notebooks:
        problems.append("no notebook found in the submission")
    return Submission(student=student, notebooks=notebooks, files=files, problems=problems)


def _strip_solutions(source: str, stub: str) -> str:
    """Replace every ``### BEGIN SOLUTION`` ... ``### END SOLUTION`` region by ``stub``."""
    out, inside = [], False
    for line in source.splitlines():
        stripped = line.strip()
        if stripped.endswith(BEGIN_SOLUTION) and not inside:
            inside = True
            indent = line[: len(line) - len(line.lstrip())]
            out.append(indent + stub)
        elif stripped.endswith(END_SOLUTION) and inside:
            inside = False
        elif not inside:
            out.append(line)
    if inside:
        raise ValueError(f"unterminated {BEGIN_SOLUTION!r} region in cell:\n{source[:200]}")
    return "\n".join(out)


def release_notebook(notebook):
    """The student version of a solution notebook (a new object; the input is not changed).

    Solution regions become a stub (``raise NotImplementedError`` in code, ``YOUR ANSWER
    HERE`` in Markdown), outputs and execution counts are cleared, metadata is kept.
    """
    student = nbformat.reads(nbformat.writes(notebook), as_version=4)
    for cell in student.cells:
        if cell.cell_type == "code":
            cell.source = _strip_solutions(cell.source, CODE_STUB)
            cell.outputs = []
            cell.execution_count = None
        elif cell.cell_type == "markdown":
            cell.source = _strip_solutions(cell.source, ANSWER_STUB)
    return student


def _released_text(solution_path: Path) -> str:
    notebook = nbformat.read(solution_path, as_version=4)
    return notebook_text(release_notebook(notebook))


def stale_notebooks(solutions: Path, notebooks: Path) -> list[str]:
    """Names of student notebooks that differ from what :func:`release` would write.

    A notebook is stale when it is missing, differs, or has no solution notebook any more.
    """
    solutions, notebooks = Path(solutions), Path(notebooks)
    expected = {p.name: p for p in sorted(solutions.glob("*.ipynb"))} if solutions.is_dir() else {}
    stale = []
    for name, path in expected.items():
        target = notebooks / name
        if not target.is_file() or target.read_text(encoding="utf-8") != _released_text(path):
            stale.append(str(target))
    if notebooks.is_dir():
        stale += [str(p) for p in sorted(notebooks.glob("*.ipynb")) if p.name not in expected]
    return stale


def release(solutions: Path, notebooks: Path) -> list[Path]:
    """Write the student version of every ``solutions/*.ipynb`` into ``notebooks/``.

    Student notebooks with no solution notebook are removed, so ``notebooks/`` is exactly
    what the solutions make. Returns the paths written.
    """
    from grader.files import atomic_write_text

    solutions, notebooks = Path(solutions), Path(notebooks)
    if not solutions.is_dir():
        raise ValueError(f"solutions directory {solutions} does not exist")
    notebooks.mkdir(parents=True, exist_ok=True)
    written = []
    names = set()
    for path in sorted(solutions.glob("*.ipynb")):
        names.add(path.name)
        target = notebooks / path.name
        atomic_write_text(target, _released_text(path))
        written.append(target)
    for orphan in notebooks.glob("*.ipynb"):
        if orphan.name not in names:
            orphan.unlink()
    return written


def notebook_text(notebook) -> str:
    """A notebook serialised the way :func:`release` writes it (stable, newline at the end)."""
    return nbformat.writes(notebook) + "\n"

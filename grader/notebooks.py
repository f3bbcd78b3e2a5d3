"""Notebooks: finding graded cells, reading submissions, and making student notebooks.

A graded cell names its id on its first line (``# graded: q1_2`` in code,
``<!-- graded: q1_1_answer -->`` in Markdown) and in its metadata
(``{"course_kit": {"graded": "q1_2"}}``). Either one is enough: students delete comments and
some editors drop metadata, so the grader accepts whichever survived.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import stat
import struct
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
    "release_problems",
    "stale_notebooks",
    "student_name",
]

METADATA_KEY = "course_kit"
GRADED_LINE = re.compile(r"^\s*(?:#|<!--)\s*graded:\s*([A-Za-z0-9_]+)\s*(?:-->)?\s*$")
BEGIN_SOLUTION = "### BEGIN SOLUTION"
END_SOLUTION = "### END SOLUTION"
CODE_STUB = 'raise NotImplementedError("write your solution here")'
ANSWER_STUB = "YOUR ANSWER HERE"
# The largest notebook the grader reads; a bigger one is almost certainly saved output.
MAX_NOTEBOOK_BYTES = 50_000_000
# What one submission may unpack to. A course submission is a few notebooks and small files;
# these caps refuse zip bombs and folders of datasets before they fill memory or disk.
MAX_SUBMISSION_BYTES = 200_000_000
MAX_ENTRIES = 2000
# zipfile builds an object per entry of the central directory before anything can be counted,
# so its size is checked first: room for MAX_ENTRIES headers with long names and extras.
MAX_CENTRAL_DIRECTORY_BYTES = MAX_ENTRIES * 2048
# Linux's limits on one file name and a sane bound on a whole path below the scratch folder.
MAX_NAME_BYTES = 255
MAX_PATH_BYTES = 1024
MAX_STUDENT_NAME_BYTES = 100
SUBMISSION_SUFFIXES = (".zip", ".ipynb")


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
    """One student's work: their name, their notebooks, and the other files they handed in.

    ``problems`` are sentences for the student about what could not be read; a submission
    with no readable notebook has an empty ``notebooks`` (and ``files`` when the whole
    submission was refused).
    """

    student: str
    notebooks: dict[str, object]
    files: dict[str, bytes]
    problems: list[str]

    @property
    def cells(self) -> dict[str, dict]:
        return find_cells(self.notebooks)


class _Refused(Exception):
    """The whole submission cannot be used; the message tells the student why."""


def student_name(path: Path) -> str:
    """The name a submission is filed under: its folder name, or its file name without
    ``.zip`` / ``.ipynb``, made safe to use as one folder name.

    Letters, digits, ``-``, ``_`` and ``.`` are kept (no leading dot) and the name is capped;
    a name that had to change gets a hash of the original, so two students never share one.
    """
    path = Path(path)
    original = path.stem if path.suffix in SUBMISSION_SUFFIXES and not path.is_dir() else path.name
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in original).lstrip(".")
    if safe and safe == original and len(safe.encode()) <= MAX_STUDENT_NAME_BYTES:
        return safe
    digest = hashlib.sha256(original.encode("utf-8", "surrogateescape")).hexdigest()[:8]
    while len(safe.encode()) > MAX_STUDENT_NAME_BYTES - len(digest) - 1:
        safe = safe[:-1]
    return f"{safe or 'student'}-{digest}"


def _ignored(relative: str) -> bool:
    """Files no student means to hand in: bytecode caches and the Finder's ``__MACOSX``."""
    parts = relative.split("/")
    return "__pycache__" in parts or parts[0] == "__MACOSX"


def _path_fault(relative: str) -> str | None:
    """Why ``relative`` cannot be written below a folder as it is, or None."""
    if relative.startswith("/"):
        return "is an absolute path"
    parts = relative.split("/")
    if ".." in parts:
        return "reaches outside the folder with '..'"
    if any(part in ("", ".") for part in parts):
        return "has an empty or '.' folder name"
    if len(relative.encode("utf-8", "surrogateescape")) > MAX_PATH_BYTES:
        return f"is longer than {MAX_PATH_BYTES} bytes"
    if any(len(part.encode("utf-8", "surrogateescape")) > MAX_NAME_BYTES for part in parts):
        return f"has a name longer than {MAX_NAME_BYTES} bytes"
    return None


def _tree_fault(files: list[str], folders: list[str]) -> str | None:
    """Why these paths (relative, ``/``-separated) do not form one folder tree, or None."""
    for relative in [*files, *folders]:
        fault = _path_fault(relative)
        if fault:
            return f"the entry {relative[:80]!r} {fault}"
    seen = set()
    for relative in files:
        if relative in seen:
            return f"it holds {relative!r} twice"
        seen.add(relative)
    parents = set(folders)
    for relative in files:
        parts = relative.split("/")
        parents.update("/".join(parts[:depth]) for depth in range(1, len(parts)))
    clash = sorted(seen & parents)
    if clash:
        return f"it holds both a file and a folder named {clash[0]!r}"
    return None


def _too_big(what: str, size: int) -> str:
    return (f"{what} unpacks to {size / 1e6:.0f} MB, more than the "
            f"{MAX_SUBMISSION_BYTES // 1_000_000} MB the grader accepts; hand in your notebooks "
            "and the small files they read, without datasets or saved models")


def _central_directory_bytes(path: Path) -> int | None:
    """The size the zip's end record declares for its central directory (None: no end
    record, which zipfile then reports). Zip64 archives read as too large: a course
    submission never needs more than 4 GB or 65535 entries."""
    end_record = struct.Struct("<4s4H2LH")
    with open(path, "rb") as stream:
        stream.seek(0, os.SEEK_END)
        stream.seek(max(0, stream.tell() - end_record.size - 0xFFFF))  # the comment's limit
        tail = stream.read()
    start = tail.rfind(b"PK\x05\x06")
    if start < 0 or len(tail) - start < end_record.size:
        return None
    *_, entries, size, _, _ = end_record.unpack_from(tail, start)
    return size if entries != 0xFFFF and size != 0xFFFFFFFF else 0xFFFFFFFF


def _read_zip(path: Path) -> dict[str, bytes]:
    label = path.name
    again = "zip your folder again and hand in the new file"
    try:
        directory_bytes = _central_directory_bytes(path)
    except OSError as error:
        raise _Refused(f"{label} could not be read ({error.strerror})") from None
    if (directory_bytes or 0) > MAX_CENTRAL_DIRECTORY_BYTES:
        raise _Refused(f"{label} has more entries than the {MAX_ENTRIES} the grader reads; "
                       "hand in your notebooks and the files they need")
    try:
        archive = zipfile.ZipFile(path)
    except Exception as error:  # zipfile fails in many ways on bad input; all are the zip's
        raise _Refused(f"{label} is not a readable zip file ({_zip_reason(error)}); {again}") \
            from None
    with archive:
        entries = [e for e in archive.infolist() if not _ignored(e.filename)]
        if len(entries) > MAX_ENTRIES:
            raise _Refused(f"{label} has {len(entries)} entries, more than the {MAX_ENTRIES} "
                           "the grader reads; hand in your notebooks and the files they need")
        if any(entry.flag_bits & 0x1 for entry in entries):
            raise _Refused(f"{label} is encrypted; hand in an unencrypted zip")
        files = [e for e in entries if not e.is_dir()]
        fault = _tree_fault([e.filename for e in files],
                            [e.filename.rstrip("/") for e in entries if e.is_dir()])
        if fault:
            raise _Refused(f"{label} cannot be unpacked: {fault}; {again}")
        declared = sum(e.file_size for e in files)
        if declared > MAX_SUBMISSION_BYTES:
            raise _Refused(_too_big(label, declared))
        contents = {}
        for entry in files:
            try:
                contents[entry.filename] = _read_entry(archive, entry)
            except Exception as error:  # as above: a damaged entry, whatever zipfile says
                raise _Refused(f"{label} is not a readable zip file ({_zip_reason(error)} in "
                               f"{entry.filename}); {again}") from None
    names = list(contents)
    # A zip of the folder has one top directory; strip it so paths match a folder.
    tops = {name.split("/", 1)[0] for name in names}
    if len(tops) == 1 and all("/" in name for name in names):
        return {name.split("/", 1)[1]: data for name, data in contents.items()}
    return contents


def _zip_reason(error: Exception) -> str:
    message = str(error)
    if "CRC" in message:
        return "CRC error"
    return f"{type(error).__name__}: {message}" if message else type(error).__name__


def _read_entry(archive: zipfile.ZipFile, entry: zipfile.ZipInfo) -> bytes:
    """The bytes of one entry, never more than its declared size (whose total was checked
    against the cap): an entry that inflates to more fails its CRC check instead."""
    with archive.open(entry) as stream:
        return stream.read(entry.file_size)


def _read_regular_file(path: Path, limit: int) -> bytes | None:
    """At most ``limit + 1`` bytes of ``path``, or None if it is not a regular file.

    Opened without following a symbolic link and without blocking, so that a FIFO or a
    device cannot stall the grader.
    """
    descriptor = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    with os.fdopen(descriptor, "rb") as stream:
        if not stat.S_ISREG(os.fstat(descriptor).st_mode):
            return None
        return stream.read(limit + 1)


def _read_folder(root: Path, problems: list[str]) -> dict[str, bytes]:
    """Every regular file below ``root``; links, FIFOs, devices and unreadable files are
    left out with a problem each."""
    files: dict[str, bytes] = {}
    budget = MAX_SUBMISSION_BYTES

    def walk(folder: Path, prefix: str):
        nonlocal budget
        try:
            entries = sorted(os.scandir(folder), key=lambda e: e.name)
        except OSError as error:
            problems.append(f"the folder {prefix or '.'} could not be read ({error.strerror}); "
                            "it was left out")
            return
        for entry in entries:
            relative = prefix + entry.name
            if _ignored(relative):
                continue
            fault = _path_fault(relative)
            if fault:
                raise _Refused(f"the submission cannot be used: {relative[:80]!r} {fault}")
            if entry.is_symlink():
                problems.append(f"{relative} is a symbolic link, not a file; it was left out")
            elif entry.is_dir(follow_symlinks=False):
                walk(Path(entry.path), relative + "/")
            elif not entry.is_file(follow_symlinks=False):
                problems.append(f"{relative} is not a regular file; it was left out")
            elif len(files) >= MAX_ENTRIES:
                raise _Refused(f"the submission has more than {MAX_ENTRIES} files; hand in "
                               "your notebooks and the files they need")
            else:
                try:
                    data = _read_regular_file(Path(entry.path), budget)
                except OSError as error:
                    problems.append(f"{relative} could not be read ({error.strerror}); "
                                    "it was left out")
                    continue
                if data is None:
                    problems.append(f"{relative} is not a regular file; it was left out")
                    continue
                if len(data) > budget:
                    raise _Refused(_too_big("the submission", MAX_SUBMISSION_BYTES + 1))
                budget -= len(data)
                files[relative] = data

    walk(root, "")
    return files


def _read_single_notebook(path: Path) -> dict[str, bytes]:
    try:
        data = _read_regular_file(path, MAX_NOTEBOOK_BYTES)
    except OSError as error:
        raise _Refused(f"{path.name} could not be read ({error.strerror})") from None
    if data is None:
        raise _Refused(f"{path.name} is not a regular file")
    return {path.name: data}


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _cell_fault(cell, *, source_lines_allowed: bool) -> str | None:
    """What the grader cannot use in one cell (it reads cell_type, source and metadata)."""
    if not isinstance(cell, dict):
        return "is not a JSON object"
    if not isinstance(cell.get("cell_type"), str):
        return "has no cell_type"
    source = cell.get("source")
    lines = source_lines_allowed and isinstance(source, list)
    if not (isinstance(source, str) or lines and all(isinstance(s, str) for s in source)):
        return ("has no source" if source is None
                else f"has a source that is not text ({type(source).__name__})")
    if not isinstance(cell.get("metadata", {}), dict):
        return "has metadata that is not a JSON object"
    return None


def _notebook_fault(raw) -> str | None:
    """Why parsed JSON ``raw`` cannot be used as a notebook, or None."""
    if not isinstance(raw, dict):
        return "is JSON but not a notebook (no top-level object)"
    version = raw.get("nbformat")
    if version is None:
        return "is JSON but not a notebook (no nbformat version)"
    if not _is_int(version) or version not in nbformat.versions:
        return f"has an unknown notebook format version {version!r}"
    if not _is_int(raw.get("nbformat_minor", 0)):
        return ("has a notebook format minor version that is not a number "
                f"({raw['nbformat_minor']!r})")
    if not isinstance(raw.get("metadata", {}), dict):
        return "has notebook metadata that is not a JSON object"
    if version < 4:
        return None  # an old format: its cells are checked once converted
    if not isinstance(raw.get("cells"), list):
        return "has no list of cells"
    for number, cell in enumerate(raw["cells"], start=1):
        fault = _cell_fault(cell, source_lines_allowed=True)
        if fault:
            return f"cell {number} {fault}"
    return None


def _graded_metadata_faults(notebook) -> list[str]:
    """Graded-id metadata of the wrong shape: harmless (it is ignored), but worth saying."""
    faults = []
    for number, cell in enumerate(notebook.cells, start=1):
        marker = cell.get("metadata", {}).get(METADATA_KEY)
        if marker is None:
            continue
        if not isinstance(marker, dict):
            faults.append(f"cell {number} has {METADATA_KEY} metadata that is not a JSON "
                          f"object ({type(marker).__name__}); that metadata is ignored")
        elif "graded" in marker and not isinstance(marker["graded"], str):
            faults.append(f"cell {number} has {METADATA_KEY} metadata whose graded id is not "
                          f"text ({type(marker['graded']).__name__}); that metadata is ignored")
    return faults


def _as_version_4(raw: dict):
    """``raw`` (checked by :func:`_notebook_fault`) as a format-4 notebook.

    Format 4 is taken as it is, only its cell sources joined: nbformat's own reader also
    walks outputs and attachments, which the grader never reads, and crashes on odd ones.
    Older formats go through nbformat's converters.
    """
    if raw["nbformat"] == 4:
        notebook = nbformat.from_dict(raw)
        for cell in notebook.cells:
            if isinstance(cell.source, list):
                cell.source = "".join(cell.source)
        return notebook
    old = nbformat.versions[raw["nbformat"]].to_notebook_json(
        raw, minor=raw.get("nbformat_minor", 0))
    return nbformat.convert(old, 4)


def _read_notebook(name: str, data: bytes, problems: list[str]):
    """The notebook in ``data`` (format 4), or None with the reason added to ``problems``."""
    repair = "; open it in Jupyter, save it, and hand it in again"
    if len(data) > MAX_NOTEBOOK_BYTES:
        problems.append(f"{name}: larger than {MAX_NOTEBOOK_BYTES // 1_000_000} MB, not read; "
                        "clear its outputs and hand it in again")
        return None
    try:
        raw = json.loads(data.decode("utf-8-sig"))
    except UnicodeDecodeError:
        problems.append(f"{name}: not a readable notebook (not UTF-8 text){repair}")
        return None
    except (ValueError, RecursionError) as error:
        problems.append(f"{name}: not a readable notebook (invalid JSON: {error}){repair}")
        return None
    fault = _notebook_fault(raw)
    if fault is None:
        try:
            notebook = _as_version_4(raw)
        except Exception as error:  # nbformat's converters assume well-formed old notebooks
            fault = f"could not be converted to the current format ({type(error).__name__})"
    if fault is None:
        fault = next((f"cell {number} {cell_fault}"
                      for number, cell in enumerate(notebook.get("cells") or [], start=1)
                      if (cell_fault := _cell_fault(cell, source_lines_allowed=False))), None)
    if fault is not None:
        problems.append(f"{name}: {fault}{repair}")
        return None
    problems += [f"{name}: {fault}" for fault in _graded_metadata_faults(notebook)]
    return notebook


def load_submission(path: Path) -> Submission:
    """Read a submission: a folder of notebooks, a ``.zip`` of that folder, or one ``.ipynb``.

    Never raises for what the student handed in: whatever cannot be read is described in
    ``problems``. The files returned form a tree that can be written below a folder (no
    absolute paths, no ``..``, no file that is also a folder, names of sane length).

    Raises:
        ValueError: if ``path`` is none of these forms (a caller's mistake, not a student's).
    """
    path = Path(path)
    problems: list[str] = []
    try:
        if path.is_dir():
            files = _read_folder(path, problems)
        elif path.suffix == ".zip":
            files = _read_zip(path)
        elif path.suffix == ".ipynb":
            files = _read_single_notebook(path)
        else:
            raise ValueError(f"submission {path}: expected a folder, a .zip or an .ipynb file")
    except _Refused as refusal:
        problems.append(str(refusal))
        files = {}
    notebooks = {}
    for name, data in files.items():
        if name.endswith(".ipynb") and ".ipynb_checkpoints" not in name:
            notebook = _read_notebook(name, data, problems)
            if notebook is not None:
                notebooks[name] = notebook
    if not notebooks:
        problems.append("no readable notebook found in the submission")
    return Submission(student=student_name(path), notebooks=notebooks, files=files,
                      problems=problems)


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

    First the solution notebooks get their nbgrader metadata, made from their graded ids and
    the registry's points (:mod:`grader.nbgrader_metadata`); the student notebooks keep it.
    Student notebooks with no solution notebook are removed, so ``notebooks/`` is exactly
    what the solutions make. Returns the paths written.
    """
    from grader.files import atomic_write_text
    from grader.nbgrader_metadata import stamp_solutions

    solutions, notebooks = Path(solutions), Path(notebooks)
    if not solutions.is_dir():
        raise ValueError(f"solutions directory {solutions} does not exist")
    stamp_solutions(solutions)
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


def release_problems(solutions: Path, notebooks: Path) -> list[str]:
    """What ``release --check`` reports about the notebooks, one line each: solution cells
    whose nbgrader metadata is missing or out of step with the registry, and student
    notebooks that :func:`release` would write differently.

    Raises:
        grader.nbgrader_metadata.MalformedSolution: naming the notebook and cell whose
            markers cannot be read.
    """
    from grader.nbgrader_metadata import metadata_problems

    problems = []
    if Path(solutions).is_dir():
        problems += [f"solutions/ is stale: {problem}"
                     for problem in metadata_problems(solutions)]
    return problems + [f"notebooks/ is stale: {path}"
                       for path in stale_notebooks(solutions, notebooks)]


def notebook_text(notebook) -> str:
    """A notebook serialised the way :func:`release` writes it (stable, newline at the end)."""
    return nbformat.writes(notebook) + "\n"

"""The grader trusts nothing it receives: broken submissions, hostile names, a busy results
folder, a bad backend, a jail that fails. No test here starts a student process: grade()
runs with fakes of the sandbox's entry points."""

import csv
import fcntl
import json
import os
import re
import struct
import subprocess
import sys
import threading
import zipfile
from contextlib import nullcontext
from pathlib import Path

import nbformat
import pytest

from grader import grade as grading
from grader import notebooks
from grader.__main__ import main
from grader.files import results_lock
from grader.grade import GradingIncomplete, grade, keras_backend
from grader.notebooks import graded_cell, load_submission, student_name
from grader.report import load_results, student_folder
from grader.sandbox import Outcome, SetupError

ROOT = Path(__file__).resolve().parents[1]
SOURCE = "def count_parameters(d, n, c):\n    return 4 * (d * n + n * n + n) + n * c + c"


def notebook_bytes(cells=None) -> bytes:
    cells = [graded_cell(SOURCE, "q1_5")] if cells is None else cells
    return nbformat.writes(nbformat.v4.new_notebook(cells=cells)).encode()


def make_zip(path, entries, compression=zipfile.ZIP_STORED):
    with zipfile.ZipFile(path, "w", compression) as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
    return path


def problems_of(path) -> list[str]:
    submission = load_submission(path)
    assert_valid_tree(submission.files)
    return submission.problems


def assert_valid_tree(files):
    """What the sandbox relies on: relative paths that can all be written below one folder."""
    folders = {"/".join(p.split("/")[:i]) for p in files for i in range(1, p.count("/") + 1)}
    assert not folders & set(files)
    for path in files:
        parts = path.split("/")
        assert not path.startswith("/") and ".." not in parts and "" not in parts
        assert len(path.encode()) <= 1024 and all(len(p.encode()) <= 255 for p in parts)


def refused(path) -> str:
    """The one problem that made the whole submission unusable (no files, no notebooks)."""
    submission = load_submission(path)
    assert submission.files == {} and submission.notebooks == {}
    assert submission.problems[-1] == "no readable notebook found in the submission"
    return submission.problems[0]


# --- zips -------------------------------------------------------------------------------

def test_not_a_zip_and_a_truncated_zip_are_refused(tmp_path):
    fake = tmp_path / "ann.zip"
    fake.write_bytes(b"this is a Word document, honestly")
    assert refused(fake).startswith("ann.zip is not a readable zip file (BadZipFile")
    whole = make_zip(tmp_path / "ben.zip", {"01.ipynb": notebook_bytes()})
    truncated = tmp_path / "cat.zip"
    truncated.write_bytes(whole.read_bytes()[: len(whole.read_bytes()) // 2])
    assert "cat.zip is not a readable zip file" in refused(truncated)


def set_flag_bit(path, bit):
    """Set a general-purpose flag bit in every local and central header of a zip."""
    data = bytearray(path.read_bytes())
    for signature, offset in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):
        start = data.find(signature)
        while start != -1:
            flags = struct.unpack_from("<H", data, start + offset)[0]
            struct.pack_into("<H", data, start + offset, flags | bit)
            start = data.find(signature, start + 4)
    path.write_bytes(bytes(data))


def test_encrypted_zip_is_refused_with_what_to_do(tmp_path):
    path = make_zip(tmp_path / "ann.zip", {"01.ipynb": notebook_bytes()})
    set_flag_bit(path, 0x1)
    assert refused(path) == "ann.zip is encrypted; hand in an unencrypted zip"


def test_crc_error_names_the_entry(tmp_path):
    payload = notebook_bytes()
    path = make_zip(tmp_path / "ann.zip", {"01.ipynb": notebook_bytes([]), "02.ipynb": payload})
    data = path.read_bytes()
    at = data.index(payload) + len(payload) // 2
    path.write_bytes(data[:at] + bytes([data[at] ^ 0xFF]) + data[at + 1:])
    assert refused(path).startswith("ann.zip is not a readable zip file (CRC error in 02.ipynb)")


@pytest.mark.parametrize("names, expected", [
    (["a", "a/b.ipynb"], "both a file and a folder named 'a'"),
    (["x/a/", "x/a"], "both a file and a folder named 'x/a'"),
    (["01.ipynb", "01.ipynb"], "it holds '01.ipynb' twice"),
    (["/etc/passwd"], "is an absolute path"),
    (["bob/../../escape.ipynb"], "reaches outside the folder with '..'"),
    (["bob//01.ipynb"], "has an empty or '.' folder name"),
    (["n" * 256 + ".ipynb"], "has a name longer than 255 bytes"),
    (["/".join(["d" * 200] * 6) + "/01.ipynb"], "is longer than 1024 bytes"),
])
def test_entries_that_do_not_form_a_tree_are_refused(tmp_path, names, expected):
    path = tmp_path / "ann.zip"
    with pytest.warns(UserWarning) if len(set(names)) < len(names) else nullcontext():
        with zipfile.ZipFile(path, "w") as archive:
            for name in names:
                archive.writestr(name, b"" if name.endswith("/") else notebook_bytes())
    problem = refused(path)
    assert problem.startswith("ann.zip cannot be unpacked: ") and expected in problem
    assert problem.endswith("zip your folder again and hand in the new file")


def test_too_many_entries_are_refused(tmp_path):
    path = make_zip(tmp_path / "ann.zip", {f"f{i}.txt": b"" for i in range(2001)})
    assert refused(path).startswith("ann.zip has 2001 entries, more than the 2000")


def test_huge_central_directory_is_refused_before_zipfile_parses_it(tmp_path, monkeypatch):
    path = make_zip(tmp_path / "ann.zip", {f"f{i}.txt": b"" for i in range(100)})
    monkeypatch.setattr(notebooks, "MAX_CENTRAL_DIRECTORY_BYTES", 1_000)
    monkeypatch.setattr(notebooks.zipfile, "ZipFile", lambda *a: pytest.fail("parsed"))
    assert refused(path).startswith("ann.zip has more entries than the 2000 the grader reads")


def test_declared_size_over_the_cap_is_refused_before_reading(tmp_path, monkeypatch):
    monkeypatch.setattr(notebooks, "MAX_SUBMISSION_BYTES", 10_000)
    path = make_zip(tmp_path / "ann.zip", {"01.ipynb": notebook_bytes(), "data.bin": bytes(20_000)},
                    zipfile.ZIP_DEFLATED)
    monkeypatch.setattr(notebooks, "_read_entry", lambda *a: pytest.fail("read before refusing"))
    assert "ann.zip unpacks to 0 MB, more than the 0 MB" in refused(path)


def patch_declared_size(path, name, size):
    """Make the headers of entry ``name`` declare ``size`` uncompressed bytes (a zip bomb's
    lie); offsets from the zip specification."""
    data = bytearray(path.read_bytes())
    encoded = name.encode()
    for signature, size_at, name_at in ((b"PK\x03\x04", 22, 30), (b"PK\x01\x02", 24, 46)):
        start = data.find(signature)
        while start != -1:
            if data[start + name_at:start + name_at + len(encoded)] == encoded:
                struct.pack_into("<I", data, start + size_at, size)
            start = data.find(signature, start + 4)
    path.write_bytes(bytes(data))


def test_entry_inflating_beyond_its_declared_size_is_refused(tmp_path, monkeypatch):
    path = make_zip(tmp_path / "ann.zip", {"01.ipynb": notebook_bytes(), "bomb.bin": bytes(50_000)},
                    zipfile.ZIP_DEFLATED)
    patch_declared_size(path, "bomb.bin", 100)
    requested = []
    real_read = zipfile.ZipExtFile.read

    def recording_read(stream, size=-1):
        requested.append((stream.name, size))
        return real_read(stream, size)

    monkeypatch.setattr(zipfile.ZipExtFile, "read", recording_read)
    assert refused(path).startswith("ann.zip is not a readable zip file (CRC error in bomb.bin)")
    assert [size for name, size in requested if name == "bomb.bin"] == [100], \
        "each entry must be read with a bound: its declared size"


def test_reading_stops_at_the_total_cap_when_headers_lie(tmp_path, monkeypatch):
    monkeypatch.setattr(notebooks, "MAX_SUBMISSION_BYTES", 30_000)
    path = make_zip(tmp_path / "ann.zip", {"a.bin": bytes(20_000), "b.bin": bytes(20_000)})
    patch_declared_size(path, "b.bin", 5_000)  # declared total 25 000 passes the first check
    assert refused(path).startswith("ann.zip is not a readable zip file (CRC error in b.bin)")


def test_notebook_over_the_size_limit_is_reported(tmp_path, monkeypatch):
    monkeypatch.setattr(notebooks, "MAX_NOTEBOOK_BYTES", 1_000)
    big = notebook_bytes([graded_cell("x = 1\n" * 500, "q1_2")])
    path = make_zip(tmp_path / "ann.zip", {"01.ipynb": notebook_bytes(), "02.ipynb": big})
    submission = load_submission(path)
    assert list(submission.notebooks) == ["01.ipynb"]
    assert submission.problems == [
        "02.ipynb: larger than 0 MB, not read; clear its outputs and hand it in again"]


def test_zip_of_a_folder_is_stripped_and_finder_litter_ignored(tmp_path):
    path = make_zip(tmp_path / "ann.zip", {"ann/01.ipynb": notebook_bytes(),
                                           "ann/data/x.csv": b"1,2",
                                           "__MACOSX/ann/._01.ipynb": b"\x00\x05\x16\x07"})
    submission = load_submission(path)
    assert sorted(submission.files) == ["01.ipynb", "data/x.csv"]
    assert submission.problems == [] and "q1_5" in submission.cells


# --- notebooks --------------------------------------------------------------------------

def cell(**fields):
    return {"cell_type": "code", "metadata": {}, "source": "x = 1", "outputs": [],
            "execution_count": None, **fields}


def notebook_json(**fields):
    return {"nbformat": 4, "nbformat_minor": 5, "metadata": {}, "cells": [cell()], **fields}


@pytest.mark.parametrize("content, expected", [
    (notebook_json(cells=[cell(source=42)]), "cell 1 has a source that is not text (int)"),
    (notebook_json(cells=[cell(), cell(source=["a", 1])]),
     "cell 2 has a source that is not text (list)"),
    (notebook_json(cells=[cell(source=None)]), "cell 1 has no source"),
    (notebook_json(cells=[cell(metadata=["x"])]), "cell 1 has metadata that is not a JSON object"),
    (notebook_json(cells=[cell(cell_type=None)]), "cell 1 has no cell_type"),
    (notebook_json(cells=["x = 1"]), "cell 1 is not a JSON object"),
    (notebook_json(cells={"0": cell()}), "has no list of cells"),
    (notebook_json(cells=None), "has no list of cells"),
    (notebook_json(metadata="none"), "has notebook metadata that is not a JSON object"),
    (notebook_json(nbformat="4"), "has an unknown notebook format version '4'"),
    (notebook_json(nbformat=True), "has an unknown notebook format version True"),
    (notebook_json(nbformat=9), "has an unknown notebook format version 9"),
    (notebook_json(nbformat_minor="5"), "minor version that is not a number ('5')"),
    ({"cells": [cell()]}, "is JSON but not a notebook (no nbformat version)"),
    ([1, 2, 3], "is JSON but not a notebook (no top-level object)"),
    ("{ not json", "not a readable notebook (invalid JSON: "),
    ("[" * 100_000, "not a readable notebook (invalid JSON: "),
    (b"\xff\xfe{}", "not a readable notebook (not UTF-8 text)"),
])
def test_malformed_notebook_is_a_problem_not_a_crash(tmp_path, content, expected):
    folder = tmp_path / "ann"
    folder.mkdir()
    data = content if isinstance(content, bytes) else (
        content if isinstance(content, str) else json.dumps(content)).encode()
    (folder / "bad.ipynb").write_bytes(data)
    (folder / "good.ipynb").write_bytes(notebook_bytes())
    submission = load_submission(folder)
    assert list(submission.notebooks) == ["good.ipynb"]
    (problem,) = submission.problems
    assert problem.startswith("bad.ipynb: ") and expected in problem, problem
    assert "q1_5" in submission.cells


@pytest.mark.parametrize("marker, fault", [
    ({"graded": 7}, "whose graded id is not text (int)"),
    ({"graded": ["q1_5"]}, "whose graded id is not text (list)"),
    ("q1_5", "that is not a JSON object (str)"),
])
def test_graded_metadata_of_the_wrong_type_is_reported_and_ignored(tmp_path, marker, fault):
    content = notebook_json(cells=[cell(metadata={"course_kit": marker}),
                                   cell(source="# graded: q1_2\nx = 2")])
    path = tmp_path / "ann.ipynb"
    path.write_text(json.dumps(content))
    submission = load_submission(path)
    assert submission.problems == [
        f"ann.ipynb: cell 1 has course_kit metadata {fault}; that metadata is ignored"]
    assert set(submission.cells) == {"q1_2"}


def test_source_as_a_list_of_lines_and_an_old_format_are_read(tmp_path):
    (tmp_path / "ann").mkdir()
    lines = notebook_json(cells=[cell(source=["# graded: q1_5\n", "x = 1"])])
    (tmp_path / "ann" / "v4.ipynb").write_text(json.dumps(lines))
    old = nbformat.v3.new_notebook(worksheets=[nbformat.v3.new_worksheet(cells=[
        nbformat.v3.new_code_cell(input="# graded: q1_2\ny = 2")])])
    (tmp_path / "ann" / "v3.ipynb").write_text(nbformat.v3.writes_json(old))
    submission = load_submission(tmp_path / "ann")
    assert submission.problems == []
    assert submission.cells["q1_5"]["source"] == "# graded: q1_5\nx = 1"
    assert submission.cells["q1_2"]["source"] == "# graded: q1_2\ny = 2"


# --- folders and single notebooks -------------------------------------------------------

def load_without_blocking(path):
    """load_submission(path), failing (not hanging) if it blocks, as opening a FIFO would."""
    loaded = []
    reader = threading.Thread(target=lambda: loaded.append(load_submission(path)), daemon=True)
    reader.start()
    reader.join(timeout=10)
    assert loaded, f"reading {path} blocked"
    return loaded[0]


def test_folder_links_fifos_and_unreadable_files_are_left_out(tmp_path, monkeypatch):
    folder = tmp_path / "ann"
    folder.mkdir()
    (folder / "01.ipynb").write_bytes(notebook_bytes())
    (folder / "secret.txt").write_text("x")
    (folder / "link.ipynb").symlink_to(folder / "01.ipynb")
    (folder / "outside").symlink_to("/etc")
    os.mkfifo(folder / "pipe.ipynb")
    # The tests may run as root, which reads any file: make one read fail as EACCES would.
    real_read = notebooks._read_regular_file

    def denied(path, limit):
        if path.name == "secret.txt":
            raise PermissionError(13, "Permission denied")
        return real_read(path, limit)

    monkeypatch.setattr(notebooks, "_read_regular_file", denied)
    submission = load_without_blocking(folder)
    assert sorted(submission.files) == ["01.ipynb"]
    assert submission.problems == [
        "link.ipynb is a symbolic link, not a file; it was left out",
        "outside is a symbolic link, not a file; it was left out",
        "pipe.ipynb is not a regular file; it was left out",
        "secret.txt could not be read (Permission denied); it was left out",
    ]


def test_folder_over_the_caps_is_refused(tmp_path, monkeypatch):
    folder = tmp_path / "ann"
    folder.mkdir()
    (folder / "01.ipynb").write_bytes(notebook_bytes())
    monkeypatch.setattr(notebooks, "MAX_ENTRIES", 3)
    for index in range(3):
        (folder / f"data{index}.csv").write_text("1")
    assert refused(folder).startswith("the submission has more than 3 files")
    monkeypatch.setattr(notebooks, "MAX_ENTRIES", 2000)
    monkeypatch.setattr(notebooks, "MAX_SUBMISSION_BYTES", 1_000)
    (folder / "data.bin").write_bytes(bytes(5_000))
    assert "more than the 0 MB the grader accepts" in refused(folder)


def test_single_notebook_that_is_a_fifo_is_refused(tmp_path):
    os.mkfifo(tmp_path / "ann.ipynb")
    submission = load_without_blocking(tmp_path / "ann.ipynb")
    assert submission.files == {} and submission.problems == [
        "ann.ipynb is not a regular file", "no readable notebook found in the submission"]


# --- names ------------------------------------------------------------------------------

HASH = "-[0-9a-f]{8}"


@pytest.mark.parametrize("name, pattern", [
    ("ann", "ann"), ("ann.zip", "ann"), ("grades.csv", "grades.csv"), ("José.ipynb", "José"),
    ("ann smith.zip", "ann_smith" + HASH), (".hidden", "hidden" + HASH), ("..", "student" + HASH),
    ("a\\b", "a_b" + HASH), ("x" * 250, "x" * 91 + HASH),
])
def test_student_names_are_one_safe_folder_name(name, pattern):
    safe = student_name(Path("/nowhere") / name)
    assert re.fullmatch(pattern, safe), safe
    assert len(safe.encode()) <= 100
    assert student_folder(Path("/r"), safe).parent == Path("/r/students")


def test_names_that_differ_stay_different():
    assert student_name(Path("a b")) != student_name(Path("a_b"))
    assert student_name(Path("a b")) != student_name(Path("a?b"))


@pytest.mark.parametrize("bad", ["", ".", "..", "../x", "a/b", ".lock"])
def test_result_folder_refuses_names_that_would_escape(bad):
    with pytest.raises(ValueError, match="not a plain folder name"):
        student_folder(Path("/r"), bad)


# --- grade() with a fake sandbox ---------------------------------------------------------

class FakeSandbox:
    """Stand-ins for the sandbox's entry points; ``statuses`` maps student name -> status."""

    def __init__(self, monkeypatch, status="error"):
        self.status, self.statuses, self.graded, self.requested = status, {}, [], []
        self.preflight_error = None
        monkeypatch.setenv("KERAS_BACKEND", "jax")
        monkeypatch.setattr(grading, "choose_isolation", self.choose_isolation)
        monkeypatch.setattr(grading, "preflight", self.preflight)
        monkeypatch.setattr(grading, "run_tasks", self.run_tasks)
        monkeypatch.setattr(grading, "remove_stale_folders", lambda: 0)

    def choose_isolation(self, requested):
        self.requested.append(requested)
        return "user" if requested == "auto" else requested

    def preflight(self, *, backend, device, isolation, limits):
        if self.preflight_error:
            raise SetupError(self.preflight_error)
        return {"device": "cpu", "backend": backend, "isolation": isolation}

    def run_tasks(self, tasks, files, *, backend, device, limits, isolation, meta, also_hide):
        student = files["owner.txt"].decode()
        self.graded.append(student)
        status = self.statuses.get(student, self.status)
        if status == "raise":
            raise RuntimeError(f"the fake sandbox broke on {student}")
        meta.update(device="cpu", backend=backend, isolation=isolation)
        header = {"error_type": "NameError", "error_message": "x"} if status == "error" else {}
        return [Outcome(t.qid, status, header=header, message="the jail did not start")
                for t in tasks]


def add_student(submissions, name):
    folder = submissions / name
    folder.mkdir(parents=True)
    (folder / "01.ipynb").write_bytes(notebook_bytes())
    (folder / "owner.txt").write_text(name)
    return folder


def grade_quietly(submissions, out, only="q1_5", **options):
    return grade(submissions, out, only=only, progress=False, print_summary=False, **options)


def test_one_broken_student_does_not_stop_the_class(tmp_path, monkeypatch):
    sandbox = FakeSandbox(monkeypatch)
    submissions, out = tmp_path / "submissions", tmp_path / "results"
    for name in ("ann", "ben", "cat"):
        add_student(submissions, name)
    sandbox.statuses["ben"] = "raise"
    with pytest.raises(GradingIncomplete, match=r"failed on 1 student\(s\) \(ben\)") as error:
        grade_quietly(submissions, out, jobs=2)
    results = {r["student"]: r for r in error.value.results}
    assert sorted(results) == ["ann", "ben", "cat"]
    ben = results["ben"]
    assert ben["final"] is False and "RuntimeError" in ben["grader_traceback"]
    assert ben["questions"]["q1_5"]["status"] == "error"
    assert "the fake sandbox broke on ben" in ben["questions"]["q1_5"]["notes"][0]
    assert results["ann"]["final"] is True
    assert results["ann"]["questions"]["q1_5"]["status"] == "error"
    rows = {r["student"]: r for r in csv.DictReader((out / "grades.csv").open())}
    assert (rows["ann"]["q1_5"], rows["ann"]["total"]) == ("0", "0")
    assert (rows["ben"]["q1_5"], rows["ben"]["total"]) == ("error", "incomplete")
    run = json.loads((out / "run.json").read_text())
    assert (run["graded"], run["grader_errors"], run["students"]) == (3, 1, 3)
    assert run["isolation"] == "user" and run["backend"] == "jax" and run["peak_rss_mb"] > 0


def test_a_loading_failure_is_that_students_result(tmp_path, monkeypatch):
    FakeSandbox(monkeypatch)
    submissions = tmp_path / "submissions"
    add_student(submissions, "ann")
    add_student(submissions, "ben")
    real_load = grading.load_submission

    def load(path):
        if path.name == "ben":
            raise MemoryError("out of memory while reading")
        return real_load(path)

    monkeypatch.setattr(grading, "load_submission", load)
    with pytest.raises(GradingIncomplete):
        grade_quietly(submissions, tmp_path / "results")
    (ben,) = [r for r in load_results(tmp_path / "results") if r["student"] == "ben"]
    assert "MemoryError: out of memory while reading" in ben["questions"]["q1_5"]["notes"][0]


def test_grader_error_is_not_a_grade_and_is_regraded(tmp_path, monkeypatch, capsys):
    sandbox = FakeSandbox(monkeypatch, status="grader-error")
    submissions, out = tmp_path / "submissions", tmp_path / "results"
    add_student(submissions, "ann")
    arguments = ["grade", str(submissions), "--out", str(out), "--only", "q1_5", "--no-progress"]
    assert main(arguments) == 1
    assert capsys.readouterr().err.splitlines() == [
        "error: the grader failed on 1 student(s) (ann); their results are not final and are "
        "graded again on the next run"]
    (ann,) = load_results(out)
    entry = ann["questions"]["q1_5"]
    assert ann["final"] is False and entry["status"] == "grader-error"
    assert "the jail did not start" in entry["notes"][0] and "not a grade" in entry["notes"][0]
    assert "Grading did not finish" in (out / "students" / "ann" / "feedback.md").read_text()
    assert next(csv.DictReader((out / "grades.csv").open()))["total"] == "incomplete"
    sandbox.status = "error"
    assert main(arguments) == 0
    assert sandbox.graded == ["ann", "ann"], "a non-final result must be graded again"
    (ann,) = load_results(out)
    assert ann["final"] is True and ann["questions"]["q1_5"]["status"] == "error"
    assert main(arguments) == 0
    assert sandbox.graded == ["ann", "ann"], "a final result must be kept"


def test_missing_outcome_is_a_grader_error(tmp_path, monkeypatch):
    sandbox = FakeSandbox(monkeypatch)
    monkeypatch.setattr(grading, "run_tasks", lambda tasks, files, **kw: [])
    add_student(tmp_path / "submissions", "ann")
    with pytest.raises(GradingIncomplete):
        grade_quietly(tmp_path / "submissions", tmp_path / "results")
    (ann,) = load_results(tmp_path / "results")
    assert ann["questions"]["q1_5"]["status"] == "grader-error"
    assert "the sandbox returned no outcome" in ann["questions"]["q1_5"]["notes"][0]
    assert sandbox.graded == []


def test_unreadable_submission_is_graded_invalid_without_running(tmp_path, monkeypatch):
    sandbox = FakeSandbox(monkeypatch)
    submissions = tmp_path / "submissions"
    submissions.mkdir()
    (submissions / "ann.zip").write_bytes(b"not a zip")
    (result,) = grade_quietly(submissions, tmp_path / "results", only="q1_5,q3_4")
    assert sandbox.graded == []
    assert {e["status"] for e in result["questions"].values()} == {"invalid"}
    assert result["final"] is True
    assert result["problems"][0].startswith("ann.zip is not a readable zip file")
    feedback = (tmp_path / "results" / "students" / "ann" / "feedback.md").read_text()
    assert "- Submission: ann.zip is not a readable zip file" in feedback


def test_hostile_student_names_cannot_touch_class_files(tmp_path, monkeypatch):
    FakeSandbox(monkeypatch)
    submissions, out = tmp_path / "submissions", tmp_path / "results"
    names = ["grades.csv", "run.json", "students", "similarity.csv", "a b", "x" * 200]
    for name in names:
        add_student(submissions, name)
    (submissions / ".grader.lock").mkdir()  # hidden: not a submission
    archive = make_zip(submissions / "run.json.zip", {"01.ipynb": notebook_bytes(),
                                                       "owner.txt": b"zip"})
    assert archive.exists()
    with pytest.raises(ValueError, match="two submissions for student 'run.json'"):
        grade_quietly(submissions, out)
    assert not out.exists(), "nothing may be written before the run can start"
    archive.unlink()
    results = grade_quietly(submissions, out)
    assert len(results) == len(names)
    assert sorted(p.name for p in out.iterdir()) == [".grader.lock", "grades.csv", "run.json",
                                                     "similarity.csv", "similarity.md",
                                                     "students"]
    assert json.loads((out / "run.json").read_text())["graded"] == len(names)
    assert len((out / "grades.csv").read_text().splitlines()) == 1 + len(names)
    folders = sorted(p.name for p in (out / "students").iterdir())
    assert {"grades.csv", "run.json", "students", "similarity.csv"} <= set(folders)
    assert all(len(f.encode()) <= 100 and not f.startswith(".") for f in folders)
    for result in results:
        assert (out / "students" / result["student"] / "result.json").is_file()


def test_results_inside_the_submissions_folder_are_not_a_student(tmp_path, monkeypatch):
    FakeSandbox(monkeypatch)
    submissions = tmp_path / "submissions"
    add_student(submissions, "ann")
    grade_quietly(submissions, submissions / "results")
    results = grade_quietly(submissions, submissions / "results", force=True)
    assert [r["student"] for r in results] == ["ann"]


def test_a_second_grader_on_the_same_results_exits_2(tmp_path, monkeypatch, capsys):
    sandbox = FakeSandbox(monkeypatch)
    submissions, out = tmp_path / "submissions", tmp_path / "results"
    add_student(submissions, "ann")
    out.mkdir()
    holder = os.open(out / ".grader.lock", os.O_RDWR | os.O_CREAT)
    try:
        fcntl.flock(holder, fcntl.LOCK_EX | fcntl.LOCK_NB)
        os.write(holder, b"4242\n")
        assert main(["grade", str(submissions), "--out", str(out), "--only", "q1_5",
                     "--no-progress"]) == 2
    finally:
        os.close(holder)
    assert capsys.readouterr().err.splitlines() == [
        f"error: {out} is being graded by another grader (pid 4242); wait for it or use "
        "another --out"]
    assert sandbox.graded == [] and sorted(p.name for p in out.iterdir()) == [".grader.lock"]


def test_the_lock_is_held_across_processes_while_grading(tmp_path, monkeypatch):
    sandbox = FakeSandbox(monkeypatch)
    add_student(tmp_path / "submissions", "ann")
    out = tmp_path / "results"
    probe = ("import fcntl, os, sys\n"
             "fd = os.open(sys.argv[1], os.O_RDWR)\n"
             "try:\n    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)\n"
             "except BlockingIOError:\n    print('held', os.read(fd, 20).decode().strip())\n")
    seen = []
    real_run_tasks = sandbox.run_tasks

    def run_tasks_and_probe(tasks, files, **options):
        seen.append(subprocess.run([sys.executable, "-c", probe, str(out / ".grader.lock")],
                                   capture_output=True, text=True, check=True).stdout.strip())
        return real_run_tasks(tasks, files, **options)

    monkeypatch.setattr(grading, "run_tasks", run_tasks_and_probe)
    grade_quietly(tmp_path / "submissions", out)
    assert seen == [f"held {os.getpid()}"]


def test_merge_manual_waits_for_no_grader(tmp_path, capsys):
    out = tmp_path / "results"
    out.mkdir()
    marks = tmp_path / "marks.csv"
    marks.write_text("student,question,points\nann,q3_4,1\n")
    with results_lock(out):
        assert main(["merge-manual", str(marks), "--out", str(out)]) == 2
    assert capsys.readouterr().err == (
        f"error: {out} is being graded by another grader (pid {os.getpid()}); wait for it or "
        "use another --out\n")


@pytest.mark.parametrize("setting", ["environment", "keras.json"])
def test_bad_backend_exits_2_and_writes_nothing(tmp_path, monkeypatch, capsys, setting):
    sandbox = FakeSandbox(monkeypatch)
    add_student(tmp_path / "submissions", "ann")
    if setting == "environment":
        monkeypatch.setenv("KERAS_BACKEND", "numpy")
    else:
        monkeypatch.delenv("KERAS_BACKEND")
        monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
        (tmp_path / "keras").mkdir()
        (tmp_path / "keras" / "keras.json").write_text('{"backend": "numpy"}')
    out = tmp_path / "results"
    assert main(["grade", str(tmp_path / "submissions"), "--out", str(out)]) == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith("error: the Keras backend is 'numpy'")
    assert not out.exists() and sandbox.requested == []


def test_keras_backend_is_read_without_keras(tmp_path, monkeypatch):
    monkeypatch.delenv("KERAS_BACKEND", raising=False)
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    assert keras_backend() == "tensorflow"  # no keras.json: Keras' default
    (tmp_path / "keras.json").write_text('{"backend": "torch", "floatx": "float32"}')
    assert keras_backend() == "torch"
    (tmp_path / "keras.json").write_text("{ broken")
    assert keras_backend() == "tensorflow"
    monkeypatch.setenv("KERAS_BACKEND", "jax")
    assert keras_backend() == "jax"


def test_the_grader_process_imports_no_framework(tmp_path):
    code = ("import sys\nfrom grader.__main__ import main\nimport grader.grade\n"
            "from grader.grade import keras_backend\nkeras_backend()\n"
            "print(sorted({m.split('.')[0] for m in sys.modules} & "
            "{'keras', 'tensorflow', 'jax', 'torch'}))\n"
            "print(sorted(m for m in sys.modules if m.startswith('course_kit')))")
    env = {k: v for k, v in os.environ.items() if k != "KERAS_BACKEND"}
    env.update(PYTHONPATH=str(ROOT), KERAS_HOME=str(tmp_path))
    run = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         check=True)
    frameworks, kit_modules = run.stdout.strip().splitlines()
    assert frameworks == "[]"
    # The package itself (its TensorFlow log filter) and the command-line helpers, no more.
    assert kit_modules == str(["course_kit", "course_kit._edition", "course_kit._tensorflow_logs",
                               "course_kit.cli"])


def test_setup_error_exits_2_and_writes_nothing(tmp_path, monkeypatch, capsys):
    sandbox = FakeSandbox(monkeypatch)
    sandbox.preflight_error = "the jax backend did not start in the namespaces jail: boom"
    add_student(tmp_path / "submissions", "ann")
    out = tmp_path / "results"
    assert main(["grade", str(tmp_path / "submissions"), "--out", str(out),
                 "--isolation", "namespaces"]) == 2
    assert capsys.readouterr().err.splitlines() == [
        "error: the jax backend did not start in the namespaces jail: boom"]
    assert not out.exists() and sandbox.requested == ["namespaces"]


def test_isolation_is_passed_through_and_recorded(tmp_path, monkeypatch):
    sandbox = FakeSandbox(monkeypatch)
    add_student(tmp_path / "submissions", "ann")
    out = tmp_path / "results"
    assert main(["grade", str(tmp_path / "submissions"), "--out", str(out), "--only", "q1_5",
                 "--no-progress", "--isolation", "none"]) == 0
    assert sandbox.requested == ["none"]
    (ann,) = load_results(out)
    assert ann["isolation"] == "none"
    assert json.loads((out / "run.json").read_text())["isolation"] == "none"


def test_demo_without_out_deletes_its_temporary_results(monkeypatch, capsys):
    used = []

    def fake_grade(submissions, out, **options):
        used.append((Path(out), options["isolation"]))
        (Path(out) / "grades.csv").write_text("student\n")
        return []

    monkeypatch.setattr(grading, "grade", fake_grade)
    assert main(["demo", "--isolation", "user", "--no-progress"]) == 0
    ((out, isolation),) = used
    assert isolation == "user" and not out.exists()
    printed = capsys.readouterr().out
    assert "deleted; add --out RESULTS to keep them" in printed and str(out) not in printed

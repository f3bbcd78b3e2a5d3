"""The similarity report: renamed copies (of the kit, of a classmate) are flagged; independent
right answers and untouched stubs are not; the report files name the pair; no grade moves.

Real cells throughout: the kit's answers (grader.edition), the released stubs (notebooks/),
the solution notebooks and the questions' alternative answers. Nothing here imports Keras.
"""

import csv
import json
import re
from pathlib import Path

import nbformat
import pytest

from grader import grade as grading
from grader.__main__ import main
from grader.edition import answers
from grader.grade import grade
from grader.notebooks import find_cells, graded_cell
from grader.questions import q1_2
from grader.registry import QUESTIONS
from grader.sandbox import Outcome
from grader.similarity import (
    KIT,
    find_similar,
    kit_answers,
    normalised_tokens,
    save_graded_cells,
    stub_cells,
    write_similarity,
)

ROOT = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.backend_independent


def renamed(source: str, names: dict[str, str]) -> str:
    """``source`` with each whole word of ``names`` replaced: how a copier hides a copy."""
    return re.sub(r"\b(" + "|".join(map(re.escape, names)) + r")\b",
                  lambda match: names[match.group(1)], source)


def solution_cell(cell: str) -> str:
    for path in sorted((ROOT / "solutions").glob("*.ipynb")):
        found = find_cells({path.name: nbformat.read(path, as_version=4)})
        if cell in found:
            return found[cell]["source"]
    raise LookupError(cell)


def kit_answer(name: str):
    return next(answer for answer in answers() if name in answer.names)


@pytest.fixture(scope="module")
def stubs():
    return stub_cells()


@pytest.fixture(scope="module")
def kit():
    return kit_answers()


def flagged_pairs(report) -> set[tuple[str, str, str]]:
    return {(flag.question, flag.first.name, flag.second.name) for flag in report.flags}


# The stacked-kernel answer to q1_2, copied by a second student who renamed every variable,
# reflowed the lines and swapped the comments.
COPIED_STACKED_KERNEL = '''# graded: q1_2
import keras
from keras import ops

class VanillaRNNCell(keras.layers.Layer):
    """My RNN cell."""
    def __init__(self, units, **kw):
        super().__init__(**kw)
        self.units = units; self.state_size = [units]

    def build(self, shape):
        # input weights first, then the recurrent ones
        self.W_hx = self.add_weight(
            shape=(shape[-1], self.units), initializer="glorot_uniform", name="W_hx")
        self.W_hh = self.add_weight(shape=(self.units, self.units),
                                    initializer="orthogonal", name="W_hh")
        self.b_h = self.add_weight(shape=(self.units,), initializer="zeros", name="b_h")

    def call(self, x_now, memory):
        (previous,) = memory
        both = ops.concatenate([x_now, previous], axis=-1)  # [x, h]
        big = ops.concatenate([self.W_hx, self.W_hh], axis=0)
        new_h = ops.tanh(ops.add(ops.matmul(both, big), self.b_h))
        return new_h, [new_h]
'''


def test_renaming_and_reformatting_leave_the_normalised_code_unchanged():
    original = q1_2.ALTERNATIVES["stacked_kernel"]
    disguised = renamed(original, {"inputs": "x_now", "h_prev": "previous", "states": "mem",
                                   "stacked": "both", "kernel": "big", "h": "new_h"})
    disguised = disguised.replace("axis=-1)", "axis=-1)  # joined\n").replace(", ", ",  ")
    assert disguised != original
    assert normalised_tokens(disguised)[0] == normalised_tokens(original)[0]
    # ... while a different computation is not the same code
    assert normalised_tokens(q1_2.ALTERNATIVES["tanh_from_sigmoid"])[0] != \
        normalised_tokens(original)[0]


def test_a_kit_answer_with_every_name_changed_is_flagged(stubs, kit):
    answer = kit_answer("count_lstm_parameters")
    pasted = "# graded: q1_5\n" + renamed(answer.source, {
        "count_lstm_parameters": "count_parameters", "d": "inputs", "n": "hidden",
        "c": "classes", "name": "label", "value": "given"})
    assert "count_lstm_parameters" not in pasted and " d * n" not in pasted
    report = find_similar({"mallory": {"q1_5": pasted},
                           "ada": {"q1_5": solution_cell("q1_5")}}, stubs, kit)
    assert ("q1_5", "mallory", KIT) in flagged_pairs(report)
    flag = next(f for f in report.flags if f.first.name == "mallory")
    assert flag.second.where == f"{answer.path}: count_lstm_parameters"
    assert flag.score >= report.threshold and flag.shares[0] > 0.9
    # the one-line solution shares the formula with the kit, too short to count as a copy
    assert not any(f.first.name == "ada" for f in report.flags)


def test_the_kits_recurrent_cell_renamed_is_flagged(stubs, kit):
    answer = kit_answer("VanillaRNNCell")
    pasted = "# graded: q1_2\nimport keras\nfrom keras import ops\n\n" + renamed(
        answer.source, {"inputs": "x", "states": "hs", "h_prev": "last", "h": "out",
                        "input_dim": "width"})
    report = find_similar({"mallory": {"q1_2": pasted}}, stubs, kit)
    assert ("q1_2", "mallory", KIT) in flagged_pairs(report)


def test_two_students_who_copied_each_other_are_flagged(stubs, kit):
    report = find_similar({"bea": {"q1_2": "# graded: q1_2\n" +
                                   q1_2.ALTERNATIVES["stacked_kernel"]},
                           "carl": {"q1_2": COPIED_STACKED_KERNEL}}, stubs, kit)
    assert flagged_pairs(report) == {("q1_2", "bea", "carl")}
    (flag,) = report.flags
    assert min(flag.shares) > 0.8
    bea, carl = flag.prints
    assert carl.matching_lines(bea.hashes) >= set(range(19, 25))  # carl's call()


def test_independent_right_answers_are_not_flagged(stubs, kit):
    cells = {"dora": {"q1_2": solution_cell("q1_2")}}
    for name, source in q1_2.ALTERNATIVES.items():
        cells[name] = {"q1_2": "# graded: q1_2\n" + source}
    report = find_similar(cells, stubs, kit)
    assert report.pairs == 3 + 3 * len(kit["q1_2"])  # each pair once, and each with the kit
    assert report.flags == []


def test_the_same_one_line_answer_weighs_too_little_to_be_flagged(stubs, kit):
    """q1_5's answer is one formula: two students who write it alike have ~10 fingerprints
    in common, which the weight min(1, shared / 25) keeps under the threshold."""
    one_line = solution_cell("q1_5")
    report = find_similar({"ivy": {"q1_5": one_line},
                           "jon": {"q1_5": renamed(one_line, {"count_parameters": "f"})}},
                          stubs, kit)
    assert report.flags == []
    assert find_similar({"ivy": {"q1_5": one_line}, "jon": {"q1_5": one_line}}, stubs, kit,
                        threshold=0.1).flags  # the same pair, listed at a low threshold


def test_untouched_stubs_are_not_flagged(stubs, kit):
    report = find_similar({"eli": {"q1_2": stubs["q1_2"]},
                           "fay": {"q1_2": stubs["q1_2"] + "\n"}}, stubs, kit)
    assert report.pairs == 1 + 2 * len(kit["q1_2"]) and report.flags == []


def test_without_the_stub_the_stubs_themselves_would_match(kit):
    """The control for the test above: it passes because the stub is removed."""
    report = find_similar({"eli": {"q1_4": stub_cells()["q1_4"]},
                           "fay": {"q1_4": stub_cells()["q1_4"]}}, {}, kit)
    assert ("q1_4", "eli", "fay") in flagged_pairs(report)
    assert any("no stub found for q1_4" in note for note in report.notes)


def make_results(folder: Path, cells: dict[str, dict[str, str]]) -> Path:
    for student, by_cell in cells.items():
        (folder / "students" / student).mkdir(parents=True)
        (folder / "students" / student / "result.json").write_text(json.dumps(
            {"student": student, "final": True, "questions": {"q1_2": {"score": 7.0}}}))
        (folder / "students" / student / "cells.json").write_text(json.dumps(by_cell))
    return folder


def test_the_report_files_name_the_pair_and_leave_the_grades_alone(tmp_path):
    results = make_results(tmp_path, {
        "bea": {"q1_2": "# graded: q1_2\n" + q1_2.ALTERNATIVES["stacked_kernel"]},
        "carl": {"q1_2": COPIED_STACKED_KERNEL},
        "dora": {"q1_2": solution_cell("q1_2")},
    })
    (results / "students" / "gus").mkdir()  # graded before cells were saved
    (results / "students" / "gus" / "result.json").write_text("{}")
    before = {p: p.read_bytes() for p in results.rglob("*.json")}

    report = write_similarity(results)

    assert {p: p.read_bytes() for p in results.rglob("*.json")} == before
    rows = list(csv.DictReader((results / "similarity.csv").open()))
    assert [(r["question"], r["first"], r["second"], r["second_source"]) for r in rows] == \
        [("q1_2", "bea", "carl", "student")]
    assert float(rows[0]["score"]) == report.flags[0].score >= report.threshold
    markdown = (results / "similarity.md").read_text()
    assert "for a person to review" in markdown and "never changes a grade" in markdown
    assert "## q1_2: Vanilla RNN cell from raw weights (1 pair(s))" in markdown
    assert "### 1. bea and carl: score" in markdown
    assert ">  21          both = ops.concatenate([x_now, previous], axis=-1)  # [x, h]" \
        in markdown
    assert "dora" not in markdown
    assert "no readable cells.json" in markdown and "gus" in markdown


def test_a_cell_copied_around_is_shown_once_in_its_group(tmp_path):
    stacked = "# graded: q1_2\n" + q1_2.ALTERNATIVES["stacked_kernel"]
    results = make_results(tmp_path, {"bea": {"q1_2": stacked},
                                      "carl": {"q1_2": COPIED_STACKED_KERNEL},
                                      "dan": {"q1_2": stacked.replace("h_prev", "last")}})
    report = write_similarity(results)
    assert flagged_pairs(report) == {("q1_2", "bea", "carl"), ("q1_2", "bea", "dan"),
                                     ("q1_2", "carl", "dan")}
    markdown = (results / "similarity.md").read_text()
    assert "### 1. 3 cells linked by 3 pairs: " in markdown
    assert markdown.count("**carl**") == 1 and "| carl | dan | 1.00 |" in markdown


def test_the_command_writes_the_report_with_its_threshold(tmp_path, capsys):
    results = make_results(tmp_path, {
        "bea": {"q1_2": "# graded: q1_2\n" + q1_2.ALTERNATIVES["stacked_kernel"]},
        "carl": {"q1_2": COPIED_STACKED_KERNEL},
        "dora": {"q1_2": solution_cell("q1_2")}})
    assert main(["similarity", str(results)]) == 0
    assert "1 pair(s) flagged" in capsys.readouterr().out
    assert "bea,carl" in (results / "similarity.csv").read_text()
    assert main(["similarity", str(results), "--threshold", "0.01"]) == 0
    flagged = re.search(r"(\d+) pair\(s\) flagged for review at threshold 0.01",
                        capsys.readouterr().out)
    assert int(flagged.group(1)) >= 3  # every student pair shares some code at this level
    assert main(["similarity", str(results), "--only", "q1_5"]) == 0
    assert "0 pair(s) flagged" in capsys.readouterr().out
    assert "No pair reached the threshold." in (results / "similarity.md").read_text()
    assert main(["similarity", str(results), "--threshold", "0"]) == 2
    assert main(["similarity", str(results), "--only", "q9_9"]) == 2
    assert main(["similarity", str(tmp_path / "nowhere")]) == 2


def test_graded_cells_are_saved_per_student(tmp_path):
    submission = tmp_path / "submissions" / "hal"
    submission.mkdir(parents=True)
    notebook = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell("# graded: q1_2\nx = 1"),
        nbformat.v4.new_markdown_cell("<!-- graded: q1_3_answer -->\nprose"),
        nbformat.v4.new_code_cell("# graded: q1_5\ny = 2")])
    nbformat.write(notebook, submission / "02.ipynb")
    save_graded_cells(tmp_path / "out", submission, [QUESTIONS["q1_3"]])
    saved = json.loads((tmp_path / "out" / "students" / "hal" / "cells.json").read_text())
    assert saved == {"q1_2": "# graded: q1_2\nx = 1"}  # q1_3 runs q1_2's cell; q1_5 not graded
    (submission / "02.ipynb").write_text("{ not json")
    save_graded_cells(tmp_path / "out", submission, [QUESTIONS["q1_3"]])
    assert json.loads((tmp_path / "out" / "students" / "hal" / "cells.json").read_text()) == {}


@pytest.fixture
def fake_jail(monkeypatch):
    """The grader without its jail: every question errors out, as a cell that raises would."""
    monkeypatch.setenv("KERAS_BACKEND", "jax")
    monkeypatch.setattr(grading, "choose_isolation", lambda requested: "none")
    monkeypatch.setattr(grading, "preflight", lambda **_: {"device": "cpu"})
    monkeypatch.setattr(grading, "remove_stale_folders", lambda: 0)
    monkeypatch.setattr(grading, "run_tasks", lambda tasks, files, **_: [
        Outcome(task.qid, "error", header={"error_type": "NameError", "error_message": "x"},
                message="x") for task in tasks])


def hand_in(submissions: Path, cells: dict[str, str]):
    for student, source in cells.items():
        (submissions / student).mkdir(parents=True)
        nbformat.write(nbformat.v4.new_notebook(cells=[graded_cell(source, "q1_2")]),
                       submissions / student / "02.ipynb")


def test_grading_saves_the_cells_and_flags_the_copy(tmp_path, fake_jail):
    hand_in(tmp_path / "in", {"bea": q1_2.ALTERNATIVES["stacked_kernel"],
                              "carl": COPIED_STACKED_KERNEL, "dora": solution_cell("q1_2")})
    grade(tmp_path / "in", tmp_path / "out", only="q1_2", progress=False, print_summary=False)
    saved = json.loads((tmp_path / "out" / "students" / "carl" / "cells.json").read_text())
    assert list(saved) == ["q1_2"] and "x_now" in saved["q1_2"]
    assert "q1_2,bea,carl,student" in (tmp_path / "out" / "similarity.csv").read_text()


def test_a_failing_similarity_step_leaves_the_grades_as_they_are(tmp_path, fake_jail,
                                                                 monkeypatch, capsys):
    hand_in(tmp_path / "in", {"bea": q1_2.ALTERNATIVES["stacked_kernel"],
                              "carl": COPIED_STACKED_KERNEL})
    graded = grade(tmp_path / "in", tmp_path / "first", only="q1_2", progress=False,
                   print_summary=False)

    def broken(out, **_):
        raise RuntimeError("similarity broke")

    monkeypatch.setattr(grading, "write_similarity", broken)
    again = grade(tmp_path / "in", tmp_path / "second", only="q1_2", progress=False,
                  print_summary=False)
    assert "warning: the similarity report failed (RuntimeError: similarity broke)" in \
        capsys.readouterr().err
    def scores(results):
        return [(r["student"], r["final"], r["questions"]["q1_2"]["score"]) for r in results]

    assert scores(again) == scores(graded) == [("bea", True, 0.0), ("carl", True, 0.0)]
    assert (tmp_path / "second" / "grades.csv").read_text() == \
        (tmp_path / "first" / "grades.csv").read_text()
    assert not (tmp_path / "second" / "similarity.csv").exists()

"""The student edition of the kit: built from the marked answers, it holds none of them.

``grader.edition`` strips every ``# BEGIN ANSWER`` region of ``course_kit`` down to a stub
that raises NotImplementedError naming the question and notebook; these tests build the real
wheel, prove no answer is in it, and prove the check that says so can fail.
"""

import ast
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from grader import edition
from grader.registry import QUESTIONS

pytestmark = pytest.mark.backend_independent

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def wheel(tmp_path_factory):
    return edition.build_student_wheel(tmp_path_factory.mktemp("student-wheel"))


@pytest.fixture(scope="module")
def student_kit(tmp_path_factory):
    folder = tmp_path_factory.mktemp("student-kit")
    edition.stage_student_kit(folder)
    return folder


def _rewrite(wheel, out, changes):
    """A copy of ``wheel`` at ``out`` with ``changes`` ({member: new text}) applied."""
    with zipfile.ZipFile(wheel) as source, zipfile.ZipFile(out, "w") as target:
        for item in source.infolist():
            data = source.read(item.filename)
            if item.filename in changes:
                data = changes.pop(item.filename).encode()
            target.writestr(item, data)
        for name, text in changes.items():
            target.writestr(name, text)
    return out


def test_every_graded_answer_of_the_issue_is_marked():
    marked = {name for answer in edition.answers() for name in answer.names}
    expected = {"VanillaRNNCell", "LSTMCell", "PeepholeLSTMCell", "GRUCell", "bptt_vanilla_rnn",
                "SGD", "RMSProp", "Adam", "count_lstm_parameters", "gradient_norms_over_time",
                "cell_gradient_norms", "greedy_ids", "sample_with_inverse_temperature",
                "complete", "beam_search", "beam_search_ids", "GCNConv", "GATConv",
                "GraphConvLSTMCell", "gcn_normalize", "self_loop_adjacency",
                "propagation_steps"}
    assert expected <= marked, expected - marked
    assert {answer.qid for answer in edition.answers()} <= set(QUESTIONS)


def test_the_built_wheel_holds_no_answer(wheel):
    assert edition.check_student_wheel(wheel) == []
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        text = archive.read("course_kit/layers/recurrent.py").decode()
    assert "course_kit/data/files/grimms_lstm128.keras" in names
    assert "ops.tanh(ops.matmul(inputs, self.W_hx)" not in text
    assert not any(name.startswith(("grader/", "solutions/", "tests/")) for name in names)


def test_a_wheel_with_an_answer_put_back_fails_the_check(wheel, tmp_path):
    full = (ROOT / "course_kit" / "layers" / "recurrent.py").read_text()
    problems = edition.check_student_wheel(
        _rewrite(wheel, tmp_path / wheel.name, {"course_kit/layers/recurrent.py": full}))
    assert any("VanillaRNNCell is not its stub" in p for p in problems), problems
    assert any("body(ies) of the answer are in the wheel" in p for p in problems), problems


def test_an_answer_hidden_under_another_name_fails_the_check(wheel, tmp_path):
    answer = next(a for a in edition.answers() if a.names == ("count_lstm_parameters",))
    with zipfile.ZipFile(wheel) as archive:
        plots = archive.read("course_kit/plots/text.py").decode()
    hidden = plots + "\n\n" + answer.source.replace("count_lstm_parameters", "_layout_size")
    problems = edition.check_student_wheel(
        _rewrite(wheel, tmp_path / wheel.name, {"course_kit/plots/text.py": hidden}))
    assert problems == ["q1_5 course_kit/training/parameters.py:count_lstm_parameters: "
                        "1 body(ies) of the answer are in the wheel"]


def test_a_wheel_built_from_an_older_kit_is_stale(wheel, tmp_path):
    kit = tmp_path / "course_kit"
    shutil.copytree(ROOT / "course_kit", kit, ignore=shutil.ignore_patterns("__pycache__"))
    with open(kit / "plots" / "text.py", "a") as handle:
        handle.write("\n# edited after the release\n")
    problems = edition.check_student_wheel(wheel, kit)
    assert len(problems) == 1 and "is stale" in problems[0]


def test_a_missing_wheel_is_reported():
    assert "run `python -m grader release`" in edition.check_student_wheel(None)[0]


@pytest.mark.parametrize("text, message", [
    ("# BEGIN ANSWER q1_2\ndef f():\n    return 1\n", "never closed"),
    ("# BEGIN ANSWER q1_2\n# BEGIN ANSWER q1_6\n", "opens inside region q1_2"),
    ("# END ANSWER\n", "without a BEGIN"),
    ("# BEGIN ANSWER q1_2\nx = 1\n# END ANSWER\n", "only whole functions and classes"),
    ("    # BEGIN ANSWER q1_2\n", "must start the line"),
    ("# BEGIN ANSWER q9_9\ndef f():\n    return 1\n# END ANSWER\n", "not a question"),
])
def test_a_malformed_region_is_a_loud_error(text, message):
    with pytest.raises(edition.MalformedAnswer, match=message):
        edition.strip_answers(text, "course_kit/example.py")


def test_a_stub_keeps_the_contract_and_names_question_and_notebook():
    source = ('# BEGIN ANSWER q1_2\n@decorate(package="x")\nclass Cell(Base):\n'
              '    """The contract."""\n\n    def call(self, x):\n        return x\n'
              '# END ANSWER\nAFTER = 1\n')
    tree = ast.parse(edition.strip_answers(source, "course_kit/example.py"))
    cell, after = tree.body
    assert ast.unparse(cell.decorator_list[0]) == "decorate(package='x')"
    assert ast.get_docstring(cell) == "The contract."
    assert ast.unparse(cell.body[1]) == (
        "def __init__(self, *args, **kwargs):\n    raise NotImplementedError('q1_2: write Cell "
        "in notebook 02 (02_vanilla_rnn.ipynb)')")
    assert ast.unparse(after) == "AFTER = 1"


_STUDENT_SCRIPT = """
import course_kit, json, sys
from course_kit.layers import GCNConv, VanillaRNNCell, gcn_normalize
from course_kit.training import count_lstm_parameters
from course_kit.sampling import beam_search_ids
from course_kit.models import load_pretrained_text_model
raised = {}
for name, call in [("VanillaRNNCell", lambda: VanillaRNNCell(3)), ("GCNConv", lambda: GCNConv(2)),
                   ("gcn_normalize", lambda: gcn_normalize([[0, 1], [1, 0]])),
                   ("count_lstm_parameters", lambda: count_lstm_parameters(1, 2, 3)),
                   ("beam_search_ids", lambda: beam_search_ids(None, 0, 3, 2))]:
    try:
        call()
    except NotImplementedError as error:
        raised[name] = str(error)
model = load_pretrained_text_model()
print(json.dumps({"edition": course_kit.EDITION, "file": course_kit.__file__,
                  "raised": raised, "model": type(model).__name__}))
"""


def test_the_student_edition_imports_and_every_answer_raises(student_kit):
    import json

    env = {**os.environ, "PYTHONPATH": str(student_kit), "KERAS_BACKEND": "jax"}
    result = subprocess.run([sys.executable, "-c", _STUDENT_SCRIPT], capture_output=True,
                            text=True, env=env, cwd=student_kit, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["edition"] == "student"
    assert report["file"].startswith(str(student_kit))
    assert report["model"] == "TextGenerationModel"
    assert report["raised"] == {
        "VanillaRNNCell": "q1_2: write VanillaRNNCell in notebook 02 (02_vanilla_rnn.ipynb)",
        "GCNConv": "q3_1: write GCNConv in notebook 09 (09_gcn.ipynb)",
        "gcn_normalize": "q3_1: write gcn_normalize in notebook 09 (09_gcn.ipynb)",
        "count_lstm_parameters": "q1_5: write count_lstm_parameters in notebook 04 "
                                 "(04_lstm.ipynb)",
        "beam_search_ids": "q2_5: write beam_search_ids in notebook 08 (08_sampling.ipynb)",
    }


def test_the_jail_stages_the_student_edition(tmp_path):
    from grader import jail

    jail.stage_runtime(tmp_path)
    staged = tmp_path / "kit" / "course_kit"
    assert 'EDITION = "student"' in (staged / "_edition.py").read_text()
    recurrent = (staged / "layers" / "recurrent.py").read_text()
    assert "raise NotImplementedError('q1_2: write VanillaRNNCell" in recurrent
    assert "self.W_hx = self._input_weight" not in recurrent


def test_a_cell_that_takes_the_kits_answer_in_the_jail_gets_the_stub(backend):
    """Past the source policy (not applied here), the kit inside the jail is the student
    edition: its answer raises, and the question scores nothing."""
    from grader import references
    from grader.registry import QUESTIONS
    from grader.sandbox import Task, run_tasks

    question = QUESTIONS["q1_2"]
    inputs, _ = references.load("q1_2")
    borrow = "from course_kit.layers import VanillaRNNCell\n"
    (outcome,) = run_tasks([Task("q1_2", question.probe, [{"id": "q1_2", "source": borrow}],
                                 inputs)], {}, backend=backend, device="cpu")
    assert outcome.status == "error"
    assert ("q1_2: write VanillaRNNCell in notebook 02 (02_vanilla_rnn.ipynb)"
            in outcome.header["error_message"])

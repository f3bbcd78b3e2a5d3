"""The solution notebooks run against the student edition of the kit, where every answer
raises: besides the visible checks, they use only the student's own code, Keras and the parts
of the kit that are not answers.

Executing them is CI's ``pytest --nbval-lax solutions/`` run (with the student edition on
``PYTHONPATH`` for this guarantee); this test reads their code, so it catches a kit answer
brought back into a notebook in seconds."""

import ast
from pathlib import Path

import nbformat
import pytest

from grader.edition import answers

SOLUTIONS = Path(__file__).resolve().parent.parent / "solutions"
NOTEBOOKS = sorted(path.name for path in SOLUTIONS.glob("*.ipynb"))
ANSWER_NAMES = {name for answer in answers() for name in answer.names}

#: Kit callables that build kit answers unless told to use something else.
NEEDS_KEYWORD = {
    "GCNNodeClassifier": "conv",  # else the kit's GCNConv
    "GATNodeClassifier": "conv",  # else the kit's GATConv
    "compare_forecasters": "cell",  # else the kit's GraphConvLSTMCell
    "graph_lstm_forecaster": "cell",
}
#: Kit callables whose cell, given as a name, is a kit answer (make_cell: also a name held in a
#: variable; SequenceClassifier's variables usually hold a cell, which is fine).
CELL_BY_NAME = {"make_cell": 0, "SequenceClassifier": 0}


def _code(name):
    """The notebook's code cells as one module (the cells share one namespace)."""
    notebook = nbformat.read(SOLUTIONS / name, as_version=4)
    source = "\n".join(cell.source for cell in notebook.cells if cell.cell_type == "code")
    return ast.parse("\n".join(line for line in source.splitlines()
                               if not line.lstrip().startswith(("%", "!"))))


def _kit_answer_uses(tree):
    """What the code takes from the kit that the student edition does not have."""
    imported = {}  # local name -> kit name
    defined = set()  # classes, functions and imports: what a cell argument may name
    problems = []
    for node in ast.walk(tree):
        if isinstance(node, (ast.ClassDef, ast.FunctionDef)):
            defined.add(node.name)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            defined.update((alias.asname or alias.name).split(".")[0] for alias in node.names)
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("course_kit"):
            if node.module.startswith("course_kit.checks"):
                continue  # the visible checks: another engineer's, and allowed to use fixtures
            for alias in node.names:
                if alias.name in ANSWER_NAMES:
                    problems.append(f"imports the kit's answer {alias.name} from {node.module}")
                imported[alias.asname or alias.name] = alias.name
        elif isinstance(node, ast.Attribute) and node.attr in ANSWER_NAMES:
            base = node.value
            while isinstance(base, ast.Attribute):
                base = base.value
            if isinstance(base, ast.Name) and base.id == "course_kit":
                problems.append(f"uses the kit's answer course_kit...{node.attr}")
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)):
            continue
        kit_name = imported.get(node.func.id)
        keywords = {keyword.arg for keyword in node.keywords}
        if kit_name in NEEDS_KEYWORD and NEEDS_KEYWORD[kit_name] not in keywords:
            problems.append(f"{kit_name}(...) without {NEEDS_KEYWORD[kit_name]}= builds a kit "
                            "answer")
        if kit_name in CELL_BY_NAME and len(node.args) > CELL_BY_NAME[kit_name]:
            cell = node.args[CELL_BY_NAME[kit_name]]
            if isinstance(cell, ast.Constant) and isinstance(cell.value, str):
                problems.append(f"{kit_name}({cell.value!r}, ...) builds the kit's answer cell")
            elif kit_name == "make_cell" and isinstance(cell, ast.Name) and cell.id not in defined:
                problems.append(f"{kit_name}({cell.id}, ...): a cell name in a variable builds "
                                "the kit's answer cell")
    return problems


@pytest.mark.backend_independent
def test_the_answer_list_is_the_one_the_student_edition_strips():
    assert {"VanillaRNNCell", "LSTMCell", "GRUCell", "PeepholeLSTMCell", "GCNConv", "GATConv",
            "GraphConvLSTMCell", "gcn_normalize", "gradient_norms_over_time",
            "count_lstm_parameters", "greedy_ids", "beam_search"} <= ANSWER_NAMES


@pytest.mark.backend_independent
@pytest.mark.parametrize("name", NOTEBOOKS)
def test_solution_notebook_uses_no_kit_answer(name):
    problems = _kit_answer_uses(_code(name))
    assert not problems, f"{name} would fail in the student edition:\n" + "\n".join(problems)


@pytest.mark.backend_independent
def test_the_scan_finds_kit_answers():
    cells = {
        "from course_kit.layers import VanillaRNNCell": "VanillaRNNCell",
        "import course_kit\ncourse_kit.training.gradient_norms_over_time(m, b)":
            "gradient_norms_over_time",
        "from course_kit.models import make_cell\nmake_cell('lstm', 4)": "'lstm'",
        "from course_kit.models.graph import GATNodeClassifier as G\nG(7)": "conv=",
        "from course_kit.experiments.spatiotemporal import compare_forecasters\n"
        "compare_forecasters(task)": "cell=",
        "from course_kit.models import make_cell\nfor name in ('rnn',):\n"
        "    make_cell(name, 4)": "variable",
    }
    for source, expected in cells.items():
        problems = _kit_answer_uses(ast.parse(source))
        assert len(problems) == 1 and expected in problems[0], (source, problems)
    allowed = ("from course_kit.models import SequenceClassifier, make_cell\n"
               "import keras\n"
               "SequenceClassifier(keras.layers.LSTMCell(4), 2)\n"
               "make_cell(keras.layers.GRUCell, 4)\n"
               "class OwnCell: pass\n"
               "SequenceClassifier(OwnCell, 2, units=4)\n"
               "from course_kit.models.graph import GCNNodeClassifier\n"
               "GCNNodeClassifier(7, conv=GCNConv)\n"
               "from course_kit.checks import check_cell\n")
    assert _kit_answer_uses(ast.parse(allowed)) == []

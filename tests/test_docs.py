"""The documentation site: it builds with ``mkdocs build --strict``, its generated tables say
what the committed data say, and the README stays short and points at pages that exist."""

import csv
import json
import math
import os
import re
import statistics
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
README_MAX_LINES = 200
TEST_COMMAND = "KERAS_BACKEND=tensorflow python -m pytest"
MODEL_NAMES = {"rnn": "vanilla RNN", "lstm": "LSTM", "peephole_lstm": "peephole LSTM", "gru": "GRU"}
RUN_FILES = ("runs_2019.csv", "runs_2020.csv", "runs_2020_full.csv")

pytestmark = pytest.mark.backend_independent


class _Tables(HTMLParser):
    """Every table of an HTML page as a list of rows of cell texts."""

    def __init__(self):
        super().__init__()
        self.tables, self._row, self._cell = [], None, None

    def handle_starttag(self, tag, attrs):
        if tag == "table":
            self.tables.append([])
        elif tag == "tr":
            self._row = []
        elif tag in ("td", "th"):
            self._cell = ""

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell is not None:
            self._row.append(" ".join(self._cell.split()))
            self._cell = None
        elif tag == "tr" and self._row is not None:
            self.tables[-1].append(self._row)
            self._row = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell += data


def _tables(site, page):
    parser = _Tables()
    parser.feed((site / page / "index.html").read_text(encoding="utf-8"))
    return parser.tables


def _rows(site, page):
    return [row for table in _tables(site, page) for row in table]


def _read_csv(path):
    with open(path, newline="", encoding="utf-8") as stream:
        return list(csv.DictReader(stream))


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    try:
        import mkdocs  # noqa: F401
    except ImportError:
        if os.environ.get("CI"):
            raise
        pytest.skip("mkdocs is not installed (pip install -e '.[docs]')")
    out = tmp_path_factory.mktemp("site")
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    build = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--config-file",
         str(ROOT / "mkdocs.yml"), "--site-dir", str(out)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=600,
    )
    log = build.stdout + build.stderr
    assert build.returncode == 0, log[-5000:]
    warnings = [line for line in log.splitlines() if line.startswith(("WARNING", "ERROR"))]
    assert not warnings, warnings
    return out


def test_site_has_every_page_and_notebook(site):
    for page in ("student/guide", "instructor/grading", "results/recurrent", "results/benchmarks",
                 "reference/layers", "reference/grader"):
        assert (site / page / "index.html").is_file(), page
    for notebook in sorted((ROOT / "notebooks").glob("*.ipynb")):
        rendered = site / "notebooks" / notebook.stem / "index.html"
        assert rendered.is_file(), f"{notebook.name} is not rendered"


def test_api_reference_is_generated_from_the_docstrings(site):
    html = (site / "reference" / "layers" / "index.html").read_text(encoding="utf-8")
    for name in ("VanillaRNNCell", "LSTMCell", "GCNConv", "GATConv"):
        assert f'id="course_kit.layers.{name}"' in html, name


@pytest.mark.parametrize("name", RUN_FILES)
def test_run_summaries_match_the_csv(site, name):
    rows = _rows(site, "results/recurrent")
    runs = _read_csv(ROOT / "docs" / "part1" / name)
    groups = {}
    for run in runs:
        groups.setdefault((run["model"], run["length"]), []).append(run)
    for (model, length), group in groups.items():
        group.sort(key=lambda run: int(run["seed"]))
        accuracy = [float(run["held_out_accuracy"]) for run in group]
        summary = f"{statistics.fmean(accuracy):.3f} ± {statistics.pstdev(accuracy):.3f}"
        per_seed = ", ".join(f"{value:.3f}" for value in accuracy)
        prefix = [MODEL_NAMES[model], length, ", ".join(run["seed"] for run in group)]
        matching = [row for row in rows if row[:3] == prefix and row[-2:] == [summary, per_seed]]
        assert matching, f"{name}: no summary row {prefix + [summary, per_seed]}"


@pytest.mark.parametrize("name", RUN_FILES)
def test_every_run_is_listed(site, name):
    runs = _read_csv(ROOT / "docs" / "part1" / name)
    header = [column.replace("_", " ") for column in runs[0]]
    tables = [t for t in _tables(site, "results/recurrent") if t[0] == header and len(t) == len(runs) + 1]
    assert tables, f"no table of every run in {name}"
    for run, row in zip(runs, tables[0][1:], strict=True):
        for value, cell in zip(run.values(), row, strict=True):
            if value == "":
                assert cell == "–", (run, row)
            elif re.fullmatch(r"-?[\d.]+(e-?\d+)?", value):
                assert math.isclose(float(cell), float(value), rel_tol=1e-3), (run, row)
            else:
                assert cell == value, (run, row)


def test_gradient_norm_table_matches_the_csv(site):
    norms = {int(row["t"]): row for row in _read_csv(ROOT / "docs" / "part1" / "gradient_norms_2019.csv")}
    rows = {row[0]: row[1:] for row in _rows(site, "results/recurrent") if row}
    for t in (100, 1):
        rnn, lstm = (float(cell) for cell in rows[str(t)])
        assert math.isclose(rnn, float(norms[t]["rnn"]), rel_tol=1e-2)
        assert math.isclose(lstm, float(norms[t]["lstm"]), rel_tol=1e-2)
    (factors,) = [cells for label, cells in rows.items() if label.startswith("shrink factor")]
    expected = [float(norms[100][m]) / float(norms[1][m]) for m in ("rnn", "lstm")]
    assert all(math.isclose(float(f), e, rel_tol=0.05) for f, e in zip(factors, expected, strict=True))


def test_points_table_is_the_registry(site):
    from grader.registry import QUESTIONS

    rows = {row[0]: row for row in _rows(site, "instructor/questions") if len(row) == 6}
    for qid, question in QUESTIONS.items():
        assert rows[qid][-2:] == [f"{question.auto_points:g}", f"{question.manual_points:g}"], qid


def test_red_team_table_counts_the_corpus(site):
    cases = json.loads((ROOT / "tests" / "submissions" / "expected.json").read_text())["cases"]
    rows = {row[0]: row[1] for row in _rows(site, "instructor/red_team") if len(row) == 2}
    assert rows["total"] == str(len(cases))


def test_readme_is_short_and_keeps_the_test_command():
    lines = (ROOT / "README.md").read_text(encoding="utf-8").splitlines()
    assert len(lines) <= README_MAX_LINES, f"README.md has {len(lines)} lines"
    assert any(line.startswith(TEST_COMMAND) for line in lines), "CI runs the README's test command"


def test_readme_links_resolve():
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    targets = re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", text)
    assert targets
    missing = [t for t in targets if "://" not in t and not (ROOT / t).exists()]
    assert not missing, missing

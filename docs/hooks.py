"""MkDocs hooks of the course-kit site (registered under ``hooks:`` in ``mkdocs.yml``).

Two jobs:

* **Tables from committed data.** A page holds a marker on a line of its own,

      <!-- table: KIND [PATH] [option=value ...] -->

  where ``PATH`` is relative to ``docs/``; the marker is replaced by a Markdown table built at
  build time, so no number in those tables is copied by hand. Kinds:

  ``runs``
      one row per model and sequence length of a ``runs*.csv`` written by
      ``python -m course_kit.experiments palindrome``: held-out accuracy (mean and
      population std over the seeds, and each seed's value) and, with ``show=steps,accuracy``,
      the steps to convergence.
  ``csv``
      the CSV as it is (``columns=a,b`` keeps those columns).
  ``gradient-norms``
      the rows of a gradient-norm CSV at the steps listed in ``at=100,50,1``, and the factor
      by which each norm shrinks between the first and the last of them.
  ``red-team``
      the number of cases per category in the red-team corpus's ``expected.json``.
  ``questions`` (no path)
      every question of ``grader.registry``: its notebook, its automatic checks with their
      points, and the points of its rubric, so the points on the site are the grader's.

  A marker that cannot be read, or a file that is missing or malformed, stops the build.

* **The student notebooks.** ``notebooks/*.ipynb`` lives at the repository root, outside
  ``docs/``. The hook adds each notebook to the site's files (mkdocs-jupyter renders it) and to
  the navigation, right after the notebooks' overview page, so a new notebook appears without
  editing ``mkdocs.yml``.
"""

from __future__ import annotations

import csv
import json
import re
import statistics
import sys
from collections import Counter
from pathlib import Path

from mkdocs.exceptions import PluginError
from mkdocs.plugins import event_priority
from mkdocs.structure.files import File

NOTEBOOKS_DIR = "notebooks"
# The navigation entry after which the rendered notebooks are listed.
NOTEBOOK_OVERVIEW = "student/notebooks.md"

MODEL_NAMES = {
    "rnn": "vanilla RNN",
    "lstm": "LSTM",
    "peephole_lstm": "peephole LSTM",
    "gru": "GRU",
}
MISSING = "–"

MARKER = re.compile(r"^(?P<indent>[ \t]*)<!--\s*table:(?P<body>.*?)-->[ \t]*$", re.MULTILINE)
MARKER_BODY = re.compile(
    r"^\s*(?P<kind>[\w-]+)(?:\s+(?P<path>[^\s=]+))?(?P<options>(?:\s+[\w-]+=\S+)*)\s*$")


# --- the student notebooks -----------------------------------------------------------------


def _notebooks(config) -> list[str]:
    root = Path(config.config_file_path).resolve().parent
    return sorted(f"{NOTEBOOKS_DIR}/{path.name}" for path in (root / NOTEBOOKS_DIR).glob("*.ipynb"))


def _insert_after(nav, entry, extra) -> bool:
    """Insert ``extra`` after ``entry`` in the (nested) navigation list ``nav``."""
    for index, item in enumerate(nav):
        value = next(iter(item.values())) if isinstance(item, dict) else item
        if value == entry:
            nav[index + 1:index + 1] = extra
            return True
        if isinstance(value, list) and _insert_after(value, entry, extra):
            return True
    return False


def on_config(config):
    notebooks = _notebooks(config)
    if not notebooks:
        raise PluginError(f"no notebooks found in {NOTEBOOKS_DIR}/")
    if config.nav is not None and not _insert_after(config.nav, NOTEBOOK_OVERVIEW, notebooks):
        raise PluginError(f"mkdocs.yml: the navigation has no entry {NOTEBOOK_OVERVIEW}")
    return config


@event_priority(50)  # before mkdocs-jupyter turns .ipynb files into pages
def on_files(files, config):
    root = str(Path(config.config_file_path).resolve().parent)
    for path in _notebooks(config):
        files.append(File(path, root, config.site_dir, config.use_directory_urls))
    return files


# --- tables from CSV files -----------------------------------------------------------------


def _read_csv(path: Path) -> list[dict[str, str]]:
    try:
        with open(path, newline="", encoding="utf-8") as stream:
            rows = list(csv.DictReader(stream))
    except OSError as error:
        raise PluginError(f"cannot read {path}: {error}") from error
    if not rows:
        raise PluginError(f"{path}: no rows")
    return rows


def _require(rows, columns, path):
    absent = [c for c in columns if c not in rows[0]]
    if absent:
        raise PluginError(f"{path}: no column {', '.join(absent)}")


def _markdown_table(header, rows, align=None) -> list[str]:
    align = align or ["---"] * len(header)
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(align) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return lines


def format_number(text: str) -> str:
    """A CSV cell for a table: integers as they are, other numbers to 4 significant digits."""
    if text == "":
        return MISSING
    try:
        return str(int(text))
    except ValueError:
        pass
    try:
        value = float(text)
    except ValueError:
        return text
    return f"{value:.4g}"


def mean_std(values, digits: int) -> str:
    """``mean ± std`` with the population standard deviation (ddof 0)."""
    return f"{statistics.fmean(values):.{digits}f} ± {statistics.pstdev(values):.{digits}f}"


def runs_table(rows, path, show=("accuracy",)) -> list[str]:
    """Summary of a runs CSV: one row per (model, length), seeds in ascending order."""
    _require(rows, ("model", "length", "seed", "held_out_accuracy"), path)
    groups: dict[tuple[str, int], list[dict]] = {}
    for row in rows:
        groups.setdefault((row["model"], int(row["length"])), []).append(row)
    model_order = list(dict.fromkeys(row["model"] for row in rows))
    keys = sorted(groups, key=lambda key: (model_order.index(key[0]), key[1]))

    header = ["model", "T", "seeds"]
    if "steps" in show:
        _require(rows, ("steps_to_convergence", "steps_run"), path)
        header += ["steps to convergence, mean ± std", "per seed"]
    if "accuracy" in show:
        header += ["held-out accuracy, mean ± std", "per seed"]
    body = []
    for model, length in keys:
        runs = sorted(groups[model, length], key=lambda row: int(row["seed"]))
        line = [MODEL_NAMES.get(model, model), str(length), ", ".join(r["seed"] for r in runs)]
        if "steps" in show:
            steps = [int(r["steps_to_convergence"]) for r in runs if r["steps_to_convergence"]]
            if steps:
                summary = f"{statistics.fmean(steps):.0f} ± {statistics.pstdev(steps):.0f}"
            else:
                summary = f"none within {max(int(r['steps_run']) for r in runs)}"
            line += [f"{summary} ({len(steps)} of {len(runs)})",
                     ", ".join(r["steps_to_convergence"] or MISSING for r in runs)]
        if "accuracy" in show:
            accuracy = [float(r["held_out_accuracy"]) for r in runs]
            line += [mean_std(accuracy, 3), ", ".join(f"{a:.3f}" for a in accuracy)]
        body.append(line)
    return _markdown_table(header, body)


def csv_table(rows, path, columns=None) -> list[str]:
    columns = columns or list(rows[0])
    _require(rows, columns, path)
    header = [column.replace("_", " ") for column in columns]
    return _markdown_table(header, [[format_number(row[c]) for c in columns] for row in rows])


def gradient_norms_table(rows, path, at) -> list[str]:
    step, *series = list(rows[0])
    by_step = {int(row[step]): row for row in rows}
    absent = [t for t in at if t not in by_step]
    if absent:
        raise PluginError(f"{path}: no row for {step} = {', '.join(map(str, absent))}")
    header = [step] + [MODEL_NAMES.get(name, name) for name in series]
    body = [[str(t)] + [f"{float(by_step[t][name]):.2e}" for name in series] for t in at]
    first, last = at[0], at[-1]
    body.append([f"shrink factor, {step} = {first} to {last}"]
                + [f"{float(by_step[first][n]) / float(by_step[last][n]):.1e}" for n in series])
    return _markdown_table(header, body, ["---:"] * len(header))


def _cell(text) -> str:
    return str(text).replace("|", "\\|")


def _points(value) -> str:
    return f"{value:g}"


def questions_table(root: Path) -> list[str]:
    """The questions of the grader's registry with their checks and points."""
    if str(root) not in sys.path:
        sys.path.insert(0, str(root))
    from grader.registry import QUESTIONS  # light: the registry never imports Keras

    header = ["question", "notebook", "title", "automatic checks (points)", "automatic",
              "manual"]
    body, auto_total, manual_total = [], 0.0, 0.0
    for qid, question in QUESTIONS.items():
        checks = "; ".join(f"{check.name} ({_points(check.points)})" for check in question.checks)
        title = question.title + ("" if "bonus" in question.title or not question.bonus
                                  else " (bonus)")
        body.append([qid, question.notebook.removesuffix(".ipynb")[:2], _cell(title),
                     _cell(checks) or MISSING, _points(question.auto_points),
                     _points(question.manual_points)])
        if not question.bonus:
            auto_total += question.auto_points
            manual_total += question.manual_points
    body.append(["total", "", "without the bonus questions", "", _points(auto_total),
                 _points(manual_total)])
    return _markdown_table(header, body, ["---", "---", "---", "---", "---:", "---:"])


def red_team_table(path: Path, relative: str) -> list[str]:
    """Cases per category of the red-team corpus (``expected.json``), the largest first."""
    try:
        cases = json.loads(path.read_text(encoding="utf-8"))["cases"]
        counts = Counter(case["category"] for case in cases.values())
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as error:
        raise PluginError(f"cannot read the red-team cases of {relative}: {error!r}") from error
    body = [[_cell(category), str(count)]
            for category, count in sorted(counts.items(), key=lambda item: (-item[1], item[0]))]
    body.append(["total", str(sum(counts.values()))])
    return _markdown_table(["category", "cases"], body, ["---", "---:"])


def _options(text: str, where: str) -> dict[str, str]:
    options = dict(pair.split("=", 1) for pair in text.split())
    known = {"show", "columns", "at"}
    if set(options) - known:
        raise PluginError(f"{where}: unknown option {', '.join(sorted(set(options) - known))}")
    return options


def render_marker(body: str, root: Path, docs_dir: Path, where: str) -> list[str]:
    """The Markdown lines that replace one marker (``body`` is the text after ``table:``);
    ``root`` is the repository root, ``docs_dir`` the folder CSV paths are relative to."""
    match = MARKER_BODY.match(body)
    if not match:
        raise PluginError(f"{where}: cannot read the table marker {body.strip()!r}; "
                          "expected 'KIND PATH [option=value ...]'")
    kind, relative = match["kind"], match["path"]
    options = _options(match["options"], where)
    if kind == "questions":
        return questions_table(root)
    if relative is None:
        raise PluginError(f"{where}: the table kind {kind!r} needs a CSV path")
    path = docs_dir / relative
    if kind == "red-team":
        return red_team_table(path, relative)
    rows = _read_csv(path)
    if kind == "runs":
        show = tuple(options.get("show", "accuracy").split(","))
        if set(show) - {"steps", "accuracy"}:
            raise PluginError(f"{where}: show= takes steps and accuracy")
        return runs_table(rows, relative, show)
    if kind == "csv":
        columns = options["columns"].split(",") if "columns" in options else None
        return csv_table(rows, relative, columns)
    if kind == "gradient-norms":
        if "at" not in options:
            raise PluginError(f"{where}: gradient-norms needs at=STEP,STEP,...")
        return gradient_norms_table(rows, relative, [int(t) for t in options["at"].split(",")])
    raise PluginError(f"{where}: unknown table kind {kind!r} "
                      "(runs, csv, gradient-norms, red-team, questions)")


def on_page_markdown(markdown, page, config, files):
    root, docs_dir = Path(config.config_file_path).resolve().parent, Path(config.docs_dir)

    def replace(match):
        where = page.file.src_uri
        lines = render_marker(match["body"], root, docs_dir, where)
        return "\n".join(match["indent"] + line for line in lines)

    markdown = MARKER.sub(replace, markdown)
    if "<!-- table:" in markdown:
        raise PluginError(f"{page.file.src_uri}: a table marker must stand on a line of its own")
    return markdown

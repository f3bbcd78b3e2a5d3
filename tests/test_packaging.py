"""Packaging: light import, dependency lists kept consistent, data shipped in the wheel."""

import ast
import os
import re
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
FRAMEWORKS = {"tensorflow": "tensorflow", "jax": "jax", "torch": "torch"}
# The only library modules allowed to call a framework directly (see the design notes).
INTEROP_MODULES = {"course_kit/autodiff.py", "course_kit/layers/jax_random.py",
                   "course_kit/layers/tensorflow_sparse.py", "course_kit/seeding.py"}


def _run_python(code, backend):
    env = {**os.environ, "KERAS_BACKEND": backend, "TF_CPP_MIN_LOG_LEVEL": "3"}
    return subprocess.run([sys.executable, "-c", code], env=env, cwd=ROOT, capture_output=True, text=True, check=True)


def _frameworks_loaded_by(statement, backend):
    code = f"import sys; {statement}; print(','.join(m for m in {tuple(FRAMEWORKS)} if m in sys.modules))"
    return set(filter(None, _run_python(code, backend).stdout.strip().split(",")))


@pytest.mark.parametrize("backend", sorted(FRAMEWORKS))
def test_import_course_kit_loads_no_framework_beyond_keras(backend):
    by_keras = _frameworks_loaded_by("import keras", backend)
    by_kit = _frameworks_loaded_by("import course_kit, course_kit.data, course_kit.layers", backend)
    assert FRAMEWORKS[backend] in by_keras
    assert by_kit <= by_keras, f"course_kit on {backend} also imported {by_kit - by_keras}"


def test_import_course_kit_alone_loads_no_framework():
    code = "import sys, course_kit; print([m for m in ('keras', 'tensorflow', 'jax', 'torch') if m in sys.modules])"
    assert _run_python(code, "jax").stdout.strip() == "[]"


def _imported_modules(tree):
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            yield node.module


@pytest.mark.backend_independent
def test_frameworks_are_imported_only_in_the_interop_modules():
    offenders = []
    for path in sorted((ROOT / "course_kit").rglob("*.py")):
        module = path.relative_to(ROOT).as_posix()
        frameworks = {
            name.split(".")[0]
            for name in _imported_modules(ast.parse(path.read_text()))
            if name.split(".")[0] in FRAMEWORKS
        }
        if frameworks and module not in INTEROP_MODULES:
            offenders.append(f"{module} imports {sorted(frameworks)}")
    assert not offenders, offenders


def _requirement_name(spec):
    return re.split(r"[<>=!~\[ ;]", spec.strip(), maxsplit=1)[0].lower().replace("_", "-")


def _environment_yml_packages():
    text = (ROOT / "environment.yml").read_text()
    conda, pip = set(), set()
    section = None
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith("dependencies:"):
            section = "conda"
        elif stripped == "- pip:":
            section = "pip"
        elif stripped.startswith("- ") and section:
            target = pip if section == "pip" and line.startswith("      ") else conda
            target.add(stripped[2:].strip())
    return conda, pip


@pytest.mark.backend_independent
def test_environment_yml_matches_pyproject():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = {_requirement_name(s) for s in project["dependencies"] + project["optional-dependencies"]["dev"]}
    conda, pip = _environment_yml_packages()
    assert any(s.startswith("python=3.11") for s in conda)
    assert "-e .[dev]" in pip or "-e .[dev]".replace(" ", "") in pip
    listed = {_requirement_name(s) for s in (conda | pip) if not s.startswith(("python", "pip", "-e"))}
    assert listed == wanted, f"only in pyproject: {wanted - listed}; only in environment.yml: {listed - wanted}"
    torch_pins = [s for s in conda | pip if _requirement_name(s) == "torch"]
    assert torch_pins == ["torch==2.13.0"]


@pytest.mark.backend_independent
def test_built_wheel_contains_the_bundled_data(tmp_path):
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-w", str(tmp_path), str(ROOT)],
        check=True,
        capture_output=True,
    )
    (wheel,) = tmp_path.glob("course_kit-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    data = ROOT / "course_kit" / "data" / "files"
    for path in data.iterdir():
        assert f"course_kit/data/files/{path.name}" in names

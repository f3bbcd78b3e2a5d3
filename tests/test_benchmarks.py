"""The benchmark scripts' own machinery on tiny inputs: no timing is asserted."""

import importlib.util
import sys
from pathlib import Path

import keras
import pytest

ROOT = Path(__file__).resolve().parents[1]


def load(name):
    spec = importlib.util.spec_from_file_location(f"benchmark_{name}", ROOT / "benchmarks" /
                                                  f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def graph_layers():
    return load("graph_layers")


def test_steps_run_interleaved_in_blocks(graph_layers):
    calls = []
    steps = {name: (lambda name=name: calls.append(name)) for name in "ab"}
    medians = graph_layers.median_step_seconds(steps, epochs=4, warmup=1, block=2)
    assert set(medians) == {"a", "b"}
    assert calls == ["a", "b"] + ["a", "a", "b", "b"] * 2


def test_graph_csv_becomes_a_docs_table(graph_layers, tmp_path):
    sys.path.insert(0, str(ROOT / "docs"))
    try:
        import hooks
    finally:
        sys.path.remove(str(ROOT / "docs"))
    row = {"model": "gcn", "harness": "layer", "implementation": "course_kit / torch",
           "ms_per_epoch": "5.00", "vs_anchor": "0.90", "anchor": "PyG 2.8.1 / torch",
           "peak_mib": "700", "growth_mib": "", "load": "1.50"}
    graph_layers.write_csv(tmp_path / "graph_epochs.csv", graph_layers.EPOCH_FIELDS, [row])
    lines = hooks.render_marker("csv graph_epochs.csv", ROOT, tmp_path, "test")
    assert lines[0].startswith("| model | harness | implementation | ms per epoch")
    assert lines[2] == "| gcn | layer | course_kit / torch | 5 | 0.9 | PyG 2.8.1 / torch | 700 | – | 1.5 |"


@pytest.mark.skipif(keras.backend.backend() != "torch", reason="PyG runs beside Keras' torch")
def test_pyg_and_course_kit_steps_train_on_torch(graph_layers):
    # The dev extra installs PyG (it is the bench extra's), so a missing install fails here.
    for harness in graph_layers.HARNESSES:
        for side in ("pyg", "course_kit"):
            graph_layers.STEPS[side]("gat", harness)()

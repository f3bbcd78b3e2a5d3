"""Citation graphs (statistics exactly as published), example graphs, bundled-data integrity."""

import shutil

import networkx as nx
import numpy as np
import pytest

import course_kit.data.bundled as bundled
from course_kit.data import CorruptDataError, example_graph, load_citation, load_corpus

PLANETOID = {
    # nodes, undirected edges, features, classes, train, val, test
    "cora": (2708, 5278, 1433, 7, 140, 500, 1000),
    "citeseer": (3327, 4552, 3703, 6, 120, 500, 1000),
}


@pytest.mark.parametrize("name", sorted(PLANETOID))
def test_citation_statistics(name):
    g = load_citation(name)
    nodes, edges, features, classes, train, val, test = PLANETOID[name]
    assert (g.num_nodes, g.num_edges, g.num_features, g.num_classes) == (nodes, edges, features, classes)
    assert (g.train_mask.sum(), g.val_mask.sum(), g.test_mask.sum()) == (train, val, test)
    assert not (g.train_mask & g.val_mask).any()
    assert not (g.train_mask & g.test_mask).any()
    assert not (g.val_mask & g.test_mask).any()
    assert g.features.dtype == np.float32 and g.features.shape == (nodes, features)
    assert g.labels.shape == (nodes,) and g.labels.min() == 0 and g.labels.max() == classes - 1


@pytest.mark.parametrize("name", sorted(PLANETOID))
def test_citation_edges_are_symmetric_without_self_loops_or_duplicates(name):
    g = load_citation(name)
    src, dst = g.edge_index
    assert g.edge_index.shape == (2, 2 * g.num_edges)
    assert not np.any(src == dst)
    assert len({(int(u), int(v)) for u, v in zip(src, dst)}) == g.edge_index.shape[1]
    assert (g.adjacency != g.adjacency.T).nnz == 0
    assert g.adjacency.nnz == g.edge_index.shape[1]
    assert g.adjacency.diagonal().sum() == 0


def test_training_set_has_twenty_nodes_per_class():
    g = load_citation("cora")
    np.testing.assert_array_equal(np.bincount(g.labels[g.train_mask]), [20] * 7)


def test_citeseer_missing_test_ids_are_in_no_split():
    g = load_citation("citeseer")
    assert len(g.missing_test_ids) == 15
    assert not (g.train_mask | g.val_mask | g.test_mask)[g.missing_test_ids].any()
    assert not g.features[g.missing_test_ids].any()
    assert len(load_citation("cora").missing_test_ids) == 0


def test_unknown_citation_graph():
    with pytest.raises(ValueError, match="unknown citation graph 'pubmed'"):
        load_citation("pubmed")


@pytest.mark.parametrize(
    "name, rows",
    [
        ("fall2019", ["110011", "111100", "011100", "011101", "100011", "100111"]),
        ("2020", ["110011", "110100", "001100", "011101", "100010", "100101"]),
    ],
)
def test_example_graphs_adjacency_plus_identity(name, rows):
    graph = example_graph(name)
    a_plus_i = nx.to_numpy_array(graph, nodelist=list("ABCDEF"), dtype=int) + np.eye(6, dtype=int)
    assert ["".join(map(str, row)) for row in a_plus_i] == rows


def test_unknown_example_graph():
    with pytest.raises(ValueError, match="unknown example graph"):
        example_graph("2021")


@pytest.fixture
def copied_bundle(tmp_path, monkeypatch):
    """A private copy of the bundled files that a test may damage."""
    folder = tmp_path / "files"
    shutil.copytree(bundled._folder(), folder)
    monkeypatch.setattr(bundled, "_folder", lambda: folder)
    bundled.bundled_files.cache_clear()
    yield folder
    bundled.bundled_files.cache_clear()


def test_every_bundled_file_matches_its_checksum():
    files = bundled.bundled_files()
    assert {"cora.npz", "citeseer.npz", "grimms.txt.xz"} <= set(files)
    for name in files:
        assert bundled.bundled_file(name).is_file()


def test_corrupt_file_is_detected(copied_bundle):
    path = copied_bundle / "cora.npz"
    data = bytearray(path.read_bytes())
    data[1000] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(CorruptDataError, match="cora.npz is corrupt"):
        load_citation("cora")


def test_missing_file_is_reported(copied_bundle):
    (copied_bundle / "grimms.txt.xz").unlink()
    with pytest.raises(FileNotFoundError, match="grimms.txt.xz is missing"):
        load_corpus("grimms")


def test_missing_checksum_list_is_reported(copied_bundle):
    (copied_bundle / "SHA256SUMS").unlink()
    with pytest.raises(FileNotFoundError, match="checksum list"):
        load_citation("cora")

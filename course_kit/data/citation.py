"""Citation graphs (Cora, CiteSeer) with the standard Planetoid split, from bundled arrays."""

from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp

from course_kit.data.bundled import bundled_file

__all__ = ["CITATION_GRAPHS", "CitationGraph", "load_citation"]

CITATION_GRAPHS = ("cora", "citeseer")


@dataclass(frozen=True, repr=False)
class CitationGraph:
    """A node-classification graph.

    Attributes:
        name: ``"cora"`` or ``"citeseer"``.
        features: float32 ``(num_nodes, num_features)`` bag-of-words rows (0/1).
        labels: int64 ``(num_nodes,)`` class ids in ``0..num_classes-1``.
        edge_index: int64 ``(2, 2 * num_edges)``: both directions of every undirected edge,
            no self-loops, no duplicates, sorted by source then target.
        adjacency: SciPy CSR ``(num_nodes, num_nodes)``, symmetric, 0/1, no self-loops.
        train_mask, val_mask, test_mask: bool ``(num_nodes,)``, disjoint.
        missing_test_ids: CiteSeer's 15 ids inside its test range that have no features or
            label in the original data; they carry zero features and class 0 and are in no
            mask (empty for Cora).
    """

    name: str
    features: np.ndarray
    labels: np.ndarray
    edge_index: np.ndarray
    train_mask: np.ndarray
    val_mask: np.ndarray
    test_mask: np.ndarray
    missing_test_ids: np.ndarray
    num_classes: int
    adjacency: sp.csr_matrix = field(init=False)

    def __post_init__(self):
        n = self.num_nodes
        weights = np.ones(self.edge_index.shape[1], dtype=np.float32)
        adjacency = sp.csr_matrix((weights, (self.edge_index[0], self.edge_index[1])), shape=(n, n))
        object.__setattr__(self, "adjacency", adjacency)

    @property
    def num_nodes(self):
        return self.features.shape[0]

    @property
    def num_features(self):
        return self.features.shape[1]

    @property
    def num_edges(self):
        """Number of undirected edges."""
        return self.edge_index.shape[1] // 2

    def __repr__(self):
        return (
            f"CitationGraph(name={self.name!r}, nodes={self.num_nodes}, edges={self.num_edges}, "
            f"features={self.num_features}, classes={self.num_classes}, "
            f"train/val/test={self.train_mask.sum()}/{self.val_mask.sum()}/{self.test_mask.sum()})"
        )


def load_citation(name):
    """Load ``"cora"`` or ``"citeseer"`` with the Planetoid split of Yang et al. (2016).

    Returns a :class:`CitationGraph`.
    """
    key = str(name).lower()
    if key not in CITATION_GRAPHS:
        raise ValueError(f"unknown citation graph {name!r}; choose one of {list(CITATION_GRAPHS)}")
    with np.load(bundled_file(f"{key}.npz")) as arrays:
        data = {k: arrays[k] for k in arrays.files}
    n = int(data["feature_shape"][0])
    features = sp.csr_matrix(
        (data["feature_data"], data["feature_indices"], data["feature_indptr"]),
        shape=tuple(data["feature_shape"]),
    ).toarray()
    undirected = data["edges"].astype(np.int64)
    both = np.concatenate([undirected, undirected[::-1]], axis=1)
    order = np.lexsort((both[1], both[0]))
    masks = {}
    for split in ("train", "val", "test"):
        mask = np.zeros(n, dtype=bool)
        mask[data[f"{split}_index"]] = True
        masks[f"{split}_mask"] = mask
    return CitationGraph(
        name=key,
        features=features.astype(np.float32),
        labels=data["labels"].astype(np.int64),
        edge_index=both[:, order],
        missing_test_ids=data["missing_test_ids"],
        num_classes=int(data["labels"].max()) + 1,
        **masks,
    )

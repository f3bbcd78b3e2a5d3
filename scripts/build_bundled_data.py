"""Build the compressed data files bundled in ``course_kit/data/files/``.

Re-runnable: given the folder with the raw books and Planetoid pickles, it rewrites every
bundled file and ``SHA256SUMS`` from scratch, byte for byte the same on every run.

    python scripts/build_bundled_data.py --source path/to/data

``--source`` holds ``books/`` (the plain-text books) and ``planetoid/`` (the ``ind.<name>.*``
pickles of Yang et al., 2016). Provenance of every file is in ``course_kit/data/files/SOURCES.md``.
"""

import argparse
import hashlib
import io
import lzma
import pickle
from pathlib import Path

import numpy as np
import scipy.sparse as sp

BOOKS = {
    # bundled name: file under books/
    "grimms": "book_EN_grimms_fairy_tails.txt",
    "democracy": "book_EN_democracy_in_the_US.txt",
    "anna_en": "anna.txt",
    "anna_nl": "book_NL_tolstoy_anna_karenina.txt",
    "darwin_nl": "book_NL_darwin_reis_om_de_wereld.txt",
    "shakespeare": "tinyshakespeare/input.txt",
}
CITATION_GRAPHS = ("cora", "citeseer")
OUT = Path(__file__).resolve().parent.parent / "course_kit" / "data" / "files"


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def compress_book(source: Path, name: str) -> str:
    raw = (source / "books" / BOOKS[name]).read_bytes()
    target = OUT / f"{name}.txt.xz"
    target.write_bytes(lzma.compress(raw, preset=9 | lzma.PRESET_EXTREME))
    return f"{name}: {len(raw)} bytes, sha256 {sha256(raw)} -> {target.stat().st_size} bytes"


def _unpickle(path: Path):
    with open(path, "rb") as f:
        return pickle.load(f, encoding="latin1")  # Python 2 pickles


def convert_planetoid(source: Path, name: str) -> str:
    """Assemble the standard Planetoid split (Kipf & Welling's loader) as plain arrays."""
    folder = source / "planetoid"
    parts = {key: _unpickle(folder / f"ind.{name}.{key}") for key in ("x", "y", "tx", "ty", "allx", "ally", "graph")}
    test_index = np.loadtxt(folder / f"ind.{name}.test.index", dtype=np.int64)

    num_nodes = max(max(parts["graph"]), test_index.max()) + 1
    # CiteSeer's test.index skips 15 ids of its range that have no tx/ty row: give them
    # zero features and class 0 (as the reference loaders do) and leave them out of every mask.
    tx = sp.lil_matrix((test_index.max() - test_index.min() + 1, parts["tx"].shape[1]), dtype=np.float32)
    ty = np.zeros((tx.shape[0], parts["ty"].shape[1]), dtype=np.int32)
    tx[np.sort(test_index) - test_index.min()] = parts["tx"]
    ty[np.sort(test_index) - test_index.min()] = parts["ty"]
    features = sp.vstack([parts["allx"], tx.tocsr()]).tolil()
    labels_onehot = np.vstack([parts["ally"], ty])
    # tx/ty rows are stored in sorted-id order; put each row at its node id.
    features[test_index] = features[np.sort(test_index)]
    labels_onehot[test_index] = labels_onehot[np.sort(test_index)]
    features = features.tocsr().astype(np.float32)
    labels = labels_onehot.argmax(axis=1).astype(np.int64)
    assert features.shape[0] == num_nodes == labels.shape[0]

    missing = np.setdiff1d(np.arange(test_index.min(), test_index.max() + 1), test_index)
    edges = {(min(u, v), max(u, v)) for u, nbrs in parts["graph"].items() for v in nbrs if u != v}
    edges = np.array(sorted(edges), dtype=np.int32).T

    buffer = io.BytesIO()
    np.savez_compressed(
        buffer,
        feature_data=features.data,
        feature_indices=features.indices.astype(np.int32),
        feature_indptr=features.indptr.astype(np.int32),
        feature_shape=np.array(features.shape, dtype=np.int64),
        labels=labels,
        edges=edges,
        train_index=np.arange(len(parts["y"]), dtype=np.int64),
        val_index=np.arange(len(parts["y"]), len(parts["y"]) + 500, dtype=np.int64),
        test_index=np.sort(test_index),
        missing_test_ids=missing.astype(np.int64),
    )
    target = OUT / f"{name}.npz"
    target.write_bytes(_strip_zip_timestamps(buffer.getvalue()))
    return f"{name}: {num_nodes} nodes, {edges.shape[1]} undirected edges, {features.shape[1]} features -> {target.stat().st_size} bytes"


def _strip_zip_timestamps(data: bytes) -> bytes:
    """Re-pack a zip with fixed timestamps so the output (and its sha256) is reproducible."""
    import zipfile

    source = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as target:
        for info in source.infolist():
            fixed = zipfile.ZipInfo(info.filename, date_time=(1980, 1, 1, 0, 0, 0))
            fixed.compress_type = zipfile.ZIP_DEFLATED
            target.writestr(fixed, source.read(info.filename))
    return out.getvalue()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", type=Path, required=True, help="folder with books/ and planetoid/")
    args = parser.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    for name in BOOKS:
        print(compress_book(args.source, name))
    for name in CITATION_GRAPHS:
        print(convert_planetoid(args.source, name))
    # The pretrained character model (scripts/train_text_checkpoint.sh) is listed too.
    files = sorted(p for p in OUT.iterdir() if p.name.endswith((".xz", ".npz", ".keras")))
    sums = "".join(f"{sha256(p.read_bytes())}  {p.name}\n" for p in files)
    (OUT / "SHA256SUMS").write_text(sums)
    print(f"wrote {len(files)} files and SHA256SUMS to {OUT.name}/ ({sum(p.stat().st_size for p in files)} bytes)")


if __name__ == "__main__":
    main()

"""TensorFlow interop: the edge-list sum as TensorFlow's sparse-dense matmul.

The one place in the graph layers that calls TensorFlow itself. ``graph_ops.propagate`` uses it
on the TensorFlow backend, where the CPU ``unsorted_segment_sum`` behind a gather-and-sum (used
forward, and backward by ``gather``) is several times slower than a sparse matmul.
"""

import tensorflow as tf

__all__ = ["sparse_propagate"]


def sparse_propagate(values, edge_index, edge_weight, num_nodes):
    """``A @ values`` with ``A[target, source] = weight``, as ``tf.sparse.sparse_dense_matmul``.

    The edge list is the COO index as it stands: the matmul needs neither sorted nor unique
    coordinates (repeated edges add up), and its gradient reaches ``values`` and ``edge_weight``.
    """
    coordinates = tf.cast(tf.stack([edge_index[1], edge_index[0]], axis=1), "int64")
    size = tf.cast(num_nodes, "int64")
    adjacency = tf.SparseTensor(coordinates, edge_weight, tf.stack([size, size]))
    return tf.sparse.sparse_dense_matmul(adjacency, values)

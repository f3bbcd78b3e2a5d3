"""Graph inputs for the graph layers, and the message-passing pieces they share.

Every graph layer of the kit works on an **edge list**: an integer ``edge_index`` of shape
``(2, E)`` and a float ``edge_weight`` of shape ``(E,)``. Edge ``e`` carries a message from node
``edge_index[0, e]`` (the *source*) to node ``edge_index[1, e]`` (the *target*), scaled by
``edge_weight[e]``. In matrix terms the graph is the adjacency ``A`` with
``A[target, source] = weight``, so that ``A @ H`` sums, for each node, the features of the
nodes it receives from: the ``A_hat H W`` of the GCN equations. For an undirected graph (both
directions of every edge listed, as in the citation graphs) the order of the two rows does not
matter.

A graph may be handed to a layer as

- a dense adjacency ``(N, N)`` (NumPy array or an eager tensor with a float or bool dtype);
- a SciPy sparse matrix or array ``(N, N)``;
- an integer edge index ``(2, E)`` (every weight 1);
- a pair ``(edge_index, edge_weight)``.

Dense and SciPy adjacencies are converted on the host by :func:`graph_inputs`, which only works
on concrete values. Inside a ``keras.Model`` trained with ``fit`` (compiled on TensorFlow and
JAX) the graph must therefore be the pair: call ``graph_inputs(graph)`` once and feed its two
arrays as model inputs.
"""

import keras
import numpy as np
import scipy.sparse as sp
from keras import ops

__all__ = [
    "GraphLayer",
    "add_self_loops",
    "gather_rows",
    "gcn_normalize",
    "graph_inputs",
    "node_count",
    "normalize_edges",
    "propagate",
    "segment_softmax",
    "segment_sum",
    "split_graph_inputs",
]


class GraphLayer(keras.layers.Layer):
    """Base of the graph layers: turns a host graph into an edge list before Keras sees it.

    Keras only accepts tensors as layer inputs, so a SciPy matrix or a dense NumPy adjacency
    in ``layer([features, graph])`` is converted by :func:`graph_inputs` here, in
    ``__call__``, and ``call`` receives ``[features, (edge_index, edge_weight)]``.
    """

    def __call__(self, inputs, *args, **kwargs):
        if isinstance(inputs, (list, tuple)) and len(inputs) == 2:
            features, graph = inputs
            _check_features_rank(features, self.name)
            if sp.issparse(graph) or (
                isinstance(graph, np.ndarray) and not _looks_like_edge_index(graph.shape, graph.dtype)
            ):
                inputs = [features, graph_inputs(graph, num_nodes=np.shape(features)[0])]
        return super().__call__(inputs, *args, **kwargs)


def graph_inputs(graph, num_nodes=None):
    """Convert any accepted graph to the edge list the layers consume.

    Args:
        graph: a dense adjacency ``(N, N)``, a SciPy sparse matrix ``(N, N)``, an integer edge
            index ``(2, E)``, or a pair ``(edge_index, edge_weight)``. Adjacency convention:
            ``A[target, source] = weight``; zero entries are no edge.
        num_nodes: the number of nodes ``N``. Required to check an edge list; for an
            adjacency it must equal the matrix size when given.

    Returns:
        ``(edge_index, edge_weight)``: NumPy ``int32 (2, E)`` (row 0 sources, row 1 targets)
        and ``float32 (E,)``. For an adjacency, the edges are its nonzero entries in row-major
        order (sorted by target).

    Raises:
        ValueError: the adjacency is not square or not ``num_nodes`` wide, the edge index is
            not ``(2, E)``, an index is negative or ``>= num_nodes``, or the weights do not
            match the edges.
    """
    if _is_edge_pair(graph):
        edge_index, edge_weight = (np.asarray(part) for part in graph)
        return _checked_edge_list(edge_index, edge_weight, num_nodes)
    if sp.issparse(graph):
        adjacency = sp.coo_matrix(graph)
        _check_adjacency_shape(adjacency.shape, num_nodes)
        adjacency.sum_duplicates()
        order = np.lexsort((adjacency.col, adjacency.row))
        nonzero = adjacency.data[order] != 0
        targets, sources = adjacency.row[order][nonzero], adjacency.col[order][nonzero]
        weights = adjacency.data[order][nonzero]
    else:
        array = _to_numpy(graph, "graph")
        if _looks_like_edge_index(array.shape, array.dtype):
            return _checked_edge_list(array, None, num_nodes)
        if array.ndim != 2:
            raise ValueError(
                "graph must be an adjacency (N, N), a SciPy sparse matrix, an integer edge index "
                f"(2, E) or a pair (edge_index, edge_weight); got an array of shape {array.shape}"
            )
        _check_adjacency_shape(array.shape, num_nodes)
        targets, sources = np.nonzero(array)
        weights = array[targets, sources]
    edge_index = np.stack([sources, targets]).astype(np.int32)
    return edge_index, np.asarray(weights, dtype=np.float32)


# BEGIN ANSWER q3_1
def gcn_normalize(graph, num_nodes=None, add_self_loops=True):
    """The GCN propagation matrix ``D~^-1/2 (A + I) D~^-1/2`` with ``D~_ii = sum_j (A + I)_ij``.

    Works on the host (NumPy / SciPy) and returns the graph in the form it was given: a dense
    array for a dense adjacency, a CSR matrix for a SciPy matrix, and ``(edge_index,
    edge_weight)`` for an edge list (with one self-loop per node appended after the given
    edges). ``I`` is added even where ``A`` already has a self-loop, as in Kipf & Welling and
    Spektral's ``gcn_filter``; nodes of degree 0 get 0 instead of an infinite scale.

    Args:
        graph: any graph :func:`graph_inputs` accepts.
        num_nodes: the number of nodes; inferred from an adjacency, or as ``max index + 1``
            from an edge list when not given.
        add_self_loops: add ``I`` before normalising (``False`` gives ``D^-1/2 A D^-1/2``).

    Returns:
        The normalised graph (float64 for dense / sparse input, float32 weights for an edge
        list).
    """
    edge_form = _is_edge_pair(graph) or (
        not sp.issparse(graph)
        and _looks_like_edge_index(np.shape(graph), _to_numpy(graph, "graph").dtype)
    )
    if edge_form:
        edge_index, edge_weight = graph_inputs(graph, num_nodes)
        if num_nodes is None:
            num_nodes = int(edge_index.max()) + 1 if edge_index.size else 0
        if add_self_loops:
            loops = np.arange(num_nodes, dtype=np.int32)
            edge_index = np.concatenate([edge_index, np.stack([loops, loops])], axis=1)
            edge_weight = np.concatenate([edge_weight, np.ones(num_nodes, np.float32)])
        degree = np.bincount(edge_index[1], weights=edge_weight, minlength=num_nodes)
        scale = _inverse_sqrt(degree)
        weight = scale[edge_index[1]] * edge_weight * scale[edge_index[0]]
        return edge_index, weight.astype(np.float32)

    sparse_input = sp.issparse(graph)
    adjacency = sp.csr_matrix(graph, dtype=np.float64)
    _check_adjacency_shape(adjacency.shape, num_nodes)
    if add_self_loops:
        adjacency = adjacency + sp.identity(adjacency.shape[0], format="csr")
    scale = sp.diags(_inverse_sqrt(np.asarray(adjacency.sum(axis=1)).ravel()))
    normalized = (scale @ adjacency @ scale).tocsr()
    normalized.sort_indices()
    return normalized if sparse_input else normalized.toarray()
# END ANSWER


def split_graph_inputs(inputs, layer_name):
    """Split a layer's ``[features, graph]`` into tensors ``features, edge_index, edge_weight``.

    Host graphs (dense NumPy / eager tensors, SciPy matrices) go through :func:`graph_inputs`;
    an integer ``(2, E)`` tensor or an ``(edge_index, edge_weight)`` pair of tensors is used as
    it is (its index range can only be checked on the host).
    """
    if not isinstance(inputs, (list, tuple)) or len(inputs) != 2:
        raise ValueError(
            f"{layer_name} expects inputs=[features, graph]; got {type(inputs).__name__}"
            + (f" of length {len(inputs)}" if isinstance(inputs, (list, tuple)) else "")
        )
    features, graph = inputs
    _check_features_rank(features, layer_name)
    num_nodes = features.shape[0]
    if _is_edge_pair(graph):
        edge_index, edge_weight = graph
    elif hasattr(graph, "dtype") and _looks_like_edge_index(graph.shape, graph.dtype):
        edge_index, edge_weight = graph, None
    else:
        edge_index, edge_weight = graph_inputs(_to_numpy(graph, "graph"), num_nodes)
    _check_edge_shapes(edge_index.shape, None if edge_weight is None else edge_weight.shape)
    known_index = _value_if_known(edge_index)
    if known_index is not None:
        _checked_edge_list(known_index, None, num_nodes)
    if edge_weight is None:
        edge_weight = ops.ones((ops.shape(edge_index)[1],), dtype=features.dtype)
    return (
        features,
        ops.cast(edge_index, "int32"),
        ops.cast(edge_weight, features.dtype),
    )


def node_count(features):
    """N as a Python int when the shape is static (always on JAX), else as a scalar tensor."""
    return features.shape[0] if features.shape[0] is not None else ops.shape(features)[0]


def add_self_loops(edge_index, edge_weight, num_nodes):
    """Append one edge ``i -> i`` of weight 1 per node after the given edges (``keras.ops``)."""
    loops = ops.arange(num_nodes, dtype="int32")
    edge_index = ops.concatenate([edge_index, ops.stack([loops, loops])], axis=1)
    edge_weight = ops.concatenate([edge_weight, ops.ones((num_nodes,), edge_weight.dtype)])
    return edge_index, edge_weight


def normalize_edges(edge_index, edge_weight, num_nodes, self_loops=True):
    """``D~^-1/2 (A + I) D~^-1/2`` as an edge list, inside a model (``keras.ops``).

    The tensor counterpart of :func:`gcn_normalize`: appends the self-loops (when
    ``self_loops``) and scales each weight ``w_ij`` to ``w_ij / sqrt(D~_ii D~_jj)``, with
    ``D~`` the weighted in-degree. Nodes of degree 0 get scale 0.

    Returns:
        ``(edge_index, edge_weight)``.
    """
    if self_loops:
        edge_index, edge_weight = add_self_loops(edge_index, edge_weight, num_nodes)
    sources, targets = edge_index[0], edge_index[1]
    degree = segment_sum(edge_weight, targets, num_nodes)
    scale = ops.where(degree > 0, ops.rsqrt(ops.where(degree > 0, degree, 1.0)), 0.0)
    return edge_index, ops.take(scale, targets) * edge_weight * ops.take(scale, sources)


def propagate(values, edge_index, edge_weight, num_nodes):
    """``A @ values`` for the graph's edge list: ``out_i = sum_{j -> i} w_ij values_j``.

    Gathers each edge's source row, scales it by the edge weight and sums per target node
    (``keras.ops.take`` and :func:`segment_sum`). On TensorFlow the same sum is a sparse-dense
    matmul over the edge list (``tensorflow_sparse.sparse_propagate``), several times faster
    there on CPU; on PyTorch a gather and an ``index_add`` (``torch_sparse.propagate``).

    Args:
        values: ``(N, C)`` node values.
        edge_index: int ``(2, E)``, row 0 sources, row 1 targets.
        edge_weight: ``(E,)``, the same dtype as ``values``.
        num_nodes: ``N``.

    Returns:
        ``(num_nodes, C)``; gradients flow to ``values`` and ``edge_weight``.
    """
    backend = keras.backend.backend()
    if backend == "tensorflow":
        from course_kit.layers.tensorflow_sparse import sparse_propagate

        return sparse_propagate(values, edge_index, edge_weight, num_nodes)
    if backend == "torch":
        from course_kit.layers import torch_sparse

        return torch_sparse.propagate(*_tensors(values, edge_index, edge_weight), num_nodes)
    messages = gather_rows(values, edge_index[0]) * edge_weight[:, None]
    return ops.segment_sum(messages, edge_index[1], num_nodes)


def gather_rows(values, indices):
    """``keras.ops.take(values, indices, axis=0)``: row ``indices[e]`` of ``values`` for each
    ``e``. On PyTorch an ``index_select`` (``torch_sparse.gather_rows``): Keras takes the rows of
    a 2-D tensor through ``embedding``, whose gradient on CPU sorts the indices, while that of
    ``index_select`` is one ``index_add``.

    Args:
        values: ``(N, ...)``.
        indices: ``(E,)`` int, values in ``[0, N)``.

    Returns:
        ``(E, ...)``.
    """
    if keras.backend.backend() == "torch":
        from course_kit.layers import torch_sparse

        return torch_sparse.gather_rows(*_tensors(values, indices))
    return ops.take(values, indices, axis=0)


def segment_sum(data, segment_ids, num_segments):
    """``keras.ops.segment_sum``, as ``index_add`` on PyTorch (``torch_sparse.segment_sum``),
    where Keras' own copies the ids out to the shape of ``data`` first.

    Args:
        data: ``(E, ...)``.
        segment_ids: int ``(E,)``, values in ``[0, num_segments)``.
        num_segments: the number of segments.

    Returns:
        ``(num_segments, ...)``; empty segments are 0.
    """
    if keras.backend.backend() == "torch":
        from course_kit.layers import torch_sparse

        return torch_sparse.segment_sum(*_tensors(data, segment_ids), num_segments)
    return ops.segment_sum(data, segment_ids, num_segments)


def _segment_max(data, segment_ids, num_segments):
    if keras.backend.backend() == "torch":
        from course_kit.layers import torch_sparse

        return torch_sparse.segment_max(*_tensors(data, segment_ids), num_segments)
    return ops.segment_max(data, segment_ids, num_segments)


def _tensors(*values):
    """Backend tensors of NumPy arrays and Keras variables, for the backend interop modules."""
    return [ops.convert_to_tensor(value) for value in values]


def segment_softmax(logits, segment_ids, num_segments, mask=None):
    """Softmax of ``logits`` over the entries that share a segment id (``keras.ops``).

    ``out[e] = exp(logits[e]) / sum_{e' : id[e'] = id[e]} exp(logits[e'])``, computed stably by
    subtracting each segment's maximum first. With a boolean ``mask`` (same shape as
    ``logits``), masked-out entries get 0 and take no part in their segment's normalisation.

    Args:
        logits: ``(E, ...)`` floats.
        segment_ids: ``(E,)`` int, values in ``[0, num_segments)``.
        num_segments: the number of segments (a Python int, as JAX needs static shapes).
        mask: optional ``(E, ...)`` bool.

    Returns:
        ``(E, ...)``; the entries of every segment with at least one unmasked entry sum to 1.
    """
    if mask is not None:
        lowest = ops.convert_to_tensor(np.finfo(np.float32).min, logits.dtype)
        logits = ops.where(mask, logits, lowest)
    # The maximum only shifts the exponent; the softmax does not depend on it, so no gradient.
    segment_max = ops.stop_gradient(_segment_max(logits, segment_ids, num_segments))
    shifted = logits - gather_rows(segment_max, segment_ids)
    if mask is not None:
        # Double `where`: the inner one keeps exp() finite for masked entries, so no NaN
        # leaks into gradients; the outer one zeroes them.
        exponent = ops.where(mask, ops.exp(ops.where(mask, shifted, 0.0)), 0.0)
    else:
        exponent = ops.exp(shifted)
    total = segment_sum(exponent, segment_ids, num_segments)
    # A segment whose entries are all masked has total 0; its entries are already 0.
    total = ops.where(total > 0, total, 1.0)
    return exponent / gather_rows(total, segment_ids)


def _inverse_sqrt(degree):
    scale = np.zeros_like(degree, dtype=np.float64)
    positive = degree > 0
    scale[positive] = degree[positive] ** -0.5
    return scale


def _is_edge_pair(graph):
    return (
        isinstance(graph, (list, tuple))
        and len(graph) == 2
        and len(np.shape(graph[0]) if not hasattr(graph[0], "shape") else graph[0].shape) == 2
        and len(np.shape(graph[1]) if not hasattr(graph[1], "shape") else graph[1].shape) == 1
    )


def _looks_like_edge_index(shape, dtype):
    """An integer array of shape (2, E) is an edge index; an adjacency is (N, N).

    The only ambiguous case, an integer 2 x 2 array, is refused rather than guessed.
    """
    if "int" not in str(dtype) or len(shape) != 2 or shape[0] != 2:
        return False
    if shape[1] == 2:
        raise ValueError(
            "graph: an integer 2 x 2 array could be an adjacency or an edge index; pass the "
            "adjacency as float/bool or the edges as a pair (edge_index, edge_weight)"
        )
    return True


def _value_if_known(tensor):
    """The NumPy value of an eager tensor; None for a symbolic or traced one (no value yet)."""
    if isinstance(tensor, np.ndarray):
        return tensor
    try:
        return ops.convert_to_numpy(tensor)
    except Exception:  # noqa: BLE001 - every backend raises its own type for traced tensors
        return None


def _to_numpy(graph, name):
    if isinstance(graph, np.ndarray):
        return graph
    try:
        return ops.convert_to_numpy(graph)
    except Exception as error:  # a traced / symbolic tensor has no value yet
        raise ValueError(
            f"{name}: a dense adjacency can only be converted to an edge list when its value is "
            "known (eager call). Inside a compiled model pass the pair from "
            "graph_inputs(adjacency) = (edge_index, edge_weight) as model inputs."
        ) from error


def _check_features_rank(features, layer_name):
    if len(np.shape(features) if not hasattr(features, "shape") else features.shape) != 2:
        raise ValueError(
            f"{layer_name}: features must have rank 2 (num_nodes, num_features); got shape "
            f"{tuple(np.shape(features))}"
        )


def _check_adjacency_shape(shape, num_nodes):
    if len(shape) != 2 or shape[0] != shape[1]:
        raise ValueError(f"graph: an adjacency matrix must be square (N, N); got shape {shape}")
    if num_nodes is not None and shape[0] != num_nodes:
        raise ValueError(
            f"graph: the adjacency is {shape[0]} x {shape[1]} but there are {num_nodes} nodes "
            "(rows of features)"
        )


def _check_edge_shapes(index_shape, weight_shape):
    if len(index_shape) != 2 or index_shape[0] != 2:
        raise ValueError(f"edge_index must have shape (2, E); got {tuple(index_shape)}")
    if weight_shape is not None and (
        len(weight_shape) != 1
        or (index_shape[1] is not None and weight_shape[0] is not None
            and weight_shape[0] != index_shape[1])
    ):
        raise ValueError(
            f"edge_weight must have shape (E,) = ({index_shape[1]},); got {tuple(weight_shape)}"
        )


def _checked_edge_list(edge_index, edge_weight, num_nodes):
    _check_edge_shapes(edge_index.shape, None if edge_weight is None else edge_weight.shape)
    if not np.issubdtype(edge_index.dtype, np.integer):
        raise ValueError(f"edge_index must be integer; got dtype {edge_index.dtype}")
    if edge_index.size and edge_index.min() < 0:
        raise ValueError(f"edge_index has a negative node index ({edge_index.min()})")
    if num_nodes is not None and edge_index.size and edge_index.max() >= num_nodes:
        raise ValueError(
            f"edge_index refers to node {edge_index.max()} but there are only {num_nodes} nodes"
        )
    if edge_weight is None:
        edge_weight = np.ones(edge_index.shape[1], np.float32)
    return edge_index.astype(np.int32), np.asarray(edge_weight, dtype=np.float32)

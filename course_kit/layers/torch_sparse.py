"""PyTorch interop: edge-list gathers, sums and maxima as ``index_select``, ``index_add`` and
``scatter_reduce``.

The one place in the graph layers that calls PyTorch itself. ``graph_ops`` uses it on the
PyTorch backend, where Keras' ``segment_sum`` and ``segment_max`` first copy the segment ids
out to the full shape of the data (``repeat_interleave``, two ``where``) and scatter into an
extra row; ``index_add`` sums whole rows at once, and its gradient is a plain gather. On Cora,
one propagation forward and backward took about a quarter of the time of
``keras.ops.take`` and ``keras.ops.segment_sum``. PyTorch's sparse matrix products were slower
than either here, as their gradient with respect to the edge weights is costly.
"""

__all__ = ["gather_rows", "propagate", "segment_max", "segment_sum"]


def gather_rows(values, indices):
    """``values[indices]`` along the first axis; its gradient is an ``index_add``."""
    return values.index_select(0, indices.long())


def segment_sum(data, segment_ids, num_segments):
    """``out[s] = sum of data[e] over the e with segment_ids[e] = s``; empty segments are 0."""
    output = data.new_zeros((num_segments, *data.shape[1:]))
    return output.index_add(0, segment_ids.long(), data)


def segment_max(data, segment_ids, num_segments):
    """``out[s] = max of data[e] over the e with segment_ids[e] = s``; empty segments are
    ``-inf``, as in ``keras.ops.segment_max``."""
    index = segment_ids.long().view(-1, *(1,) * (data.ndim - 1)).expand_as(data)
    output = data.new_full((num_segments, *data.shape[1:]), float("-inf"))
    return output.scatter_reduce(0, index, data, "amax", include_self=False)


def propagate(values, edge_index, edge_weight, num_nodes):
    """``A @ values`` with ``A[target, source] = weight``: gather, scale, ``index_add``."""
    messages = gather_rows(values, edge_index[0]) * edge_weight[:, None]
    return segment_sum(messages, edge_index[1], num_nodes)

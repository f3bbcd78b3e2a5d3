"""Dense float64 NumPy formulas of the graph layers: the oracle the layer tests compare with.

Convention as in the layers: ``A[i, j] != 0`` means node i receives from node j.
"""

import numpy as np


def random_graph(rng, num_nodes, density=0.3, symmetric=True, weighted=False):
    """A random adjacency without self-loops (float64), every node with at least one edge."""
    adjacency = (rng.random((num_nodes, num_nodes)) < density).astype(np.float64)
    ring = np.roll(np.eye(num_nodes), 1, axis=1)  # guarantees no isolated node
    adjacency = np.maximum(adjacency, ring)
    if symmetric:
        adjacency = np.maximum(adjacency, adjacency.T)
    np.fill_diagonal(adjacency, 0)
    if weighted:
        weights = rng.uniform(0.5, 2.0, adjacency.shape)
        adjacency = adjacency * (np.triu(weights) + np.triu(weights, 1).T if symmetric else weights)
    return adjacency


def gcn_propagation(adjacency, add_self_loops=True):
    """``D~^-1/2 (A + I) D~^-1/2``, ``D~_ii = sum_j (A + I)_ij`` (0 for an isolated node)."""
    a = np.asarray(adjacency, dtype=np.float64)
    if add_self_loops:
        a = a + np.eye(len(a))
    degree = a.sum(axis=1)
    scale = np.where(degree > 0, 1.0 / np.sqrt(np.where(degree > 0, degree, 1.0)), 0.0)
    return scale[:, None] * a * scale[None, :]


def gcn_layer(features, adjacency, kernel, bias=None, add_self_loops=True):
    output = gcn_propagation(adjacency, add_self_loops) @ features @ kernel
    return output if bias is None else output + bias


def gat_attention(features, adjacency, kernel, attn_self, attn_neighs, add_self_loops=True):
    """Attention ``alpha[i, j, head]`` (rows over j sum to 1 where i has a neighbour)."""
    connected = np.asarray(adjacency) != 0
    if add_self_loops:
        connected = connected | np.eye(len(connected), dtype=bool)
    z = np.einsum("nf,fhc->nhc", features, kernel)
    scores = (
        np.einsum("nhc,ch->nh", z, attn_self[..., 0])[:, None, :]
        + np.einsum("nhc,ch->nh", z, attn_neighs[..., 0])[None, :, :]
    )
    scores = np.where(scores > 0, scores, 0.2 * scores)  # LeakyReLU(0.2)
    scores = np.where(connected[:, :, None], scores, -np.inf)
    scores = scores - scores.max(axis=1, keepdims=True)
    weights = np.exp(scores)
    return weights / weights.sum(axis=1, keepdims=True), z


def gat_layer(features, adjacency, kernel, attn_self, attn_neighs, bias=None, concat=True,
              add_self_loops=True):
    attention, z = gat_attention(features, adjacency, kernel, attn_self, attn_neighs,
                                 add_self_loops)
    heads = np.einsum("ijh,jhc->ihc", attention, z)
    output = heads.reshape(len(features), -1) if concat else heads.mean(axis=1)
    return output if bias is None else output + bias

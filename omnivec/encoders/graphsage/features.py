"""Node features for GraphSAGE: given vectors in node order, structural features, and the
undirected aggregation graph (and the k-hop ball a new node's vector depends on)."""

from __future__ import annotations

from typing import Any

import numpy as np

from omnivec.core.ids import encode_id
from omnivec.encoders.node2vec.graph import ParsedGraph
from omnivec.errors import DimensionMismatchError, InvalidInputError

__all__ = [
    "STRUCTURAL_FEATURES",
    "AggregationGraph",
    "aggregation_graph",
    "feature_matrix",
    "khop_ball",
    "structural_features",
]

#: Names of the columns of :func:`structural_features`, in order.
STRUCTURAL_FEATURES = (
    "log_in_degree",
    "log_out_degree",
    "log_weighted_degree",
    "clustering",
    "mean_neighbour_log_degree",
    "max_neighbour_log_degree",
    "min_neighbour_log_degree",
    "std_neighbour_log_degree",
)


class AggregationGraph:
    """The undirected, weighted view GraphSAGE aggregates over.

    A directed edge ``u -> v`` lets each end see the other (a new paper that cites old ones
    must learn from them, and they need not cite it back); weights of both directions add up.
    ``indptr`` int64 ``(n + 1,)``, ``indices`` int64 ``(m,)``, ``weights`` float64 ``(m,)``:
    CSR rows sorted by column, without self-loops' duplicates.
    """

    def __init__(self, indptr: np.ndarray, indices: np.ndarray, weights: np.ndarray) -> None:
        self.indptr = indptr
        self.indices = indices
        self.weights = weights

    @property
    def num_nodes(self) -> int:
        return int(self.indptr.shape[0] - 1)

    def degree(self) -> np.ndarray:
        """int64 ``(n,)`` neighbours per node."""
        return np.diff(self.indptr)

    def subgraph(self, keep: np.ndarray) -> AggregationGraph:
        """The graph induced on node indices ``keep`` (int64 ``(k,)``, sorted), renumbered."""

        a = self.scipy()[keep][:, keep].tocsr()
        a.sort_indices()
        return AggregationGraph(
            a.indptr.astype(np.int64), a.indices.astype(np.int64), a.data.astype(np.float64)
        )

    def scipy(self) -> Any:
        import scipy.sparse as sp

        n = self.num_nodes
        return sp.csr_matrix((self.weights, self.indices, self.indptr), shape=(n, n))


def aggregation_graph(parsed: ParsedGraph) -> AggregationGraph:
    import scipy.sparse as sp

    n = parsed.num_nodes
    w = parsed.weights if parsed.weights is not None else np.ones(parsed.src.shape[0])
    a = sp.csr_matrix((w, (parsed.src, parsed.dst)), shape=(n, n))
    if parsed.directed:
        a = a + a.T
    a = a.tocsr()
    a.sum_duplicates()
    a.sort_indices()
    return AggregationGraph(
        a.indptr.astype(np.int64), a.indices.astype(np.int64), a.data.astype(np.float64)
    )


def structural_features(parsed: ParsedGraph, agg: AggregationGraph) -> np.ndarray:
    """float64 ``(n, 8)``: the columns of :data:`STRUCTURAL_FEATURES`.

    Measured on karate and block-model graphs: degrees alone let the walk loss separate
    hubs from leaves only; the neighbourhood's degree profile and the clustering
    coefficient (triangles, counted in row chunks so memory stays bounded) place a node
    among its community's typical members.
    """
    n = parsed.num_nodes
    out_deg = np.bincount(parsed.src, minlength=n).astype(np.float64)
    in_deg = np.bincount(parsed.dst, minlength=n).astype(np.float64)
    a = agg.scipy()
    deg = agg.degree().astype(np.float64)
    wdeg = np.asarray(a.sum(axis=1)).ravel()
    binary = a.copy()
    binary.data[:] = 1.0
    binary.setdiag(0)
    binary.eliminate_zeros()
    tri = np.zeros(n)
    chunk = max(1, 2_000_000 // max(1, int(binary.nnz / max(n, 1)) ** 2 + 1))
    for r0 in range(0, n, chunk):
        rows = binary[r0 : r0 + chunk]
        tri[r0 : r0 + chunk] = np.asarray((rows @ binary).multiply(rows).sum(axis=1)).ravel()
    k = np.asarray(binary.sum(axis=1)).ravel()
    clustering = np.divide(tri, k * (k - 1), out=np.zeros(n), where=k > 1)
    logd = np.log1p(deg)
    # neighbour statistics of log-degree: mean, max, min, std over the neighbours
    rows = np.repeat(np.arange(n), np.diff(agg.indptr))
    nb = logd[agg.indices]
    cnt = np.maximum(deg, 1.0)
    mean = np.bincount(rows, weights=nb, minlength=n) / cnt
    sq = np.bincount(rows, weights=nb * nb, minlength=n) / cnt
    std = np.sqrt(np.maximum(sq - mean * mean, 0.0))
    mx = np.zeros(n)
    mn = np.zeros(n)
    if nb.size:
        np.maximum.at(mx, rows, nb)
        mn[:] = np.inf
        np.minimum.at(mn, rows, nb)
        mn[~np.isfinite(mn)] = 0.0
    cols = [np.log1p(in_deg), np.log1p(out_deg), np.log1p(wdeg), clustering, mean, mx, mn, std]
    return np.stack(cols, axis=1)


def feature_matrix(
    parsed: ParsedGraph, features: Any, rows: np.ndarray | None = None
) -> np.ndarray:
    """float64 ``(len(rows), f)`` features of node indices ``rows`` (all nodes by default).

    ``features`` is ``{node_id: vector}`` (needs every node of ``rows``) or an ``(n, f)``
    array in the order of the graph's nodes (``graph.nodes`` for networkx, first appearance
    for an edge list). Raises :class:`InvalidInputError` naming a node without features,
    :class:`DimensionMismatchError` for vectors of different lengths.
    """
    idx = np.arange(parsed.num_nodes) if rows is None else rows
    if isinstance(features, dict):
        by_key = {encode_id(k): v for k, v in features.items()}
        missing = [parsed.ids[i] for i in idx if encode_id(parsed.ids[i]) not in by_key]
        if missing:
            more = f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""
            raise InvalidInputError(
                f"features has no vector for node {missing[0]!r}{more}; give every node of "
                "the graph a vector"
            )
        vecs = [by_key[encode_id(parsed.ids[i])] for i in idx]
        arrs = [np.asarray(v, dtype=np.float64).reshape(-1) for v in vecs]
        f = arrs[0].shape[0] if arrs else 0
        for i, arr in zip(idx, arrs, strict=True):
            if arr.shape[0] != f:
                raise DimensionMismatchError(
                    f"feature vector of node {parsed.ids[i]!r} has length {arr.shape[0]}, "
                    f"others have {f}; give every node a vector of the same length"
                )
        mat = np.stack(arrs) if arrs else np.zeros((0, 0))
    else:
        try:
            mat = np.asarray(features, dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise InvalidInputError(
                "features must be {node: vector}, an (n, f) array in node order, or the name "
                f"of a collection: {exc}"
            ) from exc
        if mat.ndim != 2 or mat.shape[0] != parsed.num_nodes:
            raise DimensionMismatchError(
                f"features array has shape {mat.shape}; the graph has {parsed.num_nodes} nodes, "
                "so pass (n_nodes, f) rows in node order (or a {node: vector} dict)"
            )
        mat = mat[idx]
    if mat.shape[1] == 0:
        raise InvalidInputError("feature vectors are empty; give each node at least one value")
    bad = ~np.isfinite(mat).all(axis=1)
    if bad.any():
        node = parsed.ids[int(idx[int(np.flatnonzero(bad)[0])])]
        raise InvalidInputError(f"feature vector of node {node!r} has NaN or inf values")
    return mat


def khop_ball(agg: AggregationGraph, seeds: np.ndarray, hops: int) -> np.ndarray:
    """Sorted int64 node indices within ``hops`` steps of ``seeds``: all that a ``hops``-layer
    GraphSAGE output of the seeds depends on."""
    seen = np.zeros(agg.num_nodes, dtype=bool)
    seen[seeds] = True
    frontier = np.unique(seeds)
    for _ in range(hops):
        if frontier.size == 0:
            break
        starts, ends = agg.indptr[frontier], agg.indptr[frontier + 1]
        nbrs = np.concatenate([agg.indices[s:e] for s, e in zip(starts, ends, strict=True)])
        nbrs = np.unique(nbrs)
        frontier = nbrs[~seen[nbrs]]
        seen[frontier] = True
    return np.flatnonzero(seen).astype(np.int64)

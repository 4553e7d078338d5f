"""Graphs in: networkx graphs, PyG ``Data`` and edge lists parsed into one CSR-ready form.

Shared by every graph encoder (node2vec, graphsage). Conventions are in
:mod:`omnivec.encoders.node2vec.encoder`'s docstring.
"""

from __future__ import annotations

import logging
import math
import re
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from omnivec.core.validation import RESERVED_KEYS
from omnivec.errors import InvalidInputError, NotFoundError

__all__ = ["WEIGHTS", "ParsedGraph", "node_vectors", "parse_graph", "transform_weights"]

logger = logging.getLogger(__name__)


def node_vectors(vectors: np.ndarray, rows: Mapping[str, int], nodes: Iterable[Any]) -> np.ndarray:
    """The rows of ``vectors`` (``(n, dim)``) for ``nodes``, looked up by their encoded ids in
    ``rows``: a contiguous ``(len(nodes), dim)`` array; a node the last fit did not see raises
    :class:`NotFoundError`. Shared by the graph encoders that keep a fit's vectors in memory."""
    from omnivec.core.ids import encode_id

    picked = []
    for node in nodes:
        row = rows.get(encode_id(node))
        if row is None:
            raise NotFoundError(f"node {node!r} was not in the graph of the last fit")
        picked.append(row)
    return np.ascontiguousarray(vectors[np.asarray(picked, dtype=np.int64)])


_KEY_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,254}")

#: What a graph encoder does with edge weights: "log1p" uses log(1 + w) (heavy-tailed counts
#: such as synapses or citations tamed), "raw" uses w, "unweighted" ignores them.
WEIGHTS = ("log1p", "raw", "unweighted")


@dataclass
class ParsedGraph:
    """A graph in index form. ``ids[i]`` is the user's id of node ``i``; ``src``/``dst`` are
    int64 ``(m,)`` directed edges without duplicates; ``weights`` float64 ``(m,)`` or ``None``
    (all equal); ``metadata`` one dict per node or ``None``."""

    ids: list[Any]
    src: np.ndarray
    dst: np.ndarray
    weights: np.ndarray | None
    metadata: list[dict[str, Any]] | None
    directed: bool

    @property
    def num_nodes(self) -> int:
        return len(self.ids)

    def undirected(self) -> ParsedGraph:
        """This graph with every edge usable both ways: ``u -> v`` and ``v -> u`` become one
        undirected edge whose weight is the sum of both (the graph itself if undirected)."""
        if not self.directed:
            return self
        n = self.num_nodes
        w = self.weights if self.weights is not None else np.ones(self.src.shape[0])
        src, dst, w = _dedupe(self.src, self.dst, w, n, False, "sum")
        weights = None if np.all(w == w[0]) else w
        return ParsedGraph(self.ids, src, dst, weights, self.metadata, False)


def transform_weights(parsed: ParsedGraph, how: str) -> ParsedGraph:
    """``parsed`` with its weights as a graph encoder uses them (see :data:`WEIGHTS`)."""
    if how not in WEIGHTS:
        raise InvalidInputError(f"weights must be one of {WEIGHTS}, got {how!r}")
    if parsed.weights is None or how == "raw":
        return parsed
    weights = None if how == "unweighted" else np.log1p(parsed.weights)
    return ParsedGraph(
        parsed.ids, parsed.src, parsed.dst, weights, parsed.metadata, parsed.directed
    )


# -- graph input --------------------------------------------------------------------------------


def _node_id(node: Any) -> Any:
    if isinstance(node, bool) or not isinstance(node, str | int | np.integer):
        raise InvalidInputError(
            f"node ids must be str or int, got {type(node).__name__} {node!r}; relabel the graph "
            "(e.g. networkx.convert_node_labels_to_integers) first"
        )
    return int(node) if isinstance(node, np.integer) else node


def _weight(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
        raise InvalidInputError(f"{where}: weight must be a number, got {value!r}")
    w = float(value)
    if not math.isfinite(w) or w < 0:
        raise InvalidInputError(f"{where}: weight must be finite and >= 0, got {value!r}")
    return w


def _check_weights(weights: np.ndarray, what: str) -> None:
    bad = ~np.isfinite(weights) | (weights < 0)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise InvalidInputError(
            f"{what} {i} has weight {weights[i]}; weights must be finite and >= 0"
        )


def _plain_attr(value: Any) -> Any:
    """A node attribute as a metadata value, or ``None`` to leave it out."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, bool | str | int):
        return value
    if isinstance(value, float) and math.isfinite(value):
        return value
    return None


def _dedupe(
    src: np.ndarray, dst: np.ndarray, w: np.ndarray, n: int, directed: bool, reduce: str
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Merge repeated edges (``reduce`` "last" or "sum"); for an undirected graph (u, v) and
    (v, u) are the same edge, and the result lists both directions (a self-loop once)."""
    if not directed:
        src, dst = np.minimum(src, dst), np.maximum(src, dst)
    key = src * np.int64(n) + dst
    if reduce == "sum":
        uniq, inverse = np.unique(key, return_inverse=True)
        w = np.bincount(inverse, weights=w, minlength=len(uniq))
    else:
        rev_uniq, rev_first = np.unique(key[::-1], return_index=True)
        uniq = rev_uniq
        w = w[::-1][rev_first]
    src, dst = uniq // n, uniq % n
    if not directed:
        off = src != dst
        src, dst, w = (
            np.concatenate([src, dst[off]]),
            np.concatenate([dst, src[off]]),
            np.concatenate([w, w[off]]),
        )
    return src, dst, w


def _finish(
    ids: list[Any],
    src: np.ndarray,
    dst: np.ndarray,
    w: np.ndarray,
    metadata: list[dict[str, Any]] | None,
    directed: bool,
    reduce: str,
) -> ParsedGraph:
    n = len(ids)
    if n == 0:
        raise InvalidInputError("the graph has no nodes; pass a graph with at least one edge")
    if src.size == 0:
        raise InvalidInputError(
            "the graph has no edges; graph encoders learn from edges: pass at least one"
        )
    src, dst, w = _dedupe(src, dst, w, n, directed, reduce)
    keep = w > 0  # a zero-weight edge is never walked
    src, dst, w = src[keep], dst[keep], w[keep]
    if src.size == 0:
        raise InvalidInputError("every edge has weight 0; give edges positive weights")
    weights = None if np.all(w == w[0]) else w
    return ParsedGraph(ids, src, dst, weights, metadata, directed)


def _from_networkx(graph: Any, weight: str) -> ParsedGraph:
    ids = [_node_id(v) for v in graph.nodes]
    index = {v: i for i, v in enumerate(graph.nodes)}
    src, dst, ws = [], [], []
    for u, v, w in graph.edges(data=weight, default=1.0):
        src.append(index[u])
        dst.append(index[v])
        ws.append(_weight(w, f"edge ({u!r}, {v!r})"))
    metadata: list[dict[str, Any]] = []
    skipped: set[str] = set()
    for _, attrs in graph.nodes(data=True):
        row = {}
        for key, value in attrs.items():
            plain = _plain_attr(value)
            if (
                plain is None
                or not isinstance(key, str)
                or not _KEY_RE.fullmatch(key)
                or key in RESERVED_KEYS
            ):
                skipped.add(str(key))
                continue
            row[key] = plain
        metadata.append(row)
    if skipped:
        logger.info("node attributes not stored as metadata: %s", ", ".join(sorted(skipped)))
    return _finish(
        ids,
        np.asarray(src, dtype=np.int64),
        np.asarray(dst, dtype=np.int64),
        np.asarray(ws, dtype=np.float64),
        metadata if any(metadata) else None,
        bool(graph.is_directed()),
        "sum" if graph.is_multigraph() else "last",
    )


def _from_pyg(data: Any, directed: bool | None) -> ParsedGraph:
    edge_index = getattr(data, "edge_index", None)
    if edge_index is None:
        raise InvalidInputError("the torch_geometric Data has no edge_index")
    ei = edge_index.detach().cpu().numpy() if hasattr(edge_index, "detach") else edge_index
    ei = np.asarray(ei)
    if ei.ndim != 2 or ei.shape[0] != 2 or not np.issubdtype(ei.dtype, np.integer):
        raise InvalidInputError(f"edge_index must be an integer (2, m) tensor, got {ei.shape}")
    n = data.num_nodes
    n = int(ei.max()) + 1 if n is None and ei.size else int(n or 0)
    if ei.size and (ei.min() < 0 or ei.max() >= n):
        raise InvalidInputError(f"edge_index refers to nodes outside 0 .. {n - 1}")
    m = ei.shape[1]
    ew = getattr(data, "edge_weight", None)
    if ew is None:
        w = np.ones(m, dtype=np.float64)
    else:
        w = np.asarray(ew.detach().cpu().numpy() if hasattr(ew, "detach") else ew, np.float64)
        if w.shape != (m,):
            raise InvalidInputError(f"edge_weight must have shape ({m},), got {w.shape}")
        _check_weights(w, "edge")
    metadata = None
    y = getattr(data, "y", None)
    if y is not None and hasattr(y, "dim") and y.dim() == 1 and y.shape[0] == n:
        labels = y.detach().cpu().numpy()
        if np.issubdtype(labels.dtype, np.integer):
            metadata = [{"y": int(v)} for v in labels]
    return _finish(
        list(range(n)),
        ei[0].astype(np.int64),
        ei[1].astype(np.int64),
        w,
        metadata,
        True if directed is None else directed,
        "sum",
    )


def _from_edges(edges: Iterable[Any], directed: bool) -> ParsedGraph:
    index: dict[Any, int] = {}
    ids: list[Any] = []
    src, dst, ws = [], [], []
    for i, edge in enumerate(edges):
        if not isinstance(edge, tuple | list) or len(edge) not in (2, 3):
            raise InvalidInputError(f"edge {i} is {edge!r}; pass (u, v) or (u, v, weight) tuples")
        ends = []
        for node in edge[:2]:
            node = _node_id(node)  # str and int ids never collide: 1 != "1", bools are refused
            j = index.get(node)
            if j is None:
                j = index[node] = len(ids)
                ids.append(node)
            ends.append(j)
        src.append(ends[0])
        dst.append(ends[1])
        ws.append(_weight(edge[2], f"edge {i}") if len(edge) == 3 else 1.0)
    return _finish(
        ids,
        np.asarray(src, dtype=np.int64),
        np.asarray(dst, dtype=np.int64),
        np.asarray(ws, dtype=np.float64),
        None,
        directed,
        "last",
    )


def parse_graph(graph: Any, directed: bool | None = None, weight: str = "weight") -> ParsedGraph:
    """Read a networkx graph, a ``torch_geometric.data.Data`` or an iterable of ``(u, v[, w])``.

    ``directed`` applies to edge lists (default ``False``) and PyG data (default: edges as
    listed); a networkx graph says itself. Raises :class:`InvalidInputError` for an empty graph,
    a bad edge or a negative / non-finite weight.
    """
    if graph is None:
        raise InvalidInputError("graph is None; pass a networkx graph, PyG Data or (u, v) edges")
    if hasattr(graph, "is_directed") and hasattr(graph, "nodes") and hasattr(graph, "edges"):
        if directed is not None and directed != graph.is_directed():
            raise InvalidInputError(
                "directed= does not apply to a networkx graph; convert it with "
                "graph.to_directed() / graph.to_undirected()"
            )
        return _from_networkx(graph, weight)
    pyg = sys.modules.get("torch_geometric.data")
    if pyg is not None and isinstance(graph, pyg.Data):
        return _from_pyg(graph, directed)
    if isinstance(graph, str | bytes | dict) or not isinstance(graph, Iterable):
        raise InvalidInputError(
            f"cannot read a graph from a {type(graph).__name__}; pass a networkx graph, "
            "torch_geometric Data or an iterable of (u, v[, weight]) tuples"
        )
    return _from_edges(graph, bool(directed))


# -- the encoder ---------------------------------------------------------------------------

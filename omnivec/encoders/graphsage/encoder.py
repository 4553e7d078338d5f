"""GraphSAGE: node vectors from node features and the graph, for nodes the model never saw.

``fit(graph, features=...)`` trains PyG ``SAGEConv`` layers full-batch on the CPU (pure
torch: the adjacency is a torch sparse matrix, no pyg-lib or NeighborLoader), unsupervised
from the skip-gram pairs of random walks by our numba walker
(:mod:`omnivec.encoders.node2vec.walker`) with uniform negative samples, as in the GraphSAGE
paper; with ``labels=`` a linear head's cross-entropy is added (semi-supervised).
``embed(graph, nodes=[...])`` runs the trained network on a graph that holds new nodes with
their edges (and features) and returns their vectors, without training.

Graphs are read like node2vec's (:func:`omnivec.encoders.node2vec.parse_graph`). Edge
weights bias the walks and weigh the neighbour mean; aggregation runs over the undirected
view of a directed graph (a new node that points at old ones learns from them).

Features, per node: ``{node: vector}``, an ``(n, f)`` array in the graph's node order (a PyG
``Data``'s own ``x`` when no features are given), or (in
:meth:`Collection.fit <omnivec.platform.collection.Collection.fit>` and ``embed``) the name of
a collection whose records share the node ids, resolved by the platform into a dict. Without
features, eight structural features of each node are used
(:data:`~omnivec.encoders.graphsage.features.STRUCTURAL_FEATURES`). Features are standardised
with the mean and scale of the training nodes; both belong to the trained state.

Persisting the trained state: the JSON state (``state_dict``: fingerprint, feature kind and
width, loss history) goes to the collection's catalog record like node2vec's. The weights and
feature scaling are too big for a catalog document (64 KiB), so the encoder also offers them
as bytes (:meth:`GraphSAGEEncoder.state_bytes`, an ``.npz`` without pickle). The collection
stores those bytes in catalog chunks named by their sha256 and records the names and hash in
its record in the same step as the new space; a reopened collection hands them back through
:meth:`GraphSAGEEncoder.load_state_bytes` before it embeds new nodes. The encoder itself never
touches a store.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from omnivec.core.encoder import BaseEncoder, FitResult
from omnivec.core.ids import encode_id
from omnivec.core.progress import progress_bar
from omnivec.core.space import METRICS, Space, fingerprint_of
from omnivec.encoders.graphsage.features import (
    aggregation_graph,
    feature_matrix,
    khop_ball,
    structural_features,
)
from omnivec.encoders.graphsage.model import (
    build_model,
    normalized_adjacency,
    pack_state,
    pair_batches,
    train,
    unpack_state,
)
from omnivec.encoders.node2vec.graph import ParsedGraph, parse_graph
from omnivec.errors import DimensionMismatchError, EncoderError, InvalidInputError

__all__ = ["GraphSAGEConfig", "GraphSAGEEncoder"]

logger = logging.getLogger(__name__)


@dataclass
class GraphSAGEConfig:
    """``dim``: output size; ``hidden``: width of the inner layers; ``layers``: SAGEConv
    layers (a node's vector depends on its ``layers``-hop neighbourhood). Training: ``steps``
    full-batch Adam steps at ``lr``; each step draws walks of ``walk_length`` from random start
    nodes (in turn) and scores about ``batch_size`` pairs of nodes within ``context_size`` of
    each other, with ``num_negative_samples`` uniform negatives per pair. ``seed`` fixes initialisation, walks
    and negatives. Every field takes part in the space's identity."""

    dim: int = 64
    hidden: int = 128
    layers: int = 2
    steps: int = 150
    lr: float = 0.01
    walk_length: int = 10
    context_size: int = 5
    batch_size: int = 8192
    num_negative_samples: int = 5
    seed: int = 0
    metric: str = "cosine"

    def validate(self) -> None:
        for name in ("dim", "hidden", "layers", "steps", "walk_length", "batch_size"):
            _positive_int(name, getattr(self, name))
        _positive_int("num_negative_samples", self.num_negative_samples)
        _positive_int("context_size", self.context_size)
        if not 2 <= self.context_size <= self.walk_length + 1:
            raise InvalidInputError(
                f"context_size must be from 2 to walk_length + 1 ({self.walk_length + 1}), "
                f"got {self.context_size}"
            )
        if self.dim > 32_768 or self.hidden > 32_768 or self.layers > 8:
            raise InvalidInputError("dim and hidden must be at most 32768 and layers at most 8")
        if (
            isinstance(self.lr, bool)
            or not isinstance(self.lr, int | float)
            or not (math.isfinite(self.lr) and self.lr > 0)
        ):
            raise InvalidInputError(f"lr must be a positive finite number, got {self.lr!r}")
        self.lr = float(self.lr)
        if isinstance(self.seed, bool) or not isinstance(self.seed, int):
            raise InvalidInputError(f"seed must be an int, got {self.seed!r}")
        if self.metric not in METRICS:
            raise InvalidInputError(f"metric must be one of {METRICS}, got {self.metric!r}")


def _positive_int(name: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InvalidInputError(f"{name} must be a positive int, got {value!r}")


class GraphSAGEEncoder(BaseEncoder):
    """Inductive node vectors. Use it through a collection::

        g = plat.collection("papers", encoder="graphsage", dim=64, seed=0)
        g.fit(graph, features=X)            # stores every node's vector
        g.embed(graph2, nodes=[101, 102])   # new nodes, trained weights, no retraining

    ``encode(node_ids)`` returns the vectors of the last fit in this process. ``history``
    holds the loss of each training step of the last fit.
    """

    shareable = False  # the trained weights belong to one collection

    name = "graphsage"
    modalities = ("node",)
    config_class = GraphSAGEConfig
    cfg: GraphSAGEConfig

    def __init__(self, **config: Any) -> None:
        super().__init__(**config)
        self._lock = threading.Lock()
        self._fingerprint: str | None = None
        self._info: dict[str, Any] = {}
        self._blob: bytes | None = None
        self._model: Any = None
        self._mean: np.ndarray | None = None
        self._scale: np.ndarray | None = None
        self._vectors: np.ndarray | None = None
        self._rows: dict[str, int] = {}
        self.history: list[float] = []
        self.timings: dict[str, float] = {}

    # -- identity and state ------------------------------------------------------------
    @property
    def dim(self) -> int:
        return self.cfg.dim

    @property
    def fitted(self) -> bool:
        return self._fingerprint is not None

    @property
    def has_weights(self) -> bool:
        """Whether the trained weights are loaded (after a fit, or :meth:`load_state_bytes`)."""
        return self._model is not None

    @property
    def space(self) -> Space:
        """A placeholder space of the configuration before a fit; after one, a fingerprint of
        the trained weights and feature scaling."""
        c = self.cfg
        model = f"graphsage-L{c.layers}-h{c.hidden}"
        fp = self._fingerprint or fingerprint_of("unfitted", self.identity())
        return Space(self.name, model, fp, c.dim, c.metric)

    def state_dict(self) -> dict[str, Any]:
        if self._fingerprint is None:
            return {}
        return {"fingerprint": self._fingerprint, "history": self.history[-20:], **self._info}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if not state.get("fingerprint"):
            return
        self._fingerprint = str(state["fingerprint"])
        self.history = [float(x) for x in state.get("history", [])]
        self._info = {k: v for k, v in state.items() if k not in ("fingerprint", "history")}

    def state_bytes(self) -> bytes | None:
        """The trained weights and feature scaling (``.npz`` bytes), or ``None`` before a fit."""
        return self._blob

    def load_state_bytes(self, data: bytes) -> None:
        """Restore what :meth:`state_bytes` returned (after :meth:`load_state_dict`)."""
        if not self._info.get("in_features"):
            raise EncoderError("load the JSON state (load_state_dict) before the weights")
        model = self._new_model(int(self._info["in_features"]))
        mean, scale = unpack_state(data, model)
        self._model, self._mean, self._scale, self._blob = model, mean, scale, data

    def _new_model(self, in_features: int) -> Any:
        c = self.cfg
        return build_model(in_features, c.hidden, c.dim, c.layers, c.seed)

    # -- encoding ----------------------------------------------------------------------
    def encode(self, batch: Sequence[Any], modality: str | None = None) -> np.ndarray:
        """Vectors of nodes of the last fit in this process: float32 ``(len(batch), dim)``.
        New nodes go through :meth:`embed` (they need their edges)."""
        from omnivec.errors import NotFoundError

        self._default_modality(modality)
        if self._vectors is None:
            raise EncoderError(
                "graphsage has no vectors in this process: fit it with collection.fit(graph), "
                "embed new nodes with collection.embed(graph, nodes=...), or search the stored "
                "vectors with ov.ref(node_id)"
            )
        rows = []
        for node in batch:
            row = self._rows.get(encode_id(node))
            if row is None:
                raise NotFoundError(
                    f"node {node!r} was not in the graph of the last fit; embed it with "
                    "collection.embed(graph, nodes=[...])"
                )
            rows.append(row)
        return np.ascontiguousarray(self._vectors[np.asarray(rows, dtype=np.int64)])

    def feature_ids(
        self, graph: Any, nodes: Sequence[Any] | None = None, directed: bool | None = None
    ) -> list[Any]:
        """The node ids whose features ``fit`` (``nodes=None``: every node) or
        ``embed(graph, nodes)`` needs: for ``embed``, the ``layers``-hop neighbourhood."""
        parsed = parse_graph(graph, directed)
        if nodes is None:
            return list(parsed.ids)
        agg = aggregation_graph(parsed)
        ball = khop_ball(agg, self._node_rows(parsed, nodes), self.cfg.layers)
        return [parsed.ids[i] for i in ball]

    # -- training ----------------------------------------------------------------------
    def fit(
        self,
        graph: Any,
        *,
        features: Any = None,
        labels: Any = None,
        directed: bool | None = None,
        progress: bool | None = None,
        threads: int = 1,
        steps: int | None = None,
        init: Any = None,
    ) -> FitResult:
        """Train on ``graph`` and return every node's vector (float32 ``(n, dim)``).

        ``features``: see the module docs (``None``: structural features). ``labels``:
        ``{node: label}`` for some nodes (str or int labels), or a node-attribute name, for
        semi-supervised training. ``steps`` overrides the configured number for this fit.
        ``threads`` is torch's thread count while training (restored after).
        """
        _positive_int("threads", threads)
        if init is not None:
            raise InvalidInputError(
                "graphsage learns weights, not one vector per node: fit it without "
                "warm_start (new nodes need no re-fit: use collection.embed)"
            )
        if steps is not None:
            _positive_int("steps", steps)
        if isinstance(features, str):
            raise InvalidInputError(
                "features='name' (a collection) is resolved by the collection: call "
                "collection.fit(graph, features='name'), or pass {node: vector} here"
            )
        parsed = parse_graph(graph, directed)
        if features is None:
            features = _pyg_features(graph)
        import torch

        with self._lock:
            before = torch.get_num_threads()
            torch.set_num_threads(threads)
            try:
                return self._fit(parsed, graph, features, labels, steps or self.cfg.steps, progress)
            finally:
                torch.set_num_threads(before)

    def _inputs(self, parsed: ParsedGraph, features: Any) -> tuple[np.ndarray, str]:
        """Raw float64 ``(n, f)`` features of every node and their kind."""
        if features is None:
            agg = aggregation_graph(parsed)
            return structural_features(parsed, agg), "structural"
        return feature_matrix(parsed, features), "given"

    def _labels(self, parsed: ParsedGraph, graph: Any, labels: Any) -> Any:
        if labels is None:
            return None
        if isinstance(labels, str):
            nodes = getattr(graph, "nodes", None)
            if nodes is None or not hasattr(graph, "is_directed"):
                raise InvalidInputError("labels='attribute' needs a networkx graph")
            labels = {v: d[labels] for v, d in nodes(data=True) if labels in d}
        if not isinstance(labels, dict) or not labels:
            raise InvalidInputError("labels must be a non-empty {node: label} dict")
        index = {encode_id(v): i for i, v in enumerate(parsed.ids)}
        rows, names = [], []
        for node, label in labels.items():
            i = index.get(encode_id(node))
            if i is None:
                raise InvalidInputError(f"labels name node {node!r}, which is not in the graph")
            rows.append(i)
            names.append(str(label))
        classes = sorted(set(names))
        if len(classes) < 2:
            raise InvalidInputError("labels need at least two different classes")
        y = np.asarray([classes.index(c) for c in names], dtype=np.int64)
        return np.asarray(rows, dtype=np.int64), y, len(classes)

    def _fit(
        self,
        parsed: ParsedGraph,
        graph: Any,
        features: Any,
        labels: Any,
        steps: int,
        progress: bool | None,
    ) -> FitResult:
        import torch

        from omnivec.encoders.node2vec.walker import build_csr, random_walks

        cfg = self.cfg
        t0 = time.perf_counter()
        raw, kind = self._inputs(parsed, features)
        label_data = self._labels(parsed, graph, labels)
        mean = raw.mean(axis=0)
        scale = raw.std(axis=0)
        scale = np.where(scale > 1e-8, scale, 1.0)  # constant columns stay constant
        x = torch.from_numpy(((raw - mean) / scale).astype(np.float32))
        agg = aggregation_graph(parsed)
        adj = normalized_adjacency(agg)
        # walks on the same undirected, weighted view the network aggregates over
        csr = build_csr(
            np.repeat(np.arange(agg.num_nodes), np.diff(agg.indptr)),
            agg.indices,
            agg.num_nodes,
            None if np.all(agg.weights == agg.weights[0]) else agg.weights,
        )
        cumw = csr.cumulative_weights()
        n = parsed.num_nodes
        gen = torch.Generator().manual_seed(cfg.seed)
        order = torch.randperm(n, generator=gen).numpy()
        # walks per step so that about batch_size pairs come out (fewer on dead ends)
        pairs_per_walk = sum(cfg.walk_length + 1 - j for j in range(1, cfg.context_size))
        per_step = max(1, min(n, math.ceil(cfg.batch_size / pairs_per_walk)))
        walk_s = 0.0

        def sample(step: int) -> tuple[np.ndarray, np.ndarray]:
            nonlocal walk_s
            t = time.perf_counter()
            start = (step * per_step) % n
            starts = np.take(order, np.arange(start, start + per_step), mode="wrap")
            walks = random_walks(
                csr, starts, cfg.walk_length, seed=cfg.seed, cumulative=cumw, offset=step * n
            )
            out = pair_batches(walks, cfg.context_size)
            walk_s += time.perf_counter() - t
            return out

        model = self._new_model(raw.shape[1])
        with progress_bar(steps, "graphsage", enabled=progress, unit="step") as bar:

            def on_step(loss: float) -> None:
                bar.update(1)
                bar.set_postfix(loss=f"{loss:.4f}", refresh=False)

            history = train(
                model, x, adj, steps, cfg.lr, sample, cfg.num_negative_samples, gen,
                label_data, on_step,
            )  # fmt: skip
        with torch.no_grad():
            out = model(x, adj).numpy()
        vectors = self._finish(out)
        blob = pack_state(model, mean, scale)
        seconds = time.perf_counter() - t0
        info = {
            "features": kind,
            "in_features": int(raw.shape[1]),
            "nodes": n,
            "edges": int(parsed.src.shape[0]),
            "directed": parsed.directed,
            "supervised": label_data is not None,
            "steps": steps,
            "seconds": round(seconds, 3),
        }
        self._fingerprint = fingerprint_of(self.identity(), info["steps"], blob)
        self._info = info
        self._blob, self._model, self._mean, self._scale = blob, model, mean, scale
        self._vectors = vectors
        self._rows = {encode_id(v): i for i, v in enumerate(parsed.ids)}
        self.history = history
        self.timings = {"walk_s": walk_s, "total_s": seconds, "train_s": seconds - walk_s}
        logger.info("graphsage fitted %d nodes in %.2fs, final loss %.4f", n, seconds, history[-1])
        return FitResult(list(parsed.ids), vectors, parsed.metadata)

    def _finish(self, out: np.ndarray) -> np.ndarray:
        out = np.asarray(out, dtype=np.float32)
        if self.cfg.metric == "cosine":
            out = out / np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-12)
        if not np.isfinite(out).all():
            raise EncoderError("graphsage produced NaN vectors; scale the features or lower lr")
        return np.ascontiguousarray(out, dtype=np.float32)

    # -- new nodes ---------------------------------------------------------------------
    def _node_rows(self, parsed: ParsedGraph, nodes: Sequence[Any]) -> np.ndarray:
        if isinstance(nodes, str | bytes | dict) or not hasattr(nodes, "__iter__"):
            raise InvalidInputError("nodes must be a non-empty list of node ids of the graph")
        nodes = [int(v) if isinstance(v, np.integer) else v for v in nodes]
        if not nodes:
            raise InvalidInputError("nodes must be a non-empty list of node ids of the graph")
        index = {encode_id(v): i for i, v in enumerate(parsed.ids)}
        rows, seen = [], set()
        for node in nodes:
            key = encode_id(node)
            if key in seen:
                raise InvalidInputError(f"node {node!r} is listed twice in nodes")
            seen.add(key)
            i = index.get(key)
            if i is None:
                raise InvalidInputError(
                    f"node {node!r} is not in the graph; pass a graph that holds the new "
                    "nodes with their edges"
                )
            rows.append(i)
        return np.asarray(rows, dtype=np.int64)

    def embed(
        self,
        graph: Any,
        nodes: Sequence[Any],
        *,
        features: Any = None,
        directed: bool | None = None,
        threads: int = 1,
    ) -> FitResult:
        """Vectors of ``nodes`` (float32 ``(len(nodes), dim)``, in that order) computed by the
        trained network on ``graph``, which holds them with their edges. Nothing is trained.

        ``features`` as in :meth:`fit` (the same kind and width as there), needed for the
        ``layers``-hop neighbourhood of ``nodes`` (see :meth:`feature_ids`). Raises
        :class:`InvalidInputError` before a fit, for a node that is not in ``graph``, a node
        without edges when the model uses structural features, or features missing or of
        another width.
        """
        import torch

        _positive_int("threads", threads)
        if self._model is None:
            raise InvalidInputError(
                "graphsage has no trained weights: fit the collection first "
                "(collection.fit(graph, features=...)), then embed new nodes"
            )
        if isinstance(features, str):
            raise InvalidInputError(
                "features='name' is resolved by the collection: call collection.embed(...)"
            )
        parsed = parse_graph(graph, directed)
        if features is None:
            features = _pyg_features(graph)
        rows = self._node_rows(parsed, nodes)
        agg = aggregation_graph(parsed)
        kind = self._info.get("features")
        if kind == "structural":
            if features is not None:
                raise InvalidInputError(
                    "this model was trained on structural features, not given ones; "
                    "embed without features= (or fit again with features)"
                )
            lonely = [parsed.ids[i] for i in rows if agg.degree()[i] == 0]
            if lonely:
                raise InvalidInputError(
                    f"node {lonely[0]!r} has no edges and the model has no features for it; "
                    "add its edges to the graph"
                )
            ball = khop_ball(agg, rows, self.cfg.layers)
            raw = structural_features(parsed, agg)[ball]
        else:
            if features is None:
                raise InvalidInputError(
                    "this model was trained with node features: pass features= for the new "
                    "nodes and their neighbours ({node: vector}, an array, or a collection name)"
                )
            ball = khop_ball(agg, rows, self.cfg.layers)
            raw = feature_matrix(parsed, features, ball)
        want = int(self._info["in_features"])
        if raw.shape[1] != want:
            raise DimensionMismatchError(
                f"features have length {raw.shape[1]}; the model was trained on {want}"
            )
        assert self._mean is not None and self._scale is not None
        x = torch.from_numpy(((raw - self._mean) / self._scale).astype(np.float32))
        adj = normalized_adjacency(agg.subgraph(ball))
        local = np.searchsorted(ball, rows)
        with self._lock:
            before = torch.get_num_threads()
            torch.set_num_threads(threads)
            try:
                with torch.no_grad():
                    out = self._model(x, adj).numpy()[local]
            finally:
                torch.set_num_threads(before)
        meta = [parsed.metadata[i] for i in rows] if parsed.metadata else None
        return FitResult([parsed.ids[i] for i in rows], self._finish(out), meta)


def _pyg_features(graph: Any) -> np.ndarray | None:
    """A ``torch_geometric.data.Data``'s node features ``x`` (float ``(n, f)``), if it has them."""
    x = getattr(graph, "x", None)
    if x is None or not hasattr(x, "detach") or x.dim() != 2 or not hasattr(graph, "edge_index"):
        return None
    return np.asarray(x.detach().cpu().numpy(), dtype=np.float64)

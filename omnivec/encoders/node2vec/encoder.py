"""Node2Vec: graph nodes to vectors with biased random walks and skip-gram.

Walks come from the numba walker in :mod:`omnivec.encoders.node2vec.walker` (PyG's own
``Node2Vec`` needs pyg-lib or torch-cluster, which cannot be installed here); skip-gram with
negative sampling is trained in torch on a sparse ``nn.Embedding`` with ``SparseAdam``, with
PyG's loss: ``-log σ(h_u·h_v)`` for every pair of a context window of a walk and
``-log(1 - σ(h_u·h_n))`` for uniformly drawn negatives ``n``, each term averaged. One
embedding table serves as both centre and context vectors, as in PyG.

Where we differ from PyG, for speed: the embedding of a walk is looked up once and every
window is scored from it, and each walk shares ``num_negative_samples * (context_size - 1)``
negatives among its windows (PyG draws that many per window). The number of negative terms
per positive term is the same.

Defaults chosen on a real connectome (the larval Drosophila mushroom body, 4 cell types,
weighted and directed; docs/graphs.md and benchmarks/quality/connectome.py have the figures):

* ``asymmetric=True``: word2vec's two tables, one of *source* (centre) vectors and one of
  *target* (context) vectors, each ``dim / 2`` wide; a node's vector is
  ``[source / |source|, target / |target|] / sqrt(2)``. With one shared table (PyG's,
  ``asymmetric=False``) ``h_u . h_v`` must model "v follows u" symmetrically, so nodes that
  follow each other are pulled together: a graph's communities survive, its roles (cells that
  feed Kenyon cells against cells fed by them) do not. Skip-gram with two tables factorises a
  shifted PMI of the walk's co-occurrences (NetMF, Qiu et al. 2018); the two halves are the
  left and right factors, like an adjacency spectral embedding's ``[U, V]``.
* ``context_size=2``: pairs of nodes one step apart (with two tables, LINE's second-order
  proximity sampled by walks). Longer windows sum more powers of the transition matrix, which
  mixes toward the stationary distribution and washes roles out (connectome left / right:
  window 2 0.967 / 0.972, 3 0.967 / 0.939, 5 0.952 / 0.972; a bipartite graph, Davis' southern
  women: 1.00, 0.38, 0.53). The price: on sparse graphs whose labels are communities rather
  than roles, longer windows (``context_size=10``, ``asymmetric=False``) can do better.
* ``direction="out"``: walks follow edges as given, so source and target vectors say what a
  node sends to and what it receives from.
* ``weights="log1p"``: a walk steps along ``u -> v`` with probability proportional to
  ``log(1 + w)``; synapse counts, citations and co-occurrence counts are heavy-tailed, and the
  raw counts let a few edges take most walks. Unweighted graphs are unaffected.

Graph conventions:

* networkx ``Graph``/``DiGraph`` (and multigraphs, whose parallel edges add up their weights):
  edge attribute ``weight`` biases the walk; node attributes that are str, int, float or bool
  (with identifier-like names) are stored as metadata and can be used in ``where`` filters.
* ``torch_geometric.data.Data``: nodes ``0 .. num_nodes - 1``; ``edge_index`` is taken as the
  directed edges it lists (PyG stores an undirected graph with both directions), duplicates
  add up; optional ``edge_weight``; a 1-D integer ``y`` becomes metadata ``y``.
* an iterable of ``(u, v)`` or ``(u, v, w)`` with str or int node ids: undirected unless
  ``directed=True``; a repeated edge keeps its last weight (as ``networkx.Graph`` does).

Direction (``direction=``): by default (``"out"``) walks follow edges as given; ``"both"``
walks each edge of a directed graph either way, the weights of ``u -> v`` and ``v -> u`` added
up (round 2's default, chosen on a synthetic proxy; on the real connectome it lost the roles).

Self-loops are edges like any other (a walk may stay on the node). A walk that reaches a node
without out-edges (an isolated node, or with ``direction="out"`` a dangling node) stops there; an
isolated node takes part only as a negative and keeps a vector near its random start. Weights
must be finite and non-negative; zero-weight edges are never walked.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from omnivec.core.encoder import BaseEncoder, FitResult, Trained
from omnivec.core.ids import encode_id
from omnivec.core.progress import progress_bar
from omnivec.core.space import METRICS, Space, fingerprint_of
from omnivec.core.threads import use_torch_threads
from omnivec.encoders.node2vec.graph import (
    WEIGHTS,
    ParsedGraph,
    node_vectors,
    parse_graph,
    transform_weights,
)
from omnivec.errors import DimensionMismatchError, EncoderError, InvalidInputError

__all__ = [
    "DIRECTIONS",
    "LEGACY_CONFIG",
    "WEIGHTS",
    "FitParams",
    "Node2VecConfig",
    "Node2VecEncoder",
]

logger = logging.getLogger(__name__)

#: How walks treat a directed graph's edges: "out" follows edges as given (a walk stops at a
#: node without out-edges), "both" walks each edge either way (the weights of u -> v and
#: v -> u add up). Undirected graphs walk the same either way. See docs/graphs.md.
DIRECTIONS = ("out", "both")

#: The values options added after round 1 had before they existed: a collection recorded
#: without such a key was built with this value (the platform reopens it so), and the identity
#: leaves a key out at this value so those collections keep theirs.
LEGACY_CONFIG: dict[str, Any] = {
    "direction": "both",
    "weights": "raw",
    "asymmetric": False,
}

#: Walkers generated per call of the walker during training (bounds the memory of walks).
_WALK_CHUNK = 1 << 16


@dataclass
class Node2VecConfig:
    """``dim``: vector size. Walks: ``walk_length`` steps from each node, ``walks_per_node``
    per node and epoch, return parameter ``p`` and in-out parameter ``q`` (node2vec's
    ``1/p`` for going back, ``1`` for staying at distance one, ``1/q`` for moving outward).
    Skip-gram: windows of ``context_size`` nodes, ``num_negative_samples`` negatives per
    positive pair, ``epochs`` passes with ``SparseAdam(lr)`` over batches of ``batch_size``
    walks. ``seed`` fixes walks and initialisation. ``direction``: ``"out"`` follows a directed
    graph's edges as given, ``"both"`` either way. ``weights``: ``"log1p"``, ``"raw"`` or
    ``"unweighted"`` (how edge weights bias a step). ``asymmetric``: separate source and target
    tables of ``dim / 2`` each, concatenated (``dim`` must be even); ``False``: one shared
    table. Every field takes part in the space's identity; ``epochs``, ``lr``, ``batch_size``,
    ``walks_per_node`` and ``num_negative_samples`` can also be overridden for one ``fit``."""

    dim: int = 128
    walk_length: int = 40
    walks_per_node: int = 10
    context_size: int = 2
    p: float = 1.0
    q: float = 1.0
    num_negative_samples: int = 1
    epochs: int = 5
    lr: float = 0.01
    batch_size: int = 128
    seed: int = 0
    metric: str = "cosine"
    direction: str = "out"
    weights: str = "log1p"
    asymmetric: bool = True

    def validate(self) -> None:
        if self.direction not in DIRECTIONS:
            raise InvalidInputError(
                f"direction must be one of {DIRECTIONS}, got {self.direction!r}"
            )
        if self.weights not in WEIGHTS:
            raise InvalidInputError(f"weights must be one of {WEIGHTS}, got {self.weights!r}")
        if not isinstance(self.asymmetric, bool):
            raise InvalidInputError(f"asymmetric must be True or False, got {self.asymmetric!r}")
        for name in ("dim", "walk_length", "walks_per_node", "num_negative_samples", "epochs"):
            _positive_int(name, getattr(self, name))
        _positive_int("batch_size", self.batch_size)
        _positive_int("context_size", self.context_size)
        if not 2 <= self.context_size <= self.walk_length + 1:
            raise InvalidInputError(
                f"context_size must be from 2 to walk_length + 1 ({self.walk_length + 1}), "
                f"got {self.context_size}"
            )
        if self.dim > 32_768:
            raise InvalidInputError(f"dim must be at most 32768, got {self.dim}")
        if self.asymmetric and self.dim % 2:
            raise InvalidInputError(
                f"dim must be even with asymmetric=True (half source, half target vectors), "
                f"got {self.dim}; pass an even dim or asymmetric=False"
            )
        for name in ("p", "q", "lr"):
            value = getattr(self, name)
            if (
                isinstance(value, bool)
                or not isinstance(value, int | float)
                or not (math.isfinite(value) and value > 0)
            ):
                raise InvalidInputError(f"{name} must be a positive finite number, got {value!r}")
            setattr(self, name, float(value))
        if isinstance(self.seed, bool) or not isinstance(self.seed, int):
            raise InvalidInputError(f"seed must be an int, got {self.seed!r}")
        if self.metric not in METRICS:
            raise InvalidInputError(f"metric must be one of {METRICS}, got {self.metric!r}")


def _positive_int(name: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InvalidInputError(f"{name} must be a positive int, got {value!r}")


@dataclass
class FitParams:
    """The training settings of one ``fit`` (the configuration plus per-fit overrides)."""

    epochs: int
    lr: float
    batch_size: int
    walks_per_node: int
    num_negative_samples: int


_OVERRIDABLE = frozenset(FitParams.__dataclass_fields__)


class Node2VecEncoder(BaseEncoder):
    """Learns one vector per graph node; ``encode(node_ids)`` returns the learned vectors.

    Use it through a collection: ``col = plat.collection("g", encoder="node2vec", dim=64)``,
    ``col.fit(graph)`` stores every node's vector (float32 ``(dim,)``, unit length for the
    cosine metric) under the node's own id, and ``col.search(ov.ref(node), k=5)`` finds
    similar nodes. ``history`` holds the mean loss of each epoch of the last fit.
    """

    shareable = False  # the learned embedding belongs to one collection

    name = "node2vec"
    modalities = ("node",)
    config_class = Node2VecConfig
    legacy_config = LEGACY_CONFIG
    cfg: Node2VecConfig

    def __init__(self, **config: Any) -> None:
        super().__init__(**config)
        self._lock = threading.Lock()
        self._fingerprint: str | None = None
        self._vectors: np.ndarray | None = None
        self._rows: dict[str, int] = {}
        self._scale: float | None = None
        self._fit_info: dict[str, Any] = {}
        self.history: list[float] = []
        self.timings: dict[str, float] = {}

    # -- identity ----------------------------------------------------------------------
    def identity(self) -> dict[str, Any]:
        """The configuration, without options at their :data:`LEGACY_CONFIG` values:
        collections made before an option existed recorded no such key and must reopen with
        the same identity."""
        ident = super().identity()
        for key, old in LEGACY_CONFIG.items():
            if ident.get(key) == old:
                del ident[key]
        return ident

    @property
    def dim(self) -> int:
        return self.cfg.dim

    @property
    def fitted(self) -> bool:
        """Whether a fit (in this process, or restored from a collection) defines the space."""
        return self._fingerprint is not None

    @property
    def space(self) -> Space:
        """Before any fit, a placeholder space of the configuration; after a fit, one whose
        fingerprint hashes the learned embedding (so every fit is a new space)."""
        return self._space_for(self._fingerprint or fingerprint_of("unfitted", self.identity()))

    def _space_for(self, fingerprint: str) -> Space:
        c = self.cfg
        model = f"node2vec-p{c.p:g}-q{c.q:g}-L{c.walk_length}-w{c.context_size}"
        if c.asymmetric:
            model += "-st"
        return Space(self.name, model, fingerprint, c.dim, c.metric)

    def state_dict(self) -> dict[str, Any]:
        if self._fingerprint is None:
            return {}
        return {
            "fingerprint": self._fingerprint,
            "scale": self._scale,
            "history": list(self.history),
            **self._fit_info,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore the space of a fit recorded by a collection (vectors stay in the store)."""
        if not state.get("fingerprint"):
            return
        self._fingerprint = str(state["fingerprint"])
        scale = state.get("scale")
        self._scale = float(scale) if scale is not None else None
        self.history = [float(x) for x in state.get("history", [])]
        self._fit_info = {
            k: v for k, v in state.items() if k not in ("fingerprint", "scale", "history")
        }

    # -- encoding ----------------------------------------------------------------------
    def encode(self, batch: Sequence[Any], modality: str | None = None) -> np.ndarray:
        """Learned vectors of known node ids: float32 ``(len(batch), dim)``.

        Raises :class:`EncoderError` before a fit in this process and :class:`NotFoundError`
        for a node the last fit did not see.
        """
        self._default_modality(modality)
        vectors = self._vectors
        if vectors is None:
            raise EncoderError(
                "node2vec has no vectors in this process: fit it with collection.fit(graph), "
                "or search the stored vectors with ov.ref(node_id)"
            )
        return node_vectors(vectors, self._rows, batch)

    # -- training ----------------------------------------------------------------------
    def fit(self, graph: Any, **kwargs: Any) -> FitResult:
        """Train on ``graph`` (see :meth:`train`) and adopt the result at once."""
        trained = self.train(graph, **kwargs)
        self.adopt(trained)
        return trained.result

    def adopt(self, trained: Trained) -> None:
        learned = trained.learned
        self._fingerprint = learned["fingerprint"]
        self._scale = learned["scale"]
        self._vectors = learned["vectors"]
        self._rows = learned["rows"]
        self._fit_info = learned["fit_info"]
        self.history = learned["history"]
        self.timings = learned["timings"]

    def train(
        self,
        graph: Any,
        *,
        init: dict[Any, Any] | None = None,
        directed: bool | None = None,
        progress: bool | None = None,
        threads: int | None = None,
        **overrides: Any,
    ) -> Trained:
        """Learn a vector for every node of ``graph`` (see the module docs for what it takes);
        the encoder itself is unchanged until :meth:`adopt`.

        ``init`` maps node ids to starting vectors (``(dim,)``): known nodes start from them,
        new ones at random, so a few ``epochs`` suffice after the graph grew. ``overrides`` may
        set ``epochs``, ``lr``, ``batch_size``, ``walks_per_node`` or ``num_negative_samples``
        for this fit. ``threads`` is torch's thread count, set once per process (core/threads.py):
        the steps are small, so one thread is fastest on a busy machine, and a fixed count
        keeps vectors identical across machines (walks never depend on it). Returns a
        :class:`Trained` whose result holds the ids as given, float32 ``(n_nodes, dim)``
        vectors and node metadata.
        """
        if threads is not None:
            _positive_int("threads", threads)
        unknown = sorted(set(overrides) - _OVERRIDABLE)
        if unknown:
            raise InvalidInputError(
                f"fit() cannot override {', '.join(unknown)}; it takes "
                f"{', '.join(sorted(_OVERRIDABLE))} (other settings belong to the collection)"
            )
        settings = {k: getattr(self.cfg, k) for k in _OVERRIDABLE} | overrides
        probe = Node2VecConfig(**{**asdict(self.cfg), **settings})
        probe.validate()
        params = FitParams(**{k: getattr(probe, k) for k in _OVERRIDABLE})
        parsed = parse_graph(graph, directed)
        # Once per process, not per fit (core/threads.py): the count is process-global.
        use_torch_threads(threads)
        walked = parsed.undirected() if self.cfg.direction == "both" else parsed
        walked = transform_weights(walked, self.cfg.weights)
        with self._lock:
            trained = self._fit(walked, params, init, progress)
        trained.learned["fit_info"]["directed"] = parsed.directed
        return trained

    def _initial(self, parsed: ParsedGraph, init: dict[Any, Any] | None) -> tuple[np.ndarray, int]:
        """float32 ``(n, dim)`` starting rows from ``init`` (NaN rows where unknown), and how
        many were given."""
        n, dim = parsed.num_nodes, self.cfg.dim
        out = np.full((n, dim), np.nan, dtype=np.float32)
        if not init:
            return out, 0
        if not isinstance(init, dict):
            raise InvalidInputError("init must be a dict {node_id: vector}")
        by_key = {encode_id(k): v for k, v in init.items()}
        found = 0
        for i, node in enumerate(parsed.ids):
            vec = by_key.get(encode_id(node))
            if vec is None:
                continue
            arr = np.asarray(vec, dtype=np.float32).reshape(-1)
            if arr.shape[0] != dim:
                raise DimensionMismatchError(
                    f"init vector of node {node!r} has dim {arr.shape[0]}, the encoder has {dim}"
                )
            if not np.isfinite(arr).all():
                raise InvalidInputError(f"init vector of node {node!r} has NaN or inf values")
            out[i] = arr
            found += 1
        if found and self.cfg.metric == "cosine":
            # stored cosine vectors are unit length: bring them (each half of an asymmetric
            # vector on its own) back to the trained scale so old and new nodes start alike
            given = ~np.isnan(out[:, 0])
            parts = np.split(out[given], 2 if self.cfg.asymmetric else 1, axis=1)
            for part in parts:
                norms = np.linalg.norm(part, axis=1, keepdims=True)
                scale = self._scale or float(np.median(norms))
                part *= scale / np.maximum(norms, 1e-12)
            out[given] = np.hstack(parts)
        return out, found

    def _fit(
        self,
        parsed: ParsedGraph,
        params: FitParams,
        init: dict[Any, Any] | None,
        progress: bool | None,
    ) -> Trained:
        import torch

        from omnivec.encoders.node2vec.walker import build_csr, random_walks

        cfg = self.cfg
        t_start = time.perf_counter()
        n = parsed.num_nodes
        csr = build_csr(parsed.src, parsed.dst, n, parsed.weights)
        cumw = csr.cumulative_weights()
        start_rows, n_init = self._initial(parsed, init)

        gen = torch.Generator().manual_seed(cfg.seed)
        width = cfg.dim // 2 if cfg.asymmetric else cfg.dim
        emb = torch.nn.Embedding(n, width, sparse=True)
        ctx = torch.nn.Embedding(n, width, sparse=True) if cfg.asymmetric else emb
        with torch.no_grad():
            # PyG initialises with N(0, 1); a 1/sqrt(dim) scale keeps first dot products O(1)
            # so the sigmoid is not saturated and few epochs go a long way
            emb.weight.normal_(0.0, 1.0 / math.sqrt(width), generator=gen)
            if ctx is not emb:
                ctx.weight.normal_(0.0, 1.0 / math.sqrt(width), generator=gen)
            given = ~np.isnan(start_rows[:, 0])
            if given.any():
                rows = torch.from_numpy(np.flatnonzero(given))
                start = torch.from_numpy(start_rows[given])
                emb.weight[rows] = start[:, :width]
                if ctx is not emb:
                    ctx.weight[rows] = start[:, width:]
        tables = [emb] if ctx is emb else [emb, ctx]
        optimizer = torch.optim.SparseAdam([t.weight for t in tables], lr=params.lr)

        n_walks = n * params.walks_per_node
        n_batches = math.ceil(n_walks / params.batch_size)
        chunk = max(params.batch_size, (_WALK_CHUNK // params.batch_size) * params.batch_size)
        window = cfg.walk_length + 2 - cfg.context_size  # windows per walk
        n_neg = params.num_negative_samples * (cfg.context_size - 1)
        walk_s = 0.0
        history: list[float] = []
        with progress_bar(
            params.epochs * n_batches, "node2vec", enabled=progress, unit="batch"
        ) as bar:
            for epoch in range(params.epochs):
                order = torch.randperm(n_walks, generator=gen).numpy() % n
                epoch_seed = int(fingerprint_of(cfg.seed, epoch)[:16], 16)
                total, count = 0.0, 0
                for c0 in range(0, n_walks, chunk):
                    t0 = time.perf_counter()
                    walks = random_walks(
                        csr,
                        order[c0 : c0 + chunk],
                        cfg.walk_length,
                        cfg.p,
                        cfg.q,
                        seed=epoch_seed,
                        cumulative=cumw,
                        offset=c0,
                    )
                    walk_s += time.perf_counter() - t0
                    walks_t = torch.from_numpy(walks)
                    for b0 in range(0, walks.shape[0], params.batch_size):
                        batch = walks_t[b0 : b0 + params.batch_size].long()
                        loss = _skipgram_loss(
                            emb, ctx, batch, cfg.context_size, window, n_neg, n, gen
                        )
                        optimizer.zero_grad()
                        loss.backward()
                        optimizer.step()
                        total += loss.detach().item() * batch.shape[0]
                        count += batch.shape[0]
                        bar.update(1)
                mean = total / max(count, 1)
                history.append(mean)
                bar.set_postfix(loss=f"{mean:.4f}")
                logger.info("node2vec epoch %d/%d: loss %.4f", epoch + 1, params.epochs, mean)

        parts = [t.weight.detach().numpy().astype(np.float32, copy=True) for t in tables]
        raw = np.hstack(parts)
        norms = np.linalg.norm(parts[0], axis=1, keepdims=True)
        if cfg.metric == "cosine":
            # each half unit length, then the whole: source and target weigh the same
            halves = [
                p / np.maximum(np.linalg.norm(p, axis=1, keepdims=True), 1e-12) for p in parts
            ]
            combined: np.ndarray = np.hstack(halves) / math.sqrt(len(halves))
        else:
            combined = raw
        vectors = np.ascontiguousarray(combined, dtype=np.float32)
        seconds = time.perf_counter() - t_start
        fit_info = {
            "nodes": n,
            "edges": int(csr.num_edges),
            "directed": parsed.directed,
            "warm_started": n_init,
            "fit": asdict(params),
            "seconds": round(seconds, 3),
        }
        fingerprint = fingerprint_of(self.identity(), fit_info["fit"], raw)
        learned = {
            "fingerprint": fingerprint,
            "scale": float(np.mean(norms)),
            "vectors": vectors,
            "rows": {encode_id(node): i for i, node in enumerate(parsed.ids)},
            "fit_info": fit_info,
            "history": history,
            "timings": {"walk_s": walk_s, "train_s": seconds - walk_s, "total_s": seconds},
        }
        logger.info(
            "node2vec fitted %d nodes in %.2fs (walks %.2fs), final loss %.4f",
            n,
            seconds,
            walk_s,
            history[-1] if history else float("nan"),
        )
        result = FitResult(list(parsed.ids), vectors, parsed.metadata)
        return Trained(result, self._space_for(fingerprint), learned)


def _skipgram_loss(
    emb: Any, ctx: Any, walks: Any, context_size: int, window: int, n_neg: int, n: int, gen: Any
) -> Any:
    """PyG's node2vec loss for a batch of walks (int64 ``(B, L + 1)``, ``-1`` padded).

    Positive terms pair the first node of each window of ``context_size`` nodes (its vector
    from ``emb``) with the others (theirs from ``ctx``, which is ``emb`` itself for one shared
    table); negative terms pair it with ``n_neg`` random nodes shared by the windows of its walk.
    """
    import torch
    import torch.nn.functional as F

    b = walks.shape[0]
    valid = walks >= 0
    negatives = torch.randint(0, n, (b, n_neg), generator=gen)
    flat = walks.clamp(min=0).reshape(-1)
    if ctx is emb:
        h_all = emb(torch.cat([flat, negatives.reshape(-1)]))
        h = c = h_all[: walks.numel()].view(b, walks.shape[1], -1)
        h_neg = h_all[walks.numel() :].view(b, n_neg, -1)
    else:
        h = emb(flat).view(b, walks.shape[1], -1)
        c_all = ctx(torch.cat([flat, negatives.reshape(-1)]))
        c = c_all[: walks.numel()].view(b, walks.shape[1], -1)
        h_neg = c_all[walks.numel() :].view(b, n_neg, -1)
    centre = h[:, :window]
    pos = torch.stack(
        [(centre * c[:, j : j + window]).sum(-1) for j in range(1, context_size)], dim=-1
    )  # (B, W, C - 1)
    neg = torch.bmm(centre, h_neg.transpose(1, 2))  # (B, W, n_neg)
    if bool(valid.all()):
        return -F.logsigmoid(pos).mean() - F.logsigmoid(-neg).mean()
    # padding is a suffix, so a pair is valid when its later node is
    pos_mask = torch.stack(
        [valid[:, j : j + window] for j in range(1, context_size)], dim=-1
    ).float()
    centre_mask = valid[:, :window].float().unsqueeze(-1)
    pos_loss = -(F.logsigmoid(pos) * pos_mask).sum() / pos_mask.sum().clamp(min=1.0)
    neg_loss = -(F.logsigmoid(-neg) * centre_mask).sum() / (centre_mask.sum() * n_neg).clamp(
        min=1.0
    )
    return pos_loss + neg_loss

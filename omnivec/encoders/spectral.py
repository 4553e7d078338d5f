"""Spectral embedding of graph nodes: adjacency (ASE) or regularised Laplacian (LSE).

``plat.collection("g", encoder="spectral", dim=16).fit(graph)`` takes the same graphs as
node2vec (networkx ``Graph``/``DiGraph``, PyG ``Data``, ``(u, v[, w])`` edges; node ids as
given) and stores one vector per node: the top singular (or eigen) vectors of the weighted
adjacency matrix scaled by the square roots of their singular values, as graspologic's
``AdjacencySpectralEmbed`` / ``LaplacianSpectralEmbed``. One truncated SVD through
``scipy.sparse.linalg`` (``svds`` for a directed graph, ``eigsh`` for an undirected one):
about a second for graphs of tens of thousands of nodes, no training, no randomness beyond
the solver's fixed start vector (``seed``).

* **Undirected** graphs: the ``dim`` eigenvectors of largest magnitude, ``U sqrt(|lambda|)``.
* **Directed** graphs: ``k = ceil(dim / 2)`` singular triplets of ``A`` (``A[u, v]`` = weight of
  ``u -> v``), embedded as ``[U sqrt(s), V sqrt(s)]``: the first half says what a node sends
  to (out-vector), the second what it receives from (in-vector). So ``dim`` is *split* between
  the two; for odd ``dim`` the in-vector has one column fewer.
* ``laplacian=True``: the same on ``L = (D_out + tau)^-1/2 A (D_in + tau)^-1/2`` with ``tau``
  the mean degree (graspologic's regularised "R-DAD" form), which evens out hubs.
* ``weights``: ``"log1p"`` (default: log(1 + w), measured better on a weighted connectome, see
  docs/graphs.md), ``"raw"`` or ``"unweighted"``.

Vectors are unit length for the cosine metric (each half of a directed vector first, so
out- and in-vectors weigh the same). A node without edges gets the same fixed unit vector as
every other such node. Singular vectors' signs are fixed (largest entry positive), so a fit is
reproducible.
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
from omnivec.core.space import METRICS, Space, fingerprint_of
from omnivec.encoders.node2vec.graph import (
    WEIGHTS,
    ParsedGraph,
    node_vectors,
    parse_graph,
    transform_weights,
)
from omnivec.errors import EncoderError, InvalidInputError

__all__ = ["SpectralConfig", "SpectralEncoder", "spectral_embedding"]

logger = logging.getLogger(__name__)

#: Below this many nodes a dense SVD is used (faster than ARPACK there, and exact).
_DENSE_BELOW = 600


@dataclass
class SpectralConfig:
    """``dim``: vector size (directed graphs: split between out- and in-vectors).
    ``laplacian``: regularised Laplacian instead of the adjacency matrix. ``weights``:
    ``"log1p"``, ``"raw"`` or ``"unweighted"``. ``seed``: the solver's start vector."""

    dim: int = 16
    laplacian: bool = False
    weights: str = "log1p"
    seed: int = 0
    metric: str = "cosine"

    def validate(self) -> None:
        if isinstance(self.dim, bool) or not isinstance(self.dim, int) or self.dim < 1:
            raise InvalidInputError(f"dim must be a positive int, got {self.dim!r}")
        if self.dim > 4096:
            raise InvalidInputError(f"dim must be at most 4096, got {self.dim}")
        if not isinstance(self.laplacian, bool):
            raise InvalidInputError(f"laplacian must be True or False, got {self.laplacian!r}")
        if self.weights not in WEIGHTS:
            raise InvalidInputError(f"weights must be one of {WEIGHTS}, got {self.weights!r}")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int):
            raise InvalidInputError(f"seed must be an int, got {self.seed!r}")
        if self.metric not in METRICS:
            raise InvalidInputError(f"metric must be one of {METRICS}, got {self.metric!r}")


def _fix_signs(u: np.ndarray, v: np.ndarray | None = None) -> None:
    """Flip each column (and its partner in ``v``) so its largest-magnitude entry is positive."""
    rows = np.abs(u).argmax(axis=0)
    signs = np.sign(u[rows, np.arange(u.shape[1])])
    signs[signs == 0] = 1.0
    u *= signs
    if v is not None:
        v *= signs


def _top_svd(m: Any, k: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Top-``k`` singular triplets of sparse ``m`` (descending), ``k`` < min(shape)."""
    from scipy.sparse.linalg import svds

    n = min(m.shape)
    if n < _DENSE_BELOW or k >= n - 1:
        u, s, vt = np.linalg.svd(m.toarray(), full_matrices=False)
        return u[:, :k], s[:k], vt[:k].T
    v0 = np.random.default_rng(seed).standard_normal(n)
    u, s, vt = svds(m.astype(np.float64), k=k, v0=v0)
    order = np.argsort(-s)
    return u[:, order], s[order], vt[order].T


def _top_eig(m: Any, k: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Top-``k`` eigenpairs of symmetric sparse ``m`` by magnitude (descending |lambda|)."""
    from scipy.sparse.linalg import eigsh

    n = m.shape[0]
    if n < _DENSE_BELOW or k >= n - 1:
        lam, vec = np.linalg.eigh(m.toarray())
    else:
        v0 = np.random.default_rng(seed).standard_normal(n)
        lam, vec = eigsh(m.astype(np.float64), k=k, which="LM", v0=v0)
    order = np.argsort(-np.abs(lam))[:k]
    return lam[order], vec[:, order]


def _pad(x: np.ndarray, width: int) -> np.ndarray:
    """``x`` with zero columns appended up to ``width`` (a graph smaller than ``dim``)."""
    if x.shape[1] >= width:
        return x[:, :width]
    return np.hstack([x, np.zeros((x.shape[0], width - x.shape[1]))])


def _unit_rows(x: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return np.where(norms > 1e-12, x / np.maximum(norms, 1e-12), 0.0)


def spectral_embedding(
    parsed: ParsedGraph, dim: int, *, laplacian: bool = False, seed: int = 0
) -> np.ndarray:
    """float64 ``(n, dim)`` unnormalised spectral embedding of ``parsed`` (see the module)."""
    import scipy.sparse as sp

    n = parsed.num_nodes
    w = parsed.weights if parsed.weights is not None else np.ones(parsed.src.shape[0])
    a = sp.csr_matrix((w, (parsed.src, parsed.dst)), shape=(n, n), dtype=np.float64)
    if laplacian:
        d_out = np.asarray(a.sum(axis=1)).ravel()
        d_in = np.asarray(a.sum(axis=0)).ravel()
        tau = float(d_out.mean())
        a = sp.diags(1.0 / np.sqrt(d_out + tau)) @ a @ sp.diags(1.0 / np.sqrt(d_in + tau))
        a = a.tocsr()
    if not parsed.directed:
        k = min(dim, n)
        lam, vec = _top_eig(a, k, seed)
        _fix_signs(vec)
        return _pad(vec * np.sqrt(np.abs(lam)), dim)
    k_out = math.ceil(dim / 2)
    k = min(k_out, n)
    u, s, v = _top_svd(a, k, seed)
    _fix_signs(u, v)
    root = np.sqrt(s)
    return np.hstack([_pad(u * root, k_out), _pad(v * root, dim - k_out)])


class SpectralEncoder(BaseEncoder):
    """Adjacency / Laplacian spectral embedding of graph nodes (see the module docs).

    Use it through a collection: ``col = plat.collection("g", encoder="spectral")``,
    ``col.fit(graph)`` stores every node's vector under its own id, and
    ``col.search(ov.ref(node), k=5)`` finds similar nodes.
    """

    shareable = False  # the embedding belongs to one collection

    name = "spectral"
    modalities = ("node",)
    config_class = SpectralConfig
    cfg: SpectralConfig

    def __init__(self, **config: Any) -> None:
        super().__init__(**config)
        self._lock = threading.Lock()
        self._fingerprint: str | None = None
        self._vectors: np.ndarray | None = None
        self._rows: dict[str, int] = {}
        self._fit_info: dict[str, Any] = {}
        self.timings: dict[str, float] = {}

    @property
    def dim(self) -> int:
        return self.cfg.dim

    @property
    def fitted(self) -> bool:
        return self._fingerprint is not None

    @property
    def space(self) -> Space:
        """Before any fit a placeholder of the configuration; after, one whose fingerprint
        hashes the embedding (every fit is a new space)."""
        return self._space_for(self._fingerprint or fingerprint_of("unfitted", self.identity()))

    def _space_for(self, fingerprint: str) -> Space:
        c = self.cfg
        model = f"{'lse' if c.laplacian else 'ase'}-{c.weights}"
        return Space(self.name, model, fingerprint, c.dim, c.metric)

    def state_dict(self) -> dict[str, Any]:
        if self._fingerprint is None:
            return {}
        return {"fingerprint": self._fingerprint, **self._fit_info}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if not state.get("fingerprint"):
            return
        self._fingerprint = str(state["fingerprint"])
        self._fit_info = {k: v for k, v in state.items() if k != "fingerprint"}

    def encode(
        self, batch: Sequence[Any], modality: str | None = None, role: str | None = None
    ) -> np.ndarray:
        """Vectors of known node ids from the last fit in this process: float32
        ``(len(batch), dim)``. :class:`EncoderError` before a fit, :class:`NotFoundError`
        for a node the fit did not see."""
        self._default_modality(modality)
        vectors = self._vectors
        if vectors is None:
            raise EncoderError(
                "spectral has no vectors in this process: fit it with collection.fit(graph), "
                "or search the stored vectors with ov.ref(node_id)"
            )
        return node_vectors(vectors, self._rows, batch)

    def fit(self, graph: Any, **kwargs: Any) -> FitResult:
        """Embed ``graph`` (see :meth:`train`) and adopt the result at once."""
        trained = self.train(graph, **kwargs)
        self.adopt(trained)
        return trained.result

    def adopt(self, trained: Trained) -> None:
        learned = trained.learned
        self._fingerprint = learned["fingerprint"]
        self._vectors = learned["vectors"]
        self._rows = learned["rows"]
        self._fit_info = learned["fit_info"]
        self.timings = learned["timings"]

    def train(
        self,
        graph: Any,
        *,
        directed: bool | None = None,
        init: dict[Any, Any] | None = None,
        progress: bool | None = None,
        threads: int | None = None,
    ) -> Trained:
        """Embed every node of ``graph``; the encoder is unchanged until :meth:`adopt`.

        ``directed`` applies to edge lists and PyG data as in node2vec. ``progress`` and
        ``threads`` are accepted for a common graph-fit signature and unused. Raises
        :class:`InvalidInputError` for a graph without edges (nothing is written).
        """
        del progress, threads
        if init:
            raise InvalidInputError(
                "spectral embeddings are computed in one step from the whole graph; "
                "fit without warm_start=True"
            )
        parsed = transform_weights(parse_graph(graph, directed), self.cfg.weights)
        cfg = self.cfg
        t0 = time.perf_counter()
        with self._lock:
            raw = spectral_embedding(parsed, cfg.dim, laplacian=cfg.laplacian, seed=cfg.seed)
        seconds = time.perf_counter() - t0
        if cfg.metric == "cosine":
            if parsed.directed:
                half = math.ceil(cfg.dim / 2)
                parts = [_unit_rows(raw[:, :half]), _unit_rows(raw[:, half:])]
                vectors = np.hstack(parts) / math.sqrt(2.0)
            else:
                vectors = _unit_rows(raw)
            norms = np.linalg.norm(vectors, axis=1)
            vectors[norms < 1e-6] = 0.0
            vectors[norms < 1e-6, -1] = 1.0  # no edges: one fixed direction for all such nodes
            vectors = _unit_rows(vectors)
        else:
            vectors = raw
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        fit_info = {
            "nodes": parsed.num_nodes,
            "edges": int(parsed.src.shape[0]),
            "directed": parsed.directed,
            "seconds": round(seconds, 3),
        }
        fingerprint = fingerprint_of(self.identity(), asdict(cfg), vectors)
        learned = {
            "fingerprint": fingerprint,
            "vectors": vectors,
            "rows": {encode_id(node): i for i, node in enumerate(parsed.ids)},
            "fit_info": fit_info,
            "timings": {"total_s": seconds},
        }
        logger.info(
            "spectral embedded %d nodes (%s) in %.2fs",
            parsed.num_nodes,
            "directed" if parsed.directed else "undirected",
            seconds,
        )
        result = FitResult(list(parsed.ids), vectors, parsed.metadata)
        return Trained(result, self._space_for(fingerprint), learned)

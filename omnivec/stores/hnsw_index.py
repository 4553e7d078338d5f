"""An in-process HNSW graph (faiss ``IndexHNSWFlat``) for collections where IVF is weak.

IVF answers fast when the data has clusters its lists can follow; on uniform-like data (no
clusters: every list is as near as the next) a query has to probe a large share of the lists
for recall 0.95, and costs nearly a brute-force scan. A proximity graph does not depend on
clusters. :class:`omnivec.stores.ann.AnnManager` chooses this index for ``index="auto"`` when
calibration shows the IVF index needs more than :data:`HNSW_PROBE_SHARE` of its lists, and for
``index="hnsw"``.

- **Writes stay cheap.** A write appends its rows to an unindexed tail (positions after the
  graph's); a background thread (one faiss thread, lowered priority) moves the tail into the
  graph :data:`BUILD_CHUNK` rows at a time under the collection's lock. Searches scan the tail
  exactly and merge it with the graph's answer, so nothing written is missed. A search that
  finds a tail of more than :data:`MAX_TAIL_SHARE` of the rows (whose scan would cost more than
  the promised speed) finishes the build first at full speed, as an index build would.
- **Deletes and replacements are tombstones**: the position's key is cleared and its bit in
  an alive bitmap (faiss ``IDSelectorBitmap``) is unset, so the graph skips it in results
  while still walking through it. When tombstones exceed :data:`COMPACT_SHARE` of the
  positions, :meth:`HnswIndex.compacted` starts over from the live rows (the graph is rebuilt
  in the background; searches scan meanwhile).
- **efSearch is calibrated** on fresh queries (stored rows moved by their own nearest-
  neighbour distance, :func:`omnivec.stores.index_common.fresh_queries`) for the collection's
  recall target, and again each time the collection doubles.
- **Files** like the IVF index's: ``<name>.faiss`` (faiss' format, written after the tail is
  built), ``.keys`` (a tombstone's line is empty) and the bookkeeping ``.json``.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from omnivec.core.ids import decode_id
from omnivec.core.progress import progress_bar
from omnivec.stores.calibration import recall_of
from omnivec.stores.index_common import (
    RECALL_TARGET,
    TailWorker,
    calibration_target,
    faiss_module,
    fresh_queries,
    read_keys,
    versions,
    write_keys,
)
from omnivec.stores.mirror import Lookup, Prepared
from omnivec.stores.scan import RowBlock

__all__ = [
    "BUILD_CHUNK",
    "COMPACT_SHARE",
    "EF_STEPS",
    "HNSW_M",
    "HNSW_PROBE_SHARE",
    "MAX_TAIL_SHARE",
    "HnswIndex",
]

logger = logging.getLogger(__name__)

#: Graph degree and construction depth (faiss' efConstruction).
HNSW_M = 32
EF_CONSTRUCTION = 64
#: ``index="auto"`` builds a graph instead of IVF lists when the calibrated nprobe exceeds
#: this share of the lists (a query would then scan over a tenth of the rows).
HNSW_PROBE_SHARE = 1 / 8
#: Rows the background thread moves from the tail into the graph per hold of the lock.
BUILD_CHUNK = 1_000
#: A search finishes the build first when the unindexed tail holds more than this share of
#: the rows (and more than MIN_TAIL rows): scanning it would cost over ~5% of a full scan.
MAX_TAIL_SHARE = 0.05
MIN_TAIL = 5_000
#: Compaction once tombstones exceed this share of the positions (and COMPACT_MIN of them).
COMPACT_SHARE = 0.25
COMPACT_MIN = 1_000
#: efSearch values tried by the calibration, smallest first.
EF_STEPS = (16, 24, 32, 48, 64, 96, 128, 192, 256, 384, 512, 768, 1024, 1536, 2048)
_CALIBRATE_QUERIES = 256
_EXACT_BLOCK = 32_768


class HnswIndex:
    """A faiss HNSW graph over one collection's rows, an unindexed tail, tombstones.

    Positions (int64 ids) are given in write order; the graph holds positions
    ``[0, graph.ntotal)`` and the tail the rest. ``lock`` is the collection's lock: every
    method is called under it, and the background builder takes it per chunk."""

    kind = "hnsw"
    searchable = True

    def __init__(self, graph: Any, metric: str, keys: list[str | None], lock: Any) -> None:
        self.graph = graph
        self.metric = metric
        self.dim = int(graph.d)
        self.keys = keys
        self.ids = {k: i for i, k in enumerate(keys) if k is not None}
        self.lock = lock
        self.ef = 64
        self.recall_target = RECALL_TARGET
        self.calibrated_recall: float | None = None
        self.calibrated_rows = 0
        self.has_metadata = True
        self._tail = np.empty((0, self.dim), np.float32)
        self._tail_from = 0  # rows of _tail already in the graph
        self._tail_end = 0
        self._bitmap = np.zeros(0, np.uint8)
        self._grow_bitmap(len(keys))
        for i, k in enumerate(keys):
            if k is not None:
                self._bitmap[i >> 3] |= 1 << (i & 7)
        self.dead = len(keys) - len(self.ids)
        self.worker = TailWorker(
            "omnivec-hnsw-build", "omnivec: building the HNSW graph failed; the tail is scanned"
        )

    # -- making one ------------------------------------------------------------------------
    @staticmethod
    def _graph(dim: int, metric: str) -> Any:
        faiss = faiss_module()
        fmetric = faiss.METRIC_L2 if metric == "l2" else faiss.METRIC_INNER_PRODUCT
        graph = faiss.IndexHNSWFlat(dim, HNSW_M, fmetric)
        graph.hnsw.efConstruction = EF_CONSTRUCTION
        return graph

    @classmethod
    def empty(cls, dim: int, metric: str, lock: Any) -> HnswIndex:
        return cls(cls._graph(dim, metric), metric, [], lock)

    @classmethod
    def from_rows(
        cls, keys: Sequence[str], vectors: np.ndarray, metric: str, lock: Any, prepared: bool
    ) -> HnswIndex:
        """A graph to be built from ``vectors`` (n, dim) (``prepared``: unit rows already for
        cosine): every row starts in the tail; :meth:`start` builds in the background."""
        out = cls.empty(int(vectors.shape[1]), metric, lock)
        out._append(list(keys), vectors if prepared else out._prepare(vectors))
        return out

    @property
    def rows(self) -> int:
        return len(self.ids)

    @property
    def pending(self) -> int:
        """Rows written but not in the graph yet."""
        return self._tail_end - self._tail_from

    def _prepare(self, vectors: np.ndarray) -> np.ndarray:
        x = np.array(vectors, dtype=np.float32, order="C", copy=True, ndmin=2)
        if self.metric == "cosine":
            faiss = faiss_module()
            faiss.fvec_renorm_L2(x.shape[1], x.shape[0], faiss.swig_ptr(x))
        return x

    def _grow_bitmap(self, positions: int) -> None:
        need = (positions + 7) >> 3
        if need > len(self._bitmap):
            grown = np.zeros(max(need, 2 * len(self._bitmap), 64), np.uint8)
            grown[: len(self._bitmap)] = self._bitmap
            self._bitmap = grown

    # -- writes (under the collection's lock) ---------------------------------------------
    def _append(self, keys: list[str], x: np.ndarray) -> None:
        n = len(keys)
        if self._tail_end + n > len(self._tail):
            live = self._tail[self._tail_from : self._tail_end]
            grown = np.empty((max(2 * (len(live) + n), 1_024), self.dim), np.float32)
            grown[: len(live)] = live
            self._tail, self._tail_from, self._tail_end = grown, 0, len(live)
        self._tail[self._tail_end : self._tail_end + n] = x
        self._tail_end += n
        start = len(self.keys)
        self._grow_bitmap(start + n)
        for j, key in enumerate(keys):
            pos = start + j
            self.keys.append(key)
            self.ids[key] = pos
            self._bitmap[pos >> 3] |= 1 << (pos & 7)

    def prepare(self, vectors: np.ndarray) -> Prepared | None:
        return None  # a write only appends to the tail

    def upsert(self, keys: Sequence[str], vectors: np.ndarray, assigned: object = None) -> None:
        """Add or replace rows: a replaced key's old position becomes a tombstone."""
        self.remove([k for k in keys if k in self.ids])
        self._append(list(keys), self._prepare(vectors))

    def remove(self, keys: Sequence[str]) -> None:
        for key in keys:
            pos = self.ids.pop(key, None)
            if pos is None:
                continue
            self.keys[pos] = None
            self._bitmap[pos >> 3] &= ~np.uint8(1 << (pos & 7))
            self.dead += 1

    def wants_compaction(self) -> bool:
        return self.dead >= COMPACT_MIN and self.dead > COMPACT_SHARE * len(self.keys)

    def compaction(self) -> HnswIndex | None:
        """:meth:`compacted` once tombstones exceed their share (this one's build stops)."""
        if not self.wants_compaction():
            return None
        self.stop()
        return self.compacted()

    def retarget(self, target: float) -> bool:
        self.recall_target, self.calibrated_rows = target, 0  # calibrated again
        return True

    def compacted(self) -> HnswIndex:
        """A new index over the live rows only (its graph is built in the background)."""
        keys, rows = self._live_rows()
        out = HnswIndex.from_rows(keys, rows, self.metric, self.lock, prepared=True)
        out.ef, out.recall_target = self.ef, self.recall_target
        out.calibrated_recall, out.calibrated_rows = self.calibrated_recall, self.calibrated_rows
        out.has_metadata = self.has_metadata
        return out

    # -- building the graph -------------------------------------------------------------------
    def start(self) -> None:
        """Build the tail into the graph in a background thread (if there is one to build)."""
        if self.pending:
            self.worker.start(self.lock, lambda: self._add_chunk(BUILD_CHUNK), self._tail_done)

    def stop(self) -> None:
        """Stop the background build (the tail stays; searches keep scanning it)."""
        self.worker.stop()

    def _add_chunk(self, rows: int) -> int:
        """Move up to ``rows`` tail rows into the graph (under the lock); returns how many."""
        n = min(rows, self.pending)
        if n:
            self.graph.add(self._tail[self._tail_from : self._tail_from + n])
            self._tail_from += n
            if self._tail_from == self._tail_end:
                self._tail_from = self._tail_end = 0
        return n

    def _tail_done(self) -> None:
        if self.calibration_due:
            self.calibrate()

    def finish(self, progress: bool | None = None) -> None:
        """Build the whole tail now at full speed (under the lock) and calibrate if due:
        before a save, or for a search whose tail scan would cost too much."""
        self.stop()
        total = self.pending
        if total:
            with progress_bar(total, "building the HNSW graph", progress, unit="vec") as bar:
                while self.pending:
                    bar.update(self._add_chunk(20_000))
        if self.calibration_due:
            self.calibrate()

    def tail_too_long(self) -> bool:
        return self.pending > max(MIN_TAIL, MAX_TAIL_SHARE * max(len(self.keys), 1))

    # -- reads --------------------------------------------------------------------------------
    def _graph_rows(self) -> np.ndarray:
        """The graph's stored rows, float32 ``(graph.ntotal, dim)``, a view of faiss' memory."""
        faiss = faiss_module()
        n = int(self.graph.ntotal)
        if not n:
            return np.empty((0, self.dim), np.float32)
        storage = faiss.downcast_index(self.graph.storage)
        return faiss.rev_swig_ptr(storage.get_xb(), n * self.dim).reshape(n, self.dim)

    def _live_rows(self) -> tuple[list[str], np.ndarray]:
        graph_n = int(self.graph.ntotal)
        pos = np.fromiter(self.ids.values(), dtype=np.int64, count=len(self.ids))
        pos.sort()
        in_graph = pos[pos < graph_n]
        in_tail = pos[pos >= graph_n] - graph_n + self._tail_from
        rows = np.concatenate([self._graph_rows()[in_graph], self._tail[in_tail]])
        return [self.keys[int(i)] for i in pos], rows  # type: ignore[misc]

    def read(self, unit: bool) -> RowBlock | None:
        """Every live row (unit rows for cosine: None unless ``unit``), in position order."""
        if self.metric == "cosine" and not unit:
            return None
        keys, rows = self._live_rows()
        return RowBlock(keys, rows, unit=self.metric == "cosine")

    def vectors(self) -> tuple[list[str], np.ndarray]:
        return self._live_rows()

    def _score(self, raw: np.ndarray) -> np.ndarray:
        """faiss' distances (squared L2, or inner products) as higher-is-better scores."""
        return -np.sqrt(np.maximum(raw, 0.0)) + 0.0 if self.metric == "l2" else raw

    def _tail_top(self, q: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Exact (raw scores, positions) of the tail's best ``k`` live rows per query; raw
        scores are inner products, or minus squared L2 distances."""
        m = q.shape[0]
        if not self.pending:
            return np.empty((m, 0), np.float32), np.empty((m, 0), np.int64)
        return self._exact(q, k, self._tail[self._tail_from : self._tail_end], len(self.keys)
                           - self.pending)  # fmt: skip

    def _exact(
        self, q: np.ndarray, k: int, rows: np.ndarray, first: int
    ) -> tuple[np.ndarray, np.ndarray]:
        """Exact top ``k`` of ``rows`` (positions ``first``...) by raw score, dead left out."""
        m = q.shape[0]
        best_s = np.full((m, 0), -np.inf, np.float32)
        best_i = np.empty((m, 0), np.int64)
        for lo in range(0, len(rows), _EXACT_BLOCK):
            block = rows[lo : lo + _EXACT_BLOCK]
            s = q @ block.T
            if self.metric == "l2":
                s = (
                    2 * s
                    - np.einsum("ij,ij->i", block, block)
                    - np.einsum("ij,ij->i", q, q)[:, None]
                )
            pos = np.arange(first + lo, first + lo + len(block))
            alive = (self._bitmap[pos >> 3] >> (pos & 7)) & 1
            s[:, alive == 0] = -np.inf
            cand_s = np.concatenate([best_s, s], axis=1)
            cand_i = np.concatenate([best_i, np.broadcast_to(pos, s.shape)], axis=1)
            take = min(k, cand_s.shape[1])
            top = np.argpartition(-cand_s, take - 1, axis=1)[:, :take]
            best_s = np.take_along_axis(cand_s, top, axis=1)
            best_i = np.take_along_axis(cand_i, top, axis=1)
        best_i = np.where(np.isfinite(best_s), best_i, -1)
        return best_s, best_i

    def _search_positions(
        self, q: np.ndarray, k: int, ef: int | None, exact: bool = False
    ) -> tuple[np.ndarray, np.ndarray]:
        """(higher-is-better scores, positions) ``(m, <=k)`` best first; -1: none."""
        faiss = faiss_module()
        m = q.shape[0]
        graph_n = int(self.graph.ntotal)
        parts_s, parts_i = [], []
        if graph_n and exact:
            s, i = self._exact(q, k, self._graph_rows(), 0)
            parts_s.append(s)
            parts_i.append(i)
        elif graph_n:
            sel = None
            if self.dead:
                sel = faiss.IDSelectorBitmap(graph_n, faiss.swig_ptr(self._bitmap))
            fetch = min(k, graph_n)
            params = faiss.SearchParametersHNSW(efSearch=max(ef or self.ef, fetch), sel=sel)
            dist, found = self.graph.search(q, fetch, params=params)
            if self.metric == "l2":
                dist = -dist
            parts_s.append(np.where(found >= 0, dist, -np.inf).astype(np.float32))
            parts_i.append(found)
        if self.pending:
            s, i = self._tail_top(q, k)
            parts_s.append(s)
            parts_i.append(i)
        if not parts_s:
            return np.empty((m, 0), np.float32), np.empty((m, 0), np.int64)
        s = np.concatenate(parts_s, axis=1)
        i = np.concatenate(parts_i, axis=1)
        order = np.argsort(-s, axis=1, kind="stable")[:, :k]
        s, i = np.take_along_axis(s, order, axis=1), np.take_along_axis(i, order, axis=1)
        i = np.where(np.isfinite(s), i, -1)
        raw = -s if self.metric == "l2" else s
        return self._score(raw), i

    def search(
        self, queries: np.ndarray, k: int, ef: int | None = None, exact: bool = False
    ) -> list[list[tuple[str, float]]]:
        """Top-``k`` (key, higher-is-better score) per query; ``ef``: efSearch for this call
        (default the calibrated one); ``exact``: scan every live row instead."""
        scores, found = self._search_positions(self._prepare(queries), k, ef, exact)
        keys = self.keys
        return [
            [(keys[p], s) for p, s in zip(prow, srow, strict=True) if p >= 0]  # type: ignore[misc]
            for prow, srow in zip(found.tolist(), scores.tolist(), strict=True)
        ]

    def before_search(self, exact: bool, progress: bool | None) -> bool:
        """Build a tail whose scan would cost more than the graph (not for an exact scan);
        calibrate inline after growth once the tail is built (the builder does otherwise)."""
        if self.tail_too_long() and not exact:
            self.finish(progress)
        elif self.calibration_due and not self.pending:
            self.calibrate()
        return False

    def lookup(self, queries: np.ndarray, k: int, params: Mapping[str, int]) -> Lookup:
        return Lookup(self.search(queries, k, params.get("ef"), exact=bool(params.get("exact"))))

    def ready(self, progress: bool | None) -> None:
        if self.calibration_due:
            self.finish(progress)  # the graph as it will answer, calibrated

    def search_one(
        self, vector: np.ndarray, k: int, ef: int | None = None
    ) -> tuple[list[Any], list[float]]:
        """The top-``k`` user ids and scores of one query, best first."""
        row = self.search(np.asarray(vector, dtype=np.float32).reshape(1, -1), k, ef)[0]
        return [decode_id(key) for key, _ in row], [s for _, s in row]

    # -- calibration --------------------------------------------------------------------------
    @property
    def calibration_due(self) -> bool:
        return self.rows >= 2 * self.calibrated_rows and self.rows >= 2

    def calibrate(self) -> None:
        """The smallest efSearch (:data:`EF_STEPS`) whose recall@10 reaches the calibration
        target on fresh queries (stored rows moved by their nearest-neighbour distance) and,
        leave-one-out, on stored rows; truth by an exact scan. Call with the tail built."""
        keys, rows = self._live_rows()
        if len(keys) < 2:
            return
        rng = np.random.default_rng(len(keys))
        pick = np.sort(
            rng.choice(len(keys), size=min(_CALIBRATE_QUERIES, len(keys)), replace=False)
        )
        own = np.asarray([self.ids[keys[int(j)]] for j in pick], np.int64)
        q = np.ascontiguousarray(rows[pick])
        k = min(10, len(keys) - 1)
        _, near = self._search_positions(q, k + 1, None, exact=True)
        loo = [
            [p for p in row if p != o and p >= 0][:k]
            for o, row in zip(own, near.tolist(), strict=True)
        ]
        first = [r[0] if r else int(o) for o, r in zip(own, loo, strict=True)]
        neighbours = self._rows_at(np.asarray(first, np.int64))
        fresh = fresh_queries(q, neighbours, rng, unit=self.metric == "cosine")
        _, truth = self._search_positions(fresh, k, None, exact=True)
        target = calibration_target(self.recall_target)
        for ef in EF_STEPS:
            _, got = self._search_positions(fresh, k, ef)
            fresh_recall = recall_of(got.tolist(), truth.tolist())
            _, got_loo = self._search_positions(q, k + 1, ef)
            loo_got = [
                [p for p in row if p != o] for o, row in zip(own, got_loo.tolist(), strict=True)
            ]
            if fresh_recall >= target and recall_of(loo_got, loo) >= target:
                break
        self.ef = ef
        self.calibrated_recall = fresh_recall
        self.calibrated_rows = self.rows

    def _rows_at(self, positions: np.ndarray) -> np.ndarray:
        graph_n = int(self.graph.ntotal)
        graph = self._graph_rows()
        out = np.empty((len(positions), self.dim), np.float32)
        for j, p in enumerate(positions.tolist()):
            out[j] = graph[p] if p < graph_n else self._tail[p - graph_n + self._tail_from]
        return out

    def stats(self) -> dict[str, Any]:
        return {
            "index": "hnsw",
            "rows": self.rows,
            "nlist": None,
            "nprobe": None,
            "ef": self.ef,
            "M": HNSW_M,
            "calibrated_recall": self.calibrated_recall,
            "recall_target": self.recall_target,
            "calibrated_rows": self.calibrated_rows,
            "unindexed": self.pending,
            "tombstones": self.dead,
            "fresh_queries": True,
        }

    # -- files --------------------------------------------------------------------------------
    def save(self, folder: Path, name: str) -> None:
        """Write the graph (the tail built first) and the keys."""
        self.finish()
        faiss = faiss_module()
        folder.mkdir(parents=True, exist_ok=True)
        tmp = folder / f"{name}.faiss.tmp"
        faiss.write_index(self.graph, str(tmp))
        os.replace(tmp, folder / f"{name}.faiss")
        write_keys(folder, name, [k or "" for k in self.keys])

    def book(self, clean: bool) -> dict[str, Any]:
        return {
            **versions(),
            "kind": self.kind,
            "metric": self.metric,
            "dim": self.dim,
            "rows": self.rows,
            "ids": len(self.keys),
            "ef": self.ef,
            "calibrated_rows": self.calibrated_rows,
            "recall_target": self.recall_target,
            "calibrated_recall": self.calibrated_recall,
            "has_metadata": self.has_metadata,
            "clean": clean,
        }

    @classmethod
    def load(cls, folder: Path, name: str, book: dict[str, Any], lock: Any) -> HnswIndex:
        faiss = faiss_module()
        graph = faiss.read_index(str(folder / f"{name}.faiss"))
        keys = read_keys(folder, name)
        if len(keys) != int(book["ids"]) or int(graph.ntotal) != len(keys):
            raise ValueError("index files do not match their bookkeeping")
        out = cls(graph, str(book["metric"]), keys, lock)
        out.ef = int(book["ef"])
        out.calibrated_rows = int(book["calibrated_rows"])
        out.recall_target = float(book.get("recall_target", RECALL_TARGET))
        recall = book.get("calibrated_recall")
        out.calibrated_recall = float(recall) if recall is not None else None
        out.has_metadata = bool(book.get("has_metadata", True))
        return out

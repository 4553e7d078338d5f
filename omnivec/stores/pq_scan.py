"""An exhaustive scan of 4-bit product-quantised codes with exact re-ranking, for data on
which neither IVF lists nor a graph can help (uniform-like: no clusters, high intrinsic
dimension). :class:`omnivec.stores.ann.AnnManager` chooses it for ``index="auto"`` when
calibration shows the IVF lists would need more than
:data:`omnivec.stores.hnsw_index.HNSW_PROBE_SHARE` of themselves.

Why not the HNSW graph there: measured on 100k uniform unit vectors of dim 384 with fresh
queries (stored rows moved by their nearest-neighbour distance, which on such data is about
as far as any two points), faiss HNSW (M 32, efConstruction 40) reached recall@10 0.57 at
efSearch 512, slower than the graph's usual cost; a scan of faiss' ``IndexPQFastScan`` codes
(dim/2 sub-quantisers of 4 bits: 96 bytes a vector, SIMD lookup tables) re-ranked exactly
reached 0.996 with 30x10 candidates at 1.4 ms against numpy's brute force in the same run
(docs/store.md has the figures).

Rows keep their positions (the codes' sequential ids); a delete or replacement is a tombstone
(the candidate is dropped before re-ranking; more are fetched while tombstones exist), and
the codes are rebuilt from the live rows when tombstones exceed a quarter of them. The exact
rows (unit rows for cosine) are kept beside the codes for the re-ranking and for bulk reads.

Writes stay cheap: a write appends its rows to an unencoded tail (positions past the codes'),
which a background thread (one faiss thread, lowered priority) encodes :data:`BUILD_CHUNK`
rows at a time under the collection's lock; searches scan the tail exactly and merge it with
the re-ranked candidates, so nothing written is missed. A search that finds a tail of more
than :data:`MAX_TAIL_SHARE` of the rows encodes it first, as the HNSW graph does.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from omnivec.core.ids import decode_id
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

__all__ = ["BUILD_CHUNK", "MAX_TAIL_SHARE", "RERANK_STEPS", "PqScanIndex", "pq_subquantizers"]

logger = logging.getLogger(__name__)

#: Candidates per wanted hit tried by the calibration, smallest first.
RERANK_STEPS = (4, 6, 8, 12, 16, 24, 32, 48, 64, 96, 128, 192, 256)
_TRAIN_ROWS = 8_192  # 512 per 4-bit centre
_CALIBRATE_QUERIES = 256
_COMPACT_SHARE = 0.25
_COMPACT_MIN = 1_000
#: Tail rows the background thread encodes per hold of the lock.
BUILD_CHUNK = 2_000
#: A search encodes the tail first when it holds more than this share of the rows (and more
#: than MIN_TAIL rows): scanning it would cost over ~5% of a full scan.
MAX_TAIL_SHARE = 0.05
MIN_TAIL = 5_000


def pq_subquantizers(dim: int) -> int | None:
    """Sub-quantisers for ``dim``: the largest even divisor of ``dim`` up to dim / 2 (two
    dimensions per 4-bit code at dim 384), None when there is none (odd dims)."""
    for m in range(dim // 2, 1, -1):
        if dim % m == 0 and m % 2 == 0:
            return m
    return None


class PqScanIndex:
    """4-bit PQ codes of every row (faiss fast scan) plus the exact rows, by position."""

    kind = "pq_scan"
    searchable = True

    def __init__(
        self,
        codes: Any,
        metric: str,
        keys: list[str | None],
        rows: np.ndarray,
        lock: Any = None,
    ) -> None:
        #: The collection's lock: the background encoder takes it per chunk.
        self.lock = lock if lock is not None else threading.RLock()
        self.worker = TailWorker(
            "omnivec-pq-encode", "omnivec: encoding PQ codes failed; the tail is scanned"
        )
        self.codes = codes
        self.metric = metric
        self.dim = int(codes.d)
        self.keys = keys
        self.ids = {k: i for i, k in enumerate(keys) if k is not None}
        self._rows = rows  # (capacity, dim) float32; positions [0, len(keys)) in use
        self.alive = np.zeros(len(rows), bool)
        self.alive[: len(keys)] = [k is not None for k in keys]
        self.dead = len(keys) - len(self.ids)
        self.factor = 16
        self.recall_target = RECALL_TARGET
        self.calibrated_recall: float | None = None
        self.calibrated_rows = 0
        self.has_metadata = True

    @classmethod
    def build(
        cls,
        keys: Sequence[str],
        vectors: np.ndarray,
        metric: str,
        prepared: bool,
        recall_target: float = RECALL_TARGET,
        lock: Any = None,
    ) -> PqScanIndex:
        """Codes trained on a sample of ``vectors`` (n, dim), every row added, calibrated for
        ``recall_target`` (``prepared``: unit rows already for cosine; ``lock``: the
        collection's, which the background encoder of later writes takes)."""
        faiss = faiss_module()
        dim = int(vectors.shape[1])
        m = pq_subquantizers(dim)
        if m is None:
            raise ValueError(f"no product quantiser for dim {dim}")
        fmetric = faiss.METRIC_L2 if metric == "l2" else faiss.METRIC_INNER_PRODUCT
        codes = faiss.IndexPQFastScan(dim, m, 4, fmetric)
        out = cls(codes, metric, [], np.empty((0, dim), np.float32), lock)
        x = vectors if prepared else out._prepare(vectors)
        x = np.ascontiguousarray(x, dtype=np.float32)
        pick = np.random.default_rng(0).permutation(len(x))[:_TRAIN_ROWS]
        codes.pq.cp.niter = 10
        # One thread: 16 centres per sub-space are tiny k-means problems, and OpenMP's
        # teams for each cost more than the work (176 s on two busy cores, against ~3 s).
        threads = faiss.omp_get_max_threads()
        faiss.omp_set_num_threads(1)
        try:
            codes.train(x[np.sort(pick)])
        finally:
            faiss.omp_set_num_threads(threads)
        out._append(list(keys), x)
        out._encode(out.pending)
        out.recall_target = recall_target
        out.calibrate()
        return out

    @property
    def rows(self) -> int:
        return len(self.ids)

    @property
    def calibration_due(self) -> bool:
        return self.rows >= 2 * self.calibrated_rows and self.rows >= 2

    @property
    def pending(self) -> int:
        """Rows written but not encoded yet (the tail)."""
        return len(self.keys) - int(self.codes.ntotal)

    def _prepare(self, vectors: np.ndarray) -> np.ndarray:
        x = np.array(vectors, dtype=np.float32, order="C", copy=True, ndmin=2)
        if self.metric == "cosine":
            faiss = faiss_module()
            faiss.fvec_renorm_L2(x.shape[1], x.shape[0], faiss.swig_ptr(x))
        return x

    # -- writes -------------------------------------------------------------------------------
    def _append(self, keys: list[str], x: np.ndarray) -> None:
        start, n = len(self.keys), len(keys)
        if start + n > len(self._rows):
            size = max(start + n, 2 * len(self._rows), 1_024)
            grown = np.empty((size, self.dim), np.float32)
            grown[:start] = self._rows[:start]
            alive = np.zeros(size, bool)
            alive[:start] = self.alive[:start]
            self._rows, self.alive = grown, alive
        self._rows[start : start + n] = x
        self.alive[start : start + n] = True
        for j, key in enumerate(keys):
            self.keys.append(key)
            self.ids[key] = start + j

    def _encode(self, rows: int) -> int:
        """Encode up to ``rows`` tail rows into the codes; returns how many."""
        start = int(self.codes.ntotal)
        n = min(rows, len(self.keys) - start)
        if n > 0:
            self.codes.add(np.ascontiguousarray(self._rows[start : start + n]))
        return max(n, 0)

    def prepare(self, vectors: np.ndarray) -> Prepared | None:
        return None  # a write only appends to the tail

    def upsert(self, keys: Sequence[str], vectors: np.ndarray, assigned: Any = None) -> None:
        """Add or replace rows: appended to the tail (:meth:`start` encodes it); a replaced
        key's old position becomes a tombstone."""
        self.remove([k for k in keys if k in self.ids])
        self._append(list(keys), self._prepare(vectors))
        if self.dead >= _COMPACT_MIN and self.dead > _COMPACT_SHARE * len(self.keys):
            self._compact()

    def compaction(self) -> None:
        """Compacted in place by the write that passes the tombstone share."""

    def retarget(self, target: float) -> bool:
        self.recall_target, self.calibrated_rows = target, 0  # calibrated again
        return True

    # -- the background encoder ------------------------------------------------------------
    def start(self) -> None:
        """Encode the tail in a background thread (if there is one to encode)."""
        if self.pending:
            self.worker.start(self.lock, lambda: self._encode(BUILD_CHUNK), self._tail_done)

    def stop(self) -> None:
        """Stop the background encoder (the tail stays; searches keep scanning it)."""
        self.worker.stop()

    def _tail_done(self) -> None:
        if self.calibration_due and not self.worker.stopped:
            self.calibrate()

    def finish(self) -> None:
        """Encode the whole tail now at full speed (under the lock)."""
        self.stop()
        self._encode(self.pending)

    def tail_too_long(self) -> bool:
        return self.pending > max(MIN_TAIL, MAX_TAIL_SHARE * max(len(self.keys), 1))

    def remove(self, keys: Sequence[str]) -> None:
        for key in keys:
            pos = self.ids.pop(key, None)
            if pos is not None:
                self.keys[pos] = None
                self.alive[pos] = False
                self.dead += 1

    def _compact(self) -> None:
        """Codes and rows again from the live rows only (the quantiser is kept)."""
        keys, rows = self.vectors()
        self.codes.reset()
        self.keys, self.ids, self.dead = [], {}, 0
        self._rows, self.alive = np.empty((0, self.dim), np.float32), np.zeros(0, bool)
        self._append(keys, rows)
        self._encode(self.pending)

    # -- reads --------------------------------------------------------------------------------
    def vectors(self) -> tuple[list[str], np.ndarray]:
        pos = np.flatnonzero(self.alive[: len(self.keys)])
        return [self.keys[int(i)] for i in pos], self._rows[pos]  # type: ignore[misc]

    def read(self, unit: bool) -> RowBlock | None:
        if self.metric == "cosine" and not unit:
            return None
        keys, rows = self.vectors()
        return RowBlock(keys, rows, unit=self.metric == "cosine")

    def _exact(self, q: np.ndarray, cand: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Re-rank candidate positions ``cand`` (m, c) (-1: none) of queries ``q`` exactly:
        (higher-is-better scores, positions) ``(m, <=k)``, -1 where fewer."""
        ok = cand >= 0
        safe = np.where(ok, cand, 0)
        ok &= self.alive[safe]
        rows = self._rows[safe]  # (m, c, dim)
        if self.metric == "l2":
            s = -np.linalg.norm(rows - q[:, None, :], axis=2)
        else:
            s = np.einsum("mcd,md->mc", rows, q)
        s = np.where(ok, s, -np.inf)
        take = min(k, s.shape[1])
        top = np.argsort(-s, axis=1, kind="stable")[:, :take]
        s, p = np.take_along_axis(s, top, axis=1), np.take_along_axis(safe, top, axis=1)
        return s, np.where(np.isfinite(s), p, -1)

    def _search_positions(
        self, q: np.ndarray, k: int, factor: int | None
    ) -> tuple[np.ndarray, np.ndarray]:
        total = int(self.codes.ntotal)
        fetch = k * (factor or self.factor)
        if self.dead:  # tombstones take candidate slots
            fetch = int(fetch * len(self.keys) / max(self.rows, 1)) + 1
        if total:
            _, cand = self.codes.search(q, min(total, max(fetch, k)))
        else:
            cand = np.full((len(q), 1), -1, np.int64)
        step = max(1, (1 << 24) // max(cand.shape[1] * self.dim, 1))  # ~64 MB of gathered rows
        parts = [
            self._exact(q[i : i + step], cand[i : i + step], k) for i in range(0, len(q), step)
        ]
        s, p = np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])
        if total == len(self.keys):
            return s, p
        # The unencoded tail, scanned exactly and merged.
        ts, tp = self.exact_positions(q, k, first=total)
        s, p = np.concatenate([s, ts], axis=1), np.concatenate([p, tp], axis=1)
        top = np.argsort(-s, axis=1, kind="stable")[:, :k]
        s, p = np.take_along_axis(s, top, axis=1), np.take_along_axis(p, top, axis=1)
        return s, np.where(np.isfinite(s), p, -1)

    def exact_positions(
        self, q: np.ndarray, k: int, first: int = 0
    ) -> tuple[np.ndarray, np.ndarray]:
        """Exact top ``k`` over every live row from position ``first``: (scores, positions)."""
        if len(q) > 32:  # bounded memory: 32 queries x every row at a time
            parts = [self.exact_positions(q[i : i + 32], k, first) for i in range(0, len(q), 32)]
            return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])
        n = len(self.keys) - first
        rows = self._rows[first : first + n]
        if self.metric == "l2":
            s = -np.sqrt(np.maximum(
                np.einsum("ij,ij->i", rows, rows)[None, :] - 2 * q @ rows.T
                + np.einsum("ij,ij->i", q, q)[:, None], 0.0))  # fmt: skip
        else:
            s = q @ rows.T
        s[:, ~self.alive[first : first + n]] = -np.inf
        take = min(k, n)
        if take < 1:
            return np.empty((len(q), 0), np.float32), np.empty((len(q), 0), np.int64)
        top = np.argpartition(-s, take - 1, axis=1)[:, :take]
        ts = np.take_along_axis(s, top, axis=1)
        order = np.argsort(-ts, axis=1, kind="stable")
        ts, top = np.take_along_axis(ts, order, axis=1), np.take_along_axis(top, order, axis=1)
        return ts, np.where(np.isfinite(ts), top + first, -1)

    def search(
        self,
        queries: np.ndarray,
        k: int,
        factor: int | None = None,
        exact: bool = False,
    ) -> list[list[tuple[str, float]]]:
        """Top-``k`` (key, higher-is-better score) per query; ``factor``: candidates per hit
        re-ranked (default the calibrated one); ``exact``: every live row scanned instead."""
        q = self._prepare(queries)
        scores, found = (
            self.exact_positions(q, k) if exact else self._search_positions(q, k, factor)
        )
        keys = self.keys
        return [
            [(keys[p], s) for p, s in zip(prow, srow, strict=True) if p >= 0]  # type: ignore[misc]
            for prow, srow in zip(found.tolist(), scores.tolist(), strict=True)
        ]

    def before_search(self, exact: bool, progress: bool | None) -> bool:
        """Encode a tail whose scan would cost too much (not for an exact scan); calibrate
        inline after growth once the tail is encoded (the encoder does otherwise)."""
        if self.tail_too_long() and not exact:
            self.finish()
        if self.calibration_due and not self.pending:
            self.calibrate()
        return False

    def lookup(self, queries: np.ndarray, k: int, params: Mapping[str, int]) -> Lookup:
        return Lookup(self.search(queries, k, exact=bool(params.get("exact"))))

    def ready(self, progress: bool | None) -> None:
        if self.calibration_due:
            self.finish()
            self.calibrate()

    def search_one(
        self, vector: np.ndarray, k: int, factor: int | None = None
    ) -> tuple[list[Any], list[float]]:
        row = self.search(np.asarray(vector, dtype=np.float32).reshape(1, -1), k, factor)[0]
        return [decode_id(key) for key, _ in row], [s for _, s in row]

    # -- calibration --------------------------------------------------------------------------
    def calibrate(self) -> None:
        """The fewest candidates per hit (:data:`RERANK_STEPS`) whose recall@10 reaches the
        calibration target on fresh queries (stored rows moved by their nearest-neighbour
        distance) and, leave-one-out, on the stored rows themselves."""
        keys, rows = self.vectors()
        if len(keys) < 2:
            return
        rng = np.random.default_rng(len(keys))
        pick = np.sort(rng.choice(len(keys), min(_CALIBRATE_QUERIES, len(keys)), replace=False))
        own = np.asarray([self.ids[keys[int(j)]] for j in pick], np.int64)
        q = np.ascontiguousarray(rows[pick])
        k = min(10, len(keys) - 1)
        _, near = self.exact_positions(q, k + 1)
        loo = [
            [p for p in r if p != o and p >= 0][:k] for o, r in zip(own, near.tolist(), strict=True)
        ]
        first = [r[0] if r else int(o) for o, r in zip(own, loo, strict=True)]
        fresh = fresh_queries(q, self._rows[first], rng, unit=self.metric == "cosine")
        _, truth = self.exact_positions(fresh, k)
        target = calibration_target(self.recall_target)
        recall = 1.0
        for factor in RERANK_STEPS:
            _, got = self._search_positions(fresh, k, factor)
            recall = recall_of(got.tolist(), truth.tolist())
            _, got_loo = self._search_positions(q, k + 1, factor)
            loo_got = [[p for p in r if p != o] for o, r in zip(own, got_loo.tolist(), strict=True)]
            if recall >= target and recall_of(loo_got, loo) >= target:
                break
        self.factor = factor
        self.calibrated_recall = recall
        self.calibrated_rows = self.rows

    def stats(self) -> dict[str, Any]:
        return {
            "index": self.kind,
            "rows": self.rows,
            "nlist": None,
            "nprobe": None,
            "ef": None,
            "rerank_factor": self.factor,
            "code_bytes": int(self.codes.M) // 2,
            "calibrated_recall": self.calibrated_recall,
            "recall_target": self.recall_target,
            "calibrated_rows": self.calibrated_rows,
            "tombstones": self.dead,
            "unindexed": self.pending,
            "fresh_queries": True,
        }

    # -- files --------------------------------------------------------------------------------
    def save(self, folder: Path, name: str) -> None:
        """Write the codes (the tail encoded first), the exact rows and the keys."""
        self.finish()
        faiss = faiss_module()
        folder.mkdir(parents=True, exist_ok=True)
        tmp = folder / f"{name}.faiss.tmp"
        faiss.write_index(self.codes, str(tmp))
        os.replace(tmp, folder / f"{name}.faiss")
        with open(folder / f"{name}.npy.tmp", "wb") as fh:
            np.save(fh, self._rows[: len(self.keys)], allow_pickle=False)
        os.replace(folder / f"{name}.npy.tmp", folder / f"{name}.npy")
        write_keys(folder, name, [k or "" for k in self.keys])

    def book(self, clean: bool) -> dict[str, Any]:
        return {
            **versions(),
            "kind": self.kind,
            "metric": self.metric,
            "dim": self.dim,
            "rows": self.rows,
            "ids": len(self.keys),
            "factor": self.factor,
            "calibrated_rows": self.calibrated_rows,
            "recall_target": self.recall_target,
            "calibrated_recall": self.calibrated_recall,
            "has_metadata": self.has_metadata,
            "clean": clean,
        }

    @classmethod
    def load(cls, folder: Path, name: str, book: dict[str, Any], lock: Any = None) -> PqScanIndex:
        faiss = faiss_module()
        codes = faiss.read_index(str(folder / f"{name}.faiss"))
        rows = np.load(folder / f"{name}.npy", allow_pickle=False)
        keys = read_keys(folder, name)
        if not len(keys) == len(rows) == int(codes.ntotal) == int(book["ids"]):
            raise ValueError("index files do not match their bookkeeping")
        out = cls(codes, str(book["metric"]), keys, np.ascontiguousarray(rows, np.float32), lock)
        out.factor = int(book["factor"])
        out.calibrated_rows = int(book["calibrated_rows"])
        out.recall_target = float(book.get("recall_target", RECALL_TARGET))
        recall = book.get("calibrated_recall")
        out.calibrated_recall = float(recall) if recall is not None else None
        out.has_metadata = bool(book.get("has_metadata", True))
        return out

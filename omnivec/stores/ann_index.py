"""The faiss IVF index behind :mod:`omnivec.stores.ann`: one collection's rows, a key <-> id
table, nprobe calibration, exact re-ranking for SQ8, and its files. faiss is imported inside
functions."""

from __future__ import annotations

import contextlib
import functools
import operator
import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from omnivec.core.ids import decode_id
from omnivec.core.progress import progress_bar
from omnivec.stores.calibration import (
    CALIBRATE_QUERIES,
    GROUP_ROWS,
    CalibrationCancelled,
    RunningTop,
    probes_for,
    recall_at,
)
from omnivec.stores.index_common import (
    RECALL_TARGET,
    calibration_target,
    faiss_module,
    fresh_queries,
    nlist_for,
    read_keys,
    versions,
    write_keys,
)
from omnivec.stores.mirror import PREPARE_MIN_ROWS, Hits, Lookup, Prepared
from omnivec.stores.scan import RowBlock

__all__ = ["AnnIndex"]

#: ivf_sq8 re-ranks this many candidates per hit exactly.
RERANK_FACTOR = 4


#: search_one keeps its arrays for every k up to this (a few KB each).
_ONE_QUERY_BUFFERS_K = 256


class _OneQuery(NamedTuple):
    """One query's arrays for :meth:`AnnIndex.search_one` and their faiss pointers."""

    q: np.ndarray  # (1, dim) float32
    dist: np.ndarray  # (1, k) float32
    found: np.ndarray  # (1, k) int64
    pq: Any
    pdist: Any
    pfound: Any

    @classmethod
    def make(cls, dim: int, k: int) -> _OneQuery:
        ptr = faiss_module().swig_ptr
        q = np.empty((1, dim), dtype=np.float32)
        dist = np.empty((1, k), dtype=np.float32)
        found = np.empty((1, k), dtype=np.int64)
        return cls(q, dist, found, ptr(q), ptr(dist), ptr(found))


class AnnIndex:
    """A faiss IVF index over one collection's rows, with a key <-> int64 id table.

    Ids are positions in ``keys`` (a removed key leaves ``None``); IVF stores them natively
    (``add_with_ids``) with a hashtable direct map, so removal is by id, not a scan. Cosine
    collections store normalised vectors and search by inner product.
    """

    searchable = True

    def __init__(self, index: Any, metric: str, kind: str, keys: list[str | None]) -> None:
        self.index = index
        self.metric = metric
        self.kind = kind
        self.keys = keys
        self.ids = {k: i for i, k in enumerate(keys) if k is not None}
        self.nprobe = 8
        #: Whether any row has metadata; if none has, hits need no Milvus round trip.
        self.has_metadata = True
        self.trained_rows = len(self.ids)
        self.calibrated_rows = 0
        #: The recall@10 promised on fresh queries, and the one measured at calibration.
        self.recall_target = RECALL_TARGET
        self.calibrated_recall: float | None = None
        #: A background calibration runs (:meth:`begin_calibration`).
        self.calibrating = False
        #: faiss search parameters by nprobe, made once (a SWIG object per search shows).
        self._params: dict[int, Any] = {}
        self._nlist = int(index.nlist)  # fixed for an index's life (a retraining is a new one)
        self._int_table: np.ndarray | None = np.zeros(0, dtype=np.int64)  # see int_ids
        self._int_filled = 0
        #: search_one's query and answer arrays by k, with their faiss pointers: made once,
        #: reused (search_one runs under the owner's lock, one search at a time).
        self._one_buffers: dict[int, _OneQuery] = {}
        self._faiss = faiss_module()

    @property
    def rows(self) -> int:
        return len(self.ids)

    @property
    def nlist(self) -> int:
        return self._nlist

    @property
    def calibration_due(self) -> bool:
        """Whether nprobe should be calibrated again: never done, or the rows doubled (and
        no calibration runs already)."""
        return not self.calibrating and self.rows >= 2 * self.calibrated_rows and self.rows >= 2

    def _prepare(self, vectors: np.ndarray) -> np.ndarray:
        if self.metric != "cosine":
            return np.ascontiguousarray(vectors, dtype=np.float32)
        # A copy normalised in place by faiss (a zero row stays zero): a fraction of numpy's
        # norm-and-divide for the single queries where it shows.
        x = np.array(vectors, dtype=np.float32, order="C", copy=True, ndmin=2)
        faiss = faiss_module()
        faiss.fvec_renorm_L2(x.shape[1], x.shape[0], faiss.swig_ptr(x))  # normalize_L2's core
        return x

    @classmethod
    def trained(
        cls, sample: np.ndarray, nlist: int, metric: str, kind: str, *, normalised: bool = False
    ) -> AnnIndex:
        """An empty index with ``nlist`` lists trained on ``sample`` (m, dim) (k-means, 8
        iterations); ``normalised``: a cosine collection's sample is unit rows already."""
        faiss = faiss_module()
        dim = int(sample.shape[1])
        fmetric = faiss.METRIC_L2 if metric == "l2" else faiss.METRIC_INNER_PRODUCT
        quantizer = faiss.IndexFlatL2(dim) if metric == "l2" else faiss.IndexFlatIP(dim)
        if kind == "ivf_sq8":
            index = faiss.IndexIVFScalarQuantizer(
                quantizer, dim, nlist, faiss.ScalarQuantizer.QT_8bit, fmetric
            )
        else:
            index = faiss.IndexIVFFlat(quantizer, dim, nlist, fmetric)
        index.own_fields = True
        quantizer.this.disown()
        index.cp.niter = 8
        index.cp.min_points_per_centroid = 16  # trained on 32 per list: no warning
        index.set_direct_map_type(faiss.DirectMap.Hashtable)
        out = cls(index, metric, kind, [])
        x = np.ascontiguousarray(sample, dtype=np.float32) if normalised else out._prepare(sample)
        index.train(x)
        return out

    @classmethod
    def build(
        cls,
        keys: Sequence[str],
        vectors: np.ndarray,
        metric: str,
        kind: str,
        progress: bool | None = None,
        recall_target: float = RECALL_TARGET,
    ) -> AnnIndex:
        """Train on a sample of ``vectors`` (:func:`nlist_for` lists), add them all and
        calibrate nprobe for ``recall_target``."""
        n = vectors.shape[0]
        nlist = nlist_for(n)
        sample = np.random.default_rng(0).permutation(n)[: min(n, 32 * nlist)]
        out = cls.trained(vectors[np.sort(sample)], nlist, metric, kind)
        x = out._prepare(vectors)
        with progress_bar(n, "indexing vectors", progress, unit="vec") as bar:
            for start in range(0, n, 50_000):
                out.add_normalised(list(keys[start : start + 50_000]), x[start : start + 50_000])
                bar.update(min(50_000, n - start))
        out.trained_rows = n
        out.recall_target = recall_target
        out.calibrate()
        return out

    def add_normalised(self, keys: list[str], x: np.ndarray) -> None:
        """Add or replace rows ``x`` (n, dim) float32 that are prepared already (unit rows
        for cosine, as :meth:`read_lists` returns them)."""
        self._add_prepared(keys, np.ascontiguousarray(x, dtype=np.float32))

    def sample_rows(self, count: int, seed: int = 0) -> np.ndarray:
        """About ``count`` stored rows drawn at random, every list in proportion to its size
        (what the index holds: unit rows for cosine): float32 ``(~count, dim)``, a copy."""
        rng = np.random.default_rng(seed)
        share = min(1.0, count / max(self.rows, 1))
        parts = []
        for lst in range(self.nlist):
            view = self._list_view(lst)
            if view is None:
                continue
            rows = view[1]
            take = int(rng.binomial(len(rows), share))
            if take:
                parts.append(rows[np.sort(rng.choice(len(rows), take, replace=False))])
        if not parts:
            return np.empty((0, int(self.index.d)), np.float32)
        return np.concatenate(parts)

    def list_groups(self, rows: int) -> list[range]:
        """Runs of consecutive inverted lists holding about ``rows`` rows each (at least one
        list per run), covering every list."""
        invlists = self.index.invlists
        out, start, held = [], 0, 0
        for lst in range(self.nlist):
            held += int(invlists.list_size(lst))
            if held >= rows:
                out.append(range(start, lst + 1))
                start, held = lst + 1, 0
        if start < self.nlist:
            out.append(range(start, self.nlist))
        return out

    def _add_prepared(
        self, keys: list[str], x: np.ndarray, lists: np.ndarray | None = None
    ) -> None:
        """Add prepared rows ``x`` (n, dim) float32; ``lists`` (n,) int64: each row's inverted
        list, when already assigned (:meth:`assign`)."""
        ids = np.empty(len(keys), dtype=np.int64)
        replaced = []
        for j, key in enumerate(keys):
            old = self.ids.get(key)
            if old is None:
                old = len(self.keys)
                self.keys.append(key)
                self.ids[key] = old
            else:
                replaced.append(old)
            ids[j] = old
        if replaced:
            self.index.remove_ids(np.asarray(replaced, dtype=np.int64))
        if lists is None:
            self.index.add_with_ids(x, ids)
            return
        faiss = faiss_module()
        lists = np.ascontiguousarray(lists, dtype=np.int64)
        self.index.add_core(
            len(keys), faiss.swig_ptr(x), faiss.swig_ptr(ids), faiss.swig_ptr(lists)
        )

    def assign(self, vectors: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The costly half of adding ``vectors`` (n, dim): normalised rows (n, dim) float32 and
        the nearest inverted list of each (n,) int64. Reads the index only, so it runs while
        Milvus stores the rows; :meth:`upsert` adds them once Milvus has."""
        x = self._prepare(vectors)
        _, lists = self.index.quantizer.search(x, 1)
        return x, np.ascontiguousarray(lists[:, 0], dtype=np.int64)

    def upsert(
        self,
        keys: Sequence[str],
        vectors: np.ndarray,
        assigned: tuple[np.ndarray, np.ndarray] | None = None,
    ) -> None:
        """Add or replace rows; ``assigned``: what :meth:`assign` computed for ``vectors``."""
        if assigned is None:
            self._add_prepared(list(keys), self._prepare(vectors))
        else:
            self._add_prepared(list(keys), *assigned)

    def remove(self, keys: Sequence[str]) -> None:
        ids = [self.ids.pop(k) for k in keys if k in self.ids]
        for i in ids:
            self.keys[i] = None
        if ids:
            self.index.remove_ids(np.asarray(ids, dtype=np.int64))

    def read(self, unit: bool) -> RowBlock | None:
        """Every row, exactly (IVF-Flat; None for SQ8, whose codes are not the stored
        vectors): a cosine collection's only as unit rows (None unless ``unit``)."""
        if self.kind != "ivf_flat" or (self.metric == "cosine" and not unit):
            return None
        positions, vectors = self._read_positions(None)
        keys = self._keys_at(positions)
        table = self.int_ids()
        ids = table[positions].tolist() if table is not None else None  # no parsing of keys
        return RowBlock(keys, vectors, unit=self.metric == "cosine", ids=ids)

    def vectors(self) -> tuple[list[str], np.ndarray]:
        """Every stored (key, vector): exact for IVF-Flat, decoded codes for SQ8; float32
        ``(rows, dim)``, unit rows for cosine, in the order of the inverted lists."""
        if self.kind == "ivf_flat":
            return self.read_lists()
        keys = [k for k in self.keys if k is not None]
        ids = np.asarray([self.ids[k] for k in keys], dtype=np.int64)
        out = np.asarray(self.index.reconstruct_batch(ids), dtype=np.float32)
        return keys, out

    def _list_view(self, lst: int) -> tuple[np.ndarray, np.ndarray] | None:
        """Inverted list ``lst`` of an IVF-Flat index in faiss' own memory, no copy: (int64
        ids ``(size,)``, float32 rows ``(size, dim)``), valid until the index next changes
        (callers hold the collection's lock or own the index); None when the list is empty."""
        invlists = self.index.invlists
        size = int(invlists.list_size(lst))
        if not size:
            return None
        faiss = faiss_module()
        dim = int(self.index.d)
        ids = faiss.rev_swig_ptr(invlists.get_ids(lst), size)
        codes = faiss.rev_swig_ptr(invlists.get_codes(lst), size * dim * 4)
        return ids, codes.view(np.float32).reshape(size, dim)

    def read_lists(self, lists: range | None = None) -> tuple[list[str], np.ndarray]:
        """The (keys, rows) of inverted lists ``lists`` (default: all) of an IVF-Flat index,
        copied: float32 ``(n, dim)``, unit rows for cosine, in list order."""
        positions, out = self._read_positions(lists)
        return self._keys_at(positions), out

    def _read_positions(self, lists: range | None) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`read_lists` with the rows' positions (n,) int64 in place of their keys."""
        # Straight from the inverted lists' packed codes, one copy per list: ~10x faster than
        # reconstruct_batch through the hashtable direct map at 100k rows.
        dim = int(self.index.d)
        id_parts: list[np.ndarray] = []
        vec_parts: list[np.ndarray] = []
        for lst in lists if lists is not None else range(self.nlist):
            view = self._list_view(lst)
            if view is not None:
                id_parts.append(view[0])
                vec_parts.append(view[1])
        if not id_parts:
            return np.empty(0, np.int64), np.empty((0, dim), np.float32)
        return np.concatenate(id_parts), np.concatenate(vec_parts)  # copies out of faiss

    def _keys_at(self, positions: np.ndarray) -> list[str]:
        if len(positions) <= 1:
            return [self.keys[int(i)] for i in positions]  # type: ignore[misc]
        # itemgetter looks the keys up in one C loop (a third of a list comprehension's time).
        return list(operator.itemgetter(*positions.tolist())(self.keys))

    def _read_block(self, lists: range) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(ids (n,) int64, rows (n, dim) float32, inverted list of each row (n,) int64) of
        the IVF-Flat lists ``lists``, copied out of faiss."""
        parts = [(lst, view) for lst in lists if (view := self._list_view(lst)) is not None]
        if not parts:
            empty = np.empty(0, np.int64)
            return empty, np.empty((0, int(self.index.d)), np.float32), empty
        ids = np.concatenate([view[0] for _, view in parts]).astype(np.int64, copy=False)
        rows = np.concatenate([view[1] for _, view in parts])
        owner = np.repeat([lst for lst, _ in parts], [len(view[0]) for _, view in parts])
        return ids, rows, owner.astype(np.int64, copy=False)

    def _truth(
        self, q: np.ndarray, k: int, hold: Any, groups: list[range], cancelled: Any
    ) -> tuple[np.ndarray, np.ndarray]:
        """(ids, lists), int64 ``(m, k)`` each: the exact ``k`` best rows of every query of
        float32 ``(m, dim)`` ``q``, best first, and the inverted list of each (-1: fewer
        rows). IVF-Flat: one matrix product per group of lists (each copied under ``hold``,
        scored outside it); SQ8 codes: faiss' own scan of every list, under ``hold``."""
        if self.kind != "ivf_flat":
            faiss = faiss_module()
            params = faiss.SearchParametersIVF(nprobe=self.nlist)
            with hold:
                _, truth = self.index.search(q, k, params=params)
                lists = np.asarray(
                    [[faiss.lo_listno(self.index.direct_map.get(int(i))) if i >= 0 else -1
                      for i in row] for row in truth]
                )  # fmt: skip
            return truth, lists
        top = RunningTop(q.shape[0], k)
        for group in groups:
            if cancelled is not None and cancelled.is_set():
                raise CalibrationCancelled
            with hold:
                ids, rows, owner = self._read_block(group)
            scores = q @ rows.T  # (m, n)
            if self.metric == "l2":  # -|q - x|^2 up to the query's own norm
                scores = 2 * scores - np.einsum("ij,ij->i", rows, rows)
            top.add(scores, ids, owner)
            del rows, scores
        return top.ids, top.lists

    @property
    def interim_nprobe(self) -> int:
        """The nprobe searched with while a calibration after growth runs: the last calibrated
        one widened by 2 sqrt(growth) (growth capped at 16x), so that recall holds meanwhile
        (the lists fill as before on data that stays alike; the margin covers drift)."""
        growth = min(16.0, self.rows / max(self.calibrated_rows, 1))
        return int(min(self.nlist, max(self.nprobe + 1, np.ceil(2 * self.nprobe * growth**0.5))))

    def begin_calibration(self) -> None:
        """A background calibration starts (omnivec.stores.calibration): searches use
        :attr:`interim_nprobe` until it ends, and it is not due meanwhile."""
        self.nprobe = self.interim_nprobe
        self.calibrating = True

    def calibrate(self, lock: Any = None, cancelled: Any = None) -> None:
        """Pick the smallest nprobe whose recall@10 on *fresh* queries reaches the calibration
        target (:func:`calibration_target` of :attr:`recall_target`), the truth from every
        list. A query is never a stored point: stored rows sit inside the list they helped to
        train, while a new point falls between lists. So the queries are stored rows moved
        by their own nearest-neighbour distance in a random direction (:func:`fresh_queries`),
        and the stored rows themselves, leave-one-out, must reach the target too. Recall at
        every nprobe comes from one pass: a true neighbour is found iff its list is probed.
        :attr:`calibrated_recall` is the fresh queries' recall at the nprobe chosen.

        ``lock``: the index changes meanwhile (a background calibration): it is read under
        the lock a group of lists at a time and the result is set under it; ``cancelled``
        (a threading.Event) stops it between groups (:class:`CalibrationCancelled`)."""
        hold = lock if lock is not None else contextlib.nullcontext()
        with hold:
            rows = self.rows
            if rows < 2:
                return
            rng = np.random.default_rng(rows)
            live = np.sort(np.fromiter(self.ids.values(), np.int64, rows))
            pick = rng.choice(rows, size=min(CALIBRATE_QUERIES, rows), replace=False)
            ids = live[pick].tolist()
            q = np.stack([self.index.reconstruct(i) for i in ids]).astype(np.float32)
            groups = self.list_groups(GROUP_ROWS)
        k = min(10, rows - 1)
        truth, truth_lists = self._truth(q, k + 1, hold, groups, cancelled)
        # Leave-one-out: each stored row's neighbours but itself.
        loo = [
            [li for i, li in zip(t, tl, strict=True) if i != own and i >= 0][:k]
            for own, t, tl in zip(ids, truth.tolist(), truth_lists.tolist(), strict=True)
        ]
        nearest = [next((i for i in t if i != own and i >= 0), -1) for own, t in
                   zip(ids, truth.tolist(), strict=True)]  # fmt: skip
        with hold:  # a neighbour removed meanwhile: the query stays on its point
            neighbours = np.stack(
                [self.index.reconstruct(i) if i >= 0 and self.keys[i] is not None else q[j]
                 for j, i in enumerate(nearest)]
            )  # fmt: skip
        fresh = fresh_queries(q, neighbours, rng, unit=self.metric == "cosine")
        _, flists = self._truth(fresh, k, hold, groups, cancelled)
        fresh_lists = [[li for li in row if li >= 0] for row in flists.tolist()]
        loo_needed = self._needed(q, loo)
        fresh_needed = self._needed(fresh, fresh_lists)
        target = calibration_target(self.recall_target)
        probe = max(probes_for(loo_needed, target), probes_for(fresh_needed, target))
        with hold:
            if cancelled is not None and cancelled.is_set():
                raise CalibrationCancelled
            self.nprobe = int(max(1, min(probe, self.nlist)))
            self.calibrated_recall = recall_at(fresh_needed, self.nprobe)
            self.calibrated_rows = rows
            self.calibrating = False

    def _needed(self, q: np.ndarray, lists: list[list[int]]) -> list[int]:
        """For every true neighbour (``lists[i]``: their inverted lists, query i), the
        nprobe from which query i finds it: the rank of its list among the closest centres."""
        _, order = self.index.quantizer.search(np.ascontiguousarray(q), self.nlist)
        needed: list[int] = []
        rank = np.empty(self.nlist, dtype=np.int64)
        for row, found in enumerate(lists):
            rank[order[row]] = np.arange(1, self.nlist + 1)
            needed.extend(int(rank[li]) for li in found)
        return needed

    def stats(self) -> dict[str, Any]:
        """What ``Collection.index_stats`` reports for this index."""
        return {
            "index": self.kind,
            "rows": self.rows,
            "nlist": self.nlist,
            "nprobe": self.nprobe,
            "ef": None,
            "calibrated_recall": self.calibrated_recall,
            "recall_target": self.recall_target,
            "calibrated_rows": self.calibrated_rows,
            "trained_rows": self.trained_rows,
            "fresh_queries": True,
        }

    def _scores(self, dist: np.ndarray) -> np.ndarray:
        """faiss' distances as higher-is-better scores: it reports squared L2 for ``l2``."""
        if self.metric == "l2":
            return -np.sqrt(np.maximum(dist, 0.0)) + 0.0
        return dist

    def _search_params(self, nprobe: int | None) -> Any:
        probe = min(nprobe or self.nprobe, self.nlist)
        params = self._params.get(probe)
        if params is None:
            params = self._params[probe] = faiss_module().SearchParametersIVF(nprobe=probe)
        return params

    def search_one(
        self, vector: np.ndarray, k: int, nprobe: int | None = None
    ) -> tuple[list[Any], list[float]]:
        """The top-``k`` user ids (store keys decoded, :func:`omnivec.core.ids.decode_id`) and
        higher-is-better scores of one query ``vector`` (dim,) float32, best first (IVF-Flat:
        no re-ranking). :meth:`search` for the single-query hot path: no per-query lists, and
        int ids come from one gather in :meth:`int_ids`, not a key lookup and parse each."""
        if k < 1:
            return [], []
        buffers = self._one_buffers.get(k)
        if buffers is None:
            buffers = _OneQuery.make(self.index.d, k)
            if k <= _ONE_QUERY_BUFFERS_K:
                self._one_buffers[k] = buffers
        q, dist, found, pq, pdist, pfound = buffers
        q[0] = vector
        if self.metric == "cosine":
            self._faiss.fvec_renorm_L2(q.shape[1], 1, pq)  # normalize_L2's core, in place
        self.index.search_c(1, pq, k, pdist, pfound, self._search_params(nprobe))
        row = found[0]
        if row[-1] < 0:  # -1 (only at the end): fewer rows in the probed lists than k
            row = row[row >= 0]
        scores = self._scores(dist)[0, : len(row)].tolist()
        # An id faiss returns is live (removal takes it out of faiss too).
        table = self.int_ids()
        if table is not None:
            return table[row].tolist(), scores
        keys = self.keys
        return [decode_id(keys[i]) for i in row.tolist()], scores  # type: ignore[arg-type]

    def int_ids(self) -> np.ndarray | None:
        """Each position's int user id (rows,) int64, or None once a key is not an int id.
        Filled up to the key table's end when asked: a position keeps its key for life (a
        removed one, filled 0, is never returned), so the table only grows."""
        n = len(self.keys)
        if self._int_filled < n and self._int_table is not None:
            new = self.keys[self._int_filled : n]
            if any(k is not None and k[:2] != "i:" for k in new):
                self._int_table = None
                return None
            try:
                more = np.array([0 if k is None else int(k[2:]) for k in new], dtype=np.int64)
            except (OverflowError, ValueError):  # past int64, or a window row ("i:5#0.1")
                self._int_table = None
                return None
            table = self._int_table
            if len(table) < n:  # amortised growth: writes and searches interleave
                table = np.resize(table, max(n, 2 * len(table)))
            table[self._int_filled : n] = more
            self._int_table, self._int_filled = table, n
        return self._int_table

    def search(
        self,
        queries: np.ndarray,
        k: int,
        nprobe: int | None = None,
        exact: Callable[[list[str]], dict[str, np.ndarray]] | None = None,
    ) -> Hits:
        """Top-``k`` (key, higher-is-better score) per query. ``exact`` (SQ8) fetches the
        stored vectors of the candidates to re-rank them exactly."""
        found = self._lookup(self._prepare(queries), k, nprobe)
        if found.finish is None or found.wanted is None:
            return found.hits
        return found.finish(exact(found.wanted) if exact is not None else {})

    def lookup(self, queries: np.ndarray, k: int, params: Mapping[str, int]) -> Lookup | None:
        """:meth:`search` for the manager: SQ8 candidates come back to be re-ranked with
        Milvus' vectors outside the lock; None for an exact scan of SQ8 (Milvus answers)."""
        exact = bool(params.get("exact"))
        if exact and self.kind == "ivf_sq8":
            return None  # its codes are not the stored vectors
        nprobe = self.nlist if exact else params.get("nprobe")
        return self._lookup(self._prepare(queries), k, nprobe)

    def _lookup(self, q: np.ndarray, k: int, nprobe: int | None) -> Lookup:
        faiss = faiss_module()
        rerank = self.kind == "ivf_sq8"
        fetch = k * RERANK_FACTOR if rerank else k
        params = self._search_params(nprobe)
        # faiss' own search_c into arrays made here: its Python wrapper's checks and
        # allocations cost more than the search of one query at nprobe 1.
        n = q.shape[0]
        dist = np.empty((n, fetch), dtype=np.float32)
        ids = np.empty((n, fetch), dtype=np.int64)
        self.index.search_c(
            n, faiss.swig_ptr(q), fetch, faiss.swig_ptr(dist), faiss.swig_ptr(ids), params
        )
        keys = self.keys
        if not rerank:
            scores = self._scores(dist)
            # An id faiss returns is live (removal takes it out of faiss too); -1 (only at the
            # end of a row): no more; zip stops at the live ids. zip/map loop in C.
            out_rows = []
            for irow, drow in zip(ids.tolist(), scores.tolist(), strict=True):
                if irow and irow[-1] < 0:
                    irow = [i for i in irow if i >= 0]
                out_rows.append(list(zip(map(keys.__getitem__, irow), drow, strict=False)))
            return Lookup(out_rows)  # type: ignore[arg-type]
        rows = [[key for i in row if i >= 0 and (key := keys[i]) is not None]
                for row in ids.tolist()]  # fmt: skip
        wanted = sorted({key for row in rows for key in row})
        return Lookup([], wanted, functools.partial(self._rerank, q, rows, k))

    def _rerank(
        self, q: np.ndarray, rows: list[list[str]], k: int, stored: dict[str, np.ndarray]
    ) -> Hits:
        """The candidates ``rows`` of queries ``q`` (prepared) re-ranked exactly with their
        ``stored`` vectors (a candidate missing there was deleted meanwhile). Reads no state
        of the index but its metric: runs outside the lock."""
        out: Hits = []
        for qi, cands in enumerate(rows):
            cand = [key for key in cands if key in stored]
            if not cand:
                out.append([])
                continue
            x = self._prepare(np.stack([stored[key] for key in cand]))
            diff = np.linalg.norm(x - q[qi], axis=1) if self.metric == "l2" else None
            scores = -diff if diff is not None else x @ q[qi]
            order = np.argsort(-scores, kind="stable")[:k]
            out.append([(cand[j], float(scores[j])) for j in order])
        return out

    # -- the Mirror protocol's lifecycle (omnivec.stores.mirror) -----------------------------
    def prepare(self, vectors: np.ndarray) -> Prepared | None:
        """:meth:`assign` in a thread while Milvus stores the rows (large writes only)."""
        return Prepared(self, self.assign, vectors) if len(vectors) >= PREPARE_MIN_ROWS else None

    def start(self) -> None:
        """Nothing runs in the background after a write (retraining is the manager's)."""

    def stop(self) -> None:
        """Nothing to stop."""

    def compaction(self) -> None:
        """Removal takes rows out of faiss: no tombstones to compact."""

    def retarget(self, target: float) -> bool:
        self.recall_target, self.calibrated_rows = target, 0  # calibrated again
        return True

    def before_search(self, exact: bool, progress: bool | None) -> bool:
        """Nothing inline: after growth the calibration runs in the background (True)."""
        return self.calibration_due

    def ready(self, progress: bool | None) -> None:
        if self.calibration_due:
            self.calibrate()

    # -- files --------------------------------------------------------------------------
    def save(self, folder: Path, name: str) -> None:
        faiss = faiss_module()
        folder.mkdir(parents=True, exist_ok=True)
        tmp = folder / f"{name}.faiss.tmp"
        faiss.write_index(self.index, str(tmp))
        os.replace(tmp, folder / f"{name}.faiss")
        write_keys(folder, name, [k or "" for k in self.keys])

    def book(self, clean: bool) -> dict[str, Any]:
        return {
            **versions(),
            "kind": self.kind,
            "metric": self.metric,
            "dim": int(self.index.d),
            "rows": self.rows,
            "ids": len(self.keys),
            "nlist": self.nlist,
            "nprobe": self.nprobe,
            "trained_rows": self.trained_rows,
            "calibrated_rows": self.calibrated_rows,
            "recall_target": self.recall_target,
            "calibrated_recall": self.calibrated_recall,
            "has_metadata": self.has_metadata,
            "clean": clean,
        }

    @classmethod
    def load(cls, folder: Path, name: str, book: dict[str, Any]) -> AnnIndex:
        faiss = faiss_module()
        index = faiss.read_index(str(folder / f"{name}.faiss"))
        keys = read_keys(folder, name)
        out = cls(index, str(book["metric"]), str(book["kind"]), keys)
        if len(keys) != int(book["ids"]) or int(index.ntotal) != out.rows:
            raise ValueError("index files do not match their bookkeeping")
        out.nprobe = int(book["nprobe"])
        out.trained_rows = int(book["trained_rows"])
        out.calibrated_rows = int(book["calibrated_rows"])
        out.recall_target = float(book.get("recall_target", RECALL_TARGET))
        recall = book.get("calibrated_recall")
        out.calibrated_recall = float(recall) if recall is not None else None
        if recall is None:  # calibrated on stored rows only (before fresh queries): again
            out.calibrated_rows = 0
        out.has_metadata = bool(book.get("has_metadata", True))
        return out

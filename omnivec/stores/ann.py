"""In-process ANN indexes that mirror Milvus Lite collections (:class:`AnnManager`).

Milvus Lite answers only exact (FLAT) searches well: at 1M x 384 a query costs ~110 ms, and its
IVF index gives recall 0.3 (DESIGN.md). omnivec holds an exclusive lock on a Lite file, so a
process-local index over a collection can stay exactly consistent with it:

- ``index="auto"`` (the default) searches Milvus exactly while a collection is small and builds
  a faiss IVF-Flat index (:mod:`omnivec.stores.ann_index`) once it reaches :data:`ANN_MIN_ROWS`
  rows, or an HNSW graph (:mod:`omnivec.stores.hnsw_index`) where IVF lists would need too
  large a share of themselves (uniform-like data); ``index="hnsw"`` asks for the graph and
  ``index="ivf_sq8"`` for 8-bit codes re-ranked exactly with Milvus' vectors. nprobe / ef are
  calibrated on *fresh* queries (stored rows moved by their nearest-neighbour distance) for the
  collection's ``recall_target`` (default :data:`RECALL_TARGET`), again after every doubling
  (by the next search or the save, never inside a write); ``search_params`` override them and
  ``exact`` scans every row.
- Milvus is the source of truth. The index changes only after a Milvus write succeeded; a write
  that fails leaves it as it was. Filtered searches (``where``) go to Milvus.
- Persisted beside the Lite file (``<db>.omnivec-ann/<collection>.faiss``, ``.keys``, ``.json``)
  at close (and at interpreter exit), loaded on reopen, and rebuilt from Milvus when the
  bookkeeping does not match (a crash mid-write, a write by another program, a version change,
  other row counts). Deleting the folder loses nothing.

Below the threshold the manager keeps the rows themselves (:class:`FlatRows`, ``<name>.npy``):
searches still go to Milvus, but bulk reads need no round trip, writes need no pre-read, and
the ANN index is made from them at the threshold: in a background thread when the write that
reaches it is large (:mod:`omnivec.stores.ann_jobs`; the next search waits for it), so that
no insert waits for a build. faiss is imported inside functions.

Every collection has its own lock (:meth:`AnnManager.lock_of`): a search of one collection
never waits for another's write, build or re-rank, and the Milvus round trips of a search
(SQ8's exact re-rank, the hits' metadata) run outside it. The copies implement
:class:`omnivec.stores.mirror.Mirror`; the manager knows no kind by name.
"""

from __future__ import annotations

import atexit
import functools
import logging
import os
import threading
from collections.abc import Callable, Container, Sequence
from typing import Any

import numpy as np

from omnivec.core.progress import progress_bar
from omnivec.errors import StoreError
from omnivec.stores.ann_files import IndexFiles
from omnivec.stores.ann_index import AnnIndex
from omnivec.stores.ann_jobs import Growth, Growths, Journal, Retrains
from omnivec.stores.base import StoredHit
from omnivec.stores.calibration import Calibrations
from omnivec.stores.flat_rows import FlatRows
from omnivec.stores.hnsw_index import HnswIndex
from omnivec.stores.index_common import RECALL_TARGET
from omnivec.stores.index_options import (
    INDEXES,
    LOCAL_INDEXES,
    check_recall_target,
    check_search_params,
)
from omnivec.stores.mirror import Hits, Lookup, Mirror, Prepared, Searchable, is_searchable
from omnivec.stores.mirror_kinds import build_searchable
from omnivec.stores.retrain import Retrain
from omnivec.stores.scan import RowBlock

__all__ = [
    "ANN_MIN_ROWS",
    "GROW_IN_BACKGROUND_ROWS",
    "INDEXES",
    "LOCAL_INDEXES",
    "RECALL_TARGET",
    "AnnIndex",
    "AnnManager",
    "FlatRows",
    "HnswIndex",
    "Prepared",
    "ann_manager",
    "check_recall_target",
    "check_search_params",
    "release_ann_manager",
]

logger = logging.getLogger(__name__)

#: Rows from which an "auto" collection searches through the in-process index (measured:
#: docs/store.md). Override with $OMNIVEC_ANN_MIN_ROWS.
ANN_MIN_ROWS = int(os.environ.get("OMNIVEC_ANN_MIN_ROWS", "20000"))
#: A write that takes a collection past the threshold with at least this many rows has its
#: index built in the background (measured: 100k uniform x 384, the build of 50k rows took
#: 7.4 s inside the add, half of the insert's time); smaller builds take well under a second
#: and happen in the write.
GROW_IN_BACKGROUND_ROWS = 10_000

DOC_PREFIX = "ann:"
#: What updating an index after a successful Milvus write may raise: faiss (RuntimeError),
#: rows that do not fit (ValueError), memory, a Milvus read of the rows to build from. The
#: index is then rebuilt from Milvus; anything else is a bug, logged and raised.
_REBUILD_AFTER = (RuntimeError, ValueError, MemoryError, OSError, StoreError)


class AnnManager:
    """The in-process indexes of one Lite file's collections, kept in step with its writes.

    The store calls :meth:`created`, :meth:`dropped`, :meth:`before_write`, :meth:`upserted`,
    :meth:`deleted` and :meth:`search`; ``store`` is the calling MilvusStore (rows, counts and
    catalog documents come from it). Each collection's state is read and changed under its
    own lock (:meth:`lock_of`).
    """

    def __init__(self, uri: str) -> None:
        self.uri = uri
        self.files = IndexFiles(uri)
        self.folder = self.files.folder
        self.users = 0
        self._locks: dict[str, threading.RLock] = {}
        self._locks_guard = threading.Lock()
        self.modes: dict[str, str] = {}
        #: Each local collection's recall target (``recall_target=``, in its catalog document).
        self.targets: dict[str, float] = {}
        #: Each collection's in-process copy: FlatRows below the threshold, an index above.
        self.indexes: dict[str, Mirror] = {}
        self.counts: dict[str, int] = {}
        self.dirty: set[str] = set()
        #: Background retrainings (omnivec.stores.retrain) and first builds, by collection.
        self.retrainer = Retrains()
        self.retrains = self.retrainer.jobs
        self.growths = Growths()
        #: Background calibrations after growth (omnivec.stores.calibration), by collection.
        self.calibrations = Calibrations(self.lock_of)
        self.progress: bool | None = None
        #: The file is as this program left it at a clean close: a clean saved index's row
        #: count is Milvus' (no count query, which waits for Lite to load the collection).
        self.trusted = self.files.check_stamp()

    def lock_of(self, name: str) -> threading.RLock:
        """Collection ``name``'s lock (made once, kept for the manager's life)."""
        lock = self._locks.get(name)
        if lock is None:
            with self._locks_guard:
                lock = self._locks.setdefault(name, threading.RLock())
        return lock

    def stamp(self) -> None:
        """Record the db file's size and mtime after a clean close."""
        self.files.stamp()

    # -- collection lifecycle -----------------------------------------------------------
    def mode(self, store: Any, name: str) -> str:
        if name not in self.modes:
            doc = store.get_doc(DOC_PREFIX + name)
            self.targets[name] = float((doc or {}).get("recall_target", RECALL_TARGET))
            self.modes[name] = str(doc.get("index", "flat")) if doc else "flat"
        return self.modes[name]

    def created(
        self, store: Any, name: str, index: str, recall_target: float = RECALL_TARGET
    ) -> None:
        with self.lock_of(name):
            self._forget(name)
            self.files.remove(name)
            if index in LOCAL_INDEXES:
                store.put_doc(DOC_PREFIX + name, {"index": index, "recall_target": recall_target})
            self.modes[name] = index
            self.targets[name] = recall_target
            self.counts[name] = 0
            if index in LOCAL_INDEXES:
                rows = self.indexes[name] = FlatRows(store.metric_of(name))
                rows.has_metadata = False  # until a row with metadata is written
                self.dirty.add(name)

    def dropped(self, store: Any, name: str) -> None:
        with self.lock_of(name):
            if self.modes.get(name, "auto") in LOCAL_INDEXES:
                store.delete_doc(DOC_PREFIX + name)
            self._forget(name)
            self.files.remove(name)

    def set_recall_target(self, store: Any, name: str, target: float) -> None:
        """Promise ``target`` recall@10 for ``name`` from now on (recalibrated at once)."""
        with self.lock_of(name):
            if self.mode(store, name) not in LOCAL_INDEXES or self.targets.get(name) == target:
                return
            store.put_doc(DOC_PREFIX + name, {"index": self.modes[name], "recall_target": target})
            self.targets[name] = target
            index = self.indexes.get(name)
            if index is not None and index.retarget(target):
                self.dirty.add(name)

    def _forget(self, name: str) -> None:
        self.retrainer.forget(name)
        self.growths.cancel(name)
        self.calibrations.cancel(name)
        self.modes.pop(name, None)
        self.targets.pop(name, None)
        self._stop(self.indexes.pop(name, None))
        self.counts.pop(name, None)
        self.dirty.discard(name)

    @staticmethod
    def _stop(mirror: Mirror | None) -> None:
        if mirror is not None:
            mirror.stop()

    def _index(self, store: Any, name: str) -> Searchable | None:
        """The collection's ANN index: in memory, loaded from its files, or (once the
        collection is past the threshold) rebuilt from Milvus. None: search Milvus exactly."""
        mirror = self._mirror(store, name, build=False)
        return mirror if is_searchable(mirror) else None

    def _mirror(self, store: Any, name: str, build: bool) -> Mirror | None:
        """The collection's in-process copy: in memory, loaded from its files, or (``build``,
        or past the threshold) rebuilt from Milvus; None for a collection without one."""
        if self.mode(store, name) not in LOCAL_INDEXES:
            return None
        if name in self.indexes:
            return self.indexes[name]
        book = self.files.read_book(name)
        if name not in self.counts:
            rows = book.get("rows") if book is not None and book.get("clean") else None
            trust = self.trusted and isinstance(rows, int)
            self.counts[name] = rows if trust else store.count(name)  # type: ignore[assignment]
        mirror = self._load(name, book)
        if mirror is None and (build or self.counts[name] >= ANN_MIN_ROWS):
            mirror = self._rebuild(store, name)
        if mirror is not None:
            self.indexes[name] = mirror
        return mirror

    def _load(self, name: str, book: dict[str, Any] | None) -> Mirror | None:
        # An ANN index is kept down to half the threshold (deletes), rows below it.
        rows = self.counts[name]
        kinds = {"flat"} if rows < ANN_MIN_ROWS else set()
        if rows >= ANN_MIN_ROWS // 2:
            mode = self.modes.get(name, "auto")
            kinds.update(("ivf_flat", "pq_scan") if mode == "auto" else (mode,))
        return self.files.load(name, book, rows, kinds, self.lock_of(name))

    def _rebuild(self, store: Any, name: str) -> Mirror:
        total = store.count(name)
        logger.info("omnivec: building the index of %r from Milvus (%d rows)", name, total)
        # One bulk read in key order (a few times faster than reading by key lists).
        with progress_bar(total, f"reading {name!r} for its index", self.progress) as bar:
            block = store.scan(name, metadata=True, on_page=bar.update)
        metric = store.metric_of(name)
        mirror: Mirror
        if len(block) < ANN_MIN_ROWS:
            mirror = FlatRows(metric)
            mirror.upsert(block.keys, block.vectors)
        else:
            mirror = self._built(name, block.keys, block.vectors, metric, self.progress)
        mirror.has_metadata = any(block.metadata)
        self.counts[name] = mirror.rows
        self.dirty.add(name)  # a fresh index is saved at close
        self.files.write_book(name, mirror.book(clean=False))
        return mirror

    def _built(
        self, name: str, keys: list[str], vectors: np.ndarray, metric: str, progress: bool | None
    ) -> Searchable:
        """A new ANN index over ``keys``/``vectors`` for the collection's mode and target
        (:func:`omnivec.stores.mirror_kinds.build_searchable`)."""
        mode, target = self.modes.get(name, "auto"), self.targets.get(name, RECALL_TARGET)
        return build_searchable(
            name, keys, vectors, metric, mode, target, ANN_MIN_ROWS, progress, self.lock_of(name)
        )

    def _grow(self, name: str, rows: Mirror) -> None:
        """``rows`` reached the threshold: their ANN index replaces them, built here for a
        small collection (or after a background build failed), else in the background
        (:class:`omnivec.stores.ann_jobs.Growth`; the next search waits for it)."""
        if rows.rows < GROW_IN_BACKGROUND_ROWS or self.growths.failed.get(name) is rows:
            keys, matrix = rows.vectors()
            index = self.indexes[name] = self._built(name, keys, matrix, rows.metric, self.progress)
            index.has_metadata = rows.has_metadata
            return
        if name in self.growths:
            return  # one under way: it replays this write

        def build(keys: list[str], vectors: np.ndarray) -> Searchable:
            return self._built(name, keys, vectors, rows.metric, False)

        def swap(job: Growth, index: Searchable) -> bool:  # under the collection's lock
            if self.indexes.get(name) is not job.old:
                return False
            if index.recall_target != self.targets.get(name, index.recall_target):
                index.retarget(self.targets[name])  # changed during the build
            self.indexes[name] = index
            self.counts[name] = index.rows
            self.files.write_book(name, index.book(clean=False))  # its files at close
            self.dirty.add(name)
            index.start()
            return True

        self.growths.start(name, rows, build, self.lock_of(name), swap)

    # -- writes -------------------------------------------------------------------------
    def before_write(self, store: Any, name: str) -> None:
        """Mark the saved index dirty before its collection changes, so a crash mid-write
        makes the next session rebuild it."""
        with self.lock_of(name):
            if self.mode(store, name) not in LOCAL_INDEXES or name in self.dirty:
                return
            index = self._mirror(store, name, build=False)  # load saved files before they go stale
            if index is not None:
                self.files.write_book(name, index.book(clean=False))
                self.dirty.add(name)
            else:
                self.files.drop_book(name)

    def stored_keys(self, store: Any, name: str) -> Container[str] | None:
        """Every key stored in the collection, as its in-process copy knows
        them; None when they are not known here (no index: read Milvus). Exact because this
        process is the Lite file's only writer and the index follows every write."""
        with self.lock_of(name):
            if self.mode(store, name) not in LOCAL_INDEXES:
                return None
            index = self.indexes.get(name)
            return index.ids if index is not None else None

    def prepare(self, name: str, vectors: np.ndarray) -> Prepared | None:
        """Start the index's share of a write in a thread (IVF: assigning ``vectors`` (n, dim)
        to its lists), while Milvus stores them (faiss releases the GIL; Lite works in its
        own process)."""
        with self.lock_of(name):
            index = self.indexes.get(name)
        return index.prepare(vectors) if index is not None else None

    def upserted(
        self,
        store: Any,
        name: str,
        keys: Sequence[str],
        vectors: np.ndarray,
        metadata: Sequence[dict[str, Any]],
        new: int,
        prepared: Prepared | None = None,
    ) -> None:
        """After Milvus stored ``keys`` (``new`` of them were not there before);
        ``prepared``: what :meth:`prepare` started for ``vectors``. Should the index fail to
        follow, it is dropped and rebuilt from Milvus when next needed (Milvus has the rows:
        the write stands); an unexpected error is raised after that."""
        with self.lock_of(name):
            if self.mode(store, name) not in LOCAL_INDEXES:
                return
            try:
                self._follow_upsert(store, name, keys, vectors, metadata, new, prepared)
            except _REBUILD_AFTER as exc:
                logger.warning(
                    "omnivec: the index of %r is rebuilt after a failure (%s: %s)",
                    name, type(exc).__name__, exc,
                )  # fmt: skip
                self._discard(name)
            except BaseException:
                logger.exception("omnivec: the index of %r failed to follow a write", name)
                self._discard(name)
                raise

    def _follow_upsert(
        self,
        store: Any,
        name: str,
        keys: Sequence[str],
        vectors: np.ndarray,
        metadata: Sequence[dict[str, Any]],
        new: int,
        prepared: Prepared | None,
    ) -> None:
        if name in self.counts:
            self.counts[name] += new
        index = self.indexes.get(name)
        if index is None:
            self._index(store, name)  # built once past the threshold
            return
        assigned = prepared.result(index) if prepared is not None else None
        index.upsert(keys, vectors, assigned)
        for journal in self._journals(name, index):
            journal.upserted(list(keys), vectors)
        index.has_metadata = index.has_metadata or any(metadata)
        self.counts[name] = index.rows
        if not index.searchable and index.rows >= ANN_MIN_ROWS:
            self._grow(name, index)
        # A graph or PQ tail is built in the background; an IVF index is calibrated again
        # (when the rows doubled) by the next search or the save, and outgrown lists are
        # retrained in the background (omnivec.stores.retrain), never inside a write.
        index.start()

    def deleted(self, store: Any, name: str, keys: Sequence[str]) -> None:
        """After Milvus deleted ``keys`` (all of them existed)."""
        with self.lock_of(name):
            if self.mode(store, name) not in LOCAL_INDEXES:
                return
            if name in self.counts:
                self.counts[name] -= len(keys)
            index = self.indexes.get(name)
            if index is None:
                return
            index.remove(keys)
            for journal in self._journals(name, index):
                journal.deleted(list(keys))
            self.counts[name] = index.rows
            if index.searchable and index.rows < ANN_MIN_ROWS // 2:
                self._discard(name)  # kept as rows again when next read (from Milvus)
            elif (fresh := index.compaction()) is not None:
                self.indexes[name] = fresh
                fresh.start()
                self.dirty.add(name)

    def _journals(self, name: str, index: Mirror) -> list[Retrain | Journal]:
        """The journals of the jobs rebuilding ``index`` elsewhere, which take each write
        it takes (a retraining, a first build)."""
        out: list[Retrain | Journal] = []
        job = self.retrains.get(name)
        if job is not None and job.old is index:
            out.append(job)
        growth = self.growths.jobs.get(name)
        if growth is not None and growth.old is index:
            out.append(growth.journal)
        return out

    def _discard(self, name: str) -> None:
        self.retrainer.cancel(name)
        self.growths.cancel(name)
        self.calibrations.cancel(name)
        self._stop(self.indexes.pop(name, None))
        self.counts.pop(name, None)
        self.dirty.discard(name)
        self.files.drop_book(name)

    # -- reads --------------------------------------------------------------------------
    def search(
        self,
        store: Any,
        name: str,
        vectors: np.ndarray,
        k: int,
        exclude: Sequence[str | None] | None,
        params: dict[str, int],
        *,
        retrain: bool = True,
    ) -> list[list[StoredHit]] | None:
        """Hits from the in-process index, or None when Milvus should answer (no index).
        ``retrain``: an outgrown index may start retraining (omnivec.stores.retrain). Only
        ``name``'s lock is taken, and not during a Milvus round trip."""
        skips = exclude is not None and exclude.count(None) != len(exclude)
        growth = self.growths.jobs.get(name)
        if growth is not None:  # the first index, built since a write took it past the threshold
            growth.finished.wait()
        with self.lock_of(name):
            index = self._index(store, name)
            if index is None:
                return None  # Milvus answers (exactly: FLAT on a Lite file)
            fetch = min(k + skips, index.rows)
            urgent, found = None, Lookup([])
            ivf = self.retrainer.due(name, index) if retrain else None
            if ivf is not None:  # on the last calibration
                urgent = self._start_retrain(name, ivf)
            if urgent is None:
                if index.before_search(bool(params.get("exact")), self.progress):
                    # In a thread, after growth; searches go on at a widened nprobe.
                    self.calibrations.start(name, index, lambda: self.dirty.add(name))
                looked = index.lookup(vectors, fetch, params)
                if looked is None:
                    return None  # Milvus answers (an exact scan this index cannot give)
                found = looked
            with_metadata = index.has_metadata
        if urgent is not None:
            # Its lists could not keep the promised speed: this search waits for the new
            # ones (other callers keep searching the old index meanwhile), then runs on them.
            urgent.finished.wait()
            return self.search(store, name, vectors, k, exclude, params, retrain=False)
        rows: Hits = found.hits
        if found.finish is not None and found.wanted is not None:  # SQ8: re-ranked exactly
            stored = store.get(name, found.wanted) if found.wanted else {}
            rows = found.finish({key: row.vector for key, row in stored.items()})
        if not with_metadata:  # vectors only: no Milvus round trip, no metadata lookups
            # tuple.__new__ directly: a NamedTuple's constructor is a Python-level lambda.
            new = tuple.__new__
            if not skips:
                return [[new(StoredHit, (key, s, {})) for key, s in row] for row in rows]
            return [
                [new(StoredHit, (key, s, {})) for key, s in row if key != exclude[i]][:k]  # type: ignore[index]
                for i, row in enumerate(rows)
            ]
        wanted = sorted({key for row in rows for key, _ in row})
        meta = store.metadata(name, wanted) if wanted else {}
        out = []
        for i, row in enumerate(rows):
            skip = exclude[i] if exclude is not None else None
            hits = [StoredHit(key, s, dict(meta.get(key, {}))) for key, s in row if key != skip]
            out.append(hits[:k])
        return out

    def search_one(
        self, store: Any, name: str, vector: np.ndarray, k: int, params: dict[str, int]
    ) -> tuple[list[Any], list[float]] | None:
        """The top-``k`` user ids and scores of one query ``vector`` (dim,) float32 when the
        in-process index answers it alone: IVF-Flat, rows without metadata (nothing to read
        from Milvus), no retraining due (:meth:`search` starts it, and may have to wait).
        None: ask :meth:`search`. The single-query hot path (:meth:`AnnIndex.search_one`)."""
        with self.lock_of(name):
            index = self.indexes.get(name)  # in memory: the common case, no mode lookup
            if index is None:
                index = self._index(store, name)
            if (
                not is_searchable(index)
                or index.kind != "ivf_flat"
                or index.has_metadata
                or "exact" in params
                or index.calibration_due
                or self.retrainer.due(name, index) is not None
            ):
                return None
            return index.search_one(vector, min(k, index.rows), params.get("nprobe"))

    def index_stats(self, store: Any, name: str) -> dict[str, Any] | None:
        """What ``Collection.index_stats`` reports for ``name`` when it keeps an in-process
        copy (see :meth:`AnnIndex.stats`): the index as it will answer (a build under way
        finished, calibrated); None for a collection without one."""
        self.growths.wait([name])
        if name in self.calibrations:
            self.calibrations.settle(self.indexes.get, [name])  # calibrated for its figures
        with self.lock_of(name):
            mirror = self._mirror(store, name, build=False)
            if is_searchable(mirror):
                mirror.ready(self.progress)
                stats = mirror.stats()
                stats["mode"] = self.modes[name]
                return stats
            if mirror is None:
                if self.mode(store, name) not in LOCAL_INDEXES:
                    return None
                rows = self.counts.get(name, 0)
            else:
                rows = mirror.rows
            return {
                "index": "flat", "rows": rows, "nlist": None, "nprobe": None, "ef": None,
                "calibrated_recall": 1.0, "recall_target": self.targets.get(name, RECALL_TARGET),
                "fresh_queries": True, "mode": self.modes[name], "ann_from_rows": ANN_MIN_ROWS,
            }  # fmt: skip

    def known_rows(self, name: str) -> int | None:
        """The row count of ``name`` when its in-process copy is held (exact), else None."""
        with self.lock_of(name):
            mirror = self.indexes.get(name)
            return mirror.rows if mirror is not None else None

    def has_index(self, name: str) -> bool:
        """Whether searches of ``name`` are answered by an in-process ANN index now."""
        return is_searchable(self.indexes.get(name))

    def local_rows(self, store: Any, name: str, unit: bool = False) -> RowBlock | None:
        """Every row of ``name`` from its in-process copy (read from Milvus once if this
        session holds none yet), or None when the
        collection keeps none (a Milvus ``flat`` or server index, or SQ8 codes that are not
        the stored vectors). ``unit=False`` wants the vectors as stored, which a cosine
        collection's ANN index no longer holds (None); ``unit=True`` accepts unit rows for
        cosine (``RowBlock.unit`` says which came). Rows come in the copy's order, not the
        key order; the vectors may be a read-only view of the copy (it is copied before a
        later write changes them)."""
        with self.lock_of(name):
            mirror = self._mirror(store, name, build=True)
            return mirror.read(unit) if mirror is not None else None

    # -- background retraining (omnivec.stores.retrain) ---------------------------------
    def _start_retrain(self, name: str, index: AnnIndex) -> Retrain | None:
        """Start retraining ``index`` in the background; returns the job when the caller
        should wait for it (:func:`omnivec.stores.retrain.urgent`), else None."""

        def swap(old: AnnIndex, new: AnnIndex) -> bool:  # under the collection's lock
            if self.indexes.get(name) is not old:
                return False
            self.calibrations.cancel(name)
            self.indexes[name] = new
            self.counts[name] = new.rows
            self.files.write_book(name, new.book(clean=False))  # its files are written at close
            self.dirty.add(name)
            return True

        return self.retrainer.start(name, index, self.lock_of(name), swap, self.progress)

    def _retrain_slow(self) -> None:
        """Retrain, and wait for, every outgrown index whose lists became too slow
        (:func:`omnivec.stores.retrain.urgent`): a first search in the next session would
        otherwise wait for it (~1 min at 1M x 384), after a reopen that should take seconds."""
        jobs: list[Retrain] = []
        for name in list(self.indexes):
            with self.lock_of(name):
                index = self.indexes.get(name)
                if index is None:
                    continue
                start = functools.partial(self._start_retrain, name)
                job = self.retrainer.slow(name, index, name in self.dirty, start)
                if job is not None:
                    jobs.append(job)
        for job in jobs:
            job.finished.wait()

    # -- saving -------------------------------------------------------------------------
    def save(self) -> None:
        """Write every index changed in this session, then mark its bookkeeping clean.
        First builds under way finish; an index whose lists became too slow is retrained
        first (:meth:`_retrain_slow`); background retrainings stop: the index they would
        replace is the one saved."""
        self.growths.wait()
        self.calibrations.settle(self.indexes.get)
        try:
            self._retrain_slow()
        except RuntimeError:  # no new thread at interpreter shutdown: saved as it is
            logger.info("omnivec: no retraining at shutdown; the next session retrains")
        for name in list(self.retrains):
            with self.lock_of(name):
                self.retrainer.cancel(name)
        for name in sorted(self.dirty):
            with self.lock_of(name):
                index = self.indexes.get(name)
                if index is not None and name in self.dirty:
                    try:
                        self.files.save(name, index)
                    except OSError:
                        logger.exception("omnivec: could not save the index of %r", name)
                self.dirty.discard(name)


_MANAGERS: dict[str, AnnManager] = {}
_MANAGERS_LOCK = threading.Lock()


def ann_manager(uri: str) -> AnnManager:
    """This process's manager for the Lite file ``uri`` (shared by its open stores)."""
    with _MANAGERS_LOCK:
        manager = _MANAGERS.get(uri)
        if manager is None:
            manager = _MANAGERS[uri] = AnnManager(uri)
            atexit.register(manager.save)
        manager.users += 1
        return manager


def release_ann_manager(manager: AnnManager, closed: Callable[[], None]) -> None:
    """Give back a store's hold; the last one saves the indexes, runs ``closed`` (which
    closes the Lite file) and records the clean-close stamp."""
    with _MANAGERS_LOCK:
        manager.users -= 1
        last = manager.users <= 0
        if last:
            _MANAGERS.pop(manager.uri, None)
            atexit.unregister(manager.save)
            manager.save()
    closed()
    if last:
        manager.stamp()

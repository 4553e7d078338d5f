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
the ANN index is made from them at the threshold. faiss is imported inside functions.
"""

from __future__ import annotations

import atexit
import json
import logging
import os
import threading
from collections.abc import Callable, Container, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from omnivec.core.progress import progress_bar
from omnivec.stores.ann_index import RECALL_TARGET, AnnIndex, versions
from omnivec.stores.base import StoredHit
from omnivec.stores.calibration import Calibrations
from omnivec.stores.flat_rows import FlatRows
from omnivec.stores.hnsw_index import HnswIndex
from omnivec.stores.index_options import (
    INDEXES,
    LOCAL_INDEXES,
    check_recall_target,
    check_search_params,
    server_index,
    server_search_params,
)
from omnivec.stores.mirror import (
    PREPARE_MIN_ROWS,
    Mirror,
    Prepared,
    Searchable,
    build_searchable,
)
from omnivec.stores.pq_scan import PqScanIndex
from omnivec.stores.retrain import Retrain, urgent, wants_retrain
from omnivec.stores.scan import RowBlock

__all__ = [
    "ANN_MIN_ROWS",
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
    "server_index",
    "server_search_params",
]

logger = logging.getLogger(__name__)

#: Rows from which an "auto" collection searches through the in-process index (measured:
#: docs/store.md). Override with $OMNIVEC_ANN_MIN_ROWS.
ANN_MIN_ROWS = int(os.environ.get("OMNIVEC_ANN_MIN_ROWS", "20000"))

DOC_PREFIX = "ann:"
_STAMP = "_clean.json"


# -- the index -------------------------------------------------------------------------------
class AnnManager:
    """The in-process indexes of one Lite file's collections, kept in step with its writes.

    The store calls :meth:`created`, :meth:`dropped`, :meth:`before_write`, :meth:`upserted`,
    :meth:`deleted` and :meth:`search`; ``store`` is the calling MilvusStore (rows, counts and
    catalog documents come from it).
    """

    def __init__(self, uri: str) -> None:
        self.uri = uri
        self.folder = Path(uri).parent / f"{Path(uri).name}.omnivec-ann"
        self.users = 0
        self.lock = threading.RLock()
        self.modes: dict[str, str] = {}
        #: Each local collection's recall target (``recall_target=``, in its catalog document).
        self.targets: dict[str, float] = {}
        #: Each collection's in-process copy: FlatRows below the threshold, AnnIndex above.
        self.indexes: dict[str, Mirror] = {}
        self.counts: dict[str, int] = {}
        self.dirty: set[str] = set()
        #: Background retrainings under way (omnivec.stores.retrain), by collection.
        self.retrains: dict[str, Retrain] = {}
        #: The index whose retraining failed, by collection: not tried again on it.
        self.retrain_failed: dict[str, AnnIndex] = {}
        #: Background calibrations after growth (omnivec.stores.calibration), by collection.
        self.calibrations = Calibrations(self.lock)
        self.progress: bool | None = None
        #: The file is as this program left it at a clean close: a clean saved index's row
        #: count is Milvus' (no count query, which waits for Lite to load the collection).
        self.trusted = self._check_stamp()

    # -- bookkeeping --------------------------------------------------------------------
    def _db_stat(self) -> list[int]:
        try:
            st = os.stat(self.uri)
        except OSError:
            return [0, 0]
        return [st.st_mtime_ns, st.st_size]

    def _check_stamp(self) -> bool:
        """Consume the clean-close stamp; a db file changed since it means another program
        wrote it: no saved index can be trusted. True: the file is unchanged since then."""
        stamp = self.folder / _STAMP
        try:
            recorded = json.loads(stamp.read_text())
        except (OSError, ValueError):
            return False
        stamp.unlink(missing_ok=True)
        if recorded.get("db") != self._db_stat():
            logger.info("omnivec: %s changed since it was closed; rebuilding its indexes", self.uri)
            for book in self.folder.glob("*.json"):
                book.unlink(missing_ok=True)
            return False
        return True

    def _read_book(self, name: str) -> dict[str, Any] | None:
        try:
            book = json.loads((self.folder / f"{name}.json").read_text())
        except (OSError, ValueError):
            return None
        return book if isinstance(book, dict) else None

    def stamp(self) -> None:
        """Record the db file's size and mtime after a clean close."""
        if self.folder.is_dir():
            (self.folder / _STAMP).write_text(json.dumps({"db": self._db_stat()}))

    def _write_book(self, name: str, book: dict[str, Any]) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        tmp = self.folder / f"{name}.json.tmp"
        tmp.write_text(json.dumps(book, sort_keys=True))
        os.replace(tmp, self.folder / f"{name}.json")

    def _remove_files(self, name: str) -> None:
        for suffix in (".json", ".faiss", ".npy", ".keys"):
            (self.folder / f"{name}{suffix}").unlink(missing_ok=True)

    # -- collection lifecycle -----------------------------------------------------------
    def mode(self, store: Any, name: str) -> str:
        if name not in self.modes:
            doc = store.get_doc(DOC_PREFIX + name)
            self.modes[name] = str(doc.get("index", "flat")) if doc else "flat"
            self.targets[name] = float((doc or {}).get("recall_target", RECALL_TARGET))
        return self.modes[name]

    def created(
        self, store: Any, name: str, index: str, recall_target: float = RECALL_TARGET
    ) -> None:
        with self.lock:
            self._forget(name)
            self._remove_files(name)
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
        with self.lock:
            if self.modes.get(name, "auto") in LOCAL_INDEXES:
                store.delete_doc(DOC_PREFIX + name)
            self._forget(name)
            self._remove_files(name)

    def set_recall_target(self, store: Any, name: str, target: float) -> None:
        """Promise ``target`` recall@10 for ``name`` from now on (recalibrated at once)."""
        with self.lock:
            if self.mode(store, name) not in LOCAL_INDEXES or self.targets.get(name) == target:
                return
            store.put_doc(DOC_PREFIX + name, {"index": self.modes[name], "recall_target": target})
            self.targets[name] = target
            index = self.indexes.get(name)
            if not isinstance(index, FlatRows | None):
                index.recall_target = target
                index.calibrated_rows = 0  # calibrated again before the next search
                self.dirty.add(name)

    def _forget(self, name: str) -> None:
        self._cancel_retrain(name)
        self.calibrations.cancel(name)
        self.retrain_failed.pop(name, None)
        self.modes.pop(name, None)
        self.targets.pop(name, None)
        self._stop_build(self.indexes.pop(name, None))
        self.counts.pop(name, None)
        self.dirty.discard(name)

    def _index(self, store: Any, name: str) -> Searchable | None:
        """The collection's ANN index: in memory, loaded from its files, or (once the
        collection is past the threshold) rebuilt from Milvus. None: search Milvus exactly."""
        mirror = self._mirror(store, name, build=False)
        return mirror if not isinstance(mirror, FlatRows) else None

    @staticmethod
    def _stop_build(mirror: Mirror | None) -> None:
        if isinstance(mirror, HnswIndex):
            mirror.stop()

    def _mirror(self, store: Any, name: str, build: bool) -> Mirror | None:
        """The collection's in-process copy: in memory, loaded from its files, or (``build``,
        or past the threshold) rebuilt from Milvus; None for a collection without one."""
        if self.mode(store, name) not in LOCAL_INDEXES:
            return None
        if name in self.indexes:
            return self.indexes[name]
        book = self._read_book(name)
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
        if book is None:
            return None
        why = [k for k, v in versions().items() if book.get(k) != v]
        if not book.get("clean"):
            why.append("not closed cleanly")
        # An IVF index is kept down to half the threshold (deletes), rows below it.
        rows = self.counts[name]
        kinds = {"flat"} if rows < ANN_MIN_ROWS else set()
        if rows >= ANN_MIN_ROWS // 2:
            mode = self.modes.get(name, "auto")
            kinds.update(("ivf_flat", "pq_scan") if mode == "auto" else (mode,))
        if book.get("kind") not in kinds:
            why.append("kind")
        if book.get("rows") != self.counts[name]:
            why.append("row count")
        if not why:
            try:
                if book["kind"] == "flat":
                    return FlatRows.load(self.folder, name, book)
                if book["kind"] == "hnsw":
                    return HnswIndex.load(self.folder, name, book, self.lock)
                if book["kind"] == "pq_scan":
                    return PqScanIndex.load(self.folder, name, book)
                return AnnIndex.load(self.folder, name, book)
            except Exception as exc:  # noqa: BLE001 - damaged files: rebuild from Milvus
                why.append(f"unreadable ({exc})")
        logger.info("omnivec: the saved index of %r does not match (%s)", name, ", ".join(why))
        return None

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
            mirror = self._built(name, block.keys, block.vectors, metric)
        mirror.has_metadata = any(block.metadata)
        self.counts[name] = mirror.rows
        self.dirty.add(name)  # a fresh index is saved at close
        self._write_book(name, mirror.book(clean=False))
        return mirror

    def _grown(self, name: str, rows: FlatRows) -> Searchable:
        """The ANN index that replaces ``rows`` at the threshold, made from them."""
        keys, matrix = rows.vectors()
        index = self._built(name, keys, matrix, rows.metric)
        index.has_metadata = rows.has_metadata
        self.indexes[name] = index
        return index

    def _built(self, name: str, keys: list[str], vectors: np.ndarray, metric: str) -> Searchable:
        """A new ANN index over ``keys``/``vectors`` for the collection's mode and target
        (:func:`omnivec.stores.mirror.build_searchable`)."""
        mode, target = self.modes.get(name, "auto"), self.targets.get(name, RECALL_TARGET)
        return build_searchable(
            name, keys, vectors, metric, mode, target, ANN_MIN_ROWS, self.progress, self.lock
        )

    # -- writes -------------------------------------------------------------------------
    def before_write(self, store: Any, name: str) -> None:
        """Mark the saved index dirty before its collection changes, so a crash mid-write
        makes the next session rebuild it."""
        with self.lock:
            if self.mode(store, name) not in LOCAL_INDEXES or name in self.dirty:
                return
            index = self._mirror(store, name, build=False)  # load saved files before they go stale
            if index is not None:
                self._write_book(name, index.book(clean=False))
                self.dirty.add(name)
            else:
                (self.folder / f"{name}.json").unlink(missing_ok=True)

    def stored_keys(self, store: Any, name: str) -> Container[str] | None:
        """Every key stored in the collection, as its in-process copy knows
        them; None when they are not known here (no index: read Milvus). Exact because this
        process is the Lite file's only writer and the index follows every write."""
        with self.lock:
            if self.mode(store, name) not in LOCAL_INDEXES:
                return None
            index = self.indexes.get(name)
            return index.ids if index is not None else None

    def prepare(self, name: str, vectors: np.ndarray) -> Prepared | None:
        """Start assigning ``vectors`` (n, dim) to the index's lists in a thread, while
        Milvus stores them (faiss releases the GIL; Lite works in its own process)."""
        with self.lock:
            index = self.indexes.get(name)
        if not isinstance(index, AnnIndex) or len(vectors) < PREPARE_MIN_ROWS:
            return None
        return Prepared(index, vectors)

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
        ``prepared``: what :meth:`prepare` started for ``vectors``."""
        with self.lock:
            if self.mode(store, name) not in LOCAL_INDEXES:
                return
            try:
                if name in self.counts:
                    self.counts[name] += new
                index = self.indexes.get(name)
                if index is None:
                    self._index(store, name)  # built once past the threshold
                    return
                if isinstance(index, FlatRows):
                    index.upsert(keys, vectors)
                    index.has_metadata = index.has_metadata or any(metadata)
                    self.counts[name] = index.rows
                    if index.rows >= ANN_MIN_ROWS:
                        self._grown(name, index)
                    return
                if not isinstance(index, AnnIndex):  # HNSW graph (built in the background), PQ
                    index.upsert(keys, vectors)
                    index.has_metadata = index.has_metadata or any(metadata)
                    self.counts[name] = index.rows
                    if isinstance(index, HnswIndex):
                        index.start()
                    return
                assigned = prepared.result(index) if prepared is not None else None
                index.upsert(keys, vectors, assigned)
                journal = self._journal(name, index)
                if journal is not None:
                    journal.upserted(list(keys), vectors)
                index.has_metadata = index.has_metadata or any(metadata)
                self.counts[name] = index.rows
                # Calibrated again (when the rows doubled) by the next search or the save,
                # and outgrown lists retrained in the background (omnivec.stores.retrain),
                # never inside a write: the insert rate stays Lite's.
            except Exception:
                logger.exception("omnivec: the index of %r is rebuilt after a failure", name)
                self._discard(name)

    def deleted(self, store: Any, name: str, keys: Sequence[str]) -> None:
        """After Milvus deleted ``keys`` (all of them existed)."""
        with self.lock:
            if self.mode(store, name) not in LOCAL_INDEXES:
                return
            if name in self.counts:
                self.counts[name] -= len(keys)
            index = self.indexes.get(name)
            if index is not None:
                index.remove(keys)
                journal = self._journal(name, index) if isinstance(index, AnnIndex) else None
                if journal is not None:
                    journal.deleted(list(keys))
                self.counts[name] = index.rows
                if not isinstance(index, FlatRows) and index.rows < ANN_MIN_ROWS // 2:
                    self._discard(name)  # kept as rows again when next read (from Milvus)
                elif isinstance(index, HnswIndex) and index.wants_compaction():
                    index.stop()
                    fresh = self.indexes[name] = index.compacted()
                    fresh.start()
                    self.dirty.add(name)

    def _discard(self, name: str) -> None:
        self._cancel_retrain(name)
        self.calibrations.cancel(name)
        self._stop_build(self.indexes.pop(name, None))
        self.counts.pop(name, None)
        self.dirty.discard(name)
        (self.folder / f"{name}.json").unlink(missing_ok=True)

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
        ``retrain``: an outgrown index may start retraining (omnivec.stores.retrain)."""
        skips = exclude is not None and exclude.count(None) != len(exclude)
        scan_all = bool(params.get("exact"))
        with self.lock:
            index = self._index(store, name)
            if index is None or (scan_all and index.kind == "ivf_sq8"):
                return None  # Milvus answers (exactly: FLAT on a Lite file)
            fetch = min(k + skips, index.rows)
            urgent = None
            if isinstance(index, HnswIndex):
                if index.tail_too_long() and not scan_all:
                    index.finish(self.progress)  # its scan would cost more than the graph
                elif index.calibration_due and not index.pending:
                    index.calibrate()
                found = index.search(vectors, fetch, params.get("ef"), exact=scan_all)
            elif isinstance(index, PqScanIndex):
                if index.calibration_due:
                    index.calibrate()
                found = index.search(vectors, fetch, exact=scan_all)
            else:
                if retrain and self._retrain_due(name, index):  # on the last calibration
                    urgent = self._start_retrain(name, index)
                if index.calibration_due and urgent is None:  # in a thread, after growth
                    self.calibrations.start(name, index, lambda: self.dirty.add(name))
                if urgent is None:
                    rerank = None
                    if index.kind == "ivf_sq8":

                        def rerank(keys: list[str]) -> dict[str, np.ndarray]:
                            return {k: r.vector for k, r in store.get(name, keys).items()}

                    nprobe = index.nlist if scan_all else params.get("nprobe")
                    found = index.search(vectors, fetch, nprobe, rerank)
            with_metadata = index.has_metadata
        if urgent is not None:
            # Its lists could not keep the promised speed: this search waits for the new
            # ones (other callers keep searching the old index meanwhile), then runs on them.
            urgent.finished.wait()
            return self.search(store, name, vectors, k, exclude, params, retrain=False)
        if not with_metadata:  # vectors only: no Milvus round trip, no metadata lookups
            # tuple.__new__ directly: a NamedTuple's constructor is a Python-level lambda.
            new = tuple.__new__
            if not skips:
                return [[new(StoredHit, (key, s, {})) for key, s in row] for row in found]
            return [
                [new(StoredHit, (key, s, {})) for key, s in row if key != exclude[i]][:k]  # type: ignore[index]
                for i, row in enumerate(found)
            ]
        wanted = sorted({key for row in found for key, _ in row})
        meta = store.metadata(name, wanted) if wanted else {}
        out = []
        for i, row in enumerate(found):
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
        with self.lock:
            index = self.indexes.get(name)  # in memory: the common case, no mode lookup
            if index is None:
                index = self._index(store, name)
            if (
                not isinstance(index, AnnIndex)
                or index.has_metadata
                or index.kind != "ivf_flat"
                or "exact" in params
                or index.calibration_due
                or self._retrain_due(name, index)
            ):
                return None
            return index.search_one(vector, min(k, index.rows), params.get("nprobe"))

    def index_stats(self, store: Any, name: str) -> dict[str, Any] | None:
        """What ``Collection.index_stats`` reports for ``name`` when it keeps an in-process
        copy (see :meth:`AnnIndex.stats`); None for a collection without one."""
        if name in self.calibrations:
            self.calibrations.settle(self.indexes.get, [name])  # calibrated for its figures
        with self.lock:
            mirror = self._mirror(store, name, build=False)
            if mirror is None:
                if self.mode(store, name) not in LOCAL_INDEXES:
                    return None
                rows = self.counts.get(name, 0)
            elif isinstance(mirror, FlatRows):
                rows = mirror.rows
            else:
                if isinstance(mirror, HnswIndex) and mirror.calibration_due:
                    mirror.finish(self.progress)  # the graph as it will answer, calibrated
                elif mirror.calibration_due:
                    mirror.calibrate()
                stats = mirror.stats()
                stats["mode"] = self.modes[name]
                return stats
            return {
                "index": "flat", "rows": rows, "nlist": None, "nprobe": None, "ef": None,
                "calibrated_recall": 1.0, "recall_target": self.targets.get(name, RECALL_TARGET),
                "fresh_queries": True, "mode": self.modes[name], "ann_from_rows": ANN_MIN_ROWS,
            }  # fmt: skip

    def known_rows(self, name: str) -> int | None:
        """The row count of ``name`` when its in-process copy is held (exact), else None."""
        with self.lock:
            mirror = self.indexes.get(name)
            return mirror.rows if mirror is not None else None

    def has_index(self, name: str) -> bool:
        """Whether searches of ``name`` are answered by an in-process ANN index now."""
        return isinstance(self.indexes.get(name), Searchable)

    def local_rows(self, store: Any, name: str, unit: bool = False) -> RowBlock | None:
        """Every row of ``name`` from its in-process copy (read from Milvus once if this
        session holds none yet), or None when the collection keeps none (a Milvus ``flat`` or
        server index, or SQ8 codes that are not the stored vectors). ``unit=False`` wants the
        vectors as stored, which a cosine collection's ANN index no longer holds (None);
        ``unit=True`` accepts unit rows for cosine (``RowBlock.unit`` says which came).
        Rows come in the copy's order, not the key order; the vectors may be a read-only
        view of the copy (it is copied before a later write changes them)."""
        with self.lock:
            mirror = self._mirror(store, name, build=True)
            return mirror.read(unit) if mirror is not None else None

    # -- background retraining (omnivec.stores.retrain) ---------------------------------
    def _retrain_due(self, name: str, index: AnnIndex) -> bool:
        """Whether ``index`` should start retraining now: none under way for ``name``, none
        failed on this index, and it has outgrown its lists (:func:`wants_retrain`)."""
        return (
            name not in self.retrains
            and not index.calibrating
            and self.retrain_failed.get(name) is not index
            and wants_retrain(index)
        )

    def _journal(self, name: str, index: AnnIndex) -> Retrain | None:
        """The retraining of ``index`` under way, whose journal takes the write just made."""
        job = self.retrains.get(name)
        return job if job is not None and job.old is index else None

    def _start_retrain(self, name: str, index: AnnIndex) -> Retrain | None:
        """Start retraining ``index`` in the background; returns the job when the caller
        should wait for it (:func:`omnivec.stores.retrain.urgent`), else None."""

        def swap(old: AnnIndex, new: AnnIndex) -> bool:  # under self.lock
            if self.indexes.get(name) is not old:
                return False
            self.calibrations.cancel(name)
            self.indexes[name] = new
            self.counts[name] = new.rows
            self._write_book(name, new.book(clean=False))  # its files are written at close
            self.dirty.add(name)
            return True

        def done(retrain: Retrain) -> None:  # under self.lock
            if self.retrains.get(name) is retrain:
                del self.retrains[name]
            if retrain.failed:
                self.retrain_failed[name] = retrain.old

        hurry = urgent(index)
        retrain = self.retrains[name] = Retrain(
            name, index, self.lock, swap, done, urgent=hurry, progress=self.progress
        )
        retrain.start()
        return retrain if hurry else None

    def _retrain_slow(self) -> None:
        """Retrain, and wait for, every outgrown index whose lists became too slow
        (:func:`omnivec.stores.retrain.urgent`): a first search in the next session would
        otherwise wait for it (~1 min at 1M x 384), after a reopen that should take seconds."""
        jobs: list[Retrain] = []
        with self.lock:
            for name, index in list(self.indexes.items()):
                if not isinstance(index, AnnIndex):
                    continue
                if name in self.dirty and index.calibration_due:
                    index.calibrate()  # saved calibrated: the next session's search needn't
                job = self.retrains.get(name)
                if self._retrain_due(name, index) and urgent(index):
                    job = self._start_retrain(name, index)
                if job is not None and job.urgent:
                    jobs.append(job)
        for job in jobs:
            job.finished.wait()

    def _cancel_retrain(self, name: str) -> None:
        retrain = self.retrains.pop(name, None)
        if retrain is not None:
            retrain.cancel()

    # -- saving -------------------------------------------------------------------------
    def save(self) -> None:
        """Write every index changed in this session, then mark its bookkeeping clean.
        An index whose lists became too slow is retrained first (:meth:`_retrain_slow`);
        background retrainings stop: the index they would replace is the one saved."""
        self.calibrations.settle(self.indexes.get)
        try:
            self._retrain_slow()
        except RuntimeError:  # no new thread at interpreter shutdown: saved as it is
            logger.info("omnivec: no retraining at shutdown; the next session retrains")
        with self.lock:
            for name in list(self.retrains):
                self._cancel_retrain(name)
            for name in sorted(self.dirty):
                index = self.indexes.get(name)
                if index is None:
                    continue
                try:
                    index.save(self.folder, name)
                    self._write_book(name, index.book(clean=True))
                except OSError:
                    logger.exception("omnivec: could not save the index of %r", name)
            self.dirty.clear()


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

"""An in-process ANN index (faiss IVF) that mirrors a Milvus Lite collection.

Milvus Lite answers only exact (FLAT) searches well: at 1M x 384 a query costs ~110 ms, and its
IVF index gives recall 0.3 (DESIGN.md). omnivec holds an exclusive lock on a Lite file, so a
process-local index over a collection can stay exactly consistent with it:

- ``index="auto"`` (the default) searches Milvus exactly while a collection is small and builds
  a faiss IVF-Flat index once it reaches :data:`ANN_MIN_ROWS` rows; ``index="ivf_sq8"`` keeps
  8-bit codes instead of float32 vectors and re-ranks the candidates exactly with the vectors
  from Milvus. ``nprobe`` is calibrated on a sample of stored vectors for recall@10 >=
  :data:`RECALL_TARGET`; ``search(..., params={"nprobe": n})`` overrides it per search.
- Milvus is the source of truth. The index changes only after a Milvus write succeeded; a write
  that fails leaves it as it was. Filtered searches (``where``) go to Milvus.
- Persisted beside the Lite file (``<db>.omnivec-ann/<collection>.faiss``, ``.keys``, ``.json``)
  at close (and at interpreter exit), loaded on reopen, and rebuilt from Milvus (with a
  progress bar) when the bookkeeping does not match: after a crash mid-write (the bookkeeping
  is marked dirty before the first write of a session), after a write by another program (the
  db file's size and mtime differ from those recorded at the last clean close), after a faiss
  or omnivec version change, or when the row counts differ. Deleting the folder loses nothing.

Below the threshold the manager keeps the rows themselves (:class:`FlatRows`, persisted the
same way as ``<collection>.npy``): searches still go to Milvus, but bulk reads
(:meth:`AnnManager.local_rows`, behind ``Collection.vectors`` and the analysis calls) need no
round trip, writes need no pre-read, and the IVF index is trained from them once the collection
reaches the threshold. Above it, the IVF-Flat index holds the vectors exactly and serves the
same reads; one copy per collection either way.

The index itself (faiss IVF, key <-> id table, calibration, files) is
:class:`omnivec.stores.ann_index.AnnIndex`; faiss is imported inside functions, so ``import
omnivec`` stays light.
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
from omnivec.errors import InvalidInputError
from omnivec.stores.ann_index import RECALL_TARGET, AnnIndex, versions
from omnivec.stores.base import StoredHit
from omnivec.stores.flat_rows import FlatRows, Mirror
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
    "Prepared",
    "ann_manager",
    "check_search_params",
    "release_ann_manager",
    "server_index",
    "server_search_params",
]

logger = logging.getLogger(__name__)

#: Every ``index=`` a collection accepts. "auto" and "ivf_sq8" are process-local on a Lite file.
INDEXES = ("auto", "flat", "ivf_flat", "ivf_sq8", "hnsw")
LOCAL_INDEXES = ("auto", "ivf_sq8")
#: Rows from which an "auto" collection searches through the in-process index (measured:
#: docs/store.md). Override with $OMNIVEC_ANN_MIN_ROWS.
ANN_MIN_ROWS = int(os.environ.get("OMNIVEC_ANN_MIN_ROWS", "20000"))

DOC_PREFIX = "ann:"
_STAMP = "_clean.json"
_SEARCH_PARAMS = ("nprobe", "ef")


def check_search_params(params: dict[str, Any] | None) -> dict[str, int]:
    """``{"nprobe": n}`` (IVF) and/or ``{"ef": n}`` (HNSW on a server), positive ints."""
    if params is None:
        return {}
    if not isinstance(params, dict):
        raise InvalidInputError(f"search_params must be a dict, got {type(params).__name__}")
    out = {}
    for key, value in params.items():
        if key not in _SEARCH_PARAMS:
            raise InvalidInputError(
                f"unknown search parameter {key!r}; use {', '.join(_SEARCH_PARAMS)}"
            )
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 65_536:
            raise InvalidInputError(f"search parameter {key} must be an int from 1 to 65536")
        out[key] = int(value)
    return out


# -- Milvus server indexes ---------------------------------------------------------------------
def server_index(index: str, rows: int = 1_000_000) -> tuple[str, dict[str, int]]:
    """Milvus index type and build parameters for ``index`` on a server, sized for ``rows``.

    ``auto`` is HNSW (no training, good recall from thousands to tens of millions of rows);
    IVF types get nlist ~ 4 sqrt(rows)."""
    nlist = int(min(65_536, max(64, 4 * np.sqrt(max(rows, 1)))))
    if index in ("auto", "hnsw"):
        m = 16 if rows <= 5_000_000 else 32
        return "HNSW", {"M": m, "efConstruction": 200}
    if index == "ivf_flat":
        return "IVF_FLAT", {"nlist": nlist}
    if index == "ivf_sq8":
        return "IVF_SQ8", {"nlist": nlist}
    return "FLAT", {}


def server_search_params(index: str, k: int, params: dict[str, int]) -> dict[str, int]:
    """Search parameters for a server index: HNSW ``ef`` >= k, IVF ``nprobe``."""
    if index in ("auto", "hnsw"):
        return {"ef": max(params.get("ef", 64), k)}
    if index in ("ivf_flat", "ivf_sq8"):
        return {"nprobe": params.get("nprobe", 32)}
    return {}


#: Below this many rows a write assigns its vectors inline (a thread costs more than it saves).
_PREPARE_MIN_ROWS = 256


class Prepared:
    """:meth:`AnnIndex.assign` of one write's vectors, running in a thread."""

    def __init__(self, index: AnnIndex, vectors: np.ndarray) -> None:
        self.index = index
        self.out: tuple[np.ndarray, np.ndarray] | None = None
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, args=(vectors,), daemon=True)
        self.thread.start()

    def _run(self, vectors: np.ndarray) -> None:
        try:
            self.out = self.index.assign(vectors)
        except BaseException as exc:  # noqa: BLE001 - re-raised in result()
            self.error = exc

    def wait(self) -> None:
        self.thread.join()

    def result(self, index: AnnIndex) -> tuple[np.ndarray, np.ndarray] | None:
        """The assignment, or None when it was made for another index than ``index`` (the
        collection was retrained meanwhile): then the rows are assigned again."""
        self.thread.join()
        if self.error is not None:
            raise self.error
        return self.out if index is self.index else None


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
        #: Each collection's in-process copy: FlatRows below the threshold, AnnIndex above.
        self.indexes: dict[str, Mirror] = {}
        self.counts: dict[str, int] = {}
        self.dirty: set[str] = set()
        #: Background retrainings under way (omnivec.stores.retrain), by collection.
        self.retrains: dict[str, Retrain] = {}
        #: The index whose retraining failed, by collection: not tried again on it.
        self.retrain_failed: dict[str, AnnIndex] = {}
        self.progress: bool | None = None
        self._check_stamp()

    # -- bookkeeping --------------------------------------------------------------------
    def _db_stat(self) -> list[int]:
        try:
            st = os.stat(self.uri)
        except OSError:
            return [0, 0]
        return [st.st_mtime_ns, st.st_size]

    def _check_stamp(self) -> None:
        """Consume the clean-close stamp; a db file changed since it means another program
        wrote it: no saved index can be trusted."""
        stamp = self.folder / _STAMP
        try:
            recorded = json.loads(stamp.read_text())
        except (OSError, ValueError):
            return
        stamp.unlink(missing_ok=True)
        if recorded.get("db") != self._db_stat():
            logger.info("omnivec: %s changed since it was closed; rebuilding its indexes", self.uri)
            for book in self.folder.glob("*.json"):
                book.unlink(missing_ok=True)

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
        return self.modes[name]

    def created(self, store: Any, name: str, index: str) -> None:
        with self.lock:
            self._forget(name)
            self._remove_files(name)
            if index in LOCAL_INDEXES:
                store.put_doc(DOC_PREFIX + name, {"index": index})
            self.modes[name] = index
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

    def _forget(self, name: str) -> None:
        self._cancel_retrain(name)
        self.retrain_failed.pop(name, None)
        self.modes.pop(name, None)
        self.indexes.pop(name, None)
        self.counts.pop(name, None)
        self.dirty.discard(name)

    def _index(self, store: Any, name: str) -> AnnIndex | None:
        """The collection's ANN index: in memory, loaded from its files, or (once the
        collection is past the threshold) rebuilt from Milvus. None: search Milvus exactly."""
        mirror = self._mirror(store, name, build=False)
        return mirror if isinstance(mirror, AnnIndex) else None

    def _mirror(self, store: Any, name: str, build: bool) -> Mirror | None:
        """The collection's in-process copy: in memory, loaded from its files, or (``build``,
        or past the threshold) rebuilt from Milvus; None for a collection without one."""
        if self.mode(store, name) not in LOCAL_INDEXES:
            return None
        if name in self.indexes:
            return self.indexes[name]
        if name not in self.counts:
            self.counts[name] = store.count(name)
        mirror = self._load(name, store)
        if mirror is None and (build or self.counts[name] >= ANN_MIN_ROWS):
            mirror = self._rebuild(store, name)
        if mirror is not None:
            self.indexes[name] = mirror
        return mirror

    def _load(self, name: str, store: Any) -> Mirror | None:
        try:
            book = json.loads((self.folder / f"{name}.json").read_text())
        except (OSError, ValueError):
            return None
        why = [k for k, v in versions().items() if book.get(k) != v]
        if not book.get("clean"):
            why.append("not closed cleanly")
        # An IVF index is kept down to half the threshold (deletes), rows below it.
        rows = self.counts[name]
        kinds = {"flat"} if rows < ANN_MIN_ROWS else set()
        if rows >= ANN_MIN_ROWS // 2:
            kinds.add(self.modes.get(name, "auto").replace("auto", "ivf_flat"))
        if book.get("kind") not in kinds:
            why.append("kind")
        if book.get("rows") != self.counts[name]:
            why.append("row count")
        if not why:
            try:
                if book["kind"] == "flat":
                    return FlatRows.load(self.folder, name, book)
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
            kind = self.modes[name].replace("auto", "ivf_flat")
            mirror = AnnIndex.build(block.keys, block.vectors, metric, kind, self.progress)
        mirror.has_metadata = any(block.metadata)
        self.counts[name] = mirror.rows
        self.dirty.add(name)  # a fresh index is saved at close
        self._write_book(name, mirror.book(clean=False))
        return mirror

    def _grown(self, name: str, rows: FlatRows) -> AnnIndex:
        """The IVF index that replaces ``rows`` at the threshold, trained on them."""
        keys, matrix = rows.vectors()
        kind = self.modes[name].replace("auto", "ivf_flat")
        index = AnnIndex.build(keys, matrix, rows.metric, kind, self.progress)
        index.has_metadata = rows.has_metadata
        self.indexes[name] = index
        return index

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
        if not isinstance(index, AnnIndex) or len(vectors) < _PREPARE_MIN_ROWS:
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
                assigned = prepared.result(index) if prepared is not None else None
                index.upsert(keys, vectors, assigned)
                journal = self._journal(name, index)
                if journal is not None:
                    journal.upserted(list(keys), vectors)
                index.has_metadata = index.has_metadata or any(metadata)
                self.counts[name] = index.rows
                # Outgrown lists are retrained in the background, started by a search
                # (omnivec.stores.retrain), never inside a write.
                if index.rows >= 2 * index.calibrated_rows:
                    index.calibrate()
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
                if isinstance(index, AnnIndex) and index.rows < ANN_MIN_ROWS // 2:
                    self._discard(name)  # kept as rows again when next read (from Milvus)

    def _discard(self, name: str) -> None:
        self._cancel_retrain(name)
        self.indexes.pop(name, None)
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
        with self.lock:
            index = self._index(store, name)
            if index is None:
                return None
            urgent = None
            if retrain and self._retrain_due(name, index):
                urgent = self._start_retrain(name, index)
            if urgent is None:
                exact = None
                if index.kind == "ivf_sq8":

                    def exact(keys: list[str]) -> dict[str, np.ndarray]:
                        return {k: r.vector for k, r in store.get(name, keys).items()}

                found = index.search(
                    vectors, min(k + skips, index.rows), params.get("nprobe"), exact
                )
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
                or self._retrain_due(name, index)
            ):
                return None
            return index.search_one(vector, min(k, index.rows), params.get("nprobe"))

    def known_rows(self, name: str) -> int | None:
        """The row count of ``name`` when its in-process copy is held (exact), else None."""
        with self.lock:
            mirror = self.indexes.get(name)
            return mirror.rows if mirror is not None else None

    def has_index(self, name: str) -> bool:
        """Whether searches of ``name`` are answered by an in-process ANN index now."""
        return isinstance(self.indexes.get(name), AnnIndex)

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

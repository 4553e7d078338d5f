"""The background work :class:`omnivec.stores.ann.AnnManager` schedules per collection, so that
no write waits for an index build:

- :class:`Growths`: a collection that reaches the ANN threshold in a large write gets its
  first ANN index built in a thread (:class:`Growth`) from a copy of its rows, so the write
  returns once Milvus stored it; the flat rows keep taking writes (journaled and replayed on
  the new index before the swap), and the collection's next search waits for the index (an
  exact Milvus scan meanwhile would cost ~4x numpy's, where the promise is <= 0.1x).
- :class:`Retrains`: when an IVF index has outgrown its lists (:mod:`omnivec.stores.retrain`).

Every job takes its collection's lock only to copy, replay and swap; the callbacks are
called under it.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

import numpy as np

from omnivec.stores.ann_index import AnnIndex
from omnivec.stores.index_common import faiss_module
from omnivec.stores.mirror import Mirror, Searchable
from omnivec.stores.retrain import Retrain, urgent, wants_retrain

__all__ = ["Growth", "Growths", "Journal", "Retrains"]

logger = logging.getLogger("omnivec.stores.ann")


class Journal:
    """The writes a mirror took while a job rebuilds it elsewhere (under the lock)."""

    def __init__(self) -> None:
        self.entries: list[tuple[list[str], np.ndarray | None]] = []

    def upserted(self, keys: list[str], vectors: np.ndarray) -> None:
        self.entries.append((list(keys), np.array(vectors, dtype=np.float32, copy=True)))

    def deleted(self, keys: list[str]) -> None:
        self.entries.append((list(keys), None))

    def replay(self, mirror: Mirror) -> None:
        for keys, rows in self.entries:
            if rows is None:
                mirror.remove(keys)
            else:
                mirror.upsert(keys, rows)
        self.entries.clear()


class Growth:
    """One background build of collection ``name``'s first ANN index from its flat rows
    ``old`` (copied here, under the lock). ``build(keys, vectors)`` makes the index;
    ``swap(job, index)`` (under ``lock``) puts it in place and returns False when ``old`` is
    no longer the collection's copy (dropped, rebuilt); ``done(job)`` runs under the lock
    when the thread ends."""

    def __init__(
        self,
        name: str,
        old: Mirror,
        build: Callable[[list[str], np.ndarray], Searchable],
        lock: Any,
        swap: Callable[[Growth, Searchable], bool],
        done: Callable[[Growth], None],
    ) -> None:
        self.name = name
        self.old = old
        self.journal = Journal()
        self._keys, self._vectors = old.vectors()
        self._build = build
        self._lock = lock
        self._swap = swap
        self._done = done
        self._cancelled = threading.Event()
        self.finished = threading.Event()
        self.failed = False
        self.thread = threading.Thread(target=self._run, name=f"omnivec-grow-{name}", daemon=True)

    def start(self) -> None:
        self.thread.start()

    def cancel(self) -> None:
        self._cancelled.set()

    def _run(self) -> None:
        index: Searchable | None = None
        try:
            # One faiss thread: Lite stores the writes meanwhile (in its own process). Normal
            # priority: the collection's next search waits for this build.
            faiss_module().omp_set_num_threads(1)
            index = self._build(self._keys, self._vectors)
            del self._keys, self._vectors
            with self._lock:
                if self._cancelled.is_set():
                    index.stop()
                    return
                self.journal.replay(index)
                index.has_metadata = self.old.has_metadata  # the rows' flag, writes included
                if not self._swap(self, index):
                    index.stop()
                    return
            logger.info("omnivec: the index of %r is built (%s)", self.name, index.kind)
        except Exception:
            self.failed = True
            logger.exception(
                "omnivec: building the index of %r in the background failed; Milvus answers "
                "its searches until the next write builds it", self.name,
            )  # fmt: skip
        finally:
            with self._lock:
                self.journal.entries.clear()
                self._done(self)
            self.finished.set()


class Growths:
    """The background builds of one manager's collections, by name."""

    def __init__(self) -> None:
        self.jobs: dict[str, Growth] = {}
        #: The flat rows whose background build failed: built inline next time.
        self.failed: dict[str, Mirror] = {}

    def __contains__(self, name: object) -> bool:
        return name in self.jobs

    def start(
        self,
        name: str,
        old: Mirror,
        build: Callable[[list[str], np.ndarray], Searchable],
        lock: Any,
        swap: Callable[[Growth, Searchable], bool],
    ) -> Growth:
        """Build ``old``'s index in a thread (under the lock)."""

        def done(job: Growth) -> None:
            if self.jobs.get(name) is job:
                del self.jobs[name]
            if job.failed:
                self.failed[name] = job.old

        job = self.jobs[name] = Growth(name, old, build, lock, swap, done)
        job.start()
        return job

    def cancel(self, name: str) -> None:
        job = self.jobs.pop(name, None)
        if job is not None:
            job.cancel()
        self.failed.pop(name, None)

    def wait(self, names: list[str] | None = None) -> None:
        """Wait (not under the lock) for the builds of ``names`` (default all) to end."""
        for name in names if names is not None else list(self.jobs):
            job = self.jobs.get(name)
            if job is not None:
                job.finished.wait()


class Retrains:
    """The background retrainings of one manager's IVF indexes (:mod:`omnivec.stores.retrain`);
    ``jobs`` by collection. Only IVF-Flat lists are retrained."""

    def __init__(self) -> None:
        self.jobs: dict[str, Retrain] = {}
        #: The index whose retraining failed, by collection: not tried again on it.
        self.failed: dict[str, AnnIndex] = {}

    def due(self, name: str, index: Mirror) -> AnnIndex | None:
        """``index`` when it should start retraining now: an IVF index that has outgrown its
        lists (:func:`wants_retrain`), no retraining under way for ``name`` and none failed
        on it; else None."""
        if not isinstance(index, AnnIndex):  # only IVF lists are retrained
            return None
        ok = (
            name not in self.jobs
            and not index.calibrating
            and self.failed.get(name) is not index
            and wants_retrain(index)
        )
        return index if ok else None

    def start(
        self,
        name: str,
        index: AnnIndex,
        lock: Any,
        swap: Callable[[AnnIndex, AnnIndex], bool],
        progress: bool | None,
    ) -> Retrain | None:
        """Start retraining ``index`` in the background (under the lock); returns the job when
        the caller should wait for it (:func:`omnivec.stores.retrain.urgent`), else None."""

        def done(job: Retrain) -> None:  # under the lock
            if self.jobs.get(name) is job:
                del self.jobs[name]
            if job.failed:
                self.failed[name] = job.old

        hurry = urgent(index)
        job = self.jobs[name] = Retrain(
            name, index, lock, swap, done, urgent=hurry, progress=progress
        )
        job.start()
        return job if hurry else None

    def slow(
        self,
        name: str,
        index: Mirror,
        dirty: bool,
        start: Callable[[AnnIndex], Retrain | None],
    ) -> Retrain | None:
        """Before a save (under the lock): calibrate a changed IVF index that is due, and
        start (``start``) retraining it if its lists became too slow; returns the job to
        wait for, if any."""
        if not isinstance(index, AnnIndex):
            return None
        if dirty and index.calibration_due:
            index.calibrate()  # saved calibrated: the next session's search needn't
        job = self.jobs.get(name)
        ivf = self.due(name, index)
        if ivf is not None and urgent(ivf):
            job = start(ivf)
        return job if job is not None and job.urgent else None

    def cancel(self, name: str) -> None:
        job = self.jobs.pop(name, None)
        if job is not None:
            job.cancel()

    def forget(self, name: str) -> None:
        self.cancel(name)
        self.failed.pop(name, None)

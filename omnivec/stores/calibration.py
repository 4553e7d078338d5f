"""The pieces of an IVF index's nprobe calibration (:meth:`omnivec.stores.ann_index.AnnIndex.
calibrate`): the exact top ``k`` over blocks of rows (:class:`RunningTop`), the nprobe a
share of true neighbours needs, and :class:`BackgroundCalibration`, which runs a calibration
in a thread after growth so that no search waits for it.

Measured (250k x 384, 894 lists, 2 busy cores): the first search after the collection grew 5x
took 26 s, all of it the exact truth of 2 x 256 queries computed one inverted list at a time
(a small matrix product and a merge per list). Blocks of :data:`GROUP_ROWS` rows, one matrix
product each, and a merge that only touches scores above each query's k-th best, cut the CPU
several times; running it in a thread (the search goes on at a widened nprobe,
:meth:`AnnIndex.interim_nprobe`) takes it off the search entirely.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
from collections.abc import Callable
from typing import Any, Protocol

import numpy as np

__all__ = [
    "CALIBRATE_QUERIES",
    "GROUP_ROWS",
    "BackgroundCalibration",
    "CalibrationCancelled",
    "Calibrations",
    "RunningTop",
    "probes_for",
    "recall_at",
    "recall_of",
]

logger = logging.getLogger(__name__)


def recall_of(found: list[list[int]], truth: list[list[int]]) -> float:
    """Share of the true neighbours (``truth``, row positions; negatives are padding) that the
    searches returned in ``found``, over all queries; 1.0 when nothing was to be found."""
    hits = total = 0
    for f, t in zip(found, truth, strict=True):
        want = {p for p in t if p >= 0}
        hits += len(want & set(f))
        total += len(want)
    return hits / total if total else 1.0


#: Queries of a calibration (stored rows moved off their points): 64 left fresh queries at
#: recall 0.948 on loose clusters at 1M (the probes they need have a long tail); 256 and a
#: margin (``calibration_target``) hold it.
CALIBRATE_QUERIES = 256
#: Rows of inverted lists scored in one matrix product (copied under the lock when a
#: calibration runs beside searches and writes: ~50 MB at 384 dimensions).
GROUP_ROWS = 32_768


class CalibrationCancelled(Exception):
    """A background calibration was told to stop (the store closes, the index was replaced)."""


def probes_for(needed: list[int], target: float) -> int:
    """The smallest nprobe at which a share ``target`` of the neighbours in ``needed`` (the
    nprobe each one needs) is found."""
    if not needed:
        return 1
    ordered = sorted(needed)
    at = min(len(ordered) - 1, max(0, int(np.ceil(target * len(ordered))) - 1))
    return ordered[at]


def recall_at(needed: list[int], nprobe: int) -> float:
    """The share of ``needed`` found at ``nprobe``."""
    return float(np.mean(np.asarray(needed) <= nprobe)) if needed else 1.0


class RunningTop:
    """The exact top ``k`` (score, id, list) of ``m`` queries over blocks of rows, best first.

    :meth:`add` takes one block's scores ``(m, n)`` with the rows' ids and inverted lists
    ``(n,)``. Past the first blocks few scores beat a query's k-th best; only those are merged
    (one sort of the few), so a block costs little more than its matrix product."""

    def __init__(self, m: int, k: int) -> None:
        self.k = k
        self.scores = np.full((m, k), -np.inf, dtype=np.float32)
        self.ids = np.full((m, k), -1, dtype=np.int64)
        self.lists = np.full((m, k), -1, dtype=np.int64)

    def add(self, scores: np.ndarray, ids: np.ndarray, lists: np.ndarray) -> None:
        m, k = self.scores.shape
        n = scores.shape[1]
        if not n:
            return
        mask = scores > self.scores[:, -1:]
        hits = int(np.count_nonzero(mask))
        if not hits:
            return
        if hits > 4 * m * k:  # dense (the first blocks): each query's own top k first
            take = min(k, n)
            top = np.argpartition(-scores, take - 1, axis=1)[:, :take] if take < n else None
            if top is None:
                top = np.broadcast_to(np.arange(n), (m, n))
            rows = np.repeat(np.arange(m), top.shape[1])
            cols = top.ravel()
        else:
            rows, cols = np.nonzero(mask)
        q = np.concatenate([np.repeat(np.arange(m), k), rows])
        s = np.concatenate([self.scores.ravel(), scores[rows, cols]])
        i = np.concatenate([self.ids.ravel(), ids[cols]])
        li = np.concatenate([self.lists.ravel(), lists[cols]])
        order = np.lexsort((-s, q))  # by query, best first
        counts = np.bincount(q, minlength=m)
        starts = np.cumsum(counts) - counts
        sel = order[(starts[:, None] + np.arange(k)).ravel()]
        self.scores = s[sel].reshape(m, k)
        self.ids = i[sel].reshape(m, k)
        self.lists = li[sel].reshape(m, k)


class Calibratable(Protocol):
    """What :class:`BackgroundCalibration` runs: :meth:`AnnIndex.calibrate` and its flag."""

    calibrating: bool

    def calibrate(self, lock: Any = None, cancelled: threading.Event | None = None) -> None: ...


class BackgroundCalibration:
    """One calibration of collection ``name``'s index in a thread, at a lower priority.

    ``lock`` is the collection's lock: the index is read under it a block at a time and the
    result applied under it; ``done(job)`` is called under it when the thread ends."""

    def __init__(
        self, name: str, index: Calibratable, lock: Any, done: Callable[[Any], None]
    ) -> None:
        self.name = name
        self.index = index
        self._lock = lock
        self._done = done
        self.cancelled = threading.Event()
        self.finished = threading.Event()
        self.failed = False
        self.thread = threading.Thread(
            target=self._run, name=f"omnivec-calibrate-{name}", daemon=True
        )

    def start(self) -> None:
        self.thread.start()

    def cancel(self) -> None:
        self.cancelled.set()

    def _run(self) -> None:
        try:
            with contextlib.suppress(AttributeError, OSError):  # not Linux: same priority
                os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 10)
            self.index.calibrate(self._lock, self.cancelled)
        except CalibrationCancelled:
            pass
        except Exception:
            self.failed = True
            logger.exception("omnivec: calibrating the index of %r failed", self.name)
        finally:
            with self._lock:
                self.index.calibrating = False
                self._done(self)
            self.finished.set()


class Calibrations:
    """The background calibrations of one manager's collections, by name (``lock_of(name)``:
    the collection's lock, under which its job starts, ends and is cancelled)."""

    def __init__(self, lock_of: Callable[[str], Any]) -> None:
        self.lock_of = lock_of
        self.jobs: dict[str, BackgroundCalibration] = {}

    def __contains__(self, name: object) -> bool:
        return name in self.jobs

    def start(self, name: str, index: Any, ended: Callable[[], None]) -> None:
        """Calibrate ``index`` again in a thread (under the lock); searches go on at its
        interim nprobe. ``ended()`` runs under the lock when it ends; a failed one keeps
        the interim nprobe until the rows double again."""

        def done(job: BackgroundCalibration) -> None:
            if self.jobs.get(name) is job:
                del self.jobs[name]
            if job.failed:
                index.calibrated_rows = index.rows
            ended()

        index.begin_calibration()
        job = self.jobs[name] = BackgroundCalibration(name, index, self.lock_of(name), done)
        job.start()

    def cancel(self, name: str) -> BackgroundCalibration | None:
        """Stop ``name``'s calibration (under its lock); the job, or None."""
        job = self.jobs.pop(name, None)
        if job is not None:
            job.cancel()
        return job

    def settle(self, current: Callable[[str], Any], names: list[str] | None = None) -> None:
        """Stop the calibrations of ``names`` (default all; not under a lock) and calibrate
        their indexes here at full speed when still ``current(name)``: what is saved or
        reported is calibrated."""
        jobs = []
        for name in names if names is not None else list(self.jobs):
            with self.lock_of(name):
                job = self.cancel(name)
            if job is not None:
                jobs.append(job)
        for job in jobs:
            job.finished.wait()
            with self.lock_of(job.name):
                index: Any = job.index
                if current(job.name) is index and index.calibration_due:
                    index.calibrate()

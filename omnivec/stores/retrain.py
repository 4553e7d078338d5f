"""Retraining a collection's IVF index in the background, while it keeps serving.

An "auto" collection's IVF lists are trained once, on its first :data:`ANN_MIN_ROWS` rows
(512 lists at 20k rows). Past a few times that size the lists grow long and, on data with
many loose clusters, mix them: a million rows then need ~4,000 lists (``nlist_for``) to reach
recall 0.95 at a few probes (measured at 1M x 384 with 10,000 clusters: 512 lists need nprobe
64 for recall 0.83, 8.5 ms a query; 4,096 lists reach 0.96 at nprobe 8, 0.23 ms). Tight
clusters are answered at nprobe 1 by the first lists and gain nothing (:func:`wants_retrain`
compares the cost of a query on both). Training new lists and re-adding every row takes about
a minute of CPU at 1M, so it never runs inside a write (the insert would stall): a search that
finds its index outgrown starts a :class:`Retrain` thread. Usually the search goes on with the
old lists; only when they have become too slow to keep omnivec's promise (:func:`urgent`: the
calibrated nprobe scans more than 1/16 of the rows) does it wait for the new ones, which are
then trained at full speed with a progress bar, as an index build would be; closing the store
does the same for such an index before saving it.

The thread trains new lists on a sample of the old index's rows (the IVF-Flat lists hold them
exactly; no Milvus read) with one faiss thread, fills the new index from the old lists a group
at a time (each group copied under the collection's lock, added outside it: the extra memory is
the new index plus one group), then, under the lock again, replays the writes that reached
the old index meanwhile (a journal kept by :class:`AnnManager`) and swaps the new index in.
Searches and writes go to the old index until that moment, and nothing written during the
retraining is lost. The swap is abandoned when the collection changed under it in other ways
(dropped, rebuilt from Milvus) or the store closed (the old index is saved; the next session
starts again). SQ8 indexes are not retrained: their codes are not the stored vectors.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
from collections.abc import Callable
from typing import Any

import numpy as np

from omnivec.core.progress import progress_bar
from omnivec.stores.ann_index import AnnIndex
from omnivec.stores.index_common import faiss_module, nlist_for

__all__ = [
    "GROUP_ROWS",
    "RETRAIN_GROWTH",
    "URGENT_PROBE_SHARE",
    "Retrain",
    "RetrainCancelled",
    "query_cost",
    "urgent",
    "wants_retrain",
]

logger = logging.getLogger(__name__)


class RetrainCancelled(Exception):
    """The retraining was told to stop (the store closed, the collection changed)."""


#: A search starts a background retraining once its collection holds this many times the rows
#: its lists were trained on, and the new index would have at least twice as many lists.
RETRAIN_GROWTH = 8
#: Rows of the old index copied (under the lock) and added to the new one at a time.
GROUP_ROWS = 50_000
#: A retraining the starting search waits for when the calibrated nprobe exceeds this share
#: of the lists (measured at 1M x 384, 10,000 clusters: nprobe ~180 of 512, 25 ms a query;
#: retrained to 4,000 lists, 2.5 ms).
URGENT_PROBE_SHARE = 1 / 16


def urgent(index: AnnIndex) -> bool:
    """Whether ``index`` has become too slow to keep serving while it is retrained: its
    calibrated nprobe scans more than :data:`URGENT_PROBE_SHARE` of its rows (then a query
    costs more than ~0.06x a brute-force scan, against the <= 0.1x omnivec promises)."""
    return index.nprobe > URGENT_PROBE_SHARE * index.nlist


def query_cost(nlist: int, nprobe: int, rows: int) -> float:
    """Vectors a query compares itself with: every list centre, then ``nprobe`` lists of
    ``rows / nlist`` rows."""
    return nlist + nprobe * rows / max(nlist, 1)


def wants_retrain(index: AnnIndex) -> bool:
    """Whether ``index`` (IVF-Flat) has outgrown its lists enough to retrain them: 8x the
    rows they were trained on, twice the lists for its size now, and queries that would cost
    less than half as much on the new lists at as many probes. (Lists of a few clear clusters
    answer at nprobe 1 and stay: measured at 1M x 384 with 1,000 tight clusters, 4,000 new
    lists took p50 from 0.52 to 0.56-0.60 ms, the centres costing more than the shorter lists
    save.)"""
    rows = index.rows
    # Asked on every search: the two comparisons first, the list count only past them.
    if index.kind != "ivf_flat" or rows < RETRAIN_GROWTH * max(index.trained_rows, 1):
        return False
    new = nlist_for(rows)
    probes = index.nprobe  # the new lists are assumed to need as many (fresh queries)
    return new >= 2 * index.nlist and query_cost(index.nlist, probes, rows) > 2 * query_cost(
        new, probes, rows
    )


class Retrain:
    """One background retraining of collection ``name``'s index ``old``.

    ``lock`` is the collection's lock; the journal receives every write the old index takes
    while the job runs (:meth:`upserted`, :meth:`deleted`); ``swap(old, new)`` is called under
    the lock with the finished index and returns False when ``old`` is no longer the
    collection's index (the retraining is then dropped); ``done(job)`` is called under the
    lock when the thread ends, whatever the outcome."""

    def __init__(
        self,
        name: str,
        old: AnnIndex,
        lock: Any,
        swap: Callable[[AnnIndex, AnnIndex], bool],
        done: Callable[[Retrain], None],
        *,
        urgent: bool = False,
        progress: bool | None = None,
    ) -> None:
        self.name = name
        #: A search waits for it: full speed (every faiss thread, normal priority), a bar.
        self.urgent = urgent
        self._progress = progress if urgent else False
        self.old = old
        self._lock = lock
        self._swap = swap
        self._done = done
        self._journal: list[tuple[list[str], np.ndarray | None]] = []
        self._cancelled = threading.Event()
        self.finished = threading.Event()
        self.swapped = False
        self.failed = False
        self.thread = threading.Thread(
            target=self._run, name=f"omnivec-retrain-{name}", daemon=True
        )

    def start(self) -> None:
        self.thread.start()

    def cancel(self) -> None:
        """Stop at the next step; the old index stays."""
        self._cancelled.set()

    # -- the journal (called under the collection's lock, after the old index took the write)
    def upserted(self, keys: list[str], vectors: np.ndarray) -> None:
        self._journal.append((list(keys), np.array(vectors, dtype=np.float32, copy=True)))

    def deleted(self, keys: list[str]) -> None:
        self._journal.append((list(keys), None))

    # -- the thread ------------------------------------------------------------------------
    def _run(self) -> None:
        try:
            if not self.urgent:
                self._lower_priority()
            new = self._build()
            with self._lock:
                if self._cancelled.is_set():
                    return
                for changed, rows in self._journal:
                    if rows is None:
                        new.remove(changed)
                    else:
                        new.upsert(changed, rows)
                self._journal.clear()
                new.has_metadata = new.has_metadata or self.old.has_metadata
                if new.calibration_due:
                    new.calibrate()
                self.swapped = self._swap(self.old, new)
            if self.swapped:
                logger.info(
                    "omnivec: the index of %r now has %d lists (nprobe %d)",
                    self.name,
                    new.nlist,
                    new.nprobe,
                )
        except RetrainCancelled:
            pass
        except Exception:
            self.failed = True
            logger.exception(
                "omnivec: retraining the index of %r failed; it keeps its lists", self.name
            )
        finally:
            with self._lock:
                self._journal.clear()
                self._done(self)
            self.finished.set()

    def _check(self) -> None:
        if self._cancelled.is_set():
            raise RetrainCancelled

    def _build(self) -> AnnIndex:
        """The new index, trained and filled from the old one's lists a group at a time:
        each group is copied under the lock (a write between two groups is in the journal,
        and a row read twice is replaced, not doubled), assigned and added outside it, so
        the extra memory is the new index plus one group, not a second copy of every row."""
        old = self.old
        with self._lock:
            self._check()
            rows, nlist = old.rows, nlist_for(old.rows)
            sample = old.sample_rows(min(rows, 32 * nlist))  # what the index holds
            groups = old.list_groups(GROUP_ROWS)
            has_metadata = old.has_metadata
        logger.log(
            logging.WARNING if self.urgent else logging.INFO,
            "omnivec: retraining the index of %r (%d rows, %d -> %d lists)%s",
            self.name,
            rows,
            old.nlist,
            nlist,
            f": its {old.nlist} lists need nprobe {old.nprobe}; the search waits"
            if self.urgent
            else " in the background",
        )
        new = AnnIndex.trained(sample, nlist, old.metric, old.kind, normalised=True)
        new.recall_target = old.recall_target
        del sample
        label = f"retraining the index of {self.name!r}"
        with progress_bar(rows, label, self._progress, unit="vec") as bar:
            for lists in groups:
                self._check()
                with self._lock:
                    keys, block = old.read_lists(lists)
                new.add_normalised(keys, block)
                bar.update(len(keys))
        self._check()
        new.trained_rows = rows  # the size its lists were made for
        new.has_metadata = has_metadata
        new.calibrate()
        return new

    @staticmethod
    def _lower_priority() -> None:
        """Leave the CPU to searches and writes first: this thread's nice value up (Linux
        sets it per thread) and one faiss thread (OpenMP's count is per calling thread)."""
        with contextlib.suppress(AttributeError, OSError):  # not Linux: same priority
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 10)
        faiss_module().omp_set_num_threads(1)

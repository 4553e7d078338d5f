"""What :class:`omnivec.stores.ann.AnnManager` keeps per collection (:data:`Mirror`: rows
below the ANN threshold, an IVF index or an HNSW graph above it) and the write-side helper
that assigns a write's vectors to IVF lists while Milvus stores them (:class:`Prepared`)."""

from __future__ import annotations

import logging
import threading
from typing import Any

import numpy as np

from omnivec.stores.ann_index import AnnIndex
from omnivec.stores.flat_rows import FlatRows
from omnivec.stores.hnsw_index import HNSW_PROBE_SHARE, HnswIndex
from omnivec.stores.pq_scan import PqScanIndex, pq_subquantizers

__all__ = ["PREPARE_MIN_ROWS", "Mirror", "Prepared", "Searchable", "build_searchable"]

# The log the manager's messages go to (tests and users filter on it).
logger = logging.getLogger("omnivec.stores.ann")

#: A collection's in-process copy: exact rows below the ANN threshold, the IVF index, the
#: HNSW graph or the PQ scan above it. Each has ``rows``, ``ids`` (key -> position), ``upsert``, ``remove``,
#: ``read``, ``vectors``, ``save``, ``book`` and ``has_metadata``; the two ANN kinds add
#: ``search``, ``calibrate``, ``calibration_due`` and ``stats``.
Mirror = AnnIndex | FlatRows | HnswIndex | PqScanIndex
#: The kinds that answer searches in the process.
Searchable = AnnIndex | HnswIndex | PqScanIndex

#: Below this many rows a write assigns its vectors inline (a thread costs more than it saves).
PREPARE_MIN_ROWS = 256


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


def build_searchable(
    name: str,
    keys: list[str],
    vectors: np.ndarray,
    metric: str,
    mode: str,
    target: float,
    min_rows: int,
    progress: bool | None,
    lock: Any,
) -> Searchable:
    """A new ANN index over ``keys``/``vectors`` for collection ``name``'s ``mode``: IVF
    lists with an nprobe calibrated for ``target``; for ``"auto"`` when the IVF lists would
    need more than HNSW_PROBE_SHARE of themselves (uniform-like data) a PQ scan re-ranked
    exactly (omnivec.stores.pq_scan); for ``"hnsw"`` an HNSW graph, built in the background
    (searches scan what is not in the graph yet; ``lock`` is the collection's).
    ``min_rows``: the ANN threshold (the sample "auto" judges the data on)."""
    if mode != "hnsw":
        kind, n = mode.replace("auto", "ivf_flat"), len(keys)
        # "auto" judges the data on lists over a sample of threshold size first: on
        # uniform-like data the full build's calibration alone costs ~10x the PQ scan's.
        judge = mode == "auto" and pq_subquantizers(int(vectors.shape[1])) is not None
        ivf = None
        size = max(min_rows, 64 * 39)  # rows enough for 64 lists, the fewest judged
        if judge and n > 3 * size // 2:
            pick = np.sort(np.random.default_rng(0).permutation(n)[:size])
            sub = [keys[i] for i in pick]
            sample = AnnIndex.build(sub, vectors[pick], metric, kind, False, target)
        else:
            sample = ivf = AnnIndex.build(keys, vectors, metric, kind, progress, target)
        if not judge or sample.nlist < 64 or sample.nprobe <= HNSW_PROBE_SHARE * sample.nlist:
            if ivf is None:
                ivf = AnnIndex.build(keys, vectors, metric, kind, progress, target)
            return ivf
        logger.info(
            "omnivec: %r needs nprobe %d of %d lists for recall %.2f; scanning PQ codes "
            "instead", name, sample.nprobe, sample.nlist, target,
        )  # fmt: skip
        del sample, ivf
        return PqScanIndex.build(keys, vectors, metric, prepared=False, recall_target=target)
    graph = HnswIndex.from_rows(keys, vectors, metric, lock, prepared=False)
    graph.recall_target = target
    graph.start()
    return graph

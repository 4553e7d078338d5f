"""What :class:`omnivec.stores.ann.AnnManager` keeps per collection (:data:`Mirror`: rows
below the ANN threshold, an IVF index or an HNSW graph above it) and the write-side helper
that assigns a write's vectors to IVF lists while Milvus stores them (:class:`Prepared`)."""

from __future__ import annotations

import threading

import numpy as np

from omnivec.stores.ann_index import AnnIndex
from omnivec.stores.flat_rows import FlatRows
from omnivec.stores.hnsw_index import HnswIndex
from omnivec.stores.pq_scan import PqScanIndex

__all__ = ["PREPARE_MIN_ROWS", "Mirror", "Prepared", "Searchable"]

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

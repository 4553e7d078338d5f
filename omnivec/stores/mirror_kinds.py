"""The kinds of :class:`omnivec.stores.mirror.Mirror`: which ANN index a collection's rows
become (:func:`build_searchable`), and loading a saved one by the kind its bookkeeping names
(:func:`load_mirror`)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from omnivec.stores.ann_index import AnnIndex
from omnivec.stores.flat_rows import FlatRows
from omnivec.stores.hnsw_index import HNSW_PROBE_SHARE, HnswIndex
from omnivec.stores.mirror import Mirror, Searchable
from omnivec.stores.pq_scan import PqScanIndex, pq_subquantizers

__all__ = ["MIRROR_KINDS", "build_searchable", "load_mirror"]

# The log the manager's messages go to (tests and users filter on it).
logger = logging.getLogger("omnivec.stores.ann")

#: Every class that implements the protocols (checked by mypy here).
MIRROR_KINDS: tuple[type[Mirror], ...] = (FlatRows, AnnIndex, HnswIndex, PqScanIndex)
_SEARCHABLE: tuple[type[Searchable], ...] = (AnnIndex, HnswIndex, PqScanIndex)

_LOADERS: dict[str, Callable[[Path, str, dict[str, Any], Any], Mirror]] = {
    "flat": lambda folder, name, book, lock: FlatRows.load(folder, name, book),
    "hnsw": HnswIndex.load,
    "pq_scan": lambda folder, name, book, lock: PqScanIndex.load(folder, name, book, lock),
    "ivf_flat": lambda folder, name, book, lock: AnnIndex.load(folder, name, book),
    "ivf_sq8": lambda folder, name, book, lock: AnnIndex.load(folder, name, book),
}


def load_mirror(folder: Path, name: str, book: dict[str, Any], lock: Any) -> Mirror:
    """The saved copy of collection ``name`` of the kind ``book`` names (``lock``: the
    collection's, for kinds that build in the background)."""
    return _LOADERS[str(book["kind"])](folder, name, book, lock)


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
        return PqScanIndex.build(
            keys, vectors, metric, prepared=False, recall_target=target, lock=lock
        )
    graph = HnswIndex.from_rows(keys, vectors, metric, lock, prepared=False)
    graph.recall_target = target
    graph.start()
    return graph

"""What :class:`omnivec.stores.ann.AnnManager` keeps per collection: the :class:`Mirror`
protocol (every row of one collection, in step with Milvus) that the flat rows below the ANN
threshold (:class:`omnivec.stores.flat_rows.FlatRows`) implement, and :class:`Searchable`,
the mirrors that answer searches (the IVF index, the HNSW graph, the PQ scan). The manager
talks to them only through these protocols; :mod:`omnivec.stores.mirror_kinds` makes and
loads them.

Every method is called under the collection's lock (one per collection, so a search of one
collection never waits for another's write) unless its docstring says otherwise.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, NamedTuple, Protocol, TypeGuard

import numpy as np

from omnivec.stores.scan import RowBlock

__all__ = [
    "PREPARE_MIN_ROWS",
    "Hits",
    "Lookup",
    "Mirror",
    "Prepared",
    "Searchable",
    "is_searchable",
]

#: Each query's (key, higher-is-better score) pairs, best first.
Hits = list[list[tuple[str, float]]]

#: Below this many rows a write assigns its vectors inline (a thread costs more than it saves).
PREPARE_MIN_ROWS = 256


class Lookup(NamedTuple):
    """What :meth:`Searchable.lookup` found under the collection's lock: the ``hits``, or,
    when ``wanted`` is not None, candidates that ``finish`` re-ranks exactly with the stored
    vectors of the keys ``wanted`` (read from Milvus by the caller *outside* the lock, so that
    the round trip holds up no other search or write; ``finish`` works on a snapshot)."""

    hits: Hits
    wanted: list[str] | None = None
    finish: Callable[[dict[str, np.ndarray]], Hits] | None = None


class Mirror(Protocol):
    """One collection's rows, in step with its Milvus collection."""

    #: "flat", "ivf_flat", "ivf_sq8", "hnsw" or "pq_scan" (also the saved bookkeeping's kind).
    kind: str
    metric: str
    #: Whether any row has metadata; if none has, hits need no Milvus round trip.
    has_metadata: bool
    #: Whether it answers searches in the process (a :class:`Searchable`).
    searchable: bool
    #: Every stored key -> its position.
    ids: dict[str, int]

    @property
    def rows(self) -> int: ...

    def prepare(self, vectors: np.ndarray) -> Prepared | None:
        """Start the costly half of adding ``vectors`` in a thread while Milvus stores them
        (None: nothing worth it); its result goes to :meth:`upsert` as ``assigned``. Called
        without the lock (it only reads the index)."""
        ...

    def upsert(self, keys: Sequence[str], vectors: np.ndarray, assigned: Any = None) -> None:
        """Add or replace rows (after Milvus stored them)."""
        ...

    def remove(self, keys: Sequence[str]) -> None: ...

    def read(self, unit: bool) -> RowBlock | None:
        """Every row: as stored, or (``unit``) unit rows for a cosine collection; None when
        this copy cannot give them (SQ8 codes; a cosine index asked for stored rows)."""
        ...

    def vectors(self) -> tuple[list[str], np.ndarray]: ...

    def save(self, folder: Path, name: str) -> None: ...

    def book(self, clean: bool) -> dict[str, Any]: ...

    def start(self) -> None:
        """Start the background work a write left (building an unindexed tail), if any."""
        ...

    def stop(self) -> None:
        """Stop background work (the copy is dropped or replaced)."""
        ...

    def compaction(self) -> Mirror | None:
        """A copy rebuilt from the live rows when deletes left too many tombstones (the
        caller starts it and drops this one), else None."""
        ...

    def retarget(self, target: float) -> bool:
        """Promise ``target`` recall@10 from now on (calibrated again before the next search);
        False when this copy promises nothing (exact rows)."""
        ...


class Searchable(Mirror, Protocol):
    """A mirror that answers searches: an ANN index calibrated for a recall target."""

    recall_target: float

    @property
    def calibration_due(self) -> bool: ...

    def calibrate(self) -> None: ...

    def before_search(self, exact: bool, progress: bool | None) -> bool:
        """What this kind does under the lock before a search (build a tail whose scan would
        cost too much, calibrate after growth); True: start a calibration in the background
        instead (:mod:`omnivec.stores.calibration`)."""
        ...

    def lookup(self, queries: np.ndarray, k: int, params: Mapping[str, int]) -> Lookup | None:
        """The top ``k`` of each query; ``params``: ``nprobe`` / ``ef`` for this search,
        ``exact`` to scan every row. None: Milvus answers (an exact scan SQ8 cannot give)."""
        ...

    def search_one(
        self, vector: np.ndarray, k: int, knob: int | None = None, /
    ) -> tuple[list[Any], list[float]]: ...

    def ready(self, progress: bool | None) -> None:
        """Built and calibrated as it will answer: before its figures are reported."""
        ...

    def stats(self) -> dict[str, Any]: ...


def is_searchable(mirror: Mirror | None) -> TypeGuard[Searchable]:
    """Whether ``mirror`` answers searches (an ANN index, not the flat rows)."""
    return mirror is not None and mirror.searchable


class Prepared:
    """``assign(vectors)`` of one write's vectors for ``owner``, running in a thread."""

    def __init__(
        self, owner: object, assign: Callable[[np.ndarray], Any], vectors: np.ndarray
    ) -> None:
        self.owner = owner
        self.out: Any = None
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, args=(assign, vectors), daemon=True)
        self.thread.start()

    def _run(self, assign: Callable[[np.ndarray], Any], vectors: np.ndarray) -> None:
        try:
            self.out = assign(vectors)
        except BaseException as exc:  # noqa: BLE001 - re-raised in result()
            self.error = exc

    def wait(self) -> None:
        self.thread.join()

    def result(self, mirror: object) -> Any:
        """The assignment, or None when it was made for another copy than ``mirror`` (the
        collection was retrained or grew meanwhile): then the rows are assigned again."""
        self.thread.join()
        if self.error is not None:
            raise self.error
        return self.out if mirror is self.owner else None

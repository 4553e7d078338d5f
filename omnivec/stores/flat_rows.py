"""Every row of a collection below the ANN threshold, kept in the process
(:class:`FlatRows`): the in-process copy :mod:`omnivec.stores.ann` holds until the collection
is big enough for its IVF index (:mod:`omnivec.stores.ann_index`)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from omnivec.core.space import unit_rows
from omnivec.stores.index_common import versions, write_keys
from omnivec.stores.mirror import Mirror, Prepared
from omnivec.stores.scan import RowBlock

__all__ = ["FlatRows"]


class FlatRows:
    """Every row of a collection below the ANN threshold, as stored: a growable float32
    matrix with a key <-> row table, and for a cosine collection the same rows scaled to unit
    length beside it (what analysis and the IVF index work on; twice the memory, at most
    ANN_MIN_ROWS rows). Milvus answers the searches of such a collection exactly; this copy
    serves bulk reads (``Collection.vectors`` and the analysis calls) without a round trip,
    knows which keys exist (writes need no pre-read), and becomes the IVF index's training
    data when the collection reaches the threshold, without reading Milvus back.

    :meth:`read` hands out read-only views, not copies: a later write that would change a
    row such a view shows copies the matrices first (copy on write), so a reader never sees
    a half-made change. A removed row is replaced by the last one, so rows stay dense; the
    order is not the key order (callers sort when they need it).
    """

    kind = "flat"
    #: Milvus answers this collection's searches (exactly): a Mirror, not a Searchable.
    searchable = False

    def __init__(
        self, metric: str, keys: list[str] | None = None, matrix: np.ndarray | None = None
    ) -> None:
        self.metric = metric
        self.keys: list[str] = list(keys or [])
        self.ids = {k: i for i, k in enumerate(self.keys)}
        self._matrix = matrix if matrix is not None else np.empty((0, 0), np.float32)
        self._unit = unit_rows(self._matrix) if metric == "cosine" else None
        #: Whether views of the current matrices were handed out (see :meth:`read`).
        self._shared = False
        self.has_metadata = True

    @property
    def rows(self) -> int:
        return len(self.keys)

    def _matrices(self) -> list[np.ndarray]:
        return [self._matrix] if self._unit is None else [self._matrix, self._unit]

    def _reserve(self, extra: int, dim: int) -> None:
        need = self.rows + extra
        if self._matrix.shape[1] != dim:
            if self.rows:
                raise ValueError(
                    f"vectors of width {dim} for rows of width {self._matrix.shape[1]}"
                )
            self._matrix = np.empty((0, dim), np.float32)
            self._unit = self._matrix.copy() if self.metric == "cosine" else None
        if need > len(self._matrix):
            size = max(need, 2 * len(self._matrix), 256)
            grown = []
            for old in self._matrices():
                new = np.empty((size, dim), np.float32)
                new[: self.rows] = old[: self.rows]
                grown.append(new)
            self._matrix, self._unit = grown[0], (grown[1] if len(grown) > 1 else None)
            self._shared = False

    def _unshare(self) -> None:
        """Copy the matrices before a row a handed-out view shows changes."""
        if self._shared:
            self._matrix = self._matrix.copy()
            self._unit = self._unit.copy() if self._unit is not None else None
            self._shared = False

    def prepare(self, vectors: np.ndarray) -> Prepared | None:
        return None  # a copy into the matrix: nothing to do beforehand

    def start(self) -> None:
        """Nothing runs in the background."""

    def stop(self) -> None:
        """Nothing to stop."""

    def compaction(self) -> Mirror | None:
        return None  # a removed row is replaced by the last one: no tombstones

    def retarget(self, target: float) -> bool:
        return False  # exact: no recall to promise

    def upsert(self, keys: Sequence[str], vectors: np.ndarray, assigned: object = None) -> None:
        """Add or replace rows: ``vectors`` (n, dim), stored as float32."""
        x = np.asarray(vectors, dtype=np.float32)
        if not len(keys):
            return
        self._reserve(len(keys), int(x.shape[1]))
        if any(k in self.ids for k in keys):
            self._unshare()  # appended rows lie past every view; replaced ones do not
        unit = unit_rows(x) if self._unit is not None else None
        for j, key in enumerate(keys):
            at = self.ids.get(key)
            if at is None:
                at = self.ids[key] = len(self.keys)
                self.keys.append(key)
            self._matrix[at] = x[j]
            if unit is not None and self._unit is not None:
                self._unit[at] = unit[j]

    def remove(self, keys: Sequence[str]) -> None:
        if any(k in self.ids for k in keys):
            self._unshare()
        for key in keys:
            at = self.ids.pop(key, None)
            if at is None:
                continue
            last = len(self.keys) - 1
            if at != last:
                moved = self.keys[last]
                self.keys[at] = moved
                self.ids[moved] = at
                for m in self._matrices():
                    m[at] = m[last]
            self.keys.pop()

    def vectors(self) -> tuple[list[str], np.ndarray]:
        """Every (key, vector) as stored: a copy, float32 (rows, dim)."""
        return list(self.keys), self._matrix[: self.rows].copy()

    def read(self, unit: bool) -> RowBlock | None:
        """Every row (read-only views, see the class docstring): as stored, or (``unit``, a
        cosine collection) scaled to unit length."""
        source = self._unit if unit and self._unit is not None else self._matrix
        view = source[: self.rows].view()
        view.flags.writeable = False
        self._shared = True
        return RowBlock(list(self.keys), view, unit=source is self._unit)

    # -- files --------------------------------------------------------------------------
    def save(self, folder: Path, name: str) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        with open(folder / f"{name}.npy.tmp", "wb") as fh:
            np.save(fh, self._matrix[: self.rows], allow_pickle=False)
        os.replace(folder / f"{name}.npy.tmp", folder / f"{name}.npy")
        write_keys(folder, name, self.keys)

    def book(self, clean: bool) -> dict[str, Any]:
        return {
            **versions(),
            "kind": self.kind,
            "metric": self.metric,
            "rows": self.rows,
            "ids": self.rows,
            "has_metadata": self.has_metadata,
            "clean": clean,
        }

    @classmethod
    def load(cls, folder: Path, name: str, book: dict[str, Any]) -> FlatRows:
        matrix = np.load(folder / f"{name}.npy", allow_pickle=False)
        text = (folder / f"{name}.keys").read_text(encoding="utf-8")
        keys = text.split("\n") if text else []
        if len(keys) != int(book["rows"]) or len(matrix) != len(keys):
            raise ValueError("row files do not match their bookkeeping")
        out = cls(str(book["metric"]), keys, np.ascontiguousarray(matrix, dtype=np.float32))
        out.has_metadata = bool(book.get("has_metadata", True))
        return out

"""The storage protocol the platform talks to. Keys are store keys (str), never user ids."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple, Protocol, runtime_checkable

import numpy as np

from omnivec.stores.scan import RowBlock

__all__ = [
    "CatalogStore",
    "RowBlock",
    "RowStore",
    "StoredHit",
    "StoredRow",
    "VectorStore",
    "block_rows",
]


class StoredHit(NamedTuple):
    """One hit of a store search. A named tuple: searches make k of them per query, and
    a tuple is several times cheaper to make than a dataclass instance."""

    key: str
    score: float
    metadata: dict[str, Any]


@dataclass
class StoredRow:
    key: str
    vector: np.ndarray
    metadata: dict[str, Any] = field(default_factory=dict)


def block_rows(block: RowBlock) -> dict[str, StoredRow]:
    """A bulk read's rows by key (vectors are views into ``block.vectors``)."""
    meta = block.metadata or [{} for _ in block.keys]
    return {k: StoredRow(k, v, m) for k, v, m in zip(block.keys, block.vectors, meta, strict=True)}


@runtime_checkable
class RowStore(Protocol):
    """Named collections of (key, float32 vector, metadata) rows.

    Scores coming back are higher-is-better for every metric. Writes are all or nothing.
    """

    def create_collection(
        self,
        name: str,
        dim: int,
        metric: str,
        index: str = "auto",
        keywords: str | None = None,
        recall_target: float | None = None,
    ) -> None: ...

    def index_stats(self, name: str) -> dict[str, Any]:
        """The collection's index: kind, rows, nlist/nprobe or ef, calibrated recall."""
        ...

    def set_recall_target(self, name: str, target: float) -> None: ...

    def keyword_search(
        self, name: str, texts: Sequence[str], k: int, where: str | None = None
    ) -> list[list[StoredHit]]: ...

    def has_collection(self, name: str) -> bool: ...

    def list_collections(self) -> list[str]: ...

    def drop_collection(self, name: str) -> None: ...

    def upsert(
        self,
        name: str,
        keys: Sequence[str],
        vectors: np.ndarray,
        metadata: Sequence[dict[str, Any]],
        *,
        delete: Sequence[str] = (),
    ) -> None: ...

    def search(
        self,
        name: str,
        vectors: np.ndarray,
        k: int,
        where: str | None = None,
        exclude: Sequence[str | None] | None = None,
        metric: str | None = None,
        params: dict[str, Any] | None = None,
    ) -> list[list[StoredHit]]: ...

    def search_ids(
        self, name: str, vector: np.ndarray, k: int, params: dict[str, Any] | None = None
    ) -> tuple[list[Any], list[float]] | None:
        """Top-``k`` (user ids, scores) of one unfiltered query (dim,) float32 when the store
        can answer without metadata; None: :meth:`search` answers."""
        ...

    def get(
        self, name: str, keys: Sequence[str], *, strong: bool = False
    ) -> dict[str, StoredRow]: ...

    def existing(self, name: str, keys: Sequence[str]) -> set[str]: ...

    def metadata(self, name: str, keys: Sequence[str]) -> dict[str, dict[str, Any]]:
        """The metadata of the rows of ``keys`` that exist (no vectors)."""
        ...

    def delete(self, name: str, keys: Sequence[str]) -> int: ...

    def count(self, name: str, where: str | None = None) -> int: ...

    def keys(self, name: str, where: str | None = None) -> list[str]: ...

    def scan(
        self,
        name: str,
        where: str | None = None,
        *,
        keys: Sequence[str] | None = None,
        metadata: bool = True,
        on_page: Callable[[int], object] | None = None,
    ) -> RowBlock:
        """Every row matching ``where`` (only those of ``keys`` if given), in key order, the
        vectors as one float32 ``(n, dim)`` array; ``on_page`` gets each page's row count."""
        ...

    def rows(self, name: str, where: str | None = None) -> dict[str, StoredRow]:
        """Every row (matching ``where``) by key, read in bulk (:meth:`scan`)."""
        ...

    def local_rows(self, name: str, unit: bool = False) -> RowBlock | None:
        """Every row from an in-process copy of the collection, in no particular order,
        without metadata; None when the store keeps none (then :meth:`scan`)."""
        ...


@runtime_checkable
class CatalogStore(Protocol):
    """Small JSON documents by key: the catalog (omnivec.platform.catalog types them)."""

    def get_doc(self, key: str, *, strong: bool = False) -> dict[str, Any] | None: ...

    def put_doc(self, key: str, doc: dict[str, Any]) -> None: ...

    def delete_doc(self, key: str) -> None: ...

    def list_docs(self, prefix: str = "") -> dict[str, dict[str, Any]]: ...

    def list_doc_keys(self, prefix: str = "") -> list[str]: ...


@runtime_checkable
class VectorStore(RowStore, CatalogStore, Protocol):
    """What the platform needs: rows and catalog documents in one place, at ``uri``."""

    uri: str

    def close(self) -> None: ...

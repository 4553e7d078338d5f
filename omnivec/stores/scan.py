"""Bulk reads of a Milvus collection: every row (or the rows of given keys) as one block.

Measured on Milvus Lite 2.5.1 (docs/benchmarks.md, "Analysis"): the cost of a query that
returns vectors grows faster than its row count (at dim 384: 1,000 rows ~0.1 s, 2,000 ~0.35 s,
4,000 ~2 s), so a whole collection reads fastest in pages of a few hundred KiB: pages of
~200 rows read 100k x 384 in 4.5-7 s where pages of 1,000 took 18 s and pymilvus'
``query_iterator`` (pages of 1,000, vectors turned into Python lists row by row) longer still.
Pages walk the primary key (``pk > last``) with the same server flags pymilvus' own query
iterator sends (``iterator``, ``reduce_stop_for_best``: each page is the next keys in order);
``offset`` paging is capped at 16,384 rows by Lite and slows with the offset.

Vectors are decoded per page straight from the response's packed float column into one
float32 array (pymilvus' lazy result keeps that column; without it, rows are decoded one by
one, which is correct but slower).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from omnivec.core.ids import quoted_keys

__all__ = ["FIRST_PAGE_ROWS", "SCAN_PAGE_BYTES", "RowBlock", "keys_expr", "page_rows", "scan"]

#: Bytes of vectors per page: ~210 rows at dim 384, the fastest measured (see above).
SCAN_PAGE_BYTES = 320 << 10
#: Rows per page whatever the width (narrow vectors: 500-2,000 rows were equally fast at dim 16).
MAX_PAGE_ROWS = 1_000
MIN_PAGE_ROWS = 32
#: The first page, before the vector width is known.
FIRST_PAGE_ROWS = 128

#: ``query(expr, limit, output_fields) -> pymilvus result`` (limit None: no limit).
Query = Callable[[str, "int | None", list[str]], Any]


@dataclass
class RowBlock:
    """Rows read in bulk, in key order: ``keys`` (n store keys), ``vectors`` float32
    ``(n, dim)``, ``metadata`` (n dicts; empty dicts when metadata was not read). ``unit``:
    the vectors were scaled to unit length (a cosine collection's in-process copy). ``ids``:
    the keys decoded (:func:`omnivec.core.ids.decode_ids`) when the store had them at hand
    (an ANN index over int ids keeps them as an array), else None."""

    keys: list[str]
    vectors: np.ndarray
    metadata: list[dict[str, Any]] = field(default_factory=list)
    unit: bool = False
    ids: list[Any] | None = None

    def __len__(self) -> int:
        return len(self.keys)


def keys_expr(keys: Sequence[str]) -> str:
    """``pk in [...]`` for store keys."""
    return "pk in " + quoted_keys(keys)


def page_rows(dim: int) -> int:
    """Rows per page for vectors of ``dim`` float32s."""
    return int(min(MAX_PAGE_ROWS, max(MIN_PAGE_ROWS, SCAN_PAGE_BYTES // (4 * max(dim, 1)))))


def _and(where: str | None, expr: str) -> str:
    return expr if not where else f"({where}) and {expr}"


def _columns(res: Any, metadata: bool) -> tuple[list[str], np.ndarray | None, list[dict[str, Any]]]:
    """(keys, float32 (n, dim) or None when empty, metadata dicts) of one query result."""
    n = len(res)
    lazy = getattr(res, "_lazy_field_data", None)
    if lazy is None:  # not pymilvus' lazy result: decode row by row
        rows = list(res)
        keys = [r.pop("pk") for r in rows]
        vecs = [np.asarray(r.pop("vector"), dtype=np.float32) for r in rows]
        return keys, (np.stack(vecs) if vecs else None), (rows if metadata else [])
    # The primary key is decoded eagerly into the list's dicts; reading them through list's
    # own accessors does not trigger the per-row decoding of the lazy columns.
    keys = _page_keys(res)
    vectors: np.ndarray | None = None
    metas: list[dict[str, Any]] = []
    for column in lazy:
        if column.field_name == "vector":
            flat = np.array(column.vectors.float_vector.data, dtype=np.float32)
            vectors = flat.reshape(n, -1) if n else None
        elif column.field_name == "$meta" and metadata:
            metas = [json.loads(b) if b else {} for b in column.scalars.json_data.data]
    if vectors is None and n:
        raise RuntimeError("Milvus returned rows without their vectors")
    if metadata and len(metas) != n:
        metas = [{} for _ in range(n)]
    return keys, vectors, metas


def _pages(
    query: Query, where: str | None, keys: Sequence[str] | None, fields: list[str]
) -> Iterator[Any]:
    """Query results of successive pages."""
    rows = FIRST_PAGE_ROWS
    if keys is not None:
        start = 0
        while start < len(keys):
            part = keys[start : start + rows]
            res = query(_and(where, keys_expr(part)), None, fields)
            start += len(part)
            yield res
            rows = _next_rows(res, rows)
        return
    last: str | None = None
    while True:
        expr = (where or "") if last is None else _and(where, f'pk > "{last}"')
        res = query(expr, rows, fields)
        if len(res) == 0:
            return
        yield res
        last = max(_page_keys(res))
        if len(res) < rows:
            return
        rows = _next_rows(res, rows)


def _page_keys(res: Any) -> list[str]:
    if hasattr(res, "_lazy_field_data"):
        return [row["pk"] for row in list.__iter__(res)]
    return [row["pk"] for row in res]


def _next_rows(res: Any, rows: int) -> int:
    for column in getattr(res, "_lazy_field_data", ()):
        if column.field_name == "vector":
            return page_rows(int(column.vectors.dim))
    return rows


def scan(
    query: Query,
    where: str | None = None,
    keys: Sequence[str] | None = None,
    metadata: bool = True,
    on_page: Callable[[int], object] | None = None,
) -> RowBlock:
    """Every row matching ``where`` (of ``keys`` only, if given) in key order; see the module
    docstring for how pages are read. No row: vectors of shape ``(0, 0)``. ``on_page`` is
    called with each page's row count (a progress bar's ``update``)."""
    fields = ["pk", "vector", *(["$meta"] if metadata else [])]
    all_keys: list[str] = []
    parts: list[np.ndarray] = []
    metas: list[dict[str, Any]] = []
    for res in _pages(query, where, keys, fields):
        page_keys, vecs, page_meta = _columns(res, metadata)
        if vecs is None:
            continue
        if on_page is not None:
            on_page(len(page_keys))
        all_keys.extend(page_keys)
        parts.append(vecs)
        metas.extend(page_meta)
    if not parts:
        return RowBlock([], np.empty((0, 0), np.float32), [])
    vectors = np.concatenate(parts) if len(parts) > 1 else parts[0]
    order = np.argsort(np.asarray(all_keys, dtype=object), kind="stable")
    if np.any(order != np.arange(len(order))):  # pages come in key order; keys= may not
        all_keys = [all_keys[i] for i in order]
        vectors = vectors[order]
        metas = [metas[i] for i in order] if metas else metas
    return RowBlock(all_keys, np.ascontiguousarray(vectors), metas if metadata else [])

"""The query layer of a collection: planning a search (text, image, vector and ref queries,
encoded per modality in one batch), dense, keyword and hybrid modes, and the query cache.

A helper of :class:`omnivec.platform.collection.Collection` (which holds the switch gate
around every search and handles ``rerank=``).
"""

from __future__ import annotations

import logging
from concurrent import futures
from typing import Any, cast

import numpy as np

from omnivec.core.ids import encode_id, encode_ids
from omnivec.core.queries import (
    Hit,
    ImageQuery,
    RefQuery,
    VectorQuery,
    hits_from_ids,
    hits_from_stored,
)
from omnivec.core.validation import (
    check_batch,
    check_k,
    check_where,
)
from omnivec.errors import (
    DimensionMismatchError,
    InvalidInputError,
    NotFoundError,
    SpaceMismatchError,
)
from omnivec.platform import hybrid, windows
from omnivec.platform.collection_state import CollectionState, check_complete

__all__ = ["Searcher"]

_QUERY_CACHE_SIZE = 2_048
_FLOAT32 = np.dtype(np.float32)

logger = logging.getLogger(__name__)


class Searcher:
    """The searches of one collection (see the module docstring)."""

    def __init__(self, state: CollectionState) -> None:
        self.state = state

    def query_vectors(self, queries: Any) -> np.ndarray:
        """What a search would search with: float32 ``(n, dim)`` for one query or a list
        (str, ``ov.image``, ``ov.vector``, ``ov.ref``); an ``(n, dim)`` ``ov.vector`` gives n rows."""
        if isinstance(queries, list | tuple):
            batch = check_batch(queries, "query list")
        elif isinstance(queries, VectorQuery) and queries.is_batch:
            batch = [VectorQuery(row) for row in queries.array]
        else:
            batch = [queries]
        self.state.check_complete()
        return self._query_vectors(batch)[0]

    @staticmethod
    def check_limits(
        k: Any, exact: Any, search_params: dict[str, int] | None
    ) -> tuple[int, dict[str, Any] | None]:
        """``k`` checked, and ``search_params`` with ``exact=True`` folded in."""
        k = check_k(k)
        if exact is not False:
            if not isinstance(exact, bool):
                raise InvalidInputError(f"exact must be True or False, got {exact!r}")
            search_params = {**(search_params or {}), "exact": True}
        return k, search_params

    def search(
        self,
        query: Any,
        k: int,
        where: str | None,
        min_score: float | None,
        mode: str | None,
        weights: Any,
        candidates: int | None,
        fusion: str | None,
        search_params: dict[str, Any] | None,
    ) -> list[Hit] | list[list[Hit]]:
        """See :meth:`omnivec.platform.collection.Collection.search`; ``k`` and
        ``search_params`` come through :meth:`check_limits`."""
        where = check_where(where)
        # The record's fields read directly below, not through properties: a single-vector
        # search costs ~45 us in all at 100k rows, so each lookup shows.
        state = self.state
        record = state.record
        mode = hybrid.resolve_mode(mode, record.keywords is not None, state.name)
        depth, fusion = hybrid.check_hybrid_options(mode, k, candidates, fusion, weights)
        if record.fitting is not None:
            state.check_complete()
        if min_score is not None and (
            isinstance(min_score, bool)
            or not isinstance(min_score, int | float)
            or not np.isfinite(min_score)
        ):
            raise InvalidInputError(f"min_score must be a finite number, got {min_score!r}")
        if type(query) is VectorQuery and mode == "dense":
            # The common case, one raw vector: no query list, no per-modality planning.
            arr = query.array
            if arr.ndim == 1 and arr.dtype is _FLOAT32:
                if arr.shape[0] != record.space.dim:
                    raise DimensionMismatchError(
                        f"query vector has dim {arr.shape[0]}, collection {state.name!r} "
                        f"has dim {state.dim}"
                    )
                pairs = None
                if where is None and record.text is None:
                    physical = record.milvus_name(state.name)
                    pairs = state.store.search_ids(physical, arr, k, search_params)
                if pairs is not None:
                    row = hits_from_ids(*pairs)
                else:
                    found = self._search_dense(
                        arr.reshape(1, -1).copy(), [None], k, where, search_params
                    )
                    row = found[0]
                return row if min_score is None else [h for h in row if h.score >= min_score]
        if isinstance(query, list | tuple):
            queries = check_batch(query, "query list")
            batched = True
        elif isinstance(query, VectorQuery) and query.is_batch:
            queries = [VectorQuery(row) for row in query.array]
            batched = True
        else:
            queries = [query]
            batched = False
        if mode != "dense":
            found = self._search_keywords(
                queries, k, where, mode, weights, search_params, depth, fusion
            )
        else:
            vectors, exclude = self._query_vectors(queries)
            texts = [isinstance(q, str) for q in queries]  # only text queries match windows
            # Text queries no longer than a window score long records by their windows only.
            short = None
            if self.state.text_options and self._rows_per_record() > 1:
                short = windows.short_text_queries(
                    self.state.encoder, queries, self.state.text_options
                )
            found = self._search_dense(vectors, exclude, k, where, search_params, texts, short)
        if min_score is not None:
            found = [[h for h in row if h.score >= min_score] for row in found]
        return found if batched else found[0]

    def _search_dense(
        self,
        vectors: np.ndarray,
        exclude: list[str | None],
        k: int,
        where: str | None,
        search_params: dict[str, int] | None,
        texts: list[bool] | None = None,
        short: list[bool] | None = None,
    ) -> list[list[Hit]]:
        """Top-``k`` records per query vector of ``vectors`` (n, dim) float32 (fresh: the
        store may work in it), ``exclude[i]`` a key left out of query i's hits; ``texts[i]``:
        query i is a text, which also matches long records' windows (default: none is);
        ``short[i]``: query i scores those records by their windows only (default: none)."""
        state = self.state
        if state.text_options:
            return windows.search_records(
                state.store,
                state.physical,
                vectors,
                k,
                where,
                exclude,
                state.metric,
                params=search_params,
                rows_per_record=self._rows_per_record(),
                text_queries=texts or [False] * len(exclude),
                passage_chars=state.passage_chars,
                windows_only=short,
            )
        raw = state.store.search(
            state.physical,
            vectors,
            k,
            where=where,
            exclude=exclude,
            metric=state.metric,
            params=search_params,
        )
        return [hits_from_stored(row) for row in raw]

    def _search_keywords(
        self,
        queries: list[Any],
        k: int,
        where: str | None,
        mode: str,
        weights: Any,
        search_params: dict[str, int] | None = None,
        depth: int | None = None,
        fusion: str = hybrid.DEFAULT_FUSION,
    ) -> list[list[Hit]]:
        texts = [i for i, q in enumerate(queries) if isinstance(q, str)]
        if mode == "keyword" and len(texts) < len(queries):
            raise InvalidInputError(
                'mode="keyword" searches with text; search ov.vector/ov.ref/ov.image queries '
                'with mode="dense" or "hybrid"'
            )
        if mode == "keyword" or depth is None:
            depth = k if mode == "keyword" else hybrid.default_candidates(k)
        text_queries = [queries[i] for i in texts]
        rows = self._rows_per_record()
        state = self.state
        if mode == "keyword":
            return hybrid.search_keywords(
                state.store, state.physical, text_queries, depth, where, rows, state.passage_chars
            )
        # The legs are independent store calls: with hybrid.KEYWORD_WORKERS the keyword leg
        # runs in a worker thread while this one encodes and runs the dense leg (by default
        # it runs here, first). A worker needs no gate: this call holds it until both are back.
        pending = hybrid.submit_keywords(
            state.store, state.physical, text_queries, depth, where, rows, state.passage_chars
        )
        try:
            dense = self.search(
                queries, depth, where, None, "dense", None, None, None, search_params
            )
        finally:
            futures.wait([pending])  # no leg outlives the call (and its gate)
        found = pending.result()
        keyword: list[list[Hit] | None] = [None] * len(queries)
        for i, row in zip(texts, found, strict=True):
            keyword[i] = row
        return hybrid.fuse_hybrid(
            cast("list[list[Hit]]", dense), keyword, k, weights, fusion, state.metric
        )

    def _rows_per_record(self) -> int:
        """Rows a search fetches per record wanted: one while no record of the collection is
        split into windows (each record is one row), else ``windows.FETCH_FACTOR``."""
        state = self.state
        physical = state.physical
        windowed = state.windowed.get(physical)
        if windowed is None:
            windowed = state.windowed[physical] = windows.has_windows(state.store, physical)
        return windows.FETCH_FACTOR if windowed else 1

    def _query_vectors(self, queries: list[Any]) -> tuple[np.ndarray, list[str | None]]:
        """Turn queries into one float32 ``(n, dim)`` array, encoding each modality in one batch."""
        state = self.state
        n = len(queries)
        out = np.empty((n, state.dim), dtype=np.float32)
        exclude: list[str | None] = [None] * n
        texts: list[int] = []
        images: list[int] = []
        refs: dict[str | None, list[int]] = {}
        for i, q in enumerate(queries):
            if isinstance(q, str):
                texts.append(i)
            elif isinstance(q, ImageQuery):
                images.append(i)
            elif isinstance(q, VectorQuery):
                if q.is_batch:
                    raise InvalidInputError(
                        "put (n, dim) vector batches in one ov.vector(), not a list"
                    )
                if q.array.shape[0] != state.dim:
                    raise DimensionMismatchError(
                        f"query vector has dim {q.array.shape[0]}, collection {state.name!r} "
                        f"has dim {state.dim}"
                    )
                out[i] = q.array
            elif isinstance(q, RefQuery):
                refs.setdefault(q.collection, []).append(i)
            elif q is None:
                raise InvalidInputError("query is None; pass text, ov.image, ov.vector or ov.ref")
            else:
                raise InvalidInputError(
                    f"cannot search with a {type(q).__name__}: pass a str (text), ov.image(...), "
                    "ov.vector(...) or ov.ref(id)"
                )
        if texts:
            out[texts] = self._encode_queries([queries[i] for i in texts], "text")
            query_word = getattr(state.encoder, "query_word", None)
            if query_word is not None:
                # A word collection leaves a one-word query's own record out of its hits.
                for i in texts:
                    word = query_word(queries[i])
                    if word is not None:
                        exclude[i] = encode_id(word)
        if images:
            out[images] = state.encode([queries[i].source for i in images], "image")
        for coll_name, idx in refs.items():
            other = None if coll_name in (None, state.name) else coll_name
            own = other is None
            ids = [queries[i].id for i in idx]
            keys = encode_ids(ids, unique=False)
            if other is None:
                source_name, physical, text, metric = (
                    state.name,
                    state.physical,
                    state.text_options,
                    state.metric,
                )
            else:
                # Another collection, read through its public face and the shared store.
                source = state.resolve(other)
                check_complete(source.name, source.record)
                if source.space != state.space:
                    raise SpaceMismatchError(
                        f"ref into collection {coll_name!r} ({source.space.describe()}) cannot "
                        f"query collection {state.name!r} ({state.space.describe()}): "
                        "different vector spaces"
                    )
                source_name, physical = source.name, source.physical
                text, metric = source.record.text, source.metric
            rows = state.store.get(physical, keys)
            vecs = {k: r.vector for k, r in rows.items()}
            if text:
                vecs = windows.record_vectors(state.store, physical, rows, metric)
            for i, id_, key in zip(idx, ids, keys, strict=True):
                if key not in vecs:
                    raise NotFoundError(f"ref id {id_!r} is not in collection {source_name!r}")
                out[i] = vecs[key]
                if own:
                    exclude[i] = key
        return out, exclude

    def _encode_queries(self, texts: list[str], modality: str) -> np.ndarray:
        """Encode query strings through a small LRU cache keyed by the space fingerprint."""
        state = self.state
        fp = state.record.space.fingerprint
        result = np.empty((len(texts), state.dim), dtype=np.float32)
        todo: list[int] = []
        cache = state.query_cache
        with state.lock:
            for i, t in enumerate(texts):
                hit = cache.get((fp, modality, t))
                if hit is None:
                    todo.append(i)
                else:
                    cache.move_to_end((fp, modality, t))
                    result[i] = hit
        if todo:
            fresh = state.encode([texts[i] for i in todo], modality, "query")
            with state.lock:
                for row, i in zip(fresh, todo, strict=True):
                    result[i] = row
                    cache[(fp, modality, texts[i])] = row
                while len(cache) > _QUERY_CACHE_SIZE:
                    cache.popitem(last=False)
        return result

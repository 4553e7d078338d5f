"""Stored source text and long texts as overlapping windows of one record.

A text collection keeps each record's text in the row's dynamic field under reserved keys
(Milvus Lite measured: a dynamic-field string of 1 MB round-trips whole, where a VARCHAR
field stops at 65,535 bytes). A text longer than ``chunk_tokens`` of the encoder's tokens is
split into overlapping windows, each embedded and stored as a row of its own, and stays one
record:

- the record's *main row* (key: the record key) holds window 0's vector, the whole text, the
  user's metadata, the window count and a generation token;
- window ``i >= 1`` is the row ``<key>#<generation>.<i>`` with its vector, its character span,
  a copy of the metadata (so ``where`` filters apply to it) and a link to its record.

Replacing a record writes the new windows under a fresh generation first, then the main row
(one row: atomic), then deletes the old windows, all in one guarded store write; a window
whose generation is not its main row's is ignored by every reader. So a process killed at
any point leaves each record whole, in its old or its new version.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from omnivec.core.ids import MAX_KEY_LENGTH, decode_id
from omnivec.core.queries import Hit, Record
from omnivec.core.validation import check_text_item
from omnivec.errors import InvalidInputError, SpaceMismatchError

__all__ = [
    "MAIN_FILTER",
    "RESERVED_PREFIX",
    "Plan",
    "TextPlan",
    "check_reopen",
    "check_texts",
    "check_user_keys",
    "combine_where",
    "current_rows",
    "delete_records",
    "has_windows",
    "long_vectors",
    "main_positions",
    "plan_texts",
    "plan_untexted",
    "record_key",
    "record_text",
    "record_vectors",
    "search_records",
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
#: Main rows of a text collection, and only those, carry the window count.
MAIN_FILTER = f"{_N} >= 1"
_SEP = "#"  # never in a record key (core.ids keeps keys to [A-Za-z0-9_.:@/+=-])
#: Rows fetched per hit wanted; a long record can fill several of the best rows.
FETCH_FACTOR = 4
#: Main rows of records split into windows.
WINDOWED_FILTER = f"{_N} > 1"
_MAX_LIMIT = 16_384
_KEY_CHUNK = 500
#: Most bytes of one text; above it a Milvus server's 64 MiB gRPC messages would not hold a batch.
MAX_TEXT_BYTES = 16 << 20


# -- options -------------------------------------------------------------------------------
def text_options(
    encoder: Any, chunk_tokens: int | None, chunk_overlap: int | None
) -> dict[str, Any] | None:
    """The ``options["text"]`` of a new collection: whether it stores text and how it splits
    long texts (``None`` when the encoder encodes no text)."""
    if encoder is None or "text" not in getattr(encoder, "modalities", ()):
        if chunk_tokens is not None or chunk_overlap is not None:
            raise InvalidInputError(
                "chunk_tokens= and chunk_overlap= split long texts; this collection has no "
                "text encoder"
            )
        return None
    windows = callable(getattr(encoder, "token_spans", None)) and hasattr(encoder, "max_tokens")
    if not windows:
        if chunk_tokens is not None or chunk_overlap is not None:
            raise InvalidInputError(
                f"encoder {encoder.name!r} does not report its tokens, so it cannot split long "
                "texts into windows; leave out chunk_tokens= and chunk_overlap="
            )
        return {"store": True, "chunk_tokens": None, "chunk_overlap": None}
    limit = int(encoder.max_tokens)
    tokens = (
        chunk_tokens if chunk_tokens is not None else getattr(encoder, "default_chunk_tokens", 96)
    )
    for name, value in (("chunk_tokens", tokens), ("chunk_overlap", chunk_overlap)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
            raise InvalidInputError(f"{name} must be an int, got {value!r}")
    tokens = min(int(tokens), limit) if chunk_tokens is None else int(tokens)
    # A model that reads fewer than 8 tokens (a max_seq_length set very low) gets windows of
    # what it reads; a size the user asks for must be from 8 to what the model reads.
    if not (8 <= tokens <= limit or (chunk_tokens is None and 1 <= tokens == limit)):
        raise InvalidInputError(
            f"chunk_tokens must be from 8 to {limit} (what encoder {encoder.name!r} reads in "
            f"one pass), got {tokens}"
        )
    overlap = chunk_overlap
    if overlap is None:
        overlap = min(int(getattr(encoder, "default_chunk_overlap", tokens // 4)), tokens // 2)
    if not 0 <= overlap <= tokens // 2:
        raise InvalidInputError(
            f"chunk_overlap must be from 0 to half of chunk_tokens ({tokens // 2}), got {overlap}"
        )
    return {"store": True, "chunk_tokens": tokens, "chunk_overlap": int(overlap)}


def check_reopen(
    name: str, options: dict[str, Any], chunk_tokens: int | None, chunk_overlap: int | None
) -> None:
    """Refuse reopening a collection with window settings other than those it was built with."""
    stored = options.get("text") or {}
    for key, asked in (("chunk_tokens", chunk_tokens), ("chunk_overlap", chunk_overlap)):
        if asked is not None and asked != stored.get(key):
            raise SpaceMismatchError(
                f"collection {name!r} was built with {key}={stored.get(key)!r}, not {asked!r}; "
                f"open it without {key}= or use another collection name"
            )


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
def window_spans(
    text: str, spans: Sequence[tuple[int, int]], chunk: int, overlap: int
) -> list[tuple[int, int]]:
    """Character spans of overlapping windows of at most ``chunk`` tokens over ``text``.

    ``spans`` are the tokens' character offsets. Windows end and start at word starts where
    a word is shorter than a window, overlap by about ``overlap`` tokens, and tile the text:
    the first starts at 0, the last ends at ``len(text)``, each starts before the previous
    one ends, so together they hold every character.
    """
    n = len(spans)
    if n <= chunk:
        return [(0, len(text))]
    word_start = [i == 0 or spans[i - 1][1] < spans[i][0] for i in range(n)]

    def snap(i: int, lo: int) -> int:
        j = i
        while j > lo and not word_start[j]:
            j -= 1
        return j if j > lo else i

    out: list[tuple[int, int]] = []
    t0 = 0
    while True:
        start = 0 if t0 == 0 else spans[t0][0]
        if t0 + chunk >= n:
            out.append((start, len(text)))
            return out
        end = snap(t0 + chunk, t0)
        out.append((start, spans[end][0]))
        t0 = snap(max(end - overlap, t0 + 1), t0)


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
    #: The window texts to encode, in the order ``source`` refers to.
    pieces: list[str]


def _generation() -> str:
    return os.urandom(4).hex()


def plan_texts(
    encoder: Any,
    texts: list[str],
    keys: list[str],
    metadata: list[dict[str, Any]],
    options: dict[str, Any],
) -> TextPlan:
    """Split each text into windows (when the collection has window settings) and lay out
    the rows that store them."""
    chunk, overlap = options.get("chunk_tokens"), options.get("chunk_overlap")
    pieces: list[str] = []
    win_keys: list[str] = []
    win_meta: list[dict[str, Any]] = []
    win_src: list[int] = []
    main_meta: list[dict[str, Any]] = []
    main_src: list[int] = []
    for text, key, meta in zip(texts, keys, metadata, strict=True):
        spans = [(0, len(text))]
        if chunk:
            spans = window_spans(text, encoder.token_spans(text), int(chunk), int(overlap or 0))
        main_src.append(len(pieces))
        pieces.append(text[spans[0][0] : spans[0][1]])
        row = {**meta, _N: len(spans), _TEXT: text}
        if len(spans) > 1:
            gen = _generation()
            row[_GEN] = gen
            row[_SPAN] = list(spans[0])
            for i, (a, b) in enumerate(spans[1:], start=1):
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
    return TextPlan(
        keys=[*win_keys, *keys],
        metadata=[*win_meta, *main_meta],
        source=[*win_src, *main_src],
        pieces=pieces,
    )


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


def _quoted(keys: Sequence[str]) -> str:
    # Store keys hold [A-Za-z0-9_.:@/+=-#] only: quoting cannot change the expression.
    return "[" + ",".join(f'"{k}"' for k in keys) + "]"


def windows_of(store: Any, name: str, keys: Sequence[str]) -> list[str]:
    """Every window row of records ``keys``, including ones a killed write left behind."""
    out: list[str] = []
    for start in range(0, len(keys), _KEY_CHUNK):
        part = keys[start : start + _KEY_CHUNK]
        out.extend(store.keys(name, where=f"{_OF} in {_quoted(part)}"))
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
            out.append((row, _passage(record_text(main.metadata), row.metadata)))
    out.extend((row, _passage(record_text(row.metadata), row.metadata)) for row in mains.values())
    return out


def combine_where(where: str | None) -> str:
    """``where`` restricted to main rows (one per record)."""
    return MAIN_FILTER if where is None else f"({where}) and {MAIN_FILTER}"


# -- reading -------------------------------------------------------------------------------
def record_vectors(
    store: Any, name: str, rows: dict[str, Any], metric: str
) -> dict[str, np.ndarray]:
    """The vector of each record among main ``rows`` (``StoredRow``): the row's own for a
    short record, the (for cosine: normalised) mean of its windows for a long one."""
    out = {k: r.vector for k, r in rows.items()}
    wanted: dict[str, str] = {}
    for key, row in rows.items():
        n = int(row.metadata.get(_N, 1) or 1)
        gen = row.metadata.get(_GEN)
        if n > 1 and gen:
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
    """The vectors of the long records (stored as several windows) among main rows matching
    ``where`` whose keys are in ``among``: ``{key: float32 (dim,)}``, as :func:`record_vectors`
    gives them."""
    long_where = f"{_N} > 1" if not where else f"({where}) and {_N} > 1"
    wanted = set(among)
    keys = [k for k in store.keys(name, where=long_where) if k in wanted]
    if not keys:
        return {}
    rows = store.get(name, keys)
    return record_vectors(store, name, rows, metric)


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


def _passage(text: str | None, meta: dict[str, Any]) -> str | None:
    if text is None:
        return None
    span = meta.get(_SPAN)
    if isinstance(span, list) and len(span) == 2:
        return text[int(span[0]) : int(span[1])]
    return text


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
) -> list[list[Hit]]:
    """Top-``k`` records per query vector: rows are fetched ``rows_per_record`` per hit wanted,
    each record keeps its best row (the score and passage of its best window), stale windows
    and the ``exclude``d record are dropped; queries short of ``k`` records while more rows
    exist are asked again for more rows. ``fetch(query indices, limit)`` replaces the dense
    row search (keyword search uses it); one query per entry of ``exclude``. Fetching fewer
    rows per record costs a second search when long records fill the rows, never a hit."""
    n = len(exclude)
    results: list[list[Hit]] = [[] for _ in range(n)]
    todo = list(range(n))
    # One row more when a record is left out of the hits (a ref query's own record).
    limit = min(k * rows_per_record + any(e is not None for e in exclude), _MAX_LIMIT)
    while todo:
        if fetch is not None:
            raw = fetch(todo, limit)
        else:
            assert vectors is not None
            raw = store.search(
                name, vectors[todo], limit, where=where, metric=metric, params=params
            )
        mains = _main_rows(store, name, raw)
        again = []
        for qi, rows in zip(todo, raw, strict=True):
            results[qi] = _dedupe(rows, mains, exclude[qi], k)
            if len(results[qi]) < k and len(rows) >= limit and limit < _MAX_LIMIT:
                again.append(qi)
        todo = again
        limit = min(limit * 4, _MAX_LIMIT)
    return results


def _main_rows(store: Any, name: str, raw: list[list[Any]]) -> dict[str, dict[str, Any]]:
    """Metadata of the main rows that window hits belong to (one read for the whole batch)."""
    need = {h.metadata.get(_OF) for row in raw for h in row if _OF in h.metadata}
    need.discard(None)
    if not need:
        return {}
    got = store.get(name, sorted(need))
    return {k: r.metadata for k, r in got.items()}


def _dedupe(
    rows: list[Any], mains: dict[str, dict[str, Any]], exclude: str | None, k: int
) -> list[Hit]:
    hits: list[Hit] = []
    seen: set[str] = set()
    for h in rows:
        meta = h.metadata
        owner = meta.get(_OF)
        if owner is None:
            key, main = h.key, meta
        else:
            key, main = owner, mains.get(owner)
            # A window of a record since replaced or deleted (a write that was cut off).
            if main is None or main.get(_GEN) != meta.get(_GEN):
                continue
        if key in seen or key == exclude:
            continue
        seen.add(key)
        text = record_text(main)
        hits.append(Hit(decode_id(key), h.score, split_metadata(main), text, _passage(text, meta)))
        if len(hits) == k:
            break
    return hits

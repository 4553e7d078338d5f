"""Query values (``ov.image``, ``ov.vector``, ``ov.ref``) and result types (``Hit``, ``Record``)."""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field, fields
from typing import Any

import numpy as np

from omnivec.core.ids import decode_id
from omnivec.errors import InvalidInputError

__all__ = [
    "Hit",
    "ImageQuery",
    "Record",
    "RefQuery",
    "VectorQuery",
    "hits_from_ids",
    "hits_from_stored",
    "hits_payload",
    "image",
    "ref",
    "vector",
]


@dataclass(frozen=True)
class Hit:
    """One search result. ``score`` is higher-is-better whatever the metric.

    ``text`` is the record's stored source text (``None`` for records that have none: images,
    raw vectors, collections made before text was stored); ``passage`` the part of it that
    matched: the best-matching window widened to whole sentences, at most the collection's
    ``passage_chars`` characters (a short text is its own passage); ``span`` the
    ``(start, end)`` character offsets of ``passage`` in ``text`` (``None`` without text).
    """

    id: Any
    score: float
    metadata: dict[str, Any] = field(default_factory=dict)
    text: str | None = None
    passage: str | None = None
    #: Per-leg scores of a fused hit (``plat.search`` over several collections: by collection
    #: name; hybrid search: ``"dense"`` / ``"keyword"``); ``None`` for a plain search.
    scores: dict[str, float] | None = None
    span: tuple[int, int] | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"id": self.id, "score": self.score, "metadata": self.metadata}
        if self.text is not None:
            out["text"] = self.text
            # The passage only says something when it is a part of the text.
            if self.passage is not None and self.passage != self.text:
                out["passage"] = self.passage
            if self.span is not None:
                out["span"] = [int(self.span[0]), int(self.span[1])]
        if self.scores is not None:
            out["scores"] = self.scores
        return out


#: The fields :func:`hits_from_stored` fills, in :class:`Hit`'s order (checked below).
_HIT_FIELDS = ("id", "score", "metadata", "text", "passage", "scores", "span")
assert tuple(f.name for f in fields(Hit)) == _HIT_FIELDS, "update hits_from_stored"


def hits_from_stored(stored: Iterable[Any]) -> list[Hit]:
    """``[Hit(decode_id(s.key), s.score, s.metadata) for s in stored]`` (store hits: triples
    ``(key, score, metadata)`` such as :class:`~omnivec.stores.base.StoredHit`), built for
    the search hot path: equal hits, in every respect, made without the frozen dataclass
    ``__init__``'s one ``object.__setattr__`` per field (half the cost of a hit at k=10)."""
    new = object.__new__
    out = []
    for key, score, metadata in stored:  # unpacked: a NamedTuple's attributes cost more
        tag = key[:2]  # decode_id inline for int and plain str ids
        hit = new(Hit)
        d = hit.__dict__
        d["id"] = int(key[2:]) if tag == "i:" else key[2:] if tag == "s:" else decode_id(key)
        d["score"] = score
        d["metadata"] = metadata
        d["text"] = d["passage"] = d["scores"] = d["span"] = None
        out.append(hit)
    return out


def hits_from_ids(ids: Iterable[Any], scores: Iterable[float]) -> list[Hit]:
    """:func:`hits_from_stored` for hits without metadata, from user ids and scores side by
    side (what :meth:`~omnivec.stores.milvus.MilvusStore.search_ids` answers)."""
    new = object.__new__
    out = []
    for id_, score in zip(ids, scores, strict=True):
        hit = new(Hit)
        d = hit.__dict__
        d["id"] = id_
        d["score"] = score
        d["metadata"] = {}
        d["text"] = d["passage"] = d["scores"] = d["span"] = None
        out.append(hit)
    return out


@dataclass(frozen=True)
class Record:
    """A stored record: ``vector`` is float32 of shape ``(dim,)`` (for a long text split into
    windows, the normalised mean of its windows); ``text`` its source text, whole, or ``None``."""

    id: Any
    vector: np.ndarray
    metadata: dict[str, Any] = field(default_factory=dict)
    text: str | None = None


@dataclass(frozen=True)
class ImageQuery:
    """An image to search with: a path, raw bytes, a PIL image or an HxWxC uint8 array."""

    source: Any


@dataclass(frozen=True)
class VectorQuery:
    """A raw vector ``(dim,)`` or a batch of vectors ``(n, dim)``, as float32."""

    array: np.ndarray

    @property
    def is_batch(self) -> bool:
        return self.array.ndim == 2


@dataclass(frozen=True)
class RefQuery:
    """A stored record used as the query; ``collection=None`` means the searched collection."""

    id: Any
    collection: str | None = None


def image(source: Any) -> ImageQuery:
    """Wrap an image (path, bytes, PIL image or HxWxC uint8 array) as a query."""
    if source is None:
        raise InvalidInputError("ov.image() needs a path, bytes, a PIL image or an array, not None")
    return ImageQuery(source)


def vector(values: Any) -> VectorQuery:
    """Wrap a vector ``(dim,)`` or a matrix ``(n, dim)`` as a query (converted to float32)."""
    try:
        arr = np.asarray(values, dtype=np.float32)
    except (TypeError, ValueError) as exc:
        raise InvalidInputError(f"ov.vector() needs numbers: {exc}") from exc
    if arr.ndim not in (1, 2) or arr.size == 0:
        raise InvalidInputError(
            f"ov.vector() needs a non-empty (dim,) vector or (n, dim) matrix, got shape {arr.shape}"
        )
    # One dot product is NaN or inf when any value is (squares cannot cancel); only then (or
    # when huge finite values overflow it) the elementwise check decides. A third of its cost.
    flat = arr.reshape(-1)
    if not math.isfinite(float(flat @ flat)) and not np.isfinite(arr).all():
        raise InvalidInputError("ov.vector() got NaN or infinite values; pass finite numbers")
    return VectorQuery(arr)


def ref(id: Any, collection: str | None = None) -> RefQuery:  # noqa: A002 - mirrors Hit.id
    """Use the stored vector of ``id`` (in ``collection``, default: the searched one) as query."""
    return RefQuery(id, collection)


def hits_payload(result: list[Hit] | list[list[Hit]]) -> dict[str, Any]:
    """The JSON body the HTTP API answers and ``omnivec search --json`` prints: ``{"hits": ...}``
    with a list of hit dicts for one query, or a list of such lists for a batch."""
    if result and isinstance(result[0], list):
        return {"hits": [[h.to_dict() for h in row] for row in result]}  # type: ignore[union-attr]
    return {"hits": [h.to_dict() for h in result]}  # type: ignore[union-attr]

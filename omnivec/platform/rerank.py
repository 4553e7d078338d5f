"""Reranking with a cross-encoder: ``col.search(q, rerank=...)`` and ``ask(..., rerank=...)``.

A cross-encoder reads the query and a passage together and scores how well the passage answers
it; slower than comparing vectors, so it re-scores only the top candidates of the first search
(``candidates(k)`` of them). ``rerank=`` is a sentence-transformers ``CrossEncoder``: a local
folder (saved with ``CrossEncoder.save``), a model name sentence-transformers can load, or a
loaded ``CrossEncoder``. Models are loaded once per process and shared.

A reranked hit's ``score`` is the cross-encoder's score (for a one-label model, sentence-
transformers' sigmoid: in [0, 1]); ``hit.scores["retrieval"]`` keeps the first search's score
(beside any per-leg scores the hit already had). Hits are sorted by the new score, best first.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Sequence
from typing import Any

from omnivec.core.queries import Hit
from omnivec.core.validation import MAX_K
from omnivec.errors import EncoderError, InvalidInputError

__all__ = ["RETRIEVAL_SCORE", "candidates", "cross_encoder", "rerank_hits", "rerank_search"]

#: The key of ``hit.scores`` that keeps a reranked hit's first-search score.
RETRIEVAL_SCORE = "retrieval"

_models: dict[str, Any] = {}
_lock = threading.Lock()


def candidates(k: int) -> int:
    """How many first-search hits a reranked search of ``k`` re-scores."""
    return min(MAX_K, max(4 * k, 20))


def cross_encoder(model: Any) -> Any:
    """The ``CrossEncoder`` that ``rerank=`` names (loaded once per name and process)."""
    if not isinstance(model, str):
        if hasattr(model, "predict"):
            return model
        raise InvalidInputError(
            f"rerank= takes a cross-encoder's folder or name, or a loaded CrossEncoder; got "
            f"{type(model).__name__}"
        )
    if not model.strip():
        raise InvalidInputError("rerank= is empty; pass a cross-encoder's folder or name")
    with _lock:
        loaded = _models.get(model)
        if loaded is None:
            try:
                from sentence_transformers import CrossEncoder

                loaded = CrossEncoder(model, device="cpu")
            except Exception as exc:  # noqa: BLE001 - any load failure is the user's model
                first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
                raise EncoderError(
                    f"cannot load the cross-encoder {model!r} for rerank=: {first[:300]}; pass a "
                    "local folder saved with sentence-transformers' CrossEncoder.save() (no "
                    "reranker weights ship with omnivec)"
                ) from None
            _models[model] = loaded
    return loaded


def rerank_hits(query: str, hits: Sequence[Hit], model: Any, k: int | None = None) -> list[Hit]:
    """``hits`` re-scored against ``query`` by the cross-encoder ``model`` (the text each is
    scored on: its passage, else its whole text), best first, the top ``k`` (all if None)."""
    if not isinstance(query, str):
        raise InvalidInputError(
            "rerank= scores a text query against stored text; search ov.image/ov.vector/ov.ref "
            "queries without rerank="
        )
    if not hits:
        return []
    texts = [h.passage if h.passage is not None else h.text for h in hits]
    missing = [h.id for h, t in zip(hits, texts, strict=True) if t is None]
    if missing:
        raise InvalidInputError(
            f"rerank= needs each hit's stored text; {missing[0]!r} has none (rerank text "
            "collections)"
        )
    encoder = cross_encoder(model)
    try:
        raw = encoder.predict([(query, t) for t in texts], batch_size=32, show_progress_bar=False)
    except Exception as exc:  # noqa: BLE001
        raise EncoderError(f"the cross-encoder for rerank= failed: {exc}") from None
    scores = [float(s) if getattr(s, "ndim", 0) == 0 else float(s[-1]) for s in raw]
    out = [
        dataclasses.replace(
            h, score=s, scores={**(h.scores or {}), RETRIEVAL_SCORE: float(h.score)}
        )
        for h, s in zip(hits, scores, strict=True)
    ]
    out.sort(key=lambda h: -h.score)  # stable: ties keep the first search's order
    return out if k is None else out[:k]


def rerank_search(col: Any, query: Any, k: int, model: Any, options: dict[str, Any]) -> Any:
    """``col.search(query, k, rerank=model, **options)``: the first search fetches
    :func:`candidates` hits per query, the cross-encoder re-scores them and the top ``k`` stay.
    ``query`` is a text or a list of texts."""
    batched = isinstance(query, list | tuple)
    texts = list(query) if batched else [query]
    if not texts or not all(isinstance(q, str) for q in texts):
        raise InvalidInputError(
            "rerank= scores text queries against stored text; search ov.image/ov.vector/ov.ref "
            "queries without rerank="
        )
    depth = candidates(k)
    if options.get("candidates") is not None and isinstance(options["candidates"], int):
        options = {**options, "candidates": max(options["candidates"], depth)}
    cross_encoder(model)  # a model that cannot load fails before the search runs
    first = col.search(texts, k=depth, **options)
    out = [rerank_hits(q, row, model, k) for q, row in zip(texts, first, strict=True)]
    return out if batched else out[0]

"""Fusing ranked lists: reciprocal-rank fusion and weighted relative-score fusion.

Used by ``plat.search({collection: query, ...})`` (one ranked list over collections whose
records share ids) and by hybrid (dense + keyword) search within one collection.

* **RRF** (default): ``score(id) = sum_leg w_leg / (RRF_K + rank_leg(id))`` with ranks from 1
  and ``w_leg = 1``; an id a leg did not return adds nothing. Rank-based, so legs whose scores
  live on different scales (cosine, inner product, BM25) combine without calibration.
* **Weighted** (when weights are given): each leg's scores are min-max normalised to [0, 1]
  over the hits it returned (the best hit 1, the weakest 0; a leg with one distinct score gives
  its hits 1), then ``score(id) = sum_leg w_leg * norm_leg(id)``. This is "relative score
  fusion" (as Weaviate calls it): weights then mean what users expect, a share of each leg.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from omnivec.errors import InvalidInputError

__all__ = ["RRF_K", "FusedHit", "check_weights", "fuse"]

#: The usual RRF constant (Cormack et al. 2009; Milvus' RRFRanker default).
RRF_K = 60


@dataclass
class FusedHit:
    """One id after fusion: ``score`` fused, ``scores`` each leg's own score (legs that did
    not return the id are absent), ``best`` the leg whose hit supplies metadata/text."""

    id: Any
    score: float
    scores: dict[str, float] = field(default_factory=dict)
    best: Any = None


def check_weights(weights: Any, legs: Sequence[str]) -> dict[str, float] | None:
    """``None`` (RRF), or a weight per leg: a mapping by leg name or a sequence in leg order.
    Weights are finite, non-negative and not all zero; legs left out of a mapping weigh 0."""
    if weights is None:
        return None
    if isinstance(weights, Mapping):
        unknown = sorted(str(k) for k in weights if k not in legs)
        if unknown:
            raise InvalidInputError(
                f"weights name {', '.join(unknown)}, which are not searched here "
                f"(legs: {', '.join(legs)})"
            )
        items = {name: weights.get(name, 0.0) for name in legs}
    elif isinstance(weights, list | tuple):
        if len(weights) != len(legs):
            raise InvalidInputError(
                f"got {len(weights)} weights for {len(legs)} legs ({', '.join(legs)}); "
                "pass one weight per leg"
            )
        items = dict(zip(legs, weights, strict=True))
    else:
        raise InvalidInputError(
            f"weights must be a tuple/list (one per leg) or a dict by name, got "
            f"{type(weights).__name__}"
        )
    out: dict[str, float] = {}
    for name, w in items.items():
        if isinstance(w, bool) or not isinstance(w, int | float) or not w >= 0 or w == float("inf"):
            raise InvalidInputError(f"weight of {name!r} must be a finite number >= 0, got {w!r}")
        out[name] = float(w)
    if not any(out.values()):
        raise InvalidInputError("weights are all zero; give at least one leg a positive weight")
    return out


def fuse(
    legs: Mapping[str, Sequence[Any]], k: int, weights: Mapping[str, float] | None = None
) -> list[FusedHit]:
    """Fuse ranked hit lists (objects with ``id`` and ``score``, best first) into the top ``k``
    ids, best first (ties: the id first seen in leg order)."""
    fused: dict[Any, FusedHit] = {}
    order: dict[Any, int] = {}
    for name, hits in legs.items():
        w = 1.0 if weights is None else weights.get(name, 0.0)
        scores = [float(h.score) for h in hits]
        lo, hi = (min(scores), max(scores)) if scores else (0.0, 0.0)
        for rank, hit in enumerate(hits, 1):
            entry = fused.get(hit.id)
            if entry is None:
                entry = fused[hit.id] = FusedHit(hit.id, 0.0, {}, hit)
                order[hit.id] = len(order)
            entry.scores[name] = float(hit.score)
            if weights is None:
                entry.score += w / (RRF_K + rank)
            else:
                norm = 1.0 if hi == lo else (float(hit.score) - lo) / (hi - lo)
                entry.score += w * norm
    ranked = sorted(fused.values(), key=lambda e: (-e.score, order[e.id]))
    return ranked[:k]

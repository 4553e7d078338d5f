"""Fusing ranked lists: reciprocal-rank, weighted and relative-score fusion.

Used by ``plat.search({collection: query, ...})`` (one ranked list over collections whose
records share ids) and by hybrid (dense + keyword) search within one collection.

* ``"rrf"``: ``score(id) = sum_leg w_leg / (RRF_K + rank_leg(id))`` with ranks from 1 and
  ``w_leg = 1`` unless weights are given; an id a leg did not return adds nothing.
  Rank-based, so legs whose scores live on different scales (cosine, inner product, BM25)
  combine without calibration. Milvus' ``RRFRanker(60)``.
* ``"weighted"``: ``score(id) = sum_leg w_leg * f_metric(score_leg(id))`` where ``f_metric``
  maps each metric's scores into [0, 1] by a fixed curve, the same as Milvus'
  ``WeightedRanker`` (``norm_score=True``): cosine ``(1 + s) / 2``, inner product
  ``1/2 + atan(s) / pi``, L2 ``1 - 2 atan(d^2) / pi`` (``d`` the distance), BM25
  ``2 atan(s) / pi``. Scores keep their absolute meaning: a weak best hit stays weak.
* ``"relative"``: each leg's scores are min-max normalised over the hits it returned (the best
  hit 1, the weakest 0; a leg with one distinct score gives its hits 1), then
  ``score(id) = sum_leg w_leg * norm_leg(id)``: Weaviate's ``relativeScoreFusion``; weights
  then mean what users expect, a share of each leg.

An id a leg did not return gets nothing from that leg. ``weights=None`` weighs every leg 1.
``fusion=None`` is ``"rrf"``, or ``"relative"`` when weights are given (what weights have
always meant here). Equal fused scores keep the id first seen in leg order, or in the order
of the legs named in ``ties`` (hybrid search names the keyword leg first: an exact match
the dense leg did not return ties with the dense leg's first hit, see
:mod:`omnivec.platform.hybrid`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from omnivec.errors import InvalidInputError

__all__ = ["FUSIONS", "RRF_K", "FusedHit", "check_fusion", "check_weights", "fuse", "unit_score"]

#: The usual RRF constant (Cormack et al. 2009; Milvus' RRFRanker default).
RRF_K = 60
FUSIONS = ("rrf", "weighted", "relative")

_UNIT: dict[str, Callable[[float], float]] = {
    "cosine": lambda s: (1.0 + s) * 0.5,
    "ip": lambda s: 0.5 + math.atan(s) / math.pi,
    # omnivec's L2 score is minus the distance; Milvus' curve reads the squared distance.
    "l2": lambda s: 1.0 - 2.0 * math.atan(s * s) / math.pi,
    "bm25": lambda s: 2.0 * math.atan(s) / math.pi,
}


@dataclass
class FusedHit:
    """One id after fusion: ``score`` fused, ``scores`` each leg's own score (legs that did
    not return the id are absent), ``best`` the leg whose hit supplies metadata/text."""

    id: Any
    score: float
    scores: dict[str, float] = field(default_factory=dict)
    best: Any = None


def check_fusion(fusion: Any) -> str | None:
    """``None`` (the caller's default) or one of :data:`FUSIONS`."""
    if fusion is None:
        return None
    if not isinstance(fusion, str) or fusion not in FUSIONS:
        raise InvalidInputError(f"fusion must be one of {', '.join(FUSIONS)}, got {fusion!r}")
    return fusion


def unit_score(score: float, metric: str) -> float:
    """``score`` under ``metric`` ("cosine", "ip", "l2", "bm25") mapped into [0, 1] as
    ``"weighted"`` fusion (and Milvus' ``WeightedRanker``) does."""
    try:
        return _UNIT[metric](score)
    except KeyError:
        raise InvalidInputError(
            f"weighted fusion knows the metrics {', '.join(_UNIT)}, got {metric!r}"
        ) from None


def check_weights(weights: Any, legs: Sequence[str]) -> dict[str, float] | None:
    """``None`` (every leg weighs 1), or a weight per leg: a mapping by leg name or a sequence
    in leg order. Weights are finite, non-negative and not all zero; legs left out of a
    mapping weigh 0."""
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
    legs: Mapping[str, Sequence[Any]],
    k: int,
    weights: Mapping[str, float] | None = None,
    fusion: str | None = None,
    metrics: Mapping[str, str] | None = None,
    ties: Sequence[str] = (),
) -> list[FusedHit]:
    """Fuse ranked hit lists (objects with ``id`` and ``score``, best first) into the top ``k``
    ids, best first. ``fusion`` and ``ties`` as in the module docstring; ``"weighted"`` needs
    each leg's metric in ``metrics``."""
    how = fusion or ("rrf" if weights is None else "relative")
    fused: dict[Any, FusedHit] = {}
    order: dict[Any, int] = {}
    for name, hits in legs.items():
        w = 1.0 if weights is None else weights.get(name, 0.0)
        scores = [float(h.score) for h in hits]
        lo, hi = (min(scores), max(scores)) if scores else (0.0, 0.0)
        metric = (metrics or {}).get(name, "")
        for rank, (hit, score) in enumerate(zip(hits, scores, strict=True), 1):
            entry = fused.get(hit.id)
            if entry is None:
                entry = fused[hit.id] = FusedHit(hit.id, 0.0, {}, hit)
                order[hit.id] = len(order)
            entry.scores[name] = score
            if how == "rrf":
                entry.score += w / (RRF_K + rank)
            elif how == "weighted":
                entry.score += w * unit_score(score, metric)
            else:
                entry.score += w * (1.0 if hi == lo else (score - lo) / (hi - lo))
    if ties:
        order = {}
        for name in [*ties, *legs]:
            for hit in legs.get(name, ()):
                order.setdefault(hit.id, len(order))
    ranked = sorted(fused.values(), key=lambda e: (-e.score, order[e.id]))
    return ranked[:k]

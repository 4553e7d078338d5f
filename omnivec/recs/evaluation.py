"""Offline evaluation of recommenders: a per-user split, ranking metrics and baselines.

Definitions (``R_u`` = the first ``k`` recommended items of user ``u``, ``T_u`` = the user's
held-out items; a metric is the mean over users with a non-empty ``T_u``, a user without
recommendations scoring 0):

* precision@k = ``|R_u ∩ T_u| / k``
* recall@k    = ``|R_u ∩ T_u| / |T_u|``
* nDCG@k      = ``DCG / IDCG`` with binary relevance, ``DCG = Σ_{r=1..k} rel_r / log2(r + 1)``
  and ``IDCG`` the DCG of ``min(k, |T_u|)`` relevant items at the top.

Note implicit's own ``precision_at_k`` divides by ``min(k, |T_u|)`` instead of ``k``; the
figures here always use the definitions above, for omnivec and raw implicit alike.

For cold start (items nobody interacted with, placed from their content), ``split_by_item``
holds out whole items, and ``content_profile`` / ``random_ranking`` are the baselines a
content map must beat (``benchmarks/bench_coldstart.py``).

Interactions are a pandas DataFrame (``user``, ``item``, optional ``weight`` columns) or a
list of ``(user, item[, weight])`` tuples, as ``Recommender.fit`` takes them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from omnivec.errors import InvalidInputError
from omnivec.platform.evaluation import list_ndcg, list_recall

__all__ = [
    "content_profile",
    "most_popular",
    "ndcg_at_k",
    "precision_at_k",
    "random_ranking",
    "recall_at_k",
    "relevant_items",
    "split_by_item",
    "synthetic_interactions",
    "train_test_split_by_user",
]


def _is_frame(data: Any) -> bool:
    return hasattr(data, "columns") and hasattr(data, "iloc")


def _columns(data: Any, user_col: str, item_col: str) -> tuple[list[Any], list[Any]]:
    if _is_frame(data):
        return data[user_col].tolist(), data[item_col].tolist()
    rows = list(data)
    return [r[0] for r in rows], [r[1] for r in rows]


def train_test_split_by_user(
    interactions: Any,
    test_fraction: float = 0.2,
    seed: int = 0,
    *,
    user_col: str = "user",
) -> tuple[Any, Any]:
    """Hold out ``test_fraction`` of each user's interactions (at random, seeded).

    A user with ``n >= 2`` interactions gets ``max(1, round(test_fraction * n))`` of them in the
    test part, capped at ``n - 1`` so that every user keeps one training interaction; a user
    with one interaction stays in training only. Returns ``(train, test)`` of the input's type
    (DataFrames, or lists of tuples), each in the input's row order.
    """
    if not isinstance(test_fraction, int | float) or not 0 < test_fraction < 1:
        raise InvalidInputError(f"test_fraction must be between 0 and 1, got {test_fraction!r}")
    import pandas as pd

    frame = _is_frame(interactions)
    rows = None if frame else list(interactions)
    users = interactions[user_col].to_numpy() if frame else [r[0] for r in rows or []]
    n = len(users)
    if n == 0:
        raise InvalidInputError("interactions are empty")
    codes, _ = pd.factorize(np.asarray(users, dtype=object))
    rng = np.random.default_rng(seed)
    order = np.lexsort((rng.random(n), codes))  # rows grouped by user, shuffled within a user
    sizes = np.bincount(codes)
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    position = np.empty(n, dtype=np.int64)
    position[order] = np.arange(n) - starts[codes[order]]
    n_test = np.where(
        sizes >= 2, np.minimum(np.maximum(1, np.rint(test_fraction * sizes)), sizes - 1), 0
    ).astype(np.int64)
    return _split(interactions, rows, position < n_test[codes])


def _split(interactions: Any, rows: list[Any] | None, test_mask: np.ndarray) -> tuple[Any, Any]:
    """``(train, test)`` of the input's type: a DataFrame by the mask, else the tuple list
    ``rows``, each part in the input's row order."""
    if rows is None:
        return interactions[~test_mask], interactions[test_mask]
    train = [r for r, t in zip(rows, test_mask, strict=True) if not t]
    test = [r for r, t in zip(rows, test_mask, strict=True) if t]
    return train, test


def split_by_item(
    interactions: Any,
    cold_fraction: float = 0.2,
    seed: int = 0,
    *,
    item_col: str = "item",
) -> tuple[Any, Any, list[Any]]:
    """Hold out whole items: ``cold_fraction`` of the distinct items (at random, seeded) lose
    every interaction to the test part, as items new to the catalogue would.

    Returns ``(train, test, cold_items)``: ``train`` and ``test`` of the input's type
    (DataFrames, or lists of tuples) in the input's row order, ``cold_items`` the held-out ids
    in first-appearance order.
    """
    if not isinstance(cold_fraction, int | float) or not 0 < cold_fraction < 1:
        raise InvalidInputError(f"cold_fraction must be between 0 and 1, got {cold_fraction!r}")
    frame = _is_frame(interactions)
    rows = None if frame else list(interactions)
    items = interactions[item_col].tolist() if frame else [r[1] for r in rows or []]
    if not items:
        raise InvalidInputError("interactions are empty")
    distinct = list(dict.fromkeys(items))
    n_cold = max(1, round(cold_fraction * len(distinct)))
    if n_cold >= len(distinct):
        raise InvalidInputError(
            f"cold_fraction={cold_fraction} leaves no item to train on; lower it"
        )
    picked = np.random.default_rng(seed).choice(len(distinct), size=n_cold, replace=False)
    cold = set(picked.tolist())
    cold_items = [i for n, i in enumerate(distinct) if n in cold]
    held = set(cold_items)
    test_mask = np.fromiter((i in held for i in items), dtype=bool, count=len(items))
    train, test = _split(interactions, rows, test_mask)
    return train, test, cold_items


def content_profile(
    train: Any,
    content_ids: Sequence[Any],
    content: np.ndarray,
    users: Iterable[Any],
    candidates: Sequence[Any],
    k: int = 10,
    *,
    user_col: str = "user",
    item_col: str = "item",
) -> dict[Any, list[Any]]:
    """The by-hand cold-start baseline: each user's profile is the mean content vector of
    their training items; candidates rank by cosine with it.

    ``content`` is float ``(len(content_ids), d)``, one row per id of ``content_ids``; every
    candidate needs a row. Training items without content are skipped; a user with none left
    gets an empty list. Interaction weights are ignored (each item counts once).
    """
    k = _check_k(k)
    row_of = {i: n for n, i in enumerate(content_ids)}
    missing = [c for c in candidates if c not in row_of]
    if missing:
        raise InvalidInputError(
            f"{len(missing)} candidates have no content row (first: {missing[0]!r}); "
            "pass content for every candidate"
        )
    x = np.asarray(content, dtype=np.float64)
    x = x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
    cand = x[[row_of[c] for c in candidates]]
    history: dict[Any, set[int]] = {}
    for u, i in zip(*_columns(train, user_col, item_col), strict=True):
        if i in row_of:
            history.setdefault(u, set()).add(row_of[i])
    out: dict[Any, list[Any]] = {}
    for u in users:
        rows = sorted(history.get(u, ()))
        if not rows:
            out[u] = []
            continue
        profile = x[rows].mean(axis=0)
        # Cosine: the candidates are unit rows, so dividing by the profile's norm would
        # not change the order.
        scores = cand @ profile
        top = np.argsort(-scores, kind="stable")[:k]
        out[u] = [candidates[n] for n in top]
    return out


def random_ranking(
    users: Iterable[Any], candidates: Sequence[Any], k: int = 10, seed: int = 0
) -> dict[Any, list[Any]]:
    """The chance baseline: ``k`` candidates drawn at random (seeded) for each user."""
    k = _check_k(k)
    rng = np.random.default_rng(seed)
    n = min(k, len(candidates))
    return {
        u: [candidates[j] for j in rng.choice(len(candidates), n, replace=False)] for u in users
    }


def relevant_items(
    interactions: Any, *, user_col: str = "user", item_col: str = "item"
) -> dict[Any, set[Any]]:
    """``{user: {items}}`` from interactions (typically the test part of a split)."""
    out: dict[Any, set[Any]] = {}
    for u, i in zip(*_columns(interactions, user_col, item_col), strict=True):
        out.setdefault(u, set()).add(i)
    return out


def most_popular(
    train: Any,
    users: Iterable[Any],
    k: int = 10,
    *,
    exclude_seen: bool = True,
    user_col: str = "user",
    item_col: str = "item",
) -> dict[Any, list[Any]]:
    """The baseline: each user's top-``k`` items by number of training users, skipping the
    user's own training items when ``exclude_seen``. Ties break by first appearance."""
    us, its = _columns(train, user_col, item_col)
    counts: dict[Any, int] = {}
    seen: dict[Any, set[Any]] = {}
    for u, i in set(zip(us, its, strict=True)):
        counts[i] = counts.get(i, 0) + 1
        seen.setdefault(u, set()).add(i)
    first = {i: n for n, i in reversed(list(enumerate(its)))}
    ranked = sorted(counts, key=lambda i: (-counts[i], first[i]))
    out = {}
    for u in users:
        skip = seen.get(u, set()) if exclude_seen else set()
        top: list[Any] = []
        for i in ranked:
            if i not in skip:
                top.append(i)
                if len(top) == k:
                    break
        out[u] = top
    return out


def _ids(recs: Sequence[Any] | None, k: int) -> list[Any]:
    """First ``k`` ids of a ranked list of ids or of :class:`~omnivec.Hit` objects."""
    if not recs:
        return []
    return [getattr(r, "id", r) for r in list(recs)[:k]]


def _check_k(k: Any) -> int:
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise InvalidInputError(f"k must be a positive integer, got {k!r}")
    return k


def _per_user(
    recommended: Mapping[Any, Sequence[Any]], relevant: Mapping[Any, Iterable[Any]], k: int
) -> Iterable[tuple[list[Any], set[Any]]]:
    for user, items in relevant.items():
        truth = set(items)
        if truth:
            yield _ids(recommended.get(user), k), truth


def _mean(values: list[float]) -> float:
    return float(sum(values) / len(values)) if values else 0.0


def precision_at_k(
    recommended: Mapping[Any, Sequence[Any]], relevant: Mapping[Any, Iterable[Any]], k: int = 10
) -> float:
    """Mean over users with held-out items of ``|top-k ∩ relevant| / k``.

    ``recommended`` maps a user to a ranked list of item ids (or ``Hit`` objects);
    ``relevant`` maps a user to their held-out items."""
    k = _check_k(k)
    return _mean([len(set(r) & t) / k for r, t in _per_user(recommended, relevant, k)])


def recall_at_k(
    recommended: Mapping[Any, Sequence[Any]], relevant: Mapping[Any, Iterable[Any]], k: int = 10
) -> float:
    """Mean over users with held-out items of ``|top-k ∩ relevant| / |relevant|``."""
    k = _check_k(k)
    return _mean([list_recall(r, t) for r, t in _per_user(recommended, relevant, k)])


def ndcg_at_k(
    recommended: Mapping[Any, Sequence[Any]], relevant: Mapping[Any, Iterable[Any]], k: int = 10
) -> float:
    """Mean over users with held-out items of binary-relevance ``DCG@k / IDCG@k``."""
    k = _check_k(k)
    return _mean([list_ndcg(r, t, k) for r, t in _per_user(recommended, relevant, k)])


def synthetic_interactions(
    n_users: int = 1_000,
    n_items: int = 500,
    *,
    per_user: float = 30.0,
    n_factors: int = 8,
    affinity: float = 7.0,
    popularity: float = 0.8,
    seed: int = 0,
) -> Any:
    """A realistic synthetic implicit-feedback data set, as a DataFrame (user, item, weight).

    Users and items get unit-length ``n_factors``-dimensional latent tastes; user ``u`` picks
    about ``per_user`` distinct items (at least 5, Poisson) with probability proportional to
    ``exp(affinity · u·v) · pop_i^popularity``, where ``pop_i`` follows a Zipf law (1/rank), so
    the data has both a long tail of popularity and personal structure. Users are ``"u<n>"``
    (str), items ``<n>`` (int); weights (play counts) are ``1 + Poisson(1)``. Same arguments,
    same data.
    """
    import pandas as pd

    rng = np.random.default_rng(seed)
    users = rng.normal(size=(n_users, n_factors))
    users /= np.linalg.norm(users, axis=1, keepdims=True)
    items = rng.normal(size=(n_items, n_factors))
    items /= np.linalg.norm(items, axis=1, keepdims=True)
    pop = -np.log(np.arange(1, n_items + 1)) * popularity
    pop = pop[rng.permutation(n_items)]
    counts = np.minimum(np.maximum(5, rng.poisson(per_user, n_users)), max(1, n_items // 2))
    u_out, i_out = [], []
    chunk = max(1, 4_000_000 // max(n_items, 1))
    for start in range(0, n_users, chunk):
        stop = min(n_users, start + chunk)
        logits = affinity * (users[start:stop] @ items.T) + pop
        # Gumbel top-k: n items without replacement, each drawn proportionally to exp(logit).
        keys = logits + rng.gumbel(size=logits.shape)
        width = int(counts[start:stop].max())
        top = np.argpartition(-keys, width - 1, axis=1)[:, :width]
        order = np.take_along_axis(keys, top, axis=1).argsort(axis=1)[:, ::-1]
        top = np.take_along_axis(top, order, axis=1)
        for row in range(stop - start):
            picked = top[row, : counts[start + row]]
            u_out.append(np.full(picked.size, start + row))
            i_out.append(picked)
    u_arr, i_arr = np.concatenate(u_out), np.concatenate(i_out)
    return pd.DataFrame(
        {
            "user": [f"u{u}" for u in u_arr],
            "item": i_arr.astype(np.int64),
            "weight": (1 + rng.poisson(1.0, u_arr.size)).astype(np.float32),
        }
    )

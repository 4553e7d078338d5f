"""Cold start through content: items nobody has interacted with, placed by what they are.

A recommender linked to a content collection (``item_content="shop_texts"``: text,
multilingual or CLIP records that share the item ids) learns, at every ``fit``, a map from the
content space into its own factor space on the items that have both. Items with content but no
interactions get the mapped vector and are stored with the trained ones, metadata
``"cold": True``, so ``recommend`` can return them; a new user's fold-in (``interactions=``)
reaches them too.

Two maps, chosen per fit by measurement (:func:`choose_map`):

* ``"ridge"``: a ridge regression content -> factors (scikit-learn's ``RidgeCV``, the penalty
  chosen by efficient leave-one-out over a log grid). The L2 penalty keeps a 384-d map learned
  on few items from fitting noise; one exact solve.
* ``"knn"``: the factors of the ``KNN`` warm items nearest in content (cosine), averaged with
  their similarities as weights.

With at least ``SELECT_MIN_WARM`` warm items the choice is a 5-fold check on them: each fold's
items are placed by a map learned on the others, and the users' own interactions with those
items are the truth (recall@20 among the fold's items, the cold-start question asked of items
whose answer is known). Fewer: ridge. Measured on MovieLens 100k (``bench_coldstart.py``, 20%
of the movies held out, 3 splits; docs/benchmarks.md): for ALS ridge is the better map in every
split (recall@20 0.313 vs kNN 0.298; by-hand content profile 0.164, random 0.060) and the check
chose it every time; for BPR kNN is better in every split (0.271 vs 0.245) but the check, whose
two scores lie close there, chose it in 1 of 3 (0.249 as shipped).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from omnivec.core.encoder import FitResult
from omnivec.core.ids import encode_ids
from omnivec.core.interactions import Interactions, TrainedFactors
from omnivec.errors import InvalidInputError

__all__ = [
    "COLD",
    "KNN",
    "MIN_WARM",
    "SELECT_ITEMS",
    "SELECT_MIN_WARM",
    "SELECT_USERS",
    "ColdStart",
    "choose_map",
    "place_cold_items",
]

#: Metadata key marking items placed from their content alone.
COLD = "cold"
#: Items with both content and interactions needed to learn the map.
MIN_WARM = 5
#: Warm items needed before the map is chosen by a 5-fold check (fewer: ridge, too few to tell).
SELECT_MIN_WARM = 100
#: Neighbours averaged by the kNN map.
KNN = 50
#: Users (a seeded sample) whose interactions score the 5-fold check; bounds its cost.
SELECT_USERS = 2_000
#: Warm items (a seeded sample) the check places; bounds the kNN similarity work.
SELECT_ITEMS = 5_000
#: Rank cut-off of the check (the benchmark's recall@20).
SELECT_K = 20


@dataclasses.dataclass
class ColdStart:
    """What a fit placed: the cold item ids, how many warm items taught the map, the map used
    (``"ridge"`` or ``"knn"``), the ridge penalty chosen, and the 5-fold check's recall@20 of
    each map (empty when there were too few warm items to check)."""

    cold: list[Any]
    warm: int
    alpha: float
    method: str = "ridge"
    checked: dict[str, float] = dataclasses.field(default_factory=dict)


def _ridge(x: np.ndarray, y: np.ndarray) -> Any:
    from sklearn.linear_model import RidgeCV

    return RidgeCV(alphas=np.logspace(-3, 3, 13)).fit(x, y)


def _knn(warm_x: np.ndarray, warm_y: np.ndarray, x: np.ndarray) -> np.ndarray:
    """float64 ``(len(x), dim)``: each row of ``x`` gets the similarity-weighted mean of the
    factors ``warm_y`` of its ``KNN`` nearest rows of ``warm_x`` (all rows unit length)."""
    k = min(KNN, len(warm_x))
    out = np.empty((len(x), warm_y.shape[1]))
    step = max(1, 4_000_000 // max(len(warm_x), 1))  # bounds the similarity block's memory
    for start in range(0, len(x), step):
        sim = x[start : start + step] @ warm_x.T
        near = np.argpartition(-sim, k - 1, axis=1)[:, :k]
        # Clipped: a dissimilar neighbour must not pull the item away from the others.
        w = np.maximum(np.take_along_axis(sim, near, axis=1), 1e-6)
        out[start : start + step] = np.einsum("ck,ckd->cd", w, warm_y[near]) / w.sum(
            axis=1, keepdims=True
        )
    return out


def _recall(users: np.ndarray, placed: np.ndarray, truth: Any) -> float:
    """Mean over users with a positive entry in ``truth`` (CSR users x placed items) of the
    share of them in the user's top ``SELECT_K`` by ``users @ placed.T``."""
    n = np.diff(truth.indptr)
    keep = np.flatnonzero(n)
    if not len(keep):
        return 0.0
    scores = users[keep] @ placed.T
    k = min(SELECT_K, placed.shape[0])
    top = np.argpartition(-scores, k - 1, axis=1)[:, :k]
    hits = np.take_along_axis(truth[keep].toarray(), top, axis=1).sum(axis=1)
    return float(np.mean(hits / n[keep]))


def choose_map(
    x: np.ndarray, y: np.ndarray, users: np.ndarray, truth: Any, alpha: float, seed: int = 0
) -> dict[str, float]:
    """The 5-fold check: ``{"ridge": recall, "knn": recall}`` for warm items with unit content
    rows ``x`` (float64 ``(n, d)``), factors ``y`` (``(n, f)``), user factors ``users``
    (``(u, f)``) and ``truth``, a users x items CSR whose positive entries are interactions.
    ``alpha``: the ridge penalty (the one ``RidgeCV`` chose on all of them)."""
    from sklearn.linear_model import Ridge

    rng = np.random.default_rng(seed)
    if users.shape[0] > SELECT_USERS:
        pick = np.sort(rng.choice(users.shape[0], SELECT_USERS, replace=False))
        users, truth = users[pick], truth[pick]
    if len(x) > SELECT_ITEMS:
        pick = np.sort(rng.choice(len(x), SELECT_ITEMS, replace=False))
        x, y, truth = x[pick], y[pick], truth[:, pick]
    truth = (truth > 0).astype(np.float64).tocsc()
    folds = rng.permutation(len(x)) % 5
    got: dict[str, list[float]] = {"ridge": [], "knn": []}
    for f in range(5):
        test, train = np.flatnonzero(folds == f), np.flatnonzero(folds != f)
        fold_truth = truth[:, test].tocsr()
        # One solve per fold at the penalty chosen on all warm items: a 13-penalty search in
        # every fold made the check cost about 5x the fit's own RidgeCV.
        ridge = Ridge(alpha=alpha).fit(x[train], y[train])
        got["ridge"].append(_recall(users, ridge.predict(x[test]), fold_truth))
        got["knn"].append(_recall(users, _knn(x[train], y[train], x[test]), fold_truth))
    return {m: float(np.mean(v)) for m, v in got.items()}


def place_cold_items(
    trained: TrainedFactors,
    content_ids: list[Any],
    content: np.ndarray,
    imeta: list[dict[str, Any]],
    content_name: str,
) -> tuple[TrainedFactors, list[dict[str, Any]], ColdStart]:
    """``trained`` with the items of ``content_ids`` that it does not know appended (vectors
    mapped from ``content``, float32 ``(n, d)`` in ``content_ids`` order), their metadata
    ``{"cold": True}`` appended to ``imeta``. Nothing changes if every content item is warm."""
    items = trained.items
    row_of = {i: n for n, i in enumerate(items.ids)}
    warm = [n for n, i in enumerate(content_ids) if i in row_of]
    cold = [n for n, i in enumerate(content_ids) if i not in row_of]
    if len(warm) < MIN_WARM:
        raise InvalidInputError(
            f"item_content collection {content_name!r} shares {len(warm)} item ids with the "
            f"interactions; the content map needs at least {MIN_WARM}: add content for the "
            "items users interacted with (same ids)"
        )
    x = np.asarray(content, dtype=np.float64)
    # Unit rows: the kNN map is cosine, and ridge then sees one scale for every item.
    x = x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
    y = np.asarray(items.vectors, dtype=np.float64)[[row_of[content_ids[n]] for n in warm]]
    ridge = _ridge(x[warm], y)
    checked: dict[str, float] = {}
    if len(warm) >= SELECT_MIN_WARM and cold:
        inter = trained.interactions
        col_of = {i: n for n, i in enumerate(inter.item_ids)}
        truth = inter.matrix.tocsc()[:, [col_of[content_ids[n]] for n in warm]].tocsr()
        users = np.asarray(trained.users.vectors, dtype=np.float64)
        checked = choose_map(x[warm], y, users, truth, float(ridge.alpha_))
    method = "knn" if checked and checked["knn"] > checked["ridge"] else "ridge"
    report = ColdStart(
        [content_ids[n] for n in cold], len(warm), float(ridge.alpha_), method, checked
    )
    if not cold:
        return trained, imeta, report
    mapped = ridge.predict(x[cold]) if method == "ridge" else _knn(x[warm], y, x[cold])
    placed = mapped.astype(np.float32)
    cold_ids = [content_ids[n] for n in cold]
    new_items = FitResult(
        [*items.ids, *cold_ids],
        np.ascontiguousarray(np.vstack([items.vectors, placed]), dtype=np.float32),
        None,
    )
    inter = trained.interactions
    import scipy.sparse as sp

    m = inter.matrix
    # No one interacted with them: empty columns after the trained ones.
    widened = sp.csr_matrix(
        (m.data, m.indices, m.indptr), shape=(m.shape[0], m.shape[1] + len(cold_ids))
    )
    new_inter = Interactions(
        inter.user_ids,
        [*inter.item_ids, *cold_ids],
        inter.user_keys,
        [*inter.item_keys, *encode_ids(cold_ids)],
        widened,
    )
    extended = dataclasses.replace(trained, items=new_items, interactions=new_inter)
    return extended, [*imeta, *({COLD: True} for _ in cold_ids)], report

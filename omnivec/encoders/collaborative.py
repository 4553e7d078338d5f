"""Collaborative-filtering encoders on implicit: ALS and BPR user/item factors.

Both encoders learn one vector per user and one per item from implicit feedback, in one
vector space with the inner product (``ip``) as metric: ``user · item`` is implicit's own
score, so "recommend" is a nearest-neighbour search of a user vector over item vectors.

* ``ALSEncoder`` wraps :class:`implicit.cpu.als.AlternatingLeastSquares` (dim = ``factors``).
* ``BPREncoder`` wraps :class:`implicit.cpu.bpr.BayesianPersonalizedRanking`. implicit stores
  BPR factors ``factors + 1`` wide: the last item column is the item bias and the last user
  column is a constant 1, so the stored inner product already adds the bias
  (dim = ``factors + 1``).

Ids are the caller's own (str or int); the id -> row mapping is omnivec's, and implicit's
matrix orientation (a users x items CSR in implicit 0.7) never leaks out of this module.
Training keeps BLAS at one thread (``threadpoolctl``): implicit parallelises itself and an
oversubscribed BLAS makes it several times slower.
"""

from __future__ import annotations

import logging
import math
import threading
import uuid
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any, ClassVar

import numpy as np

from omnivec.core.encoder import BaseEncoder, FitResult
from omnivec.core.ids import decode_id, encode_id
from omnivec.core.interactions import (
    FactorLoader,
    Interactions,
    TrainedFactors,
    interactions_from,
)
from omnivec.core.progress import show_progress
from omnivec.core.space import Space, fingerprint_of
from omnivec.errors import EncoderError, InvalidInputError, NotFoundError

__all__ = [
    "ALSConfig",
    "ALSEncoder",
    "BPRConfig",
    "BPREncoder",
    "CollaborativeFit",
    "Interactions",
    "interactions_from",
]

logger = logging.getLogger(__name__)


# -- configuration ----------------------------------------------------------------------------
def _check_int(name: str, value: Any, low: int, high: int | None = None) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise InvalidInputError(f"{name} must be an integer >= {low}, got {value!r}")
    if high is not None and value > high:
        raise InvalidInputError(f"{name} must be at most {high}, got {value!r}")


def _check_float(name: str, value: Any, positive: bool = False) -> None:
    ok = not isinstance(value, bool) and isinstance(value, int | float) and math.isfinite(value)
    if not ok or value < 0 or (positive and value == 0):
        kind = "a positive" if positive else "a non-negative"
        raise InvalidInputError(f"{name} must be {kind} finite number, got {value!r}")


def _check_common(cfg: Any) -> None:
    _check_int("factors", cfg.factors, 1, 16_384)
    _check_int("iterations", cfg.iterations, 1)
    _check_float("regularization", cfg.regularization)
    if cfg.random_state is not None:
        _check_int("random_state", cfg.random_state, 0, 2**32 - 1)
    _check_int("num_threads", cfg.num_threads, 0)


@dataclass
class ALSConfig:
    """implicit's ``AlternatingLeastSquares`` parameters, with implicit's names and defaults.

    ``alpha`` scales the interaction weights into confidences; ``random_state`` seeds the
    initial factors (same seed + data -> same vectors). ``num_threads`` (0 = all cores) only
    changes speed."""

    factors: int = 100
    regularization: float = 0.01
    alpha: float = 1.0
    iterations: int = 15
    random_state: int | None = None
    num_threads: int = 0

    def validate(self) -> None:
        _check_common(self)
        _check_float("alpha", self.alpha, positive=True)


@dataclass
class BPRConfig:
    """implicit's ``BayesianPersonalizedRanking`` parameters, with implicit's names and defaults.

    BPR ignores interaction weights (any interaction is a positive). With ``num_threads``
    other than 1, implicit's lock-free SGD is not bit-for-bit reproducible."""

    factors: int = 100
    learning_rate: float = 0.01
    regularization: float = 0.01
    iterations: int = 100
    verify_negative_samples: bool = True
    random_state: int | None = None
    num_threads: int = 0

    def validate(self) -> None:
        _check_common(self)
        _check_float("learning_rate", self.learning_rate, positive=True)
        if not isinstance(self.verify_negative_samples, bool):
            raise InvalidInputError("verify_negative_samples must be True or False")


# -- encoders -------------------------------------------------------------------------------
#: What one fit learned (the name ``fit`` has always returned): user and item vectors
#: (float32, ``(n, dim)``), the space, and the data.
CollaborativeFit = TrainedFactors


class _CollaborativeEncoder(BaseEncoder):
    """Shared machinery of the ALS and BPR encoders (modalities "user" and "item", metric ip)."""

    modalities: ClassVar[tuple[str, ...]] = ("user", "item")
    runtime_fields = frozenset({"num_threads"})
    #: Extra vector columns beyond ``factors`` (BPR: the bias column).
    extra_columns: ClassVar[int] = 0
    #: Whether a negative (summed) weight means something: implicit's ALS reads it as a
    #: dislike with that confidence; BPR would take it as one more positive.
    negative_weights: ClassVar[bool] = True

    def __init__(self, **config: Any) -> None:
        super().__init__(**config)
        self._lock = threading.RLock()
        self._fingerprint = ""
        self._ids: dict[str, list[Any] | None] = {"user": None, "item": None}
        self._index: dict[str, dict[str, int]] = {"user": {}, "item": {}}
        self._factors: dict[str, np.ndarray | None] = {"user": None, "item": None}
        self._model: Any = None
        self._loader: FactorLoader | None = None

    # -- identity ------------------------------------------------------------------------
    @property
    def metric(self) -> str:
        return "ip"

    @property
    def dim(self) -> int:
        return int(self.cfg.factors) + self.extra_columns

    @property
    def fitted(self) -> bool:
        return bool(self._fingerprint)

    @property
    def space(self) -> Space:
        """The space of this fit. Every fit is a new space (a fresh fingerprint); before the
        first fit the fingerprint names the unfitted configuration."""
        return self._space_of(
            self._fingerprint or "unfitted:" + fingerprint_of(self.name, self.identity())
        )

    def _space_of(self, fingerprint: str) -> Space:
        return Space(self.name, f"implicit.{self.name}", fingerprint, self.dim, "ip")

    def state_dict(self) -> dict[str, Any]:
        """The fit's fingerprint and sizes; the vectors themselves live in the store."""
        users, items = self._ids["user"], self._ids["item"]
        return {
            "fingerprint": self._fingerprint,
            "users": len(users) if users is not None else None,
            "items": len(items) if items is not None else None,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        with self._lock:
            self._fingerprint = str(state.get("fingerprint") or "")
            self._ids = {"user": None, "item": None}
            self._index = {"user": {}, "item": {}}
            self._factors = {"user": None, "item": None}
            self._model = None

    def set_loader(self, loader: FactorLoader | None) -> None:
        """Where to read learned vectors from after a restart (the recommender's store)."""
        self._loader = loader

    # -- learned vectors -----------------------------------------------------------------
    def _ensure(self, modality: str) -> None:
        if self._factors[modality] is not None:
            return
        if not self.fitted:
            raise EncoderError(f"encoder {self.name!r} is not fitted; call fit(interactions) first")
        if self._loader is None:
            raise EncoderError(
                f"encoder {self.name!r} was restored without its vectors; open it through "
                "plat.recommender(name) so that they load from the store"
            )
        ids, vectors = self._loader(modality)
        self._set(modality, ids, np.asarray(vectors, dtype=np.float32).reshape(len(ids), self.dim))

    def _set(self, modality: str, ids: list[Any], vectors: np.ndarray) -> None:
        self._ids[modality] = list(ids)
        self._index[modality] = {encode_id(i): n for n, i in enumerate(ids)}
        self._factors[modality] = np.ascontiguousarray(vectors, dtype=np.float32)
        if modality == "item":
            self._model = None  # the fold-in model caches item-side products

    def ids(self, modality: str) -> list[Any]:
        """The ids of one modality in row order."""
        modality = self._default_modality(modality)
        with self._lock:
            self._ensure(modality)
            return list(self._ids[modality] or [])

    def factors(self, modality: str) -> np.ndarray:
        """All learned vectors of one modality, float32 ``(n, dim)`` in :meth:`ids` order."""
        modality = self._default_modality(modality)
        with self._lock:
            self._ensure(modality)
            out = self._factors[modality]
            assert out is not None
            return out

    def rows(self, keys: Sequence[str], modality: str) -> list[int | None]:
        """Row numbers of store keys (``None`` for an unknown one)."""
        with self._lock:
            self._ensure(modality)
            index = self._index[modality]
            return [index.get(k) for k in keys]

    def encode(self, batch: Sequence[Any], modality: str | None = None) -> np.ndarray:
        """Learned vectors of known user or item ids: float32 ``(len(batch), dim)``.

        An id the model was not fitted on raises :class:`NotFoundError` (fold new users in
        with ``Recommender.recommend(..., interactions=...)``)."""
        modality = self._default_modality(modality)
        ids = list(batch)
        keys = [encode_id(i) for i in ids]
        rows = self.rows(keys, modality)
        for id_, row in zip(ids, rows, strict=True):
            if row is None:
                raise NotFoundError(f"{modality} {id_!r} is not in the fitted {self.name} model")
        return self.factors(modality)[np.asarray(rows, dtype=np.int64)].copy()

    def provide(self, modality: str, ids: list[Any], vectors: np.ndarray) -> None:
        """Hand over vectors read elsewhere (the recommender's snapshot load), so that a later
        fold-in does not read the store again. Ignored if this modality is already loaded.

        ``vectors``: float32 ``(len(ids), dim)`` in ``ids`` order; never modified here."""
        with self._lock:
            if self._factors[modality] is None and self.fitted:
                self._set(modality, ids, vectors)

    def update_users(self, keys: Sequence[str], vectors: np.ndarray) -> None:
        """Replace / append user vectors in memory (after a fold-in was written to the store).

        Copy-on-write: the arrays handed out by :meth:`factors` (and shared with the
        recommender's snapshot) are never modified in place."""
        with self._lock:
            current = self._factors["user"]
            if current is None:
                return  # not loaded: the store is the truth and will be read when needed
            ids = self._ids["user"]
            assert ids is not None
            index = self._index["user"]
            new = [k for k in keys if k not in index]
            current = np.concatenate([current, np.zeros((len(new), self.dim), np.float32)])
            for k in new:
                index[k] = len(ids)
                ids.append(decode_id(k))
            for k, vec in zip(keys, vectors, strict=True):
                current[index[k]] = vec
            self._factors["user"] = current

    # -- training ------------------------------------------------------------------------
    def fit(
        self,
        data: Any,
        *,
        user_col: str = "user",
        item_col: str = "item",
        weight_col: str | None = "weight",
        users: Sequence[Any] | None = None,
        items: Sequence[Any] | None = None,
        progress: bool | None = None,
    ) -> CollaborativeFit:
        """Learn user and item vectors from interactions (see :func:`interactions_from`).

        Returns the vectors of every user and item; the space changes with every fit. This
        changes only this encoder: a recommender's collections are fitted through
        ``Recommender.fit``, which computes (:meth:`train`), rewrites their vectors and only
        then adopts (:meth:`adopt`).
        """
        inter = interactions_from(
            data,
            user_col=user_col,
            item_col=item_col,
            weight_col=weight_col,
            users=users,
            items=items,
        )
        trained = self.train(inter, progress=progress)
        self.adopt(trained)
        return trained

    def train(self, inter: Interactions, progress: bool | None = None) -> TrainedFactors:
        """Fit implicit on normalised interactions and return what it learned, leaving this
        encoder as it was (compute first): :meth:`adopt` installs the result once it is
        stored. Raises :class:`EncoderError` if implicit fails or returns unusable factors."""
        from threadpoolctl import threadpool_limits

        if not isinstance(inter, Interactions):
            raise InvalidInputError(
                f"{self.name} trains on omnivec Interactions (see interactions_from), not a "
                f"{type(inter).__name__}; fit a recommender with rec.fit(interactions)"
            )
        if not self.negative_weights and inter.nnz and inter.matrix.data.min() < 0:
            raise InvalidInputError(
                f"{self.name} treats every interaction as a positive, so negative weights would "
                "count as likes; drop those rows, or use algorithm='als' (negative = dislike)"
            )
        self._model_class()  # imports implicit, loading its BLAS: threadpoolctl limits loaded ones
        try:
            with threadpool_limits(1, "blas"):
                # implicit checks the BLAS thread count when a model is created, so create it here.
                model = self._new_model()
                model.fit(inter.matrix, show_progress=show_progress(progress))
        except Exception as exc:
            raise EncoderError(f"implicit {self.name} training failed: {exc}") from exc
        user_f = np.ascontiguousarray(np.asarray(model.user_factors, dtype=np.float32))
        item_f = np.ascontiguousarray(np.asarray(model.item_factors, dtype=np.float32))
        expected = (inter.matrix.shape[0], self.dim), (inter.matrix.shape[1], self.dim)
        if (user_f.shape, item_f.shape) != expected:
            raise EncoderError(
                f"implicit returned factors of shapes {user_f.shape}/{item_f.shape}, expected "
                f"{expected[0]}/{expected[1]}"
            )
        if not (np.isfinite(user_f).all() and np.isfinite(item_f).all()):
            raise EncoderError(
                f"{self.name} training diverged (NaN/inf factors); lower learning_rate or raise "
                "regularization"
            )
        # A fresh nonce: every fit is a new space, even one that happens to reproduce
        # earlier factors, so vectors of two fits are never mixed silently.
        fingerprint = fingerprint_of(
            self.name,
            self.identity(),
            inter.user_keys,
            inter.item_keys,
            user_f,
            item_f,
            uuid.uuid4().hex,
        )
        logger.info(
            "trained %s: %d users x %d items, %d interactions, dim %d",
            self.name,
            len(inter.user_ids),
            len(inter.item_ids),
            inter.nnz,
            self.dim,
        )
        return TrainedFactors(
            users=FitResult(list(inter.user_ids), user_f),
            items=FitResult(list(inter.item_ids), item_f),
            space=self._space_of(fingerprint),
            state={
                "fingerprint": fingerprint,
                "users": len(inter.user_ids),
                "items": len(inter.item_ids),
            },
            interactions=inter,
            learned={"model": model},
        )

    def adopt(self, trained: TrainedFactors) -> None:
        """Install what :meth:`train` computed (after the caller stored it)."""
        with self._lock:
            self._set("user", trained.users.ids, trained.users.vectors)
            self._set("item", trained.items.ids, trained.items.vectors)
            self._model = trained.learned.get("model")
            self._fingerprint = str(trained.state["fingerprint"])

    def _model_class(self) -> Any:
        raise NotImplementedError

    def _new_model(self) -> Any:
        # The config fields carry implicit's own parameter names, so they pass straight through.
        return self._model_class()(**asdict(self.cfg), dtype=np.float32)

    def fold_in(self, rows: Any) -> np.ndarray:
        """Vectors for users given only their interactions, with item vectors fixed.

        ``rows`` is a CSR of shape ``(n, n_items)`` in :meth:`ids` ("item") column order;
        returns float32 ``(n, dim)``."""
        raise NotImplementedError


class ALSEncoder(_CollaborativeEncoder):
    """Implicit-feedback ALS (Hu, Koren and Volinsky 2008) through implicit's CPU model.

    Vectors are float32 of width ``factors``; fold-in solves a user's least-squares problem
    against the fixed item factors (implicit's ``recalculate_user``), exactly as one ALS
    half-step does during training."""

    name = "als"
    config_class = ALSConfig
    cfg: ALSConfig

    def _model_class(self) -> Any:
        from implicit.cpu.als import AlternatingLeastSquares

        return AlternatingLeastSquares

    def fold_in(self, rows: Any) -> np.ndarray:
        import scipy.sparse as sp
        from threadpoolctl import threadpool_limits

        m = sp.csr_matrix(rows, dtype=np.float32)
        self._model_class()  # loads implicit's BLAS before limiting it

        try:
            with threadpool_limits(1, "blas"):
                with self._lock:
                    items = self.factors("item")
                    if self._model is None or self._model.item_factors is not items:
                        model = self._new_model()
                        model.item_factors = items
                        self._model = model
                    model = self._model
                out = model.recalculate_user(np.arange(m.shape[0]), m)
        except Exception as exc:
            raise EncoderError(f"ALS fold-in failed: {exc}") from exc
        return np.ascontiguousarray(np.asarray(out, dtype=np.float32).reshape(m.shape[0], self.dim))


class BPREncoder(_CollaborativeEncoder):
    """Bayesian Personalised Ranking (Rendle et al. 2009) through implicit's CPU model.

    Vectors are float32 of width ``factors + 1``: items carry their bias in the last column
    and users a constant 1 there, so ``user · item`` equals implicit's score.

    Fold-in (implicit has none for BPR) minimises the BPR loss over the new user's vector with
    the item vectors fixed: the mean over (seen item i, unseen item j) pairs of
    ``-log σ(u·(v_i - v_j))`` plus ``regularization · |u|²``, with up to 200 unseen items
    sampled per user (seeded by ``random_state``), solved by damped Newton steps from the mean of
    the seen items' vectors."""

    name = "bpr"
    config_class = BPRConfig
    extra_columns = 1
    negative_weights = False
    cfg: BPRConfig
    _NEGATIVES = 200
    _MAX_PAIRS = 50_000

    def _model_class(self) -> Any:
        from implicit.cpu.bpr import BayesianPersonalizedRanking

        return BayesianPersonalizedRanking

    def fold_in(self, rows: Any) -> np.ndarray:
        import scipy.sparse as sp
        from threadpoolctl import threadpool_limits

        items = self.factors("item").astype(np.float64)
        m = sp.csr_matrix(rows)
        out = np.zeros((m.shape[0], self.dim), dtype=np.float32)
        out[:, -1] = 1.0  # the user side of the bias column
        rng = np.random.default_rng(self.cfg.random_state)
        # Small dense products: a multi-threaded BLAS only adds contention here.
        with threadpool_limits(1, "blas"):
            for r in range(m.shape[0]):
                lo, hi = m.indptr[r], m.indptr[r + 1]
                seen = m.indices[lo:hi][m.data[lo:hi] > 0]
                if seen.size:
                    out[r, :-1] = self._fold_one(items, np.unique(seen), rng)
        return out

    def _fold_one(self, items: np.ndarray, pos: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        n_items = items.shape[0]
        mask = np.ones(n_items, dtype=bool)
        mask[pos] = False
        neg = np.flatnonzero(mask)
        if neg.size == 0:
            return items[pos, :-1].mean(axis=0)  # the user saw everything: nothing to rank
        # Keep the pair matrix small (at most ~50k pairs) for heavy users.
        n_neg = min(neg.size, self._NEGATIVES, max(20, self._MAX_PAIRS // pos.size))
        if neg.size > n_neg:
            neg = rng.choice(neg, n_neg, replace=False)
        # One row per (seen i, unseen j) pair: score difference = diff · u + bias difference.
        diff = (items[pos, None, :-1] - items[None, neg, :-1]).reshape(-1, items.shape[1] - 1)
        bias = (items[pos, None, -1] - items[None, neg, -1]).reshape(-1)
        reg = float(self.cfg.regularization)
        n_pairs = diff.shape[0]

        def loss(u: np.ndarray) -> float:
            return float(np.logaddexp(0.0, -(diff @ u + bias)).sum() / n_pairs + reg * (u @ u))

        # The loss is convex and smooth: damped Newton steps converge in a handful of steps.
        u = items[pos, :-1].mean(axis=0)
        current = loss(u)
        eye = np.eye(u.size)
        for _ in range(30):
            d = diff @ u + bias
            p = np.exp(-np.logaddexp(0.0, d))  # σ(-d), stably
            grad = -(diff.T @ p) / n_pairs + 2 * reg * u
            hess = (diff.T * (p * (1 - p))) @ diff / n_pairs + 2 * reg * eye
            step = np.linalg.solve(hess, grad)
            t = 1.0
            while t > 1e-4:
                trial = loss(u - t * step)
                if trial <= current:
                    break
                t /= 2
            else:
                break
            u, improvement, current = u - t * step, current - trial, trial
            if improvement < 1e-9:
                break
        return u

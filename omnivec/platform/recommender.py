"""Recommenders: implicit ALS / BPR factors in two collections (users, items) of one space.

``plat.recommender("movies", algorithm="als", factors=64)`` owns two collections,
``movies__users`` and ``movies__items``, whose vectors share one ``ip`` space, so that

* ``rec.recommend(user)`` is a search of the user's vector over the item vectors,
* ``rec.items.search(ov.ref(user, collection=rec.users.name))`` is the same query, unified,
* ``rec.similar_items(item)`` / ``rec.similar_users(user)`` are ``ov.ref`` searches in a
  collection (inner product, the query itself left out).

What persists (nothing is refitted on reopen): the vectors in the two collections; each
user's training items and weights in the user row's metadata (``seen``, ``seen_weights``),
which is what ``exclude_seen`` filters on; the hyper-parameters and the space in the
catalog document ``recommender:<name>``.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, overload

import numpy as np

from omnivec.errors import InvalidInputError, NotFoundError, SpaceMismatchError, StoreError
from omnivec.platform.collection import Collection, _check_where, _identity
from omnivec.platform.encoder import Space
from omnivec.platform.queries import Hit, ref
from omnivec.platform.registry import create_encoder
from omnivec.platform.validation import (
    MAX_K,
    check_batch,
    check_k,
    check_metadata,
    check_name,
    decode_id,
    encode_id,
    encode_ids,
)

if TYPE_CHECKING:
    from omnivec.platform.platform import Platform

__all__ = ["ALGORITHMS", "Recommender"]

logger = logging.getLogger(__name__)

ALGORITHMS = ("als", "bpr")
_DOC = "recommender:"
#: Metadata keys of user rows that the recommender owns.
SEEN, SEEN_WEIGHTS = "seen", "seen_weights"
_SUFFIX = {"users": "__users", "items": "__items"}


class Recommender:
    """A collaborative-filtering recommender over two store collections. Get one with
    :meth:`omnivec.Platform.recommender`; do not construct it directly."""

    def __init__(
        self,
        platform: Platform,
        name: str,
        doc: dict[str, Any],
        encoder: Any,
        users: Collection,
        items: Collection,
    ) -> None:
        self._platform = platform
        self._store = platform.store
        self.name = name
        self._doc = doc
        self._encoder = encoder
        self.users = users
        self.items = items
        self._lock = threading.RLock()
        self.last_fit: dict[str, float] = {}
        encoder.set_loader(self._load_factors)

    # -- opening ---------------------------------------------------------------------
    @classmethod
    def _open(
        cls, plat: Platform, name: str, algorithm: str | None, config: dict[str, Any]
    ) -> Recommender:
        """Open recommender ``name`` (creating it and its two empty collections if new).

        Reopening with another algorithm or other hyper-parameters raises
        :class:`SpaceMismatchError`; runtime options (``num_threads``) may change."""
        check_name(name, "recommender")
        if len(name) > 255 - len("__users"):
            raise InvalidInputError(
                f"recommender names have at most {255 - len('__users')} characters "
                "(its collections add a suffix); pick a shorter name"
            )
        doc = plat.store.get_doc(_DOC + name)
        if doc is None:
            return cls._create(plat, name, algorithm or "als", config)
        stored = doc["algorithm"]
        if algorithm is not None and algorithm != stored:
            raise SpaceMismatchError(
                f"recommender {name!r} uses algorithm {stored!r}, not {algorithm!r}; "
                "open it without algorithm= or use another name"
            )
        encoder: Any = create_encoder(stored, **{**doc["config"], **config})
        ident, old = _identity(encoder), doc["identity"]
        if ident != old:
            changed = sorted(k for k in set(ident) | set(old) if ident.get(k) != old.get(k))
            raise SpaceMismatchError(
                f"recommender {name!r} was built with other {stored} settings "
                f"({', '.join(f'{k}={old.get(k)!r}' for k in changed)}); "
                "open it without those options or use another name"
            )
        encoder.load_state_dict(doc.get("state", {}))
        cols = {}
        for role in ("users", "items"):
            coll = doc[role]
            record = plat._load_record(coll)
            if record is None or not plat.store.has_collection(coll):
                raise StoreError(
                    f"recommender {name!r} lost its collection {coll!r}; "
                    f"drop it with plat.drop({name!r}) and fit it again"
                )
            cols[role] = cls._attach(plat, coll, record, encoder)
        return cls(plat, name, doc, encoder, cols["users"], cols["items"])

    @classmethod
    def _create(
        cls, plat: Platform, name: str, algorithm: str, config: dict[str, Any]
    ) -> Recommender:
        if algorithm not in ALGORITHMS:
            raise InvalidInputError(
                f"algorithm must be one of {', '.join(ALGORITHMS)}, got {algorithm!r}"
            )
        encoder: Any = create_encoder(algorithm, **config)
        names = {role: name + suffix for role, suffix in _SUFFIX.items()}
        for coll in (name, *names.values()):
            if plat.has_collection(coll) or plat.store.has_collection(coll):
                raise InvalidInputError(
                    f"a collection named {coll!r} already exists; pick another recommender name"
                )
        space = encoder.space
        cols = {}
        for role, coll in names.items():
            record = {
                "encoder": encoder.name,
                "config": encoder.config(),
                "identity": _identity(encoder),
                "state": encoder.state_dict(),
                "space": space.to_dict(),
                "index": "flat",
                "created": time.time(),
                "recommender": name,
                "role": role,
            }
            plat.store.create_collection(coll, space.dim, space.metric, index="flat")
            plat._save_record(coll, record)
            cols[role] = cls._attach(plat, coll, record, encoder)
        doc = {
            "algorithm": algorithm,
            "config": encoder.config(),
            "identity": _identity(encoder),
            "state": encoder.state_dict(),
            "space": space.to_dict(),
            "users": names["users"],
            "items": names["items"],
            "fitted": False,
            "created": time.time(),
        }
        plat.store.put_doc(_DOC + name, doc)
        logger.info("created recommender %r (%s)", name, algorithm)
        return cls(plat, name, doc, encoder, cols["users"], cols["items"])

    @staticmethod
    def _attach(plat: Platform, coll: str, record: dict[str, Any], encoder: Any) -> Collection:
        """A Collection on the recommender's own encoder object, registered with the platform
        so that ``ov.ref(..., collection=...)`` lookups find the same object."""
        col = Collection(plat, coll, record, encoder)
        col._space_checked = True
        plat._collections[coll] = col
        return col

    # -- identity --------------------------------------------------------------------
    @property
    def algorithm(self) -> str:
        return str(self._doc["algorithm"])

    @property
    def encoder(self) -> Any:
        return self._encoder

    @property
    def space(self) -> Space:
        return Space.from_dict(self._doc["space"])

    @property
    def fitted(self) -> bool:
        return bool(self._doc.get("fitted"))

    def config(self) -> dict[str, Any]:
        return dict(self._doc["config"])

    def info(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "algorithm": self.algorithm,
            "config": self.config(),
            "space": self._doc["space"],
            "fitted": self.fitted,
            "users": self.users.name,
            "items": self.items.name,
            "n_users": len(self.users),
            "n_items": len(self.items),
        }

    def __repr__(self) -> str:
        return f"Recommender({self.name!r}, {self.algorithm}, {self.space.describe()})"

    def _require_fitted(self) -> None:
        if not self.fitted:
            raise InvalidInputError(
                f"recommender {self.name!r} is not fitted yet; call rec.fit(interactions) first"
            )

    # -- training --------------------------------------------------------------------
    def fit(
        self,
        interactions: Any,
        *,
        user_col: str = "user",
        item_col: str = "item",
        weight_col: str | None = "weight",
        users: Sequence[Any] | None = None,
        items: Sequence[Any] | None = None,
        user_metadata: Any = None,
        item_metadata: Any = None,
        progress: bool | None = None,
    ) -> Recommender:
        """Train on ``interactions`` and (re)write every user and item vector in one new space.

        ``interactions``: a DataFrame with ``user_col``, ``item_col`` and optional
        ``weight_col`` (weight 1 when absent; duplicates add up), an iterable of
        ``(user, item[, weight])`` tuples, or a scipy sparse users x items matrix with
        ``users=`` and ``items=`` id lists. ``item_metadata`` / ``user_metadata``: a mapping
        ``{id: {...}}`` or a DataFrame (the id in ``item_col`` / ``user_col`` or the index).
        Users and items of an earlier fit that are not in this one are deleted.
        """
        from omnivec.encoders.collaborative import interactions_from

        inter = interactions_from(
            interactions,
            user_col=user_col,
            item_col=item_col,
            weight_col=weight_col,
            users=users,
            items=items,
        )
        umeta = _metadata_rows(user_metadata, inter.user_ids, user_col, "user")
        imeta = _metadata_rows(item_metadata, inter.item_ids, item_col, "item")
        for row in umeta:
            if SEEN in row or SEEN_WEIGHTS in row:
                raise InvalidInputError(
                    f"user metadata keys {SEEN!r} and {SEEN_WEIGHTS!r} are the recommender's own; rename them"
                )
        for n in range(len(inter.user_ids)):
            seen, weights = inter.seen(n)
            umeta[n] = {**umeta[n], SEEN: seen, SEEN_WEIGHTS: weights}
        with self._lock:
            t0 = time.perf_counter()
            result = self._encoder.train(inter, progress=progress)
            t1 = time.perf_counter()
            space = self._encoder.space
            self._rewrite(self.users, inter.user_keys, result.users.vectors, umeta)
            self._rewrite(self.items, inter.item_keys, result.items.vectors, imeta)
            # The new space is recorded once both collections hold the new vectors.
            self.users._record_space(space)
            self.items._record_space(space)
            self._doc.update(
                fitted=True,
                space=space.to_dict(),
                state=self._encoder.state_dict(),
                config=self._encoder.config(),
                fitted_at=time.time(),
            )
            self._store.put_doc(_DOC + self.name, self._doc)
            #: Seconds spent training (implicit) and writing the vectors (store) in the last fit.
            self.last_fit = {"train": t1 - t0, "index": time.perf_counter() - t1}
            logger.info(
                "recommender %r: trained in %.2fs, indexed %d users and %d items in %.2fs",
                self.name,
                t1 - t0,
                len(inter.user_ids),
                len(inter.item_ids),
                time.perf_counter() - t1,
            )
        return self

    def _rewrite(
        self, col: Collection, keys: list[str], vectors: np.ndarray, meta: list[dict[str, Any]]
    ) -> None:
        # A first fit writes into empty collections: skip listing their (no) keys.
        old = set(self._store.keys(col.name)) if self._store.count(col.name) else set()
        self._store.upsert(col.name, keys, vectors, meta)
        stale = sorted(old - set(keys))
        if stale:
            self._store.delete(col.name, stale)

    def _load_factors(self, modality: str) -> tuple[list[Any], np.ndarray]:
        """Every stored vector of one modality (the encoder's loader after a reopen)."""
        col = self.users if modality == "user" else self.items
        keys = self._store.keys(col.name)
        rows = self._store.get(col.name, keys)
        vectors = (
            np.stack([rows[k].vector for k in keys])
            if keys
            else np.empty((0, self.space.dim), np.float32)
        )
        return [decode_id(k) for k in keys], vectors

    def partial_fit(
        self,
        interactions: Any,
        *,
        user_col: str = "user",
        item_col: str = "item",
        weight_col: str | None = "weight",
        replace: bool = False,
    ) -> Recommender:
        """Update the vectors of the users in ``interactions`` only (item vectors stay fixed).

        Each listed user's history becomes their stored history plus these interactions
        (weights add up), or only these with ``replace=True``; their vectors are recomputed
        from it (ALS: implicit's ``recalculate_user``; BPR: the encoder's fold-in) and only
        their rows are rewritten. New users are added. Items the model does not know are
        ignored (logged): re-fit to learn new items. The space does not change.
        """
        from omnivec.encoders.collaborative import interactions_from

        self._require_fitted()
        inter = interactions_from(
            interactions, user_col=user_col, item_col=item_col, weight_col=weight_col
        )
        with self._lock:
            stored = self._store.get(self.users.name, inter.user_keys)
            histories = []
            for n, key in enumerate(inter.user_keys):
                merged: dict[str, float] = {}
                row = stored.get(key)
                if row is not None and not replace:
                    for item, w in zip(
                        row.metadata.get(SEEN, []), row.metadata.get(SEEN_WEIGHTS, []), strict=False
                    ):
                        merged[encode_id(item)] = float(w)
                items, weights = inter.seen(n)
                for item, w in zip(items, weights, strict=True):
                    k = encode_id(item)
                    merged[k] = merged.get(k, 0.0) + float(w)
                histories.append(merged)
            vectors, kept = self._fold_in(histories)
            meta = []
            for key, hist in zip(inter.user_keys, kept, strict=True):
                row = stored.get(key)
                base = {
                    k: v
                    for k, v in (row.metadata if row else {}).items()
                    if k not in (SEEN, SEEN_WEIGHTS)
                }
                meta.append(
                    {**base, SEEN: [decode_id(k) for k in hist], SEEN_WEIGHTS: list(hist.values())}
                )
            self._store.upsert(self.users.name, inter.user_keys, vectors, meta)
            self._encoder.update_users(inter.user_keys, vectors)
        return self

    def _fold_in(
        self, histories: list[dict[str, float]]
    ) -> tuple[np.ndarray, list[dict[str, float]]]:
        """User vectors from ``{item key: weight}`` histories, with the histories restricted
        to items the model knows. Returns float32 ``(n, dim)`` and those histories."""
        import scipy.sparse as sp

        enc = self._encoder
        n_items = len(enc.ids("item"))
        indptr: list[int] = [0]
        cols: list[int] = []
        vals: list[float] = []
        kept: list[dict[str, float]] = []
        unknown = 0
        for hist in histories:
            keys = list(hist)
            rows = enc.rows(keys, "item")
            known = {k: hist[k] for k, r in zip(keys, rows, strict=True) if r is not None}
            unknown += len(keys) - len(known)
            cols.extend(r for r in rows if r is not None)
            vals.extend(known.values())
            indptr.append(len(cols))
            kept.append(known)
        if unknown:
            logger.warning(
                "recommender %r: ignored %d interactions with items the model does not know; "
                "re-fit to learn new items",
                self.name,
                unknown,
            )
        matrix = sp.csr_matrix(
            (
                np.asarray(vals, np.float32),
                np.asarray(cols, np.int64),
                np.asarray(indptr, np.int64),
            ),
            shape=(len(histories), n_items),
        )
        matrix.sum_duplicates()
        return enc.fold_in(matrix), kept

    # -- queries ---------------------------------------------------------------------
    @overload
    def recommend(
        self,
        user: list[Any] | tuple[Any, ...],
        k: int = 10,
        *,
        exclude_seen: bool = True,
        where: str | None = None,
        interactions: Sequence[Any] | None = None,
    ) -> list[list[Hit]]: ...

    @overload
    def recommend(
        self,
        user: str | int,
        k: int = 10,
        *,
        exclude_seen: bool = True,
        where: str | None = None,
        interactions: Sequence[Any] | None = None,
    ) -> list[Hit]: ...

    def recommend(
        self,
        user: Any,
        k: int = 10,
        *,
        exclude_seen: bool = True,
        where: str | None = None,
        interactions: Sequence[Any] | None = None,
    ) -> list[Hit] | list[list[Hit]]:
        """Top-``k`` items for a user (``list[Hit]``) or a list of users (``list[list[Hit]]``,
        from one store search), best first; ``Hit.score`` is implicit's score ``user · item``.

        ``exclude_seen`` leaves out the user's training items (over-fetching ``k`` + the number
        of seen items, so up to ``k`` unseen items come back unless a user has seen more than
        16,384 - ``k``). ``where`` filters items by metadata. An unknown user raises
        :class:`NotFoundError` unless ``interactions=[(item, weight), ...]`` (or bare item ids)
        are given: the user is then folded in from them (not stored); for a known user they
        replace the stored history for this query.
        """
        k = check_k(k)
        where = _check_where(where)
        self._require_fitted()
        batched = isinstance(user, list | tuple)
        users = check_batch(user, "users") if batched else [user]
        keys = encode_ids(users, unique=False)
        if interactions is not None:
            if batched:
                raise InvalidInputError("interactions= folds in one user; pass a single user id")
            history = _history(interactions)
            vectors, kept = self._fold_in([history])
            if not kept[0]:
                raise NotFoundError(
                    f"none of the items in interactions= is in recommender {self.name!r}; "
                    "pass items it was fitted on"
                )
            seens = [set(kept[0])]
        else:
            rows = self._store.get(self.users.name, sorted(set(keys)))
            missing = [u for u, key in zip(users, keys, strict=True) if key not in rows]
            if missing:
                raise NotFoundError(
                    f"user {missing[0]!r} is not in recommender {self.name!r}"
                    + (f" (and {len(missing) - 1} more)" if len(missing) > 1 else "")
                    + "; fit with it, or pass interactions=[(item, weight), ...] to fold it in"
                )
            vectors = np.stack([rows[key].vector for key in keys])
            seens = [{encode_id(i) for i in rows[key].metadata.get(SEEN, [])} for key in keys]
        result = self._search_items(vectors, k, where, seens if exclude_seen else None)
        return result if batched else result[0]

    def _search_items(
        self, vectors: np.ndarray, k: int, where: str | None, seens: list[set[str]] | None
    ) -> list[list[Hit]]:
        extra = max((len(s) for s in seens), default=0) if seens else 0
        fetch = min(k + extra, MAX_K)
        raw = self._store.search(
            self.items.name, np.ascontiguousarray(vectors, np.float32), fetch, where=where
        )
        out = []
        for i, row in enumerate(raw):
            skip = seens[i] if seens else set()
            out.append(
                [Hit(decode_id(h.key), h.score, h.metadata) for h in row if h.key not in skip][:k]
            )
        return out

    def similar_items(self, item: Any, k: int = 10, *, where: str | None = None) -> list[Hit]:
        """Items nearest to ``item`` by inner product, itself left out: the same query as
        ``rec.items.search(ov.ref(item), k=k)``."""
        self._require_fitted()
        return self.items.search(ref(item), k=k, where=where)  # type: ignore[return-value]

    def similar_users(self, user: Any, k: int = 10, *, where: str | None = None) -> list[Hit]:
        """Users nearest to ``user`` by inner product, itself left out."""
        self._require_fitted()
        return self.users.search(ref(user), k=k, where=where)  # type: ignore[return-value]


def _history(interactions: Any) -> dict[str, float]:
    """``{item key: summed weight}`` from ``[(item, weight), ...]`` or ``[item, ...]``."""
    rows = check_batch(interactions, "interactions")
    out: dict[str, float] = {}
    for n, row in enumerate(rows):
        if isinstance(row, tuple | list):
            if len(row) != 2:
                raise InvalidInputError(
                    f"interaction {n} is {row!r}; pass (item, weight) or an item id"
                )
            item, weight = row
        else:
            item, weight = row, 1.0
        if (
            isinstance(weight, bool)
            or not isinstance(weight, int | float | np.number)
            or not np.isfinite(weight)
        ):
            raise InvalidInputError(f"interaction {n} has weight {weight!r}; pass a finite number")
        key = encode_id(item)
        out[key] = out.get(key, 0.0) + float(weight)
    return {k: w for k, w in out.items() if w != 0}


def _metadata_rows(source: Any, ids: list[Any], id_col: str, what: str) -> list[dict[str, Any]]:
    """One metadata dict per id from ``{id: {...}}`` or a DataFrame (ids in ``id_col`` or the
    index); ids without an entry get ``{}``. Validated like any collection metadata."""
    if source is None:
        return [{} for _ in ids]
    if hasattr(source, "columns") and hasattr(source, "to_dict"):
        frame = source.set_index(id_col) if id_col in source.columns else source
        if not frame.index.is_unique:
            raise InvalidInputError(f"{what} metadata has duplicate ids; pass one row per {what}")
        # Missing cells (NaN) are left out rather than refused as non-finite numbers.
        mapping: Mapping[Any, Any] = {
            (i.item() if isinstance(i, np.generic) else i): {
                c: v for c, v in row.items() if not (isinstance(v, float) and v != v)
            }
            for i, row in frame.to_dict(orient="index").items()
        }
    elif isinstance(source, Mapping):
        mapping = source
    else:
        raise InvalidInputError(
            f"{what}_metadata must be a mapping {{id: {{...}}}} or a DataFrame, got {type(source).__name__}"
        )
    by_key = {encode_id(i): v for i, v in mapping.items()}
    return check_metadata([by_key.get(encode_id(i)) for i in ids], len(ids))

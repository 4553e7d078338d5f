"""Recommenders: implicit ALS / BPR factors in two collections (users, items) of one space.

``plat.recommender("movies", algorithm="als", factors=64)`` owns two collections,
``movies__users`` and ``movies__items``, whose vectors share one ``ip`` space, so that

* ``rec.recommend(user)`` is a search of the user's vector over the item vectors,
* ``rec.items.search(ov.ref(user, collection=rec.users.name))`` is the same query, unified,
* ``rec.similar_items(item)`` / ``rec.similar_users(user)`` are ``ov.ref`` searches in a
  collection (inner product, the query itself left out).

What persists (nothing is refitted on reopen): the vectors in the two collections; each
user's training items and weights in the side collection ``movies__seen``
(:mod:`omnivec.recs.seen`; never in a user row's metadata, so never in a hit); the
hyper-parameters and the space in the catalog record ``recommender:<name>``.

``fit`` and ``partial_fit`` compute first and commit after: the model trains (or folds users
in) without changing anything, the store writes go through an undo log
(:class:`omnivec.recs.commit.Rewrite`) and the catalog records the new space last; only then
do the encoder, the collections' records and the in-memory snapshot take the new state. A
failure anywhere before leaves every stored row and every in-memory structure as it was.

``recommend`` answers from an in-memory snapshot (:mod:`omnivec.recs.snapshot`): built by
``fit`` / ``partial_fit`` from what they wrote, read in bulk on the first ``recommend`` after a
reopen, dropped on writes through ``rec.users`` / ``rec.items``, and skipped (store path) for
models above :data:`SNAPSHOT_MAX_FLOATS`. With ``where`` the store searches. Another *process*
sharing a Milvus server is not seen: call :meth:`Recommender.refresh` after it writes.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, overload

import numpy as np

from omnivec.core.ids import decode_id, encode_id, encode_ids
from omnivec.core.interactions import FactorModel, TrainedFactors, interactions_from
from omnivec.core.queries import Hit, ref
from omnivec.core.space import Space
from omnivec.core.validation import MAX_K, check_batch, check_k, check_where
from omnivec.errors import InvalidInputError, NotFoundError, StoreError
from omnivec.platform.catalog import RecommenderRecord
from omnivec.recs.coldstart import place_cold_items
from omnivec.recs.collection import RecommenderCollection
from omnivec.recs.commit import UndoFailed, write_fit, write_users
from omnivec.recs.interactions import (
    fold_in_matrix,
    history_of,
    merge_histories,
    metadata_rows,
)
from omnivec.recs.opening import ALGORITHMS, drop_parts, open_parts
from omnivec.recs.seen import SEEN, SEEN_WEIGHTS, SeenHistories
from omnivec.recs.snapshot import Snapshot, read_snapshot

if TYPE_CHECKING:
    from omnivec.platform.recommending import RecommenderHost

__all__ = ["ALGORITHMS", "LAYER", "SNAPSHOT_MAX_FLOATS", "Layer", "Recommender"]

logger = logging.getLogger(__name__)

#: Largest snapshot, in float32 values (user + item factors + seen entries): 64M = 256 MiB.
#: Bigger models answer every recommend from the store instead.
SNAPSHOT_MAX_FLOATS = 64 * 2**20


class Recommender:
    """A collaborative-filtering recommender over two store collections. Get one with
    :meth:`omnivec.Platform.recommender`; do not construct it directly.

    ``recommend`` answers from an in-memory snapshot of the learned state (see the module
    docstring); with a Milvus server shared by several processes, call :meth:`refresh` to
    see another process's ``fit`` / ``partial_fit``."""

    def __init__(
        self,
        host: RecommenderHost,
        name: str,
        doc: RecommenderRecord,
        encoder: FactorModel,
        users: RecommenderCollection,
        items: RecommenderCollection,
    ) -> None:
        self._host = host
        self._store = host.store
        self.name = name
        self._doc = doc
        self._encoder = encoder
        self.users = users
        self.items = items
        self._lock = threading.RLock()
        self.last_fit: dict[str, float] = {}
        #: Set when a failed fit could not undo its writes: reads refuse until a fit succeeds.
        self._damaged: str | None = None
        encoder.set_loader(self._load_factors)
        #: The in-memory snapshot (None: not built yet, or dropped).
        self._snapshot: Snapshot | None = None
        #: The fingerprint whose snapshot was too big (store path until the space changes).
        self._snapshot_skip: str | None = None
        #: Bumped whenever the snapshot is dropped: a bulk read that overlapped a write
        #: through ``rec.users`` / ``rec.items`` is then not kept.
        self._snapshot_generation = 0
        #: The snapshot size cap in float32 values; 0 turns the snapshot off.
        self.snapshot_max_floats = SNAPSHOT_MAX_FLOATS
        for col in (users, items):
            col.on_write = self._forget_snapshot

    @property
    def _seen(self) -> SeenHistories:
        return SeenHistories(self._store, self._doc.options.get("seen"), self.users.name)

    # -- identity --------------------------------------------------------------------
    @property
    def algorithm(self) -> str:
        return self._doc.algorithm

    @property
    def encoder(self) -> FactorModel:
        return self._encoder

    @property
    def space(self) -> Space:
        return self._doc.space

    @property
    def fitted(self) -> bool:
        return self._doc.fitted

    def config(self) -> dict[str, Any]:
        return dict(self._doc.config)

    def info(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "algorithm": self.algorithm,
            "config": self.config(),
            "space": self._doc.space.to_dict(),
            "fitted": self.fitted,
            "users": self.users.name,
            "items": self.items.name,
            "n_users": len(self.users),
            "n_items": len(self.items),
        }

    def __repr__(self) -> str:
        return f"Recommender({self.name!r}, {self.algorithm}, {self.space.describe()})"

    def _require_fitted(self) -> None:
        if self._damaged is not None:
            raise StoreError(self._damaged)
        if self._doc.fitting is not None and not self._doc.fitting.running_here():
            raise StoreError(
                f"recommender {self.name!r}: a fit stopped while writing its vectors, so users "
                "and items may mix two fits; call rec.fit(interactions) again (or drop it)"
            )
        if not self.fitted:
            raise InvalidInputError(
                f"recommender {self.name!r} is not fitted yet; call rec.fit(interactions) first"
            )

    def history(self, user: Any) -> dict[Any, float]:
        """The items ``user`` interacted with and their summed weights, as the last ``fit``
        or ``partial_fit`` stored them: ``{item id: weight}``."""
        self._require_fitted()
        key = encode_id(user)
        rows = None if self._seen.apart else self._store.get(self.users.name, [key])
        found, _ = self._seen.read([key], rows)
        if key not in found:
            self._missing([user])
        return {decode_id(k): w for k, w in found[key].items()}

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
        Users and items of an earlier fit that are not in this one are deleted. If it fails
        (training or the store), every stored row and in-memory structure stays as it was.
        """
        inter = interactions_from(
            interactions,
            user_col=user_col,
            item_col=item_col,
            weight_col=weight_col,
            users=users,
            items=items,
        )
        umeta = metadata_rows(user_metadata, inter.user_ids, user_col, "user")
        imeta = metadata_rows(item_metadata, inter.item_ids, item_col, "item")
        for row in umeta:
            if SEEN in row or SEEN_WEIGHTS in row:
                raise InvalidInputError(
                    f"user metadata keys {SEEN!r} and {SEEN_WEIGHTS!r} are the recommender's own; rename them"
                )
        with self._lock:
            t0 = time.perf_counter()
            # Compute first: the encoder is unchanged until the commit below succeeded.
            trained = self._encoder.train(inter, progress=progress)
            content = self._doc.options.get("item_content")
            if content:
                trained, imeta = self._place_cold(trained, imeta, str(content))
            t1 = time.perf_counter()
            self._commit_fit(trained, umeta, imeta)
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

    def _place_cold(
        self, trained: TrainedFactors, imeta: list[dict[str, Any]], content: str
    ) -> tuple[TrainedFactors, list[dict[str, Any]]]:
        """Items of the linked content collection that nobody interacted with, placed in
        this recommender's space through a map learned on the items that have both."""
        col = self._host.existing_collection(content)
        ids, vectors = col.vectors()
        trained, imeta, report = place_cold_items(trained, ids, vectors, imeta, content)
        self.cold_start = report
        logger.info(
            "recommender %r: %d cold items placed from %r (%s map learned on %d items, "
            "ridge alpha %g, 5-fold check %s)",
            self.name,
            len(report.cold),
            content,
            report.method,
            report.warm,
            report.alpha,
            report.checked,
        )
        return trained, imeta

    def _commit_fit(
        self, trained: TrainedFactors, umeta: list[dict[str, Any]], imeta: list[dict[str, Any]]
    ) -> None:
        """Store a training run (rows, then the catalog), then take it in memory."""
        cols = {col.name: col for col in (self.users, self.items)}
        try:
            doc, records = write_fit(
                self._store,
                # The commit writes this recommender's own records (its collections' and its
                # own) through the host, which keeps the catalog.
                self._host,
                self.name,
                self._doc,
                {name: col.record for name, col in cols.items()},
                trained,
                umeta,
                imeta,
            )
        except UndoFailed as exc:
            self._damage(str(exc))
            raise
        # In memory, after everything stands (nothing here touches the store).
        self._encoder.adopt(trained)
        for name, record in records.items():
            cols[name].install(record)
        self._doc = doc
        self._damaged = None
        self._forget_snapshot()
        inter = trained.interactions
        # The snapshot comes straight from what was just written: no store read.
        if self._snapshot_fits(len(inter.user_ids), len(inter.item_ids), inter.nnz):
            self._snapshot = Snapshot.build(
                trained.space.fingerprint,
                inter.item_keys,
                imeta,
                trained.items.vectors,
                inter.user_keys,
                trained.users.vectors,
                inter.matrix.indptr,
                inter.matrix.indices,
            )

    def _damage(self, message: str) -> None:
        """A failed write could not be undone: refuse reads until a fit succeeds."""
        self._damaged = message
        self._forget_snapshot()

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
        ignored (logged): re-fit to learn new items. The space does not change. If it fails,
        every stored row and in-memory structure stays as it was.
        """
        self._require_fitted()
        inter = interactions_from(
            interactions, user_col=user_col, item_col=item_col, weight_col=weight_col
        )
        with self._lock:
            keys = inter.user_keys
            seen = self._seen
            stored = self._store.get(self.users.name, keys)
            old, chunks = seen.read(keys, stored)
            histories = merge_histories(inter, {} if replace else old)
            vectors, kept = self._fold_in(histories)  # compute: nothing changes yet
            try:
                write_users(self._store, seen, self.name, keys, vectors, kept, stored, chunks)
            except UndoFailed as exc:
                self._damage(str(exc))
                raise
            # In memory, after the store took it.
            self._encoder.update_users(keys, vectors)
            snap = self._snapshot
            if snap is not None:
                self._snapshot = snap.with_users(
                    keys, vectors, [snap.item_rows(list(h)) for h in kept]
                )
        return self

    def _fold_in(
        self, histories: list[dict[str, float]]
    ) -> tuple[np.ndarray, list[dict[str, float]]]:
        """User vectors from ``{item key: weight}`` histories, with the histories restricted
        to items the model knows. Returns float32 ``(n, dim)`` and those histories."""
        enc = self._encoder
        matrix, kept, unknown = fold_in_matrix(
            histories, lambda keys: enc.rows(keys, "item"), len(enc.ids("item"))
        )
        if unknown:
            logger.warning(
                "recommender %r: ignored %d interactions with items the model does not know; "
                "re-fit to learn new items",
                self.name,
                unknown,
            )
        return enc.fold_in(matrix), kept

    # -- the in-memory snapshot ---------------------------------------------------------
    def refresh(self) -> Recommender:
        """Re-read this recommender's state from the store and drop every in-memory copy of
        it (the snapshot and the encoder's cached vectors); the next ``recommend`` reads them
        in bulk again.

        Needed only when another *process* writes the same recommender on a shared Milvus
        server (its ``fit`` or ``partial_fit``): writes through this object, or through
        ``rec.users`` / ``rec.items``, are seen without it."""
        with self._lock:
            doc = self._host.recommender_record(self.name)
            if doc is None:
                raise NotFoundError(
                    f"recommender {self.name!r} is no longer in the store; "
                    "it was dropped: create and fit it again"
                )
            for col in (self.users, self.items):
                col.reload_record()
            self._doc = doc
            self._encoder.load_state_dict(doc.state)
            self._forget_snapshot()
        return self

    def _forget_snapshot(self) -> None:
        self._snapshot_generation += 1
        self._snapshot = None
        self._snapshot_skip = None

    def _snapshot_fits(self, n_users: int, n_items: int, nnz: int) -> bool:
        size = Snapshot.size(n_users, n_items, self.space.dim, nnz)
        if size <= self.snapshot_max_floats:
            return True
        self._snapshot_skip = self.space.fingerprint
        logger.info(
            "recommender %r: %d values exceed the snapshot cap of %d; recommending from the store",
            self.name,
            size,
            self.snapshot_max_floats,
        )
        return False

    def _current_snapshot(self) -> Snapshot | None:
        """The snapshot of the recorded space, read from the store in bulk if not built yet;
        None when it is over the size cap (the store answers)."""
        fingerprint = self._doc.space.fingerprint
        snap = self._snapshot
        if snap is not None and snap.fingerprint == fingerprint:
            return snap
        if self._snapshot_skip == fingerprint or not self.fitted:
            return None
        with self._lock:
            snap = self._snapshot
            if snap is not None and snap.fingerprint == fingerprint:
                return snap
            if self._snapshot_skip == fingerprint:
                return None
            generation = self._snapshot_generation
            snap = self._load_snapshot(fingerprint)
            if generation != self._snapshot_generation:
                return None  # written to meanwhile: the store answers this call
            self._snapshot = snap
            return snap

    def _load_snapshot(self, fingerprint: str) -> Snapshot | None:
        """One bulk pass over each collection (ids, vectors, metadata) and the histories."""
        t0 = time.perf_counter()
        n_users, n_items = self._store.count(self.users.name), self._store.count(self.items.name)
        if not self._snapshot_fits(n_users, n_items, 0):
            return None
        seen = self._seen
        snap, item_factors, user_factors = read_snapshot(
            self._store,
            self.users.name,
            self.items.name,
            lambda rows: seen.all_items(None if seen.apart else rows),
            fingerprint,
            self.space.dim,
            lambda nnz: self._snapshot_fits(n_users, n_items, nnz),
        )
        if snap is None:
            return None
        if self._encoder.space.fingerprint == fingerprint:
            # Fold-in needs the item vectors too: hand them over rather than read them again.
            # (The writable arrays behind the snapshot's read-only views: implicit's Cython
            # code refuses read-only buffers. Neither side writes them in place.)
            self._encoder.provide("item", snap.item_ids, item_factors)
            self._encoder.provide("user", [decode_id(k) for k in snap.user_row], user_factors)
        logger.info(
            "recommender %r: loaded a snapshot of %d users and %d items in %.2fs",
            self.name,
            len(snap.user_row),
            len(snap.item_keys),
            time.perf_counter() - t0,
        )
        return snap

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
        """Top-``k`` items for a user (``list[Hit]``) or a list of users (``list[list[Hit]]``),
        best first; ``Hit.score`` is implicit's score ``user · item``.

        The answer comes from the in-memory snapshot: exact inner products (numpy; a list
        of users is one matrix multiply per 16M scores, so 1,000 users x 10k items is one),
        the same hits and scores as the store's FLAT search; a ``where`` is one listing of
        the items it matches, which then mask the scores. For a model over the snapshot cap
        a list of users is one store search.

        ``exclude_seen`` leaves out the user's training items (the store path over-fetches
        ``k`` + the number of seen items, so up to ``k`` unseen items come back unless a user
        has seen more than 16,384 - ``k``). ``where`` filters items by metadata. An unknown user raises
        :class:`NotFoundError` unless ``interactions=[(item, weight), ...]`` (or bare item ids)
        are given: the user is then folded in from them (not stored); for a known user they
        replace the stored history for this query.
        """
        k = check_k(k)
        where = check_where(where)
        self._require_fitted()
        batched = isinstance(user, list | tuple)
        users = check_batch(user, "users") if batched else [user]
        keys = encode_ids(users, unique=False)
        snap = self._current_snapshot()
        if interactions is not None:
            if batched:
                raise InvalidInputError("interactions= folds in one user; pass a single user id")
            history = history_of(interactions)
            vectors, kept = self._fold_in([history])
            if not kept[0]:
                raise NotFoundError(
                    f"none of the items in interactions= is in recommender {self.name!r}; "
                    "pass items it was fitted on"
                )
            if snap is not None:
                seen = snap.item_rows(list(kept[0])) if exclude_seen else None
                return snap.rank_one(vectors[0], seen, k, self._allowed(snap, where))
            seens = [set(kept[0])]
        elif snap is not None:
            index = snap.user_row
            found = [index.get(key) for key in keys]
            if None in found:
                self._missing([u for u, r in zip(users, found, strict=True) if r is None])
            rows = [int(r) for r in found if r is not None]
            # In memory: exact inner products against the snapshot; a where is one listing
            # of the items it matches (then masked), not a filtered search per user.
            allowed = self._allowed(snap, where)
            if not batched:
                row = rows[0]
                seen = snap.seen(row) if exclude_seen else None
                return snap.rank_one(snap.user_factors[row], seen, k, allowed)
            seens_rows = [snap.seen(r) for r in rows] if exclude_seen else None
            return snap.rank_many(snap.user_factors[rows], seens_rows, k, allowed)
        else:
            unique = sorted(set(keys))
            stored = self._store.get(self.users.name, unique)
            self._missing([u for u, key in zip(users, keys, strict=True) if key not in stored])
            # One more round trip for the histories (none for round-1 files: in the user rows).
            hists = self._seen.read(unique, stored)[0] if exclude_seen else {}
            vectors = np.stack([stored[key].vector for key in keys])
            seens = [set(hists.get(key, ())) for key in keys]
        result = self._search_items(vectors, k, where, seens if exclude_seen else None)
        return result if batched else result[0]

    def _allowed(self, snap: Snapshot, where: str | None) -> np.ndarray | None:
        """The snapshot's items that ``where`` matches (a bool mask), or None for no filter."""
        if where is None:
            return None
        return snap.allowed(self._store.keys(self.items.name, where=where))

    def _missing(self, missing: list[Any]) -> None:
        if missing:
            raise NotFoundError(
                f"user {missing[0]!r} is not in recommender {self.name!r}"
                + (f" (and {len(missing) - 1} more)" if len(missing) > 1 else "")
                + "; fit with it, or pass interactions=[(item, weight), ...] to fold it in"
            )

    def _search_items(
        self, vectors: np.ndarray, k: int, where: str | None, seens: list[set[str]] | None
    ) -> list[list[Hit]]:
        extra = max((len(s) for s in seens), default=0) if seens else 0
        fetch = min(k + extra, MAX_K)
        raw = self._store.search(
            self.items.name,
            np.ascontiguousarray(vectors, np.float32),
            fetch,
            where=where,
            metric=self.space.metric,
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


class Layer:
    """This layer as the platform sees it (:class:`omnivec.platform.recommending.RecommenderLayer`):
    :data:`LAYER` is the ``omnivec.recommenders`` entry point through which
    :meth:`omnivec.Platform.recommender` and :meth:`omnivec.Platform.drop` reach it."""

    def open(
        self, host: RecommenderHost, name: str, algorithm: str | None, config: dict[str, Any]
    ) -> Recommender:
        """Open (or create, or finish creating) recommender ``name``."""
        parts = open_parts(host, name, algorithm, config)
        return Recommender(host, name, parts.doc, parts.encoder, parts.users, parts.items)

    def drop(self, host: RecommenderHost, name: str) -> bool:
        """Delete recommender ``name`` and its collections (False if there is none)."""
        return drop_parts(host, name)


LAYER = Layer()

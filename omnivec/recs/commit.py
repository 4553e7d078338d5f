"""Store writes that all stand or are all undone: the commit step of ``fit`` / ``partial_fit``.

A recommender's fit writes several collections (users, items, seen histories) and catalog
records; the store makes each single ``upsert`` all or nothing, but not the set. A
:class:`Rewrite` reads what each write replaces before it writes, and :meth:`Rewrite.undo`
puts all of it back (newest first) when a later step fails.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable, Collection, Sequence
from functools import partial
from typing import TYPE_CHECKING, Any

import numpy as np

from omnivec.core.ids import decode_id
from omnivec.core.interactions import TrainedFactors
from omnivec.errors import InvalidInputError, StoreError
from omnivec.platform.catalog import CollectionRecord, FitMarker, RecommenderRecord
from omnivec.platform.recommending import RecordKeeper
from omnivec.recs.seen import SEEN, SEEN_WEIGHTS, SUFFIX, SeenHistories, strip_legacy

if TYPE_CHECKING:
    from omnivec.stores.base import StoredRow, VectorStore

__all__ = ["Rewrite", "UndoFailed", "undo_or_raise", "write_fit", "write_users"]

logger = logging.getLogger(__name__)


class Rewrite:
    """An undo log over a store. Each method registers its undo *before* it writes (a write
    that failed halfway is then undone too; restoring rows that did not change is harmless)."""

    def __init__(self, store: VectorStore) -> None:
        self._store = store
        self._undo: list[Callable[[], None]] = []

    def on_undo(self, fn: Callable[[], None]) -> None:
        """Run ``fn`` on :meth:`undo` (before the undos registered earlier)."""
        self._undo.append(fn)

    def create(self, name: str, dim: int, metric: str) -> None:
        """Create a collection (dropped again on undo)."""
        self._undo.append(partial(self._store.drop_collection, name))
        self._store.create_collection(name, dim, metric, index="flat")

    def upsert(
        self,
        name: str,
        keys: Sequence[str],
        vectors: np.ndarray,
        metadata: Sequence[dict[str, Any]],
        old: dict[str, StoredRow] | None = None,
    ) -> None:
        """Write rows; ``old`` are the rows they replace (read here when not given)."""
        if not len(keys):
            return
        if old is None:
            old = self._store.get(name, keys)
        self._undo.append(partial(self._restore, name, list(keys), old))
        self._store.upsert(name, keys, vectors, metadata)

    def delete(
        self, name: str, keys: Sequence[str], old: dict[str, StoredRow] | None = None
    ) -> None:
        """Delete rows; ``old`` holds them (read here when not given)."""
        if not len(keys):
            return
        if old is None:
            old = self._store.get(name, keys)
        gone = {k: old[k] for k in keys if k in old}
        self._undo.append(partial(self._restore, name, [], gone))
        self._store.delete(name, keys)

    def replace_all(
        self,
        name: str,
        keys: Sequence[str],
        vectors: np.ndarray,
        metadata: Sequence[dict[str, Any]],
        keep: Collection[str] = (),
    ) -> None:
        """Make ``keys`` the collection's rows: write them, delete every other row (but
        ``keep``). A first write into an empty collection reads nothing."""
        old = self._store.rows(name) if self._store.count(name) else {}
        self.upsert(name, keys, vectors, metadata, old=old)
        stale = sorted(set(old) - set(keys) - set(keep))
        self.delete(name, stale, old=old)

    def undo(self) -> None:
        """Put back everything written, newest first. Stops at (and raises) the first undo
        that fails: what was registered before it (e.g. clearing a fit marker) stays undone
        no further, so that a half-restored state is still marked."""
        while self._undo:
            fn = self._undo.pop()
            try:
                fn()
            except Exception:
                logger.exception("omnivec: undoing a recommender write failed")
                raise

    def _restore(self, name: str, written: list[str], old: dict[str, StoredRow]) -> None:
        new = [k for k in written if k not in old]
        if new:
            self._store.delete(name, new)
        if old:
            rows = list(old.values())
            self._store.upsert(
                name,
                [r.key for r in rows],
                np.stack([r.vector for r in rows]),
                [r.metadata for r in rows],
            )


class UndoFailed(StoreError):
    """A failed write whose undo failed too: what is stored may mix old and new rows."""


def undo_or_raise(rewrite: Rewrite, what: str, exc: BaseException) -> None:
    """Undo a failed commit; if that fails too, raise :class:`UndoFailed` saying so."""
    try:
        rewrite.undo()
    except Exception as undo_exc:
        raise UndoFailed(
            f"{what} failed ({type(exc).__name__}: {exc}) and undoing its writes failed too "
            f"({type(undo_exc).__name__}: {undo_exc}), so users and items may mix two fits; "
            "call rec.fit(interactions) again (or drop it)"
        ) from undo_exc


def write_fit(
    store: VectorStore,
    catalog: RecordKeeper,
    name: str,
    doc: RecommenderRecord,
    records: dict[str, CollectionRecord],
    trained: TrainedFactors,
    umeta: list[dict[str, Any]],
    imeta: list[dict[str, Any]],
) -> tuple[RecommenderRecord, dict[str, CollectionRecord]]:
    """Store recommender ``name``'s training run: fit markers in the catalog, every user,
    item and seen-history row, then the new space in the catalog (the commit). ``records``:
    the current records of its users and items collections (by name). Returns the new
    recommender record and collection records. If anything fails, everything written is
    undone before the error propagates (:class:`UndoFailed` if the undo failed too)."""
    inter, space = trained.interactions, trained.space
    seen_name = doc.options.get("seen") or name + SUFFIX
    new_doc = dataclasses.replace(
        doc,
        fitting=None,
        fitted=True,
        space=space,
        state=trained.state,
        options={**doc.options, "seen": seen_name, "fitted_at": time.time()},
    )
    new_records = {
        coll: dataclasses.replace(rec, space=space, state=trained.state, fitting=None)
        for coll, rec in records.items()
    }
    users, items = doc.users, doc.items
    rewrite = Rewrite(store)

    def restore_catalog() -> None:
        for coll, rec in records.items():
            catalog.save_collection_record(coll, rec)
        catalog.save_recommender_record(name, doc)

    seen = SeenHistories(store, seen_name, users)
    create = "seen" not in doc.options or not store.has_collection(seen_name)
    if create and store.has_collection(seen_name):
        if SeenHistories.owner(store, seen_name) != name:
            raise InvalidInputError(
                f"recommender {name!r} keeps its users' histories in a collection named "
                f"{seen_name!r}, and one by that name that is not its own exists; rename or "
                "drop that collection, then fit again"
            )
        create = False
    marker: FitMarker | None = None
    try:
        # Until the commit, a reopen after a crash refuses the rows (they may mix two fits).
        rewrite.on_undo(restore_catalog)
        marker = FitMarker.start()
        catalog.save_recommender_record(name, dataclasses.replace(doc, fitting=marker))
        for coll, rec in records.items():
            catalog.save_collection_record(coll, dataclasses.replace(rec, fitting=marker))
        rewrite.replace_all(users, inter.user_keys, trained.users.vectors, umeta)
        rewrite.replace_all(items, inter.item_keys, trained.items.vectors, imeta)
        if create:
            seen.create(rewrite, seen_name, name)
        m = inter.matrix
        seen.replace_all(
            rewrite,
            seen_name,
            {
                key: (
                    [inter.item_keys[j] for j in m.indices[m.indptr[n] : m.indptr[n + 1]]],
                    m.data[m.indptr[n] : m.indptr[n + 1]],
                )
                for n, key in enumerate(inter.user_keys)
            },
        )
        # The commit: the new space is recorded once every row is written.
        for coll, rec in new_records.items():
            catalog.save_collection_record(coll, rec)
        catalog.save_recommender_record(name, new_doc)
    except BaseException as exc:
        undo_or_raise(rewrite, f"recommender {name!r}: a fit", exc)
        raise
    finally:
        if marker is not None:
            marker.finish()
    return new_doc, new_records


def write_users(
    store: VectorStore,
    seen: SeenHistories,
    name: str,
    keys: list[str],
    vectors: np.ndarray,
    histories: list[dict[str, float]],
    stored: dict[str, StoredRow],
    chunks: dict[str, int],
) -> None:
    """Store a partial fit of recommender ``name``: the rows of users ``keys`` (``stored``:
    their current rows; their other metadata stays) with ``vectors``, and their new
    ``{item key: weight}`` histories (``chunks``: how many history rows each has now). If
    anything fails, everything written is undone before the error propagates."""
    base = [strip_legacy(stored[k].metadata) if k in stored else {} for k in keys]
    rewrite = Rewrite(store)
    try:
        if seen.apart:
            rewrite.upsert(seen.users, keys, vectors, base, old=stored)
            packed = {
                k: (list(h), np.asarray(list(h.values()), np.float32))
                for k, h in zip(keys, histories, strict=True)
            }
            seen.update(rewrite, packed, chunks)
        else:  # a round-1 recommender keeps its histories in the user rows until a fit
            meta = [
                {**b, SEEN: [decode_id(i) for i in h], SEEN_WEIGHTS: list(h.values())}
                for b, h in zip(base, histories, strict=True)
            ]
            rewrite.upsert(seen.users, keys, vectors, meta, old=stored)
    except BaseException as exc:
        undo_or_raise(rewrite, f"recommender {name!r}: a partial_fit", exc)
        raise

"""Reading a collection's records: ``get``, ``ids``, ``count``, and ``records`` / ``vectors``
in bulk (a seeded sample above ``limit``; from the in-process copy of a Lite collection where
there is one). A helper of :class:`omnivec.platform.collection.Collection`, which holds the
switch gate around every call."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from omnivec.core.ids import decode_id, decode_ids, encode_ids
from omnivec.core.queries import Record
from omnivec.core.space import unit_rows
from omnivec.core.validation import check_batch
from omnivec.errors import NotFoundError
from omnivec.platform import windows
from omnivec.platform.collection_state import CollectionState
from omnivec.stores.base import RowBlock, block_rows

__all__ = ["Reader"]


class Reader:
    """The reads of one collection (see the module docstring); ``where`` filters arrive
    checked."""

    def __init__(self, state: CollectionState) -> None:
        self.state = state

    def get(self, ids: Sequence[Any]) -> list[Record]:
        """See :meth:`omnivec.platform.collection.Collection.get`."""
        state = self.state
        ids = check_batch(ids, "ids")
        keys = encode_ids(ids, unique=False)
        state.check_complete()
        physical = state.physical
        rows = state.store.get(physical, keys)
        missing = [i for i, k in zip(ids, keys, strict=True) if k not in rows]
        if missing:
            raise NotFoundError(
                f"id {missing[0]!r} is not in collection {state.name!r}"
                + (f" (and {len(missing) - 1} more)" if len(missing) > 1 else "")
            )
        if not state.text_options:
            return [Record(decode_id(k), rows[k].vector, rows[k].metadata) for k in keys]
        return windows.to_records(state.store, physical, keys, rows, state.metric)

    def get_present(self, ids: Sequence[Any]) -> list[Record]:
        """The stored records among ``ids`` (unknown ids are left out), in the order asked."""
        keys = encode_ids(check_batch(ids, "ids"), unique=False)
        present = self.state.store.existing(self.state.physical, keys)
        wanted = [i for i, k in zip(ids, keys, strict=True) if k in present]
        return self.get(wanted) if wanted else []

    def ids(self, where: str | None) -> list[Any]:
        state = self.state
        keys = state.store.keys(state.physical, where=state.records_where(where))
        return [decode_id(k) for k in keys]

    def records(self, where: str | None, limit: int | None, seed: int) -> list[Record]:
        """See :meth:`omnivec.platform.collection.Collection.records`."""
        state = self.state
        block = self._scan(state.records_where(where), limit, seed, metadata=True)
        if not state.text_options:
            return [
                Record(decode_id(k), v, m)
                for k, v, m in zip(block.keys, block.vectors, block.metadata, strict=True)
            ]
        rows = block_rows(block)
        return windows.to_records(state.store, state.physical, block.keys, rows, state.metric)

    def vectors(
        self, where: str | None, limit: int | None, seed: int, unit: bool, ordered: bool
    ) -> tuple[list[Any], np.ndarray]:
        """See :meth:`omnivec.platform.collection.Collection.vectors`."""
        state = self.state
        state.check_complete()
        physical = state.physical
        block = state.store.local_rows(physical, unit=unit) if where is None else None
        text = state.text_options
        windowed = text is not None
        if block is not None:
            block, windowed = self._local_block(block, limit, seed, ordered)
        else:
            block = self._scan(state.records_where(where), limit, seed, metadata=False)
        if not len(block):
            return [], np.empty((0, state.dim), np.float32)
        vecs = block.vectors
        if windowed and text is not None and text.record_vector != windows.RECORD_VECTOR:
            # A collection made before round 3: a long text's main row may hold window 0's
            # vector; its record vector is then the mean of its windows' (until reindex).
            long = windows.long_vectors(
                state.store, physical, state.records_where(where), state.metric, block.keys
            )
            if long:
                at = {k: i for i, k in enumerate(block.keys)}
                for key, vec in long.items():
                    vecs[at[key]] = vec
        if unit and not block.unit and state.metric == "cosine":
            vecs = unit_rows(vecs)
        return (block.ids if block.ids is not None else decode_ids(block.keys)), vecs

    def _local_block(
        self, block: RowBlock, limit: int | None, seed: int, ordered: bool
    ) -> tuple[RowBlock, bool]:
        """The main rows of an in-process copy (``block``), sampled and ordered as
        :meth:`_scan` would read them from Milvus; and whether any record has windows."""
        keys, vecs, ids = block.keys, block.vectors, block.ids
        main = windows.main_positions(keys) if self.state.text_options else None
        windowed = main is not None
        if main is not None:
            keys, vecs, ids = [keys[i] for i in main], vecs[main], None
        sample = limit is not None and len(keys) > limit
        if not sample and not ordered:
            return RowBlock(keys, vecs, unit=block.unit, ids=ids), windowed
        order = sorted(range(len(keys)), key=keys.__getitem__)
        if sample:  # the rule of _scan: a seeded choice among the keys in order
            pick = np.random.default_rng(seed).choice(len(keys), size=limit, replace=False)
            order = [order[i] for i in sorted(pick)]
        elif all(i == j for i, j in enumerate(order)):
            return RowBlock(keys, vecs, unit=block.unit, ids=ids), windowed
        picked = [ids[i] for i in order] if ids is not None else None
        return RowBlock(
            [keys[i] for i in order], vecs[order], unit=block.unit, ids=picked
        ), windowed

    def _scan(self, where: str | None, limit: int | None, seed: int, metadata: bool) -> RowBlock:
        """The rows of :meth:`records` / :meth:`vectors` (``where`` already restricted to one
        row per record). A sample is drawn from the sorted keys as before the bulk read, so
        the same seed gives the same sample; then only the sampled rows are read."""
        state = self.state
        state.check_complete()
        physical = state.physical
        if limit is not None:
            keys = sorted(state.store.keys(physical, where=where))
            if len(keys) > limit:
                rng = np.random.default_rng(seed)
                pick = sorted(rng.choice(len(keys), size=limit, replace=False))
                return state.store.scan(physical, keys=[keys[i] for i in pick], metadata=metadata)
        return state.store.scan(physical, where, metadata=metadata)

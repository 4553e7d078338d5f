"""Writing a collection's records: ``add`` (encode, plan text windows and keyword rows, store
all or nothing) and ``delete``. A helper of :class:`omnivec.platform.collection.Collection`,
which holds the switch gate around every call."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from omnivec.core.ids import decode_id, encode_ids
from omnivec.core.validation import check_batch, check_metadata, check_vectors
from omnivec.errors import InvalidInputError
from omnivec.platform import hybrid, windows
from omnivec.platform.collection_state import CollectionState

__all__ = ["Writer"]


class Writer:
    """``add`` and ``delete`` of one collection (see the module docstring)."""

    def __init__(self, state: CollectionState) -> None:
        self.state = state

    def add(
        self,
        items: Sequence[Any] | None,
        ids: Sequence[Any] | None,
        metadata: Sequence[dict[str, Any] | None] | None,
        vectors: Any,
        images: Sequence[Any] | None,
        modality: str | None,
        progress: bool | None,
    ) -> list[Any]:
        """See :meth:`omnivec.platform.collection.Collection.add`."""
        state = self.state
        given = [x is not None for x in (items, vectors, images)]
        if sum(given) != 1:
            raise InvalidInputError("add() takes exactly one of items, vectors= or images=")
        if images is not None:
            batch, modality = check_batch(images, "images"), "image"
        elif items is not None:
            batch = check_batch(items, "items")
        else:
            arr = check_vectors(vectors, state.dim)
            batch = list(range(arr.shape[0]))
        n = len(batch)
        if ids is None:
            ids = [uuid.uuid4().hex for _ in range(n)]
        else:
            ids = check_batch(ids, "ids")
            if len(ids) != n:
                raise InvalidInputError(f"got {len(ids)} ids for {n} items; pass one id per item")
        keys = encode_ids(ids)
        meta = check_metadata(metadata, n)
        opts = state.text_options
        physical = state.physical
        if opts is None:
            if vectors is None:
                arr = state.encode_many(batch, modality, progress)
                meta = self._with_encoder_metadata(batch, modality, meta)
            state.store.upsert(physical, keys, arr, meta)
            return [decode_id(k) for k in keys]
        windows.check_user_keys(meta)
        encoder = state.encoder
        if vectors is None and (modality or encoder.modalities[0]) == "text":
            texts = windows.plan_texts(encoder, windows.check_texts(batch), keys, meta, opts)
            plan: windows.Plan = texts
            arr = windows.encode_plan(
                encoder, texts, lambda b: state.encode_many(b, "text", progress)
            )
        else:
            if vectors is None:
                arr = state.encode_many(batch, modality, progress)
                meta = self._with_encoder_metadata(batch, modality, meta)
            plan = windows.plan_untexted(keys, meta)
        if state.keywords is not None:
            hybrid.keyword_rows(plan)
        if len(plan.keys) > len(keys):
            state.windowed[physical] = True
        # A replaced record's old windows are deleted in the same guarded write.
        stale = windows.stale_windows(state.store, physical, keys)
        state.store.upsert(physical, plan.keys, arr[plan.source], plan.metadata, delete=stale)
        return [decode_id(k) for k in keys]

    def _with_encoder_metadata(
        self, batch: list[Any], modality: str | None, meta: list[dict[str, Any]]
    ) -> list[dict[str, Any]]:
        """Merge what the encoder says about its inputs (e.g. an image's thumbnail and path)
        under the user's own metadata, which wins on a shared key."""
        encoder = self.state.encoder
        describe = getattr(encoder, "metadata_for", None)
        if describe is None:
            return meta
        extra = describe(batch, modality=modality or encoder.modalities[0])
        return [{**e, **m} for e, m in zip(extra, meta, strict=True)]

    def delete(self, ids: Sequence[Any]) -> int:
        """See :meth:`omnivec.platform.collection.Collection.delete`."""
        state = self.state
        keys = encode_ids(check_batch(ids, "ids"), unique=False)
        if not state.text_options:
            return state.store.delete(state.physical, keys)
        return windows.delete_records(state.store, state.physical, keys)

"""The ground floor of a collection: identity, writing, reading, encoding, fit markers.

:class:`omnivec.platform.collection.Collection` builds on it: the query layer
(:mod:`omnivec.platform.query`), training (:mod:`omnivec.platform.training`) and analysis.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np

from omnivec.core.encoder import Encoder, encode_in_role
from omnivec.core.ids import decode_id, encode_ids
from omnivec.core.progress import progress_bar
from omnivec.core.queries import Record
from omnivec.core.space import Space
from omnivec.core.validation import (
    check_batch,
    check_metadata,
    check_vectors,
    check_where,
)
from omnivec.errors import (
    EncoderError,
    InvalidInputError,
    NotFoundError,
    OmnivecError,
    SpaceMismatchError,
    StoreError,
    StoreUnavailableError,
)
from omnivec.platform import hybrid, windows
from omnivec.platform.catalog import Catalog, CollectionRecord, FitMarker, identity_of
from omnivec.platform.gate import SwitchGate
from omnivec.platform.registry import create_encoder
from omnivec.platform.text_options import passage_chars_of

if TYPE_CHECKING:
    from omnivec.stores.base import VectorStore

#: Looks up another collection by name (for cross-collection refs); NotFoundError if absent.
Resolver = Callable[[str], Any]

__all__ = ["CollectionBase", "Resolver", "gated"]

_F = TypeVar("_F", bound=Callable[..., Any])


def gated(fn: _F) -> _F:
    """Run a method holding its collection's switch gate shared (see gate.SwitchGate): a
    re-embed switches the rows under it only between calls, never during one.

    A re-embed by another process (two processes on one Milvus server) moves the rows to
    another Milvus collection and drops the old one, which this object only learns of when
    the store refuses a call: then it re-reads its catalog record, follows the switch (new
    rows, new encoder) and runs the call once more. A refused call wrote nothing (writes are
    all or nothing), so running it again is safe."""

    @functools.wraps(fn)
    def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
        with self._gate.shared():
            try:
                return fn(self, *args, **kwargs)
            except StoreUnavailableError:
                raise
            except StoreError:
                try:
                    moved = self.follow_switch()
                except NotFoundError:
                    raise
                except OmnivecError:
                    moved = False  # the catalog cannot say: the store's refusal stands
                if not moved:
                    raise
        with self._gate.shared():
            return fn(self, *args, **kwargs)

    return wrapper  # type: ignore[return-value]


logger = logging.getLogger(__name__)

#: Items encoded per encoder call during ``add``; progress advances by this much.
ENCODE_CHUNK = 1_024
_QUERY_CACHE_SIZE = 2_048


class CollectionBase:
    """Vectors of one space, stored under the user's ids, searchable by text, image, vector or ref.

    Get one with :meth:`omnivec.Platform.collection`; do not construct it directly.
    """

    def __init__(
        self,
        name: str,
        record: CollectionRecord,
        encoder: Any,
        *,
        store: VectorStore,
        catalog: Catalog,
        resolve: Resolver,
    ) -> None:
        self.name = name
        self._record = record
        self._encoder = encoder
        self._store = store
        self._catalog = catalog
        self._resolve = resolve
        self._space_checked = False
        self._lock = threading.RLock()
        self._fit_lock = threading.Lock()
        #: Held shared by every call that touches the rows, exclusively by a re-embed's switch.
        self._gate = SwitchGate()
        #: Record options a fit under way will record with its space (features= by name).
        self._pending_options: dict[str, Any] = {}
        self._query_cache: OrderedDict[tuple[str, str, str], np.ndarray] = OrderedDict()
        #: Whether a physical collection holds records split into windows (searches fetch
        #: more rows per record then); a stale False costs a second search, never a hit.
        self._windowed: dict[str, bool] = {}
        if encoder is not None and hasattr(encoder, "add_fit_listeners"):
            encoder.add_fit_listeners(
                before=self._before_encoder_fit, after=self._after_encoder_fit
            )
        self._give_loaders(encoder)

    def _give_loaders(self, encoder: Any) -> None:
        """Learned state kept as catalog bytes and as the stored rows (word vectors) loads
        when the encoder first needs it."""
        if encoder is not None and hasattr(encoder, "set_state_loader"):
            encoder.set_state_loader(lambda: self._catalog.get_blob(self._record.blob))
        if encoder is not None and hasattr(encoder, "set_rows_loader"):
            encoder.set_rows_loader(self.stored_vectors)

    def stored_vectors(self, ids: Sequence[Any]) -> dict[Any, np.ndarray]:
        """``{id: stored vector}`` of the records among ``ids`` (ids without one left out)."""
        self.check_complete()
        keys = encode_ids(list(ids))
        rows = self._store.get(self.physical, keys)
        return {i: rows[k].vector for i, k in zip(ids, keys, strict=True) if k in rows}

    # -- identity ----------------------------------------------------------------------
    @property
    def space(self) -> Space:
        """The vector space this collection's vectors live in."""
        return self._record.space

    @property
    def dim(self) -> int:
        return self.space.dim

    @property
    def metric(self) -> str:
        return self.space.metric

    @property
    def encoder(self) -> Any:
        """The collection's encoder (``None`` for a vectors-only collection)."""
        return self._encoder

    @property
    def encoder_name(self) -> str | None:
        return self._record.encoder

    @property
    def physical(self) -> str:
        """The Milvus collection that holds this collection's rows (``name`` unless a
        re-embed switched it to its shadow)."""
        return self._record.milvus_name(self.name)

    @property
    def record(self) -> CollectionRecord:
        """This collection's catalog record (read-only view; change it through methods)."""
        return self._record

    def info(self) -> dict[str, Any]:
        """Name, encoder, configuration, space, row count and keyword index (``keywords``:
        on or off; ``analyzer``: its analyzer, ``None`` when off), as plain JSON-able data."""
        keywords = self.keywords
        return {
            "name": self.name,
            "encoder": self._record.encoder,
            "config": self._record.config,
            "space": self._record.space.to_dict(),
            "index": self._record.index,
            "count": len(self),
            "recommender": self._record.recommender,
            "keywords": keywords is not None,
            "analyzer": (keywords or {}).get("analyzer"),
        }

    def index_stats(self) -> dict[str, Any]:
        """How searches are answered: ``{"index": "ivf_flat" | "ivf_sq8" | "hnsw" | "flat",
        "rows", "nlist", "nprobe", "ef", "calibrated_recall", "fresh_queries": True, ...}``;
        ``calibrated_recall`` is the recall@10 measured at calibration on fresh queries
        (stored rows moved by their nearest-neighbour distance), 1.0 for an exact index."""
        return self._store.index_stats(self.physical)

    @property
    def keywords(self) -> dict[str, Any] | None:
        """The keyword-index settings (``{"analyzer": ...}``), or ``None`` without keywords."""
        return self._record.options.get("keywords")

    @property
    def text_options(self) -> dict[str, Any] | None:
        """How this collection keeps texts (``{"store", "chunk_tokens", "chunk_overlap",
        "passage_chars", "record_vector"}``); ``None`` for collections that store no text."""
        return self._record.options.get("text")

    @property
    def passage_chars(self) -> int:
        """The most characters of a hit's passage (``passage_chars=`` at creation)."""
        return passage_chars_of(self.text_options)

    def check_record_vectors(self) -> bool:
        """Whether every record's vector is its text's vector; if not (a text collection made
        before round 3 whose long texts stored window 0's vector), log what upgrades it."""
        try:
            old = windows.needs_upgrade(self._store, self.physical, self._record.options)
        except OmnivecError:
            return True  # cannot tell now; the next open says
        if old:
            keywords = self.keywords is not None
            logger.warning(
                "collection %r was made before a record's vector was its whole text's vector "
                "(its long texts stand for their first window in refs, vectors() and "
                "analysis); upgrade it with col.reindex(keywords=%s) (CLI: omnivec reindex %s "
                "%s) or col.reembed(...)",
                self.name,
                keywords,
                self.name,
                "--keywords" if keywords else "--no-keywords",
            )
        return not old

    def _records_where(self, where: str | None) -> str | None:
        # A long text is several rows; only its main row stands for the record.
        return windows.combine_where(where) if self.text_options else where

    def __len__(self) -> int:
        return self.count()

    @gated
    def count(self, where: str | None = None) -> int:
        """Records matching ``where`` (all records without it)."""
        return self._store.count(self.physical, where=self._records_where(check_where(where)))

    def __repr__(self) -> str:
        return f"Collection({self.name!r}, {self.space.describe()})"

    # -- writing -------------------------------------------------------------------------
    @gated
    def add(
        self,
        items: Sequence[Any] | None = None,
        *,
        ids: Sequence[Any] | None = None,
        metadata: Sequence[dict[str, Any] | None] | None = None,
        vectors: Any = None,
        images: Sequence[Any] | None = None,
        modality: str | None = None,
        progress: bool | None = None,
    ) -> list[Any]:
        """Encode and store a batch; return the ids (generated uuid4 hex strings if not given).

        ``items`` are inputs for the encoder (texts by default; ``modality=`` picks another),
        ``images`` are images for an image encoder, ``vectors`` a float32 ``(n, dim)`` array
        stored as is. An id that exists is replaced. All or nothing: if any item is invalid
        or the store fails, nothing of the batch is written.
        """
        given = [x is not None for x in (items, vectors, images)]
        if sum(given) != 1:
            raise InvalidInputError("add() takes exactly one of items, vectors= or images=")
        if images is not None:
            batch, modality = check_batch(images, "images"), "image"
        elif items is not None:
            batch = check_batch(items, "items")
        else:
            arr = check_vectors(vectors, self.dim)
            batch = list(range(arr.shape[0]))
        n = len(batch)
        if ids is None:
            import uuid

            ids = [uuid.uuid4().hex for _ in range(n)]
        else:
            ids = check_batch(ids, "ids")
            if len(ids) != n:
                raise InvalidInputError(f"got {len(ids)} ids for {n} items; pass one id per item")
        keys = encode_ids(ids)
        meta = check_metadata(metadata, n)
        opts = self.text_options
        if opts is None:
            if vectors is None:
                arr = self._encode_many(batch, modality, progress)
                meta = self._with_encoder_metadata(batch, modality, meta)
            self._store.upsert(self.physical, keys, arr, meta)
            return [decode_id(k) for k in keys]
        windows.check_user_keys(meta)
        if vectors is None and (modality or self._encoder.modalities[0]) == "text":
            texts = windows.plan_texts(self._encoder, windows.check_texts(batch), keys, meta, opts)
            plan: windows.Plan = texts
            arr = windows.encode_plan(
                self._encoder, texts, lambda b: self._encode_many(b, "text", progress)
            )
        else:
            if vectors is None:
                arr = self._encode_many(batch, modality, progress)
                meta = self._with_encoder_metadata(batch, modality, meta)
            plan = windows.plan_untexted(keys, meta)
        if self.keywords is not None:
            hybrid.keyword_rows(plan)
        if len(plan.keys) > len(keys):
            self._windowed[self.physical] = True
        # A replaced record's old windows are deleted in the same guarded write.
        stale = windows.stale_windows(self._store, self.physical, keys)
        self._store.upsert(self.physical, plan.keys, arr[plan.source], plan.metadata, delete=stale)
        return [decode_id(k) for k in keys]

    def _with_encoder_metadata(
        self, batch: list[Any], modality: str | None, meta: list[dict[str, Any]]
    ) -> list[dict[str, Any]]:
        """Merge what the encoder says about its inputs (e.g. an image's thumbnail and path)
        under the user's own metadata, which wins on a shared key."""
        describe = getattr(self._encoder, "metadata_for", None)
        if describe is None:
            return meta
        extra = describe(batch, modality=modality or self._encoder.modalities[0])
        return [{**e, **m} for e, m in zip(extra, meta, strict=True)]

    def upsert(self, items: Sequence[Any] | None = None, **kwargs: Any) -> list[Any]:
        """Same as :meth:`add` (which already replaces existing ids)."""
        return self.add(items, **kwargs)

    @gated
    def delete(self, ids: Sequence[Any]) -> int:
        """Delete rows by id; returns how many existed. Unknown ids are not an error."""
        keys = encode_ids(check_batch(ids, "ids"), unique=False)
        if not self.text_options:
            return self._store.delete(self.physical, keys)
        return windows.delete_records(self._store, self.physical, keys)

    @gated
    def get(self, ids: Sequence[Any]) -> list[Record]:
        """Stored records in the order asked; an unknown id raises :class:`NotFoundError`."""
        ids = check_batch(ids, "ids")
        keys = encode_ids(ids, unique=False)
        self.check_complete()
        rows = self._store.get(self.physical, keys)
        missing = [i for i, k in zip(ids, keys, strict=True) if k not in rows]
        if missing:
            raise NotFoundError(
                f"id {missing[0]!r} is not in collection {self.name!r}"
                + (f" (and {len(missing) - 1} more)" if len(missing) > 1 else "")
            )
        if not self.text_options:
            return [Record(decode_id(k), rows[k].vector, rows[k].metadata) for k in keys]
        return windows.to_records(self._store, self.physical, keys, rows, self.metric)

    @gated
    def ids(self, where: str | None = None) -> list[Any]:
        """Every stored id (matching ``where`` if given)."""
        where = self._records_where(check_where(where))
        return [decode_id(k) for k in self._store.keys(self.physical, where=where)]

    def begin_fit(self) -> None:
        """Record in the catalog, before a fit writes its first vector, that one is under way;
        :meth:`record_space` clears it once every vector is written."""
        self._record.fitting = FitMarker.start()
        self._catalog.save_collection(self.name, self._record)

    def end_fit(self) -> None:
        """Clear the marker of a fit that failed before any of its vectors stayed written."""
        marker, self._record.fitting = self._record.fitting, None
        try:
            self._catalog.save_collection(self.name, self._record)
        except Exception:
            self._record.fitting = marker  # still in the catalog: keep refusing here too
            logger.exception("could not clear the fit marker of collection %r", self.name)

    def check_complete(self, todo: str = "run its fit again (or drop it)") -> None:
        """Refuse to read vectors that may mix two fits (a fit was cut off mid-write).

        A fit that is writing right now in another thread of this process is not a failure:
        readers then see a mix for a moment, as with any concurrent upsert."""
        marker = self._record.fitting
        if marker is not None and not marker.running_here():
            raise StoreError(
                f"collection {self.name!r}: a fit started {marker.describe()} stopped while "
                f"writing its vectors, so they may mix two fits; {todo}"
            )

    def record_space(self, space: Space) -> None:
        """Record ``space`` (and the encoder's configuration and state) as this collection's,
        clearing a fit marker, in one catalog write."""
        enc = self._encoder
        record = dataclasses.replace(
            self._record, space=space, fitting=None, options=dict(self._record.options)
        )
        for key, value in self._pending_options.items():
            if value is None:
                record.options.pop(key, None)
            else:
                record.options[key] = value
        self._pending_options = {}
        old_blob = record.blob
        if enc is not None:
            record.config = enc.config()
            record.identity = identity_of(enc)
            if hasattr(enc, "state_dict"):
                record.state = enc.state_dict()
            # Weights too big for the record (graphsage) go to hashed catalog chunks.
            blob = getattr(enc, "state_bytes", lambda: None)()
            if blob:
                record.blob = self._catalog.put_blob(self.name, blob)
            elif hasattr(enc, "state_bytes"):
                record.blob = None  # this fit has none (the old one goes)
        self._catalog.save_collection(self.name, record)
        self._record = record
        if old_blob is not None and old_blob != record.blob:
            self._catalog.delete_blob(old_blob)
        self._space_checked = True
        self.forget_cached_queries()

    def reload_record(self) -> None:
        """Re-read this collection's catalog record (another process may have re-fitted it)."""
        record = self._catalog.collection(self.name)
        if record is not None:
            self._record = record
            self.forget_cached_queries()

    def follow_switch(self) -> bool:
        """Catch up with a re-embed another process switched this collection to: re-read the
        catalog record (strongly); if its rows now live in another Milvus collection or
        another space, adopt the record and a new encoder built from it (the model loads on
        first use) and return True. False if nothing moved. A collection dropped meanwhile
        raises :class:`NotFoundError`."""
        record = self._catalog.collection(self.name, strong=True)
        if record is None:
            raise NotFoundError(
                f"collection {self.name!r} was dropped (by another process?); "
                "create it again with plat.collection(...)"
            )
        current = self._record
        if record.milvus_name(self.name) == current.milvus_name(self.name) and (
            record.space == current.space
        ):
            return False
        encoder = self._encoder
        if record.encoder is not None and record.space != current.space:
            encoder = create_encoder(record.encoder, **record.config)
            if record.state and hasattr(encoder, "load_state_dict"):
                encoder.load_state_dict(record.state)
            if hasattr(encoder, "add_fit_listeners"):
                encoder.add_fit_listeners(
                    before=self._before_encoder_fit, after=self._after_encoder_fit
                )
            self._give_loaders(encoder)
        logger.info(
            "collection %r was switched by another process to %s (Milvus collection %r); "
            "following it",
            self.name,
            record.space.describe(),
            record.milvus_name(self.name),
        )
        with self._lock:
            self._record, self._encoder = record, encoder
            # The first encode checks that the new encoder gives the recorded space.
            self._space_checked = encoder is None
            self._query_cache.clear()
        return True

    def forget_cached_queries(self) -> None:
        with self._lock:
            self._query_cache.clear()

    def mark_space_checked(self) -> None:
        """The encoder is known to give this collection's space (it was just created)."""
        self._space_checked = True

    # -- encoder guards -------------------------------------------------------------------
    def _before_encoder_fit(self, encoder: Any) -> None:
        n = len(self) if self._store.has_collection(self.physical) else 0
        if n > 0:
            raise SpaceMismatchError(
                f"collection {self.name!r} holds {n} vectors of the current weights; "
                "training would make them stale. Train into a new, empty collection, then "
                "move this one onto the new weights with col.reembed(...)"
            )

    def _after_encoder_fit(self, encoder: Any) -> None:
        self.record_space(encoder.space)

    def _check_encoder_space(self) -> None:
        """The loaded model must still be the one the stored vectors came from."""
        if self._space_checked or self._encoder is None:
            return
        live = self._encoder.space
        if live != self.space:
            raise SpaceMismatchError(
                f"collection {self.name!r} was built in space {self.space.describe()}, but its "
                f"encoder now gives {live.describe()} (weights changed?). Re-create the "
                "collection or restore the original model"
            )
        self._space_checked = True

    # -- encoding ----------------------------------------------------------------------------
    def _require_encoder(self, modality: str) -> Encoder:
        enc = self._encoder
        if enc is None:
            raise SpaceMismatchError(
                f"collection {self.name!r} stores raw vectors (no encoder), so a {modality} "
                "input cannot be encoded into it; search with ov.vector(...) or ov.ref(...)"
            )
        if modality not in enc.modalities:
            raise SpaceMismatchError(
                f"collection {self.name!r} uses encoder {self.encoder_name!r}, which encodes "
                f"{', '.join(enc.modalities)}, not {modality}; "
                + (
                    "search it with ov.ref(id) or ov.vector(...)"
                    if "text" not in enc.modalities
                    else "use a collection whose encoder handles it"
                )
            )
        return enc  # type: ignore[no-any-return]

    def _encode(self, batch: list[Any], modality: str, role: str | None = None) -> np.ndarray:
        """Encode ``batch``; texts in ``role`` (stored texts: ``"document"``, the default)."""
        enc = self._require_encoder(modality)
        self._check_encoder_space()
        if role is None and modality == "text":
            role = "document"
        try:
            out = encode_in_role(enc, batch, modality, role)
        except OmnivecError:
            raise
        except Exception as exc:
            raise EncoderError(f"encoder {self.encoder_name!r} failed: {exc}") from exc
        arr = np.asarray(out, dtype=np.float32)
        if arr.shape != (len(batch), self.dim):
            raise EncoderError(
                f"encoder {self.encoder_name!r} returned shape {arr.shape}, "
                f"expected {(len(batch), self.dim)}"
            )
        return arr

    def _encode_many(
        self, batch: list[Any], modality: str | None, progress: bool | None
    ) -> np.ndarray:
        if modality is None:
            modality = self._encoder.modalities[0] if self._encoder is not None else "text"
        self._require_encoder(modality)
        if len(batch) <= ENCODE_CHUNK:
            return self._encode(batch, modality)
        parts = []
        with progress_bar(len(batch), f"encoding {self.name}", enabled=progress) as bar:
            for start in range(0, len(batch), ENCODE_CHUNK):
                chunk = batch[start : start + ENCODE_CHUNK]
                try:
                    parts.append(self._encode(chunk, modality))
                except InvalidInputError as exc:
                    if not start:
                        raise
                    # Encoders number items within the chunk they were given.
                    raise type(exc)(
                        f"{exc} [item numbers count from item {start} of this batch]"
                    ) from exc
                bar.update(len(chunk))
        return np.concatenate(parts)

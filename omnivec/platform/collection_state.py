"""What a collection's helpers share: its catalog record, store, catalog, encoder, gate, locks
and caches, and the steps that change them (fit markers, recording a space, following a switch).

The user's :class:`omnivec.platform.collection.Collection` owns one :class:`CollectionState`
and hands it to its helpers: :class:`~omnivec.platform.writing.Writer` (add, delete),
:class:`~omnivec.platform.reading.Reader` (get, ids, records, vectors),
:class:`~omnivec.platform.query.Searcher` (search) and
:class:`~omnivec.platform.training.Trainer` (fit, embed). None of them is user API.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from omnivec.core.encoder import Encoder, encode_in_role
from omnivec.core.ids import encode_ids
from omnivec.core.progress import progress_bar
from omnivec.core.space import Space
from omnivec.errors import (
    EncoderError,
    InvalidInputError,
    NotFoundError,
    OmnivecError,
    SpaceMismatchError,
    StoreError,
)
from omnivec.platform import windows
from omnivec.platform.catalog import (
    Catalog,
    CollectionRecord,
    FitMarker,
    KeywordOptions,
    TextOptions,
    identity_of,
)
from omnivec.platform.gate import SwitchGate
from omnivec.platform.registry import create_encoder
from omnivec.platform.text_options import passage_chars_of

if TYPE_CHECKING:
    from omnivec.stores.base import VectorStore

#: Looks up another collection by name (for cross-collection refs); NotFoundError if absent.
Resolver = Callable[[str], Any]

__all__ = ["ENCODE_CHUNK", "CollectionState", "Resolver", "check_complete"]

logger = logging.getLogger(__name__)

#: Items encoded per encoder call during ``add``; progress advances by this much.
ENCODE_CHUNK = 1_024


def check_complete(
    name: str, record: CollectionRecord, todo: str = "run its fit again (or drop it)"
) -> None:
    """Refuse to read the vectors of collection ``name`` (``record``) if they may mix two fits
    (a fit was cut off mid-write).

    A fit that is writing right now in another thread of this process is not a failure:
    readers then see a mix for a moment, as with any concurrent upsert."""
    marker = record.fitting
    if marker is not None and not marker.running_here():
        raise StoreError(
            f"collection {name!r}: a fit started {marker.describe()} stopped while "
            f"writing its vectors, so they may mix two fits; {todo}"
        )


class CollectionState:
    """One collection's shared parts (see the module docstring)."""

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
        self.record = record
        self.encoder = encoder
        self.store = store
        self.catalog = catalog
        self.resolve = resolve
        #: Whether the encoder is known to give the recorded space.
        self.space_checked = False
        #: Guards the query cache and the switch of record and encoder.
        self.lock = threading.RLock()
        #: One fit, embed, re-embed or re-index at a time per collection.
        self.fit_lock = threading.Lock()
        #: Held shared by every call that touches the rows, exclusively by a re-embed's switch.
        self.gate = SwitchGate()
        #: Record options a fit under way will record with its space (features= by name).
        self.pending_options: dict[str, Any] = {}
        self.query_cache: OrderedDict[tuple[str, str, str], np.ndarray] = OrderedDict()
        #: Whether a physical collection holds records split into windows (searches fetch
        #: more rows per record then); a stale False costs a second search, never a hit.
        self.windowed: dict[str, bool] = {}
        self.give_loaders(encoder)

    def give_loaders(self, encoder: Any) -> None:
        """Learned state kept as catalog bytes and as the stored rows (word vectors) loads
        when the encoder first needs it."""
        if encoder is not None and hasattr(encoder, "set_state_loader"):
            encoder.set_state_loader(lambda: self.catalog.get_blob(self.record.blob))
        if encoder is not None and hasattr(encoder, "set_rows_loader"):
            encoder.set_rows_loader(self.stored_vectors)

    # -- identity ----------------------------------------------------------------------
    @property
    def space(self) -> Space:
        return self.record.space

    @property
    def dim(self) -> int:
        return self.record.space.dim

    @property
    def metric(self) -> str:
        return self.record.space.metric

    @property
    def physical(self) -> str:
        """The Milvus collection that holds the rows (``name`` unless a switch moved them)."""
        return self.record.milvus_name(self.name)

    @property
    def keywords(self) -> KeywordOptions | None:
        """The keyword (BM25) settings (``None``: no keyword index)."""
        return self.record.keywords

    @property
    def text_options(self) -> TextOptions | None:
        """How the collection keeps texts (``None``: it stores none)."""
        return self.record.text

    @property
    def passage_chars(self) -> int:
        return passage_chars_of(self.text_options)

    def records_where(self, where: str | None) -> str | None:
        """``where`` (checked) restricted to the one row that stands for each record (a long
        text is several rows)."""
        return windows.combine_where(where) if self.text_options else where

    def count(self, where: str | None = None) -> int:
        """Records matching ``where`` (already checked)."""
        return self.store.count(self.physical, where=self.records_where(where))

    def stored_vectors(self, ids: Sequence[Any]) -> dict[Any, np.ndarray]:
        """``{id: stored vector}`` of the records among ``ids`` (ids without one left out)."""
        self.check_complete()
        keys = encode_ids(list(ids))
        rows = self.store.get(self.physical, keys)
        return {i: rows[k].vector for i, k in zip(ids, keys, strict=True) if k in rows}

    def check_record_vectors(self) -> bool:
        """Whether every record's vector is its text's vector; if not (a text collection made
        before round 3 whose long texts stored window 0's vector), log what upgrades it."""
        try:
            old = windows.needs_upgrade(self.store, self.physical, self.record.text)
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

    # -- fit markers and the recorded space ----------------------------------------------
    def check_complete(self, todo: str = "run its fit again (or drop it)") -> None:
        """See :func:`check_complete`."""
        check_complete(self.name, self.record, todo)

    def begin_fit(self) -> None:
        """Record in the catalog, before a fit writes its first vector, that one is under way;
        :meth:`record_space` clears it once every vector is written."""
        self.record.fitting = FitMarker.start()
        self.catalog.save_collection(self.name, self.record)

    def end_fit(self) -> None:
        """Clear the marker of a fit that failed before any of its vectors stayed written."""
        marker, self.record.fitting = self.record.fitting, None
        try:
            self.catalog.save_collection(self.name, self.record)
        except Exception:
            self.record.fitting = marker  # still in the catalog: keep refusing here too
            logger.exception("could not clear the fit marker of collection %r", self.name)

    def record_space(self, space: Space) -> None:
        """Record ``space`` (and the encoder's configuration and state) as this collection's,
        clearing a fit marker, in one catalog write."""
        enc = self.encoder
        record = dataclasses.replace(
            self.record, space=space, fitting=None, options=dict(self.record.options)
        )
        for key, value in self.pending_options.items():
            if value is None:
                record.options.pop(key, None)
            else:
                record.options[key] = value
        self.pending_options = {}
        old_blob = record.blob
        if enc is not None:
            record.config = enc.config()
            record.identity = identity_of(enc)
            if hasattr(enc, "state_dict"):
                record.state = enc.state_dict()
            # Weights too big for the record (graphsage) go to hashed catalog chunks.
            blob = getattr(enc, "state_bytes", lambda: None)()
            if blob:
                record.blob = self.catalog.put_blob(self.name, blob)
            elif hasattr(enc, "state_bytes"):
                record.blob = None  # this fit has none (the old one goes)
        self.catalog.save_collection(self.name, record)
        self.record = record
        if old_blob is not None and old_blob != record.blob:
            self.catalog.delete_blob(old_blob)
        self.space_checked = True
        self.forget_cached_queries()

    def install(self, record: CollectionRecord) -> None:
        """Take ``record`` (already saved in the catalog by its writer) as this collection's,
        its encoder known to give its space."""
        self.record = record
        self.space_checked = True
        self.forget_cached_queries()

    def reload_record(self) -> None:
        """Re-read the catalog record (another process may have re-fitted the collection)."""
        record = self.catalog.collection(self.name)
        if record is not None:
            self.record = record
            self.forget_cached_queries()

    def adopt_switch(self, record: CollectionRecord, encoder: Any) -> None:
        """Install a re-embed's or re-index's switch in memory (the catalog already has it)."""
        self.record = record
        if encoder is self.encoder:
            return
        self.encoder = encoder
        self.space_checked = True
        self.forget_cached_queries()

    def follow_switch(self) -> bool:
        """Catch up with a re-embed another process switched this collection to: re-read the
        catalog record (strongly); if its rows now live in another Milvus collection or
        another space, adopt the record and a new encoder built from it (the model loads on
        first use) and return True. False if nothing moved. A collection dropped meanwhile
        raises :class:`NotFoundError`."""
        record = self.catalog.collection(self.name, strong=True)
        if record is None:
            raise NotFoundError(
                f"collection {self.name!r} was dropped (by another process?); "
                "create it again with plat.collection(...)"
            )
        current = self.record
        if record.milvus_name(self.name) == current.milvus_name(self.name) and (
            record.space == current.space
        ):
            return False
        encoder = self.encoder
        if record.encoder is not None and record.space != current.space:
            encoder = create_encoder(record.encoder, **record.config)
            if record.state and hasattr(encoder, "load_state_dict"):
                encoder.load_state_dict(record.state)
            self.give_loaders(encoder)
        logger.info(
            "collection %r was switched by another process to %s (Milvus collection %r); "
            "following it",
            self.name,
            record.space.describe(),
            record.milvus_name(self.name),
        )
        with self.lock:
            self.record, self.encoder = record, encoder
            # The first encode checks that the new encoder gives the recorded space.
            self.space_checked = encoder is None
            self.query_cache.clear()
        return True

    def forget_cached_queries(self) -> None:
        with self.lock:
            self.query_cache.clear()

    def mark_space_checked(self) -> None:
        """The encoder is known to give this collection's space (it was just created)."""
        self.space_checked = True

    # -- encoding ----------------------------------------------------------------------------
    def check_encoder_space(self) -> None:
        """The loaded model must still be the one the stored vectors came from."""
        if self.space_checked or self.encoder is None:
            return
        live = self.encoder.space
        if live != self.space:
            raise SpaceMismatchError(
                f"collection {self.name!r} was built in space {self.space.describe()}, but its "
                f"encoder now gives {live.describe()} (weights changed?). Re-create the "
                "collection or restore the original model"
            )
        self.space_checked = True

    def require_encoder(self, modality: str) -> Encoder:
        enc = self.encoder
        if enc is None:
            raise SpaceMismatchError(
                f"collection {self.name!r} stores raw vectors (no encoder), so a {modality} "
                "input cannot be encoded into it; search with ov.vector(...) or ov.ref(...)"
            )
        if modality not in enc.modalities:
            raise SpaceMismatchError(
                f"collection {self.name!r} uses encoder {self.record.encoder!r}, which encodes "
                f"{', '.join(enc.modalities)}, not {modality}; "
                + (
                    "search it with ov.ref(id) or ov.vector(...)"
                    if "text" not in enc.modalities
                    else "use a collection whose encoder handles it"
                )
            )
        return enc  # type: ignore[no-any-return]

    def encode(self, batch: list[Any], modality: str, role: str | None = None) -> np.ndarray:
        """Encode ``batch``; texts in ``role`` (stored texts: ``"document"``, the default)."""
        enc = self.require_encoder(modality)
        self.check_encoder_space()
        if role is None and modality == "text":
            role = "document"
        try:
            out = encode_in_role(enc, batch, modality, role)
        except OmnivecError:
            raise
        except Exception as exc:
            raise EncoderError(f"encoder {self.record.encoder!r} failed: {exc}") from exc
        arr = np.asarray(out, dtype=np.float32)
        if arr.shape != (len(batch), self.dim):
            raise EncoderError(
                f"encoder {self.record.encoder!r} returned shape {arr.shape}, "
                f"expected {(len(batch), self.dim)}"
            )
        return arr

    def encode_many(
        self, batch: list[Any], modality: str | None, progress: bool | None
    ) -> np.ndarray:
        """Encode a batch of any size as documents, ``ENCODE_CHUNK`` items per encoder call."""
        if modality is None:
            modality = self.encoder.modalities[0] if self.encoder is not None else "text"
        self.require_encoder(modality)
        if len(batch) <= ENCODE_CHUNK:
            return self.encode(batch, modality)
        parts = []
        with progress_bar(len(batch), f"encoding {self.name}", enabled=progress) as bar:
            for start in range(0, len(batch), ENCODE_CHUNK):
                chunk = batch[start : start + ENCODE_CHUNK]
                try:
                    parts.append(self.encode(chunk, modality))
                except InvalidInputError as exc:
                    if not start:
                        raise
                    # Encoders number items within the chunk they were given.
                    raise type(exc)(
                        f"{exc} [item numbers count from item {start} of this batch]"
                    ) from exc
                bar.update(len(chunk))
        return np.concatenate(parts)

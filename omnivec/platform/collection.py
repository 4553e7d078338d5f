"""A named collection of vectors in one vector space, and the unified query layer over it."""

from __future__ import annotations

import dataclasses
import logging
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, overload

import numpy as np

from omnivec.core.encoder import Encoder, FitResult, Trained
from omnivec.core.ids import decode_id, encode_ids
from omnivec.core.progress import progress_bar
from omnivec.core.queries import Hit, ImageQuery, Record, RefQuery, VectorQuery
from omnivec.core.space import Space
from omnivec.core.validation import (
    check_batch,
    check_k,
    check_metadata,
    check_vectors,
    check_where,
)
from omnivec.errors import (
    DimensionMismatchError,
    EncoderError,
    InvalidInputError,
    NotFoundError,
    OmnivecError,
    SpaceMismatchError,
    StoreError,
)
from omnivec.platform.catalog import Catalog, CollectionRecord, FitMarker, identity_of
from omnivec.platform.evaluation import check_judgements, retrieval_metrics
from omnivec.platform.reembed import Reembed, ReembedReport, SwitchGate
from omnivec.platform.reembed import run as run_reembed

if TYPE_CHECKING:
    from omnivec.stores.base import VectorStore

#: Looks up another collection by name (for cross-collection refs); NotFoundError if absent.
Resolver = Callable[[str], "Collection"]

__all__ = ["Collection"]

logger = logging.getLogger(__name__)

#: Items encoded per encoder call during ``add``; progress advances by this much.
ENCODE_CHUNK = 1_024
_QUERY_CACHE_SIZE = 2_048


class Collection:
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
        #: Held shared by every store call, exclusively by a re-embed's switch.
        self._gate = SwitchGate()
        self._query_cache: OrderedDict[tuple[str, str, str], np.ndarray] = OrderedDict()
        if encoder is not None and hasattr(encoder, "add_fit_listeners"):
            encoder.add_fit_listeners(
                before=self._before_encoder_fit, after=self._after_encoder_fit
            )

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
        """Name, encoder, configuration, space and row count, as plain JSON-able data."""
        return {
            "name": self.name,
            "encoder": self._record.encoder,
            "config": self._record.config,
            "space": self._record.space.to_dict(),
            "index": self._record.index,
            "count": len(self),
            "recommender": self._record.recommender,
        }

    def __len__(self) -> int:
        with self._gate.shared():
            return self._store.count(self.physical)

    def count(self, where: str | None = None) -> int:
        """Rows matching ``where`` (all rows without it)."""
        where = check_where(where)
        with self._gate.shared():
            return self._store.count(self.physical, where=where)

    def __repr__(self) -> str:
        return f"Collection({self.name!r}, {self.space.describe()})"

    # -- writing -------------------------------------------------------------------------
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
        # Encode and write in one space: a re-embed's switch waits for both.
        with self._gate.shared():
            if vectors is None:
                arr = self._encode_many(batch, modality, progress)
                meta = self._with_encoder_metadata(batch, modality, meta)
            self._store.upsert(self.physical, keys, arr, meta)
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

    def delete(self, ids: Sequence[Any]) -> int:
        """Delete rows by id; returns how many existed. Unknown ids are not an error."""
        keys = encode_ids(check_batch(ids, "ids"), unique=False)
        with self._gate.shared():
            return self._store.delete(self.physical, keys)

    def get(self, ids: Sequence[Any]) -> list[Record]:
        """Stored records in the order asked; an unknown id raises :class:`NotFoundError`."""
        ids = check_batch(ids, "ids")
        keys = encode_ids(ids, unique=False)
        self.check_complete()
        with self._gate.shared():
            rows = self._store.get(self.physical, keys)
        missing = [i for i, k in zip(ids, keys, strict=True) if k not in rows]
        if missing:
            raise NotFoundError(
                f"id {missing[0]!r} is not in collection {self.name!r}"
                + (f" (and {len(missing) - 1} more)" if len(missing) > 1 else "")
            )
        return [Record(decode_id(k), rows[k].vector, rows[k].metadata) for k in keys]

    def ids(self, where: str | None = None) -> list[Any]:
        """Every stored id (matching ``where`` if given)."""
        where = check_where(where)
        with self._gate.shared():
            return [decode_id(k) for k in self._store.keys(self.physical, where=where)]

    def fit(self, data: Any, *args: Any, warm_start: bool = False, **kwargs: Any) -> Collection:
        """Train the collection's encoder on ``data`` and (re)write every vector it learned.

        For node2vec, ``data`` is a graph; see the encoder's ``fit``. With ``warm_start=True``
        the stored vectors seed the training (new entities start at random). Rows of entities
        no longer in ``data`` are deleted, and the new space is recorded in the same step.
        """
        enc = self._encoder
        if enc is None or not hasattr(enc, "fit"):
            raise InvalidInputError(
                f"collection {self.name!r} has no trainable encoder; "
                "fit() works on node2vec collections (recommenders have their own fit)"
            )
        # One fit at a time per collection; searches never wait for it (they take no lock
        # held during training) and answer from the previous vectors until the commit.
        with self._fit_lock:
            if warm_start and len(self) > 0:
                # A half-written fit is no starting point.
                self.check_complete("fit it again without warm_start=True (or drop it)")
                keys = self._store.keys(self.physical)
                rows = self._store.get(self.physical, keys)
                kwargs["init"] = {decode_id(k): r.vector for k, r in rows.items()}
            trains = callable(getattr(enc, "train", None)) and callable(getattr(enc, "adopt", None))
            try:
                if trains:
                    # Compute first: the encoder stays as it was until the rows are stored.
                    trained = enc.train(data, *args, **kwargs)
                    if not isinstance(trained, Trained):
                        raise EncoderError(
                            f"encoder {self.encoder_name!r}.train() did not return a Trained"
                        )
                    self._replace_all(trained.result, trained.space, lambda: enc.adopt(trained))
                else:
                    # A plugin with only fit(): it has changed itself before anything is stored.
                    result = enc.fit(data, *args, **kwargs)
                    if not isinstance(result, FitResult):
                        raise EncoderError(
                            f"encoder {self.encoder_name!r}.fit() did not return a FitResult"
                        )
                    self._replace_all(result, enc.space, lambda: None)
            except NotImplementedError as exc:
                raise InvalidInputError(f"collection {self.name!r}: {exc}") from exc
        return self

    def _replace_all(self, result: FitResult, space: Space, adopt: Callable[[], None]) -> None:
        """Store ``result`` as every row of this collection, then ``adopt`` the training in
        memory and record ``space``. If the store fails, nothing changes anywhere."""
        vecs = check_vectors(result.vectors, space.dim, "learned vectors")
        keys = encode_ids(result.ids)
        meta = check_metadata(result.metadata, len(keys))
        old = set(self._store.keys(self.physical))
        self.begin_fit()
        try:
            # All or nothing: if it raises, the store rolled back what it wrote.
            self._store.upsert(self.physical, keys, vecs, meta)
        except BaseException:
            self.end_fit()  # the previous fit's rows stand, unchanged
            raise
        stale = sorted(old - set(keys))
        if stale:
            self._store.delete(self.physical, stale)
        adopt()
        self.record_space(space)

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
        record = dataclasses.replace(self._record, space=space, fitting=None)
        if enc is not None:
            record.config = enc.config()
            record.identity = identity_of(enc)
            if hasattr(enc, "state_dict"):
                record.state = enc.state_dict()
        self._catalog.save_collection(self.name, record)
        self._record = record
        self._space_checked = True
        self.forget_cached_queries()

    def reload_record(self) -> None:
        """Re-read this collection's catalog record (another process may have re-fitted it)."""
        record = self._catalog.collection(self.name)
        if record is not None:
            self._record = record
            self.forget_cached_queries()

    def forget_cached_queries(self) -> None:
        with self._lock:
            self._query_cache.clear()

    def mark_space_checked(self) -> None:
        """The encoder is known to give this collection's space (it was just created)."""
        self._space_checked = True

    # -- evaluation ------------------------------------------------------------------------
    def evaluate(
        self,
        queries: dict[Any, Any],
        relevant: dict[Any, Sequence[Any]],
        k: int = 10,
        **search_kwargs: Any,
    ) -> dict[str, float]:
        """Retrieval quality of this collection's own :meth:`search` on judged queries.

        ``queries`` maps a query id to anything ``search`` takes (text, ``ov.image``, ...);
        ``relevant`` maps the same ids to the ids that should come back. ``search_kwargs``
        (``where=``, ...) pass through to ``search``. Returns the means over queries of
        ``recall@k``, ``mrr`` and ``ndcg@k`` (see :mod:`omnivec.platform.evaluation`).
        """
        qids = check_judgements(queries, relevant)
        k = check_k(k)
        try:
            hits = self.search([queries[q] for q in qids], k=k, **search_kwargs)
        except TypeError as exc:
            raise InvalidInputError(f"evaluate(): {exc}") from exc
        ranked = [[h.id for h in row] for row in hits]
        return retrieval_metrics(ranked, [list(relevant[q]) for q in qids], k)

    # -- re-embedding ----------------------------------------------------------------------
    def reembed(self, *, progress: bool | None = None, **encoder_options: Any) -> ReembedReport:
        """Re-encode every record from its stored source into a new space, without downtime.

        ``encoder_options`` change the encoder's configuration (``model="ckpt/"`` for text,
        ``pretrained="new.pt"`` for clip). The records are encoded into a shadow Milvus
        collection while searches keep answering from the old vectors; then the collection
        switches to the new space in one catalog step (same name, ids and metadata) and the
        old rows are dropped. A re-embed that was killed leaves the old collection whole;
        running it again resumes. Refused up front (``InvalidInputError``) if a record has no
        stored source (naming it) or the options give the current space.
        """
        with self._fit_lock:  # one fit or re-embed at a time per collection
            self.check_complete()
            job = Reembed(self.name, self._record, self._store, self._catalog, progress)
            return run_reembed(job, encoder_options, self._gate, self._adopt_reembed)

    def _adopt_reembed(self, record: CollectionRecord, encoder: Any) -> None:
        """Install a re-embed's switch in memory (the catalog already has it)."""
        self._record = record
        if encoder is self._encoder:
            return
        self._encoder = encoder
        if hasattr(encoder, "add_fit_listeners"):
            encoder.add_fit_listeners(
                before=self._before_encoder_fit, after=self._after_encoder_fit
            )
        self._space_checked = True
        self.forget_cached_queries()

    # -- encoder guards -------------------------------------------------------------------
    def _before_encoder_fit(self, encoder: Any) -> None:
        n = len(self) if self._store.has_collection(self.physical) else 0
        if n > 0:
            raise SpaceMismatchError(
                f"collection {self.name!r} holds {n} vectors of the current weights; "
                "training would make them stale. Train into a new, empty collection"
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

    def _encode(self, batch: list[Any], modality: str) -> np.ndarray:
        enc = self._require_encoder(modality)
        self._check_encoder_space()
        try:
            out = enc.encode(batch, modality=modality)
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

    # -- search ------------------------------------------------------------------------------
    @overload
    def search(
        self,
        query: list[Any] | tuple[Any, ...],
        k: int = ...,
        *,
        where: str | None = ...,
        min_score: float | None = ...,
    ) -> list[list[Hit]]: ...

    @overload
    def search(
        self,
        query: str | ImageQuery | RefQuery,
        k: int = ...,
        *,
        where: str | None = ...,
        min_score: float | None = ...,
    ) -> list[Hit]: ...

    @overload
    def search(
        self,
        query: VectorQuery,
        k: int = ...,
        *,
        where: str | None = ...,
        min_score: float | None = ...,
    ) -> list[Hit] | list[list[Hit]]: ...

    def search(
        self,
        query: Any,
        k: int = 10,
        *,
        where: str | None = None,
        min_score: float | None = None,
    ) -> list[Hit] | list[list[Hit]]:
        """Nearest neighbours of ``query``, best first.

        ``query`` is a str (text), ``ov.image(...)``, ``ov.vector(v)``, ``ov.ref(id[, collection])``
        or a list of these. One query gives ``list[Hit]``; a list of queries or an
        ``ov.vector`` of shape ``(n, dim)`` gives ``list[list[Hit]]`` from one store call.
        ``where`` is a Milvus filter over metadata; ``min_score`` drops weaker hits.
        """
        k = check_k(k)
        where = check_where(where)
        self.check_complete()
        if min_score is not None and (
            isinstance(min_score, bool)
            or not isinstance(min_score, int | float)
            or not np.isfinite(min_score)
        ):
            raise InvalidInputError(f"min_score must be a finite number, got {min_score!r}")
        if isinstance(query, list | tuple):
            queries = check_batch(query, "query list")
            batched = True
        elif isinstance(query, VectorQuery) and query.is_batch:
            queries = [VectorQuery(row) for row in query.array]
            batched = True
        else:
            queries = [query]
            batched = False
        with self._gate.shared():  # one space and one Milvus collection for the whole call
            vectors, exclude = self._query_vectors(queries)
            raw = self._store.search(
                self.physical, vectors, k, where=where, exclude=exclude, metric=self.metric
            )
        results = [
            [
                Hit(decode_id(h.key), h.score, h.metadata)
                for h in row
                if min_score is None or h.score >= min_score
            ]
            for row in raw
        ]
        return results if batched else results[0]

    def _query_vectors(self, queries: list[Any]) -> tuple[np.ndarray, list[str | None]]:
        """Turn queries into one float32 ``(n, dim)`` array, encoding each modality in one batch."""
        n = len(queries)
        out = np.empty((n, self.dim), dtype=np.float32)
        exclude: list[str | None] = [None] * n
        texts: list[int] = []
        images: list[int] = []
        refs: dict[str | None, list[int]] = {}
        for i, q in enumerate(queries):
            if isinstance(q, str):
                texts.append(i)
            elif isinstance(q, ImageQuery):
                images.append(i)
            elif isinstance(q, VectorQuery):
                if q.is_batch:
                    raise InvalidInputError(
                        "put (n, dim) vector batches in one ov.vector(), not a list"
                    )
                if q.array.shape[0] != self.dim:
                    raise DimensionMismatchError(
                        f"query vector has dim {q.array.shape[0]}, collection {self.name!r} "
                        f"has dim {self.dim}"
                    )
                out[i] = q.array
            elif isinstance(q, RefQuery):
                refs.setdefault(q.collection, []).append(i)
            elif q is None:
                raise InvalidInputError("query is None; pass text, ov.image, ov.vector or ov.ref")
            else:
                raise InvalidInputError(
                    f"cannot search with a {type(q).__name__}: pass a str (text), ov.image(...), "
                    "ov.vector(...) or ov.ref(id)"
                )
        if texts:
            out[texts] = self._encode_queries([queries[i] for i in texts], "text")
        if images:
            out[images] = self._encode([queries[i].source for i in images], "image")
        for coll_name, idx in refs.items():
            own = coll_name is None or coll_name == self.name
            source = self if own or coll_name is None else self._resolve(coll_name)
            if not own:
                source.check_complete()
            if not own and source.space != self.space:
                raise SpaceMismatchError(
                    f"ref into collection {coll_name!r} ({source.space.describe()}) cannot query "
                    f"collection {self.name!r} ({self.space.describe()}): different vector spaces"
                )
            ids = [queries[i].id for i in idx]
            keys = encode_ids(ids, unique=False)
            rows = self._store.get(source.physical, keys)
            for i, id_, key in zip(idx, ids, keys, strict=True):
                if key not in rows:
                    raise NotFoundError(f"ref id {id_!r} is not in collection {source.name!r}")
                out[i] = rows[key].vector
                if own:
                    exclude[i] = key
        return out, exclude

    def _encode_queries(self, texts: list[str], modality: str) -> np.ndarray:
        """Encode query strings through a small LRU cache keyed by the space fingerprint."""
        fp = self._record.space.fingerprint
        result = np.empty((len(texts), self.dim), dtype=np.float32)
        todo: list[int] = []
        with self._lock:
            for i, t in enumerate(texts):
                hit = self._query_cache.get((fp, modality, t))
                if hit is None:
                    todo.append(i)
                else:
                    self._query_cache.move_to_end((fp, modality, t))
                    result[i] = hit
        if todo:
            fresh = self._encode([texts[i] for i in todo], modality)
            with self._lock:
                for row, i in zip(fresh, todo, strict=True):
                    result[i] = row
                    self._query_cache[(fp, modality, texts[i])] = row
                while len(self._query_cache) > _QUERY_CACHE_SIZE:
                    self._query_cache.popitem(last=False)
        return result

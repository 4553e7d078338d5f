"""A named collection of vectors in one vector space, and the unified query layer over it."""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, overload

import numpy as np

from omnivec.core.encoder import Encoder, FitResult
from omnivec.core.ids import decode_id, encode_ids
from omnivec.core.progress import progress_bar
from omnivec.core.queries import Hit, ImageQuery, Record, RefQuery, VectorQuery
from omnivec.core.space import Space
from omnivec.core.validation import check_batch, check_k, check_metadata, check_vectors
from omnivec.errors import (
    DimensionMismatchError,
    EncoderError,
    InvalidInputError,
    NotFoundError,
    OmnivecError,
    SpaceMismatchError,
    StoreError,
)

if TYPE_CHECKING:
    from omnivec.platform.platform import Platform

__all__ = ["Collection"]

logger = logging.getLogger(__name__)

#: Items encoded per encoder call during ``add``; progress advances by this much.
ENCODE_CHUNK = 1_024
#: Catalog-record key present while a fit is writing its vectors. A process killed (or a
#: store failing) between the first and the last write of a fit leaves it behind: the rows may
#: then mix two fits, and searches refuse until a new fit completes (docs/reliability.md).
FITTING = "fitting"
_QUERY_CACHE_SIZE = 2_048
#: base64 characters per catalog chunk of a learned-state blob (a catalog doc is <= 64 KiB).
_BLOB_CHUNK = 48_000


class Collection:
    """Vectors of one space, stored under the user's ids, searchable by text, image, vector or ref.

    Get one with :meth:`omnivec.Platform.collection`; do not construct it directly.
    """

    def __init__(self, platform: Platform, name: str, record: dict[str, Any], encoder: Any) -> None:
        self._platform = platform
        self.name = name
        self._record = record
        self._encoder = encoder
        self._store = platform.store
        self._space_checked = False
        self._lock = threading.RLock()
        self._query_cache: OrderedDict[tuple[str, str, str], np.ndarray] = OrderedDict()
        if encoder is not None and hasattr(encoder, "add_fit_listeners"):
            encoder.add_fit_listeners(
                before=self._before_encoder_fit, after=self._after_encoder_fit
            )

    # -- identity ----------------------------------------------------------------------
    @property
    def space(self) -> Space:
        """The vector space this collection's vectors live in."""
        return Space.from_dict(self._record["space"])

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
        return self._record.get("encoder")

    def info(self) -> dict[str, Any]:
        """Name, encoder, configuration, space and row count, as plain JSON-able data."""
        return {
            "name": self.name,
            "encoder": self._record.get("encoder"),
            "config": self._record.get("config", {}),
            "space": self._record["space"],
            "index": self._record.get("index", "flat"),
            "count": len(self),
            "recommender": self._record.get("recommender"),
        }

    def __len__(self) -> int:
        return self._store.count(self.name)

    def count(self, where: str | None = None) -> int:
        """Rows matching ``where`` (all rows without it)."""
        return self._store.count(self.name, where=_check_where(where))

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
        if vectors is None:
            arr = self._encode_many(batch, modality, progress)
            meta = self._with_encoder_metadata(batch, modality, meta)
        self._store.upsert(self.name, keys, arr, meta)
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
        return self._store.delete(self.name, keys)

    def get(self, ids: Sequence[Any]) -> list[Record]:
        """Stored records in the order asked; an unknown id raises :class:`NotFoundError`."""
        ids = check_batch(ids, "ids")
        keys = encode_ids(ids, unique=False)
        self._check_complete()
        rows = self._store.get(self.name, keys)
        missing = [i for i, k in zip(ids, keys, strict=True) if k not in rows]
        if missing:
            raise NotFoundError(
                f"id {missing[0]!r} is not in collection {self.name!r}"
                + (f" (and {len(missing) - 1} more)" if len(missing) > 1 else "")
            )
        return [Record(decode_id(k), rows[k].vector, rows[k].metadata) for k in keys]

    def ids(self, where: str | None = None) -> list[Any]:
        """Every stored id (matching ``where`` if given)."""
        return [decode_id(k) for k in self._store.keys(self.name, where=_check_where(where))]

    def fit(self, data: Any, *args: Any, warm_start: bool = False, **kwargs: Any) -> Collection:
        """Train the collection's encoder on ``data`` and (re)write every vector it learned.

        For node2vec and graphsage, ``data`` is a graph; see the encoder's ``fit``. A str
        ``features=`` (graphsage) names a collection whose records share the node ids; their
        vectors are the node features. With ``warm_start=True``
        the stored vectors seed the training (new entities start at random). Rows of entities
        no longer in ``data`` are deleted, and the new space is recorded in the same step.
        """
        enc = self._encoder
        if enc is None or not hasattr(enc, "fit"):
            raise InvalidInputError(
                f"collection {self.name!r} has no trainable encoder; "
                "fit() works on node2vec collections (recommenders have their own fit)"
            )
        with self._lock:
            feature_source = kwargs.get("features")
            if isinstance(feature_source, str) and hasattr(enc, "feature_ids"):
                ids = enc.feature_ids(data, None, kwargs.get("directed"))
                kwargs["features"] = self._features_from(feature_source, ids)
            if warm_start and len(self) > 0:
                # A half-written fit is no starting point.
                self._check_complete("fit it again without warm_start=True (or drop it)")
                keys = self._store.keys(self.name)
                rows = self._store.get(self.name, keys)
                kwargs["init"] = {decode_id(k): r.vector for k, r in rows.items()}
            # A failed fit puts the encoder back to the fit the stored vectors belong to
            # (fit assigns new attributes rather than mutating old ones: a shallow copy does).
            saved = dict(vars(enc)) if hasattr(enc, "__dict__") else None
            try:
                result = enc.fit(data, *args, **kwargs)
                if not isinstance(result, FitResult):
                    raise EncoderError(
                        f"encoder {self.encoder_name!r}.fit() did not return a FitResult"
                    )
                if isinstance(feature_source, str):
                    self._record["feature_collection"] = feature_source
                else:
                    self._record.pop("feature_collection", None)
                self._replace_all(result, enc.space)
            except BaseException:
                if saved is not None:
                    vars(enc).update(saved)
                raise
        return self

    def _replace_all(self, result: FitResult, space: Space) -> None:
        vecs = check_vectors(result.vectors, space.dim, "learned vectors")
        keys = encode_ids(result.ids)
        meta = check_metadata(result.metadata, len(keys))
        old = set(self._store.keys(self.name))
        self._begin_fit()
        try:
            # All or nothing: if it raises, the store rolled back what it wrote.
            self._store.upsert(self.name, keys, vecs, meta)
        except BaseException:
            self._end_fit()  # the previous fit's rows stand, unchanged
            raise
        stale = sorted(old - set(keys))
        if stale:
            self._store.delete(self.name, stale)
        self._record_space(space)

    def _begin_fit(self) -> None:
        """Record in the catalog, before a fit writes its first vector, that one is under way;
        :meth:`_record_space` clears it once every vector is written."""
        self._record[FITTING] = {"since": time.time()}
        self._platform._save_record(self.name, self._record)

    def _end_fit(self) -> None:
        """Clear the marker of a fit that failed before any of its vectors stayed written."""
        marker = self._record.pop(FITTING, None)
        try:
            self._platform._save_record(self.name, self._record)
        except Exception:
            self._record[FITTING] = marker  # still in the catalog: keep refusing here too
            logger.exception("could not clear the fit marker of collection %r", self.name)

    def _check_complete(self, todo: str = "run its fit again (or drop it)") -> None:
        """Refuse to read vectors that may mix two fits (a fit was cut off mid-write)."""
        marker = self._record.get(FITTING)
        if marker:
            when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(marker.get("since", 0)))
            raise StoreError(
                f"collection {self.name!r}: a fit started {when} stopped while writing its "
                f"vectors, so they may mix two fits; {todo}"
            )

    def _record_space(self, space: Space) -> None:
        enc = self._encoder
        self._record.pop(FITTING, None)
        self._record["space"] = space.to_dict()
        if enc is not None:
            self._record["config"] = enc.config()
            self._record["identity"] = _identity(enc)
            if hasattr(enc, "state_dict"):
                self._record["state"] = enc.state_dict()
        old_blob = self._record.get("blob")
        data = getattr(enc, "state_bytes", lambda: None)()
        if data:
            self._record["blob"] = self._put_blob(data)
        self._platform._save_record(self.name, self._record)
        self._space_checked = True
        self._query_cache.clear()
        if old_blob and old_blob != self._record.get("blob"):
            for key in old_blob["keys"]:
                self._store.delete_doc(key)

    # -- learned state too big for the catalog record: weights of graphsage --------------
    def _put_blob(self, data: bytes) -> dict[str, Any]:
        """Write ``data`` as catalog chunks named by its hash (a new fit never overwrites the
        chunks the current record points to); return the record's reference to them."""
        import base64
        import hashlib

        sha = hashlib.sha256(data).hexdigest()
        text = base64.b64encode(data).decode("ascii")
        keys = []
        for i, start in enumerate(range(0, len(text), _BLOB_CHUNK)):
            keys.append(f"blob:{self.name}:{sha[:16]}:{i}")
            self._store.put_doc(keys[-1], {"b64": text[start : start + _BLOB_CHUNK]})
        return {"sha256": sha, "keys": keys, "bytes": len(data)}

    def _get_blob(self) -> bytes:
        import base64
        import hashlib

        ref = self._record.get("blob")
        docs = [self._store.get_doc(k) for k in ref["keys"]] if ref else []
        data = base64.b64decode("".join(d["b64"] for d in docs if d)) if ref else b""
        if not ref or hashlib.sha256(data).hexdigest() != ref["sha256"]:
            raise StoreError(
                f"collection {self.name!r}: its trained weights are missing or damaged in the "
                "catalog; fit it again"
            )
        return data

    def _features_from(self, name: str, ids: list[Any]) -> dict[Any, np.ndarray]:
        """``{node: vector}`` for ``ids`` from collection ``name``, whose records share the node
        ids (text, image, CF or raw vectors). Every id must be there."""
        if name == self.name:
            raise InvalidInputError(
                "features= names this collection itself; name the collection of node features"
            )
        source = self._platform._existing_collection(name)
        source._check_complete()
        keys = encode_ids(ids, unique=False)
        rows = self._store.get(source.name, keys)
        missing = [i for i, k in zip(ids, keys, strict=True) if k not in rows]
        if missing:
            more = f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""
            raise NotFoundError(
                f"feature collection {name!r} has no record for node {missing[0]!r}{more}; "
                "add one for every node of the graph"
            )
        return {i: rows[k].vector for i, k in zip(ids, keys, strict=True)}

    def embed(
        self, graph: Any, nodes: Sequence[Any], *, features: Any = None, **kwargs: Any
    ) -> list[Any]:
        """Embed ``nodes`` that are new to the trained model (graphsage), with their edges
        (and features) in ``graph``, using the trained weights; store (upsert) only them and
        return their ids. No training: every other row is untouched, the space is unchanged.

        ``features``: ``{node: vector}``, an array in the graph's node order, or the name of a
        collection sharing the node ids (default: the one the fit used, if it used one).
        All or nothing: on any error nothing is written.
        """
        enc = self._encoder
        if enc is None or not hasattr(enc, "embed"):
            raise InvalidInputError(
                f"collection {self.name!r} cannot embed new nodes; embed() works on "
                "graphsage collections (node2vec needs a new fit)"
            )
        with self._lock:
            self._check_complete()
            if not getattr(enc, "fitted", False):
                raise InvalidInputError(
                    f"collection {self.name!r} has no trained model yet; fit it first"
                )
            if not enc.has_weights:
                enc.load_state_bytes(self._get_blob())
            if features is None:
                features = self._record.get("feature_collection")
            if isinstance(features, str):
                ids = enc.feature_ids(graph, nodes, kwargs.get("directed"))
                features = self._features_from(features, ids)
            result = enc.embed(graph, nodes, features=features, **kwargs)
            vecs = check_vectors(result.vectors, self.dim, "embedded vectors")
            keys = encode_ids(result.ids)
            self._store.upsert(self.name, keys, vecs, check_metadata(result.metadata, len(keys)))
        return [decode_id(k) for k in keys]

    # -- encoder guards -------------------------------------------------------------------
    def _before_encoder_fit(self, encoder: Any) -> None:
        n = len(self) if self._store.has_collection(self.name) else 0
        if n > 0:
            raise SpaceMismatchError(
                f"collection {self.name!r} holds {n} vectors of the current weights; "
                "training would make them stale. Train into a new, empty collection"
            )

    def _after_encoder_fit(self, encoder: Any) -> None:
        self._record_space(encoder.space)

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
        where = _check_where(where)
        self._check_complete()
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
        vectors, exclude = self._query_vectors(queries)
        raw = self._store.search(
            self.name, vectors, k, where=where, exclude=exclude, metric=self.metric
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
            source = (
                self if own or coll_name is None else self._platform._existing_collection(coll_name)
            )
            if not own:
                source._check_complete()
            if not own and source.space != self.space:
                raise SpaceMismatchError(
                    f"ref into collection {coll_name!r} ({source.space.describe()}) cannot query "
                    f"collection {self.name!r} ({self.space.describe()}): different vector spaces"
                )
            ids = [queries[i].id for i in idx]
            keys = encode_ids(ids, unique=False)
            rows = self._store.get(source.name, keys)
            for i, id_, key in zip(idx, ids, keys, strict=True):
                if key not in rows:
                    raise NotFoundError(f"ref id {id_!r} is not in collection {source.name!r}")
                out[i] = rows[key].vector
                if own:
                    exclude[i] = key
        return out, exclude

    def _encode_queries(self, texts: list[str], modality: str) -> np.ndarray:
        """Encode query strings through a small LRU cache keyed by the space fingerprint."""
        fp = self._record["space"].get("fingerprint", "")
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


def _check_where(where: Any) -> str | None:
    if where is None or where == "":
        return None
    if not isinstance(where, str):
        raise InvalidInputError(
            f"where must be a str filter expression, got {type(where).__name__}"
        )
    return where


def _identity(encoder: Any) -> dict[str, Any]:
    ident = getattr(encoder, "identity", None)
    return dict(ident()) if callable(ident) else dict(encoder.config())


def _check_identity(
    what: str, encoder: Any, old: dict[str, Any], encoder_name: str, rename: str = "another name"
) -> None:
    """Refuse reopening ``what`` (e.g. "collection 'docs'") with settings other than ``old``,
    naming each setting that differs."""
    ident = _identity(encoder)
    if ident != old:
        changed = sorted(k for k in set(ident) | set(old) if ident.get(k) != old.get(k))
        raise SpaceMismatchError(
            f"{what} was built with other {encoder_name} settings "
            f"({', '.join(f'{k}={old.get(k)!r}' for k in changed)}); "
            f"open it without those options or use {rename}"
        )

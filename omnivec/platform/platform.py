"""The entry point: a :class:`Platform` owns a store, the catalog and the open collections."""

from __future__ import annotations

import dataclasses
import json
import logging
import threading
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from omnivec.core.queries import Hit
from omnivec.core.space import METRICS, Space
from omnivec.core.validation import check_k, check_name
from omnivec.errors import EncoderError, InvalidInputError, NotFoundError, SpaceMismatchError
from omnivec.platform import hybrid, windows
from omnivec.platform.catalog import (
    Catalog,
    CollectionRecord,
    RecommenderRecord,
    check_identity,
    identity_of,
)
from omnivec.platform.collection import Collection, parts_of
from omnivec.platform.fusion import check_weights, fuse
from omnivec.platform.hybrid import default_candidates
from omnivec.platform.recommending import SEEN_SUFFIX, RecommenderLayer, RecommenderLike
from omnivec.platform.registry import (
    available_encoders,
    create_encoder,
    get_factory,
    recommender_factory,
)
from omnivec.stores.index_options import INDEXES, check_recall_target

if TYPE_CHECKING:
    from omnivec.stores.base import VectorStore

__all__ = ["Platform", "connect"]

logger = logging.getLogger(__name__)


class Platform:
    """Collections and recommenders over one store.

    ``uri`` is a Milvus Lite file (default ``omnivec.db``, or ``$OMNIVEC_URI``) or a Milvus
    server URI such as ``http://localhost:19530`` (``token=`` for authentication). Use it as a
    context manager, or call :meth:`close`.
    """

    def __init__(
        self,
        uri: str | None = None,
        token: str = "",
        *,
        timeout: float = 10.0,
        store: VectorStore | None = None,
    ) -> None:
        if store is None:
            from omnivec.stores.milvus import MilvusStore, default_uri

            store = MilvusStore(uri or default_uri(), token=token, timeout=timeout)
        self.store = store
        self.catalog = Catalog(store)
        self.uri = store.uri
        self._lock = threading.RLock()
        self._collections: dict[str, Collection] = {}
        self._recommenders: dict[str, RecommenderLike] = {}
        self._encoders: dict[tuple[str, str], Any] = {}

    # -- lifecycle ----------------------------------------------------------------------
    def close(self) -> None:
        self.store.close()

    def __enter__(self) -> Platform:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Platform({self.uri!r})"

    # -- encoders and collections ---------------------------------------------------------------
    def encoder_for(self, name: str, config: dict[str, Any]) -> Any:
        """One encoder object per (name, configuration) in a process, so models load once.

        Encoders whose learned state belongs to one collection (``shareable = False``, e.g.
        node2vec) get an object of their own every time.
        """
        if not getattr(get_factory(name), "shareable", True):
            return create_encoder(name, **config)
        key = (name, json.dumps(config, sort_keys=True, default=str))
        with self._lock:
            enc = self._encoders.get(key)
            fresh = create_encoder(name, **config)  # constructors only store config: cheap
            # A cached encoder trained since (CLIP fit points it at a new checkpoint) is no
            # longer what this configuration means; give the caller the configured one.
            if enc is None or identity_of(enc) != identity_of(fresh):
                enc = self._encoders[key] = fresh
            return enc

    # -- collections ----------------------------------------------------------------------
    def collection(
        self,
        name: str,
        encoder: str | None = None,
        *,
        dim: int | None = None,
        metric: str | None = None,
        index: str | None = None,
        chunk_tokens: int | None = None,
        chunk_overlap: int | None = None,
        keywords: bool | None = None,
        analyzer: str | None = None,
        passage_chars: int | None = None,
        **config: Any,
    ) -> Collection:
        """Get collection ``name``, creating it if it does not exist.

        With ``encoder`` (``"text"``, ``"clip"``, ``"node2vec"`` or a plugin) and its
        configuration as keyword arguments; or vectors only, with ``dim`` and ``metric``
        (``"cosine"``, ``"ip"`` or ``"l2"``). Reopening with another encoder or configuration
        raises :class:`SpaceMismatchError` before any model loads. ``index`` is ``"auto"``
        (default: exact while small, then an ANN index with recall@10 >= 0.95: in-process
        on a Lite file, the server's HNSW on a server), ``"flat"`` (always exact),
        ``"ivf_sq8"`` (compressed, re-ranked exactly), ``"ivf_flat"`` or ``"hnsw"`` (server).
        Text collections keep each record's text and split texts longer than ``chunk_tokens``
        of the model's tokens into windows overlapping by ``chunk_overlap`` (defaults: the
        encoder's, measured); a hit's passage is at most ``passage_chars`` characters
        (default 800) of whole sentences around its best window. ``keywords=True`` also indexes the stored text for BM25
        (``analyzer`` ``"standard"``, ``"english"`` or ``"chinese"``), and searches default to
        ``mode="hybrid"``.
        """
        check_name(name)
        chunks = (chunk_tokens, chunk_overlap, passage_chars)
        target = config.pop("recall_target", None)  # the ANN index's, not the encoder's
        if target is not None:
            target = check_recall_target(target)
        with self._lock:
            record = self.catalog.collection(name)
            if record is not None and record.status == "creating":
                # A process died between writing this record and creating the Milvus
                # collection: finish the creation if the same settings are asked again.
                self._finish_create(name, record)
            if record is not None:
                windows.check_reopen(name, record.text, *chunks)
                hybrid.check_reopen(name, record.keywords, keywords, analyzer)
                col = self._reopen(name, record, encoder, dim, metric, config)
                if target is not None:
                    self.store.set_recall_target(col.physical, target)
                return col
            if self.store.has_collection(name):
                raise InvalidInputError(
                    f"a Milvus collection {name!r} exists but was not made by omnivec; pick another name"
                )
            col = self._create(
                name, encoder, dim, metric, index, config, chunks, (keywords, analyzer)
            )
            if target is not None:
                self.store.set_recall_target(col.physical, target)
            return col

    def _create(
        self,
        name: str,
        encoder: str | None,
        dim: int | None,
        metric: str | None,
        index: str | None,
        config: dict[str, Any],
        chunks: tuple[int | None, int | None, int | None] = (None, None, None),
        keywords: tuple[bool | None, str | None] = (None, None),
    ) -> Collection:
        index = index or "auto"
        if index not in INDEXES:
            raise InvalidInputError(f"index must be one of {', '.join(INDEXES)}, got {index!r}")
        if encoder is None:
            if config:
                raise InvalidInputError(
                    f"options {sorted(config)} need an encoder; pass encoder=... "
                    "or only dim= and metric= for a vectors-only collection"
                )
            if dim is None:
                raise InvalidInputError(
                    f"collection {name!r} does not exist; create it with encoder=... "
                    "(see `omnivec encoders`) or with dim= and metric= for raw vectors"
                )
            if isinstance(dim, bool) or not isinstance(dim, int) or not 1 <= dim <= 32_768:
                raise InvalidInputError(f"dim must be an integer from 1 to 32768, got {dim!r}")
            metric = metric or "cosine"
            if metric not in METRICS:
                raise InvalidInputError(f"metric must be one of {METRICS}, got {metric!r}")
            space = Space("none", "vectors", "", int(dim), metric)
            windows.text_options(None, *chunks)
            hybrid.keyword_options(*keywords, None)
            record = CollectionRecord(space=space, index=index, status="creating")
            enc = None
        else:
            if dim is not None:
                config["dim"] = dim
            if metric is not None:
                config["metric"] = metric
            enc = self.encoder_for(encoder, config)
            space = enc.space
            text = windows.text_options(enc, *chunks)
            kw = hybrid.keyword_options(*keywords, text)
            record = CollectionRecord(
                space=space,
                encoder=encoder,
                config=enc.config(),
                identity=identity_of(enc),
                state=enc.state_dict() if hasattr(enc, "state_dict") else {},
                index=index,
                status="creating",
                text=text,
                keywords=kw,
            )
        col = self.create_collection(name, record, enc)
        if getattr(enc, "stores_vocabulary", False):
            # Pretrained word vectors: the file's words become the records now, or no collection.
            try:
                col.fit(None)
            except BaseException:
                self.drop_collection(name)
                raise
        logger.info("created collection %r in %s", name, space.describe())
        return col

    def _reopen(
        self,
        name: str,
        record: CollectionRecord,
        encoder: str | None,
        dim: int | None,
        metric: str | None,
        config: dict[str, Any],
    ) -> Collection:
        space = record.space
        stored_encoder = record.encoder
        if encoder is not None and encoder != stored_encoder:
            raise SpaceMismatchError(
                f"collection {name!r} was created with encoder {stored_encoder!r}, not {encoder!r}; "
                "open it without encoder= or use another collection name"
            )
        if dim is not None and dim != space.dim:
            raise SpaceMismatchError(f"collection {name!r} has dim {space.dim}, not {dim}")
        if metric is not None and metric != space.metric:
            raise SpaceMismatchError(
                f"collection {name!r} uses metric {space.metric}, not {metric}"
            )
        cached = self._collections.get(name)
        if stored_encoder is None:
            if config:
                raise SpaceMismatchError(
                    f"collection {name!r} stores raw vectors; it has no encoder options"
                )
            if cached is None:
                cached = self.attach(name, record, None)
            return cached
        # Options an encoder gained after this collection was recorded take the values that
        # collection was built with (``legacy_config``), not today's defaults.
        legacy = getattr(get_factory(stored_encoder), "legacy_config", None) or {}
        merged = {**legacy, **record.config, **config}
        enc = self.encoder_for(stored_encoder, merged)
        if record.identity:
            check_identity(
                f"collection {name!r}",
                enc,
                record.identity,
                stored_encoder,
                rename="another collection name",
            )
        if cached is not None and (
            cached.encoder is enc
            or (cached.encoder is not None and cached.encoder.config() == enc.config())
        ):
            return cached
        if record.state and hasattr(enc, "load_state_dict"):
            enc.load_state_dict(record.state)
        col = self.attach(name, record, enc, checked=False)
        if record.text is not None:
            # Says how to upgrade a collection made before round 3.
            parts_of(col).state.check_record_vectors()
        return col

    def create_collection(
        self,
        name: str,
        record: CollectionRecord,
        encoder: Any = None,
        *,
        kind: type[Collection] = Collection,
    ) -> Collection:
        """Create collection ``name`` from ``record``: the one path every collection takes
        (:meth:`collection`'s and a recommender's alike). The catalog record comes first, with
        ``status="creating"``, then the Milvus collection, then the record says ``"ready"``: a
        crash in between leaves a record that opening finishes (by calling this again with the
        stored record) and :meth:`drop` removes, never an orphan Milvus collection.
        ``encoder``: the encoder object of the collection (None: raw vectors); ``kind``: its
        class (a recommender's own collections have theirs)."""
        check_name(name)
        with self._lock:
            stored = self.catalog.collection(name)
            if stored is not None and stored.status != "creating":
                raise InvalidInputError(
                    f"a collection named {name!r} already exists; pick another name"
                )
            if stored is None and self.store.has_collection(name):
                raise InvalidInputError(
                    f"a Milvus collection {name!r} exists but was not made by omnivec; pick another name"
                )
            if stored is None or record.status != "creating":
                record.status = "creating"
                self.catalog.save_collection(name, record)
            self._finish_create(name, record)
            return self.attach(name, record, encoder, kind=kind)

    def _finish_create(self, name: str, record: CollectionRecord) -> None:
        if not self.store.has_collection(name):
            analyzer = record.keywords.analyzer if record.keywords is not None else None
            self.store.create_collection(
                name, record.space.dim, record.space.metric, index=record.index, keywords=analyzer
            )
        if record.status != "ready":
            record.status = "ready"
            self.catalog.save_collection(name, record)

    def attach(
        self,
        name: str,
        record: CollectionRecord,
        encoder: Any,
        *,
        checked: bool = True,
        kind: type[Collection] = Collection,
    ) -> Collection:
        """A :class:`Collection` object for ``record``, registered so that refs by name find
        the same object. ``checked``: the encoder is known to give the recorded space."""
        col = kind(
            name,
            record,
            encoder,
            store=self.store,
            catalog=self.catalog,
            resolve=self.existing_collection,
            checked=checked,
        )
        with self._lock:
            self._collections[name] = col
        return col

    def existing_collection(self, name: str) -> Collection:
        """An existing collection by name (NotFoundError otherwise), with its stored encoder."""
        check_name(name)
        with self._lock:
            cached = self._collections.get(name)
            if cached is not None:
                return cached
            record = self.catalog.collection(name)
            if record is None:
                raise NotFoundError(f"no collection named {name!r}; see `omnivec collections`")
            if record.status == "creating":
                self._finish_create(name, record)
            return self._reopen(name, record, None, None, None, {})

    def get_collection(self, name: str) -> Collection:
        """An existing collection; :class:`NotFoundError` if there is none by that name."""
        return self.existing_collection(name)

    def has_collection(self, name: str) -> bool:
        return self.catalog.collection(check_name(name)) is not None

    def collection_record(self, name: str) -> CollectionRecord | None:
        """Collection ``name``'s catalog record (None if there is none)."""
        return self.catalog.collection(check_name(name))

    def collections(self) -> list[str]:
        """Names of every omnivec collection in the store (a recommender's side collection of
        seen histories, which holds no vectors to search, is left out)."""
        return [
            name
            for name in self.catalog.collection_names()
            if not (name.endswith(SEEN_SUFFIX) and self._is_seen_histories(name))
        ]

    def _is_seen_histories(self, name: str) -> bool:
        record = self.catalog.collection(name)
        return record is not None and record.role == "seen"

    def info(self, name: str) -> dict[str, Any]:
        return self.existing_collection(name).info()

    def drop(self, name: str) -> bool:
        """Delete a collection (or a recommender with its collections). False if absent."""
        check_name(name)
        with self._lock:
            if self.catalog.recommender(name) is not None:
                # The recommender layer knows what a recommender is made of.
                self._recommenders.pop(name, None)
                return self._recommender_layer().drop(self, name)
            return self.drop_collection(name)

    def drop_collection(self, name: str) -> bool:
        """Delete collection ``name``: its record and every Milvus collection it owns. False
        if there is no such collection. (:meth:`drop` also takes a recommender's name.)"""
        check_name(name)
        record = self.catalog.collection(name)
        if record is None:
            return False
        for milvus_name in record.owned_milvus_names(name):  # rows, re-embed shadow
            if self.store.has_collection(milvus_name):
                self.store.drop_collection(milvus_name)
        self.catalog.delete_collection(name)
        self.catalog.delete_blob(record.blob)  # graphsage weights
        self._collections.pop(name, None)
        return True

    def encoders(self) -> list[str]:
        """Names of the encoders that can be used (built-ins and plugins)."""
        return available_encoders()

    # -- search across collections -----------------------------------------------------------
    def search(
        self,
        queries: Mapping[str, Any],
        k: int = 10,
        *,
        weights: Mapping[str, float] | None = None,
        where: str | Mapping[str, str] | None = None,
    ) -> list[Hit]:
        """One ranked list over several collections whose records share ids.

        ``queries`` maps a collection name to what its ``search`` takes (text, ``ov.image``,
        ``ov.vector``, ``ov.ref``); each leg is checked against its own collection's space.
        Hits are fused per id (:mod:`omnivec.platform.fusion`): reciprocal-rank fusion, or
        weighted relative-score fusion when ``weights`` (by collection name) are given.
        ``hit.score`` is the fused score, ``hit.scores`` each collection's own score, and the
        metadata (and text) come from the first collection that returned the id. ``where`` is
        one filter for every leg or a filter per collection name.
        """
        if not isinstance(queries, Mapping) or not queries:
            raise InvalidInputError("plat.search() takes a non-empty dict {collection name: query}")
        k = check_k(k)
        names = [check_name(n) for n in queries]
        fusion_weights = check_weights(weights, names)
        if isinstance(where, Mapping):
            unknown = sorted(set(where) - set(names))
            if unknown:
                raise InvalidInputError(f"where names {', '.join(unknown)}, which are not searched")
        # Each leg fetches as deep as a hybrid leg (max(4k, 50)): an id must reach every leg's
        # candidates for fusion to see that it is right in all of them.
        depth = default_candidates(k)
        cols = {name: self.existing_collection(name) for name in names}
        legs: dict[str, list[Hit]] = {}
        for name, query in queries.items():
            if isinstance(query, list | tuple):
                raise InvalidInputError(
                    f"the query for {name!r} is a list; plat.search() takes one query per "
                    "collection (call it once per query)"
                )
            leg_where = where.get(name) if isinstance(where, Mapping) else where
            legs[name] = cols[name].search(query, k=depth, where=leg_where)
        return [
            dataclasses.replace(f.best, score=f.score, scores=f.scores)
            for f in fuse(legs, k, fusion_weights)
        ]

    def ask(
        self,
        queries: Mapping[str, Any],
        k: int = 5,
        *,
        llm: Any = None,
        weights: Mapping[str, float] | None = None,
        where: str | Mapping[str, str] | None = None,
        stream: bool = False,
        min_score: float | None = None,
        rerank: Any = None,
        max_context_tokens: int | None = None,
    ) -> Any:
        """``Collection.ask`` over :meth:`search`'s fused hits: ``queries`` maps collection
        names to the question (or another query, e.g. ``ov.image``); the first text query is
        the question put to ``llm``. Returns an ``ov.Answer`` (``stream=True``: text pieces,
        then the Answer); see :mod:`omnivec.platform.ask`."""
        from omnivec.platform.ask import ask_platform

        return ask_platform(
            self,
            queries,
            k,
            llm=llm,
            weights=weights,
            where=where,
            stream=stream,
            min_score=min_score,
            rerank=rerank,
            max_context_tokens=max_context_tokens,
        )

    # -- recommenders -----------------------------------------------------------------------
    def recommender(
        self, name: str, algorithm: str | None = None, **config: Any
    ) -> RecommenderLike:
        """Get or create recommender ``name`` (``algorithm="als"`` or ``"bpr"``)."""
        check_name(name, "recommender")
        with self._lock:
            cached = self._recommenders.get(name)
            if cached is not None and algorithm in (None, cached.algorithm) and not config:
                return cached
            rec = self._recommender_layer().open(self, name, algorithm, config)
            self._recommenders[name] = rec
            return rec

    def has_recommender(self, name: str) -> bool:
        return self.catalog.recommender(check_name(name, "recommender")) is not None

    @staticmethod
    def _recommender_layer() -> RecommenderLayer:
        layer = recommender_factory()
        if not isinstance(layer, RecommenderLayer):
            raise EncoderError(
                "the recommender layer (entry point 'omnivec.recommenders') has no open() and "
                "drop(); reinstall omnivec (pip install -e .)"
            )
        return layer

    # -- a recommender's catalog record (for the recommender layer: RecommenderHost) --------
    def recommender_record(self, name: str) -> RecommenderRecord | None:
        """Recommender ``name``'s catalog record (None if there is none)."""
        return self.catalog.recommender(name)

    def save_recommender_record(self, name: str, record: RecommenderRecord) -> None:
        self.catalog.save_recommender(name, record)

    def delete_recommender_record(self, name: str) -> None:
        self.catalog.delete_recommender(name)

    def save_collection_record(self, name: str, record: CollectionRecord) -> None:
        self.catalog.save_collection(check_name(name), record)

    def recommenders(self) -> list[str]:
        return self.catalog.recommender_names()


def connect(uri: str | None = None, token: str = "", *, timeout: float = 10.0) -> Platform:
    """Open a platform on a Milvus Lite file (default ``omnivec.db``) or a Milvus server URI."""
    return Platform(uri, token=token, timeout=timeout)

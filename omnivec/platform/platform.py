"""The entry point: a :class:`Platform` owns a store, the catalog and the open collections."""

from __future__ import annotations

import json
import logging
import threading
import time
from typing import TYPE_CHECKING, Any

from omnivec.core.space import METRICS, Space
from omnivec.core.validation import check_name
from omnivec.errors import InvalidInputError, NotFoundError, SpaceMismatchError
from omnivec.platform.collection import Collection, _check_identity, _identity
from omnivec.platform.registry import available_encoders, create_encoder, get_factory

if TYPE_CHECKING:
    from omnivec.recs.recommender import Recommender
    from omnivec.stores.base import VectorStore

__all__ = ["Platform", "connect"]

logger = logging.getLogger(__name__)

_COLLECTION = "collection:"
_RECOMMENDER = "recommender:"
_INDEXES = ("flat", "ivf_flat", "hnsw")


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
        self.uri = store.uri
        self._lock = threading.RLock()
        self._collections: dict[str, Collection] = {}
        self._recommenders: dict[str, Recommender] = {}
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

    # -- catalog ---------------------------------------------------------------------------
    def _load_record(self, name: str) -> dict[str, Any] | None:
        return self.store.get_doc(_COLLECTION + name)

    def _save_record(self, name: str, record: dict[str, Any]) -> None:
        self.store.put_doc(_COLLECTION + name, record)

    def _encoder_for(self, name: str, config: dict[str, Any]) -> Any:
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
            if enc is None or _identity(enc) != _identity(fresh):
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
        **config: Any,
    ) -> Collection:
        """Get collection ``name``, creating it if it does not exist.

        With ``encoder`` (``"text"``, ``"clip"``, ``"node2vec"`` or a plugin) and its
        configuration as keyword arguments; or vectors only, with ``dim`` and ``metric``
        (``"cosine"``, ``"ip"`` or ``"l2"``). Reopening with another encoder or configuration
        raises :class:`SpaceMismatchError` before any model loads. ``index`` is ``"flat"``
        (exact, default), ``"ivf_flat"`` or ``"hnsw"`` (server only).
        """
        check_name(name)
        with self._lock:
            record = self._load_record(name)
            if record is not None:
                return self._reopen(name, record, encoder, dim, metric, config)
            if self.store.has_collection(name):
                raise InvalidInputError(
                    f"a Milvus collection {name!r} exists but was not made by omnivec; pick another name"
                )
            return self._create(name, encoder, dim, metric, index, config)

    def _create(
        self,
        name: str,
        encoder: str | None,
        dim: int | None,
        metric: str | None,
        index: str | None,
        config: dict[str, Any],
    ) -> Collection:
        index = index or "flat"
        if index not in _INDEXES:
            raise InvalidInputError(f"index must be one of {', '.join(_INDEXES)}, got {index!r}")
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
            record: dict[str, Any] = {"encoder": None, "config": {}, "identity": {}, "state": {}}
            enc = None
        else:
            if dim is not None:
                config["dim"] = dim
            if metric is not None:
                config["metric"] = metric
            enc = self._encoder_for(encoder, config)
            space = enc.space
            record = {
                "encoder": encoder,
                "config": enc.config(),
                "identity": _identity(enc),
                "state": enc.state_dict() if hasattr(enc, "state_dict") else {},
            }
        record.update(space=space.to_dict(), index=index, created=time.time())
        self.store.create_collection(name, space.dim, space.metric, index=index)
        self._save_record(name, record)
        col = Collection(self, name, record, enc)
        col._space_checked = True
        self._collections[name] = col
        logger.info("created collection %r in %s", name, space.describe())
        return col

    def _reopen(
        self,
        name: str,
        record: dict[str, Any],
        encoder: str | None,
        dim: int | None,
        metric: str | None,
        config: dict[str, Any],
    ) -> Collection:
        space = Space.from_dict(record["space"])
        stored_encoder = record.get("encoder")
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
                cached = self._collections[name] = Collection(self, name, record, None)
            return cached
        merged = {**record.get("config", {}), **config}
        enc = self._encoder_for(stored_encoder, merged)
        if "identity" in record:
            _check_identity(
                f"collection {name!r}",
                enc,
                record["identity"],
                stored_encoder,
                rename="another collection name",
            )
        if cached is not None and (
            cached.encoder is enc
            or (cached.encoder is not None and cached.encoder.config() == enc.config())
        ):
            return cached
        if record.get("state") and hasattr(enc, "load_state_dict"):
            enc.load_state_dict(record["state"])
        col = Collection(self, name, record, enc)
        self._collections[name] = col
        return col

    def _existing_collection(self, name: str) -> Collection:
        """An existing collection by name (NotFoundError otherwise), with its stored encoder."""
        check_name(name)
        with self._lock:
            cached = self._collections.get(name)
            if cached is not None:
                return cached
            record = self._load_record(name)
            if record is None:
                raise NotFoundError(f"no collection named {name!r}; see `omnivec collections`")
            return self._reopen(name, record, None, None, None, {})

    def get_collection(self, name: str) -> Collection:
        """An existing collection; :class:`NotFoundError` if there is none by that name."""
        return self._existing_collection(name)

    def has_collection(self, name: str) -> bool:
        return self._load_record(check_name(name)) is not None

    def collections(self) -> list[str]:
        """Names of every omnivec collection in the store."""
        return sorted(
            k[len(_COLLECTION) :] for k in self.store.list_docs() if k.startswith(_COLLECTION)
        )

    def info(self, name: str) -> dict[str, Any]:
        return self._existing_collection(name).info()

    def drop(self, name: str) -> bool:
        """Delete a collection (or a recommender with its two collections). False if absent."""
        check_name(name)
        with self._lock:
            rec_doc = self.store.get_doc(_RECOMMENDER + name)
            if rec_doc is not None:
                for coll in (rec_doc["users"], rec_doc["items"]):
                    self._drop_collection(coll)
                self.store.delete_doc(_RECOMMENDER + name)
                self._recommenders.pop(name, None)
                return True
            return self._drop_collection(name)

    def _drop_collection(self, name: str) -> bool:
        record = self._load_record(name)
        if record is None:
            return False
        if self.store.has_collection(name):
            self.store.drop_collection(name)
        self.store.delete_doc(_COLLECTION + name)
        for key in (record.get("blob") or {}).get("keys", []):  # graphsage weights
            self.store.delete_doc(key)
        self._collections.pop(name, None)
        return True

    def encoders(self) -> list[str]:
        """Names of the encoders that can be used (built-ins and plugins)."""
        return available_encoders()

    # -- recommenders -----------------------------------------------------------------------
    def recommender(self, name: str, algorithm: str | None = None, **config: Any) -> Recommender:
        """Get or create recommender ``name`` (``algorithm="als"`` or ``"bpr"``)."""
        from omnivec.recs.recommender import Recommender

        check_name(name, "recommender")
        with self._lock:
            cached = self._recommenders.get(name)
            if cached is not None and algorithm in (None, cached.algorithm) and not config:
                return cached
            rec = Recommender._open(self, name, algorithm, config)
            self._recommenders[name] = rec
            return rec

    def has_recommender(self, name: str) -> bool:
        return self.store.get_doc(_RECOMMENDER + check_name(name, "recommender")) is not None

    def recommenders(self) -> list[str]:
        return sorted(
            k[len(_RECOMMENDER) :] for k in self.store.list_docs() if k.startswith(_RECOMMENDER)
        )


def connect(uri: str | None = None, token: str = "", *, timeout: float = 10.0) -> Platform:
    """Open a platform on a Milvus Lite file (default ``omnivec.db``) or a Milvus server URI."""
    return Platform(uri, token=token, timeout=timeout)

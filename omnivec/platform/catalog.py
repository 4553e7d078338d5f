"""Typed catalog records, built and parsed in this one module.

The catalog is a set of JSON documents in the store (:class:`omnivec.stores.base.CatalogStore`):
``collection:<name>`` for every collection and ``recommender:<name>`` for every recommender.
Nothing else in omnivec builds or reads those documents as dicts.

Creating a collection writes its catalog record *before* the Milvus collection (with
``state="creating"``), so a crash between the two leaves a record that :class:`Catalog` users
can see, drop or reuse (the Milvus collection is then created, or re-created, on next open).
"""

from __future__ import annotations

import dataclasses
import os
import socket
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from omnivec.core.space import Space
from omnivec.errors import SpaceMismatchError, StoreError

__all__ = [
    "BLOB_PREFIX",
    "COLLECTION_PREFIX",
    "NOTE_PREFIX",
    "RECOMMENDER_PREFIX",
    "BlobRef",
    "Catalog",
    "CollectionRecord",
    "FitMarker",
    "KeywordOptions",
    "RecommenderRecord",
    "ShadowJob",
    "TextOptions",
    "check_identity",
    "identity_of",
]

COLLECTION_PREFIX = "collection:"
RECOMMENDER_PREFIX = "recommender:"
#: Free-form documents of omnivec's own tools (e.g. what the demo created in a file).
NOTE_PREFIX = "note:"
#: Learned state too big for a record (graphsage weights), in chunks named by its hash.
BLOB_PREFIX = "blob:"
#: base64 characters per blob chunk (a catalog document holds at most 64 KiB).
BLOB_CHUNK = 48_000


def _process_token() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


#: Tokens of the fits running now in this process (a marker whose token is here is a fit in
#: progress; one from this process whose token is gone is a fit that died).
_RUNNING: set[str] = set()
_RUNNING_LOCK = threading.Lock()


@dataclass
class FitMarker:
    """Present in a record while a fit writes its vectors.

    ``owner`` (host:pid) and ``token`` tell a fit running now in this process (readers go on
    with the previous vectors, never blocked behind it) from one that died mid-write (readers
    refuse: the rows may mix two fits). :meth:`start` registers the fit, :meth:`finish`
    (called whether the fit succeeded or failed) unregisters it.
    """

    since: float
    owner: str = ""
    thread: int = 0
    token: str = ""

    @classmethod
    def start(cls) -> FitMarker:
        marker = cls(time.time(), _process_token(), threading.get_ident(), os.urandom(8).hex())
        with _RUNNING_LOCK:
            _RUNNING.add(marker.token)
        return marker

    def finish(self) -> None:
        """This fit is no longer running (it completed, or failed and left what it left)."""
        with _RUNNING_LOCK:
            _RUNNING.discard(self.token)

    def running_here(self) -> bool:
        """Whether the fit that left this marker is still running in this process."""
        if self.owner != _process_token() or not self.token:
            return False
        with _RUNNING_LOCK:
            if self.token not in _RUNNING:
                return False
        # A thread that ended without finishing its fit left it dead.
        return any(t.ident == self.thread and t.is_alive() for t in threading.enumerate())

    def describe(self) -> str:
        return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(self.since))

    @classmethod
    def from_doc(cls, doc: Any) -> FitMarker | None:
        if not doc:
            return None
        return cls(
            float(doc.get("since", 0.0)),
            str(doc.get("owner", "")),
            int(doc.get("thread", 0)),
            str(doc.get("token", "")),
        )


def _unknown(doc: dict[str, Any], known: tuple[str, ...]) -> tuple[tuple[str, Any], ...]:
    """The keys of ``doc`` this version does not know, kept to be written back as they were."""
    return tuple((k, v) for k, v in doc.items() if k not in known)


def _int_or_none(value: Any) -> int | None:
    return None if value is None else int(value)


@dataclass(frozen=True)
class KeywordOptions:
    """A collection's keyword (BM25) index (``options["keywords"]`` in the document, absent
    without keywords): the ``analyzer`` that splits its stored text into words."""

    analyzer: str = "standard"
    #: Keys of the document this version does not know (kept as they were).
    extra: tuple[tuple[str, Any], ...] = ()

    def to_doc(self) -> dict[str, Any]:
        return {"analyzer": self.analyzer, **dict(self.extra)}

    @classmethod
    def from_doc(cls, doc: Any) -> KeywordOptions | None:
        if not isinstance(doc, dict):
            return None
        return cls(str(doc.get("analyzer", "standard")), _unknown(doc, ("analyzer",)))


#: Keys of ``options["text"]`` a document may lack (written only when set).
_TEXT_OPTIONAL = ("windows", "passage_chars", "record_vector")


@dataclass(frozen=True)
class TextOptions:
    """How a collection keeps texts (``options["text"]`` in the document, absent for a
    collection that stores none), fixed when it is created (see
    :mod:`omnivec.platform.text_options`): it ``store``s them, splits those longer than
    ``chunk_tokens`` of the model's tokens into windows overlapping by ``chunk_overlap``
    (``None``: an encoder that reports no tokens) by the rule ``windows`` (``None``: absent,
    a collection made before the rule existed, read as token windows), caps a hit's passage
    at ``passage_chars`` (``None``: absent, the default) and ``record_vector`` says the layout
    of every record's main row (``None``: absent, made before round 3)."""

    store: bool = True
    chunk_tokens: int | None = None
    chunk_overlap: int | None = None
    windows: str | None = None
    passage_chars: int | None = None
    record_vector: str | None = None
    #: Keys of the document this version does not know (kept as they were).
    extra: tuple[tuple[str, Any], ...] = ()

    def to_doc(self) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "store": self.store,
            "chunk_tokens": self.chunk_tokens,
            "chunk_overlap": self.chunk_overlap,
        }
        for key in _TEXT_OPTIONAL:
            value = getattr(self, key)
            if value is not None:
                doc[key] = value
        doc.update(self.extra)
        return doc

    @classmethod
    def from_doc(cls, doc: Any) -> TextOptions | None:
        if not isinstance(doc, dict) or not doc:
            return None
        windows, vector = doc.get("windows"), doc.get("record_vector")
        return cls(
            store=bool(doc.get("store", True)),
            chunk_tokens=_int_or_none(doc.get("chunk_tokens")),
            chunk_overlap=_int_or_none(doc.get("chunk_overlap")),
            windows=None if windows is None else str(windows),
            passage_chars=_int_or_none(doc.get("passage_chars")),
            record_vector=None if vector is None else str(vector),
            extra=_unknown(doc, ("store", "chunk_tokens", "chunk_overlap", *_TEXT_OPTIONAL)),
        )


@dataclass(frozen=True)
class ShadowJob:
    """An unfinished re-embed or re-index (``options["reembed"]`` in the document): the
    shadow Milvus collection it writes, the space and encoder configuration it heads for,
    the shadow's keyword settings (``None``: no keywords) and when it began."""

    shadow: str
    space: Space
    config: dict[str, Any]
    keywords: KeywordOptions | None
    started: float

    def to_doc(self) -> dict[str, Any]:
        return {
            "shadow": self.shadow,
            "space": self.space.to_dict(),
            "config": dict(self.config),
            "keywords": None if self.keywords is None else self.keywords.to_doc(),
            "started": self.started,
        }

    @classmethod
    def from_doc(cls, doc: Any, keywords: KeywordOptions | None) -> ShadowJob | None:
        """The job of ``doc`` (``None`` for none); ``keywords``: the collection's, which
        jobs recorded before re-indexing existed kept (they name none)."""
        if not isinstance(doc, dict) or not isinstance(doc.get("shadow"), str):
            return None
        return cls(
            shadow=doc["shadow"],
            space=Space.from_dict(doc["space"]),
            config=dict(doc.get("config") or {}),
            keywords=KeywordOptions.from_doc(doc["keywords"]) if "keywords" in doc else keywords,
            started=float(doc.get("started", 0.0)),
        )


@dataclass(frozen=True)
class BlobRef:
    """Where learned state too big for a record lies (``options["blob"]`` in the document):
    the catalog chunks in order, the sha256 of the whole and its ``size`` in bytes."""

    sha256: str
    keys: tuple[str, ...]
    size: int

    def to_doc(self) -> dict[str, Any]:
        return {"sha256": self.sha256, "keys": list(self.keys), "bytes": self.size}

    @classmethod
    def from_doc(cls, doc: Any) -> BlobRef | None:
        if not isinstance(doc, dict) or not doc:
            return None
        return cls(
            str(doc.get("sha256", "")),
            tuple(str(k) for k in doc.get("keys", [])),
            int(doc.get("bytes", 0)),
        )


#: Keys of a collection document's "options" that the record holds as typed fields.
_TYPED_OPTIONS = ("text", "keywords", "reembed", "retired", "blob")


@dataclass
class CollectionRecord:
    """What the catalog knows about one collection.

    ``encoder`` is the registry name (``None`` for vectors only); ``config`` recreates the
    encoder, ``identity`` is the part of it that decides the vectors, ``state`` the encoder's
    small learned state; ``text`` (stored text and windows) and ``keywords`` (the BM25 index)
    are collection-level settings, ``options`` the other ones (e.g. a fit's feature
    collection); ``recommender``/``role`` link the two collections of a recommender.
    ``text``, ``keywords``, ``shadow_job`` (an unfinished re-embed or re-index), ``retired``
    (old rows a switch has not dropped yet) and ``blob`` (learned state in catalog chunks)
    are kept in the document's "options", as they always were; only this module reads them
    there.
    """

    space: Space
    encoder: str | None = None
    config: dict[str, Any] = field(default_factory=dict)
    identity: dict[str, Any] = field(default_factory=dict)
    state: dict[str, Any] = field(default_factory=dict)
    index: str = "flat"
    created: float = field(default_factory=time.time)
    options: dict[str, Any] = field(default_factory=dict)
    recommender: str | None = None
    role: str | None = None
    fitting: FitMarker | None = None
    #: "creating" until the Milvus collection exists, then "ready".
    status: str = "ready"
    #: The Milvus collection that holds the rows when it is not ``name`` (after a re-embed
    #: switched the collection to its shadow: Milvus Lite has no aliases).
    physical: str | None = None
    #: A re-embed or re-index under way (its shadow is named before it exists).
    shadow_job: ShadowJob | None = None
    #: Milvus collections of old rows a switch retired and has not dropped yet.
    retired: tuple[str, ...] = ()
    #: Learned state too big for the record (graphsage weights, a large word order).
    blob: BlobRef | None = None
    #: How it keeps texts (``None``: it stores none).
    text: TextOptions | None = None
    #: Its keyword (BM25) index (``None``: none).
    keywords: KeywordOptions | None = None

    def milvus_name(self, name: str) -> str:
        """The Milvus collection that holds the rows of collection ``name``."""
        return self.physical or name

    def owned_milvus_names(self, name: str) -> list[str]:
        """Every Milvus collection this record owns: its rows, a re-embed's shadow, and old
        rows a switch retired but did not drop yet."""
        names = [self.milvus_name(name)]
        if self.shadow_job is not None:
            names.append(self.shadow_job.shadow)
        names += self.retired
        return list(dict.fromkeys(names))

    def to_doc(self) -> dict[str, Any]:
        doc = _record_doc(self)
        for key in ("shadow_job", "retired", "blob", "text", "keywords"):
            doc.pop(key, None)
        options = {k: v for k, v in self.options.items() if k not in _TYPED_OPTIONS}
        if self.text is not None:
            options["text"] = self.text.to_doc()
        if self.keywords is not None:
            options["keywords"] = self.keywords.to_doc()
        if self.shadow_job is not None:
            options["reembed"] = self.shadow_job.to_doc()
        if self.retired:
            options["retired"] = list(self.retired)
        if self.blob is not None:
            options["blob"] = self.blob.to_doc()
        doc["options"] = options
        return doc

    @classmethod
    def from_doc(cls, doc: dict[str, Any]) -> CollectionRecord:
        # Round-1 files have no "identity"/"options"/"status"; "fitting" was {"since": t}.
        options = dict(doc.get("options") or {})
        typed = {key: options.pop(key, None) for key in _TYPED_OPTIONS}
        keywords = KeywordOptions.from_doc(typed["keywords"])
        return cls(
            space=Space.from_dict(doc["space"]),
            encoder=doc.get("encoder"),
            config=dict(doc.get("config") or {}),
            identity=dict(doc.get("identity") or {}),
            state=dict(doc.get("state") or {}),
            index=str(doc.get("index", "flat")),
            created=float(doc.get("created", 0.0)),
            options=options,
            recommender=doc.get("recommender"),
            role=doc.get("role"),
            fitting=FitMarker.from_doc(doc.get("fitting")),
            status=str(doc.get("status", "ready")),
            physical=doc.get("physical") or None,
            shadow_job=ShadowJob.from_doc(typed["reembed"], keywords),
            retired=tuple(n for n in typed["retired"] or [] if isinstance(n, str)),
            blob=BlobRef.from_doc(typed["blob"]),
            text=TextOptions.from_doc(typed["text"]),
            keywords=keywords,
        )


@dataclass
class RecommenderRecord:
    """What the catalog knows about one recommender and its collections (users, items, and
    ``options["seen"]``: the side collection of the users' histories)."""

    algorithm: str
    space: Space
    users: str
    items: str
    config: dict[str, Any] = field(default_factory=dict)
    identity: dict[str, Any] = field(default_factory=dict)
    state: dict[str, Any] = field(default_factory=dict)
    fitted: bool = False
    created: float = field(default_factory=time.time)
    options: dict[str, Any] = field(default_factory=dict)
    fitting: FitMarker | None = None
    #: "creating" until every collection of the recommender exists (the record is written
    #: first, so a crash leaves a record that reopening finishes), then "ready".
    status: str = "ready"

    def to_doc(self) -> dict[str, Any]:
        return _record_doc(self)

    @classmethod
    def from_doc(cls, doc: dict[str, Any]) -> RecommenderRecord:
        return cls(
            algorithm=str(doc["algorithm"]),
            space=Space.from_dict(doc["space"]),
            users=str(doc["users"]),
            items=str(doc["items"]),
            config=dict(doc.get("config") or {}),
            identity=dict(doc.get("identity") or {}),
            state=dict(doc.get("state") or {}),
            fitted=bool(doc.get("fitted", False)),
            created=float(doc.get("created", 0.0)),
            options=dict(doc.get("options") or {}),
            fitting=FitMarker.from_doc(doc.get("fitting")),
            status=str(doc.get("status", "ready")),
        )


class Catalog:
    """Typed access to the catalog documents of a store (``get_doc``/``put_doc``/...)."""

    def __init__(self, store: Any) -> None:
        self._store = store

    # -- collections ---------------------------------------------------------------------
    def collection(self, name: str, *, strong: bool = False) -> CollectionRecord | None:
        """Collection ``name``'s record; ``strong``: as of now, also another process's write."""
        doc = self._store.get_doc(COLLECTION_PREFIX + name, strong=strong)
        return None if doc is None else _parse(CollectionRecord, doc, name)

    def save_collection(self, name: str, record: CollectionRecord) -> None:
        self._store.put_doc(COLLECTION_PREFIX + name, record.to_doc())

    def delete_collection(self, name: str) -> None:
        self._store.delete_doc(COLLECTION_PREFIX + name)

    def collection_names(self) -> list[str]:
        return self._names(COLLECTION_PREFIX)

    # -- recommenders --------------------------------------------------------------------
    def recommender(self, name: str) -> RecommenderRecord | None:
        doc = self._store.get_doc(RECOMMENDER_PREFIX + name)
        return None if doc is None else _parse(RecommenderRecord, doc, name)

    def save_recommender(self, name: str, record: RecommenderRecord) -> None:
        self._store.put_doc(RECOMMENDER_PREFIX + name, record.to_doc())

    def delete_recommender(self, name: str) -> None:
        self._store.delete_doc(RECOMMENDER_PREFIX + name)

    def recommender_names(self) -> list[str]:
        return self._names(RECOMMENDER_PREFIX)

    def _names(self, prefix: str) -> list[str]:
        return sorted(k[len(prefix) :] for k in self._store.list_doc_keys(prefix))

    # -- blobs: learned state too big for a record -----------------------------------------
    def put_blob(self, owner: str, data: bytes) -> BlobRef:
        """Store ``data`` as chunks named by its hash, so a new fit never overwrites the chunks
        the current record points to; returns the reference a record keeps."""
        import base64
        import hashlib

        sha = hashlib.sha256(data).hexdigest()
        text = base64.b64encode(data).decode("ascii")
        keys = []
        for i, start in enumerate(range(0, len(text), BLOB_CHUNK)):
            keys.append(f"{BLOB_PREFIX}{owner}:{sha[:16]}:{i}")
            self._store.put_doc(keys[-1], {"b64": text[start : start + BLOB_CHUNK]})
        return BlobRef(sha, tuple(keys), len(data))

    def get_blob(self, ref: BlobRef | None) -> bytes | None:
        """The bytes behind ``ref``; ``None`` if any chunk is missing or the hash differs."""
        import base64
        import hashlib

        if not ref:
            return None
        docs = [self._store.get_doc(k) for k in ref.keys]
        if any(d is None for d in docs):
            return None
        data = base64.b64decode("".join(str(d["b64"]) for d in docs if d))
        return data if hashlib.sha256(data).hexdigest() == ref.sha256 else None

    def delete_blob(self, ref: BlobRef | None) -> None:
        for key in ref.keys if ref is not None else ():
            self._store.delete_doc(key)

    # -- notes ------------------------------------------------------------------------------
    def note(self, key: str) -> dict[str, Any] | None:
        """A tool's own document (``None`` if absent)."""
        return self._store.get_doc(NOTE_PREFIX + key)

    def save_note(self, key: str, doc: dict[str, Any]) -> None:
        self._store.put_doc(NOTE_PREFIX + key, doc)


def _record_doc(record: CollectionRecord | RecommenderRecord) -> dict[str, Any]:
    """A record as its JSON document (the space and fit marker as plain dicts)."""
    doc = dataclasses.asdict(record)
    doc["space"] = record.space.to_dict()
    doc["fitting"] = dataclasses.asdict(record.fitting) if record.fitting else None
    return doc


def _parse(kind: Any, doc: dict[str, Any], name: str) -> Any:
    try:
        return kind.from_doc(doc)
    except (KeyError, TypeError, ValueError) as exc:
        raise StoreError(
            f"the catalog entry of {name!r} is damaged ({type(exc).__name__}: {exc}); "
            f"drop {name!r} and create it again"
        ) from exc


def identity_of(encoder: Any) -> dict[str, Any]:
    """The part of an encoder's configuration that decides which vectors come out."""
    ident = getattr(encoder, "identity", None)
    return dict(ident()) if callable(ident) else dict(encoder.config())


def check_identity(
    what: str, encoder: Any, old: dict[str, Any], encoder_name: str, rename: str = "another name"
) -> None:
    """Refuse reopening ``what`` (e.g. "collection 'docs'") with settings other than ``old``,
    naming each setting that differs."""
    ident = identity_of(encoder)
    if ident != old:
        changed = sorted(k for k in set(ident) | set(old) if ident.get(k) != old.get(k))
        raise SpaceMismatchError(
            f"{what} was built with other {encoder_name} settings "
            f"({', '.join(f'{k}={old.get(k)!r}' for k in changed)}); "
            f"open it without those options or use {rename}"
        )

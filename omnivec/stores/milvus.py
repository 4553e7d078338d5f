"""Milvus-backed :class:`~omnivec.stores.base.VectorStore`: a Milvus Lite file or a server URI.

Why milvus-lite 2.5.x and FLAT by default: see ``docs/store.md``. In short, on these machines
lite 2.5.1 answers single queries 2-4x slower than numpy brute force (3.x: 5-100x) and FLAT
gives exact results; Lite's IVF index is only used on sealed segments, so it silently gives
low recall on freshly written data.
"""

from __future__ import annotations

import functools
import logging
import os
import re
import threading
import warnings
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from omnivec.core.ids import MAX_KEY_LENGTH
from omnivec.core.validation import MAX_K
from omnivec.errors import InvalidInputError, StoreError, StoreUnavailableError
from omnivec.stores.ann import (
    INDEXES,
    LOCAL_INDEXES,
    AnnManager,
    ann_manager,
    check_recall_target,
    check_search_params,
    release_ann_manager,
)
from omnivec.stores.base import StoredHit, StoredRow, block_rows
from omnivec.stores.catalog_docs import CATALOG, CatalogDocs
from omnivec.stores.connection import connect_client, quiet_rpc_tracebacks
from omnivec.stores.errors import lite_lacks_index, translate
from omnivec.stores.fulltext import SPARSE_FIELD, add_keyword_fields
from omnivec.stores.lite import (
    in_use_message,
    lite_file_locked,
    lite_version,
    open_lite,
    release_lite,
    through_lite_setup,
)
from omnivec.stores.requests import send_vectors
from omnivec.stores.scan import RowBlock, keys_expr, scan

__all__ = ["MilvusStore", "default_uri", "lite_version"]

logger = logging.getLogger(__name__)

T = TypeVar("T")

_METRICS = {"cosine": "COSINE", "ip": "IP", "l2": "L2"}
_SERVER_SCHEMES = ("http://", "https://", "tcp://", "grpc://", "unix:")
#: Rows per insert call. Measured with lite 2.5.1 at dim 384 (docs/benchmarks.md): 500 rows
#: 15k rows/s, 1,000 12k, 2,000 8.7k, and a cliff near 4,500; capped by bytes for wide vectors.
INSERT_BATCH_ROWS = 500
INSERT_BATCH_BYTES = 1 << 20
#: Keys per `pk in [...]` expression, to keep expressions small.
KEY_CHUNK = 1_000
#: What milvus-lite 2.5 accepts as a database file name.
_LITE_NAME_RE = re.compile(r"[a-zA-Z0-9.\-_]+")


#: On a server, ``exact=True`` asks the index for its widest search (Milvus cannot scan an
#: indexed collection exhaustively): every list of an IVF index, this ef for HNSW.
SERVER_EXACT_EF = 16_384


def server_index(index: str, rows: int = 1_000_000) -> tuple[str, dict[str, int]]:
    """Milvus index type and build parameters for ``index`` on a server, sized for ``rows``:
    ``auto`` is HNSW (no training, good recall from thousands to tens of millions of rows);
    IVF types get nlist ~ 4 sqrt(rows)."""
    nlist = int(min(65_536, max(64, 4 * np.sqrt(max(rows, 1)))))
    if index in ("auto", "hnsw"):
        return "HNSW", {"M": 16 if rows <= 5_000_000 else 32, "efConstruction": 200}
    if index in ("ivf_flat", "ivf_sq8"):
        return index.upper(), {"nlist": nlist}
    return "FLAT", {}


def server_search_params(index: str, k: int, params: dict[str, int]) -> dict[str, int]:
    """Search parameters for a server index: HNSW ``ef`` >= k, IVF ``nprobe``; with
    ``exact`` the widest the index allows."""
    exact = bool(params.get("exact"))
    if index in ("auto", "hnsw"):
        return {"ef": max(SERVER_EXACT_EF if exact else params.get("ef", 64), k)}
    if index in ("ivf_flat", "ivf_sq8"):
        return {"nprobe": 65_536 if exact else params.get("nprobe", 32)}
    return {}


def _chunks(seq: Sequence[T], size: int) -> Iterator[tuple[int, Sequence[T]]]:
    for start in range(0, len(seq), size):
        yield start, seq[start : start + size]


def _is_server_uri(uri: str) -> bool:
    return uri.startswith(_SERVER_SCHEMES)


class MilvusStore(CatalogDocs):
    """Rows ``(pk: VARCHAR, vector: FLOAT_VECTOR, dynamic metadata)`` in Milvus collections.

    ``uri`` is a Milvus Lite file (``*.db``, created if missing) or a server address
    (``http://host:19530``); ``token`` authenticates against a server; ``timeout`` is the
    connection timeout in seconds.
    """

    def __init__(self, uri: str = "omnivec.db", token: str = "", timeout: float = 10.0) -> None:
        self.uri = str(uri)
        self._lock = threading.Lock()
        self._write_lock = threading.RLock()
        self._metrics: dict[str, str] = {}
        self._kinds: dict[str, str] = {}
        self._ann: AnnManager | None = None
        if "://" in self.uri and not _is_server_uri(self.uri):
            raise InvalidInputError(
                f"unsupported URI {self.uri!r}: use a Milvus Lite file (*.db) or a server URI "
                "such as http://localhost:19530"
            )
        if not _is_server_uri(self.uri):
            path = Path(self.uri).expanduser()
            if path.suffix != ".db":
                raise InvalidInputError(
                    f"a Milvus Lite file must end with .db (got {self.uri!r}); "
                    "or pass a server URI such as http://localhost:19530"
                )
            if not _LITE_NAME_RE.fullmatch(path.name) or len(path.name) > 36:
                raise InvalidInputError(
                    f"Milvus Lite file names use only letters, digits, '.', '-' and '_' and have at "
                    f"most 36 characters (got {path.name!r}); rename the file"
                )
            if path.exists() and path.is_dir():
                raise InvalidInputError(
                    f"{self.uri!r} is a directory (a milvus-lite 3.x database?); omnivec uses "
                    "milvus-lite 2.5 files, which are single files"
                )
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise StoreUnavailableError(
                    f"cannot create the folder for the Milvus Lite file {self.uri}: "
                    f"{exc.strerror or exc}; pick a path in a writable folder"
                ) from exc
            self.uri = str(path.resolve())
        try:
            with warnings.catch_warnings():
                # milvus-lite 2.5 imports pkg_resources, which warns on import.
                warnings.simplefilter("ignore", UserWarning)
                warnings.simplefilter("ignore", DeprecationWarning)
                from pymilvus import MilvusClient

                quiet_rpc_tracebacks()
                if _is_server_uri(self.uri):
                    self._client = connect_client(MilvusClient, self.uri, token, timeout)
                else:
                    self._client = open_lite(
                        self.uri,
                        lambda: connect_client(MilvusClient, self.uri, token, timeout, lite=True),
                    )
        except StoreUnavailableError:
            raise
        except Exception as exc:
            raise StoreUnavailableError(self._unavailable_message(exc)) from exc
        try:
            self._ensure_catalog()
        except BaseException:
            self.close()  # give the Lite file back: nothing of this store is usable
            raise
        if not _is_server_uri(self.uri):
            self._ann = ann_manager(self.uri)  # in-process ANN indexes (omnivec.stores.ann)

    def _unavailable_message(self, exc: BaseException) -> str:
        reason = getattr(exc, "message", None) or str(exc) or type(exc).__name__
        reason = str(reason).splitlines()[0]
        if _is_server_uri(self.uri):
            return (
                f"cannot reach the Milvus server at {self.uri}: {reason}. "
                "Check that it is running and the address and token are right"
            )
        if lite_file_locked(self.uri):
            return in_use_message(self.uri)
        return (
            f"cannot open the Milvus Lite file {self.uri}: {reason}. Milvus Lite allows one "
            "process per file: close the other process using it, or use a Milvus server"
        )

    # -- error translation ---------------------------------------------------------
    def _call(self, what: str, fn: Callable[[], T], where: str | None = None) -> T:
        """Run one pymilvus call (again while Milvus Lite is still setting up: stores/lite.py),
        mapping its errors by type and code (stores/errors.py)."""
        try:
            return through_lite_setup(self.uri, fn)
        except Exception as exc:
            mapped = translate(exc, what, where, self._unavailable_message)
            if mapped is None or mapped is exc:
                raise
            raise mapped from exc

    # -- collections -----------------------------------------------------------------
    def create_collection(
        self, name: str, dim: int, metric: str, index: str = "auto", keywords: str | None = None,
        recall_target: float | None = None,
    ) -> None:  # fmt: skip
        """Create collection ``name``; ``keywords`` (an analyzer name) adds a BM25 field;
        ``recall_target``: the recall@10 an in-process ANN index is calibrated for."""
        from pymilvus import DataType

        if metric not in _METRICS:
            raise InvalidInputError(f"metric must be one of {sorted(_METRICS)}, got {metric!r}")
        schema = self._client.create_schema(auto_id=False, enable_dynamic_field=True)
        schema.add_field("pk", DataType.VARCHAR, is_primary=True, max_length=MAX_KEY_LENGTH)
        schema.add_field("vector", DataType.FLOAT_VECTOR, dim=int(dim))
        if index not in INDEXES:
            raise InvalidInputError(f"index must be one of {', '.join(INDEXES)}, got {index!r}")
        target = check_recall_target(0.95 if recall_target is None else recall_target)
        # On a Lite file "auto"/"ivf_sq8"/"hnsw" are Milvus FLAT plus an in-process index.
        kind, build = server_index(index)
        if self._ann is not None and index in LOCAL_INDEXES:
            kind, build = "FLAT", {}
        elif self._ann is not None and index == "ivf_flat":
            build = {"nlist": 1024}
        params = self._client.prepare_index_params()
        params.add_index("vector", index_type=kind, metric_type=_METRICS[metric], params=build)
        if keywords is not None:
            add_keyword_fields(schema, params, keywords)
        try:
            self._call(
                f"create collection {name!r}",
                lambda: self._create_indexed(name, schema, params),
            )
        except StoreError as exc:
            # "auto" on a server that has no HNSW (Milvus Lite served over gRPC): exact.
            if index != "auto" or not lite_lacks_index(exc):
                raise
            return self.create_collection(name, dim, metric, index="flat", keywords=keywords)
        self._metrics[name] = metric
        self._kinds[name] = index
        if self._ann is not None:
            self._ann.created(self, name, index, target)

    def _create_indexed(self, name: str, schema: Any, params: Any) -> None:
        """``create_collection(index_params=...)``, less pymilvus' wait: it sleeps 0.5 s per
        index before its first look at the build state, and a new collection's index has
        nothing to build (``load_collection`` still waits until the collection is ready)."""
        self._client.create_collection(name, schema=schema)
        self._client.create_index(name, params, sync=False)
        self._client.load_collection(name)

    def has_collection(self, name: str) -> bool:
        return bool(self._call("look up a collection", lambda: self._client.has_collection(name)))

    def list_collections(self) -> list[str]:
        names = self._call("list collections", self._client.list_collections)
        return sorted(n for n in names if n != CATALOG)

    def drop_collection(self, name: str) -> None:
        self._metrics.pop(name, None)
        self._call(f"drop {name!r}", lambda: self._client.drop_collection(name))
        if self._ann is not None:
            self._ann.dropped(self, name)

    # -- rows -------------------------------------------------------------------------
    def existing(self, name: str, keys: Sequence[str]) -> set[str]:
        found: set[str] = set()
        for _, chunk in _chunks(keys, KEY_CHUNK):
            expr = keys_expr(chunk)
            rows: list[dict[str, Any]] = self._call(
                "look up ids",
                functools.partial(self._client.query, name, filter=expr, output_fields=["pk"]),
            )
            found.update(r["pk"] for r in rows)
        return found

    def get(self, name: str, keys: Sequence[str], *, strong: bool = False) -> dict[str, StoredRow]:
        """Rows by key. ``strong``: see every write acknowledged before the call (the read
        that decides a write must; pymilvus' default is Bounded staleness)."""
        out: dict[str, StoredRow] = {}
        extra = {"consistency_level": "Strong"} if strong else {}
        for _, chunk in _chunks(keys, KEY_CHUNK):
            expr = keys_expr(chunk)
            rows: list[dict[str, Any]] = self._call(
                "read rows",
                functools.partial(
                    self._client.query, name, filter=expr, output_fields=["*"], **extra
                ),
            )
            for row in rows:
                key = row.pop("pk")
                vec = np.asarray(row.pop("vector"), dtype=np.float32)
                out[key] = StoredRow(key, vec, row)
        return out

    def _write(
        self,
        name: str,
        keys: Sequence[str],
        vectors: np.ndarray,
        metadata: Sequence[dict[str, Any]],
        upsert: bool,
    ) -> None:
        # Rows without metadata: one prebuilt request (omnivec.stores.requests), ~6x less
        # client-side work than pymilvus' per-row conversion.
        if self._call(
            "write rows",
            lambda: send_vectors(self._client, name, keys, vectors, metadata, upsert),
        ):
            return
        rows = [
            {**meta, "pk": key, "vector": vec}
            for key, vec, meta in zip(keys, vectors, metadata, strict=True)
        ]
        op = self._client.upsert if upsert else self._client.insert
        self._call("write rows", lambda: op(name, rows))

    def upsert(
        self,
        name: str,
        keys: Sequence[str],
        vectors: np.ndarray,
        metadata: Sequence[dict[str, Any]],
        *,
        delete: Sequence[str] = (),
    ) -> None:
        """Write rows all-or-nothing: if a chunk fails, earlier chunks are undone.

        Rows are written in the order given. Rows whose key exists are replaced; the old rows
        are read first so that a failure can put them back. ``delete`` are keys removed after
        every row is written, in the same guarded step (a record's old text windows).
        """
        if len(keys) == 0 and not delete:
            return
        dim = int(vectors.shape[1]) if vectors.ndim == 2 else 1
        rows_per_call = max(1, min(INSERT_BATCH_ROWS, INSERT_BATCH_BYTES // (4 * dim)))
        # On a Lite file this process is the only writer (omnivec's file lock), so the
        # pre-read can decide insert (faster) or upsert. On a server, other processes write
        # too: a pre-read cannot decide (two writers both see a key missing and both insert,
        # leaving duplicate primary keys), so every write is Milvus' own upsert, which
        # replaces any row with the key whoever wrote it. The pre-read (Strong) then only
        # keeps the old rows for a rollback.
        server = _is_server_uri(self.uri)
        with self._write_lock:
            wanted: Sequence[str] = [*keys, *delete]
            if self._ann is not None:
                self._ann.before_write(self, name)
                # The in-process index knows every stored key of its collection (this process
                # is the file's only writer): only keys it holds need reading back.
                stored = self._ann.stored_keys(self, name)
                if stored is not None:
                    wanted = [k for k in wanted if k in stored]
            old = self.get(name, wanted, strong=server) if wanted else {}
            # The index's share of the work runs while Lite stores the rows.
            prepared = self._ann.prepare(name, vectors) if self._ann is not None else None
            written: list[str] = []
            gone: list[str] = []
            try:
                for start, chunk in _chunks(keys, rows_per_call):
                    stop = start + len(chunk)
                    replaces = server or any(k in old for k in chunk)
                    self._write(
                        name, chunk, vectors[start:stop], metadata[start:stop], upsert=replaces
                    )
                    written.extend(chunk)
                gone = [k for k in delete if k in old]
                for _, part in _chunks(gone, KEY_CHUNK):
                    self._call(
                        "delete rows",
                        functools.partial(self._client.delete, name, filter=keys_expr(part)),
                    )
                    written.extend(part)
            except BaseException as exc:
                if prepared is not None:
                    prepared.wait()  # it reads the index; let it finish before anything else
                self._rollback(name, written, old, exc)
                raise
            if self._ann is not None:  # only after every row is stored
                fresh = sum(k not in old for k in keys)
                self._ann.upserted(self, name, keys, vectors, metadata, fresh, prepared)
                if gone:
                    self._ann.deleted(self, name, gone)

    def _rollback(
        self, name: str, written: Sequence[str], old: dict[str, StoredRow], cause: BaseException
    ) -> None:
        """Undo the chunks of a failed write. If undoing fails too, say so: the caller gets a
        StoreError naming what may remain, never only the first error."""
        new_keys = [k for k in written if k not in old]
        restore = [old[k] for k in written if k in old]
        try:
            for _, chunk in _chunks(new_keys, KEY_CHUNK):
                self._client.delete(name, filter=keys_expr(chunk))
            if restore:
                self._write(
                    name,
                    [r.key for r in restore],
                    np.stack([r.vector for r in restore]),
                    [r.metadata for r in restore],
                    upsert=True,
                )
        except Exception as exc:
            logger.exception("omnivec: could not roll back a failed write to %r", name)
            raise StoreError(
                f"writing to {name!r} failed ({type(cause).__name__}: {cause}) and undoing it "
                f"failed too ({type(exc).__name__}: {exc}): up to {len(new_keys)} new rows may "
                f"remain and {len(restore)} replaced rows may hold the new values; "
                "write the same batch again, or delete those ids"
            ) from exc

    def delete(self, name: str, keys: Sequence[str]) -> int:
        with self._write_lock:
            present = sorted(self.existing(name, keys))
            if self._ann is not None and present:
                self._ann.before_write(self, name)
            done: list[str] = []
            try:
                for _, chunk in _chunks(present, KEY_CHUNK):
                    expr = keys_expr(chunk)
                    self._call(
                        "delete rows", functools.partial(self._client.delete, name, filter=expr)
                    )
                    done.extend(chunk)
            finally:
                if self._ann is not None and done:
                    self._ann.deleted(self, name, done)
        return len(present)

    def metadata(self, name: str, keys: Sequence[str]) -> dict[str, dict[str, Any]]:
        """The metadata of the rows of ``keys`` that exist (no vectors)."""
        out: dict[str, dict[str, Any]] = {}
        for _, chunk in _chunks(keys, KEY_CHUNK):
            expr = keys_expr(chunk)
            rows: list[dict[str, Any]] = self._call(
                "read rows",
                functools.partial(self._client.query, name, filter=expr, output_fields=["$meta"]),
            )
            out.update((row.pop("pk"), row) for row in rows)
        return out

    def count(self, name: str, where: str | None = None) -> int:
        known = self._ann.known_rows(name) if not where and self._ann is not None else None
        if known is not None:  # the in-process copy holds every row (the file's only writer)
            return known
        # On a server, Strong: a replaced row counts twice until its delete is visible.
        extra: dict[str, Any] = {"consistency_level": "Strong"} if self._ann is None else {}

        def query(field: str, **more: Any) -> Any:
            return self._call(
                "count rows",
                lambda: self._client.query(
                    name, filter=where or "", output_fields=[field], **extra, **more
                ),
                where=where,
            )

        counted = int(query("count(*)")[0]["count(*)"])
        if self._ann is not None or counted > MAX_K:
            return counted
        # Two processes' upserts of the same new key, racing on a server, can leave that key
        # stored twice: every read returns it once (and a delete removes both), but Milvus'
        # count(*) counts both, and a Lite server never compacts them away. Up to one query
        # window (16,384 rows, ~20 ms), list the keys instead: a query returns each key once.
        return len(query("pk", limit=MAX_K))

    def keys(self, name: str, where: str | None = None) -> list[str]:
        from pymilvus import MilvusClient

        client: MilvusClient = self._client
        out: list[str] = []
        iterator = self._call(
            "list ids",
            lambda: client.query_iterator(
                name, batch_size=10_000, filter=where or "", output_fields=["pk"]
            ),
            where=where,
        )
        while True:
            batch = self._call("list ids", iterator.next)
            if not batch:
                iterator.close()
                return out
            out.extend(r["pk"] for r in batch)

    def scan(
        self,
        name: str,
        where: str | None = None,
        *,
        keys: Sequence[str] | None = None,
        metadata: bool = True,
        on_page: Callable[[int], object] | None = None,
    ) -> RowBlock:
        """Every row matching ``where`` (only those of ``keys``, if given) in key order, the
        vectors as one float32 ``(n, dim)`` array (``(0, 0)`` if none), read in pages sized
        for Milvus Lite (omnivec.stores.scan). ``metadata=False`` leaves it out (faster);
        ``on_page`` gets each page's row count."""

        def query(expr: str, limit: int | None, fields: list[str]) -> Any:
            # The flags pymilvus' query iterator sends: each page is the next keys in order.
            extra: dict[str, Any] = {"limit": limit, "iterator": "True"} if limit else {}
            if limit:
                extra["reduce_stop_for_best"] = "True"
            return self._call(
                "read rows",
                functools.partial(
                    self._client.query, name, filter=expr, output_fields=fields, **extra
                ),
                where=where,
            )

        return scan(query, where, keys, metadata, on_page)

    def local_rows(self, name: str, unit: bool = False) -> RowBlock | None:
        """Every row of ``name`` from this process' in-process copy of a Lite collection (no
        Milvus round trip once it is held), in no particular order, without metadata; None
        where no copy is kept: then :meth:`scan`. ``unit=True`` accepts unit-length rows for
        a cosine collection (``RowBlock.unit`` says whether they are)."""
        if self._ann is None:
            return None
        return self._ann.local_rows(self, name, unit)

    def rows(self, name: str, where: str | None = None) -> dict[str, StoredRow]:
        """Every row (matching ``where``) by key, read in bulk (:meth:`scan`)."""
        return block_rows(self.scan(name, where))

    def search(
        self,
        name: str,
        vectors: np.ndarray,
        k: int,
        where: str | None = None,
        exclude: Sequence[str | None] | None = None,
        metric: str | None = None,
        params: dict[str, Any] | None = None,
    ) -> list[list[StoredHit]]:
        """Top-``k`` rows per query vector; ``exclude[i]`` is a key left out of query i's hits.

        ``metric`` is the collection's metric when the caller knows it (from the catalog);
        without it the first search of a collection asks Milvus, one more round trip.
        ``params`` (``{"nprobe": n}``, ``{"ef": n}``) trade recall for speed on an ANN index.
        A Lite collection past the ANN threshold answers unfiltered searches in-process."""
        knobs = check_search_params(params)
        if self._ann is not None and not where:
            found = self._ann.search(self, name, vectors, k, exclude, knobs)
            if found is not None:
                return found
        if name not in self._kinds:
            self._metrics.pop(name, None)  # describe the index once: its metric and type
            self._metric(name)
        metric = metric or self._metric(name)
        search_params = {"params": server_search_params(self._kinds[name], k, knobs)}
        extra = 1 if exclude is not None and any(e is not None for e in exclude) else 0
        limit = min(k + extra, MAX_K)
        results = self._call(
            "search",
            lambda: self._client.search(
                name,
                data=vectors,
                anns_field="vector",
                limit=limit,
                filter=where or "",
                output_fields=["$meta"],
                search_params=search_params,
            ),
            where=where,
        )
        out = []
        for i, hits in enumerate(results):
            skip = exclude[i] if exclude is not None else None
            row = []
            for hit in hits:
                if hit["id"] == skip:
                    continue
                dist = float(hit["distance"])
                # Milvus reports squared L2 distance; omnivec scores are higher-is-better.
                score = -float(np.sqrt(max(dist, 0.0))) + 0.0 if metric == "l2" else dist
                row.append(StoredHit(hit["id"], score, dict(hit.get("entity") or {})))
            out.append(row[:k])
        return out

    def index_stats(self, name: str) -> dict[str, Any]:
        """The collection's index (see ``Collection.index_stats``)."""
        if self._ann is not None:
            stats = self._ann.index_stats(self, name)
            if stats is not None:
                return stats
        self._metric(name)
        kind = (self._kinds.get(name) or "flat").replace("auto", "hnsw")
        return {
            "index": kind, "rows": self.count(name), "nlist": None, "nprobe": None,
            "ef": None, "calibrated_recall": 1.0 if kind == "flat" else None,
            "fresh_queries": True,
        }  # fmt: skip

    def set_recall_target(self, name: str, target: float) -> None:
        """Calibrate ``name``'s in-process ANN index for ``target`` recall@10 from now on."""
        target = check_recall_target(target)
        if self._ann is not None:
            self._ann.set_recall_target(self, name, target)

    def search_ids(
        self, name: str, vector: np.ndarray, k: int, params: dict[str, Any] | None = None
    ) -> tuple[list[Any], list[float]] | None:
        """The top-``k`` user ids (keys decoded, :func:`omnivec.core.ids.decode_id`) and
        higher-is-better scores of one unfiltered query ``vector`` (dim,) float32, best first,
        when the in-process index answers alone and the hits carry nothing else (no metadata
        stored); None: call :meth:`search`. The single-query hot path: at 100k rows the
        layers above faiss cost as much as its search."""
        if self._ann is None:
            return None
        return self._ann.search_one(self, name, vector, k, check_search_params(params))

    def keyword_search(
        self, name: str, texts: Sequence[str], k: int, where: str | None = None
    ) -> list[list[StoredHit]]:
        """Top-``k`` rows per query text by BM25 (scores higher-is-better, unbounded) in a
        collection created with ``keywords=``; none in a collection that never held a row."""

        def run() -> Any:
            try:
                return self._client.search(
                    name,
                    data=list(texts),
                    anns_field=SPARSE_FIELD,
                    limit=min(k, MAX_K),
                    filter=where or "",
                    output_fields=["$meta"],
                    search_params={"metric_type": "BM25"},
                )
            except Exception:
                # Lite fails BM25 over a collection that never held a row (its average
                # document length is 0/0: "Invalid sparse row: NaN"; the server survives).
                # Counting only here keeps that round trip off every keyword search.
                if self.count(name) == 0:
                    return [[] for _ in texts]
                raise

        results = self._call("search by keywords", run, where=where)
        return [
            [StoredHit(h["id"], float(h["distance"]), dict(h.get("entity") or {})) for h in hits]
            for hits in results
        ]

    def _metric(self, name: str) -> str:
        if name not in self._metrics:
            idx = self._call(
                f"describe {name!r}", lambda: self._client.describe_index(name, "vector")
            )
            milvus_metric = str(idx.get("metric_type", "COSINE")).upper()
            self._metrics[name] = {v: k for k, v in _METRICS.items()}[milvus_metric]
            self._kinds[name] = str(idx.get("index_type", "FLAT")).lower().replace("auto", "")
        return self._metrics[name]

    def metric_of(self, name: str) -> str:
        """The collection's metric: "cosine", "ip" or "l2"."""
        return self._metric(name)

    def flush(self, name: str) -> None:
        self._call("flush", lambda: self._client.flush(name))

    def close(self) -> None:
        with self._lock:
            client = getattr(self, "_client", None)
            if client is not None:

                def closed() -> None:
                    try:
                        client.close()
                    except Exception:
                        logger.debug("closing the Milvus client failed", exc_info=True)
                    self._client = None  # type: ignore[assignment]
                    if not _is_server_uri(self.uri):
                        release_lite(self.uri)

                if self._ann is not None:  # saves the indexes, closes, stamps the file
                    release_ann_manager(self._ann, closed)
                else:
                    closed()

    def __repr__(self) -> str:
        return f"MilvusStore({self.uri!r})"


def default_uri() -> str:
    return os.environ.get("OMNIVEC_URI", "omnivec.db")

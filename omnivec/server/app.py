"""The HTTP API's routes and :func:`create_app` (the FastAPI app over one Platform).

One :class:`~omnivec.Platform` serves the whole process: collections and their encoders are
opened once and shared by every request. Endpoints that encode or touch the store run in
FastAPI's thread pool (plain ``def``), so a slow call never blocks the event loop; single
searches go through :class:`~omnivec.server.batching.SearchBatcher`, which answers concurrent
ones together.
"""

from __future__ import annotations

import base64
import binascii
import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fastapi import FastAPI, Request
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

import omnivec as ov
from omnivec.core.queries import ImageQuery, VectorQuery
from omnivec.errors import InvalidInputError, NotFoundError, OmnivecError
from omnivec.server.ask_routes import install_ask_routes
from omnivec.server.auth import Guard, check_api_key, document_security
from omnivec.server.batching import InFlight, SearchBatcher
from omnivec.server.openai_routes import openai_router
from omnivec.server.responses import ERROR_RESPONSES, LimitBody, install_error_handlers
from omnivec.server.schemas import (
    AddIn,
    DeleteIn,
    FusedSearchIn,
    HitsOut,
    LegIn,
    RecommendIn,
    ReembedIn,
    ReindexIn,
    SearchIn,
    SimilarIn,
)
from omnivec.server.words import words_router

if TYPE_CHECKING:
    from omnivec.platform.collection import Collection

__all__ = ["MAX_BODY_BYTES", "create_app"]

logger = logging.getLogger("omnivec.server")

#: Largest request body accepted (base64 images make bodies big, but not this big).
MAX_BODY_BYTES = 64 * 1024 * 1024
WEB_DIR = Path(__file__).resolve().parent.parent / "web"
# The page loads nothing from outside the server; the policy makes that a guarantee and
# keeps any markup that slipped into stored metadata from running.
PAGE_CSP = (
    "default-src 'self'; img-src 'self' data: blob:; style-src 'self'; script-src 'self'; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'"
)


# -- helpers -----------------------------------------------------------------------------------


def _decode_image(data: str, where: str) -> bytes:
    """base64 (optionally a ``data:image/...;base64,`` URI) to bytes; never a file path."""
    if data.startswith("data:"):
        head, _, data = data.partition(",")
        if ";base64" not in head:
            raise InvalidInputError(f"{where}: a data: URI must be base64-encoded")
    try:
        raw = base64.b64decode("".join(data.split()), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise InvalidInputError(f"{where} is not valid base64: {exc}") from exc
    if not raw:
        raise InvalidInputError(f"{where} is empty; send the image file's bytes in base64")
    return raw


def _one_of(body: BaseModel, fields: tuple[str, ...], what: str) -> str:
    given = [f for f in fields if getattr(body, f) is not None]
    if len(given) != 1:
        names = ", ".join(f'"{f}"' for f in fields)
        got = f" (got {', '.join(given)})" if given else ""
        raise InvalidInputError(f"{what} takes exactly one of {names}{got}")
    return given[0]


def _query_of(body: SearchIn) -> Any:
    field = _one_of(
        body,
        ("query", "queries", "image", "images", "vector", "vectors", "ref", "refs"),
        "search",
    )
    # A list under a singular field is a batch, as a list is in Python's search().
    if field == "query":
        return list(body.query) if isinstance(body.query, list) else body.query
    if field == "queries":
        return list(body.queries or [])
    if field == "image":
        if isinstance(body.image, list):
            return [ov.image(_decode_image(s, f"image[{i}]")) for i, s in enumerate(body.image)]
        return ov.image(_decode_image(body.image or "", "image"))
    if field == "images":
        return [ov.image(_decode_image(s, f"images[{i}]")) for i, s in enumerate(body.images or [])]
    if field == "vector":
        rows = body.vector if body.vector and isinstance(body.vector[0], list) else None
        if rows is not None and len({len(v) for v in rows}) != 1:  # type: ignore[arg-type]
            raise InvalidInputError("vector rows must all have the same length")
        return ov.vector(body.vector)
    if field == "vectors":
        if not body.vectors:
            raise InvalidInputError("vectors is empty; pass at least one vector")
        if len({len(v) for v in body.vectors}) != 1:
            raise InvalidInputError("vectors must all have the same length")
        return ov.vector(body.vectors)
    if field == "ref":
        assert body.ref is not None
        if isinstance(body.ref, list):
            return [ov.ref(r.id, collection=r.collection) for r in body.ref]
        return ov.ref(body.ref.id, collection=body.ref.collection)
    return [ov.ref(r.id, collection=r.collection) for r in body.refs or []]


def _leg_query(name: str, leg: LegIn) -> Any:
    field = _one_of(leg, ("query", "image", "vector", "ref"), f"the query for {name!r}")
    if field == "query":
        return leg.query
    if field == "image":
        return ov.image(_decode_image(leg.image or "", f"queries.{name}.image"))
    if field == "vector":
        return ov.vector(leg.vector)
    assert leg.ref is not None
    return ov.ref(leg.ref.id, collection=leg.ref.collection)


def _modalities(col: Collection) -> list[str]:
    enc = col.encoder
    return list(getattr(enc, "modalities", ())) if enc is not None else []


def _summary(col: Collection) -> dict[str, Any]:
    info = col.info()
    space = info.get("space", {})
    return {
        "name": col.name,
        "encoder": info.get("encoder"),
        "modalities": _modalities(col),
        "dim": space.get("dim"),
        "metric": space.get("metric"),
        "count": info.get("count"),
        "recommender": info.get("recommender"),
        # Whether BM25 keyword / hybrid search modes apply (the page shows its mode switch).
        "keywords": info.get("keywords", False),
        "analyzer": info.get("analyzer"),
    }


def _platform(request: Request) -> ov.Platform:
    return request.app.state.platform  # type: ignore[no-any-return]


def search_options(body: SearchIn) -> dict[str, Any]:
    """The keyword arguments of ``Collection.search`` a search body gives besides its query.

    Searches are batched together only when these are equal; a new search option goes here."""
    options: dict[str, Any] = {"k": body.k, "where": body.where, "min_score": body.min_score}
    if body.mode is not None:
        options["mode"] = body.mode
    if body.weights is not None:
        options["weights"] = tuple(body.weights)
    if body.candidates is not None:
        options["candidates"] = body.candidates
    if body.fusion is not None:
        options["fusion"] = body.fusion
    return options


def _batchable(query: Any) -> bool:
    # One text, image or vector; batches already are, and refs fail alone too often (unknown
    # ids) to be worth a shared call.
    if isinstance(query, VectorQuery):
        return not query.is_batch
    return isinstance(query, str | ImageQuery)


def _search(
    platform: ov.Platform, name: str, queries: list[Any], options: dict[str, Any]
) -> list[list[Any]]:
    """One ``Collection.search`` for a batch of queries: one encoder call, one store call."""
    return platform.get_collection(name).search(queries, **options)


def _search_one(platform: ov.Platform, name: str, query: Any, options: dict[str, Any]) -> Any:
    return platform.get_collection(name).search(query, **options)


def _warm_up(platform: ov.Platform) -> None:
    """Open every collection and load its encoder now, so the first query is not slow.

    A collection whose model cannot load is logged and left for its requests to report."""
    for name in platform.collections():
        try:
            col = platform.get_collection(name)
            enc = col.encoder
            if enc is None:
                continue
            if hasattr(enc, "load"):
                enc.load()
            if "text" in getattr(enc, "modalities", ()):
                col.search("warm up", k=1)
        except OmnivecError as exc:
            logger.warning("collection %r is not ready: %s", name, exc)
        except Exception:
            logger.exception("collection %r failed to warm up", name)


# -- the app ----------------------------------------------------------------------------------


def create_app(
    platform: ov.Platform,
    *,
    warm_up: bool = False,
    api_key: str | None = None,
    read_only: bool = False,
    batching: bool = True,
    llm: Any = None,
) -> FastAPI:
    """The HTTP API and web page over ``platform`` (which the caller opens and closes).

    ``warm_up=True`` loads every collection's encoder at startup instead of on first use.
    ``api_key``: every route except ``GET /healthz``, the web page and the API description
    needs ``Authorization: Bearer <api_key>`` (else 401). ``read_only=True``: routes that add,
    delete, drop, fit or re-embed answer 403. ``batching=False`` answers every search alone
    (for comparison; concurrent searches are faster batched). ``llm`` (``ov.llm(...)``)
    answers ``POST /collections/{name}/ask`` (:mod:`omnivec.server.ask_routes`).
    """
    if api_key is not None:
        check_api_key(api_key)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if warm_up:
            started = time.perf_counter()
            await run_in_threadpool(_warm_up, platform)
            logger.info("encoders ready in %.1f s", time.perf_counter() - started)
        yield

    app = FastAPI(
        title="omnivec",
        version=ov.__version__,
        summary="Text, images, graph nodes and users/items as vectors: search and recommend.",
        lifespan=lifespan,
        responses=ERROR_RESPONSES,
    )
    app.state.platform = platform
    app.state.read_only = read_only
    batcher = SearchBatcher(
        lambda name, queries, options: _search(platform, name, queries, options)
    )
    app.state.batcher = batcher if batching else None
    install_error_handlers(app)
    # Outermost last: count the request, refuse it without the key, then check its size.
    app.add_middleware(LimitBody, limit=MAX_BODY_BYTES)
    app.add_middleware(Guard, api_key=api_key, read_only=read_only)
    app.add_middleware(InFlight, batcher=batcher)
    if api_key is not None:
        document_security(app)

    @app.get("/healthz", tags=["service"])
    def healthz(request: Request) -> dict[str, Any]:
        """Liveness and store reachability: 200 ``{"status": "ok"}``, or 503 if the store is down."""
        plat = _platform(request)
        return {
            "status": "ok",
            "version": ov.__version__,
            "collections": len(plat.collections()),
        }

    @app.get("/collections", tags=["collections"])
    def list_collections(request: Request) -> dict[str, Any]:
        """Every collection with its encoder, modalities, dim, metric, row count and keyword
        index (``keywords``, ``analyzer``)."""
        plat = _platform(request)
        out = []
        for name in plat.collections():
            try:
                out.append(_summary(plat.get_collection(name)))
            except OmnivecError as exc:
                # One collection whose encoder cannot open must not hide the others.
                out.append({"name": name, "error": type(exc).__name__, "detail": str(exc)})
        return {"collections": out}

    @app.get("/collections/{name}", tags=["collections"])
    def collection_info(name: str, request: Request) -> dict[str, Any]:
        """A collection's encoder, configuration, vector space, index and row count."""
        col = _platform(request).get_collection(name)
        return {**col.info(), "modalities": _modalities(col)}

    @app.post("/collections/{name}/add", tags=["collections"])
    def add(name: str, body: AddIn, request: Request) -> dict[str, Any]:
        """Encode and store a batch (all or nothing); answers the stored ids."""
        col = _platform(request).get_collection(name)
        field = _one_of(body, ("items", "vectors", "images"), "add")
        kwargs: dict[str, Any] = {"ids": body.ids, "metadata": body.metadata, "progress": False}
        if field == "items":
            ids = col.add(body.items, modality=body.modality, **kwargs)
        elif field == "images":
            raw = [_decode_image(s, f"images[{i}]") for i, s in enumerate(body.images or [])]
            ids = col.add(images=raw, **kwargs)
        else:
            if body.vectors and len({len(v) for v in body.vectors}) != 1:
                raise InvalidInputError("vectors must all have the same length")
            ids = col.add(vectors=body.vectors, **kwargs)
        return {"ids": ids, "count": len(ids)}

    @app.post(
        "/collections/{name}/search",
        tags=["collections"],
        response_model=HitsOut,
        response_class=JSONResponse,
    )
    async def search(name: str, body: SearchIn, request: Request) -> JSONResponse:
        """Nearest neighbours of a text, image, vector or stored record, best first.

        Concurrent single searches of one collection with the same options are answered
        together (one model call, one store call)."""
        options = search_options(body)
        batcher: SearchBatcher | None = request.app.state.batcher
        query = (
            await run_in_threadpool(_query_of, body)
            if body.image or body.images
            else _query_of(body)
        )
        if batcher is not None and _batchable(query):
            result = await batcher.search(name, query, options)
        else:
            result = await run_in_threadpool(_search_one, _platform(request), name, query, options)
        # Answer exactly what `omnivec search --json` prints; JSONResponse skips a re-validation
        # pass that costs more than the search for large k.
        if body.k > 256:
            return await run_in_threadpool(lambda: JSONResponse(ov.hits_payload(result)))
        return JSONResponse(ov.hits_payload(result))

    @app.post("/collections/{name}/delete", tags=["collections"])
    def delete(name: str, body: DeleteIn, request: Request) -> dict[str, Any]:
        """Delete records by id; answers how many were removed (unknown ids are not an error)."""
        return {"deleted": _platform(request).get_collection(name).delete(body.ids)}

    @app.delete("/collections/{name}", tags=["collections"])
    def drop(name: str, request: Request) -> dict[str, Any]:
        """Drop a collection and everything in it."""
        plat = _platform(request)
        plat.get_collection(name)  # 404 for an unknown name, 400 for a malformed one
        return {"dropped": plat.drop(name)}

    @app.get("/collections/{name}/map", tags=["collections"])
    def collection_map(
        name: str,
        request: Request,
        method: str = "pca",
        color_by: str = "cluster",
        limit: int = 2_000,
        n_clusters: int | None = None,
        where: str | None = None,
    ) -> JSONResponse:
        """The collection in 2-D (``method`` pca, umap or tsne) on a seeded sample of at most
        ``limit`` records: ``{"points": [{"id", "x", "y", "cluster", "label", "text"?,
        "thumbnail"?}], "method", "sample_size", "total"}``; ``label`` is the value of
        ``color_by`` (the cluster, or a metadata key's value); ``keys``: the metadata keys seen."""
        col = _platform(request).get_collection(name)
        return JSONResponse(_map_payload(col, method, color_by, limit, n_clusters, where))

    @app.post("/collections/{name}/reembed", tags=["collections"])
    def reembed(name: str, body: ReembedIn, request: Request) -> dict[str, Any]:
        """Re-encode every record with the encoder options given (a fine-tuned model, another
        checkpoint), without downtime: searches answer from the old vectors until the switch.
        Answers when it is done: ``{"name", "records", "encoded", "resumed", "seconds",
        "old_space", "space"}``. Call it again to resume one that was interrupted."""
        if not body.options:
            raise InvalidInputError(
                'reembed needs the options that change, e.g. {"options": {"model": "DIR"}}'
            )
        if "progress" in body.options:
            raise InvalidInputError("progress is not an encoder option; leave it out")
        col = _platform(request).get_collection(name)
        report = col.reembed(**body.options, progress=False)
        return {"name": name, **report.to_dict()}

    @app.post("/collections/{name}/reindex", tags=["collections"])
    def reindex(name: str, body: ReindexIn, request: Request) -> dict[str, Any]:
        """Turn a text collection's keyword (BM25) index on or off, or change its analyzer,
        from the stored text without re-encoding; searches answer from the old rows until the
        switch. Answers when it is done (the same report as ``reembed``, plus ``keywords``)."""
        col = _platform(request).get_collection(name)
        report = col.reindex(keywords=body.keywords, analyzer=body.analyzer, progress=False)
        return {"name": name, **report.to_dict()}

    @app.post("/search", tags=["collections"], response_model=HitsOut, response_class=JSONResponse)
    def fused_search(body: FusedSearchIn, request: Request) -> JSONResponse:
        """One ranked list over several collections whose records share ids (a product's text,
        photo, CF item, graph node): hits fused per id, ``score`` fused and ``scores`` per
        collection (reciprocal-rank fusion, or weighted with ``weights``)."""
        queries = {name: _leg_query(name, leg) for name, leg in body.queries.items()}
        hits = _platform(request).search(queries, k=body.k, weights=body.weights, where=body.where)
        return JSONResponse(ov.hits_payload(hits))

    @app.get("/recommenders", tags=["recommenders"])
    def list_recommenders(request: Request) -> dict[str, Any]:
        """Every recommender with its algorithm and user / item collections."""
        plat = _platform(request)
        out = []
        for name in plat.recommenders():
            try:
                out.append(plat.recommender(name).info())
            except OmnivecError as exc:
                out.append({"name": name, "error": type(exc).__name__, "detail": str(exc)})
        return {"recommenders": out}

    @app.post(
        "/recommenders/{name}/recommend",
        tags=["recommenders"],
        response_model=HitsOut,
        response_class=JSONResponse,
    )
    def recommend(name: str, body: RecommendIn, request: Request) -> JSONResponse:
        """Top-k items for a user (``user``) or for each of a batch (``users``)."""
        rec = _existing_recommender(request, name)
        field = _one_of(body, ("user", "users"), "recommend")
        who = body.user if field == "user" else list(body.users or [])
        kwargs: dict[str, Any] = {
            "k": body.k,
            "exclude_seen": body.exclude_seen,
            "where": body.where,
        }
        if body.interactions is not None:
            kwargs["interactions"] = list(body.interactions)
        return JSONResponse(ov.hits_payload(rec.recommend(who, **kwargs)))

    @app.post(
        "/recommenders/{name}/similar-items",
        tags=["recommenders"],
        response_model=HitsOut,
        response_class=JSONResponse,
    )
    def similar_items(name: str, body: SimilarIn, request: Request) -> JSONResponse:
        """Items most similar to ``item`` (the item itself left out)."""
        return _similar(request, name, body, "item")

    @app.post(
        "/recommenders/{name}/similar-users",
        tags=["recommenders"],
        response_model=HitsOut,
        response_class=JSONResponse,
    )
    def similar_users(name: str, body: SimilarIn, request: Request) -> JSONResponse:
        """Users most similar to ``user`` (the user itself left out)."""
        return _similar(request, name, body, "user")

    @app.api_route("/", methods=["GET", "HEAD"], include_in_schema=False)
    def page() -> FileResponse:
        return FileResponse(
            WEB_DIR / "index.html",
            media_type="text/html; charset=utf-8",
            headers={"Content-Security-Policy": PAGE_CSP, "Cache-Control": "no-cache"},
        )

    # OpenAI-compatible /v1/embeddings and /v1/models (omnivec as an embedding server).
    app.include_router(openai_router(platform, batching=batching))
    install_ask_routes(app, llm)
    app.include_router(words_router())  # POST /collections/{name}/analogy
    app.mount("/static", StaticFiles(directory=WEB_DIR), name="static")
    return app


def _map_payload(
    col: Collection,
    method: str,
    color_by: str,
    limit: int,
    n_clusters: int | None,
    where: str | None,
) -> dict[str, Any]:
    """The body of ``GET /collections/{name}/map``."""
    from omnivec.platform.analysis import map_points

    proj, points = map_points(col, method, color_by, where, limit, n_clusters)
    # Metadata keys with plain values: what the page offers to colour by.
    keys = {
        k
        for r in proj.records
        for k, v in r.metadata.items()
        if k not in ("text", "thumbnail") and isinstance(v, str | int | float | bool)
    }
    return {
        "points": [p.to_dict() for p in points],
        "keys": sorted(keys),
        "method": proj.method,
        "color_by": color_by,
        "sample_size": proj.sample_size,
        "total": proj.total,
    }


def _existing_recommender(request: Request, name: str) -> Any:
    plat = _platform(request)
    # Without this check, asking for an unknown name would create an empty recommender.
    if not plat.has_recommender(name):
        raise NotFoundError(f"no recommender named {name!r}; see GET /recommenders")
    return plat.recommender(name)


def _similar(request: Request, name: str, body: SimilarIn, side: str) -> JSONResponse:
    """``similar-items`` (side "item") or ``similar-users`` (side "user")."""
    rec = _existing_recommender(request, name)
    other = "user" if side == "item" else "item"
    query = getattr(body, side)
    if query is None or getattr(body, other) is not None:
        raise InvalidInputError(f'similar-{side}s takes "{side}" (and optionally "k")')
    method = rec.similar_items if side == "item" else rec.similar_users
    return JSONResponse(ov.hits_payload(method(query, k=body.k, where=body.where)))

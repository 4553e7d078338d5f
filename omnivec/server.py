"""The HTTP API (FastAPI under uvicorn) and the web page at ``/``.

One :class:`~omnivec.Platform` serves the whole process: collections and their encoders are
opened once and shared by every request. Endpoints are plain ``def`` functions, so FastAPI
runs them in its thread pool and a slow encode or store call never blocks the event loop.

Every error answers ``{"error": "<ErrorClass or short code>", "detail": "<one line>"}``:
bad input is a 4xx, never a 500. ``omnivec serve`` calls :func:`serve`; embed the API in
your own ASGI app with :func:`create_app`.
"""

from __future__ import annotations

import base64
import binascii
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictFloat, StrictInt, StrictStr
from starlette.exceptions import HTTPException as StarletteHTTPException

import omnivec as ov
from omnivec.errors import (
    EncoderError,
    InvalidInputError,
    NotFoundError,
    OmnivecError,
    StoreError,
    StoreUnavailableError,
)

if TYPE_CHECKING:
    from omnivec.platform.collection import Collection

__all__ = ["MAX_BODY_BYTES", "create_app", "serve"]

logger = logging.getLogger(__name__)

#: Largest request body accepted (base64 images make bodies big, but not this big).
MAX_BODY_BYTES = 64 * 1024 * 1024
WEB_DIR = Path(__file__).parent / "web"
# The page loads nothing from outside the server; the policy makes that a guarantee and
# keeps any markup that slipped into stored metadata from running.
PAGE_CSP = (
    "default-src 'self'; img-src 'self' data: blob:; style-src 'self'; script-src 'self'; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'"
)

Id = StrictStr | StrictInt

# -- request bodies ---------------------------------------------------------------------------


class _Body(BaseModel):
    # A misspelt field ("querry") is refused instead of silently ignored.
    model_config = ConfigDict(extra="forbid")


class RefIn(_Body):
    id: Id = Field(description="id of a stored record")
    collection: StrictStr | None = Field(
        None, description="collection holding the record (default: the one searched)"
    )


class SearchIn(_Body):
    """Exactly one query field: ``query``, ``image``, ``vector`` or ``ref`` for one query;
    ``queries``, ``images``, ``vectors`` or ``refs`` for a batch (answered as a list of lists);
    a list under ``query``, ``image`` or ``ref``, or an ``(n, dim)`` ``vector``, is a batch too."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"query": "felines", "k": 5, "where": 'lang == "en"'},
                {"ref": {"id": "a"}, "k": 5},
                {"queries": ["cats", "stocks"], "k": 3},
            ]
        },
    )
    query: StrictStr | list[StrictStr] | None = Field(
        None, description="text query (a list of texts: a batch)"
    )
    queries: list[StrictStr] | None = Field(None, description="batch of text queries")
    image: StrictStr | list[StrictStr] | None = Field(
        None, description="base64 image or data: URI (a list: a batch)"
    )
    images: list[StrictStr] | None = Field(None, description="batch of base64 images")
    vector: list[StrictFloat] | list[list[StrictFloat]] | None = Field(
        None, description="raw vector of the collection's dim (an (n, dim) matrix: a batch)"
    )
    vectors: list[list[StrictFloat]] | None = Field(None, description="batch of raw vectors")
    ref: RefIn | list[RefIn] | None = Field(
        None, description="a stored record as the query (a list: a batch)"
    )
    refs: list[RefIn] | None = Field(None, description="batch of stored records")
    k: StrictInt = Field(10, description="number of hits, 1 to 16384")
    where: StrictStr | None = Field(None, description='Milvus filter, e.g. lang == "en"')
    min_score: StrictFloat | None = Field(None, description="drop hits scoring below this")


class AddIn(_Body):
    """Exactly one of ``items`` (texts), ``vectors`` or ``images`` (base64)."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "items": ["I love cats", "Stocks fell"],
                    "ids": ["a", "b"],
                    "metadata": [{"lang": "en"}, {"lang": "en"}],
                }
            ]
        },
    )
    items: list[StrictStr] | None = Field(None, description="inputs for the encoder (texts)")
    vectors: list[list[StrictFloat]] | None = Field(None, description="(n, dim) raw vectors")
    images: list[StrictStr] | None = Field(None, description="base64 images (or data: URIs)")
    ids: list[Id] | None = Field(None, description="one id per item (default: generated)")
    metadata: list[dict[str, Any] | None] | None = Field(None, description="one dict per item")
    modality: StrictStr | None = Field(None, description="modality of items (default: the first)")


class RecommendIn(_Body):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"user": "u1", "k": 10}]}
    )
    user: Id | None = Field(None, description="one user id")
    users: list[Id] | None = Field(None, description="batch of user ids")
    k: StrictInt = 10
    exclude_seen: StrictBool = Field(True, description="leave out items the user interacted with")
    where: StrictStr | None = Field(None, description="Milvus filter over item metadata")
    interactions: list[tuple[Id, StrictFloat] | Id] | None = Field(
        None,
        description="[[item, weight], ...] or [item, ...]: fold in a user the model has not seen "
        "(for a known user, replaces the stored history for this query)",
    )


class SimilarIn(_Body):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"item": "i1"}]})
    item: Id | None = None
    user: Id | None = None
    k: StrictInt = 10
    where: StrictStr | None = Field(None, description="Milvus filter over metadata")


class HitOut(BaseModel):
    id: Id
    score: float
    metadata: dict[str, Any]


class HitsOut(BaseModel):
    """``hits`` is a list of hits for one query, a list of such lists for a batch."""

    hits: list[HitOut] | list[list[HitOut]]


class ErrorOut(BaseModel):
    error: str
    detail: str


# -- errors -------------------------------------------------------------------------------------

_STATUS: list[tuple[type[BaseException], int]] = [
    (NotFoundError, 404),
    (InvalidInputError, 400),
    (EncoderError, 400),
    (StoreUnavailableError, 503),
    (StoreError, 502),
    (OmnivecError, 400),
]

_ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorOut, "description": text}
    for code, text in [
        (400, "invalid input (InvalidInputError, DimensionMismatchError, SpaceMismatchError, ...)"),
        (404, "unknown collection, recommender or id (NotFoundError)"),
        (422, "the body does not have the documented shape"),
        (503, "the vector store cannot be reached (StoreUnavailableError)"),
    ]
}


def _one_line(text: str, limit: int = 500) -> str:
    line = " ".join(text.split())
    return line if len(line) <= limit else line[: limit - 1] + "…"


def _error(status: int, error: str, detail: str) -> JSONResponse:
    return JSONResponse({"error": error, "detail": _one_line(detail)}, status_code=status)


def _status_of(exc: OmnivecError) -> int:
    return next(code for cls, code in _STATUS if isinstance(exc, cls))


def _validation_detail(exc: RequestValidationError) -> tuple[int, str, str]:
    errors = list(exc.errors())
    if any(e.get("type") == "json_invalid" for e in errors):
        ctx = next(e.get("ctx", {}) for e in errors if e.get("type") == "json_invalid")
        return 400, "invalid_json", f"request body is not valid JSON: {ctx.get('error', '')}"
    parts = []
    for e in errors[:3]:
        loc = ".".join(str(p) for p in e.get("loc", ()) if p != "body") or "body"
        parts.append(f"{loc}: {e.get('msg', 'invalid')}")
    more = f" (and {len(errors) - 3} more)" if len(errors) > 3 else ""
    return 422, "invalid_request", "; ".join(parts) + more


_HTTP_CODES = {404: "not_found", 405: "method_not_allowed", 413: "too_large"}


def _install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(OmnivecError)
    async def omnivec_error(request: Request, exc: OmnivecError) -> JSONResponse:
        status = _status_of(exc)
        if status >= 500:
            logger.warning("%s %s: %s", request.method, request.url.path, exc)
        return _error(status, type(exc).__name__, str(exc) or type(exc).__name__)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        return _error(*_validation_detail(exc))

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = _HTTP_CODES.get(exc.status_code, f"http_{exc.status_code}")
        return _error(exc.status_code, code, str(exc.detail))

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        logger.exception("unexpected error in %s %s", request.method, request.url.path)
        return _error(500, "internal_error", f"{type(exc).__name__}: {exc}")


class _LimitBody:
    """Refuse bodies over ``limit`` bytes before they are read (by their Content-Length)."""

    def __init__(self, app: Any, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(
        self,
        scope: MutableMapping[str, Any],
        receive: Callable[[], Awaitable[Any]],
        send: Callable[[Any], Awaitable[None]],
    ) -> None:
        if scope["type"] == "http":
            for name, value in scope.get("headers", ()):
                if name == b"content-length" and value.isdigit() and int(value) > self.limit:
                    response = _error(
                        413,
                        "too_large",
                        f"request body over {self.limit} bytes; send smaller batches",
                    )
                    await response(scope, receive, send)
                    return
        await self.app(scope, receive, send)


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
    }


def _platform(request: Request) -> ov.Platform:
    return request.app.state.platform  # type: ignore[no-any-return]


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


def create_app(platform: ov.Platform, *, warm_up: bool = False) -> FastAPI:
    """The HTTP API and web page over ``platform`` (which the caller opens and closes).

    ``warm_up=True`` loads every collection's encoder at startup instead of on first use.
    """

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if warm_up:
            from starlette.concurrency import run_in_threadpool

            started = time.perf_counter()
            await run_in_threadpool(_warm_up, platform)
            logger.info("encoders ready in %.1f s", time.perf_counter() - started)
        yield

    app = FastAPI(
        title="omnivec",
        version=ov.__version__,
        summary="Text, images, graph nodes and users/items as vectors: search and recommend.",
        lifespan=lifespan,
        responses=_ERRORS,
    )
    app.state.platform = platform
    _install_error_handlers(app)
    app.add_middleware(_LimitBody, limit=MAX_BODY_BYTES)

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
        """Every collection with its encoder, modalities, dim, metric and row count."""
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
    def search(name: str, body: SearchIn, request: Request) -> JSONResponse:
        """Nearest neighbours of a text, image, vector or stored record, best first."""
        col = _platform(request).get_collection(name)
        result = col.search(_query_of(body), k=body.k, where=body.where, min_score=body.min_score)
        # Answer exactly what `omnivec search --json` prints; JSONResponse skips a re-validation
        # pass that costs more than the search for large k.
        return JSONResponse(ov.hits_payload(result))

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


def serve(uri: str, host: str = "127.0.0.1", port: int = 8000, token: str = "") -> None:
    """Serve the API and web page for the store at ``uri`` until interrupted (Ctrl-C).

    The platform opens first, so an unreachable store fails here with a clear error instead
    of inside uvicorn; encoders load before the first request is accepted.
    """
    import uvicorn

    if host not in ("127.0.0.1", "localhost", "::1"):
        logger.warning("serving on %s: the HTTP API has no authentication", host)
    with ov.connect(uri, token=token) as platform:
        app = create_app(platform, warm_up=True)
        uvicorn.run(app, host=host, port=port, log_level="info", access_log=False)


def main(argv: list[str] | None = None) -> None:
    """``python -m omnivec.server --db PATH [--host H] [--port P]`` (same as ``omnivec serve``)."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m omnivec.server", description=main.__doc__)
    parser.add_argument("--db", default=None, help="Milvus Lite file or server URI")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--token", default="")
    args = parser.parse_args(argv)
    from omnivec.stores.milvus import default_uri

    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    serve(args.db or default_uri(), host=args.host, port=args.port, token=args.token)


if __name__ == "__main__":
    main()

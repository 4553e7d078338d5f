"""Errors as JSON: every error answers ``{"error": ..., "detail": "<one line>"}``, never a
traceback; bad input is a 4xx, never a 500."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from omnivec.errors import (
    EncoderError,
    InvalidInputError,
    NotFoundError,
    OmnivecError,
    StoreError,
    StoreUnavailableError,
)
from omnivec.server.schemas import ErrorOut

logger = logging.getLogger("omnivec.server")

STATUS: list[tuple[type[BaseException], int]] = [
    (NotFoundError, 404),
    (InvalidInputError, 400),
    (EncoderError, 400),
    (StoreUnavailableError, 503),
    (StoreError, 502),
    (OmnivecError, 400),
]

ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorOut, "description": text}
    for code, text in [
        (400, "invalid input (InvalidInputError, DimensionMismatchError, SpaceMismatchError, ...)"),
        (401, "an API key is required: send `Authorization: Bearer KEY` (serve --api-key)"),
        (403, "a write route on a read-only server (serve --read-only)"),
        (404, "unknown collection, recommender or id (NotFoundError)"),
        (422, "the body does not have the documented shape"),
        (503, "the vector store cannot be reached (StoreUnavailableError)"),
    ]
}


def one_line(text: str, limit: int = 500) -> str:
    line = " ".join(text.split())
    return line if len(line) <= limit else line[: limit - 1] + "…"


def error_response(status: int, error: str, detail: str) -> JSONResponse:
    return JSONResponse({"error": error, "detail": one_line(detail)}, status_code=status)


def status_of(exc: OmnivecError) -> int:
    return next(code for cls, code in STATUS if isinstance(exc, cls))


def validation_detail(exc: RequestValidationError) -> tuple[int, str, str]:
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


HTTP_CODES = {404: "not_found", 405: "method_not_allowed", 413: "too_large"}


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(OmnivecError)
    async def omnivecerror_response(request: Request, exc: OmnivecError) -> JSONResponse:
        status = status_of(exc)
        if status >= 500:
            logger.warning("%s %s: %s", request.method, request.url.path, exc)
        return error_response(status, type(exc).__name__, str(exc) or type(exc).__name__)

    @app.exception_handler(RequestValidationError)
    async def validationerror_response(
        request: Request, exc: RequestValidationError
    ) -> JSONResponse:
        return error_response(*validation_detail(exc))

    @app.exception_handler(StarletteHTTPException)
    async def httperror_response(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = HTTP_CODES.get(exc.status_code, f"http_{exc.status_code}")
        return error_response(exc.status_code, code, str(exc.detail))

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        logger.exception("unexpected error in %s %s", request.method, request.url.path)
        return error_response(500, "internal_error", f"{type(exc).__name__}: {exc}")


class LimitBody:
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
                    response = error_response(
                        413,
                        "too_large",
                        f"request body over {self.limit} bytes; send smaller batches",
                    )
                    await response(scope, receive, send)
                    return
        await self.app(scope, receive, send)

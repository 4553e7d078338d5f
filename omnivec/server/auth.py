"""API keys and read-only mode, enforced in front of every route.

The guard is ASGI middleware, not a per-route dependency, so that it is deny-by-default: a
route added later is protected without anyone remembering to protect it. Only ``GET /healthz``,
the web page (``/`` and ``/static/...``) and the API description (``/docs``, ``/redoc``,
``/openapi.json``: no data in them, and Swagger's "Authorize" button needs them) are public.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import os
from collections.abc import Awaitable, Callable, Mapping, MutableMapping
from typing import Any

from fastapi import FastAPI

from omnivec.errors import InvalidInputError
from omnivec.server.responses import error_response

#: The environment variable read when ``--api-key`` is not given (the flag wins).
ENV_API_KEY = "OMNIVEC_API_KEY"
#: Paths reachable without a key (GET or HEAD only).
PUBLIC_PATHS = frozenset(
    {"/healthz", "/", "/docs", "/docs/oauth2-redirect", "/redoc", "/openapi.json"}
)
PUBLIC_PREFIXES = ("/static/",)
#: Last path segment of a POST route that changes stored data; ``--read-only`` refuses them,
#: as it refuses every DELETE, PUT and PATCH. Routes that only read may use POST (search).
WRITE_ACTIONS = frozenset(
    {"add", "upsert", "delete", "drop", "fit", "reembed", "reindex", "embed", "train"}
)
READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
SCHEME_NAME = "HTTPBearer"

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Any]]
Send = Callable[[Any], Awaitable[None]]


def resolve_api_key(flag: str | None, environ: Mapping[str, str] | None = None) -> str | None:
    """The API key to require: ``--api-key`` if given, else ``$OMNIVEC_API_KEY``, else None.

    The command-line flag wins over the environment. A key that is empty or holds spaces,
    control or non-ASCII characters is refused with :class:`InvalidInputError` (a Bearer token
    travels in an HTTP header, and an empty key would let an empty header in).
    """
    env = os.environ if environ is None else environ
    if flag is not None:
        return check_api_key(flag, "--api-key")
    if ENV_API_KEY in env:
        return check_api_key(env[ENV_API_KEY], f"${ENV_API_KEY}")
    return None


def check_api_key(key: str, source: str = "api_key") -> str:
    if not key.strip():
        raise InvalidInputError(
            f"the API key from {source} is empty; give a non-empty key (e.g. from "
            f"`python -c 'import secrets; print(secrets.token_urlsafe(32))'`), or unset "
            f"{ENV_API_KEY} and leave out --api-key to serve without one"
        )
    if not all("!" <= ch <= "~" for ch in key):
        raise InvalidInputError(
            f"the API key from {source} has spaces, control or non-ASCII characters; "
            "use printable ASCII only (it is sent as `Authorization: Bearer KEY`)"
        )
    return key


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def is_public(method: str, path: str) -> bool:
    if method not in ("GET", "HEAD"):
        return False
    return path in PUBLIC_PATHS or path.startswith(PUBLIC_PREFIXES)


def is_write(method: str, path: str) -> bool:
    """True for requests that change stored data (refused by ``--read-only``)."""
    if method in READ_METHODS:
        return False
    if method != "POST":
        return True  # DELETE, PUT, PATCH
    return path.rstrip("/").rsplit("/", 1)[-1] in WRITE_ACTIONS


def _digest(value: bytes) -> bytes:
    # Comparing fixed-length digests keeps the comparison's time independent of the key's
    # length as well as of its content.
    return hashlib.sha256(value).digest()


class Guard:
    """ASGI middleware: 401 without the right ``Authorization: Bearer KEY``, 403 for writes
    on a read-only server. The key is never logged or echoed back."""

    def __init__(self, app: Any, api_key: str | None, read_only: bool) -> None:
        self.app = app
        self.key_digest = _digest(api_key.encode("ascii")) if api_key is not None else None
        self.read_only = read_only

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            method, path = scope["method"], scope["path"]
            denied = None
            if self.key_digest is not None and not is_public(method, path):
                detail = self.refusal(scope.get("headers", ()))
                if detail is not None:
                    denied = error_response(401, "unauthorized", detail)
                    denied.headers["WWW-Authenticate"] = 'Bearer realm="omnivec"'
            if denied is None and self.read_only and is_write(method, path):
                denied = error_response(
                    403,
                    "read_only",
                    f"this server is read-only (serve --read-only): {method} {path} would "
                    "change stored data; write through a server started without --read-only",
                )
            if denied is not None:
                await denied(scope, receive, send)
                return
        await self.app(scope, receive, send)

    def refusal(self, headers: Any) -> str | None:
        """Why the request's credentials are refused, or None when they are right."""
        values = [v for k, v in headers if k == b"authorization"]
        if not values:
            return "this server needs an API key: send the header `Authorization: Bearer <key>`"
        if len(values) > 1:
            return f"send one Authorization header, not {len(values)}"
        scheme, _, token = values[0].decode("latin-1").strip().partition(" ")
        if scheme.lower() != "bearer":
            return "the Authorization header must be `Bearer <key>` (the Bearer scheme)"
        token = token.strip()
        if not token:
            return "the Authorization header has no key after `Bearer `"
        if not hmac.compare_digest(_digest(token.encode("latin-1")), self.key_digest or b""):
            return "wrong API key"
        return None


def document_security(app: FastAPI) -> None:
    """Declare the HTTP Bearer scheme in the OpenAPI schema: required by every operation
    except the public ones (``GET /healthz``)."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        schema = build()
        schema.setdefault("components", {}).setdefault("securitySchemes", {})[SCHEME_NAME] = {
            "type": "http",
            "scheme": "bearer",
            "description": "the key given to `omnivec serve --api-key` (or $OMNIVEC_API_KEY)",
        }
        schema["security"] = [{SCHEME_NAME: []}]
        for path, ops in schema.get("paths", {}).items():
            for method, op in ops.items():
                if isinstance(op, dict) and is_public(method.upper(), path):
                    op["security"] = []
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]

"""Run the server: :func:`serve` (what ``omnivec serve`` calls) and ``python -m omnivec.server``."""

from __future__ import annotations

import logging
import os
import sys
from typing import Any

import omnivec as ov
from omnivec.core.quiet import quiet_third_party
from omnivec.errors import OmnivecError
from omnivec.server.app import create_app
from omnivec.server.auth import ENV_API_KEY, is_loopback, resolve_api_key

logger = logging.getLogger("omnivec.server")

API_KEY_HELP = (
    f"Require `Authorization: Bearer KEY` on every route except GET /healthz and the web page "
    f"(else 401). Default: ${ENV_API_KEY}; the flag wins over the environment. An empty key "
    "is an error."
)
READ_ONLY_HELP = "Refuse (403) the routes that add, delete, drop, fit or re-embed."
LLM_HELP = (
    "OpenAI-compatible API (e.g. http://127.0.0.1:8080/v1) of the language model that answers "
    "POST /collections/{name}/ask and the page's Ask box"
)


def serve(
    uri: str,
    host: str = "127.0.0.1",
    port: int = 8000,
    token: str = "",
    *,
    api_key: str | None = None,
    read_only: bool = False,
    batching: bool = True,
    llm: Any = None,
) -> None:
    """Serve the API and web page for the store at ``uri`` until interrupted (Ctrl-C).

    The platform opens first, so an unreachable store fails here with a clear error instead
    of inside uvicorn; encoders load before the first request is accepted. ``api_key``,
    ``read_only`` and ``llm`` (the model that answers ``/ask``) are :func:`create_app`'s.
    """
    import uvicorn

    if api_key is None and not is_loopback(host):
        print(
            f"warning: serving on {host} without an API key: anyone who can reach port {port} "
            f"can read, add and drop every collection; pass --api-key KEY (or set "
            f"{ENV_API_KEY})" + ("" if read_only else " and consider --read-only"),
            file=sys.stderr,
            flush=True,
        )
    if api_key is not None:
        # Say that a key is required, never the key.
        logger.info("API key required on every route except GET /healthz and the web page")
    if read_only:
        logger.info("read-only: add, delete, drop, fit and re-embed routes answer 403")
    if llm is not None:
        logger.info("answering questions with model %s at %s", llm.model_name, llm.base_url)
    with ov.connect(uri, token=token) as platform:
        app = create_app(
            platform,
            warm_up=True,
            api_key=api_key,
            read_only=read_only,
            batching=batching,
            llm=llm,
        )
        uvicorn.run(app, host=host, port=port, log_level="info", access_log=False)


def key_from(flag: str | None) -> str | None:
    """The API key to serve with (``--api-key`` wins over ``$OMNIVEC_API_KEY``), noting on
    the log which one was used when both are set."""
    key = resolve_api_key(flag)
    env = os.environ.get(ENV_API_KEY)
    if flag is not None and env is not None and env != flag:
        logger.info("using --api-key; it overrides $%s", ENV_API_KEY)
    return key


def serve_from_flags(uri: str, *, api_key: str | None, **kwargs: Any) -> None:
    """What ``omnivec serve`` runs: log to stderr, take the key from ``--api-key`` (given as
    ``api_key``) or ``$OMNIVEC_API_KEY``, and :func:`serve` (``kwargs`` are its own)."""
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    serve(uri, api_key=key_from(api_key), **kwargs)


def main(argv: list[str] | None = None) -> None:
    """``python -m omnivec.server --db PATH [--host H] [--port P] [--api-key KEY] [--read-only]``
    (the same as ``omnivec serve``)."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m omnivec.server", description=main.__doc__)
    parser.add_argument("--db", default=None, help="Milvus Lite file or server URI")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--token", default="")
    parser.add_argument("--api-key", default=None, help=API_KEY_HELP)
    parser.add_argument("--read-only", action="store_true", help=READ_ONLY_HELP)
    parser.add_argument(
        "--no-batching", action="store_true", help="answer every search alone (to compare)"
    )
    parser.add_argument("--llm", default=None, help=LLM_HELP)
    parser.add_argument("--llm-model", default=None, help="model name the LLM server knows")
    parser.add_argument(
        "-v", "--verbose", action="store_true", help="let third-party libraries log as they do"
    )
    args = parser.parse_args(argv)
    quiet_third_party(args.verbose)  # before pymilvus/grpc and the models load
    from omnivec.stores.milvus import default_uri

    try:
        serve_from_flags(
            args.db or default_uri(),
            host=args.host,
            port=args.port,
            token=args.token,
            api_key=args.api_key,
            read_only=args.read_only,
            batching=not args.no_batching,
            llm=ov.llm(model=args.llm_model, base_url=args.llm) if args.llm else None,
        )
    except OmnivecError as exc:
        print(f"error: {exc}", file=sys.stderr)
        raise SystemExit(1) from None

"""Connecting to Milvus: retrying a connection a server closed with a transient gRPC GOAWAY,
and keeping pymilvus' per-RPC tracebacks out of the logs (omnivec reports failures itself)."""

from __future__ import annotations

import logging
import time
from typing import Any

from omnivec.stores.errors import transient_goaway

__all__ = [
    "LITE_GRPC_OPTIONS",
    "DropRpcTracebacks",
    "connect_client",
    "quiet_rpc_tracebacks",
]

logger = logging.getLogger(__name__)

#: Pauses before retrying a connection that the server shut with a transient GOAWAY.
_CONNECT_RETRY_PAUSES_S = (0.2, 1.0)

#: gRPC keepalive for a Milvus Lite file's own server (a child process on a unix socket).
#: pymilvus pings every 10 s even with no call in flight; Lite's gRPC server allows one ping
#: per 5 minutes without data, so a connection idle for ~30 s (during model training) was
#: shut with GOAWAY "too_many_pings" (ENHANCE_YOUR_CALM). Pinging only while a call runs, at
#: the server's minimum interval, never trips it; a dead local server closes the socket anyway.
LITE_GRPC_OPTIONS = {
    "grpc.keepalive_time_ms": 300_000,
    "grpc.keepalive_permit_without_calls": False,
}


def connect_client(
    client_class: Any, uri: str, token: str, timeout: float, *, lite: bool = False
) -> Any:
    """A MilvusClient, retrying a connection the server closed with a transient gRPC GOAWAY.
    ``lite``: ``uri`` is a Milvus Lite file (pymilvus starts its server), which takes
    :data:`LITE_GRPC_OPTIONS`.

    gRPC reuses TCP connections across channels to one address; a server may close such a
    connection (e.g. "too_many_pings" after idle keepalives), and the next connect fails with
    UNAVAILABLE although a fresh connection works. A refused or unreachable address is not
    retried, so it still fails at once.
    """
    for pause in (*_CONNECT_RETRY_PAUSES_S, None):
        try:
            if lite:
                return client_class(
                    uri=uri, token=token, timeout=timeout, grpc_options=dict(LITE_GRPC_OPTIONS)
                )
            return client_class(uri=uri, token=token, timeout=timeout)
        except Exception as exc:
            if pause is None or not transient_goaway(exc):
                raise
            logger.info("Milvus at %s closed the connection (%s); retrying", uri, exc)
            time.sleep(pause)
    raise AssertionError("unreachable")  # pragma: no cover


class DropRpcTracebacks(logging.Filter):
    """pymilvus logs every failed RPC with a full traceback at ERROR level; omnivec turns
    those failures into one-line errors of its own, so the tracebacks only add noise."""

    def filter(self, record: logging.LogRecord) -> bool:
        # Also pymilvus' iterator warning that Lite reports no MVCC timestamp (it falls back
        # to a client-side one, which is right for a single-process Lite file).
        return record.funcName != "_log_rpc_error" and "mvccTs" not in record.getMessage()


def quiet_rpc_tracebacks() -> None:
    for name in ("pymilvus.decorators", "pymilvus.orm.iterator"):
        noisy = logging.getLogger(name)
        if not any(isinstance(f, DropRpcTracebacks) for f in noisy.filters):
            noisy.addFilter(DropRpcTracebacks())

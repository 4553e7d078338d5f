"""pymilvus and gRPC errors mapped to omnivec's error tree by type and code, not message text.

As httpx's ``_exceptions.py`` maps transport errors by type, every exception the Milvus data
path can see is classified here once:

=========================================  =====================================
pymilvus / gRPC                            omnivec
=========================================  =====================================
``MilvusUnavailableException``, code 2     :class:`StoreUnavailableError`
(``Status.CONNECT_FAILED``), gRPC
``UNAVAILABLE`` / ``DEADLINE_EXCEEDED``,
``ConnectionError`` / ``TimeoutError``
``ParamError`` (refused by the client)     :class:`InvalidInputError`
codes 1100 (invalid parameter) and 2000    :class:`InvalidInputError` naming the filter,
(segcore: expression type check) on a      when the call carried a user ``where``
call that carried a ``where``
``CollectionNotExistException``, code 100  :class:`StoreError` (collection missing)
any other ``MilvusException``              :class:`StoreError`
=========================================  =====================================
"""

from __future__ import annotations

from collections.abc import Callable

from omnivec.errors import InvalidInputError, OmnivecError, StoreError, StoreUnavailableError

__all__ = ["FILTER_HELP", "translate"]

#: pymilvus' Status.CONNECT_FAILED: the channel to the server is gone.
_CONNECT_FAILED = 2
#: Milvus codes for a request whose parameters (here: the filter expression) are invalid.
_INVALID_PARAMETER = 1100
_EXPRESSION_TYPE = 2000
_COLLECTION_NOT_FOUND = 100
FILTER_HELP = (
    'Write a Milvus boolean expression over metadata keys, e.g. lang == "en" and year > 2000'
)


def _reason(exc: BaseException) -> str:
    # One line: Milvus' parser errors span several lines.
    text = getattr(exc, "message", None) or str(exc) or type(exc).__name__
    return " ".join(str(text).split())


def _grpc_unavailable(exc: BaseException) -> bool:
    try:
        import grpc
    except ImportError:  # pragma: no cover - pymilvus depends on grpcio
        return False
    if not isinstance(exc, grpc.RpcError):
        return False
    code = exc.code() if callable(getattr(exc, "code", None)) else None
    return code in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED)


def translate(
    exc: BaseException, what: str, where: str | None, unavailable: Callable[[BaseException], str]
) -> OmnivecError | None:
    """The omnivec error for ``exc`` raised while trying to ``what``; ``None`` if it is not a
    store error (a bug of ours, which should surface as it is). ``unavailable(exc)`` words
    the message for an unreachable store."""
    from pymilvus.exceptions import (
        CollectionNotExistException,
        MilvusException,
        MilvusUnavailableException,
        ParamError,
    )

    if isinstance(exc, OmnivecError):
        return exc
    if isinstance(exc, MilvusUnavailableException) or _grpc_unavailable(exc):
        return StoreUnavailableError(unavailable(exc))
    if isinstance(exc, ConnectionError | TimeoutError):
        return StoreUnavailableError(unavailable(exc))
    if isinstance(exc, MilvusException):
        code = getattr(exc, "code", None)
        if code == _CONNECT_FAILED:  # server stopped or crashed
            return StoreUnavailableError(unavailable(exc))
        if where is not None and code in (_INVALID_PARAMETER, _EXPRESSION_TYPE):
            return InvalidInputError(f"invalid filter {where!r}: {_reason(exc)}. {FILTER_HELP}")
        if isinstance(exc, ParamError):
            return InvalidInputError(f"Milvus refused to {what}: {_reason(exc)}")
        if isinstance(exc, CollectionNotExistException) or code == _COLLECTION_NOT_FOUND:
            return StoreError(
                f"Milvus refused to {what}: the collection is missing from the store "
                "(dropped by another process?); drop it in omnivec and create it again"
            )
        return StoreError(f"Milvus refused to {what}: {_reason(exc)}")
    if isinstance(exc, OSError):
        return StoreUnavailableError(unavailable(exc))
    return None

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
code 2000 "Mmap manager has not been init"  :class:`StoreUnavailableError` (Lite's cache
(Milvus Lite, after its retries)           folder is not usable; see :func:`lite_init_fault`)
any other ``MilvusException``              :class:`StoreError`
=========================================  =====================================

The predicates below decide what is worth retrying; they too look at types and codes, and
read message text only where Milvus gives no code of its own (each says why).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from omnivec.errors import InvalidInputError, OmnivecError, StoreError, StoreUnavailableError

__all__ = [
    "FILTER_HELP",
    "causes",
    "lite_init_fault",
    "lite_lacks_index",
    "not_listening",
    "transient_goaway",
    "translate",
]

#: pymilvus' Status.CONNECT_FAILED: the channel to the server is gone.
_CONNECT_FAILED = 2
#: Milvus codes for a request whose parameters (here: the filter expression) are invalid.
_INVALID_PARAMETER = 1100
_EXPRESSION_TYPE = 2000
_COLLECTION_NOT_FOUND = 100
#: What Milvus Lite answers for any failure it has no code for ("service internal").
_LITE_INTERNAL = 65535
FILTER_HELP = (
    'Write a Milvus boolean expression over metadata keys, e.g. lang == "en" and year > 2000'
)


def _reason(exc: BaseException) -> str:
    # One line: Milvus' parser errors span several lines.
    text = getattr(exc, "message", None) or str(exc) or type(exc).__name__
    return " ".join(str(text).split())


def causes(exc: BaseException) -> Iterator[BaseException]:
    """``exc`` and the exceptions it was raised from, each once. pymilvus re-raises ``e from
    e``: a cause that loops back is passed over for the exception being handled when ``e``
    was raised (``__context__``), which is where the RPC error then is."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        cause = current.__cause__
        current = cause if cause is not None and id(cause) not in seen else current.__context__


def _grpc_code(exc: BaseException) -> object:
    """The gRPC status code of a failed RPC (``grpc.StatusCode``); None for anything else."""
    try:
        import grpc
    except ImportError:  # pragma: no cover - pymilvus depends on grpcio
        return None
    if not isinstance(exc, grpc.RpcError) or not callable(getattr(exc, "code", None)):
        return None
    return exc.code()


def _grpc_unavailable(exc: BaseException) -> bool:
    import grpc

    return _grpc_code(exc) in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED)


def _milvus_code(exc: BaseException) -> int | None:
    from pymilvus.exceptions import MilvusException

    return exc.code if isinstance(exc, MilvusException) else None


def not_listening(exc: BaseException) -> bool:
    """Whether a failed connection says the server cannot be reached (yet): pymilvus'
    ``CONNECT_FAILED``, an unavailable server, gRPC ``UNAVAILABLE``/``DEADLINE_EXCEEDED``, a
    missing socket file. Another failure (a refused token, a version mismatch) will not go
    away by waiting."""
    from pymilvus.exceptions import MilvusUnavailableException

    return any(
        isinstance(e, MilvusUnavailableException | FileNotFoundError | ConnectionError)
        or _milvus_code(e) == _CONNECT_FAILED
        or _grpc_unavailable(e)
        for e in causes(exc)
    )


def transient_goaway(exc: BaseException) -> bool:
    """Whether a failed connection is an RPC the server cut with GOAWAY (e.g. "too_many_pings"
    after idle keepalives), which a fresh connection cures.

    Text is read because no code tells it apart: gRPC reports a GOAWAY'd connection and a
    refused address alike as ``UNAVAILABLE``; only the RPC's details name the GOAWAY."""
    import grpc

    for e in causes(exc):
        if _grpc_code(e) == grpc.StatusCode.UNAVAILABLE:
            details_of = getattr(e, "details", None)
            details = details_of() if callable(details_of) else str(e)
            text = str(details).lower()
            if "goaway" in text or "too_many_pings" in text or "too many pings" in text:
                return True
    return False


def lite_init_fault(exc: BaseException) -> bool:
    """Whether Milvus Lite failed a create or load because its mmap manager is not set up.

    milvus-lite 2.5 sets the manager up lazily, on a server process's first collection create
    or load, in ``$HOME/.cache/milvus``, a folder it shares with every Lite process of the
    user and deletes and recreates each time: two Lite processes starting at once can race
    on it (seen under ``pytest -n 2``). Lite ignores the failure and the create then fails
    its assertion; the same call succeeds once the folder is usable again (the set-up is
    tried anew while it has not succeeded). Text is read because code 2000 is every segcore
    error (a filter's type check among them); only the message names the mmap manager."""
    return any(
        _milvus_code(e) == _EXPRESSION_TYPE
        and "mmap manager has not been init" in _reason(e).lower()
        for e in causes(exc)
    )


def lite_lacks_index(exc: BaseException) -> bool:
    """Whether Milvus Lite refused an index type it does not have (HNSW and others: "local
    mode only support FLAT IVF_FLAT AUTOINDEX"). Text is read because Lite answers with its
    generic code 65535 ("service internal"), which every unexpected Lite failure shares."""
    return any(
        _milvus_code(e) == _LITE_INTERNAL and "only support" in _reason(e).lower()
        for e in causes(exc)
    )


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
        if lite_init_fault(exc):
            return StoreUnavailableError(
                f"Milvus Lite could not {what}: it could not set up its cache folder "
                "(~/.cache/milvus, shared by every Milvus Lite process of this user); check "
                "that the folder is writable and try again"
            )
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

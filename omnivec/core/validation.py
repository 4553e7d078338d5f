"""Checks on user input, done before anything reaches an encoder or the store.

Ids are encoded to store keys here (``"s:<str>"`` / ``"i:<int>"``) so that str and int ids
round-trip exactly and no user string is ever spliced into a Milvus expression.
"""

from __future__ import annotations

import math
import re
from typing import Any

import numpy as np

from omnivec.errors import DimensionMismatchError, InvalidInputError

__all__ = [
    "MAX_K",
    "check_batch",
    "check_k",
    "check_metadata",
    "check_name",
    "check_text_item",
    "check_vectors",
    "check_where",
]

MAX_K = 16_384
_NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,254}")
_KEY_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,254}")
# Store-level field names and Milvus internals that a metadata key must not shadow.
RESERVED_KEYS = frozenset({"pk", "vector", "id", "score", "metadata"})


def check_name(name: Any, what: str = "collection") -> str:
    if not isinstance(name, str) or not _NAME_RE.fullmatch(name):
        raise InvalidInputError(
            f"invalid {what} name {name!r}: use a letter or _ followed by letters, digits or _ "
            "(at most 255 characters)"
        )
    if name.startswith("_omnivec"):
        raise InvalidInputError(f"{what} names starting with '_omnivec' are reserved")
    return name


def check_k(k: Any) -> int:
    if type(k) is int and 1 <= k <= MAX_K:  # the common case, first
        return k
    if isinstance(k, bool) or not isinstance(k, int | np.integer) or not 1 <= int(k) <= MAX_K:
        raise InvalidInputError(f"k must be an integer from 1 to {MAX_K}, got {k!r}")
    return int(k)


# Str ids made only of these characters are stored as they are; any other str id is stored
# hex-encoded, so a store key never holds a quote or backslash and is safe inside any
# Milvus expression (pymilvus itself splices ids into ``pk in ['...']`` unescaped).
def check_batch(items: Any, what: str) -> list[Any]:
    """A non-empty list from a sequence; a bare str is refused (it would iterate characters)."""
    if items is None:
        raise InvalidInputError(f"{what} is None; pass a non-empty list")
    if isinstance(items, str | bytes):
        raise InvalidInputError(f"{what} must be a list, not a single {type(items).__name__}")
    try:
        out = list(items)
    except TypeError as exc:
        raise InvalidInputError(f"{what} must be a list, got {type(items).__name__}") from exc
    if not out:
        raise InvalidInputError(f"{what} is empty; pass at least one item")
    return out


#: Milvus stores metadata as JSON with 64-bit integers; deeper nesting than this is refused
#: (a very deep value would otherwise blow Python's recursion limit on the way to the store).
_INT64 = (-(2**63), 2**63 - 1)
MAX_METADATA_DEPTH = 32


def _check_value(key: str, value: Any, depth: int = 0) -> None:
    if depth > MAX_METADATA_DEPTH:
        raise InvalidInputError(
            f"metadata {key!r} is nested deeper than {MAX_METADATA_DEPTH} levels; flatten it"
        )
    if value is None or isinstance(value, bool):
        return
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise InvalidInputError(
                f"metadata {key!r} has a str that is not valid Unicode ({exc.reason}); "
                "pass text without lone surrogates"
            ) from exc
        return
    if isinstance(value, int):
        if not _INT64[0] <= value <= _INT64[1]:
            raise InvalidInputError(
                f"metadata {key!r} is an int outside the 64-bit range; store it as a str"
            )
        return
    if isinstance(value, float):
        if not math.isfinite(value):
            raise InvalidInputError(f"metadata {key!r} is {value}; use finite numbers")
        return
    if isinstance(value, list | tuple):
        for v in value:
            _check_value(key, v, depth + 1)
        return
    if isinstance(value, dict):
        for k, v in value.items():
            if not isinstance(k, str):
                raise InvalidInputError(f"metadata {key!r} has a non-str key {k!r}")
            _check_value(key, k, depth + 1)
            _check_value(key, v, depth + 1)
        return
    raise InvalidInputError(
        f"metadata {key!r} has a {type(value).__name__}; use str, int, float, bool, list or dict"
    )


def _plain(value: Any, depth: int = 0) -> Any:
    if depth > MAX_METADATA_DEPTH:
        return value  # _check_value refuses it with a clear message
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, list | tuple):
        return [_plain(v, depth + 1) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v, depth + 1) for k, v in value.items()}
    return value


def check_metadata(metadata: Any, n: int) -> list[dict[str, Any]]:
    """One plain dict per row; keys must be identifiers so that ``where`` can name them."""
    if metadata is None:
        return [{} for _ in range(n)]
    if isinstance(metadata, dict):
        raise InvalidInputError("metadata must be a list with one dict per item, not one dict")
    rows = check_batch(metadata, "metadata")
    if len(rows) != n:
        raise InvalidInputError(f"got {len(rows)} metadata dicts for {n} items; pass one per item")
    out: list[dict[str, Any]] = []
    for row in rows:
        if row is None:
            out.append({})
            continue
        if not isinstance(row, dict):
            raise InvalidInputError(f"metadata entries must be dicts, got {type(row).__name__}")
        clean = {}
        for key, value in row.items():
            if not isinstance(key, str) or not _KEY_RE.fullmatch(key) or key in RESERVED_KEYS:
                raise InvalidInputError(
                    f"invalid metadata key {key!r}: use a letter or _ followed by letters, "
                    f"digits or _, and none of {sorted(RESERVED_KEYS)}"
                )
            value = _plain(value)
            _check_value(key, value)
            clean[key] = value
        out.append(clean)
    return out


def check_vectors(vectors: Any, dim: int | None, what: str = "vectors") -> np.ndarray:
    """A finite float32 ``(n, dim)`` array (a single ``(dim,)`` vector becomes ``(1, dim)``)."""
    if vectors is None:
        raise InvalidInputError(f"{what} is None; pass an (n, dim) array")
    try:
        arr = np.asarray(vectors, dtype=np.float32)
    except (TypeError, ValueError) as exc:
        raise InvalidInputError(f"{what} must be numbers in an (n, dim) array: {exc}") from exc
    if arr.ndim == 1:
        arr = arr[None, :]
    if arr.ndim != 2 or arr.shape[0] == 0 or arr.shape[1] == 0:
        raise InvalidInputError(f"{what} must be a non-empty (n, dim) array, got shape {arr.shape}")
    if dim is not None and arr.shape[1] != dim:
        raise DimensionMismatchError(
            f"{what} have dim {arr.shape[1]}, the collection has dim {dim}"
        )
    if not np.isfinite(arr).all():
        bad = int(np.flatnonzero(~np.isfinite(arr).all(axis=1))[0])
        raise InvalidInputError(f"{what} row {bad} has NaN or infinite values; pass finite numbers")
    return np.ascontiguousarray(arr)


def check_where(where: Any) -> str | None:
    """A Milvus filter expression (``None`` or ``""`` for none); anything but a str is refused."""
    if where is None or where == "":
        return None
    if not isinstance(where, str):
        raise InvalidInputError(
            f"where must be a str filter expression, got {type(where).__name__}"
        )
    # Milvus Lite 2.5.1 aborts its whole process (every collection in the file goes with it)
    # on `like` with an unquoted operand, e.g. `code like 1`; refuse it before it gets there.
    if _BARE_LIKE.search(_STRING_LITERAL.sub('""', where)):
        raise InvalidInputError(
            f'invalid filter {where!r}: like takes a quoted pattern, e.g. code like "XK%"'
        )
    return where


# A double- or single-quoted literal with backslash escapes, as Milvus' expression grammar has.
_STRING_LITERAL = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'')
_BARE_LIKE = re.compile(r'(?i)\blike\b(?!\s*")')


def check_text_item(item: Any, index: int) -> int:
    """The UTF-8 size in bytes of text item ``index`` of a batch; refuses anything but a str
    of valid Unicode (lone surrogates) with a one-line :class:`InvalidInputError`."""
    if not isinstance(item, str):
        raise InvalidInputError(f"text item {index} is a {type(item).__name__}, not a str")
    try:
        return len(item.encode("utf-8"))
    except UnicodeEncodeError as exc:
        raise InvalidInputError(
            f"text item {index} is not valid Unicode ({exc.reason}); decode your input first"
        ) from exc

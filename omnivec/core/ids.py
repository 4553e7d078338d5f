"""User ids <-> store keys.

Ids are encoded to store keys (``"s:<str>"`` / ``"x:<hex>"`` / ``"i:<int>"``) so that str and int
ids round-trip exactly and no user string is ever spliced into a Milvus expression.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import numpy as np

from omnivec.errors import InvalidInputError

__all__ = [
    "MAX_KEY_LENGTH",
    "decode_id",
    "decode_ids",
    "encode_id",
    "encode_ids",
    "quoted_keys",
]

MAX_KEY_LENGTH = 2_048

_SAFE_ID_RE = re.compile(r"[A-Za-z0-9_.:@/+=-]*")


def encode_id(id_: Any) -> str:
    """Map a user id (str or int) to its store key: ``s:<id>``, ``x:<utf-8 hex>`` or ``i:<int>``."""
    if isinstance(id_, bool):
        raise InvalidInputError(f"ids must be str or int, got bool {id_!r}")
    if isinstance(id_, str):
        if _SAFE_ID_RE.fullmatch(id_):
            key = "s:" + id_
        else:
            key = "x:" + id_.encode("utf-8", "surrogatepass").hex()
    elif isinstance(id_, int | np.integer):
        key = f"i:{int(id_)}"
    else:
        raise InvalidInputError(f"ids must be str or int, got {type(id_).__name__} {id_!r}")
    if len(key) > MAX_KEY_LENGTH:
        raise InvalidInputError(
            f"id is too long ({len(str(id_))} characters); keep ids under {MAX_KEY_LENGTH // 2} bytes"
        )
    return key


def decode_id(key: str) -> Any:
    tag, body = key[:2], key[2:]
    if tag == "i:":
        return int(body)
    if tag == "x:":
        return bytes.fromhex(body).decode("utf-8", "surrogatepass")
    return body


def decode_ids(keys: Sequence[str]) -> list[Any]:
    """:func:`decode_id` of each key; one pass per tag when every key shares it (bulk reads)."""
    tags = {k[0] for k in keys}  # one-character strings are shared: no allocation per key
    if tags == {"s"}:
        return [k[2:] for k in keys]
    if tags == {"i"}:
        return list(map(int, [k[2:] for k in keys]))
    return [decode_id(k) for k in keys]


def encode_ids(ids: Sequence[Any], unique: bool = True) -> list[str]:
    keys = [encode_id(i) for i in ids]
    if unique and len(set(keys)) != len(keys):
        seen: set[str] = set()
        dup = next(k for k in keys if k in seen or seen.add(k))  # type: ignore[func-returns-value]
        raise InvalidInputError(f"duplicate id {decode_id(dup)!r} in one batch; ids must be unique")
    return keys


def quoted_keys(keys: Sequence[str]) -> str:
    """``["k1","k2"]``: store keys as a Milvus filter list (for ``field in [...]``)."""
    # Store keys (encode_id, window suffixes) hold [A-Za-z0-9_.:@/+=#-] only: quoting them
    # cannot change an expression's meaning.
    return "[" + ",".join(f'"{k}"' for k in keys) + "]"

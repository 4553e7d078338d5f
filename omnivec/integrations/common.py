"""What the LangChain and LlamaIndex stores share: where a record's text lives and how a
framework's metadata filter becomes a Milvus ``where`` expression. No framework imports here."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from typing import Any

from omnivec.errors import InvalidInputError

#: Metadata key that holds a record's text (the page content / node text).
TEXT_KEY = "text"
_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def with_text(metadata: Mapping[str, Any] | None, text: str, text_key: str = TEXT_KEY) -> dict:
    """The metadata to store for a record whose content is ``text``.

    The text is kept in metadata under ``text_key`` so that search hits carry it. (When
    collections store source text themselves, ``Hit.text``, only this function and
    :func:`text_of` change.)"""
    return {**(metadata or {}), text_key: text}


def text_of(item: Any, text_key: str = TEXT_KEY) -> tuple[str, dict[str, Any]]:
    """``(text, metadata without the text)`` of a :class:`~omnivec.Hit` or
    :class:`~omnivec.Record`: its stored source text if it has one, else the text kept in
    metadata by :func:`with_text`."""
    meta = dict(item.metadata or {})
    kept = meta.pop(text_key, None)
    text = getattr(item, "text", None)
    if text is None:
        text = kept
    return ("" if text is None else str(text)), meta


def hit_extras(item: Any) -> dict[str, Any]:
    """What a search hit adds to a framework document's metadata: ``passage`` (the sentences
    that matched) and ``span`` (``[start, end]`` of the passage in the text), when the hit
    has them and the passage is a part of the text (as in omnivec's own JSON hits); ``{}``
    for a record, a hit without stored text, or one whose passage is its whole text (the
    document's content already)."""
    span = getattr(item, "span", None)
    passage = getattr(item, "passage", None)
    if span is None or passage is None or passage == getattr(item, "text", None):
        return {}
    return {"passage": passage, "span": [int(span[0]), int(span[1])]}


def literal(value: Any) -> str:
    """A Python value as a Milvus expression literal (strings quoted and escaped)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise InvalidInputError(f"filter value {value!r} is not a finite number")
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(literal(v) for v in value) + "]"
    raise InvalidInputError(
        f"cannot filter on a {type(value).__name__} value ({value!r}); use str, int, float, "
        "bool or a list of them"
    )


def check_key(key: Any) -> str:
    if not isinstance(key, str) or not _KEY.fullmatch(key):
        raise InvalidInputError(
            f"filter key {key!r} is not a metadata key name (letters, digits and _)"
        )
    return key


def where_from_filter(spec: Any) -> str | None:
    """``None``, a Milvus ``where`` string (as is), or a dict of equalities
    (``{"lang": "en", "year": 2020}`` -> ``lang == "en" and year == 2020``; a list value means
    "one of": ``key in [...]``)."""
    if spec is None or spec == {} or spec == "":
        return None
    if isinstance(spec, str):
        return spec
    if isinstance(spec, Mapping):
        parts = []
        for key, value in spec.items():
            op = "in" if isinstance(value, list | tuple) else "=="
            parts.append(f"{check_key(key)} {op} {literal(value)}")
        return " and ".join(parts)
    raise InvalidInputError(
        f"filter must be a Milvus expression string or a dict of equalities, not "
        f"{type(spec).__name__}"
    )

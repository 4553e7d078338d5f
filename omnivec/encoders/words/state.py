"""What a word-vector fit keeps besides its records: the vocabulary's order and FastText's
trained n-gram rows (the vectors are the stored word records themselves).

The order is the vocabulary as gensim lists it (most frequent first), as zlib-compressed UTF-8
JSON. Up to :data:`INLINE_ORDER` base64 characters (about 3,000 words) it goes into the JSON
state of the collection's catalog record, so a word2vec fit writes no catalog bytes; a larger
order, and any extra arrays (FastText's ``ngram_ids`` / ``ngram_rows``), go to the catalog
bytes: an ``.npz`` without pickle. Bytes written before this format (``words`` and
``vectors`` arrays) still load, vectors included.
"""

from __future__ import annotations

import base64
import io
import json
import zlib
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from omnivec.errors import EncoderError

__all__ = ["INLINE_ORDER", "Packed", "pack_fit", "unpack_fit"]

#: The most characters of the packed order kept in the JSON state.
INLINE_ORDER = 16_384
#: Arrays of the catalog bytes that are not extra learned state.
_OWN = frozenset({"order", "words", "vectors"})


def pack_fit(words: list[str], extra: dict[str, np.ndarray]) -> tuple[str | None, bytes | None]:
    """(the order for the JSON state, the catalog bytes); exactly one of them holds the
    order, and the bytes are ``None`` when nothing needs them."""
    order = zlib.compress(json.dumps(words, ensure_ascii=False).encode("utf-8"), 6)
    text = base64.b64encode(order).decode("ascii")
    if len(text) <= INLINE_ORDER and not extra:
        return text, None
    buf = io.BytesIO()
    arrays: dict[str, Any] = {"order": np.frombuffer(order, np.uint8), **extra}
    np.savez(buf, **arrays)
    return None, buf.getvalue()


@dataclass
class Packed:
    """A recorded fit read back: its words in order, extra arrays, and the vectors when the
    bytes carry them (the old format; ``None``: read them from the records)."""

    words: list[str]
    extra: dict[str, np.ndarray] = field(default_factory=dict)
    vectors: np.ndarray | None = None


def unpack_fit(order: Any, data: bytes | None) -> Packed | None:
    """What :func:`pack_fit` gave (``order`` from the JSON state, ``data`` the catalog
    bytes); ``None`` when neither holds the order."""
    words = _words(base64.b64decode(order)) if isinstance(order, str) else None
    extra: dict[str, np.ndarray] = {}
    vectors = None
    if data is not None:
        try:
            with np.load(io.BytesIO(data), allow_pickle=False) as npz:
                if "order" in npz.files:
                    words = _words(bytes(npz["order"]))
                elif "words" in npz.files:
                    words = _check(json.loads(bytes(npz["words"]).decode("utf-8")))
                extra = {k: np.asarray(npz[k]) for k in npz.files if k not in _OWN}
                if "vectors" in npz.files:
                    vectors = np.asarray(npz["vectors"], dtype=np.float32)
        except (OSError, ValueError, KeyError) as exc:
            raise _damaged() from exc
    return None if words is None else Packed(words, extra, vectors)


def _words(packed: bytes) -> list[str]:
    try:
        return _check(json.loads(zlib.decompress(packed).decode("utf-8")))
    except (zlib.error, ValueError) as exc:
        raise _damaged() from exc


def _check(words: Any) -> list[str]:
    if not isinstance(words, list) or not all(isinstance(w, str) for w in words):
        raise _damaged()
    return words


def _damaged() -> EncoderError:
    return EncoderError("the recorded word vocabulary is damaged in the catalog; fit it again")

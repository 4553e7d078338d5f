"""The text options of a collection, fixed when it is created (``record.text``, a
:class:`~omnivec.platform.catalog.TextOptions`).

It stores its texts, splits those longer than ``chunk_tokens`` of the model's tokens into
windows overlapping by ``chunk_overlap``, gives hits passages of at most ``passage_chars``
characters (not part of the vector space), and ``record_vector == "text"`` says every record's
main row holds its text's vector (see :mod:`omnivec.platform.windows`). ``windows`` is how
long texts are cut: ``"sentences"`` for new collections (whole sentences packed up to
``chunk_tokens``; ``chunk_overlap`` applies only inside a sentence longer than that), ``None``
(read as ``"tokens"``: token windows) in collections made before (see
:mod:`omnivec.platform.spans`).
"""

from __future__ import annotations

from typing import Any

from omnivec.errors import InvalidInputError, SpaceMismatchError
from omnivec.platform.catalog import TextOptions
from omnivec.platform.passages import DEFAULT_PASSAGE_CHARS, check_passage_chars
from omnivec.platform.spans import SENTENCES

__all__ = ["RECORD_VECTOR", "check_reopen", "passage_chars_of", "text_options"]

#: ``TextOptions.record_vector`` of collections whose every row has this layout.
RECORD_VECTOR = "text"


def passage_chars_of(text: TextOptions | None) -> int:
    """The passage cap of a collection with text options ``text``."""
    return int((text.passage_chars if text is not None else None) or DEFAULT_PASSAGE_CHARS)


def text_options(
    encoder: Any,
    chunk_tokens: int | None,
    chunk_overlap: int | None,
    passage_chars: int | None = None,
) -> TextOptions | None:
    """The text options of a new collection: whether it stores text, how it splits
    long texts and how long a hit's passage may be (``None`` when the encoder encodes no
    text)."""
    if encoder is None or "text" not in getattr(encoder, "modalities", ()):
        if chunk_tokens is not None or chunk_overlap is not None or passage_chars is not None:
            raise InvalidInputError(
                "chunk_tokens=, chunk_overlap= and passage_chars= are about stored texts; this "
                "collection has no text encoder"
            )
        return None
    chars = check_passage_chars(DEFAULT_PASSAGE_CHARS if passage_chars is None else passage_chars)
    windows = callable(getattr(encoder, "token_spans", None)) and hasattr(encoder, "max_tokens")
    if not windows:
        if chunk_tokens is not None or chunk_overlap is not None:
            raise InvalidInputError(
                f"encoder {encoder.name!r} does not report its tokens, so it cannot split long "
                "texts into windows; leave out chunk_tokens= and chunk_overlap="
            )
        return TextOptions(passage_chars=chars, record_vector=RECORD_VECTOR)
    limit = int(encoder.max_tokens)
    tokens = (
        chunk_tokens if chunk_tokens is not None else getattr(encoder, "default_chunk_tokens", 96)
    )
    for name, value in (("chunk_tokens", tokens), ("chunk_overlap", chunk_overlap)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
            raise InvalidInputError(f"{name} must be an int, got {value!r}")
    tokens = min(int(tokens), limit) if chunk_tokens is None else int(tokens)
    # A model that reads fewer than 8 tokens (a max_seq_length set very low) gets windows of
    # what it reads; a size the user asks for must be from 8 to what the model reads.
    if not (8 <= tokens <= limit or (chunk_tokens is None and 1 <= tokens == limit)):
        raise InvalidInputError(
            f"chunk_tokens must be from 8 to {limit} (what encoder {encoder.name!r} reads in "
            f"one pass), got {tokens}"
        )
    overlap = chunk_overlap
    if overlap is None:
        overlap = min(int(getattr(encoder, "default_chunk_overlap", tokens // 4)), tokens // 2)
    if not 0 <= overlap <= tokens // 2:
        raise InvalidInputError(
            f"chunk_overlap must be from 0 to half of chunk_tokens ({tokens // 2}), got {overlap}"
        )
    return TextOptions(
        chunk_tokens=tokens,
        chunk_overlap=int(overlap),
        windows=SENTENCES,
        passage_chars=chars,
        record_vector=RECORD_VECTOR,
    )


def check_reopen(
    name: str,
    text: TextOptions | None,
    chunk_tokens: int | None,
    chunk_overlap: int | None,
    passage_chars: int | None = None,
) -> None:
    """Refuse reopening a collection with window or passage settings other than those it was
    built with (``text``: the stored options)."""
    stored = {
        "chunk_tokens": text.chunk_tokens if text is not None else None,
        "chunk_overlap": text.chunk_overlap if text is not None else None,
        "passage_chars": passage_chars_of(text),
    }
    if passage_chars is not None:
        check_passage_chars(passage_chars)
    asked_for = (
        ("chunk_tokens", chunk_tokens),
        ("chunk_overlap", chunk_overlap),
        ("passage_chars", passage_chars),
    )
    for key, asked in asked_for:
        if asked is not None and asked != stored.get(key):
            raise SpaceMismatchError(
                f"collection {name!r} was built with {key}={stored.get(key)!r}, not {asked!r}; "
                f"open it without {key}= or use another collection name"
            )

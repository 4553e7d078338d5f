"""The passage of a hit: the best-matching window of a text widened to whole sentences.

A window is a span of tokens (32 by default), so it usually starts and ends inside a
sentence. :func:`passage_span` widens it to the sentences it touches (a sentence ends after
``. ! ?`` followed by a space or the end of the text, after ``。！？；`` and at a line break),
then keeps it within ``cap`` characters: sentences at the edges that overlap the window
least are dropped first, and a single sentence longer than ``cap`` is cut at word boundaries
around the window. The result never depends on the window size, only on where the window is.
"""

from __future__ import annotations

import re
from typing import Any

from omnivec.errors import InvalidInputError

__all__ = ["DEFAULT_PASSAGE_CHARS", "check_passage_chars", "passage_span", "sentence_spans"]

#: Characters of a passage when a collection does not choose (``passage_chars=``).
DEFAULT_PASSAGE_CHARS = 800
_MAX_PASSAGE_CHARS = 1 << 20

# A sentence ends after . ! ? (and closing quotes or brackets) before whitespace and a word
# that does not start in lower case, or the end of the text;
# after a CJK full stop, exclamation or question mark or a full-width semicolon, and at a
# line break.
_END = re.compile(
    # not before a lower-case word: "U.S. economy" stays one sentence
    r"[.!?][\"'\u201d\u2019)\]]*(?=\s+[^\sa-z]|\s*$)"
    r"|[\u3002\uff01\uff1f\uff1b][\u201d\u300d\u300f\uff09]*"
    r"|\n"
)


def check_passage_chars(value: Any) -> int:
    """``passage_chars`` as given at creation: an int from 1 to 1,048,576."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidInputError(f"passage_chars must be an int, got {value!r}")
    if not 1 <= value <= _MAX_PASSAGE_CHARS:
        raise InvalidInputError(
            f"passage_chars must be from 1 to {_MAX_PASSAGE_CHARS:,} (the most characters of "
            f"a hit's passage), got {value}"
        )
    return value


def sentence_spans(text: str) -> list[tuple[int, int]]:
    """``(start, end)`` of each sentence of ``text``; together they tile the text."""
    out: list[tuple[int, int]] = []
    start = 0
    for m in _END.finditer(text):
        end = m.end()
        if end > start:
            out.append((start, end))
            start = end
    if start < len(text) or not out:
        out.append((start, len(text)))
    return out


def _trim(text: str, a: int, b: int) -> tuple[int, int]:
    """``(a, b)`` without whitespace at either edge (unchanged if all whitespace)."""
    a2, b2 = a, b
    while a2 < b2 and text[a2].isspace():
        a2 += 1
    while b2 > a2 and text[b2 - 1].isspace():
        b2 -= 1
    return (a2, b2) if a2 < b2 else (a, b)


def _cut_words(text: str, lo: int, hi: int, a: int, b: int, cap: int) -> tuple[int, int]:
    """At most ``cap`` characters of ``text[lo:hi]`` around the window ``(a, b)``, cut at word
    boundaries (at a character where the text has no spaces, as Chinese has none)."""
    mid = (max(a, lo) + min(b, hi)) // 2
    start = max(lo, min(mid - cap // 2, hi - cap))
    end = min(hi, start + cap)
    if start > lo:  # move forward to the next word's start
        j = start
        while j < end and not text[j - 1].isspace():
            j += 1
        if j < end and j - start < cap // 4:
            start = j
    if end < hi:  # move back to the end of the last whole word
        j = end
        while j > start and not text[j].isspace():
            j -= 1
        if j > start and end - j < cap // 4:
            end = j
    return _trim(text, start, end)


def passage_span(text: str, window: tuple[int, int] | None, cap: int) -> tuple[int, int]:
    """The passage of ``text`` for the matched ``window`` (``None``: the whole text), as
    ``(start, end)`` character offsets: the window widened to whole sentences, at most
    ``cap`` characters. A short text that fits whole is its own passage, ``(0, len(text))``."""
    n = len(text)
    if n <= cap and (window is None or window == (0, n)):
        return 0, n
    a, b = (0, n) if window is None else (max(0, window[0]), min(n, window[1]))
    if b <= a:
        b = min(n, a + 1)
    sentences = sentence_spans(text)
    chosen = [s for s in sentences if s[1] > a and s[0] < b] or [sentences[0]]
    if chosen[-1][1] - chosen[0][0] > cap:
        # Drop edge sentences, the one overlapping the window least first, while too long.
        def overlap(s: tuple[int, int]) -> int:
            return min(s[1], b) - max(s[0], a)

        while len(chosen) > 1 and chosen[-1][1] - chosen[0][0] > cap:
            if window is None or overlap(chosen[0]) >= overlap(chosen[-1]):
                chosen.pop()
            else:
                chosen.pop(0)
    start, end = _trim(text, chosen[0][0], chosen[-1][1])
    if end - start > cap:
        return _cut_words(text, start, end, a, b, cap)
    if (start, end) == _trim(text, 0, n) and n <= cap:
        return 0, n
    return start, end

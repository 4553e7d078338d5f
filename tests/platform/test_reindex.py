"""Re-indexing a collection's keywords (BM25 on, off, another analyzer) from its stored rows:
nothing re-encoded, searches answering throughout, a kill leaves the old collection whole.

Real parts throughout: Milvus Lite files in tmp_path and the bundled MiniLM.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import omnivec as ov
from omnivec.errors import InvalidInputError, SpaceMismatchError
from omnivec.platform.catalog import KeywordOptions
from tests.platform.test_hybrid import MANUALS

ROOT = Path(__file__).resolve().parents[2]
FILLER = "The committee discussed the annual budget and the schedule of meetings. " * 20
LONG = FILLER + "The serial number of the broken valve is QX-778."


def snapshot(col: ov.Collection) -> dict[Any, tuple[np.ndarray, dict[str, Any], str | None]]:
    """Every record as stored: vector, metadata, text."""
    return {r.id: (r.vector, r.metadata, r.text) for r in col.get(sorted(col.ids(), key=str))}


def assert_same_records(col: ov.Collection, before: dict[Any, Any]) -> None:
    after = snapshot(col)
    assert sorted(after, key=str) == sorted(before, key=str)
    for rid, (vec, meta, text) in before.items():
        # Copied, not re-encoded: the very same float32 values.
        np.testing.assert_array_equal(after[rid][0], vec)
        assert after[rid][1] == meta and after[rid][2] == text


@pytest.fixture
def plain(plat: ov.Platform) -> ov.Collection:
    """A text collection created without keywords: manuals, a long record in windows, and
    a record stored as a raw vector (no text)."""
    col = plat.collection("manuals", encoder="text", chunk_tokens=32)
    col.add(list(MANUALS.values()), ids=list(MANUALS), metadata=[{"n": i} for i in range(6)])
    col.add([LONG], ids=[7], metadata=[{"n": 7}])
    col.add(vectors=np.full((1, col.dim), 0.05, np.float32), ids=["raw"])
    return col


def test_reindex_turns_keywords_on_keeping_every_record(
    plat: ov.Platform, plain: ov.Collection
) -> None:
    with pytest.raises(SpaceMismatchError, match=r"col\.reindex\(keywords=True\)"):
        plat.collection("manuals", keywords=True)
    before = snapshot(plain)
    dense = plain.search("pump runs dry", k=5)
    assert dense[0].scores is None  # no keywords: dense by default
    old_physical = plain.physical

    report = plain.reindex(keywords=True, analyzer="english", progress=False)

    assert (report.total, report.encoded, report.resumed) == (8, 8, 0)
    assert report.old_keywords is None and report.keywords == {"analyzer": "english"}
    assert report.space == report.old_space == plain.space
    assert report.to_dict()["keywords"] is True and report.to_dict()["analyzer"] == "english"
    assert plain.keywords == {"analyzer": "english"}
    assert plain.info()["keywords"] is True and plain.info()["analyzer"] == "english"
    assert_same_records(plain, before)
    assert len(plain) == 8
    # The old rows are gone: only the new Milvus collection remains.
    assert plain.physical != old_physical
    assert plat.store.list_collections() == [plain.physical]

    # Keyword search works, window by window for the long record.
    assert plain.search("XK-4471-B", k=3, mode="keyword")[0].id == "m1"
    hit = plain.search("QX-778", k=2, mode="keyword")[0]
    assert hit.id == 7 and hit.passage is not None and "QX-778" in hit.passage
    # Dense answers are what they were; hybrid is now the default.
    assert [(h.id, h.score) for h in plain.search("pump runs dry", k=5, mode="dense")] == [
        (h.id, h.score) for h in dense
    ]
    fused = plain.search("XK-4471-B pump failure", k=3)
    assert fused[0].id == "m1" and set(fused[0].scores or {}) == {"dense", "keyword"}

    # Reopening (also from a new connection) sees keywords on.
    assert plat.collection("manuals", keywords=True, analyzer="english") is not None
    plat.close()
    with ov.connect(plat.uri) as again:
        col = again.collection("manuals")
        assert col.keywords == {"analyzer": "english"}
        assert col.search("XK-4471-B", k=1, mode="keyword")[0].id == "m1"


def test_reindex_changes_the_analyzer_then_turns_keywords_off(plat: ov.Platform) -> None:
    col = plat.collection("kw", encoder="text", keywords=True)  # "standard": no stemming
    col.add(["The seal fails when the pump runs dry.", "Check the fan belts monthly."], ids=[1, 2])
    before = snapshot(col)
    assert col.search("failing", k=2, mode="keyword") == []

    report = col.reindex(analyzer="english", progress=False)  # keywords stay on
    assert report.old_keywords == {"analyzer": "standard"}
    assert report.keywords == {"analyzer": "english"}
    assert [h.id for h in col.search("failing", k=2, mode="keyword")] == [1]  # stemmed
    assert_same_records(col, before)

    report = col.reindex(keywords=False, progress=False)
    assert report.keywords is None and col.keywords is None
    assert col.info()["keywords"] is False and col.info()["analyzer"] is None
    assert_same_records(col, before)
    with pytest.raises(InvalidInputError, match="no keyword index"):
        col.search("failing", mode="keyword")
    hits = col.search("the pump is dry", k=2)
    assert hits[0].id == 1 and hits[0].scores is None  # dense by default again
    # Stored rows carry no keyword field any more.
    rows = plat.store.get(col.physical, plat.store.keys(col.physical))
    assert rows and not any("_ov_kw" in r.metadata for r in rows.values())
    assert plat.store.list_collections() == [col.physical]


def test_refusals_write_nothing(plat: ov.Platform, plain: ov.Collection) -> None:
    raw = plat.collection("raw", dim=4)
    raw.add(vectors=np.eye(4, dtype=np.float32), ids=list(range(4)))
    kw = plat.collection("kw", encoder="text", keywords=True)
    kw.add(["a pump"], ids=["p"])
    cases = [
        (raw, {"keywords": True}, "stores no text"),
        (plain, {"keywords": False}, "already has keywords off"),
        (kw, {"keywords": True}, "already has keywords on"),
        (kw, {"analyzer": "standard"}, "already has keywords on"),
        (plain, {"analyzer": "klingon"}, "analyzer must be one of"),
        (plain, {"keywords": False, "analyzer": "english"}, "pass keywords=True"),
        (plain, {"keywords": "yes"}, "keywords must be True or False"),
    ]
    for col, kwargs, message in cases:
        records = {n: plat.catalog.collection(n) for n in ("raw", "kw", "manuals")}
        milvus = plat.store.list_collections()
        mem = col.record
        with pytest.raises(InvalidInputError, match=message) as exc:
            col.reindex(progress=False, **kwargs)
        assert "\n" not in str(exc.value)  # one line that says what to do
        assert col.record == mem, kwargs
        assert {n: plat.catalog.collection(n) for n in records} == records, kwargs
        assert plat.store.list_collections() == milvus, kwargs


def test_rows_written_during_the_copy_are_caught_up(
    plat: ov.Platform, plain: ov.Collection, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A record added and one deleted while the rows are being copied: the switch (under the
    collection's gate) catches both up; searches answered from the old rows meanwhile."""
    real = plat.store.upsert
    seen: list[list[Any]] = []

    def upsert(name: str, *args: Any, **kwargs: Any) -> None:
        real(name, *args, **kwargs)
        if "__reindex_" in name and not seen:
            seen.append([h.id for h in plain.search("XK-4471-B", k=3)])  # still answers
            plain.add(["Valve ZZ-9000 leaks at the flange."], ids=["late"])
            plain.delete(["m2"])

    monkeypatch.setattr(plat.store, "upsert", upsert)
    report = plain.reindex(keywords=True, progress=False)
    assert seen and len(seen[0]) == 3
    assert report.total == 8 and len(plain) == 8
    assert "m2" not in plain.ids() and "late" in plain.ids()
    assert plain.search("ZZ-9000", k=1, mode="keyword")[0].id == "late"


def test_records_replaced_during_the_copy_are_caught_up(
    plat: ov.Platform, plain: ov.Collection, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A record replaced in place while the rows are copied (the long one, now short): the
    re-indexed collection holds its new text and metadata, keyword-searchable, and none of
    its old windows."""
    real = plat.store.upsert
    edited: list[str] = []

    def upsert(name: str, *args: Any, **kwargs: Any) -> None:
        real(name, *args, **kwargs)
        if "__reindex_" in name and not edited:
            edited.append("yes")
            plain.upsert(
                ["Pump QX-77 hums when the inlet is blocked."], ids=[7], metadata=[{"n": 70}]
            )

    monkeypatch.setattr(plat.store, "upsert", upsert)
    plain.reindex(keywords=True, progress=False)
    monkeypatch.setattr(plat.store, "upsert", real)
    assert edited
    got = plain.get([7])[0]
    assert got.text == "Pump QX-77 hums when the inlet is blocked." and got.metadata == {"n": 70}
    assert plain.search("QX-77", k=1, mode="keyword")[0].id == 7
    assert len(plat.store.keys(plain.physical)) == len(plain)  # no window of the old text


def test_searches_keep_answering_during_a_reindex(plat: ov.Platform) -> None:
    col = plat.collection("many", encoder="text")
    texts = [
        f"Part PX-{i:04d} of machine {i % 7} needs grease every {i % 5 + 1} weeks."
        for i in range(300)
    ]
    col.add(texts, ids=list(range(300)))
    expected = [h.id for h in col.search("machine 3 grease", k=5)]
    errors: list[BaseException] = []
    answers: list[list[Any]] = []
    stop = threading.Event()

    def search() -> None:
        while not stop.is_set():
            try:
                answers.append([h.id for h in col.search("machine 3 grease", k=5, mode="dense")])
            except BaseException as exc:  # noqa: BLE001 - any failure fails the test
                errors.append(exc)
                return

    thread = threading.Thread(target=search)
    thread.start()
    try:
        col.reindex(keywords=True, progress=False)
    finally:
        stop.set()
        thread.join(60)
    assert not errors, errors
    assert len(answers) >= 2 and all(a == expected for a in answers)
    assert col.search("PX-0123", k=1, mode="keyword")[0].id == 123


CHILD = """
import sys, time
import omnivec as ov
from omnivec.platform import reembed
reembed.REEMBED_CHUNK = 20
plat = ov.connect(sys.argv[1])
col = plat.collection("docs")
real, chunks = plat.store.upsert, [0]
def upsert(name, *args, **kwargs):
    real(name, *args, **kwargs)
    if "__reindex_" in name:
        chunks[0] += 1
        print(f"chunk {chunks[0]}", flush=True)
        if chunks[0] == 3:
            time.sleep(600)  # killed here
plat.store.upsert = upsert
col.reindex(keywords=True, analyzer="english", progress=False)
print("done", flush=True)
"""


def run_until_killed(db: str, line: str, timeout: float = 240.0) -> list[str]:
    """Run the re-indexing child until it prints ``line``, then SIGKILL it."""
    proc = subprocess.Popen(
        [sys.executable, "-c", CHILD, db],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env={**os.environ, "PYTHONWARNINGS": "ignore", "PYTHONPATH": str(ROOT)},
    )
    assert proc.stdout is not None
    lines: list[str] = []
    timer = threading.Timer(timeout, proc.kill)  # SIGKILL
    timer.start()
    try:
        for raw in proc.stdout:
            lines.append(raw.strip())
            if lines[-1] == line:
                proc.kill()
                break
    finally:
        timer.cancel()
        proc.kill()
        proc.wait(30)
        proc.stdout.close()
    assert lines and lines[-1] == line, f"child stopped before {line!r}: {lines}"
    return lines


def test_sigkill_mid_reindex_leaves_the_old_collection_whole_and_resumes(tmp_path: Path) -> None:
    db = str(tmp_path / "kill.db")
    texts = [
        f"Spare part KZ-{i:03d} fits the {('left', 'right')[i % 2]} hinge." for i in range(100)
    ]
    with ov.connect(db) as plat:
        col = plat.collection("docs", encoder="text")
        col.add(texts, ids=list(range(100)), metadata=[{"i": i} for i in range(100)])
        before = snapshot(col)
        old_hits = col.search("spare hinge part", k=3)

    run_until_killed(db, "chunk 3")  # 60 of 100 records copied to the shadow, then SIGKILL

    with ov.connect(db) as plat:
        col = plat.collection("docs")
        assert col.physical == "docs" and col.keywords is None and len(col) == 100
        assert_same_records(col, before)
        assert col.search("spare hinge part", k=3) == old_hits
        with pytest.raises(InvalidInputError, match="no keyword index"):
            col.search("KZ-042", mode="keyword")
        job = col.record.shadow_job
        assert job is not None and job.keywords == KeywordOptions("english")
        assert plat.store.count(job.shadow) == 60

        report = col.reindex(keywords=True, analyzer="english", progress=False)
        assert (report.total, report.resumed, report.encoded) == (100, 60, 40)
        assert col.physical == job.shadow and plat.store.list_collections() == [col.physical]
        assert col.record.shadow_job is None
        assert_same_records(col, before)
        assert col.search("KZ-042", k=1, mode="keyword")[0].id == 42

"""Typed catalog records: creation order, crash leftovers, and fit markers."""

from __future__ import annotations

import copy
import threading
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import omnivec as ov
from omnivec.core.space import Space
from omnivec.errors import StoreError
from omnivec.platform.catalog import (
    CollectionRecord,
    FitMarker,
    KeywordOptions,
    RecommenderRecord,
    TextOptions,
)
from omnivec.platform.collection import parts_of


def test_records_round_trip_and_read_round_one_documents() -> None:
    rec = CollectionRecord(space=Space("text", "m", "fp", 4, "cosine"), encoder="text")
    rec.fitting = FitMarker.start()
    again = CollectionRecord.from_doc(rec.to_doc())
    assert again == rec
    # A round-1 document: no identity/options/status, a fit marker as {"since": t}.
    old = {
        "encoder": None,
        "config": {},
        "state": {},
        "space": {
            "encoder": "none",
            "model": "vectors",
            "fingerprint": "",
            "dim": 3,
            "metric": "l2",
        },
        "index": "flat",
        "created": 1.0,
        "fitting": {"since": 2.0},
    }
    parsed = CollectionRecord.from_doc(old)
    assert parsed.status == "ready" and parsed.fitting is not None
    assert not parsed.fitting.running_here()
    r = RecommenderRecord("als", Space("als", "m", "f", 8, "ip"), "a__users", "a__items")
    assert RecommenderRecord.from_doc(r.to_doc()) == r


SPACE_DOC = {
    "dim": 384,
    "encoder": "text",
    "fingerprint": "c189a05c291bdb84d3aea840258acd6212ccc6b062e63b5992ff99175ef15ef3",
    "metric": "cosine",
    "model": "all-MiniLM-L6-v2",
}


def written_before(**options: Any) -> dict[str, Any]:
    """A collection document as the code before typed text/keyword options wrote it (for
    ``plat.collection("docs", encoder="text", keywords=True, analyzer="english",
    chunk_tokens=24)``), with ``options`` instead of its "options"."""
    return {
        "config": {"model": "all-MiniLM-L6-v2", "metric": "cosine", "normalize": True},
        "created": 1796438218.5518956,
        "encoder": "text",
        "fitting": None,
        "identity": {"model": "all-MiniLM-L6-v2", "metric": "cosine", "normalize": True},
        "index": "auto",
        "options": options,
        "physical": None,
        "recommender": None,
        "role": None,
        "space": SPACE_DOC,
        "state": {},
        "status": "ready",
    }


SENTENCE_WINDOWS = {
    "chunk_overlap": 8,
    "chunk_tokens": 24,
    "passage_chars": 800,
    "record_vector": "text",
    "store": True,
    "windows": "sentences",
}


def test_text_and_keyword_options_keep_the_document_layout() -> None:
    doc = written_before(
        keywords={"analyzer": "english"},
        text=SENTENCE_WINDOWS,
        feature_collection=None,
        reembed={
            "shadow": "docs__shadow_0123",
            "space": SPACE_DOC,
            "config": {"model": "ckpt/"},
            "keywords": {"analyzer": "english"},
            "started": 5.0,
        },
        retired=["docs__old"],
        blob={"sha256": "ab", "keys": ["blob:docs:ab:0"], "bytes": 3},
    )
    rec = CollectionRecord.from_doc(copy.deepcopy(doc))
    assert rec.keywords == KeywordOptions("english")
    assert rec.text == TextOptions(
        chunk_tokens=24,
        chunk_overlap=8,
        windows="sentences",
        passage_chars=800,
        record_vector="text",
    )
    assert rec.shadow_job is not None and rec.shadow_job.keywords == KeywordOptions("english")
    assert rec.options == {"feature_collection": None}  # the typed keys are fields only
    assert rec.to_doc() == doc
    assert CollectionRecord.from_doc(rec.to_doc()) == rec
    # Round-2 windows (no rule, cap or record-vector flag), an encoder without tokens, keys
    # this version does not know: each written back as it was read.
    for text in (
        {"store": True, "chunk_tokens": 96, "chunk_overlap": 24},
        {
            "store": True,
            "chunk_tokens": None,
            "chunk_overlap": None,
            "passage_chars": 800,
            "record_vector": "text",
        },
        {**SENTENCE_WINDOWS, "later": {"x": [1, 2]}},
    ):
        old = written_before(text=text, keywords={"analyzer": "chinese", "later": 1})
        assert CollectionRecord.from_doc(copy.deepcopy(old)).to_doc() == old
    round2 = CollectionRecord.from_doc(written_before(text={"store": True, "chunk_tokens": 96}))
    assert round2.text is not None and round2.text.windows is None
    assert round2.text.record_vector is None and round2.text.passage_chars is None


def test_documents_without_text_or_keyword_options_parse() -> None:
    rec = CollectionRecord.from_doc(written_before())
    assert rec.text is None and rec.keywords is None and rec.options == {}
    assert rec.to_doc()["options"] == {}
    # A re-embed recorded before re-indexing existed names no keywords: the collection's.
    job = {"shadow": "s", "space": SPACE_DOC, "config": {}, "started": 1.0}
    rec = CollectionRecord.from_doc(written_before(keywords={"analyzer": "english"}, reembed=job))
    assert rec.shadow_job is not None and rec.shadow_job.keywords == KeywordOptions("english")
    rec = CollectionRecord.from_doc(written_before(reembed={**job, "keywords": None}))
    assert rec.shadow_job is not None and rec.shadow_job.keywords is None


def test_the_public_options_stay_dicts_in_the_store(tmp_path: Path) -> None:
    with ov.connect(str(tmp_path / "o.db")) as plat:
        doc = written_before(keywords={"analyzer": "english"}, text=SENTENCE_WINDOWS)
        plat.store.put_doc("collection:docs", doc)
        rec = plat.catalog.collection("docs")
        assert rec is not None and rec.text is not None and rec.text.chunk_tokens == 24
        plat.catalog.save_collection("docs", rec)
        assert plat.store.get_doc("collection:docs") == doc
        col = plat.collection("v", dim=4)
        assert col.text_options is None and col.keywords is None


def test_a_crash_between_record_and_milvus_collection_is_finished_or_dropped(
    tmp_path: Path,
) -> None:
    db = str(tmp_path / "c.db")
    with ov.connect(db) as plat:
        # What a process killed right after writing the record leaves behind.
        space = Space("none", "vectors", "", 4, "cosine")
        plat.catalog.save_collection("half", CollectionRecord(space=space, status="creating"))
        plat.catalog.save_collection("half2", CollectionRecord(space=space, status="creating"))
        assert not plat.store.has_collection("half")
    with ov.connect(db) as plat:
        assert set(plat.collections()) == {"half", "half2"}
        col = plat.collection("half")  # reuse: the creation is finished
        col.add(vectors=np.eye(4, dtype=np.float32), ids=list("abcd"))
        assert len(col) == 4
        assert plat.catalog.collection("half").status == "ready"  # type: ignore[union-attr]
        assert plat.drop("half2")  # or drop: nothing is left behind
        assert plat.collections() == ["half"]


def test_a_running_fit_is_not_a_dead_fit(tmp_path: Path) -> None:
    with ov.connect(str(tmp_path / "f.db")) as plat:
        col = plat.collection("v", dim=4, metric="cosine")
        col.add(vectors=np.eye(4, dtype=np.float32), ids=list("abcd"))
        started, release = threading.Event(), threading.Event()

        def fitting() -> None:
            # A fit writing its vectors right now, in another thread.
            parts_of(col).state.begin_fit()
            started.set()
            release.wait(30)

        t = threading.Thread(target=fitting)
        t.start()
        started.wait(30)
        try:
            # Readers go on with the previous vectors while the fit runs.
            assert col.search(ov.ref("a"), k=2)
        finally:
            release.set()
            t.join()
        # The thread ended without completing its fit: that is a dead fit now.
        with pytest.raises(StoreError, match="stopped while writing"):
            col.search(ov.ref("a"), k=2)
    with (
        ov.connect(str(tmp_path / "f.db")) as plat,
        pytest.raises(StoreError, match="stopped while writing"),
    ):
        plat.collection("v").search(ov.ref("a"), k=2)

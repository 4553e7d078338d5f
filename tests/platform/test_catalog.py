"""Typed catalog records: creation order, crash leftovers, and fit markers."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest

import omnivec as ov
from omnivec.core.space import Space
from omnivec.errors import StoreError
from omnivec.platform.catalog import CollectionRecord, FitMarker, RecommenderRecord
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

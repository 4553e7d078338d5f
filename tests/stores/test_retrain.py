"""Background retraining of an outgrown IVF index (omnivec.stores.retrain) on a real Lite file:
started by a search, writes made during it replayed, swapped in, abandoned on close, drop or
failure without losing or resurrecting a row."""

from __future__ import annotations

import json
import logging
import threading
from typing import Any

import numpy as np
import pytest

from omnivec.stores import ann, ann_index, retrain
from omnivec.stores.milvus import MilvusStore

DIM = 32
TRAINED = 1_000  # the threshold in these tests: the first lists are trained on 1,000 rows
GROWN = TRAINED * retrain.RETRAIN_GROWTH  # where a search starts the retraining


def clustered(n: int, seed: int = 0, centers: int = 100) -> np.ndarray:
    """Loose clusters: 25 lists trained on the first 1,000 rows need nprobe ~11 at 8,000
    rows, the kind of data retraining is for (tight clusters answer at nprobe 1 and keep
    their lists)."""
    c = np.random.default_rng(1234).standard_normal((centers, DIM)).astype(np.float32)
    rng = np.random.default_rng(seed)
    x = c[rng.integers(0, centers, n)] + rng.standard_normal((n, DIM)).astype(np.float32)
    return x.astype(np.float32)


@pytest.fixture(autouse=True)
def low_threshold(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ann, "ANN_MIN_ROWS", TRAINED)
    # Searches never wait for a retraining here, except where a test says so.
    monkeypatch.setattr(retrain, "URGENT_PROBE_SHARE", 1.0)


class HeldBuild:
    """Holds the retraining thread when it enters ``AnnIndex.trained`` (before any row is
    copied) or, with ``between_groups``, after it added its first group of rows, until
    released, so the test can write while it runs; other threads run straight through."""

    def __init__(
        self, monkeypatch: pytest.MonkeyPatch, fail: bool = False, between_groups: bool = False
    ) -> None:
        self.entered = threading.Event()
        self.release = threading.Event()
        cls = ann_index.AnnIndex
        name = "add_normalised" if between_groups else "trained"
        real = getattr(cls, name)

        def hold() -> None:
            if threading.current_thread().name.startswith("omnivec-retrain"):
                if self.entered.is_set():
                    return
                self.entered.set()
                assert self.release.wait(60)
                if fail:
                    raise RuntimeError("injected: training failed")

        if between_groups:

            def add(self_: Any, *args: Any, **kwargs: Any) -> Any:
                out = real(self_, *args, **kwargs)
                hold()
                return out

            monkeypatch.setattr(cls, name, add)
        else:
            real_func = real.__func__

            def trained(*args: Any, **kwargs: Any) -> Any:
                hold()
                return real_func(cls, *args, **kwargs)

            monkeypatch.setattr(cls, name, trained)


def grown_store(db_path: str, n: int = GROWN) -> tuple[MilvusStore, np.ndarray, list[str]]:
    s = MilvusStore(db_path)
    s.create_collection("c", DIM, "cosine", index="auto")
    x = clustered(n)
    keys = [f"k{i}" for i in range(n)]
    for lo in range(0, n, 1_000):
        s.upsert("c", keys[lo : lo + 1_000], x[lo : lo + 1_000], [{}] * len(keys[lo : lo + 1_000]))
    return s, x, keys


def manager(s: MilvusStore) -> ann.AnnManager:
    assert s._ann is not None
    return s._ann


def ivf(s: MilvusStore) -> ann_index.AnnIndex:
    index = manager(s).indexes["c"]
    assert isinstance(index, ann_index.AnnIndex)
    return index


def start_held(
    s: MilvusStore,
    x: np.ndarray,
    monkeypatch: pytest.MonkeyPatch,
    fail: bool = False,
    between_groups: bool = False,
) -> tuple[HeldBuild, retrain.Retrain]:
    """A search starts the retraining; it is held inside its build until released."""
    held = HeldBuild(monkeypatch, fail, between_groups)
    assert [r[0].key for r in s.search("c", x[:3], 1)] == ["k0", "k1", "k2"]  # old index
    assert held.entered.wait(30)
    return held, manager(s).retrains["c"]


def exact_top(s: MilvusStore, q: np.ndarray, k: int = 10) -> list[list[str]]:
    """The exact answer from the in-process rows (cross-checked against Milvus below)."""
    keys, vecs = manager(s).indexes["c"].vectors()
    qn = q / np.linalg.norm(q, axis=1, keepdims=True)
    order = np.argsort(-(qn @ vecs.T), axis=1)[:, :k]
    return [[keys[j] for j in row] for row in order]


@pytest.mark.parametrize("between_groups", [False, True], ids=["before-copy", "mid-copy"])
def test_a_search_retrains_in_the_background_and_writes_made_meanwhile_are_kept(
    db_path: str, monkeypatch: pytest.MonkeyPatch, between_groups: bool
) -> None:
    """Writes while it trains (before any row is copied) or between two groups of copied
    rows (rows then moved from a copied list to one not yet copied are read twice)."""
    monkeypatch.setattr(retrain, "GROUP_ROWS", 500)  # ~16 groups of lists
    s, x, keys = grown_store(db_path)
    try:
        man = manager(s)
        old = ivf(s)
        assert old.trained_rows == TRAINED
        assert len(old.list_groups(retrain.GROUP_ROWS)) > 4
        held, job = start_held(s, x, monkeypatch, between_groups=between_groups)
        # Writes while it trains: new rows, replaced rows, deleted rows.
        fresh = clustered(300, seed=5)
        fresh_keys = [f"new{i}" for i in range(300)]
        s.upsert("c", fresh_keys, fresh, [{}] * 300)
        moved = -x[100:150]  # rows 100..149 get new vectors
        s.upsert("c", keys[100:150], moved, [{}] * 50)
        assert s.delete("c", keys[200:260]) == 60
        # The old index answers meanwhile, with every write.
        assert s.search("c", fresh[:1], 1)[0][0].key == "new0"
        held.release.set()
        assert job.finished.wait(60)
        assert job.swapped and not job.failed
        new = ivf(s)
        assert new is not old and new.nlist > old.nlist
        assert new.trained_rows == GROWN and "c" not in man.retrains
        # Consistent with Milvus: the same keys, nothing lost, nothing deleted returned.
        assert set(new.ids) == set(s.keys("c"))
        assert new.rows == GROWN + 300 - 60
        assert [r[0].key for r in s.search("c", fresh[:50], 1)] == fresh_keys[:50]
        assert [r[0].key for r in s.search("c", moved, 1)] == keys[100:150]
        deleted = set(keys[200:260])
        hits = s.search("c", x[200:260], 10)
        assert not deleted & {h.key for row in hits for h in row}
        # Recall of the retrained index against exact search.
        q = clustered(100, seed=9)
        truth = exact_top(s, q)
        got = s.search("c", q, 10)
        recall = np.mean(
            [len(set(t) & {h.key for h in g}) / 10 for t, g in zip(truth, got, strict=True)]
        )
        assert recall >= 0.95
        # The exact answer really is Milvus' (brute force over Lite's FLAT index).
        assert [h.key for h in s.search("c", q[:1], 10, where='pk != ""')[0]] == truth[0]
    finally:
        s.close()
    # Saved at close, loaded on reopen without a rebuild.
    book = json.loads((ann.AnnManager(db_path).folder / "c.json").read_text())
    assert book["clean"] and book["nlist"] == new.nlist and book["rows"] == new.rows


def test_close_during_a_retraining_keeps_the_old_index_saved(
    db_path: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    s, x, _keys = grown_store(db_path)
    old_nlist = ivf(s).nlist
    held, job = start_held(s, x, monkeypatch)
    s.upsert("c", ["late"], -x[:1], [{}])
    s.close()  # cancels it; the old index (with "late") is what is saved
    held.release.set()
    assert job.finished.wait(60)
    assert not job.swapped
    caplog.set_level(logging.INFO, logger="omnivec.stores.ann")
    s = MilvusStore(db_path)
    try:
        monkeypatch.setattr(retrain, "RETRAIN_GROWTH", 10**9)  # no new retraining here
        assert s.search("c", -x[:1], 1)[0][0].key == "late"
        assert not [r for r in caplog.records if "building the index" in r.getMessage()]
        index = ivf(s)
        assert index.nlist == old_nlist and index.rows == GROWN + 1
    finally:
        s.close()


def test_a_failed_retraining_leaves_the_index_and_is_not_retried_on_it(
    db_path: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    s, x, _keys = grown_store(db_path)
    try:
        man = manager(s)
        old = ivf(s)
        held, job = start_held(s, x, monkeypatch, fail=True)
        s.upsert("c", ["during"], -x[:1], [{}])
        held.release.set()
        assert job.finished.wait(60)
        assert job.failed and not job.swapped
        assert "retraining the index of 'c' failed" in caplog.text
        assert man.indexes["c"] is old
        assert s.search("c", -x[:1], 1)[0][0].key == "during"
        assert "c" not in man.retrains  # not started again on the same index
        assert set(old.ids) == set(s.keys("c"))
    finally:
        s.close()


def test_a_collection_dropped_during_a_retraining_stays_dropped(
    db_path: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    s, x, _keys = grown_store(db_path)
    try:
        held, job = start_held(s, x, monkeypatch)
        s.drop_collection("c")
        held.release.set()
        assert job.finished.wait(60)
        assert not job.swapped
        assert "c" not in manager(s).indexes and "c" not in s.list_collections()
        s.create_collection("c", DIM, "cosine", index="auto")  # a new one starts empty
        assert s.count("c") == 0 and manager(s).known_rows("c") == 0
    finally:
        s.close()


def test_no_retraining_before_the_growth_factor_or_for_sq8(db_path: str) -> None:
    s, x, _ = grown_store(db_path, n=GROWN - 1_000)
    try:
        s.search("c", x[:1], 1)
        assert not manager(s).retrains
        s.create_collection("q", DIM, "cosine", index="ivf_sq8")
        y = clustered(GROWN, seed=3)
        for lo in range(0, GROWN, 1_000):
            s.upsert(
                "q", [f"q{i}" for i in range(lo, lo + 1_000)], y[lo : lo + 1_000], [{}] * 1_000
            )
        s.search("q", y[:1], 1)
        assert "q" not in manager(s).retrains  # its codes are not the stored vectors
    finally:
        s.close()


def test_a_search_waits_for_the_retraining_when_the_lists_have_become_too_slow(
    db_path: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Lists whose calibrated nprobe scans more than URGENT_PROBE_SHARE of the rows: the
    search that starts the retraining waits for it and answers from the new lists; another
    search meanwhile answers from the old ones without waiting."""
    s, x, keys = grown_store(db_path)
    try:
        old = ivf(s)
        monkeypatch.setattr(retrain, "URGENT_PROBE_SHARE", 0.0)
        assert retrain.urgent(old)
        held = HeldBuild(monkeypatch)
        answers: list[list[str]] = []
        waiting = threading.Thread(
            target=lambda: answers.append([r[0].key for r in s.search("c", x[:5], 1)])
        )
        waiting.start()
        assert held.entered.wait(30)
        assert not answers  # it waits for the new lists
        # Another search is answered meanwhile, from the old lists.
        assert [r[0].key for r in s.search("c", x[10:15], 1)] == keys[10:15]
        assert ivf(s) is old
        held.release.set()
        waiting.join(60)
        assert answers == [keys[:5]]
        new = ivf(s)
        assert new is not old and new.nlist > old.nlist and not manager(s).retrains
    finally:
        s.close()


def test_close_retrains_lists_that_became_too_slow_so_the_next_session_loads_them(
    db_path: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """No search in the session that grew it: close retrains the too-slow lists before
    saving, and the next session loads them (no rebuild, no retraining on its first search)."""
    s, x, keys = grown_store(db_path)
    old_nlist = ivf(s).nlist
    monkeypatch.setattr(retrain, "URGENT_PROBE_SHARE", 0.0)
    s.close()
    book = json.loads((ann.AnnManager(db_path).folder / "c.json").read_text())
    assert book["clean"] and book["nlist"] > old_nlist and book["trained_rows"] == GROWN
    caplog.set_level(logging.INFO, logger="omnivec.stores")
    s = MilvusStore(db_path)
    try:
        assert [r[0].key for r in s.search("c", x[:5], 1)] == keys[:5]
        assert not manager(s).retrains
        assert not [r for r in caplog.records if "building the index" in r.getMessage()]
        assert ivf(s).nlist == book["nlist"]
    finally:
        s.close()


def test_lists_that_still_answer_at_one_probe_are_kept(db_path: str) -> None:
    """Tight clusters: the old lists answer at a few probes, and new ones would cost more per
    query (more centres to compare) than they save: no retraining."""
    s = MilvusStore(db_path)
    try:
        s.create_collection("c", DIM, "cosine", index="auto")
        c = np.random.default_rng(1234).standard_normal((50, DIM)).astype(np.float32)
        rng = np.random.default_rng(0)
        x = c[rng.integers(0, 50, GROWN)] + 0.05 * rng.standard_normal((GROWN, DIM))
        for lo in range(0, GROWN, 1_000):
            s.upsert(
                "c", [f"k{i}" for i in range(lo, lo + 1_000)], x[lo : lo + 1_000], [{}] * 1_000
            )
        index = ivf(s)
        # One probe even for fresh queries (stored rows moved by their neighbour distance).
        assert index.nprobe == 1 and index.rows >= retrain.RETRAIN_GROWTH * index.trained_rows
        assert not retrain.wants_retrain(index)
        s.search("c", x[:1].astype(np.float32), 1)
        assert not manager(s).retrains
    finally:
        s.close()

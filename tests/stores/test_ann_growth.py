"""Index builds that stay out of writes (omnivec.stores.ann_jobs, omnivec.stores.pq_scan): a
large write that takes a collection past the ANN threshold returns before the index is built
(the next search waits for it, writes made during the build are kept), and rows written to a
PQ scan wait in a tail that searches scan exactly until a thread encodes them."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from omnivec.stores import ann
from omnivec.stores.milvus import MilvusStore
from omnivec.stores.pq_scan import PqScanIndex

DIM = 16


def clustered(n: int, seed: int = 0) -> np.ndarray:
    c = np.random.default_rng(1234).standard_normal((20, DIM)).astype(np.float32)
    rng = np.random.default_rng(seed)
    return (c[rng.integers(0, 20, n)] + 0.3 * rng.standard_normal((n, DIM))).astype(np.float32)


def test_a_large_write_past_the_threshold_builds_the_index_in_the_background(
    db_path: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ann, "ANN_MIN_ROWS", 1_000)
    monkeypatch.setattr(ann, "GROW_IN_BACKGROUND_ROWS", 1_000)
    entered, release = threading.Event(), threading.Event()
    real = ann.build_searchable

    def held(*args: Any, **kwargs: Any) -> Any:
        if threading.current_thread().name.startswith("omnivec-grow"):
            entered.set()
            assert release.wait(60)
        return real(*args, **kwargs)

    monkeypatch.setattr(ann, "build_searchable", held)
    x = clustered(2_000)
    keys = [f"k{i}" for i in range(2_000)]
    s = MilvusStore(db_path)
    try:
        s.create_collection("c", DIM, "cosine", index="auto")
        s.upsert("c", keys[:1_500], x[:1_500], [{}] * 1_500)  # returns; the build waits
        man = s._ann
        assert man is not None and entered.wait(30)
        assert not man.has_index("c") and "c" in man.growths
        # A search waits for the index; writes go on meanwhile (kept for the new index).
        out: list[Any] = []
        searcher = threading.Thread(target=lambda: out.append(s.search("c", x[1:4], 1)))
        searcher.start()
        s.upsert("c", keys[1_500:], x[1_500:], [{}] * 500)
        s.upsert("c", ["k0"], x[1_999:2_000], [{}])  # a replacement
        assert s.delete("c", keys[10:20]) == 10
        assert searcher.is_alive() and not out  # still waiting for the held build
        release.set()
        searcher.join(60)
        assert [r[0].key for r in out[0]] == keys[1:4]
        stats = s.index_stats("c")  # waits for the build
        assert stats["index"] == "ivf_flat" and stats["rows"] == 1_990
        assert man.has_index("c") and "c" not in man.growths
        assert set(man.indexes["c"].ids) == set(s.keys("c"))
        exact = {"exact": True}
        top = s.search("c", x[1_999:2_000], 2, params=exact)[0]
        assert {h.key for h in top} == {"k0", "k1999"}
        found = {h.key for row in s.search("c", x[:40], 5, params=exact) for h in row}
        assert not found & set(keys[10:20])
    finally:
        release.set()
        s.close()


def uniform(n: int, seed: int) -> np.ndarray:
    x = np.random.default_rng(seed).standard_normal((n, DIM)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def test_pq_writes_go_to_a_tail_searched_exactly_until_encoded(tmp_path: Path) -> None:
    x = uniform(3_000, 0)
    keys = [f"k{i}" for i in range(3_000)]
    index = PqScanIndex.build(keys[:2_500], x[:2_500], "cosine", prepared=True)
    index.upsert(keys[2_500:], x[2_500:])  # not encoded until start()
    index.upsert(["k5"], x[2_999:3_000])  # a replacement: the old position is a tombstone
    assert index.pending == 501 and index.rows == 3_000
    truth = np.argsort(-(x[2_600:2_610] @ x.T), axis=1)[:, :1]
    got = index.search(x[2_600:2_610], 1)
    assert [row[0][0] for row in got] == [keys[int(t)] for t in truth[:, 0]]
    assert {key for key, _ in index.search(x[2_999:3_000], 2)[0]} == {"k5", "k2999"}
    assert "k5" not in {key for key, _ in index.search(x[5:6], 3)[0]}
    index.start()
    assert index.worker.join(60)  # a background encoder was started
    assert index.pending == 0 and index.stats()["unindexed"] == 0
    assert {key for key, _ in index.search(x[2_999:3_000], 2)[0]} == {"k5", "k2999"}
    index.upsert(["new"], -x[:1])
    index.save(tmp_path, "p")  # encodes the tail first
    book = index.book(clean=True)
    again = PqScanIndex.load(tmp_path, "p", book)
    assert again.pending == 0 and again.rows == 3_001
    assert again.search(-x[:1], 1)[0][0][0] == "new"

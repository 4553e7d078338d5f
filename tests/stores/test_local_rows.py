"""The in-process copy of a Lite collection below the ANN threshold (FlatRows) and above it
(the IVF-Flat index): the same rows as Milvus after every kind of write, persisted at close,
loaded on reopen without reading Milvus, rebuilt after a crash; real Lite files, real faiss."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from omnivec.stores import ann
from omnivec.stores.milvus import MilvusStore

DIM = 8


def vecs(n: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((n, DIM)).astype(np.float32)


def as_dict(block: object) -> dict[str, np.ndarray]:
    return dict(zip(block.keys, block.vectors, strict=True))  # type: ignore[attr-defined]


def same_as_milvus(store: MilvusStore, name: str, unit: bool = False) -> dict[str, np.ndarray]:
    local = store.local_rows(name, unit=unit)
    assert local is not None
    scanned = store.scan(name, metadata=False)
    assert sorted(local.keys) == scanned.keys
    got = as_dict(local)
    for key, vec in zip(scanned.keys, scanned.vectors, strict=True):
        want = vec / np.linalg.norm(vec) if local.unit else vec
        np.testing.assert_allclose(got[key], want, rtol=0, atol=1e-6)
    return got


def building(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if "building the index" in r.getMessage()]


@pytest.mark.parametrize("metric", ["cosine", "ip", "l2"])
def test_rows_follow_every_write(db_path: str, metric: str) -> None:
    store = MilvusStore(db_path)
    try:
        store.create_collection("c", DIM, metric)
        x = vecs(300)
        keys = [f"k{i}" for i in range(300)]
        store.upsert("c", keys, x, [{} for _ in keys])
        store.upsert("c", keys[:50], vecs(50, seed=1), [{"m": 1}] * 50)  # replace
        store.delete("c", keys[100:140])
        store.upsert("c", ["new1", "new2"], vecs(2, seed=2), [{}, {}], delete=["k200"])
        got = same_as_milvus(store, "c")
        assert len(got) == 300 - 40 - 1 + 2
        np.testing.assert_array_equal(got["k0"], vecs(50, seed=1)[0])  # stored bit for bit
    finally:
        store.close()


def test_a_failed_write_leaves_the_rows_as_they_were(
    db_path: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = MilvusStore(db_path)
    try:
        store.create_collection("c", DIM, "l2")
        store.upsert("c", ["a", "b"], vecs(2), [{}, {}])
        before = as_dict(store.local_rows("c"))

        def broken(*args: object, **kwargs: object) -> None:
            raise RuntimeError("disk full")

        monkeypatch.setattr(store, "_write", broken)
        with pytest.raises(Exception, match="disk full"):
            store.upsert("c", ["a", "z"], vecs(2, seed=5), [{}, {}])
        monkeypatch.undo()
        after = same_as_milvus(store, "c")
        assert after.keys() == before.keys()
        for key in before:
            np.testing.assert_array_equal(after[key], before[key])
    finally:
        store.close()


def test_saved_at_close_and_loaded_without_reading_milvus(
    db_path: str, caplog: pytest.LogCaptureFixture
) -> None:
    store = MilvusStore(db_path)
    store.create_collection("c", DIM, "l2")
    x = vecs(500)
    store.upsert("c", [f"k{i}" for i in range(500)], x, [{} for _ in range(500)])
    store.close()
    folder = Path(db_path).parent / (Path(db_path).name + ".omnivec-ann")
    book = json.loads((folder / "c.json").read_text())
    assert book["kind"] == "flat" and book["rows"] == 500 and book["clean"]
    caplog.set_level(logging.INFO, logger="omnivec.stores.ann")
    store = MilvusStore(db_path)
    try:
        calls: list[str] = []
        real_scan = store.scan
        store.scan = lambda *a, **k: calls.append("scan") or real_scan(*a, **k)  # type: ignore[method-assign]
        got = as_dict(store.local_rows("c"))
        assert not calls and not building(caplog)
        np.testing.assert_array_equal(got["k7"], x[7])
        store.upsert("c", ["k7"], vecs(1, seed=3), [{}])  # the saved files go stale...
        assert not json.loads((folder / "c.json").read_text())["clean"]
        store.scan = real_scan  # type: ignore[method-assign]
        same_as_milvus(store, "c")
    finally:
        store.close()


def test_rebuilt_from_milvus_after_a_crash(db_path: str, caplog: pytest.LogCaptureFixture) -> None:
    code = f"""
import numpy as np, os
from omnivec.stores.milvus import MilvusStore
s = MilvusStore({db_path!r})
s.create_collection("c", {DIM}, "ip")
x = np.arange(40 * {DIM}, dtype=np.float32).reshape(40, {DIM})
s.upsert("c", [f"k{{i}}" for i in range(40)], x, [{{}}] * 40)
os._exit(0)  # no close: nothing saved, no clean stamp
"""
    subprocess.run([sys.executable, "-c", code], check=True, timeout=300)
    caplog.set_level(logging.INFO, logger="omnivec.stores.ann")
    store = MilvusStore(db_path)
    try:
        got = same_as_milvus(store, "c")
        assert len(got) == 40 and building(caplog)
    finally:
        store.close()


def test_grows_into_the_ivf_index_without_reading_back(
    db_path: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ann, "ANN_MIN_ROWS", 1_000)
    store = MilvusStore(db_path)
    try:
        store.create_collection("c", DIM, "cosine")
        real_scan = store.scan
        store.scan = lambda *a, **k: pytest.fail("read back")  # type: ignore[method-assign]
        for start in range(0, 1_200, 400):
            keys = [f"k{i}" for i in range(start, start + 400)]
            store.upsert("c", keys, vecs(400, seed=start), [{} for _ in keys])
        assert store._ann is not None and store._ann.has_index("c")
        assert store.local_rows("c") is None  # unit rows only: not the stored vectors
        store.scan = real_scan  # type: ignore[method-assign]
        got = same_as_milvus(store, "c", unit=True)
        assert len(got) == 1_200
    finally:
        store.close()


def test_none_where_no_copy_is_kept(db_path: str, server_uri: str) -> None:
    store = MilvusStore(db_path)
    try:
        store.create_collection("exact", DIM, "l2", index="flat")
        store.upsert("exact", ["a"], vecs(1), [{}])
        assert store.local_rows("exact") is None
    finally:
        store.close()
    remote = MilvusStore(server_uri)
    try:
        remote.create_collection("local_rows_srv", DIM, "l2")
        remote.upsert("local_rows_srv", ["a"], vecs(1), [{}])
        assert remote.local_rows("local_rows_srv") is None
        remote.drop_collection("local_rows_srv")
    finally:
        remote.close()


def test_views_handed_out_do_not_change_with_later_writes(db_path: str) -> None:
    store = MilvusStore(db_path)
    try:
        store.create_collection("c", DIM, "cosine")
        x = vecs(10)
        store.upsert("c", [f"k{i}" for i in range(10)], x, [{} for _ in range(10)])
        raw = store.local_rows("c")
        unit = store.local_rows("c", unit=True)
        assert raw is not None and unit is not None and unit.unit and not raw.unit
        assert not raw.vectors.flags.writeable
        np.testing.assert_allclose(
            unit.vectors, x / np.linalg.norm(x, axis=1, keepdims=True), atol=1e-6
        )
        frozen_raw, frozen_unit = raw.vectors.copy(), unit.vectors.copy()
        store.upsert("c", ["k0", "new"], vecs(2, seed=9), [{}, {}])  # a replace and an append
        store.delete("c", ["k3"])  # the last row moves into its place
        np.testing.assert_array_equal(raw.vectors, frozen_raw)
        np.testing.assert_array_equal(unit.vectors, frozen_unit)
        same_as_milvus(store, "c")
        same_as_milvus(store, "c", unit=True)
    finally:
        store.close()


def test_vectors_only_collections_search_without_a_metadata_read(
    db_path: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A collection grown from empty in this session knows none of its rows has metadata, so
    its ANN hits need no Milvus round trip; one row with metadata changes that."""
    monkeypatch.setattr(ann, "ANN_MIN_ROWS", 500)
    store = MilvusStore(db_path)
    try:
        store.create_collection("c", DIM, "l2")
        store.upsert("c", [f"k{i}" for i in range(600)], vecs(600), [{} for _ in range(600)])
        assert store._ann is not None and store._ann.has_index("c")
        reads: list[object] = []
        real = store.metadata
        monkeypatch.setattr(store, "metadata", lambda *a: reads.append(a) or real(*a))
        hits = store.search("c", vecs(1, seed=4), 5)
        assert len(hits[0]) == 5 and not reads
        store.upsert("c", ["m"], vecs(1, seed=5), [{"tag": 1}])
        hits = store.search("c", vecs(1, seed=5), 5)
        assert reads and hits[0][0].key == "m" and hits[0][0].metadata == {"tag": 1}
    finally:
        store.close()

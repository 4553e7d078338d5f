"""Per-collection locks of the in-process ANN indexes (omnivec.stores.ann): a search of one
collection never waits for another collection's lock, an SQ8 re-rank reads Milvus outside its
collection's lock, and concurrent writes and searches of one collection keep it exact."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

from omnivec.stores import ann
from omnivec.stores.milvus import MilvusStore

DIM = 16


def clustered(n: int, seed: int = 0) -> np.ndarray:
    c = np.random.default_rng(1234).standard_normal((20, DIM)).astype(np.float32)
    rng = np.random.default_rng(seed)
    return (c[rng.integers(0, 20, n)] + 0.3 * rng.standard_normal((n, DIM))).astype(np.float32)


def fill(store: MilvusStore, name: str, x: np.ndarray, index: str = "auto") -> list[str]:
    store.create_collection(name, DIM, "cosine", index=index)
    keys = [f"{name}{i}" for i in range(len(x))]
    for lo in range(0, len(x), 1_000):
        store.upsert(
            name, keys[lo : lo + 1_000], x[lo : lo + 1_000], [{}] * len(x[lo : lo + 1_000])
        )
    return keys


@pytest.fixture(scope="module")
def two(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[MilvusStore, np.ndarray]]:
    """One Lite file with collections "a" (IVF-Flat) and "q" (IVF-SQ8), past the threshold."""
    patch = pytest.MonkeyPatch()
    patch.setattr(ann, "ANN_MIN_ROWS", 1_000)
    store = MilvusStore(str(tmp_path_factory.mktemp("locks") / "locks.db"))
    x = clustered(1_500)
    fill(store, "a", x)
    fill(store, "q", x, index="ivf_sq8")
    assert store._ann is not None and store._ann.has_index("a") and store._ann.has_index("q")
    yield store, x
    store.close()
    patch.undo()


def in_thread(fn: Any, name: str = "test-worker") -> tuple[threading.Thread, list[Any]]:
    out: list[Any] = []
    thread = threading.Thread(target=lambda: out.append(fn()), name=name, daemon=True)
    thread.start()
    return thread, out


def test_a_search_proceeds_while_another_collection_holds_its_lock(
    two: tuple[MilvusStore, np.ndarray],
) -> None:
    store, x = two
    man = store._ann
    assert man is not None
    held, release = threading.Event(), threading.Event()

    def hold_q() -> None:
        with man.lock_of("q"):  # as a long write or build of "q" would
            held.set()
            assert release.wait(60)

    holder, _ = in_thread(hold_q)
    try:
        assert held.wait(30)
        searcher, out = in_thread(lambda: store.search("a", x[:3], 1))
        searcher.join(60)
        assert not searcher.is_alive(), "the search of 'a' waited for the lock of 'q'"
        assert [row[0].key for row in out[0]] == ["a0", "a1", "a2"]
        # A write to "a" and the one-query hot path do not wait either.
        writer, _ = in_thread(lambda: store.upsert("a", ["extra"], x[:1], [{}]))
        writer.join(60)
        assert not writer.is_alive() and holder.is_alive()
    finally:
        release.set()
        holder.join(60)
    assert store.delete("a", ["extra"]) == 1


def test_an_sq8_rerank_reads_milvus_outside_the_collection_lock(
    two: tuple[MilvusStore, np.ndarray], monkeypatch: pytest.MonkeyPatch
) -> None:
    """While one search of "q" waits for Milvus' vectors (its exact re-rank), another search
    and a write of "q" go ahead: the round trip does not hold the collection's lock."""
    store, x = two
    entered, release = threading.Event(), threading.Event()
    real_get = store.get

    def get(name: str, keys: Any, **kwargs: Any) -> Any:
        if threading.current_thread().name == "slow-search":
            entered.set()
            assert release.wait(60)
        return real_get(name, keys, **kwargs)

    monkeypatch.setattr(store, "get", get)
    searcher, out = in_thread(lambda: store.search("q", x[:2], 1), name="slow-search")
    try:
        assert entered.wait(30)  # its re-rank waits in Milvus' round trip
        other, other_out = in_thread(lambda: store.search("q", x[2:4], 1))
        other.join(60)
        assert not other.is_alive(), "a search of 'q' waited for another's Milvus round trip"
        assert [row[0].key for row in other_out[0]] == ["q2", "q3"]
        writer, _ = in_thread(lambda: store.upsert("q", ["q-extra"], x[:1], [{}]))
        writer.join(60)
        assert not writer.is_alive()
    finally:
        release.set()
        searcher.join(60)
    assert [row[0].key for row in out[0]] == ["q0", "q1"]
    assert store.delete("q", ["q-extra"]) == 1


def test_concurrent_writes_and_searches_of_one_collection_stay_exact(
    two: tuple[MilvusStore, np.ndarray],
) -> None:
    """Two writers (adds, replacements, deletes) and two searchers on "a", and a searcher
    on "q", at once: afterwards the index holds exactly Milvus' rows, every search answered,
    and a deleted key is never found."""
    store, x = two
    man = store._ann
    assert man is not None
    y = clustered(400, seed=5)
    errors: list[BaseException] = []
    stop = threading.Event()

    def guarded(fn: Any) -> Any:
        def run() -> None:
            try:
                fn()
            except BaseException as exc:  # noqa: BLE001 - reported below
                errors.append(exc)

        return run

    def writer(lo: int) -> None:
        for i in range(lo, lo + 200, 20):
            store.upsert("a", [f"w{j}" for j in range(i, i + 20)], y[i : i + 20], [{}] * 20)
            store.upsert("a", [f"a{i}"], y[i : i + 1], [{}])  # a replacement
            assert store.delete("a", [f"w{i}"]) == 1

    def searcher(name: str) -> None:
        while not stop.is_set():
            rows = store.search(name, x[:4], 3)
            assert all(len(r) == 3 for r in rows)

    writers = [threading.Thread(target=guarded(lambda lo=lo: writer(lo))) for lo in (0, 200)]
    readers = [threading.Thread(target=guarded(lambda n=n: searcher(n))) for n in ("a", "a", "q")]
    for t in writers + readers:
        t.start()
    for t in writers:
        t.join(120)
    stop.set()
    for t in readers:
        t.join(60)
    assert not errors, errors
    index = man.indexes["a"]
    assert set(index.ids) == set(store.keys("a")) and index.rows == store.count("a")
    deleted = {f"w{i}" for i in range(0, 400, 20)}
    found = {h.key for row in store.search("a", y, 10, params={"exact": True}) for h in row}
    assert not found & deleted
    assert store.search("a", y[21:22], 1, params={"exact": True})[0][0].key == "w21"

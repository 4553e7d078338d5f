"""The in-process ANN index over Milvus Lite collections (omnivec.stores.ann), on real Lite
files and real faiss: the same answers as Milvus, kept in step with writes, persisted and
rebuilt when its bookkeeping does not match."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

import omnivec as ov
from omnivec.errors import InvalidInputError, StoreError
from omnivec.stores import ann
from omnivec.stores import milvus as milvus_module
from omnivec.stores.milvus import MilvusStore

DIM = 32


def clustered(n: int, dim: int = DIM, seed: int = 0, centers: int = 50) -> np.ndarray:
    """Points around ``centers`` fixed centres (the same for every seed)."""
    c = np.random.default_rng(1234).standard_normal((centers, dim)).astype(np.float32)
    rng = np.random.default_rng(seed)
    x = c[rng.integers(0, centers, n)] + 0.35 * rng.standard_normal((n, dim)).astype(np.float32)
    return x.astype(np.float32)


@pytest.fixture
def low_threshold(monkeypatch: pytest.MonkeyPatch) -> int:
    monkeypatch.setattr(ann, "ANN_MIN_ROWS", 1_000)
    return 1_000


def keys_of(n: int, prefix: str = "k") -> list[str]:
    return [f"{prefix}{i}" for i in range(n)]


def fill(store: MilvusStore, name: str, x: np.ndarray, index: str, metric: str = "cosine") -> None:
    store.create_collection(name, x.shape[1], metric, index=index)
    keys = keys_of(len(x))
    meta = [{"g": i % 5} for i in range(len(x))]
    for s in range(0, len(x), 2_000):
        store.upsert(name, keys[s : s + 2_000], x[s : s + 2_000], meta[s : s + 2_000])


@pytest.fixture
def store(db_path: str) -> Iterator[MilvusStore]:
    s = MilvusStore(db_path)
    yield s
    s.close()


def ann_folder(db_path: str) -> Path:
    return Path(db_path).parent / (Path(db_path).name + ".omnivec-ann")


def rebuilt(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if "building the index" in r.getMessage()]


@pytest.mark.parametrize("index", ["auto", "ivf_sq8"])
@pytest.mark.parametrize("metric", ["cosine", "ip", "l2"])
def test_same_ids_and_scores_as_milvus_when_exact(
    store: MilvusStore, low_threshold: int, metric: str, index: str
) -> None:
    """All lists probed (IVF-Flat), or SQ8 candidates re-ranked with Milvus' own vectors."""
    x = clustered(1_500)
    fill(store, "exact", x, "flat", metric)
    fill(store, "approx", x, index, metric)
    assert store._ann is not None and store._ann.indexes["approx"].kind == index.replace(
        "auto", "ivf_flat"
    )
    assert store._ann is not None and store._ann.has_index("approx")
    q = np.concatenate([x[:5], clustered(5, seed=9)])
    exclude = ["k0", "k1", None, None, None, None, None, None, None, None]
    want = store.search("exact", q, 10, exclude=exclude, metric=metric)
    got = store.search("approx", q, 10, exclude=exclude, metric=metric, params={"nprobe": 4096})
    for w, g in zip(want, got, strict=True):
        assert [h.key for h in g] == [h.key for h in w]
        np.testing.assert_allclose([h.score for h in g], [h.score for h in w], atol=1e-5)
        assert [h.metadata for h in g] == [h.metadata for h in w]
    assert all(h.key != "k0" for h in got[0]) and all(h.key != "k1" for h in got[1])


def test_recall_on_fresh_writes(store: MilvusStore, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ann, "ANN_MIN_ROWS", 5_000)
    x = clustered(20_000, dim=64, centers=200)
    fill(store, "c", x, "auto")
    assert store._ann is not None and store._ann.has_index("c")
    q = clustered(50, dim=64, seed=3, centers=200)
    xn = x / np.linalg.norm(x, axis=1, keepdims=True)
    qn = q / np.linalg.norm(q, axis=1, keepdims=True)
    truth = np.argsort(-(qn @ xn.T), axis=1)[:, :10]
    got = store.search("c", q, 10, metric="cosine")
    recall = np.mean(
        [
            len({f"k{i}" for i in t} & {h.key for h in g}) / 10
            for t, g in zip(truth, got, strict=True)
        ]
    )
    assert recall >= 0.95
    # A lower nprobe trades recall for speed; it still answers.
    assert len(store.search("c", q[:1], 10, params={"nprobe": 1})[0]) == 10


def test_consistent_under_add_upsert_delete(store: MilvusStore, low_threshold: int) -> None:
    x = clustered(1_200)
    fill(store, "c", x, "auto")
    # Delete: never returned again.
    gone = keys_of(300)
    assert store.delete("c", gone) == 300
    hits = store.search("c", x[:300], 10, params={"nprobe": 4096})
    assert not {h.key for row in hits for h in row} & set(gone)
    # Upsert an existing key with a new vector: found at its new place, once.
    v = clustered(1, seed=42)
    store.upsert("c", ["k500"], v, [{"g": "new"}])
    top = store.search("c", v, 3, params={"nprobe": 4096})[0]
    assert top[0].key == "k500" and top[0].score == pytest.approx(1.0, abs=1e-5)
    assert top[0].metadata == {"g": "new"}
    assert [h.key for h in top].count("k500") == 1
    # Add new keys: found.
    store.upsert("c", ["new1"], -v, [{}])
    assert store.search("c", -v, 1)[0][0].key == "new1"
    assert store._ann is not None
    assert store._ann.indexes["c"].rows == store.count("c") == 901


def test_where_and_exclude_through_milvus(store: MilvusStore, low_threshold: int) -> None:
    x = clustered(1_500)
    fill(store, "exact", x, "flat")
    fill(store, "approx", x, "auto")
    q = x[:4]
    exclude = ["k0", None, "k2", None]
    want = store.search("exact", q, 7, where="g == 1", exclude=exclude)
    got = store.search("approx", q, 7, where="g == 1", exclude=exclude)
    assert [[h.key for h in r] for r in got] == [[h.key for h in r] for r in want]
    assert all(h.metadata["g"] == 1 for r in got for h in r)


def test_persisted_and_loaded_without_rebuild(
    db_path: str, low_threshold: int, caplog: pytest.LogCaptureFixture
) -> None:
    x = clustered(1_500)
    s = MilvusStore(db_path)
    fill(s, "c", x, "auto")
    want = s.search("c", x[:5], 10)
    s.close()
    folder = ann_folder(db_path)
    assert (folder / "c.faiss").exists() and (folder / "_clean.json").exists()
    book = json.loads((folder / "c.json").read_text())
    assert book["clean"] and book["rows"] == 1_500
    caplog.set_level(logging.INFO, logger="omnivec.stores.ann")
    s = MilvusStore(db_path)
    try:
        # A write before any search loads the saved index and keeps it in step.
        s.upsert("c", ["extra"], -x[:1], [{}])
        got = s.search("c", x[:5], 10)
        assert not rebuilt(caplog)
        assert s.search("c", -x[:1], 1)[0][0].key == "extra"
        assert [[h.key for h in r] for r in got] == [[h.key for h in r] for r in want]
        assert s._ann is not None and s._ann.has_index("c")
    finally:
        s.close()


def break_version(folder: Path) -> None:
    book = json.loads((folder / "c.json").read_text())
    book["faiss"] = "0.0.1"
    (folder / "c.json").write_text(json.dumps(book))


def delete_folder(folder: Path) -> None:
    import shutil

    shutil.rmtree(folder)


def foreign_write(folder: Path) -> None:
    """Another program (raw pymilvus, no omnivec) replaces a row of the closed file."""
    db = str(folder.parent / folder.name.removesuffix(".omnivec-ann"))
    script = (
        "import sys, warnings; warnings.simplefilter('ignore'); from pymilvus import MilvusClient;"
        "c = MilvusClient(sys.argv[1]);"
        f"c.upsert('c', [{{'pk': 'k7', 'vector': [-1.0] * {DIM}, 'g': 'foreign'}}]); c.close()"
    )
    subprocess.run([sys.executable, "-c", script, db], check=True, timeout=120)


@pytest.mark.parametrize("damage", [break_version, delete_folder, foreign_write])
def test_rebuilt_when_bookkeeping_does_not_match(
    db_path: str, low_threshold: int, caplog: pytest.LogCaptureFixture, damage: object
) -> None:
    x = clustered(1_500)
    s = MilvusStore(db_path)
    fill(s, "c", x, "auto")
    s.close()
    assert callable(damage)
    damage(ann_folder(db_path))
    caplog.set_level(logging.INFO, logger="omnivec.stores.ann")
    s = MilvusStore(db_path)
    try:
        hits = s.search("c", x[:20], 5, params={"nprobe": 4096})
        assert rebuilt(caplog)
        assert s.count("c") == 1_500  # Milvus is the source of truth: nothing lost
        assert s._ann is not None and s._ann.indexes["c"].rows == 1_500
        assert hits[3][0].key == "k3"
        if damage is foreign_write:
            top = s.search("c", -np.ones((1, DIM), np.float32), 1)[0][0]
            assert top.key == "k7" and top.metadata["g"] == "foreign"
    finally:
        s.close()


def test_failed_write_changes_nothing(
    store: MilvusStore, low_threshold: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    x = clustered(1_500)
    fill(store, "c", x, "auto")
    before = store.search("c", x[:5], 10)
    calls = {"n": 0}

    def failing(real):  # type: ignore[no-untyped-def]
        def call(*args, **kwargs):  # type: ignore[no-untyped-def]
            calls["n"] += 1
            if calls["n"] == 2:
                from pymilvus.exceptions import MilvusException

                raise MilvusException(message="injected failure")
            return real(*args, **kwargs)

        return call

    # Rows without metadata go through a prebuilt request, others through the client.
    monkeypatch.setattr(milvus_module, "send_vectors", failing(milvus_module.send_vectors))
    client = store._client
    monkeypatch.setattr(client, "upsert", failing(client.upsert))
    monkeypatch.setattr(client, "insert", failing(client.insert))
    new = clustered(800, seed=5)
    keys = ["k1", *keys_of(799, "new")]  # one replaces a row, the rest are new
    with pytest.raises(StoreError):
        store.upsert("c", keys, new, [{} for _ in keys])
    monkeypatch.undo()
    assert store.count("c") == 1_500
    assert store._ann is not None and store._ann.indexes["c"].rows == 1_500
    after = store.search("c", x[:5], 10)
    assert [[(h.key, round(h.score, 5)) for h in r] for r in after] == [
        [(h.key, round(h.score, 5)) for h in r] for r in before
    ]
    assert not {h.key for r in store.search("c", new[:50], 10) for h in r} & set(keys[1:])


def test_index_files_are_dropped_with_the_collection(
    db_path: str, store: MilvusStore, low_threshold: int
) -> None:
    fill(store, "c", clustered(1_200), "auto")
    store.close()
    assert (ann_folder(db_path) / "c.faiss").exists()
    again = MilvusStore(db_path)
    try:
        again.drop_collection("c")
        assert not (ann_folder(db_path) / "c.faiss").exists()
        again.create_collection("c", DIM, "cosine")
        assert again.search("c", clustered(1), 5) == [[]]
    finally:
        again.close()
    store._client = None  # type: ignore[assignment]  # closed above


def test_small_collections_stay_exact(store: MilvusStore) -> None:
    x = clustered(300)
    fill(store, "c", x, "auto")
    assert store._ann is not None and not store._ann.has_index("c")
    assert store.search("c", x[:1], 1)[0][0].key == "k0"


def test_search_params_are_checked(store: MilvusStore) -> None:
    fill(store, "c", clustered(10), "auto")
    for bad in ({"nprobe": 0}, {"nprobe": "8"}, {"speed": 3}, {"ef": True}):
        with pytest.raises(InvalidInputError):
            store.search("c", clustered(1), 5, params=bad)
    with pytest.raises(InvalidInputError):
        store.create_collection("d", DIM, "cosine", index="ivf_pq")


def test_collection_default_is_auto_with_search_knob(plat: ov.Platform, low_threshold: int) -> None:
    col = plat.collection("v", dim=DIM, metric="cosine")
    assert col.info()["index"] == "auto"
    x = clustered(1_200)
    col.add(vectors=x, ids=list(range(1_200)))
    hits = col.search(ov.vector(x[7]), k=5, search_params={"nprobe": 4096})
    assert hits[0].id == 7 and hits[0].score == pytest.approx(1.0, abs=1e-5)
    assert col.search(ov.ref(7), k=5)[0].id != 7
    flat = plat.collection("f", dim=DIM, metric="cosine", index="flat")
    flat.add(vectors=x, ids=list(range(1_200)))
    assert plat.store._ann is not None and not plat.store._ann.has_index("f")  # type: ignore[attr-defined]


def test_server_indexes_are_chosen_by_size() -> None:
    assert milvus_module.server_index("auto") == ("HNSW", {"M": 16, "efConstruction": 200})
    assert milvus_module.server_index("auto", 20_000_000)[1]["M"] == 32
    assert milvus_module.server_index("ivf_flat", 1_000_000) == ("IVF_FLAT", {"nlist": 4000})
    assert milvus_module.server_index("ivf_sq8", 10_000) == ("IVF_SQ8", {"nlist": 400})
    assert milvus_module.server_index("flat") == ("FLAT", {})
    assert milvus_module.server_search_params("auto", 100, {}) == {"ef": 100}
    assert milvus_module.server_search_params("hnsw", 10, {"ef": 200}) == {"ef": 200}
    assert milvus_module.server_search_params("ivf_flat", 10, {"nprobe": 8}) == {"nprobe": 8}
    # exact=True on a server: the widest search the index allows
    assert milvus_module.server_search_params("hnsw", 10, {"exact": 1}) == {"ef": 16_384}
    assert milvus_module.server_search_params("ivf_flat", 10, {"exact": 1}) == {"nprobe": 65_536}
    assert ann.check_search_params({"exact": True}) == {"exact": 1}
    with pytest.raises(InvalidInputError, match="exact"):
        ann.check_search_params({"exact": 1})


def test_nothing_process_local_on_a_server(server_uri: str, tmp_path: Path) -> None:
    s = MilvusStore(server_uri)
    try:
        assert s._ann is None
        # Lite behind the server refuses HNSW ("auto" on a server): it falls back to exact,
        # an explicit "hnsw" is refused; no index folder appears anywhere.
        with pytest.raises(StoreError):
            s.create_collection("ann_srv", DIM, "cosine", index="hnsw")
        s.create_collection("ann_srv_auto", DIM, "cosine", index="auto")
        assert s.has_collection("ann_srv_auto")
        s.drop_collection("ann_srv_auto")
        s.create_collection("ann_srv_flat", DIM, "cosine", index="flat")
        x = clustered(50)
        s.upsert("ann_srv_flat", keys_of(50), x, [{} for _ in range(50)])
        assert s.search("ann_srv_flat", x[:1], 1, params={"nprobe": 8})[0][0].key == "k0"
        s.drop_collection("ann_srv_flat")
    finally:
        s.close()
    assert not list(tmp_path.rglob("*.omnivec-ann"))


CHILD = """
import sys
import threading
import numpy as np
from omnivec.stores.milvus import MilvusStore
db, first, batches = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
store = MilvusStore(db)
if first == 0:
    store.create_collection("c", 32, "cosine", index="auto")
rng = np.random.default_rng(first)
for b in range(first, first + batches):
    x = np.random.default_rng(b).standard_normal((500, 32)).astype(np.float32)
    store.upsert("c", [f"b{b}-{i}" for i in range(500)], x, [{} for _ in range(500)])
    print("ack", b, flush=True)
if first == 0:
    store.close()
    print("closed", flush=True)
else:
    import time
    time.sleep(600)
"""


def run_child(db: str, first: int, batches: int, kill_after: int | None) -> list[int]:
    """Run CHILD; SIGKILL it after ``kill_after`` acks. Returns the acknowledged batches."""
    import os
    import signal

    env = {**os.environ, "OMNIVEC_ANN_MIN_ROWS": "1000"}
    proc = subprocess.Popen(
        [sys.executable, "-c", CHILD, db, str(first), str(batches)],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    acked = []
    assert proc.stdout is not None
    for line in proc.stdout:
        if line.startswith("ack"):
            acked.append(int(line.split()[1]))
            if kill_after is not None and len(acked) == kill_after:
                os.kill(proc.pid, signal.SIGKILL)
                break
    proc.wait(timeout=120)
    return acked


def test_sigkill_during_add_then_reopen(
    db_path: str, low_threshold: int, caplog: pytest.LogCaptureFixture
) -> None:
    # A clean session leaves a saved, clean index of 1,500 rows.
    assert run_child(db_path, 0, 3, None) == [0, 1, 2]
    assert json.loads((ann_folder(db_path) / "c.json").read_text())["clean"]
    # A second session adds and is killed mid-ingest, its index unsaved.
    acked = run_child(db_path, 3, 50, kill_after=3)
    assert json.loads((ann_folder(db_path) / "c.json").read_text())["clean"] is False
    caplog.set_level(logging.INFO, logger="omnivec.stores.ann")
    s = MilvusStore(db_path)
    try:
        rows = s.count("c")
        assert rows >= 500 * (3 + len(acked))  # nothing acknowledged is lost
        probe = np.random.default_rng(acked[-1]).standard_normal((3, 32)).astype(np.float32)
        hits = s.search("c", probe, 1, params={"nprobe": 4096})
        assert rebuilt(caplog)  # the dirty index was not trusted
        assert [h[0].key for h in hits] == [f"b{acked[-1]}-{i}" for i in range(3)]
        assert s._ann is not None
        assert set(s._ann.indexes["c"].ids) == set(s.keys("c"))
    finally:
        s.close()


def test_growth_without_retraining_keeps_recall_on_fresh_writes(
    store: MilvusStore, low_threshold: int
) -> None:
    """Trained once at the threshold; 7x more rows later (no retraining yet) the
    lists still find the fresh rows: recall@10 >= 0.95 against exact search."""
    from omnivec.stores.retrain import RETRAIN_GROWTH

    assert RETRAIN_GROWTH > 7
    x = clustered(7_000, dim=64, centers=200)
    keys = keys_of(7_000)
    store.create_collection("g", 64, "cosine", index="auto")
    for s in range(0, 7_000, 1_000):  # vectors only: the prebuilt-request path
        store.upsert("g", keys[s : s + 1_000], x[s : s + 1_000], [{}] * 1_000)
    assert store._ann is not None
    index = store._ann.indexes["g"]
    assert index.trained_rows == 1_000 and index.rows == 7_000  # not retrained
    q = clustered(60, dim=64, seed=11, centers=200)
    xn = x / np.linalg.norm(x, axis=1, keepdims=True)
    qn = q / np.linalg.norm(q, axis=1, keepdims=True)
    truth = np.argsort(-(qn @ xn.T), axis=1)[:, :10]
    got = store.search("g", q, 10, metric="cosine")
    recall = np.mean(
        [
            len({f"k{i}" for i in t} & {h.key for h in g}) / 10
            for t, g in zip(truth, got, strict=True)
        ]
    )
    assert recall >= 0.95
    fresh = x[6_000:6_050]  # written last, long after training: each finds itself first
    assert [r[0].key for r in store.search("g", fresh, 1)] == keys[6_000:6_050]


def test_index_decides_insert_or_replace_without_reading_new_keys(
    store: MilvusStore, low_threshold: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Past the threshold only the keys the index holds are read back before a write; new
    keys are inserted, existing ones replaced: no row lost, none duplicated."""
    x = clustered(1_500)
    store.create_collection("c", DIM, "cosine", index="auto")
    store.upsert("c", keys_of(1_500), x, [{}] * 1_500)
    assert store._ann is not None and store._ann.has_index("c")
    read: list[int] = []
    real_get = store.get

    def counting_get(name, keys, **kwargs):  # type: ignore[no-untyped-def]
        read.append(len(keys))
        return real_get(name, keys, **kwargs)

    monkeypatch.setattr(store, "get", counting_get)
    new = clustered(600, seed=8)
    keys = [*keys_of(300, "k"), *keys_of(300, "fresh")]  # 300 replace, 300 are new
    store.upsert("c", keys, new, [{}] * 600)
    monkeypatch.undo()
    assert read == [300]
    raw = store._client.query(
        "c", filter="", output_fields=["count(*)"], consistency_level="Strong"
    )
    assert raw[0]["count(*)"] == 1_800 == store.count("c")
    assert store._ann.indexes["c"].rows == 1_800
    got = store.get("c", ["k7", "fresh7"])
    np.testing.assert_array_equal(got["k7"].vector, new[7])
    np.testing.assert_array_equal(got["fresh7"].vector, new[307])
    top = store.search("c", new[[7, 307]], 2, params={"nprobe": 4096})
    assert [r[0].key for r in top] == ["k7", "fresh7"]
    assert top[0][1].key != "k7"  # replaced, not duplicated


def fill_bare(store: MilvusStore, name: str, x: np.ndarray, keys: list[str], metric: str) -> None:
    """Rows without metadata: hits need nothing from Milvus, so ``search_ids`` answers."""
    store.create_collection(name, x.shape[1], metric, index="auto")
    for s in range(0, len(x), 2_000):
        store.upsert(name, keys[s : s + 2_000], x[s : s + 2_000], [{}] * len(x[s : s + 2_000]))


def ids_and_scores(store: MilvusStore, name: str, v: np.ndarray, k: int, **kw: object) -> tuple:
    from omnivec.core.ids import decode_ids

    row = store.search(name, v[None], k, **kw)[0]  # type: ignore[arg-type]
    return decode_ids([h.key for h in row]), [h.score for h in row]


@pytest.mark.parametrize("metric", ["cosine", "ip", "l2"])
@pytest.mark.parametrize("kind", ["int", "str", "mixed"])
def test_one_query_hot_path_answers_as_search(
    store: MilvusStore, low_threshold: int, metric: str, kind: str
) -> None:
    """``search_ids`` (one unfiltered query, no metadata) gives search's ids, decoded, and
    scores, through deletes, replacements and new rows, whatever the ids."""
    from omnivec.core.ids import encode_ids

    x = clustered(1_500)
    ids: list[object] = list(range(1_500))
    if kind == "str":
        ids = [f"doc {i}/ü" if i % 2 else f"d{i}" for i in range(1_500)]  # hex- and plain keys
    elif kind == "mixed":
        ids = [i if i % 3 else f"s{i}" for i in range(1_500)]
    keys = encode_ids(ids)
    fill_bare(store, "c", x, keys, metric)
    assert store._ann is not None and store._ann.has_index("c")
    q = np.concatenate([x[:4], clustered(4, seed=9)])

    def check(k: int = 10) -> None:
        for v in q:
            for params in (None, {"nprobe": 4096}):
                got = store.search_ids("c", v, k, params)
                assert got is not None
                want = ids_and_scores(store, "c", v, k, params=params)
                assert got[0] == want[0]
                np.testing.assert_allclose(got[1], want[1], rtol=1e-6, atol=1e-6)

    check()
    store.delete("c", keys[:200])
    store.upsert("c", keys[300:310], -x[300:310], [{}] * 10)
    store.upsert("c", encode_ids([10**6, "late"]), x[:2] + 0.01, [{}, {}])
    check()
    check(k=1_400)  # more than the probed lists hold at the default nprobe: no -1 ids
    hits = store.search_ids("c", x[0], 1_400, {"nprobe": 4096})
    assert hits is not None and not set(hits[0]) & set(ids[:200])


def test_one_query_hot_path_declines_what_it_cannot_answer(
    store: MilvusStore, low_threshold: int
) -> None:
    x = clustered(1_500)
    fill_bare(store, "small", x[:500], keys_of(500), "cosine")  # exact rows, no ANN index
    assert store.search_ids("small", x[0], 5) is None
    fill(store, "meta", x, "auto")  # rows with metadata: hits read it from Milvus
    assert store.search_ids("meta", x[0], 5) is None
    fill(store, "sq8", x, "ivf_sq8")  # candidates re-ranked on the stored vectors
    assert store.search_ids("sq8", x[0], 5) is None
    big = 2**70  # an int id past int64: decoded from its key
    fill_bare(store, "big", x, [*keys_of(1_499, "i:"), f"i:{big}"], "cosine")
    got = store.search_ids("big", x[1_499], 1)
    assert got is not None and got[0] == [big]
    with pytest.raises(InvalidInputError):
        store.search_ids("big", x[0], 5, {"nprobe": 0})


def test_calibration_holds_recall_for_fresh_queries_after_growth(
    db_path: str, low_threshold: int
) -> None:
    """nprobe is calibrated on queries that are not stored points (stored rows moved by their
    nearest-neighbour distance): such queries reach the promised recall, again after the
    collection doubled (calibrated by the next search, not inside the write); index_stats
    says so; exact=True and all lists probed equal brute force; nprobe=1 is honoured."""
    from omnivec.stores.index_common import fresh_queries

    x = clustered(6_000, dim=64, centers=60)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    rng = np.random.default_rng(3)

    def fresh(rows: np.ndarray, m: int = 60) -> np.ndarray:
        pick = rng.choice(len(rows), m, replace=False)
        s = rows[pick] @ rows.T
        s[np.arange(m), pick] = -np.inf
        return fresh_queries(rows[pick], rows[np.argmax(s, axis=1)], rng, unit=True)

    def recall(col: ov.Collection, rows: np.ndarray, q: np.ndarray, **kw: object) -> float:
        truth = np.argsort(-(q @ rows.T), axis=1)[:, :10]
        got = [[h.id for h in col.search(ov.vector(v), k=10, **kw)] for v in q]  # type: ignore[arg-type]
        return float(
            np.mean([len(set(g) & set(t.tolist())) / 10 for g, t in zip(got, truth, strict=True)])
        )

    with ov.connect(db_path) as plat:
        col = plat.collection("fresh", dim=64, metric="cosine")
        col.add(vectors=x[:2_500], ids=list(range(2_500)))
        stats = col.index_stats()
        assert {"index", "rows", "nlist", "nprobe", "calibrated_recall", "fresh_queries"} <= set(
            stats
        )
        assert stats["index"] == "ivf_flat" and stats["fresh_queries"] is True
        assert stats["rows"] == 2_500 and stats["calibrated_recall"] >= 0.95
        assert recall(col, x[:2_500], fresh(x[:2_500])) >= 0.9
        col.add(vectors=x[2_500:], ids=list(range(2_500, 6_000)))  # more than doubles
        index = plat.store._ann.indexes["fresh"]  # type: ignore[attr-defined]
        assert index.calibration_due  # the write did not calibrate
        q = fresh(x)
        assert recall(col, x, q) >= 0.9
        stats = col.index_stats()
        assert stats["rows"] == 6_000 and stats["calibrated_recall"] >= 0.95
        assert not index.calibration_due
        assert recall(col, x, q, exact=True) == 1.0
        assert recall(col, x, q, search_params={"nprobe": stats["nlist"]}) == 1.0
        low = recall(col, x, q, search_params={"nprobe": 1})
        assert low <= recall(col, x, q)
        assert index.nprobe == stats["nprobe"]  # a per-search nprobe does not stick


def test_a_search_after_growth_calibrates_in_the_background_and_close_saves_it(
    db_path: str, low_threshold: int
) -> None:
    """The first search after the rows doubled does not calibrate inline: it starts a thread
    and answers at a widened nprobe (never below the last calibrated one); close settles the
    calibration and saves it, so a reopen neither recalibrates nor counts rows in Milvus."""
    from omnivec.stores import calibration

    x = clustered(4_000, centers=40)
    s = MilvusStore(db_path)
    fill(s, "c", x[:1_500], "auto")
    man = s._ann
    assert man is not None
    index = man.indexes["c"]
    calibrated = index.nprobe
    release, entered = threading.Event(), threading.Event()
    real = index.calibrate

    def held(lock: object = None, cancelled: object = None) -> None:
        entered.set()
        assert release.wait(60)
        real(lock, cancelled)

    setattr(index, "calibrate", held)  # noqa: B010 - this index only, removed below
    for lo in range(1_500, 4_000, 500):
        s.upsert("c", keys_of(4_000)[lo : lo + 500], x[lo : lo + 500], [{}] * 500)
    assert index.calibration_due
    hits = s.search("c", x[:5], 1)  # answered while the calibration waits in its thread
    assert [r[0].key for r in hits] == keys_of(5)
    assert entered.wait(30) and "c" in man.calibrations and index.calibrating
    assert index.nprobe >= max(calibrated + 1, 2 * calibrated) and not index.calibration_due
    release.set()
    delattr(index, "calibrate")
    assert isinstance(man.calibrations, calibration.Calibrations)
    s.close()  # waits for it (or calibrates) before saving
    book = json.loads((ann_folder(db_path) / "c.json").read_text())
    assert book["clean"] and book["calibrated_rows"] == 4_000 and book["rows"] == 4_000
    s = MilvusStore(db_path)
    try:
        assert s._ann is not None and s._ann.trusted  # the clean-close stamp matched
        assert [r[0].key for r in s.search("c", x[:5], 1)] == keys_of(5)
        again = s._ann.indexes["c"]
        assert not again.calibration_due and "c" not in s._ann.calibrations
        assert again.nprobe == book["nprobe"] and s.count("c") == 4_000
    finally:
        s.close()

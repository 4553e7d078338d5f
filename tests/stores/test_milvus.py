"""The Milvus store on a real Lite file and on a real Milvus Lite server process (gRPC)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from pymilvus.exceptions import MilvusException

from omnivec.errors import InvalidInputError, StoreUnavailableError
from omnivec.stores import VectorStore
from omnivec.stores.milvus import INSERT_BATCH_ROWS, MilvusStore


@pytest.fixture(params=["lite", "server"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> MilvusStore:
    uri = (
        str(tmp_path / "s.db") if request.param == "lite" else request.getfixturevalue("server_uri")
    )
    s = MilvusStore(uri)
    for name in s.list_collections():  # the server fixture is shared by the session
        s.drop_collection(name)
    yield s
    s.close()


def test_is_a_vector_store(store: MilvusStore) -> None:
    assert isinstance(store, VectorStore)


@pytest.mark.parametrize("metric", ["cosine", "ip", "l2"])
def test_scores_are_higher_is_better(store: MilvusStore, metric: str) -> None:
    store.create_collection("m", 3, metric)
    vecs = np.array([[1, 0, 0], [0.8, 0.6, 0], [0, 0, 2]], dtype=np.float32)
    store.upsert("m", ["s:a", "s:b", "s:c"], vecs, [{}, {}, {}])
    q = np.array([[1, 0, 0]], dtype=np.float32)
    hits = store.search("m", q, k=3)[0]
    scores = [h.score for h in hits]
    assert scores == sorted(scores, reverse=True)
    expected = {
        "cosine": vecs @ q[0] / np.linalg.norm(vecs, axis=1),
        "ip": vecs @ q[0],
        "l2": -np.linalg.norm(vecs - q[0], axis=1),
    }[metric]
    got = {h.key: h.score for h in hits}
    for key, want in zip(["s:a", "s:b", "s:c"], expected, strict=True):
        assert got[key] == pytest.approx(float(want), abs=1e-5)


def test_upsert_get_delete_count(store: MilvusStore) -> None:
    store.create_collection("c", 4, "cosine")
    n = INSERT_BATCH_ROWS * 2 + 7  # several internal chunks
    keys = [f"i:{i}" for i in range(n)]
    vecs = np.random.default_rng(0).standard_normal((n, 4)).astype(np.float32)
    meta = [{"even": i % 2 == 0, "i": i} for i in range(n)]
    store.upsert("c", keys, vecs, meta)
    assert store.count("c") == n
    assert store.count("c", where="even == true") == (n + 1) // 2
    rows = store.get("c", ["i:3", "i:0"])
    np.testing.assert_array_equal(rows["i:3"].vector, vecs[3])
    assert rows["i:0"].metadata == {"even": True, "i": 0}
    store.upsert("c", ["i:3"], np.ones((1, 4), np.float32), [{"new": 1}])
    assert store.count("c") == n
    assert store.get("c", ["i:3"])["i:3"].metadata == {"new": 1}
    assert store.delete("c", ["i:3", "i:4", "i:999999"]) == 2
    assert store.count("c") == n - 2
    assert sorted(store.keys("c")) == sorted(set(keys) - {"i:3", "i:4"})


def test_catalog_documents(store: MilvusStore) -> None:
    store.put_doc("x", {"a": [1, 2], "b": "c"})
    assert store.get_doc("x") == {"a": [1, 2], "b": "c"}
    assert "x" in store.list_docs()
    store.delete_doc("x")
    assert store.get_doc("x") is None


def test_catalog_lists_past_one_query_limit(store: MilvusStore) -> None:
    """Listing pages through the catalog: more documents than one Milvus query answers
    (16,384) all come back, and listing keys by prefix reads no bodies of other kinds."""
    n = 16_500
    rows = [{"pk": f"collection:c{i}", "doc": "{}", "vector": [0.0, 0.0]} for i in range(n)]
    for start in range(0, n, 2_000):
        store._client.insert("_omnivec_catalog", rows[start : start + 2_000])
    store.put_doc("note:other", {"x": 1})
    keys = store.list_doc_keys("collection:")
    assert len(keys) == n and len(set(keys)) == n
    assert "note:other" not in keys
    assert store.list_docs("note:") == {"note:other": {"x": 1}}


def test_unreachable_server_is_store_unavailable() -> None:
    start = time.monotonic()
    with pytest.raises(StoreUnavailableError, match="cannot reach the Milvus server"):
        MilvusStore("http://127.0.0.1:1", timeout=2)
    assert time.monotonic() - start < 15


@pytest.mark.parametrize("name", ["no-suffix", "bad name!.db", "x" * 40 + ".db"])
def test_bad_lite_paths_are_refused(tmp_path: Path, name: str) -> None:
    with pytest.raises(InvalidInputError):
        MilvusStore(str(tmp_path / name))


def test_second_process_on_one_lite_file_is_refused(tmp_path: Path) -> None:
    import subprocess
    import sys

    db = tmp_path / "one.db"
    first = MilvusStore(str(db))
    try:
        code = (
            "import sys\nfrom omnivec.stores.milvus import MilvusStore\n"
            "from omnivec.errors import StoreUnavailableError\n"
            f"try:\n    MilvusStore({str(db)!r})\nexcept StoreUnavailableError as e:\n"
            "    print('refused:', e); sys.exit(3)\n"
        )
        out = subprocess.run(
            [sys.executable, "-c", code],
            capture_output=True,
            text=True,
            timeout=120,
            cwd=Path(__file__).resolve().parents[2],
        )
        assert out.returncode == 3, out.stdout + out.stderr
        assert "one process" in out.stdout
    finally:
        first.close()


def test_connect_retries_only_a_transient_goaway() -> None:
    """A GOAWAY ("too many pings") on connect is retried; any other failure is not. The
    failures are what pymilvus raises: code 2 (CONNECT_FAILED) from gRPC's RPC error."""
    import grpc

    from omnivec.stores import connection as m

    class Rpc(grpc.RpcError):
        def __init__(self, details: str) -> None:
            super().__init__(details)
            self._details = details

        def code(self) -> grpc.StatusCode:
            return grpc.StatusCode.UNAVAILABLE

        def details(self) -> str:
            return self._details

    class Flaky:
        calls = 0

        def __init__(self, **kwargs: object) -> None:
            type(self).calls += 1
            if type(self).calls == 1:
                cause = Rpc("GOAWAY received; Error code: 11; Debug data: too_many_pings")
                raise MilvusException(code=2, message="Fail connecting to server") from cause

    assert isinstance(m.connect_client(Flaky, "http://127.0.0.1:1", "", 1.0), Flaky)
    assert Flaky.calls == 2

    class Refused:
        calls = 0

        def __init__(self, **kwargs: object) -> None:
            type(self).calls += 1
            cause = Rpc("failed to connect to all addresses; Connection refused")
            try:
                raise MilvusException(code=2, message="Fail connecting to server") from cause
            except MilvusException as err:
                raise err from err  # pymilvus chains errors to themselves like this

    with pytest.raises(MilvusException):
        m.connect_client(Refused, "http://127.0.0.1:1", "", 1.0)
    assert Refused.calls == 1


def test_rows_without_metadata_take_the_prebuilt_request(
    store: MilvusStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Vectors-only rows go through one prebuilt request (omnivec.stores.requests) and read
    back bit for bit; rows with metadata go through the client; an upsert replaces whole rows
    either way, on a Lite file and on a server."""
    from omnivec.stores import milvus as milvus_module

    sent: list[bool] = []
    real = milvus_module.send_vectors

    def spy(*args, **kwargs):  # type: ignore[no-untyped-def]
        sent.append(real(*args, **kwargs))
        return sent[-1]

    monkeypatch.setattr(milvus_module, "send_vectors", spy)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((1_200, 24)).astype(np.float32)
    keys = [f"s:{i}" for i in range(1_200)]
    store.create_collection("p", 24, "l2", index="flat")
    store.upsert("p", keys, x, [{} for _ in keys])
    assert sent and all(sent)  # every chunk through the prebuilt request
    assert store.count("p") == 1_200
    rows = store.get("p", keys[::97])
    for key in keys[::97]:
        np.testing.assert_array_equal(rows[key].vector, x[int(key[2:])])
        assert rows[key].metadata == {}
    # Plain JSON metadata is written into the prebuilt request as pymilvus would write it
    # (orjson); values orjson does not take as they are (numpy scalars) go through the client.
    meta = [{"a": 1}, {"a": 2.5, "t": "猫 ü", "l": [1, None, True]}, {"a": 3}]
    store.upsert("p", keys[:3], -x[:3], meta)
    assert sent[-1] is True
    got = store.get("p", keys[:3])
    assert [got[k].metadata for k in keys[:3]] == meta
    store.upsert("p", keys[:1], -x[:1], [{"a": np.int64(7)}])
    assert sent[-1] is False
    assert store.get("p", ["s:0"])["s:0"].metadata == {"a": 7}
    store.upsert("p", keys[:3], x[:3], [{}, {}, {}])
    got = store.get("p", keys[:3])
    assert [got[k].metadata for k in keys[:3]] == [{}, {}, {}]
    np.testing.assert_array_equal(got["s:2"].vector, x[2])
    assert store.count("p") == 1_200
    hits = store.search("p", x[7:8], k=1)[0]
    assert hits[0].key == "s:7" and hits[0].score == pytest.approx(0.0, abs=1e-4)


def test_opening_waits_for_a_lite_server_slow_to_open_its_socket(
    db_path: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A started milvus-lite process that has not opened its socket yet is waited for (seen
    on loaded machines: the first connection attempt fails with no socket file)."""
    from omnivec.stores import lite

    attempts: list[bool] = []
    real = lite._connect_started

    def slow_first(uri: str, connect: Any) -> Any:
        assert lite._lite_server_running(uri)  # the real process, just started

        def flaky() -> Any:
            attempts.append(True)
            if len(attempts) < 3:  # what pymilvus raises while the socket file is missing
                raise MilvusException(code=2, message="Fail connecting to server on unix:")
            return connect()

        return real(uri, flaky)

    monkeypatch.setattr(lite, "_connect_started", slow_first)
    store = MilvusStore(db_path)
    try:
        store.create_collection("c", 4, "cosine")
        assert store.has_collection("c") and len(attempts) == 3
    finally:
        store.close()
    assert not lite._lite_server_running(db_path)
    # A process that is gone, or a failure that waiting will not cure, stands at once.
    running = {"now": False}
    monkeypatch.setattr(lite, "_lite_server_running", lambda uri: running["now"])

    def refused(exc: Exception) -> Any:
        def connect() -> None:
            attempts.append(True)
            raise exc

        return connect

    with pytest.raises(FileNotFoundError, match="No such file"):
        real(db_path, refused(FileNotFoundError(2, "No such file or directory")))
    running["now"] = True
    # The text "unavailable" in a refusal does not make it an outage: its code decides.
    with pytest.raises(MilvusException, match="token"):
        real(db_path, refused(MilvusException(code=1800, message="bad token, unavailable")))
    assert len(attempts) == 5

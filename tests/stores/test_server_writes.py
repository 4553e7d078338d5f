"""Writes over a Milvus server URI (the gRPC path a cluster uses), where other processes write
too: Milvus' own upsert semantics keep one row per id, and a failed rollback is reported."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

import omnivec as ov
from omnivec.errors import StoreError
from omnivec.stores.milvus import MilvusStore

pytestmark = pytest.mark.server

WRITER = textwrap.dedent(
    """
    import sys, time
    import numpy as np
    import omnivec as ov

    uri, name, start_at, seed = sys.argv[1], sys.argv[2], float(sys.argv[3]), int(sys.argv[4])
    with ov.connect(uri) as plat:
        col = plat.collection(name, dim=8, metric="cosine")
        vecs = np.random.default_rng(seed).normal(size=(300, 8)).astype(np.float32)
        ids = [f"id-{i}" for i in range(300)]
        while time.time() < start_at:
            time.sleep(0.001)
        for lo in range(0, 300, 50):
            col.add(vectors=vecs[lo : lo + 50], ids=ids[lo : lo + 50],
                    metadata=[{"writer": seed}] * 50)
    print("ok")
    """
)


@pytest.fixture
def fresh_name(server_uri: str, request: pytest.FixtureRequest) -> Iterator[str]:
    name = "race_" + request.node.name.replace("[", "_").replace("]", "").replace("-", "_")
    with ov.connect(server_uri) as plat:
        plat.drop(name)
    yield name
    with ov.connect(server_uri) as plat:
        plat.drop(name)


def test_two_processes_adding_the_same_new_ids_keep_one_row_each(
    server_uri: str, fresh_name: str, tmp_path: Path
) -> None:
    import time

    with ov.connect(server_uri) as plat:
        plat.collection(fresh_name, dim=8, metric="cosine")
    script = tmp_path / "writer.py"
    script.write_text(WRITER)
    start_at = time.time() + 4.0  # both processes are connected by then
    procs = [
        subprocess.Popen(
            [sys.executable, str(script), server_uri, fresh_name, str(start_at), str(seed)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for seed in (1, 2)
    ]
    for p in procs:
        _out, err = p.communicate(timeout=180)
        assert p.returncode == 0, err[-2000:]
    with ov.connect(server_uri) as plat:
        col = plat.collection(fresh_name)
        store = plat.store
        assert isinstance(store, MilvusStore)
        # Count with Strong consistency: every acknowledged write is visible.
        rows = store._client.query(  # the raw count, not omnivec's view of it
            fresh_name, filter='pk != ""', output_fields=["pk"], consistency_level="Strong"
        )
        keys = [r["pk"] for r in rows]
        assert len(keys) == len(set(keys)) == 300
        assert len(col) == 300
        got = col.get([f"id-{i}" for i in range(300)])
        assert {r.metadata["writer"] for r in got} <= {1, 2}


def test_a_failed_rollback_is_reported_not_swallowed(server_uri: str, fresh_name: str) -> None:
    store = MilvusStore(server_uri)
    try:
        store.create_collection(fresh_name, 4, "cosine")
        ones = np.ones((3, 4), np.float32)
        store.upsert(fresh_name, ["s:a", "s:b", "s:c"], ones, [{}] * 3)
        real_write, real_delete = store._write, store._client.delete
        calls = {"n": 0}

        def failing_write(*args: object, **kwargs: object) -> None:
            calls["n"] += 1
            if calls["n"] == 2:
                raise StoreError("injected: the second chunk fails")
            real_write(*args, **kwargs)  # type: ignore[arg-type]

        def failing_delete(*args: object, **kwargs: object) -> None:
            raise ConnectionError("injected: the store went away while undoing")

        store._write = failing_write  # type: ignore[method-assign]
        store._client.delete = failing_delete
        import omnivec.stores.milvus as milvus

        rows_per_call = milvus.INSERT_BATCH_ROWS
        milvus.INSERT_BATCH_ROWS = 2
        try:
            keys = ["s:x", "s:y", "s:z", "s:w"]
            with pytest.raises(StoreError, match="undoing it failed too") as info:
                store.upsert(fresh_name, keys, np.ones((4, 4), np.float32), [{}] * 4)
            assert "may remain" in str(info.value)
        finally:
            milvus.INSERT_BATCH_ROWS = rows_per_call
            store._write = real_write  # type: ignore[method-assign]
            store._client.delete = real_delete
    finally:
        store.close()

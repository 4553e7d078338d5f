"""Concurrency: threads sharing one collection lose no rows and see no errors; a second
process opening the same Lite file gets a clear StoreUnavailableError, never a hang."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

import omnivec as ov
from omnivec.errors import StoreUnavailableError

ROOT = Path(__file__).resolve().parent.parent
DIM = 16


def test_threads_adding_and_searching(plat: ov.Platform) -> None:
    col = plat.collection("shared", dim=DIM, metric="cosine")
    writers, batches, size = 4, 10, 50
    errors: list[BaseException] = []
    searches = [0]
    done = threading.Event()

    def vectors(w: int, b: int) -> np.ndarray:
        return np.random.default_rng(w * 1000 + b).standard_normal((size, DIM)).astype(np.float32)

    def writer(w: int) -> None:
        try:
            for b in range(batches):
                col.add(
                    vectors=vectors(w, b),
                    ids=[f"w{w}-b{b}-{i}" for i in range(size)],
                    metadata=[{"w": w, "b": b}] * size,
                )
        except BaseException as exc:  # noqa: BLE001 - collected and asserted below
            errors.append(exc)

    def reader() -> None:
        rng = np.random.default_rng(7)
        try:
            while not done.is_set():
                hits = col.search(ov.vector(rng.standard_normal(DIM)), k=5, where="w >= 0")
                scores = [h.score for h in hits]
                assert scores == sorted(scores, reverse=True)
                len(col)
                searches[0] += 1
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(w,)) for w in range(writers)]
    readers = [threading.Thread(target=reader) for _ in range(2)]
    for t in threads + readers:
        t.start()
    for t in threads:
        t.join(120)
    done.set()
    for t in readers:
        t.join(30)
    assert errors == []
    assert searches[0] > 0
    assert len(col) == writers * batches * size
    # Every row is there with its own vector.
    for w in range(writers):
        got = col.get([f"w{w}-b{batches - 1}-{i}" for i in range(size)])
        np.testing.assert_array_equal(np.stack([r.vector for r in got]), vectors(w, batches - 1))
    hit = col.search(ov.vector(vectors(2, 3)[4]), k=1)[0]
    assert hit.id == "w2-b3-4" and hit.metadata == {"w": 2, "b": 3}


def test_threads_replacing_the_same_ids(plat: ov.Platform) -> None:
    """Writers racing on the same ids: every row ends as one writer's whole version."""
    col = plat.collection("race", dim=DIM, metric="l2")
    ids = list(range(200))
    errors: list[BaseException] = []

    def writer(w: int) -> None:
        try:
            for _ in range(5):
                col.add(
                    vectors=np.full((200, DIM), w, np.float32), ids=ids, metadata=[{"w": w}] * 200
                )
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(w,)) for w in range(1, 4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert errors == []
    assert len(col) == 200
    for r in col.get(ids):
        assert r.metadata["w"] in (1, 2, 3)
        assert (r.vector == r.metadata["w"]).all()  # vector and metadata of the same write


def _open_in_child(db: str) -> subprocess.CompletedProcess[str]:
    code = (
        "import sys, time, omnivec as ov\n"
        "from omnivec.errors import StoreUnavailableError\n"
        "t = time.monotonic()\n"
        "try:\n"
        "    ov.connect(sys.argv[1])\n"
        "    print('opened')\n"
        "except StoreUnavailableError as e:\n"
        "    print('unavailable', round(time.monotonic() - t, 2), e)\n"
    )
    return subprocess.run(
        [sys.executable, "-c", code, db],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PYTHONWARNINGS": "ignore"},
    )


def test_second_process_is_refused_clearly(tmp_path: Path) -> None:
    db = str(tmp_path / "shared.db")
    with ov.connect(db) as plat:
        col = plat.collection("c", dim=DIM)
        col.add(vectors=np.ones((3, DIM)), ids=[1, 2, 3])
        # Three tries: milvus-lite 2.5.1 alone lets the third one in (a failed open deletes
        # its lock file); omnivec's own lock refuses them all.
        for _ in range(3):
            out = _open_in_child(db)
            assert out.stdout.startswith("unavailable"), out.stdout + out.stderr[-2000:]
            line = out.stdout.strip()
            assert "open in another process" in line and "\n" not in line
            assert float(line.split()[1]) < 5  # answered, not hung
        # The owner is unaffected.
        col.add(vectors=np.zeros((1, DIM)) + 2, ids=[4])
        assert len(col) == 4
    # Once closed, the file is free for another process.
    assert _open_in_child(db).stdout.strip() == "opened"
    with ov.connect(db) as plat:
        assert len(plat.collection("c")) == 4


def test_same_process_second_platform_shares_the_file(tmp_path: Path) -> None:
    """Two Platforms on one file in one process share milvus-lite's server; closing one
    leaves the other working."""
    db = str(tmp_path / "twice.db")
    first = ov.connect(db)
    second = ov.connect(db)
    try:
        first.collection("c", dim=DIM).add(vectors=np.ones((2, DIM)), ids=["a", "b"])
        first.close()
        assert len(second.collection("c")) == 2
        second.collection("c").add(vectors=np.ones((1, DIM)), ids=["c"])
        assert len(second.collection("c")) == 3
    finally:
        second.close()


def test_refusal_is_fast_while_held(tmp_path: Path) -> None:
    db = str(tmp_path / "held.db")
    with ov.connect(db):
        t0 = time.monotonic()
        out = _open_in_child(db)
        assert time.monotonic() - t0 < 30
        assert "unavailable" in out.stdout
    with pytest.raises(StoreUnavailableError):
        raise StoreUnavailableError(out.stdout.split(" ", 2)[2].strip())

"""Crash safety: SIGKILL a process mid-ingest, reopen its Lite file, lose no acknowledged row.

The child (``tests/crash_child.py``) prints each batch it sends and each one ``add``
acknowledged; the test kills it at a chosen line, reopens the file in this process (the
store waits for the killed process's milvus-lite server to exit) and checks every
acknowledged row, id and vector, and that the collection still takes adds and searches.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import omnivec as ov
from tests.crash_child import COLLECTION, batch_ids, batch_vectors, replacement_vectors
from tests.helpers.crash import reopen, run_child


def check_rows(col: ov.Collection, batch: int, size: int, dim: int) -> None:
    """Every row of an acknowledged batch is there with its exact vector and metadata."""
    records = col.get(batch_ids(batch, size))
    got = np.stack([r.vector for r in records])
    np.testing.assert_array_equal(got, batch_vectors(batch, size, dim))
    assert [r.metadata for r in records] == [{"batch": batch, "i": i} for i in range(size)]


def check_partial(col: ov.Collection, batch: int, size: int, dim: int) -> int:
    """Rows of the batch in flight at the kill are intact where present; returns how many."""
    ids = batch_ids(batch, size)
    present = set(col.ids(where=f"batch == {batch}"))
    assert present <= set(ids)
    if present:
        order = [i for i in ids if i in present]
        got = np.stack([r.vector for r in col.get(order)])
        want = batch_vectors(batch, size, dim)[[ids.index(i) for i in order]]
        np.testing.assert_array_equal(got, want)
    return len(present)


def check_usable(col: ov.Collection, some_id: str, dim: int) -> None:
    """The reopened collection takes a new batch and answers searches."""
    before = len(col)
    extra = np.random.default_rng(99).standard_normal((10, dim)).astype(np.float32)
    col.add(vectors=extra, ids=[f"after-{i}" for i in range(10)])
    assert len(col) == before + 10
    hits = col.search(ov.vector(extra[3]), k=3)
    assert hits[0].id == "after-3" and hits[0].score == pytest.approx(1.0, abs=1e-5)
    assert len(col.search(ov.ref(some_id), k=5)) == 5


def test_kill_after_first_ack(tmp_path: Path) -> None:
    db = str(tmp_path / "crash.db")
    run = run_child(db, "ack 0 200")
    assert run.acked == [0]
    with reopen(db) as plat:
        col = plat.collection(COLLECTION)
        check_rows(col, 0, 200, 16)
        partial = sum(check_partial(col, b, 200, 16) for b in set(run.begun) - set(run.acked))
        assert len(col) == 200 + partial
        check_usable(col, "b0-0", 16)


def test_kill_after_five_acks(tmp_path: Path) -> None:
    db = str(tmp_path / "crash.db")
    run = run_child(db, "ack 4 1000")
    assert run.acked == [0, 1, 2, 3, 4]
    with reopen(db) as plat:
        col = plat.collection(COLLECTION)
        for b in run.acked:
            check_rows(col, b, 200, 16)
        partial = sum(check_partial(col, b, 200, 16) for b in set(run.begun) - set(run.acked))
        assert len(col) == 1000 + partial
        check_usable(col, "b4-199", 16)


def test_kill_between_chunks_of_a_batch(tmp_path: Path) -> None:
    """Killed after 2 of the 4 internal writes of batch 2: batches 0-1 whole, batch 2 half."""
    db = str(tmp_path / "crash.db")
    run = run_child(db, "chunk 2 1", "--batch-size", "2000", "--pause-at", "2:1")
    assert run.acked == [0, 1]
    with reopen(db) as plat:
        col = plat.collection(COLLECTION)
        for b in run.acked:
            check_rows(col, b, 2000, 16)
        # A batch cut by a crash is not rolled back (no process is left to do it); what it
        # wrote is intact, and re-running the same add completes it (ids are upserted).
        assert check_partial(col, 2, 2000, 16) == 1000
        col.add(
            vectors=batch_vectors(2, 2000, 16),
            ids=batch_ids(2, 2000),
            metadata=[{"batch": 2, "i": i} for i in range(2000)],
        )
        check_rows(col, 2, 2000, 16)
        assert len(col) == 6000
        check_usable(col, "b2-0", 16)


def test_kill_while_a_write_is_in_flight(tmp_path: Path) -> None:
    """Killed just as the third insert RPC of batch 2 is sent (dim 384, 500-row chunks)."""
    db = str(tmp_path / "crash.db")
    # The child stops after chunk 2, so a parent slowed by a loaded machine still kills it
    # before chunk 3: the kill lands during chunk 2's RPC or just after it.
    run = run_child(db, "sending 2 2", "--batch-size", "2000", "--dim", "384", "--pause-at", "2:2")
    assert run.acked == [0, 1]
    with reopen(db) as plat:
        col = plat.collection(COLLECTION)
        for b in run.acked:
            check_rows(col, b, 2000, 384)
        partial = check_partial(col, 2, 2000, 384)
        assert partial in (1000, 1500)  # the chunk in flight is either all there or absent
        assert len(col) == 4000 + partial
        check_usable(col, "b1-5", 384)


def test_kill_while_replacing_rows(tmp_path: Path) -> None:
    """Killed half-way through a batch that replaces stored rows: each row is old or new."""
    db = str(tmp_path / "crash.db")
    run_child(db, None, "--batches", "3", "--batch-size", "2000")
    run = run_child(db, "chunk 0 1", "--replace", "--batch-size", "2000", "--pause-at", "0:1")
    assert run.acked == []
    with reopen(db) as plat:
        col = plat.collection(COLLECTION)
        assert len(col) == 6000
        for b in (1, 2):
            check_rows(col, b, 2000, 16)
        got = np.stack([r.vector for r in col.get(batch_ids(0, 2000))])
        old, new = batch_vectors(0, 2000, 16), replacement_vectors(2000, 16)
        is_new = (got == new).all(axis=1)
        assert ((got == old).all(axis=1) | is_new).all()
        assert is_new[:1000].all() and not is_new[1000:].any()
        check_usable(col, "b0-1999", 16)


def test_two_crashes_in_a_row(tmp_path: Path) -> None:
    """Killed after 3 acks, restarted at once and killed again mid-write: both runs' acks kept."""
    db = str(tmp_path / "crash.db")
    first = run_child(db, "ack 2 600")
    second = run_child(db, "sending 11 0", "--start", "10", "--batches", "5")
    assert first.acked == [0, 1, 2] and second.acked == [10]
    with reopen(db) as plat:
        col = plat.collection(COLLECTION)
        for b in first.acked + second.acked:
            check_rows(col, b, 200, 16)
        begun = set(first.begun + second.begun) - set(first.acked + second.acked)
        partial = sum(check_partial(col, b, 200, 16) for b in begun)
        assert len(col) == 800 + partial
        check_usable(col, "b10-0", 16)

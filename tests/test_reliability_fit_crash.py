"""Crash safety of ``fit``: SIGKILL a process re-fitting a node2vec collection or an ALS
recommender, reopen its Lite file, and check what is there (docs/reliability.md).

The child (``tests/crash_fit_child.py``) fits model A, then model B, printing when B's
training starts and after each vector chunk B writes. Killed during training, the file holds
model A whole; killed between two of B's chunks, the rows mix A and B, and the catalog's
"fitting" marker makes every read refuse with a one-line ``StoreError`` until a fit completes;
killed after B returned, the file holds model B whole.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

import omnivec as ov
from omnivec.errors import StoreError
from tests.crash_fit_child import NAME, fitted_vectors
from tests.helpers.crash import reopen, run_child

KINDS = ["node2vec", "rec"]


def child(db: str, kind: str, kill_on: str | None, pause: str | None = None) -> list[str]:
    args = [kind] + (["--pause-at", pause] if pause else [])
    # run_child passes its extra arguments after the db path.
    return run_child(db, kill_on, *args, module="tests.crash_fit_child").lines


def stored(plat: ov.Platform, kind: str) -> dict[str, np.ndarray]:
    return fitted_vectors(plat, kind)


def same(a: dict[str, Any], b: Any) -> bool:
    return all(np.array_equal(a[k], b[k]) for k in a)


def check_usable(plat: ov.Platform, kind: str) -> None:
    if kind == "node2vec":
        col = plat.get_collection(NAME)
        hits = col.search(ov.ref(0), k=5)
        assert len(hits) == 5 and all(h.id != 0 for h in hits)
    else:
        rec = plat.recommender(NAME)
        assert len(rec.recommend("u1", k=5)) == 5
        assert len(rec.similar_items("i1", k=5)) == 5


def refused(plat: ov.Platform, kind: str) -> list[str]:
    """Every read of a half-written fit raises StoreError; returns the messages."""
    calls = (
        [
            lambda: plat.get_collection(NAME).search(ov.ref(0), k=5),
            lambda: plat.get_collection(NAME).get([0]),
            lambda: plat.get_collection(NAME).fit([(0, 1)], warm_start=True),
        ]
        if kind == "node2vec"
        else [
            lambda: plat.recommender(NAME).recommend("u1", k=5),
            lambda: plat.recommender(NAME).similar_items("i1"),
            lambda: plat.recommender(NAME).items.search(
                ov.ref("u1", collection=plat.recommender(NAME).users.name)
            ),
            lambda: plat.recommender(NAME).partial_fit([("u1", "i2")]),
        ]
    )
    messages = []
    for call in calls:
        with pytest.raises(StoreError) as info:
            call()
        text = str(info.value)
        assert "\n" not in text and "fit" in text and "again" in text, text
        messages.append(text)
    return messages


@pytest.mark.parametrize("kind", KINDS)
def test_kill_during_training_keeps_the_previous_model(tmp_path: Path, kind: str) -> None:
    db = str(tmp_path / "fit.db")
    lines = child(db, kind, "train", pause="train")
    assert lines[0] == "fitted A" and not any(x.startswith("chunk") for x in lines)
    a = np.load(db + ".A.npz")
    with reopen(db) as plat:
        assert same(stored(plat, kind), a)  # every row is A's, bit for bit
        check_usable(plat, kind)


@pytest.mark.parametrize("kind", KINDS)
def test_kill_between_vector_chunks_is_detected(tmp_path: Path, kind: str) -> None:
    db = str(tmp_path / "fit.db")
    lines = child(db, kind, "chunk 0", pause="0")
    assert lines[-1] == "chunk 0"
    a = np.load(db + ".A.npz")
    with reopen(db) as plat:
        now = stored(plat, kind)
        first = "nodes" if kind == "node2vec" else "users"
        # The first chunk (500 rows) is B's, the rest still A's: a mix of two fits ...
        changed = ~(now[first] == a[first]).all(axis=1)
        assert changed.sum() == 500 and len(now[first]) == len(a[first])
        # ... which every read refuses, saying what to do.
        refused(plat, kind)
    # A new fit (another process) completes and clears the marker.
    assert child(db, kind, None)[-1] == "fitted B"
    b = np.load(db + ".B.npz")
    with reopen(db) as plat:
        assert same(stored(plat, kind), b)
        check_usable(plat, kind)


@pytest.mark.parametrize("kind", KINDS)
def test_kill_after_fit_returned_keeps_the_new_model(tmp_path: Path, kind: str) -> None:
    db = str(tmp_path / "fit.db")
    lines = child(db, kind, "fitted B")
    assert "fitted A" in lines
    a, b = np.load(db + ".A.npz"), np.load(db + ".B.npz")
    with reopen(db) as plat:
        now = stored(plat, kind)
        assert same(now, b) and not same(now, a)
        check_usable(plat, kind)

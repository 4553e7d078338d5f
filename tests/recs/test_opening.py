"""A recommender comes to exist the way every collection does: its catalog record first (as
``"creating"``), then each of its collections through the platform's one creation path, then
``"ready"``. A crash anywhere in between leaves nothing that ``plat.recommender(name)`` cannot
finish and nothing that ``plat.drop(name)`` leaves behind.

A crash is a store call that raises (on one chosen call, after the calls before it went
through to the real Milvus Lite file); the state it leaves is then opened by a new Platform
object on the same file, with nothing cached.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

import omnivec as ov
from omnivec.errors import InvalidInputError, StoreError
from omnivec.recs.evaluation import synthetic_interactions
from omnivec.recs.seen import SeenHistories

CFG: dict[str, Any] = {
    "factors": 8,
    "iterations": 5,
    "regularization": 0.05,
    "random_state": 1,
    "num_threads": 1,
}
PARTS = ("r__users", "r__items", "r__seen")

# The store calls of creating recommender "r": put_doc 1 its record ("creating"); for each of
# users, items and the histories a put_doc of the collection's record ("creating"), its
# create_collection and a put_doc ("ready"); upsert 1 the histories' tag row; put_doc 8 the
# recommender's record ("ready").
CRASHES = [
    ("put_doc", 1),
    ("put_doc", 2),
    ("create_collection", 1),  # the recommender's and users' records written, no Milvus yet
    ("put_doc", 3),  # users' Milvus collection made, its record still "creating"
    ("create_collection", 2),
    ("create_collection", 3),
    ("upsert", 1),
    ("put_doc", 8),
]


def crash_on(monkeypatch: pytest.MonkeyPatch, plat: ov.Platform, method: str, nth: int) -> None:
    """Make ``plat.store.<method>`` raise on its ``nth`` call from now on."""
    calls = 0
    real: Callable[..., Any] = getattr(plat.store, method)

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        nonlocal calls
        calls += 1
        if calls == nth:
            raise StoreError(f"injected crash: {method} call {nth}")
        return real(*args, **kwargs)

    monkeypatch.setattr(plat.store, method, wrapper)


def assert_no_ready_record_without_milvus(plat: ov.Platform) -> None:
    # plat.collections() leaves the histories out: check every part's record by name too.
    for name in set(plat.collections()) | set(PARTS):
        record = plat.collection_record(name)
        if record is None:
            continue
        if record.status == "ready":
            assert plat.store.has_collection(record.milvus_name(name)), name


def assert_gone(plat: ov.Platform) -> None:
    assert not plat.has_recommender("r")
    assert not set(PARTS) & set(plat.collections())
    assert not set(PARTS) & set(plat.store.list_collections())


@pytest.mark.parametrize(("method", "nth"), CRASHES, ids=[f"{m}{n}" for m, n in CRASHES])
def test_a_crash_while_creating_is_finished_by_reopening(
    plat: ov.Platform, db_path: str, monkeypatch: pytest.MonkeyPatch, method: str, nth: int
) -> None:
    crash_on(monkeypatch, plat, method, nth)
    with pytest.raises(StoreError, match="injected crash"):
        plat.recommender("r", algorithm="als", **CFG)
    data = synthetic_interactions(40, 15, per_user=4, seed=3)
    with ov.connect(db_path) as again:
        assert_no_ready_record_without_milvus(again)
        doc = again.recommender_record("r")
        if (method, nth) == ("put_doc", 1):
            assert doc is None and not again.collections()  # nothing was written
            rec = again.recommender("r", algorithm="als", **CFG)
        else:
            assert doc is not None and doc.status == "creating"
            rec = again.recommender("r")  # finishes the creation with the recorded settings
        doc = again.recommender_record("r")
        assert doc is not None and doc.status == "ready" and doc.options["seen"] == "r__seen"
        for part in PARTS:
            record = again.collection_record(part)
            assert record is not None and record.status == "ready" and record.recommender == "r"
            assert again.store.has_collection(part)
        assert SeenHistories.owner(again.store, "r__seen") == "r"
        rec.fit(data)
        hits = rec.recommend("u1", k=3)
        assert len(hits) == 3 and not {h.id for h in hits} & set(rec.history("u1"))
        assert rec.history("u1")
        want = [h.id for h in hits]
    with ov.connect(db_path) as third:
        assert [h.id for h in third.recommender("r").recommend("u1", k=3)] == want
        assert third.drop("r")
        assert_gone(third)


@pytest.mark.parametrize(("method", "nth"), [("create_collection", 2), ("put_doc", 8)])
def test_a_half_created_recommender_drops_entirely(
    plat: ov.Platform, db_path: str, monkeypatch: pytest.MonkeyPatch, method: str, nth: int
) -> None:
    crash_on(monkeypatch, plat, method, nth)
    with pytest.raises(StoreError, match="injected crash"):
        plat.recommender("r", algorithm="bpr", **CFG)
    with ov.connect(db_path) as again:
        assert again.has_recommender("r")
        assert again.drop("r")
        assert_gone(again)
        # nothing is in the way of the name
        rec = again.recommender("r", algorithm="als", **CFG)
        rec.fit(synthetic_interactions(30, 10, per_user=3, seed=1))
        assert rec.recommend("u1", k=2)


def test_every_part_is_a_recorded_collection_and_drop_removes_each(plat: ov.Platform) -> None:
    rec = plat.recommender("r", algorithm="als", **CFG)
    assert {p: plat.collection_record(p).role for p in PARTS} == {  # type: ignore[union-attr]
        "r__users": "users",
        "r__items": "items",
        "r__seen": "seen",
    }
    rec.fit(synthetic_interactions(30, 10, per_user=3, seed=1))
    # a recommender fitted before its histories had a catalog record: dropped by their tag
    plat.store.delete_doc("collection:r__seen")
    assert plat.store.has_collection("r__seen")
    assert plat.drop("r")
    assert_gone(plat)
    assert not plat.drop("r")


def test_parts_listed_and_factor_model_trained_only_by_the_recommender(
    plat: ov.Platform,
) -> None:
    rec = plat.recommender("r", algorithm="als", **CFG)
    rec.fit(synthetic_interactions(30, 10, per_user=3, seed=1))
    # the histories hold no vectors to search: not listed among the user's collections
    assert {"r__users", "r__items"} <= set(plat.collections())
    assert "r__seen" not in plat.collections()
    before = rec.users.vectors()[1].copy()
    model = rec.users.encoder
    assert model.space == rec.space  # read-only view of the recommender's factor model
    for attempt in (model.fit, model.partial_fit):
        with pytest.raises(InvalidInputError, match=r"rec\.fit"):
            attempt(synthetic_interactions(30, 10, per_user=3, seed=2))
    assert (rec.users.vectors()[1] == before).all()
    assert rec.recommend(rec.users.ids()[0], k=3)

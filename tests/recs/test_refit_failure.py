"""Compute first, commit after: a ``fit`` or ``partial_fit`` that fails — in training or in the
store — leaves every stored row, every catalog record and every in-memory structure (encoder
factors, snapshot, collection records, seen histories) exactly as before.

Failures are injected around the real Milvus Lite store of the platform (its ``upsert``,
``delete`` or ``put_doc`` raises on one chosen call, after the calls before it went through to
Milvus); the model is real implicit.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

import omnivec as ov
from omnivec.errors import EncoderError, InvalidInputError, StoreError
from omnivec.recs.evaluation import synthetic_interactions

CFG: dict[str, Any] = {
    "factors": 8,
    "iterations": 5,
    "regularization": 0.05,
    "random_state": 1,
    "num_threads": 1,
}
N_USERS, N_ITEMS = 120, 50
USERS = ["u0", "u1", "u7", "u42"]
FOLD = [(3, 2.0), (5, 1.0), (8, 1.0)]
PARTIAL = [("u1", 4, 3.0), ("u1", 9, 1.0), ("newbie", 3, 1.0)]


def data_a() -> pd.DataFrame:
    return synthetic_interactions(N_USERS, N_ITEMS, per_user=8, seed=1)


def data_b() -> pd.DataFrame:
    """Another fit: other histories, users u100.. and item 49 dropped (stale rows), new users."""
    df = synthetic_interactions(N_USERS, N_ITEMS, per_user=8, seed=2)
    df = df[~df["user"].isin([f"u{i}" for i in range(100, N_USERS)]) & (df["item"] != 49)]
    extra = pd.DataFrame({"user": ["w1", "w1", "w2"], "item": [1, 2, 3], "weight": 1.0})
    return pd.concat([df, extra], ignore_index=True)


def open_fitted(path: Path) -> tuple[ov.Platform, Any]:
    plat = ov.connect(str(path))
    rec = plat.recommender("movies", algorithm="als", **CFG)
    rec.fit(
        data_a(),
        item_metadata={i: {"genre": ("a", "b")[i % 2]} for i in range(N_ITEMS)},
        user_metadata={"u1": {"country": "NZ"}},
    )
    return plat, rec


@pytest.fixture
def world(tmp_path: Path) -> Iterator[tuple[ov.Platform, Any]]:
    plat, rec = open_fitted(tmp_path / "a.db")
    with plat:
        yield plat, rec


@pytest.fixture
def reference(tmp_path: Path) -> Iterator[Any]:
    """The same fit in another file, never failed: what partial_fit must give."""
    plat, rec = open_fitted(tmp_path / "ref.db")
    with plat:
        yield rec


def stored(plat: ov.Platform, rec: Any) -> dict[str, Any]:
    """Every row of the recommender's collections (its histories too) and its catalog records,
    straight from the store."""
    out: dict[str, Any] = {}
    for name in (rec.users.name, rec.items.name, rec.name + "__seen"):
        if not plat.store.has_collection(name):
            out[name] = None
            continue
        keys = sorted(plat.store.keys(name))
        rows = plat.store.get(name, keys)
        out[name] = {
            k: (rows[k].vector.tobytes(), json.dumps(rows[k].metadata, sort_keys=True))
            for k in keys
        }
    for doc in (f"recommender:{rec.name}", f"collection:{rec.users.name}"):
        out[doc] = plat.store.get_doc(doc)
    out[f"collection:{rec.items.name}"] = plat.store.get_doc(f"collection:{rec.items.name}")
    return out


def in_memory(rec: Any) -> dict[str, Any]:
    enc = rec.encoder
    return {
        "snapshot": rec._snapshot,  # the very same object: not rebuilt, not dropped
        "space": rec.space,
        "encoder_space": enc.space,
        "state": enc.state_dict(),
        "user_ids": enc.ids("user"),
        "item_ids": enc.ids("item"),
        "user_factors": enc.factors("user").copy(),
        "item_factors": enc.factors("item").copy(),
        "records": (rec.users.record.to_doc(), rec.items.record.to_doc()),
    }


def answers(rec: Any) -> dict[str, Any]:
    def hits(rows: list[ov.Hit]) -> list[tuple[Any, float, dict[str, Any]]]:
        return [(h.id, round(h.score, 5), h.metadata) for h in rows]

    return {
        "one": hits(rec.recommend("u1", k=5)),
        "batch": [hits(r) for r in rec.recommend(USERS, k=5)],
        "where": [hits(r) for r in rec.recommend(USERS, k=5, where='genre == "a"')],
        "fold_in": hits(rec.recommend("stranger", k=5, interactions=FOLD)),
        "similar_users": hits(rec.similar_users("u1", k=3)),
        "similar_items": hits(rec.similar_items(3, k=3)),
        "history": rec.history("u1"),
        "users": sorted(rec.users.ids(), key=str),
    }


def assert_same_memory(a: dict[str, Any], b: dict[str, Any]) -> None:
    assert a["snapshot"] is b["snapshot"]
    for key in ("space", "encoder_space", "state", "user_ids", "item_ids", "records"):
        assert a[key] == b[key], key
    for key in ("user_factors", "item_factors"):
        np.testing.assert_array_equal(a[key], b[key])


class FailOn:
    """Make ``plat.store.<method>`` raise on its ``nth`` call from now on (once); the calls
    before it run on the real store."""

    def __init__(
        self, monkeypatch: pytest.MonkeyPatch, plat: ov.Platform, method: str, nth: int
    ) -> None:
        self.calls = 0
        real: Callable[..., Any] = getattr(plat.store, method)

        def wrapper(*args: Any, **kwargs: Any) -> Any:
            self.calls += 1
            if self.calls == nth:
                raise StoreError(f"injected: {method} call {nth} failed")
            return real(*args, **kwargs)

        monkeypatch.setattr(plat.store, method, wrapper)


# upsert 1: users, 2: items, 3: the seen histories' rows; delete 1: stale users, 2: stale
# items, 3: stale histories; put_doc 1-3: the fit markers, 4-6: the commit (6: the last step).
FIT_FAILURES = [
    ("upsert", 1),
    ("upsert", 2),
    ("upsert", 3),
    ("delete", 1),
    ("delete", 2),
    ("delete", 3),
    ("put_doc", 1),
    ("put_doc", 4),
    ("put_doc", 6),
]


@pytest.mark.parametrize(("method", "nth"), FIT_FAILURES, ids=[f"{m}{n}" for m, n in FIT_FAILURES])
def test_store_failure_mid_refit_changes_nothing(
    world: tuple[ov.Platform, Any],
    reference: Any,
    monkeypatch: pytest.MonkeyPatch,
    method: str,
    nth: int,
) -> None:
    plat, rec = world
    rows, memory, said = stored(plat, rec), in_memory(rec), answers(rec)
    with monkeypatch.context() as patch:
        failing = FailOn(patch, plat, method, nth)
        with pytest.raises(StoreError, match="injected"):
            rec.fit(data_b())
        assert failing.calls >= nth  # the failure happened where it was meant to
    assert stored(plat, rec) == rows
    assert_same_memory(in_memory(rec), memory)
    assert answers(rec) == said
    # partial_fit after the failed refit gives what it gives on a model that never failed
    rec.partial_fit(PARTIAL)
    reference.partial_fit(PARTIAL)
    assert answers(rec) == answers(reference)
    np.testing.assert_array_equal(
        rec.users.get(["u1", "newbie"])[0].vector, reference.users.get(["u1", "newbie"])[0].vector
    )
    # ... and the next refit goes through
    rec.fit(data_b())
    assert "w1" in rec.users.ids() and "u100" not in rec.users.ids()
    assert rec.recommend("w1", k=3)


def test_a_reopen_after_a_failed_refit_sees_the_old_model(
    world: tuple[ov.Platform, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    plat, rec = world
    said = answers(rec)
    with monkeypatch.context() as patch:
        FailOn(patch, plat, "upsert", 2)
        with pytest.raises(StoreError):
            rec.fit(data_b())
    plat.close()
    with ov.connect(str(tmp_path / "a.db")) as again:
        assert answers(again.recommender("movies")) == said


PARTIAL_FAILURES = [("upsert", 1), ("upsert", 2)]


@pytest.mark.parametrize(
    ("method", "nth"), PARTIAL_FAILURES, ids=[f"{m}{n}" for m, n in PARTIAL_FAILURES]
)
def test_store_failure_mid_partial_fit_changes_nothing(
    world: tuple[ov.Platform, Any], monkeypatch: pytest.MonkeyPatch, method: str, nth: int
) -> None:
    """upsert 1: the user rows, 2: their histories."""
    plat, rec = world
    rows, memory, said = stored(plat, rec), in_memory(rec), answers(rec)
    with monkeypatch.context() as patch:
        FailOn(patch, plat, method, nth)
        with pytest.raises(StoreError, match="injected"):
            rec.partial_fit(PARTIAL)
    assert stored(plat, rec) == rows
    assert_same_memory(in_memory(rec), memory)
    assert answers(rec) == said


def test_store_failure_while_a_history_shrinks(
    world: tuple[ov.Platform, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A history replaced by a shorter one deletes its surplus chunk rows; if that delete
    fails, the user's rows and history are as before."""
    import omnivec.recs.seen as seen

    plat, rec = world
    monkeypatch.setattr(seen, "CHUNK_BYTES", 20)  # two items per chunk row
    rec.partial_fit([("u1", i, 1.0) for i in range(10)])
    assert plat.store.get(rec.name + "__seen", ["s:u1"])["s:u1"].metadata["n"] > 3
    rows, memory, said = stored(plat, rec), in_memory(rec), answers(rec)
    with monkeypatch.context() as patch:
        FailOn(patch, plat, "delete", 1)
        with pytest.raises(StoreError, match="injected"):
            rec.partial_fit([("u1", 3, 1.0)], replace=True)
    assert stored(plat, rec) == rows
    assert_same_memory(in_memory(rec), memory)
    assert answers(rec) == said
    rec.partial_fit([("u1", 3, 1.0)], replace=True)
    assert rec.history("u1") == {3: 1.0}
    assert len(plat.store.keys(rec.name + "__seen")) == 1 + len(rec.users.ids())  # + the tag


def test_a_failing_training_step_changes_nothing(
    world: tuple[ov.Platform, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Data that parses but that training rejects (ALS factors overflow to inf on weights
    near float32's limit): the encoder never adopts anything, the store is never written."""
    plat, rec = world
    rows, memory, said = stored(plat, rec), in_memory(rec), answers(rec)
    writes: list[str] = []
    for method in ("upsert", "delete", "put_doc"):
        real = getattr(plat.store, method)

        def spy(*args: Any, _real: Any = real, _name: str = method, **kwargs: Any) -> Any:
            writes.append(_name)
            return _real(*args, **kwargs)

        monkeypatch.setattr(plat.store, method, spy)
    huge = data_b().assign(weight=3e38)
    with pytest.raises(EncoderError, match=r"training failed|diverged"):
        rec.fit(huge)
    assert writes == []
    assert stored(plat, rec) == rows
    assert_same_memory(in_memory(rec), memory)
    assert answers(rec) == said


def test_bpr_rejects_negative_weights_after_parsing_and_keeps_its_model(tmp_path: Path) -> None:
    with ov.connect(str(tmp_path / "bpr.db")) as plat:
        rec = plat.recommender("b", algorithm="bpr", factors=8, iterations=20, random_state=0)
        rec.fit(data_a())
        rows, memory, said = stored(plat, rec), in_memory(rec), answers(rec)
        bad = data_b()
        bad.loc[3, "weight"] = -1.0
        with pytest.raises(InvalidInputError, match="negative"):
            rec.fit(bad)
        assert stored(plat, rec) == rows
        assert_same_memory(in_memory(rec), memory)
        assert answers(rec) == said

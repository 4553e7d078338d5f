"""Seen histories live apart from the user rows (``<name>__seen``): a history of any length
fits (Milvus caps a row's JSON metadata at 64 KiB), ``exclude_seen`` works after a reopen and
from the store path, and no hit or user record carries a history. Round-1 files, whose user
rows hold ``seen`` / ``seen_weights``, keep working and move to the side collection on ``fit``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import omnivec as ov
from omnivec.recs.evaluation import synthetic_interactions
from omnivec.recs.seen import CHUNK_BYTES, pack

CFG: dict[str, Any] = {"factors": 8, "iterations": 5, "regularization": 0.05, "random_state": 0}
N_HEAVY = 20_000


def heavy_interactions() -> list[tuple[str, str, float]]:
    """User "heavy" saw items h0..h19999; 60 other users saw a few of those and of 100 more
    items (m0..m99) that "heavy" never saw."""
    rng = np.random.default_rng(0)
    rows = [("heavy", f"h{i}", 1.0 + (i % 3)) for i in range(N_HEAVY)]
    for u in range(60):
        for i in rng.choice(N_HEAVY, 5, replace=False):
            rows.append((f"u{u}", f"h{i}", 1.0))
        for i in rng.choice(100, 8, replace=False):
            rows.append((f"u{u}", f"m{i}", 2.0))
    return rows


def test_pack_keeps_every_chunk_under_the_cap() -> None:
    items = [f"s:item-{i:06d}" for i in range(N_HEAVY)]
    rows = pack("s:heavy", items, np.arange(N_HEAVY, dtype=np.float32))
    assert len(rows) > 1
    assert all(len(json.dumps(meta)) < 64 * 1024 for _, meta in rows)
    assert all(len(meta["items"]) <= CHUNK_BYTES for _, meta in rows)
    assert len({key for key, _ in rows}) == len(rows) and rows[0][0] == "s:heavy"


def test_a_history_over_64_kib_fits_and_is_excluded(tmp_path: Path) -> None:
    data = heavy_interactions()
    legacy_json = json.dumps({"seen": [f"h{i}" for i in range(N_HEAVY)]})
    assert len(legacy_json) > 64 * 1024  # what round 1 would have put in one metadata field
    db = str(tmp_path / "heavy.db")
    with ov.connect(db) as plat:
        rec = plat.recommender("shop", algorithm="als", **CFG)
        rec.fit(data, user_metadata={"heavy": {"tier": "gold"}})
        hits = rec.recommend("heavy", k=20)
        assert len(hits) == 20 and all(str(h.id).startswith("m") for h in hits)
        history = rec.history("heavy")
        assert len(history) == N_HEAVY and history["h5"] == 3.0
    with ov.connect(db) as plat:  # reopened: the snapshot reads the histories in bulk
        rec = plat.recommender("shop")
        hits = rec.recommend("heavy", k=20)
        assert len(hits) == 20 and all(str(h.id).startswith("m") for h in hits)
        # the store path (no snapshot) excludes them too; it over-fetches at most 16,384
        # hits (Milvus' top-k limit), all of them seen by a user who saw 20,000: none is left
        rec.snapshot_max_floats = 0
        rec._forget_snapshot()
        hits = rec.recommend(["heavy", "u1"], k=20)
        assert all(str(h.id).startswith("m") for h in hits[0])
        assert len(hits[1]) == 20 and not {h.id for h in hits[1]} & set(rec.history("u1"))
        # no history in any user row, hit or record
        assert rec.users.get(["heavy"])[0].metadata == {"tier": "gold"}
        for hit in rec.similar_users("u3", k=10):
            assert "seen" not in hit.metadata and "seen_weights" not in hit.metadata
        assert {h.id for h in rec.similar_users("u3", k=61)} >= {"heavy"}
        assert "gold" in json.dumps([h.metadata for h in rec.similar_users("u3", k=61)])
        # partial_fit reads the long history back and adds to it
        rec.partial_fit([("heavy", "m1", 4.0)])
        assert len(rec.history("heavy")) == N_HEAVY + 1
        assert "m1" not in {h.id for h in rec.recommend("heavy", k=50)}


def test_similar_users_over_http_carry_no_history(tmp_path: Path) -> None:
    from fastapi.testclient import TestClient

    from omnivec.server import create_app

    db = str(tmp_path / "http.db")
    with ov.connect(db) as plat:
        rec = plat.recommender("movies", algorithm="als", **CFG)
        rec.fit(synthetic_interactions(80, 40, per_user=6, seed=3))
        with TestClient(create_app(plat)) as client:
            r = client.post("/recommenders/movies/similar-users", json={"user": "u1", "k": 5})
            assert r.status_code == 200, r.text
            hits = r.json()["hits"]
            assert len(hits) == 5 and all("seen" not in h["metadata"] for h in hits)


def make_round_one(plat: ov.Platform, rec: Any) -> dict[str, dict[Any, float]]:
    """Turn a fitted recommender into what a round-1 file holds: histories in the user rows'
    metadata, no side collection, no ``seen`` in its catalog record. Returns the histories."""
    users = rec.users.ids()
    histories = {u: rec.history(u) for u in users}
    keys = [ov_key(u) for u in users]
    rows = plat.store.get(rec.users.name, keys)
    plat.store.upsert(
        rec.users.name,
        keys,
        np.stack([rows[k].vector for k in keys]),
        [
            {
                **rows[k].metadata,
                "seen": list(histories[u]),
                "seen_weights": list(histories[u].values()),
            }
            for u, k in zip(users, keys, strict=True)
        ],
    )
    plat.store.drop_collection(rec.name + "__seen")
    doc = plat.store.get_doc("recommender:" + rec.name)
    assert doc is not None
    doc["options"].pop("seen")
    plat.store.put_doc("recommender:" + rec.name, doc)
    return histories


def ov_key(id_: Any) -> str:
    from omnivec.core.ids import encode_id

    return encode_id(id_)


def test_round_one_files_keep_working(tmp_path: Path) -> None:
    db = str(tmp_path / "old.db")
    data = synthetic_interactions(80, 40, per_user=6, seed=4)
    with ov.connect(db) as plat:
        rec = plat.recommender("old", algorithm="als", **CFG)
        rec.fit(data)
        want = rec.recommend(["u1", "u2"], k=5)
        histories = make_round_one(plat, rec)
    with ov.connect(db) as plat:
        rec = plat.recommender("old")
        assert not plat.store.has_collection("old__seen")
        got = rec.recommend(["u1", "u2"], k=5)
        assert [[h.id for h in r] for r in got] == [[h.id for h in r] for r in want]
        assert rec.history("u1") == histories["u1"]
        # the round-1 histories never show in hits or records
        assert all("seen" not in h.metadata for h in rec.similar_users("u1", k=5))
        assert "seen" not in rec.users.get(["u1"])[0].metadata
        # a partial fit keeps the round-1 layout; exclude_seen covers the new item
        new = next(i for i in range(40) if i not in histories["u2"])
        rec.partial_fit([("u2", new, 1.0)])
        assert rec.history("u2") == {**histories["u2"], new: 1.0}
        assert new not in {h.id for h in rec.recommend("u2", k=30)}
        rec.snapshot_max_floats = 0
        rec._forget_snapshot()
        assert new not in {h.id for h in rec.recommend("u2", k=30)}
        rec.snapshot_max_floats = 10**8
        # a fit moves every history to the side collection
        rec.fit(data)
        assert plat.store.has_collection("old__seen")
        rows = plat.store.get(rec.users.name, plat.store.keys(rec.users.name))
        assert all("seen" not in r.metadata for r in rows.values())
    with ov.connect(db) as plat:
        rec = plat.recommender("old")
        assert rec.history("u2") == histories["u2"]
        assert not {h.id for h in rec.recommend("u2", k=30)} & set(histories["u2"])


def test_a_dropped_recommender_leaves_nothing_in_the_way(tmp_path: Path) -> None:
    with ov.connect(str(tmp_path / "d.db")) as plat:
        rec = plat.recommender("r", algorithm="als", **CFG)
        rec.fit(synthetic_interactions(50, 20, per_user=4, seed=1))
        assert plat.drop("r")
        again = plat.recommender("r", algorithm="als", **CFG)
        again.fit(synthetic_interactions(50, 20, per_user=4, seed=2))
        assert again.recommend("u1", k=3)
        # a collection of that name that is not a recommender's history is never taken over
        plat.drop("r")
        plat.collection("q__seen", dim=2, metric="l2")
        with pytest.raises(ov.errors.InvalidInputError, match="q__seen"):
            plat.recommender("q")

"""Recommenders end to end on a real Milvus Lite file and real implicit."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

import omnivec as ov
from omnivec.core.interactions import interactions_from
from omnivec.recs.evaluation import (
    most_popular,
    precision_at_k,
    relevant_items,
    synthetic_interactions,
    train_test_split_by_user,
)

CFG: dict[str, Any] = {"factors": 32, "iterations": 15, "regularization": 0.05, "random_state": 0}
GENRES = ("drama", "comedy", "horror", "scifi")


@pytest.fixture(scope="module")
def plat(module_plat: ov.Platform) -> ov.Platform:
    """One Lite file for the module (a Lite start costs seconds): every test below uses
    collection and recommender names of its own."""
    return module_plat


@pytest.fixture(scope="module")
def split() -> tuple[pd.DataFrame, pd.DataFrame]:
    df = synthetic_interactions(1_000, 500, per_user=30, seed=0)
    return train_test_split_by_user(df, test_fraction=0.2, seed=0)


@pytest.fixture(scope="module")
def world(
    tmp_path_factory: pytest.TempPathFactory, split: tuple[pd.DataFrame, pd.DataFrame]
) -> Iterator[tuple[ov.Platform, Any]]:
    train, _ = split
    path = str(tmp_path_factory.mktemp("recs") / "recs.db")
    with ov.connect(path) as plat:
        rec = plat.recommender("movies", algorithm="als", **CFG)
        meta = {i: {"genre": GENRES[i % 4], "year": 1950 + i % 70} for i in range(500)}
        rec.fit(train, item_metadata=meta)
        yield plat, rec


def _raw_precision(train: pd.DataFrame, relevant: dict[Any, set[Any]], **cfg: Any) -> float:
    """Raw implicit with the same hyper-parameters and seed, on its own CSR (pandas category
    codes: another row order than omnivec's), ranked with its own ``recommend``."""
    from implicit.cpu.als import AlternatingLeastSquares
    from threadpoolctl import threadpool_limits

    users = train["user"].astype("category")
    items = train["item"].astype("category")
    matrix = sp.csr_matrix(
        (train["weight"].to_numpy(np.float32), (users.cat.codes, items.cat.codes)),
        shape=(len(users.cat.categories), len(items.cat.categories)),
    )
    with threadpool_limits(1, "blas"):
        model = AlternatingLeastSquares(**cfg)
        model.fit(matrix, show_progress=False)
    row_of = {u: n for n, u in enumerate(users.cat.categories)}
    rows = np.array([row_of[u] for u in relevant])
    ids, _ = model.recommend(rows, matrix[rows], N=10, filter_already_liked_items=True)
    cats = items.cat.categories
    recs = {u: [cats[j] for j in ids[n]] for n, u in enumerate(relevant)}
    return precision_at_k(recs, relevant, 10)


def test_quality_matches_raw_implicit_and_beats_most_popular(
    world: tuple[ov.Platform, Any], split: tuple[pd.DataFrame, pd.DataFrame]
) -> None:
    _, rec = world
    train, test = split
    relevant = relevant_items(test)
    users = list(relevant)
    ours = precision_at_k(dict(zip(users, rec.recommend(users, k=10), strict=True)), relevant, 10)
    raw = _raw_precision(train, relevant, **CFG)
    popular = precision_at_k(most_popular(train, users, 10), relevant, 10)
    assert ours >= 0.9 * raw, (ours, raw)
    assert ours >= 1.5 * popular, (ours, popular)


def test_exclude_seen_never_returns_a_training_item(
    world: tuple[ov.Platform, Any], split: tuple[pd.DataFrame, pd.DataFrame]
) -> None:
    _, rec = world
    train, _ = split
    seen = relevant_items(train)
    users = sorted(seen)
    results = rec.recommend(users, k=25)
    assert len(results) == len(users)
    for user, hits in zip(users, results, strict=True):
        assert len(hits) == 25
        assert not {h.id for h in hits} & seen[user], user
        scores = [h.score for h in hits]
        assert scores == sorted(scores, reverse=True)
    # without exclusion the heaviest user's top items include things they saw
    heavy = max(users, key=lambda u: len(seen[u]))
    assert {h.id for h in rec.recommend(heavy, k=25, exclude_seen=False)} & seen[heavy]


def test_single_equals_batch_and_the_unified_query(world: tuple[ov.Platform, Any]) -> None:
    _, rec = world
    single = rec.recommend("u3", k=10)
    assert isinstance(single, list) and all(isinstance(h, ov.Hit) for h in single)
    assert [h.id for h in single] == [h.id for h in rec.recommend(["u3", "u4"], k=10)[0]]
    unified = rec.items.search(ov.ref("u3", collection=rec.users.name), k=10)
    plain = rec.recommend("u3", k=10, exclude_seen=False)
    assert [h.id for h in unified] == [h.id for h in plain]
    np.testing.assert_allclose([h.score for h in unified], [h.score for h in plain], rtol=1e-6)
    # the score is implicit's: user vector · item vector
    user_vec = rec.users.get(["u3"])[0].vector
    item_vecs = np.stack([r.vector for r in rec.items.get([h.id for h in plain])])
    np.testing.assert_allclose(item_vecs @ user_vec, [h.score for h in plain], rtol=1e-4, atol=1e-5)
    assert all(isinstance(h.id, int) for h in plain)  # item ids come back as given (int)
    assert {"genre", "year"} <= set(plain[0].metadata)


def test_where_filters_items(world: tuple[ov.Platform, Any]) -> None:
    _, rec = world
    hits = rec.recommend("u5", k=10, where='genre == "horror" and year > 1980')
    assert hits and all(h.metadata["genre"] == "horror" and h.metadata["year"] > 1980 for h in hits)


def test_similar_items_and_users_leave_the_query_out(world: tuple[ov.Platform, Any]) -> None:
    _, rec = world
    items = rec.similar_items(7, k=5)
    assert len(items) == 5 and 7 not in {h.id for h in items}
    assert [h.id for h in items] == [h.id for h in rec.items.search(ov.ref(7), k=5)]
    users = rec.similar_users("u9", k=5)
    assert len(users) == 5 and "u9" not in {h.id for h in users}


def test_unknown_users_and_items(world: tuple[ov.Platform, Any]) -> None:
    _, rec = world
    with pytest.raises(ov.errors.NotFoundError, match="nobody"):
        rec.recommend("nobody")
    with pytest.raises(ov.errors.NotFoundError, match="nobody"):
        rec.recommend(["u1", "nobody"])
    with pytest.raises(ov.errors.NotFoundError):
        rec.similar_items("no-such-item")
    with pytest.raises(ov.errors.NotFoundError):
        rec.recommend("nobody", interactions=[("no-such-item", 1.0)])
    for bad_k in (0, -1, 16_385, 2.5, True):
        with pytest.raises(ov.errors.InvalidInputError):
            rec.recommend("u1", k=bad_k)
    with pytest.raises(ov.errors.InvalidInputError):
        rec.recommend(["u1", "u2"], interactions=[(1, 1.0)])


def test_fold_in_of_a_new_user(
    world: tuple[ov.Platform, Any], split: tuple[pd.DataFrame, pd.DataFrame]
) -> None:
    _, rec = world
    train, _ = split
    history = train[train["user"] == "u12"]
    pairs = list(zip(history["item"].tolist(), history["weight"].tolist(), strict=True))
    folded = rec.recommend("stranger", k=10, interactions=pairs)
    trained = rec.recommend("u12", k=10)
    overlap = len({h.id for h in folded} & {h.id for h in trained}) / 10
    assert overlap >= 0.7
    assert not {h.id for h in folded} & set(history["item"])
    # unknown items in the history are skipped; bare ids mean weight 1
    assert rec.recommend("stranger", k=3, interactions=[*history["item"].tolist(), "new-item"])
    with pytest.raises(ov.errors.NotFoundError):
        rec.recommend("stranger")  # a fold-in is not stored


def test_bpr_scores_are_implicits(plat: ov.Platform) -> None:
    """BPR's item bias column: our hits carry exactly implicit's own recommend scores."""
    from implicit.cpu.bpr import BayesianPersonalizedRanking
    from threadpoolctl import threadpool_limits

    df = synthetic_interactions(200, 100, per_user=12, seed=4)
    cfg = {
        "factors": 16,
        "iterations": 30,
        "learning_rate": 0.05,
        "random_state": 3,
        "num_threads": 1,
    }
    rec = plat.recommender("bprs", algorithm="bpr", **cfg)
    rec.fit(df)
    assert rec.space.dim == 17
    inter = interactions_from(df)
    with threadpool_limits(1, "blas"):
        raw = BayesianPersonalizedRanking(**cfg)
        raw.fit(inter.matrix, show_progress=False)
    for row in (0, 9, 42):
        ids, scores = raw.recommend(row, inter.matrix[row], N=10)
        hits = rec.recommend(inter.user_ids[row], k=10)
        assert [h.id for h in hits] == [inter.item_ids[j] for j in ids]
        np.testing.assert_allclose([h.score for h in hits], scores, rtol=1e-4, atol=1e-5)
    folded = rec.recommend("new", k=5, interactions=[(i, 1.0) for i in df["item"][:5]])
    assert len(folded) == 5


def test_reopen_restores_without_refitting(db_path: str) -> None:
    df = synthetic_interactions(150, 80, per_user=10, seed=2)
    with ov.connect(db_path) as plat:
        rec = plat.recommender("r", algorithm="als", factors=8, iterations=5, random_state=1)
        rec.fit(
            df,
            item_metadata=pd.DataFrame({"item": range(80), "name": [f"m{i}" for i in range(80)]}),
        )
        before = rec.recommend(["u1", "u2"], k=5)
        space = rec.space
        folded = rec.recommend("x", k=5, interactions=[(1, 2.0), (2, 1.0)])
    with ov.connect(db_path) as plat:
        with pytest.raises(ov.errors.SpaceMismatchError, match="factors"):
            plat.recommender("r", factors=16)
        with pytest.raises(ov.errors.SpaceMismatchError, match="algorithm"):
            plat.recommender("r", algorithm="bpr")
        rec = plat.recommender("r", num_threads=1)  # a runtime option may change
        assert rec.space == space == rec.users.space == rec.items.space
        assert rec.algorithm == "als" and rec.fitted
        again = rec.recommend(["u1", "u2"], k=5)
        assert [[h.id for h in row] for row in again] == [[h.id for h in row] for row in before]
        assert again[0][0].metadata["name"].startswith("m")
        # fold-in reads the item vectors back from the store
        assert [h.id for h in rec.recommend("x", k=5, interactions=[(1, 2.0), (2, 1.0)])] == [
            h.id for h in folded
        ]
        assert "r" in plat.recommenders()
        assert plat.drop("r") and plat.collections() == [] and plat.recommenders() == []


def test_refit_upserts_a_new_space_and_drops_stale_rows(plat: ov.Platform) -> None:
    rec = plat.recommender("r2", factors=8, iterations=5, random_state=1)
    first = synthetic_interactions(100, 60, per_user=8, seed=1)
    rec.fit(first)
    old_space = rec.space
    second = first[first["user"] != "u0"].copy()
    second["user"] = second["user"].str.replace("u1", "v1")  # renames u1, u10..u19
    rec.fit(second)
    assert rec.space != old_space and rec.users.space == rec.items.space == rec.space
    ids = set(rec.users.ids())
    assert ids == set(second["user"]) and "u0" not in ids and "u1" not in ids
    with pytest.raises(ov.errors.NotFoundError):
        rec.recommend("u0")
    assert len(rec.recommend("v1", k=3)) == 3


def test_partial_fit_updates_only_listed_users(plat: ov.Platform) -> None:
    df = synthetic_interactions(120, 60, per_user=10, seed=6)
    rec = plat.recommender("r3", factors=8, iterations=5, random_state=1)
    rec.fit(df, user_metadata={"u3": {"country": "NZ"}})
    untouched = rec.users.get(["u2"])[0].vector
    before = rec.users.get(["u1"])[0]
    seen_before = rec.history("u1")
    new_items = [i for i in range(60) if i not in seen_before][:3]
    rec.partial_fit([("u1", i, 5.0) for i in new_items] + [("fresh", new_items[0], 1.0)])
    after = rec.users.get(["u1"])[0]
    seen_after = rec.history("u1")
    assert not np.allclose(after.vector, before.vector)
    assert set(seen_after) == set(seen_before) | set(new_items)
    assert all(seen_after[i] == 5.0 for i in new_items)
    np.testing.assert_array_equal(rec.users.get(["u2"])[0].vector, untouched)
    assert not {h.id for h in rec.recommend("u1", k=10)} & set(seen_after)
    assert rec.recommend("fresh", k=3)
    rec.partial_fit([("u3", new_items[1], 2.0)], replace=True)  # a new history, same metadata
    assert rec.history("u3") == {new_items[1]: 2.0}
    assert rec.users.get(["u3"])[0].metadata == {"country": "NZ"}  # no history in metadata
    # the update is what a fold-in of the whole new history gives
    history = list(seen_after.items())
    np.testing.assert_allclose(
        rec.users.get(["u1"])[0].vector,
        rec.encoder.fold_in(
            sp.csr_matrix(
                (
                    [w for _, w in history],
                    (
                        [0] * len(history),
                        [rec.encoder.rows([ov_key(i)], "item")[0] for i, _ in history],
                    ),
                ),
                shape=(1, 60),
            )
        )[0],
        rtol=1e-4,
        atol=1e-5,
    )


def ov_key(item: Any) -> str:
    from omnivec.core.ids import encode_id

    return encode_id(item)


def test_input_forms_give_the_same_model(tmp_path: Path) -> None:
    tuples = [("ann", "x", 3.0), (7, "y", 1.0), ("ann", "y", 1.0), ("bob", "z", 2.0), (7, "z", 1.0)]
    frame = pd.DataFrame(tuples, columns=["user", "item", "weight"])
    users, items = ["ann", 7, "bob"], ["x", "y", "z"]
    dense = np.array([[3.0, 1.0, 0.0], [0.0, 1.0, 1.0], [0.0, 0.0, 2.0]], dtype=np.float32)
    results = []
    with ov.connect(str(tmp_path / "forms.db")) as plat:
        for n, (data, kw) in enumerate(
            [(tuples, {}), (frame, {}), (sp.csr_matrix(dense), {"users": users, "items": items})]
        ):
            rec = plat.recommender(f"f{n}", factors=4, iterations=3, random_state=5)
            rec.fit(data, **kw)
            assert set(rec.users.ids()) == {"ann", 7, "bob"}
            results.append(
                [(h.id, round(h.score, 5)) for h in rec.recommend(7, k=3, exclude_seen=False)]
            )
            assert rec.recommend("ann", k=3) and {h.id for h in rec.recommend("ann", k=3)} == {"z"}
    assert results[0] == results[1] == results[2]


def test_names_and_unfitted_use(plat: ov.Platform) -> None:
    plat.collection("taken", dim=4)
    with pytest.raises(ov.errors.InvalidInputError, match="taken"):
        plat.recommender("taken")
    with pytest.raises(ov.errors.InvalidInputError):
        plat.recommender("bad name")
    with pytest.raises(ov.errors.InvalidInputError):
        plat.recommender("r", algorithm="svd")
    rec = plat.recommender("fresh")
    assert rec.algorithm == "als" and not rec.fitted and len(rec.users) == 0
    with pytest.raises(ov.errors.InvalidInputError, match="fit"):
        rec.recommend("u1")
    with pytest.raises(ov.errors.InvalidInputError, match="seen"):
        rec.fit([("a", "b")], user_metadata={"a": {"seen": 1}})


def test_demo_part_runs_offline(plat: ov.Platform) -> None:
    import json

    from omnivec.demo import recs

    lines: list[str] = []
    summary = recs.run(plat, lines.append)
    assert json.loads(json.dumps(summary)) == summary
    assert summary["users"] == 600 and summary["items"] == 120
    assert len(summary["recommended"]) == 5 and len(summary["similar"]) == 5
    assert summary["similar_to"] not in {h["id"] for h in summary["similar"]}
    assert any("folded in" in line for line in lines)
    # a newcomer who liked four westerns is recommended westerns
    rec = plat.recommender(recs.NAME)
    cold = rec.items.get(summary["cold_start"])
    assert {r.metadata["genre"] for r in cold} == {"western"}


# -- the in-memory snapshot ---------------------------------------------------------------
class _StoreCalls:
    """Counts the Milvus client calls a store makes (every one goes through ``_call``)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, store: Any) -> None:
        self.names: list[str] = []
        real = store._call

        def counting(what: str, fn: Any, where: str | None = None) -> Any:
            self.names.append(what)
            return real(what, fn, where=where)

        monkeypatch.setattr(store, "_call", counting)


@contextmanager
def _store_path(rec: Any) -> Iterator[None]:
    """Answer from the store only (snapshot cap 0), then let the snapshot load again."""
    cap = rec.snapshot_max_floats
    rec.snapshot_max_floats = 0
    rec._forget_snapshot()
    try:
        yield
    finally:
        rec.snapshot_max_floats = cap
        rec._forget_snapshot()


def _assert_same_hits(ours: list[ov.Hit], theirs: list[ov.Hit]) -> int:
    """Same ids in the same order with the same scores and metadata, except that items whose
    scores tie (to float32 rounding) may trade places. Returns how many positions traded."""
    assert len(ours) == len(theirs)
    np.testing.assert_allclose(
        [h.score for h in ours], [h.score for h in theirs], rtol=1e-5, atol=1e-6
    )
    traded = 0
    for a, b in zip(ours, theirs, strict=True):
        if a.id != b.id:
            ties = [h for h in (*ours, *theirs) if h.id != a.id and abs(h.score - a.score) < 1e-5]
            assert ties, (a, b)
            traded += 1
    by_id = {h.id: h for h in theirs}
    for h in ours:
        if h.id in by_id:
            assert h.metadata == by_id[h.id].metadata
    return traded


def test_snapshot_answers_equal_the_store_path(
    world: tuple[ov.Platform, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    plat, rec = world
    users = rec.users.ids()
    assert len(users) == 1_000
    cases: list[dict[str, Any]] = [
        {"k": 10},
        {"k": 40, "exclude_seen": False},
        {"k": 10, "where": 'genre == "comedy"'},
    ]
    with _store_path(rec):
        store = [rec.recommend(users, **case) for case in cases]
    calls = _StoreCalls(monkeypatch, plat.store)
    rec.recommend(users[0])  # the first one after the store path reads the snapshot in bulk
    assert calls.names and rec._snapshot is not None
    calls.names.clear()
    traded = total = 0
    for case, expected in zip(cases, store, strict=True):
        batch = rec.recommend(users, **case)
        singles = [rec.recommend(u, **case) for u in users[::4]]
        for got, want in [
            *zip(batch, expected, strict=True),
            *zip(singles, expected[::4], strict=True),
        ]:
            assert len(got) == case["k"]
            traded += _assert_same_hits(got, want)
            total += len(got)
    assert traded <= total // 100, (traded, total)
    # no store call at all without where; with where, one listing of the items it matches
    # per query (no search, no row reads)
    assert set(calls.names) == {"list ids"}, calls.names
    # a fold-in is ranked in memory too, against the same items
    pairs = [(1, 2.0), (2, 1.0), (30, 1.0)]
    folded = rec.recommend("stranger", k=10, interactions=pairs)
    with _store_path(rec):
        _assert_same_hits(folded, rec.recommend("stranger", k=10, interactions=pairs))
    assert not {1, 2, 30} & {h.id for h in folded}


def test_batch_from_the_store_is_one_search_call(
    world: tuple[ov.Platform, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    plat, rec = world
    users = [f"u{n}" for n in range(200)]
    real = plat.store.search
    searches: list[int] = []

    def counting(name: str, vectors: np.ndarray, *args: Any, **kwargs: Any) -> Any:
        searches.append(len(vectors))
        return real(name, vectors, *args, **kwargs)

    monkeypatch.setattr(plat.store, "search", counting)
    hits = rec.recommend(users, k=5, where="year > 1960")
    # in memory, a where too: one listing of the items it matches, no search
    assert searches == [] and len(hits) == 200
    assert all(h.metadata["year"] > 1960 for row in hits for h in row)
    with _store_path(rec):
        searches.clear()
        filtered = rec.recommend(users, k=5, where="year > 1960")
        assert searches == [200]
        plain = rec.recommend(users, k=5)
        assert searches == [200, 200]
    for ours, theirs in zip(hits, filtered, strict=True):
        _assert_same_hits(ours, theirs)
    folded = rec.recommend("stranger", k=5, interactions=[(1, 2.0)], where="year > 1960")
    with _store_path(rec):
        _assert_same_hits(
            folded, rec.recommend("stranger", k=5, interactions=[(1, 2.0)], where="year > 1960")
        )
    # in memory: no store search at all, and the same answer
    searches.clear()
    again = rec.recommend(users, k=5)
    assert searches == []
    assert [[h.id for h in row] for row in again] == [[h.id for h in row] for row in plain]


def test_snapshot_after_reopen_is_read_once(db_path: str, monkeypatch: pytest.MonkeyPatch) -> None:
    df = synthetic_interactions(300, 90, per_user=10, seed=8)
    with ov.connect(db_path) as plat:
        rec = plat.recommender("r", factors=8, iterations=5, random_state=1)
        rec.fit(df, item_metadata={i: {"n": i} for i in range(90)})
        calls = _StoreCalls(monkeypatch, plat.store)
        before = rec.recommend(["u1", "u2", "u3"], k=6)
        assert calls.names == []  # fit left the snapshot behind: no store read
    with ov.connect(db_path) as plat:
        rec = plat.recommender("r")
        calls = _StoreCalls(monkeypatch, plat.store)
        first = rec.recommend("u1", k=6)
        # counts, then one key listing and one bulk read per collection (300 users: 1 chunk)
        # and one of the histories
        assert calls.names.count("read rows") == 3 and "search" not in calls.names
        calls.names.clear()
        assert [h.id for h in first] == [h.id for h in before[0]]
        again = rec.recommend(["u1", "u2", "u3"], k=6)
        assert calls.names == []
        for got, want in zip(again, before, strict=True):
            _assert_same_hits(got, want)
        assert again[0][0].metadata == {"n": again[0][0].id}
        # fold-in reuses the vectors the snapshot read
        assert rec.recommend("x", k=3, interactions=[(1, 1.0)]) and calls.names == []


def test_partial_fit_updates_the_snapshot(plat: ov.Platform) -> None:
    df = synthetic_interactions(150, 60, per_user=10, seed=9)
    rec = plat.recommender("r_snap", factors=8, iterations=5, random_state=1)
    rec.fit(df)
    fit_snapshot = rec._snapshot
    rec.partial_fit([("u4", 7, 3.0), ("u4", 8, 1.0), ("new1", 5, 1.0), ("new2", 6, 2.0)])
    rec.partial_fit([("u9", 11, 1.0)], replace=True)
    snap = rec._snapshot
    assert snap is not None and snap is not fit_snapshot
    assert snap.fingerprint == rec.space.fingerprint
    users = rec.users.ids()
    assert len(users) == 152
    stored = {r.id: r for r in rec.users.get(users)}
    for user in users:  # every user's row and seen items match the store
        row = snap.user_row[ov_key(user)]
        np.testing.assert_array_equal(snap.user_factors[row], stored[user].vector)
        assert {snap.item_ids[j] for j in snap.seen(row)} == set(rec.history(user))
        assert "seen" not in stored[user].metadata
    assert not snap.user_factors.flags.writeable and not snap.seen_indices.flags.writeable
    ours = rec.recommend(users, k=8)
    with _store_path(rec):
        theirs = rec.recommend(users, k=8)
    for got, want in zip(ours, theirs, strict=True):
        _assert_same_hits(got, want)
    assert {h.id for h in rec.recommend("u9", k=59)} == set(range(60)) - {11}


def test_writes_through_the_collections_are_seen(plat: ov.Platform) -> None:
    df = synthetic_interactions(100, 50, per_user=8, seed=3)
    rec = plat.recommender("r_writes", factors=8, iterations=5, random_state=1)
    rec.fit(df)
    assert rec.recommend("u3", k=3)[0].id != "star"
    star = 100 * rec.users.get(["u3"])[0].vector
    rec.items.add(vectors=star[None, :], ids=["star"], metadata=[{"new": True}])
    top = rec.recommend("u3", k=3)[0]
    assert top.id == "star" and top.metadata == {"new": True}
    rec.items.delete(["star"])
    assert "star" not in {h.id for h in rec.recommend("u3", k=50)}
    rec.users.delete(["u3"])
    with pytest.raises(ov.errors.NotFoundError, match="u3"):
        rec.recommend("u3")


def test_refresh_sees_another_writer(db_path: str) -> None:
    """Two platforms on one database stand for two processes on one Milvus server: the
    reader's snapshot keeps its state until ``refresh()``."""
    first = synthetic_interactions(120, 50, per_user=8, seed=1)
    second = synthetic_interactions(120, 50, per_user=8, seed=2)
    with ov.connect(db_path) as writer_plat, ov.connect(db_path) as reader_plat:
        writer = writer_plat.recommender("r", factors=8, iterations=5, random_state=1)
        writer.fit(first)
        reader = reader_plat.recommender("r")
        old = reader.recommend("u1", k=5)
        writer.fit(second)
        new = writer.recommend("u1", k=5)
        assert [h.id for h in new] != [h.id for h in old]
        assert [h.id for h in reader.recommend("u1", k=5)] == [h.id for h in old]  # stale
        reader.refresh()
        assert reader.space == writer.space == reader.items.space
        _assert_same_hits(reader.recommend("u1", k=5), new)
        writer.partial_fit([("u1", 3, 5.0)])
        reader.refresh()
        _assert_same_hits(reader.recommend("u1", k=5), writer.recommend("u1", k=5))
        assert 3 not in {h.id for h in reader.recommend("u1", k=50)}
        writer_plat.drop("r")
        with pytest.raises(ov.errors.NotFoundError, match="dropped"):
            reader.refresh()


def test_top_k_ranking_matches_a_full_sort() -> None:
    from omnivec.recs.snapshot import top_k

    rng = np.random.default_rng(0)
    for trial in range(1_000):
        n = int(rng.integers(1, 3_000))
        k = int(rng.choice([1, 3, 10, 64, n, n + 5]))
        # few distinct values (many ties) in some trials, and excluded (-inf) rows
        scores = rng.standard_normal(n).astype(np.float32)
        if trial % 3 == 0:
            scores = np.round(scores, 1)
        scores[rng.random(n) < rng.random() * 0.5] = -np.inf
        want = np.sort(scores[scores > -np.inf])[::-1][:k]
        got = top_k(scores, k)
        assert len(set(got.tolist())) == len(got)
        np.testing.assert_array_equal(scores[got], want)
        if trial % 3:  # no ties: the very same rows as a full sort
            np.testing.assert_array_equal(got, np.argsort(-scores, kind="stable")[: len(want)])


def test_snapshot_cap_falls_back_to_the_store(
    plat: ov.Platform, monkeypatch: pytest.MonkeyPatch
) -> None:
    df = synthetic_interactions(80, 40, per_user=6, seed=5)
    rec = plat.recommender("r_cap", factors=8, iterations=5, random_state=1)
    rec.snapshot_max_floats = (80 + 40) * 8  # factors fit, the seen entries do not
    rec.fit(df)
    assert rec._snapshot is None
    calls = _StoreCalls(monkeypatch, plat.store)
    hits = rec.recommend("u1", k=4)
    # the store path: read the user's row and history, then search (after a one-off metric
    # lookup)
    names = [n for n in calls.names if not n.startswith("describe")]
    assert names == ["read rows", "read rows", "search"]
    assert len(hits) == 4
    rec.snapshot_max_floats = 10**6
    rec.fit(df)  # a new space: tried again, and this one fits
    calls.names.clear()
    assert len(rec.recommend("u1", k=4)) == 4 and calls.names == []

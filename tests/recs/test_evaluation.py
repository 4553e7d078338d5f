"""Ranking metrics against hand-computed values, and the per-user split."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

import omnivec as ov
from omnivec.errors import InvalidInputError
from omnivec.recs.evaluation import (
    content_profile,
    most_popular,
    ndcg_at_k,
    precision_at_k,
    random_ranking,
    recall_at_k,
    relevant_items,
    split_by_item,
    synthetic_interactions,
    train_test_split_by_user,
)

RECS = {"a": [1, 2, 3, 4], "b": [5, 6, 7, 8], "c": [9]}
TRUTH = {"a": {2, 4, 10}, "b": {99}, "c": {9}, "d": {1}, "e": set()}


def test_precision_by_hand() -> None:
    # a: 2 hits / 4, b: 0, c: 1 / 4, d: no recommendations -> 0; e has no truth: skipped.
    assert precision_at_k(RECS, TRUTH, k=4) == pytest.approx((2 / 4 + 0 + 1 / 4 + 0) / 4)
    # only the first k count: at k=2 a has one hit (2), c one (9).
    assert precision_at_k(RECS, TRUTH, k=2) == pytest.approx((1 / 2 + 0 + 1 / 2 + 0) / 4)


def test_recall_by_hand() -> None:
    assert recall_at_k(RECS, TRUTH, k=4) == pytest.approx((2 / 3 + 0 + 1 + 0) / 4)


def test_ndcg_by_hand() -> None:
    # a: hits at ranks 2 and 4 -> DCG = 1/log2(3) + 1/log2(5); ideal: 3 relevant -> ranks 1..3.
    dcg_a = 1 / math.log2(3) + 1 / math.log2(5)
    idcg_a = 1 + 1 / math.log2(3) + 1 / math.log2(4)
    expected = (dcg_a / idcg_a + 0 + 1.0 + 0) / 4
    assert ndcg_at_k(RECS, TRUTH, k=4) == pytest.approx(expected)
    # A perfect ranking scores 1.
    assert ndcg_at_k({"x": [3, 1, 2]}, {"x": {1, 2, 3}}, k=3) == pytest.approx(1.0)


def test_metrics_take_hits_and_reject_bad_k() -> None:
    hits = {"a": [ov.Hit(2, 0.9), ov.Hit(7, 0.5)]}
    assert precision_at_k(hits, {"a": {2}}, k=2) == pytest.approx(0.5)
    with pytest.raises(ov.errors.InvalidInputError):
        precision_at_k(hits, {"a": {2}}, k=0)


def test_split_by_user_holds_out_a_fraction_of_every_user() -> None:
    df = synthetic_interactions(200, 100, per_user=10, seed=3)
    train, test = train_test_split_by_user(df, test_fraction=0.2, seed=1)
    assert len(train) + len(test) == len(df)
    assert set(train.index).isdisjoint(test.index)
    sizes = df.groupby("user").size()
    held = test.groupby("user").size().reindex(sizes.index, fill_value=0)
    expected = sizes.map(lambda n: min(max(1, round(0.2 * n)), n - 1) if n >= 2 else 0)
    assert (held == expected).all()
    # every user keeps training data; same seed, same split; another seed, another split
    assert set(train["user"]) == set(df["user"])
    again = train_test_split_by_user(df, test_fraction=0.2, seed=1)[1]
    assert again.index.equals(test.index)
    assert not train_test_split_by_user(df, 0.2, seed=2)[1].index.equals(test.index)


def test_split_of_tuples_keeps_single_interaction_users_in_train() -> None:
    rows = [("u1", "a"), ("u1", "b"), ("u1", "c"), ("u1", "d"), ("u2", "a")]
    train, test = train_test_split_by_user(rows, test_fraction=0.5, seed=0)
    assert ("u2", "a") in train
    assert len(test) == 2 and all(u == "u1" for u, _ in test)
    assert sorted(train + test) == sorted(rows)
    with pytest.raises(ov.errors.InvalidInputError):
        train_test_split_by_user(rows, test_fraction=1.5)


def test_most_popular_and_relevant_items() -> None:
    train = pd.DataFrame({"user": ["a", "a", "b", "c", "c"], "item": [1, 2, 1, 1, 3]})
    assert relevant_items(train) == {"a": {1, 2}, "b": {1}, "c": {1, 3}}
    top = most_popular(train, ["a", "b", "z"], k=2)
    assert top["z"] == [1, 2]  # 1 has 3 users; 2 and 3 one each, 2 appears first
    assert top["a"] == [3]  # 1 and 2 are a's own
    assert top["b"] == [2, 3]
    assert most_popular(train, ["a"], k=2, exclude_seen=False)["a"] == [1, 2]


def test_synthetic_data_is_deterministic_and_has_structure() -> None:
    a = synthetic_interactions(100, 80, per_user=12, seed=5)
    b = synthetic_interactions(100, 80, per_user=12, seed=5)
    pd.testing.assert_frame_equal(a, b)
    assert not a.duplicated(["user", "item"]).any()
    assert a.groupby("user").size().min() >= 5
    # popularity has a long tail: the top tenth of items gets far more than a tenth of plays
    counts = a["item"].value_counts()
    assert counts.iloc[: len(counts) // 10].sum() > 0.2 * len(a)


def test_split_by_item_holds_out_whole_items() -> None:
    df = synthetic_interactions(200, 100, per_user=10, seed=3)
    train, test, cold = split_by_item(df, cold_fraction=0.25, seed=1)
    assert len(cold) == round(0.25 * df["item"].nunique())
    # Every row of a cold item is in test, none in train; together they are the input.
    assert set(test["item"]) == set(cold)
    assert not set(train["item"]) & set(cold)
    assert len(train) + len(test) == len(df)
    again = split_by_item(df, cold_fraction=0.25, seed=1)
    assert again[2] == cold  # same seed, same items
    rows = list(df[["user", "item"]].itertuples(index=False, name=None))
    ltrain, ltest, lcold = split_by_item(rows, cold_fraction=0.25, seed=1)
    assert lcold == cold and len(ltest) == len(test) and isinstance(ltrain, list)
    with pytest.raises(InvalidInputError, match="cold_fraction"):
        split_by_item(df, cold_fraction=1.0)


def test_content_profile_ranks_by_the_users_mean_content() -> None:
    ids = ["a", "b", "c", "x", "y"]
    content = np.array([[1, 0], [0.8, 0.6], [0, 1], [0.9, 0.1], [0.1, 0.9]], dtype=np.float32)
    train = [("u", "a", 1.0), ("u", "b", 1.0), ("v", "c", 1.0), ("w", "zzz", 1.0)]
    ranked = content_profile(train, ids, content, ["u", "v", "w"], ["x", "y"], k=2)
    # u's profile leans to the first axis -> x first; v's is the second axis -> y first;
    # w has no training item with content -> nothing.
    assert ranked == {"u": ["x", "y"], "v": ["y", "x"], "w": []}
    with pytest.raises(InvalidInputError, match="no content row"):
        content_profile(train, ids, content, ["u"], ["x", "q"])


def test_random_ranking_is_seeded_and_distinct() -> None:
    one = random_ranking(["u", "v"], list(range(50)), k=20, seed=4)
    assert one == random_ranking(["u", "v"], list(range(50)), k=20, seed=4)
    assert all(len(set(r)) == 20 and set(r) <= set(range(50)) for r in one.values())
    assert one["u"] != one["v"]

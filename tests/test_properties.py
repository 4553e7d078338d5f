"""Property-based tests (hypothesis) against a real Lite file: ids and metadata round-trip
exactly, and search honours k, where and min_score, sorted best first, for every metric,
with the scores numpy computes (cosine similarity, inner product, minus Euclidean distance)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import omnivec as ov
from omnivec.core.validation import RESERVED_KEYS

DIM = 4
SETTINGS = settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

INT64 = st.integers(-(2**63), 2**63 - 1)
# Any str, lone surrogates included (they are stored hex-encoded); ids are short enough to
# fit Milvus' 2,048-byte key.
STR_IDS = st.text(st.characters(codec=None, exclude_categories=()), max_size=60)
IDS = st.one_of(STR_IDS, INT64, st.integers(-(10**300), 10**300))

KEYS = st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,20}", fullmatch=True).filter(
    lambda k: k not in RESERVED_KEYS
)
TEXT = st.text(st.characters(exclude_categories=("Cs",)), max_size=30)
SCALARS = st.one_of(
    st.none(), st.booleans(), INT64, st.floats(allow_nan=False, allow_infinity=False), TEXT
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(TEXT, inner, max_size=4),
    max_leaves=12,
)
METADATA = st.dictionaries(KEYS, VALUES, max_size=5)


@pytest.fixture(scope="module")
def plat(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ov.Platform]:
    with ov.connect(str(tmp_path_factory.mktemp("props") / "props.db")) as p:
        yield p


def _fresh(plat: ov.Platform, name: str, metric: str = "cosine") -> ov.Collection:
    col = plat.collection(name, dim=DIM, metric=metric)
    ids = col.ids()
    if ids:
        col.delete(ids)
    return col


@SETTINGS
@given(ids=st.lists(IDS, min_size=1, max_size=8, unique_by=lambda i: (type(i), i)))
def test_ids_round_trip(plat: ov.Platform, ids: list[Any]) -> None:
    col = _fresh(plat, "ids")
    vecs = np.random.default_rng(0).standard_normal((len(ids), DIM)).astype(np.float32)
    assert col.add(vectors=vecs, ids=ids) == ids
    got = col.get(ids)
    assert [r.id for r in got] == ids
    assert [type(r.id) for r in got] == [type(i) for i in ids]  # 7 stays int, "7" stays str
    np.testing.assert_array_equal(np.stack([r.vector for r in got]), vecs)
    assert sorted(map(repr, col.ids())) == sorted(map(repr, ids))
    hit = col.search(ov.vector(vecs[-1]), k=1)[0]
    assert hit.id == ids[-1] and type(hit.id) is type(ids[-1])
    assert col.delete(ids[:1]) == 1 and len(col) == len(ids) - 1


@SETTINGS
@given(rows=st.lists(METADATA, min_size=1, max_size=5))
def test_metadata_round_trips(plat: ov.Platform, rows: list[dict[str, Any]]) -> None:
    col = _fresh(plat, "meta")
    ids = list(range(len(rows)))
    col.add(vectors=np.ones((len(rows), DIM)), ids=ids, metadata=rows)
    got = [r.metadata for r in col.get(ids)]
    assert got == rows
    hits = col.search(ov.vector(np.ones(DIM)), k=len(rows))
    assert sorted((h.metadata for h in hits), key=repr) == sorted(rows, key=repr)


def _numpy_scores(metric: str, data: np.ndarray, q: np.ndarray) -> np.ndarray:
    if metric == "cosine":
        return (data @ q) / (np.linalg.norm(data, axis=1) * np.linalg.norm(q))
    if metric == "ip":
        return data @ q
    return -np.linalg.norm(data - q, axis=1)


FINITE = st.floats(-10, 10, allow_nan=False, width=32).filter(lambda x: abs(x) > 1e-3)


@pytest.mark.parametrize("metric", ["cosine", "ip", "l2"])
@SETTINGS
@given(
    data=st.lists(st.lists(FINITE, min_size=DIM, max_size=DIM), min_size=1, max_size=30),
    query=st.lists(FINITE, min_size=DIM, max_size=DIM),
    k=st.integers(1, 40),
    group=st.none() | st.integers(0, 2),
    min_score=st.none() | st.floats(-5, 1),
)
def test_search_honours_k_where_min_score(
    plat: ov.Platform,
    metric: str,
    data: list[list[float]],
    query: list[float],
    k: int,
    group: int | None,
    min_score: float | None,
) -> None:
    col = _fresh(plat, f"search_{metric}", metric)
    arr = np.asarray(data, dtype=np.float32)
    q = np.asarray(query, dtype=np.float32)
    groups = [i % 3 for i in range(len(arr))]
    col.add(vectors=arr, ids=list(range(len(arr))), metadata=[{"g": g} for g in groups])
    where = None if group is None else f"g == {group}"
    hits = col.search(ov.vector(q), k=k, where=where, min_score=min_score)

    scores = _numpy_scores(metric, arr.astype(np.float64), q.astype(np.float64))
    allowed = [i for i in range(len(arr)) if group is None or groups[i] == group]
    expected = sorted(allowed, key=lambda i: -scores[i])[:k]
    if min_score is not None:
        expected = [i for i in expected if scores[i] >= min_score - 1e-4]
    tol = 1e-3 * max(1.0, float(np.abs(scores).max()))
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
    assert len(hits) <= k
    assert all(group is None or h.metadata["g"] == group for h in hits)
    assert all(min_score is None or h.score >= min_score for h in hits)
    for h in hits:
        assert h.score == pytest.approx(scores[h.id], abs=tol)
    # The same hits as brute force, up to ties at the cut-off and min_score's edge.
    assert abs(len(hits) - len(expected)) <= sum(
        1 for i in allowed if min_score is not None and abs(scores[i] - min_score) < tol
    )
    if hits and expected:
        np.testing.assert_allclose(hits[0].score, scores[expected[0]], atol=tol)
        if len(hits) == len(expected):
            np.testing.assert_allclose(hits[-1].score, scores[expected[-1]], atol=tol)


def test_int_ids_beyond_int64_are_kept_as_given(tmp_path: Path) -> None:
    """Ids are stored as text keys, so any int (within the key length) comes back exactly;
    metadata ints are JSON and limited to 64 bits."""
    with ov.connect(str(tmp_path / "big.db")) as plat:
        col = plat.collection("c", dim=DIM)
        big = [2**64, -(2**100), 10**600]
        col.add(vectors=np.eye(3, DIM), ids=big)
        assert [r.id for r in col.get(big)] == big
        with pytest.raises(ov.errors.InvalidInputError):
            col.add(vectors=np.eye(1, DIM), ids=[10**3000])  # key longer than 2,048 bytes

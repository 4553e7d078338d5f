"""Collection.vectors() and the analysis calls read an ``index="auto"`` Lite collection from its
in-process copy: the same ids, vectors, order and seeded samples as the bulk read from Milvus
(a twin collection with ``index="flat"`` keeps no copy); real Lite, real MiniLM."""

from __future__ import annotations

import numpy as np
import pytest

import omnivec as ov
from omnivec.core.ids import encode_id
from omnivec.stores import ann

BODY = "The committee met on a grey morning to discuss the budget for the coming year. " * 3


def twins(plat: ov.Platform, x: np.ndarray, ids: list, metric: str) -> tuple:
    local = plat.collection("local", dim=x.shape[1], metric=metric)
    exact = plat.collection("exact", dim=x.shape[1], metric=metric, index="flat")
    for col in (local, exact):
        col.add(vectors=x, ids=ids, metadata=[{"i": i} for i in range(len(ids))])
    return local, exact


@pytest.mark.parametrize("metric", ["cosine", "ip", "l2"])
def test_same_as_the_read_from_milvus(plat: ov.Platform, metric: str) -> None:
    x = np.random.default_rng(1).standard_normal((700, 6)).astype(np.float32)
    ids = [f"doc{i}" for i in range(700)]
    local, exact = twins(plat, x, ids, metric)
    assert plat.store.local_rows(local.physical) is not None
    assert plat.store.local_rows(exact.physical) is None
    for kwargs in ({}, {"limit": 50, "seed": 3}, {"unit": True}, {"limit": 699, "unit": True}):
        got_ids, got = local.vectors(**kwargs)
        want_ids, want = exact.vectors(**kwargs)
        assert got_ids == want_ids
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-6)
    any_ids, any_vecs = local.vectors(ordered=False)
    assert sorted(any_ids, key=encode_id) == exact.vectors()[0] and any_vecs.shape == (700, 6)
    for i, vec in zip(any_ids, any_vecs, strict=True):
        np.testing.assert_array_equal(vec, x[ids.index(i)])
    # where goes to Milvus on both
    assert local.vectors(where="i < 5")[0] == exact.vectors(where="i < 5")[0]


def test_unit_rows_from_the_ann_index(plat: ov.Platform, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ann, "ANN_MIN_ROWS", 500)
    x = np.random.default_rng(2).standard_normal((800, 6)).astype(np.float32) * 3
    local, exact = twins(plat, x, list(range(800)), "cosine")
    assert plat.store._ann is not None and plat.store._ann.has_index(local.physical)
    got_ids, got = local.vectors(unit=True)
    want_ids, want = exact.vectors(unit=True)
    assert got_ids == want_ids
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-6)
    raw_ids, raw = local.vectors()  # as stored: the ANN index holds unit rows, so from Milvus
    np.testing.assert_array_equal(raw, x[raw_ids])
    a = local.project(method="pca")
    b = exact.project(method="pca")
    assert a.keys() == b.keys()
    np.testing.assert_allclose(np.abs([a[i] for i in a]), np.abs([b[i] for i in a]), atol=1e-4)
    assert local.cluster(n_clusters=4) == exact.cluster(n_clusters=4)


@pytest.mark.parametrize("kind", ["int", "mixed"])
def test_ids_of_the_ann_index_rows_match_the_read_from_milvus(
    plat: ov.Platform, monkeypatch: pytest.MonkeyPatch, kind: str
) -> None:
    """An ANN index over int ids hands out its rows' ids decoded (one gather, no key
    parsing); the same ids as Milvus' read, through samples, order, deletes and new rows."""
    monkeypatch.setattr(ann, "ANN_MIN_ROWS", 500)
    x = np.random.default_rng(4).standard_normal((800, 6)).astype(np.float32)
    ids: list = list(range(800)) if kind == "int" else [i if i % 2 else f"s{i}" for i in range(800)]
    local, exact = twins(plat, x, ids, "cosine")
    for step in range(2):
        block = plat.store.local_rows(local.physical, unit=True)
        assert block is not None and (block.ids is not None) == (kind == "int")
        for kwargs in ({}, {"limit": 120, "seed": 5}):
            got_ids, got = local.vectors(unit=True, **kwargs)
            want_ids, want = exact.vectors(unit=True, **kwargs)
            assert got_ids == want_ids
            np.testing.assert_allclose(got, want, rtol=0, atol=1e-6)
        any_ids, _ = local.vectors(unit=True, ordered=False)
        assert sorted(any_ids, key=encode_id) == exact.vectors()[0]
        if step == 0:  # then: some rows gone, some replaced, some new
            for col in (local, exact):
                col.delete(ids[:50])
                col.add(vectors=-x[100:110], ids=ids[100:110])
                col.add(vectors=x[:30] + 1, ids=[10_000 + i for i in range(30)])


def test_int_ids_with_long_texts_past_the_ann_threshold(
    plat: ov.Platform, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Window rows of a long text have keys like ``i:5#0.1``: an ANN index over them has no
    int-id table, and reads, projections and clusters still work by record."""
    monkeypatch.setattr(ann, "ANN_MIN_ROWS", 30)
    col = plat.collection("t", encoder="text", chunk_tokens=24, chunk_overlap=6)
    texts = [f"note {i} about the weather in town number {i}" for i in range(30)]
    texts += [BODY + f"The lighthouse door is colour {i}." for i in range(3)]
    col.add(texts, ids=list(range(33)))
    assert plat.store._ann is not None and plat.store._ann.has_index(col.physical)
    block = plat.store.local_rows(col.physical, unit=True)
    assert block is not None and block.ids is None and len(block) > 33
    ids, vecs = col.vectors(unit=True, ordered=False)
    assert sorted(ids) == list(range(33)) and vecs.shape == (33, 384)
    assert set(col.project("pca")) == set(range(33))
    assert set(col.cluster(3)) == set(range(33))
    assert col.search(texts[5], k=1)[0].id == 5


def test_long_texts_read_as_one_row_each(plat: ov.Platform) -> None:
    texts = ["I love cats", BODY + "The lighthouse door is orange.", "Stocks fell", BODY]
    cols = []
    for name, index in (("local_t", "auto"), ("exact_t", "flat")):
        col = plat.collection(name, encoder="text", chunk_tokens=24, chunk_overlap=6, index=index)
        col.add(texts, ids=["a", "long1", "b", "long2"])
        cols.append(col)
    local, exact = cols
    assert plat.store.count(local.physical) > 4  # windows are rows of their own
    got_ids, got = local.vectors()
    want_ids, want = exact.vectors()
    assert got_ids == want_ids == ["a", "b", "long1", "long2"]
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-6)
    short = plat.collection("short_t", encoder="text")
    short.add(["one", "two", "three"], ids=[3, 1, 2])
    assert short.vectors()[0] == [1, 2, 3]

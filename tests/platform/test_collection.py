"""Collections and the unified query layer through the public API, on Lite and on a server."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

import omnivec as ov
from omnivec.errors import (
    DimensionMismatchError,
    InvalidInputError,
    NotFoundError,
    SpaceMismatchError,
)
from omnivec.stores.catalog_docs import CATALOG


@pytest.fixture(scope="module")
def plat(module_plat: ov.Platform) -> ov.Platform:
    """One Lite file for the module (a Lite start costs seconds): every test below uses
    collection names of its own."""
    return module_plat


@pytest.fixture(scope="module")
def lite_plat(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ov.Platform]:
    with ov.connect(str(tmp_path_factory.mktemp("any") / "any.db")) as p:
        yield p


@pytest.fixture(params=["lite", "server"])
def any_plat(request: pytest.FixtureRequest) -> Iterator[ov.Platform]:
    """A platform emptied for the test: on a Lite file, or on the Lite server process."""
    if request.param == "lite":
        p = request.getfixturevalue("lite_plat")
        for name in p.collections():
            p.drop(name)
        yield p
        return
    uri = request.getfixturevalue("server_uri")
    with ov.connect(uri) as p:
        # The session's server is shared: store-level tests leave collections and catalog
        # documents that no platform wrote, so empty it at the store, catalog included.
        for name in [*p.store.list_collections(), CATALOG]:
            if p.store.has_collection(name):
                p.store.drop_collection(name)
    with ov.connect(uri) as p:
        yield p


def unit(rng: np.random.Generator, n: int, d: int) -> np.ndarray:
    x = rng.standard_normal((n, d)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def test_vectors_only_collection_round_trip(any_plat: ov.Platform) -> None:
    rng = np.random.default_rng(1)
    vecs = unit(rng, 50, 8)
    ids: list[Any] = [f"doc-{i}" if i % 2 else i for i in range(50)]
    raw = any_plat.collection("raw", dim=8, metric="cosine")
    assert raw.add(vectors=vecs, ids=ids, metadata=[{"n": i} for i in range(50)]) == ids
    assert len(raw) == 50
    recs = raw.get([ids[7], ids[2]])
    assert [r.id for r in recs] == [ids[7], ids[2]]
    assert recs[0].vector.dtype == np.float32 and recs[0].vector.shape == (8,)
    np.testing.assert_allclose(recs[0].vector, vecs[7], rtol=1e-6)
    hits = raw.search(ov.vector(vecs[3]), k=5)
    assert hits[0].id == ids[3] and hits[0].score == pytest.approx(1.0, abs=1e-5)
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
    assert raw.search(ov.vector(vecs[3]), k=5, where="n >= 40")[0].metadata["n"] >= 40
    assert all(h.score >= 0.5 for h in raw.search(ov.vector(vecs[3]), k=50, min_score=0.5))


def test_exact_results_match_numpy(any_plat: ov.Platform) -> None:
    rng = np.random.default_rng(2)
    vecs, queries = unit(rng, 2_000, 16), unit(rng, 20, 16)
    raw = any_plat.collection("exact", dim=16)
    raw.add(vectors=vecs, ids=list(range(2_000)))
    got = raw.search(ov.vector(queries), k=10)
    for q, hits in zip(queries, got, strict=True):
        truth = np.argsort(-(vecs @ q))[:10]
        assert [h.id for h in hits] == truth.tolist()


def test_ref_excludes_itself_in_own_collection(any_plat: ov.Platform) -> None:
    raw = any_plat.collection("r", dim=3)
    raw.add(vectors=np.eye(3) + 0.1, ids=["a", "b", "c"])
    assert "a" not in [h.id for h in raw.search(ov.ref("a"), k=3)]
    assert len(raw.search(ov.ref("a"), k=3)) == 2
    other = any_plat.collection("r2", dim=3)
    other.add(vectors=np.eye(3) + 0.1, ids=["a", "b", "c"])
    # a ref into another collection of the same space keeps every hit
    hits = raw.search(ov.ref("a", collection="r2"), k=3)
    assert hits[0].id == "a" and len(hits) == 3


def test_batch_search_is_one_store_call(plat: ov.Platform, monkeypatch: pytest.MonkeyPatch) -> None:
    docs = plat.collection("batched_docs", encoder="text")
    docs.add(["cats purr", "stocks fell", "rockets launch"], ids=[1, 2, 3])
    calls: list[int] = []
    real = plat.store.search

    def counting(name: str, vectors: np.ndarray, *args: Any, **kwargs: Any) -> Any:
        calls.append(len(vectors))
        return real(name, vectors, *args, **kwargs)

    monkeypatch.setattr(plat.store, "search", counting)
    res = docs.search(["kittens", "market", ov.ref(3), ov.vector(np.ones(384))], k=2)
    assert calls == [4]
    assert [r[0].id for r in res[:2]] == [1, 2]
    assert all(len(r) == 2 for r in res)


def test_space_checks(plat: ov.Platform) -> None:
    docs = plat.collection("checked_docs", encoder="text")
    docs.add(["hello"], ids=["h"])
    raw384 = plat.collection("raw384", dim=384)
    raw384.add(vectors=np.ones((1, 384)), ids=["h"])
    with pytest.raises(SpaceMismatchError, match="different vector spaces"):
        docs.search(ov.ref("h", collection="raw384"))
    with pytest.raises(SpaceMismatchError):
        raw384.search("text needs an encoder")
    with pytest.raises(DimensionMismatchError):
        docs.search(ov.vector(np.ones(3)))
    with pytest.raises(SpaceMismatchError):
        plat.collection("checked_docs", encoder="clip")
    with pytest.raises(SpaceMismatchError):
        plat.collection("raw384", dim=128)


def test_catalog_survives_reopen(db_path: str) -> None:
    with ov.connect(db_path) as plat:
        plat.collection("docs", encoder="text").add(["a cat", "a bond"], ids=["c", "b"])
        plat.collection("raw", dim=2, metric="l2").add(vectors=[[0, 0], [3, 4]], ids=[1, 2])
    with ov.connect(db_path) as plat:
        assert plat.collections() == ["docs", "raw"]
        docs = plat.collection("docs")
        assert docs.encoder_name == "text" and docs.dim == 384
        assert docs.search("kitten", k=1)[0].id == "c"
        raw = plat.get_collection("raw")
        assert raw.metric == "l2"
        assert raw.search(ov.ref(1), k=1)[0].score == pytest.approx(-5.0)
        assert plat.drop("raw") and not plat.drop("raw")
        assert plat.collections() == ["docs"]


def test_get_delete_semantics(plat: ov.Platform) -> None:
    raw = plat.collection("get_delete", dim=2)
    raw.add(vectors=[[1, 0], [0, 1]], ids=["a", 5])
    with pytest.raises(NotFoundError, match="'zz'"):
        raw.get(["a", "zz"])
    assert raw.delete(["a", "a", "nope"]) == 1
    assert raw.ids() == [5]
    # re-adding an id replaces it rather than duplicating it
    raw.add(vectors=[[1, 1]], ids=[5])
    assert len(raw) == 1


@pytest.fixture(scope="module")
def one_row(plat: ov.Platform) -> ov.Collection:
    raw = plat.collection("one_row", dim=2)
    raw.add(vectors=[[1, 0]], ids=["a"])
    return raw


@pytest.mark.parametrize("k", [0, -1, 16_385, 2.5, True, "3", None])
def test_k_is_validated(one_row: ov.Collection, k: Any) -> None:
    raw = one_row
    with pytest.raises(InvalidInputError, match="k must be"):
        raw.search(ov.vector([1, 0]), k=k)


def test_max_k_is_accepted(plat: ov.Platform) -> None:
    raw = plat.collection("max_k", dim=2)
    raw.add(vectors=[[1, 0], [0, 1]], ids=["a", "b"])
    assert len(raw.search(ov.vector([1, 0]), k=16_384)) == 2
    assert len(raw.search(ov.ref("a"), k=16_384)) == 1


def test_unknown_collection_and_encoder(plat: ov.Platform) -> None:
    with pytest.raises(NotFoundError):
        plat.get_collection("nope")
    with pytest.raises(NotFoundError, match="unknown encoder"):
        plat.collection("x", encoder="no-such-encoder")
    with pytest.raises(InvalidInputError, match="does not exist"):
        plat.collection("x")
    with pytest.raises(NotFoundError):
        plat.collection("unknown_ref", dim=2).search(ov.ref("a", collection="missing"))


def test_text_and_images_wrappers_validate() -> None:
    with pytest.raises(InvalidInputError):
        ov.vector([[np.nan, 1.0]])
    with pytest.raises(InvalidInputError):
        ov.vector([])
    with pytest.raises(InvalidInputError):
        ov.image(None)


@pytest.mark.parametrize("ids", ["int", "str"])
def test_one_vector_hot_path_gives_the_general_paths_hits(
    plat: ov.Platform, monkeypatch: pytest.MonkeyPatch, ids: str
) -> None:
    """One ``ov.vector`` on an ANN-indexed vectors-only collection takes the store's
    ``search_ids``; its hits equal the batch path's (``store.search``) in every field."""
    from omnivec.stores import ann

    monkeypatch.setattr(ann, "ANN_MIN_ROWS", 1_000)
    x = unit(np.random.default_rng(0), 1_200, 16)
    names: list[Any] = list(range(1_200)) if ids == "int" else [f"r {i}!" for i in range(1_200)]
    col = plat.collection(f"hot_{ids}", dim=16, metric="cosine")
    col.add(vectors=x, ids=names)
    calls = []
    real = plat.store.search_ids  # type: ignore[attr-defined]
    monkeypatch.setattr(
        plat.store, "search_ids", lambda *a, **kw: calls.append(1) or real(*a, **kw)
    )
    for v in x[:5]:
        one = col.search(ov.vector(v), k=7)
        assert one == col.search([ov.vector(v)], k=7)[0]
        assert one[0].id == names[int(np.argmax(x @ v))] and one[0].metadata == {}
        assert col.search(ov.vector(v), k=7, min_score=2.0) == []
    assert len(calls) == 10
    # A where, metadata on the rows or a text collection go the general way (None answered).
    col.add(vectors=x[:1], ids=names[:1], metadata=[{"g": 1}])
    hits = col.search(ov.vector(x[0]), k=3)
    assert hits[0].id == names[0] and hits[0].metadata == {"g": 1}

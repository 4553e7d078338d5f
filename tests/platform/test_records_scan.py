"""Collection.records() / vectors() read through the store's bulk scan: one row per record
(long texts' windows folded in), id order, filters, seeded samples; real Milvus Lite and the
real bundled all-MiniLM-L6-v2."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest

import omnivec as ov
from omnivec.core.ids import encode_id

BODY = (
    "The committee met on a grey morning to discuss the budget for the coming year. "
    "Several members argued that the library needed new shelves and longer opening hours. "
)
TEXTS = ["I love cats", BODY * 3 + "The lighthouse door is orange.", "Stocks fell", BODY * 2]


@pytest.fixture(scope="module")
def plat(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ov.Platform]:
    with ov.connect(str(tmp_path_factory.mktemp("scan") / "scan.db")) as p:
        yield p


def test_windowed_records_read_as_one_row_each(plat: ov.Platform) -> None:
    docs = plat.collection("docs", encoder="text", chunk_tokens=24, chunk_overlap=6)
    docs.add(TEXTS, ids=["a", "long1", "b", "long2"], metadata=[{"n": i} for i in range(4)])
    assert plat.store.count(docs.physical) > 4  # the long texts really are several rows
    ids, vecs = docs.vectors()
    assert ids == sorted(["a", "long1", "b", "long2"]) and vecs.shape == (4, docs.dim)
    by_id = docs.get(ids)  # the per-id read
    np.testing.assert_allclose(vecs, np.stack([r.vector for r in by_id]), rtol=0, atol=1e-6)
    # A long record's vector is its text's vector (its main row), not its first window's.
    key = encode_id("long1")
    main = plat.store.get(docs.physical, [key])[key].vector
    np.testing.assert_allclose(vecs[ids.index("long1")], main, atol=1e-6)
    window0 = [k for k in plat.store.keys(docs.physical) if k.startswith(key + "#")]
    window0 = [k for k in window0 if k.endswith(".0")]
    first = plat.store.get(docs.physical, window0)[window0[0]].vector
    assert not np.allclose(vecs[ids.index("long1")], first)
    recs = docs.records()
    assert [r.id for r in recs] == ids
    for got, want in zip(recs, by_id, strict=True):
        assert got.text == want.text and got.metadata == want.metadata
        np.testing.assert_allclose(got.vector, want.vector, atol=1e-6)
    assert recs[ids.index("long1")].text == TEXTS[1]
    ids_f, vecs_f = docs.vectors(where="n >= 1")
    assert ids_f == ["b", "long1", "long2"]
    np.testing.assert_allclose(vecs_f, vecs[1:], atol=1e-6)
    assert docs.vectors(where="n > 10")[1].shape == (0, docs.dim)


def test_samples_are_seeded_and_of_the_stated_size(plat: ov.Platform) -> None:
    col = plat.collection("many", dim=4, metric="l2")
    x = np.random.default_rng(0).standard_normal((1_500, 4)).astype(np.float32)
    col.add(vectors=x, ids=list(range(1_500)), metadata=[{"odd": i % 2} for i in range(1_500)])
    ids, vecs = col.vectors(limit=100, seed=7)
    assert len(ids) == 100 and ids == sorted(ids, key=encode_id)
    np.testing.assert_array_equal(vecs, x[ids])
    again, _ = col.vectors(limit=100, seed=7)
    assert again == ids
    assert col.vectors(limit=100, seed=8)[0] != ids
    assert [r.id for r in col.records(limit=100, seed=7)] == ids
    # The sample is drawn from the ids in key order, as documented in Collection.records.
    keys = sorted(encode_id(i) for i in range(1_500))
    pick = sorted(np.random.default_rng(7).choice(1_500, size=100, replace=False))
    assert [encode_id(i) for i in ids] == [keys[j] for j in pick]
    odd, _ = col.vectors(where="odd == 1", limit=50, seed=1)
    assert len(odd) == 50 and all(i % 2 == 1 for i in odd)
    whole, all_vecs = col.vectors(limit=10_000)
    assert len(whole) == 1_500
    np.testing.assert_array_equal(all_vecs, x[whole])

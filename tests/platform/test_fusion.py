"""plat.search over several collections whose records share ids: fused per id, each leg checked
against its own collection's space."""

from __future__ import annotations

import numpy as np
import pytest

import omnivec as ov
from omnivec.errors import InvalidInputError, SpaceMismatchError
from omnivec.platform.fusion import RRF_K, check_weights, fuse

PRODUCTS = {
    "p1": "red running shoes with a light sole",
    "p2": "blue leather office shoes",
    "p3": "a stainless steel kitchen knife",
    "p4": "green trail running sneakers",
    "p5": "a wool winter scarf",
}


@pytest.fixture
def shop(plat: ov.Platform) -> ov.Platform:
    texts = plat.collection("shop_texts", encoder="text")
    texts.add(list(PRODUCTS.values()), ids=list(PRODUCTS), metadata=[{"kind": "text"}] * 5)
    # A second domain over the same ids: hand-made "style" vectors (running-ness, colour).
    style = plat.collection("shop_style", dim=3, metric="cosine")
    vecs = np.array(
        [[1, 0.9, 0], [0, 0.2, 1], [0, 0, 1], [1, 0.1, 0.1], [0, 0.3, 0.8]], dtype=np.float32
    )
    style.add(vectors=vecs, ids=list(PRODUCTS), metadata=[{"kind": "style"}] * 5)
    return plat


def test_rrf_matches_ranks_computed_by_hand(shop: ov.Platform) -> None:
    q_text, q_style = "running shoes", ov.vector([1.0, 0.5, 0.0])
    hits = shop.search({"shop_texts": q_text, "shop_style": q_style}, k=5)
    legs = {
        "shop_texts": shop.collection("shop_texts").search(q_text, k=30),
        "shop_style": shop.collection("shop_style").search(q_style, k=30),
    }
    expected: dict[str, float] = {}
    for leg in legs.values():
        for rank, h in enumerate(leg, 1):
            expected[h.id] = expected.get(h.id, 0.0) + 1.0 / (RRF_K + rank)
    assert [h.id for h in hits] == sorted(expected, key=lambda i: -expected[i])[:5]
    for h in hits:
        assert h.score == pytest.approx(expected[h.id])
        assert set(h.scores or {}) == {"shop_texts", "shop_style"}
    assert hits[0].id in {"p1", "p4"}
    assert hits[0].metadata["kind"] == "text"  # metadata from the first leg that returned it


def test_weights_shift_the_ranking(shop: ov.Platform) -> None:
    q = {"shop_texts": "kitchen knife", "shop_style": ov.vector([1.0, 0.5, 0.0])}
    text_heavy = shop.search(q, k=3, weights={"shop_texts": 1.0, "shop_style": 0.0})
    style_heavy = shop.search(q, k=3, weights={"shop_texts": 0.0, "shop_style": 1.0})
    assert text_heavy[0].id == "p3"
    assert style_heavy[0].id in {"p1", "p4"}
    assert 0.0 <= text_heavy[-1].score <= text_heavy[0].score <= 1.0


def test_each_leg_is_checked_against_its_own_space(shop: ov.Platform) -> None:
    with pytest.raises(SpaceMismatchError):
        shop.search({"shop_texts": "shoes", "shop_style": "shoes"}, k=3)  # text into raw vectors
    with pytest.raises(SpaceMismatchError):
        shop.search({"shop_style": ov.ref("p1", collection="shop_texts")}, k=3)


def test_bad_input(shop: ov.Platform) -> None:
    with pytest.raises(InvalidInputError):
        shop.search({}, k=3)
    with pytest.raises(InvalidInputError):
        shop.search({"shop_texts": ["a", "b"]}, k=3)
    with pytest.raises(InvalidInputError):
        shop.search({"shop_texts": "a"}, k=0)
    with pytest.raises(InvalidInputError, match="not searched"):
        shop.search({"shop_texts": "a"}, k=3, weights={"nope": 1.0})
    with pytest.raises(InvalidInputError, match="all zero"):
        shop.search({"shop_texts": "a"}, k=3, weights={"shop_texts": 0})
    with pytest.raises(ov.errors.NotFoundError):
        shop.search({"no_such": "a"}, k=3)


def test_fuse_and_weights_units() -> None:
    class H:
        def __init__(self, id_: str, score: float) -> None:
            self.id, self.score = id_, score

    legs = {"a": [H("x", 0.9), H("y", 0.5)], "b": [H("y", 10.0), H("z", 2.0)]}
    rrf = fuse(legs, 3)
    assert [f.id for f in rrf] == ["y", "x", "z"]
    weighted = fuse(legs, 3, check_weights((1.0, 1.0), ["a", "b"]))
    assert {f.id for f in weighted[:2]} == {"x", "y"} and weighted[0].score == pytest.approx(1.0)
    assert weighted[2].id == "z" and weighted[2].score == pytest.approx(0.0)
    with pytest.raises(InvalidInputError):
        check_weights((1.0,), ["a", "b"])
    with pytest.raises(InvalidInputError):
        check_weights({"a": -1}, ["a"])
    with pytest.raises(InvalidInputError):
        check_weights({"a": float("nan")}, ["a"])

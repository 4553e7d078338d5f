"""Cold start through content: items nobody touched, placed from their texts (real MiniLM,
real implicit, real Milvus Lite)."""

from __future__ import annotations

import numpy as np
import pytest

import omnivec as ov
from omnivec.errors import InvalidInputError

TOPICS = {
    "space": ["a rocket launch", "astronauts on the moon", "a galaxy far away", "a space station",
              "a mission to mars", "a telescope finds a planet", "aliens visit earth",
              "a comet passes by", "an orbit around saturn", "a starship crew"],
    "cooking": ["baking sourdough bread", "a spicy curry recipe", "grilling steak", "fresh pasta",
                "a chocolate cake", "roasting vegetables", "a french omelette", "thai noodle soup",
                "homemade pizza dough", "a lemon tart"],
    "football": ["a penalty in the final", "the goalkeeper saves", "a transfer of a striker",
                 "the league title race", "a derby match", "the world cup final",
                 "a red card for the defender", "a hat trick", "a corner kick goal",
                 "the coach resigns"],
}  # fmt: skip
COLD = {"space": "a documentary about black holes and stars", "cooking": "how to fry crispy dumplings",
        "football": "the midfielder scores a free kick"}  # fmt: skip


def item_id(topic: str, i: int) -> str:
    return f"{topic}-{i}"


@pytest.fixture
def shop(plat: ov.Platform) -> ov.Platform:
    texts = plat.collection("shop_texts", encoder="text")
    ids, docs = [], []
    for topic, items in TOPICS.items():
        for i, text in enumerate(items):
            ids.append(item_id(topic, i))
            docs.append(f"{topic}: {text}")
    for topic, text in COLD.items():
        ids.append(f"{topic}-new")
        docs.append(f"{topic}: {text}")
    texts.add(docs, ids=ids)
    return plat


def interactions() -> list[tuple[str, str, float]]:
    rng = np.random.default_rng(0)
    rows = []
    for topic in TOPICS:
        for u in range(12):
            for i in rng.choice(10, size=6, replace=False):
                rows.append((f"{topic}-user{u}", item_id(topic, int(i)), 1.0))
    return rows


def test_cold_items_are_placed_and_recommended(shop: ov.Platform) -> None:
    rec = shop.recommender(
        "shop",
        algorithm="als",
        factors=16,
        iterations=15,
        random_state=0,
        item_content="shop_texts",
    )
    rec.fit(interactions())
    cold = {r.id: r.metadata for r in rec.items.get([f"{t}-new" for t in COLD])}
    assert all(meta.get("cold") is True for meta in cold.values())
    assert sorted(rec.cold_start.cold) == sorted(f"{t}-new" for t in COLD)
    for topic in TOPICS:
        hits = rec.recommend(f"{topic}-user0", k=8)
        ids = [h.id for h in hits]
        assert f"{topic}-new" in ids, (topic, ids)
        others = [i for i in ids if i.endswith("-new") and i != f"{topic}-new"]
        assert all(ids.index(f"{topic}-new") < ids.index(o) for o in others)
        # A cold item's nearest items are of its own topic.
        near = rec.similar_items(f"{topic}-new", k=5)
        assert sum(h.id.startswith(topic) for h in near) >= 4
    # A new user, folded in from two interactions, reaches the cold item of their topic.
    new_user = rec.recommend("nobody", k=8, interactions=[("cooking-0", 1.0), ("cooking-1", 1.0)])
    assert "cooking-new" in [h.id for h in new_user]
    # Reopened: the link and the placed items stay.
    again = shop.recommender("shop")
    assert again.items.get(["space-new"])[0].metadata["cold"] is True


def test_bad_links_are_refused(shop: ov.Platform) -> None:
    with pytest.raises(InvalidInputError, match="not a collection"):
        shop.recommender("r1", algorithm="als", item_content="nope")
    shop.collection("other_texts", encoder="text").add(["unrelated"], ids=["x"])
    rec = shop.recommender("r2", algorithm="als", factors=8, item_content="other_texts")
    with pytest.raises(InvalidInputError, match="shares 0 item ids"):
        rec.fit(interactions())
    assert not rec.fitted and len(rec.items) == 0  # nothing written

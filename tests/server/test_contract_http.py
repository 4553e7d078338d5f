"""DESIGN.md's "CLI and server" contract over real HTTP: a `python -m omnivec.server` process on
a free loopback port, over a Milvus Lite file built through the public Python API; the CLI's
``--json`` output for the same queries is captured before the server takes the file."""

from __future__ import annotations

import base64
import io
import json
from collections.abc import Iterator
from typing import Any

import httpx
import numpy as np
import pytest
from typer.testing import CliRunner

import omnivec as ov
from omnivec.cli import app
from tests.helpers.http import running_server

TINY_CLIP: dict[str, Any] = {
    "embed_dim": 32,
    "vision_cfg": {"image_size": 32, "layers": 1, "width": 32, "head_width": 16, "patch_size": 8},
    "text_cfg": {"context_length": 12, "vocab_size": 49408, "width": 32, "heads": 2, "layers": 1},
}
DOCS = [
    ("a", "I love cats", "en", 2001),
    ("b", "Stocks fell", "en", 1999),
    ("c", "Kittens purr when they are happy", "en", 2015),
    ("d", "The central bank raised interest rates", "en", 2020),
    ("f", "Il pleut beaucoup à Paris", "fr", 2010),
]
# Every CLI search whose --json output must equal the HTTP answer: (cli args, HTTP body).
SAME_QUERIES: list[tuple[list[str], dict[str, Any]]] = [
    (["docs", "felines", "-k", "3"], {"query": "felines", "k": 3}),
    (
        ["docs", "felines", "-k", "5", "--where", 'lang == "en" and year > 2000'],
        {"query": "felines", "k": 5, "where": 'lang == "en" and year > 2000'},
    ),
    (["docs", "--ref", "a", "-k", "2"], {"ref": {"id": "a"}, "k": 2}),
]


def png(seed: int) -> bytes:
    from PIL import Image

    arr = np.random.default_rng(seed).integers(0, 256, (40, 40, 3), dtype=np.uint8)
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="PNG")
    return buf.getvalue()


def interactions() -> list[tuple[str, str, float]]:
    rows = []
    for u in range(30):
        group = "a" if u < 15 else "b"
        for j in range(3):
            rows.append((f"u{u}", f"{group}{(u + 2 * j) % 8}", 1.0))
    return rows


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    tmp = tmp_path_factory.mktemp("contract-http")
    db = str(tmp / "http.db")
    with ov.connect(db) as plat:
        docs = plat.collection("docs", encoder="text")
        docs.add(
            [t for _, t, _, _ in DOCS],
            ids=[i for i, _, _, _ in DOCS],
            metadata=[{"lang": la, "year": y} for _, _, la, y in DOCS],
        )
        plat.collection("docs_copy", encoder="text").add(["I love cats"], ids=["a"])
        plat.collection("raw", dim=4, metric="cosine").add(
            vectors=np.eye(4, dtype=np.float32), ids=[1, 2, 3, 4]
        )
        plat.collection("raw384", dim=384, metric="cosine").add(
            vectors=np.ones((1, 384), np.float32), ids=["r"]
        )
        plat.collection("notes", encoder="text")
        photos = plat.collection(
            "photos", encoder="clip", model="tiny", model_cfg=TINY_CLIP, pretrained="random", seed=0
        )
        photos.add(images=[png(0), png(1), png(2)], ids=["p0", "p1", "p2"])
        rec = plat.recommender("movies", algorithm="als", factors=4, random_state=0, num_threads=1)
        rec.fit(interactions())
        python = {
            "felines": ov.hits_payload(docs.search("felines", k=3)),
            "recommend_u1": ov.hits_payload(rec.recommend("u1", k=5)),
        }
    runner = CliRunner()
    cli_out = []
    for args, _ in SAME_QUERIES:
        res = runner.invoke(app, ["search", *args, "--json", "--db", db])
        assert res.exit_code == 0, res.stderr
        cli_out.append(json.loads(res.stdout))
    res = runner.invoke(app, ["recommend", "movies", "u1", "-k", "5", "--json", "--db", db])
    assert res.exit_code == 0, res.stderr
    cli_recommend = json.loads(res.stdout)
    with (
        running_server(db, tmp / "server.log") as base,
        httpx.Client(base_url=base, timeout=60) as client,
    ):
        yield {
            "client": client,
            "cli": cli_out,
            "cli_recommend": cli_recommend,
            "python": python,
        }


@pytest.fixture(scope="module")
def client(world: dict[str, Any]) -> httpx.Client:
    return world["client"]  # type: ignore[no-any-return]


def assert_error(resp: httpx.Response, low: int = 400, high: int = 499) -> dict[str, Any]:
    assert low <= resp.status_code <= high, (resp.status_code, resp.text)
    body = resp.json()
    assert set(body) == {"error", "detail"}, body
    assert isinstance(body["error"], str) and body["error"]
    assert isinstance(body["detail"], str) and body["detail"] and "\n" not in body["detail"]
    return body  # type: ignore[no-any-return]


def hits(resp: httpx.Response) -> list[Any]:
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert set(body) == {"hits"}
    for h in body["hits"]:
        if isinstance(h, dict):
            # Hits of records with stored text also carry "text" (and "passage" for windows).
            assert (
                {"id", "score", "metadata"}
                <= set(h)
                <= {"id", "score", "metadata", "text", "passage", "span"}
            )
    return body["hits"]  # type: ignore[no-any-return]


def test_healthz_and_collections(client: httpx.Client) -> None:
    assert client.get("/healthz").status_code == 200
    resp = client.get("/collections")
    assert resp.status_code == 200
    names = {c["name"] for c in resp.json()["collections"]}
    assert {"docs", "raw", "photos", "notes"} <= names


def test_cli_json_equals_http_answer(client: httpx.Client, world: dict[str, Any]) -> None:
    for (_, body), printed in zip(SAME_QUERIES, world["cli"], strict=True):
        resp = client.post("/collections/docs/search", json=body)
        assert resp.status_code == 200, resp.text
        assert resp.json() == printed, body
    # and both equal what the Python API answers through ov.hits_payload
    resp = client.post("/collections/docs/search", json={"query": "felines", "k": 3})
    assert resp.json() == world["python"]["felines"]
    rec = client.post("/recommenders/movies/recommend", json={"user": "u1", "k": 5})
    assert rec.status_code == 200
    assert rec.json() == world["cli_recommend"]
    # The Python answer right after fit ranks items of exactly equal score (this model has
    # some) in training order, a reopened recommender in store order: same scores and items.
    python = world["python"]["recommend_u1"]["hits"]
    assert [h["score"] for h in rec.json()["hits"]] == pytest.approx([h["score"] for h in python])
    assert sorted(h["id"] for h in rec.json()["hits"]) == sorted(h["id"] for h in python)


def test_search_every_query_kind(client: httpx.Client) -> None:
    text = hits(client.post("/collections/docs/search", json={"query": "felines", "k": 2}))
    assert {h["id"] for h in text} == {"a", "c"}
    assert text[0]["score"] >= text[1]["score"]
    assert text[0]["metadata"]["lang"] == "en"
    filtered = hits(
        client.post(
            "/collections/docs/search",
            json={"query": "rain", "k": 5, "where": 'lang == "fr"'},
        )
    )
    assert [h["id"] for h in filtered] == ["f"]
    # ref in its own collection leaves the record out; into another collection keeps it
    own = hits(client.post("/collections/docs/search", json={"ref": {"id": "a"}, "k": 10}))
    assert "a" not in [h["id"] for h in own] and len(own) == len(DOCS) - 1
    across = hits(
        client.post(
            "/collections/docs/search",
            json={"ref": {"id": "a", "collection": "docs_copy"}, "k": 10},
        )
    )
    assert across[0]["id"] == "a" and len(across) == len(DOCS)
    assert across[0]["score"] == pytest.approx(1.0, abs=1e-5)
    # vectors: JSON integers are numbers too; int ids come back as ints
    vec = hits(client.post("/collections/raw/search", json={"vector": [0, 0, 1, 0], "k": 2}))
    assert vec[0]["id"] == 3 and vec[0]["score"] == pytest.approx(1.0, abs=1e-6)
    vec2 = hits(client.post("/collections/raw/search", json={"vector": [0.0, 1.0, 0.0, 0.0]}))
    assert vec2[0]["id"] == 2
    # images: base64 bytes, image -> image and text -> image in one CLIP space
    b64 = base64.b64encode(png(1)).decode()
    img = hits(client.post("/collections/photos/search", json={"image": b64, "k": 3}))
    assert img[0]["id"] == "p1" and img[0]["score"] == pytest.approx(1.0, abs=1e-4)
    t2i = hits(client.post("/collections/photos/search", json={"query": "a cat", "k": 3}))
    assert sorted(h["id"] for h in t2i) == ["p0", "p1", "p2"]


def test_batches_answer_a_list_of_lists(client: httpx.Client) -> None:
    for body in (
        {"queries": ["felines", "markets"], "k": 2},
        {"query": ["felines", "markets"], "k": 2},
    ):
        rows = hits(client.post("/collections/docs/search", json=body))
        assert len(rows) == 2 and all(isinstance(r, list) and len(r) == 2 for r in rows)
        assert rows[0][0]["id"] in {"a", "c"} and rows[1][0]["id"] in {"b", "d"}
    for body in (
        {"vectors": [[1, 0, 0, 0], [0, 0, 0, 1]], "k": 1},
        {"vector": [[1, 0, 0, 0], [0, 0, 0, 1]], "k": 1},
    ):
        rows = hits(client.post("/collections/raw/search", json=body))
        assert [r[0]["id"] for r in rows] == [1, 4]


def test_add_then_search(client: httpx.Client) -> None:
    resp = client.post(
        "/collections/notes/add",
        json={
            "items": ["Rockets reach orbit", "Bread needs yeast"],
            "ids": ["r1", 7],
            "metadata": [{"topic": "space"}, {"topic": "food"}],
        },
    )
    assert resp.status_code == 200, resp.text
    found = hits(client.post("/collections/notes/search", json={"query": "baking", "k": 1}))
    assert found[0]["id"] == 7 and found[0]["metadata"] == {"topic": "food"}


@pytest.mark.parametrize("k", [0, -1, 16_385, 10**12])
def test_k_out_of_range_is_4xx_never_clamped(client: httpx.Client, k: int) -> None:
    body = assert_error(client.post("/collections/docs/search", json={"query": "x", "k": k}))
    assert "k" in body["detail"]
    assert_error(client.post("/recommenders/movies/recommend", json={"user": "u1", "k": k}))


def test_k_upper_limit_is_accepted(client: httpx.Client) -> None:
    rows = hits(client.post("/collections/docs/search", json={"query": "x", "k": 16_384}))
    assert len(rows) == len(DOCS)


@pytest.mark.parametrize(
    ("path", "body", "status"),
    [
        ("/collections/nope/search", {"query": "x"}, 404),
        ("/collections/bad-name/search", {"query": "x"}, None),
        ("/collections/docs/search", {"query": "x", "k": 2.5}, None),
        ("/collections/docs/search", {"query": "x", "k": "5"}, None),
        ("/collections/docs/search", {}, None),
        ("/collections/docs/search", {"query": "x", "vector": [1.0]}, None),
        ("/collections/docs/search", {"querry": "x"}, None),
        ("/collections/docs/search", {"query": []}, None),
        ("/collections/docs/search", {"ref": {"id": "zzz"}}, 404),
        ("/collections/docs/search", {"ref": {"id": "r", "collection": "raw384"}}, 400),
        ("/collections/docs/search", {"image": base64.b64encode(png(0)).decode()}, 400),
        ("/collections/docs/search", {"image": "not base64!!"}, 400),
        ("/collections/docs/search", {"query": "x", "where": "lang ==="}, 400),
        ("/collections/raw/search", {"query": "text into raw"}, 400),
        ("/collections/raw/search", {"vector": [1.0, 0.0, 0.0]}, 400),
        ("/collections/raw/search", {"vector": []}, 400),
        ("/collections/raw/search", {"vector": [[1, 0, 0, 0], [1, 0]]}, 400),
        ("/collections/notes/add", {"items": []}, 400),
        ("/collections/notes/add", {"items": ["x", "y"], "ids": ["d1", "d1"]}, 400),
        ("/collections/notes/add", {"items": ["x", "y"], "ids": ["d1"]}, 400),
        ("/collections/notes/add", {"items": ["x"], "metadata": [{}, {}]}, 400),
        ("/collections/raw/add", {"vectors": [[1.0, 2.0]], "ids": ["v"]}, 400),
        ("/recommenders/movies/recommend", {"user": "stranger"}, 404),
        ("/recommenders/nope/recommend", {"user": "u1"}, 404),
    ],
)
def test_bad_input_is_a_4xx_error_body(
    client: httpx.Client, path: str, body: dict[str, Any], status: int | None
) -> None:
    err = assert_error(client.post(path, json=body))
    if status is not None:
        assert client.post(path, json=body).status_code == status
    assert err["error"]


def test_nan_and_malformed_json_are_4xx(client: httpx.Client) -> None:
    headers = {"content-type": "application/json"}
    for raw in ('{"vector": [NaN, 0, 0, 0]}', '{"vector": [Infinity, 0, 0, 0]}', "{not json", ""):
        assert_error(client.post("/collections/raw/search", content=raw, headers=headers))
    assert_error(
        client.post(
            "/collections/raw/add",
            content='{"vectors": [[NaN, 0, 0, 0]], "ids": ["n"]}',
            headers=headers,
        )
    )
    # nothing of a rejected batch was written
    rows = hits(client.post("/collections/raw/search", json={"vector": [1, 1, 1, 1], "k": 10}))
    assert sorted(h["id"] for h in rows) == [1, 2, 3, 4]


def test_recommend_route(client: httpx.Client) -> None:
    one = hits(client.post("/recommenders/movies/recommend", json={"user": "u1", "k": 10}))
    assert len(one) == 10
    seen = {i for u, i, _ in interactions() if u == "u1"}
    assert not seen & {h["id"] for h in one}
    scores = [h["score"] for h in one]
    assert scores == sorted(scores, reverse=True)
    batch = hits(
        client.post("/recommenders/movies/recommend", json={"users": ["u1", "u20"], "k": 3})
    )
    assert len(batch) == 2 and all(len(r) == 3 for r in batch)
    folded = hits(
        client.post(
            "/recommenders/movies/recommend",
            json={"user": "stranger", "k": 3, "interactions": [["b1", 1.0], ["b3", 1.0]]},
        )
    )
    assert len(folded) == 3 and not {"b1", "b3"} & {h["id"] for h in folded}

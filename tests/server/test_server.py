"""The HTTP API end to end: a real `python -m omnivec.server` process on a loopback port,
over a Milvus Lite file populated through the public Python API, driven with httpx."""

from __future__ import annotations

import base64
import json
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

import omnivec as ov
from tests.helpers.http import (
    DOCS,
    HAVE_CLIP,
    HAVE_GRAPH,
    HAVE_RECS,
    SAMPLE_IMAGES,
    png_b64,
    populate_all,
    running_server,
)

pytestmark = pytest.mark.slow


# -- the server under test -------------------------------------------------------------------


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    tmp = tmp_path_factory.mktemp("http")
    db = str(tmp / "http.db")
    populate_all(db)
    log = tmp / "server.log"
    with running_server(db, log) as base:
        yield base, log


@pytest.fixture(scope="module")
def client(server: tuple[str, Path]) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server[0], timeout=60) as c:
        yield c


def search(client: httpx.Client, name: str, **body: Any) -> httpx.Response:
    return client.post(f"/collections/{name}/search", json=body)


# -- healthy paths ---------------------------------------------------------------------------


def test_healthz(client: httpx.Client) -> None:
    r = client.get("/healthz")
    assert r.status_code == 200
    body = r.json()
    assert body["status"] == "ok"
    assert body["version"] == ov.__version__
    assert body["collections"] >= 2


def test_collections_list_names_encoders_and_modalities(client: httpx.Client) -> None:
    r = client.get("/collections")
    assert r.status_code == 200
    cols = {c["name"]: c for c in r.json()["collections"]}
    assert cols["docs"] == {
        "name": "docs",
        "encoder": "text",
        "modalities": ["text"],
        "dim": 384,
        "metric": "cosine",
        "count": len(DOCS),
        "recommender": None,
        "keywords": False,
        "analyzer": None,
    }
    assert cols["raw"]["encoder"] is None
    assert cols["raw"]["modalities"] == []
    assert (cols["raw"]["dim"], cols["raw"]["count"]) == (4, 4)
    if HAVE_CLIP:
        assert set(cols["photos"]["modalities"]) == {"text", "image"}
        assert cols["photos"]["count"] == len(SAMPLE_IMAGES)
    if HAVE_GRAPH:
        assert cols["karate"]["modalities"] == ["node"]
        assert cols["karate"]["count"] == 34


def test_collection_info(client: httpx.Client) -> None:
    r = client.get("/collections/docs")
    assert r.status_code == 200
    info = r.json()
    assert info["name"] == "docs"
    assert info["encoder"] == "text"
    assert info["space"]["dim"] == 384
    assert info["space"]["model"] == "all-MiniLM-L6-v2"
    assert info["count"] == len(DOCS)
    assert info["modalities"] == ["text"]


def test_text_search_ranks_the_matching_document_first(client: httpx.Client) -> None:
    r = search(client, "docs", query="felines and kittens", k=3)
    assert r.status_code == 200
    hits = r.json()["hits"]
    assert hits[0]["id"] == "cat"
    assert len(hits) == 3
    assert (
        {"id", "score", "metadata"} <= set(hits[0]) <= {"id", "score", "metadata", "text", "span"}
    )
    assert hits[0]["metadata"] == {"text": DOCS[0][1], "topic": "pets", "year": 2001}
    scores = [h["score"] for h in hits]
    assert scores == sorted(scores, reverse=True)
    assert 0.3 < scores[0] <= 1.0


def test_default_k_is_10_and_k_max_is_accepted(client: httpx.Client) -> None:
    assert len(search(client, "docs", query="news").json()["hits"]) == len(DOCS)  # fewer than 10
    r = search(client, "docs", query="news", k=16_384)
    assert r.status_code == 200
    assert len(r.json()["hits"]) == len(DOCS)


def test_batch_of_queries_answers_a_list_of_lists(client: httpx.Client) -> None:
    r = search(client, "docs", queries=["kittens", "stock market crash", "orbit"], k=2)
    assert r.status_code == 200
    hits = r.json()["hits"]
    assert [row[0]["id"] for row in hits] == ["cat", "stocks", "rocket"]
    assert all(len(row) == 2 for row in hits)


def test_where_filter_and_min_score(client: httpx.Client) -> None:
    r = search(client, "docs", query="animals", k=10, where='topic == "finance"')
    assert r.status_code == 200
    hits = r.json()["hits"]
    assert {h["id"] for h in hits} == {"stocks", "bonds"}
    r = search(client, "docs", query="animals", k=10, where="year < 2000")
    assert {h["id"] for h in r.json()["hits"]} == {"dog", "moon"}
    all_hits = search(client, "docs", query="kittens").json()["hits"]
    cut = all_hits[2]["score"]
    kept = search(client, "docs", query="kittens", min_score=cut).json()["hits"]
    assert [h["id"] for h in kept] == [h["id"] for h in all_hits[:3]]


def test_ref_search_leaves_the_record_out(client: httpx.Client) -> None:
    r = search(client, "docs", ref={"id": "cat"}, k=3)
    assert r.status_code == 200
    ids = [h["id"] for h in r.json()["hits"]]
    assert "cat" not in ids
    assert ids[0] == "dog"


def test_vector_search_on_a_vectors_only_collection(client: httpx.Client) -> None:
    r = search(client, "raw", vector=[0.0, 0.0, 2.0, 0.1], k=2)
    assert r.status_code == 200
    hits = r.json()["hits"]
    assert hits[0]["id"] == 3  # int ids come back as ints
    assert hits[0]["metadata"] == {"axis": 2}
    assert hits[0]["score"] == pytest.approx(2.0 / np.sqrt(4.01), abs=1e-5)
    r = search(client, "raw", vectors=[[1, 0, 0, 0], [0, 1, 0, 0]], k=1)
    assert r.json()["hits"] == [
        [{"id": 1, "score": pytest.approx(1.0), "metadata": {"axis": 0}}],
        [{"id": 2, "score": pytest.approx(1.0), "metadata": {"axis": 1}}],
    ]
    r = search(client, "raw", ref={"id": 1}, k=4)
    ids = [h["id"] for h in r.json()["hits"]]
    assert 1 not in ids  # a record is not its own "more like this" hit
    assert set(ids) == {2, 3, 4}


def test_add_texts_then_find_them(client: httpx.Client) -> None:
    r = client.post(
        "/collections/docs/add",
        json={
            "items": ["Volcanoes erupt with molten lava", "Glaciers melt slowly"],
            "ids": ["volcano", 77],
            "metadata": [{"topic": "earth"}, None],
        },
    )
    assert r.status_code == 200, r.text
    assert r.json() == {"ids": ["volcano", 77], "count": 2}
    hits = search(client, "docs", query="lava eruption", k=1).json()["hits"]
    assert hits[0]["id"] == "volcano"
    assert hits[0]["metadata"] == {"topic": "earth"}
    assert search(client, "docs", query="ice melting", k=1).json()["hits"][0]["id"] == 77
    assert client.get("/collections/docs").json()["count"] == len(DOCS) + 2


def test_add_vectors_and_rejected_batches_write_nothing(client: httpx.Client) -> None:
    r = client.post("/collections/raw/add", json={"vectors": [[1, 1, 0, 0]], "ids": ["diag"]})
    assert r.status_code == 200
    assert search(client, "raw", vector=[1, 1, 0, 0], k=1).json()["hits"][0]["id"] == "diag"
    before = client.get("/collections/raw").json()["count"]
    bad = [
        {"vectors": [[1, 0, 0, 0], [0, 1, 0]], "ids": ["x1", "x2"]},  # ragged
        {"vectors": [[1, 0, 0]], "ids": ["x1"]},  # wrong dim
        {"vectors": [[1, 0, 0, 0], [0, 1, 0, 0]], "ids": ["x1", "x1"]},  # duplicate ids
        {"vectors": [[1, 0, 0, 0]], "ids": ["x1", "x2"]},  # ids / rows mismatch
        {"vectors": [[1, 0, 0, 0]], "metadata": [{"bad key": 1}]},
        {"vectors": []},
        {"items": ["text"]},  # no encoder
        {},
    ]
    for body in bad:
        r = client.post("/collections/raw/add", json=body)
        assert 400 <= r.status_code < 500, (body, r.text)
        assert set(r.json()) == {"error", "detail"}
    assert client.get("/collections/raw").json()["count"] == before


# -- bad requests: 4xx with a JSON error body, and the server stays healthy ------------------

BAD_SEARCHES: list[tuple[str, str, Any, int, str]] = [
    # (id, collection, body, status, error)
    ("unknown-collection", "nope", {"query": "x"}, 404, "NotFoundError"),
    ("invalid-collection-name", "bad-name", {"query": "x"}, 400, "InvalidInputError"),
    ("k-zero", "docs", {"query": "x", "k": 0}, 400, "InvalidInputError"),
    ("k-negative", "docs", {"query": "x", "k": -3}, 400, "InvalidInputError"),
    ("k-too-large", "docs", {"query": "x", "k": 16_385}, 400, "InvalidInputError"),
    ("k-float", "docs", {"query": "x", "k": 2.5}, 422, "invalid_request"),
    ("k-string", "docs", {"query": "x", "k": "5"}, 422, "invalid_request"),
    ("missing-query", "docs", {"k": 5}, 400, "InvalidInputError"),
    ("two-queries", "docs", {"query": "x", "vector": [1.0]}, 400, "InvalidInputError"),
    ("misspelt-field", "docs", {"querry": "x"}, 422, "invalid_request"),
    ("query-not-text", "docs", {"query": 5}, 422, "invalid_request"),
    ("empty-batch", "docs", {"queries": []}, 400, "InvalidInputError"),
    ("wrong-dim", "raw", {"vector": [1.0, 2.0, 3.0]}, 400, "DimensionMismatchError"),
    ("wrong-dim-batch", "raw", {"vectors": [[1.0, 2.0]]}, 400, "DimensionMismatchError"),
    ("ragged-batch", "raw", {"vectors": [[1, 0, 0, 0], [1, 0]]}, 400, "InvalidInputError"),
    ("text-into-raw", "raw", {"query": "hello"}, 400, "SpaceMismatchError"),
    ("image-into-text", "docs", {"image": "aGVsbG8="}, 400, "SpaceMismatchError"),
    ("bad-base64", "docs", {"image": "not base64!"}, 400, "InvalidInputError"),
    ("bad-filter", "docs", {"query": "x", "where": "topic =="}, 400, "InvalidInputError"),
    ("filter-not-str", "docs", {"query": "x", "where": 3}, 422, "invalid_request"),
    ("unknown-ref", "docs", {"ref": {"id": "no-such-id"}}, 404, "NotFoundError"),
    (
        "ref-unknown-collection",
        "docs",
        {"ref": {"id": "a", "collection": "nope"}},
        404,
        "NotFoundError",
    ),
    ("ref-other-space", "docs", {"ref": {"id": 1, "collection": "raw"}}, 400, "SpaceMismatchError"),
    ("ref-bool-id", "docs", {"ref": {"id": True}}, 422, "invalid_request"),
    ("min-score-string", "docs", {"query": "x", "min_score": "high"}, 422, "invalid_request"),
    ("body-not-object", "docs", ["x"], 422, "invalid_request"),
]


@pytest.mark.parametrize(
    ("name", "body", "status", "error"),
    [case[1:] for case in BAD_SEARCHES],
    ids=[case[0] for case in BAD_SEARCHES],
)
def test_bad_search_is_a_4xx_json_error(
    client: httpx.Client, name: str, body: Any, status: int, error: str
) -> None:
    r = search_raw(client, name, body)
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/json")
    payload = r.json()
    assert set(payload) == {"error", "detail"}
    assert payload["error"] == error
    assert payload["detail"] and "\n" not in payload["detail"]
    assert client.get("/healthz").status_code == 200


def search_raw(client: httpx.Client, name: str, body: Any) -> httpx.Response:
    return client.post(
        f"/collections/{name}/search",
        content=json.dumps(body),
        headers={"content-type": "application/json"},
    )


@pytest.mark.parametrize(
    ("content", "headers"),
    [
        ('{"query": "x",', {"content-type": "application/json"}),
        ("not json at all", {"content-type": "application/json"}),
        ("", {"content-type": "application/json"}),
    ],
    ids=["truncated", "garbage", "empty"],
)
def test_invalid_json_is_a_4xx_json_error(
    client: httpx.Client, content: str, headers: dict[str, str]
) -> None:
    r = client.post("/collections/docs/search", content=content, headers=headers)
    assert 400 <= r.status_code < 500
    payload = r.json()
    assert set(payload) == {"error", "detail"}
    assert payload["error"] in {"invalid_json", "invalid_request"}
    assert client.get("/healthz").status_code == 200


def test_nan_in_a_vector_is_refused(client: httpx.Client) -> None:
    # JSON has no NaN, but Python's parser (and many clients) accept the literal.
    r = client.post(
        "/collections/raw/search",
        content='{"vector": [NaN, 0, 0, 0]}',
        headers={"content-type": "application/json"},
    )
    assert r.status_code == 400
    assert r.json()["error"] == "InvalidInputError"


def test_unknown_route_and_method_answer_json(client: httpx.Client) -> None:
    r = client.get("/no/such/route")
    assert r.status_code == 404
    assert r.json()["error"] == "not_found"
    r = client.delete("/collections")
    assert r.status_code == 405
    assert r.json()["error"] == "method_not_allowed"
    r = client.get("/collections/nope")
    assert r.status_code == 404
    assert r.json()["error"] == "NotFoundError"


def test_oversized_body_is_refused_before_it_is_read(server: tuple[str, Path]) -> None:
    from omnivec.server import MAX_BODY_BYTES

    # httpx will not send a Content-Length it does not honour, so speak HTTP/1.1 by hand.
    host, port = server[0].removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=30) as sock:
        sock.sendall(
            (
                "POST /collections/docs/search HTTP/1.1\r\nHost: x\r\n"
                "Content-Type: application/json\r\n"
                f"Content-Length: {MAX_BODY_BYTES + 1}\r\nConnection: close\r\n\r\n{{}}"
            ).encode()
        )
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.split(b" ")[1] == b"413"
    assert json.loads(body)["error"] == "too_large"


# -- images, graphs, recommenders -------------------------------------------------------------


@pytest.mark.skipif(not HAVE_CLIP, reason="omnivec.encoders.clip is not in this tree yet")
def test_image_search_and_thumbnails(client: httpx.Client) -> None:
    r = search(client, "photos", image=png_b64("coffee"), k=3)
    assert r.status_code == 200, r.text
    hits = r.json()["hits"]
    assert hits[0]["id"] == "coffee"
    assert hits[0]["score"] == pytest.approx(1.0, abs=1e-4)
    assert hits[0]["metadata"]["title"] == "coffee"
    assert hits[0]["metadata"]["thumbnail"].startswith("data:image/")
    # A data: URI (what the web page sends) works the same.
    r = search(client, "photos", image="data:image/png;base64," + png_b64("coffee"), k=1)
    assert r.json()["hits"][0]["id"] == "coffee"
    # Text queries land in the same space (random weights: only the shape is meaningful).
    r = search(client, "photos", query="a photo of a cat", k=2)
    assert r.status_code == 200
    assert len(r.json()["hits"]) == 2
    # Adding an image through the API stores a thumbnail too.
    r = client.post(
        "/collections/photos/add", json={"images": [png_b64("camera")], "ids": ["camera"]}
    )
    assert r.status_code == 200, r.text
    hit = search(client, "photos", image=png_b64("camera"), k=1).json()["hits"][0]
    assert hit["id"] == "camera"
    assert hit["metadata"]["thumbnail"].startswith("data:image/")
    r = search(client, "photos", image=base64.b64encode(b"definitely not an image").decode())
    assert 400 <= r.status_code < 500
    assert set(r.json()) == {"error", "detail"}


@pytest.mark.skipif(not HAVE_GRAPH, reason="omnivec.encoders.node2vec is not in this tree yet")
def test_graph_search_by_node_id(client: httpx.Client) -> None:
    r = search(client, "karate", ref={"id": 0}, k=5)
    assert r.status_code == 200, r.text
    ids = [h["id"] for h in r.json()["hits"]]
    assert len(ids) == 5
    assert 0 not in ids
    assert all(isinstance(i, int) for i in ids)
    r = search(client, "karate", query="node zero")
    assert r.status_code == 400
    assert r.json()["error"] == "SpaceMismatchError"
    assert search(client, "karate", ref={"id": 999}).status_code == 404


@pytest.mark.skipif(not HAVE_RECS, reason="omnivec.recs.recommender is not in this tree yet")
def test_recommender_routes(client: httpx.Client) -> None:
    r = client.get("/recommenders")
    assert r.status_code == 200
    recs = {x["name"]: x for x in r.json()["recommenders"]}
    assert recs["movies"]["algorithm"] == "als"
    r = client.post("/recommenders/movies/recommend", json={"user": "u0", "k": 3})
    assert r.status_code == 200, r.text
    hits = r.json()["hits"]
    assert len(hits) == 3
    assert not {h["id"] for h in hits} & {"a0", "a1", "a2"}  # exclude_seen defaults to true
    assert all(h["id"].startswith("a") for h in hits)  # u0's taste group
    r = client.post(
        "/recommenders/movies/recommend",
        json={"users": ["u0", "u25"], "k": 3, "exclude_seen": False},
    )
    rows = r.json()["hits"]
    assert len(rows) == 2
    assert all(h["id"].startswith("a") for h in rows[0])
    assert all(h["id"].startswith("b") for h in rows[1])
    # A user the model never saw, folded in from interactions.
    r = client.post(
        "/recommenders/movies/recommend",
        json={"user": "newbie", "interactions": [["b1", 1.0], "b2"], "k": 3},
    )
    assert r.status_code == 200, r.text
    assert all(h["id"].startswith("b") for h in r.json()["hits"])
    r = client.post("/recommenders/movies/similar-items", json={"item": "a1", "k": 3})
    assert r.status_code == 200, r.text
    assert "a1" not in [h["id"] for h in r.json()["hits"]]
    assert all(h["id"].startswith("a") for h in r.json()["hits"])
    for path, body, status in [
        ("/recommenders/movies/recommend", {"user": "nobody"}, 404),
        ("/recommenders/movies/recommend", {"user": "u0", "k": 0}, 400),
        ("/recommenders/movies/recommend", {"k": 3}, 400),
        ("/recommenders/nope/recommend", {"user": "u0"}, 404),
        ("/recommenders/movies/similar-items", {"item": "zzz"}, 404),
    ]:
        r = client.post(path, json=body)
        assert r.status_code == status, (path, body, r.text)
        assert set(r.json()) == {"error", "detail"}


def test_unknown_recommender_is_404(client: httpx.Client) -> None:
    r = client.post("/recommenders/nope/recommend", json={"user": "u1"})
    assert r.status_code == 404
    assert r.json()["error"] == "NotFoundError"
    r = client.post("/recommenders/bad-name/recommend", json={"user": "u1"})
    assert r.status_code == 400


# -- page and docs -----------------------------------------------------------------------------


def test_page_is_self_contained(client: httpx.Client) -> None:
    r = client.get("/")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/html")
    assert "default-src 'self'" in r.headers["content-security-policy"]
    html = r.text
    assert '<select id="collection"' in html
    for asset in ("/static/app.js", "/static/style.css"):
        assert asset in html
        a = client.get(asset)
        assert a.status_code == 200
        assert "http://" not in a.text and "https://" not in a.text, asset
    assert "http://" not in html and "https://" not in html
    assert client.head("/").status_code == 200


def test_openapi_documents_every_route(client: httpx.Client) -> None:
    spec = client.get("/openapi.json").json()
    paths = set(spec["paths"])
    assert {
        "/healthz",
        "/collections",
        "/collections/{name}",
        "/collections/{name}/add",
        "/collections/{name}/search",
        "/recommenders",
        "/recommenders/{name}/recommend",
        "/recommenders/{name}/similar-items",
    } <= paths
    assert client.get("/docs").status_code == 200


def test_reembed_and_reindex_routes(client: httpx.Client) -> None:
    """Re-embed "docs" to another max_seq_length (its texts are short: the same ranking),
    turn keywords on and off again; bad bodies are one-line 4xx errors."""
    before = client.post("/collections/docs/search", json={"query": "kittens", "k": 3}).json()
    r = client.post("/collections/docs/reembed", json={"options": {"max_seq_length": 128}})
    assert r.status_code == 200, r.text
    report = r.json()
    assert report["name"] == "docs" and report["records"] == report["encoded"] >= len(DOCS)
    assert report["space"] != report["old_space"]
    after = client.post("/collections/docs/search", json={"query": "kittens", "k": 3}).json()
    assert [h["id"] for h in after["hits"]] == [h["id"] for h in before["hits"]]
    info = client.get("/collections/docs").json()
    assert info["config"]["max_seq_length"] == 128
    for body, status in (
        ({"options": {}}, 400),
        ({"options": {"progress": True}}, 400),
        ({}, 422),
        ({"options": {"max_seq_length": 128}, "extra": 1}, 422),
    ):
        bad = client.post("/collections/docs/reembed", json=body)
        assert bad.status_code == status, (body, bad.text)
        assert set(bad.json()) == {"error", "detail"} and "\n" not in bad.json()["detail"]
    assert (
        client.post("/collections/nope/reembed", json={"options": {"model": "x"}}).status_code
        == 404
    )
    r = client.post("/collections/docs/reindex", json={"keywords": True})
    assert r.status_code == 200, r.text
    assert client.get("/collections/docs").json().get("keywords")
    hits = client.post(
        "/collections/docs/search", json={"query": "kittens", "k": 1, "mode": "keyword"}
    ).json()["hits"]
    assert hits[0]["id"] == "cat"
    r = client.post("/collections/docs/reindex", json={"keywords": False})  # as it was
    assert r.status_code == 200, r.text
    assert client.post("/collections/docs/reindex", json={"keywords": False}).status_code == 400


def test_no_request_crashed_the_server(server: tuple[str, Path], client: httpx.Client) -> None:
    """Runs last in this module: nothing above produced a 500 or a traceback in the log."""
    assert client.get("/healthz").status_code == 200
    log = server[1].read_text()
    assert "Traceback" not in log, log[-3000:]
    assert "internal_error" not in log

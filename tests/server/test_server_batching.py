"""Cross-request micro-batching: concurrent searches answered together are answered right, a
bad query fails alone, and the model really is called fewer times than there are requests.

A real uvicorn server on loopback (in a thread of this process, so the test can count the
real encoder's calls) over a real Milvus Lite file and the bundled MiniLM model."""

from __future__ import annotations

import asyncio
import base64
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

import omnivec as ov
from omnivec.errors import DimensionMismatchError, SpaceMismatchError
from omnivec.server import create_app
from omnivec.server.batching import SearchBatcher
from tests.helpers.http import DOCS, free_port

pytestmark = pytest.mark.slow


class EncodeCounter:
    """Counts calls into the real encoder's ``encode`` (and still runs it)."""

    def __init__(self, col: Any) -> None:
        self.enc = col.encoder
        self.real = self.enc.encode
        self.calls: list[int] = []

    def __enter__(self) -> EncodeCounter:
        def counting(batch: Any, *args: Any, **kwargs: Any) -> Any:
            self.calls.append(len(batch))
            return self.real(batch, *args, **kwargs)

        self.enc.encode = counting
        return self

    def __exit__(self, *exc: object) -> None:
        del self.enc.encode  # back to the class's method


@pytest.fixture(scope="module")
def plat(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ov.Platform]:
    db = str(tmp_path_factory.mktemp("batching") / "b.db")
    with ov.connect(db) as p:
        docs = p.collection("docs", encoder="text")
        docs.add(
            [t for _, t, _, _ in DOCS],
            ids=[i for i, _, _, _ in DOCS],
            metadata=[{"topic": c, "year": y} for _, _, c, y in DOCS],
        )
        docs.search("warm up", k=1)
        yield p


@pytest.fixture(scope="module")
def live(plat: ov.Platform) -> Iterator[tuple[str, Any]]:
    import uvicorn

    app = create_app(plat)
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "server did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}", app
    server.should_exit = True
    thread.join(30)


def fire(base: str, bodies: list[dict[str, Any]], clients: int = 16) -> list[httpx.Response]:
    """POST every body to /collections/docs/search from ``clients`` threads started together."""
    barrier = threading.Barrier(clients)
    out: list[httpx.Response | None] = [None] * len(bodies)

    def client(c: int) -> None:
        with httpx.Client(base_url=base, timeout=120) as http:
            http.get("/healthz")
            barrier.wait()
            for i in range(c, len(bodies), clients):
                out[i] = http.post("/collections/docs/search", json=bodies[i])

    with ThreadPoolExecutor(clients) as pool:
        list(pool.map(client, range(clients)))
    assert all(r is not None for r in out)
    return out  # type: ignore[return-value]


def same_hits(got: list[dict[str, Any]], expected: list[ov.Hit]) -> None:
    assert [h["id"] for h in got] == [h.id for h in expected]
    np.testing.assert_allclose([h["score"] for h in got], [h.score for h in expected], atol=1e-5)


def test_concurrent_searches_are_batched_and_answered_right(
    plat: ov.Platform, live: tuple[str, Any]
) -> None:
    base, app = live
    col = plat.get_collection("docs")
    queries = [f"question {i} about {DOCS[i % len(DOCS)][1].split()[2]}" for i in range(64)]
    bodies = [{"query": q, "k": 3} for q in queries]
    batcher = app.state.batcher
    before = (batcher.batches, batcher.queries)
    with EncodeCounter(col) as counter:
        responses = fire(base, bodies)
    assert [r.status_code for r in responses] == [200] * len(bodies)
    # Fewer model calls than requests: concurrent queries were encoded together.
    assert 0 < len(counter.calls) < len(bodies), counter.calls
    assert sum(counter.calls) == len(bodies)
    assert batcher.queries - before[1] == len(bodies)
    assert batcher.batches - before[0] < len(bodies)
    # Each answer is that query's own: the same as searching it alone in process.
    for q, r in zip(queries, responses, strict=True):
        same_hits(r.json()["hits"], col.search(q, k=3))


def test_different_options_are_grouped_apart(plat: ov.Platform, live: tuple[str, Any]) -> None:
    base, _ = live
    col = plat.get_collection("docs")
    bodies: list[dict[str, Any]] = []
    for i in range(32):
        body: dict[str, Any] = {"query": f"tell me about topic {i}", "k": 1 + i % 4}
        if i % 3 == 0:
            body["where"] = 'topic == "space"'
        bodies.append(body)
    responses = fire(base, bodies)
    for body, r in zip(bodies, responses, strict=True):
        assert r.status_code == 200, r.text
        expected = col.search(body["query"], k=body["k"], where=body.get("where"))
        same_hits(r.json()["hits"], expected)
        if "where" in body:
            assert {h["id"] for h in r.json()["hits"]} <= {"rocket", "moon"}


def test_a_bad_query_fails_alone(plat: ov.Platform, live: tuple[str, Any]) -> None:
    base, _ = live
    col = plat.get_collection("docs")
    png = base64.b64encode(b"\x89PNG not really").decode()
    bodies: list[dict[str, Any]] = []
    for i in range(40):
        if i % 10 == 3:
            bodies.append({"image": png, "k": 2})  # a text-only collection cannot take it
        elif i % 10 == 7:
            bodies.append({"vector": [0.1] * 5, "k": 2})  # wrong dim
        else:
            bodies.append({"query": f"bad neighbours {i}", "k": 2})
    responses = fire(base, bodies)
    for body, r in zip(bodies, responses, strict=True):
        if "query" in body:
            assert r.status_code == 200, r.text
            same_hits(r.json()["hits"], col.search(body["query"], k=2))
        else:
            assert r.status_code == 400, r.text
            err = r.json()["error"]
            expected = "DimensionMismatchError" if "vector" in body else "SpaceMismatchError"
            assert err == expected, r.text


def test_batcher_one_call_per_group_and_failures_isolated(plat: ov.Platform) -> None:
    """The batcher itself, driven from one event loop: queries submitted together go in one
    Collection.search (one encoder call); bad ones get their own errors."""
    col = plat.get_collection("docs")
    batcher = SearchBatcher(lambda name, qs, opts: plat.get_collection(name).search(qs, **opts))
    good = [f"fresh question number {i}" for i in range(18)]
    queries: list[Any] = list(good)
    queries.insert(5, ov.vector(np.ones(7, dtype=np.float32)))
    queries.insert(12, ov.image(b"not an image"))

    async def run_all() -> list[Any]:
        jobs = [batcher.search("docs", q, {"k": 2, "where": None}) for q in queries]
        return await asyncio.gather(*jobs, return_exceptions=True)

    with EncodeCounter(col) as counter:
        results = asyncio.run(run_all())
    assert isinstance(results[5], DimensionMismatchError)
    assert isinstance(results[12], SpaceMismatchError)
    answers = [r for i, r in enumerate(results) if i not in (5, 12)]
    # The failed batch is retried in halves: the good queries still share model calls.
    assert 0 < len(counter.calls) < len(good), counter.calls
    for q, hits in zip(good, answers, strict=True):
        assert [h.id for h in hits] == [h.id for h in col.search(q, k=2)]

    async def two_groups() -> list[Any]:
        jobs = [batcher.search("docs", f"group q{i}", {"k": 1 + i % 2}) for i in range(10)]
        return await asyncio.gather(*jobs)

    with EncodeCounter(col) as counter:
        grouped = asyncio.run(two_groups())
    assert len(counter.calls) == 2 and sorted(counter.calls) == [5, 5]
    assert [len(h) for h in grouped] == [1 + i % 2 for i in range(10)]


def test_a_lone_search_does_not_wait(plat: ov.Platform) -> None:
    # With a wait far longer than any search (60 s), a search with nothing else in flight
    # runs at once: the bound leaves a busy shared machine plenty of room.
    batcher = SearchBatcher(
        lambda name, qs, opts: plat.get_collection(name).search(qs, **opts), max_wait_s=60.0
    )
    started = time.perf_counter()
    hits = asyncio.run(batcher.search("docs", "a lone question about cats", {"k": 1}))
    assert time.perf_counter() - started < 20.0
    assert hits[0].id == "cat"


def test_server_without_batching_answers_the_same(plat: ov.Platform, tmp_path: Path) -> None:
    from fastapi.testclient import TestClient

    col = plat.get_collection("docs")
    with TestClient(create_app(plat, batching=False)) as http:
        r = http.post("/collections/docs/search", json={"query": "kittens", "k": 2})
        assert r.status_code == 200
        same_hits(r.json()["hits"], col.search("kittens", k=2))

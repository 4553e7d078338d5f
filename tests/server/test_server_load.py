"""Load: 16 concurrent clients x 25 searches against a real server process. No request may
fail, every answer must equal what the same query gets alone, and the run is time-bounded.
p50 / p95 latencies are printed and written to artifacts/load_test.json."""

from __future__ import annotations

import itertools
import json
import os
import platform
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
from tests.helpers.http import ARTIFACTS, running_server

pytestmark = pytest.mark.slow

CLIENTS = 16
PER_CLIENT = 25
K = 5
RAW_ROWS = 5_000
DIM = 384

SUBJECTS = ["cats", "dogs", "stocks", "bonds", "pasta", "soup", "rockets", "moons", "rain", "jazz"]
VERBS = ["love", "fear", "study", "paint", "sell", "watch", "cook", "discuss", "want", "fix"]
PLACES = ["in Paris", "at night", "on Mondays", "with friends", "by the sea", "in winter"]


def corpus() -> list[str]:
    return [f"People {v} {s} {p}" for s, v, p in itertools.product(SUBJECTS, VERBS, PLACES)][:300]


def queries(n: int) -> list[str]:
    """``n`` distinct queries, none equal to a stored text (so each one is encoded)."""
    combos = itertools.product(VERBS, SUBJECTS, PLACES)
    return [f"who would {v} {s} {p}?" for v, s, p in itertools.islice(combos, n)]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    tmp = tmp_path_factory.mktemp("load")
    db = str(tmp / "load.db")
    with ov.connect(db) as plat:
        texts = corpus()
        plat.collection("docs", encoder="text").add(
            texts, ids=[f"d{i}" for i in range(len(texts))], metadata=[{"text": t} for t in texts]
        )
        rng = np.random.default_rng(0)
        raw = plat.collection("raw", dim=DIM, metric="cosine")
        for start in range(0, RAW_ROWS, 1_000):
            raw.add(
                vectors=rng.standard_normal((1_000, DIM)).astype(np.float32),
                ids=list(range(start, start + 1_000)),
            )
    with running_server(db, tmp / "server.log") as base:
        yield base


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values), q))


def test_concurrent_searches(server: str) -> None:
    total = CLIENTS * PER_CLIENT
    # Half text searches (encode + store), half raw-vector searches (store only), interleaved.
    texts = queries(total // 2)
    vectors = np.random.default_rng(1).standard_normal((total - len(texts), DIM)).astype(np.float32)
    jobs: list[tuple[str, dict[str, Any]]] = []
    for i in range(total):
        if i % 2 == 0:
            jobs.append(("docs", {"query": texts[i // 2], "k": K}))
        else:
            jobs.append(("raw", {"vector": vectors[i // 2].tolist(), "k": K}))

    # One client alone first, for scale (queries of its own, so the cache stays cold).
    solo_texts = [f"alone: {q}" for q in queries(20)]
    solo: list[float] = []
    with httpx.Client(base_url=server, timeout=60) as http:
        for q in solo_texts:
            t0 = time.perf_counter()
            assert (
                http.post("/collections/docs/search", json={"query": q, "k": K}).status_code == 200
            )
            solo.append((time.perf_counter() - t0) * 1000)

    results: list[tuple[int, float, Any] | None] = [None] * total
    barrier = threading.Barrier(CLIENTS)

    def client(c: int) -> None:
        with httpx.Client(base_url=server, timeout=60) as http:
            http.get("/healthz")  # connect before the clock starts
            barrier.wait()
            for j in range(PER_CLIENT):
                i = c * PER_CLIENT + j
                name, body = jobs[i]
                t0 = time.perf_counter()
                try:
                    r = http.post(f"/collections/{name}/search", json=body)
                    results[i] = (r.status_code, time.perf_counter() - t0, r.json())
                except httpx.HTTPError as exc:
                    results[i] = (0, time.perf_counter() - t0, repr(exc))

    started = time.perf_counter()
    with ThreadPoolExecutor(CLIENTS) as pool:
        list(pool.map(client, range(CLIENTS)))
    wall = time.perf_counter() - started

    failed = [(i, r) for i, r in enumerate(results) if r is None or r[0] != 200]
    assert not failed, f"{len(failed)} of {total} requests failed, first: {failed[0]}"
    done = [r for r in results if r is not None]
    latencies = [r[1] * 1000 for r in done]

    # Every concurrent answer equals the sequential one: ask the same queries again as two
    # batches (the text vectors come from the server's query cache, so they are identical).
    with httpx.Client(base_url=server, timeout=120) as http:
        text_batch = http.post("/collections/docs/search", json={"queries": texts, "k": K}).json()
        vec_batch = http.post(
            "/collections/raw/search", json={"vectors": vectors.tolist(), "k": K}
        ).json()
    for i, r in enumerate(done):
        expected = (text_batch if i % 2 == 0 else vec_batch)["hits"][i // 2]
        got = r[2]["hits"]
        assert [h["id"] for h in got] == [h["id"] for h in expected], i
        np.testing.assert_allclose(
            [h["score"] for h in got], [h["score"] for h in expected], atol=1e-5
        )

    text_lat = [latencies[i] for i in range(total) if i % 2 == 0]
    vec_lat = [latencies[i] for i in range(total) if i % 2 == 1]
    report = {
        "clients": CLIENTS,
        "requests": total,
        "k": K,
        "failed": 0,
        "wall_s": round(wall, 3),
        "throughput_rps": round(total / wall, 1),
        "p50_ms": round(percentile(latencies, 50), 1),
        "p95_ms": round(percentile(latencies, 95), 1),
        "p99_ms": round(percentile(latencies, 99), 1),
        "max_ms": round(max(latencies), 1),
        "text_p50_ms": round(percentile(text_lat, 50), 1),
        "text_p95_ms": round(percentile(text_lat, 95), 1),
        "vector_p50_ms": round(percentile(vec_lat, 50), 1),
        "vector_p95_ms": round(percentile(vec_lat, 95), 1),
        "single_client_text_p50_ms": round(percentile(solo, 50), 1),
        "collections": {"docs": "300 texts, all-MiniLM-L6-v2", "raw": f"{RAW_ROWS} x {DIM} cosine"},
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
    }
    ARTIFACTS.mkdir(exist_ok=True)
    Path(ARTIFACTS / "load_test.json").write_text(json.dumps(report, indent=2) + "\n")
    print()
    print(f"| {CLIENTS} clients x {PER_CLIENT} searches | p50 ms | p95 ms | p99 ms |")
    print("|---|---|---|---|")
    print(f"| all ({total}) | {report['p50_ms']} | {report['p95_ms']} | {report['p99_ms']} |")
    print(f"| text query | {report['text_p50_ms']} | {report['text_p95_ms']} | |")
    print(f"| raw vector | {report['vector_p50_ms']} | {report['vector_p95_ms']} | |")
    print(f"| text query, one client alone | {report['single_client_text_p50_ms']} | | |")
    print(f"throughput {report['throughput_rps']} req/s, wall {report['wall_s']} s")

    assert wall < 120, f"{total} searches took {wall:.1f} s"
    with httpx.Client(base_url=server) as http:
        assert http.get("/healthz").status_code == 200

"""HTTP search throughput: 16 client threads x 25 distinct text searches against a real
``python -m omnivec.server`` on loopback, without and with cross-request batching, against
one in-process thread doing the same searches through ``col.search``.

    .venv/bin/python benchmarks/bench_server.py [--clients 16] [--per-client 25] [--docs 300]

Every query is distinct and none equals a stored text, so every one is encoded (the server's
and the in-process query caches start cold in each run). Prints a markdown table and writes
artifacts/bench_server.json.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import platform
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks._common import table  # noqa: E402

SUBJECTS = ["cats", "dogs", "stocks", "bonds", "pasta", "soup", "rockets", "moons", "rain", "jazz"]
VERBS = ["love", "fear", "study", "paint", "sell", "watch", "cook", "discuss", "want", "fix"]
PLACES = ["in Paris", "at night", "on Mondays", "with friends", "by the sea", "in winter"]
K = 5


def corpus(n: int) -> list[str]:
    combos = itertools.product(SUBJECTS, VERBS, PLACES)
    return [f"People {v} {s} {p}" for s, v, p in itertools.islice(combos, n)]


def queries(n: int) -> list[str]:
    """``n`` distinct queries, none equal to a stored text."""
    combos = itertools.product(VERBS, SUBJECTS, PLACES, range(10))
    return [f"who would {v} {s} {p}? ({i})" for v, s, p, i in itertools.islice(combos, n)]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def server(db: str, *extra: str) -> Iterator[str]:
    import httpx

    port = free_port()
    log = open(Path(db).with_suffix(f".{port}.log"), "w")  # noqa: SIM115 - closed below
    proc = subprocess.Popen(
        [sys.executable, "-m", "omnivec.server", "--db", db, "--port", str(port), *extra],
        stdout=log,
        stderr=subprocess.STDOUT,
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"server exited: {Path(log.name).read_text()}")
            try:
                if httpx.get(f"{base}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("server did not start")
            time.sleep(0.25)
        yield base
    finally:
        proc.terminate()
        proc.wait(30)
        log.close()


def in_process(db: str, texts: list[str]) -> dict[str, Any]:
    import omnivec as ov

    with ov.connect(db) as plat:
        col = plat.get_collection("docs")
        col.search("warm up", k=K)
        lat = []
        t0 = time.perf_counter()
        for q in texts:
            s = time.perf_counter()
            col.search(q, k=K)
            lat.append((time.perf_counter() - s) * 1000)
        wall = time.perf_counter() - t0
    return summary(lat, wall)


def over_http(base: str, texts: list[str], clients: int, headers: dict[str, str]) -> dict[str, Any]:
    import httpx

    per = len(texts) // clients
    lat: list[float] = []
    failed: list[Any] = []
    lock = threading.Lock()
    barrier = threading.Barrier(clients + 1)

    def client(c: int) -> None:
        with httpx.Client(base_url=base, timeout=60, headers=headers) as http:
            http.get("/healthz")  # connect before the clock starts
            barrier.wait()
            for q in texts[c * per : (c + 1) * per]:
                s = time.perf_counter()
                r = http.post("/collections/docs/search", json={"query": q, "k": K})
                ms = (time.perf_counter() - s) * 1000
                with lock:
                    lat.append(ms)
                    if r.status_code != 200:
                        failed.append((r.status_code, r.text[:200]))

    with ThreadPoolExecutor(clients) as pool:
        futures = [pool.submit(client, c) for c in range(clients)]
        barrier.wait()
        t0 = time.perf_counter()
        for f in futures:
            f.result()
        wall = time.perf_counter() - t0
    out = summary(lat, wall)
    out["failed"] = len(failed)
    return out


def summary(lat: list[float], wall: float) -> dict[str, Any]:
    a = np.asarray(lat)
    return {
        "queries": len(lat),
        "wall_s": round(wall, 3),
        "qps": round(len(lat) / wall, 1),
        "p50_ms": round(float(np.percentile(a, 50)), 1),
        "p95_ms": round(float(np.percentile(a, 95)), 1),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--clients", type=int, default=16)
    ap.add_argument("--per-client", type=int, default=25)
    ap.add_argument("--docs", type=int, default=300)
    ap.add_argument("--single", type=int, default=50, help="searches of the lone client")
    ap.add_argument("--skip-unbatched", action="store_true")
    args = ap.parse_args()
    import omnivec as ov

    total = args.clients * args.per_client
    texts = queries(total)
    with tempfile.TemporaryDirectory() as tmp:
        db = str(Path(tmp) / "bench.db")
        with ov.connect(db) as plat:
            docs = corpus(args.docs)
            plat.collection("docs", encoder="text").add(
                docs, ids=[f"d{i}" for i in range(len(docs))], progress=False
            )
        results: dict[str, Any] = {"in-process, 1 thread": in_process(db, texts)}
        key = "bench-key"
        runs = [("--no-batching",), ()] if not args.skip_unbatched else [()]
        for extra in runs:
            label = f"HTTP, {args.clients} clients, " + ("no batching" if extra else "batching")
            headers = {"Authorization": f"Bearer {key}"}
            with server(db, "--api-key", key, *extra) as base:
                # One client alone first (its own queries): batching must not slow it down.
                alone = [f"alone: {q}" for q in texts[: args.single]]
                results[label.replace(f"{args.clients} clients", "1 client")] = over_http(
                    base, alone, 1, headers
                )
                results[label] = over_http(base, texts, args.clients, headers)
    base_qps = results["in-process, 1 thread"]["qps"]
    rows = [
        [name, r["queries"], r["qps"], round(r["qps"] / base_qps, 2), r["p50_ms"], r["p95_ms"]]
        for name, r in results.items()
    ]
    print(table(["run", "queries", "queries/s", "x in-process", "p50 ms", "p95 ms"], rows))
    report = {
        "results": results,
        "k": K,
        "docs": args.docs,
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python "
        f"{platform.python_version()}",
    }
    out = REPO / "artifacts"
    out.mkdir(exist_ok=True)
    (out / "bench_server.json").write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()

"""The scale check end to end with default options, on fresh queries: insert, search, close,
reopen, search again; numpy, raw faiss and raw Lite in the same run.

    .venv/bin/python benchmarks/bench_million.py                      # 1M x 384, 1,000 loose clusters
    .venv/bin/python benchmarks/bench_million.py --data uniform --n 100000   # IVF's worst case
    .venv/bin/python benchmarks/bench_million.py --n 200000 --centers 200     # a quick look

One process builds a Lite file with ``col.add(vectors=..., ids=...)`` in calls of 50,000 rows
(no metadata, default ``index="auto"``), searches in that session, closes, then a fresh
connection times the first search (the saved index is loaded, not rebuilt) and the single
queries again. Queries are *fresh*: stored rows moved in a random direction by their own
nearest-neighbour distance (as a new sentence is to its neighbours), ``--queries`` of them;
recall@10 against numpy's exact top 10 over the stored rows, p50 against numpy brute force of
the same query. Raw Lite inserts ``--raw-rows`` of the same vectors (pymilvus rows, batches of
1,000, FLAT) in the same run; raw faiss IVF-Flat (nlist ~4 sqrt(n)) is searched at the
smallest nprobe whose recall reaches omnivec's measured one.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_ann import clustered

import omnivec as ov

K = 10


def uniform(n: int, dim: int, seed: int) -> np.ndarray:
    x = np.random.default_rng(seed).standard_normal((n, dim)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def fresh_queries(x: np.ndarray, m: int, seed: int = 99) -> np.ndarray:
    """``m`` stored rows, each moved by its own nearest-neighbour distance in a random
    direction, unit length again."""
    rng = np.random.default_rng(seed)
    pick = rng.choice(len(x), m, replace=False)
    best = np.full(m, -np.inf, np.float32)
    near = np.zeros(m, np.int64)
    for lo in range(0, len(x), 100_000):
        s = x[pick] @ x[lo : lo + 100_000].T
        own = (pick >= lo) & (pick < lo + 100_000)
        s[np.flatnonzero(own), pick[own] - lo] = -np.inf
        j = np.argmax(s, axis=1)
        v = s[np.arange(m), j]
        better = v > best
        best[better], near[better] = v[better], j[better] + lo
    step = np.linalg.norm(x[pick] - x[near], axis=1, keepdims=True)
    e = rng.standard_normal((m, x.shape[1])).astype(np.float32)
    e /= np.linalg.norm(e, axis=1, keepdims=True)
    q = x[pick] + e * step
    print(f"fresh queries: median nearest-neighbour distance {float(np.median(step)):.3f}")
    return (q / np.linalg.norm(q, axis=1, keepdims=True)).astype(np.float32)


def truth_of(x: np.ndarray, q: np.ndarray) -> np.ndarray:
    return np.argsort(-(q @ x.T), axis=1)[:, :K]


def measure(
    col: Any, x: np.ndarray, q: np.ndarray, truth: np.ndarray
) -> tuple[float, float, float]:
    """(omnivec p50 ms, numpy brute force p50 ms, recall@K) over the single queries ``q``."""
    ours, brute, rec = [], [], []
    for v, t in zip(q, truth, strict=True):
        s = time.perf_counter()
        hits = col.search(ov.vector(v), k=K)
        ours.append(time.perf_counter() - s)
        s = time.perf_counter()
        np.argpartition(-(x @ v), K)[:K]
        brute.append(time.perf_counter() - s)
        rec.append(len(set(t.tolist()) & {h.id for h in hits}) / K)
    return float(np.median(ours)) * 1e3, float(np.median(brute)) * 1e3, float(np.mean(rec))


def report(what: str, p50: float, np50: float, rec: float) -> None:
    print(
        f"{what}: single-query p50 {p50:.3f} ms; numpy brute force {np50:.2f} ms; "
        f"ratio {p50 / np50:.4f}; recall@{K} {rec:.3f}",
        flush=True,
    )


def raw_lite_rate(x: np.ndarray, folder: str) -> float:
    from pymilvus import DataType, MilvusClient

    client = MilvusClient(str(Path(folder) / "raw.db"))
    schema = client.create_schema(auto_id=False, enable_dynamic_field=True)
    schema.add_field("pk", DataType.VARCHAR, is_primary=True, max_length=2_048)
    schema.add_field("vector", DataType.FLOAT_VECTOR, dim=x.shape[1])
    params = client.prepare_index_params()
    params.add_index("vector", index_type="FLAT", metric_type="COSINE")
    client.create_collection("raw", schema=schema, index_params=params)
    t = time.perf_counter()
    for s in range(0, len(x), 1_000):
        client.insert(
            "raw", [{"pk": str(i), "vector": x[i]} for i in range(s, min(s + 1_000, len(x)))]
        )
    rate = len(x) / (time.perf_counter() - t)
    client.close()
    return rate


def raw_faiss(x: np.ndarray, q: np.ndarray, truth: np.ndarray, want: float) -> str:
    """Raw faiss IVF-Flat, nlist ~4 sqrt(n): the smallest nprobe reaching ``want``."""
    import faiss

    faiss.omp_set_num_threads(min(2, os.cpu_count() or 1))
    n, dim = x.shape
    nlist = int(min(4 * np.sqrt(n), n // 39))
    t = time.perf_counter()
    index = faiss.IndexIVFFlat(faiss.IndexFlatIP(dim), dim, nlist, faiss.METRIC_INNER_PRODUCT)
    index.cp.niter = 8
    index.train(x[np.random.default_rng(0).permutation(n)[: 32 * nlist]])
    index.add(x)
    build = time.perf_counter() - t
    for nprobe in (1, 2, 4, 8, 16, 24, 32, 48, 64, 96, 128, 192, 256, 384, 512, nlist):
        index.nprobe = min(nprobe, nlist)
        lat, found = [], []
        for v in q:
            s = time.perf_counter()
            _, ids = index.search(v[None], K)
            lat.append(time.perf_counter() - s)
            found.append(ids[0])
        rec = float(np.mean([len(set(f) & set(t)) / K for f, t in zip(found, truth, strict=True)]))
        if rec >= want or nprobe >= nlist:
            return (
                f"raw faiss IVF-Flat nlist {nlist} (built {build:.1f} s): nprobe {nprobe} "
                f"recall@{K} {rec:.3f} p50 {float(np.median(lat)) * 1e3:.3f} ms"
            )
    return "raw faiss: -"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--dim", type=int, default=384)
    ap.add_argument("--data", choices=("loose", "uniform"), default="loose")
    ap.add_argument("--centers", type=int, default=1_000)
    ap.add_argument("--noise", type=float, default=0.3)
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument("--chunk", type=int, default=50_000)
    ap.add_argument("--raw-rows", type=int, default=200_000, help="rows raw Lite inserts")
    args = ap.parse_args()
    print(f"load average before: {os.getloadavg()}")
    if args.data == "uniform":
        x = uniform(args.n, args.dim, 0)
    else:
        x = clustered(args.n, args.dim, 0, args.centers, args.noise)
    q = fresh_queries(x, args.queries)
    truth = truth_of(x, q)
    with tempfile.TemporaryDirectory() as tmp:
        raw_rate = raw_lite_rate(x[: min(args.raw_rows, args.n)], tmp)
        db = str(Path(tmp) / "million.db")
        t0 = time.perf_counter()
        with ov.connect(db) as plat:
            col = plat.collection("million", dim=args.dim, metric="cosine")
            for s in range(0, args.n, args.chunk):
                col.add(
                    vectors=x[s : s + args.chunk], ids=list(range(s, min(s + args.chunk, args.n)))
                )
            insert_s = time.perf_counter() - t0
            print(f"insert: {args.n / insert_s:,.0f} rows/s ({insert_s:.1f} s); raw Lite "
                  f"{raw_rate:,.0f} rows/s ({min(args.raw_rows, args.n):,} rows)", flush=True)  # fmt: skip
            t = time.perf_counter()
            col.search(ov.vector(q[0]), k=K)
            print(f"first search in the inserting session: {time.perf_counter() - t:.1f} s")
            in_session = measure(col, x, q, truth)
            report("in the inserting session", *in_session)
            print(f"index_stats: {col.index_stats()}", flush=True)
            t1 = time.perf_counter()
        print(f"close: {time.perf_counter() - t1:.1f} s", flush=True)
        t2 = time.perf_counter()
        with ov.connect(db) as plat:
            col = plat.collection("million")
            col.search(ov.vector(q[0]), k=K)
            reopen_s = time.perf_counter() - t2
            print(f"reopen + first search: {reopen_s:.1f} s")
            after = measure(col, x, q, truth)
            report("after reopen", *after)
            print(f"index_stats: {col.index_stats()}", flush=True)
    print(raw_faiss(x, q, truth, min(after[2], 0.999)))
    print(f"n={args.n:,} dim={args.dim} data={args.data} centers={args.centers} noise={args.noise}")
    print(f"load average after: {os.getloadavg()}")


if __name__ == "__main__":
    main()

"""The million-vector check end to end with default options: insert, close, reopen, search.

    .venv/bin/python benchmarks/bench_million.py [--n 1000000] [--centers 1000] [--noise 0.3]

One process builds a Lite file with ``col.add(vectors=..., ids=...)`` in calls of 20,000 rows
(no metadata, default ``index="auto"``), closes it, then a fresh connection times the first
search (the saved index is loaded, not rebuilt) and 200 single queries against numpy brute
force on the same unit vectors (recall@10 against numpy's exact top 10). ``--retrained`` then
waits for the background retraining that first search started (the lists were trained on the
first 20,000 rows) and measures again, in the same session and after another reopen. ``bench_ann.py`` has
the side-by-side with raw faiss and raw Lite; this one is the shape of the acceptance check.
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
CHUNK = 20_000


def measure(col: Any, x: np.ndarray, q: np.ndarray) -> tuple[float, float, float]:
    """(omnivec p50 ms, numpy brute force p50 ms, recall@K) over the single queries ``q``."""
    ours, brute, rec = [], [], []
    for v in q:
        t = time.perf_counter()
        hits = col.search(ov.vector(v), k=K)
        ours.append(time.perf_counter() - t)
        t = time.perf_counter()
        top = np.argpartition(-(x @ v), K)[:K]
        brute.append(time.perf_counter() - t)
        rec.append(len(set(top.tolist()) & {h.id for h in hits}) / K)
    return float(np.median(ours)) * 1e3, float(np.median(brute)) * 1e3, float(np.mean(rec))


def report(what: str, p50: float, np50: float, rec: float) -> None:
    print(
        f"{what}: single-query p50 {p50:.3f} ms; numpy brute force {np50:.2f} ms; "
        f"ratio {p50 / np50:.4f}; recall@{K} {rec:.3f}"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--dim", type=int, default=384)
    ap.add_argument("--centers", type=int, default=1_000)
    ap.add_argument("--noise", type=float, default=0.3)
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument(
        "--retrained",
        action="store_true",
        help="also wait for the background retraining the first search starts, then measure "
        "again, and once more after another close and reopen",
    )
    ap.add_argument(
        "--search-first",
        action="store_true",
        help="search (and measure) in the inserting session too, before closing",
    )
    args = ap.parse_args()
    print(f"load average before: {os.getloadavg()}")
    x = clustered(args.n, args.dim, 0, args.centers, args.noise)
    q = clustered(args.queries, args.dim, 1, args.centers, args.noise)
    with tempfile.TemporaryDirectory() as tmp:
        db = str(Path(tmp) / "million.db")
        t0 = time.perf_counter()
        with ov.connect(db) as plat:
            col = plat.collection("million", dim=args.dim, metric="cosine")
            for s in range(0, args.n, CHUNK):
                col.add(vectors=x[s : s + CHUNK], ids=list(range(s, min(s + CHUNK, args.n))))
            insert_s = time.perf_counter() - t0
            if args.search_first:  # search in the session that inserted, before closing
                t = time.perf_counter()
                col.search(ov.vector(q[0]), k=K)
                first_s = time.perf_counter() - t
                in_session = measure(col, x, q)
            t1 = time.perf_counter()
        close_s = time.perf_counter() - t1
        t2 = time.perf_counter()
        with ov.connect(db) as plat:
            col = plat.collection("million")
            col.search(ov.vector(q[0]), k=K)
            reopen_s = time.perf_counter() - t2
            p50, np50, rec = measure(col, x, q)
            retrains = plat.store._ann.retrains  # type: ignore[attr-defined]
            job = retrains.get("million")
            waited = 0.0
            if args.retrained and job is not None:
                t3 = time.perf_counter()
                job.finished.wait()
                waited = time.perf_counter() - t3
                after = measure(col, x, q)
        if args.retrained and job is not None:
            t4 = time.perf_counter()
            with ov.connect(db) as plat:
                col = plat.collection("million")
                col.search(ov.vector(q[0]), k=K)
                reopen2_s = time.perf_counter() - t4
                reopened = measure(col, x, q)
    print(f"n={args.n:,} dim={args.dim} centers={args.centers} noise={args.noise}")
    print(f"insert: {args.n / insert_s:,.0f} rows/s ({insert_s:.1f} s); close {close_s:.1f} s")
    if args.search_first:
        print(f"first search in the inserting session: {first_s:.1f} s")
        report("in the inserting session", *in_session)
    print(f"reopen + first search: {reopen_s:.1f} s")
    report("first lists", p50, np50, rec)
    if args.retrained and job is not None:
        print(
            f"background retraining finished {waited:.1f} s after the queries (swapped: {job.swapped})"
        )
        report("retrained, same session", *after)
        print(f"reopen + first search with the retrained index: {reopen2_s:.1f} s")
        report("retrained, after reopen", *reopened)
    print(f"load average after: {os.getloadavg()}")


if __name__ == "__main__":
    main()

"""The million-vector check end to end with default options: insert, close, reopen, search.

    .venv/bin/python benchmarks/bench_million.py [--n 1000000] [--centers 1000] [--noise 0.3]

One process builds a Lite file with ``col.add(vectors=..., ids=...)`` in calls of 20,000 rows
(no metadata, default ``index="auto"``), closes it, then a fresh connection times the first
search (the saved index is loaded, not rebuilt) and 200 single queries against numpy brute
force on the same unit vectors (recall@10 against numpy's exact top 10). ``bench_ann.py`` has
the side-by-side with raw faiss and raw Lite; this one is the shape of the acceptance check.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_ann import clustered

import omnivec as ov

K = 10
CHUNK = 20_000


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--dim", type=int, default=384)
    ap.add_argument("--centers", type=int, default=1_000)
    ap.add_argument("--noise", type=float, default=0.3)
    ap.add_argument("--queries", type=int, default=200)
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
            t1 = time.perf_counter()
        close_s = time.perf_counter() - t1
        t2 = time.perf_counter()
        with ov.connect(db) as plat:
            col = plat.collection("million")
            col.search(ov.vector(q[0]), k=K)
            reopen_s = time.perf_counter() - t2
            ours, brute, rec = [], [], []
            for v in q:
                t = time.perf_counter()
                hits = col.search(ov.vector(v), k=K)
                ours.append(time.perf_counter() - t)
                t = time.perf_counter()
                top = np.argpartition(-(x @ v), K)[:K]
                brute.append(time.perf_counter() - t)
                rec.append(len(set(top.tolist()) & {h.id for h in hits}) / K)
    p50, np50 = float(np.median(ours)) * 1e3, float(np.median(brute)) * 1e3
    print(f"n={args.n:,} dim={args.dim} centers={args.centers} noise={args.noise}")
    print(f"insert: {args.n / insert_s:,.0f} rows/s ({insert_s:.1f} s); close {close_s:.1f} s")
    print(f"reopen + first search: {reopen_s:.1f} s")
    print(
        f"single-query p50: {p50:.3f} ms; numpy brute force {np50:.2f} ms; ratio {p50 / np50:.4f}"
    )
    print(f"recall@{K}: {np.mean(rec):.3f}")
    print(f"load average after: {os.getloadavg()}")


if __name__ == "__main__":
    main()

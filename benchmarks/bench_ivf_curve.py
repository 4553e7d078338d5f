"""Raw faiss IVF-Flat recall/latency against nprobe on the clustered vectors of bench_ann.py,
for lists trained on the first rows (as omnivec trains them at its threshold) and on more.

    .venv/bin/python benchmarks/bench_ivf_curve.py --n 1000000 --centers 10000 --noise 1.0

Shows how much of a collection IVF must scan for a recall on a given distribution, which
decides whether it can answer at a fraction of numpy brute force's time.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_ann import K, clustered, recall


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--dim", type=int, default=384)
    ap.add_argument("--centers", type=int, default=0, help="clusters (default n / 100)")
    ap.add_argument("--noise", type=float, default=1.0)
    ap.add_argument("--queries", type=int, default=100)
    args = ap.parse_args()
    import faiss

    faiss.omp_set_num_threads(2)
    n, dim = args.n, args.dim
    centers = args.centers or max(10, n // 100)
    x = clustered(n, dim, 0, centers, args.noise)
    q = clustered(args.queries, dim, 1, centers, args.noise)
    truth = np.argsort(-(q @ x.T), axis=1)[:, :K]
    t = time.perf_counter()
    for i in range(10):
        np.argpartition(-(x @ q[i]), K)[:K]
    print(f"numpy brute force {(time.perf_counter() - t) / 10 * 1000:.1f} ms per query")
    for train_n in (20_000, 160_000):
        nlist = int(min(4 * np.sqrt(train_n), train_n // 39))
        ix = faiss.IndexIVFFlat(faiss.IndexFlatIP(dim), dim, nlist, faiss.METRIC_INNER_PRODUCT)
        ix.cp.niter = 8
        ix.cp.min_points_per_centroid = 16
        t = time.perf_counter()
        ix.train(x[:train_n][: 32 * nlist])
        train_s = time.perf_counter() - t
        t = time.perf_counter()
        ix.add(x)
        print(
            f"nlist {nlist} (trained on the first {train_n:,} rows in {train_s:.1f} s), "
            f"add {n / (time.perf_counter() - t):,.0f} rows/s"
        )
        for nprobe in (8, 16, 32, 64, 128, 222):
            ix.nprobe = nprobe
            _, found = ix.search(q, K)
            lat = []
            for i in range(min(30, len(q))):
                t = time.perf_counter()
                ix.search(q[i : i + 1], K)
                lat.append(time.perf_counter() - t)
            print(
                f"  nprobe {nprobe}: recall@10 {recall(found.tolist(), truth):.3f}, "
                f"p50 {np.median(lat) * 1000:.2f} ms"
            )


if __name__ == "__main__":
    main()

"""ANN benchmark: omnivec ``index="auto"`` (Milvus Lite + in-process faiss IVF) against raw
faiss with the same index and parameters, Milvus Lite FLAT (``index="flat"``) and numpy brute
force, on clustered 384-d vectors, in one run.

    .venv/bin/python benchmarks/bench_ann.py [--n 100000] [--dim 384] [--queries 200]
    .venv/bin/python benchmarks/bench_ann.py --n 1000000      # the 1M figures (about 10 min)

Reports insert rows/s, index build time, single-query p50, recall@10 (against numpy's exact
top 10), a filtered search (``where``) through Milvus and through a pre-filter of ids, close +
reopen + first search, and the bytes per vector of the index and the Lite file.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import p50_ms, table

K = 10


def clustered(n: int, dim: int, seed: int, centers: int, noise: float) -> np.ndarray:
    """Points around fixed random centres (the same centres for every seed), unit-normalised."""
    c = np.random.default_rng(1234).standard_normal((centers, dim)).astype(np.float32)
    rng = np.random.default_rng(seed)
    x = c[rng.integers(0, centers, n)] + noise * rng.standard_normal((n, dim)).astype(np.float32)
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def recall(found: list[list[int]], truth: np.ndarray) -> float:
    return float(np.mean([len(set(f) & set(t)) / K for f, t in zip(found, truth, strict=True)]))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--dim", type=int, default=384)
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument("--batch", type=int, default=5_000)
    ap.add_argument("--centers", type=int, default=0, help="clusters (default n / 100)")
    ap.add_argument("--noise", type=float, default=1.0, help="spread around a centre")
    ap.add_argument("--skip-flat", action="store_true", help="leave out Milvus Lite FLAT")
    args = ap.parse_args()

    import faiss

    import omnivec as ov
    from omnivec.stores import ann

    faiss.omp_set_num_threads(min(2, os.cpu_count() or 1))
    n, dim = args.n, args.dim
    centers = args.centers or max(10, n // 100)
    x = clustered(n, dim, 0, centers, args.noise)
    q = clustered(args.queries, dim, 1, centers, args.noise)
    truth = np.argsort(-(q @ x.T), axis=1)[:, :K]
    rows: list[list[object]] = []
    work = Path(tempfile.mkdtemp(prefix="bench_ann_"))
    db = str(work / "bench.db")
    ids = list(range(n))

    def insert(col: ov.Collection) -> float:
        t = time.perf_counter()
        for s in range(0, n, args.batch):
            col.add(vectors=x[s : s + args.batch], ids=ids[s : s + args.batch])
        return n / (time.perf_counter() - t)

    try:
        plat = ov.connect(db)
        col = plat.collection("auto", dim=dim, metric="cosine")  # index="auto": the default
        t0 = time.perf_counter()
        ins = insert(col)
        build_s = time.perf_counter() - t0
        manager = plat.store._ann  # type: ignore[attr-defined]
        index = manager.indexes["auto"]
        nlist, nprobe = index.nlist, index.nprobe
        found = [[int(h.id) for h in col.search(ov.vector(v), k=K)] for v in q]
        lat = []
        for v in q:
            t = time.perf_counter()
            col.search(ov.vector(v), k=K)
            lat.append((time.perf_counter() - t) * 1000)
        p50 = float(np.median(lat))
        rows.append(
            [
                "omnivec auto (Lite + faiss IVF)",
                f"{ins:,.0f}",
                f"{build_s:.1f} (whole insert)",
                p50,
                recall(found, truth),
            ]
        )
        # Filtered search: Milvus answers (the shipped path) vs a pre-filter of ids.
        where = "bucket == 3"
        col.add(
            vectors=x[:20_000],
            ids=ids[:20_000],
            metadata=[{"bucket": i % 10} for i in range(20_000)],
        )
        filt_ms = p50_ms(lambda: col.search(ov.vector(q[0]), k=K, where=where), 20)
        keys_ms = p50_ms(lambda: plat.store.keys("auto", where=where), 5)
        # Close, reopen, first search.
        t = time.perf_counter()
        plat.close()
        close_s = time.perf_counter() - t
        t = time.perf_counter()
        plat = ov.connect(db)
        col = plat.collection("auto")
        col.search(ov.vector(q[0]), k=K)
        reopen_s = time.perf_counter() - t
        found2 = [[int(h.id) for h in col.search(ov.vector(v), k=K)] for v in q]
        p50_re = p50_ms(lambda: col.search(ov.vector(q[1]), k=K), len(q))
        folder = Path(db + ".omnivec-ann")
        index_bytes = sum(f.stat().st_size for f in folder.glob("auto.*"))
        lite_bytes = Path(db).stat().st_size

        # Raw faiss, same index type, nlist and nprobe.
        t = time.perf_counter()
        quant = faiss.IndexFlatIP(dim)
        raw = faiss.IndexIVFFlat(quant, dim, nlist, faiss.METRIC_INNER_PRODUCT)
        raw.cp.niter = 8
        raw.cp.min_points_per_centroid = 16
        raw.train(x[np.random.default_rng(0).permutation(n)[: 32 * nlist]])
        raw.add(x)
        raw_build = time.perf_counter() - t
        raw.nprobe = nprobe
        _, raw_ids = raw.search(q, K)
        raw_p50 = p50_ms(lambda: raw.search(q[:1], K), len(q))
        rows.append(
            [
                "raw faiss IVF-Flat (same nlist/nprobe)",
                "-",
                raw_build,
                raw_p50,
                recall(raw_ids.tolist(), truth),
            ]
        )

        np_p50 = p50_ms(lambda: np.argpartition(-(x @ q[0]), K)[:K], 20)
        rows.append(["numpy brute force", "-", "-", np_p50, 1.0])

        if not args.skip_flat:
            flat = plat.collection("flat", dim=dim, metric="cosine", index="flat")
            ins_flat = insert(flat)
            found3 = [[int(h.id) for h in flat.search(ov.vector(v), k=K)] for v in q[:50]]
            flat_p50 = p50_ms(lambda: flat.search(ov.vector(q[0]), k=K), 20)
            rows.append(
                [
                    "Milvus Lite FLAT (index='flat')",
                    f"{ins_flat:,.0f}",
                    "-",
                    flat_p50,
                    recall(found3, truth[:50]),
                ]
            )
        plat.close()
    finally:
        shutil.rmtree(work, ignore_errors=True)

    print(
        f"\n{n:,} x {dim} vectors in {centers:,} clusters (noise {args.noise}), k={K}, {len(q)} single queries, "
        f"threshold {ann.ANN_MIN_ROWS:,} rows, nlist {nlist}, nprobe {nprobe} (calibrated)\n"
    )
    print(table(["", "insert rows/s", "build s", "query p50 ms", "recall@10"], rows))
    print()
    print(
        table(
            ["", "value"],
            [
                ["omnivec p50 / numpy p50", f"{p50 / np_p50:.3f}"],
                ["omnivec p50 / raw faiss p50", f"{p50 / raw_p50:.2f}"],
                ["filtered search p50 ms (where, 10% of rows, via Milvus)", filt_ms],
                ["pre-filter: listing the matching ids alone, ms", keys_ms],
                ["close s (saves the index)", close_s],
                ["reopen + first search s (loads the index)", reopen_s],
                [
                    "after reopen: query p50 ms / recall@10",
                    f"{p50_re:.2f} / {recall(found2, truth):.3f}",
                ],
                ["index files, bytes per vector", f"{index_bytes / n:.0f}"],
                ["Lite file, bytes per vector", f"{lite_bytes / n:.0f}"],
            ],
        )
    )


if __name__ == "__main__":
    main()

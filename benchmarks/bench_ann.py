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
from _common import p50_each_ms, p50_ms, table

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
    ap.add_argument("--raw-batch", type=int, default=1_000, help="rows per raw Lite insert")
    ap.add_argument("--flat-queries", type=int, default=20, help="queries for raw Lite FLAT")
    ap.add_argument(
        "--draws",
        dest="fresh",
        action="store_false",
        help="queries drawn around the centres instead of fresh queries (stored rows moved by "
        "their nearest-neighbour distance, the default)",
    )
    args = ap.parse_args()

    import faiss

    import omnivec as ov
    from omnivec.stores import ann

    faiss.omp_set_num_threads(min(2, os.cpu_count() or 1))
    n, dim = args.n, args.dim
    centers = args.centers or max(10, n // 100)
    x = clustered(n, dim, 0, centers, args.noise)
    if args.fresh:  # stored rows moved by their own nearest-neighbour distance
        from bench_million import fresh_queries

        q = fresh_queries(x, args.queries)
    else:  # new draws around the same centres
        q = clustered(args.queries, dim, 1, centers, args.noise)
    truth = np.argsort(-(q @ x.T), axis=1)[:, :K]
    rows: list[list[object]] = []
    work = Path(tempfile.mkdtemp(prefix="bench_ann_"))
    db = str(work / "bench.db")
    ids = list(range(n))

    def rss(pid: int) -> int:
        import psutil

        return int(psutil.Process(pid).memory_info().rss)

    def lite_pid(path: str) -> int | None:
        import psutil

        for p in psutil.Process().children(recursive=True):
            if "milvus" in p.name() and any(path in a for a in p.cmdline()):
                return int(p.pid)
        return None

    def flat_search(client: object, v: np.ndarray) -> list:
        params = {"metric_type": "COSINE"}
        return client.search("raw", data=[v], limit=K, search_params=params)[0]  # type: ignore[attr-defined]

    try:
        from pymilvus import DataType

        plat = ov.connect(db)
        col = plat.collection("auto", dim=dim, metric="cosine")  # index="auto": the default
        from pymilvus import MilvusClient

        # Raw Lite beside it in the same run (its own file and Lite process): the same
        # schema, FLAT, pymilvus rows.
        client = MilvusClient(str(work / "raw.db"))
        schema = client.create_schema(auto_id=False, enable_dynamic_field=True)
        schema.add_field("pk", DataType.VARCHAR, is_primary=True, max_length=2_048)
        schema.add_field("vector", DataType.FLOAT_VECTOR, dim=dim)
        iparams = client.prepare_index_params()
        iparams.add_index("vector", index_type="FLAT", metric_type="COSINE")
        client.create_collection("raw", schema=schema, index_params=iparams)
        mem0 = rss(os.getpid())
        # Interleaved segments (ours, then raw), so both see the same machine load.
        ours_s = raw_s = 0.0
        seg = max(args.batch, 50_000)
        for lo in range(0, n, seg):
            hi = min(n, lo + seg)
            t = time.perf_counter()
            for s in range(lo, hi, args.batch):
                e = min(hi, s + args.batch)
                col.add(vectors=x[s:e], ids=ids[s:e])
            ours_s += time.perf_counter() - t
            t = time.perf_counter()
            for s in range(lo, hi, args.raw_batch):
                e = min(hi, s + args.raw_batch)
                client.insert("raw", [{"pk": str(i), "vector": x[i]} for i in range(s, e)])
            raw_s += time.perf_counter() - t
            print(
                f"  {hi:,} rows: ours {hi / ours_s:,.0f} rows/s, raw {hi / raw_s:,.0f}", flush=True
            )
        ins, raw_ins = n / ours_s, n / raw_s
        build_s = ours_s
        manager = plat.store._ann  # type: ignore[attr-defined]
        index = manager.indexes["auto"]
        nlist, nprobe = index.nlist, index.nprobe
        mem_ours = rss(os.getpid()) - mem0
        pid, raw_pid = lite_pid(db), lite_pid(str(work / "raw.db"))
        mem_lite = rss(pid) if pid else 0
        mem_raw_lite = rss(raw_pid) if raw_pid else 0
        found = [[int(h.id) for h in col.search(ov.vector(v), k=K)] for v in q]
        lat = []
        for v in q:
            t = time.perf_counter()
            col.search(ov.vector(v), k=K)
            lat.append((time.perf_counter() - t) * 1000)
        p50 = float(np.median(lat))
        # The same faiss index and nprobe, searched directly (what the query path adds to).
        own_params = faiss.SearchParametersIVF(nprobe=nprobe)

        def own_search(v: np.ndarray) -> None:
            x1 = v[None].copy()
            faiss.normalize_L2(x1)
            index.index.search(x1, K, params=own_params)

        own_lat = []
        for v in q:
            t = time.perf_counter()
            own_search(v)
            own_lat.append((time.perf_counter() - t) * 1000)
        own_p50 = float(np.median(own_lat))
        rows.append(
            [
                "omnivec auto (Lite + faiss IVF)",
                f"{ins:,.0f}",
                f"{build_s:.1f} (whole insert)",
                p50,
                recall(found, truth),
            ]
        )
        nflat = min(len(q), args.flat_queries)
        flat_found = [[int(h["id"]) for h in flat_search(client, q[i])] for i in range(nflat)]
        flat_p50 = p50_ms(lambda: flat_search(client, q[0]), nflat)
        rows.append(
            [
                "raw Lite FLAT (pymilvus rows)",
                f"{raw_ins:,.0f}",
                "-",
                flat_p50,
                recall(flat_found, truth[:nflat]),
            ]
        )
        client.close()
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
        p50_re = p50_each_ms(lambda v: col.search(ov.vector(v), k=K), q)
        # Filtered search: Milvus answers (the shipped path) vs a pre-filter of ids.
        where = "bucket == 3"
        col.add(
            vectors=x[:20_000],
            ids=ids[:20_000],
            metadata=[{"bucket": i % 10} for i in range(20_000)],
        )
        filt_ms = p50_ms(lambda: col.search(ov.vector(q[0]), k=K, where=where), 20)
        keys_ms = p50_ms(lambda: plat.store.keys("auto", where=where), 5)
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
        # One query at a time, each a different one, as omnivec's p50 above.
        raw_p50 = p50_each_ms(lambda v: raw.search(v[None], K), q)
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
                [
                    "omnivec p50 / faiss on omnivec's own index p50 (same nprobe)",
                    f"{p50 / own_p50:.2f} ({own_p50 * 1000:.0f} us)",
                ],
                ["filtered search p50 ms (where, 10% of rows, via Milvus)", filt_ms],
                ["pre-filter: listing the matching ids alone, ms", keys_ms],
                ["close s (saves the index)", close_s],
                ["reopen + first search s (loads the index)", reopen_s],
                [
                    "after reopen: query p50 ms / recall@10",
                    f"{p50_re:.2f} / {recall(found2, truth):.3f}",
                ],
                ["index files, bytes per vector", f"{index_bytes / n:.0f}"],
                ["omnivec process RSS growth, bytes per vector", f"{mem_ours / n:.0f}"],
                ["omnivec's Lite process RSS, bytes per vector", f"{mem_lite / n:.0f}"],
                ["raw Lite process RSS, bytes per vector", f"{mem_raw_lite / n:.0f}"],
                ["omnivec insert / raw Lite insert", f"{ins / raw_ins:.2f}"],
                ["omnivec p50 / raw Lite FLAT p50", f"{p50 / flat_p50:.4f}"],
                ["Lite file, bytes per vector", f"{lite_bytes / n:.0f}"],
            ],
        )
    )


if __name__ == "__main__":
    main()

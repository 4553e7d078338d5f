"""Store benchmark: omnivec's add/search against numpy brute force and raw pymilvus, on
milvus-lite 2.5 (ours) and, in a second virtualenv, milvus-lite 3.x — all in one run.

    .venv/bin/python benchmarks/bench_store.py [--n 100000] [--dim 384] [--lite3-python PATH]

``--lite3-python`` is a Python with ``pymilvus`` and ``milvus-lite==3.2.2`` installed
(e.g. ``python3 -m venv /tmp/lite3 && /tmp/lite3/bin/pip install milvus-lite==3.2.2 pymilvus``).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import p50_ms, table, unit_vectors

K = 10

# Runs under any Python with pymilvus + some milvus-lite: raw client calls, no omnivec.
RAW_SCRIPT = r"""
import json, os, sys, time, statistics, warnings
warnings.simplefilter("ignore")
import numpy as np
from pymilvus import MilvusClient, DataType
n, dim, batch, seed, path = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
rng = np.random.default_rng(seed)
x = rng.standard_normal((n, dim)).astype(np.float32); x /= np.linalg.norm(x, axis=1, keepdims=True)
q = np.random.default_rng(seed + 1).standard_normal((100, dim)).astype(np.float32)
q /= np.linalg.norm(q, axis=1, keepdims=True)
c = MilvusClient(path)
s = c.create_schema(auto_id=False, enable_dynamic_field=True)
s.add_field("pk", DataType.VARCHAR, is_primary=True, max_length=64)
s.add_field("vector", DataType.FLOAT_VECTOR, dim=dim)
ip = c.prepare_index_params(); ip.add_index("vector", index_type="FLAT", metric_type="COSINE")
c.create_collection("bench", schema=s, index_params=ip)
t = time.perf_counter()
for i in range(0, n, batch):
    c.insert("bench", [{"pk": f"i:{j}", "vector": x[j]} for j in range(i, min(n, i + batch))])
ins = n / (time.perf_counter() - t)
c.search("bench", data=[q[0]], limit=10)
lat = []
hits = []
for v in q[:50]:
    t0 = time.perf_counter()
    r = c.search("bench", data=[v], limit=10)
    lat.append((time.perf_counter() - t0) * 1000)
    hits.append([int(dict(h).get("id", dict(h).get("pk", ""))[2:]) for h in r[0]])
truth = [set(np.argsort(-(x @ v))[:10]) for v in q[:50]]
recall = float(np.mean([len(set(h) & t) / 10 for h, t in zip(hits, truth)]))
import milvus_lite
print(json.dumps({"insert_rows_s": ins, "search_p50_ms": statistics.median(lat), "recall": recall,
                  "version": getattr(milvus_lite, "__version__", "?")}))
"""


def run_raw(python: str, n: int, dim: int, batch: int, workdir: Path, tag: str) -> dict | None:
    path = workdir / f"raw_{tag}.db"
    try:
        out = subprocess.run(
            [python, "-c", RAW_SCRIPT, str(n), str(dim), str(batch), "0", str(path)],
            capture_output=True,
            text=True,
            timeout=1800,
            check=True,
        )
    except (OSError, subprocess.SubprocessError) as exc:
        print(f"[skip] raw pymilvus with {python}: {exc}", file=sys.stderr)
        return None
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--dim", type=int, default=384)
    ap.add_argument("--add-batch", type=int, default=10_000, help="rows per add() call")
    ap.add_argument("--lite3-python", default=os.environ.get("LITE3_PYTHON", ""))
    ap.add_argument("--json", type=Path, help="also write the figures here")
    args = ap.parse_args()

    import omnivec as ov
    from omnivec.stores.milvus import lite_version

    n, dim = args.n, args.dim
    x = unit_vectors(n, dim, 0)
    queries = unit_vectors(100, dim, 1)
    truth = [np.argsort(-(x @ q))[:K] for q in queries]

    def numpy_top(q: np.ndarray) -> np.ndarray:
        s = x @ q
        top = np.argpartition(-s, K)[:K]
        return top[np.argsort(-s[top])]

    numpy_ms = p50_ms(lambda: numpy_top(queries[0]), 50)
    numpy_batch_ms = p50_ms(lambda: [numpy_top(q) for q in queries], 5)

    work = Path(tempfile.mkdtemp(prefix="omnivec-bench-"))
    results: dict[str, dict] = {}
    with ov.connect(str(work / "ours.db")) as plat:
        col = plat.collection("bench", dim=dim, metric="cosine")
        ids = list(range(n))
        t0 = time.perf_counter()
        for i in range(0, n, args.add_batch):
            col.add(vectors=x[i : i + args.add_batch], ids=ids[i : i + args.add_batch])
        add_rate = n / (time.perf_counter() - t0)
        lat = []
        recalls = []
        for q, t in zip(queries, truth, strict=True):
            t1 = time.perf_counter()
            hits = col.search(ov.vector(q), k=K)
            lat.append((time.perf_counter() - t1) * 1000)
            recalls.append(len({h.id for h in hits} & set(t.tolist())) / K)
        t1 = time.perf_counter()
        col.search(ov.vector(queries), k=K)
        batch_ms = (time.perf_counter() - t1) * 1000
        results["omnivec"] = {
            "insert_rows_s": add_rate,
            "search_p50_ms": float(np.median(lat)),
            "recall": float(np.mean(recalls)),
            "batch100_ms": batch_ms,
        }

    raw25 = run_raw(sys.executable, n, dim, 1_000, work, "lite25")
    raw3 = run_raw(args.lite3_python, n, dim, 1_000, work, "lite3") if args.lite3_python else None

    rows = [
        ["numpy brute force", "-", f"{numpy_ms:.2f}", "1.00", "1.0x", f"{numpy_batch_ms:.1f}"],
        [
            f"omnivec add/search (lite {lite_version()}, FLAT)",
            f"{results['omnivec']['insert_rows_s']:,.0f}",
            f"{results['omnivec']['search_p50_ms']:.2f}",
            f"{results['omnivec']['recall']:.3f}",
            f"{results['omnivec']['search_p50_ms'] / numpy_ms:.1f}x",
            f"{results['omnivec']['batch100_ms']:.1f}",
        ],
    ]
    for label, raw in (
        (f"raw pymilvus, lite {lite_version()}", raw25),
        ("raw pymilvus, lite 3.x", raw3),
    ):
        if raw:
            rows.append(
                [
                    f"{label} ({raw.get('version', '?')})" if "3.x" in label else label,
                    f"{raw['insert_rows_s']:,.0f}",
                    f"{raw['search_p50_ms']:.2f}",
                    f"{raw['recall']:.3f}",
                    f"{raw['search_p50_ms'] / numpy_ms:.1f}x",
                    "-",
                ]
            )
    print(f"\n{n:,} x {dim} unit vectors, cosine, k={K}, {os.cpu_count()} cores\n")
    print(
        table(
            [
                "path",
                "insert rows/s",
                "single search p50 ms",
                "recall@10",
                "vs numpy",
                "100 queries ms",
            ],
            rows,
        )
    )
    if args.json:
        args.json.write_text(
            json.dumps(
                {"numpy_ms": numpy_ms, "ours": results, "raw25": raw25, "raw3": raw3}, indent=2
            )
        )


if __name__ == "__main__":
    main()

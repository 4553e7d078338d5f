"""Analysis benchmark: ``col.cluster`` / ``col.project`` against calling scikit-learn and
umap-learn directly on the same arrays, in one run.

    .venv/bin/python benchmarks/bench_analysis.py [--n 10000] [--dim 384] [--umap] [--tsne]
    .venv/bin/python benchmarks/bench_analysis.py --n 100000          # the 100k figures

Vectors are clustered (gaussian blobs around 20 centres on the unit sphere), stored in a
cosine collection in a fresh Milvus Lite file. "direct" is the library called on the array
already in memory (k-means with the ``n_init`` omnivec uses, ``random_state=0``); "omnivec on
the array" is omnivec's analysis function on the same array (normalising included), so their
ratio is omnivec's own overhead ("algorithm only"); "omnivec from the store" is the whole
``col.cluster`` / ``col.project`` call, which first reads every vector back from Milvus Lite
("whole call"). The read itself is timed against raw pymilvus on a second Lite file holding
the same rows (``query_iterator`` with its default pages of 1,000 rows and with omnivec's page
size, rows turned into one array), interleaved: that is the floor a read can reach.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import table

import omnivec as ov
from omnivec.core.ids import encode_id
from omnivec.platform import analysis
from omnivec.stores.scan import page_rows


def blobs(n: int, dim: int, centres: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    c = rng.standard_normal((centres, dim)).astype(np.float32)
    c /= np.linalg.norm(c, axis=1, keepdims=True)
    y = rng.integers(0, centres, n)
    x = c[y] + 0.6 / np.sqrt(dim) * rng.standard_normal((n, dim)).astype(np.float32)
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32), y


def timed(fn: Any) -> tuple[float, Any]:
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


def raw_copy(path: Path, keys: list[str], x: np.ndarray) -> Any:
    """A raw pymilvus client on a second Lite file holding the same rows as omnivec's."""
    from pymilvus import DataType, MilvusClient

    client = MilvusClient(str(path))
    schema = client.create_schema(auto_id=False, enable_dynamic_field=True)
    schema.add_field("pk", DataType.VARCHAR, is_primary=True, max_length=64)
    schema.add_field("vector", DataType.FLOAT_VECTOR, dim=x.shape[1])
    index = client.prepare_index_params()
    index.add_index("vector", index_type="FLAT", metric_type="COSINE")
    client.create_collection("raw", schema=schema, index_params=index)
    for i in range(0, len(keys), 1000):
        rows = [
            {"pk": k, "vector": v} for k, v in zip(keys[i : i + 1000], x[i : i + 1000], strict=True)
        ]
        client.insert("raw", rows)
    return client


def raw_read(client: Any, batch_size: int) -> np.ndarray:
    """Every vector through pymilvus' own ``query_iterator``, as one float32 array."""
    it = client.query_iterator("raw", batch_size=batch_size, output_fields=["pk", "vector"])
    vecs: list[Any] = []
    while batch := it.next():
        vecs.extend(r["vector"] for r in batch)
    it.close()
    return np.asarray(vecs, dtype=np.float32)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=10_000)
    parser.add_argument("--dim", type=int, default=384)
    parser.add_argument("--clusters", type=int, default=20)
    parser.add_argument("--umap", action="store_true", help="also time UMAP (slow)")
    parser.add_argument("--tsne", action="store_true", help="also time t-SNE (slower)")
    parser.add_argument("--hdbscan", action="store_true", help="also time HDBSCAN")
    parser.add_argument(
        "--repeats", type=int, default=1, help="runs of each, interleaved; the fastest counts"
    )
    parser.add_argument("--read-repeats", type=int, default=3, help="interleaved reads")
    parser.add_argument("--no-kmeans", action="store_true", help="skip k-means (slow at 100k)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    from sklearn.cluster import HDBSCAN, KMeans
    from sklearn.decomposition import PCA
    from sklearn.metrics import adjusted_rand_score

    x, y = blobs(args.n, args.dim, args.clusters, 0)
    rows: list[list[Any]] = []
    result: dict[str, Any] = {"n": args.n, "dim": args.dim}
    with tempfile.TemporaryDirectory() as tmp, ov.connect(str(Path(tmp) / "bench.db")) as plat:
        col = plat.collection("bench", dim=args.dim, metric="cosine")
        t_add, _ = timed(
            lambda: [
                col.add(vectors=x[i : i + 1000], ids=list(range(i, min(i + 1000, args.n))))
                for i in range(0, args.n, 1000)
            ]
        )
        ids, stored = col.vectors()
        order = np.asarray(ids)
        arr = stored  # the same array the library gets directly
        truth = y[order]
        result["insert_s"] = round(t_add, 2)
        raw = raw_copy(Path(tmp) / "raw.db", [encode_id(i) for i in ids], arr)
        page = page_rows(args.dim)
        reads = {"omnivec col.vectors()": lambda: col.vectors()[1]}
        # What cluster/project read: unit rows, from the in-process copy (no Milvus round trip).
        reads["omnivec col.vectors(unit=True)"] = lambda: col.vectors(unit=True)[1]
        reads[f"pymilvus query_iterator, pages of {page}"] = lambda: raw_read(raw, page)
        reads["pymilvus query_iterator, pages of 1,000"] = lambda: raw_read(raw, 1000)
        read_best = {k: float("inf") for k in reads}
        for _ in range(args.read_repeats):
            for name, fn in reads.items():
                t, got = timed(fn)
                assert got.shape == arr.shape
                read_best[name] = min(read_best[name], t)
        result["read_s"] = read_best
        raw.close()

        def compare(name: str, ours: Any, on_array: Any, direct: Any, quality: Any = None) -> None:
            # Interleaved, the library first, the fastest of each kept: a busy machine slows
            # single runs by whole seconds.
            best = [float("inf")] * 3
            outs: list[Any] = [None] * 3
            for _ in range(args.repeats):
                for j, fn in enumerate((direct, on_array, ours)):
                    t, outs[j] = timed(fn)
                    best[j] = min(best[j], t)
            (t_direct, t_array, t_ours), (out_direct, _, out_ours) = best, outs
            extra = quality(out_ours, out_direct) if quality else ""
            rows.append(
                [name, t_direct, t_array, t_array / t_direct, t_ours, t_ours / t_direct, extra]
            )
            result[name] = {
                "direct_s": t_direct,
                "omnivec_on_array_s": t_array,
                "omnivec_from_store_s": t_ours,
                "quality": extra,
            }

        n_init = analysis.KMEANS_INITS if args.n <= analysis.KMEANS_FEW_INITS_ABOVE else 3
        # The library gets the very rows omnivec's cosine analysis works on (unit length, as a
        # user must hand them to it for cosine): k-means' iteration count, and so its time,
        # moves with the last bit of its input.
        unit = analysis.prepare(arr, "cosine")

        def ari(a: Any, b: Any) -> str:
            ours = adjusted_rand_score(truth, [a[i] for i in ids])
            return f"ARI {ours:.3f} vs {adjusted_rand_score(truth, b):.3f}"

        if not args.no_kmeans:
            compare(
                f"k-means k={args.clusters}",
                lambda: col.cluster(args.clusters),
                lambda: analysis.cluster_vectors(analysis.prepare(arr, "cosine"), args.clusters),
                lambda: KMeans(args.clusters, n_init=n_init, random_state=0).fit_predict(unit),
                ari,
            )

        def pca_gap(ours: Any, direct: Any) -> str:
            # Above analysis.PCA_FIT_ROWS the axes come from a seeded sample: the variance
            # they capture (PCA's objective) against the exact axes', and how far a point
            # moves, as a share of the map's spread (large only when the top axes' variances
            # are nearly equal: then any rotation between them is about as good).
            got = np.array([ours[i] for i in ids])
            kept = got.var(axis=0).sum() / direct.var(axis=0).sum()
            gap = np.abs(got - direct).max() / np.ptp(direct, axis=0).max()
            return f"variance {kept:.2%} of the exact PCA's; max point shift {gap:.1%}"

        compare(
            "PCA",
            lambda: col.project("pca", limit=args.n),
            lambda: analysis.project_vectors(analysis.prepare(arr, "cosine"), "pca"),
            lambda: PCA(2, random_state=0).fit_transform(unit),
            pca_gap,
        )
        if args.hdbscan:
            compare(
                "HDBSCAN",
                lambda: col.cluster(),
                lambda: analysis.cluster_vectors(analysis.prepare(arr, "cosine")),
                lambda: HDBSCAN(min_cluster_size=50, min_samples=5).fit_predict(unit),
                ari,
            )
        if args.umap:
            import umap

            # numba compiles umap's (and, from 4,096 points, pynndescent's) kernels on first
            # use: pay that before any timing.
            umap.UMAP(random_state=0, n_epochs=5).fit_transform(arr[: min(len(arr), 5_000)])

            compare(
                "UMAP",
                lambda: col.project("umap", limit=args.n),
                lambda: analysis.project_vectors(analysis.prepare(arr, "cosine"), "umap"),
                lambda: umap.UMAP(n_neighbors=15, random_state=0).fit_transform(unit),
            )
        if args.tsne:
            from sklearn.manifold import TSNE

            compare(
                "t-SNE",
                lambda: col.project("tsne", limit=args.n),
                lambda: analysis.project_vectors(analysis.prepare(arr, "cosine"), "tsne"),
                lambda: TSNE(2, perplexity=30.0, init="pca", random_state=0).fit_transform(unit),
            )
    if args.json:
        print(json.dumps(result, default=float))
        return
    print(f"n={args.n:,} dim={args.dim}: insert {t_add:.1f} s; reads (fastest of each):")
    floor = min(v for k, v in read_best.items() if not k.startswith("omnivec"))
    for name, t in read_best.items():
        print(f"  {name}: {t:.2f} s ({t / floor:.2f}x the fastest raw read)")
    print()
    print(
        table(
            [
                "task",
                "direct s",
                "omnivec on the array s",
                "ratio (algorithm only)",
                "omnivec from the store s",
                "ratio (whole call)",
                "quality",
            ],
            rows,
        )
    )


if __name__ == "__main__":
    main()

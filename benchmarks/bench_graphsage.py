"""GraphSAGE: fit time, and embed time per 1,000 new nodes, on a block-model graph whose nodes
carry noisy features of their block (so the held-out accuracy says the vectors make sense).

Default size is small (10k nodes / 100k edges); the issue's size is
``--nodes 100000 --degree 20`` (100k nodes, 1M undirected edges).

    .venv/bin/python benchmarks/bench_graphsage.py [--nodes 100000 --degree 20] [--store]
"""

from __future__ import annotations

import argparse
import tempfile
import time

import numpy as np


def block_graph(
    n: int, degree: int, blocks: int, features: int, seed: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``n`` nodes in ``blocks`` blocks, ``n * degree / 2`` undirected edges (80% inside a
    block), and float32 ``(n, features)`` features: the block's centre plus noise. Returns
    (src, dst, labels, features)."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, blocks, n)
    m = n * degree // 2
    src = rng.integers(0, n, m)
    inside = rng.random(m) < 0.8
    members = [np.flatnonzero(labels == b) for b in range(blocks)]
    dst = rng.integers(0, n, m)
    for b in range(blocks):
        sel = inside & (labels[src] == b)
        dst[sel] = rng.choice(members[b], int(sel.sum()))
    keep = src != dst
    centres = rng.normal(size=(blocks, features))
    x = centres[labels] + 1.5 * rng.normal(size=(n, features))
    return src[keep], dst[keep], labels, x.astype(np.float32)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--nodes", type=int, default=10_000)
    ap.add_argument("--degree", type=int, default=20, help="mean degree (edges = n * degree / 2)")
    ap.add_argument("--features", type=int, default=64)
    ap.add_argument("--blocks", type=int, default=20)
    ap.add_argument("--new", type=int, default=1_000, help="nodes held out and embedded later")
    ap.add_argument("--dim", type=int, default=64)
    ap.add_argument("--steps", type=int, default=150)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--store", action="store_true", help="also fit and embed through Lite")
    args = ap.parse_args()

    from sklearn.neighbors import KNeighborsClassifier

    import omnivec as ov
    from omnivec.encoders.graphsage import GraphSAGEEncoder

    n = args.nodes
    src, dst, labels, x = block_graph(n, args.degree, args.blocks, args.features, 0)
    held = np.random.default_rng(1).choice(n, args.new, replace=False)
    is_new = np.zeros(n, dtype=bool)
    is_new[held] = True
    old_edges = ~is_new[src] & ~is_new[dst]
    train_edges = np.stack([src[old_edges], dst[old_edges]], axis=1).tolist()
    all_edges = np.stack([src, dst], axis=1).tolist()
    feats = {i: x[i] for i in range(n)}
    print(
        f"graph: {n:,} nodes, {len(src):,} undirected edges, {args.features} features; "
        f"{args.new:,} nodes held out; torch threads {args.threads}"
    )
    print()
    print("| step | seconds | notes |")
    print("|---|---|---|")
    t = time.perf_counter()
    GraphSAGEEncoder(dim=8, hidden=8, steps=2).fit([(0, 1), (1, 2)], progress=False)
    print(f"| warm-up (torch, PyG imports, numba cache) | {time.perf_counter() - t:.1f} | |")

    cfg = {"dim": args.dim, "steps": args.steps, "seed": 0}
    enc = GraphSAGEEncoder(**cfg)
    t = time.perf_counter()
    res = enc.fit(train_edges, features=feats, progress=False, threads=args.threads)
    fit_s = time.perf_counter() - t
    print(
        f"| encoder.fit ({len(res.ids):,} nodes, {args.steps} full-batch steps) | {fit_s:.1f} | "
        f"walks {enc.timings['walk_s']:.1f}s, loss {enc.history[0]:.3f} -> "
        f"{enc.history[-1]:.3f} |"
    )
    new_ids = held.tolist()
    t = time.perf_counter()
    emb = enc.embed(all_edges, nodes=new_ids, features=feats, threads=args.threads)
    embed_s = time.perf_counter() - t
    knn = KNeighborsClassifier(5, metric="cosine").fit(res.vectors, labels[res.ids])
    acc = knn.score(emb.vectors, labels[new_ids])
    per_k = embed_s / len(new_ids) * 1000
    print(
        f"| encoder.embed ({len(new_ids):,} new nodes, graph parse included) | {embed_s:.2f} | "
        f"{per_k:.2f}s per 1,000 new nodes; 5-NN block accuracy of new nodes {acc:.3f} |"
    )
    if args.store:
        with tempfile.TemporaryDirectory() as tmp, ov.connect(f"{tmp}/bench.db") as plat:
            col = plat.collection("g", encoder="graphsage", **cfg)
            t = time.perf_counter()
            col.fit(train_edges, features=feats, progress=False, threads=args.threads)
            print(
                f"| collection.fit (+ upsert {len(col):,} rows) | {time.perf_counter() - t:.1f} | |"
            )
            t = time.perf_counter()
            col.embed(all_edges, nodes=new_ids, features=feats, threads=args.threads)
            print(
                f"| collection.embed (+ upsert {len(new_ids):,} rows) | "
                f"{time.perf_counter() - t:.2f} | |"
            )


if __name__ == "__main__":
    main()

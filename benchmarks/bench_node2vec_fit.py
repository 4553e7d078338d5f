"""Node2Vec end to end: fit time on a 100k-node / 1M-edge graph (encoder alone, and through a
collection into Milvus Lite), our skip-gram step against PyG's loss formulation on the same
walks, karate club accuracy, and the defaults before and after issue 16 (walk direction) in
one run: fit time of "out" and "both" walks, and accuracy on a directed connectome proxy.

PyG's ``Node2Vec`` cannot run here (it needs pyg-lib or torch-cluster); its loss is
reproduced line for line (``pos_sample``/``neg_sample``/``loss``: windows gathered per walk,
negatives drawn per window) and timed on the same batches of our walks.

    .venv/bin/python benchmarks/bench_node2vec_fit.py [--nodes 100000] [--epochs 1]
"""

from __future__ import annotations

import argparse
import tempfile
import time

import numpy as np


def pyg_loss(emb: object, rw: object, context_size: int, num_neg: int, n: int) -> object:
    """torch_geometric.nn.Node2Vec.loss on walks ``rw`` (B, L + 1), negatives per window."""
    import torch

    eps = 1e-15
    walks_per_rw = rw.size(1) - context_size + 1  # type: ignore[attr-defined]

    def windows(x: torch.Tensor) -> torch.Tensor:
        return torch.cat([x[:, j : j + context_size] for j in range(walks_per_rw)], dim=0)

    pos = windows(rw)  # type: ignore[arg-type]
    neg_rw = torch.randint(n, (rw.size(0) * num_neg, rw.size(1)))  # type: ignore[attr-defined]
    neg_rw[:, 0] = rw[:, 0].repeat(num_neg)  # type: ignore[index]
    neg = windows(neg_rw)

    def side(ws: torch.Tensor, positive: bool) -> torch.Tensor:
        start, rest = ws[:, 0], ws[:, 1:].contiguous()
        h_start = emb(start).view(ws.size(0), 1, -1)  # type: ignore[operator]
        h_rest = emb(rest.view(-1)).view(ws.size(0), -1, h_start.size(-1))  # type: ignore[operator]
        out = (h_start * h_rest).sum(dim=-1).view(-1)
        return -torch.log((torch.sigmoid(out) if positive else 1 - torch.sigmoid(out)) + eps).mean()

    return side(pos, True) + side(neg, False)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--nodes", type=int, default=100_000)
    ap.add_argument("--degree", type=int, default=20)
    ap.add_argument("--dim", type=int, default=64)
    ap.add_argument("--walk-length", type=int, default=20)
    ap.add_argument("--context-size", type=int, default=5)
    ap.add_argument("--walks-per-node", type=int, default=1)
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--batch-size", type=int, default=512)
    ap.add_argument("--compare-batches", type=int, default=20)
    args = ap.parse_args()

    import networkx as nx
    import torch

    import omnivec as ov
    from benchmarks.bench_walker import random_graph
    from omnivec.encoders.node2vec.encoder import Node2VecEncoder, _skipgram_loss
    from omnivec.encoders.node2vec.walker import build_csr, random_walks

    n = args.nodes
    src, dst, _ = random_graph(n, args.degree)
    half = len(src) // 2
    edges = np.stack([src[:half], dst[:half]], axis=1).tolist()
    cfg = {
        "dim": args.dim,
        "walk_length": args.walk_length,
        "context_size": args.context_size,
        "walks_per_node": args.walks_per_node,
        "epochs": args.epochs,
        "batch_size": args.batch_size,
        "seed": 0,
    }
    print(f"graph: {n:,} nodes, {half:,} undirected edges; training on 1 torch thread")
    print(f"config: {cfg}")
    print()
    print("| step | seconds | notes |")
    print("|---|---|---|")

    tw = time.perf_counter()
    Node2VecEncoder(dim=8, walk_length=10, epochs=1).fit(nx.karate_club_graph(), progress=False)
    print(
        f"| warm-up fit on karate (one-time: torch.optim imports, numba cache load) | "
        f"{time.perf_counter() - tw:.1f} | |"
    )
    enc = Node2VecEncoder(**cfg)
    t0 = time.perf_counter()
    enc.fit(edges, progress=False)
    fit_s = time.perf_counter() - t0
    tm = enc.timings
    steps = n * args.walks_per_node * args.walk_length * args.epochs
    print(
        f"| encoder.fit (parse + walks + train) | {fit_s:.1f} | walks {tm['walk_s']:.1f}s "
        f"({steps / tm['walk_s'] / 1e6:.1f}M steps/s), train {tm['train_s']:.1f}s, "
        f"loss {enc.history[0]:.3f} -> {enc.history[-1]:.3f} |"
    )
    with tempfile.TemporaryDirectory() as tmp, ov.connect(f"{tmp}/bench.db") as plat:
        col = plat.collection("big", encoder="node2vec", **cfg)
        t1 = time.perf_counter()
        col.fit(edges, progress=False)
        col_s = time.perf_counter() - t1
        print(
            f"| collection.fit (+ upsert {len(col):,} rows into Milvus Lite) | {col_s:.1f} | "
            f"store part ~{col_s - col.encoder.timings['total_s']:.1f}s |"
        )
        t2 = time.perf_counter()
        hits = col.search(ov.ref(0), k=10)
        print(f"| search(ov.ref(0), k=10) | {time.perf_counter() - t2:.3f} | {len(hits)} hits |")

    # our loss vs PyG's on the same walks and the same embedding size
    g = build_csr(src, dst, n)
    walks = torch.from_numpy(
        random_walks(
            g, np.arange(args.batch_size * args.compare_batches) % n, args.walk_length, seed=3
        )
    ).long()
    window = args.walk_length + 2 - args.context_size
    times = {}
    torch.set_num_threads(1)  # as encoder.fit trains
    for name in ("omnivec", "pyg"):
        torch.manual_seed(0)
        emb = torch.nn.Embedding(n, args.dim, sparse=True)
        opt = torch.optim.SparseAdam(list(emb.parameters()), lr=0.01)
        gen = torch.Generator().manual_seed(0)
        t3 = time.perf_counter()
        for b0 in range(0, walks.shape[0], args.batch_size):
            batch = walks[b0 : b0 + args.batch_size]
            if name == "omnivec":
                loss = _skipgram_loss(
                    emb, batch, args.context_size, window, args.context_size - 1, n, gen
                )
            else:
                loss = pyg_loss(emb, batch, args.context_size, 1, n)
            opt.zero_grad()
            loss.backward()  # type: ignore[attr-defined]
            opt.step()
        times[name] = (time.perf_counter() - t3) / args.compare_batches
    print(
        f"| skip-gram step, batch of {args.batch_size} walks | {times['omnivec']:.3f} | "
        f"PyG's loss formulation on the same walks: {times['pyg']:.3f}s "
        f"({times['pyg'] / times['omnivec']:.1f}x slower) |"
    )

    from omnivec.demo.graph import CONFIG, _club_accuracy

    G = nx.karate_club_graph()
    accs, secs = [], []
    for seed in range(3):
        t4 = time.perf_counter()
        res = Node2VecEncoder(**{**CONFIG, "seed": seed}).fit(G, progress=False)
        secs.append(time.perf_counter() - t4)
        accs.append(_club_accuracy(res.vectors, [G.nodes[v]["club"] for v in res.ids]))
    print(
        f"| karate club, 3 seeds ({CONFIG}) | {np.mean(secs):.1f} per fit | club accuracy "
        f"(leave-one-out 5-NN) {', '.join(f'{a:.2f}' for a in accs)} |"
    )

    # the defaults before and after issue 16 on a directed graph: "out" walks (the old
    # behaviour) against "both" (the new default), fit time on the big graph taken as directed
    # and 5-NN block accuracy on a directed, weighted connectome-like block model
    for direction in ("out", "both"):
        enc = Node2VecEncoder(**{**cfg, "direction": direction})
        t5 = time.perf_counter()
        enc.fit(edges, directed=True, progress=False)
        big_s = time.perf_counter() - t5
        accs = []
        for gseed in range(3):
            cg, labels = connectome_proxy(gseed)
            res = Node2VecEncoder(direction=direction, seed=0).fit(cg, progress=False)
            accs.append(knn5_accuracy(res.vectors, labels[np.asarray(res.ids)]))
        print(
            f"| direction={direction!r}: fit of the {n:,}-node graph as directed | {big_s:.1f} | "
            f"connectome proxy (280 nodes, defaults otherwise): 5-NN accuracy "
            f"{', '.join(f'{a:.3f}' for a in accs)} |"
        )


def connectome_proxy(seed: int, n: int = 280, k: int = 8) -> tuple[object, np.ndarray]:
    """A directed, weighted block model shaped like a neuron connectome: ``k`` cell types,
    heavy-tailed degrees, feed-forward links between consecutive types, and synapse counts
    (heavier inside a type) as weights. Returns (networkx DiGraph, int labels ``(n,)``)."""
    import networkx as nx

    rng = np.random.default_rng(seed)
    sizes = rng.multinomial(n - 10 * k, np.ones(k) / k) + 10
    labels = np.repeat(np.arange(k), sizes)
    prop = rng.lognormal(0, 0.8, n)
    prop /= prop.mean()
    p = np.where(labels[:, None] == labels[None, :], 0.10, 0.02)
    for a in range(k - 1):
        p[(labels[:, None] == a) & (labels[None, :] == a + 1)] = 0.05
    p = p * prop[:, None] * prop[None, :]
    adj = rng.random((n, n)) < np.clip(p, 0, 1)
    np.fill_diagonal(adj, False)
    g = nx.DiGraph()
    g.add_nodes_from(range(n))
    for u, v in zip(*np.nonzero(adj), strict=True):
        same = labels[u] == labels[v]
        g.add_edge(int(u), int(v), weight=float(rng.geometric(0.25) * (1 + 3 * same)))
    return g, labels


def knn5_accuracy(vectors: np.ndarray, labels: np.ndarray) -> float:
    """Stratified 5-fold 5-NN (cosine) accuracy of ``labels`` from ``vectors``."""
    from sklearn.model_selection import StratifiedKFold, cross_val_score
    from sklearn.neighbors import KNeighborsClassifier

    knn = KNeighborsClassifier(n_neighbors=5, metric="cosine")
    folds = StratifiedKFold(5, shuffle=True, random_state=0)
    return float(cross_val_score(knn, vectors, labels, cv=folds).mean())


if __name__ == "__main__":
    main()

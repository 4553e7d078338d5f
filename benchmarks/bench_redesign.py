"""Before/after benchmark of two omnivec source trees (e.g. a commit and the working tree),
run alternately in one session so that both see the same machine load.

    .venv/bin/python benchmarks/bench_redesign.py --tree before=481e96a --tree after=. [--rounds 3]
    .venv/bin/python benchmarks/bench_redesign.py --tree a=/tmp/old --tree b=/tmp/new --n 50000

A tree is a folder holding ``omnivec/`` or a git revision of this repository (extracted with
``git archive`` into a temporary folder). Each round runs every tree once, in turn (ABAB...),
each in a fresh interpreter with ``PYTHONPATH=<tree>``; the child checks that ``omnivec`` and the
text encoder come from that tree (entry points are looked up by module name). Through the public
API only, one child measures:

- ``small``: ``--small`` clustered 384-d vectors (below the ANN threshold, so Milvus answers
  exactly) added in calls of ``--batch``; single-query p50 over ``--queries`` fresh queries;
- ``ann``: ``--n`` vectors in calls of ``--batch`` (insert rate = rows / time of the add calls;
  "insert+first search" adds the first search, which waits for a background build and
  calibrates), then single-query p50 over ``--queries`` fresh queries (after 20 warm-up queries)
  and recall@10 against numpy's exact top 10;
- ``text``: ``--texts`` short sentences added in calls of 100 with the default text encoder
  (after a warm-up add that loads the model), then the p50 of ``--text-queries`` single text
  searches (the encoder dominates).

Searches also report the p50 of this process's CPU time (``time.process_time``, all its
threads; Milvus Lite's own process is not counted), steadier than wall time on a shared
machine. Fresh queries: stored rows moved in a random direction by their own nearest-neighbour
distance. The driver prints each run's figures with the 1-minute load average, then the medians
and the ratio second/first.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_ann import clustered

HERE = Path(__file__).resolve().parent

K = 10
SUBJECTS = ["The cat", "A trader", "The rocket", "My neighbour", "The chef", "A striker",
            "The river", "Our teacher", "The old pump", "A nurse"]  # fmt: skip
VERBS = ["watched", "bought", "launched", "painted", "cooked", "kicked", "crossed", "forgot",
         "repaired", "ignored"]  # fmt: skip
OBJECTS = ["the quiet harbour at dawn", "three shares of a struggling airline",
           "a satellite into a polar orbit", "the old fence behind the school",
           "a spicy soup with fresh ginger", "the ball past a diving goalkeeper",
           "a bridge that nobody had repaired in years", "the keys on the kitchen table",
           "a leaking valve in the basement", "the results of the blood test"]  # fmt: skip


def fresh_queries(x: np.ndarray, m: int, seed: int = 99) -> np.ndarray:
    """``m`` stored rows, each moved by its own nearest-neighbour distance, unit length again."""
    rng = np.random.default_rng(seed)
    pick = rng.choice(len(x), m, replace=False)
    s = x[pick] @ x.T
    s[np.arange(m), pick] = -np.inf
    near = np.argmax(s, axis=1)
    step = np.linalg.norm(x[pick] - x[near], axis=1, keepdims=True)
    e = rng.standard_normal((m, x.shape[1])).astype(np.float32)
    e /= np.linalg.norm(e, axis=1, keepdims=True)
    q = x[pick] + e * step
    return (q / np.linalg.norm(q, axis=1, keepdims=True)).astype(np.float32)


def sentences(n: int, seed: int, tag: str) -> list[str]:
    rng = np.random.default_rng(seed)
    return [
        f"{SUBJECTS[rng.integers(len(SUBJECTS))]} {VERBS[rng.integers(len(VERBS))]} "
        f"{OBJECTS[rng.integers(len(OBJECTS))]} ({tag} {i})."
        for i in range(n)
    ]


def p50_search(col: Any, queries: Any, wrap: Any) -> tuple[float, float, list[list[int]]]:
    """(wall p50 ms, CPU p50 ms of this process, hits' ids) of single searches."""
    lat, cpu, found = [], [], []
    for q in queries:
        c, t = time.process_time(), time.perf_counter()
        hits = col.search(wrap(q), k=K)
        lat.append(time.perf_counter() - t)
        cpu.append(time.process_time() - c)
        found.append([h.id for h in hits])
    return statistics.median(lat) * 1e3, statistics.median(cpu) * 1e3, found


def add_timed(col: Any, x: np.ndarray, batch: int, start: int = 0) -> float:
    t = time.perf_counter()
    for s in range(0, len(x), batch):
        col.add(
            vectors=x[s : s + batch],
            ids=list(range(start + s, start + min(s + batch, len(x)))),
        )
    return time.perf_counter() - t


def child(args: argparse.Namespace) -> dict[str, Any]:
    import omnivec as ov

    out: dict[str, Any] = {"omnivec": ov.__file__, "load_start": os.getloadavg()[0]}
    dim, k = 384, K
    small = clustered(args.small, dim, 7, max(10, args.small // 100), 1.0)
    big = clustered(args.n, dim, 0, max(10, args.n // 100), 1.0)
    q_small = fresh_queries(small, args.queries, 98)
    q_big = fresh_queries(big, args.queries + 20, 99)
    truth = np.argsort(-(q_big[20:] @ big.T), axis=1)[:, :k]
    with tempfile.TemporaryDirectory(prefix="bench_redesign_") as tmp:
        with ov.connect(str(Path(tmp) / "b.db")) as plat:
            col = plat.collection("small", dim=dim, metric="cosine")
            out["small_insert_rows_s"] = args.small / add_timed(col, small, args.batch)
            col.search(ov.vector(q_small[0]), k=k)
            out["small_search_p50_ms"], out["small_search_cpu_ms"], _ = p50_search(
                col, q_small, ov.vector
            )

            col = plat.collection("ann", dim=dim, metric="cosine")
            c = time.process_time()
            secs = add_timed(col, big, args.batch)
            out["ann_insert_rows_s"] = args.n / secs
            t = time.perf_counter()
            col.search(ov.vector(q_big[0]), k=k)
            first = time.perf_counter() - t
            out["ann_insert_cpu_s"] = time.process_time() - c
            out["ann_first_search_s"] = first
            out["ann_ready_rows_s"] = args.n / (secs + first)
            for v in q_big[1:20]:
                col.search(ov.vector(v), k=k)
            out["ann_search_p50_ms"], out["ann_search_cpu_ms"], found = p50_search(
                col, q_big[20:], ov.vector
            )
            out["ann_recall10"] = float(
                np.mean(
                    [len(set(f) & set(t.tolist())) / k for f, t in zip(found, truth, strict=True)]
                )
            )
            out["ann_stats"] = str(col.index_stats())[:300]

            docs = plat.collection("docs", encoder="text")
            docs.add(sentences(8, 5, "warm"), ids=[f"w{i}" for i in range(8)])
            enc = sys.modules.get("omnivec.encoders.text")
            out["text_encoder_module"] = getattr(enc, "__file__", None)
            texts = sentences(args.texts, 1, "note")
            t = time.perf_counter()
            for s in range(0, len(texts), 100):
                docs.add(
                    texts[s : s + 100],
                    ids=[f"t{i}" for i in range(s, min(s + 100, len(texts)))],
                )
            out["text_insert_rows_s"] = len(texts) / (time.perf_counter() - t)
            tq = sentences(args.text_queries + 1, 2, "query")
            docs.search(tq[0], k=k)
            out["text_search_p50_ms"], out["text_search_cpu_ms"], _ = p50_search(
                docs, tq[1:], lambda s: s
            )
            t = time.perf_counter()
        out["close_s"] = time.perf_counter() - t
    out["load_end"] = os.getloadavg()[0]
    return out


FIGURES = [
    ("small_insert_rows_s", "insert rows/s, small (flat)"),
    ("small_search_p50_ms", "search p50 ms, small (flat)"),
    ("small_search_cpu_ms", "search CPU p50 ms, small (flat)"),
    ("ann_insert_rows_s", "insert rows/s, ANN collection"),
    ("ann_first_search_s", "first search s (build wait)"),
    ("ann_ready_rows_s", "insert+first search rows/s"),
    ("ann_search_p50_ms", "search p50 ms, ANN"),
    ("ann_search_cpu_ms", "search CPU p50 ms, ANN"),
    ("ann_insert_cpu_s", "insert+first search CPU s, ANN"),
    ("ann_recall10", "recall@10, ANN"),
    ("text_insert_rows_s", "text add rows/s (MiniLM)"),
    ("text_search_p50_ms", "text search p50 ms"),
    ("text_search_cpu_ms", "text search CPU p50 ms"),
    ("close_s", "close s"),
]


def fmt(v: float) -> str:
    return f"{v:,.3g}" if abs(v) < 100 else f"{v:,.0f}"


def source_tree(spec: str, tmp: Path) -> Path:
    """A folder holding ``omnivec/``, or a git revision of this repository extracted read-only."""
    if (Path(spec) / "omnivec").is_dir():
        return Path(spec).resolve()
    out = tmp / spec.replace("/", "_")
    out.mkdir()
    archive = subprocess.run(
        ["git", "-C", str(HERE.parent), "archive", spec],
        capture_output=True,
        check=True,
    )
    subprocess.run(["tar", "-x", "-C", str(out)], input=archive.stdout, check=True)
    return out


def driver(args: argparse.Namespace) -> None:
    names = [t.split("=", 1)[0] for t in args.tree]
    passed = [
        a for a in sys.argv[1:] if not a.startswith("--tree") and a not in args.tree
    ]  # the child's options
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name in names}
    with tempfile.TemporaryDirectory(prefix="bench_redesign_trees_") as tmp:
        trees = [
            (n, source_tree(t.split("=", 1)[1], Path(tmp)))
            for n, t in zip(names, args.tree, strict=True)
        ]
        for r in range(args.rounds):
            for name, path in trees:
                env = dict(os.environ, PYTHONPATH=str(path))
                cmd = [sys.executable, __file__, "--child", *passed]
                p = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
                if p.returncode:
                    print(p.stderr[-3000:], file=sys.stderr)
                    raise SystemExit(f"{name} failed (round {r + 1})")
                res = json.loads(p.stdout.strip().splitlines()[-1])
                for key in ("omnivec", "text_encoder_module"):
                    if res[key] and not str(res[key]).startswith(str(path)):
                        raise SystemExit(f"{name}: {key} is {res[key]}, not under {path}")
                runs[name].append(res)
                print(f"round {r + 1} {name}: " + json.dumps(res), flush=True)
    a, b = names
    print(f"\n| figure | {a} (median) | {b} (median) | {b}/{a} | {a} runs | {b} runs |")
    print("|---|---|---|---|---|---|")
    for key, label in FIGURES:
        va = [x[key] for x in runs[a]]
        vb = [x[key] for x in runs[b]]
        ma, mb = statistics.median(va), statistics.median(vb)
        print(
            f"| {label} | {fmt(ma)} | {fmt(mb)} | {mb / ma:.3f} | "
            f"{', '.join(fmt(v) for v in va)} | {', '.join(fmt(v) for v in vb)} |"
        )
    for name in names:
        loads = ", ".join(f"{x['load_start']:.1f}->{x['load_end']:.1f}" for x in runs[name])
        print(f"load average (1 min) {name}: {loads}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--tree",
        action="append",
        default=[],
        help="NAME=FOLDER or NAME=GIT-REVISION, twice",
    )
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--n", type=int, default=80_000)
    ap.add_argument("--batch", type=int, default=8_000)
    ap.add_argument("--small", type=int, default=10_000)
    ap.add_argument("--queries", type=int, default=500)
    ap.add_argument("--texts", type=int, default=300)
    ap.add_argument("--text-queries", type=int, default=200)
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        print(json.dumps(child(args)), flush=True)
    else:
        if len(args.tree) != 2:
            ap.error("give --tree NAME=TREE twice")
        driver(args)


if __name__ == "__main__":
    main()

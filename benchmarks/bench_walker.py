"""Node2vec walker throughput: omnivec's numba walker against a plain-Python walker, same run.

Graph: uniform random, 100k nodes, average degree 20 (1M undirected edges), walks of 80 steps,
one walk per node. The plain-Python walker samples each step over the same CSR the way the
original node2vec reference does it without precomputed alias tables (weights times the
1/p, 1, 1/q factors, then a weighted choice); it is timed on a subset of walkers.

    .venv/bin/python benchmarks/bench_walker.py [--nodes 100000] [--degree 20] [--python-walkers 2000]
        [--pecanpy-python PATH]

pecanpy 2.0.9 needs numpy < 2, so it runs in a virtualenv of its own, in the same run:
``python3 -m venv /tmp/pecan && /tmp/pecan/bin/pip install pecanpy "numpy<2"``, then pass
``--pecanpy-python /tmp/pecan/bin/python``. Its mode is the one pecanpy recommends for the
case (FirstOrderUnweighted / PreCompFirstOrder for p = q = 1, SparseOTF otherwise).
"""

from __future__ import annotations

import argparse
import bisect
import json
import random
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np


def random_graph(n: int, degree: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Undirected uniform random graph as directed edge arrays (both directions) + weights."""
    rng = np.random.default_rng(seed)
    m = n * degree // 2
    a, b = rng.integers(0, n, m), rng.integers(0, n, m)
    keep = a != b
    lo, hi = np.minimum(a[keep], b[keep]), np.maximum(a[keep], b[keep])
    key = np.unique(lo * n + hi)
    lo, hi = key // n, key % n
    w = rng.random(len(key)) + 0.1
    return np.concatenate([lo, hi]), np.concatenate([hi, lo]), np.concatenate([w, w])


def python_walks(
    indptr: list[int],
    indices: list[int],
    cumw: list[list[float]] | None,
    weights: list[float] | None,
    starts: list[int],
    length: int,
    p: float,
    q: float,
    seed: int,
) -> list[list[int]]:
    """Straightforward per-step node2vec sampling in pure Python over CSR lists."""
    rnd = random.Random(seed)
    walks = []
    for s in starts:
        walk = [s]
        t = -1
        v = s
        for _ in range(length):
            lo, hi = indptr[v], indptr[v + 1]
            if lo == hi:
                break
            nbrs = indices[lo:hi]
            if t < 0 or (p == 1.0 and q == 1.0):
                if cumw is None:
                    x = nbrs[int(rnd.random() * len(nbrs))]
                else:
                    row = cumw[v]
                    x = nbrs[bisect.bisect_right(row, rnd.random() * row[-1])]
            else:
                t_nbrs = set(indices[indptr[t] : indptr[t + 1]])
                ws = weights[lo:hi] if weights is not None else [1.0] * len(nbrs)
                probs = [
                    w / p if x == t else (w if x in t_nbrs else w / q)
                    for x, w in zip(nbrs, ws, strict=True)
                ]
                x = rnd.choices(nbrs, weights=probs)[0]
            walk.append(x)
            t, v = v, x
        walks.append(walk)
    return walks


# Runs under the pecanpy virtualenv: reads an edge list, times the walk kernel alone (second
# call: pecanpy compiles its kernels on every first use) and simulate_walks end to end.
PECANPY_SCRIPT = r"""
import json, sys, time
import numpy as np
from pecanpy import pecanpy as pp
path, p, q, length, weighted = sys.argv[1], float(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4]), sys.argv[5] == "1"
if p == 1 and q == 1:
    mode = pp.PreCompFirstOrder if weighted else pp.FirstOrderUnweighted
else:
    mode = pp.SparseOTF
g = mode(p=p, q=q, workers=2, verbose=False, random_state=0)
g.read_edg(path, weighted=weighted, directed=False)
def kernel():
    g._preprocess_transition_probs()
    starts = np.arange(g.num_nodes, dtype=np.uint32)
    with pp.ProgressBar(total=starts.size, disable=True) as bar:
        return g._random_walks(starts.size, length, 0, starts, g.get_has_nbrs(), g.get_move_forward(), bar)
kernel()
t0 = time.perf_counter(); walks = kernel(); kernel_s = time.perf_counter() - t0
steps = int(g.num_nodes * length)
t0 = time.perf_counter(); g.simulate_walks(1, length); total_s = time.perf_counter() - t0
print(json.dumps({"mode": mode.__name__, "kernel": steps / kernel_s / 1e6, "simulate_walks": steps / total_s / 1e6}))
"""


def run_pecanpy(
    python: str,
    src: np.ndarray,
    dst: np.ndarray,
    w: np.ndarray,
    length: int,
    weighted: bool,
    p: float,
    q: float,
) -> dict | None:
    """pecanpy's steps/s (millions) on the same edges, or None if it cannot run."""
    half = len(src) // 2  # random_graph lists each undirected edge twice
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "graph.edg"
        cols = [src[:half], dst[:half]] + ([w[:half]] if weighted else [])
        np.savetxt(
            path,
            np.column_stack(cols),
            fmt=["%d", "%d"] + (["%.6f"] if weighted else []),
            delimiter="\t",
        )
        try:
            out = subprocess.run(
                [
                    python,
                    "-c",
                    PECANPY_SCRIPT,
                    str(path),
                    str(p),
                    str(q),
                    str(length),
                    "1" if weighted else "0",
                ],
                capture_output=True,
                text=True,
                timeout=1800,
                check=True,
            )
        except (OSError, subprocess.SubprocessError) as exc:
            print(f"[skip] pecanpy with {python}: {exc}")
            return None
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--nodes", type=int, default=100_000)
    ap.add_argument("--degree", type=int, default=20)
    ap.add_argument("--length", type=int, default=80)
    ap.add_argument("--python-walkers", type=int, default=2_000)
    ap.add_argument("--pecanpy-python", default="", help="a Python with pecanpy and numpy<2")
    args = ap.parse_args()

    import numba

    t0 = time.perf_counter()
    from omnivec.encoders.node2vec.walker import build_csr, random_walks

    n, length = args.nodes, args.length
    src, dst, w = random_graph(n, args.degree)
    graphs = {"unweighted": build_csr(src, dst, n), "weighted": build_csr(src, dst, n, w)}
    warm = time.perf_counter()
    random_walks(graphs["unweighted"], np.arange(8), 4, 0.5, 2.0)  # compile or load from cache
    print(
        f"graph: {n:,} nodes, {len(src) // 2:,} undirected edges; walks of {length}; "
        f"numba threads {numba.get_num_threads()}; import {warm - t0:.2f}s, "
        f"first call (compile or cache load) {time.perf_counter() - warm:.2f}s"
    )
    try:
        import pyg_lib  # noqa: F401

        has_pyg_lib = True
    except ImportError:
        has_pyg_lib = False
    print(
        f"pyg-lib importable: {has_pyg_lib} (torch_geometric's Node2Vec needs it or torch-cluster)"
    )

    starts = np.arange(n)
    py_starts = list(range(0, n, max(1, n // args.python_walkers)))[: args.python_walkers]
    print()
    print(
        "| graph | p, q | omnivec numba (M steps/s) | plain Python (M steps/s) | ratio "
        "| pecanpy walk kernel (M steps/s) | pecanpy simulate_walks | omnivec / pecanpy kernel |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for name, g in graphs.items():
        cum = g.cumulative_weights()
        indptr, indices = g.indptr.tolist(), g.indices.tolist()
        wl = g.weights.tolist() if g.weights is not None else None
        cum_rows = (
            [cum[indptr[v] : indptr[v + 1]].tolist() for v in range(n)] if wl is not None else None
        )
        for p, q in ((1.0, 1.0), (0.5, 2.0)):
            t1 = time.perf_counter()
            walks = random_walks(g, starts, length, p, q, seed=1, cumulative=cum)
            fast_s = time.perf_counter() - t1
            steps = int((walks[:, 1:] >= 0).sum())
            t2 = time.perf_counter()
            py = python_walks(indptr, indices, cum_rows, wl, py_starts, length, p, q, seed=1)
            py_s = time.perf_counter() - t2
            py_steps = sum(len(x) - 1 for x in py)
            fast, slow = steps / fast_s / 1e6, py_steps / py_s / 1e6
            pec = (
                run_pecanpy(args.pecanpy_python, src, dst, w, length, name == "weighted", p, q)
                if args.pecanpy_python
                else None
            )
            pec_cols = (
                f"{pec['kernel']:.2f} ({pec['mode']}) | {pec['simulate_walks']:.2f} | {fast / pec['kernel']:.1f}x"
                if pec
                else "- | - | -"
            )
            print(
                f"| {name} | {p:g}, {q:g} | {fast:.2f} | {slow:.3f} | {fast / slow:.0f}x | {pec_cols} |"
            )
    if not args.pecanpy_python:
        print()
        print(
            "pecanpy not run (pass --pecanpy-python): DESIGN.md measured 2.9M steps/s at p=q=1 "
            "and 0.35-0.47M for p/q walks on the same graph size."
        )


if __name__ == "__main__":
    main()

"""node2vec and spectral embeddings on a real connectome, beside a raw scipy baseline.

    .venv/bin/python benchmarks/quality/connectome.py [--quick]

Data: the larval Drosophila mushroom-body connectome (Eichler et al. 2017) as graspologic
3.4.4's wheel ships it (``graspologic/datasets/drosophila/{left,right}_{adjacency,
cell_labels}.csv``: a weighted (synapse counts), directed adjacency matrix and one of four cell
types per neuron). The wheel is fetched with ``pip download --no-deps`` into a cache outside the
repository, checked against its sha256 and read straight from the zip: never vendored,
graspologic never installed.

Quality: k-NN (k = 5, cosine, leave-one-out) cell-type accuracy of each node's vector. The left
hemisphere is where defaults were developed; the right one is held out. Rows, side by side in
one run: omnivec's node2vec with default options, omnivec's ``encoder="spectral"`` with
default options, and a raw adjacency spectral embedding straight from scipy (top-8 singular
vectors of the raw weighted adjacency, scaled by sqrt(sigma), out- and in-vectors
concatenated) - graspologic's ``AdjacencySpectralEmbed`` in a few lines - plus karate.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import os
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

WHEEL = "graspologic-3.4.4-py3-none-any.whl"
WHEEL_SHA256 = "4ea5cd50f10eaff3fa90f18a8f66b1f5f42c724ac6aeb95e9f081632fc8d2d00"
DATA_DIR = "graspologic/datasets/drosophila"
HEMISPHERES = ("left", "right")


def cache_dir() -> Path:
    """Where the wheel is kept: ``$OMNIVEC_DATA_CACHE`` or ``~/.cache/omnivec-data``."""
    return Path(os.environ.get("OMNIVEC_DATA_CACHE", Path.home() / ".cache" / "omnivec-data"))


def fetch_wheel() -> Path:
    """graspologic 3.4.4's wheel in the cache (``pip download`` when absent), sha256 checked.

    Raises ``RuntimeError`` when pip cannot fetch it (no registry) or the hash differs."""
    path = cache_dir() / WHEEL
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "graspologic==3.4.4"]
        # Into a private folder, then one rename: two processes fetching at once (parallel test
        # workers) never read a half-written wheel.
        with tempfile.TemporaryDirectory(dir=path.parent) as tmp:
            proc = subprocess.run(
                [*cmd, "-d", tmp, "--quiet"],
                capture_output=True,
                text=True,
                timeout=300,
            )
            got = Path(tmp) / WHEEL
            if proc.returncode != 0 or not got.exists():
                tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["no output"]
                raise RuntimeError(f"pip download graspologic==3.4.4 failed: {tail[0]}")
            os.replace(got, path)
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    if digest != WHEEL_SHA256:
        raise RuntimeError(f"{path} has sha256 {digest}, expected {WHEEL_SHA256}")
    return path


def load_hemisphere(side: str) -> tuple[np.ndarray, np.ndarray]:
    """``(adjacency, labels)`` of one hemisphere: float64 ``(n, n)`` synapse counts
    (``adjacency[i, j]``: from neuron i to neuron j) and str ``(n,)`` cell types
    (K Kenyon cells, I input, O output, P projection neurons)."""
    if side not in HEMISPHERES:
        raise ValueError(f"side must be one of {HEMISPHERES}")
    with zipfile.ZipFile(fetch_wheel()) as z:
        adj_text = z.read(f"{DATA_DIR}/{side}_adjacency.csv").decode()
        lab_text = z.read(f"{DATA_DIR}/{side}_cell_labels.csv").decode()
    adj = np.loadtxt(io.StringIO(adj_text), dtype=np.float64)
    labels = np.asarray([s.strip() for s in lab_text.splitlines() if s.strip()])
    if adj.shape != (labels.shape[0], labels.shape[0]):
        raise RuntimeError(f"{side}: adjacency {adj.shape} does not match {labels.shape[0]} labels")
    return adj, labels


def to_digraph(adj: np.ndarray) -> Any:
    """A networkx ``DiGraph`` with nodes ``0 .. n-1`` and ``weight`` = synapse count."""
    import networkx as nx

    g = nx.DiGraph()
    g.add_nodes_from(range(adj.shape[0]))
    src, dst = np.nonzero(adj)
    g.add_weighted_edges_from(
        (int(u), int(v), float(adj[u, v])) for u, v in zip(src, dst, strict=True)
    )
    return g


def knn5(vectors: np.ndarray, labels: np.ndarray) -> float:
    """Leave-one-out 5-NN (cosine) label accuracy."""
    from sklearn.model_selection import LeaveOneOut, cross_val_score
    from sklearn.neighbors import KNeighborsClassifier

    knn = KNeighborsClassifier(n_neighbors=5, metric="cosine")
    return float(cross_val_score(knn, vectors, labels, cv=LeaveOneOut()).mean())


def raw_ase(adj: np.ndarray, d: int = 8) -> np.ndarray:
    """Adjacency spectral embedding straight from scipy: top-``d`` singular triplets of the
    raw weighted adjacency, ``[U sqrt(s), V sqrt(s)]``."""
    from scipy.sparse.linalg import svds

    rng = np.random.default_rng(0)
    v0 = rng.standard_normal(min(adj.shape))
    u, s, vt = svds(adj, k=d, v0=v0)
    scale = np.sqrt(s)
    return np.hstack([u * scale, vt.T * scale])


def _karate() -> tuple[Any, np.ndarray, np.ndarray]:
    import networkx as nx

    g = nx.karate_club_graph()
    labels = np.asarray([g.nodes[v]["club"] for v in g.nodes])
    return g, labels, nx.to_numpy_array(g, nodelist=list(g.nodes), weight="weight")


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--quick", action="store_true", help="one seed (default: seeds 0, 1, 2)")
    args = ap.parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    from omnivec.encoders.node2vec import Node2VecEncoder
    from omnivec.encoders.spectral import SpectralEncoder

    seeds = [0] if args.quick else [0, 1, 2]
    graphs: dict[str, tuple[Any, np.ndarray, np.ndarray]] = {}
    for side in HEMISPHERES:
        adj, labels = load_hemisphere(side)
        graphs[f"{side} ({'dev' if side == 'left' else 'held out'})"] = (
            to_digraph(adj),
            labels,
            adj,
        )
    graphs["karate"] = _karate()

    def omnivec_row(make: Any, runs: list[int]) -> dict[str, tuple[float, float]]:
        row = {}
        for name, (g, labels, _) in graphs.items():
            accs, secs = [], []
            for seed in runs:
                t0 = time.perf_counter()
                res = make(seed).fit(g, progress=False)
                secs.append(time.perf_counter() - t0)
                index = {v: i for i, v in enumerate(g.nodes)}
                accs.append(knn5(res.vectors, labels[[index[v] for v in res.ids]]))
            row[name] = (float(np.mean(accs)), float(np.mean(secs)))
        return row

    rows: dict[str, dict[str, tuple[float, float]]] = {}
    rows[f"omnivec node2vec, defaults (seeds {seeds})"] = omnivec_row(
        lambda s: Node2VecEncoder(seed=s), seeds
    )
    rows["omnivec node2vec, round 2 defaults"] = omnivec_row(
        lambda s: Node2VecEncoder(
            seed=s, direction="both", weights="raw", asymmetric=False, context_size=10
        ),
        [0],
    )
    rows["omnivec spectral, defaults (dim 16, log1p)"] = omnivec_row(
        lambda s: SpectralEncoder(seed=s), [0]
    )
    rows["omnivec spectral, laplacian=True"] = omnivec_row(
        lambda s: SpectralEncoder(seed=s, laplacian=True), [0]
    )
    raw: dict[str, tuple[float, float]] = {}
    for name, (_, labels, adj) in graphs.items():
        t0 = time.perf_counter()
        vecs = raw_ase(adj, 8)
        raw[name] = (knn5(vecs, labels), time.perf_counter() - t0)
    rows["raw scipy ASE (svds, top 8, raw weights)"] = raw

    names = list(graphs)
    print("kNN-5 leave-one-out accuracy (cosine); fit seconds in brackets\n")
    print("| method | " + " | ".join(names) + " |")
    print("|---" * (len(names) + 1) + "|")
    for label, row in rows.items():
        cells = [f"{row[n][0]:.3f} ({row[n][1]:.2f} s)" for n in names]
        print(f"| {label} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()

"""Indexes for data where IVF is weak, on real Lite files and real faiss: the HNSW graph
(``index="hnsw"``: tombstones, compaction, background build with the tail scanned, files) and
the PQ scan that ``index="auto"`` chooses for uniform-like data; ``exact=True``,
``index_stats()`` and their bad input."""

from __future__ import annotations

import numpy as np
import pytest

import omnivec as ov
from omnivec.errors import InvalidInputError
from omnivec.stores import ann, hnsw_index
from omnivec.stores.index_common import fresh_queries

DIM = 32
N = 6_000


def uniform(n: int, dim: int = DIM, seed: int = 0) -> np.ndarray:
    x = np.random.default_rng(seed).standard_normal((n, dim)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def fresh(x: np.ndarray, m: int, seed: int = 5) -> np.ndarray:
    """``m`` stored rows moved by their own nearest-neighbour distance (the benchmarks' and
    the calibration's definition of a query that is not a stored point)."""
    rng = np.random.default_rng(seed)
    pick = rng.choice(len(x), m, replace=False)
    s = x[pick] @ x.T
    s[np.arange(m), pick] = -np.inf
    return fresh_queries(x[pick], x[np.argmax(s, axis=1)], rng, unit=True)


def recall_of(col: ov.Collection, x: np.ndarray, q: np.ndarray, **kw: object) -> float:
    truth = np.argsort(-(q @ x.T), axis=1)[:, :10]
    got = [[h.id for h in col.search(ov.vector(v), k=10, **kw)] for v in q]  # type: ignore[arg-type]
    return float(
        np.mean([len(set(g) & set(t.tolist())) / 10 for g, t in zip(got, truth, strict=True)])
    )


@pytest.fixture
def low_threshold(monkeypatch: pytest.MonkeyPatch) -> int:
    monkeypatch.setattr(ann, "ANN_MIN_ROWS", 1_000)
    return 1_000


def test_hnsw_index_answers_fresh_queries_and_keeps_its_promise(
    db_path: str, low_threshold: int
) -> None:
    """index="hnsw": writes go to a tail built in the background; the calibrated ef holds
    recall on fresh queries; exact=True equals brute force; replacements and deletes are
    tombstones (never returned), compaction rebuilds; a reopen loads the graph."""
    x = uniform(N)
    with ov.connect(db_path) as plat:
        col = plat.collection("g", dim=DIM, metric="cosine", index="hnsw")
        for s in range(0, N, 2_000):
            col.add(vectors=x[s : s + 2_000], ids=list(range(s, s + 2_000)))
        q = fresh(x, 40)
        assert recall_of(col, x, q, exact=True) == 1.0  # whatever the graph's state
        stats = col.index_stats()
        assert stats["index"] == "hnsw" and stats["fresh_queries"] is True
        assert stats["rows"] == N and stats["ef"] >= 16
        assert stats["calibrated_recall"] is not None and stats["calibrated_recall"] >= 0.95
        assert recall_of(col, x, q) >= 0.9
        # Replace 100 rows (new vectors) and delete 100: never the old ones, never deleted.
        y = uniform(100, seed=7)
        col.add(vectors=y, ids=list(range(100)))
        x[:100] = y
        assert col.delete(list(range(100, 200))) == 100
        live = np.ones(N, bool)
        live[100:200] = False
        hits = col.search(ov.vector(y[3]), k=5)
        assert hits[0].id == 3 and hits[0].score == pytest.approx(1.0, abs=1e-5)
        for v in q[:10]:
            ids = {h.id for h in col.search(ov.vector(v), k=10)}
            assert not ids & set(range(100, 200))
        truth_x = x[live]
        truth_ids = np.flatnonzero(live)
        for v in q[:10]:
            exact = [h.id for h in col.search(ov.vector(v), k=10, exact=True)]
            want = truth_ids[np.argsort(-(truth_x @ v))[:10]].tolist()
            assert exact == want
        manager = plat.store._ann  # type: ignore[attr-defined]
        index = manager.indexes["g"]
        assert index.dead >= 200
        # Deleting past the compaction share starts over from the live rows.
        col.delete(list(range(200, 2_200)))
        index = manager.indexes["g"]
        assert index.dead == 0 and index.rows == N - 2_100
    with ov.connect(db_path) as plat:  # saved with its graph built; loaded, not rebuilt
        col = plat.collection("g")
        index = plat.store._ann._index(plat.store, "g")  # type: ignore[attr-defined]
        assert isinstance(index, hnsw_index.HnswIndex) and index.pending == 0
        assert len(col) == N - 2_100
        assert all(h.id >= 2_200 or h.id < 100 for h in col.search(ov.vector(q[0]), k=10))


def test_auto_on_uniform_data_leaves_ivf_and_keeps_recall(db_path: str, low_threshold: int) -> None:
    """Uniform vectors: the IVF lists would need a large share of themselves, so "auto"
    scans PQ codes re-ranked exactly instead; recall on fresh queries holds, exact=True is
    brute force, and a reopen loads the same index."""
    n, dim = 8_000, 64  # enough rows for >= 64 lists at the test threshold
    x = uniform(n, dim)
    with ov.connect(db_path) as plat:
        col = plat.collection("u", dim=dim, metric="cosine")
        for s in range(0, n, 4_000):
            col.add(vectors=x[s : s + 4_000], ids=list(range(s, s + 4_000)))
        stats = col.index_stats()
        assert stats["index"] == "pq_scan", stats
        assert stats["calibrated_recall"] >= 0.95 and stats["fresh_queries"] is True
        q = fresh(x, 40)
        assert recall_of(col, x, q) >= 0.9
        assert recall_of(col, x, q, exact=True) == 1.0
    with ov.connect(db_path) as plat:
        col = plat.collection("u")
        assert col.index_stats()["index"] == "pq_scan"
        assert recall_of(col, x, q) >= 0.9


def test_bad_index_options_are_one_line_errors_and_write_nothing(db_path: str) -> None:
    with ov.connect(db_path) as plat:
        for bad in (0, 0.0, -0.5, 1.5, float("nan"), "high", True):
            with pytest.raises(InvalidInputError, match="recall_target") as err:
                plat.collection("r", dim=4, recall_target=bad)
            assert "\n" not in str(err.value)
        with pytest.raises(InvalidInputError, match="index") as err:
            plat.collection("r", dim=4, index="annoy")
        assert "\n" not in str(err.value)
        assert "r" not in plat.collections()
        col = plat.collection("r", dim=4, recall_target=0.99)
        col.add(vectors=uniform(10, 4), ids=list(range(10)))
        for bad_exact in (1, "yes", None):
            with pytest.raises(InvalidInputError, match="exact"):
                col.search(ov.vector(uniform(1, 4)[0]), k=3, exact=bad_exact)  # type: ignore[arg-type]
        stats = col.index_stats()
        assert stats["index"] == "flat" and stats["calibrated_recall"] == 1.0
        assert stats["recall_target"] == 0.99 and stats["fresh_queries"] is True
        hits = col.search(ov.vector(uniform(1, 4)[0]), k=3, exact=True)
        assert len(hits) == 3

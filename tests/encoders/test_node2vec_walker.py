"""The numba node2vec walker: transition frequencies against node2vec's formula, determinism,
and the walk's behaviour at isolated, dangling and self-looped nodes."""

from __future__ import annotations

import itertools

import numba
import numpy as np
import pytest
from scipy.stats import chisquare

from omnivec.encoders.node2vec.walker import CSRGraph, build_csr, random_walks

# A chi-square test at this level fails a correct walker once in 10^4 runs.
ALPHA = 1e-4


def undirected(edges: list[tuple[int, int, float]], n: int) -> CSRGraph:
    src = [u for u, v, _ in edges] + [v for u, v, _ in edges if u != v]
    dst = [v for u, v, _ in edges] + [u for u, v, _ in edges if u != v]
    w = [x for *_, x in edges] + [x for u, v, x in edges if u != v]
    weights = None if len(set(w)) == 1 else np.asarray(w)
    return build_csr(np.asarray(src), np.asarray(dst), n, weights)


def test_csr_rows_are_sorted_and_cumulative_weights_restart() -> None:
    g = build_csr(np.array([0, 0, 0, 1]), np.array([2, 1, 3, 0]), 4, np.array([1.0, 2.0, 3.0, 4.0]))
    assert g.indptr.tolist() == [0, 3, 4, 4, 4]
    assert g.indices.tolist() == [1, 2, 3, 0]
    assert g.weights is not None and g.weights.tolist() == [2.0, 1.0, 3.0, 4.0]
    assert g.cumulative_weights().tolist() == [2.0, 3.0, 6.0, 4.0]


@pytest.mark.parametrize("weighted", [False, True])
def test_first_order_frequencies_follow_weights(weighted: bool) -> None:
    # node 0 -> 1, 2, 3, 4 with weights 1, 2, 3, 4 (or all equal)
    w = [1.0, 2.0, 3.0, 4.0] if weighted else [1.0] * 4
    g = undirected([(0, k + 1, w[k]) for k in range(4)], 5)
    n = 200_000
    walks = random_walks(g, np.zeros(n, dtype=np.int64), walk_length=1, seed=7)
    counts = np.bincount(walks[:, 1], minlength=5)[1:]
    expected = np.asarray(w) / sum(w) * n
    assert chisquare(counts, expected).pvalue > ALPHA


# t = 0, v = 1. v's neighbours: 0 (the return), 2 (also a neighbour of t), 3 and 4 (outward).
EDGES = [(0, 1, 2.0), (0, 2, 1.0), (1, 2, 3.0), (1, 3, 1.0), (1, 4, 2.0), (3, 4, 1.0)]


@pytest.mark.parametrize(
    ("p", "q"),
    [
        (1.0, 1.0),
        (0.25, 2.0),  # 1/p dominates: the return edge is folded out of the envelope
        (0.5, 0.5),  # 1/p == 1/q: plain rejection
        (4.0, 0.25),  # outward moves dominate
        (2.0, 2.0),
    ],
)
@pytest.mark.parametrize("weighted", [False, True])
def test_second_order_frequencies_follow_node2vec_formula(
    p: float, q: float, weighted: bool
) -> None:
    edges = EDGES if weighted else [(u, v, 1.0) for u, v, _ in EDGES]
    g = undirected(edges, 5)
    weight = {(u, v): w for u, v, w in edges} | {(v, u): w for u, v, w in edges}
    walks = random_walks(g, np.zeros(300_000, dtype=np.int64), walk_length=2, p=p, q=q, seed=3)
    via_v = walks[walks[:, 1] == 1]  # walks that went 0 -> 1: the next step is biased by t = 0
    counts = np.bincount(via_v[:, 2], minlength=5)
    alpha = {0: 1 / p, 2: 1.0, 3: 1 / q, 4: 1 / q}  # return, distance 1 from t, outward
    targets = sorted(alpha)
    mass = np.array([alpha[x] * weight[(1, x)] for x in targets])
    expected = mass / mass.sum() * len(via_v)
    assert counts[1] == 0  # no self-loop at 1
    assert chisquare(counts[targets], expected).pvalue > ALPHA


def test_directed_second_order_uses_out_edges_of_the_previous_node() -> None:
    # 0 -> 1, 0 -> 2, 1 -> 2, 1 -> 3, 1 -> 0: from (t=0, v=1), 2 is at distance 1, 3 is outward
    g = build_csr(np.array([0, 0, 1, 1, 1]), np.array([1, 2, 2, 3, 0]), 4)
    walks = random_walks(g, np.zeros(200_000, dtype=np.int64), walk_length=2, p=0.5, q=4.0, seed=1)
    via_v = walks[walks[:, 1] == 1]
    counts = np.bincount(via_v[:, 2], minlength=4)[[0, 2, 3]]
    mass = np.array([2.0, 1.0, 0.25])
    assert chisquare(counts, mass / mass.sum() * len(via_v)).pvalue > ALPHA


def test_same_seed_same_walks_whatever_the_threads_or_chunks() -> None:
    rng = np.random.default_rng(0)
    n = 500
    src, dst = rng.integers(0, n, 4_000), rng.integers(0, n, 4_000)
    keep = src != dst
    pairs = np.unique(np.stack([src[keep], dst[keep]], 1), axis=0)
    g = build_csr(pairs[:, 0], pairs[:, 1], n, rng.random(len(pairs)) + 0.1)
    starts = np.tile(np.arange(n), 4)
    a = random_walks(g, starts, 30, p=0.5, q=2.0, seed=11)
    before = numba.get_num_threads()
    numba.set_num_threads(1)
    try:
        b = random_walks(g, starts, 30, p=0.5, q=2.0, seed=11)
    finally:
        numba.set_num_threads(before)
    np.testing.assert_array_equal(a, b)
    chunked = np.concatenate(
        [
            random_walks(g, starts[i : i + 700], 30, 0.5, 2.0, seed=11, offset=i)
            for i in range(0, len(starts), 700)
        ]
    )
    np.testing.assert_array_equal(a, chunked)
    c = random_walks(g, starts, 30, p=0.5, q=2.0, seed=12)
    assert (a != c).mean() > 0.5
    # every step follows an edge
    for walk in a[:50]:
        for u, v in itertools.pairwise(walk):
            if v < 0:
                break
            assert v in g.indices[g.indptr[u] : g.indptr[u + 1]]


def test_walks_stop_at_dangling_and_isolated_nodes_and_stay_on_self_loops() -> None:
    # directed chain 0 -> 1 -> 2 (2 has no out-edges), isolated 3, self-loop only at 4
    g = build_csr(np.array([0, 1, 4]), np.array([1, 2, 4]), 5)
    walks = random_walks(g, np.array([0, 3, 4]), walk_length=4, p=0.5, q=2.0, seed=0)
    assert walks[0].tolist() == [0, 1, 2, -1, -1]
    assert walks[1].tolist() == [3, -1, -1, -1, -1]
    assert walks[2].tolist() == [4, 4, 4, 4, 4]


def test_zero_length_rows_and_bad_parameters() -> None:
    g = undirected([(0, 1, 1.0)], 2)
    assert random_walks(g, np.array([0, 1]), walk_length=1).tolist() == [[0, 1], [1, 0]]
    with pytest.raises(ValueError):
        random_walks(g, np.array([0]), walk_length=3, p=0.0)

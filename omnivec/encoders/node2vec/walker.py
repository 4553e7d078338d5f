"""Node2vec random walks over a CSR graph, compiled with numba.

Two kernels share one entry point, :func:`random_walks`:

* first order (``p == q == 1``): the next node is drawn from the current node's out-edges in
  proportion to their weights, by binary search in the row's cumulative weights (or uniformly
  when the graph is unweighted);
* second order (any other ``p``/``q``): KnightKing-style rejection sampling. A candidate ``x``
  is drawn first-order from the current node ``v`` and accepted with probability
  ``alpha(t, x) / bound``, where ``t`` is the previous node and ``alpha`` is ``1/p`` for the
  return to ``t``, ``1`` for a neighbour of ``t`` and ``1/q`` otherwise. Accepted moves are
  thus distributed exactly as ``alpha(t, x) * w(v, x)``. When ``1/p`` is the largest factor the
  return edge is folded out of the envelope (it is chosen with its exact probability mass, and
  other candidates are tested against ``max(1, 1/q)``), which keeps acceptance high for the
  common ``p < 1`` settings.

Every walker has its own splitmix64 random stream derived from ``(seed, epoch, walker index)``,
so walks do not depend on how ``prange`` schedules walkers over threads: a fixed seed gives the
same walks with any thread count.

Walks are int32 ``(n_walkers, walk_length + 1)`` arrays of node indices starting with the
start node. A walk that reaches a node without out-edges (an isolated node, or a dangling node
of a directed graph) *stops* there: the rest of its row is ``-1``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numba
import numpy as np

__all__ = ["CSRGraph", "build_csr", "random_walks"]

logger = logging.getLogger(__name__)


def _jit(**options: Any) -> Callable[[Callable[..., Any]], Any]:
    """``numba.njit(cache=True, ...)``, falling back to no on-disk cache when numba finds no
    writable cache location (read-only install without ``NUMBA_CACHE_DIR``): the walker then
    compiles on first use in each process instead of failing."""

    def wrap(fn: Callable[..., Any]) -> Any:
        try:
            return numba.njit(cache=True, **options)(fn)
        except RuntimeError as exc:  # "cannot cache function ...: no locator available"
            logger.warning("numba cannot cache %s (%s); compiling on each run", fn.__name__, exc)
            return numba.njit(**options)(fn)

    return wrap


_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_S30 = np.uint64(30)
_S27 = np.uint64(27)
_S31 = np.uint64(31)
_S11 = np.uint64(11)
_INV53 = 1.0 / 9007199254740992.0  # 2**-53


@_jit()
def _mix(z: Any) -> Any:
    z = (z ^ (z >> _S30)) * _M1
    z = (z ^ (z >> _S27)) * _M2
    return z ^ (z >> _S31)


@_jit()
def _uniform(state: Any) -> Any:
    """One splitmix64 step: (new state, float in [0, 1))."""
    state = state + _GOLDEN
    return state, float(_mix(state) >> _S11) * _INV53


@_jit()
def _pick(indptr: Any, indices: Any, cumw: Any, weighted: bool, v: int, u: float) -> int:
    """Index into ``indices`` of a first-order step from ``v`` for a uniform ``u``."""
    start = indptr[v]
    end = indptr[v + 1]
    if not weighted:
        k = start + int(u * (end - start))
        return min(k, end - 1)
    target = u * cumw[end - 1]  # cumw restarts at 0 in every row
    lo = start
    hi = end - 1
    while lo < hi:  # first k with cumw[k] > target
        mid = (lo + hi) >> 1
        if cumw[mid] > target:
            hi = mid
        else:
            lo = mid + 1
    return lo


@_jit()
def _find(indptr: Any, indices: Any, v: int, x: int) -> int:
    """Position of ``x`` in ``v``'s sorted neighbour list, or -1."""
    lo = indptr[v]
    hi = indptr[v + 1]
    while lo < hi:
        mid = (lo + hi) >> 1
        y = indices[mid]
        if y < x:
            lo = mid + 1
        elif y > x:
            hi = mid
        else:
            return mid
    return -1


@_jit(parallel=True)
def _walk_kernel(
    indptr: Any,
    indices: Any,
    cumw: Any,
    weighted: bool,
    starts: Any,
    walk_length: int,
    p: float,
    q: float,
    seed: Any,
    offset: int,
    out: Any,
) -> None:
    n_walkers = starts.shape[0]
    first_order = p == 1.0 and q == 1.0
    inv_p = 1.0 / p
    inv_q = 1.0 / q
    env = max(1.0, inv_q)  # envelope for candidates other than the return edge
    fold = inv_p > env  # the return edge alone carries the largest factor: fold it out
    for w in numba.prange(n_walkers):
        state = _mix(seed ^ _mix(np.uint64(offset + w) + _GOLDEN))
        v = starts[w]
        out[w, 0] = v
        t = -1
        step = 1
        while step <= walk_length:
            start = indptr[v]
            end = indptr[v + 1]
            if start == end:
                break
            if first_order or t < 0:
                state, u = _uniform(state)
                x = indices[_pick(indptr, indices, cumw, weighted, v, u)]
            elif fold:
                # mass of the return edge (exact) against the envelope of all others
                k_ret = _find(indptr, indices, v, t)
                if k_ret < 0:
                    w_ret = 0.0
                elif weighted:
                    w_ret = cumw[k_ret] - (cumw[k_ret - 1] if k_ret > start else 0.0)
                else:
                    w_ret = 1.0
                total = cumw[end - 1] if weighted else float(end - start)
                m_ret = w_ret * inv_p
                m_other = max(total - w_ret, 0.0) * env
                while True:
                    state, u = _uniform(state)
                    if u * (m_ret + m_other) < m_ret:
                        x = t
                        break
                    # a candidate other than t, from the first-order distribution without t
                    x = t
                    while x == t:
                        state, u = _uniform(state)
                        x = indices[_pick(indptr, indices, cumw, weighted, v, u)]
                    alpha = 1.0 if _find(indptr, indices, t, x) >= 0 else inv_q
                    state, u = _uniform(state)
                    if u * env < alpha:
                        break
            else:
                bound = max(env, inv_p)
                while True:
                    state, u = _uniform(state)
                    x = indices[_pick(indptr, indices, cumw, weighted, v, u)]
                    if x == t:
                        alpha = inv_p
                    elif _find(indptr, indices, t, x) >= 0:
                        alpha = 1.0
                    else:
                        alpha = inv_q
                    if alpha >= bound:
                        break
                    state, u = _uniform(state)
                    if u * bound < alpha:
                        break
            out[w, step] = x
            t = v
            v = x
            step += 1
        while step <= walk_length:
            out[w, step] = -1
            step += 1


@dataclass
class CSRGraph:
    """A graph in compressed sparse row form, rows sorted by column.

    ``indptr``: int64 ``(n + 1,)``; ``indices``: int32 ``(m,)`` column (target) of each edge;
    ``weights``: float64 ``(m,)`` or ``None`` when every edge weighs the same.
    """

    indptr: np.ndarray
    indices: np.ndarray
    weights: np.ndarray | None = None

    @property
    def num_nodes(self) -> int:
        return int(self.indptr.shape[0] - 1)

    @property
    def num_edges(self) -> int:
        return int(self.indices.shape[0])

    def cumulative_weights(self) -> np.ndarray:
        """float64 ``(m,)``: running sum of weights, restarting at each row (for binary search)."""
        if self.weights is None:
            return np.zeros(1, dtype=np.float64)
        cum = np.cumsum(self.weights, dtype=np.float64)
        # subtract each row's starting offset so every row's sums start from 0
        row_start = np.repeat(self.indptr[:-1], np.diff(self.indptr))
        offset = np.concatenate([[0.0], cum])[row_start]
        return cum - offset


def build_csr(
    src: np.ndarray, dst: np.ndarray, num_nodes: int, weights: np.ndarray | None = None
) -> CSRGraph:
    """CSR from directed edge arrays ``src -> dst`` (int, ``(m,)``) and optional float weights.

    Duplicate edges must already be merged. Rows are sorted by target so that adjacency
    tests are binary searches.
    """
    src = np.asarray(src, dtype=np.int64)
    dst = np.asarray(dst, dtype=np.int64)
    order = np.lexsort((dst, src))
    counts = np.bincount(src, minlength=num_nodes)
    indptr = np.zeros(num_nodes + 1, dtype=np.int64)
    np.cumsum(counts, out=indptr[1:])
    w = None if weights is None else np.ascontiguousarray(np.asarray(weights, np.float64)[order])
    return CSRGraph(indptr, np.ascontiguousarray(dst[order].astype(np.int32)), w)


def random_walks(
    graph: CSRGraph,
    starts: np.ndarray,
    walk_length: int,
    p: float = 1.0,
    q: float = 1.0,
    seed: int = 0,
    cumulative: np.ndarray | None = None,
    offset: int = 0,
) -> np.ndarray:
    """Node2vec walks, one per entry of ``starts`` (int ``(n_walkers,)`` node indices).

    Returns int32 ``(n_walkers, walk_length + 1)``; row ``i`` starts at ``starts[i]`` and is
    padded with ``-1`` after a node without out-edges. The same ``seed`` gives the same walks
    whatever the thread count. ``cumulative`` is ``graph.cumulative_weights()`` if the caller
    already has it (it is reused across epochs). Walker ``i`` draws from the random stream of
    global walker number ``offset + i``, so walks generated in chunks (with matching offsets)
    equal walks generated in one call.
    """
    if p <= 0 or q <= 0:
        raise ValueError("p and q must be positive")
    starts = np.ascontiguousarray(starts, dtype=np.int64)
    out = np.empty((starts.shape[0], walk_length + 1), dtype=np.int32)
    weighted = graph.weights is not None
    cumw = cumulative if cumulative is not None else graph.cumulative_weights()
    seed64 = np.uint64(int(seed) & 0xFFFFFFFFFFFFFFFF)
    _walk_kernel(
        graph.indptr,
        graph.indices,
        cumw,
        weighted,
        starts,
        int(walk_length),
        float(p),
        float(q),
        seed64,
        int(offset),
        out,
    )
    return out

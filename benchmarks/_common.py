"""Helpers shared by the benchmark scripts: timing, tables and synthetic data."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np


def p50_ms(fn: Callable[[], Any], repeats: int) -> float:
    """Median wall time of ``fn`` in milliseconds over ``repeats`` calls (after one warm-up)."""
    fn()
    samples = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - t0) * 1000)
    return statistics.median(samples)


def p50_each_ms(fn: Callable[[Any], Any], items: Any) -> float:
    """Median wall time of ``fn(item)`` in milliseconds, one call per item (after one warm-up
    on the first): distinct queries, so no query finds its own data still in the caches."""
    items = list(items)
    fn(items[0])
    samples = []
    for item in items:
        t0 = time.perf_counter()
        fn(item)
        samples.append((time.perf_counter() - t0) * 1000)
    return statistics.median(samples)


def unit_vectors(n: int, dim: int, seed: int) -> np.ndarray:
    """float32 ``(n, dim)`` rows drawn uniformly on the unit sphere (IVF's worst case)."""
    x = np.random.default_rng(seed).standard_normal((n, dim)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    def fmt(v: Any) -> str:
        if isinstance(v, float):
            if v and abs(v) < 0.1:  # small figures keep three significant digits
                return f"{v:.3g}"
            return f"{v:,.2f}" if abs(v) < 100 else f"{v:,.0f}"
        return str(v)

    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(fmt(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)

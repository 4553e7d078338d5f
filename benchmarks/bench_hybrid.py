"""Hybrid (dense + BM25) search and BM25 insert cost: omnivec against raw pymilvus, one run.

    .venv/bin/python benchmarks/bench_hybrid.py [--n 15000] [--queries 60] [--rounds 5]

What is compared, and why it is fair:

* Documents and queries are encoded **once** with the bundled MiniLM (``encoder="text"``);
  both sides reuse those vectors. omnivec's collections use a lookup encoder that returns the
  precomputed MiniLM vectors, so ``add`` and ``search`` time the store path, not the model.
  Each query string is searched once before timing, so ``col.search(text)`` takes its vector
  from the query cache: what is timed is the search path after encoding.
* The raw collection is built like omnivec's: same Lite file and server process, same rows
  (key, vector, the text in an analysed VARCHAR with a BM25 function, the same metadata),
  FLAT/COSINE dense index, SPARSE_INVERTED_INDEX/BM25. Both stay below the in-process ANN
  threshold (20,000 rows), so both dense legs are Milvus FLAT searches.
* Raw hybrid is ``MilvusClient.hybrid_search`` with two ``AnnSearchRequest`` legs of the same
  depth omnivec fuses over (its default ``candidates=max(4k, 50)`` records per leg) and
  ``RRFRanker(60)`` / ``WeightedRanker(0.7, 0.3)``, returning the same payload (text +
  metadata) for the top ``k``. omnivec's default fusion is ``"relative"`` (min-max per leg,
  chosen on real text: benchmarks/quality/hybrid_codes.py); ``fusion="rrf"`` is timed beside
  ``RRFRanker``, ``fusion="weighted"`` beside ``WeightedRanker``.
  omnivec returns more: each leg's own score (``hit.scores``), the record's text and passage,
  and one hit per record for long texts split into windows; raw returns the fused score only.
  RRF results are compared id for id. (Milvus Lite 2.5.1's ``WeightedRanker`` maps BM25
  scores with its distance curve, so its BM25 order is reversed; omnivec's ``"weighted"``
  uses ``2 atan(s) / pi``; weighted results differ.)
* All methods run interleaved (every query, every round, in rotating order), so machine load
  falls on all of them alike; the ratios are the figures to trust.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import table

K = 10
DEPTH = max(4 * K, 50)  # records per leg omnivec fuses over by default (platform/hybrid.py)
BATCH = 1_000

COMPONENTS = [
    "pump", "valve", "compressor", "bearing", "conveyor motor", "gearbox", "heat exchanger",
    "cooling fan", "hydraulic cylinder", "control board", "pressure sensor", "drive belt",
    "boiler", "turbine blade", "air filter", "fuel injector", "circuit breaker", "impeller",
]  # fmt: skip
FAILURES = [
    "overheats", "leaks oil", "vibrates at high speed", "makes a grinding noise", "fails to start",
    "trips the breaker", "loses pressure", "cracks under load", "corrodes", "stalls",
    "reads the wrong temperature", "wears out early", "jams", "short-circuits", "runs dry",
]  # fmt: skip
CONTEXTS = [
    "after a long shift", "during the first cold start", "when the load exceeds its rating",
    "in humid weather", "after the last firmware update", "on the night shift",
    "when the coolant level is low", "after routine maintenance", "under full throttle",
    "in the dusty north hall", "when the line restarts", "after forty hours of running",
]  # fmt: skip
ACTIONS = [
    "Replace the seal and check the alignment.", "Tighten the mounting bolts.",
    "Flush the lines and refill with fresh oil.", "Update the controller firmware.",
    "Order a spare from the supplier.", "Inspect the wiring harness for damage.",
    "Lower the duty cycle until the part is replaced.", "Clean the intake and the filter.",
    "Log the fault and escalate to the plant engineer.", "Calibrate the sensor again.",
]  # fmt: skip
PLANTS = ["Leeds", "Ghent", "Brno", "Porto", "Lyon", "Turku", "Graz", "Cork"]


def corpus(n: int, n_queries: int, seed: int) -> tuple[list[str], list[dict[str, Any]], list[str]]:
    """``n`` short maintenance notes with part codes, their metadata, and queries: half a part
    code with a few words (keywords matter), half a paraphrase without a code (meaning
    matters)."""
    rng = np.random.default_rng(seed)
    letters = "ABCDEFGHJKLMNPQRSTUVWXZ"
    texts, meta, codes, parts = [], [], [], []
    for i in range(n):
        code = (
            f"{letters[rng.integers(23)]}{letters[rng.integers(23)]}-"
            f"{rng.integers(1000, 9999)}-{letters[rng.integers(23)]}"
        )
        comp, fail = COMPONENTS[rng.integers(len(COMPONENTS))], FAILURES[rng.integers(15)]
        ctx, act = CONTEXTS[rng.integers(len(CONTEXTS))], ACTIONS[rng.integers(len(ACTIONS))]
        plant = PLANTS[rng.integers(len(PLANTS))]
        texts.append(f"The {comp} {code} at the {plant} plant {fail} {ctx}. {act}")
        meta.append({"plant": plant, "year": int(2015 + i % 10)})
        codes.append(code)
        parts.append((comp, fail))
    queries = []
    for j in range(n_queries):
        i = int(rng.integers(n))
        comp, fail = parts[i]
        queries.append(f"{codes[i]} {comp} {fail}" if j % 2 == 0 else f"why does a {comp} {fail}")
    return texts, meta, queries


def lookup_encoder_class(table_: dict[str, np.ndarray], dim: int) -> type:
    """An encoder that returns precomputed MiniLM vectors (so timings leave the model out)."""
    import omnivec as ov

    @dataclass
    class _Cfg:
        table: str = "minilm-precomputed"

    class Lookup(ov.BaseEncoder):
        name = "lookup"
        modalities = ("text",)
        config_class = _Cfg

        @property
        def dim(self) -> int:
            return dim

        @property
        def space(self) -> ov.Space:
            return ov.Space("lookup", "minilm-precomputed", "v1", dim, "cosine")

        def encode(self, batch: Any, modality: Any = None, role: Any = None) -> np.ndarray:
            return np.stack([table_[t] for t in batch]).astype(np.float32)

    return Lookup


def raw_collection(client: Any, name: str, dim: int, bm25: bool) -> None:
    """The raw pymilvus twin of an omnivec text collection (with or without BM25)."""
    from pymilvus import DataType, Function, FunctionType

    schema = client.create_schema(auto_id=False, enable_dynamic_field=True)
    schema.add_field("pk", DataType.VARCHAR, is_primary=True, max_length=2_048)
    schema.add_field("vector", DataType.FLOAT_VECTOR, dim=dim)
    schema.add_field(
        "text",
        DataType.VARCHAR,
        max_length=65_535,
        enable_analyzer=bm25,
        analyzer_params={"type": "standard"} if bm25 else None,
    )
    params = client.prepare_index_params()
    params.add_index("vector", index_type="FLAT", metric_type="COSINE")
    if bm25:
        schema.add_field("sparse", DataType.SPARSE_FLOAT_VECTOR)
        schema.add_function(
            Function(
                name="bm25",
                function_type=FunctionType.BM25,
                input_field_names=["text"],
                output_field_names=["sparse"],
            )
        )
        params.add_index("sparse", index_type="SPARSE_INVERTED_INDEX", metric_type="BM25")
    client.create_collection(name, schema=schema, index_params=params)


def encode_once(
    enc: Any, texts: list[str], queries: list[str], n: int, nq: int
) -> tuple[np.ndarray, np.ndarray]:
    """MiniLM vectors of the documents and queries, kept in the temp dir between runs (the
    corpus is seeded, so the same ``n`` gives the same texts): a shared 2-core machine
    encodes 15,000 texts in minutes, and encoding is not what this benchmark measures."""
    path = (
        Path(tempfile.gettempdir())
        / f"omnivec-bench-hybrid-{n}-{nq}-{enc.space.fingerprint[:12]}.npz"
    )
    if path.exists():
        saved = np.load(path)
        return saved["docs"], saved["queries"]
    t0 = time.perf_counter()
    vecs = enc.encode(texts, role="document")
    qvecs = enc.encode(queries, role="query")
    print(f"encoded {len(texts)} texts once in {time.perf_counter() - t0:.0f}s", flush=True)
    np.savez(path, docs=vecs, queries=qvecs)
    return vecs, qvecs


def load() -> str:
    return os.getloadavg().__repr__()


def bench_insert(plat: Any, client: Any, texts: list[str], meta: list[dict[str, Any]],
                 vecs: np.ndarray) -> tuple[list[list[Any]], Any]:  # fmt: skip
    """Add every batch to four collections in rotating order: omnivec with/without keywords,
    raw with/without the BM25 function. Returns the table rows and the keyword collection."""
    cols = {
        "omnivec, keywords on": plat.collection("kw_on", encoder="lookup", keywords=True),
        "omnivec, keywords off": plat.collection("kw_off", encoder="lookup"),
    }
    raw_collection(client, "raw_on", vecs.shape[1], bm25=True)
    raw_collection(client, "raw_off", vecs.shape[1], bm25=False)
    ids = [f"d{i}" for i in range(len(texts))]

    def ours(col: Any, lo: int, hi: int) -> Callable[[], Any]:
        return lambda: col.add(texts[lo:hi], ids=ids[lo:hi], metadata=meta[lo:hi])

    def raw(name: str, lo: int, hi: int) -> Callable[[], Any]:
        rows = [
            {"pk": ids[i], "vector": vecs[i], "text": texts[i], **meta[i]} for i in range(lo, hi)
        ]
        return lambda: client.insert(name, rows)

    names = [*cols, "raw pymilvus, BM25 on", "raw pymilvus, BM25 off"]
    spent = dict.fromkeys(names, 0.0)
    for b, lo in enumerate(range(0, len(texts), BATCH)):
        hi = min(lo + BATCH, len(texts))
        calls = [ours(c, lo, hi) for c in cols.values()]
        calls += [raw("raw_on", lo, hi), raw("raw_off", lo, hi)]
        for j in range(4):
            m = (b + j) % 4
            t0 = time.perf_counter()
            calls[m]()
            spent[names[m]] += time.perf_counter() - t0
    rate = {m: len(texts) / s for m, s in spent.items()}
    rows = [[m, rate[m]] for m in names]
    rows.append(["omnivec on/off ratio (cost of keywords)", rate[names[1]] / rate[names[0]]])
    rows.append(["raw on/off ratio (cost of BM25)", rate[names[3]] / rate[names[2]]])
    return rows, cols["omnivec, keywords on"]


def bench_search(col: Any, client: Any, queries: list[str], qvecs: np.ndarray,
                 rounds: int) -> list[list[Any]]:  # fmt: skip
    from pymilvus import AnnSearchRequest, RRFRanker, WeightedRanker

    out = ["text", "$meta"]

    def legs(i: int) -> list[Any]:
        return [
            AnnSearchRequest([qvecs[i]], "vector", {"metric_type": "COSINE"}, DEPTH),
            AnnSearchRequest([queries[i]], "sparse", {"metric_type": "BM25"}, DEPTH),
        ]

    methods: dict[str, Callable[[int], Any]] = {
        "omnivec dense": lambda i: col.search(queries[i], K, mode="dense"),
        "raw dense search": lambda i: client.search(
            "raw_on", [qvecs[i]], anns_field="vector", limit=K, output_fields=out
        ),
        "omnivec hybrid RRF": lambda i: col.search(queries[i], K, fusion="rrf"),
        "raw hybrid_search RRFRanker": lambda i: client.hybrid_search(
            "raw_on", legs(i), RRFRanker(60), limit=K, output_fields=out
        ),
        "omnivec hybrid RRF, keyword leg in a worker": lambda i: with_workers(
            lambda: col.search(queries[i], K, fusion="rrf")
        ),
        "omnivec hybrid weighted (0.7, 0.3)": lambda i: col.search(
            queries[i], K, fusion="weighted", weights=(0.7, 0.3)
        ),
        "raw hybrid_search WeightedRanker": lambda i: client.hybrid_search(
            "raw_on", legs(i), WeightedRanker(0.7, 0.3), limit=K, output_fields=out
        ),
        "omnivec hybrid, defaults (relative)": lambda i: col.search(queries[i], K),
    }
    names = list(methods)
    for i in range(len(queries)):  # warm up, and fill omnivec's query cache
        for fn in methods.values():
            fn(i)
    checks = agreement(col, client, queries, qvecs)
    samples: dict[str, list[float]] = {m: [] for m in names}
    for r in range(rounds):
        for i in range(len(queries)):
            for j in range(len(names)):
                m = names[(i + r + j) % len(names)]
                t0 = time.perf_counter()
                methods[m](i)
                samples[m].append((time.perf_counter() - t0) * 1000)
    p50 = {m: statistics.median(s) for m, s in samples.items()}
    rows: list[list[Any]] = [[m, p50[m], ""] for m in names]
    rows[0][2] = f"{p50[names[0]] / p50[names[1]]:.2f}x raw dense"
    rows[2][2] = f"{p50[names[2]] / p50[names[3]]:.2f}x raw hybrid_search"
    rows[4][2] = f"{p50[names[4]] / p50[names[3]]:.2f}x raw hybrid_search"
    rows[5][2] = f"{p50[names[5]] / p50[names[6]]:.2f}x raw hybrid_search"
    rows[7][2] = f"{p50[names[7]] / p50[names[3]]:.2f}x raw hybrid_search RRFRanker"
    rows.append(["omnivec hybrid RRF / omnivec dense", p50[names[2]] / p50[names[0]], ""])
    rows.append(["raw hybrid_search / raw dense", p50[names[3]] / p50[names[1]], ""])
    rows += [[what, f"{n}/{len(queries)}", ""] for what, n in checks.items()]
    return rows


class RawHit(NamedTuple):
    """A raw leg's hit as :func:`omnivec.platform.fusion.fuse` reads it."""

    id: str
    score: float


def with_workers(fn: Callable[[], Any]) -> Any:
    """``fn()`` with the keyword leg run in a worker thread beside the dense leg."""
    from omnivec.platform import hybrid

    saved, hybrid.KEYWORD_WORKERS = hybrid.KEYWORD_WORKERS, 8
    try:
        return fn()
    finally:
        hybrid.KEYWORD_WORKERS = saved


def agreement(col: Any, client: Any, queries: list[str], qvecs: np.ndarray) -> dict[str, int]:
    """How many queries' RRF results agree with raw ``hybrid_search``, and why others differ.

    Short template texts share words, so many BM25 scores tie; Milvus orders tied rows
    arbitrarily, and the order depends on the search limit (omnivec's legs fetch 4 rows per
    record wanted where records are split into windows). So the check is made four ways: the
    top-10 ids; each leg's score sequence (ties aside, the same ranking); omnivec's fusion
    applied to the raw legs (the same RRF formula as ``RRFRanker(60)``); and, where the ids
    differ, whether the fused scores are the same (the order of equal scores is all that
    differs)."""
    from pymilvus import AnnSearchRequest, RRFRanker

    from omnivec.platform.fusion import fuse

    counts = dict.fromkeys(
        [
            "RRF top-10 ids identical to raw hybrid_search",
            "leg score sequences identical (tie order aside)",
            "omnivec fusion of the raw legs identical to raw hybrid_search",
            "top-10 ids differ, fused scores identical (tie order only)",
        ],
        0,
    )
    names = list(counts)
    for i, q in enumerate(queries):
        dense_req = AnnSearchRequest([qvecs[i]], "vector", {"metric_type": "COSINE"}, DEPTH)
        kw_req = AnnSearchRequest([q], "sparse", {"metric_type": "BM25"}, DEPTH)
        raw = client.hybrid_search("raw_on", [dense_req, kw_req], RRFRanker(60), limit=K)[0]
        raw_ids = [h["id"] for h in raw]
        ours = col.search(q, K, fusion="rrf")
        same_ids = [h.id for h in ours] == raw_ids
        counts[names[0]] += same_ids
        counts[names[3]] += not same_ids and bool(
            np.allclose([h.score for h in ours], [h["distance"] for h in raw], atol=1e-6)
        )
        ours_legs = [col.search(q, DEPTH, mode=m) for m in ("dense", "keyword")]
        raw_legs = [
            client.search("raw_on", [qvecs[i]], anns_field="vector", limit=DEPTH)[0],
            client.search(
                "raw_on",
                [q],
                anns_field="sparse",
                limit=DEPTH,
                search_params={"metric_type": "BM25"},
            )[0],
        ]
        counts[names[1]] += all(
            np.allclose([h.score for h in o], [h["distance"] for h in r], atol=1e-4)
            for o, r in zip(ours_legs, raw_legs, strict=True)
        )
        legs = {
            n: [RawHit(h["id"], h["distance"]) for h in r]
            for n, r in zip("dk", raw_legs, strict=True)
        }
        counts[names[2]] += [f.id for f in fuse(legs, K, fusion="rrf")] == raw_ids
    return counts


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=15_000, help="documents (< 20,000: no ANN index)")
    ap.add_argument("--queries", type=int, default=60)
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args()

    from pymilvus import MilvusClient

    import omnivec as ov

    texts, meta, queries = corpus(args.n, args.queries, seed=0)
    print(f"load before: {load()}", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        plat = ov.connect(str(Path(tmp) / "hybrid.db"))
        enc = plat.collection("minilm", encoder="text").encoder
        vecs, qvecs = encode_once(enc, texts, queries, args.n, args.queries)
        lookup = {t: v for t, v in zip(texts, vecs, strict=True)}
        lookup.update(zip(queries, qvecs, strict=True))
        ov.register_encoder("lookup", lookup_encoder_class(lookup, vecs.shape[1]))
        # A second client on the same Lite file: pymilvus reuses the server omnivec started.
        client = MilvusClient(plat.uri)
        ins_rows, col = bench_insert(plat, client, texts, meta, vecs)
        print(f"\n## BM25 insert cost ({args.n} rows, batches of {BATCH}), load {load()}")
        print(table(["", "rows/s"], ins_rows), flush=True)
        search_rows = bench_search(col, client, queries, qvecs, args.rounds)
        print(
            f"\n## Search p50 (k={K}, {args.queries} queries x {args.rounds} rounds, "
            f"interleaved), load {load()}"
        )
        print(table(["", "p50 ms", "ratio"], search_rows))
        client.close()
        plat.close()
    print(f"\nuptime: {os.popen('uptime').read().strip()}")


if __name__ == "__main__":
    main()

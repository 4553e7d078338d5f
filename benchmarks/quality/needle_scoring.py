"""Can a text query's record score do better than the best window? Query-side and
window-side variants of how window scores become one score per record, on the needle task
of ``passages_sweep.py`` (same documents, questions, windows and cached encodings), in numpy.

    .venv/bin/python benchmarks/quality/needle_scoring.py [--encoder text|multilingual]
        [--docs 40] [--config sent32] [--keep /tmp/needle_keep]

Record score per variant (``s_i``: the query's cosine with window ``i``, ``W``: with the
whole record's vector):

* ``max``: max(W, max_i s_i), what omnivec does today; ``max(w, W-m)``: the whole record
  less a margin m (m = 1: windows only);
* ``doc+a``: max_i s_i + a W (a little of the whole document);
* ``top2``: mean of the two best windows;
* ``nb+b``: max_i (s_i + b (s_{i-1} + s_{i+1}) / 2) (a window's neighbours as context);
* ``smooth c``: windows' vectors replaced by normalise(v_i + c (v_{i-1} + v_{i+1})) at write
  time ("late chunking"-like context), then ``max``;
* ``mixdoc d``: windows' vectors replaced by normalise(v_i + d v_whole) at write time.

For each: hit@1 and ``pass`` (of the queries whose document is in the top 10, the share
whose passage, from the record's best window under that variant, holds the needle sentence).
Choose on ``dev``; ``held`` is the held-out check.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from _common import table
from passages_sweep import Cache, kind_rule, splits

from omnivec.platform import spans as cut
from omnivec.platform import windows
from omnivec.platform.catalog import TextOptions
from omnivec.platform.passages import DEFAULT_PASSAGE_CHARS


def encodings(cache: Cache, texts: list[str], kind: str, size: int):
    """``(whole (n, d), [window vectors (m_i, d)], [window spans])`` of ``texts``."""
    enc = cache.encoder
    keys = [f"d{i}" for i in range(len(texts))]
    opts = TextOptions(chunk_tokens=size, chunk_overlap=size // 4, windows=kind_rule[kind])
    plan = windows.plan_texts(enc, texts, keys, [{} for _ in texts], opts)
    whole = windows.encode_plan(enc, plan, cache)[plan.wholes]
    spans, wvecs = [], []
    for t in texts:
        s = cut.spans_for(kind_rule[kind], t, enc.token_spans(t), size, size // 4)
        spans.append(s)
        wvecs.append(cache([t[a:b] for a, b in s]))
    return whole, wvecs, spans


def _unit(m: np.ndarray) -> np.ndarray:
    return m / np.maximum(np.linalg.norm(m, axis=1, keepdims=True), 1e-12)


def smooth(w: np.ndarray, c: float) -> np.ndarray:
    """normalise(v_i + c (v_{i-1} + v_{i+1})) over a record's windows in order."""
    if len(w) < 2 or c == 0:
        return w
    nb = np.zeros_like(w)
    nb[1:] += w[:-1]
    nb[:-1] += w[1:]
    return _unit(w + c * nb)


def variants(whole: np.ndarray, wvecs: list[np.ndarray]):
    """``{name: f(q) -> (scores (n_q, n_docs), best window (n_q, n_docs), whole wins)}``."""

    def plain(q, vecs, combine):
        per = [q @ v.T for v in vecs]
        whole_s = q @ whole.T
        rec, arg = combine(per, whole_s)
        return rec, arg, whole_s

    def maxrule(per, whole_s):
        best = np.stack([p.max(axis=1) for p in per], axis=1)
        return np.maximum(best, whole_s), np.stack([p.argmax(axis=1) for p in per], axis=1)

    def doc(a):
        def f(per, whole_s):
            best = np.stack([p.max(axis=1) for p in per], axis=1)
            return best + a * whole_s, np.stack([p.argmax(axis=1) for p in per], axis=1)

        return f

    def top2(per, whole_s):
        two = np.stack([np.sort(p, axis=1)[:, -2:].mean(axis=1) for p in per], axis=1)
        return two, np.stack([p.argmax(axis=1) for p in per], axis=1)

    def nb(b):
        def f(per, whole_s):
            ctx = []
            for p in per:
                n = np.zeros_like(p)
                n[:, 1:] += p[:, :-1]
                n[:, :-1] += p[:, 1:]
                cnt = np.full(p.shape[1], 2.0)
                cnt[0] = cnt[-1] = 1.0
                if p.shape[1] == 1:
                    cnt[:] = 1.0
                ctx.append(p + b * n / cnt)
            return (
                np.stack([c.max(axis=1) for c in ctx], axis=1),
                np.stack([c.argmax(axis=1) for c in ctx], axis=1),
            )

        return f

    def margin(m):
        def f(per, whole_s):
            best = np.stack([p.max(axis=1) for p in per], axis=1)
            return np.maximum(best, whole_s - m), np.stack([p.argmax(axis=1) for p in per], axis=1)

        return f

    out = {"max": lambda q: plain(q, wvecs, maxrule)}
    for m in (0.02, 0.05, 1.0):
        out[f"max(w, W-{m})"] = lambda q, m=m: plain(q, wvecs, margin(m))
    for a in (0.05, 0.1, 0.2, 0.3, 0.5):
        out[f"doc+{a}"] = lambda q, a=a: plain(q, wvecs, doc(a))
    out["top2"] = lambda q: plain(q, wvecs, top2)
    for b in (0.1, 0.2, 0.3, 0.5):
        out[f"nb+{b}"] = lambda q, b=b: plain(q, wvecs, nb(b))
    for c in (0.1, 0.25, 0.5, 1.0):
        sm = [smooth(w, c) for w in wvecs]
        out[f"smooth {c}"] = lambda q, sm=sm: plain(q, sm, maxrule)
    for d in (0.1, 0.2, 0.3, 0.5):
        md = [_unit(w + d * whole[i]) for i, w in enumerate(wvecs)]
        out[f"mixdoc {d}"] = lambda q, md=md: plain(q, md, maxrule)
    return out


def score(docs, spans, q, fn) -> tuple[float, float]:
    rec, arg, _ = fn(q)
    n = len(q)
    hit = float(np.mean(np.argmax(rec, axis=1) == np.arange(n)))
    order = np.argsort(-rec, axis=1)
    held = found = 0
    for i in range(n):
        if i not in order[i, :10]:
            continue
        found += 1
        # The passage comes from the best window (also when the whole record scored best).
        window = spans[i][arg[i, i]] if len(spans[i]) > 1 else None
        passage, _ = windows.hit_passage(docs[i][0], window, DEFAULT_PASSAGE_CHARS)
        held += docs[i][1] in (passage or "")
    return hit, held / max(found, 1)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--docs", type=int, default=40)
    ap.add_argument("--words", type=int, default=1400)
    ap.add_argument("--encoder", default="text", choices=["text", "multilingual"])
    ap.add_argument("--config", default="sent32", help="sent32, tok32, ...")
    ap.add_argument("--extra", default="", help="a second window config whose windows are added")
    ap.add_argument("--splits", default="dev,held")
    ap.add_argument("--keep", type=Path, default=None)
    args = ap.parse_args()
    from omnivec.platform.registry import create_encoder

    kind, size = (
        args.config.rstrip("0123456789"),
        int(args.config[len(args.config.rstrip("0123456789")) :]),
    )
    data = splits(args.docs, args.words)
    enc = create_encoder(args.encoder)
    cache = Cache(enc, None if args.keep is None else args.keep / f"{args.encoder}.pkl")
    results: dict[str, dict[str, float]] = {}
    for split in args.splits.split(","):
        docs, questions = data[split]
        whole, wvecs, spans = encodings(cache, [d for d, _ in docs], kind, size)
        if args.extra:
            ekind = args.extra.rstrip("0123456789")
            _, ev, es = encodings(cache, [d for d, _ in docs], ekind, int(args.extra[len(ekind) :]))
            wvecs = [np.concatenate([a, b]) for a, b in zip(wvecs, ev, strict=True)]
            spans = [a + b for a, b in zip(spans, es, strict=True)]
        print(f"{split}: {np.mean([len(s) for s in spans]):.1f} windows per document")
        qv = {style: cache(list(qs), "query") for style, qs in questions.items()}
        cache.save()
        for name, fn in variants(whole, wvecs).items():
            row = results.setdefault(name, {})
            for style, q in qv.items():
                hit, passed = score(docs, spans, q, fn)
                row[f"{split} {style}"] = hit
                row[f"{split} {style} pass"] = passed
    header = list(next(iter(results.values())))
    rows = [[name, *(r[h] for h in header)] for name, r in results.items()]
    extra = f" + {args.extra}" if args.extra else ""
    print(f"{args.encoder}, {args.config}{extra}, {args.docs} docs per split")
    print(table(["record score", *header], rows), flush=True)


if __name__ == "__main__":
    main()

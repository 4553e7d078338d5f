"""The needle task of ``passages_sweep.py`` through the product: ``col.search`` on a real
Milvus Lite file with default options: hit@1 and the share of hits whose ``hit.passage`` holds
the needle sentence (of queries whose document is in the top 10). ``passages_sweep.py`` and
``needle_scoring.py`` give the same figures in numpy, for other windows and scoring rules.

    .venv/bin/python benchmarks/quality/needle_search.py [--encoder text|multilingual]
        [--docs 20] [--splits dev,held]
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
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from _common import table
from passages_sweep import splits


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--docs", type=int, default=20)
    ap.add_argument("--words", type=int, default=1400)
    ap.add_argument("--encoder", default="text", choices=["text", "multilingual"])
    ap.add_argument("--splits", default="dev,held")
    args = ap.parse_args()
    import omnivec as ov

    data = splits(args.docs, args.words)
    rows = []
    with tempfile.TemporaryDirectory() as tmp, ov.connect(str(Path(tmp) / "n.db")) as plat:
        for split in args.splits.split(","):
            docs, questions = data[split]
            col = plat.collection(f"needle_{split}", encoder=args.encoder)
            t0 = time.perf_counter()
            col.add([d for d, _ in docs], ids=list(range(len(docs))))
            added = time.perf_counter() - t0
            for style, qs in questions.items():
                hits = col.search(list(qs), k=10)
                top1 = np.mean([bool(h) and h[0].id == i for i, h in enumerate(hits)])
                held = found = 0
                for i, row in enumerate(hits):
                    mine = [h for h in row if h.id == i]
                    if mine:
                        found += 1
                        held += docs[i][1] in (mine[0].passage or "")
                rows.append(
                    [split, style, len(qs), f"{top1:.2f}", f"{held / max(found, 1):.2f}", added]
                )
                print(rows[-1], flush=True)
    print(f"\n{args.encoder}, {args.docs} documents per split, default options")
    print(table(["split", "questions", "n", "hit@1", "passage", "add s"], rows))


if __name__ == "__main__":
    main()

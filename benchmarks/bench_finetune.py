"""Fine-tuning and re-embedding benchmark, on the bundled all-MiniLM-L6-v2.

    .venv/bin/python benchmarks/bench_finetune.py [--steps 8] [--batch 32] [--rows 1000]

1. ``TextEncoder.fit`` (MultipleNegativesRankingLoss, AdamW 2e-5) against the same steps
   written in raw sentence-transformers/torch: ``model.preprocess`` -> the same loss module ->
   ``backward`` -> ``AdamW.step``, then ``model.save``. Both sides run the same number of
   steps on the same pairs; omnivec's side includes its input checks, the copy of the model it
   trains and the checkpoint it writes (the raw side saves too).
   sentence-transformers' own ``fit`` / ``SentenceTransformerTrainer`` cannot be measured
   here: they need ``datasets`` and ``accelerate``, which are not installed.
2. ``col.reembed(model=CKPT)`` of ``--rows`` texts against ``col.add`` of the same texts
   into an empty collection (both encode every text once and write every row once).
"""

from __future__ import annotations

import argparse
import copy
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import table

TOPICS = ["pizza", "hotel", "phone", "movie", "laptop", "coffee", "flight", "shoes"]
GOOD = ["wonderful", "spotless", "reliable", "gripping", "fast", "smooth", "punctual", "comfy"]
BAD = ["awful", "filthy", "broken", "boring", "sluggish", "bitter", "delayed", "painful"]


def reviews(n: int) -> list[str]:
    out = []
    for i in range(n):
        topic, good = TOPICS[i % len(TOPICS)], (i // len(TOPICS)) % 2 == 0
        word = (GOOD if good else BAD)[(i // 16) % len(GOOD)]
        out.append(f"Review {i}: the {topic} was {word}, and I would say so again ({i % 7}).")
    return out


def pairs(n: int) -> list[tuple[str, str]]:
    texts = reviews(2 * n)
    return [(texts[2 * i], texts[2 * i + 1]) for i in range(n)]


def raw_loop(base: object, data: list[tuple[str, str]], batch: int, out: Path) -> float:
    """The same steps in raw sentence-transformers/torch; returns the wall time."""
    import torch
    from sentence_transformers.sentence_transformer.losses import MultipleNegativesRankingLoss

    start = time.perf_counter()
    model = copy.deepcopy(base)
    loss_fn = MultipleNegativesRankingLoss(model)  # type: ignore[arg-type]
    opt = torch.optim.AdamW(model.parameters(), lr=2e-5, weight_decay=0.01)  # type: ignore[attr-defined]
    torch.manual_seed(0)
    model.train()  # type: ignore[attr-defined]
    for lo in range(0, len(data), batch):
        chunk = data[lo : lo + batch]
        feats = [model.preprocess([p[j] for p in chunk]) for j in (0, 1)]  # type: ignore[attr-defined]
        loss = loss_fn(feats, torch.zeros(len(chunk)))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    model.eval()  # type: ignore[attr-defined]
    model.save(str(out))  # type: ignore[attr-defined]
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--rows", type=int, default=1000)
    args = parser.parse_args()

    import omnivec as ov
    from omnivec.encoders.text import TextEncoder

    data = pairs(args.steps * args.batch)
    tmp = Path(tempfile.mkdtemp(prefix="bench-finetune-"))
    base = TextEncoder().load()
    base.encode(["warm-up"])

    raw_s = raw_loop(base, data, args.batch, tmp / "raw")
    enc = TextEncoder()
    enc.load()
    start = time.perf_counter()
    enc.fit(data, epochs=1, batch_size=args.batch, lr=2e-5, output=tmp / "omnivec", progress=False)
    ov_s = time.perf_counter() - start
    raw_again = raw_loop(base, data, args.batch, tmp / "raw2")  # machine drift check
    print(f"## fit: {args.steps} steps of {args.batch} pairs (MNRL, AdamW)\n")
    print(
        table(
            ["", "wall s", "steps/s"],
            [
                ["raw sentence-transformers/torch loop", raw_s, args.steps / raw_s],
                ["omnivec TextEncoder.fit", ov_s, args.steps / ov_s],
                ["raw loop again (drift)", raw_again, args.steps / raw_again],
            ],
        )
    )

    texts = reviews(args.rows)
    with ov.connect(str(tmp / "bench.db")) as plat:
        col = plat.collection("docs", encoder="text")
        start = time.perf_counter()
        col.add(texts, ids=list(range(args.rows)), metadata=[{"text": t} for t in texts])
        add_s = time.perf_counter() - start
        start = time.perf_counter()
        report = col.reembed(model=str(tmp / "omnivec"), progress=False)
        re_s = time.perf_counter() - start
        assert report.total == args.rows
    print(f"\n## reembed vs add: {args.rows} texts\n")
    print(
        table(
            ["", "wall s", "rows/s"],
            [
                ["col.add (encode + write)", add_s, args.rows / add_s],
                ["col.reembed(model=CKPT)", re_s, args.rows / re_s],
            ],
        )
    )


if __name__ == "__main__":
    main()

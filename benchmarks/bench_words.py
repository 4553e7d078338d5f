"""Word2Vec fit: omnivec against raw gensim on the same real text, in one run.

    .venv/bin/python benchmarks/bench_words.py [--epochs 5] [--dim 100] [--repeat 3] [--sg 1]

Corpus: gensim's bundled Lee news corpus (``gensim/test/test_data/lee_background.cor``, 300
documents, ~60k tokens), one document per text. Every run uses one worker and the same seed,
so both sides compute the same vectors (checked).

* "raw gensim": ``simple_preprocess`` on every text, then ``Word2Vec(sentences=...)``.
* "omnivec train": the encoder's ``train`` (the same tokenization and the same gensim call,
  plus copying the vectors, the fingerprint and the catalog bytes): the fit's own overhead.
* "omnivec col.fit": the whole ``Collection.fit`` into a fresh Milvus Lite file: training plus
  storing one record per vocabulary word and the catalog bytes.

Runs alternate between the sides; the median and the best of ``--repeat`` runs are reported,
as wall time and as CPU time (this process's threads plus the Milvus Lite server's, read from
/proc): on a busy machine wall times wander with the load, and the Lite server's replies wait
for a free core, while CPU time is what an idle machine's wall time would be.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np


def corpus() -> list[str]:
    import gensim

    path = Path(gensim.__file__).parent / "test" / "test_data" / "lee_background.cor"
    return [line for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def child_cpu() -> float:
    """CPU seconds used so far by this process's child processes (the Milvus Lite server)."""
    tick = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
    total = 0.0
    try:
        names = os.listdir("/proc")
    except OSError:
        return 0.0
    for name in names:
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", encoding="ascii") as fh:
                fields = fh.read().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[1]) == os.getpid():  # ppid
            total += (int(fields[11]) + int(fields[12])) / tick  # utime + stime
    return total


class Clock:
    """Wall and CPU (this process and its children) seconds of one block."""

    def __enter__(self) -> Clock:
        self.wall, self.cpu = time.perf_counter(), time.process_time() + child_cpu()
        return self

    def __exit__(self, *exc: object) -> None:
        self.wall = time.perf_counter() - self.wall
        self.cpu = time.process_time() + child_cpu() - self.cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--dim", type=int, default=100)
    parser.add_argument("--sg", type=int, default=1)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    from gensim.models import Word2Vec
    from gensim.utils import simple_preprocess

    import omnivec as ov
    from omnivec.encoders.words import Word2VecEncoder

    texts = corpus()
    opts: dict[str, Any] = {
        "window": 5,
        "min_count": 5,
        "epochs": args.epochs,
        "sg": args.sg,
        "seed": 1,
        "workers": 1,
    }
    times: dict[str, list[float]] = {"raw": [], "train": [], "fit": []}
    cpu: dict[str, list[float]] = {"raw": [], "train": [], "fit": []}
    tmp = Path(tempfile.mkdtemp(prefix="bench-words-"))
    raw_model: Any = None
    with ov.connect(str(tmp / "w.db")) as plat:
        for i in range(args.repeat):
            with Clock() as c:
                raw_model = Word2Vec(
                    sentences=[simple_preprocess(t) for t in texts], vector_size=args.dim, **opts
                )
            times["raw"].append(c.wall)
            cpu["raw"].append(c.cpu)

            enc = Word2VecEncoder(dim=args.dim, **opts)
            with Clock() as c:
                trained = enc.train(texts, progress=False)
            times["train"].append(c.wall)
            cpu["train"].append(c.cpu)
            assert np.array_equal(trained.result.vectors, raw_model.wv.vectors)

            col = plat.collection(f"w{i}", encoder="word2vec", dim=args.dim, **opts)
            with Clock() as c:
                col.fit(texts, progress=False)
            times["fit"].append(c.wall)
            cpu["fit"].append(c.cpu)
            got = np.stack([r.vector for r in col.get(raw_model.wv.index_to_key)])
            assert np.array_equal(got, raw_model.wv.vectors)
    med = {k: statistics.median(v) for k, v in times.items()}
    best = {k: min(v) for k, v in times.items()}
    med_cpu = {k: statistics.median(v) for k, v in cpu.items()}
    report = {
        "texts": len(texts),
        "tokens": int(raw_model.corpus_total_words),
        "vocabulary": len(raw_model.wv),
        "dim": args.dim,
        "epochs": args.epochs,
        "sg": args.sg,
        "raw_gensim_s": round(med["raw"], 3),
        "omnivec_train_s": round(med["train"], 3),
        "omnivec_col_fit_s": round(med["fit"], 3),
        "train_vs_raw": round(med["train"] / med["raw"], 3),
        "col_fit_vs_raw": round(med["fit"] / med["raw"], 3),
        "col_fit_vs_raw_best": round(best["fit"] / best["raw"], 3),
        "cpu_raw_s": round(med_cpu["raw"], 3),
        "cpu_col_fit_s": round(med_cpu["fit"], 3),
        "cpu_col_fit_vs_raw": round(med_cpu["fit"] / med_cpu["raw"], 3),
        "load_average": round(os.getloadavg()[0], 1),
        "runs": {k: [round(x, 3) for x in v] for k, v in times.items()},
        "cpu_runs": {k: [round(x, 3) for x in v] for k, v in cpu.items()},
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()

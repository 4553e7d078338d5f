"""Run every benchmark script in turn (what `make bench` does) and print their tables.

    .venv/bin/python benchmarks/run_all.py [--quick]

Each script compares omnivec with the raw library underneath in the same run; see
docs/benchmarks.md for the figures and what they mean.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
SCRIPTS = [
    ("bench_store.py", ["--n", "100000"], ["--n", "20000"]),
    ("bench_text.py", ["--n", "2000"], ["--n", "300", "--repeats", "1"]),
    ("bench_clip.py", [], ["--quick"]),
    ("bench_walker.py", [], ["--quick"]),
    ("bench_node2vec_fit.py", [], ["--quick"]),
    # Round 3's real-data quality suite: each beside its raw library or anchor, same run.
    ("quality/text_similarity.py", [], ["--long-docs", "10"]),
    ("quality/passages.py", [], ["--docs", "20"]),
    ("quality/hybrid_codes.py", [], ["--queries", "60", "--depths", "10,50"]),
    ("quality/connectome.py", [], ["--quick"]),
    ("bench_words.py", [], []),
    ("bench_onnx.py", ["--n", "1000"], ["--n", "200", "--rounds", "1"]),
    ("bench_remote.py", [], ["--n", "64", "--rounds", "1"]),
    ("bench_million.py", ["--n", "1000000"], ["--n", "100000"]),
    ("bench_ask.py", [], []),
    ("bench_recommender.py", [], ["--quick"]),
    ("bench_hybrid.py", ["--n", "15000"], ["--n", "2000", "--queries", "20", "--rounds", "2"]),
]


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--quick", action="store_true", help="small sizes, for a smoke run")
    args = ap.parse_args()
    failed = []
    for script, full, quick in SCRIPTS:
        path = HERE / script
        if not path.exists():
            continue
        print(f"\n## {script}\n", flush=True)
        t0 = time.perf_counter()
        code = subprocess.call(
            [sys.executable, str(path), *(quick if args.quick else full)], env=os.environ
        )
        print(f"\n({script}: {time.perf_counter() - t0:.0f} s, exit {code})", flush=True)
        if code:
            failed.append(script)
    if failed:
        sys.exit(f"failed: {', '.join(failed)}")


if __name__ == "__main__":
    main()

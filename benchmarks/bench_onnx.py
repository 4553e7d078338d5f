"""ONNX Runtime text backend: ``encoder="text", backend="onnx"`` (fp32) and
``quantize="int8"`` against raw sentence-transformers (torch) and fastembed, in one run, on the
bundled all-MiniLM-L6-v2 and real news text (gensim's Lee corpus).

    .venv/bin/python benchmarks/bench_onnx.py [--n 2000] [--batch 32] [--rounds 3]

Throughput: sentences of the Lee background corpus (news), encoded in batches of ``--batch``,
best of ``--rounds``. Quality: cosine of each vector to raw torch's; Pearson correlation of
cosine similarities with the Lee et al. (2005) human ratings of 50 news documents (the 1,225
pairs of ``similarities0-1.txt``); the share of sentences whose nearest neighbour is torch's.
fastembed (if importable; ``pip install fastembed``) runs the same fp32 graph without pooling
from a local folder, offline.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import table


def lee_data() -> tuple[list[str], list[str], np.ndarray]:
    import gensim

    d = Path(gensim.__file__).parent / "test" / "test_data"
    background = (d / "lee_background.cor").read_text(encoding="latin-1").splitlines()
    sentences = [
        s.strip()
        for doc in background
        for s in re.split(r"(?<=[.!?])\s+", doc)
        if len(s.split()) >= 4
    ]
    docs = [line.strip() for line in (d / "lee.cor").read_text(encoding="latin-1").splitlines()]
    ratings = np.loadtxt(d / "similarities0-1.txt")
    return sentences, docs, ratings


def lee_pearson(vectors: np.ndarray, ratings: np.ndarray) -> float:
    sims = vectors @ vectors.T
    iu = np.triu_indices(len(vectors), k=1)
    # The file's upper triangle holds the mean human rating of each pair.
    human = np.maximum(ratings, ratings.T)[iu]
    return float(np.corrcoef(sims[iu], human)[0, 1])


def best_time(fn: Any, rounds: int) -> float:
    times = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def fastembed_model(st: Any, folder: Path) -> Any:
    """fastembed's TextEmbedding over an export of the transformer alone (fastembed pools)."""
    try:
        from fastembed import TextEmbedding
    except ImportError:
        return None
    import torch

    model_path = Path(st.tokenizer.name_or_path)
    for name in (
        "tokenizer.json",
        "tokenizer_config.json",
        "special_tokens_map.json",
        "config.json",
        "vocab.txt",
    ):
        if (model_path / name).is_file():
            shutil.copy(model_path / name, folder / name)
    bert = st[0].auto_model if hasattr(st[0], "auto_model") else st[0].model

    class Tokens(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.bert = bert

        def forward(self, ids: Any, mask: Any, types: Any) -> Any:
            return self.bert(input_ids=ids, attention_mask=mask, token_type_ids=types)[0]

    sample = st.tokenizer(["a b c", "d e f g h"], padding=True, return_tensors="pt")
    names = ["input_ids", "attention_mask", "token_type_ids"]
    import warnings

    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            Tokens().eval(),
            tuple(sample[n] for n in names),
            str(folder / "model.onnx"),
            input_names=names,
            output_names=["last_hidden_state"],
            dynamic_axes={n: {0: "b", 1: "t"} for n in [*names, "last_hidden_state"]},
            opset_version=17,
            dynamo=False,
        )
    threads = int(torch.get_num_threads())
    return TextEmbedding(
        model_name="sentence-transformers/all-MiniLM-L6-v2",
        specific_model_path=str(folder),
        local_files_only=True,
        threads=threads,
    )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=2000)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    os.environ.setdefault("OMNIVEC_HOME", tempfile.mkdtemp(prefix="omnivec-onnx-"))

    import torch

    from omnivec.encoders.text import TextEncoder

    sentences, docs, ratings = lee_data()
    texts = sentences[: args.n]
    raw = TextEncoder().load()  # the raw SentenceTransformer (the bundled model)

    def torch_encode(batch: list[str]) -> np.ndarray:
        return np.asarray(
            raw.encode(
                batch,
                batch_size=args.batch,
                normalize_embeddings=True,
                convert_to_numpy=True,
                show_progress_bar=False,
            )
        )

    runners: dict[str, Any] = {"raw sentence-transformers (torch)": torch_encode}
    for label, opts in (
        ("omnivec backend=torch", {}),
        ("omnivec backend=onnx", {"backend": "onnx"}),
        ("omnivec onnx quantize=int8", {"backend": "onnx", "quantize": "int8"}),
    ):
        enc = TextEncoder(batch_size=args.batch, **opts)
        t0 = time.perf_counter()
        enc.encode(texts[:2])  # load (and export / quantise once)
        print(f"{label}: ready in {time.perf_counter() - t0:.1f} s", flush=True)
        runners[label] = enc.encode
    with tempfile.TemporaryDirectory() as tmp:
        fe = fastembed_model(raw, Path(tmp))
        if fe is not None:
            runners["fastembed 0.9 (same fp32 graph)"] = lambda b: np.asarray(
                list(fe.embed(b, batch_size=args.batch)), dtype=np.float32
            )
        else:
            print("fastembed is not installed: skipped")

        ref = torch_encode(texts)
        ref_nn = np.argsort(-(ref @ ref.T), axis=1)[:, 1]
        base_pearson = lee_pearson(torch_encode(docs), ratings)
        rows = []
        secs = {}
        for _ in range(args.rounds):  # interleaved rounds: each path sees the same load
            for label, fn in runners.items():
                t = best_time(lambda fn=fn: fn(texts), 1)
                secs[label] = min(secs.get(label, t), t)
        for label, fn in runners.items():
            vecs = fn(texts)
            cos = np.sum(vecs * ref, axis=1)
            nn = np.argsort(-(vecs @ vecs.T), axis=1)[:, 1]
            rows.append(
                [
                    label,
                    len(texts) / secs[label],
                    secs["raw sentence-transformers (torch)"] / secs[label],
                    f"{cos.min():.7f}",
                    f"{np.abs(vecs - ref).max():.2e}",
                    f"{lee_pearson(fn(docs), ratings):.4f}",
                    f"{np.mean(nn == ref_nn):.3f}",
                ]
            )
    print(
        f"\n{len(texts)} Lee news sentences, batch {args.batch}, torch threads "
        f"{torch.get_num_threads()}, best of {args.rounds}; Lee Pearson of raw torch "
        f"{base_pearson:.4f}"
    )
    print(
        table(
            [
                "path",
                "sentences/s",
                "vs raw torch",
                "min cosine to torch",
                "max abs diff",
                "Lee Pearson",
                "same nearest neighbour",
            ],
            rows,
        )
    )


if __name__ == "__main__":
    main()

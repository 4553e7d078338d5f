"""CLIP image throughput: omnivec's encoder and ``col.add(images=...)`` against raw open_clip.

The raw path is what a user would write with open_clip: open each file with PIL, run the
model's own preprocess, stack batches and call ``model.encode_image(..., normalize=True)``
under ``torch.inference_mode()``. omnivec runs the same model object on the same JPEG files.

    .venv/bin/python benchmarks/bench_clip.py [--n 512] [--model small|ViT-B-32] [--repeat 3]

Prints a markdown table; each figure is the best of ``--repeat`` runs (runs alternate, so
load from other processes hits both sides alike).
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

SMALL_CFG: dict[str, Any] = {
    "embed_dim": 256,
    "vision_cfg": {
        "image_size": 224,
        "layers": 6,
        "width": 384,
        "head_width": 64,
        "patch_size": 32,
    },
    "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 256, "heads": 4, "layers": 4},
}


def make_jpegs(folder: Path, n: int, size: int = 256) -> list[str]:
    """``n`` distinct smooth-noise JPEG photos of ``size`` x ``size`` pixels."""
    from PIL import Image

    rng = np.random.default_rng(0)
    paths = []
    for i in range(n):
        small = rng.integers(0, 256, (16, 16, 3), dtype=np.uint8)
        img = Image.fromarray(small).resize((size, size), Image.Resampling.BICUBIC)
        path = folder / f"img_{i:05d}.jpg"
        img.save(path, quality=90)
        paths.append(str(path))
    return paths


def raw_open_clip(model: Any, preprocess: Any, paths: list[str], batch_size: int) -> np.ndarray:
    import torch
    from PIL import Image

    out = []
    with torch.inference_mode():
        for start in range(0, len(paths), batch_size):
            batch = [
                preprocess(Image.open(p).convert("RGB")) for p in paths[start : start + batch_size]
            ]
            out.append(model.encode_image(torch.stack(batch), normalize=True).numpy())
    return np.concatenate(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=512, help="images")
    parser.add_argument(
        "--model", default="small", help="'small' (a 6-layer ViT/32) or an open_clip name"
    )
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument(
        "--threads", type=int, default=None, help="torch threads (default: torch's)"
    )
    args = parser.parse_args()

    import torch

    import omnivec as ov
    from omnivec.encoders.clip import ClipEncoder

    if args.threads:
        torch.set_num_threads(args.threads)
    config: dict[str, Any] = {"pretrained": "random", "seed": 0, "batch_size": args.batch_size}
    if args.model == "small":
        config.update(model="bench-small", model_cfg=SMALL_CFG)
    else:
        config.update(model=args.model)

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        paths = make_jpegs(folder, args.n)
        enc = ClipEncoder(**config)
        t0 = time.perf_counter()
        enc.load()
        load_s = time.perf_counter() - t0
        model, preprocess = enc.model, enc.preprocess

        # Warm up both paths once (allocator, kernels) on a few images.
        raw_open_clip(model, preprocess, paths[:8], args.batch_size)
        enc.encode(paths[:8], modality="image")

        times: dict[str, list[float]] = {"raw": [], "ours": [], "add": []}
        ours = raw = None
        with ov.connect(str(folder / "bench.db")) as plat:
            for r in range(args.repeat):
                t0 = time.perf_counter()
                raw = raw_open_clip(model, preprocess, paths, args.batch_size)
                times["raw"].append(time.perf_counter() - t0)

                t0 = time.perf_counter()
                ours = enc.encode(paths, modality="image")
                times["ours"].append(time.perf_counter() - t0)

                name = f"photos_{r}"
                col = plat.collection(name, encoder="clip", **config)
                t0 = time.perf_counter()
                col.add(images=paths, ids=list(range(len(paths))), progress=False)
                times["add"].append(time.perf_counter() - t0)
                assert len(col) == len(paths)
                plat.drop(name)
        assert ours is not None and raw is not None
        max_diff = float(np.abs(ours - raw).max())

    best = {k: min(v) for k, v in times.items()}
    rate = {k: args.n / v for k, v in best.items()}
    label = args.model if args.model != "small" else "small ViT/32 (6 x 384, 224 px)"
    print(f"### CLIP image encoding: {args.n} JPEG files (256 px), {label}, random init\n")
    print(
        f"python {platform.python_version()}, torch {torch.__version__}, "
        f"{torch.get_num_threads()} torch threads, {os.cpu_count()} cores, "
        f"batch {args.batch_size}, best of {args.repeat}; model load + fingerprint {load_s:.1f} s\n"
    )
    print("| path | seconds | images/s | vs raw open_clip |")
    print("|---|---:|---:|---:|")
    print(
        f"| raw open_clip (PIL open + preprocess + encode_image) | {best['raw']:.2f} | {rate['raw']:.1f} | 1.00 |"
    )
    print(
        f"| omnivec `encoder.encode(paths, 'image')` | {best['ours']:.2f} | {rate['ours']:.1f} "
        f"| {rate['ours'] / rate['raw']:.2f} |"
    )
    print(
        f"| omnivec `col.add(images=paths)` (+ thumbnails + Milvus Lite) | {best['add']:.2f} "
        f"| {rate['add']:.1f} | {rate['add'] / rate['raw']:.2f} |"
    )
    print(f"\nmax |ours - raw| over all vectors: {max_diff:.2e}")
    print("all runs (s): " + ", ".join(f"{k} {[round(x, 2) for x in v]}" for k, v in times.items()))
    sys.stdout.flush()


if __name__ == "__main__":
    main()

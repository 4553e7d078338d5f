"""Servers and data shared by the HTTP, CLI and browser tests: a real ``python -m omnivec.server``
process on a loopback port over a Milvus Lite file populated through the public API."""

from __future__ import annotations

import base64
import importlib.util
import io
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import numpy as np

import omnivec as ov

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "artifacts"

DOCS = [
    ("cat", "I love cats and kittens", "pets", 2001),
    ("dog", "Dogs are loyal companions that love walks", "pets", 1999),
    ("stocks", "Stocks fell sharply as markets panicked", "finance", 2008),
    ("bonds", "Bond yields rose after the central bank meeting", "finance", 2015),
    ("pasta", "A simple recipe for fresh pasta with tomato sauce", "food", 2012),
    ("soup", "Warm vegetable soup for a cold winter evening", "food", 2020),
    ("rocket", "The rocket launched into orbit carrying a satellite", "space", 2018),
    ("moon", "Astronauts walked on the surface of the moon", "space", 1969),
]

# A CLIP small enough to load in a second; random weights (pretrained="random") are the
# documented opt-in, and an image is still its own nearest neighbour.
TINY_CLIP = {
    "embed_dim": 32,
    "vision_cfg": {"image_size": 32, "layers": 1, "width": 64, "patch_size": 8, "head_width": 32},
    "text_cfg": {"context_length": 16, "vocab_size": 49408, "width": 64, "heads": 2, "layers": 1},
}
SAMPLE_IMAGES = ("chelsea", "astronaut", "coffee", "rocket", "colorwheel", "immunohistochemistry")


def have(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except ImportError:
        return False


HAVE_CLIP = have("omnivec.encoders.clip")
HAVE_GRAPH = have("omnivec.encoders.node2vec")
HAVE_RECS = have("omnivec.recs.recommender")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def running_server(
    db: str,
    log_path: Path,
    timeout: float = 180.0,
    args: tuple[str, ...] = (),
    env: dict[str, str] | None = None,
    module: str = "omnivec.server",
) -> Iterator[str]:
    """Start ``python -m omnivec.server`` on ``db``; yield its base URL once /healthz answers.

    The server is the real thing users run (``serve()``), in its own process, so the test
    process never holds the Milvus Lite file at the same time (Lite allows one process).
    ``args`` are added to the command line, ``env`` to the environment; ``module="omnivec.cli"``
    runs ``omnivec serve`` instead."""
    port = free_port()
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "OMP_NUM_THREADS": "2", **(env or {})}
    command = ["serve"] if module == "omnivec.cli" else []
    with log_path.open("w") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", module, *command, "--db", db, "--port", str(port), *args],
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=REPO,
            env=env,
        )
        base = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + timeout
            while True:
                if proc.poll() is not None:
                    raise RuntimeError(
                        f"server exited with {proc.returncode}:\n{log_path.read_text()}"
                    )
                try:
                    if httpx.get(f"{base}/healthz", timeout=2).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if time.monotonic() > deadline:
                    raise RuntimeError(
                        f"server did not start in {timeout} s:\n{log_path.read_text()}"
                    )
                time.sleep(0.25)
            yield base
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)


def png_b64(name: str, size: int = 96) -> str:
    """A scikit-image sample picture as base64 PNG bytes (what a browser upload sends)."""
    import skimage.data
    from PIL import Image

    img = Image.fromarray(getattr(skimage.data, name)()).convert("RGB")
    img.thumbnail((size, size))
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return base64.b64encode(buf.getvalue()).decode("ascii")


def populate_docs(plat: ov.Platform) -> None:
    docs = plat.collection("docs", encoder="text")
    docs.add(
        [text for _, text, _, _ in DOCS],
        ids=[i for i, _, _, _ in DOCS],
        metadata=[{"text": t, "topic": topic, "year": y} for _, t, topic, y in DOCS],
    )


def populate_raw(plat: ov.Platform) -> None:
    raw = plat.collection("raw", dim=4, metric="cosine")
    raw.add(
        vectors=np.eye(4, dtype=np.float32),
        ids=[1, 2, 3, 4],
        metadata=[{"axis": i} for i in range(4)],
    )


def populate_photos(plat: ov.Platform) -> None:
    photos = plat.collection(
        "photos", encoder="clip", model="tiny", model_cfg=TINY_CLIP, pretrained="random", seed=0
    )
    photos.add(
        images=[base64.b64decode(png_b64(n)) for n in SAMPLE_IMAGES],
        ids=list(SAMPLE_IMAGES),
        metadata=[{"title": n.replace("_", " ")} for n in SAMPLE_IMAGES],
    )


def populate_graph(plat: ov.Platform) -> None:
    import networkx as nx

    g = plat.collection("karate", encoder="node2vec", dim=16, seed=0)
    g.fit(nx.karate_club_graph())


def populate_recs(plat: ov.Platform) -> None:
    rows = []
    # Two taste groups: users u0-u19 like items a0-a7, users u20-u39 like b0-b7; each user
    # saw 3 items of their group. Two factors are enough for ALS to learn the groups.
    for u in range(40):
        group = "a" if u < 20 else "b"
        for j in range(3):
            rows.append((f"u{u}", f"{group}{(u + j) % 8}", 1.0))
    rec = plat.recommender("movies", algorithm="als", factors=2, random_state=0)
    rec.fit(rows)


def populate_all(db: str) -> None:
    """Every collection the HTTP and browser tests query (those whose libraries are here)."""
    with ov.connect(db) as plat:
        populate_docs(plat)
        populate_raw(plat)
        if HAVE_CLIP:
            populate_photos(plat)
        if HAVE_GRAPH:
            populate_graph(plat)
        if HAVE_RECS:
            populate_recs(plat)

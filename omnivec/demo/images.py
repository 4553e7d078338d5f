"""Demo part: a tiny CLIP trained from scratch on scikit-learn's digits, then text -> image search.

No CLIP weights ship offline, so the demo trains a small open_clip model (a few hundred
thousand parameters plus the token embedding) for about a minute on the CPU on
(digit image, caption) pairs, stores held-out digit images in a collection and asks for each
digit by its caption. The checkpoint is saved next to the database, so the HTTP server and
the CLI can open the collection later without training again.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

import omnivec as ov

__all__ = ["CAPTION_TEMPLATES", "DIGIT_NAMES", "MODEL_CFG", "MODEL_NAME", "digit_images", "run"]

MODEL_NAME = "tiny-digits"
#: A small ViT (patches of 4 px over 32x32 images) and a short text transformer.
MODEL_CFG: dict[str, Any] = {
    "embed_dim": 64,
    "vision_cfg": {"image_size": 32, "layers": 2, "width": 64, "head_width": 32, "patch_size": 8},
    "text_cfg": {"context_length": 8, "vocab_size": 49408, "width": 64, "heads": 2, "layers": 1},
}
DIGIT_NAMES = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
#: Several phrasings per class, so the text tower learns the digit word, not one sentence.
CAPTION_TEMPLATES = [
    "a handwritten digit {name}",
    "the number {name}",
    "a photo of a {name}",
    "handwritten {name}",
    "the digit {digit}",
]
QUERY_TEMPLATE = "a handwritten digit {name}"
COLLECTION = "demo_digits"
CHECKPOINT_NAME = "omnivec-demo-clip.pt"
#: A text collection sharing the digit images' ids: where each form was scanned.
NOTES_COLLECTION = "demo_digit_notes"
OFFICES = (
    "Lisbon",
    "Osaka",
    "Nairobi",
    "Toronto",
    "Krakow",
    "Lima",
    "Hanoi",
    "Oslo",
    "Cairo",
    "Denver",
    "Perth",
    "Seville",
    "Tbilisi",
    "Quito",
    "Dublin",
    "Manila",
    "Zurich",
    "Accra",
    "Havana",
    "Riga",
)
EPOCHS = 12
BATCH_SIZE = 64
LR = 2e-3
SEED = 0


def digit_images(size: int = 32) -> tuple[list[np.ndarray], np.ndarray]:
    """scikit-learn's 1,797 digits as uint8 grayscale arrays ``(size, size)``, with labels ``(n,)``."""
    from PIL import Image
    from sklearn.datasets import load_digits

    digits = load_digits()
    images = []
    for img in digits.images:
        # Values are 0-16; stretch to 0-255 and upscale smoothly to the model's input size.
        small = Image.fromarray((img * (255.0 / 16.0)).astype(np.uint8))
        images.append(np.asarray(small.resize((size, size), Image.Resampling.BILINEAR)))
    return images, np.asarray(digits.target)


def checkpoint_path(plat: ov.Platform) -> Path:
    """Where the demo keeps its trained weights: next to a Lite file, else the working directory."""
    uri = str(plat.uri)
    if "://" in uri:
        return Path.cwd() / CHECKPOINT_NAME
    return Path(uri).resolve().parent / CHECKPOINT_NAME


def run(plat: ov.Platform, say: Callable[[str], None]) -> dict[str, Any]:
    images, labels = digit_images(MODEL_CFG["vision_cfg"]["image_size"])
    rng = np.random.default_rng(SEED)
    order = rng.permutation(len(images))
    n_test = 400
    test_idx, train_idx = order[:n_test], order[n_test:]
    pairs = []
    for i in train_idx:
        d = int(labels[i])
        for template in CAPTION_TEMPLATES:
            pairs.append((images[i], template.format(name=DIGIT_NAMES[d], digit=d)))
    if plat.has_collection(COLLECTION):
        plat.drop(COLLECTION)
    col = plat.collection(
        COLLECTION,
        encoder="clip",
        model=MODEL_NAME,
        model_cfg=MODEL_CFG,
        pretrained="random",
        seed=SEED,
        batch_size=256,
        # One torch thread: on a busy 2-core machine, two spinning OpenMP threads were
        # measured 18x slower per training step than one (75 ms against 1.3 s).
        num_threads=1,
    )
    ckpt = checkpoint_path(plat)
    say(
        f"  training a tiny CLIP ({MODEL_NAME}) from scratch on {len(pairs)} (digit image, caption) "
        f"pairs, {EPOCHS} epochs ..."
    )
    t0 = time.perf_counter()
    history = col.encoder.fit(
        pairs, epochs=EPOCHS, batch_size=BATCH_SIZE, lr=LR, checkpoint=ckpt, progress=None
    )
    train_s = time.perf_counter() - t0
    say(
        f"  trained in {train_s:.1f} s; loss {history[0]:.3f} -> {history[-1]:.3f}; checkpoint {ckpt}"
    )

    t0 = time.perf_counter()
    ids = [f"digit_{int(i)}" for i in test_idx]
    col.add(
        images=[images[i] for i in test_idx],
        ids=ids,
        metadata=[{"label": int(labels[i])} for i in test_idx],
    )
    add_s = time.perf_counter() - t0
    say(f"  stored {len(ids)} held-out digit images in {add_s:.2f} s")

    queries = [QUERY_TEMPLATE.format(name=name) for name in DIGIT_NAMES]
    t0 = time.perf_counter()
    results = col.search(queries, k=5)
    search_ms = (time.perf_counter() - t0) * 1000 / len(queries)
    top1 = top5 = 0
    for d, (query, hits) in enumerate(zip(queries, results, strict=True)):
        got = [h.metadata["label"] for h in hits]  # type: ignore[union-attr]
        top1 += got[0] == d
        top5 += sum(g == d for g in got)
        say(f"  {query!r:32} -> labels of top 5: {got}")
    # Per class retrieval precision over the held-out images.
    top1_acc = top1 / len(queries)
    top5_acc = top5 / (5 * len(queries))
    probe = int(test_idx[0])
    similar = col.search(ov.image(images[probe]), k=6)
    say(
        f"  image -> image, a held-out {DIGIT_NAMES[int(labels[probe])]}: labels of top 5 "
        f"others: {[h.metadata['label'] for h in similar[1:]]}"  # type: ignore[union-attr]
    )
    accuracy = _class_accuracy(col, test_idx, labels, queries)
    say(
        f"  top-1 class accuracy {top1_acc:.2f}, top-5 precision {top5_acc:.2f} "
        f"({search_ms:.1f} ms per query); zero-shot classification of the {n_test} held-out "
        f"images: {accuracy:.2f}"
    )
    fused = _fused_search(plat, ids, labels[test_idx], say)
    return {
        "collection": COLLECTION,
        "notes_collection": NOTES_COLLECTION,
        "fused": fused,
        "n_train_pairs": len(pairs),
        "n_images": len(ids),
        "train_seconds": round(train_s, 1),
        "final_loss": round(history[-1], 4),
        "top1_accuracy": top1_acc,
        "top5_precision": top5_acc,
        "zero_shot_accuracy": round(accuracy, 4),
        "checkpoint": str(ckpt),
    }


def _class_accuracy(
    col: Any, test_idx: np.ndarray, labels: np.ndarray, queries: list[str]
) -> float:
    """Each held-out image classified by its nearest class caption (CLIP zero-shot style)."""
    enc = col.encoder
    text = enc.encode(queries, modality="text")
    img = np.stack([r.vector for r in col.get([f"digit_{int(i)}" for i in test_idx])])
    pred = np.argmax(img @ text.T, axis=1)
    return float(np.mean(pred == labels[test_idx]))


def _fused_search(
    plat: ov.Platform, ids: list[str], labels: np.ndarray, say: Callable[[str], None]
) -> dict[str, Any]:
    """One question over two spaces: the digit (the CLIP image collection) and where its form
    was scanned (a MiniLM text collection with the same ids), fused per id by ``plat.search``.
    Neither collection alone can answer it; ``hit.scores`` shows each leg's part."""
    rng = np.random.default_rng(SEED + 1)
    offices = [OFFICES[i] for i in rng.integers(0, len(OFFICES), len(ids))]
    notes = plat.collection(NOTES_COLLECTION, encoder="text")
    notes.add(
        [f"Form scanned at the {office} office." for office in offices],
        ids=ids,
        metadata=[{"office": office} for office in offices],
    )
    digit = 7
    # The office with the most held-out sevens, so the answer has several right ids.
    counts = {
        o: sum(o == f and lab == digit for f, lab in zip(offices, labels, strict=True))
        for o in OFFICES
    }
    office = max(OFFICES, key=lambda o: (counts[o], o))
    right = {
        i for i, f, lab in zip(ids, offices, labels, strict=True) if f == office and lab == digit
    }
    label_of = dict(zip(ids, (int(x) for x in labels), strict=True))
    office_of = dict(zip(ids, offices, strict=True))
    query = {
        COLLECTION: QUERY_TEMPLATE.format(name=DIGIT_NAMES[digit]),
        NOTES_COLLECTION: f"scanned at the {office} office",
    }
    n = len(right)
    t0 = time.perf_counter()
    hits = plat.search(query, k=n)
    fused_ms = (time.perf_counter() - t0) * 1000
    alone = {name: plat.collection(name).search(q, k=n) for name, q in query.items()}
    say(
        f"  fused text+image: {query[COLLECTION]!r} in {COLLECTION} + "
        f"{query[NOTES_COLLECTION]!r} in {NOTES_COLLECTION} ({fused_ms:.0f} ms); "
        f"{n} held-out ids are both:"
    )
    for h in hits:
        legs = ", ".join(f"{k} {v:.2f}" for k, v in sorted((h.scores or {}).items()))
        say(f"    {h.id:10} digit {label_of[h.id]}, {office_of[h.id]:8}  ({legs})")
    precision = {name: sum(h.id in right for h in got) / n for name, got in alone.items()}
    precision["fused"] = sum(h.id in right for h in hits) / n
    say(
        f"  share of the top {n} that are {DIGIT_NAMES[digit]}s from {office}: fused "
        f"{precision['fused']:.2f}, image alone {precision[COLLECTION]:.2f}, "
        f"text alone {precision[NOTES_COLLECTION]:.2f}"
    )
    return {"query": query, "n_right": n, "precision": precision}

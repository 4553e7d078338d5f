"""The images part of the demo: a tiny CLIP trained on digits, then a fused text+image query."""

from __future__ import annotations

from pathlib import Path

import omnivec as ov
from omnivec.demo.images import COLLECTION, NOTES_COLLECTION
from omnivec.demo.main import run_demo


def test_images_demo_fuses_text_and_image(tmp_path: Path) -> None:
    db = str(tmp_path / "demo.db")
    part = run_demo(db, parts=["images"], quiet=True)["parts"]["images"]
    assert part["top1_accuracy"] >= 0.8 and part["zero_shot_accuracy"] >= 0.8
    fused = part["fused"]
    precision = fused["precision"]
    # Sevens scanned at one office: the image leg knows the digit, the text leg the office;
    # only their fusion finds ids that are both.
    assert fused["n_right"] >= 2
    assert precision["fused"] >= 0.6
    assert precision["fused"] > max(precision[COLLECTION], precision[NOTES_COLLECTION])
    with ov.connect(db) as plat:
        images, notes = plat.collection(COLLECTION), plat.collection(NOTES_COLLECTION)
        assert set(images.ids()) == set(notes.ids())
        hits = plat.search(fused["query"], k=3)
        assert all(set(h.scores or {}) <= {COLLECTION, NOTES_COLLECTION} for h in hits)
        assert any(len(h.scores or {}) == 2 for h in hits)

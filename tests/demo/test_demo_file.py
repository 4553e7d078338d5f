"""`omnivec demo --db FILE` never drops a collection it did not create."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import omnivec as ov
from omnivec.demo.main import run_demo
from omnivec.errors import InvalidInputError


def test_demo_refuses_a_file_with_foreign_collections(tmp_path: Path) -> None:
    db = str(tmp_path / "mine.db")
    with ov.connect(db) as plat:
        col = plat.collection("my_vectors", dim=4, metric="cosine")
        col.add(vectors=np.eye(4, dtype=np.float32), ids=["a", "b", "c", "d"])
    with pytest.raises(InvalidInputError, match="my_vectors") as info:
        run_demo(db, parts=["graph"], quiet=True)
    assert "\n" not in str(info.value)
    with ov.connect(db) as plat:
        assert plat.collections() == ["my_vectors"]
        assert len(plat.collection("my_vectors")) == 4


def test_demo_reruns_rebuild_only_what_it_created(tmp_path: Path) -> None:
    db = str(tmp_path / "demo.db")
    first = run_demo(db, parts=["graph"], quiet=True)
    assert "karate" in first["collections"]
    again = run_demo(db, parts=["graph"], quiet=True)  # its own file: no refusal
    assert again["collections"] == first["collections"]

"""Encoders plug in through the `omnivec.encoders` entry-point group or register_encoder; a toy
plugin passes the same conformance suite as the built-ins."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import omnivec as ov
from omnivec.platform.registry import available_encoders, create_encoder
from tests.encoders.conformance import EncoderConformance

PLUGIN = textwrap.dedent(
    '''
    """A toy third-party encoder: a seeded random projection of character histograms."""
    from dataclasses import dataclass

    import numpy as np

    import omnivec as ov


    @dataclass
    class ToyConfig:
        dim: int = 16
        seed: int = 0
        metric: str = "cosine"


    class ToyEncoder(ov.BaseEncoder):
        name = "toy"
        modalities = ("text",)
        config_class = ToyConfig

        @property
        def dim(self):
            return self.cfg.dim

        @property
        def space(self):
            return ov.Space("toy", "char-hist", ov.fingerprint_of(self.identity()),
                            self.cfg.dim, self.cfg.metric)

        def encode(self, batch, modality=None):
            self._default_modality(modality)
            proj = np.random.default_rng(self.cfg.seed).standard_normal((256, self.cfg.dim))
            hist = np.zeros((len(batch), 256), dtype=np.float32)
            for i, text in enumerate(batch):
                for ch in text.encode():
                    hist[i, ch] += 1
            out = (hist @ proj).astype(np.float32) + 1e-6
            return out / np.linalg.norm(out, axis=1, keepdims=True)
    '''
)


@pytest.fixture(scope="module")
def plugin_dist(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Install the toy plugin the way pip would: a module plus a dist-info with entry points."""
    site = tmp_path_factory.mktemp("site")
    (site / "omnivec_toy.py").write_text(PLUGIN)
    info = site / "omnivec_toy-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: omnivec-toy\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[omnivec.encoders]\ntoy = omnivec_toy:ToyEncoder\n")
    sys.path.insert(0, str(site))
    yield site
    sys.path.remove(str(site))
    sys.modules.pop("omnivec_toy", None)


def test_builtins_are_entry_points() -> None:
    assert {"text", "clip", "node2vec", "als", "bpr"} <= set(available_encoders())


def test_listing_imports_no_encoder() -> None:
    code = (
        "import sys, omnivec as ov; names = ov.available_encoders(); "
        "bad = [m for m in ('torch', 'open_clip', 'implicit', 'torch_geometric', "
        "'omnivec.encoders.text', 'omnivec.encoders.clip') if m in sys.modules]; "
        "assert not bad, bad; print(len(names))"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).parents[2])


def test_entry_point_plugin_is_found_lazily(plugin_dist: Path) -> None:
    assert "toy" in available_encoders()
    assert "omnivec_toy" not in sys.modules
    enc = create_encoder("toy", dim=8)
    assert "omnivec_toy" in sys.modules
    assert enc.encode(["abc"]).shape == (1, 8)


def test_plugin_collection_end_to_end(plugin_dist: Path, plat: ov.Platform) -> None:
    col = plat.collection("toys", encoder="toy", dim=32)
    col.add(["aaaa", "zzzz", "aaab"], ids=["a", "z", "ab"])
    assert col.search("aaaa", k=1)[0].id == "a"
    with pytest.raises(ov.errors.SpaceMismatchError):
        plat.collection("toys", encoder="toy", dim=16)


def test_register_encoder_at_runtime(plat: ov.Platform) -> None:
    class Const(ov.BaseEncoder):
        name = "const"
        modalities = ("text",)

        from dataclasses import dataclass

        @dataclass
        class _Cfg:
            value: float = 1.0

        config_class = _Cfg

        @property
        def dim(self) -> int:
            return 2

        @property
        def space(self) -> ov.Space:
            return ov.Space("const", "const", "v1", 2, "cosine")

        def encode(self, batch: Any, modality: Any = None) -> np.ndarray:
            return np.tile(np.array([[0.6, 0.8]], np.float32), (len(batch), 1))

    ov.register_encoder("const", Const)
    col = plat.collection("c", encoder="const")
    col.add(["x", "y"], ids=[1, 2])
    assert len(col.search("anything", k=2)) == 2
    with pytest.raises(ov.errors.InvalidInputError):
        ov.register_encoder("", Const)


class TestToyPluginConformance(EncoderConformance):
    registry_name = "toy"

    @pytest.fixture
    def encoder(self, plugin_dist: Path) -> Any:
        return create_encoder("toy", dim=24)

    @pytest.fixture
    def samples(self) -> dict[str, list[Any]]:
        return {"text": ["plugins", "plug in", "entry points"]}

"""The text encoder's ONNX Runtime backend on the bundled all-MiniLM-L6-v2: fp32 gives the torch
vectors, int8 is a space of its own, bad options are one-line errors, and a collection never
mixes backends."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

import omnivec as ov
from omnivec.encoders.text import TextEncoder
from omnivec.errors import InvalidInputError, SpaceMismatchError

TEXTS = [
    "The cat sat quietly on the warm windowsill.",
    "Stocks fell sharply after the central bank raised interest rates.",
    "A new vaccine trial began in three hospitals this week.",
    "   leading and trailing spaces   ",
    "短文本",
    "word " * 400,  # longer than the model's 256 tokens: truncated as torch truncates
]


@pytest.fixture(scope="module")
def onnx_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Exports go to a temporary $OMNIVEC_HOME, not the user's cache."""
    home = tmp_path_factory.mktemp("omnivec-home")
    mp = pytest.MonkeyPatch()
    mp.setenv("OMNIVEC_HOME", str(home))
    yield home
    mp.undo()


def test_fp32_equals_torch(text_encoder: TextEncoder, onnx_home: Path) -> None:
    enc = TextEncoder(backend="onnx", batch_size=4)
    got = enc.encode(TEXTS)
    want = text_encoder.encode(TEXTS)
    assert got.dtype == np.float32 and got.shape == want.shape
    assert np.sum(got * want, axis=1).min() >= 0.99999
    np.testing.assert_allclose(got, want, atol=1e-5)
    assert (onnx_home / "onnx").is_dir()  # cached by the weights' fingerprint
    assert enc.space != text_encoder.space and enc.space.dim == text_encoder.space.dim
    # Another encoder of the same weights reuses the export (no new file).
    files = sorted(p.name for p in onnx_home.rglob("*.onnx"))
    TextEncoder(backend="onnx").encode(TEXTS[:1])
    assert sorted(p.name for p in onnx_home.rglob("*.onnx")) == files


def test_int8_is_close_but_its_own_space(text_encoder: TextEncoder, onnx_home: Path) -> None:
    fp32 = TextEncoder(backend="onnx")
    int8 = TextEncoder(backend="onnx", quantize="int8")
    got = int8.encode(TEXTS[:3])
    want = text_encoder.encode(TEXTS[:3])
    cos = np.sum(got * want, axis=1)
    assert cos.min() >= 0.95 and np.abs(got - want).max() > 1e-4
    np.testing.assert_allclose(np.linalg.norm(got, axis=1), 1.0, rtol=1e-5)
    assert len({int8.space, fp32.space, text_encoder.space}) == 3


def test_collection_with_onnx_and_no_mixing(plat: ov.Platform, onnx_home: Path) -> None:
    docs = plat.collection("docs", encoder="text", backend="onnx", quantize="int8")
    docs.add(TEXTS[:3], ids=["cat", "stocks", "vaccine"])
    assert docs.search("a kitten on a window ledge", k=1)[0].id == "cat"
    assert docs.info()["config"]["backend"] == "onnx"
    # Options left out mean "as stored"; asking for fp32 is refused.
    assert plat.collection("docs", encoder="text", backend="onnx") is docs
    with pytest.raises(SpaceMismatchError, match="quantize"):
        plat.collection("docs", encoder="text", backend="onnx", quantize=None)
    exact = plat.collection("exact", encoder="text")
    with pytest.raises(SpaceMismatchError, match="backend"):
        plat.collection("exact", encoder="text", backend="onnx")
    with pytest.raises(SpaceMismatchError):
        exact.search(ov.ref("cat", collection="docs"), k=1)


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({"backend": "tensorrt"}, "backend must be"),
        ({"backend": "onnx", "quantize": "int4"}, "quantize must be"),
        ({"quantize": "int8"}, 'backend="onnx"'),
    ],
)
def test_bad_backend_is_a_one_line_error(
    plat: ov.Platform, options: dict[str, str], match: str
) -> None:
    with pytest.raises(InvalidInputError, match=match) as info:
        plat.collection("bad", encoder="text", **options)
    assert "\n" not in str(info.value)
    assert "bad" not in plat.collections()

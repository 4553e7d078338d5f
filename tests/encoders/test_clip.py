"""The CLIP encoder: real open_clip with tiny random configurations, real Milvus Lite files."""

from __future__ import annotations

import io
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import omnivec as ov
from omnivec.encoders.clip import ClipEncoder
from tests.encoders.conformance import EncoderConformance

TINY_CFG: dict[str, Any] = {
    "embed_dim": 32,
    "vision_cfg": {"image_size": 32, "layers": 1, "width": 32, "head_width": 16, "patch_size": 8},
    "text_cfg": {"context_length": 12, "vocab_size": 49408, "width": 32, "heads": 2, "layers": 1},
}
TINY = {"model": "tiny", "model_cfg": TINY_CFG, "pretrained": "random", "seed": 0}
CAPTIONS = ["a red square", "a blue circle", "a green stripe"]


def make_images(n: int, seed: int = 0, size: int = 40) -> list[np.ndarray]:
    """Distinct random RGB uint8 arrays (size, size, 3)."""
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 256, (size, size, 3), dtype=np.uint8) for _ in range(n)]


def png_bytes(arr: np.ndarray) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="PNG")
    return buf.getvalue()


@pytest.fixture(scope="module")
def plat(module_plat: ov.Platform) -> ov.Platform:
    """One Lite file for the module (a Lite start costs seconds): every test below uses
    collection names of its own."""
    return module_plat


@pytest.fixture(scope="module")
def tiny() -> ClipEncoder:
    enc = ClipEncoder(**TINY)
    enc.load()
    return enc


class TestClipConformance(EncoderConformance):
    registry_name = "clip"

    @pytest.fixture
    def encoder(self, tiny: ClipEncoder) -> ClipEncoder:
        return tiny

    @pytest.fixture
    def samples(self) -> dict[str, list[Any]]:
        return {"text": CAPTIONS, "image": list(make_images(3))}


def test_constructor_stores_config_only() -> None:
    enc = ClipEncoder(model="tiny", model_cfg=TINY_CFG, pretrained="/no/such/checkpoint.pt")
    assert enc._model is None
    with pytest.raises(ov.errors.EncoderError, match="does not exist"):
        enc.load()


def test_no_pretrained_is_refused(plat: ov.Platform) -> None:
    enc = ClipEncoder(model="tiny", model_cfg=TINY_CFG)
    with pytest.raises(ov.errors.EncoderError, match="pretrained='random'"):
        enc.encode(["a cat"])
    with pytest.raises(ov.errors.EncoderError, match="pretrained="):
        _ = enc.space
    with pytest.raises(ov.errors.EncoderError, match="pretrained="):
        plat.collection("unloadable", encoder="clip", model="tiny", model_cfg=TINY_CFG)
    assert not plat.has_collection("unloadable")


def test_unknown_tag_is_an_encoder_error() -> None:
    with pytest.raises(ov.errors.EncoderError, match="neither a file nor an open_clip tag"):
        ClipEncoder(model="ViT-B-32", pretrained="no-such-tag").load()


def test_same_seed_same_space_other_seed_other_space(tiny: ClipEncoder) -> None:
    again = ClipEncoder(**TINY)
    other = ClipEncoder(**{**TINY, "seed": 1})
    assert again.space == tiny.space
    assert other.space.fingerprint != tiny.space.fingerprint
    assert other.space.dim == tiny.space.dim


def test_text_and_image_share_space_and_dim(tiny: ClipEncoder) -> None:
    text = tiny.encode(CAPTIONS, modality="text")
    image = tiny.encode(make_images(2), modality="image")
    assert text.shape[1] == image.shape[1] == tiny.dim == TINY_CFG["embed_dim"]
    assert tiny.space.encoder == "clip" and tiny.space.model == "tiny"
    assert tiny.space.metric == "cosine"


def test_matches_raw_open_clip(tiny: ClipEncoder) -> None:
    import torch
    from PIL import Image

    arrays = make_images(5, seed=3)
    with torch.inference_mode():
        pixels = torch.stack([tiny.preprocess(Image.fromarray(a)) for a in arrays])
        raw_img = tiny.model.encode_image(pixels, normalize=True).numpy()
        raw_txt = tiny.model.encode_text(tiny.tokenizer(CAPTIONS), normalize=True).numpy()
    np.testing.assert_allclose(tiny.encode(arrays, modality="image"), raw_img, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(tiny.encode(CAPTIONS), raw_txt, rtol=1e-5, atol=1e-6)


def test_every_input_kind_gives_the_same_vector(tiny: ClipEncoder, tmp_path: Path) -> None:
    from PIL import Image

    arr = make_images(1, seed=7)[0]
    path = tmp_path / "img.png"
    Image.fromarray(arr).save(path)
    inputs = [arr, Image.fromarray(arr), str(path), path, png_bytes(arr)]
    out = tiny.encode(inputs, modality="image")
    for row in out[1:]:
        np.testing.assert_allclose(row, out[0], rtol=1e-5, atol=1e-6)
    gray = tiny.encode(
        [arr[:, :, 0], np.dstack([arr, np.full(arr.shape[:2], 255, np.uint8)])], "image"
    )
    assert gray.shape == (2, tiny.dim) and np.isfinite(gray).all()


@pytest.mark.parametrize(
    "bad",
    [
        b"not an image at all",
        b"",
        np.zeros((0, 10, 3), dtype=np.uint8),
        np.zeros((8, 8, 3), dtype=np.float32),
        "/no/such/image.png",
        12345,
    ],
    ids=["garbage-bytes", "empty-bytes", "zero-size", "float-array", "missing-path", "int"],
)
def test_bad_image_is_refused_naming_the_item(tiny: ClipEncoder, bad: Any) -> None:
    batch = [*make_images(2), bad]
    with pytest.raises(ov.errors.InvalidInputError, match="image item 2"):
        tiny.encode(batch, modality="image")


def test_image_collection_end_to_end(plat: ov.Platform, tmp_path: Path) -> None:
    from PIL import Image

    arrays = make_images(12, seed=11)
    path = tmp_path / "first.png"
    Image.fromarray(arrays[0]).save(path)
    photos = plat.collection("photos_e2e", encoder="clip", **TINY)
    ids = photos.add(images=[str(path), *arrays[1:]], ids=[f"p{i}" for i in range(12)])
    assert len(photos) == 12
    # image -> image: every stored image is its own top hit
    hits = photos.search([ov.image(a) for a in arrays], k=1)
    assert [row[0].id for row in hits] == ids  # type: ignore[index]
    assert all(row[0].score == pytest.approx(1.0, abs=1e-4) for row in hits)  # type: ignore[index]
    # metadata: a small JPEG thumbnail for every image, the source for a path
    first, second = photos.get(["p0", "p1"])
    assert first.metadata["source"] == str(path)
    assert "source" not in second.metadata
    for rec in (first, second):
        thumb = rec.metadata["thumbnail"]
        assert thumb.startswith("data:image/jpeg;base64,") and len(thumb) < 8_000
    # text -> image returns images from the same space, sorted by score
    text_hits = photos.search("a red square", k=12)
    assert {h.id for h in text_hits} == set(ids)  # type: ignore[union-attr]
    scores = [h.score for h in text_hits]  # type: ignore[union-attr]
    assert scores == sorted(scores, reverse=True)
    stored = np.stack([r.vector for r in photos.get(ids)])
    np.testing.assert_allclose(
        stored,
        photos.encoder.encode([str(path), *arrays[1:]], modality="image"),
        rtol=1e-5,
        atol=1e-6,
    )


def test_user_metadata_wins_over_encoder_metadata(plat: ov.Platform) -> None:
    photos = plat.collection("photos_meta", encoder="clip", **TINY)
    photos.add(images=make_images(2), ids=[1, 2], metadata=[{"thumbnail": "mine"}, {"tag": "x"}])
    one, two = photos.get([1, 2])
    assert one.metadata["thumbnail"] == "mine"
    assert two.metadata["tag"] == "x" and two.metadata["thumbnail"].startswith("data:image/jpeg")


def test_corrupt_image_writes_nothing(plat: ov.Platform) -> None:
    photos = plat.collection("photos_corrupt", encoder="clip", **TINY)
    photos.add(images=make_images(1), ids=["keep"])
    batch = [*make_images(3, seed=5), b"\x89PNG\r\n\x1a\n truncated"]
    with pytest.raises(ov.errors.InvalidInputError, match="image item 3"):
        photos.add(images=batch, ids=["a", "b", "c", "d"])
    assert len(photos) == 1
    assert photos.ids() == ["keep"]


def test_ref_across_image_and_caption_collections(plat: ov.Platform) -> None:
    photos = plat.collection("photos_ref", encoder="clip", **TINY)
    captions = plat.collection("captions_ref", encoder="clip", **TINY)
    photos.add(images=make_images(4, seed=2), ids=["a", "b", "c", "d"])
    captions.add(CAPTIONS, ids=["red", "blue", "green"])
    assert photos.space == captions.space
    hits = photos.search(ov.ref("red", collection="captions_ref"), k=4)
    assert len(hits) == 4  # a ref into another collection keeps every hit
    direct = photos.search("a red square", k=4)
    assert [h.id for h in hits] == [h.id for h in direct]  # type: ignore[union-attr]
    back = captions.search(ov.ref("a", collection="photos_ref"), k=3)
    assert {h.id for h in back} == {"red", "blue", "green"}  # type: ignore[union-attr]


def test_text_collection_refuses_a_clip_ref(plat: ov.Platform, text_encoder: Any) -> None:
    photos = plat.collection("photos_vs_text", encoder="clip", **TINY)
    photos.add(images=make_images(2), ids=["a", "b"])
    docs = plat.collection("docs_vs_clip", encoder="text")
    docs.add(["a cat", "a dog"], ids=["x", "y"])
    with pytest.raises(ov.errors.SpaceMismatchError):
        docs.search(ov.ref("a", collection="photos_vs_text"))
    # same dim, other weights: still another space
    other = plat.collection("other_seed", encoder="clip", **{**TINY, "seed": 1})
    other.add(images=make_images(1), ids=["z"])
    with pytest.raises(ov.errors.SpaceMismatchError):
        photos.search(ov.ref("z", collection="other_seed"))


def test_checkpoint_round_trip(tiny: ClipEncoder, tmp_path: Path) -> None:
    path = tiny.save_checkpoint(tmp_path / "tiny.pt")
    loaded = ClipEncoder(model="tiny", pretrained=str(path))
    assert loaded.space == tiny.space
    imgs = make_images(3, seed=9)
    np.testing.assert_array_equal(loaded.encode(imgs, "image"), tiny.encode(imgs, "image"))
    np.testing.assert_array_equal(loaded.encode(CAPTIONS), tiny.encode(CAPTIONS))
    with pytest.raises(ov.errors.EncoderError, match="model='tiny'"):
        ClipEncoder(model="ViT-B-32", pretrained=str(path)).load()


def _pairs(n: int = 16) -> list[tuple[np.ndarray, str]]:
    return [(img, CAPTIONS[i % 3]) for i, img in enumerate(make_images(n, seed=21))]


def test_fit_on_empty_collection_records_new_space(db_path: str, tmp_path: Path) -> None:
    ckpt = tmp_path / "trained.pt"
    with ov.connect(db_path) as plat:
        photos = plat.collection("photos", encoder="clip", **TINY)
        before = photos.space
        history = photos.encoder.fit(_pairs(), epochs=3, batch_size=8, lr=1e-3, checkpoint=ckpt)
        assert len(history) == 3 and all(np.isfinite(history))
        assert history[-1] < history[0]
        assert photos.encoder.loss_history[-3:] == history
        assert ckpt.is_file()
        assert photos.encoder.cfg.pretrained == str(ckpt.resolve())
        after = photos.space
        assert after.fingerprint != before.fingerprint
        assert after == photos.encoder.space
        photos.add(images=make_images(3, seed=4), ids=["a", "b", "c"])
        expected = photos.get(["a"])[0].vector
    # a new process opens the collection from the catalog: the checkpoint, same space and vectors
    with ov.connect(db_path) as plat:
        photos = plat.collection("photos")
        assert photos.encoder.cfg.pretrained == str(ckpt.resolve())
        assert photos.encoder.space == after
        hits = photos.search(ov.image(make_images(3, seed=4)[0]), k=1)
        assert hits[0].id == "a"  # type: ignore[union-attr]
        np.testing.assert_allclose(
            photos.encoder.encode(make_images(3, seed=4)[:1], "image")[0], expected, atol=1e-6
        )
        # asking for the untrained weights again is another space
        with pytest.raises(ov.errors.SpaceMismatchError):
            plat.collection("photos", encoder="clip", **TINY)


def test_fit_on_non_empty_collection_is_refused(plat: ov.Platform, tmp_path: Path) -> None:
    photos = plat.collection("photos_nonempty", encoder="clip", **TINY)
    photos.add(images=make_images(2), ids=["a", "b"])
    fp = photos.space.fingerprint
    with pytest.raises(ov.errors.SpaceMismatchError, match="new, empty collection"):
        photos.encoder.fit(_pairs(), epochs=1, checkpoint=tmp_path / "x.pt")
    assert not (tmp_path / "x.pt").exists()
    assert photos.space.fingerprint == fp == photos.encoder.space.fingerprint


def test_fit_is_reproducible_with_a_seed(tmp_path: Path) -> None:
    runs = []
    for i in range(2):
        enc = ClipEncoder(**TINY)
        enc.fit(_pairs(), epochs=2, batch_size=8, checkpoint=tmp_path / f"r{i}.pt")
        runs.append(enc.space.fingerprint)
    assert runs[0] == runs[1]


@pytest.mark.parametrize(
    ("pairs", "match"),
    [
        ([], "at least 2"),
        ([("x", "cap")] * 3, "image item 0"),
        ([(np.zeros((4, 4), np.uint8), 3)] * 2, "pair 0"),
    ],
)
def test_fit_rejects_bad_pairs(pairs: list[Any], match: str) -> None:
    with pytest.raises(ov.errors.InvalidInputError, match=match):
        ClipEncoder(**TINY).fit(pairs, epochs=1)


def test_vit_b_32_random_checkpoint_loads_from_path(tmp_path: Path) -> None:
    """The real ViT-B-32 architecture: random init, saved to a file, loaded via pretrained=PATH
    (about 8 s here, so not marked slow)."""
    t0 = time.perf_counter()
    base = ClipEncoder(model="ViT-B-32", pretrained="random", seed=0, batch_size=4)
    path = base.save_checkpoint(tmp_path / "vit-b-32.pt")
    loaded = ClipEncoder(model="ViT-B-32", pretrained=str(path), batch_size=4)
    assert loaded.space == base.space and loaded.dim == 512
    imgs = make_images(2, size=256)
    np.testing.assert_allclose(loaded.encode(imgs, "image"), base.encode(imgs, "image"), atol=1e-6)
    assert loaded.encode(["a photo of a cat"]).shape == (1, 512)
    assert time.perf_counter() - t0 < 300


def test_new_collection_with_the_untrained_config_gets_untrained_weights(
    plat: ov.Platform, tmp_path: Path
) -> None:
    first = plat.collection("first", encoder="clip", **TINY)
    untrained = first.space
    first.encoder.fit(_pairs(), epochs=1, batch_size=8, checkpoint=tmp_path / "f.pt")
    second = plat.collection("second", encoder="clip", **TINY)
    assert second.encoder is not first.encoder
    assert second.space == untrained != first.space


def test_bad_image_beyond_the_first_chunk_is_located(plat: ov.Platform) -> None:
    photos = plat.collection("photos_chunked", encoder="clip", **TINY)
    small = make_images(1, size=8)[0]
    batch: list[Any] = [small] * 1030
    batch[1027] = b"broken"
    with pytest.raises(ov.errors.InvalidInputError, match=r"image item 3 .*from item 1024"):
        photos.add(images=batch, ids=list(range(1030)))
    assert len(photos) == 0

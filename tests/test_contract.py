"""The public contract (the project's DESIGN.md), line by line, through the public API only.

Every test here uses the names and call shapes DESIGN.md documents ("Public API (Python)",
"Details that users (and checks) rely on", "Errors", "CLI and server"), on real parts: Milvus
Lite files in tmp dirs, the bundled all-MiniLM-L6-v2, open_clip models with random weights
saved to checkpoint files, the numba node2vec walker and implicit. The HTTP face is in
tests/server/test_contract_http.py.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import omnivec as ov
from omnivec.errors import (
    DimensionMismatchError,
    EncoderError,
    InvalidInputError,
    NotFoundError,
    OmnivecError,
    SpaceMismatchError,
    StoreError,
    StoreUnavailableError,
)

ROOT = Path(__file__).resolve().parents[1]

# A CLIP small enough to build in well under a second (open_clip's JSON model config).
TINY_CLIP: dict[str, Any] = {
    "embed_dim": 32,
    "vision_cfg": {"image_size": 32, "layers": 1, "width": 32, "head_width": 16, "patch_size": 8},
    "text_cfg": {"context_length": 12, "vocab_size": 49408, "width": 32, "heads": 2, "layers": 1},
}

DOCS = {
    "a": "I love cats",
    "b": "Stocks fell",
    "c": "Kittens purr when they are happy",
    "d": "The central bank raised interest rates",
    "e": "My dog chases the ball in the park",
    "f": "Il pleut beaucoup à Paris",
}
LANG = {"a": "en", "b": "en", "c": "en", "d": "en", "e": "en", "f": "fr"}


def hit_ids(hits: Any) -> list[Any]:
    return [h.id for h in hits]


def single(result: Any) -> list[ov.Hit]:
    """One query's hits (``ov.vector`` of one row answers ``list[Hit]``)."""
    assert isinstance(result, list) and all(isinstance(h, ov.Hit) for h in result)
    return result


def assert_sorted(hits: list[ov.Hit]) -> None:
    scores = [h.score for h in hits]
    assert scores == sorted(scores, reverse=True), scores


def rgb(seed: int, size: int = 48) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (size, size, 3), dtype=np.uint8)


# -- shared state: one Milvus Lite file for the module --------------------------------------


@pytest.fixture(scope="module")
def mdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("contract")


@pytest.fixture(scope="module")
def P(mdir: Path) -> Iterator[ov.Platform]:
    """One platform (one Lite file) shared by the module; tests use their own collection names."""
    with ov.connect(str(mdir / "shared.db")) as plat:
        yield plat


@pytest.fixture(scope="module")
def docs(P: ov.Platform) -> ov.Collection:
    col = P.collection("docs", encoder="text")
    col.add(list(DOCS.values()), ids=list(DOCS), metadata=[{"lang": LANG[i]} for i in DOCS])
    return col


# -- names and errors -----------------------------------------------------------------------


def test_public_names_and_light_import() -> None:
    for name in (
        "connect", "Platform", "Collection", "Recommender", "Hit", "image", "vector", "ref",
        "register_encoder", "errors",
    ):  # fmt: skip
        assert hasattr(ov, name), name
    assert ov.errors.OmnivecError is OmnivecError
    code = (
        "import sys, omnivec\n"
        "heavy = [m for m in ('torch', 'pymilvus', 'open_clip', 'implicit', 'numba', "
        "'torch_geometric', 'sentence_transformers') if m in sys.modules]\n"
        "assert not heavy, heavy\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 0, out.stderr


def test_error_tree() -> None:
    assert issubclass(InvalidInputError, ValueError) and issubclass(InvalidInputError, OmnivecError)
    assert issubclass(DimensionMismatchError, InvalidInputError)
    assert issubclass(SpaceMismatchError, InvalidInputError)
    assert issubclass(NotFoundError, KeyError) and issubclass(NotFoundError, OmnivecError)
    assert issubclass(EncoderError, OmnivecError)
    assert issubclass(StoreError, OmnivecError)
    assert issubclass(StoreUnavailableError, StoreError)
    # nothing is outside the root
    for cls in (DimensionMismatchError, SpaceMismatchError, NotFoundError, StoreUnavailableError):
        assert issubclass(cls, OmnivecError)


def test_store_unavailable_for_an_unreachable_server() -> None:
    port = _free_port()
    with (
        pytest.raises(StoreUnavailableError),
        ov.connect(f"http://127.0.0.1:{port}", timeout=2) as plat,
    ):
        plat.collections()


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# -- the example block, verbatim --------------------------------------------------------------


def test_example_block_text_and_raw(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    with ov.connect("omnivec.db") as plat:  # Milvus Lite file
        docs = plat.collection("docs", encoder="text")  # get or create
        assert docs.add(
            ["I love cats", "Stocks fell"],
            ids=["a", "b"],
            metadata=[{"lang": "en"}, {"lang": "en"}],
        ) == ["a", "b"]
        hits = docs.search("felines", k=5, where='lang == "en"')
        assert isinstance(hits, list) and all(isinstance(h, ov.Hit) for h in hits)
        assert hit_ids(hits) == ["a", "b"]  # felines is nearer to cats than to stocks
        assert hits[0].metadata == {"lang": "en"}
        assert_sorted(hits)
        batch = docs.search(["q1", "q2"], k=5)
        assert isinstance(batch, list) and len(batch) == 2
        assert all(isinstance(row, list) and len(row) == 2 for row in batch)
        assert hit_ids(docs.search(ov.ref("a"), k=5)) == ["b"]  # more like this record
        v = docs.get(["a"])[0].vector
        top = single(docs.search(ov.vector(v), k=5))  # raw vector, dim-checked
        assert top[0].id == "a" and top[0].score == pytest.approx(1.0, abs=1e-5)
        with pytest.raises(DimensionMismatchError):
            docs.search(ov.vector(v[:10]), k=5)
        recs = docs.get(["a"])
        assert recs[0].id == "a" and recs[0].metadata == {"lang": "en"}
        assert docs.delete(["b"]) == 1
        assert len(docs) == 1

        raw = plat.collection("raw", dim=384, metric="cosine")  # no encoder: vectors only
        matrix = np.random.default_rng(0).standard_normal((5, 384)).astype(np.float32)
        raw.add(vectors=matrix, ids=[f"r{i}" for i in range(5)])  # (n, 384) float32
        assert len(raw) == 5
        with pytest.raises(DimensionMismatchError):
            raw.add(vectors=matrix[:, :383], ids=[f"x{i}" for i in range(5)])
        assert len(raw) == 5
        got = single(raw.search(ov.vector(matrix[3]), k=1))
        assert got[0].id == "r3" and got[0].score == pytest.approx(1.0, abs=1e-5)
    assert (tmp_path / "omnivec.db").exists()
    # get or create: the file keeps both collections for the next process / connection
    with ov.connect("omnivec.db") as plat:
        assert set(plat.collections()) >= {"docs", "raw"}
        assert len(plat.collection("docs", encoder="text")) == 1
        assert len(plat.collection("raw")) == 5


# -- details that users rely on: Hit, scores, sorting ----------------------------------------


@pytest.mark.parametrize("metric", ["cosine", "ip", "l2"])
def test_score_semantics_per_metric(P: ov.Platform, metric: str) -> None:
    rng = np.random.default_rng(1)
    data = rng.standard_normal((20, 8)).astype(np.float32)
    col = P.collection(f"m_{metric}", dim=8, metric=metric)
    col.add(vectors=data, ids=list(range(20)), metadata=[{"row": i} for i in range(20)])
    q = rng.standard_normal(8).astype(np.float32)
    hits = single(col.search(ov.vector(q), k=20))
    assert len(hits) == 20
    assert_sorted(hits)
    if metric == "cosine":
        expect = data @ q / (np.linalg.norm(data, axis=1) * np.linalg.norm(q))
    elif metric == "ip":
        expect = data @ q
    else:
        expect = -np.linalg.norm(data - q, axis=1)
    for h in hits:
        assert isinstance(h.id, int) and h.metadata == {"row": h.id}
        assert h.score == pytest.approx(float(expect[h.id]), rel=1e-4, abs=1e-4)
    assert hit_ids(hits) == list(np.argsort(-expect, kind="stable"))
    # the same direction (cosine) / the same point (l2) score the maximum
    same = single(col.search(ov.vector(data[4] * (3.0 if metric == "cosine" else 1.0)), k=1))[0]
    assert same.id == 4
    if metric == "cosine":
        assert same.score == pytest.approx(1.0, abs=1e-5)
    elif metric == "l2":
        assert same.score == pytest.approx(0.0, abs=1e-3)


def test_text_search_hits(docs: ov.Collection) -> None:
    hits = docs.search("felines", k=3)
    assert hit_ids(hits)[:2] in (["a", "c"], ["c", "a"])
    assert all(set(vars(h)) >= {"id", "score", "metadata"} for h in hits)
    assert all(isinstance(h.score, float) and isinstance(h.metadata, dict) for h in hits)
    assert_sorted(hits)
    assert all(-1.0 - 1e-5 <= h.score <= 1.0 + 1e-5 for h in hits)
    fr = docs.search("felines", k=5, where='lang == "fr"')
    assert hit_ids(fr) == ["f"]


# -- get / delete / len ---------------------------------------------------------------------


def test_get_order_record_and_not_found(docs: ov.Collection) -> None:
    recs = docs.get(["c", "a", "b"])
    assert [r.id for r in recs] == ["c", "a", "b"]
    for r in recs:
        assert isinstance(r, ov.Record)
        assert isinstance(r.vector, np.ndarray)
        assert r.vector.dtype == np.float32 and r.vector.shape == (docs.dim,) == (384,)
        assert r.metadata == {"lang": "en"}
    with pytest.raises(NotFoundError, match="zzz_missing") as info:
        docs.get(["a", "zzz_missing"])
    assert isinstance(info.value, KeyError)


def test_delete_counts_removed_rows(P: ov.Platform) -> None:
    col = P.collection("del_count", dim=2, metric="l2")
    col.add(vectors=np.eye(2, dtype=np.float32) + 1, ids=["x", 5])
    assert len(col) == 2
    assert col.delete(["x", "never_there", 99]) == 1
    assert len(col) == 1
    assert col.delete(["x"]) == 0
    assert col.get([5])[0].id == 5


def test_ids_come_back_exactly_as_given(P: ov.Platform) -> None:
    col = P.collection("ids_exact", dim=3, metric="ip")
    ids: list[Any] = [7, "7", "ünïcode id", -3, "a b/c", 2**62]
    vecs = np.arange(18, dtype=np.float32).reshape(6, 3) + 1
    assert col.add(vectors=vecs, ids=ids) == ids
    got = col.get(ids)
    assert [r.id for r in got] == ids
    assert [type(r.id) for r in got] == [type(i) for i in ids]
    hits = single(col.search(ov.vector(np.ones(3, np.float32)), k=6))
    assert sorted(map(repr, hit_ids(hits))) == sorted(map(repr, ids))
    np.testing.assert_array_equal(col.get([7])[0].vector, vecs[0])
    np.testing.assert_array_equal(col.get(["7"])[0].vector, vecs[1])


# -- k bounds ---------------------------------------------------------------------------------


@pytest.mark.parametrize("k", [0, -1, 16_385, 10**9, 1.5, "5", True, None])
def test_k_out_of_bounds_is_invalid(docs: ov.Collection, k: Any) -> None:
    with pytest.raises(InvalidInputError, match="k"):
        docs.search("cats", k=k)


def test_k_limits_are_accepted(docs: ov.Collection) -> None:
    assert len(docs.search("cats", k=1)) == 1
    assert len(docs.search("cats", k=16_384)) == len(DOCS)  # never clamped into an error
    two = docs.search("cats", k=np.int64(2))  # type: ignore[call-overload]
    assert len(two) == 2


# -- bad input -----------------------------------------------------------------------------


def test_bad_batches_are_invalid_and_write_nothing(P: ov.Platform) -> None:
    col = P.collection("bad_in", dim=4, metric="cosine")
    col.add(vectors=np.ones((1, 4), np.float32), ids=["keep"])
    good = np.eye(4, dtype=np.float32)[:2]
    nan = good.copy()
    nan[1, 2] = np.nan
    inf = good.copy()
    inf[0, 0] = np.inf
    cases: list[tuple[type[Exception], dict[str, Any]]] = [
        (InvalidInputError, {"vectors": np.zeros((0, 4), np.float32), "ids": []}),
        (InvalidInputError, {"vectors": None, "ids": ["n1"]}),
        (InvalidInputError, {"vectors": nan, "ids": ["n1", "n2"]}),
        (InvalidInputError, {"vectors": inf, "ids": ["n1", "n2"]}),
        (InvalidInputError, {"vectors": good, "ids": ["n1"]}),
        (InvalidInputError, {"vectors": good, "ids": ["n1", "n2", "n3"]}),
        (InvalidInputError, {"vectors": good, "ids": ["n1", "n2"], "metadata": [{"a": 1}]}),
        (InvalidInputError, {"vectors": good, "ids": ["dup", "dup"]}),
        (InvalidInputError, {"vectors": good, "ids": [3, 3]}),
        (DimensionMismatchError, {"vectors": np.ones((2, 5), np.float32), "ids": ["n1", "n2"]}),
    ]
    for exc, kwargs in cases:
        with pytest.raises(exc):
            col.add(**kwargs)
    assert col.ids() == ["keep"]


def test_bad_text_batches(docs: ov.Collection) -> None:
    before = len(docs)
    with pytest.raises(InvalidInputError):
        docs.add([], ids=[])
    with pytest.raises(InvalidInputError):
        docs.add(None)
    with pytest.raises(InvalidInputError):
        docs.add(["one", "two"], ids=["x1"])
    with pytest.raises(InvalidInputError):
        docs.add(["one", "two"], ids=["x1", "x2"], metadata=[{"lang": "en"}])
    with pytest.raises(InvalidInputError):
        docs.add(["one", "two"], ids=["x1", "x1"])
    with pytest.raises(InvalidInputError):
        docs.search([], k=3)
    with pytest.raises(InvalidInputError):
        docs.search(None, k=3)  # type: ignore[call-overload]
    with pytest.raises(InvalidInputError):
        ov.vector([1.0, float("nan")])
    with pytest.raises(InvalidInputError):
        ov.vector(np.array([[1.0, np.inf]]))
    with pytest.raises(DimensionMismatchError):
        docs.search(ov.vector(np.ones(383, np.float32)))
    with pytest.raises(InvalidInputError):
        ov.image(None)
    for bad_id in (1.5, None, ("t",), b"bytes", True):
        with pytest.raises(InvalidInputError):
            docs.add(["one"], ids=[bad_id])
    assert len(docs) == before


# -- vector spaces ---------------------------------------------------------------------------


def test_reopen_with_another_encoder_or_config_is_refused(
    P: ov.Platform, docs: ov.Collection
) -> None:
    with pytest.raises(SpaceMismatchError):
        P.collection("docs", encoder="clip", pretrained="random")
    with pytest.raises(SpaceMismatchError):
        P.collection("docs", encoder="text", model="/no/such/model/dir")
    with pytest.raises(SpaceMismatchError):
        P.collection("docs", encoder="text", metric="l2")
    with pytest.raises(SpaceMismatchError):
        P.collection("docs", dim=128)
    assert P.collection("docs", encoder="text") is not None  # same config: get
    raw = P.collection("reopen_raw", dim=4, metric="cosine")
    with pytest.raises(SpaceMismatchError):
        P.collection("reopen_raw", dim=8)
    with pytest.raises(SpaceMismatchError):
        P.collection("reopen_raw", dim=4, metric="l2")
    with pytest.raises(SpaceMismatchError):
        P.collection("reopen_raw", encoder="text")
    assert P.collection("reopen_raw", dim=4, metric="cosine").space == raw.space


def test_space_errors_come_before_any_model_loads(tmp_path: Path) -> None:
    db = str(tmp_path / "spaces.db")
    with ov.connect(db) as plat:
        plat.collection("docs", encoder="text").add(["I love cats"], ids=["a"])
        plat.collection("raw384", dim=384, metric="cosine").add(
            vectors=np.ones((1, 384), np.float32), ids=[1]
        )
        tiny: dict[str, Any] = {
            "model": "tiny",
            "model_cfg": TINY_CLIP,
            "pretrained": "random",
            "seed": 0,
        }
        plat.collection("pics", encoder="clip", **tiny).add(images=[rgb(0)], ids=["p"])
        plat.collection("raw32", dim=32, metric="cosine").add(
            vectors=np.ones((1, 32), np.float32), ids=["v"]
        )
    with ov.connect(db) as plat:  # a fresh process' view: nothing loaded yet
        # another model for an existing collection: refused, the bad model is never loaded
        with pytest.raises(SpaceMismatchError):
            plat.collection("docs", encoder="text", model="/no/such/model/dir")
        docs = plat.collection("docs")
        raw = plat.collection("raw384")
        assert docs.space.dim == raw.space.dim == 384 and docs.space != raw.space
        # a ref from another space of the same dim, in both directions
        with pytest.raises(SpaceMismatchError):
            docs.search(ov.ref(1, collection="raw384"), k=1)
        with pytest.raises(SpaceMismatchError):
            raw.search(ov.ref("a", collection="docs"), k=1)
        # a text query into a vectors-only collection
        with pytest.raises(SpaceMismatchError):
            raw.search("cats", k=1)
        # an image into a text collection
        with pytest.raises(SpaceMismatchError):
            docs.search(ov.image(rgb(0)), k=1)
        # CLIP: other weights for an existing collection, and refs across same-dim spaces
        with pytest.raises(SpaceMismatchError):
            plat.collection("pics", encoder="clip", **{**tiny, "seed": 1})
        with pytest.raises(SpaceMismatchError):
            plat.collection("pics", encoder="clip", model="ViT-B-32", pretrained="/no/such.pt")
        pics = plat.collection("pics")
        with pytest.raises(SpaceMismatchError):
            pics.search(ov.ref("v", collection="raw32"), k=1)
        with pytest.raises(SpaceMismatchError):
            plat.collection("raw32").search(ov.image(rgb(0)), k=1)
        # none of the refusals loaded a model
        for col in (docs, pics):
            assert col.encoder._space is None and getattr(col.encoder, "_model", None) is None


def test_ref_self_exclusion_and_cross_collection(P: ov.Platform, docs: ov.Collection) -> None:
    own = docs.search(ov.ref("a"), k=len(DOCS))
    assert "a" not in hit_ids(own) and len(own) == len(DOCS) - 1
    assert own[0].id == "c"  # kittens is the nearest other record to cats
    copy = P.collection("docs_copy", encoder="text")
    assert copy.space == docs.space
    copy.add(list(DOCS.values()), ids=list(DOCS))
    across = docs.search(ov.ref("a", collection="docs_copy"), k=len(DOCS))
    assert len(across) == len(DOCS) and across[0].id == "a"
    assert across[0].score == pytest.approx(1.0, abs=1e-5)
    with pytest.raises(NotFoundError, match="nope"):
        docs.search(ov.ref("nope"), k=1)
    with pytest.raises(NotFoundError):
        docs.search(ov.ref("a", collection="no_such_collection"), k=1)


def test_batch_search_is_one_store_call(
    P: ov.Platform, docs: ov.Collection, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[int] = []
    real = P.store.search

    def counting(name: str, vectors: np.ndarray, *args: Any, **kwargs: Any) -> Any:
        calls.append(len(vectors))
        return real(name, vectors, *args, **kwargs)

    monkeypatch.setattr(P.store, "search", counting)
    queries = ["felines", "markets", "rain in France"]
    out = docs.search(queries, k=2)
    assert calls == [3] and len(out) == 3
    assert [row[0].id for row in out] in (
        ["a", "b", "f"],
        ["c", "b", "f"],
        ["a", "d", "f"],
        ["c", "d", "f"],
    )
    calls.clear()
    mixed = docs.search(["felines", ov.ref("b"), ov.vector(docs.get(["d"])[0].vector)], k=2)
    assert calls == [3]
    assert "b" not in hit_ids(mixed[1]) and mixed[2][0].id == "d"
    calls.clear()
    matrix = np.stack([r.vector for r in docs.get(["a", "b", "f", "e"])])
    rows = docs.search(ov.vector(matrix), k=1)
    assert calls == [4]
    assert [row[0].id for row in rows] == ["a", "b", "f", "e"]  # type: ignore[index]


# -- names and ids against filter injection ---------------------------------------------------


@pytest.mark.parametrize("name", ["a", "_x", "Docs_2", "A" * 255])
def test_valid_collection_names(P: ov.Platform, name: str) -> None:
    col = P.collection(name, dim=2)
    assert col.name == name and name in P.collections()
    assert P.drop(name)


@pytest.mark.parametrize(
    "name", ["", "1abc", "a-b", "a b", "A" * 256, 'x" or 1==1', "docs;drop", "é", None, 5]
)
def test_invalid_collection_names(P: ov.Platform, name: Any) -> None:
    with pytest.raises(InvalidInputError):
        P.collection(name, dim=2)


INJECTIONS = [
    '" or pk != "',
    "' or pk != '",
    'x") or (1==1',
    "a\\",
    '"]) or true or (["',
    "s:keep",
    "i:1",
]


def test_ids_cannot_change_a_filter(P: ov.Platform) -> None:
    col = P.collection("inject", dim=2, metric="ip")
    col.add(vectors=np.ones((3, 2), np.float32), ids=["keep", 1, "other"])
    for bad in INJECTIONS:
        with pytest.raises(NotFoundError):
            col.get([bad])
        with pytest.raises(NotFoundError):
            col.search(ov.ref(bad), k=1)
        assert col.delete([bad]) == 0
    assert len(col) == 3
    # and as real ids they round-trip and delete only themselves
    vecs = np.arange(2 * len(INJECTIONS), dtype=np.float32).reshape(-1, 2) + 1
    assert col.add(vectors=vecs, ids=INJECTIONS) == INJECTIONS
    assert [r.id for r in col.get(INJECTIONS)] == INJECTIONS
    assert col.delete(INJECTIONS[:2]) == 2
    assert len(col) == 3 + len(INJECTIONS) - 2
    assert col.get(["keep", 1, "other"])[1].id == 1


# -- CLIP ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def vit_checkpoint(mdir: Path) -> str:
    """An open_clip ViT-B-32 with random weights, saved the way open_clip users save one."""
    import open_clip
    import torch

    torch.manual_seed(0)
    model = open_clip.create_model("ViT-B-32", pretrained=None)
    path = mdir / "vit-b-32-random.pt"
    torch.save(model.state_dict(), path)
    return str(path)


@pytest.fixture(scope="module")
def images(mdir: Path) -> dict[str, Any]:
    import skimage.data
    from PIL import Image

    cat = Image.fromarray(skimage.data.chelsea()).convert("RGB")
    cat_path = mdir / "cat.jpg"
    cat.save(cat_path)
    coffee = Image.fromarray(skimage.data.coffee()).convert("RGB")
    dog_path = mdir / "dog.jpg"
    Image.fromarray(skimage.data.astronaut()).convert("RGB").save(dog_path)
    return {"PIL": coffee, "cat": str(cat_path), "dog": str(dog_path)}


def test_clip_example_block(P: ov.Platform, vit_checkpoint: str, images: dict[str, Any]) -> None:
    from PIL import Image

    photos = P.collection("photos", encoder="clip", model="ViT-B-32", pretrained=vit_checkpoint)
    assert photos.dim == 512
    PIL_image = images["PIL"]
    assert photos.add(images=[PIL_image, images["cat"]], ids=["p1", "p2"]) == ["p1", "p2"]
    text_hits = photos.search("a photo of a cat")  # text -> image
    assert sorted(hit_ids(text_hits)) == ["p1", "p2"]
    assert_sorted(text_hits)
    img_hits = photos.search(ov.image(images["cat"]))  # image -> image
    assert img_hits[0].id == "p2" and img_hits[0].score == pytest.approx(1.0, abs=1e-4)
    # every image input kind gives the same query
    for source in (
        Image.open(images["cat"]),
        Path(images["cat"]).read_bytes(),
        np.asarray(Image.open(images["cat"])),
    ):
        assert photos.search(ov.image(source), k=1)[0].id == "p2"
    img_hits2 = photos.search(ov.image(images["dog"]), k=2)
    assert len(img_hits2) == 2
    assert_sorted(img_hits2)
    # a str is always text, even when it is a path to an image
    as_text = photos.search(images["cat"], k=2)
    assert as_text[0].score < 0.99
    # the weights' fingerprint is part of the space: a re-seeded random ViT is another space
    assert photos.space.encoder == "clip" and photos.space.model == "ViT-B-32"
    assert photos.space.fingerprint


def test_clip_random_needs_explicit_opt_in(P: ov.Platform) -> None:
    with pytest.raises(EncoderError):
        P.collection("clip_none", encoder="clip", model="tiny", model_cfg=TINY_CLIP)
    assert not P.has_collection("clip_none")
    a = P.collection(
        "clip_s0", encoder="clip", model="tiny", model_cfg=TINY_CLIP, pretrained="random", seed=0
    )
    b = P.collection(
        "clip_s0b", encoder="clip", model="tiny", model_cfg=TINY_CLIP, pretrained="random", seed=0
    )
    c = P.collection(
        "clip_s1", encoder="clip", model="tiny", model_cfg=TINY_CLIP, pretrained="random", seed=1
    )
    assert a.space == b.space
    assert c.space.dim == a.space.dim and c.space.fingerprint != a.space.fingerprint
    a.add(images=[rgb(1), rgb(2)], ids=["x", "y"])
    b.add(images=[rgb(1), rgb(2)], ids=["x", "y"])
    np.testing.assert_array_equal(a.get(["x"])[0].vector, b.get(["x"])[0].vector)
    c.add(images=[rgb(1)], ids=["x"])
    # same dim, other weights: a cross-collection ref is refused
    with pytest.raises(SpaceMismatchError):
        a.search(ov.ref("x", collection="clip_s1"), k=1)
    # a ref between collections of one space keeps every hit
    assert len(a.search(ov.ref("x", collection="clip_s0b"), k=5)) == 2
    # reopening with another seed is another space
    with pytest.raises(SpaceMismatchError):
        P.collection(
            "clip_s0",
            encoder="clip",
            model="tiny",
            model_cfg=TINY_CLIP,
            pretrained="random",
            seed=1,
        )
    # CLIP text and image vectors share one space
    a.add(["a red square"], ids=["caption"])
    assert "caption" in hit_ids(a.search(ov.image(rgb(1)), k=3))


def test_clip_fit_changes_the_space_and_refuses_a_filled_collection(
    P: ov.Platform, mdir: Path
) -> None:
    cfg: dict[str, Any] = {
        "model": "tiny",
        "model_cfg": TINY_CLIP,
        "pretrained": "random",
        "seed": 0,
    }
    pairs = [(rgb(i, 32), cap) for i, cap in enumerate(["red", "blue", "green", "black"] * 2)]
    full = P.collection("clip_full", encoder="clip", **cfg)
    full.add(images=[rgb(0), rgb(1)], ids=["a", "b"])
    fp = full.space.fingerprint
    with pytest.raises(SpaceMismatchError, match="new"):
        full.encoder.fit(pairs, epochs=1, checkpoint=mdir / "never.pt")
    assert full.space.fingerprint == fp and len(full) == 2
    assert not (mdir / "never.pt").exists()

    empty = P.collection("clip_train", encoder="clip", **cfg)
    before = empty.space
    empty.encoder.fit(pairs, epochs=1, batch_size=4, checkpoint=mdir / "trained.pt")  # pairs
    assert (mdir / "trained.pt").is_file()
    assert empty.space.fingerprint != before.fingerprint
    assert empty.space == empty.encoder.space
    empty.add(images=[rgb(0)], ids=["a"])
    # other collections of the untrained weights keep their space and their weights
    assert full.space.fingerprint == fp == full.encoder.space.fingerprint
    assert single(full.search(ov.image(rgb(1)), k=1))[0].score == pytest.approx(1.0, abs=1e-4)
    with pytest.raises(SpaceMismatchError):
        empty.search(ov.ref("a", collection="clip_full"), k=1)


# -- node2vec --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def karate(P: ov.Platform) -> ov.Collection:
    import networkx as nx

    networkx_graph = nx.karate_club_graph()
    g = P.collection("karate", encoder="node2vec", dim=64, p=1.0, q=1.0)
    g.fit(networkx_graph)  # stores every node
    return g


def test_node2vec_example(karate: ov.Collection) -> None:
    assert len(karate) == 34 and karate.dim == 64
    hits = karate.search(ov.ref(0), k=5)  # most similar nodes
    assert len(hits) == 5 and 0 not in hit_ids(hits)
    assert all(isinstance(h.id, int) for h in hits)
    assert_sorted(hits)
    # node 0's community: most of its nearest neighbours are its own club members
    import networkx as nx

    club = nx.karate_club_graph().nodes[0]["club"]
    same = [h for h in hits if nx.karate_club_graph().nodes[h.id]["club"] == club]
    assert len(same) >= 3
    assert karate.get(list(range(34)))[33].vector.shape == (64,)


def test_node2vec_seed_gives_identical_vectors(P: ov.Platform) -> None:
    import networkx as nx

    graph = nx.karate_club_graph()
    cols = []
    for name, seed in (("n2v_s7a", 7), ("n2v_s7b", 7), ("n2v_s8", 8)):
        g = P.collection(name, encoder="node2vec", dim=16, seed=seed, epochs=1, walks_per_node=2)
        g.fit(graph)
        cols.append(np.stack([r.vector for r in g.get(list(range(34)))]))
    np.testing.assert_array_equal(cols[0], cols[1])
    assert not np.array_equal(cols[0], cols[2])
    # two fits of one configuration are two spaces (even of one dim): refs across are refused
    with pytest.raises(SpaceMismatchError):
        P.collection("n2v_s7a").search(ov.ref(0, collection="n2v_s8"), k=3)


def test_node2vec_inputs_and_ids_exactly_as_given(P: ov.Platform) -> None:
    import networkx as nx
    import torch
    from torch_geometric.data import Data

    small: dict[str, Any] = {
        "dim": 8,
        "epochs": 1,
        "walks_per_node": 2,
        "walk_length": 10,
        "context_size": 3,
    }
    # networkx with mixed ids and weights
    graph = nx.Graph()
    graph.add_weighted_edges_from([("a", 3, 2.0), (3, "7", 1.0), ("7", "a", 0.5), ("a", 4, 1.0)])
    g = P.collection("n2v_nx", encoder="node2vec", **small)
    g.fit(graph)
    assert len(g) == 4
    assert {type(i) for i in g.ids()} == {str, int}
    assert sorted(map(repr, g.ids())) == sorted(map(repr, ["a", 3, "7", 4]))
    assert [r.id for r in g.get(["7", 3])] == ["7", 3]
    with pytest.raises(NotFoundError):
        g.get([7])  # int 7 is not the str "7"
    # a directed networkx graph
    dg = P.collection("n2v_di", encoder="node2vec", **small)
    dg.fit(nx.DiGraph([(0, 1), (1, 2), (2, 0), (2, 3)]))
    assert sorted(dg.ids()) == [0, 1, 2, 3]
    # torch_geometric Data (optional edge_weight): node ids are 0..n-1
    data = Data(
        edge_index=torch.tensor([[0, 1, 1, 2, 2, 3, 3, 4], [1, 0, 2, 1, 3, 2, 4, 3]]),
        num_nodes=5,
        edge_weight=torch.tensor([1.0, 1.0, 2.0, 2.0, 1.0, 1.0, 3.0, 3.0]),
    )
    pg = P.collection("n2v_pyg", encoder="node2vec", **small)
    pg.fit(data)
    assert sorted(pg.ids()) == [0, 1, 2, 3, 4]
    assert len(pg.search(ov.ref(2), k=3)) == 3
    # (u, v) and (u, v, w) edges
    e2 = P.collection("n2v_e2", encoder="node2vec", **small)
    e2.fit([("x", "y"), ("y", "z"), ("z", "x"), ("z", "w")])
    assert sorted(e2.ids()) == ["w", "x", "y", "z"]
    e3 = P.collection("n2v_e3", encoder="node2vec", **small)
    e3.fit([(10, 20, 1.5), (20, 30, 0.5), (30, 10, 2.0)])
    assert sorted(e3.ids()) == [10, 20, 30]
    assert "u" not in hit_ids(e2.search(ov.ref("x"), k=3)) and "x" not in hit_ids(
        e2.search(ov.ref("x"), k=3)
    )


def test_node2vec_refit_rewrites_every_vector_and_records_a_new_space(P: ov.Platform) -> None:
    small: dict[str, Any] = {
        "dim": 8,
        "epochs": 1,
        "walks_per_node": 2,
        "walk_length": 10,
        "context_size": 3,
    }
    g = P.collection("n2v_refit", encoder="node2vec", **small)
    g.fit([(0, 1), (1, 2), (2, 3), (3, 0)])
    first_space = g.space
    first = {r.id: r.vector for r in g.get([0, 1, 2, 3])}
    g.fit([(0, 1), (1, 2), (2, 3), (3, 0), (3, 4), (4, 5)])  # a re-fit upserts
    assert g.space != first_space
    assert {0, 1, 2, 3, 4, 5} <= set(g.ids())
    second = {r.id: r.vector for r in g.get([0, 1, 2, 3, 4, 5])}
    assert any(not np.array_equal(first[i], second[i]) for i in first)
    # the recorded space is what a new connection sees
    assert P.collection("n2v_refit").space == g.space


# -- recommenders ------------------------------------------------------------------------------


def _interactions() -> list[tuple[str, str, float]]:
    """Two taste groups: u0..u19 like a0..a9, u20..u39 like b0..b9 (4 items each)."""
    rows = []
    for u in range(40):
        group = "a" if u < 20 else "b"
        for j in range(4):
            rows.append((f"u{u}", f"{group}{(u + 3 * j) % 10}", float(1 + j % 2)))
    rows.append(("u1", "i1", 1.0))
    rows.append(("u2", "i1", 1.0))
    return rows


@pytest.fixture(scope="module")
def movies(P: ov.Platform) -> Any:
    import pandas as pd

    interactions = pd.DataFrame(_interactions(), columns=["user", "item", "weight"])
    rec = P.recommender("movies", algorithm="als", factors=64, random_state=0, num_threads=1)
    rec.fit(interactions)  # DataFrame (user, item[, weight])
    return rec


def test_recommender_example(movies: Any) -> None:
    rec = movies
    seen = {i for u, i, _ in _interactions() if u == "u1"}
    hits = rec.recommend("u1", k=10, exclude_seen=True)  # -> list[Hit] of items
    assert len(hits) == 10 and all(isinstance(h, ov.Hit) for h in hits)
    assert not seen & set(hit_ids(hits))
    assert_sorted(hits)
    with_seen = rec.recommend("u1", k=10, exclude_seen=False)
    assert seen & set(hit_ids(with_seen))
    # score is the inner product of the user and item vectors
    u = rec.users.get(["u1"])[0].vector
    item = rec.items.get([hits[0].id])[0].vector
    assert hits[0].score == pytest.approx(float(u @ item), rel=1e-4, abs=1e-4)
    sim_items = rec.similar_items("i1", k=10)
    assert len(sim_items) == 10 and "i1" not in hit_ids(sim_items)
    sim_users = rec.similar_users("u1", k=10)
    assert len(sim_users) == 10 and "u1" not in hit_ids(sim_users)
    # the same query, unified: items searched with a user's vector from the users collection
    unified = rec.items.search(ov.ref("u1", collection=rec.users.name), k=10)
    assert hit_ids(unified) == hit_ids(with_seen)
    for a, b in zip(unified, with_seen, strict=True):
        assert a.score == pytest.approx(b.score, rel=1e-4, abs=1e-4)
    assert rec.users.space == rec.items.space  # ALS users and items share one space


def test_recommender_batch_unknown_and_fold_in(movies: Any) -> None:
    rec = movies
    rows = rec.recommend(["u1", "u25"], k=5)
    assert isinstance(rows, list) and len(rows) == 2 and all(len(r) == 5 for r in rows)
    assert rows[0] and hit_ids(rows[0]) == hit_ids(rec.recommend("u1", k=5))
    with pytest.raises(NotFoundError, match="stranger"):
        rec.recommend("stranger", k=5)
    with pytest.raises(NotFoundError):
        rec.recommend(["u1", "stranger"], k=5)
    folded = rec.recommend("stranger", k=5, interactions=[("b1", 1.0), ("b4", 2.0)])
    assert len(folded) == 5 and not {"b1", "b4"} & set(hit_ids(folded))
    assert sum(str(h.id).startswith("b") for h in folded) >= 3
    for k in (0, 16_385):
        with pytest.raises(InvalidInputError):
            rec.recommend("u1", k=k)
    with pytest.raises(NotFoundError):
        rec.similar_items("no_such_item", k=3)


def test_recommender_columns_tuples_and_seed(P: ov.Platform) -> None:
    import pandas as pd

    df = pd.DataFrame(_interactions(), columns=["who", "what", "how_much"])
    vectors = []
    for name in ("r_cols_a", "r_cols_b"):
        rec = P.recommender(name, algorithm="als", factors=8, random_state=3, num_threads=1)
        rec.fit(df, user_col="who", item_col="what", weight_col="how_much")
        vectors.append(np.stack([r.vector for r in rec.users.get(["u1", "u30"])]))
        # two taste groups: each user's best two items come from its own group
        assert [str(h.id)[0] for h in rec.recommend("u1", k=2)] == ["a", "a"]
        assert [str(h.id)[0] for h in rec.recommend("u25", k=2)] == ["b", "b"]
    np.testing.assert_array_equal(vectors[0], vectors[1])  # same seed + data + threads
    # no weight column and an iterable of tuples
    rec = P.recommender("r_tuples", algorithm="als", factors=8, random_state=3, num_threads=1)
    rec.fit((u, i) for u, i, _ in _interactions())
    assert len(rec.recommend("u1", k=3)) == 3
    rec2 = P.recommender("r_noweight", algorithm="als", factors=8, random_state=3, num_threads=1)
    rec2.fit(df[["who", "what"]], user_col="who", item_col="what")
    np.testing.assert_allclose(
        rec.users.get(["u5"])[0].vector, rec2.users.get(["u5"])[0].vector, rtol=1e-5, atol=1e-6
    )


def test_bpr_and_refit(P: ov.Platform) -> None:
    rec = P.recommender(
        "r_bpr", algorithm="bpr", factors=8, random_state=0, num_threads=1, iterations=20
    )
    rec.fit(_interactions())
    hits = rec.recommend("u3", k=4)
    assert len(hits) == 4
    assert_sorted(hits)
    again = P.recommender(
        "r_bpr_same", algorithm="bpr", factors=8, random_state=0, num_threads=1, iterations=20
    )
    again.fit(_interactions())
    np.testing.assert_array_equal(
        rec.users.get(["u3"])[0].vector, again.users.get(["u3"])[0].vector
    )
    # a re-fit rewrites the vectors in a new recorded space
    space = rec.users.space
    rec.fit([*_interactions(), ("u_new", "a1", 1.0)])
    assert rec.users.space != space and rec.users.space == rec.items.space
    assert rec.users.get(["u_new"])[0].id == "u_new"
    # reopening with other hyper-parameters is another space
    with pytest.raises(SpaceMismatchError):
        P.recommender("r_bpr", algorithm="als")
    with pytest.raises(SpaceMismatchError):
        P.recommender("r_bpr", algorithm="bpr", factors=16)


# -- CLI ---------------------------------------------------------------------------------------


@pytest.fixture
def cli() -> Any:
    from typer.testing import CliRunner

    from omnivec.cli import app

    runner = CliRunner()

    def invoke(*args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
        res = runner.invoke(app, list(args), env=env)
        return res.exit_code, res.stdout, res.stderr

    return invoke


def test_cli_add_txt_jsonl_csv(cli: Any, tmp_path: Path) -> None:
    db = str(tmp_path / "cli.db")
    txt = tmp_path / "notes.txt"
    txt.write_text("I love cats\n\n   \nStocks fell sharply\nThe kitten purrs\n")
    code, _, err = cli("add", "notes", str(txt), "--encoder", "text", "--db", db)
    assert code == 0, err
    jsonl = tmp_path / "more.jsonl"
    jsonl.write_text(
        json.dumps({"text": "Rockets reach orbit", "id": "r1", "metadata": {"topic": "space"}})
        + "\n\n"
        + json.dumps({"text": "Bread needs yeast"})
        + "\n"
    )
    assert cli("add", "notes", str(jsonl), "--db", db)[0] == 0
    csv_file = tmp_path / "rows.csv"
    csv_file.write_text('text,topic\nPasta with tomato sauce,food\n"Oil, vinegar",food\n')
    assert cli("add", "notes", str(csv_file), "--db", db)[0] == 0
    with ov.connect(db) as plat:
        notes = plat.collection("notes")
        assert len(notes) == 3 + 2 + 2  # one record per non-empty line / object / row
        assert notes.get(["r1"])[0].metadata.get("topic") == "space"
        hits = notes.search("felines", k=2)
        assert len(hits) == 2
        top = notes.search("Oil, vinegar", k=1)[0]
        assert top.score == pytest.approx(1.0, abs=1e-4)


def test_cli_json_is_the_hits_payload(cli: Any, tmp_path: Path) -> None:
    db = str(tmp_path / "json.db")
    with ov.connect(db) as plat:
        col = plat.collection("docs", encoder="text")
        col.add(list(DOCS.values()), ids=list(DOCS), metadata=[{"lang": LANG[i]} for i in DOCS])
        expected = ov.hits_payload(col.search("felines", k=3, where='lang == "en"'))
    code, out, err = cli(
        "search", "docs", "felines", "-k", "3", "--where", 'lang == "en"', "--json", "--db", db
    )
    assert code == 0, err
    payload = json.loads(out)
    assert set(payload) == {"hits"}
    assert [h["id"] for h in payload["hits"]] == [h["id"] for h in expected["hits"]]
    for got, want in zip(payload["hits"], expected["hits"], strict=True):
        # A text collection's hits carry the stored text (DESIGN: "Text as people use it").
        assert set(got) == {"id", "score", "metadata", "text", "span"}
        assert got["text"] == want["text"] == DOCS[got["id"]]
        assert got["score"] == pytest.approx(want["score"], abs=1e-6)
        assert got["metadata"] == want["metadata"]
    # k out of range is refused, not clamped
    code, _, err = cli("search", "docs", "felines", "-k", "0", "--db", db)
    assert code != 0 and "k" in err


COMMANDS = [
    "encoders",
    "collections",
    "info",
    "drop",
    "add",
    "search",
    "fit-graph",
    "fit-recs",
    "recommend",
    "serve",
    "demo",
]


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_takes_db(cli: Any, command: str) -> None:
    code, out, _ = cli(command, "--help")
    assert code == 0 and "--db" in out


def test_omnivec_uri_env_and_db_option(cli: Any, tmp_path: Path) -> None:
    db = str(tmp_path / "env.db")
    txt = tmp_path / "x.txt"
    txt.write_text("hello world\nsecond line\n")
    code, _, err = cli("add", "envcol", str(txt), "--encoder", "text", env={"OMNIVEC_URI": db})
    assert code == 0, err
    code, out, err = cli("collections", "--json", env={"OMNIVEC_URI": db})
    assert code == 0, err
    names = [c["name"] for c in json.loads(out)["collections"]]
    assert names == ["envcol"]
    # --db wins over the environment
    other = str(tmp_path / "other.db")
    code, out, _ = cli("collections", "--json", "--db", other, env={"OMNIVEC_URI": db})
    assert code == 0 and json.loads(out)["collections"] == []
    code, out, _ = cli("search", "envcol", "hello world", "--json", env={"OMNIVEC_URI": db})
    assert code == 0 and json.loads(out)["hits"][0]["score"] == pytest.approx(1.0, abs=1e-4)
    assert cli("encoders", "--db", db)[0] == 0
    assert cli("info", "envcol", env={"OMNIVEC_URI": db})[0] == 0


def test_cli_graph_and_recs(cli: Any, tmp_path: Path) -> None:
    db = str(tmp_path / "gr.db")
    edges = tmp_path / "edges.csv"
    edges.write_text("a,b\nb,c\nc,a\nc,d\n")
    code, _, err = cli("fit-graph", "g", str(edges), "--dim", "8", "--epochs", "1", "--db", db)
    assert code == 0, err
    inter = tmp_path / "inter.csv"
    inter.write_text(
        "user,item,weight\n" + "\n".join(f"{u},{i},{w}" for u, i, w in _interactions()) + "\n"
    )
    code, _, err = cli("fit-recs", "recs", str(inter), "--factors", "4", "--db", db)
    assert code == 0, err
    code, out, err = cli("recommend", "recs", "u1", "--json", "--db", db)
    assert code == 0, err
    assert len(json.loads(out)["hits"]) == 10
    code, _, err = cli("recommend", "recs", "nobody", "--db", db)
    assert code == 1 and "nobody" in err
    with ov.connect(db) as plat:
        assert sorted(plat.collection("g").ids()) == ["a", "b", "c", "d"]


def test_cli_image_folder_and_image_query(
    cli: Any, tmp_path: Path, vit_checkpoint: str, images: dict[str, Any]
) -> None:
    import shutil

    db = str(tmp_path / "img.db")
    folder = tmp_path / "pics"
    folder.mkdir()
    shutil.copy(images["cat"], folder / "cat.jpg")
    shutil.copy(images["dog"], folder / "dog.jpg")
    (folder / "notes.txt").write_text("not an image")
    code, _, err = cli(
        "add", "photos", str(folder), "--encoder", "clip", "--model", "ViT-B-32",
        "--pretrained", vit_checkpoint, "--db", db,
    )  # fmt: skip
    assert code == 0, err
    code, out, err = cli(
        "search", "photos", "--image", images["cat"], "-k", "2", "--json", "--db", db
    )
    assert code == 0, err
    found = json.loads(out)["hits"]
    assert found[0]["id"] == "cat.jpg" and len(found) == 2
    assert found[0]["score"] == pytest.approx(1.0, abs=1e-4)
    code, out, err = cli("search", "photos", "a photo of a cat", "--json", "--db", db)
    assert code == 0, err
    assert sorted(h["id"] for h in json.loads(out)["hits"]) == ["cat.jpg", "dog.jpg"]


def test_demo_help_real_console_script(tmp_path: Path) -> None:
    exe = Path(sys.executable).parent / "omnivec"
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "omnivec.cli"]
    out = subprocess.run(
        [*cmd, "demo", "--help"], capture_output=True, text=True, cwd=ROOT, timeout=120
    )
    assert out.returncode == 0, out.stderr
    assert "--db" in out.stdout and "Usage" in out.stdout
    bad = subprocess.run(
        [*cmd, "search", "x", "y", "-k", "0", "--db", str(tmp_path / "x.db")],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )
    assert bad.returncode == 1 and "Traceback" not in bad.stderr
    assert len(bad.stderr.strip().splitlines()) == 1 and bad.stderr.startswith("error:")


# -- encoders, plugins, filters, error wrapping ----------------------------------------------


def test_encoders_give_float32_n_by_dim(docs: ov.Collection, P: ov.Platform) -> None:
    out = docs.encoder.encode(["one", "two", "three"], modality="text")
    assert isinstance(out, np.ndarray) and out.dtype == np.float32 and out.shape == (3, 384)
    clip = P.collection(
        "clip_enc", encoder="clip", model="tiny", model_cfg=TINY_CLIP, pretrained="random"
    )
    img = clip.encoder.encode([rgb(0), rgb(1)], modality="image")
    txt = clip.encoder.encode(["a cat"], modality="text")
    assert img.dtype == txt.dtype == np.float32 and img.shape == (2, 32) and txt.shape == (1, 32)
    assert "text" in ov.available_encoders() and "clip" in P.encoders()
    assert {"text", "clip", "node2vec"} <= set(P.encoders())


class _LengthEncoder:
    """A plugin: 2-d vectors (number of characters, number of words)."""

    name: str = "length2d"
    modalities: tuple[str, ...] = ("text",)
    dim: int = 2
    metric: str = "l2"

    def __init__(self, scale: float = 1.0) -> None:
        self.scale = scale

    @property
    def space(self) -> ov.Space:
        return ov.Space(self.name, f"len-x{self.scale:g}", "v1", 2, "l2")

    def config(self) -> dict[str, Any]:
        return {"scale": self.scale}

    def encode(self, batch: Any, modality: str | None = None) -> np.ndarray:
        rows = [[len(t) * self.scale, len(t.split()) * self.scale] for t in batch]
        return np.asarray(rows, dtype=np.float32)


def test_register_encoder_plugs_in(P: ov.Platform) -> None:
    ov.register_encoder("length2d", _LengthEncoder)
    assert "length2d" in ov.available_encoders()
    col = P.collection("plugin", encoder="length2d", scale=1.0)
    col.add(["ab", "abcdef", "a b c d"], ids=[1, 2, 3])
    hits = col.search("abcdeg", k=3)
    assert hits[0].id == 2 and hits[0].score == pytest.approx(0.0, abs=1e-6)
    # l2: minus the Euclidean distance, (6, 1) to (7, 4) and to (2, 1)
    assert hits[1].id == 3 and hits[1].score == pytest.approx(-math.hypot(1, 3), abs=1e-4)
    assert hits[2].id == 1 and hits[2].score == pytest.approx(-4.0, abs=1e-4)
    with pytest.raises(SpaceMismatchError):
        P.collection("plugin", encoder="length2d", scale=2.0)


def test_where_filters_and_errors_are_wrapped(P: ov.Platform) -> None:
    col = P.collection("where_f", dim=2, metric="ip")
    years = [1995, 2001, 2010, 2020]
    langs = ["en", "en", "fr", "en"]
    col.add(
        vectors=np.ones((4, 2), np.float32),
        ids=["w0", "w1", "w2", "w3"],
        metadata=[{"lang": la, "year": y} for la, y in zip(langs, years, strict=True)],
    )
    hits = col.search(ov.vector([1.0, 1.0]), k=10, where='lang == "en" and year > 2000')
    assert sorted(hit_ids(single(hits))) == ["w1", "w3"]
    assert hits[0].metadata["lang"] == "en"  # type: ignore[union-attr]
    # `like 1` and `in []` used to abort the Lite process (losing the whole file's connection)
    # or surface as a store error; both are the user's mistake.
    for bad in (
        'lang == "en" and',
        "year >>> 3",
        "(((",
        'lang = "en"',
        "lang like 1",
        "lang in []",
    ):
        with pytest.raises(InvalidInputError):
            col.search(ov.vector([1.0, 1.0]), k=3, where=bad)
    # the store is still alive, and a quoted pattern (either quote) still filters
    assert hit_ids(single(col.search(ov.vector([1.0, 1.0]), k=9, where="lang like 'f%'"))) == ["w2"]
    assert col.count(where='lang like "e%" and year < 2000') == 1
    with pytest.raises(InvalidInputError):
        col.search(ov.vector([1.0, 1.0]), k=3, where=5)  # type: ignore[call-overload]


def test_bad_models_are_encoder_errors(P: ov.Platform, mdir: Path) -> None:
    garbage = mdir / "garbage.pt"
    garbage.write_bytes(b"this is not a checkpoint")
    with pytest.raises(EncoderError):
        P.collection("clip_garbage", encoder="clip", model="ViT-B-32", pretrained=str(garbage))
    with pytest.raises(EncoderError):
        P.collection(
            "clip_missing", encoder="clip", model="ViT-B-32", pretrained=str(mdir / "no.pt")
        )
    with pytest.raises(EncoderError):
        P.collection("text_missing", encoder="text", model=str(mdir / "no_model_dir"))
    with pytest.raises(NotFoundError):
        P.collection("nope_enc", encoder="no_such_encoder")
    assert not {"clip_garbage", "clip_missing", "text_missing", "nope_enc"} & set(P.collections())


def test_node2vec_reopen_with_other_settings_is_refused(
    karate: ov.Collection, P: ov.Platform
) -> None:
    with pytest.raises(SpaceMismatchError):
        P.collection("karate", encoder="node2vec", dim=64, p=0.5, q=1.0)
    with pytest.raises(SpaceMismatchError):
        P.collection("karate", encoder="node2vec", dim=32)
    with pytest.raises(SpaceMismatchError):
        P.collection("karate", encoder="text")
    same = P.collection("karate", encoder="node2vec", dim=64, p=1.0, q=1.0)
    assert same.space == karate.space and len(same) == 34
    # a text query cannot be encoded into a graph space
    with pytest.raises(SpaceMismatchError):
        karate.search("node zero", k=3)

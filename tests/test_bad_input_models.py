"""Bad input for the trainable and image encoders (recommenders, CLIP, node2vec), in the style
of ``tests/test_bad_input.py``: each row asserts the documented error class and a one-line
message, and that every stored row (ids, vectors bit for bit, metadata), every recorded space
and the list of collections and recommenders are unchanged afterwards.

Also here: a re-fit that fails inside the store (first write: the previous model stays whole;
a later write: the half-written fit is refused until a fit completes), duplicate interactions
(weights add up), fold-in with unknown items, and CLIP batches that fail in a later chunk.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

import omnivec as ov
from omnivec.errors import (
    DimensionMismatchError,
    InvalidInputError,
    NotFoundError,
    SpaceMismatchError,
    StoreError,
    StoreUnavailableError,
)
from omnivec.platform.collection_state import ENCODE_CHUNK
from omnivec.stores.milvus import MilvusStore
from tests.encoders.test_clip import TINY, make_images, png_bytes
from tests.helpers.checks import INJECT, one_line, snapshot
from tests.helpers.encoders import HashEncoder  # noqa: F401 - registers "hash_rel"

REC = {"factors": 8, "iterations": 3, "random_state": 0, "num_threads": 1}
GRAPH = {"dim": 8, "walk_length": 5, "context_size": 3, "walks_per_node": 2, "epochs": 1}


def interactions(n_users: int = 30, n_items: int = 40, seed: int = 0) -> list[tuple[Any, ...]]:
    rng = np.random.default_rng(seed)
    rows = [
        (f"u{u}", f"i{i}", float(rng.integers(1, 4)))
        for u in range(n_users)
        for i in rng.choice(n_items, 6, replace=False)
    ]
    return rows + [(f"u{i % n_users}", f"i{i}", 1.0) for i in range(n_items)]


def jpeg_bytes(arr: np.ndarray) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="JPEG")
    return buf.getvalue()


class World:
    """A fitted ALS and BPR recommender, a CLIP photo collection, a text collection of the
    same dim as CLIP's (another space) and a fitted node2vec graph, on one Lite file."""

    def __init__(self, plat: ov.Platform, tmp: Path) -> None:
        self.plat, self.tmp = plat, tmp
        self.rec = plat.recommender("movies", algorithm="als", **REC)
        self.rec.fit(interactions(), item_metadata={f"i{i}": {"year": 1990 + i} for i in range(40)})
        self.bpr = plat.recommender("bprs", algorithm="bpr", **REC)
        self.bpr.fit(interactions(seed=1))
        self.photos = plat.collection("photos", encoder="clip", **TINY)
        self.photos.add(images=make_images(3), ids=["p0", "p1", "p2"])
        self.notes = plat.collection("notes", encoder="hash_rel")  # a text space
        self.notes.add(["x", "y"], ids=["a", "b"])
        self.graph = plat.collection("g", encoder="node2vec", **GRAPH)
        self.graph.fit([(0, 1), (1, 2), (2, 0), (2, 3)])
        self.image_dir = tmp / "images.png"
        self.image_dir.mkdir()
        self.before = self.state()

    def collections(self) -> list[ov.Collection]:
        return [self.rec.users, self.rec.items, self.bpr.users, self.bpr.items, self.photos,
                self.notes, self.graph]  # fmt: skip

    def state(self) -> dict[str, Any]:
        return {
            "names": self.plat.collections(),
            "recommenders": self.plat.recommenders(),
            "spaces": [c.space for c in self.collections()] + [self.rec.space, self.bpr.space],
            **{c.name: snapshot(c) for c in self.collections()},
        }


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    tmp = tmp_path_factory.mktemp("models")
    with ov.connect(str(tmp / "models.db")) as plat:
        yield World(plat, tmp)


Row = tuple[str, Callable[[World], Any], type[Exception]]
IMG = make_images(1)[0]
PNG, JPG = png_bytes(IMG), jpeg_bytes(IMG)


def _rec_k(k: Any) -> Callable[[World], Any]:
    return lambda w: w.rec.recommend("u1", k=k)


def _refit(data: Any, **kw: Any) -> Callable[[World], Any]:
    return lambda w: w.rec.fit(data, **kw)


REC_ROWS: list[Row] = [
    # unknown users and items
    ("unknown_user", lambda w: w.rec.recommend("nope"), NotFoundError),
    ("unknown_user_in_batch", lambda w: w.rec.recommend(["u1", "nope"]), NotFoundError),
    ("unknown_user_with_where", lambda w: w.rec.recommend("nope", where="year > 0"), NotFoundError),
    ("unknown_user_injection", lambda w: w.rec.recommend(INJECT), NotFoundError),
    ("unknown_int_user", lambda w: w.rec.recommend(1), NotFoundError),
    ("similar_items_unknown", lambda w: w.rec.similar_items("nope"), NotFoundError),
    ("similar_items_injection", lambda w: w.rec.similar_items(INJECT), NotFoundError),
    ("similar_items_user_id", lambda w: w.rec.similar_items("u1"), NotFoundError),
    ("similar_users_unknown", lambda w: w.rec.similar_users("nope"), NotFoundError),
    ("partial_fit_unknown_items_only", lambda w: w.rec.recommend("new", interactions=[("zz", 1.0)]), NotFoundError),
    # wrong id types
    ("user_float", lambda w: w.rec.recommend(1.5), InvalidInputError),
    ("user_none", lambda w: w.rec.recommend(None), InvalidInputError),
    ("user_bool", lambda w: w.rec.recommend(True), InvalidInputError),
    ("user_bytes", lambda w: w.rec.recommend(b"u1"), InvalidInputError),
    ("user_tuple_in_batch", lambda w: w.rec.recommend([("u1", 1)]), InvalidInputError),
    ("users_empty_batch", lambda w: w.rec.recommend([]), InvalidInputError),
    ("similar_items_float", lambda w: w.rec.similar_items(1.5), InvalidInputError),
    ("similar_items_none", lambda w: w.rec.similar_items(None), InvalidInputError),
    # fold-in
    ("fold_in_nan", lambda w: w.rec.recommend("new", interactions=[("i1", float("nan"))]), InvalidInputError),
    ("fold_in_inf", lambda w: w.rec.recommend("new", interactions=[("i1", float("inf"))]), InvalidInputError),
    ("fold_in_bool_weight", lambda w: w.rec.recommend("new", interactions=[("i1", True)]), InvalidInputError),
    ("fold_in_str_weight", lambda w: w.rec.recommend("new", interactions=[("i1", "2")]), InvalidInputError),
    ("fold_in_three_tuple", lambda w: w.rec.recommend("new", interactions=[("i1", 1.0, 2)]), InvalidInputError),
    ("fold_in_empty", lambda w: w.rec.recommend("new", interactions=[]), InvalidInputError),
    ("fold_in_none_item", lambda w: w.rec.recommend("new", interactions=[(None, 1.0)]), InvalidInputError),
    ("fold_in_float_item", lambda w: w.rec.recommend("new", interactions=[1.5]), InvalidInputError),
    ("fold_in_for_a_batch", lambda w: w.rec.recommend(["u1", "u2"], interactions=["i1"]), InvalidInputError),
    # k and where
    *[(f"k_{n}", _rec_k(k), InvalidInputError) for n, k in [
        ("zero", 0), ("negative", -1), ("huge", 16_385), ("true", True), ("float", 2.0),
        ("str", "5"), ("none", None)]],
    ("similar_items_k_zero", lambda w: w.rec.similar_items("i1", k=0), InvalidInputError),
    ("similar_users_k_huge", lambda w: w.rec.similar_users("u1", k=10**9), InvalidInputError),
    ("where_malformed", lambda w: w.rec.recommend("u1", where="year >"), InvalidInputError),
    ("where_semicolon", lambda w: w.rec.recommend("u1", where="1; drop"), InvalidInputError),
    ("where_dangling_or", lambda w: w.rec.recommend("u1", where='pk != "" or'), InvalidInputError),
    ("where_unbalanced_quote", lambda w: w.rec.recommend("u1", where='year == "1'), InvalidInputError),
    ("where_int", lambda w: w.rec.recommend("u1", where=5), InvalidInputError),
    ("where_bytes", lambda w: w.rec.recommend("u1", where=b"year > 0"), InvalidInputError),
    ("similar_where_malformed", lambda w: w.rec.similar_items("i1", where="year >"), InvalidInputError),
    # a re-fit with bad data leaves the fitted model as it was
    ("fit_none", _refit(None), InvalidInputError),
    ("fit_empty_list", _refit([]), InvalidInputError),
    ("fit_empty_frame", _refit(pd.DataFrame({"user": [], "item": []})), InvalidInputError),
    ("fit_str", _refit("u1,i1"), InvalidInputError),
    ("fit_dict", _refit({"u1": "i1"}), InvalidInputError),
    ("fit_int", _refit(5), InvalidInputError),
    ("fit_nan_weight", _refit([*interactions(), ("u1", "i1", float("nan"))]), InvalidInputError),
    ("fit_inf_weight", _refit([*interactions(), ("u1", "i1", float("inf"))]), InvalidInputError),
    ("fit_minus_inf_weight", _refit([*interactions(), ("u1", "i1", -float("inf"))]), InvalidInputError),
    ("fit_bool_weight", _refit([*interactions(), ("u1", "i1", True)]), InvalidInputError),
    ("fit_str_weight", _refit([*interactions(), ("u1", "i1", "heavy")]), InvalidInputError),
    ("fit_zero_weights", _refit([("u1", "i1", 0.0), ("u2", "i2", 0.0)]), InvalidInputError),
    ("fit_cancelling_duplicates", _refit([("u1", "i1", 1.0), ("u1", "i1", -1.0)]), InvalidInputError),
    ("fit_one_tuple", _refit([("u1",)]), InvalidInputError),
    ("fit_four_tuple", _refit([("u1", "i1", 1.0, 9)]), InvalidInputError),
    ("fit_float_user", _refit([*interactions(), (1.5, "i1")]), InvalidInputError),
    ("fit_none_user", _refit([*interactions(), (None, "i1")]), InvalidInputError),
    ("fit_tuple_user", _refit([*interactions(), (("a", 1), "i1")]), InvalidInputError),
    ("fit_bool_user", _refit([*interactions(), (True, "i1")]), InvalidInputError),
    ("fit_bytes_item", _refit([*interactions(), ("u1", b"i1")]), InvalidInputError),
    ("fit_float_item", _refit([*interactions(), ("u1", 2.5)]), InvalidInputError),
    ("fit_huge_id", _refit([*interactions(), ("x" * 5000, "i1")]), InvalidInputError),
    ("fit_bool_and_int_ids_collide", _refit([("u1", 1), ("u2", np.True_)]), InvalidInputError),
    ("fit_frame_missing_item", _refit(pd.DataFrame({"user": ["a"], "thing": ["b"]})), InvalidInputError),
    ("fit_frame_missing_user", _refit(pd.DataFrame({"who": ["a"], "item": ["b"]})), InvalidInputError),
    ("fit_frame_wrong_user_col", _refit(pd.DataFrame({"user": ["a"], "item": ["b"]}), user_col="who"), InvalidInputError),
    ("fit_frame_nan_user", _refit(pd.DataFrame({"user": [np.nan, "a"], "item": ["x", "y"]})), InvalidInputError),
    ("fit_frame_float_users", _refit(pd.DataFrame({"user": [1.5, 2.5], "item": ["x", "y"]})), InvalidInputError),
    ("fit_frame_nan_weight", _refit(pd.DataFrame({"user": ["a", "b"], "item": ["x", "y"], "weight": [1.0, np.nan]})), InvalidInputError),
    ("fit_frame_str_weight", _refit(pd.DataFrame({"user": ["a"], "item": ["x"], "weight": ["heavy"]})), InvalidInputError),
    ("fit_sparse_without_ids", lambda w: w.rec.fit(__import__("scipy.sparse").sparse.eye(3, format="csr")), InvalidInputError),
    ("fit_sparse_wrong_id_count", lambda w: w.rec.fit(__import__("scipy.sparse").sparse.eye(3, format="csr"), users=["a"], items=["x", "y", "z"]), InvalidInputError),
    ("fit_ids_without_sparse", _refit(interactions(), users=["a"]), InvalidInputError),
    ("fit_user_metadata_seen_key", _refit(interactions(), user_metadata={"u1": {"seen": 1}}), InvalidInputError),
    ("fit_item_metadata_bad_key", _refit(interactions(), item_metadata={"i1": {"a-b": 1}}), InvalidInputError),
    ("fit_item_metadata_nan", _refit(interactions(), item_metadata={"i1": {"x": float("inf")}}), InvalidInputError),
    ("fit_item_metadata_list", _refit(interactions(), item_metadata=[{"x": 1}]), InvalidInputError),
    ("bpr_negative_weight", lambda w: w.bpr.fit([*interactions(), ("u1", "i3", -2.0)]), InvalidInputError),
    ("partial_fit_nan", lambda w: w.rec.partial_fit([("u1", "i1", float("nan"))]), InvalidInputError),
    ("partial_fit_empty", lambda w: w.rec.partial_fit([]), InvalidInputError),
    ("partial_fit_tuple_user", lambda w: w.rec.partial_fit([(("u", 1), "i1")]), InvalidInputError),
    # opening
    ("reopen_other_algorithm", lambda w: w.plat.recommender("movies", algorithm="bpr"), SpaceMismatchError),
    ("reopen_other_factors", lambda w: w.plat.recommender("movies", factors=16), SpaceMismatchError),
    ("unknown_algorithm", lambda w: w.plat.recommender("newrec", algorithm="svd"), InvalidInputError),
    ("bad_factors", lambda w: w.plat.recommender("newrec", factors=0), InvalidInputError),
    ("bad_recommender_name", lambda w: w.plat.recommender('x" or "'), InvalidInputError),
    ("recommender_name_taken_by_collection", lambda w: w.plat.recommender("photos"), InvalidInputError),
    ("collection_over_recommender_part", lambda w: w.plat.collection("movies__items", encoder="text"), SpaceMismatchError),
]  # fmt: skip

CLIP_ROWS: list[Row] = [
    ("zero_size_array", lambda w: w.photos.add(images=[np.zeros((0, 0, 3), np.uint8)], ids=["n"]), InvalidInputError),
    ("zero_width_array", lambda w: w.photos.add(images=[np.zeros((5, 0, 3), np.uint8)], ids=["n"]), InvalidInputError),
    ("empty_bytes", lambda w: w.photos.add(images=[b""], ids=["n"]), InvalidInputError),
    ("corrupt_bytes", lambda w: w.photos.add(images=[b"\x89PNG not really"], ids=["n"]), InvalidInputError),
    ("truncated_png", lambda w: w.photos.add(images=[PNG[: len(PNG) // 2]], ids=["n"]), InvalidInputError),
    ("truncated_jpeg", lambda w: w.photos.add(images=[JPG[: len(JPG) // 2]], ids=["n"]), InvalidInputError),
    ("png_header_only", lambda w: w.photos.add(images=[PNG[:33]], ids=["n"]), InvalidInputError),
    ("directory_path", lambda w: w.photos.add(images=[str(w.image_dir)], ids=["n"]), InvalidInputError),
    ("directory_pathlib", lambda w: w.photos.add(images=[w.image_dir], ids=["n"]), InvalidInputError),
    ("missing_path", lambda w: w.photos.add(images=["/no/such/cat.jpg"], ids=["n"]), InvalidInputError),
    ("text_file_path", lambda w: w.photos.add(images=[__file__], ids=["n"]), InvalidInputError),
    ("float_array", lambda w: w.photos.add(images=[np.random.default_rng(0).random((8, 8, 3))], ids=["n"]), InvalidInputError),
    ("two_channels", lambda w: w.photos.add(images=[np.zeros((8, 8, 2), np.uint8)], ids=["n"]), InvalidInputError),
    ("five_channels", lambda w: w.photos.add(images=[np.zeros((8, 8, 5), np.uint8)], ids=["n"]), InvalidInputError),
    ("four_dims", lambda w: w.photos.add(images=[np.zeros((1, 8, 8, 3), np.uint8)], ids=["n"]), InvalidInputError),
    ("one_dim", lambda w: w.photos.add(images=[np.zeros(8, np.uint8)], ids=["n"]), InvalidInputError),
    ("none_image", lambda w: w.photos.add(images=[None], ids=["n"]), InvalidInputError),
    ("int_image", lambda w: w.photos.add(images=[5], ids=["n"]), InvalidInputError),
    ("images_empty", lambda w: w.photos.add(images=[], ids=[]), InvalidInputError),
    ("bad_image_after_good_ones", lambda w: w.photos.add(images=[IMG, IMG, b"junk"], ids=["n", "m", "o"]), InvalidInputError),
    ("images_ids_mismatch", lambda w: w.photos.add(images=[IMG], ids=["n", "m"]), InvalidInputError),
    ("image_none_query", lambda w: ov.image(None), InvalidInputError),
    ("search_corrupt_image", lambda w: w.photos.search(ov.image(b"junk")), InvalidInputError),
    ("search_truncated_jpeg", lambda w: w.photos.search(ov.image(JPG[:100])), InvalidInputError),
    ("search_directory", lambda w: w.photos.search(ov.image(str(w.image_dir))), InvalidInputError),
    ("search_float_array", lambda w: w.photos.search(ov.image(np.ones((8, 8, 3)))), InvalidInputError),
    ("search_text_not_str", lambda w: w.photos.search([b"a cat"]), InvalidInputError),
    ("clip_ref_into_text", lambda w: w.notes.search(ov.ref("p0", collection="photos")), SpaceMismatchError),
    ("text_ref_into_clip", lambda w: w.photos.search(ov.ref("a", collection="notes")), SpaceMismatchError),
    ("image_query_into_text", lambda w: w.notes.search(ov.image(IMG)), SpaceMismatchError),
    ("images_into_text", lambda w: w.notes.add(images=[IMG], ids=["n"]), SpaceMismatchError),
    ("clip_vector_wrong_dim", lambda w: w.photos.search(ov.vector(np.ones(w.photos.dim + 1))), DimensionMismatchError),
    ("reopen_clip_other_seed", lambda w: w.plat.collection("photos", seed=1), SpaceMismatchError),
    ("reopen_clip_as_text", lambda w: w.plat.collection("photos", encoder="text"), SpaceMismatchError),
    ("clip_fit_into_full_collection", lambda w: w.photos.encoder.fit([(IMG, "a square"), (IMG, "a box")]), SpaceMismatchError),
    ("clip_without_weights", lambda w: w.plat.collection("newclip", encoder="clip", model="tiny", model_cfg=TINY["model_cfg"]), Exception),
]  # fmt: skip


def _graph_fit(graph: Any, **kw: Any) -> Callable[[World], Any]:
    return lambda w: w.graph.fit(graph, **kw)


def _nx(edges: Sequence[Any], **attrs: Any) -> Any:
    import networkx as nx

    g = nx.Graph()
    for u, v, *rest in edges:
        g.add_edge(u, v, **(rest[0] if rest else {}))
    return g


def _pyg(edge_index: Any, **kw: Any) -> Any:
    import torch
    from torch_geometric.data import Data

    return Data(edge_index=torch.tensor(edge_index), **kw)


GRAPH_ROWS: list[Row] = [
    ("inf_weight", _graph_fit([(1, 2, float("inf"))]), InvalidInputError),
    ("minus_inf_weight", _graph_fit([(1, 2, -float("inf"))]), InvalidInputError),
    ("str_weight", _graph_fit([(1, 2, "3")]), InvalidInputError),
    ("bool_weight", _graph_fit([(1, 2, True)]), InvalidInputError),
    ("none_node", _graph_fit([(None, 2)]), InvalidInputError),
    ("float_node", _graph_fit([(1.5, 2)]), InvalidInputError),
    ("tuple_node", _graph_fit([((1, 2), 3)]), InvalidInputError),
    ("bool_node", _graph_fit([(True, 2)]), InvalidInputError),
    ("bytes_node", _graph_fit([(b"a", 2)]), InvalidInputError),
    ("huge_node_id", _graph_fit([("x" * 5000, 2)]), InvalidInputError),
    ("edge_not_tuple", _graph_fit([1, 2]), InvalidInputError),
    ("dict_graph", _graph_fit({1: 2}), InvalidInputError),
    ("int_graph", _graph_fit(5), InvalidInputError),
    ("nx_empty", _graph_fit(_nx([])), InvalidInputError),
    ("nx_isolated_nodes_only", lambda w: w.graph.fit(__import__("networkx").empty_graph(5)), InvalidInputError),
    ("nx_nan_weight", _graph_fit(_nx([(0, 1, {"weight": float("nan")})])), InvalidInputError),
    ("nx_negative_weight", _graph_fit(_nx([(0, 1, {"weight": -1})])), InvalidInputError),
    ("nx_tuple_nodes", lambda w: w.graph.fit(__import__("networkx").grid_2d_graph(2, 2)), InvalidInputError),
    ("nx_float_nodes", _graph_fit(_nx([(0.5, 1.5)])), InvalidInputError),
    ("nx_directed_conflict", _graph_fit(_nx([(0, 1)]), directed=True), InvalidInputError),
    ("pyg_out_of_range", _graph_fit(_pyg([[0, 1], [1, 9]], num_nodes=3)), InvalidInputError),
    ("pyg_negative_index", _graph_fit(_pyg([[0, -1], [1, 0]], num_nodes=3)), InvalidInputError),
    ("pyg_float_index", _graph_fit(_pyg([[0.0, 1.0], [1.0, 0.0]])), InvalidInputError),
    ("pyg_bad_shape", _graph_fit(_pyg([[0, 1, 2]])), InvalidInputError),
    ("pyg_weight_shape", lambda w: w.graph.fit(_pyg([[0, 1], [1, 0]], edge_weight=__import__("torch").ones(3))), InvalidInputError),
    ("pyg_negative_weight", lambda w: w.graph.fit(_pyg([[0, 1], [1, 0]], edge_weight=__import__("torch").tensor([1.0, -1.0]))), InvalidInputError),
    ("pyg_no_edges", lambda w: w.graph.fit(_pyg([[], []], num_nodes=3)), InvalidInputError),
    ("init_wrong_dim", _graph_fit([(0, 1), (1, 2)], init={0: np.ones(3)}), DimensionMismatchError),
    ("init_nan", _graph_fit([(0, 1), (1, 2)], init={0: np.full(8, np.nan)}), InvalidInputError),
    ("init_not_dict", _graph_fit([(0, 1), (1, 2)], init=[np.ones(8)]), InvalidInputError),
    ("unknown_override", _graph_fit([(0, 1)], walk_length=3), InvalidInputError),
    ("bad_epochs", _graph_fit([(0, 1)], epochs=0), InvalidInputError),
    ("bad_lr", _graph_fit([(0, 1)], lr=float("nan")), InvalidInputError),
    ("bad_threads", _graph_fit([(0, 1)], threads=0), InvalidInputError),
    ("fit_raw_collection", lambda w: w.notes.fit([(0, 1)]), InvalidInputError),
    ("reopen_graph_other_p", lambda w: w.plat.collection("g", p=2.0), SpaceMismatchError),
    ("graph_bad_config", lambda w: w.plat.collection("newg", encoder="node2vec", context_size=1), InvalidInputError),
    ("graph_ref_unknown_node", lambda w: w.graph.search(ov.ref(99)), NotFoundError),
    ("graph_ref_str_of_int", lambda w: w.graph.search(ov.ref("0")), NotFoundError),
    ("graph_text_query", lambda w: w.graph.search("node zero"), SpaceMismatchError),
    ("graph_ref_from_clip", lambda w: w.graph.search(ov.ref("p0", collection="photos")), SpaceMismatchError),
]  # fmt: skip

ROWS = [("rec_" + r[0], *r[1:]) for r in REC_ROWS] + [("clip_" + r[0], *r[1:]) for r in CLIP_ROWS]
ROWS += [("graph_" + r[0], *r[1:]) for r in GRAPH_ROWS]


@pytest.mark.parametrize(("case", "call", "error"), ROWS, ids=[r[0] for r in ROWS])
def test_python_api(
    world: World, case: str, call: Callable[[World], Any], error: type[Exception]
) -> None:
    with pytest.raises(error) as info:
        call(world)
    assert isinstance(info.value, ov.errors.OmnivecError), repr(info.value)
    one_line(info.value)
    assert world.state() == world.before


# -- what is accepted, and how -----------------------------------------------------------------
def test_duplicate_interactions_add_up(plat: ov.Platform) -> None:
    """Repeated (user, item) pairs are summed (a scipy COO -> CSR conversion, as implicit users
    build their matrices), in tuples and DataFrames alike; ALS reads a negative sum as a dislike."""
    rec = plat.recommender("dups", algorithm="als", **REC)
    rec.fit([("a", "x", 1.0), ("a", "x", 2.0), ("a", "y", 1.0), ("b", "y", 1.0), ("b", "x", -0.5)])
    assert rec.history("a") == {"x": 3.0, "y": 1.0}
    assert rec.history("b") == {"y": 1.0, "x": -0.5}
    frame = pd.DataFrame(
        {"user": ["a", "a", "b"], "item": ["x", "x", "y"], "weight": [1.0, 4.0, 1.0]}
    )
    rec.fit(frame)
    assert rec.history("a") == {"x": 5.0}
    assert rec.recommend("a", k=5, exclude_seen=True) == [
        h for h in rec.recommend("a", k=5) if h.id != "x"
    ]


def test_fold_in_ignores_unknown_items_and_stores_nothing(world: World) -> None:
    known = world.rec.recommend("new", k=5, interactions=[("i1", 2.0), ("i2", 1.0)])
    mixed = world.rec.recommend("new", k=5, interactions=[("i1", 2.0), ("zz", 9.0), ("i2", 1.0)])
    assert [h.id for h in mixed] == [h.id for h in known]
    assert [h.score for h in mixed] == pytest.approx([h.score for h in known])
    # a text query on the CLIP collection is fine (CLIP encodes text): no error, nothing stored
    assert len(world.photos.search("a photo of a cat", k=3)) == 3
    assert world.state() == world.before


def test_clip_failure_in_a_later_chunk_writes_nothing(world: World) -> None:
    """A corrupt image at item 1,030 of a 1,031-image batch (the second encoder call): nothing."""
    images: list[Any] = make_images(ENCODE_CHUNK + 6, seed=3, size=8)
    images.append(PNG[:60])
    with pytest.raises(InvalidInputError) as info:
        world.photos.add(images=images, ids=[f"big{i}" for i in range(len(images))])
    one_line(info.value)
    assert "item 6" in str(info.value) and str(ENCODE_CHUNK) in str(info.value)
    assert world.state() == world.before


def test_graph_self_loops_only_and_isolated_nodes(plat: ov.Platform) -> None:
    import networkx as nx

    g = plat.collection("loops", encoder="node2vec", seed=0, **GRAPH)
    g.fit([(1, 1), (2, 2)])  # only self-loops: walks stay put, every node still gets a vector
    assert sorted(g.ids()) == [1, 2]
    graph = nx.Graph([(0, 1)])
    graph.add_nodes_from(["alone", 7])
    g.fit(graph)
    assert sorted(map(str, g.ids())) == ["0", "1", "7", "alone"]  # stale nodes 1, 2 ... replaced
    assert all(np.isfinite(r.vector).all() for r in g.get(["alone", 7, 0, 1]))


# -- re-fits that fail inside the store ----------------------------------------------------
class FailingStore(MilvusStore):
    """The real Milvus store whose ``fail_on``-th vector write (or every delete, also the
    one inside an upsert, with ``fail_delete``; or every catalog write, with ``fail_docs``)
    raises as if the connection dropped."""

    def __init__(self, uri: str) -> None:
        self.fail_on, self.calls, self.fail_delete, self.fail_docs = 0, 0, False, False
        super().__init__(uri)

    def _call(self, what: str, fn: Any, where: str | None = None) -> Any:
        if self.fail_delete and what == "delete rows":
            raise StoreUnavailableError("lost the connection to Milvus (injected)")
        return super()._call(what, fn, where)

    def put_doc(self, key: str, doc: dict[str, Any]) -> None:
        # The marker of a fit under way is written; the record of its new space is not.
        if self.fail_docs and doc.get("fitting") is None:
            raise StoreUnavailableError("lost the connection to Milvus (injected)")
        super().put_doc(key, doc)

    def _write(self, name: str, *args: Any, **kwargs: Any) -> None:
        self.calls += 1
        if self.calls == self.fail_on:
            raise StoreUnavailableError("lost the connection to Milvus (injected)")
        super()._write(name, *args, **kwargs)

    def delete(self, name: str, keys: Sequence[str]) -> int:
        if self.fail_delete:
            raise StoreUnavailableError("lost the connection to Milvus (injected)")
        return super().delete(name, keys)


def _rec_state(rec: Any) -> tuple[Any, ...]:
    return (snapshot(rec.users), snapshot(rec.items), rec.space, rec.users.space, rec.items.space)


def test_recommender_refit_failing_in_its_first_write_keeps_the_old_model(tmp_path: Path) -> None:
    store = FailingStore(str(tmp_path / "r.db"))
    with ov.Platform(store=store) as plat:
        rec = plat.recommender("r", algorithm="als", **REC)
        rec.fit(interactions(60, 50))
        before, hits = _rec_state(rec), rec.recommend("u1", k=5)
        store.calls, store.fail_on = 0, 1
        with pytest.raises(StoreUnavailableError):
            rec.fit(interactions(70, 50, seed=4))  # trains, then the first vector write fails
        assert _rec_state(rec) == before and rec.recommend("u1", k=5) == hits
        assert rec.encoder.space == rec.space  # the encoder is back on the stored model
    with ov.connect(str(tmp_path / "r.db")) as plat:  # and so is the catalog
        rec = plat.recommender("r")
        assert _rec_state(rec) == before and rec.recommend("u1", k=5) == hits


def test_recommender_refit_failing_later_keeps_the_old_model(tmp_path: Path) -> None:
    store = FailingStore(str(tmp_path / "r.db"))
    with ov.Platform(store=store) as plat:
        rec = plat.recommender("r", algorithm="als", **REC)
        rec.fit(interactions(60, 50))
        before, hits = _rec_state(rec), rec.recommend("u1", k=5)
        store.calls, store.fail_on = 0, 2  # users written, the items write fails: undone
        with pytest.raises(StoreUnavailableError):
            rec.fit(interactions(60, 50, seed=4))
        assert _rec_state(rec) == before and rec.recommend("u1", k=5) == hits
        rec.fit(interactions(60, 50, seed=5))
        assert len(rec.recommend("u1", k=5)) == 5


def test_graph_refit_failing_after_training_keeps_the_old_vectors(tmp_path: Path) -> None:
    store = FailingStore(str(tmp_path / "g.db"))
    ring = [(i, (i + 1) % 700) for i in range(700)]  # 700 nodes: two vector writes
    with ov.Platform(store=store) as plat:
        g = plat.collection("g", encoder="node2vec", seed=0, **GRAPH)
        g.fit(ring)
        before, space = snapshot(g), g.space
        store.calls, store.fail_on = 0, 2  # walks and training done; the 2nd write fails
        with pytest.raises(StoreUnavailableError):
            g.fit(ring, epochs=2)
        assert snapshot(g) == before and g.space == space and g.encoder.space == space
        store.fail_on, store.fail_delete = 0, True  # the vanished nodes' delete fails
        with pytest.raises(StoreUnavailableError):
            g.fit(ring[:-5], epochs=2)  # one guarded write: the new vectors are undone too
        assert snapshot(g) == before and g.space == space and g.encoder.space == space
        store.fail_delete, store.fail_docs = False, True  # vectors written, space not recorded
        with pytest.raises(StoreUnavailableError):
            g.fit(ring, epochs=2)
        store.fail_docs = False
        with pytest.raises(StoreError, match="run its fit again"):
            g.search(ov.ref(0))
        with pytest.raises(StoreError, match="without warm_start"):
            g.fit(ring, warm_start=True)
        g.fit(ring, epochs=2)
        assert len(g) == 700 and g.space != space and len(g.search(ov.ref(0), k=3)) == 3


# -- the CLI -------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def cli_db(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Path]:
    tmp = tmp_path_factory.mktemp("recs-cli")
    db = str(tmp / "cli.db")
    with ov.connect(db) as plat:
        plat.recommender("movies", algorithm="als", **REC).fit(interactions())
        plat.recommender("bprs", algorithm="bpr", **REC).fit(interactions(seed=1))
    files = {
        "nan.csv": "user,item,weight\nu1,i1,1\nu2,i2,nan\n",
        "inf.csv": "user,item,weight\nu1,i1,inf\n",
        "neg.csv": "user,item,weight\nu1,i1,1\nu2,i2,-3\n",
        "words.csv": "user,item,weight\nu1,i1,heavy\n",
        "header_only.csv": "user,item,weight\n",
        "no_item.csv": "user,thing\nu1,i1\n",
        "zeros.csv": "user,item,weight\nu1,i1,0\n",
        "empty.csv": "",
        "missing_user.csv": "user,item\n,i1\nu2,i2\n",
    }
    for name, text in files.items():
        (tmp / name).write_text(text)
    return db, tmp


def _cli_rows() -> list[tuple[str, list[str]]]:
    fit = [
        ("fit_nan_weight", "movies", "nan.csv"), ("fit_inf_weight", "movies", "inf.csv"),
        ("fit_words_weight", "movies", "words.csv"), ("fit_header_only", "movies", "header_only.csv"),
        ("fit_missing_column", "movies", "no_item.csv"), ("fit_zero_weights", "movies", "zeros.csv"),
        ("fit_empty_file", "movies", "empty.csv"), ("fit_missing_user", "movies", "missing_user.csv"),
        ("fit_bpr_negative", "bprs", "neg.csv"), ("fit_new_name_bad_data", "fresh", "nan.csv"),
        ("fit_missing_file", "movies", "nope.csv"),
    ]  # fmt: skip
    return [(c, ["fit-recs", n, f"@{f}"]) for c, n, f in fit] + [
        ("recommend_unknown_user", ["recommend", "movies", "nope"]),
        ("recommend_injection", ["recommend", "movies", INJECT]),
        ("recommend_unknown_recommender", ["recommend", "nope", "u1"]),
        ("recommend_bad_name", ["recommend", 'x" or "', "u1"]),
        ("recommend_k_zero", ["recommend", "movies", "u1", "-k", "0"]),
        ("recommend_k_huge", ["recommend", "movies", "u1", "-k", "16385"]),
        ("recommend_k_word", ["recommend", "movies", "u1", "-k", "ten"]),
        ("recommend_bad_where", ["recommend", "movies", "u1", "--where", "year >"]),
        ("similar_unknown_item", ["similar-items", "movies", "nope"]),
        ("similar_unknown_recommender", ["similar-items", "nope", "i1"]),
        ("similar_k_zero", ["similar-items", "movies", "i1", "-k", "0"]),
    ]


@pytest.mark.parametrize(("case", "argv"), _cli_rows(), ids=[r[0] for r in _cli_rows()])
def test_cli(cli_db: tuple[str, Path], case: str, argv: list[str]) -> None:
    from typer.testing import CliRunner

    from omnivec.cli import app

    db, tmp = cli_db
    with ov.connect(db) as plat:
        before = {n: _rec_state(plat.recommender(n)) for n in ("movies", "bprs")}
    argv = [str(tmp / a[1:]) if a.startswith("@") else a for a in argv]
    result = CliRunner().invoke(app, [*argv, "--db", db])
    assert result.exit_code in (1, 2), (result.exit_code, result.output)
    err = result.stderr.strip()
    assert (err and result.exception is None) or isinstance(result.exception, SystemExit)
    if result.exit_code == 1:  # omnivec's own errors: exactly one line saying what to do
        assert len(err.splitlines()) == 1 and err.startswith("error: "), err
    with ov.connect(db) as plat:
        assert plat.recommenders() == ["bprs", "movies"]
        assert {n: _rec_state(plat.recommender(n)) for n in ("movies", "bprs")} == before


# -- the HTTP API ------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def http(world: World) -> Iterator[Any]:
    from fastapi.testclient import TestClient

    from omnivec.server import create_app

    with TestClient(create_app(world.plat), raise_server_exceptions=False) as client:
        yield client


R = "/recommenders/movies/recommend"
S = "/recommenders/movies/similar-items"
HTTP_ROWS: list[tuple[str, str, Any, int]] = [
    ("unknown_user", R, {"user": "nope"}, 404),
    ("unknown_user_injection", R, {"user": INJECT}, 404),
    ("unknown_user_in_batch", R, {"users": ["u1", "nope"]}, 404),
    ("unknown_recommender", "/recommenders/nope/recommend", {"user": "u1"}, 404),
    ("bad_recommender_name", "/recommenders/x%22%20or%20%22/recommend", {"user": "u1"}, 400),
    ("no_user", R, {"k": 3}, 400),
    ("user_and_users", R, {"user": "u1", "users": ["u2"]}, 400),
    ("user_float", R, {"user": 1.5}, 422),
    ("user_null_list", R, {"users": [None]}, 422),
    ("user_object", R, {"user": {"id": "u1"}}, 422),
    ("k_zero", R, {"user": "u1", "k": 0}, 400),
    ("k_huge", R, {"user": "u1", "k": 16385}, 400),
    ("k_negative", R, {"user": "u1", "k": -2}, 400),
    ("k_str", R, {"user": "u1", "k": "5"}, 422),
    ("k_float", R, {"user": "u1", "k": 2.5}, 422),
    ("where_malformed", R, {"user": "u1", "where": "year >"}, 400),
    ("where_injection", R, {"user": "u1", "where": 'pk != "" or'}, 400),
    ("fold_in_unknown_items", R, {"user": "new", "interactions": [["zz", 1.0]]}, 404),
    ("fold_in_empty", R, {"user": "new", "interactions": []}, 400),
    ("fold_in_str_weight", R, {"user": "new", "interactions": [["i1", "x"]]}, 422),
    ("fold_in_for_batch", R, {"users": ["u1"], "interactions": ["i1"]}, 400),
    ("unknown_field", R, {"user": "u1", "bogus": 1}, 422),
    ("similar_unknown_item", S, {"item": "nope"}, 404),
    ("similar_with_user", S, {"user": "u1"}, 400),
    ("similar_k_zero", S, {"item": "i1", "k": 0}, 400),
]


@pytest.mark.parametrize(
    ("case", "path", "body", "status"), HTTP_ROWS, ids=[r[0] for r in HTTP_ROWS]
)
def test_http(world: World, http: Any, case: str, path: str, body: Any, status: int) -> None:
    resp = http.post(path, json=body)
    assert resp.status_code == status, resp.text
    payload = resp.json()
    assert (
        set(payload) == {"error", "detail"} and payload["detail"] and "\n" not in payload["detail"]
    )
    assert world.state() == world.before

"""Bad input, in every face: each row asserts the documented error class, a one-line message,
and that the stored rows are unchanged afterwards (DESIGN.md "Details that users rely on").

Python API rows run against a real Lite file with a raw-vector collection, a text collection
(the bundled MiniLM) and a plugin-encoder collection of the same dim as the raw one (another
space). CLI rows run `omnivec` through typer's CliRunner; HTTP rows run the FastAPI app in
process; graph rows fit node2vec on bad graphs.
"""

from __future__ import annotations

import importlib.util
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import omnivec as ov
from omnivec.errors import (
    DimensionMismatchError,
    InvalidInputError,
    NotFoundError,
    OmnivecError,
    SpaceMismatchError,
    StoreUnavailableError,
)
from tests.helpers.checks import INJECT, one_line, snapshot
from tests.helpers.encoders import HashEncoder

DIM = 8


class World:
    """The collections every row runs against, and their contents before the row."""

    def __init__(self, plat: ov.Platform, text_encoder: Any) -> None:
        self.plat = plat
        self.raw = plat.collection("raw", dim=DIM, metric="cosine")
        vecs = np.random.default_rng(0).standard_normal((6, DIM)).astype(np.float32)
        self.raw.add(
            vectors=vecs,
            ids=["a", "b", 'q"uote', "back\\slash", 7, 2**62],
            metadata=[{"lang": "en", "n": i} for i in range(6)],
        )
        self.hashed = plat.collection("hashed", encoder=HashEncoder.name)
        self.hashed.add(["x", "y", "z"], ids=["a", "b", "c"])
        # Reuse the session's loaded model for the text collection.
        plat._encoders[("text", _config_key(text_encoder))] = text_encoder
        self.text = plat.collection("docs", encoder="text")
        self.text.add(["I love cats", "Stocks fell"], ids=["a", "b"], metadata=[{"lang": "en"}] * 2)
        self.before = self.state()

    def state(self) -> dict[str, Any]:
        return {
            "names": self.plat.collections(),
            **{c.name: snapshot(c) for c in (self.raw, self.hashed, self.text)},
        }


def _config_key(enc: Any) -> str:
    import json

    return json.dumps(enc.config(), sort_keys=True, default=str)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory, text_encoder: Any) -> Iterator[World]:
    with ov.connect(str(tmp_path_factory.mktemp("bad") / "bad.db")) as plat:
        yield World(plat, text_encoder)


V = np.ones(DIM, dtype=np.float32)


def _search_with_k(k: Any) -> Callable[[World], Any]:
    return lambda w: w.raw.search(ov.vector(V), k=k)


Row = tuple[str, Callable[[World], Any], type[Exception]]

PYTHON_ROWS: list[Row] = [
    # empty, None, wrong types
    ("add_empty_list", lambda w: w.text.add([]), InvalidInputError),
    ("add_nothing", lambda w: w.text.add(None), InvalidInputError),
    ("add_two_inputs", lambda w: w.raw.add(["t"], vectors=[V]), InvalidInputError),
    ("add_bare_str", lambda w: w.text.add("I love cats"), InvalidInputError),
    ("add_empty_vectors", lambda w: w.raw.add(vectors=np.zeros((0, DIM))), InvalidInputError),
    ("add_vectors_none", lambda w: w.raw.add(vectors=None), InvalidInputError),
    ("add_vectors_strings", lambda w: w.raw.add(vectors=[["x"] * DIM]), InvalidInputError),
    ("add_ids_str", lambda w: w.raw.add(vectors=[V], ids="a"), InvalidInputError),
    ("add_ids_empty", lambda w: w.raw.add(vectors=[V], ids=[]), InvalidInputError),
    ("add_metadata_dict", lambda w: w.raw.add(vectors=[V], ids=["n"], metadata={"a": 1}), InvalidInputError),
    ("add_metadata_not_dict", lambda w: w.raw.add(vectors=[V], ids=["n"], metadata=["x"]), InvalidInputError),
    ("add_text_to_raw", lambda w: w.raw.add(["text"], ids=["n"]), SpaceMismatchError),
    ("add_bytes_text", lambda w: w.text.add([b"bytes"], ids=["n"]), InvalidInputError),
    ("add_int_text", lambda w: w.text.add([5], ids=["n"]), InvalidInputError),
    ("add_none_text", lambda w: w.text.add([None], ids=["n"]), InvalidInputError),
    ("add_surrogate_text", lambda w: w.text.add(["bad \ud800"], ids=["n"]), InvalidInputError),
    ("add_replace_with_nan", lambda w: w.raw.add(vectors=[[np.nan] * DIM], ids=["a"]), InvalidInputError),
    ("add_inf", lambda w: w.raw.add(vectors=[[np.inf] * DIM], ids=["n"]), InvalidInputError),
    ("add_wrong_dim", lambda w: w.raw.add(vectors=[[1.0] * (DIM - 1)], ids=["a"]), DimensionMismatchError),
    ("add_3d_vectors", lambda w: w.raw.add(vectors=np.ones((1, 1, DIM)), ids=["n"]), InvalidInputError),
    ("add_duplicate_ids", lambda w: w.raw.add(vectors=[V, V], ids=["n", "n"]), InvalidInputError),
    ("add_int_and_same_str_is_fine_but_dup_int", lambda w: w.raw.add(vectors=[V, V], ids=[3, np.int64(3)]), InvalidInputError),
    ("add_float_id", lambda w: w.raw.add(vectors=[V], ids=[1.0]), InvalidInputError),
    ("add_none_id", lambda w: w.raw.add(vectors=[V], ids=[None]), InvalidInputError),
    ("add_bool_id", lambda w: w.raw.add(vectors=[V], ids=[False]), InvalidInputError),
    ("add_tuple_id", lambda w: w.raw.add(vectors=[V], ids=[("a", 1)]), InvalidInputError),
    ("add_bytes_id", lambda w: w.raw.add(vectors=[V], ids=[b"a"]), InvalidInputError),
    ("add_huge_id", lambda w: w.raw.add(vectors=[V], ids=["x" * 5000]), InvalidInputError),
    ("add_mismatched_ids", lambda w: w.raw.add(vectors=[V, V], ids=["n"]), InvalidInputError),
    ("add_mismatched_metadata", lambda w: w.raw.add(vectors=[V], ids=["n"], metadata=[{}, {}]), InvalidInputError),
    # metadata keys: injection attempts and names that would shadow fields
    ("meta_key_injection", lambda w: w.raw.add(vectors=[V], ids=["n"], metadata=[{'a" or 1==1 or "': 1}]), InvalidInputError),
    ("meta_key_space", lambda w: w.raw.add(vectors=[V], ids=["n"], metadata=[{"a b": 1}]), InvalidInputError),
    ("meta_key_dollar", lambda w: w.raw.add(vectors=[V], ids=["n"], metadata=[{"$meta": 1}]), InvalidInputError),
    ("meta_key_pk", lambda w: w.raw.add(vectors=[V], ids=["n"], metadata=[{"pk": 1}]), InvalidInputError),
    ("meta_key_vector", lambda w: w.raw.add(vectors=[V], ids=["n"], metadata=[{"vector": 1}]), InvalidInputError),
    ("meta_key_int", lambda w: w.raw.add(vectors=[V], ids=["n"], metadata=[{1: 1}]), InvalidInputError),
    ("meta_key_empty", lambda w: w.raw.add(vectors=[V], ids=["n"], metadata=[{"": 1}]), InvalidInputError),
    ("meta_value_object", lambda w: w.raw.add(vectors=[V], ids=["n"], metadata=[{"a": object()}]), InvalidInputError),
    ("meta_value_bytes", lambda w: w.raw.add(vectors=[V], ids=["n"], metadata=[{"a": b"x"}]), InvalidInputError),
    ("meta_value_inf", lambda w: w.raw.add(vectors=[V], ids=["n"], metadata=[{"a": float("inf")}]), InvalidInputError),
    ("meta_value_int128", lambda w: w.raw.add(vectors=[V], ids=["n"], metadata=[{"a": -(2**64)}]), InvalidInputError),
    ("meta_value_surrogate", lambda w: w.raw.add(vectors=[V], ids=["n"], metadata=[{"a": {"b": "\udfff"}}]), InvalidInputError),
    ("meta_value_nested_key_int", lambda w: w.raw.add(vectors=[V], ids=["n"], metadata=[{"a": {1: 2}}]), InvalidInputError),
    # k
    *[
        (f"k_{name}", _search_with_k(k), InvalidInputError)
        for name, k in [
            ("zero", 0), ("negative", -1), ("true", True), ("false", False), ("huge", 16_385),
            ("giant", 10**12), ("float", 2.0), ("str", "5"), ("none", None),
        ]
    ],
    ("min_score_nan", lambda w: w.raw.search(ov.vector(V), min_score=float("nan")), InvalidInputError),
    ("min_score_str", lambda w: w.raw.search(ov.vector(V), min_score="0.5"), InvalidInputError),
    # queries
    ("search_none", lambda w: w.raw.search(None), InvalidInputError),
    ("search_bytes", lambda w: w.text.search(b"cats"), InvalidInputError),
    ("search_int", lambda w: w.raw.search(5), InvalidInputError),
    ("search_empty_list", lambda w: w.raw.search([]), InvalidInputError),
    ("search_text_in_raw", lambda w: w.raw.search("cats"), SpaceMismatchError),
    ("search_surrogate", lambda w: w.text.search("\udcff"), InvalidInputError),
    ("search_wrong_dim", lambda w: w.raw.search(ov.vector(np.ones(DIM + 1))), DimensionMismatchError),
    ("search_wrong_dim_batch", lambda w: w.raw.search(ov.vector(np.ones((2, DIM + 1)))), DimensionMismatchError),
    ("vector_nan", lambda w: w.raw.search(ov.vector([np.nan] * DIM)), InvalidInputError),
    ("vector_inf", lambda w: ov.vector([np.inf] * DIM), InvalidInputError),
    ("vector_empty", lambda w: ov.vector([]), InvalidInputError),
    ("vector_strings", lambda w: ov.vector(["a", "b"]), InvalidInputError),
    ("image_none", lambda w: ov.image(None), InvalidInputError),
    ("image_into_text", lambda w: w.text.search(ov.image(b"not an image")), SpaceMismatchError),
    ("ref_unknown", lambda w: w.raw.search(ov.ref("nope")), NotFoundError),
    ("ref_injection", lambda w: w.raw.search(ov.ref(INJECT)), NotFoundError),
    ("ref_float", lambda w: w.raw.search(ov.ref(1.5)), InvalidInputError),
    ("ref_unknown_collection", lambda w: w.raw.search(ov.ref("a", collection="nope")), NotFoundError),
    ("ref_bad_collection_name", lambda w: w.raw.search(ov.ref("a", collection='x" or "')), InvalidInputError),
    ("ref_cross_space_same_dim", lambda w: w.raw.search(ov.ref("a", collection="hashed")), SpaceMismatchError),
    ("ref_cross_space_other_dim", lambda w: w.raw.search(ov.ref("a", collection="docs")), SpaceMismatchError),
    # filters
    ("where_malformed", lambda w: w.raw.search(ov.vector(V), where="lang =="), InvalidInputError),
    ("where_semicolon", lambda w: w.raw.search(ov.vector(V), where="1; drop"), InvalidInputError),
    ("where_unbalanced_quote", lambda w: w.raw.search(ov.vector(V), where='lang == "en'), InvalidInputError),
    ("where_not_str", lambda w: w.raw.search(ov.vector(V), where=5), InvalidInputError),
    ("where_bytes", lambda w: w.raw.search(ov.vector(V), where=b'lang == "en"'), InvalidInputError),
    ("count_where_malformed", lambda w: w.raw.count(where="n >"), InvalidInputError),
    ("ids_where_malformed", lambda w: w.raw.ids(where="n >"), InvalidInputError),
    # get / delete
    ("get_unknown", lambda w: w.raw.get(["nope"]), NotFoundError),
    ("get_injection", lambda w: w.raw.get([INJECT]), NotFoundError),
    ("get_backslash_quote", lambda w: w.raw.get(['\\" or ""=="']), NotFoundError),
    ("get_str_of_int_id", lambda w: w.raw.get(["7"]), NotFoundError),
    ("get_empty", lambda w: w.raw.get([]), InvalidInputError),
    ("get_none", lambda w: w.raw.get(None), InvalidInputError),
    ("get_bare_str", lambda w: w.raw.get("a"), InvalidInputError),
    ("delete_empty", lambda w: w.raw.delete([]), InvalidInputError),
    ("delete_float_id", lambda w: w.raw.delete([1.5]), InvalidInputError),
    # collections: names, unknown, reopening with another space
    ("name_injection", lambda w: w.plat.collection('x" or "1', dim=DIM), InvalidInputError),
    ("name_path", lambda w: w.plat.collection("../etc", dim=DIM), InvalidInputError),
    ("name_empty", lambda w: w.plat.collection("", dim=DIM), InvalidInputError),
    ("name_too_long", lambda w: w.plat.collection("a" * 256, dim=DIM), InvalidInputError),
    ("name_reserved", lambda w: w.plat.collection("_omnivec_catalog", dim=DIM), InvalidInputError),
    ("name_unicode", lambda w: w.plat.collection("café", dim=DIM), InvalidInputError),
    ("name_not_str", lambda w: w.plat.collection(5, dim=DIM), InvalidInputError),
    ("unknown_collection", lambda w: w.plat.get_collection("nope"), NotFoundError),
    ("unknown_collection_no_spec", lambda w: w.plat.collection("nope"), InvalidInputError),
    ("drop_bad_name", lambda w: w.plat.drop('x" or "'), InvalidInputError),
    ("create_bad_dim", lambda w: w.plat.collection("newc", dim=0), InvalidInputError),
    ("create_bool_dim", lambda w: w.plat.collection("newc", dim=True), InvalidInputError),
    ("create_bad_metric", lambda w: w.plat.collection("newc", dim=4, metric="hamming"), InvalidInputError),
    ("create_bad_index", lambda w: w.plat.collection("newc", dim=4, index="annoy"), InvalidInputError),
    ("create_unknown_encoder", lambda w: w.plat.collection("newc", encoder="nope"), NotFoundError),
    ("create_options_without_encoder", lambda w: w.plat.collection("newc", dim=4, p=1.0), InvalidInputError),
    ("reopen_other_dim", lambda w: w.plat.collection("raw", dim=DIM + 1), SpaceMismatchError),
    ("reopen_other_metric", lambda w: w.plat.collection("raw", metric="l2"), SpaceMismatchError),
    ("reopen_raw_with_encoder", lambda w: w.plat.collection("raw", encoder="text"), SpaceMismatchError),
    ("reopen_raw_with_options", lambda w: w.plat.collection("raw", model="m"), SpaceMismatchError),
    ("reopen_text_other_encoder", lambda w: w.plat.collection("docs", encoder=HashEncoder.name), SpaceMismatchError),
    ("reopen_text_other_model", lambda w: w.plat.collection("docs", model="/nonexistent/model"), SpaceMismatchError),
    ("reopen_hashed_other_dim", lambda w: w.plat.collection("hashed", dim=16), SpaceMismatchError),
    # where the store is
    ("lite_path_is_dir", lambda w: ov.connect(str(w.tmp / "dir.db")), InvalidInputError),
    ("lite_bad_name", lambda w: ov.connect(str(w.tmp / "bad name!.db")), InvalidInputError),
    ("lite_long_name", lambda w: ov.connect(str(w.tmp / ("x" * 40 + ".db"))), InvalidInputError),
    ("lite_not_db", lambda w: ov.connect(str(w.tmp / "file.txt")), InvalidInputError),
    ("lite_unwritable", lambda w: ov.connect("/proc/nope/x.db"), StoreUnavailableError),
    ("lite_open_elsewhere", lambda w: ov.connect(w.locked_db), StoreUnavailableError),
    ("server_unreachable", lambda w: ov.connect("http://127.0.0.1:1", timeout=2), StoreUnavailableError),
    ("server_bad_scheme", lambda w: ov.connect("ftp://host/x.db"), InvalidInputError),
]  # fmt: skip


@pytest.fixture(scope="module")
def places(world: World, tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """A folder named like a db, and a Lite file held open by another process."""
    import subprocess
    import sys

    tmp = tmp_path_factory.mktemp("places")
    (tmp / "dir.db").mkdir()
    world.tmp = tmp  # type: ignore[attr-defined]
    world.locked_db = str(tmp / "held.db")  # type: ignore[attr-defined]
    holder = subprocess.Popen(
        [sys.executable, "-c", "import omnivec as ov, sys; p = ov.connect(sys.argv[1]); "
         "print('ready', flush=True); sys.stdin.read()", world.locked_db],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
        cwd=Path(__file__).resolve().parent.parent,
    )  # fmt: skip
    assert holder.stdout is not None and holder.stdout.readline().strip() == "ready"
    yield
    assert holder.stdin is not None
    holder.stdin.close()
    holder.wait(30)


@pytest.mark.parametrize(("case", "call", "error"), PYTHON_ROWS, ids=[r[0] for r in PYTHON_ROWS])
def test_python_api(
    world: World, places: None, case: str, call: Callable[[World], Any], error: type[Exception]
) -> None:
    t0 = time.monotonic()
    with pytest.raises(error) as info:
        call(world)
    assert type(info.value) is error or issubclass(type(info.value), error)
    one_line(info.value)
    assert time.monotonic() - t0 < 10  # nothing hangs (the unreachable server included)
    assert world.state() == world.before


def test_injection_ids_are_plain_ids(world: World) -> None:
    """Ids with quotes and backslashes round-trip and never widen a delete or a get."""
    col = world.plat.collection("inject", dim=DIM)
    try:
        nasty = [INJECT, '" or ""=="', "\\", '\\"', "' or 1=1 --", "a\nb", ""]
        col.add(vectors=np.eye(len(nasty), DIM, dtype=np.float32), ids=nasty)
        col.add(vectors=[V], ids=["keep"])
        assert [r.id for r in col.get(nasty)] == nasty
        assert col.delete(['x" or pk != "']) == 0
        assert col.delete([INJECT]) == 1
        assert sorted(map(str, col.ids())) == sorted(["keep", *nasty[1:]])
        assert col.delete(["unknown", "also unknown"]) == 0
    finally:
        world.plat.drop("inject")
    assert world.state() == world.before


# -- the CLI ---------------------------------------------------------------------------------
HAVE_CLI = importlib.util.find_spec("omnivec.cli") is not None


@pytest.fixture(scope="module")
def cli_db(tmp_path_factory: pytest.TempPathFactory) -> str:
    db = str(tmp_path_factory.mktemp("cli") / "cli.db")
    with ov.connect(db) as plat:
        col = plat.collection("raw", dim=DIM)
        col.add(vectors=np.eye(3, DIM, dtype=np.float32), ids=["a", "b", "c"])
    return db


CLI_ROWS: list[tuple[str, list[str]]] = [
    ("k_zero", ["search", "raw", "--ref", "a", "-k", "0"]),
    ("k_huge", ["search", "raw", "--ref", "a", "-k", "16385"]),
    ("k_negative", ["search", "raw", "--ref", "a", "-k", "-3"]),
    ("unknown_collection", ["search", "nope", "cats"]),
    ("bad_collection_name", ["search", 'x" or "', "cats"]),
    ("unknown_ref", ["search", "raw", "--ref", INJECT]),
    ("text_into_raw", ["search", "raw", "cats"]),
    ("malformed_where", ["search", "raw", "--ref", "a", "--where", "lang =="]),
    ("no_query", ["search", "raw"]),
    ("info_unknown", ["info", "nope"]),
    ("add_missing_file", ["add", "raw", "/nonexistent/file.txt"]),
    ("bad_db_name", ["collections", "--db", "bad name!.db"]),
    ("unreachable_server", ["collections", "--db", "http://127.0.0.1:1"]),
]


@pytest.mark.skipif(not HAVE_CLI, reason="omnivec.cli is not written yet")
@pytest.mark.parametrize(("case", "argv"), CLI_ROWS, ids=[r[0] for r in CLI_ROWS])
def test_cli(cli_db: str, case: str, argv: list[str]) -> None:
    from typer.testing import CliRunner

    from omnivec.cli import app

    if "--db" not in argv:
        argv = [*argv, "--db", cli_db]
    result = CliRunner().invoke(app, argv)
    assert result.exit_code in (1, 2), (result.exit_code, result.output)
    err = result.stderr.strip()
    assert (err and result.exception is None) or isinstance(result.exception, SystemExit)
    if result.exit_code == 1:  # omnivec's own errors: exactly one line
        assert len(err.splitlines()) == 1, err
        assert err.startswith("error: ")
    with ov.connect(cli_db) as plat:
        assert plat.collections() == ["raw"] and len(plat.get_collection("raw")) == 3


# -- the HTTP API --------------------------------------------------------------------------------
HAVE_SERVER = importlib.util.find_spec("omnivec.server") is not None


@pytest.fixture(scope="module")
def http(world: World) -> Iterator[Any]:
    from fastapi.testclient import TestClient

    from omnivec.server import create_app

    with TestClient(create_app(world.plat), raise_server_exceptions=False) as client:
        yield client


DEEP: Any = 1
for _ in range(40):
    DEEP = [DEEP]

HTTP_ROWS: list[tuple[str, str, Any, int]] = [
    ("k_zero", "/collections/raw/search", {"ref": {"id": "a"}, "k": 0}, 400),
    ("k_huge", "/collections/raw/search", {"ref": {"id": "a"}, "k": 16385}, 400),
    ("k_bool", "/collections/raw/search", {"ref": {"id": "a"}, "k": True}, 422),
    ("k_str", "/collections/raw/search", {"ref": {"id": "a"}, "k": "5"}, 422),
    ("unknown_collection", "/collections/nope/search", {"query": "cats"}, 404),
    ("bad_collection_name", "/collections/x%22%20or%20%22/search", {"query": "cats"}, 400),
    ("unknown_ref", "/collections/raw/search", {"ref": {"id": INJECT}}, 404),
    ("cross_space_ref", "/collections/raw/search", {"ref": {"id": "a", "collection": "hashed"}}, 400),
    ("wrong_dim", "/collections/raw/search", {"vector": [1.0] * (DIM + 1)}, 400),
    ("text_into_raw", "/collections/raw/search", {"query": "cats"}, 400),
    ("malformed_where", "/collections/raw/search", {"ref": {"id": "a"}, "where": "lang =="}, 400),
    ("no_query", "/collections/raw/search", {"k": 3}, 400),
    ("two_queries", "/collections/raw/search", {"query": "x", "ref": {"id": "a"}}, 400),
    ("unknown_field", "/collections/raw/search", {"query": "x", "bogus": 1}, 422),
    ("bad_base64_image", "/collections/docs/search", {"image": "%%%not base64"}, 400),
    ("add_empty", "/collections/raw/add", {"vectors": []}, 400),
    ("add_wrong_dim", "/collections/raw/add", {"vectors": [[1.0] * 3], "ids": ["n"]}, 400),
    ("add_ragged", "/collections/raw/add", {"vectors": [[1.0] * DIM, [1.0]], "ids": ["n", "m"]}, 400),
    ("add_duplicate_ids", "/collections/raw/add", {"vectors": [[1.0] * DIM] * 2, "ids": ["n", "n"]}, 400),
    ("add_float_id", "/collections/raw/add", {"vectors": [[1.0] * DIM], "ids": [1.5]}, 422),
    ("add_mismatched", "/collections/raw/add", {"vectors": [[1.0] * DIM], "ids": ["n", "m"]}, 400),
    ("add_bad_meta_key", "/collections/raw/add", {"vectors": [[1.0] * DIM], "ids": ["n"], "metadata": [{"a-b": 1}]}, 400),
    ("add_nested_too_deep", "/collections/raw/add", {"vectors": [[1.0] * DIM], "ids": ["n"], "metadata": [{"a": DEEP}]}, 400),
]  # fmt: skip


@pytest.mark.skipif(not HAVE_SERVER, reason="omnivec.server is not written yet")
@pytest.mark.parametrize(
    ("case", "path", "body", "status"), HTTP_ROWS, ids=[r[0] for r in HTTP_ROWS]
)
def test_http(world: World, http: Any, case: str, path: str, body: Any, status: int) -> None:
    resp = http.post(path, json=body)
    assert 400 <= resp.status_code < 500, (resp.status_code, resp.text)
    assert resp.status_code == status, resp.text
    payload = resp.json()
    assert set(payload) == {"error", "detail"}
    assert payload["detail"] and "\n" not in payload["detail"]
    assert world.state() == world.before


@pytest.mark.skipif(not HAVE_SERVER, reason="omnivec.server is not written yet")
def test_http_not_json(world: World, http: Any) -> None:
    resp = http.post(
        "/collections/raw/search",
        content=b"{not json",
        headers={"content-type": "application/json"},
    )
    assert 400 <= resp.status_code < 500 and set(resp.json()) == {"error", "detail"}


# -- graphs ----------------------------------------------------------------------------------
HAVE_GRAPH = importlib.util.find_spec("omnivec.encoders.node2vec") is not None
SMALL = {"dim": 8, "walk_length": 5, "context_size": 3, "walks_per_node": 2, "epochs": 1, "seed": 0}

GRAPH_ROWS: list[tuple[str, Any]] = [
    ("none", None),
    ("no_edges", []),
    ("one_tuple", [(1,)]),
    ("four_tuple", [(1, 2, 1.0, 9)]),
    ("negative_weight", [(1, 2, -1.0)]),
    ("nan_weight", [(1, 2, float("nan"))]),
    ("zero_weights", [(1, 2, 0.0), (2, 3, 0.0)]),
    ("str_graph", "1 2"),
]


@pytest.mark.skipif(not HAVE_GRAPH, reason="omnivec.encoders.node2vec is not written yet")
@pytest.mark.parametrize(("case", "graph"), GRAPH_ROWS, ids=[r[0] for r in GRAPH_ROWS])
def test_graph_bad_input(module_plat: ov.Platform, case: str, graph: Any) -> None:
    g = module_plat.collection(f"g_{case}", encoder="node2vec", **SMALL)
    g.fit([(0, 1), (1, 2)])
    before = snapshot(g)
    with pytest.raises(InvalidInputError) as info:
        g.fit(graph)
    one_line(info.value)
    assert snapshot(g) == before


@pytest.mark.skipif(not HAVE_GRAPH, reason="omnivec.encoders.node2vec is not written yet")
def test_graph_self_loops_and_isolated_nodes(module_plat: ov.Platform) -> None:
    import networkx as nx

    graph = nx.Graph([(0, 1), (1, 2), (2, 2), ("x", "x")])
    graph.add_node("lonely")
    g = module_plat.collection("g_loops", encoder="node2vec", **SMALL)
    g.fit(graph)
    # Every node is stored (isolated ones too), ids exactly as given.
    assert sorted(map(str, g.ids())) == sorted(map(str, graph.nodes))
    assert all(
        isinstance(r.id, type(n))
        for r, n in zip(g.get(list(graph.nodes)), graph.nodes, strict=True)
    )
    assert len(g.search(ov.ref(0), k=3)) == 3
    with pytest.raises(NotFoundError):
        g.search(ov.ref("not a node"))


def test_error_classes_are_documented() -> None:
    assert issubclass(InvalidInputError, ValueError) and issubclass(NotFoundError, KeyError)
    assert all(
        issubclass(e, OmnivecError)
        for e in (InvalidInputError, NotFoundError, StoreUnavailableError)
    )

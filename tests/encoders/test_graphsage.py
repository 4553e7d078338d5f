"""The graphsage encoder: conformance, new nodes of a labelled kNN graph embedded without
retraining (features from a collection), bad input, and reopening; real torch training and a
real Milvus Lite file."""

from __future__ import annotations

from typing import Any

import networkx as nx
import numpy as np
import pytest
from sklearn.datasets import load_digits
from sklearn.neighbors import KNeighborsClassifier, NearestNeighbors

import omnivec as ov
from omnivec.encoders.graphsage import GraphSAGEEncoder
from tests.encoders.conformance import EncoderConformance

SMALL = {"dim": 16, "hidden": 32, "steps": 30, "seed": 0}


@pytest.fixture(scope="module")
def digits() -> tuple[nx.Graph, np.ndarray, np.ndarray, list[int]]:
    """sklearn's 1,797 digits as a 10-NN graph (pixels as features) and 20% held out."""
    x, y = load_digits(return_X_y=True)
    _, idx = NearestNeighbors(n_neighbors=11).fit(x).kneighbors(x)
    graph = nx.Graph()
    graph.add_nodes_from((i, {"digit": int(y[i])}) for i in range(len(y)))
    graph.add_edges_from((i, int(j)) for i in range(len(y)) for j in idx[i, 1:])
    held = sorted(np.random.default_rng(0).choice(len(y), len(y) // 5, replace=False).tolist())
    return graph, x.astype(np.float32), y, held


@pytest.fixture(scope="module")
def fitted() -> GraphSAGEEncoder:
    enc = GraphSAGEEncoder(**SMALL)
    enc.fit(nx.karate_club_graph(), progress=False)
    return enc


class TestGraphSAGEConformance(EncoderConformance):
    registry_name = "graphsage"

    @pytest.fixture
    def encoder(self, fitted: GraphSAGEEncoder) -> GraphSAGEEncoder:
        return fitted

    @pytest.fixture
    def samples(self) -> dict[str, list[Any]]:
        return {"node": [0, 33, 5, 16]}


def test_held_out_nodes_embedded_by_name_of_a_feature_collection(
    plat: ov.Platform, digits: Any
) -> None:
    graph, x, y, held = digits
    pixels = plat.collection("pixels", dim=x.shape[1], metric="cosine")
    pixels.add(vectors=x, ids=list(range(len(y))))
    train = graph.subgraph([v for v in graph if v not in set(held)]).copy()
    g = plat.collection("digits", encoder="graphsage", dim=32, seed=0)
    g.fit(train, features="pixels", progress=False)
    assert len(g) == len(train)
    before = {r.id: r.vector for r in g.get([0, 1, 2])}
    space = g.space

    assert g.embed(graph, nodes=held, features="pixels") == held
    assert len(g) == len(y) and g.space == space
    after = g.get([0, 1, 2])
    for r in after:  # trained nodes' vectors untouched
        np.testing.assert_array_equal(r.vector, before[r.id])

    # 5-NN label accuracy of each held-out node among the trained nodes' stored vectors
    train_ids = list(train)
    tv = np.stack([r.vector for r in g.get(train_ids)])
    hv = np.stack([r.vector for r in g.get(held)])
    knn = KNeighborsClassifier(5, metric="cosine").fit(tv, y[train_ids])
    assert knn.score(hv, y[held]) >= 0.9
    # through the query API too: a held-out node's neighbours mostly share its digit
    hits = g.search(ov.ref(held[0]), k=5, where=f"digit == {int(y[held[0]])}")
    assert hits and all(h.metadata["digit"] == y[held[0]] for h in hits)


def test_reopened_collection_embeds_new_nodes_the_same_way(db_path: str, digits: Any) -> None:
    graph, x, y, held = digits
    feats = {i: x[i] for i in range(len(y))}
    train = graph.subgraph([v for v in graph if v not in set(held)]).copy()
    new = held[:50]
    with ov.connect(db_path) as plat:
        g = plat.collection("d", encoder="graphsage", **SMALL)
        g.fit(train, features={v: feats[v] for v in train}, progress=False)
        g.embed(graph, nodes=new, features=feats)
        first = np.stack([r.vector for r in g.get(new)])
        g.delete(new)
    with ov.connect(db_path) as plat:
        g = plat.collection("d")
        assert not g.encoder.has_weights  # weights come from the catalog on first embed
        g.embed(graph, nodes=new, features=feats)
        again = np.stack([r.vector for r in g.get(new)])
        np.testing.assert_allclose(again, first, rtol=1e-5, atol=1e-6)
        assert plat.drop("d")
        assert not [k for k in plat.store.list_docs() if k.startswith("blob:d:")]


def test_structural_features_without_given_ones(plat: ov.Platform) -> None:
    graph = nx.karate_club_graph()
    g = plat.collection("karate", encoder="graphsage", **SMALL)
    g.fit(graph, progress=False)
    assert g.encoder.state_dict()["features"] == "structural"
    assert g.encoder.history[-1] < g.encoder.history[0]
    bigger = graph.copy()
    bigger.add_edges_from([(100, 0), (100, 1), (100, 2)])
    assert g.embed(bigger, nodes=[100]) == [100]
    assert len(g) == 35


def test_same_seed_same_vectors() -> None:
    graph = nx.karate_club_graph()
    a = GraphSAGEEncoder(**SMALL).fit(graph, progress=False)
    b = GraphSAGEEncoder(**SMALL).fit(graph, progress=False)
    c = GraphSAGEEncoder(**{**SMALL, "seed": 1}).fit(graph, progress=False)
    np.testing.assert_array_equal(a.vectors, b.vectors)
    assert not np.allclose(a.vectors, c.vectors)


def test_supervised_labels_are_used() -> None:
    graph = nx.karate_club_graph()
    enc = GraphSAGEEncoder(**SMALL)
    res = enc.fit(graph, labels="club", progress=False)
    assert enc.state_dict()["supervised"] is True
    clubs = np.asarray([graph.nodes[v]["club"] for v in res.ids])
    knn = KNeighborsClassifier(5, metric="cosine").fit(res.vectors, clubs)
    assert knn.score(res.vectors, clubs) >= 0.85


@pytest.fixture
def small_fit(plat: ov.Platform) -> tuple[ov.Collection, nx.Graph, dict[int, np.ndarray]]:
    graph = nx.karate_club_graph()
    rng = np.random.default_rng(0)
    feats = {v: rng.normal(size=8).astype(np.float32) for v in graph}
    g = plat.collection("k", encoder="graphsage", **SMALL)
    g.fit(graph, features=feats, progress=False)
    grown = graph.copy()
    grown.add_edges_from([(50, 0), (50, 33), (51, 50)])
    grown.add_node(52)  # no edges
    return g, grown, feats


def _new_feats(feats: dict[int, np.ndarray], width: int = 8) -> dict[int, np.ndarray]:
    return {**feats, **{v: np.ones(width, np.float32) for v in (50, 51, 52)}}


@pytest.mark.parametrize(
    ("case", "error"),
    [
        ("wrong_length", ov.errors.DimensionMismatchError),
        ("missing", ov.errors.InvalidInputError),
        ("none", ov.errors.InvalidInputError),
        ("unknown_node", ov.errors.InvalidInputError),
        ("unknown_collection", ov.errors.NotFoundError),
    ],
)
def test_bad_embed_input_writes_nothing(small_fit: Any, case: str, error: type) -> None:
    g, grown, feats = small_fit
    n = len(g)
    features: Any = {
        "wrong_length": {v: np.ones(5, np.float32) for v in grown},
        "missing": feats,  # none for 50 and 51
        "none": None,
        "unknown_node": _new_feats(feats),
        "unknown_collection": "no_such_collection",
    }[case]
    nodes = [999] if case == "unknown_node" else [50, 51]
    with pytest.raises(error) as info:
        g.embed(grown, nodes=nodes, features=features)
    assert "\n" not in str(info.value)
    assert len(g) == n


def test_feature_collection_of_another_size_or_missing_ids(
    plat: ov.Platform, small_fit: Any
) -> None:
    g, grown, _feats = small_fit
    n = len(g)
    wide = plat.collection("wide", dim=12, metric="cosine")
    wide.add(vectors=np.ones((len(grown), 12), np.float32), ids=list(grown))
    with pytest.raises(ov.errors.DimensionMismatchError):
        g.embed(grown, nodes=[50], features="wide")
    few = plat.collection("few", dim=8, metric="cosine")
    few.add(vectors=np.ones((3, 8), np.float32), ids=[50, 51, 0])
    with pytest.raises(ov.errors.NotFoundError, match="no record for node"):
        g.embed(grown, nodes=[50], features="few")
    with pytest.raises(ov.errors.NotFoundError, match="no record for node"):
        plat.collection("k2", encoder="graphsage", **SMALL).fit(grown, features="few")
    assert len(g) == n


def test_node_without_edges_and_features_is_refused(plat: ov.Platform) -> None:
    graph = nx.karate_club_graph()
    g = plat.collection("s", encoder="graphsage", **SMALL)
    g.fit(graph, progress=False)
    grown = graph.copy()
    grown.add_node(77)
    with pytest.raises(ov.errors.InvalidInputError, match="no edges"):
        g.embed(grown, nodes=[77])
    assert len(g) == 34


def test_isolated_node_with_features_is_embedded(small_fit: Any) -> None:
    g, grown, feats = small_fit
    assert g.embed(grown, nodes=[52], features=_new_feats(feats)) == [52]


def test_embed_before_fit_and_on_other_encoders(plat: ov.Platform) -> None:
    g = plat.collection("fresh", encoder="graphsage", **SMALL)
    with pytest.raises(ov.errors.InvalidInputError, match="fit it first"):
        g.embed(nx.karate_club_graph(), nodes=[0])
    n2v = plat.collection("n2v", encoder="node2vec", dim=8)
    with pytest.raises(ov.errors.InvalidInputError, match="cannot embed"):
        n2v.embed(nx.karate_club_graph(), nodes=[0])
    assert len(g) == 0 and len(n2v) == 0


def test_bad_fit_features_are_refused(plat: ov.Platform) -> None:
    graph = nx.karate_club_graph()
    g = plat.collection("b", encoder="graphsage", **SMALL)
    for bad, error in [
        (np.ones((10, 4)), ov.errors.DimensionMismatchError),
        ({0: [1.0, 2.0]}, ov.errors.InvalidInputError),
        ({v: [1.0] * (1 + v % 2) for v in graph}, ov.errors.DimensionMismatchError),
        ({v: [float("nan")] for v in graph}, ov.errors.InvalidInputError),
    ]:
        with pytest.raises(error):
            g.fit(graph, features=bad, progress=False)
    assert len(g) == 0 and not g.encoder.fitted
    g.fit(graph, progress=False)
    with pytest.raises(ov.errors.InvalidInputError, match="warm_start"):
        g.fit(graph, warm_start=True, progress=False)


def test_cli_fit_graph_with_graphsage_and_a_feature_collection(tmp_path: Any) -> None:
    import json

    from typer.testing import CliRunner

    from omnivec.cli import app

    db = str(tmp_path / "cli.db")
    graph = nx.karate_club_graph()
    edges = tmp_path / "karate.csv"
    edges.write_text("source,target\n" + "".join(f"{u},{v}\n" for u, v in graph.edges()))
    with ov.connect(db) as plat:
        feats = plat.collection("feats", dim=4, metric="cosine")
        rng = np.random.default_rng(0)
        feats.add(vectors=rng.normal(size=(34, 4)).astype(np.float32), ids=list(graph))
    runner = CliRunner()
    args = ["fit-graph", "k", str(edges), "--encoder", "graphsage", "--dim", "8", "--db", db]
    res = runner.invoke(app, [*args, "--features", "feats", "--json"])
    assert res.exit_code == 0, res.stderr
    assert json.loads(res.stdout)["nodes"] == 34
    with ov.connect(db) as plat:
        g = plat.collection("k")
        assert g.encoder_name == "graphsage" and g.encoder.state_dict()["in_features"] == 4
    res = runner.invoke(
        app, [*args[:-2], "--db", db, "--features", "nope", "--encoder", "node2vec"]
    )
    assert res.exit_code != 0 and "--features needs --encoder graphsage" in res.stderr


def test_pyg_data_brings_its_own_features() -> None:
    import torch
    from torch_geometric.data import Data

    graph = nx.karate_club_graph()
    edges = torch.tensor(list(graph.to_directed().edges())).T
    x = torch.from_numpy(np.random.default_rng(0).normal(size=(35, 6)).astype(np.float32))
    enc = GraphSAGEEncoder(**SMALL)
    enc.fit(Data(x=x[:34], edge_index=edges), progress=False)
    assert enc.state_dict()["features"] == "given" and enc.state_dict()["in_features"] == 6
    grown = torch.cat([edges, torch.tensor([[34, 0], [0, 34]])], dim=1)
    res = enc.embed(Data(x=x, edge_index=grown), nodes=[34])
    assert res.ids == [34] and res.vectors.shape == (1, 16)

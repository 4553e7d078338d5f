"""The node2vec encoder: conformance, karate club through the public API, graph inputs,
re-fit, warm start and reopening, all on real torch training and a real Milvus Lite file."""

from __future__ import annotations

import math
from typing import Any

import networkx as nx
import numpy as np
import pytest
from sklearn.model_selection import LeaveOneOut, cross_val_score
from sklearn.neighbors import KNeighborsClassifier

import omnivec as ov
from omnivec.encoders.node2vec import Node2VecEncoder, parse_graph
from tests.encoders.conformance import EncoderConformance

# Small and fast, and enough to separate karate's two clubs (0.97 for seeds 0-2 here).
KARATE = {"dim": 16, "walk_length": 40, "epochs": 20, "seed": 0}


def karate() -> nx.Graph:
    return nx.karate_club_graph()


def club_accuracy(vectors: np.ndarray, clubs: list[str]) -> float:
    """Leave-one-out 5-NN (cosine) accuracy of the club labels from the vectors."""
    knn = KNeighborsClassifier(n_neighbors=5, metric="cosine")
    return float(cross_val_score(knn, vectors, clubs, cv=LeaveOneOut()).mean())


@pytest.fixture(scope="module")
def plat(module_plat: ov.Platform) -> ov.Platform:
    """One Lite file for the module (a Lite start costs seconds): every test below uses
    collection names of its own."""
    return module_plat


@pytest.fixture(scope="module")
def fitted() -> Node2VecEncoder:
    enc = Node2VecEncoder(dim=16, walk_length=20, epochs=3, seed=1)
    enc.fit(karate(), progress=False)
    return enc


class TestNode2VecConformance(EncoderConformance):
    registry_name = "node2vec"
    # config() recreates an encoder of the same configuration; its learned vectors come from
    # a fit (or the collection's store), not from the config
    recreatable = True

    @pytest.fixture
    def encoder(self, fitted: Node2VecEncoder) -> Node2VecEncoder:
        return fitted

    @pytest.fixture
    def samples(self) -> dict[str, list[Any]]:
        return {"node": [0, 33, 5, 16]}


def test_karate_clubs_through_the_platform(plat: ov.Platform) -> None:
    g = plat.collection("karate", encoder="node2vec", **KARATE)
    unfitted = g.space
    G = karate()
    g.fit(G, progress=False)
    assert len(g) == 34
    assert g.space != unfitted and g.space.fingerprint == g.encoder.space.fingerprint
    clubs = [G.nodes[v]["club"] for v in G]
    records = g.get(list(G))
    assert [r.metadata["club"] for r in records] == clubs
    assert club_accuracy(np.stack([r.vector for r in records]), clubs) >= 0.85

    hits = g.search(ov.ref(0), k=5)
    assert len(hits) == 5 and 0 not in [h.id for h in hits]
    assert all(isinstance(h.id, int) for h in hits)
    assert sum(h.metadata["club"] == "Mr. Hi" for h in hits) >= 4
    assert hits[0].score >= hits[-1].score
    officers = g.search(ov.ref(33), k=5, where='club == "Officer"')
    assert len(officers) == 5 and all(h.metadata["club"] == "Officer" for h in officers)
    assert g.encoder.history and all(math.isfinite(x) for x in g.encoder.history)
    assert g.encoder.history[-1] < g.encoder.history[0]


def test_same_seed_same_vectors_other_seed_other_vectors() -> None:
    cfg = {"dim": 8, "walk_length": 10, "walks_per_node": 4, "epochs": 2}
    a = Node2VecEncoder(seed=5, **cfg).fit(karate(), progress=False)
    b = Node2VecEncoder(seed=5, **cfg).fit(karate(), progress=False)
    c = Node2VecEncoder(seed=6, **cfg).fit(karate(), progress=False)
    np.testing.assert_array_equal(a.vectors, b.vectors)
    assert not np.allclose(a.vectors, c.vectors)


def test_edge_tuples_keep_str_and_int_ids(plat: ov.Platform) -> None:
    edges = [("a", 1), (1, "b"), ("b", "a"), ("1", "a", 2.5), (2, "b"), ("zé ü", 2)]
    g = plat.collection("mixed", encoder="node2vec", dim=8, walk_length=8, context_size=4, epochs=2)
    g.fit(edges, progress=False)
    assert sorted(map(repr, g.ids())) == sorted(map(repr, ["a", 1, "b", "1", 2, "zé ü"]))
    assert [r.id for r in g.get([1, "1", "zé ü"])] == [1, "1", "zé ü"]
    hits = g.search(ov.ref("1"), k=5)
    assert {type(h.id) for h in hits} == {str, int}
    enc = g.encoder
    assert enc.encode([1, "1"]).shape == (2, 8)
    with pytest.raises(ov.errors.NotFoundError, match="'nope'"):
        enc.encode(["nope"])


def test_pyg_data_with_edge_weight() -> None:
    import torch
    from torch_geometric.datasets import KarateClub

    data = KarateClub()[0]
    data.edge_weight = torch.rand(
        data.edge_index.shape[1], generator=torch.Generator().manual_seed(0)
    )
    parsed = parse_graph(data)
    assert parsed.ids == list(range(34)) and parsed.directed
    assert parsed.weights is not None and parsed.src.shape[0] == data.edge_index.shape[1]
    result = Node2VecEncoder(dim=8, walk_length=10, epochs=1).fit(data, progress=False)
    assert result.ids == list(range(34)) and result.vectors.shape == (34, 8)
    assert result.metadata is not None and result.metadata[4] == {"y": int(data.y[4])}


def test_directed_graph_with_dangling_isolated_and_self_loop_nodes(plat: ov.Platform) -> None:
    G = nx.DiGraph([(0, 1), (1, 2), (2, 0), (2, 3), (4, 4)])  # 3 is dangling, 4 only loops
    G.add_node("lonely", kind="isolated")
    g = plat.collection(
        "dag", encoder="node2vec", dim=8, walk_length=6, context_size=3, epochs=2, p=0.5, q=2.0
    )
    g.fit(G, progress=False)
    assert sorted(map(str, g.ids())) == ["0", "1", "2", "3", "4", "lonely"]
    assert g.get(["lonely"])[0].metadata == {"kind": "isolated"}
    assert g.encoder.state_dict()["directed"] is True
    vecs = np.stack([r.vector for r in g.get(list(G))])
    assert np.isfinite(vecs).all()
    np.testing.assert_allclose(np.linalg.norm(vecs, axis=1), 1.0, rtol=1e-5)


@pytest.mark.parametrize(
    "bad",
    [
        [],
        nx.Graph(),
        nx.empty_graph(3),
        [("a", "b", -1.0)],
        [("a", "b", float("nan"))],
        [("a", "b", "heavy")],
        [("a",)],
        [("a", "b", 1.0, "x")],
        ["ab"],
        [(1.5, 2)],
        [(True, 2)],
        "a-b",
        None,
        42,
        [("a", "b", 0.0)],
    ],
)
def test_bad_graphs_are_refused(bad: Any) -> None:
    with pytest.raises(ov.errors.InvalidInputError):
        Node2VecEncoder(dim=4).fit(bad, progress=False)


def test_bad_config_and_overrides_are_refused(plat: ov.Platform) -> None:
    for cfg in ({"dim": 0}, {"p": -1.0}, {"q": float("inf")}, {"context_size": 1}, {"metric": "x"}):
        with pytest.raises(ov.errors.InvalidInputError):
            plat.collection("bad", encoder="node2vec", **cfg)
    with pytest.raises(ov.errors.InvalidInputError, match="cannot override p"):
        Node2VecEncoder(dim=4).fit(karate(), p=0.5)
    with pytest.raises(ov.errors.InvalidInputError, match="epochs"):
        Node2VecEncoder(dim=4).fit(karate(), epochs=0)


def test_encode_before_fit_is_an_encoder_error() -> None:
    enc = Node2VecEncoder(dim=4)
    with pytest.raises(ov.errors.EncoderError, match="fit"):
        enc.encode([0])
    with pytest.raises(ov.errors.OmnivecError):
        enc.encode([0], modality="text")


def test_refit_upserts_and_removes_vanished_nodes(plat: ov.Platform) -> None:
    g = plat.collection("grow", encoder="node2vec", dim=8, walk_length=10, epochs=2)
    G = karate()
    g.fit(G, progress=False)
    first = g.space
    before = g.get([0])[0].vector
    H = G.copy()
    H.remove_nodes_from([30, 31])
    H.add_edge(0, "newcomer")
    g.fit(H, progress=False)
    assert len(g) == 33 and g.space != first
    assert set(g.ids()) == set(H)
    for gone in (30, 31):
        with pytest.raises(ov.errors.NotFoundError):
            g.get([gone])
    assert not np.allclose(g.get([0])[0].vector, before)
    with pytest.raises(ov.errors.NotFoundError):
        g.search(ov.ref(30), k=3)


def test_warm_start_keeps_the_old_geometry(plat: ov.Platform) -> None:
    G = karate()
    small = G.subgraph([v for v in G if v not in (32, 33, 8)]).copy()
    g = plat.collection("warm", encoder="node2vec", **KARATE)
    g.fit(small, progress=False)
    old_ids = list(small)
    old = np.stack([r.vector for r in g.get(old_ids)])
    g.fit(G, warm_start=True, epochs=2, progress=False)
    assert g.encoder.state_dict()["warm_started"] == len(old_ids)
    assert g.encoder.state_dict()["fit"]["epochs"] == 2
    warm = np.stack([r.vector for r in g.get(old_ids)])
    assert len(g) == 34
    cold = Node2VecEncoder(**{**KARATE, "seed": 9, "epochs": 2}).fit(G, progress=False)
    cold_old = cold.vectors[[list(G).index(v) for v in old_ids]]
    warm_sim = float(np.mean(np.sum(old * warm, axis=1)))
    cold_sim = float(np.mean(np.sum(old * cold_old, axis=1)))
    assert warm_sim > 0.8 and warm_sim > cold_sim + 0.4
    clubs = [G.nodes[v]["club"] for v in G]
    assert club_accuracy(np.stack([r.vector for r in g.get(list(G))]), clubs) >= 0.85


def test_reopen_searches_without_refitting(db_path: str) -> None:
    with ov.connect(db_path) as plat:
        g = plat.collection("karate", encoder="node2vec", **KARATE)
        g.fit(karate(), progress=False)
        space = g.space
        hits = [h.id for h in g.search(ov.ref(0), k=5)]
    with ov.connect(db_path) as plat:
        g = plat.collection("karate")
        assert g.space == space and g.encoder.space == space
        assert [h.id for h in g.search(ov.ref(0), k=5)] == hits
        assert g.encoder.fitted and g.encoder.history
        with pytest.raises(ov.errors.EncoderError, match=r"ov\.ref"):
            g.encoder.encode([0])
        with pytest.raises(ov.errors.SpaceMismatchError):
            plat.collection("karate", encoder="node2vec", p=2.0)
        with pytest.raises(ov.errors.SpaceMismatchError):
            g.search("a text query", k=3)


def test_collections_with_one_config_keep_their_own_embeddings(plat: ov.Platform) -> None:
    """Node2vec encoders are not shared: each collection keeps the space of its own fit."""
    cfg = {
        "dim": 8,
        "walk_length": 6,
        "walks_per_node": 2,
        "context_size": 3,
        "epochs": 1,
        "seed": 0,
    }
    a = plat.collection("ga", encoder="node2vec", **cfg)
    b = plat.collection("gb", encoder="node2vec", **cfg)
    a.fit([(0, 1), (1, 2), (2, 0)])
    b.fit([("x", "y"), ("y", "z")])
    assert a.encoder is not b.encoder
    assert a.space != b.space
    assert {h.id for h in a.search(ov.ref(0), k=5)} == {1, 2}
    assert {h.id for h in b.search(ov.ref("x"), k=5)} == {"y", "z"}
    assert plat.collection("ga") is a
    with pytest.raises(ov.errors.SpaceMismatchError):
        a.search(ov.ref("x", collection="gb"))


def test_direction_both_walks_a_digraph_like_its_undirected_graph() -> None:
    di = nx.DiGraph([(0, 1), (1, 2), (2, 3), (3, 4), (4, 5), (5, 0), (0, 3)])  # 3 -> 4 -> 5 -> 0
    cfg = {"dim": 8, "walk_length": 8, "context_size": 3, "epochs": 2, "seed": 3}
    both = Node2VecEncoder(direction="both", **cfg).fit(di, progress=False)
    undirected = Node2VecEncoder(**cfg).fit(di.to_undirected(), progress=False)
    out = Node2VecEncoder(**cfg).fit(di, progress=False)  # the default follows edges as given
    np.testing.assert_array_equal(both.vectors, undirected.vectors)
    assert not np.allclose(both.vectors, out.vectors)
    with pytest.raises(ov.errors.InvalidInputError, match="direction"):
        Node2VecEncoder(direction="in")


def test_options_at_their_legacy_values_stay_out_of_the_identity(db_path: str) -> None:
    """Collections recorded before ``direction``, ``weights`` and ``asymmetric`` existed have no
    such keys: they reopen with the values they were built with (``LEGACY_CONFIG``), and new
    collections record today's defaults."""
    from omnivec.encoders.node2vec.encoder import LEGACY_CONFIG

    plat = ov.connect(db_path)
    g = plat.collection("d", encoder="node2vec", dim=8)
    ident = g.encoder.identity()
    assert (ident["direction"], ident["weights"], ident["asymmetric"]) == ("out", "log1p", True)
    old = plat.collection("o", encoder="node2vec", dim=8, **LEGACY_CONFIG)
    assert not set(LEGACY_CONFIG) & set(old.encoder.identity())
    with pytest.raises(ov.errors.SpaceMismatchError):
        plat.collection("o", encoder="node2vec", dim=8, direction="out")
    # a record written before those keys existed reopens as it was built
    record = plat.catalog.collection("o")
    assert record is not None
    for key in LEGACY_CONFIG:
        record.config.pop(key)
    plat.catalog.save_collection("o", record)
    plat.close()
    with ov.connect(db_path) as reopened:
        again = reopened.collection("o")
        assert {k: again.encoder.config()[k] for k in LEGACY_CONFIG} == LEGACY_CONFIG

"""Demo part: graph nodes. Node2Vec on Zachary's karate club (ships with networkx), and
GraphSAGE on a small citation graph whose papers carry text vectors: a new paper is placed among
its neighbours without retraining."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np

import omnivec as ov

__all__ = ["run"]

#: Seeded and small: a few seconds on two cores, and it separates the two clubs.
CONFIG: dict[str, Any] = {
    "dim": 16,
    "walk_length": 40,
    "walks_per_node": 10,
    "epochs": 20,
    "seed": 0,
}


def _club_accuracy(vectors: np.ndarray, clubs: list[str], k: int = 5) -> float:
    """Leave-one-out k-NN (cosine) accuracy of the club labels: how well the vectors alone
    recover the split of the club."""
    unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    sims = unit @ unit.T
    np.fill_diagonal(sims, -np.inf)
    labels = np.asarray(clubs)
    right = 0
    for i in range(len(labels)):
        near = labels[np.argsort(-sims[i])[:k]]
        values, counts = np.unique(near, return_counts=True)
        right += int(values[np.argmax(counts)] == labels[i])
    return right / len(labels)


def run(plat: ov.Platform, say: Callable[[str], None]) -> dict[str, Any]:
    """Build collection ``karate`` (club as metadata), fit, and show nodes similar to the two
    leaders (node 0, "Mr. Hi", and node 33, the officer). Returns a JSON-able summary."""
    import networkx as nx

    graph = nx.karate_club_graph()
    if plat.has_collection("karate"):
        plat.drop("karate")
    col = plat.collection("karate", encoder="node2vec", **CONFIG)
    t0 = time.perf_counter()
    col.fit(graph, progress=False)
    fit_s = time.perf_counter() - t0
    say(
        f"  karate club: {graph.number_of_nodes()} nodes, {graph.number_of_edges()} edges; "
        f"node2vec dim {CONFIG['dim']} fitted in {fit_s:.1f}s"
    )
    summary: dict[str, Any] = {"collection": "karate", "nodes": len(col), "fit_s": round(fit_s, 2)}
    for leader in (0, 33):
        t1 = time.perf_counter()
        hits = col.search(ov.ref(leader), k=5)
        ms = (time.perf_counter() - t1) * 1000
        club = graph.nodes[leader]["club"]
        shown = ", ".join(f"{h.id} ({h.metadata['club']}, {h.score:.2f})" for h in hits)
        say(f"  most like node {leader} ({club}) [{ms:.0f} ms]: {shown}")
        summary[f"similar_to_{leader}"] = [
            {"id": h.id, "club": h.metadata["club"], "score": round(h.score, 4)} for h in hits
        ]
    records = col.get(list(graph))
    clubs = [r.metadata["club"] for r in records]
    accuracy = _club_accuracy(np.stack([r.vector for r in records]), clubs)
    say(f"  club recovered from the vectors alone (leave-one-out 5-NN): {accuracy:.0%}")
    summary["club_accuracy"] = round(accuracy, 4)
    summary["citations"] = run_citations(plat, say)
    return summary


#: (id, topic, title): three fields, a few papers each; papers cite within their field.
PAPERS = [
    (1, "vision", "Deep residual learning for image recognition"),
    (2, "vision", "Convolutional networks for large-scale image classification"),
    (3, "vision", "Object detection with region proposal networks"),
    (4, "vision", "Semantic segmentation with fully convolutional networks"),
    (5, "language", "Attention is all you need for machine translation"),
    (6, "language", "Pre-training deep bidirectional transformers for language understanding"),
    (7, "language", "Distributed representations of words and phrases"),
    (8, "language", "Sequence to sequence learning with neural networks"),
    (9, "graphs", "Inductive representation learning on large graphs"),
    (10, "graphs", "Semi-supervised classification with graph convolutional networks"),
    (11, "graphs", "Scalable feature learning for networks with biased random walks"),
    (12, "graphs", "Graph attention networks"),
]
CITES = [(2, 1), (3, 1), (3, 2), (4, 2), (4, 3), (6, 5), (8, 7), (5, 8), (6, 7), (10, 9),
         (12, 10), (9, 11), (12, 9), (11, 7), (1, 2)]  # fmt: skip
NEW_PAPER = (13, "Message passing neural networks for node classification", [9, 10, 12])


def run_citations(plat: ov.Platform, say: Callable[[str], None]) -> dict[str, Any]:
    """Text vectors of paper titles as GraphSAGE features; fit on the citation graph, then
    embed a new paper (its title and what it cites) and show its nearest papers."""
    import networkx as nx

    for name in ("demo_paper_texts", "demo_papers"):
        if plat.has_collection(name):
            plat.drop(name)
    texts = plat.collection("demo_paper_texts", encoder="text")
    texts.add([t for _, _, t in PAPERS], ids=[i for i, _, _ in PAPERS])
    graph = nx.DiGraph(CITES)
    nx.set_node_attributes(graph, {i: topic for i, topic, _ in PAPERS}, "topic")
    papers = plat.collection("demo_papers", encoder="graphsage", dim=16, steps=60, seed=0)
    t0 = time.perf_counter()
    papers.fit(graph, features="demo_paper_texts", progress=False)
    fit_s = time.perf_counter() - t0
    new_id, title, cites = NEW_PAPER
    texts.add([title], ids=[new_id])
    grown = graph.copy()
    grown.add_edges_from((new_id, c) for c in cites)
    grown.nodes[new_id]["topic"] = "new"
    t1 = time.perf_counter()
    papers.embed(grown, nodes=[new_id])  # features from the collection the fit used
    embed_ms = (time.perf_counter() - t1) * 1000
    hits = papers.search(ov.ref(new_id), k=3)
    say(
        f"  citations: {len(PAPERS)} papers with text vectors, graphsage fitted in {fit_s:.1f}s; "
        f"new paper {title!r} (cites {cites}) embedded in {embed_ms:.0f} ms without retraining"
    )
    say("  its nearest papers: " + ", ".join(f"{h.id} ({h.metadata['topic']})" for h in hits))
    return {
        "collection": "demo_papers",
        "fit_s": round(fit_s, 2),
        "new_paper": new_id,
        "nearest": [{"id": h.id, "topic": h.metadata["topic"]} for h in hits],
    }

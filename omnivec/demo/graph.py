"""Demo part: graph nodes. Node2Vec on Zachary's karate club (ships with networkx)."""

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
    return summary

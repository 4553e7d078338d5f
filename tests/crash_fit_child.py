"""A process that re-fits a trainable collection, for crash tests of ``fit``.

Run as ``python -m tests.crash_fit_child DB KIND [--pause-at STAGE]`` with KIND ``node2vec``
or ``rec``. It fits model A (seed 0) if the file has none, saves A's vectors to ``DB.A.npz``
and prints ``fitted A``; then it fits model B (seed 1) and prints, flushing after each line:

- ``train`` when B's training starts (with ``--pause-at train`` it waits there to be killed);
- ``chunk C`` after the store wrote internal vector chunk ``C`` (0-based) of B (with
  ``--pause-at C`` it waits after that chunk);
- ``fitted B`` once ``fit`` returned (B's vectors are then in ``DB.B.npz``).
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any

import numpy as np

NAME = "crashfit"
#: Node2Vec: a ring of 1,200 nodes with chords (three 500-row vector chunks).
N_NODES = 1_200
#: Recommender: 600 users (two chunks) x 300 items (one chunk).
N_USERS, N_ITEMS = 600, 300


def graph_edges() -> list[tuple[int, int]]:
    ring = [(i, (i + 1) % N_NODES) for i in range(N_NODES)]
    chords = [(i, (i * 7 + 3) % N_NODES) for i in range(0, N_NODES, 3)]
    return ring + chords


def interactions(seed: int) -> list[tuple[str, str, float]]:
    """The same users and items for every seed; which user saw which item differs."""
    rng = np.random.default_rng(seed)
    out = []
    for u in range(N_USERS):
        for i in rng.choice(N_ITEMS, 6, replace=False):
            out.append((f"u{u}", f"i{i}", float(rng.integers(1, 4))))
    for i in range(N_ITEMS):  # every item has at least one interaction
        out.append((f"u{i % N_USERS}", f"i{i}", 1.0))
    return out


def _say(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def _wait_to_be_killed() -> None:
    time.sleep(600)


def fitted_vectors(plat: Any, kind: str) -> dict[str, np.ndarray]:
    """Every stored vector by role: ``{"nodes": ...}`` or ``{"users": ..., "items": ...}``,
    rows in sorted-id order, plus the ids (as str) under ``"<role>_ids"``."""
    cols = (
        {"nodes": plat.get_collection(NAME)}
        if kind == "node2vec"
        else {"users": plat.recommender(NAME).users, "items": plat.recommender(NAME).items}
    )
    out: dict[str, np.ndarray] = {}
    for role, col in cols.items():
        # Straight from the store: Collection.get refuses the rows of a half-written fit.
        keys = sorted(plat.store.keys(col.name))
        rows = plat.store.get(col.name, keys)
        out[role] = np.stack([rows[k].vector for k in keys])
        out[role + "_ids"] = np.asarray(keys)
    return out


def fit(plat: Any, kind: str, seed: int) -> None:
    if kind == "node2vec":
        col = plat.collection(
            NAME, encoder="node2vec", dim=16, walk_length=6, context_size=3,
            walks_per_node=1, epochs=1, seed=0,
        )  # fmt: skip
        col.fit(graph_edges(), epochs=1 + seed)  # another fit: another space
    else:
        rec = plat.recommender(NAME, algorithm="als", factors=8, iterations=2, random_state=0)
        rec.fit(interactions(seed))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("db")
    parser.add_argument("kind", choices=["node2vec", "rec"])
    parser.add_argument("--pause-at", default=None)
    args = parser.parse_args()

    import omnivec as ov

    plat = ov.connect(args.db)
    has_model = plat.has_collection(NAME) or NAME in plat.recommenders()
    if not has_model:
        fit(plat, args.kind, seed=0)
        np.savez(args.db + ".A.npz", **fitted_vectors(plat, args.kind))
    _say("fitted A")

    # Report B's training and each of its vector writes (the real store, observed).
    pause = args.pause_at
    state = {"chunk": 0}
    real_write = plat.store._write  # type: ignore[attr-defined]

    def write(*a: Any, **kw: Any) -> None:
        real_write(*a, **kw)
        _say(f"chunk {state['chunk']}")
        if pause == str(state["chunk"]):
            _wait_to_be_killed()
        state["chunk"] += 1

    plat.store._write = write  # type: ignore[attr-defined]
    if args.kind == "node2vec":
        import omnivec.encoders.node2vec.encoder as n2v

        real_loss = n2v._skipgram_loss

        def loss(*a: Any, **kw: Any) -> Any:
            if pause == "train":
                _say("train")
                _wait_to_be_killed()
            return real_loss(*a, **kw)

        n2v._skipgram_loss = loss  # type: ignore[assignment]
    else:
        from omnivec.encoders.collaborative import ALSEncoder

        real_new = ALSEncoder._new_model

        def new_model(self: Any) -> Any:
            if pause == "train":
                _say("train")
                _wait_to_be_killed()
            return real_new(self)

        ALSEncoder._new_model = new_model  # type: ignore[method-assign]
    fit(plat, args.kind, seed=1)
    plat.store._write = real_write  # type: ignore[attr-defined]
    np.savez(args.db + ".B.npz", **fitted_vectors(plat, args.kind))
    _say("fitted B")
    plat.close()


if __name__ == "__main__":
    main()

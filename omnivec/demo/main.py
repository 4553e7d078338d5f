"""Runs the demo parts in order against one Lite file and prints what each shows."""

from __future__ import annotations

import importlib
import logging
import time
from pathlib import Path
from typing import Any

import omnivec as ov
from omnivec.errors import InvalidInputError

logger = logging.getLogger(__name__)

PARTS = ("text", "images", "graph", "recs", "words", "ask")
#: Catalog note listing what the demo created in its file (so reruns drop only that).
DEMO_NOTE = "demo"
TITLES = {
    "text": "Text: semantic search with the bundled all-MiniLM-L6-v2",
    "images": "Images: a tiny CLIP trained from scratch, text -> image, then fused text+image",
    "graph": "Graph: node2vec on the karate club",
    "recs": "Users/items: ALS recommendations, then items similar to them",
    "words": "Words: word2vec on the demo's texts (Chinese by jieba), neighbours and an analogy",
    "ask": "Ask: an answer from the texts by a language model, citing its sources",
}


def run_demo(
    db: str = "omnivec-demo.db", parts: list[str] | None = None, quiet: bool = False
) -> dict[str, Any]:
    """Build the demo index in ``db`` (rebuilt from scratch) and return a summary per part."""
    chosen = list(parts) if parts else list(PARTS)
    unknown = [p for p in chosen if p not in PARTS]
    if unknown:
        raise InvalidInputError(f"unknown demo part {unknown[0]!r}; choose from {', '.join(PARTS)}")

    def say(line: str = "") -> None:
        if not quiet:
            print(line, flush=True)

    summary: dict[str, Any] = {"db": str(Path(db).resolve()), "parts": {}}
    start = time.perf_counter()
    with ov.connect(db) as plat:
        # Reruns rebuild what an earlier demo run created, and nothing else: a file that holds
        # collections the demo did not make is refused before anything is dropped.
        owned = plat.catalog.note(DEMO_NOTE) or {}
        mine = set(owned.get("collections", [])) | set(owned.get("recommenders", []))
        foreign = sorted((set(plat.collections()) | set(plat.recommenders())) - mine)
        if foreign:
            raise InvalidInputError(
                f"{summary['db']} holds collections the demo did not create "
                f"({', '.join(foreign[:5])}{', ...' if len(foreign) > 5 else ''}); "
                "run the demo on its own file: omnivec demo --db omnivec-demo.db"
            )
        for name in plat.recommenders():
            plat.drop(name)
        for name in plat.collections():
            plat.drop(name)
        plat.catalog.save_note(DEMO_NOTE, {"collections": [], "recommenders": []})
        for i, part in enumerate(chosen, 1):
            say(f"\n[{i}/{len(chosen)}] {TITLES[part]}")
            say("-" * 72)
            t0 = time.perf_counter()
            module = importlib.import_module(f"omnivec.demo.{part}")
            try:
                result = module.run(plat, say)
            finally:
                # Everything in the file now is the demo's (it refused foreign files above),
                # also what a part that failed half-way created.
                plat.catalog.save_note(
                    DEMO_NOTE,
                    {"collections": plat.collections(), "recommenders": plat.recommenders()},
                )
            seconds = time.perf_counter() - t0
            summary["parts"][part] = {**result, "seconds": round(seconds, 2)}
            say(f"  ({part} done in {seconds:.1f} s)")
        summary["collections"] = plat.collections()
    summary["seconds"] = round(time.perf_counter() - start, 2)
    say(f"\nDemo index built in {summary['seconds']:.0f} s: {summary['db']}")
    say(f"Collections: {', '.join(summary['collections'])}")
    say(f'Explore it:  omnivec search demo_docs "cats and kittens" --db {db}')
    say(f"Serve it:    omnivec serve --db {db}   (then open http://127.0.0.1:8000/)")
    return summary

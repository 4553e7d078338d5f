"""A re-embed switch seen by another process: two real processes on a Milvus Lite server on
127.0.0.1, each with the same collection open. After one re-embeds (and later drops) the
collection, the other's open Collection follows the switch (new rows, new model) instead of
searching the dropped Milvus collection or encoding queries with the old model."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import numpy as np

import omnivec as ov

ROOT = Path(__file__).resolve().parents[2]

TEXTS = {
    "cat": "My cat sleeps on the warm windowsill all afternoon.",
    "dog": "Dogs need a long walk every morning.",
    "stocks": "Stocks fell sharply after the central bank raised rates.",
    "rocket": "A new rocket landed its first stage on a drone ship.",
}
QUERY = "kittens napping in the sun"

#: The other process: opens the collection, answers a search, then waits for a line on stdin
#: per step ("search", "add", "exit"), answering each with one JSON line.
CHILD = r"""
import json, sys
import omnivec as ov

def hits(col):
    return [[h.id, h.score] for h in col.search(sys.argv[3], k=4)]

with ov.connect(sys.argv[1]) as plat:
    col = plat.collection(sys.argv[2])
    print(json.dumps({"hits": hits(col), "physical": col.physical}), flush=True)
    for line in sys.stdin:
        step = line.strip()
        try:
            if step == "search":
                out = {"hits": hits(col), "physical": col.physical,
                       "space": col.space.fingerprint}
            elif step == "add":
                col.add(["A hamster runs on its wheel each night."], ids=["hamster"])
                out = {"added": True, "physical": col.physical}
            else:
                break
        except Exception as exc:
            out = {"error": type(exc).__name__, "message": str(exc)}
        print(json.dumps(out), flush=True)
"""


class Child:
    def __init__(self, uri: str, name: str) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-c", CHILD, uri, name, QUERY],
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env={**os.environ, "PYTHONPATH": str(ROOT), "PYTHONWARNINGS": "ignore"},
        )

    def read(self) -> dict[str, Any]:
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        assert line, f"the other process exited (rc {self.proc.poll()})"
        return dict(json.loads(line))

    def ask(self, step: str) -> dict[str, Any]:
        assert self.proc.stdin is not None
        self.proc.stdin.write(step + "\n")
        self.proc.stdin.flush()
        return self.read()

    def close(self) -> None:
        if self.proc.poll() is None:
            with contextlib.suppress(AssertionError, OSError, ValueError):
                self.ask("exit")
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def scores(hits: list[list[Any]]) -> dict[str, float]:
    return {str(i): float(s) for i, s in hits}


def test_another_process_follows_a_reembed_switch_and_sees_a_drop(server_uri: str) -> None:
    name = f"switch_{uuid.uuid4().hex[:8]}"
    with ov.connect(server_uri) as plat:
        col = plat.collection(name, encoder="text")
        col.add(list(TEXTS.values()), ids=list(TEXTS))
        old_physical, old_space = col.physical, col.space
        child = Child(server_uri, name)
        try:
            first = child.read()
            assert first["physical"] == old_physical
            assert first["hits"][0][0] == "cat"

            # New prompts: both the stored vectors and the query encoding change.
            report = col.reembed(query_prompt="query: ", document_prompt="passage: ")
            assert col.physical != old_physical and col.space != old_space
            assert old_physical not in plat.store.list_collections()  # dropped
            here = scores([[h.id, h.score] for h in col.search(QUERY, k=4)])
            assert report.total == len(TEXTS)

            after = child.ask("search")
            assert "error" not in after, after
            # The other process now searches the new rows with the new model: the same hits
            # and scores as here, and scores unlike its own before the switch.
            assert after["physical"] == col.physical
            assert after["space"] == col.space.fingerprint
            theirs = scores(after["hits"])
            assert theirs.keys() == here.keys()
            assert np.allclose([theirs[k] for k in here], list(here.values()), atol=1e-5)
            before = scores(first["hits"])
            assert not np.allclose([before[k] for k in here], list(here.values()), atol=1e-3)

            # Its writes land in the rows this process reads.
            added = child.ask("add")
            assert added == {"added": True, "physical": col.physical}
            assert col.get(["hamster"])[0].text == "A hamster runs on its wheel each night."
            assert len(col) == len(TEXTS) + 1

            plat.drop(name)
            gone = child.ask("search")
            assert gone["error"] == "NotFoundError"
            assert name in gone["message"] and "dropped" in gone["message"]
            assert "\n" not in gone["message"]
        finally:
            child.close()
            plat.drop(name)

"""Scaling out: a Milvus Lite file belongs to one process, so several omnivec servers go in
front of one Milvus server by URI. Two real `python -m omnivec.server` processes on one Milvus
Lite server on loopback: what is written through one is found through the other."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from typing import Any

import httpx
import numpy as np
import pytest

import omnivec as ov
from tests.helpers.http import running_server
from tests.milvus_server import milvus_server

pytestmark = pytest.mark.slow

DIM = 16
KEY = "scale-out-key"
H = {"Authorization": f"Bearer {KEY}"}


@pytest.fixture(scope="module")
def two_servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    tmp = tmp_path_factory.mktemp("scale")
    with milvus_server(tmp) as uri:
        with ov.connect(uri) as plat:
            raw = plat.collection("shared", dim=DIM, metric="cosine")
            vecs = np.random.default_rng(0).standard_normal((20, DIM)).astype(np.float32)
            raw.add(vectors=vecs, ids=[f"r{i}" for i in range(20)])
        with ExitStack() as stack:
            a, b = (
                stack.enter_context(
                    running_server(uri, tmp / f"{name}.log", args=("--api-key", KEY))
                )
                for name in ("a", "b")
            )
            yield a, b


def eventually(check: Callable[[], Any], timeout: float = 15.0) -> float:
    """Seconds until ``check()`` is truthy (a Milvus server's reads may lag a write a little:
    its default consistency is Bounded)."""
    started = time.monotonic()
    while not check():
        assert time.monotonic() - started < timeout, "the write never became visible"
        time.sleep(0.1)
    return time.monotonic() - started


def test_both_servers_see_the_same_store(two_servers: tuple[str, str]) -> None:
    a, b = two_servers
    for base in (a, b):
        cols = httpx.get(f"{base}/collections", headers=H).json()["collections"]
        assert [(c["name"], c["count"]) for c in cols] == [("shared", 20)]


def test_a_write_through_one_is_found_through_the_other(two_servers: tuple[str, str]) -> None:
    a, b = two_servers
    v = np.zeros(DIM, dtype=np.float32)
    v[3] = 1.0
    add = {"vectors": [v.tolist()], "ids": ["new"], "metadata": [{"via": "a"}]}
    resp = httpx.post(f"{a}/collections/shared/add", json=add, headers=H)
    assert resp.status_code == 200, resp.text

    def b_finds_it() -> bool:
        r = httpx.post(
            f"{b}/collections/shared/search", json={"vector": v.tolist(), "k": 1}, headers=H
        )
        hits = r.json()["hits"]
        return bool(hits) and hits[0]["id"] == "new" and hits[0]["metadata"] == {"via": "a"}

    lag = eventually(b_finds_it)
    print(f"\nwrite through A visible through B after {lag:.2f} s")
    # And the other way: a delete through B is seen by A.
    resp = httpx.post(f"{b}/collections/shared/delete", json={"ids": ["new"]}, headers=H)
    assert resp.status_code == 200 and resp.json() == {"deleted": 1}

    def a_lost_it() -> bool:
        r = httpx.post(
            f"{a}/collections/shared/search", json={"vector": v.tolist(), "k": 3}, headers=H
        )
        return "new" not in [h["id"] for h in r.json()["hits"]]

    eventually(a_lost_it)

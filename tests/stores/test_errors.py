"""pymilvus errors reach users as omnivec errors chosen by type and code (stores/errors.py)."""

from __future__ import annotations

import pytest
from pymilvus.exceptions import (
    CollectionNotExistException,
    MilvusException,
    MilvusUnavailableException,
    ParamError,
)

from omnivec.errors import InvalidInputError, StoreError, StoreUnavailableError
from omnivec.stores.errors import translate


def unavailable(exc: BaseException) -> str:
    return f"cannot reach the store ({type(exc).__name__})"


@pytest.mark.parametrize(
    ("exc", "where", "kind"),
    [
        (MilvusUnavailableException(message="down"), None, StoreUnavailableError),
        (MilvusException(code=2, message="Fail connecting"), None, StoreUnavailableError),
        (ConnectionError("reset"), None, StoreUnavailableError),
        (TimeoutError("slow"), None, StoreUnavailableError),
        (MilvusException(code=1100, message="Invalid expr: x =="), "x ==", InvalidInputError),
        (MilvusException(code=2000, message="expr type check failed"), "x in 5", InvalidInputError),
        # the same codes without a user filter are the store's problem, not the user's
        (MilvusException(code=1100, message="invalid parameter"), None, StoreError),
        (ParamError(message="bad"), None, InvalidInputError),
        (CollectionNotExistException(message="gone"), None, StoreError),
        (MilvusException(code=65535, message="boom"), None, StoreError),
    ],
)
def test_mapped_by_type_and_code(exc: BaseException, where: str | None, kind: type) -> None:
    mapped = translate(exc, "search", where, unavailable)
    assert type(mapped) is kind
    assert "\n" not in str(mapped)
    if kind is InvalidInputError and where:
        assert where in str(mapped)


def test_message_text_does_not_decide() -> None:
    # A message that merely mentions "unavailable" is not an outage.
    mapped = translate(
        MilvusException(code=65535, message="index unavailable"), "x", None, unavailable
    )
    assert type(mapped) is StoreError


def test_our_bugs_are_not_hidden() -> None:
    assert translate(KeyError("k"), "search", None, unavailable) is None

"""Checks shared by the bad-input tests: one-line errors, a collection's whole content."""

from __future__ import annotations

from typing import Any

import omnivec as ov

INJECT = 'a" or pk != "'


def one_line(exc: BaseException) -> None:
    text = str(exc)
    assert text and "\n" not in text and "Traceback" not in text, text
    assert len(text) < 600, text


def snapshot(col: ov.Collection) -> dict[Any, tuple[bytes, dict[str, Any]]]:
    return {r.id: (r.vector.tobytes(), r.metadata) for r in col.get(col.ids())}

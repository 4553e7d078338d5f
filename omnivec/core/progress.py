"""Progress bars that show on a terminal and stay quiet in pipes, logs and CI."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

__all__ = ["progress_bar", "show_progress"]


def show_progress(enabled: bool | None = None) -> bool:
    """``enabled`` if given, else whether stderr is a terminal."""
    if enabled is not None:
        return enabled
    try:
        return sys.stderr.isatty()
    except (AttributeError, ValueError):
        return False


@contextmanager
def progress_bar(
    total: int, desc: str, enabled: bool | None = None, unit: str = "it"
) -> Iterator[Any]:
    from tqdm.auto import tqdm

    bar = tqdm(total=total, desc=desc, unit=unit, disable=not show_progress(enabled), leave=False)
    try:
        yield bar
    finally:
        bar.close()

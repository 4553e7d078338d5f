"""A real headless chromium (Debian's /usr/bin/chromium through Playwright's Python package,
without `playwright install`) for the web page's tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.helpers.http import ARTIFACTS

CHROMIUM = "/usr/bin/chromium"


LAUNCH_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def shot(page: Any, name: str) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / name
    page.screenshot(path=str(path), full_page=True)
    assert path.stat().st_size > 10_000
    return path


def hit_ids(page: Any) -> list[str]:
    return [t.strip() for t in page.locator("#search-results .hit-id").all_inner_texts()]

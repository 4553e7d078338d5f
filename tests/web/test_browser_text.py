"""The web page shows a hit's stored text, with the matched passage of a long record
highlighted, in a real headless chromium against a real server process."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import omnivec as ov
from tests.helpers.browser import CHROMIUM, LAUNCH_ARGS
from tests.helpers.http import running_server
from tests.platform.test_text_records import LONG, NEEDLE

pytestmark = [
    pytest.mark.slow,
    pytest.mark.browser,
    pytest.mark.skipif(not os.access(CHROMIUM, os.X_OK), reason=f"{CHROMIUM} is missing"),
]


def test_long_record_shows_its_passage_highlighted(tmp_path: Path) -> None:
    from playwright.sync_api import expect, sync_playwright

    db = str(tmp_path / "page.db")
    with ov.connect(db) as plat:
        col = plat.collection("notes", encoder="text")
        col.add([LONG, "I love cats"], ids=["report", "cat"])
    with (
        running_server(db, tmp_path / "server.log") as base,
        sync_playwright() as p,
    ):
        browser = p.chromium.launch(executable_path=CHROMIUM, args=LAUNCH_ARGS)
        page = browser.new_page()
        page.set_default_timeout(60_000)
        page.goto(base + "/")
        page.wait_for_selector("body[data-ready=true]")
        page.select_option("#collection", "notes")
        page.fill("#query", "who painted the lighthouse door orange?")
        expect(page.locator("#search-results .hit-id").first).to_have_text("report")
        first = page.locator("#search-results .hit").first
        mark = first.locator(".hit-text mark.passage")
        expect(mark).to_have_count(1)
        assert NEEDLE in mark.inner_text()
        # Context around the passage, never the raw text as HTML.
        assert first.locator(".hit-text").inner_text().startswith("…")
        page.fill("#query", "kittens")
        expect(page.locator("#search-results .hit-id").first).to_have_text("cat")
        cat = page.locator("#search-results .hit").first
        assert cat.locator(".hit-text").inner_text() == "I love cats"
        assert cat.locator("mark").count() == 0
        browser.close()

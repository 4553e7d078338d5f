"""The web page's search-mode switch (hybrid / keyword / meaning) for a collection with a
keyword index, in a real headless chromium against a real server process."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

import omnivec as ov
from tests.helpers.browser import CHROMIUM, LAUNCH_ARGS, hit_ids, shot
from tests.helpers.http import running_server
from tests.platform.test_hybrid import MANUALS

pytestmark = [
    pytest.mark.slow,
    pytest.mark.browser,
    pytest.mark.skipif(not os.access(CHROMIUM, os.X_OK), reason=f"{CHROMIUM} is missing"),
]


def test_search_mode_switch_keyword_dense_hybrid(tmp_path: Path) -> None:
    from playwright.sync_api import expect, sync_playwright

    db = str(tmp_path / "page.db")
    with ov.connect(db) as plat:
        kw = plat.collection("manuals", encoder="text", keywords=True, analyzer="english")
        kw.add(list(MANUALS.values()), ids=list(MANUALS))
        plain = plat.collection("notes", encoder="text")
        plain.add(["I love cats", "Pump XK-4471-B leaks"], ids=["cat", "pump"])
    with running_server(db, tmp_path / "server.log") as base, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=LAUNCH_ARGS)
        page = browser.new_page(viewport={"width": 1100, "height": 800})
        page.set_default_timeout(60_000)
        bodies: list[dict[str, Any]] = []
        outside: list[str] = []
        errors: list[str] = []

        def on_request(r: Any) -> None:
            if not r.url.startswith((base, "data:", "blob:")):
                outside.append(r.url)
            if r.url.endswith("/search") and r.method == "POST":
                bodies.append(json.loads(r.post_data or "{}"))

        page.on("request", on_request)
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(base + "/")
        page.wait_for_selector("body[data-ready=true]")

        page.select_option("#collection", "manuals")
        switch = page.locator("#search-modes")
        expect(switch).to_be_visible()
        assert "keywords (english analyzer)" in page.inner_text("#col-meta")
        assert page.is_checked('input[name="search-mode"][value="hybrid"]')

        # Keyword mode: the part code finds its manual first, by BM25 alone.
        page.click('label[data-search-mode="keyword"]')
        page.fill("#query", "XK-4471-B")
        expect(page.locator("#search-results .hit-id").first).to_have_text("m1")
        expect(page.locator("#search-status")).to_contain_text("keyword search")
        assert bodies[-1]["mode"] == "keyword" and bodies[-1]["query"] == "XK-4471-B"
        keyword_ids = hit_ids(page)
        shot(page, "web_keywords.png")

        # Meaning (dense) alone ranks every manual, differently; no per-leg scores.
        page.click('label[data-search-mode="dense"]')
        expect(page.locator("#search-status")).to_contain_text("dense search")
        expect(page.locator("#search-results .hit")).to_have_count(len(MANUALS))
        assert bodies[-1]["mode"] == "dense"
        assert hit_ids(page) != keyword_ids
        assert page.locator("#search-results .score-legs:visible").count() == 0

        # Hybrid: fused, and each hit shows what each leg scored.
        page.click('label[data-search-mode="hybrid"]')
        page.fill("#query", "XK-4471-B pump failure")
        expect(page.locator("#search-status")).to_contain_text("hybrid search")
        expect(page.locator("#search-results .hit-id").first).to_have_text("m1")
        assert bodies[-1]["mode"] == "hybrid"
        legs = page.locator("#search-results .hit").first.locator(".score-legs")
        expect(legs).to_be_visible()
        assert "dense" in legs.inner_text() and "keyword" in legs.inner_text()
        shot(page, "web_keywords_hybrid.png")

        # A collection without keywords has no switch and sends no mode.
        page.select_option("#collection", "notes")
        expect(switch).to_be_hidden()
        page.fill("#query", "kittens")
        expect(page.locator("#search-results .hit-id").first).to_have_text("cat")
        assert "mode" not in bodies[-1]
        browser.close()
    assert not outside, outside
    assert not errors, errors

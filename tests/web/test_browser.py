"""The web page in a real headless chromium (Debian's /usr/bin/chromium, driven by Playwright's
Python package without `playwright install`) against a real server process.
Screenshots go to artifacts/."""

from __future__ import annotations

import base64
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.helpers.browser import CHROMIUM, LAUNCH_ARGS, hit_ids, shot
from tests.helpers.http import (
    HAVE_CLIP,
    HAVE_GRAPH,
    HAVE_RECS,
    png_b64,
    populate_all,
    running_server,
)

pytestmark = [
    pytest.mark.slow,
    pytest.mark.browser,
    pytest.mark.skipif(
        not os.access(CHROMIUM, os.X_OK),
        reason=f"{CHROMIUM} is missing: `make browser` (apt-get install chromium) installs it",
    ),
]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    tmp = tmp_path_factory.mktemp("browser")
    db = str(tmp / "browser.db")
    populate_all(db)
    with running_server(db, tmp / "server.log") as base:
        yield base


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=LAUNCH_ARGS)
        yield b
        b.close()


@pytest.fixture
def page(browser: Any, server: str) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1100, "height": 800})
    pg = context.new_page()
    pg.set_default_timeout(30_000)
    requests: list[str] = []
    errors: list[str] = []
    pg.on("request", lambda r: requests.append(r.url))
    pg.on("pageerror", lambda e: errors.append(str(e)))
    pg.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    pg.goto(server + "/")
    pg.wait_for_selector("body[data-ready=true]")
    yield pg
    # The page is fully offline: every request went to the server itself, and no script failed.
    outside = [u for u in requests if not u.startswith((server, "data:", "blob:"))]
    assert not outside, outside
    # The console logs failed fetches (4xx answers the tests provoke on purpose) as errors.
    assert not [e for e in errors if "status of 4" not in e], errors
    context.close()


def test_typing_a_query_shows_the_expected_hit(page: Any) -> None:
    page.select_option("#collection", "docs")
    assert "encoder text" in page.inner_text("#col-meta")
    page.fill("#query", "felines and kittens")  # answers as you type, no Enter needed
    expect(page.locator("#search-results .hit-id").first).to_have_text("cat")
    first = page.locator("#search-results .hit").first
    assert "I love cats and kittens" in first.inner_text()
    assert "pets" in first.inner_text()
    assert page.locator("#search-results .hit").count() == 8
    scores = [float(s) for s in page.locator("#search-results .score-value").all_inner_texts()]
    assert scores == sorted(scores, reverse=True)
    assert "8 hits" in page.inner_text("#search-status")
    shot(page, "web_search.png")

    # "More like this" on a hit searches by its stored id and leaves it out.
    first.locator("button.more").click()
    expect(page.locator("#search-status")).to_contain_text("more like")
    assert "cat" not in hit_ids(page)
    assert hit_ids(page)[0] == "dog"


def test_filter_and_errors_are_shown(page: Any) -> None:
    page.select_option("#collection", "docs")
    page.click("details.advanced summary")
    page.fill("#where", 'topic == "food"')
    page.fill("#query", "something to eat")
    page.press("#query", "Enter")
    expect(page.locator("#search-results .hit")).to_have_count(2)
    assert set(hit_ids(page)) == {"pasta", "soup"}
    page.fill("#k", "0")
    page.press("#query", "Enter")
    alert = page.locator("#search-error")
    alert.wait_for(state="visible")
    assert "InvalidInputError" in alert.inner_text()
    assert "k must be" in alert.inner_text()
    assert page.locator("#search-results .hit").count() == 0


def test_raw_vectors_collection_searches_by_stored_id(page: Any) -> None:
    page.select_option("#collection", "raw")
    assert page.is_checked('input[name="mode"][value="ref"]')
    assert not page.is_visible('label[data-mode="text"]')
    page.fill("#query", "2")  # stored as the int 2: the page retries the integer
    page.press("#query", "Enter")
    page.wait_for_selector("#search-results .hit")
    assert sorted(hit_ids(page)) == ["1", "3", "4"]


@pytest.mark.skipif(not HAVE_CLIP, reason="omnivec.encoders.clip is not in this tree yet")
def test_image_upload_finds_the_image_with_thumbnails(page: Any, tmp_path: Path) -> None:
    page.select_option("#collection", "photos")
    page.check('input[name="mode"][value="image"]', force=True)
    assert page.is_visible("#image-field")
    img = tmp_path / "coffee.png"
    img.write_bytes(base64.b64decode(png_b64("coffee", size=160)))
    page.set_input_files("#image-file", str(img))
    expect(page.locator("#search-results .hit-id").first).to_have_text("coffee")
    assert page.is_visible("#image-preview")
    thumbs = page.locator("#search-results img.thumb")
    assert thumbs.count() == page.locator("#search-results .hit").count() > 1
    for i in range(thumbs.count()):
        assert thumbs.nth(i).evaluate("(el) => el.complete && el.naturalWidth > 0")
    shot(page, "web_images.png")


@pytest.mark.skipif(not HAVE_GRAPH, reason="omnivec.encoders.node2vec is not in this tree yet")
def test_graph_collection_searches_by_node_id(page: Any) -> None:
    page.select_option("#collection", "karate")
    assert page.inner_text("#query-label") == "Node id"
    page.fill("#query", "33")
    page.press("#query", "Enter")
    page.wait_for_selector("#search-results .hit")
    ids = hit_ids(page)
    assert len(ids) == 10
    assert "33" not in ids
    assert all(i.isdigit() for i in ids)


@pytest.mark.skipif(not HAVE_RECS, reason="omnivec.recs.recommender is not in this tree yet")
def test_recommendations_for_a_user(page: Any) -> None:
    page.click("#tab-rec")
    assert page.is_visible("#panel-rec")
    page.select_option("#recommender", "movies")
    page.fill("#rec-id", "u25")
    page.press("#rec-id", "Enter")
    page.wait_for_selector("#rec-results .hit")
    ids = [t.strip() for t in page.locator("#rec-results .hit-id").all_inner_texts()]
    assert len(ids) == 10
    assert not {"b1", "b2", "b3"} & set(ids)  # what u25 has seen is left out
    assert all(i.startswith("b") for i in ids[:5])  # u25's taste group first
    shot(page, "web_recommend.png")
    page.fill("#rec-id", "nobody")
    page.press("#rec-id", "Enter")
    page.locator("#rec-error").wait_for(state="visible")
    assert "NotFoundError" in page.inner_text("#rec-error")


def test_map_view_draws_hovers_and_finds_more_like_a_point(page: Any) -> None:
    page.click("#tab-map")
    assert page.is_visible("#panel-map") and not page.is_visible("#panel-search")
    page.select_option("#map-collection", "docs")
    canvas = page.locator("#map-canvas")
    expect(canvas).to_have_attribute("data-points", "8")
    expect(page.locator("#map-status")).to_contain_text("8 records")
    assert page.locator("#map-legend li").count() >= 1

    # Hover a point: its stored text shows in the card beside it.
    canvas.scroll_into_view_if_needed()
    box = canvas.bounding_box()
    at = page.evaluate("window.omnivecMap.pointOf('cat')")
    page.mouse.move(box["x"] + at["x"], box["y"] + at["y"])
    tip = page.locator("#map-tip")
    expect(tip).to_be_visible()
    expect(tip).to_contain_text("I love cats and kittens")

    # Click it: "more like this" lists its neighbours (itself left out) under the map.
    page.mouse.click(box["x"] + at["x"], box["y"] + at["y"])
    expect(page.locator("#map-status")).to_contain_text("more like")
    ids = [t.strip() for t in page.locator("#map-results .hit-id").all_inner_texts()]
    assert ids and "cat" not in ids and ids[0] == "dog"
    shot(page, "web_map.png")

    # Colour by a metadata key: the legend names its values.
    page.select_option("#map-color", "topic")
    legend = page.locator("#map-legend")
    for topic in ("pets", "finance", "food", "space"):
        expect(legend).to_contain_text(topic)
    page.mouse.move(box["x"] + at["x"], box["y"] + at["y"])
    expect(tip).to_contain_text("topic: pets")
    shot(page, "web_map_topic.png")

"""The web page's Ask tab in a real headless chromium against a real server process
(``python -m omnivec.server --llm URL``) whose questions a real LLM answers: SmolLM2 behind
llama.cpp's server (the session's ``llm_url`` fixture). Typing a question streams the answer
into the page, then numbered sources appear; a source's number, and a citation link in the
answer, open its passage."""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import expect

import omnivec as ov
from tests.helpers.browser import CHROMIUM, LAUNCH_ARGS, shot
from tests.helpers.http import running_server

pytestmark = [
    pytest.mark.slow,
    pytest.mark.browser,
    pytest.mark.skipif(
        not os.access(CHROMIUM, os.X_OK),
        reason=f"{CHROMIUM} is missing: `make browser` (apt-get install chromium) installs it",
    ),
]

DOCS = {
    "pump": "The pump XK-4471-B failed on 3 May because of a cracked seal. A new seal was "
    "fitted the next day.",
    "audit": "The auditors found that the company had overstated its revenue by 12 million "
    "dollars.",
    "moon": "Astronauts walked on the surface of the moon in July 1969.",
}

# Installed before the question is sent: records the answer box's text each time it changes
# while the box is marked as streaming (each server-sent delta), so the test can tell an
# answer that arrived in pieces from one set at once.
WATCH_STREAM = """() => {
  const box = document.getElementById("ask-answer");
  window.__askSeen = [];
  new MutationObserver(() => {
    if (box.classList.contains("streaming") && box.textContent) {
      window.__askSeen.push(box.textContent);
    }
  }).observe(box, { childList: true, characterData: true, subtree: true });
}"""


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, llm_url: str) -> Iterator[str]:
    tmp = tmp_path_factory.mktemp("ask-browser")
    db = str(tmp / "ask.db")
    with ov.connect(db) as plat:
        plat.collection("docs", encoder="text").add(list(DOCS.values()), ids=list(DOCS))
    with running_server(db, tmp / "server.log", args=("--llm", llm_url)) as base:
        yield base


@pytest.fixture
def page(server: str) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=LAUNCH_ARGS)
        pg = browser.new_page(viewport={"width": 1100, "height": 900})
        pg.set_default_timeout(30_000)
        errors: list[str] = []
        requests: list[str] = []
        pg.on("pageerror", lambda e: errors.append(str(e)))
        pg.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        pg.on("request", lambda r: requests.append(r.url))
        pg.goto(server + "/")
        pg.wait_for_selector("body[data-ready=true]")
        yield pg
        # The page talked only to its own server (never to the LLM) and no script failed.
        assert not [u for u in requests if not u.startswith((server, "data:", "blob:"))]
        assert not errors, errors
        browser.close()


def test_ask_tab_streams_an_answer_with_sources_that_open(page: Any) -> None:
    page.click("#tab-ask")
    expect(page.locator("#panel-ask")).to_be_visible()
    expect(page.locator("#ask-button")).to_be_enabled()  # GET /llm said a model is there
    assert "Answers by" in page.inner_text("#ask-meta")
    expect(page.locator("#ask-collection option")).to_have_count(1)
    assert page.input_value("#ask-collection") == "docs"

    page.evaluate(WATCH_STREAM)
    page.fill("#ask-question", "Why did the pump fail?")
    page.fill("#ask-k", "2")
    page.press("#ask-question", "Enter")

    # The answer is done when the status names the sources and the box stops streaming.
    expect(page.locator("#ask-status")).to_contain_text("2 sources", timeout=300_000)
    expect(page.locator("#ask-answer")).not_to_have_class("streaming")
    answer = page.inner_text("#ask-answer").strip()
    assert answer
    seen = page.evaluate("window.__askSeen")
    # Streamed: before the finished answer was rendered (the last change seen), the box
    # showed the text growing piece by piece.
    partial = [t for t, _ in itertools.groupby(seen[:-1])]
    assert len(partial) >= 2, seen
    assert all(b.startswith(a) and len(b) > len(a) for a, b in itertools.pairwise(partial)), seen

    # Numbered sources, best first, closed until opened.
    sources = page.locator("#ask-sources > li")
    expect(sources).to_have_count(2)
    assert page.locator("#ask-sources .source-n").all_inner_texts() == ["[1]", "[2]"]
    assert page.inner_text("#ask-source-1 summary code") == "pump"
    first = page.locator("#ask-source-1 details")
    passage = page.locator("#ask-source-1 .hit-text")
    expect(passage).to_be_hidden()
    page.click("#ask-source-1 summary")
    expect(passage).to_be_visible()
    assert "cracked seal" in passage.inner_text()
    assert first.get_attribute("open") is not None
    # Every cited source (a written [n], or attributed because its passage holds what the
    # answer says) is a link in the answer, and every link is a cited source; a link opens
    # its source's passage. (SmolLM2 is weak: whether it cites anything varies with its reply.)
    cited = [
        int(t.strip("[]"))
        for t in page.locator("#ask-sources > li.cited .source-n").all_inner_texts()
    ]
    links = page.locator("#ask-answer a.cite")
    linked = [int(t.strip("[]")) for t in links.all_inner_texts()]
    assert sorted(set(linked)) == sorted(cited), (linked, cited, answer)
    if linked:
        n = linked[0]
        details = page.locator(f"#ask-source-{n} details")
        if details.get_attribute("open") is not None:
            page.click(f"#ask-source-{n} summary")  # close it, so the link has something to do
        expect(details).not_to_have_attribute("open", "")
        links.first.click()
        expect(details).to_have_attribute("open", "")
        expect(page.locator(f"#ask-source-{n} .hit-text")).to_be_visible()
    shot(page, "ask-tab.png")

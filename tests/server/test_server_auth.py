"""API keys and read-only mode on a real server process on loopback (`python -m omnivec.server`
and `omnivec serve`), driven with httpx."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest

import omnivec as ov
from tests.helpers.http import REPO, running_server

pytestmark = pytest.mark.slow

KEY = "s3cret-Key_for-tests"
DIM = 8


def make_db(path: Path) -> str:
    """A vectors-only collection (no model to load, so the server starts in seconds)."""
    db = str(path / "auth.db")
    with ov.connect(db) as plat:
        raw = plat.collection("raw", dim=DIM, metric="cosine")
        vecs = np.random.default_rng(0).standard_normal((5, DIM)).astype(np.float32)
        raw.add(vectors=vecs, ids=["a", "b", "c", "d", "e"])
    return db


def no_key_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k != "OMNIVEC_API_KEY"}


@pytest.fixture(scope="module")
def guarded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """A server with an API key and --read-only."""
    tmp = tmp_path_factory.mktemp("auth")
    db = make_db(tmp)
    log = tmp / "server.log"
    with running_server(db, log, args=("--api-key", KEY, "--read-only")) as base:
        yield base, log


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def assert_error(resp: httpx.Response, status: int, error: str) -> str:
    assert resp.status_code == status, resp.text
    body = resp.json()
    assert set(body) == {"error", "detail"} and body["error"] == error, body
    assert body["detail"] and "\n" not in body["detail"]
    assert KEY not in resp.text
    return str(body["detail"])


def test_no_key_bad_key_good_key(guarded: tuple[str, Path]) -> None:
    base, _ = guarded
    no_key = httpx.get(f"{base}/collections")
    assert "Authorization: Bearer" in assert_error(no_key, 401, "unauthorized")
    assert no_key.headers["www-authenticate"].startswith("Bearer")
    assert_error(httpx.get(f"{base}/collections", headers=bearer("wrong")), 401, "unauthorized")
    ok = httpx.get(f"{base}/collections", headers=bearer(KEY))
    assert ok.status_code == 200 and [c["name"] for c in ok.json()["collections"]] == ["raw"]
    # Every route needs it, unknown ones too (deny by default), and search answers with it.
    body = {"ref": {"id": "a"}, "k": 2}
    assert_error(httpx.post(f"{base}/collections/raw/search", json=body), 401, "unauthorized")
    assert_error(httpx.get(f"{base}/no/such/route"), 401, "unauthorized")
    hits = httpx.post(f"{base}/collections/raw/search", json=body, headers=bearer(KEY))
    assert hits.status_code == 200 and len(hits.json()["hits"]) == 2


def test_public_routes_need_no_key(guarded: tuple[str, Path]) -> None:
    base, _ = guarded
    assert httpx.get(f"{base}/healthz").json()["status"] == "ok"
    page = httpx.get(f"{base}/")
    assert page.status_code == 200 and "<html" in page.text.lower()
    assert httpx.get(f"{base}/static/app.js").status_code == 200
    # Health is public for GET only; anything else on it is an ordinary route.
    assert_error(httpx.post(f"{base}/healthz"), 401, "unauthorized")


@pytest.mark.parametrize(
    "header",
    [
        "Basic czNjcmV0OnB3",  # another scheme
        KEY,  # the key without a scheme
        "Bearer",  # no key
        f"Bearer {KEY} extra",
        f"Token {KEY}",
        "Bearer " + "x" * 10_000,
    ],
)
def test_malformed_authorization_is_401(guarded: tuple[str, Path], header: str) -> None:
    base, _ = guarded
    resp = httpx.get(f"{base}/collections", headers={"Authorization": header})
    assert_error(resp, 401, "unauthorized")


def test_non_ascii_and_duplicate_headers_are_401(guarded: tuple[str, Path]) -> None:
    base, _ = guarded
    resp = httpx.get(
        f"{base}/collections", headers=[(b"Authorization", "Bearer caf\u00e9".encode("latin-1"))]
    )
    assert_error(resp, 401, "unauthorized")
    two = httpx.get(
        f"{base}/collections",
        headers=[("Authorization", f"Bearer {KEY}"), ("Authorization", f"Bearer {KEY}")],
    )
    assert "one Authorization header" in assert_error(two, 401, "unauthorized")
    # The scheme is case-insensitive (RFC 9110); spaces before the key are not part of it.
    lower = httpx.get(f"{base}/collections", headers={"Authorization": f"bearer  {KEY}"})
    assert lower.status_code == 200


def test_read_only_refuses_writes_and_answers_reads(guarded: tuple[str, Path]) -> None:
    base, _ = guarded
    h = bearer(KEY)
    add = {"vectors": [[1.0] * DIM], "ids": ["new"]}
    detail = assert_error(
        httpx.post(f"{base}/collections/raw/add", json=add, headers=h), 403, "read_only"
    )
    assert "read-only" in detail
    assert_error(
        httpx.post(f"{base}/collections/raw/delete", json={"ids": ["a"]}, headers=h),
        403,
        "read_only",
    )
    assert_error(httpx.delete(f"{base}/collections/raw", headers=h), 403, "read_only")
    for route, body in (("reembed", {"options": {"model": "x"}}), ("reindex", {"keywords": True})):
        assert_error(
            httpx.post(f"{base}/collections/raw/{route}", json=body, headers=h), 403, "read_only"
        )
    # Without a key the answer is 401, not 403: who you are is checked first.
    assert_error(httpx.post(f"{base}/collections/raw/add", json=add), 401, "unauthorized")
    # Reads still work, and nothing was written.
    info = httpx.get(f"{base}/collections/raw", headers=h)
    assert info.status_code == 200 and info.json()["count"] == 5
    search = httpx.post(f"{base}/collections/raw/search", json={"ref": {"id": "b"}}, headers=h)
    assert search.status_code == 200 and "b" not in [x["id"] for x in search.json()["hits"]]


def test_openapi_documents_bearer_scheme(guarded: tuple[str, Path]) -> None:
    base, _ = guarded
    schema = httpx.get(f"{base}/openapi.json").json()
    assert schema["components"]["securitySchemes"]["HTTPBearer"] == {
        "type": "http",
        "scheme": "bearer",
        "description": schema["components"]["securitySchemes"]["HTTPBearer"]["description"],
    }
    assert schema["security"] == [{"HTTPBearer": []}]
    assert schema["paths"]["/healthz"]["get"]["security"] == []
    assert "security" not in schema["paths"]["/collections/{name}/search"]["post"]
    assert "401" in schema["paths"]["/collections/{name}/search"]["post"]["responses"]


def test_key_is_never_logged(guarded: tuple[str, Path]) -> None:
    base, log = guarded
    httpx.get(f"{base}/collections", headers=bearer("not-the-key"))
    httpx.get(f"{base}/collections", headers=bearer(KEY))
    text = log.read_text()
    assert "API key required" in text
    assert KEY not in text and "not-the-key" not in text


def test_flag_wins_over_environment_via_cli(tmp_path: Path) -> None:
    db = make_db(tmp_path)
    env = {**no_key_env(), "OMNIVEC_API_KEY": "from-the-env"}
    log = tmp_path / "cli.log"
    with running_server(
        db, log, args=("--api-key", "from-the-flag"), env=env, module="omnivec.cli"
    ) as base:
        assert httpx.get(f"{base}/collections", headers=bearer("from-the-flag")).status_code == 200
        resp = httpx.get(f"{base}/collections", headers=bearer("from-the-env"))
        assert resp.status_code == 401
    assert "overrides $OMNIVEC_API_KEY" in log.read_text()


def test_environment_key_alone_via_cli(tmp_path: Path) -> None:
    db = make_db(tmp_path)
    env = {**no_key_env(), "OMNIVEC_API_KEY": "from-the-env"}
    with running_server(db, tmp_path / "cli.log", env=env, module="omnivec.cli") as base:
        assert httpx.get(f"{base}/collections").status_code == 401
        assert httpx.get(f"{base}/collections", headers=bearer("from-the-env")).status_code == 200
        # Without --read-only, writes go through with the key.
        add = {"vectors": [[0.5] * DIM], "ids": ["f"]}
        resp = httpx.post(f"{base}/collections/raw/add", json=add, headers=bearer("from-the-env"))
        assert resp.status_code == 200 and resp.json()["ids"] == ["f"]


def run_cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "omnivec.cli", *args],
        capture_output=True,
        text=True,
        cwd=REPO,
        env=env,
        timeout=120,
    )


@pytest.mark.parametrize(
    ("args", "env_key", "says"),
    [
        (("--api-key", ""), None, "--api-key is empty"),
        (("--api-key", "  "), None, "--api-key is empty"),
        ((), "", "$OMNIVEC_API_KEY is empty"),
        (("--api-key", "two words"), None, "spaces"),
    ],
    ids=["empty_flag", "blank_flag", "empty_env", "spaces"],
)
def test_bad_keys_are_clear_errors(
    tmp_path: Path, args: tuple[str, ...], env_key: str | None, says: str
) -> None:
    env = no_key_env()
    if env_key is not None:
        env["OMNIVEC_API_KEY"] = env_key
    result = run_cli("serve", "--db", str(tmp_path / "x.db"), "--port", "1", *args, env=env)
    assert result.returncode == 1
    err = result.stderr.strip()
    assert err.startswith("error: ") and says in err and len(err.splitlines()) == 1, err
    assert not (tmp_path / "x.db").exists()  # refused before anything was opened


def test_help_documents_the_key_and_its_precedence() -> None:
    result = run_cli("serve", "--help", env={**no_key_env(), "COLUMNS": "200"})
    assert result.returncode == 0
    text = " ".join(result.stdout.replace("\u2502", " ").split())  # rich's box borders
    assert "--api-key" in text and "OMNIVEC_API_KEY" in text and "--read-only" in text
    assert "this flag wins over the environment" in text


def test_non_loopback_without_key_warns(tmp_path: Path) -> None:
    # An unreachable store makes serve() stop right after the warning, before binding a port.
    bad_db = "ftp://not-a-store"
    result = run_cli("serve", "--db", bad_db, "--host", "0.0.0.0", "--port", "1", env=no_key_env())
    assert "warning: serving on 0.0.0.0 without an API key" in result.stderr
    with_key = run_cli(
        "serve", "--db", bad_db, "--host", "0.0.0.0", "--api-key", KEY, env=no_key_env()
    )
    assert "warning" not in with_key.stderr and KEY not in with_key.stderr


@pytest.mark.browser
@pytest.mark.skipif(not os.access("/usr/bin/chromium", os.X_OK), reason="no /usr/bin/chromium")
def test_web_page_asks_for_the_key_once(guarded: tuple[str, Path]) -> None:
    from playwright.sync_api import sync_playwright

    from tests.helpers.browser import LAUNCH_ARGS

    base, _ = guarded
    prompts: list[str] = []

    def answer(dialog: object) -> None:
        prompts.append(dialog.message)  # type: ignore[attr-defined]
        dialog.accept(KEY)  # type: ignore[attr-defined]

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=LAUNCH_ARGS)
        try:
            page = browser.new_context().new_page()
            page.set_default_timeout(30_000)
            page.on("dialog", answer)
            sent: list[str | None] = []
            page.on("request", lambda r: sent.append(r.headers.get("authorization")))
            page.goto(base + "/")
            page.wait_for_selector("body[data-ready=true]")
            assert (page.locator("#collection option").first.text_content() or "").startswith("raw")
            assert len(prompts) == 1 and "API key" in prompts[0]
            assert page.evaluate("sessionStorage.getItem('omnivec.apiKey')") == KEY
            # Reloaded in the same tab: the kept key is sent at once, nothing is asked again.
            sent.clear()
            page.reload()
            page.wait_for_selector("body[data-ready=true]")
            assert len(prompts) == 1
            assert f"Bearer {KEY}" in sent
        finally:
            browser.close()

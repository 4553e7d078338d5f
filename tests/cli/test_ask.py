"""``omnivec ask``: streams the answer, then the numbered sources; ``--json`` prints the whole
Answer as the HTTP API answers it; an unreachable LLM is one line on stderr, exit status 1, and
nothing written. A real Lite file, the bundled MiniLM and a real LLM (``llm_url``)."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

import omnivec as ov
from omnivec.cli import app

UNREACHABLE = "http://127.0.0.1:9/v1"
DOCS = {
    "audit": "The auditors found that the company had overstated its revenue by 12 million "
    "dollars.",
    "pump": "The pump XK-4471-B failed on 3 May because of a cracked seal.",
    "moon": "Astronauts walked on the surface of the moon in July 1969.",
}


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> str:
    path = str(tmp_path_factory.mktemp("ask-cli") / "cli.db")
    with ov.connect(path) as plat:
        plat.collection("docs", encoder="text").add(list(DOCS.values()), ids=list(DOCS))
    return path


def run(*args: str) -> tuple[int, str, str]:
    res = CliRunner().invoke(app, list(args))
    return res.exit_code, res.stdout, res.stderr


def test_ask_streams_then_lists_sources(db: str, llm_url: str) -> None:
    code, out, err = run(
        "ask", "docs", "What did the auditors find?", "--llm", llm_url, "-k", "2",
        "--max-tokens", "24", "--timeout", "900", "--db", db,
    )  # fmt: skip
    assert code == 0, err
    answer, _, sources = out.partition("\nSources:\n")
    assert answer.strip() and sources
    assert "[1] audit" in sources and "[2] " in sources and "[3]" not in sources


def test_ask_json_is_the_whole_answer(db: str, llm_url: str) -> None:
    code, out, err = run(
        "ask", "docs", "Why did the pump fail?", "--llm", llm_url, "--json",
        "-k", "2", "--max-tokens", "16", "--timeout", "900", "--db", db,
    )  # fmt: skip
    assert code == 0, err
    payload = json.loads(out)
    assert set(payload) == {"text", "citations", "attributed", "sources", "prompt"}
    assert payload["sources"][0]["id"] == "pump" and payload["sources"][0]["n"] == 1


def test_unreachable_llm_is_one_line_and_exit_1(db: str) -> None:
    code, out, err = run("ask", "docs", "Why did the pump fail?", "--llm", UNREACHABLE, "--db", db)
    assert code == 1 and out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "127.0.0.1:9" in lines[0]
    with ov.connect(db) as plat:
        assert plat.collections() == ["docs"] and len(plat.get_collection("docs")) == len(DOCS)
    # Nothing relevant: the model is not called, so even an unreachable one answers.
    code, out, _ = run(
        "ask", "docs", "pump", "--llm", UNREACHABLE, "--mode", "dense", "--min-score", "0.999",
        "--db", db,
    )  # fmt: skip
    assert code == 0 and "No relevant passages" in out

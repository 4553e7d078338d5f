"""`omnivec reindex NAME --keywords/--no-keywords [--analyzer A]` on a real Milvus Lite file
with the bundled text model."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

import omnivec as ov
from omnivec.cli import app
from tests.platform.test_hybrid import MANUALS

pytestmark = pytest.mark.slow


def test_reindex_on_off_json_help_and_refusals(tmp_path: Path) -> None:
    db = str(tmp_path / "cli.db")
    with ov.connect(db) as plat:
        col = plat.collection("manuals", encoder="text")
        col.add(list(MANUALS.values()), ids=list(MANUALS))
        vectors = {r.id: r.vector for r in col.get(list(MANUALS))}
    runner = CliRunner()

    def run(*args: str) -> tuple[int, str]:
        res = runner.invoke(app, [*args, "--db", db])
        return res.exit_code, res.output

    code, out = run("reindex", "--help")
    assert code == 0
    for option in ("--keywords", "--no-keywords", "--analyzer", "--json"):
        assert option in out

    code, out = run("search", "manuals", "XK-4471-B", "--mode", "keyword")
    assert code == 1 and "no keyword index" in out and "omnivec reindex manuals" in out

    code, out = run("reindex", "manuals", "--keywords", "--analyzer", "english", "--json")
    assert code == 0, out
    report = json.loads(out)
    assert report["name"] == "manuals"
    assert (report["records"], report["copied"], report["resumed"]) == (6, 6, 0)
    assert (report["keywords"], report["analyzer"], report["old_keywords"]) == (
        True,
        "english",
        False,
    )
    code, out = run("search", "manuals", "XK-4471-B", "--mode", "keyword", "--json")
    assert code == 0 and json.loads(out)["hits"][0]["id"] == "m1"
    code, out = run("info", "manuals", "--json")
    assert code == 0 and json.loads(out)["keywords"] is True
    assert json.loads(out)["analyzer"] == "english"

    # Nothing to change, an unknown analyzer, a collection without text: one line, exit 1.
    for args, message in [
        (["manuals", "--keywords"], "already has keywords on (analyzer 'english')"),
        (["manuals", "--analyzer", "klingon"], "analyzer must be one of"),
        (["nope", "--keywords"], "nope"),
    ]:
        code, out = run("reindex", *args)
        assert code == 1 and message in out, out
        assert out.startswith("error: ") and out.count("\n") == 1

    code, out = run("reindex", "manuals", "--no-keywords")
    assert code == 0, out
    assert out.startswith("re-indexed manuals: 6 records, keywords on (analyzer 'english')")
    assert "-> keywords off" in out
    with ov.connect(db) as plat:
        col = plat.collection("manuals")
        assert col.keywords is None
        for r in col.get(list(MANUALS)):
            assert (r.vector == vectors[r.id]).all()  # copied, never re-encoded

"""The `omnivec` command, in-process through typer's runner and once as a real subprocess."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from omnivec.cli import app

ROOT = Path(__file__).resolve().parents[2]
#: Every command the app registers, so a new one cannot miss its --help check.
COMMANDS = sorted(typer.main.get_command(app).commands)  # type: ignore[attr-defined]
assert {"search", "search-all", "map", "cluster", "classify", "reembed", "reindex", "eval"} <= set(
    COMMANDS
)


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


def run(runner: CliRunner, *args: str) -> tuple[int, str, str]:
    res = runner.invoke(app, list(args))
    return res.exit_code, res.stdout, res.stderr


@pytest.mark.parametrize("command", [None, *COMMANDS])
def test_help_everywhere(runner: CliRunner, command: str | None) -> None:
    code, out, _ = run(runner, *([command] if command else []), "--help")
    assert code == 0
    assert "Usage" in out
    if command is not None:
        assert "--db" in out


def test_text_workflow(runner: CliRunner, tmp_path: Path) -> None:
    db = str(tmp_path / "cli.db")
    txt = tmp_path / "notes.txt"
    txt.write_text("I love cats\n\nStocks fell sharply\nThe kitten purrs\n")
    jsonl = tmp_path / "more.jsonl"
    jsonl.write_text(
        json.dumps({"text": "Rockets reach orbit", "id": "r1", "metadata": {"topic": "space"}})
        + "\n"
    )
    csv_file = tmp_path / "rows.csv"
    csv_file.write_text("id,text,topic\n7,Bread needs yeast,food\n")

    code, out, err = run(runner, "add", "docs", str(txt), "--db", db)
    assert code == 0, err
    assert "added 3 records" in out
    assert run(runner, "add", "docs", str(jsonl), "--db", db)[0] == 0
    assert run(runner, "add", "docs", str(csv_file), "--db", db)[0] == 0

    code, out, err = run(runner, "search", "docs", "felines", "-k", "2", "--json", "--db", db)
    assert code == 0, err
    payload = json.loads(out)
    assert set(payload) == {"hits"} and len(payload["hits"]) == 2
    assert payload["hits"][0]["id"] in {"notes.txt:1", "notes.txt:4"}
    assert set(payload["hits"][0]) == {"id", "score", "metadata", "text", "span"}
    assert payload["hits"][0]["text"] in {"I love cats", "The kitten purrs"}

    code, out, _ = run(
        runner, "search", "docs", "space", "--where", 'topic == "space"', "--json", "--db", db
    )
    assert [h["id"] for h in json.loads(out)["hits"]] == ["r1"]
    code, out, _ = run(runner, "search", "docs", "--ref", "7", "-k", "1", "--json", "--db", db)
    assert code == 0 and json.loads(out)["hits"][0]["id"] != 7

    code, out, _ = run(runner, "collections", "--json", "--db", db)
    info = json.loads(out)["collections"][0]
    assert info["name"] == "docs" and info["count"] == 5 and info["encoder"] == "text"
    code, out, _ = run(runner, "info", "docs", "--db", db)
    assert code == 0 and "all-MiniLM-L6-v2" in out
    assert run(runner, "drop", "docs", "--db", db)[0] == 0
    assert "no collections" in run(runner, "collections", "--db", db)[1]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["search", "nope", "x"], "no collection named 'nope'"),
        (["search", "docs", "x", "-k", "0"], "k must be"),
        (["search", "docs", "x", "--where", "lang =="], "invalid filter"),
        (["search", "docs"], "exactly one of"),
        (["search", "docs", "--ref", "missing"], "not in collection"),
        (["info", "nope"], "no collection named"),
        (["drop", "nope"], "no collection or recommender"),
        (["add", "docs", "/no/such/file.txt"], "does not exist"),
        (["add", "bad name", "FILE"], "invalid collection name"),
    ],
)
def test_errors_are_one_line(
    runner: CliRunner, tmp_path: Path, args: list[str], message: str
) -> None:
    db = str(tmp_path / "e.db")
    txt = tmp_path / "a.txt"
    txt.write_text("hello world\n")
    assert run(runner, "add", "docs", str(txt), "--db", db)[0] == 0
    args = [str(txt) if a == "FILE" else a for a in args]
    code, out, err = run(runner, *args, "--db", db)
    assert code == 1
    assert err.startswith("error: ") and err.count("\n") == 1, err
    assert message in err
    assert "Traceback" not in out + err
    # nothing stored was touched
    code, out, _ = run(runner, "collections", "--json", "--db", db)
    assert json.loads(out)["collections"][0]["count"] == 1


def test_real_subprocess_exit_codes(tmp_path: Path) -> None:
    db = str(tmp_path / "p.db")
    exe = [sys.executable, "-m", "omnivec.cli"]
    ok = subprocess.run([*exe, "encoders", "--json"], capture_output=True, text=True, cwd=ROOT)
    assert ok.returncode == 0 and "text" in json.loads(ok.stdout)["encoders"]
    bad = subprocess.run(
        [*exe, "search", "nope", "x", "--db", db], capture_output=True, text=True, cwd=ROOT
    )
    assert bad.returncode == 1
    assert bad.stderr.strip().splitlines() == [
        "error: no collection named 'nope'; see `omnivec collections`"
    ]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["search"], "Missing argument"),
        (["search", "docs", "x", "-k", "many"], "Invalid value for '-k'"),
        (["no-such-command"], "No such command"),
    ],
)
def test_usage_errors_are_one_line_exit_1(args: list[str], message: str) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "omnivec.cli", *args], capture_output=True, text=True, cwd=ROOT
    )
    assert out.returncode == 1
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0]


def test_graph_and_recommender_workflow(runner: CliRunner, tmp_path: Path) -> None:
    import networkx as nx

    db = str(tmp_path / "g.db")
    edges = tmp_path / "karate.csv"
    edges.write_text(
        "source,target\n" + "".join(f"{u},{v}\n" for u, v in nx.karate_club_graph().edges())
    )
    code, out, err = run(
        runner,
        "fit-graph",
        "karate",
        str(edges),
        "--dim",
        "16",
        "--epochs",
        "2",
        "--db",
        db,
        "--json",
    )
    assert code == 0, err
    assert json.loads(out)["nodes"] == 34
    code, out, err = run(runner, "search", "karate", "--ref", "0", "-k", "3", "--json", "--db", db)
    assert code == 0, err
    hits = json.loads(out)["hits"]
    assert len(hits) == 3 and all(isinstance(h["id"], int) and h["id"] != 0 for h in hits)

    # The spectral baseline through the same command, same edge file.
    code, out, err = run(
        runner, "fit-graph", "karate_se", str(edges), "--encoder", "spectral", "--dim", "8",
        "--db", db, "--json",
    )  # fmt: skip
    assert code == 0, err
    assert json.loads(out)["nodes"] == 34
    code, out, err = run(runner, "info", "karate_se", "--json", "--db", db)
    assert code == 0 and json.loads(out)["encoder"] == "spectral", (out, err)

    inter = tmp_path / "inter.csv"
    rows = [("u1", "apple"), ("u1", "pear"), ("u2", "pear"), ("u2", "plum"), ("u3", "apple")]
    rows += [(f"v{i}", f"item{i % 7}") for i in range(60)]
    inter.write_text("user,item\n" + "".join(f"{u},{i}\n" for u, i in rows))
    code, out, err = run(
        runner, "fit-recs", "shop", str(inter), "--factors", "8", "--db", db, "--json"
    )
    assert code == 0, err
    assert json.loads(out)["users"] == 63
    code, out, err = run(runner, "recommend", "shop", "u1", "-k", "3", "--json", "--db", db)
    assert code == 0, err
    recs = [h["id"] for h in json.loads(out)["hits"]]
    assert len(recs) == 3 and not {"apple", "pear"} & set(recs)
    code, out, err = run(runner, "similar-items", "shop", "pear", "-k", "2", "--json", "--db", db)
    assert code == 0 and "pear" not in [h["id"] for h in json.loads(out)["hits"]]
    code, _, err = run(runner, "recommend", "shop", "nobody", "--db", db)
    assert code == 1 and "nobody" in err
    assert run(runner, "drop", "shop", "--db", db)[0] == 0


def test_image_folder_workflow(runner: CliRunner, tmp_path: Path) -> None:
    """`omnivec add NAME DIR` stores every image of a folder; `search --image` finds it."""
    import numpy as np
    from PIL import Image

    import omnivec as ov
    from tests.encoders.test_clip import TINY

    db = str(tmp_path / "img.db")
    folder = tmp_path / "pics"
    (folder / "sub").mkdir(parents=True)
    rng = np.random.default_rng(0)
    for name in ("a.png", "b.jpg", "sub/c.png"):
        Image.fromarray(rng.integers(0, 255, (40, 40, 3), dtype=np.uint8)).save(folder / name)
    (folder / "notes.txt").write_text("not an image")
    with ov.connect(db) as plat:  # a tiny random CLIP: no weights ship offline
        plat.collection("pics", encoder="clip", **TINY)
    code, out, err = run(runner, "add", "pics", str(folder), "--db", db, "--json")
    assert code == 0, err
    assert json.loads(out) == {"added": 3, "collection": "pics", "count": 3}
    code, out, err = run(
        runner,
        "search",
        "pics",
        "--image",
        str(folder / "sub" / "c.png"),
        "-k",
        "1",
        "--json",
        "--db",
        db,
    )
    assert code == 0, err
    hit = json.loads(out)["hits"][0]
    assert hit["id"] == "sub/c.png" and hit["score"] > 0.999
    assert hit["metadata"]["thumbnail"].startswith("data:image/jpeg;base64,")
    code, out, _ = run(
        runner, "search", "pics", "a photo of noise", "-k", "3", "--json", "--db", db
    )
    assert code == 0 and len(json.loads(out)["hits"]) == 3
    code, _, err = run(runner, "search", "pics", "--image", str(folder / "notes.txt"), "--db", db)
    assert code == 1 and "notes.txt" in err

"""`omnivec map / cluster / classify` and `GET /collections/{name}/map`, on a real Milvus Lite
file with the bundled text model, and a real server process on loopback."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from PIL import Image
from typer.testing import CliRunner

import omnivec as ov
from omnivec.cli import app
from tests.helpers.http import DOCS, populate_all, running_server

pytestmark = pytest.mark.slow

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> str:
    path = str(tmp_path_factory.mktemp("cli-analysis") / "cli.db")
    with ov.connect(path) as plat:
        docs = plat.collection("docs", encoder="text")
        docs.add(
            [text for _, text, _, _ in DOCS],
            ids=[i for i, _, _, _ in DOCS],
            metadata=[{"text": t, "topic": topic, "year": y} for _, t, topic, y in DOCS],
        )
        reviews = plat.collection("reviews", encoder="text")
        good = ["I loved this film", "A wonderful movie", "Brilliant and moving", "Great fun"]
        bad = ["I hated this film", "A terrible movie", "Boring and dull", "Awful mess"]
        reviews.add(
            good + bad,
            ids=[f"r{i}" for i in range(8)],
            metadata=[{"sentiment": "pos"}] * 4 + [{"sentiment": "neg"}] * 4,
        )
    return path


def run(*args: str) -> tuple[int, str, str]:
    res = CliRunner().invoke(app, list(args))
    return res.exit_code, res.stdout, res.stderr


@pytest.mark.parametrize("command", ["map", "cluster", "classify"])
def test_help(command: str) -> None:
    code, out, _ = run(command, "--help")
    assert code == 0 and "Usage" in out and "--db" in out


@pytest.mark.parametrize(
    ("color_by", "method"), [("cluster", "pca"), ("topic", "umap"), ("year", "tsne")]
)
def test_map_writes_a_real_png(db: str, tmp_path: Path, color_by: str, method: str) -> None:
    out = tmp_path / f"map-{color_by}.png"
    code, stdout, err = run(
        "map", "docs", "--out", str(out), "--color-by", color_by, "--method", method, "--db", db
    )
    assert code == 0, err
    assert f"{len(DOCS)} records" in stdout
    data = out.read_bytes()
    assert data[:8] == PNG_SIGNATURE
    with Image.open(out) as img:
        assert img.format == "PNG"
        assert img.size[0] >= 800 and img.size[1] >= 600
        # Not a blank canvas: points, legend and labels put many colours on it.
        assert len(img.convert("RGB").getcolors(maxcolors=1 << 20) or []) > 50


def test_map_and_cluster_errors_are_one_line(db: str, tmp_path: Path) -> None:
    for args, words in [
        (["map", "docs", "--out", str(tmp_path / "m.png"), "--method", "mds"], "unknown"),
        (["map", "docs", "--out", str(tmp_path / "m.jpg")], ".png"),
        (["map", "docs", "--out", str(tmp_path / "m.png"), "--color-by", "nokey"], "nokey"),
        (["map", "nope", "--out", str(tmp_path / "m.png")], "nope"),
        (["cluster", "docs", "-n", "1"], "at least 2"),
        (["cluster", "docs", "-n", "99"], "more than"),
        (["cluster", "docs", "-n", "2", "--where", "year > 3000"], "matches no record"),
        (["classify", "docs", "--label", "sentiment", "hello"], "sentiment"),
    ]:
        code, out, err = run(*args, "--db", db)
        assert code == 1, (args, out)
        assert err.startswith("error: ") and words in err and err.count("\n") == 1, (args, err)
    assert not (tmp_path / "m.png").exists()


def test_cluster_json_and_text(db: str) -> None:
    code, out, err = run("cluster", "docs", "-n", "4", "--json", "--db", db)
    assert code == 0, err
    rows = json.loads(out)["clusters"]
    assert {r["id"] for r in rows} == {d[0] for d in DOCS}
    assert {r["cluster"] for r in rows} == {0, 1, 2, 3}
    code, out, err = run("cluster", "docs", "-n", "4", "--db", db)
    assert code == 0 and out.count("cluster ") == 4


def test_classify_texts(db: str) -> None:
    code, out, err = run(
        "classify", "reviews", "--label", "sentiment", "This movie is amazing!",
        "What a boring waste of time", "--json", "--db", db,
    )  # fmt: skip
    assert code == 0, err
    report = json.loads(out)
    assert [p["label"] for p in report["predictions"]] == ["pos", "neg"]
    assert report["classes"] == ["neg", "pos"]
    assert 0.0 <= report["accuracy"] <= 1.0
    code, out, _ = run("classify", "reviews", "--label", "sentiment", "I loved it", "--db", db)
    assert code == 0 and out.startswith("pos") and "accuracy" in out


# -- HTTP -----------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def server_log(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("http-map") / "server.log"


@pytest.fixture(scope="module")
def client(server_log: Path) -> Iterator[httpx.Client]:
    db = str(server_log.parent / "http.db")
    populate_all(db)
    with (
        running_server(db, server_log) as base,
        httpx.Client(base_url=base, timeout=120) as c,
    ):
        yield c


def test_map_route_answers_points(client: httpx.Client) -> None:
    r = client.get("/collections/docs/map", params={"method": "pca", "n_clusters": 4})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["method"] == "pca" and body["sample_size"] == body["total"] == len(DOCS)
    assert {"topic", "year"} <= set(body["keys"])
    points = {p["id"]: p for p in body["points"]}
    assert set(points) == {d[0] for d in DOCS}
    for p in points.values():
        assert math.isfinite(p["x"]) and math.isfinite(p["y"])
        assert p["cluster"] in range(4) and p["label"] == p["cluster"]
    assert points["cat"]["text"] == "I love cats and kittens"

    r = client.get("/collections/docs/map", params={"color_by": "topic", "limit": 5})
    body = r.json()
    assert r.status_code == 200 and body["sample_size"] == 5 and body["total"] == len(DOCS)
    topics = {d[0]: d[2] for d in DOCS}
    assert all(p["label"] == topics[p["id"]] for p in body["points"])

    raw = client.get("/collections/raw/map").json()
    assert sorted(p["id"] for p in raw["points"]) == [1, 2, 3, 4]


def test_map_route_bad_input_is_4xx(client: httpx.Client, server_log: Path) -> None:
    for params, status in [
        ({"method": "mds"}, 400),
        ({"limit": 0}, 400),
        ({"n_clusters": 1}, 400),
        ({"where": "year > 3000"}, 400),
        ({"limit": "many"}, 422),
    ]:
        r = client.get("/collections/docs/map", params=params)
        assert r.status_code == status, (params, r.text)
        assert set(r.json()) == {"error", "detail"}
    assert client.get("/collections/nope/map").status_code == 404
    # None of it was a crash: no 500, no traceback in the server's log.
    log = server_log.read_text()
    assert "Traceback" not in log and "internal_error" not in log, log[-3000:]

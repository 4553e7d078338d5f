"""The READMEs' Python examples run as written, offline (in a fresh process, in tmp_path), and
every link in the READMEs and docs/ points at a file inside the repository."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
README_ZH = ROOT / "README.zh-CN.md"
PYTHON_BLOCK = re.compile(r"```python\n(.*?)```", re.S)
BLOCKS = [b for b in PYTHON_BLOCK.findall(README.read_text()) if "import omnivec" in b]
#: Markdown files whose links must resolve inside the repository.
LINKED = [README, README_ZH, *sorted((ROOT / "docs").glob("*.md"))]
# [text](target) and [label]: target; images too.
LINK = re.compile(
    r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)|^\s*\[[^\]]+\]:\s*(\S+)", re.M
)


def run_block(code: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    script = tmp_path / "example.py"
    script.write_text(code, encoding="utf-8")
    return subprocess.run(
        [sys.executable, str(script)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=600,
    )


def test_readme_has_runnable_examples() -> None:
    assert len(BLOCKS) >= 2


@pytest.mark.parametrize("index", range(len(BLOCKS)))
def test_readme_example_runs(index: int, tmp_path: Path) -> None:
    out = run_block(BLOCKS[index], tmp_path)
    assert out.returncode == 0, out.stderr[-2000:]


def test_chinese_readme_is_linked_from_the_first_screen() -> None:
    first_screen = "\n".join(README.read_text().splitlines()[:12])
    assert "](README.zh-CN.md)" in first_screen


def test_chinese_readme_starts_with_the_same_two_commands() -> None:
    text = README_ZH.read_text()
    first_code = re.search(r"```(\w+)\n(.*?)```", text, re.S)
    assert first_code is not None and first_code.group(1) == "bash"
    lines = [ln.split("#")[0].strip() for ln in first_code.group(2).splitlines()]
    assert lines[:2] == ["make demo", "make test"]


def test_chinese_readme_quick_start_runs_offline(tmp_path: Path) -> None:
    # Only the first block: later ones need an LLM server or show options.
    block = PYTHON_BLOCK.findall(README_ZH.read_text())[0]
    assert "import omnivec" in block and 'encoder="multilingual"' in block
    assert 'analyzer="chinese"' in block and "keywords=True" in block
    out = run_block(block, tmp_path)
    assert out.returncode == 0, out.stderr[-2000:]
    lines = out.stdout.splitlines()
    # 苹果手机 <-> iPhone, a Chinese query for an English record, a part code, a filter.
    assert [ln.split()[0] for ln in lines] == ["phone", "train", "valve", "panda"], out.stdout
    assert "苹果手机" in lines[0]


@pytest.mark.parametrize("doc", LINKED, ids=lambda p: str(p.relative_to(ROOT)))
def test_links_resolve_inside_the_repository(doc: Path) -> None:
    text = doc.read_text(encoding="utf-8")
    assert "shared/DESIGN.md" not in text, "links to the design notes outside the repository"
    bad = []
    for match in LINK.finditer(text):
        target = match.group(1) or match.group(2)
        if re.match(r"^[a-z][a-z0-9+.-]*:", target) or target.startswith("#"):
            continue  # a URL (http:, mailto:) or an anchor in the same page
        path = (doc.parent / target.split("#")[0]).resolve()
        if not path.is_relative_to(ROOT) or not path.exists():
            bad.append(target)
    assert not bad, f"{doc.name}: links that do not resolve inside the repository: {bad}"


API_DOC = ROOT / "docs" / "api.md"


def test_api_reference_names_every_public_name() -> None:
    import omnivec as ov

    text = API_DOC.read_text(encoding="utf-8")
    missing = [name for name in ov.__all__ if f"ov.{name}" not in text]
    assert not missing, f"docs/api.md does not describe: {missing}"


def test_api_reference_names_every_cli_command() -> None:
    import typer

    from omnivec.cli import app

    text = API_DOC.read_text(encoding="utf-8")
    commands = sorted(typer.main.get_command(app).commands)  # type: ignore[attr-defined]
    missing = [c for c in commands if f"`omnivec {c}" not in text]
    assert not missing, f"docs/api.md does not describe the commands: {missing}"


def test_api_reference_names_every_http_route(plat: object) -> None:
    from omnivec.server import create_app

    text = API_DOC.read_text(encoding="utf-8")
    paths = create_app(plat).openapi()["paths"]  # type: ignore[arg-type]
    missing = [
        f"{method.upper()} {path}"
        for path, operations in paths.items()
        for method in operations
        if f"`{method.upper()} {path}`" not in text
    ]
    assert len(paths) >= 15
    assert not missing, f"docs/api.md does not describe the routes: {missing}"

"""Figures render Chinese, Japanese and Korean text (omnivec.platform.plots), with the bundled
Noto Sans CJK font registered at first draw, no missing-glyph warning, and no global
matplotlib settings changed."""

from __future__ import annotations

import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

import omnivec as ov
from omnivec.platform.analysis import MapPoint
from omnivec.platform.plots import cjk_font_families, draw_collection_map, font_rc, save_map

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# Chinese (simplified and traditional), Japanese kana and Hangul.
SCRIPTS = {"zh": "苹果手机", "zh-Hant": "蘋果", "ja": "ひらがなカタカナ", "ko": "한국어"}


def _points(labels: list[str]) -> list[MapPoint]:
    rng = np.random.default_rng(0)
    return [
        MapPoint(id=i, x=float(x), y=float(y), cluster=0, label=label)
        for i, ((x, y), label) in enumerate(
            zip(rng.normal(size=(len(labels), 2)), labels, strict=True)
        )
    ]


def _render(text: str) -> np.ndarray:
    """``text`` drawn alone in the figures' font settings, as a grey-level array."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    with matplotlib.rc_context(font_rc()):
        fig = plt.figure(figsize=(0.6, 0.6), dpi=50)
        try:
            fig.text(0.1, 0.2, text, fontsize=24)
            fig.canvas.draw()
            rgba = np.asarray(fig.canvas.buffer_rgba())  # type: ignore[attr-defined]
            return rgba[..., :3].mean(axis=2).copy()
        finally:
            plt.close(fig)


def test_a_cjk_font_is_found() -> None:
    families = cjk_font_families()
    assert families, "no CJK font registered"
    assert families[0] == "Noto Sans CJK SC"  # the bundled one, whatever the system has


def test_map_with_cjk_labels_and_title_has_no_missing_glyph(tmp_path: Path) -> None:
    import matplotlib

    before = list(matplotlib.rcParams["font.family"])
    labels = [SCRIPTS[k] for k in SCRIPTS for _ in range(5)] + ["English"] * 5
    out = tmp_path / "地图.png"
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # "Glyph ... missing from font(s)" would raise
        save_map(
            _points(labels),
            out,
            title="收藏：苹果手机 · ひらがな · 한국어",
            method="pca",
            color_by="类别",
        )
    assert out.read_bytes().startswith(PNG_SIGNATURE)
    assert list(matplotlib.rcParams["font.family"]) == before  # scoped to the drawing


@pytest.mark.parametrize("script", sorted(SCRIPTS))
def test_each_script_draws_real_glyphs_not_boxes(script: str) -> None:
    # A missing glyph is drawn as the same empty box whatever the character: two different
    # characters that come out pixel-identical (or blank) mean no font had them.
    a, b = SCRIPTS[script][0], SCRIPTS[script][1]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        img_a, img_b = _render(a), _render(b)
    assert img_a.min() < 128 and img_b.min() < 128  # something dark was drawn
    assert not np.array_equal(img_a, img_b)


def test_collection_map_coloured_by_a_chinese_label(plat: ov.Platform, tmp_path: Path) -> None:
    col = plat.collection("goods", dim=4, metric="cosine")
    rng = np.random.default_rng(1)
    kinds = ["水果", "手机", "りんご", "사과"]
    col.add(
        vectors=rng.normal(size=(24, 4)).astype(np.float32),
        ids=[f"g{i}" for i in range(24)],
        metadata=[{"kind": kinds[i % 4]} for i in range(24)],
    )
    out = tmp_path / "goods.png"
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        line = draw_collection_map(col, out, method="pca", color_by="kind")
    assert out.read_bytes().startswith(PNG_SIGNATURE)
    assert "24 records" in line


def test_importing_plots_loads_no_matplotlib() -> None:
    code = (
        "import sys, omnivec.platform.plots; "
        "assert 'matplotlib' not in sys.modules, 'matplotlib imported'"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr


def test_web_page_font_stack_names_the_cjk_fonts_users_have() -> None:
    css = (Path(ov.__file__).parent / "web" / "style.css").read_text()
    body = css[css.index("font: 15px") :].split(";")[0]
    for family in [
        "PingFang SC",
        "Hiragino Sans",
        "Microsoft YaHei",
        "Noto Sans CJK SC",
        "Source Han Sans",
        "Apple SD Gothic Neo",
        "Malgun Gothic",
    ]:
        assert f'"{family}"' in body, family
    assert body.rstrip().endswith("sans-serif")

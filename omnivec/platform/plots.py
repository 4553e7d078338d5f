"""Pictures of a collection: a 2-D map as a PNG (matplotlib, imported only when drawing)."""

from __future__ import annotations

import importlib.util
import threading
import warnings
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from omnivec.errors import InvalidInputError

if TYPE_CHECKING:
    from omnivec.platform.analysis import Classifier, MapPoint
    from omnivec.platform.collection import Collection

__all__ = [
    "CJK_FAMILIES",
    "MAX_LEGEND",
    "cjk_font_families",
    "classify_report",
    "cluster_lines",
    "draw_collection_map",
    "font_rc",
    "save_map",
]

#: Categories named in the legend; rarer ones are drawn grey as "other".
MAX_LEGEND = 20
_AXIS = {"pca": "PCA", "umap": "UMAP", "tsne": "t-SNE"}

#: CJK-capable families tried after matplotlib's own Latin font, in this order: the bundled
#: Noto Sans CJK SC (the ``mplfonts`` dependency; OFL, covers Chinese, Japanese kana and
#: Hangul) first, then what users' systems commonly have.
CJK_FAMILIES = (
    "Noto Sans CJK SC",
    "Noto Sans CJK JP",
    "Noto Sans CJK KR",
    "Noto Sans CJK TC",
    "Source Han Sans SC",
    "Source Han Sans",
    "PingFang SC",
    "Hiragino Sans GB",
    "Hiragino Sans",
    "Microsoft YaHei",
    "Apple SD Gothic Neo",
    "Malgun Gothic",
    "WenQuanYi Zen Hei",
    "WenQuanYi Micro Hei",
)
#: The font file shipped by the ``mplfonts`` package (the other CJK files it bundles are not
#: used: SimHei is not under a free licence).
_BUNDLED = ("fonts", "NotoSansCJKsc-Regular.otf")
_CJK_HINT = (
    "no CJK font found: Chinese, Japanese and Korean text in figures will show as boxes "
    "(pip install mplfonts, or install Noto Sans CJK on the system)"
)
_fonts_lock = threading.Lock()
_families: list[str] | None = None


def _bundled_font() -> Path | None:
    """The path of mplfonts' Noto Sans CJK SC, found without importing the package."""
    spec = importlib.util.find_spec("mplfonts")
    if spec is None or not spec.submodule_search_locations:
        return None
    for root in spec.submodule_search_locations:
        path = Path(root).joinpath(*_BUNDLED)
        if path.is_file():
            return path
    return None


def cjk_font_families() -> list[str]:
    """The CJK-capable font families matplotlib knows, best first (registering the bundled
    Noto Sans CJK SC with matplotlib's font manager the first time it is called).

    Nothing is changed at import and no global ``rcParams`` are touched: :func:`font_rc`
    applies the list to one drawing. An empty list (and one warning) where no CJK font exists.
    """
    global _families
    with _fonts_lock:
        if _families is None:
            from matplotlib import font_manager

            bundled = _bundled_font()
            if bundled is not None:
                known = {Path(f.fname) for f in font_manager.fontManager.ttflist}
                if bundled not in known:
                    font_manager.fontManager.addfont(str(bundled))
            names = {f.name for f in font_manager.fontManager.ttflist}
            _families = [f for f in CJK_FAMILIES if f in names]
            if not _families:
                warnings.warn(_CJK_HINT, RuntimeWarning, stacklevel=2)
        return list(_families)


def font_rc() -> dict[str, Any]:
    """``rcParams`` for one drawing (use with ``matplotlib.rc_context``): matplotlib's own
    sans-serif for Latin text, then the CJK families for the glyphs it lacks (matplotlib's
    per-glyph font fallback), so labels and titles in any of the three scripts render."""
    return {"font.family": ["DejaVu Sans", *cjk_font_families()]}  # DejaVu ships in matplotlib


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float | np.number) and not isinstance(value, bool)


def save_map(
    points: Sequence[MapPoint],
    out: str | Path,
    *,
    title: str,
    method: str,
    color_by: str = "cluster",
    dpi: int = 110,
) -> Path:
    """Draw ``points`` as a scatter plot coloured by their ``label`` and write a PNG to ``out``.

    Categorical labels get a legend (the :data:`MAX_LEGEND` most common; cluster -1 is
    HDBSCAN's noise, drawn grey); numeric metadata gets a colour bar. Returns the path.
    """
    path = Path(out)
    if path.suffix.lower() != ".png":
        raise InvalidInputError(f"--out {path} must end in .png")
    if not points:
        raise InvalidInputError("nothing to draw: no points")
    import matplotlib

    matplotlib.use("Agg")  # no display: always draw to a file
    with matplotlib.rc_context(font_rc()):  # type: ignore[arg-type]
        return _draw(points, path, title=title, method=method, color_by=color_by, dpi=dpi)


def _draw(
    points: Sequence[MapPoint], path: Path, *, title: str, method: str, color_by: str, dpi: int
) -> Path:
    import matplotlib.pyplot as plt

    xy = np.array([(p.x, p.y) for p in points], dtype=np.float64)
    labels = [p.label for p in points]
    size = float(np.clip(600 / np.sqrt(len(points)), 4, 60))
    fig, ax = plt.subplots(figsize=(9, 7), dpi=dpi)
    try:
        numeric = color_by != "cluster" and all(_is_number(v) or v is None for v in labels)
        if numeric and len({v for v in labels if v is not None}) > MAX_LEGEND:
            have = np.array([v is not None for v in labels])
            if (~have).any():
                ax.scatter(
                    xy[~have, 0], xy[~have, 1], s=size, c="#c8c8c8", label="(no value)", alpha=0.6
                )
            sc = ax.scatter(
                xy[have, 0],
                xy[have, 1],
                s=size,
                c=[float(v) for v in labels if v is not None],
                cmap="viridis",
                alpha=0.85,
            )
            fig.colorbar(sc, ax=ax, label=color_by)
        else:
            counts = Counter(labels)
            named = [v for v, _ in counts.most_common(MAX_LEGEND) if v is not None and v != -1]
            named.sort(key=lambda v: (not _is_number(v), v if _is_number(v) else str(v)))
            cmap = plt.get_cmap("tab10" if len(named) <= 10 else "tab20")
            rest = np.array([v not in named for v in labels])
            if rest.any():
                grey = "noise (-1)" if color_by == "cluster" else "other / none"
                ax.scatter(xy[rest, 0], xy[rest, 1], s=size, c="#c8c8c8", label=grey, alpha=0.6)
            for i, value in enumerate(named):
                mask = np.array([v == value for v in labels]) & ~rest
                name = f"cluster {value}" if color_by == "cluster" else str(value)
                ax.scatter(
                    xy[mask, 0],
                    xy[mask, 1],
                    s=size,
                    color=cmap(i % cmap.N),
                    label=f"{name} ({int(mask.sum())})",
                    alpha=0.85,
                    edgecolors="white",
                    linewidths=0.3,
                )
            ax.legend(
                title=color_by,
                loc="center left",
                bbox_to_anchor=(1.01, 0.5),
                fontsize=8,
                title_fontsize=9,
                markerscale=max(1.0, 30 / size) ** 0.5,
                frameon=False,
            )
        name = _AXIS.get(method, method)
        ax.set_xlabel(f"{name} 1")
        ax.set_ylabel(f"{name} 2")
        ax.set_title(title, fontsize=11)
        ax.grid(True, alpha=0.25)
        fig.tight_layout()
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, format="png")
    finally:
        plt.close(fig)
    return path


def draw_collection_map(
    col: Collection,
    out: str | Path,
    method: str = "pca",
    color_by: str = "cluster",
    where: str | None = None,
    limit: int | None = None,
    n_clusters: int | None = None,
    seed: int = 0,
) -> str:
    """Project ``col`` (see :func:`omnivec.platform.analysis.map_points`), write the PNG map
    to ``out`` and return a one-line summary that states the sample size."""
    from omnivec.platform.analysis import map_points

    if Path(out).suffix.lower() != ".png":
        raise InvalidInputError(f"--out {out} must end in .png")
    proj, points = map_points(col, method, color_by, where, limit, n_clusters, seed)
    shown = f"{proj.sample_size:,}" + (
        f" of {proj.total:,} (seeded sample)" if proj.total > proj.sample_size else ""
    )
    title = f"{col.name}: {shown} records, {proj.method.upper()}, coloured by {color_by}"
    save_map(points, out, title=title, method=proj.method, color_by=color_by)
    return f"wrote {out}: {shown} records, {proj.method}, coloured by {color_by}"


def cluster_lines(labels: dict[Any, int], show: int = 8) -> list[str]:
    """One line per cluster: its number, size and first ids."""
    groups: dict[int, list[Any]] = {}
    for id_, c in labels.items():
        groups.setdefault(c, []).append(id_)
    for members in groups.values():
        members.sort(key=lambda i: (isinstance(i, str), i))
    return [
        f"cluster {c:>3}  {len(groups[c]):>6} records  "
        + ", ".join(map(str, groups[c][:show]))
        + (", ..." if len(groups[c]) > show else "")
        for c in sorted(groups)
    ]


def classify_report(clf: Classifier, texts: list[str]) -> tuple[dict[str, Any], list[str]]:
    """(JSON-able report, printable lines) of ``clf``'s predictions for ``texts``."""
    preds, proba = clf.predict(texts), clf.predict_proba(texts)
    rows = [
        {"text": t, "label": p, "probability": float(pr.max())}
        for t, p, pr in zip(texts, preds, proba, strict=True)
    ]
    report = {"predictions": rows, "classes": clf.classes, "accuracy": clf.accuracy}
    lines = [f"{r['label']!s:<12} {r['probability']:.2f}  {r['text']}" for r in rows]
    lines.append(
        f"cross-validated accuracy on {clf.n_records} labelled records: {clf.accuracy:.3f}"
    )
    return report, lines

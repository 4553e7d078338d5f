"""The Lee corpus, real ABC news text with human similarity ratings, as gensim's wheel ships
it (``gensim/test/test_data``; gensim is a dependency of omnivec, so this is offline).

* :func:`lee_documents` -- the 50 short news articles (``lee.cor``, 51-152 MiniLM tokens);
* :func:`lee_ratings` -- their human similarity ratings, a symmetric 50 x 50 matrix scaled to
  [0, 1] (``similarities0-1.txt``: the mean of ~10 ratings per pair on a 1-5 scale; Lee,
  Pincombe & Welsh 2005);
* :func:`lee_background` -- 300 more articles from the same source (``lee_background.cor``).

The files are Latin-1 (pound signs); one article per line. Kept small and stable: other
benchmarks import it (``sys.path`` holding ``benchmarks/quality``, or as a package).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np

__all__ = ["data_dir", "lee_background", "lee_documents", "lee_ratings"]


def data_dir() -> Path:
    """gensim's ``test/test_data`` folder (found without importing gensim)."""
    spec = importlib.util.find_spec("gensim")
    if spec is None or spec.origin is None:
        raise SystemExit("the Lee corpus ships in gensim's wheel: pip install gensim")
    return Path(spec.origin).parent / "test" / "test_data"


def _lines(name: str) -> list[str]:
    text = (data_dir() / name).read_text(encoding="latin-1")
    return [line.strip() for line in text.splitlines() if line.strip()]


def lee_documents() -> list[str]:
    """The 50 rated news articles, in the ratings' order."""
    docs = _lines("lee.cor")
    assert len(docs) == 50, len(docs)
    return docs


def lee_ratings() -> np.ndarray:
    """float64 (50, 50): human similarity of each pair of :func:`lee_documents` in [0, 1]
    (the file holds the upper triangle; mirrored here, 1 on the diagonal)."""
    rows = [[float(x) for x in line.split()] for line in _lines("similarities0-1.txt")]
    upper = np.triu(np.asarray(rows, dtype=np.float64))
    return upper + np.triu(upper, 1).T


def lee_background() -> list[str]:
    """The 300 background news articles (no ratings)."""
    return _lines("lee_background.cor")

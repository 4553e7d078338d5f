"""What a collection's index accepts: the ``index=`` names, ``recall_target``, per-search
parameters, and the Milvus index and search parameters on a server."""

from __future__ import annotations

from typing import Any

import numpy as np

from omnivec.errors import InvalidInputError

__all__ = [
    "INDEXES",
    "LOCAL_INDEXES",
    "check_recall_target",
    "check_search_params",
    "server_index",
    "server_search_params",
]

#: Every ``index=`` a collection accepts. On a Lite file "auto", "ivf_sq8" and "hnsw" are
#: in-process indexes beside Milvus FLAT (Lite has no HNSW of its own).
INDEXES = ("auto", "flat", "ivf_flat", "ivf_sq8", "hnsw")
LOCAL_INDEXES = ("auto", "ivf_sq8", "hnsw")
_SEARCH_PARAMS = ("nprobe", "ef")
#: On a server, ``exact=True`` asks the index for its widest search (Milvus cannot scan an
#: indexed collection exhaustively): every list of an IVF index, this ef for HNSW.
_SERVER_EXACT_EF = 16_384


def check_recall_target(value: Any) -> float:
    """``recall_target``: a number in (0, 1], the recall@10 an ANN index is calibrated for."""
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not np.isfinite(value)
        or not 0 < value <= 1
    ):
        raise InvalidInputError(f"recall_target must be a number in (0, 1], got {value!r}")
    return float(value)


def check_search_params(params: dict[str, Any] | None) -> dict[str, int]:
    """``{"nprobe": n}`` (IVF) and/or ``{"ef": n}`` (HNSW), positive ints; ``"exact": True``
    is how ``search(exact=True)`` reaches the store (an exact scan whatever the index)."""
    if params is None:
        return {}
    if not isinstance(params, dict):
        raise InvalidInputError(f"search_params must be a dict, got {type(params).__name__}")
    out = {}
    for key, value in params.items():
        if key == "exact":
            if not isinstance(value, bool):
                raise InvalidInputError(f"exact must be True or False, got {value!r}")
            if value:
                out[key] = 1
            continue
        if key not in _SEARCH_PARAMS:
            raise InvalidInputError(
                f"unknown search parameter {key!r}; use {', '.join(_SEARCH_PARAMS)}"
            )
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 65_536:
            raise InvalidInputError(f"search parameter {key} must be an int from 1 to 65536")
        out[key] = int(value)
    return out


# -- Milvus server indexes ---------------------------------------------------------------------
def server_index(index: str, rows: int = 1_000_000) -> tuple[str, dict[str, int]]:
    """Milvus index type and build parameters for ``index`` on a server, sized for ``rows``.

    ``auto`` is HNSW (no training, good recall from thousands to tens of millions of rows);
    IVF types get nlist ~ 4 sqrt(rows)."""
    nlist = int(min(65_536, max(64, 4 * np.sqrt(max(rows, 1)))))
    if index in ("auto", "hnsw"):
        m = 16 if rows <= 5_000_000 else 32
        return "HNSW", {"M": m, "efConstruction": 200}
    if index == "ivf_flat":
        return "IVF_FLAT", {"nlist": nlist}
    if index == "ivf_sq8":
        return "IVF_SQ8", {"nlist": nlist}
    return "FLAT", {}


def server_search_params(index: str, k: int, params: dict[str, int]) -> dict[str, int]:
    """Search parameters for a server index: HNSW ``ef`` >= k, IVF ``nprobe``; with
    ``exact`` the widest the index allows."""
    exact = bool(params.get("exact"))
    if index in ("auto", "hnsw"):
        return {"ef": max(_SERVER_EXACT_EF if exact else params.get("ef", 64), k)}
    if index in ("ivf_flat", "ivf_sq8"):
        return {"nprobe": 65_536 if exact else params.get("nprobe", 32)}
    return {}

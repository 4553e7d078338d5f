"""What a collection's index accepts: the ``index=`` names, ``recall_target`` and per-search
parameters (the Milvus index and search parameters on a server are in
:mod:`omnivec.stores.milvus`)."""

from __future__ import annotations

from typing import Any

import numpy as np

from omnivec.errors import InvalidInputError

__all__ = [
    "INDEXES",
    "LOCAL_INDEXES",
    "check_recall_target",
    "check_search_params",
]

#: Every ``index=`` a collection accepts. On a Lite file "auto", "ivf_sq8" and "hnsw" are
#: in-process indexes beside Milvus FLAT (Lite has no HNSW of its own).
INDEXES = ("auto", "flat", "ivf_flat", "ivf_sq8", "hnsw")
LOCAL_INDEXES = ("auto", "ivf_sq8", "hnsw")
_SEARCH_PARAMS = ("nprobe", "ef")


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

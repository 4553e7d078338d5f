"""Parsing what users hand a recommender besides the interaction matrix: a fold-in history
(``interactions=[(item, weight), ...]``), per-id metadata, and histories as a fold-in matrix.

The interaction matrix itself (:class:`omnivec.core.interactions.Interactions`) is parsed in
``omnivec.core.interactions``, where the collaborative encoders read it too.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from omnivec.core.ids import encode_id
from omnivec.core.interactions import Interactions
from omnivec.core.validation import check_batch, check_metadata
from omnivec.errors import InvalidInputError

__all__ = ["fold_in_matrix", "history_of", "merge_histories", "metadata_rows"]


def history_of(interactions: Any) -> dict[str, float]:
    """``{item key: summed weight}`` from ``[(item, weight), ...]`` or ``[item, ...]``."""
    rows = check_batch(interactions, "interactions")
    out: dict[str, float] = {}
    for n, row in enumerate(rows):
        if isinstance(row, tuple | list):
            if len(row) != 2:
                raise InvalidInputError(
                    f"interaction {n} is {row!r}; pass (item, weight) or an item id"
                )
            item, weight = row
        else:
            item, weight = row, 1.0
        if (
            isinstance(weight, bool)
            or not isinstance(weight, int | float | np.number)
            or not np.isfinite(weight)
        ):
            raise InvalidInputError(f"interaction {n} has weight {weight!r}; pass a finite number")
        key = encode_id(item)
        out[key] = out.get(key, 0.0) + float(weight)
    return {k: w for k, w in out.items() if w != 0}


def metadata_rows(source: Any, ids: list[Any], id_col: str, what: str) -> list[dict[str, Any]]:
    """One metadata dict per id from ``{id: {...}}`` or a DataFrame (ids in ``id_col`` or the
    index); ids without an entry get ``{}``. Validated like any collection metadata."""
    if source is None:
        return [{} for _ in ids]
    if hasattr(source, "columns") and hasattr(source, "to_dict"):
        frame = source.set_index(id_col) if id_col in source.columns else source
        if not frame.index.is_unique:
            raise InvalidInputError(f"{what} metadata has duplicate ids; pass one row per {what}")
        # Missing cells (NaN) are left out rather than refused as non-finite numbers.
        mapping: Mapping[Any, Any] = {
            (i.item() if isinstance(i, np.generic) else i): {
                c: v for c, v in row.items() if not (isinstance(v, float) and v != v)
            }
            for i, row in frame.to_dict(orient="index").items()
        }
    elif isinstance(source, Mapping):
        mapping = source
    else:
        raise InvalidInputError(
            f"{what}_metadata must be a mapping {{id: {{...}}}} or a DataFrame, got {type(source).__name__}"
        )
    by_key = {encode_id(i): v for i, v in mapping.items()}
    return check_metadata([by_key.get(encode_id(i)) for i in ids], len(ids))


def fold_in_matrix(
    histories: Sequence[Mapping[str, float]],
    item_rows: Callable[[list[str]], list[int | None]],
    n_items: int,
) -> tuple[Any, list[dict[str, float]], int]:
    """A float32 CSR ``(len(histories), n_items)`` of ``{item key: weight}`` histories over
    the model's item rows (``item_rows`` maps keys to rows, None for unknown items), the
    histories restricted to known items, and how many interactions were unknown."""
    import scipy.sparse as sp

    indptr: list[int] = [0]
    cols: list[int] = []
    vals: list[float] = []
    kept: list[dict[str, float]] = []
    unknown = 0
    for hist in histories:
        keys = list(hist)
        rows = item_rows(keys)
        known = {k: hist[k] for k, r in zip(keys, rows, strict=True) if r is not None}
        unknown += len(keys) - len(known)
        cols.extend(r for r in rows if r is not None)
        vals.extend(known.values())
        indptr.append(len(cols))
        kept.append(known)
    matrix = sp.csr_matrix(
        (
            np.asarray(vals, np.float32),
            np.asarray(cols, np.int64),
            np.asarray(indptr, np.int64),
        ),
        shape=(len(histories), n_items),
    )
    matrix.sum_duplicates()
    return matrix, kept, unknown


def merge_histories(
    inter: Interactions, old: Mapping[str, Mapping[str, float]]
) -> list[dict[str, float]]:
    """Each user's ``{item key: weight}`` in ``inter`` (row order): their ``old`` history (by
    user key; none if absent) plus these interactions, weights adding up."""
    out = []
    for n, key in enumerate(inter.user_keys):
        merged = dict(old.get(key, {}))
        items, weights = inter.seen(n)
        for item, w in zip(items, weights, strict=True):
            k = encode_id(item)
            merged[k] = merged.get(k, 0.0) + float(w)
        out.append(merged)
    return out

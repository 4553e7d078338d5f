"""User-item interactions in omnivec's coordinates, and the protocol of the factor models.

:class:`Interactions` (a users x items CSR with the caller's ids on both sides) is what the
recommender parses from a DataFrame, tuples or a sparse matrix, and what the collaborative
encoders (ALS, BPR) train on; both sides import it from here.

:class:`FactorModel` is what the recommender needs from such an encoder. Training computes
first and commits after (implicit's ``recalculate_user`` against ``partial_fit_users``):
``train`` returns :class:`TrainedFactors` and leaves the model as it was; the recommender
stores the vectors, records the new space and only then calls ``adopt``. A failure anywhere
before ``adopt`` leaves the model, and what is stored, as before.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import numpy as np

from omnivec.core.encoder import FitResult
from omnivec.core.ids import encode_id
from omnivec.core.space import Space
from omnivec.errors import InvalidInputError

__all__ = [
    "FactorLoader",
    "FactorModel",
    "Interactions",
    "TrainedFactors",
    "interactions_from",
]

#: Loads the learned vectors of one side ("user" / "item") from wherever they are kept
#: (the recommender's store collections): returns (ids, float32 (n, dim)).
FactorLoader = Callable[[str], tuple[list[Any], np.ndarray]]


@dataclass
class Interactions:
    """Interactions in omnivec's own coordinates.

    ``user_ids`` / ``item_ids`` are the caller's ids in row / column order (first appearance),
    ``user_keys`` / ``item_keys`` their store keys, ``matrix`` a float32 CSR of shape
    ``(len(user_ids), len(item_ids))`` with summed weights (duplicates add up).
    """

    user_ids: list[Any]
    item_ids: list[Any]
    user_keys: list[str]
    item_keys: list[str]
    matrix: Any  # scipy.sparse.csr_matrix

    @property
    def nnz(self) -> int:
        return int(self.matrix.nnz)

    def seen(self, row: int) -> tuple[list[Any], list[float]]:
        """The item ids and weights of user row ``row``."""
        m = self.matrix
        lo, hi = m.indptr[row], m.indptr[row + 1]
        return [self.item_ids[j] for j in m.indices[lo:hi]], m.data[lo:hi].tolist()


def _factorize(values: Any, what: str) -> tuple[np.ndarray, list[Any], list[str]]:
    """Codes (int64, first-appearance order), the unique ids as plain Python, and their keys."""
    import pandas as pd

    if not (isinstance(values, np.ndarray) and values.ndim == 1):
        # np.asarray would turn tuple ids into a 2-D array; a Series keeps one id per row.
        values = pd.Series(list(values), dtype=object).to_numpy()
    if pd.api.types.infer_dtype(values, skipna=False) not in ("string", "integer"):
        # factorize would merge True into 1 (equal hashes) before any id is checked.
        for n, v in enumerate(values):
            if isinstance(v, bool | np.bool_):
                raise InvalidInputError(f"{what} id in row {n} is {v!r}; ids must be str or int")
    try:
        codes, uniques = pd.factorize(values.astype(object, copy=False), use_na_sentinel=True)
    except (TypeError, ValueError) as exc:
        raise InvalidInputError(f"{what} ids must be str or int: {exc}") from exc
    if (codes < 0).any():
        raise InvalidInputError(f"a {what} id is missing (None/NaN) in row {int(np.argmin(codes))}")
    ids = [u.item() if isinstance(u, np.generic) else u for u in uniques]
    keys = [encode_id(i) for i in ids]
    if len(set(keys)) != len(keys):
        raise InvalidInputError(f"{what} ids collide (e.g. True and 1); use str or int ids")
    return codes.astype(np.int64), ids, keys


def _unique_ids(ids: Any, what: str, n: int) -> tuple[list[Any], list[str]]:
    if ids is None:
        raise InvalidInputError(
            f"a sparse matrix needs {what}s=[...] with one id per {'row' if what == 'user' else 'column'}"
        )
    out = [i.item() if isinstance(i, np.generic) else i for i in list(ids)]
    if len(out) != n:
        raise InvalidInputError(
            f"got {len(out)} {what} ids for {n} matrix {what}s; pass one per {what}"
        )
    keys = [encode_id(i) for i in out]
    if len(set(keys)) != len(keys):
        raise InvalidInputError(f"duplicate {what} id in {what}s=; ids must be unique")
    return out, keys


def _weights(values: Any) -> np.ndarray:
    try:
        w = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise InvalidInputError(f"interaction weights must be numbers: {exc}") from exc
    if not np.isfinite(w).all():
        raise InvalidInputError("interaction weights contain NaN or infinity; pass finite numbers")
    return w


def interactions_from(
    data: Any,
    *,
    user_col: str = "user",
    item_col: str = "item",
    weight_col: str | None = "weight",
    users: Sequence[Any] | None = None,
    items: Sequence[Any] | None = None,
) -> Interactions:
    """Normalise interactions into :class:`Interactions`.

    ``data`` is a pandas DataFrame with ``user_col``, ``item_col`` and optionally ``weight_col``
    (weight 1 when absent); an iterable of ``(user, item)`` or ``(user, item, weight)`` tuples;
    or a scipy sparse matrix of shape ``(len(users), len(items))`` with ``users=`` and ``items=``.
    """
    import scipy.sparse as sp

    if data is None:
        raise InvalidInputError(
            "interactions are None; pass a DataFrame, (user, item[, weight]) tuples or a sparse matrix"
        )
    if sp.issparse(data):
        m = sp.csr_matrix(data, dtype=np.float32)
        user_ids, user_keys = _unique_ids(users, "user", m.shape[0])
        item_ids, item_keys = _unique_ids(items, "item", m.shape[1])
        if not np.isfinite(m.data).all():
            raise InvalidInputError(
                "interaction weights contain NaN or infinity; pass finite numbers"
            )
        m.sum_duplicates()
    else:
        if users is not None or items is not None:
            raise InvalidInputError("users= and items= go with a sparse matrix only")
        if hasattr(data, "columns") and hasattr(data, "__getitem__"):
            cols = list(data.columns)
            for col in (user_col, item_col):
                if col not in cols:
                    raise InvalidInputError(
                        f"the DataFrame has no column {col!r} (columns: {cols}); "
                        "pass user_col= / item_col= naming its columns"
                    )
            u_vals, i_vals = data[user_col].to_numpy(), data[item_col].to_numpy()
            w = (
                _weights(data[weight_col].to_numpy())
                if weight_col is not None and weight_col in cols
                else np.ones(len(u_vals))
            )
        else:
            u_vals, i_vals, w = _columns_from_tuples(data)
        if len(u_vals) == 0:
            raise InvalidInputError("interactions are empty; pass at least one (user, item)")
        u_codes, user_ids, user_keys = _factorize(u_vals, "user")
        i_codes, item_ids, item_keys = _factorize(i_vals, "item")
        m = sp.csr_matrix(
            (w.astype(np.float32), (u_codes, i_codes)), shape=(len(user_ids), len(item_ids))
        )
        m.sum_duplicates()
    m.eliminate_zeros()
    if m.nnz == 0:
        raise InvalidInputError("interactions have no non-zero weight; pass at least one")
    m.sort_indices()
    return Interactions(user_ids, item_ids, user_keys, item_keys, m)


def _columns_from_tuples(data: Any) -> tuple[list[Any], list[Any], np.ndarray]:
    if isinstance(data, str | bytes | dict):
        raise InvalidInputError(
            "interactions must be a DataFrame, an iterable of (user, item[, weight]) tuples "
            f"or a sparse matrix, not a {type(data).__name__}"
        )
    try:
        rows = list(data)
    except TypeError as exc:
        raise InvalidInputError(
            f"interactions must be a DataFrame, (user, item[, weight]) tuples or a sparse matrix, "
            f"got {type(data).__name__}"
        ) from exc
    us: list[Any] = []
    its: list[Any] = []
    ws: list[Any] = []
    for n, row in enumerate(rows):
        if isinstance(row, str | bytes) or not hasattr(row, "__len__") or len(row) not in (2, 3):
            raise InvalidInputError(
                f"interaction {n} is {row!r}; pass (user, item) or (user, item, weight)"
            )
        if len(row) == 3 and isinstance(row[2], bool | np.bool_):
            raise InvalidInputError(f"interaction {n} has weight {row[2]!r}; pass a number")
        us.append(row[0])
        its.append(row[1])
        ws.append(row[2] if len(row) == 3 else 1.0)
    return us, its, _weights(ws)


# -- the factor-model protocol --------------------------------------------------------------
@dataclass
class TrainedFactors:
    """What one training run computed, not yet adopted by its model.

    ``users`` / ``items``: the ids in row order and float32 ``(n, dim)`` vectors; ``space``:
    the space of these vectors (a fresh fingerprint per fit); ``state``: the model's
    ``state_dict()`` once it has adopted them (what the catalog records); ``learned``: the
    model's own (e.g. implicit's model object)."""

    users: FitResult
    items: FitResult
    space: Space
    state: dict[str, Any]
    interactions: Interactions = field(repr=False)
    learned: dict[str, Any] = field(default_factory=dict, repr=False)


@runtime_checkable
class FactorModel(Protocol):
    """A matrix-factorisation model with user and item vectors in one ``ip`` space (ALS, BPR).

    Sides are ``"user"`` and ``"item"``. ``ids`` / ``factors`` / ``rows`` read the learned
    vectors, loading them through the loader set with ``set_loader`` after a restart.
    ``fold_in`` computes user vectors from a users x items CSR (item vectors fixed) without
    changing the model; ``update_users`` installs vectors of users (copy-on-write) once they
    are stored; ``provide`` hands over vectors read elsewhere (a cache fill, same data).
    """

    name: str

    @property
    def dim(self) -> int: ...

    @property
    def space(self) -> Space: ...

    @property
    def fitted(self) -> bool: ...

    def config(self) -> dict[str, Any]: ...

    def identity(self) -> dict[str, Any]: ...

    def state_dict(self) -> dict[str, Any]: ...

    def load_state_dict(self, state: dict[str, Any]) -> None: ...

    def set_loader(self, loader: FactorLoader | None) -> None: ...

    def train(self, inter: Interactions, progress: bool | None = None) -> TrainedFactors: ...

    def adopt(self, trained: TrainedFactors) -> None: ...

    def fold_in(self, rows: Any) -> np.ndarray: ...

    def ids(self, modality: str) -> list[Any]: ...

    def factors(self, modality: str) -> np.ndarray: ...

    def rows(self, keys: Sequence[str], modality: str) -> list[int | None]: ...

    def provide(self, modality: str, ids: list[Any], vectors: np.ndarray) -> None: ...

    def update_users(self, keys: Sequence[str], vectors: np.ndarray) -> None: ...

"""All-or-nothing batches: a batch that fails validation, encoding or inside the store
writes nothing, and rows it was replacing come back as they were.

Store failures are real: the Milvus store is subclassed so that its N-th internal write
either sends a row Milvus/pymilvus really rejects (an int beyond 64 bits, which validation
would refuse, injected below it), or is interrupted (KeyboardInterrupt, a dropped connection).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import omnivec as ov
from omnivec.errors import (
    DimensionMismatchError,
    EncoderError,
    InvalidInputError,
    StoreError,
    StoreUnavailableError,
)
from omnivec.platform.collection_state import ENCODE_CHUNK
from omnivec.stores.milvus import INSERT_BATCH_ROWS, MilvusStore
from tests.helpers.encoders import DIM, HashEncoder

N_OLD = 300
BIG = 4 * INSERT_BATCH_ROWS - 100  # four internal writes


# -- a real store whose N-th write fails ----------------------------------------------------
class FailingStore(MilvusStore):
    """The Milvus store, with its ``fail_on``-th internal write failing as ``how`` says."""

    def __init__(self, uri: str, fail_on: int, how: str) -> None:
        super().__init__(uri)
        self.fail_on, self.how, self.calls = fail_on, how, 0

    def _write(
        self,
        name: str,
        keys: Sequence[str],
        vectors: np.ndarray,
        metadata: Sequence[dict[str, Any]],
        upsert: bool,
    ) -> None:
        self.calls += 1
        if self.calls == self.fail_on and not name.startswith("_omnivec"):
            if self.how == "milvus":
                # A value pymilvus/Milvus refuse for real (JSON ints are 64-bit).
                metadata = [{**m, "too_big": 2**70} for m in metadata]
            elif self.how == "interrupt":
                raise KeyboardInterrupt
            else:
                raise StoreUnavailableError("lost the connection to Milvus (injected)")
        super()._write(name, keys, vectors, metadata, upsert)


def old_vectors() -> np.ndarray:
    return np.random.default_rng(1).standard_normal((N_OLD, DIM)).astype(np.float32)


def new_vectors(n: int) -> np.ndarray:
    return np.random.default_rng(2).standard_normal((n, DIM)).astype(np.float32)


def snapshot(col: ov.Collection) -> dict[Any, tuple[bytes, dict[str, Any]]]:
    ids = col.ids()
    return {r.id: (r.vector.tobytes(), r.metadata) for r in col.get(ids)} if ids else {}


@pytest.fixture
def raw(plat: ov.Platform) -> Iterator[ov.Collection]:
    col = plat.collection("raw", dim=DIM, metric="cosine")
    col.add(
        vectors=old_vectors(),
        ids=list(range(N_OLD)),
        metadata=[{"v": 0, "i": i} for i in range(N_OLD)],
    )
    yield col


# -- validation and encoding failures -------------------------------------------------------
def _nan_last() -> np.ndarray:
    v = new_vectors(BIG)
    v[-1, 3] = np.nan
    return v


def _inf_middle() -> np.ndarray:
    v = new_vectors(BIG)
    v[BIG // 2, 0] = np.inf
    return v


def _ids(n: int = BIG, start: int = N_OLD - 100) -> list[Any]:
    # Overlaps the last 100 stored ids, so a partial write would also replace rows.
    return list(range(start, start + n))


BAD_BATCHES: list[tuple[str, dict[str, Any], type[Exception]]] = [
    ("nan_in_last_row", {"vectors": _nan_last(), "ids": _ids()}, InvalidInputError),
    ("inf_in_middle", {"vectors": _inf_middle(), "ids": _ids()}, InvalidInputError),
    ("wrong_dim", {"vectors": np.ones((BIG, DIM + 1)), "ids": _ids()}, DimensionMismatchError),
    ("duplicate_ids", {"vectors": new_vectors(BIG), "ids": [*_ids()[:-1], N_OLD - 100]}, InvalidInputError),
    ("float_id", {"vectors": new_vectors(BIG), "ids": [*_ids()[:-1], 1.5]}, InvalidInputError),
    ("none_id", {"vectors": new_vectors(BIG), "ids": [*_ids()[:-1], None]}, InvalidInputError),
    ("bool_id", {"vectors": new_vectors(BIG), "ids": [*_ids()[:-1], True]}, InvalidInputError),
    ("tuple_id", {"vectors": new_vectors(BIG), "ids": [*_ids()[:-1], (1, 2)]}, InvalidInputError),
    ("bytes_id", {"vectors": new_vectors(BIG), "ids": [*_ids()[:-1], b"x"]}, InvalidInputError),
    ("too_few_ids", {"vectors": new_vectors(BIG), "ids": _ids(BIG - 1)}, InvalidInputError),
    ("too_many_metadata", {"vectors": new_vectors(BIG), "ids": _ids(), "metadata": [{}] * (BIG + 1)}, InvalidInputError),
    ("bad_metadata_key", {"vectors": new_vectors(BIG), "ids": _ids(), "metadata": [{}] * (BIG - 1) + [{"a-b": 1}]}, InvalidInputError),
    ("reserved_metadata_key", {"vectors": new_vectors(BIG), "ids": _ids(), "metadata": [{}] * (BIG - 1) + [{"pk": "x"}]}, InvalidInputError),
    ("set_metadata_value", {"vectors": new_vectors(BIG), "ids": _ids(), "metadata": [{}] * (BIG - 1) + [{"a": {1, 2}}]}, InvalidInputError),
    ("nan_metadata_value", {"vectors": new_vectors(BIG), "ids": _ids(), "metadata": [{}] * (BIG - 1) + [{"a": [1.0, float("nan")]}]}, InvalidInputError),
    ("int128_metadata_value", {"vectors": new_vectors(BIG), "ids": _ids(), "metadata": [{}] * (BIG - 1) + [{"a": 2**70}]}, InvalidInputError),
    ("surrogate_metadata_value", {"vectors": new_vectors(BIG), "ids": _ids(), "metadata": [{}] * (BIG - 1) + [{"a": "\ud800"}]}, InvalidInputError),
]  # fmt: skip


@pytest.mark.parametrize(("case", "kwargs", "error"), BAD_BATCHES, ids=[c[0] for c in BAD_BATCHES])
def test_invalid_batch_writes_nothing(
    raw: ov.Collection, case: str, kwargs: dict[str, Any], error: type[Exception]
) -> None:
    before = snapshot(raw)
    with pytest.raises(error) as info:
        raw.add(**kwargs)
    assert "\n" not in str(info.value)
    assert snapshot(raw) == before


def test_encoding_failure_in_a_later_chunk_writes_nothing(plat: ov.Platform) -> None:
    col = plat.collection("hashed", encoder=HashEncoder.name)
    col.add([f"old {i}" for i in range(50)], ids=list(range(50)))
    before = snapshot(col)
    texts = [f"text {i}" for i in range(ENCODE_CHUNK + 200)]
    texts[-1] = "poison"  # only the second encoder call fails
    with pytest.raises(EncoderError, match="poison"):
        col.add(texts, ids=list(range(25, 25 + len(texts))))
    assert snapshot(col) == before
    # The same batch without the bad item goes through whole.
    texts[-1] = "fine"
    col.add(texts, ids=list(range(25, 25 + len(texts))))
    assert len(col) == 25 + len(texts)


# -- failures inside the store --------------------------------------------------------------
@pytest.mark.parametrize("how", ["milvus", "unavailable", "interrupt"])
@pytest.mark.parametrize("fail_on", [1, 3])
def test_store_failure_mid_batch_is_rolled_back(db_path: str, how: str, fail_on: int) -> None:
    # The catalog write for the collection is one _write call; the seed batch is one more.
    store = FailingStore(db_path, fail_on=10**9, how=how)
    with ov.Platform(store=store) as plat:
        col = plat.collection("raw", dim=DIM, metric="cosine")
        col.add(
            vectors=old_vectors(),
            ids=list(range(N_OLD)),
            metadata=[{"v": 0, "i": i} for i in range(N_OLD)],
        )
        before = snapshot(col)
        store.calls, store.fail_on = 0, fail_on
        # 200 ids replace stored rows (ids 100..299); the rest are new.
        ids = list(range(100, 100 + BIG))
        expected: type[BaseException] = {
            "milvus": StoreError,
            "unavailable": StoreUnavailableError,
            "interrupt": KeyboardInterrupt,
        }[how]
        with pytest.raises(expected) as info:
            col.add(vectors=new_vectors(BIG), ids=ids, metadata=[{"v": 1} for _ in ids])
        assert store.calls >= fail_on  # the failure happened where intended
        if how == "milvus":
            assert "\n" not in str(info.value) and "Milvus refused" in str(info.value)
        after = snapshot(col)
        assert after == before  # replaced rows restored, new rows gone
        assert len(col) == N_OLD
        # The store still works, and the same batch succeeds once nothing fails.
        store.fail_on = 10**9
        col.add(vectors=new_vectors(BIG), ids=ids, metadata=[{"v": 1} for _ in ids])
        assert len(col) == 100 + BIG
        got = col.get([150])[0]
        np.testing.assert_array_equal(got.vector, new_vectors(BIG)[50])
        assert got.metadata == {"v": 1}


def test_store_failure_with_many_replaced_rows(tmp_path: Path) -> None:
    """Every row of a four-chunk batch replaces a stored row; the third chunk is refused."""
    store = FailingStore(str(tmp_path / "replace.db"), fail_on=10**9, how="milvus")
    with ov.Platform(store=store) as plat:
        col = plat.collection("raw", dim=DIM, metric="l2")
        old = np.random.default_rng(5).standard_normal((BIG, DIM)).astype(np.float32)
        ids = [f"id-{i}" for i in range(BIG)]
        col.add(
            vectors=old, ids=ids, metadata=[{"gen": 1, "tags": ["a", {"b": i}]} for i in range(BIG)]
        )
        before = snapshot(col)
        store.calls, store.fail_on = 0, 3
        with pytest.raises(StoreError):
            col.add(vectors=new_vectors(BIG), ids=ids, metadata=[{"gen": 2} for _ in ids])
        assert snapshot(col) == before
        hits = col.search(ov.vector(old[7]), k=1)
        assert hits[0].id == "id-7" and hits[0].score == pytest.approx(0.0, abs=1e-4)

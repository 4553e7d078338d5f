"""The store's bulk scan on a real Milvus Lite file (and a real Lite server over gRPC)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from omnivec.errors import InvalidInputError
from omnivec.stores.milvus import MilvusStore
from omnivec.stores.scan import FIRST_PAGE_ROWS, page_rows

N, DIM = 20_000, 8


@pytest.fixture(scope="module")
def filled(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[MilvusStore, np.ndarray]]:
    s = MilvusStore(str(tmp_path_factory.mktemp("scan") / "s.db"))
    x = np.random.default_rng(0).standard_normal((N, DIM)).astype(np.float32)
    s.create_collection("c", DIM, "l2", index="flat")
    keys = [f"k{i:06d}" for i in range(N)]
    # Written out of key order: the scan must still give key order.
    perm = np.random.default_rng(1).permutation(N)
    for start in range(0, N, 5_000):
        part = perm[start : start + 5_000]
        s.upsert(
            "c", [keys[i] for i in part], x[part], [{"g": int(i % 7), "i": int(i)} for i in part]
        )
    yield s, x
    s.close()


def test_every_row_once_in_key_order_over_many_pages(filled) -> None:
    s, x = filled
    assert 10 * page_rows(DIM) < N  # many pages, not one
    block = s.scan("c")
    assert block.keys == [f"k{i:06d}" for i in range(N)]
    assert block.vectors.dtype == np.float32 and block.vectors.shape == (N, DIM)
    assert block.vectors.flags.c_contiguous
    np.testing.assert_array_equal(block.vectors, x)
    assert block.metadata[123] == {"g": 123 % 7, "i": 123}
    bare = s.scan("c", metadata=False)
    assert bare.keys == block.keys and bare.metadata == []
    np.testing.assert_array_equal(bare.vectors, x)


def test_where_filters_and_keys(filled) -> None:
    s, x = filled
    block = s.scan("c", "g == 3")
    want = np.arange(3, N, 7)
    assert block.keys == [f"k{i:06d}" for i in want]
    np.testing.assert_array_equal(block.vectors, x[want])
    assert {m["g"] for m in block.metadata} == {3}
    # keys= reads just those rows (in key order, unknown keys skipped), with where on top.
    asked = [f"k{i:06d}" for i in range(9_000, 0, -9)] + ["nope"]
    got = s.scan("c", keys=asked, metadata=False)
    assert got.keys == sorted(asked[:-1])
    np.testing.assert_array_equal(got.vectors, x[np.arange(9, 9_001, 9)])
    both = s.scan("c", "i < 100", keys=asked)
    assert both.keys == [f"k{i:06d}" for i in range(9, 100, 9)]
    none = s.scan("c", "g == 99")
    assert len(none) == 0 and none.vectors.shape == (0, 0) and none.metadata == []


def test_empty_collection_and_a_bad_filter(tmp_path: Path) -> None:
    s = MilvusStore(str(tmp_path / "e.db"))
    try:
        s.create_collection("e", 4, "cosine", index="flat")
        block = s.scan("e")
        assert block.keys == [] and block.vectors.shape == (0, 0)
        s.upsert("e", ["a"], np.ones((1, 4), np.float32), [{}])
        assert s.scan("e").keys == ["a"] and s.scan("e").metadata == [{}]
        with pytest.raises(InvalidInputError):
            s.scan("e", "pk >>> 3")
    finally:
        s.close()


def test_page_sizes_follow_the_vector_width() -> None:
    assert page_rows(384) == 213  # ~320 KiB of float32 per page
    assert page_rows(8) == 1_000 and page_rows(100_000) == 32
    assert FIRST_PAGE_ROWS <= 1_000


def test_scan_over_a_server_uri(server_uri: str) -> None:
    s = MilvusStore(server_uri)
    try:
        if s.has_collection("scan_srv"):
            s.drop_collection("scan_srv")
        s.create_collection("scan_srv", 4, "l2", index="flat")
        x = np.arange(3_000 * 4, dtype=np.float32).reshape(3_000, 4)
        keys = [f"r{i:05d}" for i in range(3_000)]
        s.upsert("scan_srv", keys, x, [{"even": i % 2 == 0} for i in range(3_000)])
        block = s.scan("scan_srv", "even == true", metadata=False)
        assert block.keys == keys[::2]
        np.testing.assert_array_equal(block.vectors, x[::2])
        s.drop_collection("scan_srv")
    finally:
        s.close()

"""Store keys: encode_id / decode_id round trips, and decode_ids (the bulk form) equal to
decode_id key by key whatever mix of id kinds a collection holds."""

from __future__ import annotations

import pytest

from omnivec.core.ids import decode_id, decode_ids, encode_id, encode_ids
from omnivec.errors import InvalidInputError

MIXES = [
    [],
    [0, 7, -3, 10**20],
    ["a", "doc-1", "x.y@z", "12"],
    ["é", "a b", "日本"],
    [1, "1", "é", "s:x", -5],
]


@pytest.mark.parametrize("ids", MIXES)
def test_decode_ids_equals_decode_id_per_key(ids: list) -> None:
    keys = [encode_id(i) for i in ids]
    assert decode_ids(keys) == [decode_id(k) for k in keys] == ids
    assert [type(i) for i in decode_ids(keys)] == [type(i) for i in ids]


def test_str_and_int_ids_never_collide() -> None:
    assert encode_id(1) != encode_id("1")
    with pytest.raises(InvalidInputError, match="duplicate id"):
        encode_ids(["a", "b", "a"])

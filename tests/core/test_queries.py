"""The search hot path's hit builder gives exactly the hits ``Hit(...)`` gives."""

from __future__ import annotations

import dataclasses
import pickle

from omnivec.core.ids import decode_id, encode_id
from omnivec.core.queries import Hit, hits_from_stored
from omnivec.stores.base import StoredHit


def test_hits_from_stored_equal_hit_in_every_respect() -> None:
    ids = [7, -3, 0, "doc-1", "", "i:5", "s:x", "héllo wörld", "a b", 2**62]
    stored = [StoredHit(encode_id(i), 0.5 - n / 10, {"n": n}) for n, i in enumerate(ids)]
    got = hits_from_stored(stored)
    want = [Hit(decode_id(s.key), s.score, s.metadata) for s in stored]
    assert [h.id for h in got] == ids
    assert got == want
    for g, w in zip(got, want, strict=True):
        assert type(g) is Hit
        assert vars(g) == vars(w) and list(vars(g)) == list(vars(w))
        assert type(g.id) is type(w.id)
        assert g.metadata is not None and g.metadata is w.metadata  # the store's dict, as before
        assert repr(g) == repr(w)
        assert dataclasses.asdict(g) == dataclasses.asdict(w)
        assert g.to_dict() == w.to_dict()
        assert pickle.loads(pickle.dumps(g)) == w
        assert dataclasses.replace(g, score=1.0) == dataclasses.replace(w, score=1.0)
    assert hits_from_stored([]) == []

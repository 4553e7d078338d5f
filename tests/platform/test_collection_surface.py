"""The user's Collection is one class whose public names are user API; internal steps live on
its helpers (platform/collection_state.py, writing.py, reading.py, query.py, training.py), and
encoders never call back into collections."""

from __future__ import annotations

import numpy as np

import omnivec as ov
from omnivec.core.encoder import BaseEncoder
from omnivec.platform.collection import parts_of

#: Internal hooks that were public methods of the user's class before the helpers.
HOOKS = {
    "begin_fit",
    "end_fit",
    "record_space",
    "follow_switch",
    "forget_cached_queries",
    "mark_space_checked",
    "reload_record",
    "check_complete",
    "stored_vectors",
    "get_present",
    "query_vectors",
    "check_record_vectors",
    "install",
}


def test_collection_is_one_class_without_internal_hooks() -> None:
    assert ov.Collection.__mro__ == (ov.Collection, object)
    assert not HOOKS & set(dir(ov.Collection))
    assert not hasattr(BaseEncoder, "add_fit_listeners")


def test_helpers_share_one_state(plat: ov.Platform) -> None:
    col = plat.collection("v", dim=4, metric="cosine")
    col.add(vectors=np.eye(4, dtype=np.float32), ids=list("abcd"))
    parts = parts_of(col)
    for helper in (parts.writer, parts.reader, parts.searcher, parts.trainer):
        assert helper.state is parts.state
    assert parts.state.record is col.record and parts.state.physical == col.physical
    # What the platform's own layers reach through the helpers still answers as search does.
    vec = parts.searcher.query_vectors(ov.ref("b"))
    assert vec.shape == (1, 4) and col.search(ov.vector(vec[0]), k=1)[0].id == "b"

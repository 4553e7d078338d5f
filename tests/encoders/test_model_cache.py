"""One loaded model per process: encoders (and collections) whose configurations differ only in
options that leave the weights alone share the model, loading it once, even from threads."""

from __future__ import annotations

import gc
import threading
import time
import weakref
from typing import Any

import numpy as np

import omnivec as ov
from omnivec.encoders.model_cache import SharedModels
from omnivec.encoders.multilingual import MultilingualEncoder
from omnivec.encoders.text import TextEncoder


class Weights:
    """Stands for a loaded model (a value that accepts weak references)."""


def test_threads_asking_at_once_load_a_key_once() -> None:
    cache: SharedModels[Weights] = SharedModels(keep=1)
    calls: list[int] = []

    def load() -> Weights:
        calls.append(1)
        time.sleep(0.2)  # long enough for every thread to arrive while it loads
        return Weights()

    got: list[Weights] = []
    threads = [threading.Thread(target=lambda: got.append(cache.get("m", load))) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(calls) == 1 and cache.loads == 1
    assert len(got) == 4 and all(w is got[0] for w in got)
    assert cache.get("other", Weights) is not got[0] and cache.loads == 2


def test_recent_models_stay_loaded_and_older_ones_go() -> None:
    cache: SharedModels[Weights] = SharedModels(keep=1)
    first = weakref.ref(cache.get("a", Weights))
    gc.collect()
    assert first() is not None and "a" in cache  # kept though nobody holds it
    cache.get("b", Weights)  # "a" is no longer among the `keep` most recent
    gc.collect()
    assert first() is None and "a" not in cache
    held = cache.get("a", Weights)
    cache.get("c", Weights)
    assert cache.get("a", Weights) is held  # held by someone: still shared


def test_collections_differing_only_in_prompts_share_one_model(plat: ov.Platform) -> None:
    plain = plat.collection("plain", encoder="text")
    prompted = plat.collection("prompted", encoder="text", query_prompt="q: ", document_prompt="")
    chunked = plat.collection("chunked", encoder="text", chunk_tokens=48, keywords=True)
    batched = plat.collection("batched", encoder="text", batch_size=8)
    models = [c.encoder.load() for c in (plain, prompted, chunked, batched)]  # type: ignore[union-attr]
    assert all(m is models[0] for m in models)
    # Separate encoders all the same (fit() changes one collection only) and their own spaces.
    assert len({id(c.encoder) for c in (plain, prompted, chunked, batched)}) == 4
    assert plain.space != prompted.space and plain.space == batched.space
    # Vectors are those of an encoder alone.
    texts = ["a cat on the mat", "stock prices fell"]
    alone = TextEncoder(query_prompt="q: ", document_prompt="")
    prompted.add(texts, ids=["x", "y"])
    stored = np.stack([r.vector for r in prompted.get(["x", "y"])])
    np.testing.assert_allclose(stored, alone.encode(texts), rtol=1e-6, atol=1e-7)
    np.testing.assert_array_equal(
        prompted.encoder.encode(texts, role="query"),  # type: ignore[union-attr]
        alone.encode(texts, role="query"),
    )


def test_a_collection_opened_again_does_not_load_again(db_path: str) -> None:
    with ov.connect(db_path) as p:
        first = weakref.ref(p.collection("docs", encoder="text").encoder.load())  # type: ignore[union-attr]
    gc.collect()
    with ov.connect(db_path) as p:
        assert p.get_collection("docs").encoder.load() is first()  # type: ignore[union-attr]


def test_multilingual_encoders_share_the_engine_and_its_lock() -> None:
    a = MultilingualEncoder(batch_size=4)
    b = MultilingualEncoder(batch_size=16)
    assert a.load() is b.load()
    texts = [f"sentence number {i} about 猫 and dogs" for i in range(24)]
    want = a.encode(texts)
    got: dict[str, Any] = {}

    def run(name: str, enc: MultilingualEncoder) -> None:
        got[name] = enc.encode(texts)

    # The engine's scratch buffers take one call at a time across both encoders.
    threads = [threading.Thread(target=run, args=(n, e)) for n, e in (("a", a), ("b", b))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    np.testing.assert_array_equal(got["a"], want)
    np.testing.assert_array_equal(got["b"], want)

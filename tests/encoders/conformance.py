"""The conformance suite every encoder passes: built-ins and plugins alike.

Subclass :class:`EncoderConformance` in a test module and provide two fixtures:
``encoder`` (ready to encode: trainable encoders already fitted) and ``samples``
(``{modality: [inputs, ...]}`` with at least two inputs per modality it should encode).
Set ``registry_name`` to the name the encoder is registered under.
"""

from __future__ import annotations

import sys
from typing import Any, ClassVar

import numpy as np
import pytest

import omnivec as ov
from omnivec.core.encoder import Encoder
from omnivec.core.space import METRICS, Space
from omnivec.platform.registry import available_encoders, get_factory


class EncoderConformance:
    registry_name: ClassVar[str]
    #: Whether ``factory(**encoder.config())`` must give the same identity without fitting.
    recreatable: ClassVar[bool] = True

    def test_is_an_encoder(self, encoder: Any) -> None:
        assert isinstance(encoder, Encoder)
        assert isinstance(encoder.name, str) and encoder.name
        assert isinstance(encoder.modalities, tuple) and encoder.modalities

    def test_registered(self, encoder: Any) -> None:
        assert self.registry_name in available_encoders()
        assert isinstance(encoder, get_factory(self.registry_name))  # type: ignore[arg-type]

    def test_space_is_consistent(self, encoder: Any) -> None:
        space = encoder.space
        assert isinstance(space, Space)
        assert space.dim == encoder.dim > 0
        assert space.metric == encoder.metric in METRICS
        assert space.fingerprint, "the space identity needs a fingerprint of weights or config"
        assert Space.from_dict(space.to_dict()) == space

    def test_encode_shape_dtype(self, encoder: Any, samples: dict[str, list[Any]]) -> None:
        for modality, batch in samples.items():
            out = encoder.encode(batch, modality=modality)
            assert isinstance(out, np.ndarray)
            assert out.dtype == np.float32
            assert out.shape == (len(batch), encoder.dim)
            assert np.isfinite(out).all()

    def test_encode_is_deterministic(self, encoder: Any, samples: dict[str, list[Any]]) -> None:
        for modality, batch in samples.items():
            a = encoder.encode(batch, modality=modality)
            b = encoder.encode(batch, modality=modality)
            np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)

    def test_batch_equals_single(self, encoder: Any, samples: dict[str, list[Any]]) -> None:
        for modality, batch in samples.items():
            whole = encoder.encode(batch, modality=modality)
            one = encoder.encode(batch[:1], modality=modality)
            np.testing.assert_allclose(whole[:1], one, rtol=1e-4, atol=1e-5)

    def test_roles_are_accepted(self, encoder: Any, samples: dict[str, list[Any]]) -> None:
        """Queries and stored documents may be encoded differently (e5's prefixes), but
        both roles give vectors of the space; encoders without roles ignore the role."""
        from omnivec.core.encoder import encode_in_role

        for modality, batch in samples.items():
            for role in ("query", "document"):
                out = encode_in_role(encoder, batch, modality, role)
                assert out.shape == (len(batch), encoder.dim) and out.dtype == np.float32
                assert np.isfinite(out).all()
            if modality == "text":
                default = encoder.encode(batch, modality=modality)
                document = encode_in_role(encoder, batch, modality, "document")
                np.testing.assert_allclose(default, document, rtol=1e-5, atol=1e-6)

    def test_config_is_json_and_recreates(self, encoder: Any) -> None:
        import json

        config = encoder.config()
        assert json.loads(json.dumps(config)) == config
        if self.recreatable:
            again = get_factory(self.registry_name)(**config)
            assert again.config() == config

    def test_cosine_vectors_are_unit_length(
        self, encoder: Any, samples: dict[str, list[Any]]
    ) -> None:
        if encoder.metric != "cosine":
            pytest.skip("only cosine encoders are expected to normalise")
        for modality, batch in samples.items():
            norms = np.linalg.norm(encoder.encode(batch, modality=modality), axis=1)
            np.testing.assert_allclose(norms, 1.0, rtol=1e-3)

    def test_unknown_modality_is_refused(self, encoder: Any, samples: dict[str, list[Any]]) -> None:
        batch = next(iter(samples.values()))
        with pytest.raises(ov.errors.OmnivecError):
            encoder.encode(batch, modality="no-such-modality")

    def test_store_round_trip(
        self, encoder: Any, samples: dict[str, list[Any]], module_plat: ov.Platform
    ) -> None:
        """Vectors stored through a vectors-only collection of the encoder's space come back
        exactly, and each is its own nearest neighbour (on the module's Lite file, in
        collections named after the test class)."""
        plat = module_plat
        for modality, batch in samples.items():
            vecs = encoder.encode(batch, modality=modality)
            name = f"conf_{type(self).__name__}_{modality}".lower()
            col = plat.collection(name, dim=encoder.dim, metric=encoder.metric)
            ids = col.add(vectors=vecs, ids=list(range(len(batch))))
            got = col.get(ids)
            np.testing.assert_allclose(np.stack([r.vector for r in got]), vecs, rtol=1e-6)
            hits = col.search(ov.vector(vecs), k=1)
            distinct = len({v.tobytes() for v in vecs}) == len(vecs)
            # Under inner product a longer vector can outrank a row's own copy, so only
            # cosine and l2 spaces promise that each vector is its own nearest neighbour.
            if distinct and encoder.metric != "ip":
                assert [h[0].id for h in hits] == ids


def heavy_modules_not_imported() -> list[str]:
    return [
        m
        for m in ("torch", "pymilvus", "open_clip", "implicit", "torch_geometric")
        if m in sys.modules
    ]

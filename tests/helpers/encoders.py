"""A real plugin encoder for tests: deterministic vectors from a text's sha256, refusing "poison"."""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Sequence
from typing import Any

import numpy as np

import omnivec as ov
from omnivec.core.encoder import BaseEncoder
from omnivec.core.space import Space

DIM = 8


# -- a real plugin encoder that refuses one input -----------------------------------------
@dataclasses.dataclass
class HashConfig:
    dim: int = DIM
    metric: str = "cosine"


class HashEncoder(BaseEncoder):
    """Deterministic vectors from a text's sha256; raises on the text ``"poison"``."""

    name = "hash_rel"
    modalities = ("text",)
    config_class = HashConfig

    @property
    def dim(self) -> int:
        return int(self.cfg.dim)

    @property
    def space(self) -> Space:
        return Space(self.name, "sha256", "", self.dim, self.metric)

    def encode(self, batch: Sequence[Any], modality: str | None = None) -> np.ndarray:
        self._default_modality(modality)
        if "poison" in batch:
            raise RuntimeError("cannot encode 'poison'")
        rows = [
            np.frombuffer(hashlib.sha256(str(t).encode()).digest()[: 4 * self.dim], "<u4")
            for t in batch
        ]
        return (np.stack(rows).astype(np.float64) / 2**32 - 0.5).astype(np.float32)


ov.register_encoder(HashEncoder.name, HashEncoder)

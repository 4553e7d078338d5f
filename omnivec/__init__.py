"""omnivec: text, images, graph nodes and users/items as vectors, behind one store and one query API.

>>> import omnivec as ov
>>> with ov.connect("omnivec.db") as plat:                      # doctest: +SKIP
...     docs = plat.collection("docs", encoder="text")
...     docs.add(["I love cats", "Stocks fell"], ids=["a", "b"])
...     docs.search("felines", k=1)

Importing omnivec is light: torch, pymilvus and the model libraries load on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from omnivec import errors
from omnivec.core.encoder import BaseEncoder, Encoder, FitResult, TrainableEncoder
from omnivec.core.queries import Hit, Record, hits_payload, image, ref, vector
from omnivec.core.space import Space, fingerprint_of
from omnivec.errors import LLMError
from omnivec.platform.ask import Answer
from omnivec.platform.collection import Collection
from omnivec.platform.llm import llm
from omnivec.platform.platform import Platform, connect
from omnivec.platform.registry import available_encoders, register_encoder

if TYPE_CHECKING:
    from omnivec.recs.recommender import Recommender

__all__ = [
    "Answer",
    "BaseEncoder",
    "Collection",
    "Encoder",
    "FitResult",
    "Hit",
    "LLMError",
    "Platform",
    "Recommender",
    "Record",
    "Space",
    "TrainableEncoder",
    "available_encoders",
    "connect",
    "errors",
    "fingerprint_of",
    "hits_payload",
    "image",
    "llm",
    "ref",
    "register_encoder",
    "vector",
]

__version__ = "0.1.0"


def __getattr__(name: str) -> Any:
    if name == "Recommender":
        from omnivec.recs.recommender import Recommender

        return Recommender
    raise AttributeError(f"module 'omnivec' has no attribute {name!r}")

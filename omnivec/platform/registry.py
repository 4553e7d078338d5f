"""Encoder registry: the entry-point group ``omnivec.encoders`` plus runtime registrations.

Entry points are read lazily and only the requested one is imported, so listing or
creating one encoder never imports the libraries of the others.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from importlib.metadata import EntryPoint, entry_points
from typing import Any

from omnivec.core.encoder import Encoder
from omnivec.errors import EncoderError, InvalidInputError, NotFoundError

__all__ = [
    "ENTRY_POINT_GROUP",
    "RECOMMENDER_GROUP",
    "available_encoders",
    "create_encoder",
    "recommender_factory",
    "register_encoder",
]

logger = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "omnivec.encoders"
#: Where the platform finds the recommender layer (a floor above it, so never imported).
RECOMMENDER_GROUP = "omnivec.recommenders"
EncoderFactory = Callable[..., Encoder]

_registered: dict[str, EncoderFactory] = {}
_lock = threading.Lock()


def register_encoder(name: str, factory: EncoderFactory) -> None:
    """Register ``factory(**config) -> Encoder`` under ``name`` (overrides an entry point)."""
    if not isinstance(name, str) or not name:
        raise InvalidInputError("an encoder name must be a non-empty str")
    if not callable(factory):
        raise InvalidInputError(f"the factory for encoder {name!r} must be callable")
    with _lock:
        _registered[name] = factory


def _entry_points() -> dict[str, EntryPoint]:
    return {ep.name: ep for ep in entry_points(group=ENTRY_POINT_GROUP)}


def available_encoders() -> list[str]:
    """Names of every encoder that can be created, without importing any of them."""
    with _lock:
        names = set(_registered)
    return sorted(names | set(_entry_points()))


def get_factory(name: str) -> EncoderFactory:
    with _lock:
        factory = _registered.get(name)
    if factory is not None:
        return factory
    ep = _entry_points().get(name)
    if ep is None:
        raise NotFoundError(
            f"unknown encoder {name!r}; available: {', '.join(available_encoders())}. "
            f"Plugins register through the entry-point group {ENTRY_POINT_GROUP!r}"
        )
    try:
        loaded = ep.load()
    except Exception as exc:
        raise EncoderError(f"encoder {name!r} ({ep.value}) failed to import: {exc}") from exc
    with _lock:
        _registered.setdefault(name, loaded)
    return loaded  # type: ignore[no-any-return]


def create_encoder(name: str, **config: Any) -> Encoder:
    """Create encoder ``name`` from its configuration (nothing is loaded yet)."""
    factory = get_factory(name)
    try:
        encoder = factory(**config)
    except (InvalidInputError, EncoderError):
        raise
    except TypeError as exc:
        raise InvalidInputError(f"bad configuration for encoder {name!r}: {exc}") from exc
    # dir() rather than hasattr(): `space` and `dim` are often properties that load a model.
    present = set(dir(encoder))
    for attr in ("encode", "space", "dim", "metric", "config", "name", "modalities"):
        if attr not in present:
            raise EncoderError(
                f"encoder {name!r} does not implement {attr!r} of the Encoder protocol"
            )
    return encoder


def recommender_factory() -> Any:
    """The recommender layer: an object with ``open(host, name, algorithm, config)`` and
    ``drop(host, name)`` (:class:`omnivec.platform.recommending.RecommenderLayer`).

    The recommender layer sits a floor above the platform, so the platform reaches it the way
    it reaches encoders: through an entry point (``omnivec.recommenders``, name ``default``).
    """
    eps = {ep.name: ep for ep in entry_points(group=RECOMMENDER_GROUP)}
    ep = eps.get("default")
    if ep is None:
        raise EncoderError(
            f"no recommender layer is installed (entry point {RECOMMENDER_GROUP!r}); "
            "reinstall omnivec"
        )
    try:
        return ep.load()  # type: ignore[no-any-return]
    except Exception as exc:
        raise EncoderError(f"the recommender layer ({ep.value}) failed to import: {exc}") from exc

"""The encoder protocol every encoder implements, and a base class that does the bookkeeping.

An encoder turns a batch of inputs of one *modality* ("text", "image", "node", "user",
"item", ...) into a float32 array of shape ``(n, dim)``. Every encoder describes the
vector space its vectors live in with a :class:`Space`; omnivec refuses to mix spaces.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol, runtime_checkable

import numpy as np

from omnivec.core.space import Space

__all__ = [
    "ROLES",
    "BaseEncoder",
    "Encoder",
    "FitResult",
    "LazyModelEncoder",
    "TokenWindowEncoder",
    "TrainableEncoder",
    "Trained",
    "check_role",
    "encode_in_role",
    "unit_token_spans",
]

#: What a text is encoded as: a search query, or a document being stored. Asymmetric models
#: (e5, bge, ...) put a different prompt before each; symmetric ones ignore the role.
ROLES = ("query", "document")


@dataclass
class FitResult:
    """What a trainable encoder learned for the entities it was fitted on.

    ``ids`` are the user's own ids (str or int), ``vectors`` is float32 ``(len(ids), dim)``,
    ``metadata`` is one dict per id (or ``None``).
    """

    ids: list[Any]
    vectors: np.ndarray
    metadata: list[dict[str, Any]] | None = None


@dataclass
class Trained:
    """What a training run computed, not yet adopted by its encoder.

    Training computes first and commits after (as implicit's ``recalculate_user`` against
    ``partial_fit_users``): ``encoder.train(data, ...)`` leaves the encoder as it was, the caller
    stores ``result`` and records ``space``, and only then :meth:`BaseEncoder.adopt` installs
    ``learned`` (encoder-specific, may hold arrays) in memory. A failure anywhere before
    ``adopt`` leaves the encoder, and what is stored, as before.
    """

    result: FitResult
    space: Space
    learned: dict[str, Any]


@runtime_checkable
class Encoder(Protocol):
    """What omnivec needs from an encoder.

    ``encode(batch, modality=..., role=...)`` returns float32 ``(len(batch), dim)``; ``role``
    is ``"query"`` or ``"document"`` (``None``: the encoder's default, ``"document"`` for text)
    and encoders without roles accept and ignore it. ``config()`` is a JSON-serialisable dict
    from which the encoder's factory recreates it (``factory(**config)``).
    """

    name: str
    modalities: tuple[str, ...]

    @property
    def dim(self) -> int: ...

    @property
    def metric(self) -> str: ...

    @property
    def space(self) -> Space: ...

    def config(self) -> dict[str, Any]: ...

    def encode(
        self, batch: Sequence[Any], modality: str | None = None, role: str | None = None
    ) -> np.ndarray: ...


@runtime_checkable
class TokenWindowEncoder(Protocol):
    """A text encoder that can say where its tokens are, so that a long text can be split into
    windows the model reads whole instead of being cut at ``max_tokens``.

    ``max_tokens`` is the most content tokens (prompt and special tokens already taken off)
    one input may hold; ``token_spans(text)`` the ``(start, end)`` character offsets of each
    token of ``text`` in order (without special tokens).
    """

    @property
    def max_tokens(self) -> int: ...

    def token_spans(self, text: str) -> list[tuple[int, int]]: ...


def check_role(role: str | None) -> str:
    """``None`` means the document role (what ``add`` stores)."""
    if role is None:
        return "document"
    if role not in ROLES:
        from omnivec.errors import InvalidInputError

        raise InvalidInputError(f"role must be one of {ROLES}, got {role!r}")
    return role


@functools.lru_cache(maxsize=256)
def _takes_role(encode: Callable[..., Any]) -> bool:
    try:
        params = inspect.signature(encode).parameters
    except (TypeError, ValueError):
        return False
    return "role" in params or any(p.kind is p.VAR_KEYWORD for p in params.values())


def encode_in_role(
    encoder: Any, batch: Sequence[Any], modality: str, role: str | None
) -> np.ndarray:
    """``encoder.encode(batch, modality=..., role=...)``, leaving ``role`` out for a plugin
    written before roles existed (its ``encode`` has no such parameter)."""
    encode = encoder.encode
    func = getattr(encode, "__func__", encode)
    if role is not None and _takes_role(func):
        return encode(batch, modality=modality, role=role)  # type: ignore[no-any-return]
    return encode(batch, modality=modality)  # type: ignore[no-any-return]


# Runs of word characters (a whole unspaced Chinese or Japanese clause is one run) and single
# other non-space characters: boundaries no tokenizer merges across.
_UNIT_RE = re.compile(r"\w+|[^\w\s]")


def unit_token_spans(text: str, count: Callable[[str], int]) -> list[tuple[int, int]]:
    """Token spans for a tokenizer that reports only counts: ``count(unit)`` tokens for each
    word run or punctuation mark, spread evenly over its characters. A unit's tokens counted
    alone are at least those it gets in context, so windows built on these spans never hold
    more real tokens than they claim."""
    spans: list[tuple[int, int]] = []
    counts: dict[str, int] = {}
    for m in _UNIT_RE.finditer(text):
        unit, start = m.group(), m.start()
        n = counts.get(unit)
        if n is None:
            n = counts[unit] = max(1, int(count(unit)))
        size = len(unit)
        for j in range(n):
            a = start + (j * size) // n
            b = start + ((j + 1) * size) // n
            spans.append((a, max(b, a + 1) if a < start + size else start + size))
    return spans


@runtime_checkable
class TrainableEncoder(Encoder, Protocol):
    """An encoder that learns from data. What ``fit`` takes depends on the family."""

    def fit(self, data: Any, *args: Any, **kwargs: Any) -> Any: ...


class BaseEncoder:
    """Shared bookkeeping for encoders: typed config, identity, learned state, fit hooks.

    Subclasses set ``name``, ``modalities``, ``config_class`` and ``runtime_fields`` (the
    config fields that do not change the vectors, e.g. batch size or device), keep their
    configuration in ``self.cfg`` and implement ``dim``, ``space`` and ``encode``.
    The constructor only stores configuration; models load on first use.
    """

    name: ClassVar[str] = ""
    modalities: ClassVar[tuple[str, ...]] = ()
    config_class: ClassVar[type[Any]]
    runtime_fields: ClassVar[frozenset[str]] = frozenset()
    #: Whether collections with the same configuration may share one encoder object (and so
    #: load a model once). False where learned state belongs to one collection (node2vec).
    shareable: ClassVar[bool] = True
    #: Whether ``fit`` fine-tunes a model (``train`` returns a :class:`Trained` with the new
    #: weights and space, ``adopt`` installs it) rather than learning vectors for the stored
    #: records. The collection that owns such an encoder runs it: refused while it holds
    #: vectors of the current weights, the new space recorded once adopted.
    fine_tunes: ClassVar[bool] = False
    #: False where nothing can be trained (``fit`` only says why, in one line): a collection
    #: lets that refusal speak before any check of its own.
    trainable: ClassVar[bool] = True

    def __init__(self, **config: Any) -> None:
        try:
            self.cfg = self.config_class(**config)
        except TypeError as exc:
            from omnivec.errors import InvalidInputError

            fields = ", ".join(f.name for f in dataclasses.fields(self.config_class))
            raise InvalidInputError(
                f"bad configuration for encoder {self.name!r}: {exc}; its options are: {fields}"
            ) from exc
        validate = getattr(self.cfg, "validate", None)
        if validate is not None:
            validate()

    # -- configuration and identity -------------------------------------------------
    def config(self) -> dict[str, Any]:
        return dataclasses.asdict(self.cfg)

    def identity(self) -> dict[str, Any]:
        """The part of the configuration that decides which vectors come out."""
        return {k: v for k, v in self.config().items() if k not in self.runtime_fields}

    @property
    def metric(self) -> str:
        return str(getattr(self.cfg, "metric", "cosine"))

    # -- learned state ------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """Small JSON-able learned state the catalog persists (large state lives in the store)."""
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what :meth:`state_dict` returned."""

    def _default_modality(self, modality: str | None) -> str:
        if modality is None:
            return self.modalities[0]
        if modality not in self.modalities:
            from omnivec.errors import InvalidInputError

            raise InvalidInputError(
                f"encoder {self.name!r} encodes {', '.join(self.modalities)}, not {modality!r}"
            )
        return modality

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.cfg!r})"


class LazyModelEncoder(BaseEncoder):
    """An encoder whose space (and so ``dim``) is known once ``load()`` has loaded its model.

    ``load()`` must set ``self._space``; asking for ``space`` or ``dim`` loads the model.
    """

    _space: Space | None = None

    def load(self) -> Any:
        raise NotImplementedError

    @property
    def dim(self) -> int:
        return self.space.dim

    @property
    def space(self) -> Space:
        if self._space is None:
            self.load()
        assert self._space is not None
        return self._space

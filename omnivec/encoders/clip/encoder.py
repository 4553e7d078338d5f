"""CLIP encoder on open_clip: texts and images in one vector space, and contrastive training.

No CLIP weights ship with omnivec: ``pretrained=`` is an open_clip tag (downloaded where the
hub is reachable), a local checkpoint file, or ``"random"`` (the explicit opt-in to a random
initialisation from ``seed``). :meth:`ClipEncoder.fit` trains on (image, caption) pairs and
writes a checkpoint that ``pretrained=PATH`` loads later.
"""

from __future__ import annotations

import copy
import hashlib
import json
import logging
import os
import threading
import time
import weakref
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from omnivec.core.encoder import FitResult, LazyModelEncoder, Trained
from omnivec.core.progress import progress_bar
from omnivec.core.space import Space
from omnivec.core.threads import use_torch_threads
from omnivec.encoders.clip.images import THUMBNAIL_PX, load_image, thumbnail_data_uri
from omnivec.errors import EncoderError, InvalidInputError

__all__ = ["CHECKPOINT_FORMAT", "ClipConfig", "ClipEncoder"]

logger = logging.getLogger(__name__)

#: Marker inside checkpoints written by :meth:`ClipEncoder.fit`.
CHECKPOINT_FORMAT = "omnivec-clip/1"
_CHECKPOINT_SUFFIXES = (".pt", ".pth", ".bin", ".safetensors", ".ckpt", ".npz")


@dataclass
class ClipConfig:
    """``model``: an open_clip architecture name (see ``open_clip.list_models()``), or any
    label when ``model_cfg`` gives the architecture itself (open_clip's JSON model config:
    ``embed_dim``, ``vision_cfg``, ``text_cfg``). ``pretrained``: an open_clip tag, a local
    checkpoint path, or ``"random"`` for random weights drawn from ``seed``.
    ``batch_size``, ``device`` and ``num_threads`` (torch intra-op threads; ``None`` keeps
    torch's default) change speed only, never the vectors."""

    model: str = "ViT-B-32"
    pretrained: str | None = None
    model_cfg: dict[str, Any] | None = None
    seed: int = 0
    batch_size: int = 64
    device: str = "cpu"
    num_threads: int | None = None

    def validate(self) -> None:
        if not isinstance(self.model, str) or not self.model:
            raise InvalidInputError("model must be an open_clip architecture name, e.g. 'ViT-B-32'")
        if self.pretrained is not None and (
            not isinstance(self.pretrained, str) or not self.pretrained
        ):
            raise InvalidInputError(
                "pretrained must be an open_clip tag, a checkpoint path or 'random'"
            )
        if self.model_cfg is not None:
            if not isinstance(self.model_cfg, dict) or not all(
                k in self.model_cfg for k in ("embed_dim", "vision_cfg", "text_cfg")
            ):
                raise InvalidInputError(
                    "model_cfg must be an open_clip model config dict with embed_dim, "
                    "vision_cfg and text_cfg"
                )
            try:
                # JSON-normalise (tuples become lists) so the config round-trips through the catalog.
                self.model_cfg = json.loads(json.dumps(self.model_cfg))
            except (TypeError, ValueError) as exc:
                raise InvalidInputError(f"model_cfg must be JSON-serialisable: {exc}") from exc
        if isinstance(self.pretrained, str) and os.path.isfile(os.path.expanduser(self.pretrained)):
            # An absolute path keeps meaning the same file from another working directory.
            self.pretrained = str(Path(self.pretrained).expanduser().resolve())
        for name in ("seed", "batch_size"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int):
                raise InvalidInputError(f"{name} must be an int, got {value!r}")
        if self.batch_size < 1:
            raise InvalidInputError(f"batch_size must be positive, got {self.batch_size}")
        if self.num_threads is not None and (
            isinstance(self.num_threads, bool)
            or not isinstance(self.num_threads, int)
            or self.num_threads < 1
        ):
            raise InvalidInputError(
                f"num_threads must be a positive int or None, got {self.num_threads!r}"
            )
        if not isinstance(self.device, str) or not self.device:
            raise InvalidInputError(f"device must be a torch device string, got {self.device!r}")


# -- model building -------------------------------------------------------------------------


@contextmanager
def _torch_threads(n: int | None) -> Iterator[None]:
    """Ask for ``n`` torch threads once per process (core/threads.py), never set per call."""
    use_torch_threads(n)
    yield


def _weights_fingerprint(model: Any) -> str:
    """sha256 over every state_dict tensor (name, dtype, shape, raw bytes) in name order."""
    import torch

    h = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        t = tensor.detach().to("cpu").contiguous()
        h.update(f"{name}\0{t.dtype}\0{tuple(t.shape)}\0".encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy())
    return h.hexdigest()


def _build(model_cfg: dict[str, Any]) -> Any:
    import open_clip

    cfg = copy.deepcopy(model_cfg)
    custom_text = bool(cfg.pop("custom_text", False)) or "hf_model_name" in cfg.get("text_cfg", {})
    if "hf_model_name" in cfg.get("text_cfg", {}):
        # Random init must not try to fetch the text tower's base weights from the hub.
        cfg["text_cfg"]["hf_model_pretrained"] = False
    cls = open_clip.CustomTextCLIP if custom_text else open_clip.CLIP
    return cls(**cfg)


class _Loaded:
    """A loaded model and what describes it, shared by the encoders of one configuration."""

    __slots__ = ("__weakref__", "fingerprint", "model", "model_cfg")

    def __init__(self, model: Any, model_cfg: dict[str, Any], fingerprint: str) -> None:
        self.model = model
        self.model_cfg = model_cfg
        self.fingerprint = fingerprint


#: Every collection gets its own encoder object (training one must not touch another's
#: weights), but encoders of one configuration share the loaded model: an entry lives as
#: long as an encoder holds it.
_LOADED: weakref.WeakValueDictionary[str, _Loaded] = weakref.WeakValueDictionary()
_LOADED_LOCK = threading.Lock()


def _default_preprocess_cfg(model: Any) -> dict[str, Any]:
    from dataclasses import asdict

    from open_clip.transform import PreprocessCfg

    cfg = asdict(PreprocessCfg())
    cfg["size"] = model.visual.image_size
    return cfg


class ClipEncoder(LazyModelEncoder):
    """Texts and images to unit vectors of one space with an open_clip CLIP model.

    ``encode(batch, modality="text"|"image")`` returns float32 ``(len(batch), dim)`` with
    unit-length rows (cosine). Images are PIL images, paths, bytes or uint8 arrays; they go
    through the model's own open_clip preprocessing. The model loads on first use.
    """

    name = "clip"
    modalities = ("text", "image")
    config_class = ClipConfig
    runtime_fields = frozenset({"batch_size", "device", "num_threads"})
    # One encoder per collection, so that fit() changes only its own collection's space;
    # the loaded model itself is shared through _LOADED until a fit trains a copy.
    shareable = False
    #: fit() fine-tunes the model (train, then adopt); a collection guards and records it.
    fine_tunes = True
    cfg: ClipConfig

    def __init__(self, **config: Any) -> None:
        super().__init__(**config)
        self._model: Any = None
        self._preprocess: Callable[[Any], Any] | None = None
        self._tokenizer: Callable[..., Any] | None = None
        self._model_cfg: dict[str, Any] | None = None
        self._space: Space | None = None
        self._loaded: _Loaded | None = None
        self._lock = threading.RLock()
        #: Mean loss of every epoch of every ``fit`` call, oldest first.
        self.loss_history: list[float] = []

    @property
    def metric(self) -> str:
        return "cosine"

    # -- loading -------------------------------------------------------------------------
    def load(self) -> Any:
        """Build the model and load its weights (once); returns the open_clip model."""
        if self._model is not None:
            return self._model
        with self._lock:
            if self._model is None:
                self._load()
        return self._model

    def _load(self) -> None:
        pretrained = self.cfg.pretrained
        if pretrained is None:
            raise EncoderError(
                "the clip encoder needs weights: pass pretrained= an open_clip tag (e.g. "
                "'laion2b_s34b_b79k', needs the hub) or a checkpoint path, or pretrained='random' "
                "(with seed=) for a randomly initialised model"
            )
        try:
            import open_clip
            import torch
        except ImportError as exc:
            raise EncoderError(f"the clip encoder needs open-clip-torch and torch: {exc}") from exc
        key = self._cache_key()
        with _LOADED_LOCK:
            shared = _LOADED.get(key)
        if shared is not None:
            self._loaded = shared
            self._finish_load(shared.model, shared.model_cfg, shared.fingerprint)
            return
        start = time.perf_counter()
        preprocess_cfg: dict[str, Any] | None = None
        with _torch_threads(self.cfg.num_threads):
            if pretrained == "random":
                model_cfg = self._architecture()
                with torch.random.fork_rng(devices=[]):
                    torch.manual_seed(self.cfg.seed)
                    model = self._wrap_build(model_cfg)
            elif _looks_like_path(pretrained):
                model, model_cfg, preprocess_cfg = self._load_checkpoint(Path(pretrained))
            else:
                model, model_cfg = self._load_tag(pretrained)
                preprocess_cfg = dict(model.visual.preprocess_cfg)
            if preprocess_cfg is None:
                preprocess_cfg = _default_preprocess_cfg(model)
            open_clip.set_model_preprocess_cfg(model, preprocess_cfg)
            model.to(self.cfg.device).eval()
            fingerprint = _weights_fingerprint(model)
        self._loaded = _Loaded(model, model_cfg, fingerprint)
        with _LOADED_LOCK:
            _LOADED[key] = self._loaded
        self._finish_load(model, model_cfg, fingerprint)
        logger.info(
            "loaded clip %s (pretrained=%s, dim %d) in %.1f s",
            self.cfg.model,
            pretrained,
            self.dim,
            time.perf_counter() - start,
        )

    def _cache_key(self) -> str:
        """The weights this configuration loads: its identity, device and, for a checkpoint
        file, the file's size and mtime (a rewritten file is other weights)."""
        stamp: list[Any] = []
        pretrained = self.cfg.pretrained or ""
        if os.path.isfile(pretrained):
            st = os.stat(pretrained)
            stamp = [st.st_size, st.st_mtime_ns]
        return json.dumps([self.identity(), self.cfg.device, stamp], sort_keys=True, default=str)

    def _finish_load(self, model: Any, model_cfg: dict[str, Any], fingerprint: str) -> None:
        from open_clip.transform import PreprocessCfg, image_transform_v2

        self._preprocess = image_transform_v2(
            PreprocessCfg(**model.visual.preprocess_cfg), is_train=False
        )
        self._tokenizer = self._make_tokenizer(model_cfg)
        self._model_cfg = model_cfg
        dim = int(model_cfg["embed_dim"])
        self._space = Space(self.name, self.cfg.model, fingerprint, dim, "cosine")
        self._model = model

    def _architecture(self) -> dict[str, Any]:
        """The open_clip model config: ``model_cfg`` if given, else the named built-in."""
        if self.cfg.model_cfg is not None:
            return copy.deepcopy(self.cfg.model_cfg)
        import open_clip

        cfg = open_clip.get_model_config(self.cfg.model)
        if cfg is None:
            raise EncoderError(
                f"open_clip has no architecture {self.cfg.model!r}; pick one of "
                "open_clip.list_models() or pass model_cfg= a config dict"
            )
        return dict(cfg)

    def _wrap_build(self, model_cfg: dict[str, Any]) -> Any:
        try:
            return _build(model_cfg)
        except Exception as exc:
            raise EncoderError(f"could not build clip model {self.cfg.model!r}: {exc}") from exc

    def _load_checkpoint(self, path: Path) -> tuple[Any, dict[str, Any], dict[str, Any] | None]:
        import open_clip
        import torch

        if not path.is_file():
            raise EncoderError(
                f"clip checkpoint {str(path)!r} does not exist; pass an existing file"
            )
        try:
            blob = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as exc:
            if path.suffix in (".safetensors", ".npz"):
                blob = None
            else:
                raise EncoderError(f"could not read clip checkpoint {str(path)!r}: {exc}") from exc
        if isinstance(blob, dict) and blob.get("format") == CHECKPOINT_FORMAT:
            saved_name = blob.get("model")
            if saved_name != self.cfg.model:
                raise EncoderError(
                    f"checkpoint {str(path)!r} holds clip model {saved_name!r}, not "
                    f"{self.cfg.model!r}; pass model={saved_name!r}"
                )
            model_cfg = blob["model_cfg"]
            if self.cfg.model_cfg is not None and self.cfg.model_cfg != model_cfg:
                raise EncoderError(
                    f"checkpoint {str(path)!r} was trained with another model_cfg; "
                    "leave model_cfg out to use the checkpoint's own"
                )
            model = self._wrap_build(model_cfg)
            try:
                model.load_state_dict(blob["state_dict"], strict=True)
            except RuntimeError as exc:
                raise EncoderError(
                    f"clip checkpoint {str(path)!r} does not fit its model: {exc}"
                ) from exc
            return model, model_cfg, blob.get("preprocess_cfg")
        # A checkpoint from open_clip or OpenAI: build the named architecture and let
        # open_clip convert and load it.
        model_cfg = self._architecture()
        model = self._wrap_build(model_cfg)
        try:
            open_clip.load_checkpoint(model, str(path))
        except Exception as exc:
            raise EncoderError(
                f"clip checkpoint {str(path)!r} does not fit architecture {self.cfg.model!r}: {exc}"
            ) from exc
        return model, model_cfg, None

    def _load_tag(self, tag: str) -> tuple[Any, dict[str, Any]]:
        import open_clip

        tags = open_clip.list_pretrained_tags_by_model(self.cfg.model)
        if tag not in tags:
            raise EncoderError(
                f"{tag!r} is neither a file nor an open_clip tag for {self.cfg.model!r} "
                f"(tags: {', '.join(tags) or 'none'}); pass a checkpoint path or pretrained='random'"
            )
        try:
            model = open_clip.create_model(self.cfg.model, pretrained=tag, device="cpu")
        except Exception as exc:
            raise EncoderError(
                f"could not load clip weights {self.cfg.model}/{tag}: {exc} "
                "(no internet here? download the checkpoint elsewhere and pass its path)"
            ) from exc
        return model, self._architecture()

    def _make_tokenizer(self, model_cfg: dict[str, Any]) -> Callable[..., Any]:
        import open_clip

        text_cfg = model_cfg.get("text_cfg", {})
        context_length = int(text_cfg.get("context_length", 77))
        try:
            if text_cfg.get("hf_tokenizer_name"):
                from open_clip.tokenizer import HFTokenizer

                return HFTokenizer(  # type: ignore[no-any-return]
                    text_cfg["hf_tokenizer_name"],
                    context_length=context_length,
                    tokenizer_mode=text_cfg.get("tokenizer_mode"),
                    **(text_cfg.get("tokenizer_kwargs") or {}),
                )
            if self.cfg.model_cfg is None and open_clip.get_model_config(self.cfg.model):
                return open_clip.get_tokenizer(self.cfg.model)  # type: ignore[no-any-return]
            # open_clip's BPE vocabulary ships inside the package: works offline.
            return open_clip.SimpleTokenizer(  # type: ignore[no-any-return]
                context_length=context_length, **(text_cfg.get("tokenizer_kwargs") or {})
            )
        except Exception as exc:
            raise EncoderError(
                f"could not load the tokenizer of clip model {self.cfg.model!r}: {exc}"
            ) from exc

    @property
    def model(self) -> Any:
        """The loaded open_clip model (loads it on first use)."""
        return self.load()

    @property
    def preprocess(self) -> Callable[[Any], Any]:
        """The model's own open_clip inference transform: PIL image -> float tensor (3, H, W)."""
        self.load()
        assert self._preprocess is not None
        return self._preprocess

    @property
    def tokenizer(self) -> Callable[..., Any]:
        """The model's tokenizer: list of str -> int64 tensor (n, context_length)."""
        self.load()
        assert self._tokenizer is not None
        return self._tokenizer

    # -- encoding --------------------------------------------------------------------------
    def encode(self, batch: Sequence[Any], modality: str | None = None) -> np.ndarray:
        """Texts (``modality="text"``, the default) or images (``"image"``) to float32
        ``(len(batch), dim)`` unit vectors."""
        modality = self._default_modality(modality)
        items = list(batch)
        if modality == "text":
            for i, t in enumerate(items):
                if not isinstance(t, str):
                    raise InvalidInputError(f"text item {i} is a {type(t).__name__}, not a str")
        model = self.load()
        if not items:
            return np.empty((0, self.dim), dtype=np.float32)
        import torch

        bs = self.cfg.batch_size
        out = np.empty((len(items), self.dim), dtype=np.float32)
        with _torch_threads(self.cfg.num_threads), torch.inference_mode():
            for start in range(0, len(items), bs):
                chunk = items[start : start + bs]
                if modality == "text":
                    tokens = self.tokenizer(chunk).to(self.cfg.device)
                    feats = model.encode_text(tokens, normalize=True)
                else:
                    pixels = self.preprocess_images(chunk, offset=start).to(self.cfg.device)
                    feats = model.encode_image(pixels, normalize=True)
                out[start : start + len(chunk)] = feats.float().cpu().numpy()
        return out

    def preprocess_images(self, images: Sequence[Any], offset: int = 0) -> Any:
        """Decode and preprocess images into a float32 tensor ``(n, 3, H, W)``; ``offset`` is
        added to the item numbers in error messages."""
        import torch

        transform = self.preprocess
        return torch.stack([transform(load_image(img, offset + i)) for i, img in enumerate(images)])

    def metadata_for(self, batch: Sequence[Any], modality: str) -> list[dict[str, Any]]:
        """Per image: ``thumbnail`` (a JPEG ``data:`` URI, at most 64 px) and, for a path,
        ``source``. Texts get no extra metadata."""
        if modality != "image":
            return [{} for _ in batch]
        out: list[dict[str, Any]] = []
        for i, item in enumerate(batch):
            meta: dict[str, Any] = {
                "thumbnail": thumbnail_data_uri(load_image(item, i, draft=THUMBNAIL_PX * 2))
            }
            if isinstance(item, str | Path):
                meta["source"] = str(item)
            out.append(meta)
        return out

    # -- training --------------------------------------------------------------------------
    def fit(
        self,
        pairs: Iterable[tuple[Any, str]],
        epochs: int = 5,
        batch_size: int = 64,
        lr: float = 5e-4,
        weight_decay: float = 0.1,
        checkpoint: str | os.PathLike[str] | None = None,
        progress: bool | None = None,
        augment: bool = False,
    ) -> list[float]:
        """Contrastive training on (image, caption) pairs (see :meth:`train`), then use the
        trained weights (:meth:`adopt`); returns the mean loss of each epoch.

        Through a collection (``col.encoder.fit`` or ``col.fit``) the collection refuses
        while it holds vectors (``SpaceMismatchError``) and records the new space afterwards.
        """
        trained = self.train(
            pairs, epochs, batch_size, lr, weight_decay, checkpoint, progress, augment
        )
        self.adopt(trained)
        history: list[float] = trained.learned["history"]
        return history

    def adopt(self, trained: Trained) -> None:
        """Use the weights :meth:`train` computed (and their checkpoint and space) from now on."""
        self._model, self._loaded = trained.learned["model"], None
        self.cfg.pretrained = trained.learned["path"]
        self._space = trained.space
        self.loss_history.extend(trained.learned["history"])

    def train(
        self,
        pairs: Iterable[tuple[Any, str]],
        epochs: int = 5,
        batch_size: int = 64,
        lr: float = 5e-4,
        weight_decay: float = 0.1,
        checkpoint: str | os.PathLike[str] | None = None,
        progress: bool | None = None,
        augment: bool = False,
    ) -> Trained:
        """Contrastive training (open_clip's ``ClipLoss``, AdamW) on (image, caption) pairs.

        Images are decoded and preprocessed once (float32 ``(n, 3, H, W)`` in memory; with
        ``augment=True`` every epoch re-runs open_clip's training transform instead). Batches
        are shuffled with ``seed``. Afterwards the weights are saved to ``checkpoint``
        (default: ``~/.cache/omnivec/clip/<model>-<fingerprint>.pt``), ``pretrained`` points
        at it and the space fingerprint changes. Trains a copy and leaves this encoder as it
        was: the returned :class:`Trained` holds the new space and, in ``learned``, the
        weights, the checkpoint's path and the mean loss of each epoch, for :meth:`adopt`.
        """
        data = list(pairs)
        if len(data) < 2:
            raise InvalidInputError("fit() needs at least 2 (image, caption) pairs")
        for i, pair in enumerate(data):
            if not isinstance(pair, tuple | list) or len(pair) != 2 or not isinstance(pair[1], str):
                raise InvalidInputError(f"pair {i} is not an (image, caption str) pair")
        for name, value in (("epochs", epochs), ("batch_size", batch_size)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise InvalidInputError(f"{name} must be a positive int, got {value!r}")
        if not isinstance(lr, int | float) or not lr > 0:
            raise InvalidInputError(f"lr must be a positive number, got {lr!r}")
        # Train a copy: other encoders of this configuration share the loaded model, and a
        # failed fit must leave the weights (and so the space) as they were.
        model = copy.deepcopy(self.load())
        import open_clip
        import torch
        from open_clip.transform import PreprocessCfg, image_transform_v2

        images = [load_image(img, i) for i, (img, _) in enumerate(data)]
        texts = self.tokenizer([caption for _, caption in data])
        train_tf = (
            image_transform_v2(PreprocessCfg(**model.visual.preprocess_cfg), is_train=True)
            if augment
            else None
        )
        fixed = None if augment else torch.stack([self.preprocess(img) for img in images])
        loss_fn = open_clip.ClipLoss()
        optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay)
        gen = torch.Generator().manual_seed(self.cfg.seed)
        n = len(data)
        history: list[float] = []
        device = self.cfg.device
        start_time = time.perf_counter()
        model.train()
        try:
            with _torch_threads(self.cfg.num_threads), torch.random.fork_rng(devices=[]):
                torch.manual_seed(self.cfg.seed)
                for epoch in range(epochs):
                    order = torch.randperm(n, generator=gen)
                    # A last batch of one pair has no negatives: fold it into the one before.
                    bounds = list(range(0, n, batch_size))
                    if len(bounds) > 1 and n - bounds[-1] < 2:
                        bounds.pop()
                    total, count = 0.0, 0
                    with progress_bar(
                        len(bounds),
                        f"clip epoch {epoch + 1}/{epochs}",
                        enabled=progress,
                        unit="batch",
                    ) as bar:
                        for b, lo in enumerate(bounds):
                            hi = bounds[b + 1] if b + 1 < len(bounds) else n
                            idx = order[lo:hi]
                            if fixed is not None:
                                pix = fixed[idx]
                            else:
                                assert train_tf is not None
                                pix = torch.stack([train_tf(images[int(j)]) for j in idx])
                            img_f, txt_f, scale = model(pix.to(device), texts[idx].to(device))[:3]
                            loss = loss_fn(img_f, txt_f, scale)
                            optimizer.zero_grad(set_to_none=True)
                            loss.backward()
                            optimizer.step()
                            # CLIP clamps the learned temperature so logits stay bounded.
                            with torch.no_grad():
                                model.logit_scale.clamp_(0, 4.6052)
                            value = loss.detach().item()
                            total += value * len(idx)
                            count += len(idx)
                            bar.update(1)
                            bar.set_postfix(loss=f"{value:.3f}")
                    history.append(total / count)
                    logger.info("clip epoch %d/%d: loss %.4f", epoch + 1, epochs, history[-1])
        finally:
            model.eval()
        fingerprint = _weights_fingerprint(model)
        path = self._write_checkpoint(model, checkpoint, fingerprint)
        assert self._model_cfg is not None
        space = Space(self.name, self.cfg.model, fingerprint, self.dim, "cosine")
        logger.info(
            "trained clip %s on %d pairs in %.1f s; checkpoint %s",
            self.cfg.model,
            n,
            time.perf_counter() - start_time,
            path,
        )
        return Trained(
            FitResult([], np.empty((0, self.dim), dtype=np.float32)),
            space,
            {"model": model, "path": str(path), "history": history},
        )

    def save_checkpoint(
        self, path: str | os.PathLike[str] | None = None, *, fingerprint: str | None = None
    ) -> Path:
        """Write the weights with the model config (what ``pretrained=PATH`` loads); returns the path."""
        model = self.load()
        return self._write_checkpoint(model, path, fingerprint or _weights_fingerprint(model))

    def _write_checkpoint(self, model: Any, path: str | os.PathLike[str] | None, fp: str) -> Path:
        import torch

        if path is None:
            base = Path(os.environ.get("OMNIVEC_HOME", Path.home() / ".cache" / "omnivec"))
            target = base / "clip" / f"{self.cfg.model}-{fp[:16]}.pt"
        else:
            target = Path(path).expanduser()
        target = target.resolve()
        blob = {
            "format": CHECKPOINT_FORMAT,
            "model": self.cfg.model,
            "model_cfg": self._model_cfg,
            "preprocess_cfg": dict(model.visual.preprocess_cfg),
            "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        }
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            # Write then rename, so a crash never leaves a half-written checkpoint behind.
            tmp = target.with_name(target.name + ".tmp")
            torch.save(blob, tmp)
            os.replace(tmp, target)
        except OSError as exc:
            raise EncoderError(f"could not write clip checkpoint {str(target)!r}: {exc}") from exc
        return target


def _looks_like_path(value: str) -> bool:
    return (
        os.path.exists(value)
        or os.sep in value
        or "/" in value
        or value.startswith(("~", "."))
        or value.endswith(_CHECKPOINT_SUFFIXES)
    )

"""ONNX Runtime backend for the text encoder: ``encoder="text", backend="onnx"`` (fp32) and
``quantize="int8"`` (dynamic int8, per-channel signed weights).

sentence-transformers' own ``backend="onnx"`` needs optimum, whose releases here do not work
with this transformers; so the model (transformer, pooling and, where the model has it,
normalisation) is exported once with ``torch.onnx.export`` (TorchScript exporter, opset 17,
dynamic batch and sequence axes), quantised with ONNX Runtime's ``quantize_dynamic`` for
int8, and cached under ``$OMNIVEC_HOME/onnx/`` (default ``~/.cache/omnivec/onnx/``) keyed by the
weights' fingerprint. Encoding then needs only ``onnxruntime`` and the model's fast tokenizer
(``tokenizers``): the same truncation as sentence-transformers (the model's
``max_seq_length``), texts sorted by length so that each batch pads little.

Measured in ``benchmarks/bench_onnx.py``: fp32 gives the torch vectors to cosine >= 0.99999;
int8 is faster at a small cost in quality, and its vectors depend slightly on the other texts
of a batch (activations are quantised per batch). Both are spaces of their own.
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from omnivec.core.space import unit_rows
from omnivec.errors import EncoderError, InvalidInputError

__all__ = ["BACKENDS", "QUANTIZE", "OnnxTextModel", "cache_dir", "check_backend", "onnx_model"]

logger = logging.getLogger(__name__)

BACKENDS = ("torch", "onnx")
QUANTIZE = (None, "int8")
_INPUTS = ("input_ids", "attention_mask", "token_type_ids")
_MODELS: dict[tuple[str, str | None, int], OnnxTextModel] = {}
_MODELS_LOCK = threading.Lock()
_EXPORT_LOCK = threading.Lock()


def check_backend(backend: Any, quantize: Any) -> None:
    """One-line :class:`InvalidInputError` for an unknown backend or quantisation."""
    if backend not in BACKENDS:
        raise InvalidInputError(
            f'backend must be "torch" (exact, the default) or "onnx" (ONNX Runtime), got {backend!r}'
        )
    if quantize not in QUANTIZE:
        raise InvalidInputError(f'quantize must be None or "int8", got {quantize!r}')
    if quantize is not None and backend != "onnx":
        raise InvalidInputError('quantize="int8" runs on ONNX Runtime: pass backend="onnx" too')


def cache_dir(weights: str) -> Path:
    """Where the exported graphs of the weights with fingerprint ``weights`` live."""
    base = Path(os.environ.get("OMNIVEC_HOME", Path.home() / ".cache" / "omnivec"))
    return base / "onnx" / hashlib.sha256(weights.encode()).hexdigest()[:24]


def _input_names(st_model: Any) -> list[str]:
    names = getattr(st_model.tokenizer, "model_input_names", None) or list(_INPUTS[:2])
    return [n for n in _INPUTS if n in names]


def _export(st_model: Any, target: Path) -> None:
    """The sentence-transformers model as one ONNX graph: token ids in, sentence vector out."""
    import torch

    names = _input_names(st_model)

    class Graph(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = st_model

        def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
            features = dict(zip(names, inputs, strict=True))
            return self.model(features)["sentence_embedding"]  # type: ignore[no-any-return]

    sample = st_model.tokenizer(
        ["omnivec exports this model", "a second, longer sentence to pad the first one"],
        padding=True,
        return_tensors="pt",
    )
    axes = {n: {0: "batch", 1: "tokens"} for n in names}
    tmp = target.with_name(f"{target.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    graph = Graph().eval()
    with torch.no_grad(), warnings.catch_warnings():
        # The tracer's notes on shape checks it records as constants (true for every input).
        warnings.simplefilter("ignore")
        torch.onnx.export(
            graph,
            tuple(sample[n] for n in names),
            str(tmp),
            input_names=names,
            output_names=["sentence_embedding"],
            dynamic_axes={**axes, "sentence_embedding": {0: "batch"}},
            opset_version=17,
            dynamo=False,
        )
    os.replace(tmp, target)  # another process exporting the same weights writes the same graph


class _DropPreprocessHint(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return "pre-processing before quantization" not in record.getMessage()


def _quantize(fp32: Path, target: Path) -> None:
    from onnxruntime.quantization import QuantType, quantize_dynamic

    tmp = target.with_name(f"{target.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    # Per-channel signed weights: per-tensor quantisation cost MiniLM 0.913 minimum cosine
    # and 0.016 Pearson on news similarity here, per-channel 0.982 and none.
    root = logging.getLogger()
    quiet = _DropPreprocessHint()
    root.addFilter(quiet)  # its advice to run shape inference first is for static quantisation
    try:
        quantize_dynamic(
            str(fp32), str(tmp), weight_type=QuantType.QInt8, per_channel=True, reduce_range=False
        )
    finally:
        root.removeFilter(quiet)
    os.replace(tmp, target)


def _graph(st_model: Any, weights: str, quantize: str | None) -> Path:
    folder = cache_dir(weights)
    fp32 = folder / "model.onnx"
    path = fp32 if quantize is None else folder / f"model-{quantize}.onnx"
    with _EXPORT_LOCK:
        if path.is_file():
            return path
        folder.mkdir(parents=True, exist_ok=True)
        try:
            if not fp32.is_file():
                logger.info("exporting text model to ONNX at %s", fp32)
                _export(st_model, fp32)
            if path != fp32:
                logger.info("quantising %s to %s", fp32, quantize)
                _quantize(fp32, path)
        except Exception as exc:
            raise EncoderError(
                f"could not export the text model to ONNX in {folder}: {exc}; use the default "
                'backend="torch"'
            ) from exc
    return path


class OnnxTextModel:
    """An exported sentence-transformers model run by ONNX Runtime with its fast tokenizer."""

    def __init__(self, st_model: Any, path: Path, threads: int | None = None) -> None:
        import onnxruntime as ort
        from tokenizers import Tokenizer

        #: The sentence-transformers model this graph was exported from.
        self.source = st_model
        self.path = path
        self.max_length = int(st_model.max_seq_length)
        backend = getattr(st_model.tokenizer, "backend_tokenizer", None)
        if backend is None:
            raise EncoderError(
                'backend="onnx" needs a model with a fast (Rust) tokenizer; use backend="torch"'
            )
        self.tokenizer = Tokenizer.from_str(backend.to_str())
        self.tokenizer.no_padding()
        self.tokenizer.enable_truncation(max_length=self.max_length)
        self.pad_id = int(getattr(st_model.tokenizer, "pad_token_id", 0) or 0)
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        if threads:
            options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        self.inputs = [i.name for i in self.session.get_inputs()]

    def encode(
        self, texts: list[str], prompt: str = "", batch_size: int = 64, normalize: bool = True
    ) -> np.ndarray:
        """float32 ``(len(texts), dim)`` sentence vectors of ``prompt + text``."""
        encs = self.tokenizer.encode_batch([prompt + t for t in texts])
        order = np.argsort([-len(e.ids) for e in encs], kind="stable")
        parts: list[np.ndarray] = []
        for start in range(0, len(order), batch_size):
            chunk = [encs[i] for i in order[start : start + batch_size]]
            width = max(len(e.ids) for e in chunk)
            feeds = {name: np.zeros((len(chunk), width), dtype=np.int64) for name in self.inputs}
            if "input_ids" in feeds:
                feeds["input_ids"].fill(self.pad_id)
            for row, e in enumerate(chunk):
                n = len(e.ids)
                feeds["input_ids"][row, :n] = e.ids
                if "attention_mask" in feeds:
                    feeds["attention_mask"][row, :n] = e.attention_mask
                if "token_type_ids" in feeds:
                    feeds["token_type_ids"][row, :n] = e.type_ids
            parts.append(np.asarray(self.session.run(None, feeds)[0], dtype=np.float32))
        out = np.empty((len(texts), parts[0].shape[1]), dtype=np.float32)
        out[order] = np.concatenate(parts)
        return unit_rows(out) if normalize else out


def onnx_model(st_model: Any, weights: str, quantize: str | None) -> OnnxTextModel:
    """The ONNX Runtime model for ``st_model`` (weights fingerprint ``weights``): exported and
    quantised once per weights (cached on disk), loaded once per process."""
    key = (weights, quantize, int(st_model.max_seq_length))
    with _MODELS_LOCK:
        model = _MODELS.get(key)
    if model is not None and model.source is st_model:
        return model
    try:
        import onnxruntime  # noqa: F401
    except ImportError as exc:
        raise EncoderError(
            'backend="onnx" needs onnxruntime and onnx: pip install onnxruntime onnx'
        ) from exc
    path = _graph(st_model, weights, quantize)
    try:
        import torch

        threads = int(torch.get_num_threads())
    except ImportError:
        threads = None
    try:
        model = OnnxTextModel(st_model, path, threads)
    except EncoderError:
        raise
    except Exception as exc:
        raise EncoderError(
            f"ONNX Runtime could not load {path}: {exc}; delete that file to export it again"
        ) from exc
    with _MODELS_LOCK:
        _MODELS[key] = model
    return model

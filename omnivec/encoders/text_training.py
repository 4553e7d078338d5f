"""Contrastive fine-tuning of a sentence-transformers model: input checks, the loop, the checkpoint.

Why a plain torch loop and not ``SentenceTransformer.fit`` / ``SentenceTransformerTrainer``:
both need the ``datasets`` and ``accelerate`` packages (and build a Hugging Face ``Trainer``
with its own logging, checkpointing and device placement) for what is, on one CPU or GPU, a
loop of ``model.preprocess`` -> forward -> loss -> ``AdamW.step``. The loss modules are
sentence-transformers' own, well-kept implementations (``MultipleNegativesRankingLoss``,
``CosineSimilarityLoss``) called inside that loop, so the maths is theirs; only the loop is
ours. ``benchmarks/bench_finetune.py`` measures this loop against the same steps written in
raw sentence-transformers/torch (docs/benchmarks.md): the wrapper costs nothing measurable.
"""

from __future__ import annotations

import copy
import logging
import math
import os
import shutil
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from omnivec.core.progress import progress_bar
from omnivec.errors import EncoderError, InvalidInputError

__all__ = [
    "TrainingPairs",
    "check_hyperparameters",
    "check_output",
    "check_pairs",
    "default_output",
    "is_checkpoint",
    "save_checkpoint",
    "train_copy",
]

logger = logging.getLogger(__name__)


@dataclass
class TrainingPairs:
    """Checked training data: ``kind`` is ``"ranking"`` ((anchor, positive[, negative]) texts,
    in-batch negatives) or ``"score"`` ((a, b) texts with a target cosine in ``scores``)."""

    kind: str
    columns: list[list[str]]
    scores: list[float] | None = None

    def __len__(self) -> int:
        return len(self.columns[0])


def check_pairs(pairs: Iterable[Any]) -> TrainingPairs:
    """Validate training pairs; a mistake is one-line :class:`InvalidInputError` naming the pair.

    All pairs share one shape: (anchor, positive), (anchor, positive, negative) of str, or
    (a, b, score) with a float score in [0, 1].
    """
    if isinstance(pairs, str | bytes) or not isinstance(pairs, Iterable):
        raise InvalidInputError(
            "fit() takes a list of (anchor, positive[, negative]) or (a, b, score) tuples"
        )
    data = list(pairs)
    if not data:
        raise InvalidInputError("fit() got no pairs; pass at least 2")
    first = data[0]
    if not isinstance(first, tuple | list) or len(first) not in (2, 3):
        raise InvalidInputError(
            "pair 0 is not an (anchor, positive[, negative]) or (a, b, score) tuple"
        )
    width = len(first)
    scored = width == 3 and _is_number(first[2])
    kind = "score" if scored else "ranking"
    n_text = 2 if scored else width
    columns: list[list[str]] = [[] for _ in range(n_text)]
    scores: list[float] = []
    for i, pair in enumerate(data):
        if not isinstance(pair, tuple | list) or len(pair) != width:
            got = len(pair) if isinstance(pair, tuple | list) else type(pair).__name__
            raise InvalidInputError(
                f"pair {i} has {got} members but pair 0 has {width}; all pairs must share one shape"
            )
        for j in range(n_text):
            if not isinstance(pair[j], str):
                raise InvalidInputError(
                    f"pair {i} member {j} is a {type(pair[j]).__name__}, not a str"
                    + (" (mixing scored and unscored pairs?)" if j == 2 else "")
                )
            columns[j].append(pair[j])
        if scored:
            score = pair[2]
            if not _is_number(score):
                raise InvalidInputError(
                    f"pair {i} has score {score!r}; (a, b, score) pairs need a number in [0, 1]"
                )
            if not 0.0 <= float(score) <= 1.0:
                raise InvalidInputError(
                    f"pair {i} has score {score!r}, outside [0, 1] (the target cosine similarity)"
                )
            scores.append(float(score))
    if kind == "ranking" and len(data) < 2:
        raise InvalidInputError("in-batch negatives need at least 2 (anchor, positive) pairs")
    return TrainingPairs(kind, columns, scores if scored else None)


def _is_number(value: Any) -> bool:
    return (
        isinstance(value, int | float)
        and not isinstance(value, bool)
        and math.isfinite(float(value))
    )


def check_hyperparameters(epochs: Any, batch_size: Any, lr: Any, seed: Any) -> None:
    for name, value, low in (
        ("epochs", epochs, 1),
        ("batch_size", batch_size, 2),
        ("seed", seed, 0),
    ):
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise InvalidInputError(f"{name} must be an int >= {low}, got {value!r}")
    if isinstance(lr, bool) or not _is_number(lr) or not lr > 0:
        raise InvalidInputError(f"lr must be a positive number, got {lr!r}")


def is_checkpoint(path: Path) -> bool:
    """Whether ``path`` is a sentence-transformers model folder (what ``model.save`` writes)."""
    return (path / "modules.json").is_file() or (
        path / "config_sentence_transformers.json"
    ).is_file()


def check_output(output: str | os.PathLike[str] | None) -> Path | None:
    """The absolute output folder; refused if it exists and is neither empty nor a checkpoint."""
    if output is None:
        return None
    if not isinstance(output, str | os.PathLike) or not str(output):
        raise InvalidInputError(f"output must be a folder path, got {output!r}")
    path = Path(output).expanduser().resolve()
    if path.exists():
        if not path.is_dir():
            raise InvalidInputError(f"output {str(path)!r} is a file; pass a folder path")
        if any(path.iterdir()) and not is_checkpoint(path):
            raise InvalidInputError(
                f"output {str(path)!r} exists and is not a sentence-transformers checkpoint; "
                "pass a new or empty folder"
            )
    return path


def default_output(model_name: str) -> Path:
    """Where a checkpoint goes without ``output=``: ``$OMNIVEC_HOME/text/`` (default
    ``~/.cache/omnivec/text/``); the final folder name adds the weights' fingerprint."""
    base = Path(os.environ.get("OMNIVEC_HOME", Path.home() / ".cache" / "omnivec"))
    return (base / "text" / Path(model_name).name).resolve()


def _loss_module(kind: str, model: Any) -> Any:
    try:
        from sentence_transformers.sentence_transformer import losses
    except ImportError:  # sentence-transformers < 6
        from sentence_transformers import losses  # type: ignore[no-redef,attr-defined]
    if kind == "ranking":
        return losses.MultipleNegativesRankingLoss(model)
    return losses.CosineSimilarityLoss(model)


def _batches(n: int, batch_size: int, order: list[int]) -> list[list[int]]:
    """Index batches in ``order``; a last batch of one is folded into the one before (one
    pair alone has no in-batch negative)."""
    bounds = list(range(0, n, batch_size))
    if len(bounds) > 1 and n - bounds[-1] < 2:
        bounds.pop()
    return [order[lo : bounds[b + 1] if b + 1 < len(bounds) else n] for b, lo in enumerate(bounds)]


def train_copy(
    model: Any,
    data: TrainingPairs,
    *,
    epochs: int,
    batch_size: int,
    lr: float,
    seed: int,
    device: str,
    progress: bool | None = None,
    weight_decay: float = 0.01,
) -> tuple[Any, list[float]]:
    """Train a deep copy of ``model`` (``model`` itself is never touched); return the trained
    copy and the mean loss of each epoch.

    AdamW with a constant learning rate; batches shuffled by a generator seeded with ``seed``
    and dropout drawn from torch's global generator seeded the same (inside ``fork_rng``, so
    the caller's random state is left as it was).
    """
    import torch

    trained = copy.deepcopy(model)
    trained.to(device)
    loss_fn = _loss_module(data.kind, trained)
    optimizer = torch.optim.AdamW(trained.parameters(), lr=lr, weight_decay=weight_decay)
    gen = torch.Generator().manual_seed(seed)
    n = len(data)
    history: list[float] = []
    start = time.perf_counter()
    trained.train()
    try:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            for epoch in range(epochs):
                order = torch.randperm(n, generator=gen).tolist()
                batches = _batches(n, batch_size, order)
                total, count = 0.0, 0
                with progress_bar(
                    len(batches), f"fine-tune epoch {epoch + 1}/{epochs}", progress, "batch"
                ) as bar:
                    for idx in batches:
                        features = [
                            _to_device(trained.preprocess([col[i] for i in idx]), device)
                            for col in data.columns
                        ]
                        if data.scores is not None:
                            labels = torch.tensor([data.scores[i] for i in idx], device=device)
                        else:
                            labels = torch.zeros(len(idx), device=device)
                        loss = loss_fn(features, labels)
                        optimizer.zero_grad(set_to_none=True)
                        loss.backward()
                        optimizer.step()
                        value = float(loss.detach().item())
                        if not math.isfinite(value):
                            raise EncoderError(
                                f"fine-tuning diverged (loss {value}); lower lr (now {lr})"
                            )
                        total += value * len(idx)
                        count += len(idx)
                        bar.update(1)
                        bar.set_postfix(loss=f"{value:.4f}")
                history.append(total / count)
                logger.info("fine-tune epoch %d/%d: loss %.4f", epoch + 1, epochs, history[-1])
    finally:
        trained.eval()
    logger.info(
        "fine-tuned on %d pairs x %d epochs in %.1f s", n, epochs, time.perf_counter() - start
    )
    return trained, history


def _to_device(features: dict[str, Any], device: str) -> dict[str, Any]:
    return {k: v.to(device) if hasattr(v, "to") else v for k, v in features.items()}


def save_checkpoint(model: Any, target: Path) -> None:
    """``model.save`` into a sibling temporary folder, then move it to ``target`` (replacing
    a checkpoint or empty folder there), so a failure never leaves half a checkpoint."""
    tmp = target.with_name(f".{target.name}.tmp-{os.getpid()}")
    old = target.with_name(f".{target.name}.old-{os.getpid()}")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.rmtree(tmp, ignore_errors=True)
        model.save(str(tmp))
        if target.exists():
            os.replace(target, old)
        os.replace(tmp, target)
    except OSError as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        if old.exists() and not target.exists():
            os.replace(old, target)
        raise EncoderError(f"could not write checkpoint {str(target)!r}: {exc}") from exc
    shutil.rmtree(old, ignore_errors=True)

"""Re-embedding a collection into a new vector space without downtime.

``col.reembed(model="ckpt/")`` re-encodes every record from its stored source into a *shadow*
Milvus collection, then switches the collection to it in one catalog write: a
:class:`~omnivec.platform.shadow.ShadowSwitch` whose rows come from :class:`Reencode`.
Milvus Lite has no aliases, so the switch is an indirection: the catalog record names the
Milvus collection that holds its rows (``CollectionRecord.physical``), and every store call
goes there.

Crash safety (see :mod:`omnivec.platform.shadow`): the catalog record names the shadow and
the target space before the shadow collection exists, and the old rows are never touched
until after the switch, so a process killed at any point leaves the old collection whole.
Running the same re-embed again resumes: rows already in the shadow are skipped.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from omnivec.core.encoder import encode_in_role
from omnivec.core.ids import decode_id
from omnivec.core.space import Space
from omnivec.errors import EncoderError, InvalidInputError, OmnivecError
from omnivec.platform import hybrid, windows
from omnivec.platform.catalog import CollectionRecord, identity_of
from omnivec.platform.registry import create_encoder
from omnivec.platform.shadow import READ_CHUNK, ShadowTarget, source_of

if TYPE_CHECKING:
    from omnivec.platform.shadow import ShadowSwitch
    from omnivec.stores.base import StoredRow

__all__ = ["REEMBED_CHUNK", "ReembedReport", "Reencode", "source_of"]

logger = logging.getLogger(__name__)

#: Records encoded and written to the shadow per step (what a resume can lose at most).
REEMBED_CHUNK = 256


@dataclass
class ReembedReport:
    """What a re-embed did: ``total`` records, ``encoded`` in this run, ``resumed`` found in
    the shadow from an earlier run that was cut off, the old and new spaces, and the time."""

    total: int
    encoded: int
    resumed: int
    old_space: Space
    space: Space
    seconds: float

    @property
    def rows_per_s(self) -> float:
        return self.encoded / self.seconds if self.seconds > 0 else math.inf

    def to_dict(self) -> dict[str, Any]:
        return {
            "records": self.total,
            "encoded": self.encoded,
            "resumed": self.resumed,
            "seconds": round(self.seconds, 3),
            "old_space": self.old_space.to_dict(),
            "space": self.space.to_dict(),
        }


@dataclass
class _Item:
    key: str
    source: str | Path
    modality: str
    metadata: dict[str, Any]


class Reencode:
    """The rows of a re-embed: every record encoded again from its stored source (text, an
    image's stored path) by the encoder the new options make."""

    verb = "re-embedding"

    def __init__(self) -> None:
        self.chunk = REEMBED_CHUNK
        self.encoder: Any = None
        self._modalities: list[str] = []
        #: What :meth:`prepare` read (and checked), by key, until the copy writes it.
        self._loaded: dict[str, _Item] = {}

    # -- the target ------------------------------------------------------------------------
    def prepare(self, job: ShadowSwitch[Any], options: dict[str, Any]) -> ShadowTarget:
        """Refuses (``InvalidInputError``) a collection without an encoder, an encoder that
        has no text or image sources, a record without a stored source, and a target space
        equal to the current one."""
        rec = job.record
        if rec.encoder is None:
            raise InvalidInputError(
                f"collection {job.name!r} stores raw vectors: there is nothing to re-encode"
            )
        encoder = create_encoder(rec.encoder, **{**rec.config, **options})
        self._modalities = [m for m in ("text", "image") if m in encoder.modalities]
        if not self._modalities:
            raise InvalidInputError(
                f"collection {job.name!r} ({rec.encoder}) has no text or image sources to "
                "re-encode; train it again with fit() instead"
            )
        keys = job.store.keys(job.old_physical, where=job.main_rows)
        for start in range(0, len(keys), READ_CHUNK):
            rows = job.store.get(job.old_physical, keys[start : start + READ_CHUNK])
            self._loaded.update((row.key, self._item(job, row)) for row in rows.values())
        space = encoder.space  # loads the new model
        if space == rec.space:
            raise InvalidInputError(
                f"collection {job.name!r} is already in space {space.describe()}; pass "
                "reembed() another model or options (e.g. model='ckpt/')"
            )
        self.encoder = encoder
        return ShadowTarget(space, encoder, rec.keywords)

    def fresh_name(self, job: ShadowSwitch[Any]) -> str:
        return f"{job.name[:200]}__shadow_{job.goal.space.fingerprint[:12] or 'x'}"

    def switched(self, record: CollectionRecord, target: ShadowTarget) -> CollectionRecord:
        enc = target.encoder
        return dataclasses.replace(
            record,
            space=target.space,
            config=enc.config(),
            identity=identity_of(enc),
            state=enc.state_dict() if hasattr(enc, "state_dict") else {},
            fitting=None,
        )

    def report(self, job: ShadowSwitch[Any], before: CollectionRecord) -> ReembedReport:
        space = job.goal.space
        report = ReembedReport(
            job.total, job.written, job.resumed, before.space, space, job.elapsed()
        )
        logger.info(
            "re-embedded %r: %d records (%d resumed) into %s in %.1f s",
            job.name,
            report.total,
            report.resumed,
            space.describe(),
            report.seconds,
        )
        return report

    # -- the rows --------------------------------------------------------------------------
    def keys(self, job: ShadowSwitch[Any]) -> list[str]:
        return list(self._loaded)

    def write(self, job: ShadowSwitch[Any], keys: list[str], *, again: bool) -> int:
        if again:
            rows = job.store.get(job.old_physical, keys)
            items = [self._item(job, row) for row in rows.values()]
        else:
            items = [self._loaded.pop(key) for key in keys]
        self._write(job, items)
        return len(items)

    def _item(self, job: ShadowSwitch[Any], row: StoredRow) -> _Item:
        source = source_of(row)
        modality = "image" if isinstance(source, Path) else "text"
        if source is None or modality not in self._modalities:
            # (A text collection's metadata "source"/"path" is the user's, not an image.)
            raise InvalidInputError(
                f"record {decode_id(row.key)!r} of collection {job.name!r} has no stored "
                f"source ({' or '.join(self._modalities)}) to re-encode; delete it or add it "
                "again with its source, then re-embed"
            )
        meta = windows.split_metadata(row.metadata) if job.text else dict(row.metadata)
        return _Item(row.key, source, modality, meta)

    def _encoded(self, job: ShadowSwitch[Any], encode: Callable[[], Any], n: int) -> np.ndarray:
        """``encode()``'s vectors, checked: ``n`` finite rows of the target's dimension."""
        dim = job.goal.space.dim
        try:
            out = np.asarray(encode(), np.float32)
        except OmnivecError as exc:
            raise type(exc)(f"re-embedding {job.name!r}: {exc}") from exc
        except Exception as exc:
            raise EncoderError(f"re-embedding {job.name!r}: encoder failed: {exc}") from exc
        if out.shape != (n, dim) or not np.isfinite(out).all():
            raise EncoderError(
                f"re-embedding {job.name!r}: the encoder returned shape {out.shape} "
                f"(or non-finite values), expected {(n, dim)}"
            )
        return out

    def _write(self, job: ShadowSwitch[Any], chunk: list[_Item]) -> None:
        if job.text:
            texts = [item for item in chunk if item.modality == "text"]
            if texts:
                self._write_texts(job, texts)
            chunk = [item for item in chunk if item.modality != "text"]
            if not chunk:
                return
        vectors = np.empty((len(chunk), job.goal.space.dim), dtype=np.float32)
        for modality in ("text", "image"):
            idx = [i for i, item in enumerate(chunk) if item.modality == modality]
            if not idx:
                continue
            batch = [chunk[i].source if modality == "text" else str(chunk[i].source) for i in idx]
            encode = functools.partial(self.encoder.encode, batch, modality=modality)
            vectors[idx] = self._encoded(job, encode, len(idx))
        keys = [item.key for item in chunk]
        meta = [dict(item.metadata) for item in chunk]
        if job.text:  # rows of a text collection that carry no text (images)
            plan = windows.plan_untexted(keys, meta)
            if job.goal.keywords:
                hybrid.keyword_rows(plan)
            keys, meta = plan.keys, plan.metadata
        job.store.upsert(job.shadow, keys, vectors, meta)

    def _write_texts(self, job: ShadowSwitch[Any], chunk: list[_Item]) -> None:
        """Records of a text collection: windows planned with the new model's tokens, stored
        with their text (and keyword field), exactly as ``add`` would store them."""
        assert job.text is not None
        keys = [item.key for item in chunk]
        plan = windows.plan_texts(
            self.encoder,
            [str(item.source) for item in chunk],
            keys,
            [dict(item.metadata) for item in chunk],
            job.text,
        )
        out = self._encoded(
            job,
            lambda: windows.encode_plan(
                self.encoder,
                plan,
                lambda b: encode_in_role(self.encoder, b, "text", "document"),
            ),
            len(plan.pieces),
        )
        if job.goal.keywords:
            hybrid.keyword_rows(plan)
        stale = windows.stale_windows(job.store, job.shadow, keys)
        job.store.upsert(job.shadow, plan.keys, out[plan.source], plan.metadata, delete=stale)

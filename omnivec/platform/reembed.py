"""Re-embedding a collection into a new vector space without downtime.

``col.reembed(model="ckpt/")`` re-encodes every record from its stored source into a *shadow*
Milvus collection, then switches the collection to it in one catalog write. Milvus Lite has
no aliases, so the switch is an indirection: the catalog record names the Milvus collection
that holds its rows (``CollectionRecord.physical``), and every store call goes there.

Crash safety: the catalog record names the shadow and the target space (``options["reembed"]``)
before the shadow collection exists, and the old rows are never touched until after the
switch, so a process killed at any point leaves the old collection whole. Running the same
re-embed again resumes: rows already in the shadow are skipped. The old Milvus collection is
dropped after the switch (named in ``options["retired"]`` until it is gone).
"""

from __future__ import annotations

import dataclasses
import logging
import math
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

import numpy as np

from omnivec.core.encoder import encode_in_role
from omnivec.core.ids import decode_id
from omnivec.core.progress import progress_bar
from omnivec.core.space import Space
from omnivec.errors import EncoderError, InvalidInputError, OmnivecError
from omnivec.platform import hybrid, windows
from omnivec.platform.catalog import Catalog, CollectionRecord, identity_of
from omnivec.platform.registry import create_encoder

if TYPE_CHECKING:
    from omnivec.stores.base import StoredRow, VectorStore

__all__ = ["REEMBED_CHUNK", "Reembed", "ReembedReport", "SwitchGate", "source_of"]

logger = logging.getLogger(__name__)

#: Records encoded and written to the shadow per step (what a resume can lose at most).
REEMBED_CHUNK = 256
#: Keys read from the store per round trip while scanning the collection.
_READ_CHUNK = 1_000


def source_of(record: Any) -> str | Path | None:
    """The stored source a record's vector was made from, or ``None``: its stored text
    (``record.text``, else ``metadata["text"]``), else an image's stored path
    (``metadata["source"]``, which the clip encoder records for images added by path, or
    ``metadata["path"]``)."""
    text = getattr(record, "text", None)
    if isinstance(text, str):
        return text
    meta = getattr(record, "metadata", None) or {}
    stored = windows.record_text(meta)  # a text collection's stored text (a stored row)
    if stored is not None:
        return stored
    text = meta.get("text")
    if isinstance(text, str):
        return text
    for key in ("source", "path"):
        path = meta.get(key)
        if isinstance(path, str) and path:
            return Path(path)
    return None


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


class _SharedHold:
    """``with gate.shared():`` without a generator-based context manager per call (the
    gate is taken on every collection call, searches included)."""

    __slots__ = ("gate",)

    def __init__(self, gate: SwitchGate) -> None:
        self.gate = gate

    def __enter__(self) -> None:
        self.gate.enter_shared()

    def __exit__(self, *exc: object) -> None:
        self.gate.exit_shared()


class SwitchGate:
    """Readers and writers of a collection hold it shared; a re-embed's switch holds it
    exclusively, so no call is half-way through the old Milvus collection when the switch
    happens and none is still using it when it is dropped."""

    def __init__(self) -> None:
        # A plain lock the fast path takes in C; the condition (on the same lock) is only
        # waited on and notified while a switch is pending.
        self._mutex = threading.Lock()
        self._cond = threading.Condition(self._mutex)
        self._shared = 0
        self._exclusive = False
        self._waiting = 0  # switches waiting for the shares to leave
        self._owner: int | None = None
        self._held = threading.local()
        self._hold = _SharedHold(self)

    def shared(self) -> _SharedHold:
        """Hold the gate shared for a ``with`` block (re-entrant)."""
        return self._hold

    def enter_shared(self) -> None:
        held = self._held
        depth = getattr(held, "depth", 0)
        if depth:  # this thread holds it already: nothing to wait for, nothing to count
            held.depth = depth + 1
            return
        with self._mutex:
            # The switching thread (which holds it exclusively) never waits for itself.
            if self._exclusive and self._owner != threading.get_ident():
                while self._exclusive:
                    self._cond.wait()
            self._shared += 1
        held.depth = 1

    def exit_shared(self) -> None:
        held = self._held
        depth = held.depth
        held.depth = depth - 1
        if depth > 1:
            return
        with self._mutex:
            self._shared -= 1
            if not self._shared and self._waiting:  # a switch waits for no share left
                self._cond.notify_all()

    @contextmanager
    def exclusive(self) -> Iterator[None]:
        with self._cond:
            self._waiting += 1
            try:
                while self._exclusive:
                    self._cond.wait()
                self._exclusive, self._owner = True, threading.get_ident()
                while self._shared:
                    self._cond.wait()
            except BaseException:
                if self._owner == threading.get_ident():  # interrupted while draining
                    self._exclusive, self._owner = False, None
                    self._cond.notify_all()
                raise
            finally:
                self._waiting -= 1
        try:
            yield
        finally:
            with self._cond:
                self._exclusive, self._owner = False, None
                self._cond.notify_all()


def _shadow_name(name: str, space: Space) -> str:
    return f"{name[:200]}__shadow_{space.fingerprint[:12] or 'x'}"


@dataclass
class _Item:
    key: str
    source: str | Path
    modality: str
    metadata: dict[str, Any]


class Reembed:
    """One re-embed of collection ``name``: :meth:`prepare`, :meth:`copy`, then (under the
    collection's :class:`SwitchGate`) :meth:`catch_up` and :meth:`switch`, then :meth:`finish`.
    """

    def __init__(
        self,
        name: str,
        record: CollectionRecord,
        store: VectorStore,
        catalog: Catalog,
        progress: bool | None = None,
    ) -> None:
        self.name = name
        self.record = record
        self.store = store
        self.catalog = catalog
        self.progress = progress
        self.old_physical = record.milvus_name(name)
        #: The keyword-index settings of the shadow (a re-index changes them).
        self.keywords: dict[str, Any] | None = record.options.get("keywords")
        self.encoder: Any = None
        self.space: Space | None = None
        self.shadow = ""
        self.resumed = 0
        self.encoded = 0
        self.total = 0
        self._items: list[_Item] = []
        self._start = time.perf_counter()

    # -- 1. checks, the target space, and the shadow recorded in the catalog ----------------
    def prepare(self, options: dict[str, Any]) -> Any:
        """Check everything before any work, record the shadow, create it; returns the new
        encoder. Refuses (``InvalidInputError``) a collection without an encoder, an encoder
        that has no text or image sources, a record without a stored source, and a target
        space equal to the current one."""
        rec = self.record
        if rec.encoder is None:
            raise InvalidInputError(
                f"collection {self.name!r} stores raw vectors: there is nothing to re-encode"
            )
        merged = {**rec.config, **options}
        encoder = create_encoder(rec.encoder, **merged)
        modalities: list[str] = [m for m in ("text", "image") if m in encoder.modalities]
        if not modalities:
            raise InvalidInputError(
                f"collection {self.name!r} ({rec.encoder}) has no text or image sources to "
                "re-encode; train it again with fit() instead"
            )
        self._items = self._read_sources(modalities)
        self.total = len(self._items)
        space = encoder.space  # loads the new model
        if space == rec.space:
            raise InvalidInputError(
                f"collection {self.name!r} is already in space {space.describe()}; pass "
                "reembed() another model or options (e.g. model='ckpt/')"
            )
        self.encoder, self.space = encoder, space
        self._record_shadow()
        return encoder

    @property
    def _text(self) -> dict[str, Any] | None:
        return self.record.options.get("text")

    @property
    def _main_rows(self) -> str | None:
        """A filter for the rows that stand for records (a long text is several rows)."""
        return windows.MAIN_FILTER if self._text else None

    def _read_sources(self, modalities: list[str]) -> list[_Item]:
        keys = self.store.keys(self.old_physical, where=self._main_rows)
        items: list[_Item] = []
        for start in range(0, len(keys), _READ_CHUNK):
            rows = self.store.get(self.old_physical, keys[start : start + _READ_CHUNK])
            items.extend(self._item(row, modalities) for row in rows.values())
        return items

    def _item(self, row: StoredRow, modalities: list[str]) -> _Item:
        source = source_of(row)
        modality = "image" if isinstance(source, Path) else "text"
        if source is None or modality not in modalities:
            # (A text collection's metadata "source"/"path" is the user's, not an image.)
            raise InvalidInputError(
                f"record {decode_id(row.key)!r} of collection {self.name!r} has no stored "
                f"source ({' or '.join(modalities)}) to re-encode; delete it or add it again "
                "with its source, then re-embed"
            )
        meta = windows.split_metadata(row.metadata) if self._text else dict(row.metadata)
        return _Item(row.key, source, modality, meta)

    def shadow_name(self, job: Any) -> str:
        """The shadow's Milvus name; ``job`` is the unfinished job the catalog names, if any."""
        assert self.space is not None
        return _shadow_name(self.name, self.space)

    def same_target(self, job: Any) -> bool:
        """Whether the unfinished ``job`` was heading where this one is (then it resumes)."""
        assert self.space is not None
        if not isinstance(job, dict) or job.get("space") != self.space.to_dict():
            return False
        # Jobs recorded before re-indexing existed kept the collection's keyword settings.
        return job.get("keywords", self.record.options.get("keywords")) == self.keywords

    def _record_shadow(self) -> None:
        """Name the shadow in the catalog before creating it (resume it if it is the same
        target; drop the shadow of an earlier re-embed to another target)."""
        assert self.space is not None
        rec = self.record
        job = rec.options.get("reembed")
        shadow = self.shadow_name(job)
        if isinstance(job, dict):
            old_shadow = str(job.get("shadow", ""))
            if self.same_target(job) and old_shadow == shadow:
                if self.store.has_collection(shadow):
                    self.resumed = len(self.store.keys(shadow, where=self._main_rows))
            elif old_shadow and old_shadow != self.old_physical:
                logger.info("dropping the shadow %r of an unfinished re-embed", old_shadow)
                if self.store.has_collection(old_shadow):
                    self.store.drop_collection(old_shadow)
        self.shadow = shadow
        options = dict(rec.options)
        for retired in options.pop("retired", []):  # a switch cut off before its drop
            if retired not in (self.old_physical, shadow) and self.store.has_collection(retired):
                self.store.drop_collection(retired)
        options["reembed"] = {
            "shadow": shadow,
            "space": self.space.to_dict(),
            "config": self.encoder.config(),
            "keywords": self.keywords,
            "started": time.time(),
        }
        self.record = dataclasses.replace(rec, options=options)
        self.catalog.save_collection(self.name, self.record)
        if not self.store.has_collection(shadow):
            analyzer = (self.keywords or {}).get("analyzer")
            self.store.create_collection(
                shadow, self.space.dim, self.space.metric, index=rec.index, keywords=analyzer
            )

    # -- 2. encode into the shadow ---------------------------------------------------------
    def copy(self) -> None:
        """Encode every record not yet in the shadow and write it there, a chunk at a time."""
        done = set(self.store.keys(self.shadow)) if self.resumed else set()
        todo = [item for item in self._items if item.key not in done]
        with progress_bar(
            len(self._items), f"re-embedding {self.name}", self.progress, "rec"
        ) as bar:
            bar.update(len(self._items) - len(todo))
            for start in range(0, len(todo), REEMBED_CHUNK):
                chunk = todo[start : start + REEMBED_CHUNK]
                self._write(chunk)
                bar.update(len(chunk))

    def _write(self, chunk: list[_Item]) -> None:
        assert self.space is not None
        if self._text:
            texts = [item for item in chunk if item.modality == "text"]
            if texts:
                self._write_texts(texts)
            chunk = [item for item in chunk if item.modality != "text"]
            if not chunk:
                return
        vectors = np.empty((len(chunk), self.space.dim), dtype=np.float32)
        for modality in ("text", "image"):
            idx = [i for i, item in enumerate(chunk) if item.modality == modality]
            if not idx:
                continue
            batch = [chunk[i].source if modality == "text" else str(chunk[i].source) for i in idx]
            try:
                out = np.asarray(self.encoder.encode(batch, modality=modality), np.float32)
            except OmnivecError as exc:
                raise type(exc)(f"re-embedding {self.name!r}: {exc}") from exc
            except Exception as exc:
                raise EncoderError(f"re-embedding {self.name!r}: encoder failed: {exc}") from exc
            if out.shape != (len(idx), self.space.dim) or not np.isfinite(out).all():
                raise EncoderError(
                    f"re-embedding {self.name!r}: the encoder returned shape {out.shape} "
                    f"(or non-finite values), expected {(len(idx), self.space.dim)}"
                )
            vectors[idx] = out
        keys = [item.key for item in chunk]
        meta = [dict(item.metadata) for item in chunk]
        if self._text:  # rows of a text collection that carry no text (images)
            plan = windows.plan_untexted(keys, meta)
            if self.keywords:
                hybrid.keyword_rows(plan)
            keys, meta = plan.keys, plan.metadata
        self.store.upsert(self.shadow, keys, vectors, meta)
        self.encoded += len(chunk)

    def _write_texts(self, chunk: list[_Item]) -> None:
        """Records of a text collection: windows planned with the new model's tokens, stored
        with their text (and keyword field), exactly as ``add`` would store them."""
        assert self.space is not None and self._text is not None
        texts = [str(item.source) for item in chunk]
        keys = [item.key for item in chunk]
        plan = windows.plan_texts(
            self.encoder, texts, keys, [dict(item.metadata) for item in chunk], self._text
        )
        try:
            out = np.asarray(
                windows.encode_plan(
                    self.encoder,
                    plan,
                    lambda b: encode_in_role(self.encoder, b, "text", "document"),
                ),
                np.float32,
            )
        except OmnivecError as exc:
            raise type(exc)(f"re-embedding {self.name!r}: {exc}") from exc
        except Exception as exc:
            raise EncoderError(f"re-embedding {self.name!r}: encoder failed: {exc}") from exc
        if out.shape != (len(plan.pieces), self.space.dim) or not np.isfinite(out).all():
            raise EncoderError(
                f"re-embedding {self.name!r}: the encoder returned shape {out.shape} "
                f"(or non-finite values), expected {(len(plan.pieces), self.space.dim)}"
            )
        if self.keywords:
            hybrid.keyword_rows(plan)
        stale = windows.stale_windows(self.store, self.shadow, keys)
        self.store.upsert(self.shadow, plan.keys, out[plan.source], plan.metadata, delete=stale)
        self.encoded += len(chunk)

    # -- 3. under the gate: rows written meanwhile, then the switch ------------------------
    def catch_up(self) -> None:
        """Bring the shadow level with the old collection: copy the records added there
        during the copy and those replaced in place (another text, source or metadata than
        the shadow's copy of them, also after a resumed job), and remove from the shadow
        those deleted meanwhile. :func:`run` calls it once before taking the gate (the bulk
        of the work, while the collection keeps answering) and once under it."""
        current = set(self.store.keys(self.old_physical, where=self._main_rows))
        in_shadow = set(self.store.keys(self.shadow, where=self._main_rows))
        both = sorted(current & in_shadow)
        old, copied = self._sources(self.old_physical, both), self._sources(self.shadow, both)
        changed = [key for key in both if old.get(key) != copied.get(key)]
        if changed:
            logger.info("%s: %d records changed during the copy", self.name, len(changed))
        self.copy_records(sorted(current - in_shadow) + changed)
        gone = sorted(in_shadow - current)
        if gone and self._text:
            windows.delete_records(self.store, self.shadow, gone)
        elif gone:
            self.store.delete(self.shadow, gone)
        self.total = len(current)

    def _sources(self, physical: str, keys: list[str]) -> dict[str, tuple[Any, dict[str, Any]]]:
        """What each record of ``keys`` in ``physical`` is made from, comparable between the
        old rows and the shadow's: (its stored source, its user metadata), by key."""
        out: dict[str, tuple[Any, dict[str, Any]]] = {}
        for start in range(0, len(keys), _READ_CHUNK):
            found = self.store.metadata(physical, keys[start : start + _READ_CHUNK])
            for key, meta in found.items():
                user = windows.split_metadata(meta) if self._text else dict(meta)
                out[key] = (source_of(SimpleNamespace(metadata=meta)), user)
        return out

    def copy_records(self, keys: list[str]) -> None:
        """Write records ``keys`` of the old collection into the shadow, re-encoded."""
        modalities: list[str] = [m for m in ("text", "image") if m in self.encoder.modalities]
        for start in range(0, len(keys), _READ_CHUNK):
            rows = self.store.get(self.old_physical, keys[start : start + _READ_CHUNK])
            items = [self._item(row, modalities) for row in rows.values()]
            for lo in range(0, len(items), REEMBED_CHUNK):
                self._write(items[lo : lo + REEMBED_CHUNK])

    def switch_options(self) -> dict[str, Any]:
        """The record's options after the switch: no job, the old rows named as retired."""
        options = {k: v for k, v in self.record.options.items() if k != "reembed"}
        retired = [n for n in options.get("retired", []) if n != self.shadow]
        options["retired"] = [*retired, self.old_physical]
        if options.get("text"):  # every record was written with its text's vector
            options["text"] = {**options["text"], "record_vector": windows.RECORD_VECTOR}
        return options

    def switch(self) -> CollectionRecord:
        """Make the shadow the collection's rows and the new space its space, in one catalog
        write; returns the new record."""
        assert self.space is not None
        options = self.switch_options()
        record = dataclasses.replace(
            self.record,
            space=self.space,
            config=self.encoder.config(),
            identity=identity_of(self.encoder),
            state=self.encoder.state_dict() if hasattr(self.encoder, "state_dict") else {},
            physical=self.shadow,
            options=options,
            fitting=None,
        )
        self.catalog.save_collection(self.name, record)
        self.record = record
        return record

    # -- 4. drop the old rows --------------------------------------------------------------
    def finish(self, old_space: Space) -> ReembedReport:
        """Drop the retired Milvus collections and forget them; returns the report."""
        self.drop_retired()
        assert self.space is not None
        report = ReembedReport(
            self.total,
            self.encoded,
            self.resumed,
            old_space,
            self.space,
            self.elapsed(),
        )
        logger.info(
            "re-embedded %r: %d records (%d resumed) into %s in %.1f s",
            self.name,
            report.total,
            report.resumed,
            self.space.describe(),
            report.seconds,
        )
        return report

    def elapsed(self) -> float:
        """Seconds since this job began."""
        return time.perf_counter() - self._start

    def drop_retired(self) -> None:
        """Drop the Milvus collections the switch retired, then forget their names."""
        record = self.record
        for name in record.options.get("retired", []):
            if name != record.milvus_name(self.name) and self.store.has_collection(name):
                self.store.drop_collection(name)
        options = {k: v for k, v in record.options.items() if k != "retired"}
        self.record = dataclasses.replace(record, options=options)
        self.catalog.save_collection(self.name, self.record)


def run(
    reembed: Reembed,
    options: dict[str, Any],
    gate: SwitchGate,
    adopt: Callable[[CollectionRecord, Any], None],
) -> ReembedReport:
    """The whole re-embed; ``adopt(record, encoder)`` installs the switch in memory (called
    under the exclusive gate right after the catalog write, and again once the old rows are
    dropped)."""
    old_space = reembed.record.space
    reembed.prepare(options)
    reembed.copy()
    reembed.catch_up()  # what changed during the copy, while the collection still answers
    with gate.exclusive():
        reembed.catch_up()  # what changed since: usually nothing to encode
        record = reembed.switch()
        adopt(record, reembed.encoder)
    report = reembed.finish(old_space)
    adopt(reembed.record, reembed.encoder)  # the record without the retired rows' names
    return report

"""The shadow switch: move a collection's rows into a new Milvus collection without downtime.

``col.reembed(...)`` (rows re-encoded by another model, :mod:`omnivec.platform.reembed`) and
``col.reindex(...)`` (rows copied into another keyword schema, :mod:`omnivec.platform.reindex`)
are one :class:`ShadowSwitch` each, with another :class:`RowSource`:

1. the row source checks everything and names the target (space, encoder, keywords);
2. the catalog record names the *shadow* Milvus collection (:class:`ShadowJob`) before it
   exists, then the shadow is created;
3. the rows are written there a chunk at a time while the collection keeps answering from
   the old rows, and what changed meanwhile is caught up;
4. under the collection's exclusive :class:`~omnivec.platform.gate.SwitchGate`, the last
   changes are caught up and one catalog write makes the shadow the collection's rows
   (Milvus Lite has no aliases: the record names the Milvus collection that holds its rows);
5. the old rows are dropped (named in the record as retired until they are gone).

Crash safety: the old rows are never touched before the switch, so a process killed at any
point leaves the collection whole; running the same job again resumes (records already in
the shadow are skipped), and a job to another target first drops the unfinished shadow.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeVar

from omnivec.core.progress import progress_bar
from omnivec.core.space import Space
from omnivec.platform import windows
from omnivec.platform.catalog import (
    Catalog,
    CollectionRecord,
    KeywordOptions,
    ShadowJob,
    TextOptions,
)

if TYPE_CHECKING:
    from omnivec.platform.gate import SwitchGate
    from omnivec.stores.base import VectorStore

__all__ = ["READ_CHUNK", "RowSource", "ShadowSwitch", "ShadowTarget", "source_of"]

logger = logging.getLogger(__name__)

#: Keys read from the store per round trip while scanning a collection.
READ_CHUNK = 1_000

R = TypeVar("R", covariant=True)


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


@dataclass(frozen=True)
class ShadowTarget:
    """Where a switch heads: the space and encoder of the new rows and the shadow's keyword
    settings (``None``: no keywords)."""

    space: Space
    encoder: Any
    keywords: KeywordOptions | None


class RowSource(Protocol[R]):
    """What goes into the shadow (records re-encoded, or rows copied), and what the switch
    changes in the record besides its rows; ``R`` is the report a job returns."""

    #: What the progress bar says ("re-embedding", "re-indexing").
    verb: str
    #: Records written to the shadow per store call (what a resume can lose at most).
    chunk: int

    def prepare(self, job: ShadowSwitch[Any], options: dict[str, Any]) -> ShadowTarget:
        """Check everything before any work (refusals change nothing); the target."""
        ...

    def fresh_name(self, job: ShadowSwitch[Any]) -> str:
        """A Milvus name for a new shadow (one not resumed from an unfinished job)."""
        ...

    def keys(self, job: ShadowSwitch[Any]) -> list[str]:
        """The keys of the records to bring over, in order."""
        ...

    def write(self, job: ShadowSwitch[Any], keys: list[str], *, again: bool) -> int:
        """Write records ``keys`` of the old rows into ``job.shadow`` (``again``: they are
        read afresh, they changed since :meth:`keys`); the number of records written."""
        ...

    def switched(self, record: CollectionRecord, target: ShadowTarget) -> CollectionRecord:
        """``record`` with what the switch changes besides rows and keywords (the space)."""
        ...

    def report(self, job: ShadowSwitch[Any], before: CollectionRecord) -> R:
        """What the finished job did (``before``: the record it started from)."""
        ...


class ShadowSwitch(Generic[R]):
    """One switch of collection ``name`` into a shadow filled by ``rows``; :meth:`run` it."""

    def __init__(
        self,
        name: str,
        record: CollectionRecord,
        store: VectorStore,
        catalog: Catalog,
        rows: RowSource[R],
        progress: bool | None = None,
    ) -> None:
        self.name = name
        self.record = record
        self.store = store
        self.catalog = catalog
        self.rows = rows
        self.progress = progress
        self.old_physical = record.milvus_name(name)
        self.target: ShadowTarget | None = None
        self.shadow = ""
        #: Records found in the shadow from a run that was cut off, written in this run,
        #: and in the collection.
        self.resumed = 0
        self.written = 0
        self.total = 0
        self._start = time.perf_counter()

    # -- what every step reads -----------------------------------------------------------
    @property
    def text(self) -> TextOptions | None:
        """The collection's text options (``None``: it stores no text)."""
        return self.record.text

    @property
    def main_rows(self) -> str | None:
        """A filter for the rows that stand for records (a long text is several rows)."""
        return windows.MAIN_FILTER if self.text else None

    @property
    def goal(self) -> ShadowTarget:
        """The target (once :meth:`run` has prepared it)."""
        assert self.target is not None, "the job has not been prepared"
        return self.target

    def elapsed(self) -> float:
        """Seconds since this job began."""
        return time.perf_counter() - self._start

    # -- the whole job ---------------------------------------------------------------------
    def run(
        self,
        options: dict[str, Any],
        gate: SwitchGate,
        adopt: Callable[[CollectionRecord, Any], None],
    ) -> R:
        """Prepare, record the shadow, fill it, catch up, switch under ``gate``, drop the old
        rows; ``adopt(record, encoder)`` installs the switch in memory (called under the
        exclusive gate right after the catalog write, and again once the old rows are
        dropped)."""
        before = self.record
        self.target = self.rows.prepare(self, options)
        self.record_shadow()
        self.copy()
        self.catch_up()  # what changed during the copy, while the collection still answers
        with gate.exclusive():
            self.catch_up()  # what changed since: usually nothing to write
            record = self.switch()
            adopt(record, self.goal.encoder)
        self.drop_retired()
        report = self.rows.report(self, before)
        adopt(self.record, self.goal.encoder)  # the record without the retired rows' names
        return report

    # -- 1. the shadow recorded in the catalog, then created -------------------------------
    def same_target(self, job: ShadowJob) -> bool:
        """Whether the unfinished ``job`` was heading where this one is (then it resumes)."""
        return job.space == self.goal.space and job.keywords == self.goal.keywords

    def shadow_name(self, job: ShadowJob | None) -> str:
        """The shadow of an unfinished job to the same target (resumed), else a fresh one."""
        if job is not None and self.same_target(job) and job.shadow != self.old_physical:
            return job.shadow
        return self.rows.fresh_name(self)

    def record_shadow(self) -> None:
        """Name the shadow in the catalog before creating it (resume it if it is the same
        target; drop the shadow of an unfinished job to another target, and old rows a
        switch cut off before its drop)."""
        goal, rec = self.goal, self.record
        job = rec.shadow_job
        shadow = self.shadow_name(job)
        if job is not None:
            if self.same_target(job) and job.shadow == shadow:
                if self.store.has_collection(shadow):
                    self.resumed = len(self.store.keys(shadow, where=self.main_rows))
            elif job.shadow and job.shadow != self.old_physical:
                logger.info("dropping the shadow %r of an unfinished job", job.shadow)
                if self.store.has_collection(job.shadow):
                    self.store.drop_collection(job.shadow)
        self.shadow = shadow
        for retired in rec.retired:
            if retired not in (self.old_physical, shadow) and self.store.has_collection(retired):
                self.store.drop_collection(retired)
        started = ShadowJob(shadow, goal.space, goal.encoder.config(), goal.keywords, time.time())
        self.record = dataclasses.replace(rec, shadow_job=started, retired=())
        self.catalog.save_collection(self.name, self.record)
        if not self.store.has_collection(shadow):
            analyzer = goal.keywords.analyzer if goal.keywords is not None else None
            self.store.create_collection(
                shadow, goal.space.dim, goal.space.metric, index=rec.index, keywords=analyzer
            )

    # -- 2. fill the shadow ----------------------------------------------------------------
    def copy(self) -> None:
        """Write every record not yet in the shadow there, a chunk at a time."""
        keys = self.rows.keys(self)
        done = set(self.store.keys(self.shadow, where=self.main_rows)) if self.resumed else set()
        todo = [k for k in keys if k not in done]
        self.total = len(keys)
        desc = f"{self.rows.verb} {self.name}"
        with progress_bar(len(keys), desc, self.progress, "rec") as bar:
            bar.update(len(keys) - len(todo))
            for start in range(0, len(todo), self.rows.chunk):
                chunk = todo[start : start + self.rows.chunk]
                self.written += self.rows.write(self, chunk, again=False)
                bar.update(len(chunk))

    # -- 3. what changed meanwhile, then the switch ----------------------------------------
    def catch_up(self) -> None:
        """Bring the shadow level with the old rows: write the records added there during
        the copy and those replaced in place (another text, source or metadata than the
        shadow's copy of them, also after a resumed job), and remove from the shadow those
        deleted meanwhile."""
        current = set(self.store.keys(self.old_physical, where=self.main_rows))
        in_shadow = set(self.store.keys(self.shadow, where=self.main_rows))
        both = sorted(current & in_shadow)
        old, copied = self._sources(self.old_physical, both), self._sources(self.shadow, both)
        changed = [key for key in both if old.get(key) != copied.get(key)]
        if changed:
            logger.info("%s: %d records changed during the copy", self.name, len(changed))
        todo = sorted(current - in_shadow) + changed
        for start in range(0, len(todo), self.rows.chunk):
            chunk = todo[start : start + self.rows.chunk]
            self.written += self.rows.write(self, chunk, again=True)
        gone = sorted(in_shadow - current)
        if gone and self.text:
            windows.delete_records(self.store, self.shadow, gone)
        elif gone:
            self.store.delete(self.shadow, gone)
        self.total = len(current)

    def _sources(self, physical: str, keys: list[str]) -> dict[str, tuple[Any, dict[str, Any]]]:
        """What each record of ``keys`` in ``physical`` is made from, comparable between the
        old rows and the shadow's: (its stored source, its user metadata), by key."""
        out: dict[str, tuple[Any, dict[str, Any]]] = {}
        for start in range(0, len(keys), READ_CHUNK):
            found = self.store.metadata(physical, keys[start : start + READ_CHUNK])
            for key, meta in found.items():
                user = windows.split_metadata(meta) if self.text else dict(meta)
                out[key] = (source_of(SimpleNamespace(metadata=meta)), user)
        return out

    def switch(self) -> CollectionRecord:
        """Make the shadow the collection's rows (and the target its space and keyword
        settings) in one catalog write; returns the new record."""
        goal, rec = self.goal, self.record
        text = rec.text
        if text is not None:  # every record was written with its text's vector
            text = dataclasses.replace(text, record_vector=windows.RECORD_VECTOR)
        retired = (*(n for n in rec.retired if n != self.shadow), self.old_physical)
        record = dataclasses.replace(
            self.rows.switched(rec, goal),
            physical=self.shadow,
            options=dict(rec.options),
            text=text,
            keywords=goal.keywords,
            shadow_job=None,
            retired=retired,
        )
        self.catalog.save_collection(self.name, record)
        self.record = record
        return record

    # -- 4. drop the old rows --------------------------------------------------------------
    def drop_retired(self) -> None:
        """Drop the Milvus collections the switch retired, then forget their names."""
        record = self.record
        for name in record.retired:
            if name != record.milvus_name(self.name) and self.store.has_collection(name):
                self.store.drop_collection(name)
        self.record = dataclasses.replace(record, retired=())
        self.catalog.save_collection(self.name, self.record)

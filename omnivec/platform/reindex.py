"""Re-indexing a collection's keywords: BM25 on, off, or with another analyzer.

``col.reindex(keywords=True, analyzer="standard")`` rebuilds a text collection with a new
keyword (BM25) schema from the text it stores. Milvus cannot add or change an analysed field
of an existing collection, so the rows are copied into a *shadow* collection with the new
schema -- their vectors, ids and metadata exactly as stored, nothing re-encoded -- and the
collection switches to it in one catalog step.

This is a re-embed that keeps the space (:mod:`omnivec.platform.reembed`): the same shadow
recorded in the catalog before it exists, the same switch under the collection's gate, the
same resume after a kill. Only what goes into the shadow differs: stored rows, copied.
"""

from __future__ import annotations

import dataclasses
import logging
import os
from dataclasses import dataclass
from typing import Any

import numpy as np

from omnivec.core.encoder import encode_in_role
from omnivec.core.ids import decode_id
from omnivec.core.progress import progress_bar
from omnivec.core.space import Space
from omnivec.errors import InvalidInputError
from omnivec.platform import hybrid, reembed, windows
from omnivec.platform.catalog import CollectionRecord
from omnivec.platform.reembed import Reembed, ReembedReport
from omnivec.stores.fulltext import KEYWORD_FIELD, check_analyzer, keyword_text

__all__ = ["Reindex", "ReindexReport", "describe_keywords"]

logger = logging.getLogger(__name__)


def describe_keywords(keywords: dict[str, Any] | None) -> str:
    """``"keywords off"`` or ``"keywords on (analyzer 'standard')"``."""
    if not keywords:
        return "keywords off"
    return f"keywords on (analyzer {keywords.get('analyzer')!r})"


@dataclass
class ReindexReport(ReembedReport):
    """What a re-index did: ``total`` records, ``encoded`` (here: copied) in this run,
    ``resumed`` found in the shadow from a run that was cut off, and the keyword settings
    before and after (``{"analyzer": ...}`` or ``None``). The space does not change."""

    old_keywords: dict[str, Any] | None
    keywords: dict[str, Any] | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "records": self.total,
            "copied": self.encoded,
            "resumed": self.resumed,
            "seconds": round(self.seconds, 3),
            "keywords": self.keywords is not None,
            "analyzer": (self.keywords or {}).get("analyzer"),
            "old_keywords": self.old_keywords is not None,
            "old_analyzer": (self.old_keywords or {}).get("analyzer"),
        }


class Reindex(Reembed):
    """One re-index of collection ``name`` (run it with :func:`omnivec.platform.reembed.run`
    and options ``{"keywords": bool, "analyzer": str | None}``)."""

    def __init__(
        self,
        name: str,
        record: CollectionRecord,
        store: Any,
        catalog: Any,
        encoder: Any,
        progress: bool | None = None,
    ) -> None:
        super().__init__(name, record, store, catalog, progress)
        self.encoder = encoder  # kept: the vectors stay in their space
        self.space = record.space
        self.old_keywords: dict[str, Any] | None = record.options.get("keywords")
        #: Rewrite the records with their text's vector (a collection made before round 3).
        self.upgrade = False

    def prepare(self, options: dict[str, Any]) -> Any:
        """Check the target before any work, then record and create the shadow. Refuses
        (``InvalidInputError``) an unknown analyzer, a collection that stores no text, and a
        target equal to the current keyword settings."""
        keywords, analyzer = options.get("keywords"), options.get("analyzer")
        if keywords is not True and keywords is not False:
            raise InvalidInputError(f"keywords must be True or False, got {keywords!r}")
        if analyzer is not None:
            if keywords is False:
                raise InvalidInputError(
                    "analyzer= chooses how keywords are split; pass keywords=True with it"
                )
            analyzer = check_analyzer(analyzer)
        rec = self.record
        if rec.encoder is None or rec.options.get("text") is None:
            raise InvalidInputError(
                f"collection {self.name!r} stores no text for a keyword index to read (its "
                f"encoder: {rec.encoder or 'none, raw vectors'}); keywords need a text, "
                "multilingual or clip collection"
            )
        target: dict[str, Any] | None = None
        if keywords:
            # Without analyzer=, a collection that has keywords keeps its analyzer.
            current = (self.old_keywords or {}).get("analyzer")
            target = {"analyzer": analyzer or current or "standard"}
        # A collection made before round 3 is rewritten with each record's text's vector
        # (re-encoded; see omnivec.platform.windows), even with the same keyword settings.
        text = rec.options.get("text") or {}
        self.upgrade = text.get("record_vector") != windows.RECORD_VECTOR
        if target == self.old_keywords and not self.upgrade:
            todo = "keywords=False, or another analyzer=" if target else "keywords=True"
            raise InvalidInputError(
                f"collection {self.name!r} already has {describe_keywords(target)}: nothing "
                f"to re-index (pass {todo})"
            )
        self.keywords = target
        self._record_shadow()
        return self.encoder

    def shadow_name(self, job: Any) -> str:
        # Resume the shadow of an unfinished re-index to the same settings; else a fresh name
        # (the space is unchanged, so it cannot name the shadow as a re-embed's does).
        shadow = job.get("shadow") if self.same_target(job) else None
        if isinstance(shadow, str) and shadow != self.old_physical:
            return shadow
        return f"{self.name[:200]}__reindex_{os.urandom(4).hex()}"

    def copy(self) -> None:
        """Copy every record not yet in the shadow there, a chunk at a time."""
        main = windows.MAIN_FILTER
        keys = sorted(self.store.keys(self.old_physical, where=main))
        done = set(self.store.keys(self.shadow, where=main)) if self.resumed else set()
        todo = [k for k in keys if k not in done]
        self.total = len(keys)
        with progress_bar(len(keys), f"re-indexing {self.name}", self.progress, "rec") as bar:
            bar.update(len(keys) - len(todo))
            for start in range(0, len(todo), reembed.REEMBED_CHUNK):
                chunk = todo[start : start + reembed.REEMBED_CHUNK]
                self.copy_records(chunk)
                bar.update(len(chunk))

    def copy_records(self, keys: list[str]) -> None:
        """Write records ``keys`` (all their current rows) into the shadow: vectors and
        metadata as stored, the keyword field set from each row's text (or left out); an
        upgrade re-encodes the records that have text instead."""
        if self.upgrade:
            self.rewrite_records(keys)
            return
        for start in range(0, len(keys), reembed.REEMBED_CHUNK):
            rows = windows.current_rows(
                self.store, self.old_physical, keys[start : start + reembed.REEMBED_CHUNK]
            )
            if not rows:
                continue
            meta: list[dict[str, Any]] = []
            for row, text in rows:
                m = {k: v for k, v in row.metadata.items() if k != KEYWORD_FIELD}
                if self.keywords:
                    rid = decode_id(windows.record_key(row.key))
                    m[KEYWORD_FIELD] = keyword_text(text, f"record {rid!r}")
                meta.append(m)
            vectors = np.stack([row.vector for row, _ in rows]).astype(np.float32, copy=False)
            written = [row.key for row, _ in rows]
            # A record copied again (it changed during the copy) may have had more windows.
            fresh = set(written)
            chunk = sorted({windows.record_key(k) for k in written})
            stale = [
                k for k in windows.stale_windows(self.store, self.shadow, chunk) if k not in fresh
            ]
            self.store.upsert(self.shadow, written, vectors, meta, delete=stale)
            self.encoded += sum(1 for row, _ in rows if windows.record_key(row.key) == row.key)

    def rewrite_records(self, keys: list[str]) -> None:
        """Write records ``keys`` into the shadow as ``add`` writes them today: texts planned
        and encoded again (same model), rows without text copied as stored."""
        text_options = self.record.options.get("text") or {}
        for start in range(0, len(keys), reembed.REEMBED_CHUNK):
            rows = self.store.get(self.old_physical, keys[start : start + reembed.REEMBED_CHUNK])
            texted = [r for r in rows.values() if windows.record_text(r.metadata) is not None]
            plain = [r for r in rows.values() if windows.record_text(r.metadata) is None]
            plans: list[tuple[windows.Plan, np.ndarray]] = []
            if texted:
                texts = windows.plan_texts(
                    self.encoder,
                    [str(windows.record_text(r.metadata)) for r in texted],
                    [r.key for r in texted],
                    [windows.split_metadata(r.metadata) for r in texted],
                    text_options,
                )
                vecs = windows.encode_plan(
                    self.encoder,
                    texts,
                    lambda b: encode_in_role(self.encoder, b, "text", "document"),
                )
                plans.append((texts, vecs[texts.source]))
            if plain:
                other = windows.plan_untexted(
                    [r.key for r in plain], [windows.split_metadata(r.metadata) for r in plain]
                )
                plans.append((other, np.stack([r.vector for r in plain])))
            # Windows of an earlier copy of these records (a resumed or repeated copy).
            stale = windows.stale_windows(self.store, self.shadow, sorted(rows))
            for plan, vecs in plans:
                if self.keywords:
                    hybrid.keyword_rows(plan)
                self.store.upsert(
                    self.shadow, plan.keys, vecs.astype(np.float32), plan.metadata, delete=stale
                )
                stale = []
            self.encoded += len(rows)

    def switch(self) -> CollectionRecord:
        """Make the shadow the collection's rows and the new keyword settings its own, in
        one catalog write; returns the new record."""
        options = self.switch_options()
        if self.keywords:
            options["keywords"] = self.keywords
        else:
            options.pop("keywords", None)
        record = dataclasses.replace(self.record, physical=self.shadow, options=options)
        self.catalog.save_collection(self.name, record)
        self.record = record
        return record

    def finish(self, old_space: Space) -> ReembedReport:
        """Drop the old rows and forget them; returns the report."""
        self.drop_retired()
        report = ReindexReport(
            self.total,
            self.encoded,
            self.resumed,
            old_space,
            old_space,
            self.elapsed(),
            self.old_keywords,
            self.keywords,
        )
        logger.info(
            "re-indexed %r: %d records (%d resumed), %s -> %s in %.1f s",
            self.name,
            report.total,
            report.resumed,
            describe_keywords(self.old_keywords),
            describe_keywords(self.keywords),
            report.seconds,
        )
        return report

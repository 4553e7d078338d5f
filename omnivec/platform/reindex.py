"""Re-indexing a collection's keywords: BM25 on, off, or with another analyzer.

``col.reindex(keywords=True, analyzer="standard")`` rebuilds a text collection with a new
keyword (BM25) schema from the text it stores. Milvus cannot add or change an analysed field
of an existing collection, so the rows are copied into a *shadow* collection with the new
schema -- their vectors, ids and metadata exactly as stored, nothing re-encoded -- and the
collection switches to it in one catalog step.

It is the same :class:`~omnivec.platform.shadow.ShadowSwitch` as a re-embed's: the shadow
recorded in the catalog before it exists, the switch under the collection's gate, the resume
after a kill. Only what goes into the shadow differs (:class:`CopyRows`): stored rows, copied.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from omnivec.core.encoder import encode_in_role
from omnivec.core.ids import decode_id
from omnivec.errors import InvalidInputError
from omnivec.platform import hybrid, reembed, windows
from omnivec.platform.catalog import CollectionRecord, KeywordOptions, TextOptions
from omnivec.platform.reembed import ReembedReport
from omnivec.platform.shadow import ShadowTarget
from omnivec.stores.fulltext import KEYWORD_FIELD, check_analyzer, keyword_text

if TYPE_CHECKING:
    from omnivec.platform.shadow import ShadowSwitch

__all__ = ["CopyRows", "ReindexReport", "describe_keywords"]

logger = logging.getLogger(__name__)


def _doc(keywords: KeywordOptions | None) -> dict[str, Any] | None:
    """Keyword settings as a report gives them (``{"analyzer": ...}`` or ``None``)."""
    return None if keywords is None else keywords.to_doc()


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


class CopyRows:
    """The rows of a re-index (options ``{"keywords": bool, "analyzer": str | None}``): every
    row copied as stored, its keyword field set from its text (or left out)."""

    verb = "re-indexing"

    def __init__(self, encoder: Any) -> None:
        self.chunk = reembed.REEMBED_CHUNK
        self.encoder = encoder  # kept: the vectors stay in their space
        #: Rewrite the records with their text's vector (a collection made before round 3).
        self.upgrade = False

    # -- the target ------------------------------------------------------------------------
    def prepare(self, job: ShadowSwitch[Any], options: dict[str, Any]) -> ShadowTarget:
        """Refuses (``InvalidInputError``) an unknown analyzer, a collection that stores no
        text, and a target equal to the current keyword settings."""
        keywords, analyzer = options.get("keywords"), options.get("analyzer")
        if keywords is not True and keywords is not False:
            raise InvalidInputError(f"keywords must be True or False, got {keywords!r}")
        if analyzer is not None:
            if keywords is False:
                raise InvalidInputError(
                    "analyzer= chooses how keywords are split; pass keywords=True with it"
                )
            analyzer = check_analyzer(analyzer)
        rec = job.record
        if rec.encoder is None or rec.text is None:
            raise InvalidInputError(
                f"collection {job.name!r} stores no text for a keyword index to read (its "
                f"encoder: {rec.encoder or 'none, raw vectors'}); keywords need a text, "
                "multilingual or clip collection"
            )
        old = rec.keywords
        target: KeywordOptions | None = None
        if keywords:
            # Without analyzer=, a collection that has keywords keeps its analyzer.
            current = old.analyzer if old is not None else None
            target = KeywordOptions(analyzer or current or "standard")
        # A collection made before round 3 is rewritten with each record's text's vector
        # (re-encoded; see omnivec.platform.windows), even with the same keyword settings.
        self.upgrade = rec.text.record_vector != windows.RECORD_VECTOR
        if target == old and not self.upgrade:
            todo = "keywords=False, or another analyzer=" if target else "keywords=True"
            raise InvalidInputError(
                f"collection {job.name!r} already has {describe_keywords(_doc(target))}: "
                f"nothing to re-index (pass {todo})"
            )
        return ShadowTarget(rec.space, self.encoder, target)

    def fresh_name(self, job: ShadowSwitch[Any]) -> str:
        # The space is unchanged, so it cannot name the shadow as a re-embed's does.
        return f"{job.name[:200]}__reindex_{os.urandom(4).hex()}"

    def switched(self, record: CollectionRecord, target: ShadowTarget) -> CollectionRecord:
        return record  # same space, same encoder

    def report(self, job: ShadowSwitch[Any], before: CollectionRecord) -> ReindexReport:
        old_keywords, keywords = _doc(before.keywords), _doc(job.goal.keywords)
        report = ReindexReport(
            job.total,
            job.written,
            job.resumed,
            before.space,
            before.space,
            job.elapsed(),
            old_keywords,
            keywords,
        )
        logger.info(
            "re-indexed %r: %d records (%d resumed), %s -> %s in %.1f s",
            job.name,
            report.total,
            report.resumed,
            describe_keywords(old_keywords),
            describe_keywords(keywords),
            report.seconds,
        )
        return report

    # -- the rows --------------------------------------------------------------------------
    def keys(self, job: ShadowSwitch[Any]) -> list[str]:
        return sorted(job.store.keys(job.old_physical, where=windows.MAIN_FILTER))

    def write(self, job: ShadowSwitch[Any], keys: list[str], *, again: bool) -> int:
        """Write records ``keys`` (all their current rows) into the shadow: vectors and
        metadata as stored, the keyword field set from each row's text (or left out); an
        upgrade re-encodes the records that have text instead."""
        if self.upgrade:
            return self._rewrite(job, keys)
        rows = windows.current_rows(job.store, job.old_physical, keys)
        if not rows:
            return 0
        meta: list[dict[str, Any]] = []
        for row, text in rows:
            m = {k: v for k, v in row.metadata.items() if k != KEYWORD_FIELD}
            if job.goal.keywords:
                rid = decode_id(windows.record_key(row.key))
                m[KEYWORD_FIELD] = keyword_text(text, f"record {rid!r}")
            meta.append(m)
        vectors = np.stack([row.vector for row, _ in rows]).astype(np.float32, copy=False)
        written = [row.key for row, _ in rows]
        # A record copied again (it changed during the copy) may have had more windows.
        fresh = set(written)
        chunk = sorted({windows.record_key(k) for k in written})
        stale = [k for k in windows.stale_windows(job.store, job.shadow, chunk) if k not in fresh]
        job.store.upsert(job.shadow, written, vectors, meta, delete=stale)
        return sum(1 for row, _ in rows if windows.record_key(row.key) == row.key)

    def _rewrite(self, job: ShadowSwitch[Any], keys: list[str]) -> int:
        """Write records ``keys`` into the shadow as ``add`` writes them today: texts planned
        and encoded again (same model), rows without text copied as stored."""
        rows = job.store.get(job.old_physical, keys)
        texted = [r for r in rows.values() if windows.record_text(r.metadata) is not None]
        plain = [r for r in rows.values() if windows.record_text(r.metadata) is None]
        plans: list[tuple[windows.Plan, np.ndarray]] = []
        if texted:
            texts = windows.plan_texts(
                self.encoder,
                [str(windows.record_text(r.metadata)) for r in texted],
                [r.key for r in texted],
                [windows.split_metadata(r.metadata) for r in texted],
                job.text or TextOptions(),
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
        stale = windows.stale_windows(job.store, job.shadow, sorted(rows))
        for plan, vecs in plans:
            if job.goal.keywords:
                hybrid.keyword_rows(plan)
            job.store.upsert(
                job.shadow, plan.keys, vecs.astype(np.float32), plan.metadata, delete=stale
            )
            stale = []
        return len(rows)

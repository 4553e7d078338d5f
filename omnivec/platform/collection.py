"""A named collection of vectors in one vector space: the public :class:`Collection`.

Its layers live one concern per module: :mod:`~omnivec.platform.collection_base` (identity,
writing, reading, encoding), :mod:`~omnivec.platform.query` (search), :mod:`~omnivec.platform.training`
(fit, embed); analysis (cluster, classify, project) delegates to :mod:`~omnivec.platform.analysis`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, Literal, overload

import numpy as np

from omnivec.core.ids import decode_id, decode_ids
from omnivec.core.queries import Hit, Record
from omnivec.core.space import unit_rows
from omnivec.core.validation import (
    check_k,
    check_where,
)
from omnivec.errors import InvalidInputError
from omnivec.platform import windows
from omnivec.platform.catalog import CollectionRecord
from omnivec.platform.collection_base import gated
from omnivec.platform.evaluation import check_judgements, retrieval_metrics
from omnivec.platform.reembed import ReembedReport, Reencode
from omnivec.platform.reindex import CopyRows, ReindexReport
from omnivec.platform.shadow import ShadowSwitch
from omnivec.platform.training import TrainableCollection
from omnivec.stores.base import RowBlock, block_rows

if TYPE_CHECKING:
    from omnivec.platform.analysis import Classifier
    from omnivec.platform.ask import Answer

#: Looks up another collection by name (for cross-collection refs); NotFoundError if absent.
Resolver = Callable[[str], "Collection"]

__all__ = ["Collection"]


class Collection(TrainableCollection):
    """Vectors of one space, stored under the user's ids, searchable by text, image, vector or ref.

    Get one with :meth:`omnivec.Platform.collection`; do not construct it directly.
    """

    def records(
        self, where: str | None = None, limit: int | None = None, seed: int = 0
    ) -> list[Record]:
        """Every stored record (matching ``where``) in id order; above ``limit`` records, a
        random sample of ``limit`` of them drawn with ``seed`` (the same seed, the same sample)."""
        return self._read_records(self._records_where(check_where(where)), limit, seed)

    @gated
    def _read_records(self, where: str | None, limit: int | None, seed: int) -> list[Record]:
        block = self._scan(where, limit, seed, metadata=True)
        if not self.text_options:
            return [
                Record(decode_id(k), v, m)
                for k, v, m in zip(block.keys, block.vectors, block.metadata, strict=True)
            ]
        rows = block_rows(block)
        return windows.to_records(self._store, self.physical, block.keys, rows, self.metric)

    def vectors(
        self,
        where: str | None = None,
        limit: int | None = None,
        seed: int = 0,
        *,
        unit: bool = False,
        ordered: bool = True,
        copy: bool = True,
    ) -> tuple[list[Any], np.ndarray]:
        """(ids, float32 ``(n, dim)`` array) of :meth:`records` with the same arguments, read
        in bulk without the records' metadata.

        ``unit=True``: a cosine collection's rows scaled to unit length, as its searches
        compare them (other metrics: unchanged). ``ordered=False``: the rows in any order,
        which saves sorting a large collection's ids (the sample drawn for ``limit`` is the
        same either way). On a Lite file, a collection with ``index="auto"`` answers from its
        in-process copy without a Milvus round trip when no ``where`` is given;
        ``copy=False`` may then return a read-only view of that copy (no copying of the
        rows; the view stays as it was when later writes change the collection)."""
        ids, vecs = self._read_vectors(check_where(where), limit, seed, unit, ordered)
        if copy and not vecs.flags.writeable:
            vecs = vecs.copy()
        return ids, vecs

    @gated
    def _read_vectors(
        self, where: str | None, limit: int | None, seed: int, unit: bool, ordered: bool
    ) -> tuple[list[Any], np.ndarray]:
        self.check_complete()
        block = self._store.local_rows(self.physical, unit=unit) if where is None else None
        windowed = bool(self.text_options)
        if block is not None:
            block, windowed = self._local_block(block, limit, seed, ordered)
        else:
            block = self._scan(self._records_where(where), limit, seed, metadata=False)
        if not len(block):
            return [], np.empty((0, self.dim), np.float32)
        vecs = block.vectors
        if windowed and (self.text_options or {}).get("record_vector") != windows.RECORD_VECTOR:
            # A collection made before round 3: a long text's main row may hold window 0's
            # vector; its record vector is then the mean of its windows' (until reindex).
            long = windows.long_vectors(
                self._store, self.physical, self._records_where(where), self.metric, block.keys
            )
            if long:
                at = {k: i for i, k in enumerate(block.keys)}
                for key, vec in long.items():
                    vecs[at[key]] = vec
        if unit and not block.unit and self.metric == "cosine":
            vecs = unit_rows(vecs)
        return (block.ids if block.ids is not None else decode_ids(block.keys)), vecs

    def _local_block(
        self, block: RowBlock, limit: int | None, seed: int, ordered: bool
    ) -> tuple[RowBlock, bool]:
        """The main rows of an in-process copy (``block``), sampled and ordered as
        :meth:`_scan` would read them from Milvus; and whether any record has windows."""
        keys, vecs, ids = block.keys, block.vectors, block.ids
        main = windows.main_positions(keys) if self.text_options else None
        windowed = main is not None
        if main is not None:
            keys, vecs, ids = [keys[i] for i in main], vecs[main], None
        sample = limit is not None and len(keys) > limit
        if not sample and not ordered:
            return RowBlock(keys, vecs, unit=block.unit, ids=ids), windowed
        order = sorted(range(len(keys)), key=keys.__getitem__)
        if sample:  # the rule of _scan: a seeded choice among the keys in order
            pick = np.random.default_rng(seed).choice(len(keys), size=limit, replace=False)
            order = [order[i] for i in sorted(pick)]
        elif all(i == j for i, j in enumerate(order)):
            return RowBlock(keys, vecs, unit=block.unit, ids=ids), windowed
        picked = [ids[i] for i in order] if ids is not None else None
        return RowBlock(
            [keys[i] for i in order], vecs[order], unit=block.unit, ids=picked
        ), windowed

    def _scan(self, where: str | None, limit: int | None, seed: int, metadata: bool) -> RowBlock:
        """The rows of :meth:`records` / :meth:`vectors` (``where`` already restricted to one
        row per record). A sample is drawn from the sorted keys as before the bulk read, so
        the same seed gives the same sample; then only the sampled rows are read."""
        self.check_complete()
        if limit is not None:
            keys = sorted(self._store.keys(self.physical, where=where))
            if len(keys) > limit:
                rng = np.random.default_rng(seed)
                pick = sorted(rng.choice(len(keys), size=limit, replace=False))
                return self._store.scan(
                    self.physical, keys=[keys[i] for i in pick], metadata=metadata
                )
        return self._store.scan(self.physical, where, metadata=metadata)

    # -- analysis (omnivec.platform.analysis) ------------------------------------------------
    def cluster(
        self,
        n_clusters: int | None = None,
        method: str | None = None,
        *,
        where: str | None = None,
        seed: int = 0,
        write_key: str | None = None,
    ) -> dict[Any, int]:
        """``{id: cluster}`` for every record (matching ``where``): k-means with ``n_clusters``,
        else HDBSCAN, which picks the number itself and labels noise -1. Cosine vectors are
        L2-normalised first. ``write_key`` also stores each label in the records' metadata
        under that key, all or nothing."""
        from omnivec.platform import analysis

        return analysis.cluster(self, n_clusters, method, where, seed, write_key)

    def classifier(
        self, label_key: str, method: str = "logistic", *, where: str | None = None
    ) -> Classifier:
        """A :class:`~omnivec.platform.analysis.Classifier` fitted on the records whose metadata
        has ``label_key`` (``method`` "logistic" or "knn"); ``.predict`` takes what search takes."""
        from omnivec.platform import analysis

        return analysis.classifier(self, label_key, method, where)

    def project(
        self,
        method: str = "pca",
        *,
        where: str | None = None,
        limit: int | None = None,
        seed: int = 0,
    ) -> dict[Any, tuple[float, float]]:
        """``{id: (x, y)}`` by "pca", "umap" or "tsne"; above ``limit`` records (default 20,000)
        a seeded sample (``analysis.projection`` also says the sample size)."""
        from omnivec.platform import analysis

        return analysis.project(self, method, where, limit, seed)

    # -- evaluation ------------------------------------------------------------------------
    def evaluate(
        self,
        queries: dict[Any, Any],
        relevant: dict[Any, Sequence[Any]],
        k: int = 10,
        **search_kwargs: Any,
    ) -> dict[str, float]:
        """Retrieval quality of this collection's own :meth:`search` on judged queries.

        ``queries`` maps a query id to anything ``search`` takes (text, ``ov.image``, ...);
        ``relevant`` maps the same ids to the ids that should come back. ``search_kwargs``
        (``where=``, ...) pass through to ``search``. Returns the means over queries of
        ``recall@k``, ``mrr`` and ``ndcg@k`` (see :mod:`omnivec.platform.evaluation`).
        """
        qids = check_judgements(queries, relevant)
        k = check_k(k)
        try:
            hits = self.search([queries[q] for q in qids], k=k, **search_kwargs)
        except TypeError as exc:
            raise InvalidInputError(f"evaluate(): {exc}") from exc
        ranked = [[h.id for h in row] for row in hits]
        return retrieval_metrics(ranked, [list(relevant[q]) for q in qids], k)

    # -- asking (omnivec.platform.ask) -----------------------------------------------------
    @overload
    def ask(
        self,
        question: str,
        k: int = ...,
        *,
        llm: Any = ...,
        mode: str | None = ...,
        where: str | None = ...,
        stream: Literal[False] = ...,
        min_score: float | None = ...,
        rerank: Any = ...,
        max_context_tokens: int | None = ...,
    ) -> Answer: ...

    @overload
    def ask(
        self,
        question: str,
        k: int = ...,
        *,
        llm: Any = ...,
        mode: str | None = ...,
        where: str | None = ...,
        stream: Literal[True],
        min_score: float | None = ...,
        rerank: Any = ...,
        max_context_tokens: int | None = ...,
    ) -> Iterator[str | Answer]: ...

    def ask(
        self,
        question: str,
        k: int = 5,
        *,
        llm: Any = None,
        mode: str | None = None,
        where: str | None = None,
        stream: bool = False,
        min_score: float | None = None,
        rerank: Any = None,
        max_context_tokens: int | None = None,
    ) -> Answer | Iterator[str | Answer]:
        """Answer ``question`` from this collection's texts with a language model, citing them.

        Retrieves the top ``k`` passages (as :meth:`search` with ``mode``, ``where``,
        ``min_score``, ``rerank``), numbers them in a prompt that fits the model's context and
        asks ``llm`` (``ov.llm(...)`` or an OpenAI-compatible URL) to answer only from them.
        Returns an :class:`~omnivec.platform.ask.Answer` (``text``, ``sources``, ``citations``,
        ``prompt``); with ``stream=True`` an iterator of text pieces, then the ``Answer``.
        When nothing relevant is found the answer says so and the model is not called.
        """
        from omnivec.platform.ask import ask_collection

        return ask_collection(
            self,
            question,
            k,
            llm=llm,
            mode=mode,
            where=where,
            stream=stream,
            min_score=min_score,
            rerank=rerank,
            max_context_tokens=max_context_tokens,
        )

    # -- word vectors ----------------------------------------------------------------------
    def analogy(
        self,
        positive: Sequence[str] | str | None = None,
        negative: Sequence[str] | str | None = None,
        k: int = 5,
        *,
        where: str | None = None,
    ) -> list[Hit]:
        """Word arithmetic in a word collection (word2vec, fasttext): the words nearest to
        the mean of the unit vectors of ``positive`` minus those of ``negative`` (3CosAdd,
        as gensim's ``most_similar(positive, negative)``), the given words left out.
        ``analogy(positive=["king", "woman"], negative=["man"])`` -> queen first."""
        from omnivec.core.queries import vector
        from omnivec.core.validation import MAX_K, check_k

        enc = self._encoder
        if enc is None or not callable(getattr(enc, "analogy_vector", None)):
            raise InvalidInputError(
                f"collection {self.name!r} has no word vectors; analogy() works on collections "
                'with encoder="word2vec" or "fasttext"'
            )
        k = check_k(k)
        self._check_encoder_space()
        vec, used = enc.analogy_vector(positive, negative)
        skip = set(used)
        hits = self.search(vector(vec), k=min(MAX_K, k + len(skip)), where=where)
        return [h for h in hits if isinstance(h, Hit) and h.id not in skip][:k]

    # -- re-embedding ----------------------------------------------------------------------
    def reembed(self, *, progress: bool | None = None, **encoder_options: Any) -> ReembedReport:
        """Re-encode every record from its stored source into a new space, without downtime.

        ``encoder_options`` change the encoder's configuration (``model="ckpt/"`` for text,
        ``pretrained="new.pt"`` for clip). The records are encoded into a shadow Milvus
        collection while searches keep answering from the old vectors; then the collection
        switches to the new space in one catalog step (same name, ids and metadata) and the
        old rows are dropped. A re-embed that was killed leaves the old collection whole;
        running it again resumes. Refused up front (``InvalidInputError``) if a record has no
        stored source (naming it) or the options give the current space.
        """
        with self._fit_lock:  # one fit or re-embed at a time per collection
            self.check_complete()
            job = ShadowSwitch(
                self.name, self._record, self._store, self._catalog, Reencode(), progress
            )
            return job.run(encoder_options, self._gate, self._adopt_reembed)

    def reindex(
        self,
        *,
        keywords: bool = True,
        analyzer: str | None = None,
        progress: bool | None = None,
    ) -> ReindexReport:
        """Turn the keyword (BM25) index on or off, or change its analyzer, without downtime.

        The rows are copied from their stored text into a shadow Milvus collection with the
        new keyword schema -- vectors, ids, metadata and texts exactly as stored, nothing
        re-encoded -- while searches keep answering from the old rows; then the collection
        switches in one catalog step and the old rows are dropped. With keywords on, searches
        default to ``mode="hybrid"``. ``analyzer`` is ``"standard"``, ``"english"`` or
        ``"chinese"`` (without it: the current analyzer, else ``"standard"``). A re-index that
        was killed leaves the old collection whole; running it again resumes. Refused up front
        (``InvalidInputError``, nothing changed) for a collection that stores no text, an
        unknown analyzer, or settings it already has.
        """
        with self._fit_lock:  # one fit, re-embed or re-index at a time per collection
            self.check_complete()
            rows = CopyRows(self._encoder)
            job = ShadowSwitch(self.name, self._record, self._store, self._catalog, rows, progress)
            options = {"keywords": keywords, "analyzer": analyzer}
            return job.run(options, self._gate, self._adopt_reembed)

    def _adopt_reembed(self, record: CollectionRecord, encoder: Any) -> None:
        """Install a re-embed's switch in memory (the catalog already has it)."""
        self._record = record
        if encoder is self._encoder:
            return
        self._encoder = encoder
        if hasattr(encoder, "add_fit_listeners"):
            encoder.add_fit_listeners(
                before=self._before_encoder_fit, after=self._after_encoder_fit
            )
        self._space_checked = True
        self.forget_cached_queries()

"""A named collection of vectors in one vector space: the public :class:`Collection`.

One class, the user's object: its public methods are the user API (DESIGN.md, docs/api.md).
It owns focused helpers, one concern per module, and delegates to them:

- :class:`~omnivec.platform.collection_state.CollectionState`: the record, store, catalog,
  encoder, switch gate, locks and caches the helpers share; fit markers, recording a space,
  following a switch made by another process;
- :class:`~omnivec.platform.writing.Writer`: ``add``, ``delete``;
- :class:`~omnivec.platform.reading.Reader`: ``get``, ``ids``, ``records``, ``vectors``;
- :class:`~omnivec.platform.query.Searcher`: ``search`` (text windows:
  :mod:`~omnivec.platform.windows`);
- :class:`~omnivec.platform.training.Trainer`: ``fit``, ``embed``, fine-tuning;
- analysis, evaluation, ``ask`` and the shadow switch of ``reembed`` / ``reindex`` in their
  own modules.

The platform's own layers (the platform, recommenders) reach the helpers through
:func:`parts_of`, never through private names.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, TypeVar, overload

import numpy as np

from omnivec.core.queries import Hit, ImageQuery, Record, RefQuery, VectorQuery
from omnivec.core.space import Space
from omnivec.core.validation import check_k, check_where
from omnivec.errors import (
    InvalidInputError,
    NotFoundError,
    OmnivecError,
    StoreError,
    StoreUnavailableError,
)
from omnivec.platform.catalog import Catalog, CollectionRecord
from omnivec.platform.collection_state import CollectionState
from omnivec.platform.evaluation import check_judgements, retrieval_metrics
from omnivec.platform.query import Searcher
from omnivec.platform.reading import Reader
from omnivec.platform.reembed import ReembedReport, Reencode
from omnivec.platform.reindex import CopyRows, ReindexReport
from omnivec.platform.shadow import ShadowSwitch
from omnivec.platform.training import Trainer
from omnivec.platform.writing import Writer

if TYPE_CHECKING:
    from omnivec.platform.analysis import Classifier
    from omnivec.platform.ask import Answer
    from omnivec.stores.base import VectorStore

#: Looks up another collection by name (for cross-collection refs); NotFoundError if absent.
Resolver = Callable[[str], "Collection"]

__all__ = ["Collection", "Parts", "gated", "parts_of"]

_F = TypeVar("_F", bound=Callable[..., Any])


def gated(fn: _F) -> _F:
    """Run a method holding its collection's switch gate shared (see gate.SwitchGate): a
    re-embed switches the rows under it only between calls, never during one.

    A re-embed by another process (two processes on one Milvus server) moves the rows to
    another Milvus collection and drops the old one, which this object only learns of when
    the store refuses a call: then it re-reads its catalog record, follows the switch (new
    rows, new encoder) and runs the call once more. A refused call wrote nothing (writes are
    all or nothing), so running it again is safe."""

    @functools.wraps(fn)
    def wrapper(self: Collection, *args: Any, **kwargs: Any) -> Any:
        state = self._state
        with state.gate.shared():
            try:
                return fn(self, *args, **kwargs)
            except StoreUnavailableError:
                raise
            except StoreError:
                try:
                    moved = state.follow_switch()
                except NotFoundError:
                    raise
                except OmnivecError:
                    moved = False  # the catalog cannot say: the store's refusal stands
                if not moved:
                    raise
        with state.gate.shared():
            return fn(self, *args, **kwargs)

    return wrapper  # type: ignore[return-value]


@dataclass(frozen=True)
class Parts:
    """A collection's helpers, for the platform's own layers (not user API)."""

    state: CollectionState
    writer: Writer
    reader: Reader
    searcher: Searcher
    trainer: Trainer


def parts_of(col: Collection) -> Parts:
    """The helpers of ``col``: what the platform and recommenders use to install a record, mark
    a space checked or encode queries, without any of it on the user's object."""
    return col._parts


class Collection:
    """Vectors of one space, stored under the user's ids, searchable by text, image, vector or ref.

    Get one with :meth:`omnivec.Platform.collection`; do not construct it directly.
    """

    def __init__(
        self,
        name: str,
        record: CollectionRecord,
        encoder: Any,
        *,
        store: VectorStore,
        catalog: Catalog,
        resolve: Resolver,
        checked: bool = False,
    ) -> None:
        """``checked``: the encoder is known to give the recorded space (just created)."""
        self.name = name
        state = CollectionState(
            name, record, encoder, store=store, catalog=catalog, resolve=resolve
        )
        state.space_checked = checked
        self._state = state
        self._writer = Writer(state)
        self._reader = Reader(state)
        self._searcher = Searcher(state)
        self._trainer = Trainer(state)
        self._parts = Parts(state, self._writer, self._reader, self._searcher, self._trainer)

    # -- identity ----------------------------------------------------------------------
    @property
    def space(self) -> Space:
        """The vector space this collection's vectors live in."""
        return self._state.record.space

    @property
    def dim(self) -> int:
        return self._state.record.space.dim

    @property
    def metric(self) -> str:
        return self._state.record.space.metric

    @property
    def encoder(self) -> Any:
        """The collection's encoder (``None`` for a vectors-only collection). A text or CLIP
        model fine-tunes through it (``col.encoder.fit(pairs)``) only while the collection is
        empty, which then records the new space."""
        return self._trainer.handle()

    @property
    def encoder_name(self) -> str | None:
        return self._state.record.encoder

    @property
    def physical(self) -> str:
        """The Milvus collection that holds this collection's rows (``name`` unless a
        re-embed switched it to its shadow)."""
        return self._state.physical

    @property
    def record(self) -> CollectionRecord:
        """This collection's catalog record (read-only view; change it through methods)."""
        return self._state.record

    def info(self) -> dict[str, Any]:
        """Name, encoder, configuration, space, row count and keyword index (``keywords``:
        on or off; ``analyzer``: its analyzer, ``None`` when off), as plain JSON-able data."""
        record = self._state.record
        keywords = record.keywords
        return {
            "name": self.name,
            "encoder": record.encoder,
            "config": record.config,
            "space": record.space.to_dict(),
            "index": record.index,
            "count": len(self),
            "recommender": record.recommender,
            "keywords": keywords is not None,
            "analyzer": keywords.analyzer if keywords is not None else None,
        }

    def index_stats(self) -> dict[str, Any]:
        """How searches are answered: ``{"index": "ivf_flat" | "ivf_sq8" | "hnsw" | "flat",
        "rows", "nlist", "nprobe", "ef", "calibrated_recall", "fresh_queries": True, ...}``;
        ``calibrated_recall`` is the recall@10 measured at calibration on fresh queries
        (stored rows moved by their nearest-neighbour distance), 1.0 for an exact index."""
        return self._state.store.index_stats(self._state.physical)

    @property
    def keywords(self) -> dict[str, Any] | None:
        """The keyword-index settings (``{"analyzer": ...}``), or ``None`` without keywords."""
        keywords = self._state.keywords
        return None if keywords is None else keywords.to_doc()

    @property
    def text_options(self) -> dict[str, Any] | None:
        """How this collection keeps texts (``{"store", "chunk_tokens", "chunk_overlap",
        "passage_chars", "record_vector"}``); ``None`` for collections that store no text."""
        text = self._state.text_options
        return None if text is None else text.to_doc()

    @property
    def passage_chars(self) -> int:
        """The most characters of a hit's passage (``passage_chars=`` at creation)."""
        return self._state.passage_chars

    def __len__(self) -> int:
        return self.count()

    @gated
    def count(self, where: str | None = None) -> int:
        """Records matching ``where`` (all records without it)."""
        return self._state.count(check_where(where))

    def __repr__(self) -> str:
        return f"Collection({self.name!r}, {self.space.describe()})"

    # -- writing -------------------------------------------------------------------------
    @gated
    def add(
        self,
        items: Sequence[Any] | None = None,
        *,
        ids: Sequence[Any] | None = None,
        metadata: Sequence[dict[str, Any] | None] | None = None,
        vectors: Any = None,
        images: Sequence[Any] | None = None,
        modality: str | None = None,
        progress: bool | None = None,
    ) -> list[Any]:
        """Encode and store a batch; return the ids (generated uuid4 hex strings if not given).

        ``items`` are inputs for the encoder (texts by default; ``modality=`` picks another),
        ``images`` are images for an image encoder, ``vectors`` a float32 ``(n, dim)`` array
        stored as is. An id that exists is replaced. All or nothing: if any item is invalid
        or the store fails, nothing of the batch is written.
        """
        return self._writer.add(items, ids, metadata, vectors, images, modality, progress)

    def upsert(self, items: Sequence[Any] | None = None, **kwargs: Any) -> list[Any]:
        """Same as :meth:`add` (which already replaces existing ids)."""
        return self.add(items, **kwargs)

    @gated
    def delete(self, ids: Sequence[Any]) -> int:
        """Delete rows by id; returns how many existed. Unknown ids are not an error."""
        return self._writer.delete(ids)

    # -- reading -------------------------------------------------------------------------
    @gated
    def get(self, ids: Sequence[Any]) -> list[Record]:
        """Stored records in the order asked; an unknown id raises :class:`NotFoundError`."""
        return self._reader.get(ids)

    @gated
    def ids(self, where: str | None = None) -> list[Any]:
        """Every stored id (matching ``where`` if given)."""
        return self._reader.ids(check_where(where))

    @gated
    def records(
        self, where: str | None = None, limit: int | None = None, seed: int = 0
    ) -> list[Record]:
        """Every stored record (matching ``where``) in id order; above ``limit`` records, a
        random sample of ``limit`` of them drawn with ``seed`` (the same seed, the same sample)."""
        return self._reader.records(check_where(where), limit, seed)

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
        return self._reader.vectors(where, limit, seed, unit, ordered)

    # -- search (omnivec.platform.query) ---------------------------------------------------
    @overload
    def search(
        self,
        query: list[Any] | tuple[Any, ...],
        k: int = ...,
        *,
        where: str | None = ...,
        min_score: float | None = ...,
        mode: str | None = ...,
        weights: Any = ...,
        candidates: int | None = ...,
        fusion: str | None = ...,
        search_params: dict[str, int] | None = ...,
        rerank: Any = ...,
        exact: bool = ...,
    ) -> list[list[Hit]]: ...

    @overload
    def search(
        self,
        query: str | ImageQuery | RefQuery,
        k: int = ...,
        *,
        where: str | None = ...,
        min_score: float | None = ...,
        mode: str | None = ...,
        weights: Any = ...,
        candidates: int | None = ...,
        fusion: str | None = ...,
        search_params: dict[str, int] | None = ...,
        rerank: Any = ...,
        exact: bool = ...,
    ) -> list[Hit]: ...

    @overload
    def search(
        self,
        query: VectorQuery,
        k: int = ...,
        *,
        where: str | None = ...,
        min_score: float | None = ...,
        mode: str | None = ...,
        weights: Any = ...,
        candidates: int | None = ...,
        fusion: str | None = ...,
        search_params: dict[str, int] | None = ...,
        rerank: Any = ...,
        exact: bool = ...,
    ) -> list[Hit] | list[list[Hit]]: ...

    @gated
    def search(
        self,
        query: Any,
        k: int = 10,
        *,
        where: str | None = None,
        min_score: float | None = None,
        mode: str | None = None,
        weights: Any = None,
        candidates: int | None = None,
        fusion: str | None = None,
        search_params: dict[str, int] | None = None,
        rerank: Any = None,
        exact: bool = False,
    ) -> list[Hit] | list[list[Hit]]:
        """Nearest neighbours of ``query``, best first.

        ``query`` is a str (text), ``ov.image(...)``, ``ov.vector(v)``, ``ov.ref(id[, collection])``
        or a list of these. One query gives ``list[Hit]``; a list of queries or an
        ``ov.vector`` of shape ``(n, dim)`` gives ``list[list[Hit]]`` from one store call.
        ``where`` is a Milvus filter over metadata; ``min_score`` drops weaker hits.
        ``mode`` is ``"dense"``, ``"keyword"`` or ``"hybrid"`` (the default for collections
        created with ``keywords=True``; see :mod:`omnivec.platform.hybrid` for the scores);
        Hybrid mode: each leg fetches ``candidates`` records (an int >= k; default
        ``max(4k, 50)``) before ``fusion`` (``"rrf"``, ``"weighted"`` or ``"relative"``)
        fuses them, the legs weighed by ``weights=(dense, keyword)``.
        ``search_params`` trades recall for speed on an ANN index: ``{"nprobe": n}`` (IVF,
        in-process on a Lite file), ``{"ef": n}`` (HNSW); ``exact=True`` scans every row
        whatever the index (on a server: the index's widest search).
        ``rerank``: a cross-encoder (folder, name or loaded ``CrossEncoder``) re-scores the
        top candidates of text queries against their passages (:mod:`omnivec.platform.rerank`).
        """
        k, search_params = self._searcher.check_limits(k, exact, search_params)
        if rerank is not None:
            from omnivec.platform.rerank import rerank_search

            options = {"where": where, "min_score": min_score, "mode": mode, "weights": weights}
            options |= {"candidates": candidates, "fusion": fusion, "search_params": search_params}
            return rerank_search(self, query, k, rerank, options)
        return self._searcher.search(
            query, k, where, min_score, mode, weights, candidates, fusion, search_params
        )

    # -- training (omnivec.platform.training) ----------------------------------------------
    def fit(self, data: Any, *args: Any, warm_start: bool = False, **kwargs: Any) -> Collection:
        """Train the collection's encoder on ``data`` and (re)write every vector it learned.

        For node2vec and graphsage, ``data`` is a graph; see the encoder's ``fit``. For text and
        CLIP collections, ``data`` are training pairs and the model is fine-tuned (only while the
        collection is empty; to move stored records, fine-tune a model and ``reembed`` into
        it). With ``warm_start=True``
        the stored vectors seed the training (new entities start at random). Rows of entities
        no longer in ``data`` are deleted, and the new space is recorded in the same step.
        """
        self._trainer.fit(data, args, warm_start, kwargs)
        return self

    def embed(
        self, graph: Any, nodes: Sequence[Any], *, features: Any = None, **kwargs: Any
    ) -> list[Any]:
        """Embed ``nodes`` that are new to the trained model (graphsage), with their edges
        (and features) in ``graph``, using the trained weights; store (upsert) only them and
        return their ids. No training: every other row is untouched, the space is unchanged.

        ``features``: ``{node: vector}``, an array in the graph's node order, or the name of a
        collection sharing the node ids (default: the one the fit used, if it used one).
        All or nothing: on any error nothing is written.
        """
        return self._trainer.embed(graph, nodes, features, kwargs)

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

        return analysis.classifier(self, label_key, method, where, self._searcher.query_vectors)

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

        enc = self._state.encoder
        if enc is None or not callable(getattr(enc, "analogy_vector", None)):
            raise InvalidInputError(
                f"collection {self.name!r} has no word vectors; analogy() works on collections "
                'with encoder="word2vec" or "fasttext"'
            )
        k = check_k(k)
        self._state.check_encoder_space()
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
        state = self._state
        with state.fit_lock:  # one fit or re-embed at a time per collection
            state.check_complete()
            job = ShadowSwitch(
                self.name, state.record, state.store, state.catalog, Reencode(), progress
            )
            return job.run(encoder_options, state.gate, state.adopt_switch)

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
        state = self._state
        with state.fit_lock:  # one fit, re-embed or re-index at a time per collection
            state.check_complete()
            rows = CopyRows(state.encoder)
            job = ShadowSwitch(self.name, state.record, state.store, state.catalog, rows, progress)
            options = {"keywords": keywords, "analyzer": analyzer}
            return job.run(options, state.gate, state.adopt_switch)

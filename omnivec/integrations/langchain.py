"""A LangChain vector store backed by an omnivec collection (``pip install omnivec[langchain]``).

    from omnivec.integrations.langchain import OmnivecVectorStore

    store = OmnivecVectorStore.from_texts(texts, uri="rag.db", collection_name="docs")
    store.similarity_search("what do cats like?", k=2, filter={"lang": "en"})
    retriever = store.as_retriever(search_kwargs={"k": 3})

With ``embedding=None`` the collection's own encoder embeds texts and queries (the bundled
MiniLM for ``encoder="text"``); a LangChain ``Embeddings`` can be given instead, for a
vectors-only collection whose dim is the embedding's.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
from langchain_core.documents import Document
from langchain_core.embeddings import Embeddings
from langchain_core.vectorstores import VectorStore

import omnivec as ov
from omnivec.errors import InvalidInputError, NotFoundError
from omnivec.integrations.common import (
    TEXT_KEY,
    hit_extras,
    text_of,
    where_from_filter,
    with_text,
)

if TYPE_CHECKING:
    from omnivec.platform.collection import Collection

__all__ = ["OmnivecEmbeddings", "OmnivecVectorStore"]


class OmnivecEmbeddings(Embeddings):
    """A collection's own text encoder as LangChain ``Embeddings`` (float lists of its dim)."""

    def __init__(self, collection: Collection) -> None:
        if collection.encoder is None or "text" not in collection.encoder.modalities:
            raise InvalidInputError(
                f"collection {collection.name!r} has no text encoder; pass embedding= "
                "(a LangChain Embeddings) to store vectors from it"
            )
        self.collection = collection

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        vecs = self.collection.encoder.encode(list(texts), modality="text")
        return np.asarray(vecs, dtype=np.float32).tolist()  # type: ignore[no-any-return]

    def embed_query(self, text: str) -> list[float]:
        return self.embed_documents([text])[0]


class OmnivecVectorStore(VectorStore):
    """LangChain ``VectorStore`` over an omnivec :class:`~omnivec.Collection`.

    ``embedding=None``: the collection encodes (it needs a text encoder). Otherwise texts and
    queries are embedded with ``embedding`` and stored as raw vectors. Each record keeps its
    text in metadata under ``text_key``; ``filter=`` takes a Milvus ``where`` string or a dict
    of equalities. Ids are strings (uuid4 hex when not given).
    """

    def __init__(
        self,
        collection: Collection,
        embedding: Embeddings | None = None,
        *,
        text_key: str = TEXT_KEY,
        platform: ov.Platform | None = None,
    ) -> None:
        if embedding is None and (
            collection.encoder is None or "text" not in collection.encoder.modalities
        ):
            raise InvalidInputError(
                f"collection {collection.name!r} has no text encoder; pass embedding= "
                "(a LangChain Embeddings) or use a collection created with encoder='text'"
            )
        self.collection = collection
        self.embedding = embedding
        self.text_key = text_key
        # Set when from_texts opened the platform itself; close() closes it.
        self._owned_platform = platform

    # -- construction -------------------------------------------------------------------------
    @classmethod
    def from_texts(
        cls,
        texts: list[str],
        embedding: Embeddings | None = None,
        metadatas: list[dict[str, Any]] | None = None,
        *,
        ids: list[str] | None = None,
        collection: Collection | None = None,
        platform: ov.Platform | None = None,
        uri: str = "omnivec.db",
        collection_name: str = "langchain",
        encoder: str = "text",
        metric: str = "cosine",
        text_key: str = TEXT_KEY,
        **kwargs: Any,
    ) -> OmnivecVectorStore:
        """Store ``texts`` and return the vector store.

        Where: ``collection=`` (an open collection), or ``platform=`` / ``uri=`` (a Milvus Lite
        file or server URI, opened here and closed by :meth:`close`) with ``collection_name``.
        A new collection uses ``encoder`` (with ``embedding=None``; ``kwargs`` are its options)
        or is a vectors-only collection of the embedding's dim and ``metric``.
        """
        texts = list(texts)
        owned = None
        if collection is None:
            if platform is None:
                platform = owned = ov.connect(uri)
            try:
                if embedding is None:
                    collection = platform.collection(collection_name, encoder=encoder, **kwargs)
                else:
                    dim = len(embedding.embed_query(texts[0] if texts else "dimension"))
                    collection = platform.collection(collection_name, dim=dim, metric=metric)
            except Exception:
                if owned is not None:
                    owned.close()
                raise
        store = cls(collection, embedding, text_key=text_key, platform=owned)
        if texts:
            store.add_texts(texts, metadatas, ids=ids)
        return store

    def close(self) -> None:
        """Close the platform that :meth:`from_texts` opened (no-op otherwise)."""
        if self._owned_platform is not None:
            self._owned_platform.close()
            self._owned_platform = None

    @property
    def embeddings(self) -> Embeddings:
        return self.embedding if self.embedding is not None else OmnivecEmbeddings(self.collection)

    # -- writes --------------------------------------------------------------------------------
    def add_texts(
        self,
        texts: Iterable[str],
        metadatas: list[dict[str, Any]] | None = None,
        *,
        ids: list[str] | None = None,
        **kwargs: Any,
    ) -> list[str]:
        """Embed and store ``texts`` (all or nothing); returns their ids."""
        texts = list(texts)
        if not texts:
            return []
        if metadatas is not None and len(metadatas) != len(texts):
            raise InvalidInputError(
                f"got {len(metadatas)} metadatas for {len(texts)} texts; pass one per text"
            )
        if ids is None or all(i is None for i in ids):
            ids = [uuid.uuid4().hex for _ in texts]
        ids = [str(i) if i is not None else uuid.uuid4().hex for i in ids]
        metas = [
            with_text(m, t, self.text_key)
            for m, t in zip(metadatas or [{}] * len(texts), texts, strict=True)
        ]
        if self.embedding is None:
            stored = self.collection.add(texts, ids=ids, metadata=metas, progress=False)
        else:
            vectors = np.asarray(self.embedding.embed_documents(texts), dtype=np.float32)
            stored = self.collection.add(vectors=vectors, ids=ids, metadata=metas)
        return [str(i) for i in stored]

    def delete(self, ids: list[str] | None = None, **kwargs: Any) -> bool | None:
        """Delete records by id (unknown ids are not an error)."""
        if not ids:
            raise InvalidInputError("delete() needs ids; to remove everything, drop the collection")
        self.collection.delete(list(ids))
        return True

    def get_by_ids(self, ids: Sequence[str], /) -> list[Document]:
        """The stored documents among ``ids``, in that order; unknown ids are left out."""
        out = []
        for i in ids:
            try:
                (record,) = self.collection.get([i])
            except NotFoundError:
                continue
            out.append(self._document(record))
        return out

    # -- search ----------------------------------------------------------------------------
    def similarity_search(
        self,
        query: str,
        k: int = 4,
        filter: Any = None,  # noqa: A002 - LangChain's name for it
        **kwargs: Any,
    ) -> list[Document]:
        return [doc for doc, _ in self.similarity_search_with_score(query, k, filter, **kwargs)]

    def similarity_search_with_score(  # type: ignore[override]
        self,
        query: str,
        k: int = 4,
        filter: Any = None,  # noqa: A002 - LangChain's name for it
        **kwargs: Any,
    ) -> list[tuple[Document, float]]:
        """Documents most similar to ``query`` with their scores (higher is more similar:
        cosine similarity for a cosine collection)."""
        if self.embedding is None:
            q: Any = query
        else:
            q = ov.vector(np.asarray(self.embedding.embed_query(query), dtype=np.float32))
        return self._search(q, k, filter, kwargs)

    def similarity_search_by_vector(
        self,
        embedding: list[float],
        k: int = 4,
        filter: Any = None,  # noqa: A002 - LangChain's name for it
        **kwargs: Any,
    ) -> list[Document]:
        q = ov.vector(np.asarray(embedding, dtype=np.float32))
        return [doc for doc, _ in self._search(q, k, filter, kwargs)]

    def similarity_search_with_score_by_vector(
        self,
        embedding: list[float],
        k: int = 4,
        filter: Any = None,  # noqa: A002 - LangChain's name for it
        **kwargs: Any,
    ) -> list[tuple[Document, float]]:
        return self._search(ov.vector(np.asarray(embedding, dtype=np.float32)), k, filter, kwargs)

    def _search(
        self, query: Any, k: int, spec: Any, kwargs: dict[str, Any]
    ) -> list[tuple[Document, float]]:
        where = where_from_filter(spec if spec is not None else kwargs.get("where"))
        hits = self.collection.search(query, k=k, where=where)
        return [(self._document(h), float(h.score)) for h in hits]

    def _document(self, item: Any) -> Document:
        text, meta = text_of(item, self.text_key)
        for key, value in hit_extras(item).items():
            meta.setdefault(key, value)  # a user's own metadata key wins
        return Document(page_content=text, metadata=meta, id=str(item.id))

    def _select_relevance_score_fn(self) -> Callable[[float], float]:
        # Scores are higher-is-better already; map them onto LangChain's [0, 1].
        metric = self.collection.metric
        if metric == "cosine":
            return lambda s: (s + 1.0) / 2.0
        if metric == "l2":
            return lambda s: 1.0 / (1.0 - s)  # s is minus the distance
        return lambda s: s

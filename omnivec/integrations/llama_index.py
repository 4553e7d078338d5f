"""A LlamaIndex vector store backed by an omnivec collection (``pip install omnivec[llama-index]``).

    from llama_index.core import StorageContext, VectorStoreIndex
    from omnivec.integrations.llama_index import OmnivecEmbedding, OmnivecVectorStore

    col = plat.collection("kb", encoder="text")
    store = OmnivecVectorStore(col)
    index = VectorStoreIndex.from_documents(
        documents, storage_context=StorageContext.from_defaults(vector_store=store),
        embed_model=OmnivecEmbedding(col))
    index.as_retriever(similarity_top_k=3).retrieve("question")
    # later, from what is stored:
    VectorStoreIndex.from_vector_store(store, embed_model=OmnivecEmbedding(col))

The store keeps each node's text (under ``text_key`` in metadata) and the node itself
(LlamaIndex's own ``_node_content``), so an index rebuilt from the store answers with full
nodes. Nodes come with their embeddings; a node without one is encoded by the collection.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
from llama_index.core.base.embeddings.base import BaseEmbedding
from llama_index.core.bridge.pydantic import PrivateAttr
from llama_index.core.schema import BaseNode
from llama_index.core.vector_stores.types import (
    BasePydanticVectorStore,
    FilterCondition,
    FilterOperator,
    MetadataFilter,
    MetadataFilters,
    VectorStoreQuery,
    VectorStoreQueryResult,
)
from llama_index.core.vector_stores.utils import metadata_dict_to_node, node_to_metadata_dict

import omnivec as ov
from omnivec.errors import InvalidInputError
from omnivec.integrations.common import (
    TEXT_KEY,
    check_key,
    hit_extras,
    literal,
    text_of,
    with_text,
)

if TYPE_CHECKING:
    from omnivec.platform.collection import Collection

__all__ = ["OmnivecEmbedding", "OmnivecVectorStore"]

_OPS = {
    FilterOperator.EQ: "==",
    FilterOperator.NE: "!=",
    FilterOperator.GT: ">",
    FilterOperator.GTE: ">=",
    FilterOperator.LT: "<",
    FilterOperator.LTE: "<=",
    FilterOperator.IN: "in",
    FilterOperator.NIN: "not in",
}


def _text_encoder(collection: Collection) -> Any:
    enc = collection.encoder
    if enc is None or "text" not in enc.modalities:
        raise InvalidInputError(
            f"collection {collection.name!r} has no text encoder; give the nodes embeddings "
            "(an embed_model) or use a collection created with encoder='text'"
        )
    return enc


class OmnivecEmbedding(BaseEmbedding):
    """A collection's own text encoder as a LlamaIndex embedding model (its dim, its space)."""

    _collection: Any = PrivateAttr()

    def __init__(self, collection: Collection, **kwargs: Any) -> None:
        _text_encoder(collection)
        kwargs.setdefault("model_name", f"omnivec:{collection.name}:{collection.encoder_name}")
        super().__init__(**kwargs)
        self._collection = collection

    @classmethod
    def class_name(cls) -> str:
        return "OmnivecEmbedding"

    def _encode(self, texts: list[str]) -> list[list[float]]:
        vecs = _text_encoder(self._collection).encode(texts, modality="text")
        return np.asarray(vecs, dtype=np.float32).tolist()  # type: ignore[no-any-return]

    def _get_query_embedding(self, query: str) -> list[float]:
        return self._encode([query])[0]

    def _get_text_embedding(self, text: str) -> list[float]:
        return self._encode([text])[0]

    def _get_text_embeddings(self, texts: list[str]) -> list[list[float]]:
        return self._encode(list(texts))

    async def _aget_query_embedding(self, query: str) -> list[float]:
        return await asyncio.to_thread(self._get_query_embedding, query)


class OmnivecVectorStore(BasePydanticVectorStore):
    """LlamaIndex vector store over an omnivec :class:`~omnivec.Collection` (any: with an
    encoder or vectors only, of the embed model's dim). Metadata filters become a Milvus
    ``where`` (``==``, ``!=``, ``<``, ``<=``, ``>``, ``>=``, ``in``, ``nin``; and / or)."""

    stores_text: bool = True
    is_embedding_query: bool = True
    text_key: str = TEXT_KEY

    _collection: Any = PrivateAttr()

    def __init__(self, collection: Collection, *, text_key: str = TEXT_KEY, **kwargs: Any) -> None:
        super().__init__(text_key=text_key, **kwargs)  # type: ignore[call-arg]
        self._collection = collection

    @classmethod
    def class_name(cls) -> str:
        return "OmnivecVectorStore"

    @property
    def client(self) -> Any:
        """The omnivec collection."""
        return self._collection

    @property
    def collection(self) -> Collection:
        return self._collection  # type: ignore[no-any-return]

    def add(self, nodes: Sequence[BaseNode], **add_kwargs: Any) -> list[str]:
        """Store nodes (their embeddings, text and metadata) in one batch; returns their ids."""
        nodes = list(nodes)
        if not nodes:
            return []
        ids = [n.node_id for n in nodes]
        # node_id is kept in metadata too, so that a query's node_ids can be a where clause.
        metas = [
            with_text(
                {**node_to_metadata_dict(n, remove_text=True, flat_metadata=False), "node_id": i},
                n.get_content(),
                self.text_key,
            )
            for n, i in zip(nodes, ids, strict=True)
        ]
        if all(n.embedding is not None for n in nodes):
            vectors = np.asarray([n.embedding for n in nodes], dtype=np.float32)
            self.collection.add(vectors=vectors, ids=ids, metadata=metas)
        else:
            _text_encoder(self.collection)
            texts = [n.get_content() for n in nodes]
            self.collection.add(texts, ids=ids, metadata=metas, progress=False)
        return ids

    def delete(self, ref_doc_id: str, **delete_kwargs: Any) -> None:
        """Delete every node of the document ``ref_doc_id``."""
        ids = self.collection.ids(where=f"ref_doc_id == {literal(str(ref_doc_id))}")
        if ids:
            self.collection.delete(ids)

    def delete_nodes(
        self,
        node_ids: list[str] | None = None,
        filters: MetadataFilters | None = None,
        **delete_kwargs: Any,
    ) -> None:
        ids = list(node_ids or [])
        if filters is not None:
            matching = self.collection.ids(where=where_from_filters(filters))
            wanted = set(node_ids or [])
            ids = [i for i in matching if not node_ids or i in wanted]
        if ids:
            self.collection.delete(ids)

    def get_nodes(
        self, node_ids: list[str] | None = None, filters: MetadataFilters | None = None
    ) -> list[BaseNode]:
        """Stored nodes by id and / or filters (unknown ids are left out)."""
        if node_ids is not None and not node_ids:
            return []
        where = _and(where_from_filters(filters), _in("node_id", node_ids))
        found = self.collection.ids(where=where)
        if node_ids is not None:
            known = set(found)
            found = [i for i in node_ids if i in known]
        return [self._node(r) for r in self.collection.get(found)] if found else []

    def query(self, query: VectorStoreQuery, **kwargs: Any) -> VectorStoreQueryResult:
        """The ``similarity_top_k`` nodes nearest the query embedding (or, without one, the
        query text encoded by the collection), with their scores (higher is more similar)."""
        if query.query_embedding is not None:
            q: Any = ov.vector(np.asarray(query.query_embedding, dtype=np.float32))
        elif query.query_str:
            _text_encoder(self.collection)
            q = query.query_str
        else:
            raise InvalidInputError("the query has neither an embedding nor a text")
        where = _and(
            where_from_filters(query.filters),
            _in("ref_doc_id", query.doc_ids),
            _in("node_id", query.node_ids),
        )
        hits = self.collection.search(q, k=query.similarity_top_k, where=where)
        nodes = [self._node(h) for h in hits]
        return VectorStoreQueryResult(
            nodes=nodes, similarities=[float(h.score) for h in hits], ids=[str(h.id) for h in hits]
        )

    def _node(self, item: Any) -> BaseNode:
        text, meta = text_of(item, self.text_key)
        node = metadata_dict_to_node(meta, text=text)
        node.embedding = None
        for key, value in hit_extras(item).items():
            node.metadata.setdefault(key, value)  # a user's own metadata key wins
        return node


def _in(key: str, values: Sequence[Any] | None) -> str | None:
    # An empty list restricts nothing, as in LlamaIndex's own stores (retrievers pass []).
    return f"{key} in {literal([str(v) for v in values])}" if values else None


def _and(*clauses: str | None) -> str | None:
    parts = [f"({c})" for c in clauses if c]
    return " and ".join(parts) if parts else None


def _clause(f: MetadataFilter) -> str:
    op = _OPS.get(f.operator)  # type: ignore[call-overload]
    if op is None:
        raise InvalidInputError(
            f"filter operator {f.operator.value!r} is not supported; use one of "
            f"{', '.join(o.value for o in _OPS)}"
        )
    value: Any = f.value
    if op in ("in", "not in") and not isinstance(value, list):
        value = [value]
    return f"{check_key(f.key)} {op} {literal(value)}"


def where_from_filters(filters: MetadataFilters | None) -> str | None:
    """LlamaIndex metadata filters as a Milvus ``where`` expression (None: no filter)."""
    if filters is None or not filters.filters:
        return None
    joiner = " or " if filters.condition == FilterCondition.OR else " and "
    parts = []
    for f in filters.filters:
        if isinstance(f, MetadataFilters):
            inner = where_from_filters(f)
            if inner:
                parts.append(f"({inner})")
        else:
            parts.append(f"({_clause(f)})")
    if filters.condition == FilterCondition.NOT:
        return f"not ({' and '.join(parts)})"
    return joiner.join(parts)

"""omnivec as a LlamaIndex vector store: the real llama-index-core package, a real Milvus Lite
file and the bundled MiniLM text encoder (through OmnivecEmbedding)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import omnivec as ov
from omnivec.errors import InvalidInputError

pytest.importorskip("llama_index.core")

from llama_index.core import Document, StorageContext, VectorStoreIndex
from llama_index.core.schema import TextNode
from llama_index.core.vector_stores.types import (
    BasePydanticVectorStore,
    FilterCondition,
    FilterOperator,
    MetadataFilter,
    MetadataFilters,
    VectorStoreQuery,
)

from omnivec.integrations.llama_index import OmnivecEmbedding, OmnivecVectorStore

ARTICLES = [
    ("eiffel", "The Eiffel Tower was finished in 1889 for the World's Fair in Paris.", "history"),
    ("photo", "Photosynthesis turns sunlight, water and carbon dioxide into sugar and oxygen.", "bio"),
    ("wall", "The Great Wall of China stretches for thousands of kilometres.", "history"),
    ("penguin", "Penguins are flightless birds that live in the Southern Hemisphere.", "bio"),
    ("rates", "Interest rates rose as the central bank fought inflation.", "finance"),
    ("bread", "A sourdough starter is flour and water fermented by wild yeast.", "food"),
]  # fmt: skip


@pytest.fixture()
def world(tmp_path: Path) -> Iterator[tuple[Any, OmnivecVectorStore, OmnivecEmbedding]]:
    with ov.connect(str(tmp_path / "li.db")) as plat:
        col = plat.collection("kb", encoder="text")
        store = OmnivecVectorStore(col)
        embed = OmnivecEmbedding(col)
        docs = [Document(text=t, doc_id=d, metadata={"topic": c}) for d, t, c in ARTICLES]
        index = VectorStoreIndex.from_documents(
            docs,
            storage_context=StorageContext.from_defaults(vector_store=store),
            embed_model=embed,
        )
        yield index, store, embed


def test_retriever_answers_with_the_right_passage(world: Any) -> None:
    index, store, _ = world
    assert issubclass(OmnivecVectorStore, BasePydanticVectorStore)
    assert len(store.collection) == len(ARTICLES)
    nodes = index.as_retriever(similarity_top_k=2).retrieve("How do plants make oxygen?")
    assert nodes[0].node.get_content() == ARTICLES[1][1]
    assert nodes[0].node.ref_doc_id == "photo" and nodes[0].node.metadata == {"topic": "bio"}
    assert nodes[0].score is not None and nodes[0].score >= nodes[1].score


def test_index_from_the_vector_store_alone(world: Any) -> None:
    _, store, embed = world
    # What a second process does: rebuild the index from what is stored.
    again = VectorStoreIndex.from_vector_store(store, embed_model=embed)
    hits = again.as_retriever(similarity_top_k=1).retrieve("Which birds cannot fly?")
    assert [h.node.get_content() for h in hits] == [ARTICLES[3][1]]


def test_metadata_filters(world: Any) -> None:
    index, store, embed = world
    only_history = MetadataFilters(filters=[MetadataFilter(key="topic", value="history")])
    hits = index.as_retriever(similarity_top_k=5, filters=only_history).retrieve("buildings")
    assert {h.node.ref_doc_id for h in hits} == {"eiffel", "wall"}
    either = MetadataFilters(
        filters=[
            MetadataFilter(key="topic", value="food"),
            MetadataFilter(key="topic", operator=FilterOperator.IN, value=["finance"]),
        ],
        condition=FilterCondition.OR,
    )
    q = VectorStoreQuery(
        query_embedding=embed.get_query_embedding("money"), similarity_top_k=5, filters=either
    )
    result = store.query(q)
    assert {n.ref_doc_id for n in result.nodes} == {"rates", "bread"}
    assert len(result.similarities) == len(result.ids) == 2
    unsupported = MetadataFilters(
        filters=[MetadataFilter(key="topic", operator=FilterOperator.TEXT_MATCH, value="x")]
    )
    with pytest.raises(InvalidInputError, match="not supported"):
        store.query(VectorStoreQuery(query_str="x", similarity_top_k=1, filters=unsupported))


def test_query_by_text_doc_ids_and_node_ids(world: Any) -> None:
    _, store, _ = world
    by_text = store.query(VectorStoreQuery(query_str="fermented flour", similarity_top_k=1))
    assert by_text.nodes[0].ref_doc_id == "bread"
    in_docs = store.query(
        VectorStoreQuery(query_str="fermented flour", similarity_top_k=3, doc_ids=["wall"])
    )
    assert [n.ref_doc_id for n in in_docs.nodes] == ["wall"]
    node_id = in_docs.ids[0]
    by_node = store.query(
        VectorStoreQuery(query_str="anything", similarity_top_k=3, node_ids=[node_id])
    )
    assert by_node.ids == [node_id]
    assert [n.node_id for n in store.get_nodes([node_id, "missing"])] == [node_id]


def test_add_nodes_without_embeddings_and_delete(world: Any) -> None:
    index, store, embed = world
    ids = store.add([TextNode(text="Volcanoes erupt molten rock called lava.", id_="lava")])
    assert ids == ["lava"]
    top = store.query(
        VectorStoreQuery(query_embedding=embed.get_query_embedding("lava"), similarity_top_k=1)
    )
    assert top.ids == ["lava"]
    store.delete("penguin")  # by the source document's id
    assert len(store.collection) == len(ARTICLES)
    hits = index.as_retriever(similarity_top_k=6).retrieve("Which birds cannot fly?")
    assert "penguin" not in {h.node.ref_doc_id for h in hits}
    store.delete_nodes(["lava"])
    assert store.get_nodes(["lava"]) == []


def test_raw_collection_needs_embeddings(tmp_path: Path) -> None:
    with ov.connect(str(tmp_path / "raw.db")) as plat:
        raw = plat.collection("raw", dim=384, metric="cosine")
        store = OmnivecVectorStore(raw)
        with pytest.raises(InvalidInputError, match="no text encoder"):
            store.add([TextNode(text="no embedding here")])
        with pytest.raises(InvalidInputError, match="no text encoder"):
            OmnivecEmbedding(raw)
        assert len(raw) == 0

"""omnivec as a LangChain vector store: the real langchain-core package, a real Milvus Lite
file and the bundled MiniLM text encoder."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

import omnivec as ov
from omnivec.errors import InvalidInputError

pytest.importorskip("langchain_core")

from langchain_core.documents import Document
from langchain_core.embeddings import Embeddings
from langchain_core.vectorstores import VectorStore, VectorStoreRetriever

from omnivec.integrations.langchain import OmnivecEmbeddings, OmnivecVectorStore

PASSAGES = [
    ("The Eiffel Tower was finished in 1889 for the World's Fair in Paris.", "history", "fr"),
    ("Photosynthesis turns sunlight, water and carbon dioxide into sugar and oxygen.", "bio", "en"),
    ("The Great Wall of China stretches for thousands of kilometres.", "history", "zh"),
    ("Penguins are flightless birds that live in the Southern Hemisphere.", "bio", "en"),
    ("Interest rates rose as the central bank fought inflation.", "finance", "en"),
    ("A sourdough starter is flour and water fermented by wild yeast.", "food", "en"),
]


@pytest.fixture()
def store(tmp_path: Path) -> Iterator[OmnivecVectorStore]:
    texts = [t for t, _, _ in PASSAGES]
    metas = [{"topic": c, "lang": lang} for _, c, lang in PASSAGES]
    s = OmnivecVectorStore.from_texts(
        texts, metadatas=metas, ids=[f"p{i}" for i in range(len(texts))],
        uri=str(tmp_path / "lc.db"), collection_name="docs",
    )  # fmt: skip
    yield s
    s.close()


def test_from_texts_and_similarity_search(store: OmnivecVectorStore) -> None:
    assert isinstance(store, VectorStore)
    docs = store.similarity_search("When was the Eiffel Tower built?", k=2)
    assert len(docs) == 2 and all(isinstance(d, Document) for d in docs)
    assert docs[0].page_content == PASSAGES[0][0]
    assert docs[0].id == "p0" and docs[0].metadata == {"topic": "history", "lang": "fr"}
    scored = store.similarity_search_with_score("Which birds cannot fly?", k=3)
    assert scored[0][0].page_content == PASSAGES[3][0]
    scores = [s for _, s in scored]
    assert scores == sorted(scores, reverse=True) and -1.0 <= scores[-1] <= scores[0] <= 1.0


def test_retriever_answers_a_question_with_the_right_passage(store: OmnivecVectorStore) -> None:
    retriever = store.as_retriever(search_kwargs={"k": 1})
    assert isinstance(retriever, VectorStoreRetriever)
    answer = retriever.invoke("How do plants make oxygen from light?")
    assert [d.page_content for d in answer] == [PASSAGES[1][0]]
    relevant = store.as_retriever(
        search_type="similarity_score_threshold", search_kwargs={"score_threshold": 0.6, "k": 3}
    ).invoke("bread made with wild yeast")
    assert relevant and relevant[0].id == "p5"


def test_filters_where_string_and_dict(store: OmnivecVectorStore) -> None:
    q = "old buildings and monuments"
    by_dict = store.similarity_search(q, k=5, filter={"topic": "history", "lang": "zh"})
    assert [d.id for d in by_dict] == ["p2"]
    by_where = store.similarity_search(q, k=5, filter='topic == "bio"')
    assert {d.id for d in by_where} == {"p1", "p3"}
    in_list = store.similarity_search(q, k=5, filter={"topic": ["food", "finance"]})
    assert {d.id for d in in_list} == {"p4", "p5"}
    # A filter value that would change the expression's meaning stays a plain string.
    assert store.similarity_search(q, k=5, filter={"topic": 'x" or topic != "'}) == []
    with pytest.raises(InvalidInputError):
        store.similarity_search(q, filter={"bad key": 1})


def test_add_texts_get_by_ids_and_delete(store: OmnivecVectorStore) -> None:
    ids = store.add_texts(["Volcanoes erupt molten rock called lava."], [{"topic": "geo"}])
    assert len(ids) == 1 and isinstance(ids[0], str)
    assert store.similarity_search("lava and eruptions", k=1)[0].id == ids[0]
    got = store.get_by_ids([ids[0], "no-such-id", "p4"])
    assert [d.id for d in got] == [ids[0], "p4"]
    assert got[0].page_content.startswith("Volcanoes") and got[0].metadata == {"topic": "geo"}
    assert store.delete([ids[0], "p4"]) is True
    assert store.get_by_ids([ids[0], "p4"]) == []
    assert len(store.collection) == len(PASSAGES) - 1
    # add_documents (inherited) keeps the documents' ids.
    store.add_documents([Document(page_content="Rust prevents data races.", id="rust")])
    assert store.get_by_ids(["rust"])[0].page_content == "Rust prevents data races."


def test_search_by_vector_and_own_embeddings(store: OmnivecVectorStore) -> None:
    emb = store.embeddings
    assert isinstance(emb, OmnivecEmbeddings)
    vec = emb.embed_query("Where do penguins live?")
    assert len(vec) == store.collection.dim
    docs = store.similarity_search_by_vector(vec, k=1)
    assert docs[0].id == "p3"


class HashEmbeddings(Embeddings):
    """A deterministic bag-of-words embedding (a user's own Embeddings, not omnivec's)."""

    dim = 64

    def _one(self, text: str) -> list[float]:
        v = np.zeros(self.dim, dtype=np.float32)
        for word in text.lower().replace("?", " ").replace(".", " ").split():
            v[sum(map(ord, word)) % self.dim] += 1.0
        return (v / max(float(np.linalg.norm(v)), 1e-9)).tolist()

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return [self._one(t) for t in texts]

    def embed_query(self, text: str) -> list[float]:
        return self._one(text)


def test_langchain_embeddings_on_a_raw_collection(tmp_path: Path) -> None:
    with ov.connect(str(tmp_path / "raw.db")) as plat:
        texts = [t for t, _, _ in PASSAGES]
        store = OmnivecVectorStore.from_texts(
            texts, HashEmbeddings(), platform=plat, collection_name="raw"
        )
        col = plat.get_collection("raw")
        assert col.encoder is None and col.dim == HashEmbeddings.dim
        hit = store.similarity_search("penguins are flightless birds", k=1)[0]
        assert hit.page_content == PASSAGES[3][0]
        # Reopened on the same collection later, it finds the same.
        again = OmnivecVectorStore(col, HashEmbeddings())
        assert again.similarity_search("penguins are flightless birds", k=1)[0].id == hit.id
        # A raw collection cannot embed by itself.
        with pytest.raises(InvalidInputError, match="embedding="):
            OmnivecVectorStore(col)


def test_mismatched_metadatas_write_nothing(store: OmnivecVectorStore) -> None:
    before = len(store.collection)
    with pytest.raises(InvalidInputError):
        store.add_texts(["a", "b"], [{"x": 1}])
    with pytest.raises(InvalidInputError):
        store.delete([])
    assert len(store.collection) == before

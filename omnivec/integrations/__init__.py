"""Vector stores for RAG frameworks, backed by omnivec collections (optional extras).

- :mod:`omnivec.integrations.langchain`: ``OmnivecVectorStore``, a LangChain ``VectorStore``
  (``pip install omnivec[langchain]``).
- :mod:`omnivec.integrations.llama_index`: ``OmnivecVectorStore``, a LlamaIndex vector store,
  and ``OmnivecEmbedding`` (``pip install omnivec[llama-index]``).

Importing this package imports neither framework; each module imports its own.
"""

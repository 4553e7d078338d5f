"""Vector stores. The Milvus store is imported on first use (it imports pymilvus)."""

from omnivec.stores.base import StoredHit, StoredRow, VectorStore

__all__ = ["StoredHit", "StoredRow", "VectorStore"]

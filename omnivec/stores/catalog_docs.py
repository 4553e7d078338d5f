"""The catalog's JSON documents in a small Milvus collection of their own (``_omnivec_catalog``):
the document part of :class:`omnivec.stores.milvus.MilvusStore`."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any, TypeVar

from omnivec.errors import StoreError
from omnivec.stores.scan import keys_expr

__all__ = ["CATALOG", "CATALOG_PAGE", "CatalogDocs"]

T = TypeVar("T")

CATALOG = "_omnivec_catalog"
#: Catalog rows read per page when listing (Milvus answers at most 16,384 rows a query).
CATALOG_PAGE = 4_096


class CatalogDocs:
    """Catalog documents by key over a pymilvus client; the store supplies ``_client`` and
    ``_call`` (which maps pymilvus errors)."""

    _client: Any
    _call: Callable[..., Any]

    def _ensure_catalog(self) -> None:
        from pymilvus import DataType

        if self._call("list collections", lambda: self._client.has_collection(CATALOG)):
            return
        schema = self._client.create_schema(auto_id=False, enable_dynamic_field=False)
        schema.add_field("pk", DataType.VARCHAR, is_primary=True, max_length=512)
        schema.add_field("doc", DataType.VARCHAR, max_length=65_535)
        schema.add_field("vector", DataType.FLOAT_VECTOR, dim=2)
        index = self._client.prepare_index_params()
        index.add_index("vector", index_type="FLAT", metric_type="L2")
        self._call(
            "create the catalog",
            lambda: self._client.create_collection(CATALOG, schema=schema, index_params=index),
        )

    # -- catalog documents -------------------------------------------------------------
    def get_doc(self, key: str, *, strong: bool = False) -> dict[str, Any] | None:
        """The document under ``key``; ``strong``: see every write acknowledged before the
        call, also another process's (pymilvus' default is Bounded staleness)."""
        extra = {"consistency_level": "Strong"} if strong else {}
        rows = self._call(
            "read the catalog",
            lambda: self._client.query(
                CATALOG, filter=keys_expr([key]), output_fields=["doc"], **extra
            ),
        )
        return json.loads(rows[0]["doc"]) if rows else None

    def put_doc(self, key: str, doc: dict[str, Any]) -> None:
        text = json.dumps(doc, sort_keys=True)
        if len(text.encode()) > 65_535:
            raise StoreError(f"catalog entry {key!r} is too large ({len(text)} bytes)")
        row = {"pk": key, "doc": text, "vector": [0.0, 0.0]}
        self._call("write the catalog", lambda: self._client.upsert(CATALOG, [row]))

    def delete_doc(self, key: str) -> None:
        self._call(
            "write the catalog",
            lambda: self._client.delete(CATALOG, filter=keys_expr([key])),
        )

    def list_docs(self, prefix: str = "") -> dict[str, dict[str, Any]]:
        """Every document whose key starts with ``prefix``, however many (read in pages)."""
        return {r["pk"]: json.loads(r["doc"]) for r in self._catalog_rows(prefix, ["pk", "doc"])}

    def list_doc_keys(self, prefix: str = "") -> list[str]:
        """The keys starting with ``prefix``, without reading their documents."""
        return [r["pk"] for r in self._catalog_rows(prefix, ["pk"])]

    def _catalog_rows(self, prefix: str, fields: list[str]) -> list[dict[str, Any]]:
        # Keys are the platform's own ("collection:name", blob chunks, ...): names are
        # validated identifiers, so the prefix needs no escaping inside the pattern. A query
        # iterator pages past Milvus' 16,384-row limit of one query.
        if not re.fullmatch(r"[A-Za-z0-9_:.\-]*", prefix):
            raise ValueError(f"catalog prefix {prefix!r} is not a plain key prefix")
        expr = f'pk like "{prefix}%"' if prefix else 'pk != ""'

        def read() -> list[dict[str, Any]]:
            it = self._client.query_iterator(
                CATALOG, batch_size=CATALOG_PAGE, filter=expr, output_fields=fields
            )
            rows: list[dict[str, Any]] = []
            try:
                while page := it.next():
                    rows.extend(page)
            finally:
                it.close()
            return rows

        return self._call("read the catalog", read)

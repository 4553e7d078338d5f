"""Full-text (BM25) fields in Milvus collections: the schema part and keyword search.

Milvus (Lite 2.5.1 included, verified here) turns a VARCHAR field with ``enable_analyzer`` into
a sparse BM25 vector through a ``Function(type=BM25)``; a ``SPARSE_INVERTED_INDEX`` with metric
``BM25`` then answers a search whose data is the query *text*. omnivec stores the text of each
row (a short record's whole text, or one window of a long one) in :data:`KEYWORD_FIELD`, so
keyword hits are found per window, like dense hits.

Lite refuses nullable fields, so every row of a keyword collection carries the field (``""``
for a row without text). BM25 over a collection that never held a row fails in Lite on a NaN
assertion (the server process survives; after deletes, or with a filter matching nothing, it
answers nothing): ``MilvusStore.keyword_search`` counts the rows only when a search fails
and answers no hits for an empty collection.
"""

from __future__ import annotations

from typing import Any

from omnivec.errors import InvalidInputError

__all__ = [
    "ANALYZERS",
    "KEYWORD_FIELD",
    "MAX_KEYWORD_BYTES",
    "SPARSE_FIELD",
    "add_keyword_fields",
    "check_analyzer",
    "keyword_text",
]

#: The row field BM25 reads (a reserved ``_ov_`` key: never a user's metadata key).
KEYWORD_FIELD = "_ov_kw"
SPARSE_FIELD = "_ov_sparse"
#: Milvus' built-in analyzers: "chinese" segments with jieba, "english" stems and drops stop
#: words, "standard" splits on Unicode word boundaries and lower-cases.
ANALYZERS = ("standard", "english", "chinese")
#: Milvus' VARCHAR limit, in bytes.
MAX_KEYWORD_BYTES = 65_535


def check_analyzer(analyzer: Any) -> str:
    if analyzer not in ANALYZERS:
        raise InvalidInputError(f"analyzer must be one of {', '.join(ANALYZERS)}, got {analyzer!r}")
    return str(analyzer)


def add_keyword_fields(schema: Any, index_params: Any, analyzer: str) -> None:
    """Add the analysed text field, its BM25 sparse vector and their index to a new schema."""
    from pymilvus import DataType, Function, FunctionType

    schema.add_field(
        KEYWORD_FIELD,
        DataType.VARCHAR,
        max_length=MAX_KEYWORD_BYTES,
        enable_analyzer=True,
        analyzer_params={"type": check_analyzer(analyzer)},
    )
    schema.add_field(SPARSE_FIELD, DataType.SPARSE_FLOAT_VECTOR)
    schema.add_function(
        Function(
            name="omnivec_bm25",
            function_type=FunctionType.BM25,
            input_field_names=[KEYWORD_FIELD],
            output_field_names=[SPARSE_FIELD],
        )
    )
    index_params.add_index(SPARSE_FIELD, index_type="SPARSE_INVERTED_INDEX", metric_type="BM25")


def keyword_text(text: str | None, what: str) -> str:
    """The keyword-field value of one row: its text, which must fit Milvus' VARCHAR."""
    if text is None:
        return ""
    if len(text.encode("utf-8", "surrogatepass")) > MAX_KEYWORD_BYTES:
        raise InvalidInputError(
            f"{what} has a window of more than {MAX_KEYWORD_BYTES} bytes, more than a keyword "
            "index holds; create the collection with a smaller chunk_tokens="
        )
    return text

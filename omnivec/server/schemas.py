"""Request and response bodies of the HTTP API (pydantic models; they make the OpenAPI docs)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictFloat, StrictInt, StrictStr

Id = StrictStr | StrictInt


class StrictBody(BaseModel):
    # A misspelt field ("querry") is refused instead of silently ignored.
    model_config = ConfigDict(extra="forbid")


class RefIn(StrictBody):
    id: Id = Field(description="id of a stored record")
    collection: StrictStr | None = Field(
        None, description="collection holding the record (default: the one searched)"
    )


class SearchIn(StrictBody):
    """Exactly one query field: ``query``, ``image``, ``vector`` or ``ref`` for one query;
    ``queries``, ``images``, ``vectors`` or ``refs`` for a batch (answered as a list of lists);
    a list under ``query``, ``image`` or ``ref``, or an ``(n, dim)`` ``vector``, is a batch too."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"query": "felines", "k": 5, "where": 'lang == "en"'},
                {"ref": {"id": "a"}, "k": 5},
                {"queries": ["cats", "stocks"], "k": 3},
            ]
        },
    )
    query: StrictStr | list[StrictStr] | None = Field(
        None, description="text query (a list of texts: a batch)"
    )
    queries: list[StrictStr] | None = Field(None, description="batch of text queries")
    image: StrictStr | list[StrictStr] | None = Field(
        None, description="base64 image or data: URI (a list: a batch)"
    )
    images: list[StrictStr] | None = Field(None, description="batch of base64 images")
    vector: list[StrictFloat] | list[list[StrictFloat]] | None = Field(
        None, description="raw vector of the collection's dim (an (n, dim) matrix: a batch)"
    )
    vectors: list[list[StrictFloat]] | None = Field(None, description="batch of raw vectors")
    ref: RefIn | list[RefIn] | None = Field(
        None, description="a stored record as the query (a list: a batch)"
    )
    refs: list[RefIn] | None = Field(None, description="batch of stored records")
    k: StrictInt = Field(10, description="number of hits, 1 to 16384")
    where: StrictStr | None = Field(None, description='Milvus filter, e.g. lang == "en"')
    min_score: StrictFloat | None = Field(None, description="drop hits scoring below this")
    mode: Literal["dense", "keyword", "hybrid"] | None = Field(
        None, description="dense, keyword (BM25) or hybrid; default: hybrid with keywords on"
    )
    weights: list[StrictFloat | StrictInt] | None = Field(
        None, description="hybrid fusion weights (dense, keyword); default: 1 each"
    )
    candidates: StrictInt | None = Field(
        None, description="hybrid: records each leg fetches before fusion (>= k; max(4k, 50))"
    )
    fusion: Literal["rrf", "weighted", "relative"] | None = Field(
        None, description="hybrid fusion: rrf, weighted or relative (min-max per leg)"
    )


class LegIn(StrictBody):
    """One collection's query in a fused search: exactly one of query, image, vector, ref."""

    query: StrictStr | None = None
    image: StrictStr | None = None
    vector: list[StrictFloat] | None = None
    ref: RefIn | None = None


class FusedSearchIn(StrictBody):
    """``{"queries": {collection: {"query"|"image"|"vector"|"ref": ...}}, "k", "weights"}``."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "queries": {"shoe_texts": {"query": "red running shoes"}},
                    "k": 10,
                    "weights": {"shoe_texts": 1.0},
                }
            ]
        },
    )
    queries: dict[StrictStr, LegIn] = Field(description="collection name -> its query")
    k: StrictInt = Field(10, description="number of hits, 1 to 16384")
    weights: dict[StrictStr, StrictFloat | StrictInt] | None = Field(
        None, description="weighted fusion by collection; default: reciprocal-rank fusion"
    )
    where: StrictStr | None = Field(None, description="one filter for every collection")


class AddIn(StrictBody):
    """Exactly one of ``items`` (texts), ``vectors`` or ``images`` (base64)."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "items": ["I love cats", "Stocks fell"],
                    "ids": ["a", "b"],
                    "metadata": [{"lang": "en"}, {"lang": "en"}],
                }
            ]
        },
    )
    items: list[StrictStr] | None = Field(None, description="inputs for the encoder (texts)")
    vectors: list[list[StrictFloat]] | None = Field(None, description="(n, dim) raw vectors")
    images: list[StrictStr] | None = Field(None, description="base64 images (or data: URIs)")
    ids: list[Id] | None = Field(None, description="one id per item (default: generated)")
    metadata: list[dict[str, Any] | None] | None = Field(None, description="one dict per item")
    modality: StrictStr | None = Field(None, description="modality of items (default: the first)")


class RecommendIn(StrictBody):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"user": "u1", "k": 10}]}
    )
    user: Id | None = Field(None, description="one user id")
    users: list[Id] | None = Field(None, description="batch of user ids")
    k: StrictInt = 10
    exclude_seen: StrictBool = Field(True, description="leave out items the user interacted with")
    where: StrictStr | None = Field(None, description="Milvus filter over item metadata")
    interactions: list[tuple[Id, StrictFloat] | Id] | None = Field(
        None,
        description="[[item, weight], ...] or [item, ...]: fold in a user the model has not seen "
        "(for a known user, replaces the stored history for this query)",
    )


class SimilarIn(StrictBody):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"item": "i1"}]})
    item: Id | None = None
    user: Id | None = None
    k: StrictInt = 10
    where: StrictStr | None = Field(None, description="Milvus filter over metadata")


class HitOut(BaseModel):
    id: Id
    score: float
    metadata: dict[str, Any]
    text: str | None = Field(None, description="the record's stored text (text collections)")
    passage: str | None = Field(
        None,
        description="the whole sentences around the best-matching window, at most the "
        "collection's passage_chars characters (left out when it is the whole text)",
    )
    span: tuple[int, int] | None = Field(
        None, description="[start, end] character offsets of the passage in text"
    )
    scores: dict[str, float] | None = Field(None, description="per-leg scores of a fused hit")


class HitsOut(BaseModel):
    """``hits`` is a list of hits for one query, a list of such lists for a batch."""

    hits: list[HitOut] | list[list[HitOut]]


class ErrorOut(BaseModel):
    error: str
    detail: str


class DeleteIn(StrictBody):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"ids": ["a"]}]})
    ids: list[Id] = Field(description="ids to delete (unknown ids are not an error)")


class ReembedIn(StrictBody):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"options": {"model": "/models/finetuned-minilm"}}]},
    )
    options: dict[str, Any] = Field(
        description="the encoder options that change (e.g. model, pretrained, max_seq_length)"
    )


class ReindexIn(StrictBody):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"keywords": True, "analyzer": "chinese"}]}
    )
    keywords: StrictBool = Field(True, description="turn the keyword (BM25) index on or off")
    analyzer: StrictStr | None = Field(
        None, description="standard, english or chinese (default: the current one)"
    )

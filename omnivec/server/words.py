"""``POST /collections/{name}/analogy``: word arithmetic in a word collection (word2vec,
fasttext), as gensim's ``most_similar(positive, negative)``. Nearest words of one word are
the ordinary ``POST /collections/{name}/search`` with ``{"query": "word"}`` (the word itself
left out). Reads only, so a ``--read-only`` server answers it; it needs the API key like every
other route."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, StrictInt, StrictStr
from starlette.concurrency import run_in_threadpool

from omnivec.core.queries import hits_payload

__all__ = ["AnalogyIn", "words_router"]


class AnalogyIn(BaseModel):
    """Words to add and to subtract; the ``k`` nearest other words come back."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"positive": ["king", "woman"], "negative": ["man"], "k": 5}]
        },
    )
    positive: list[StrictStr] = Field(default_factory=list, description="words to add")
    negative: list[StrictStr] = Field(default_factory=list, description="words to subtract")
    k: StrictInt = Field(5, description="number of hits, 1 to 16384")
    where: StrictStr | None = Field(None, description="Milvus filter over metadata")


def words_router() -> APIRouter:
    router = APIRouter(tags=["collections"])

    @router.post("/collections/{name}/analogy")
    async def analogy(name: str, body: AnalogyIn, request: Request) -> JSONResponse:
        """``{"hits": [...]}``: the words nearest to the mean of the unit vectors of
        ``positive`` minus those of ``negative`` (3CosAdd), the given words left out.
        An unknown word answers 404 naming the closest known spellings."""
        platform = request.app.state.platform

        def run() -> JSONResponse:
            col = platform.get_collection(name)
            hits = col.analogy(
                positive=body.positive, negative=body.negative, k=body.k, where=body.where
            )
            return JSONResponse(hits_payload(hits))

        return await run_in_threadpool(run)

    return router

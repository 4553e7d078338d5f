"""omnivec as an OpenAI-compatible embedding server: ``POST /v1/embeddings`` and
``GET /v1/models``.

Anything that speaks OpenAI's embeddings API (the official ``openai`` client, LangChain's
``OpenAIEmbeddings``, LlamaIndex's ``OpenAIEmbedding``, ...) then gets omnivec's local, offline
models. ``model`` names a built-in text encoder with its default settings (``"text"``:
all-MiniLM-L6-v2, ``"multilingual"``: multilingual-e5-small) or a collection, whose encoder
and settings (model, prompts) are used, so the vectors are those the collection stores. Texts
are embedded as documents (stored texts); ``"input_type": "query"`` embeds them as queries
(e5's ``query:`` prefix, a model's query prompt). The routes sit behind the same API key as
every other route, and concurrent requests for one model are embedded together.
"""

from __future__ import annotations

import base64
import re
from typing import Any, Literal

import numpy as np
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

import omnivec as ov
from omnivec.core.encoder import encode_in_role
from omnivec.errors import InvalidInputError, NotFoundError
from omnivec.platform.registry import available_encoders, get_factory
from omnivec.server.batching import SearchBatcher

__all__ = ["BUILTIN_MODELS", "EmbeddingsIn", "openai_router"]

#: Built-in encoders listed by ``GET /v1/models`` (any registered text encoder is accepted).
BUILTIN_MODELS = ("text", "multilingual")
#: Encoders not served under their own name: ``openai`` would forward requests elsewhere.
_NOT_SERVED = frozenset({"openai"})
#: Most inputs in one request, as OpenAI's API.
MAX_INPUTS = 2048
_COLLECTION_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,254}")
_ROLES = {None: "document", "query": "query", "passage": "document", "document": "document"}


class EmbeddingsIn(BaseModel):
    """OpenAI's embeddings request, plus ``input_type`` (``query`` | ``passage``)."""

    model_config = ConfigDict(extra="ignore")

    model: str = Field(description='"text", "multilingual" or the name of a collection')
    input: str | list[Any] = Field(description="a text or a list of texts")
    encoding_format: Literal["float", "base64"] = "float"
    dimensions: int | None = None
    user: str | None = None
    input_type: str | None = Field(
        default=None, description='"query" or "passage" (default: passage, as stored texts)'
    )


def _texts(value: str | list[Any]) -> list[str]:
    texts = [value] if isinstance(value, str) else list(value)
    if not texts:
        raise InvalidInputError("input is empty; send a text or a list of texts")
    if len(texts) > MAX_INPUTS:
        raise InvalidInputError(
            f"input holds {len(texts)} texts; send at most {MAX_INPUTS} per request"
        )
    for i, t in enumerate(texts):
        if not isinstance(t, str):
            what = "token ids" if isinstance(t, int | list) else type(t).__name__
            raise InvalidInputError(
                f"input[{i}] is {what}, not text: omnivec embeds text (with LangChain's "
                "OpenAIEmbeddings pass check_embedding_ctx_length=False)"
            )
    return texts


def _role(input_type: str | None) -> str:
    if input_type not in _ROLES:
        raise InvalidInputError(
            f'input_type must be "query" or "passage" (or "document"), got {input_type!r}'
        )
    return _ROLES[input_type]


def _encoder(platform: ov.Platform, model: str) -> Any:
    """The encoder behind ``model``: a collection's (its settings) or a built-in one."""
    if _COLLECTION_NAME.fullmatch(model) and platform.has_collection(model):
        enc = platform.get_collection(model).encoder
        if enc is None or "text" not in getattr(enc, "modalities", ()):
            raise InvalidInputError(
                f"collection {model!r} has no text encoder, so it cannot embed text; "
                'name a text collection, or model "text" or "multilingual"'
            )
        return enc
    if model in available_encoders() and model not in _NOT_SERVED:
        factory = get_factory(model)
        if "text" in getattr(factory, "modalities", ("text",)):
            return platform.encoder_for(model, {})
    raise NotFoundError(
        f'no model {model!r}: use "text", "multilingual" or the name of a text collection '
        "(GET /v1/models lists them)"
    )


def _tokens(encoder: Any, texts: list[str]) -> int:
    """Tokens read, for ``usage`` (the encoder's tokenizer where it reports tokens)."""
    spans = getattr(encoder, "token_spans", None)
    if callable(spans):
        try:
            return sum(len(spans(t)) for t in texts)
        except Exception:  # noqa: BLE001 - usage is informational; words are a fair count
            pass
    return sum(len(t.split()) for t in texts)


def embed_groups(
    platform: ov.Platform, model: str, groups: list[list[str]], options: dict[str, Any]
) -> list[tuple[np.ndarray, int]]:
    """Embed several requests' texts in one encoder call: per request, its vectors and
    token count."""
    enc = _encoder(platform, model)
    texts = [t for g in groups for t in g]
    arr = np.asarray(encode_in_role(enc, texts, "text", options["role"]), dtype=np.float32)
    out, start = [], 0
    for g in groups:
        out.append((arr[start : start + len(g)], _tokens(enc, g)))
        start += len(g)
    return out


def _payload(model: str, vectors: np.ndarray, tokens: int, fmt: str) -> dict[str, Any]:
    rows = np.ascontiguousarray(vectors, dtype="<f4")
    if fmt == "base64":
        embs: list[Any] = [base64.b64encode(r.tobytes()).decode("ascii") for r in rows]
    else:
        embs = rows.tolist()
    return {
        "object": "list",
        "data": [{"object": "embedding", "index": i, "embedding": e} for i, e in enumerate(embs)],
        "model": model,
        "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
    }


def openai_router(platform: ov.Platform, *, batching: bool = True) -> APIRouter:
    """The ``/v1`` routes over ``platform``; ``batching=False`` embeds every request alone."""
    router = APIRouter(prefix="/v1", tags=["openai"])
    batcher = SearchBatcher(
        lambda model, groups, options: embed_groups(platform, model, groups, options)
    )

    @router.post("/embeddings")
    async def embeddings(body: EmbeddingsIn, request: Request) -> JSONResponse:
        """OpenAI's embeddings API: ``{"model", "input", "encoding_format"}`` answers
        ``{"object": "list", "data": [{"object": "embedding", "index", "embedding"}], "model",
        "usage"}``."""
        texts = _texts(body.input)
        options = {"role": _role(body.input_type)}
        if batching:
            vectors, tokens = await batcher.search(body.model, texts, options)
        else:
            [(vectors, tokens)] = await run_in_threadpool(
                embed_groups, platform, body.model, [texts], options
            )
        if body.dimensions is not None and body.dimensions != vectors.shape[1]:
            raise InvalidInputError(
                f"model {body.model!r} gives {vectors.shape[1]}-d vectors and cannot shorten "
                "them; leave out dimensions"
            )
        return JSONResponse(_payload(body.model, vectors, tokens, body.encoding_format))

    @router.get("/models")
    def models(request: Request) -> dict[str, Any]:
        """The names ``/v1/embeddings`` takes: built-in text encoders and text collections."""
        names = [m for m in BUILTIN_MODELS if m in available_encoders()]
        for name in platform.collections():
            try:
                enc = platform.get_collection(name).encoder
            except ov.errors.OmnivecError:
                continue
            if enc is not None and "text" in getattr(enc, "modalities", ()):
                names.append(name)
        seen: dict[str, None] = dict.fromkeys(names)
        return {
            "object": "list",
            "data": [
                {"id": n, "object": "model", "created": 0, "owned_by": "omnivec"} for n in seen
            ],
        }

    return router

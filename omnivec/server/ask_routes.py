"""``POST /collections/{name}/ask`` and ``GET /llm``: answers from a collection's texts by the
language model the server was started with (``omnivec serve --llm URL --llm-model M``; a
browser never chooses the endpoint).

Asking writes nothing, so a ``--read-only`` server answers it; it needs the API key like every
other route. Without ``"stream"`` the answer is JSON (:meth:`omnivec.Answer.to_dict`). With
``"stream": true`` it is ``text/event-stream``: one event per piece of text as the model writes
it, ``event: delta`` / ``data: {"type": "delta", "text": "..."}``, then ``event: answer`` /
``data: {"type": "answer", "text", "citations", "sources", "prompt"}``; a failure after the
stream began is ``event: error`` / ``data: {"type": "error", "error", "detail"}``. A model that
cannot be reached before anything was sent answers 502 with the usual JSON error body; a server
started without ``--llm`` answers 503.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any, Literal

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictFloat, StrictInt, StrictStr
from starlette.concurrency import run_in_threadpool

from omnivec.errors import LLMError, OmnivecError
from omnivec.platform.ask import Answer
from omnivec.platform.llm import LLM
from omnivec.server.responses import error_response, one_line

__all__ = ["AskIn", "install_ask_routes", "sse_event"]


class AskIn(BaseModel):
    """A question for one collection."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"question": "what did the auditors find?", "k": 5}]},
    )
    question: StrictStr = Field(description="the question, in any language")
    k: StrictInt = Field(5, description="passages to retrieve, 1 to 16384")
    stream: StrictBool = Field(False, description="answer as server-sent events")
    where: StrictStr | None = Field(None, description='Milvus filter, e.g. lang == "en"')
    mode: Literal["dense", "keyword", "hybrid"] | None = Field(
        None, description="retrieval mode; default: hybrid with keywords on"
    )
    min_score: StrictFloat | None = Field(
        None, description="passages scoring below this (in the mode's own scores) are left out"
    )


def sse_event(kind: str, payload: dict[str, Any]) -> str:
    """One server-sent event: ``event: KIND`` and ``data: {"type": KIND, ...}``."""
    data = json.dumps({"type": kind, **payload}, ensure_ascii=False, default=str)
    return f"event: {kind}\ndata: {data}\n\n"


def _no_llm() -> JSONResponse:
    return error_response(
        503,
        "LLMError",
        "this server has no language model: start it with omnivec serve --llm URL "
        "--llm-model MODEL (an OpenAI-compatible API such as llama.cpp's server)",
    )


def _llm_error(exc: LLMError) -> JSONResponse:
    return error_response(502, "LLMError", str(exc))


def _events(first: str | Answer | None, rest: Iterator[str | Answer]) -> Iterator[str]:
    """The SSE body: ``first`` (already pulled, so a failure to reach the model became an
    HTTP error) and the rest of the stream."""
    head: list[str | Answer] = [] if first is None else [first]
    try:
        for item in _chain(head, rest):
            if isinstance(item, Answer):
                yield sse_event("answer", item.to_dict())
            else:
                yield sse_event("delta", {"text": item})
    except OmnivecError as exc:
        yield sse_event("error", {"error": type(exc).__name__, "detail": one_line(str(exc))})


def _chain(head: list[str | Answer], rest: Iterator[str | Answer]) -> Iterator[str | Answer]:
    yield from head
    yield from rest


def install_ask_routes(app: FastAPI, llm: LLM | None) -> None:
    """Add the ask routes to ``app``, answering with ``llm`` (``None``: they answer 503)."""
    app.state.llm = llm

    @app.get("/llm", tags=["ask"])
    def llm_info(request: Request) -> dict[str, Any]:
        """Whether this server can answer questions (``POST /collections/{name}/ask``), and
        with which model. The endpoint is configured when the server starts, never here."""
        configured: LLM | None = request.app.state.llm
        if configured is None:
            return {"available": False}
        return {"available": True, "model": configured.model_name}

    @app.post("/collections/{name}/ask", tags=["ask"], response_model=None)
    async def ask(name: str, body: AskIn, request: Request) -> Response:
        """Answer ``question`` from the collection's texts with the server's language model,
        citing the passages it used as [1], [2]: ``{"text", "citations", "sources": [{"n",
        "id", "score", "metadata", "text", "passage"}], "prompt"}``; with ``"stream": true``
        server-sent events (``delta`` pieces, then the ``answer``). Nothing relevant found:
        an answer that says so, without asking the model."""
        configured: LLM | None = request.app.state.llm
        if configured is None:
            return _no_llm()
        platform = request.app.state.platform
        options = {
            "llm": configured,
            "where": body.where,
            "mode": body.mode,
            "min_score": body.min_score,
        }

        def retrieve() -> Any:
            col = platform.get_collection(name)
            return col.ask(body.question, body.k, stream=body.stream, **options)

        try:
            if not body.stream:
                answer = await run_in_threadpool(retrieve)
                return JSONResponse(answer.to_dict())
            stream = await run_in_threadpool(retrieve)
            # The first piece before the headers: an unreachable model is a 502, not an event.
            first = await run_in_threadpool(next, stream, None)
        except LLMError as exc:
            return _llm_error(exc)
        return StreamingResponse(
            _events(first, stream),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )

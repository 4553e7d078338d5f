"""Demo part: ask the demo's texts a question and get an answer that cites them, from a language
model behind an OpenAI-compatible API (``$OMNIVEC_LLM_URL``, e.g. llama.cpp's server). Without
a reachable model it shows the passages a model would be given and says how to start one; it
never fails for want of a model."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import Any

import omnivec as ov
from omnivec.demo.text import CORPUS
from omnivec.errors import LLMError
from omnivec.platform.llm import ENV_LLM_MODEL, ENV_LLM_URL

QUESTION = "What happened to the stock market after the central bank raised rates?"
HOW_TO = (
    "  no language model is reachable: to see answers, serve one and point the demo at it, e.g.\n"
    "    pip install 'llama-cpp-python[server]'   # or Ollama, vLLM, LM Studio\n"
    "    python -m llama_cpp.server --model MODEL.gguf --host 127.0.0.1 --port 8080\n"
    f"    {ENV_LLM_URL}=http://127.0.0.1:8080/v1 omnivec demo --only ask\n"
    f"  ({ENV_LLM_MODEL}=NAME picks the model on servers that host several)"
)


def run(plat: ov.Platform, say: Callable[[str], None]) -> dict[str, Any]:
    col = plat.collection("demo_ask", encoder="text", keywords=True)
    texts = [t for sentences in CORPUS.values() for t in sentences]
    ids = [f"{topic}-{i}" for topic, sentences in CORPUS.items() for i in range(len(sentences))]
    col.add(texts, ids=ids, metadata=[{"topic": i.rsplit("-", 1)[0]} for i in ids])
    say(f"  question: {QUESTION}")
    url = os.environ.get(ENV_LLM_URL)
    if not url:
        return _without_model(col, say, "no $" + ENV_LLM_URL)
    try:
        model = ov.llm(base_url=url, max_tokens=96, timeout=120)
    except ov.errors.InvalidInputError as exc:
        return _without_model(col, say, str(exc))
    t0 = time.perf_counter()
    first: float | None = None
    answer: ov.Answer | None = None
    say("  answer: ")
    try:
        for piece in col.ask(QUESTION, k=3, llm=model, stream=True):
            if isinstance(piece, str):
                if first is None:
                    first = time.perf_counter() - t0
                print(piece, end="", flush=True)
            else:
                answer = piece
    except LLMError as exc:
        say("")
        return _without_model(col, say, str(exc))
    assert answer is not None
    seconds = time.perf_counter() - t0
    say("")
    for n, hit in enumerate(answer.sources, 1):
        mark = "*" if n in answer.citations else " "
        say(f"   {mark}[{n}] {hit.id}: {hit.passage or hit.text}")
    say(
        f"  first words after {first or seconds:.1f} s, whole answer in {seconds:.1f} s; "
        f"cited {answer.citations or 'nothing'}"
    )
    return {
        "llm": True,
        "answer": answer.text,
        "citations": answer.citations,
        "sources": [str(h.id) for h in answer.sources],
        "first_token_s": round(first or seconds, 2),
    }


def _without_model(col: ov.Collection, say: Callable[[str], None], why: str) -> dict[str, Any]:
    hits = col.search(QUESTION, k=3)
    say(f"  ({why})")
    say("  the passages a model would answer from:")
    for n, hit in enumerate(hits, 1):
        say(f"    [{n}] {hit.id}: {hit.passage or hit.text}")
    say(HOW_TO)
    return {"llm": False, "sources": [str(h.id) for h in hits]}

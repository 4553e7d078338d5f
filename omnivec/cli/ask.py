"""``omnivec ask NAME "question" --llm URL --model M``: an answer from a collection's texts,
streamed to the terminal, then its numbered sources (``--json``: the whole Answer, as
``POST /collections/{name}/ask`` answers it)."""

from __future__ import annotations

import sys
from typing import Annotated, Any

import typer

from omnivec.cli.app import (
    DbOption,
    JsonOption,
    KOption,
    ModeOption,
    TokenOption,
    WhereOption,
    app,
    handle_errors,
    open_platform,
    print_json,
)

__all__ = ["ask", "print_sources"]


def print_sources(answer: Any) -> None:
    """The numbered sources under an answer; ``*`` marks the ones it cites."""
    if not answer.sources:
        return
    typer.echo("\nSources:")
    for n, hit in enumerate(answer.sources, 1):
        mark = "*" if n in answer.citations else " "
        shown = " ".join((hit.passage or hit.text or "").split())
        typer.echo(f"{mark}[{n}] {hit.id}  ({hit.score:.4f})")
        if shown:
            typer.echo(f"     {shown[:200]}{'…' if len(shown) > 200 else ''}")


@app.command()
@handle_errors
def ask(
    name: str,
    question: Annotated[str, typer.Argument(help="The question to answer from the collection.")],
    llm: Annotated[
        str,
        typer.Option(
            "--llm",
            envvar="OMNIVEC_LLM_URL",
            help="OpenAI-compatible API of the language model, e.g. http://127.0.0.1:8080/v1 "
            "(llama.cpp's server, Ollama, vLLM, LM Studio, OpenAI).",
        ),
    ],
    model: Annotated[
        str | None,
        typer.Option("--model", envvar="OMNIVEC_LLM_MODEL", help="Model name the server knows."),
    ] = None,
    k: KOption = 5,
    where: WhereOption = None,
    mode: ModeOption = None,
    min_score: Annotated[
        float | None,
        typer.Option("--min-score", help="Passages scoring lower are not relevant."),
    ] = None,
    rerank: Annotated[
        str | None,
        typer.Option("--rerank", help="Cross-encoder (folder or name) to re-score passages."),
    ] = None,
    api_key_env: Annotated[
        str | None,
        typer.Option("--api-key-env", help="Environment variable holding the LLM's API key."),
    ] = None,
    max_tokens: Annotated[int, typer.Option("--max-tokens", help="Longest answer.")] = 256,
    max_context_tokens: Annotated[
        int | None,
        typer.Option("--max-context-tokens", help="The model's context (default: asked, 4096)."),
    ] = None,
    timeout: Annotated[float, typer.Option("--timeout", help="Seconds to wait for it.")] = 60.0,
    db: DbOption = "omnivec.db",
    token: TokenOption = "",
    as_json: JsonOption = False,
) -> None:
    """Answer a question from a collection's texts with a language model, citing them."""
    import omnivec as ov

    model_llm = ov.llm(
        model=model,
        base_url=llm,
        api_key_env=api_key_env,
        max_tokens=max_tokens,
        timeout=timeout,
    )
    options: dict[str, Any] = {
        "llm": model_llm,
        "where": where,
        "mode": mode,
        "min_score": min_score,
        "rerank": rerank,
        "max_context_tokens": max_context_tokens,
    }
    with open_platform(db, token) as plat:
        col = plat.get_collection(name)
        if as_json:
            print_json(col.ask(question, k, **options).to_dict())
            return
        answer = None
        for piece in col.ask(question, k, stream=True, **options):
            if isinstance(piece, str):
                sys.stdout.write(piece)
                sys.stdout.flush()
            else:
                answer = piece
        assert answer is not None
        if not answer.sources:
            typer.echo(answer.text)
            return
        typer.echo("")
        print_sources(answer)

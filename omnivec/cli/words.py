"""Word-vector commands: ``omnivec fit-words`` (train word2vec / FastText on a corpus and store
every word) and ``omnivec analogy`` (word arithmetic). Nearest words: ``omnivec search``."""

from __future__ import annotations

import time
from typing import Annotated, Any

import typer

from omnivec.cli.app import (
    DbOption,
    JsonOption,
    KOption,
    TokenOption,
    app,
    handle_errors,
    open_platform,
    print_hits,
    print_json,
)
from omnivec.errors import InvalidInputError

__all__ = ["analogy", "fit_words"]

WORD_ENCODERS = ("word2vec", "fasttext")


@app.command("fit-words")
@handle_errors
def fit_words(
    name: str,
    corpus: Annotated[
        str,
        typer.Argument(
            help="Corpus: a .txt (one text per line), .jsonl ('text') or .csv ('text' column) "
            "file, or the name of a collection that stores texts."
        ),
    ],
    encoder: Annotated[str, typer.Option(help="word2vec or fasttext.")] = "word2vec",
    tokenizer: Annotated[
        str, typer.Option(help="simple (gensim's simple_preprocess) or jieba (Chinese).")
    ] = "simple",
    dim: Annotated[int | None, typer.Option(help="Vector size (default 100).")] = None,
    window: Annotated[int | None, typer.Option(help="Context window (default 5).")] = None,
    min_count: Annotated[
        int | None, typer.Option(help="Ignore words seen fewer times (default 5).")
    ] = None,
    epochs: Annotated[int | None, typer.Option(help="Passes over the corpus (default 5).")] = None,
    sg: Annotated[
        bool | None, typer.Option("--sg/--cbow", help="Skip-gram or CBOW (default CBOW).")
    ] = None,
    seed: Annotated[int | None, typer.Option(help="Random seed (default 1).")] = None,
    workers: Annotated[
        int | None, typer.Option(help="Training threads (1: repeatable vectors; default 3).")
    ] = None,
    db: DbOption = "omnivec.db",
    token: TokenOption = "",
    as_json: JsonOption = False,
) -> None:
    """Train word vectors on a corpus and store one record per vocabulary word (a re-fit
    replaces them). Then `omnivec search NAME word` gives the nearest words."""
    if encoder not in WORD_ENCODERS:
        raise InvalidInputError(f"--encoder must be word2vec or fasttext, not {encoder!r}")
    if tokenizer not in ("simple", "jieba"):
        raise InvalidInputError(f"--tokenizer must be simple or jieba, not {tokenizer!r}")
    options: dict[str, Any] = {
        "dim": dim,
        "window": window,
        "min_count": min_count,
        "epochs": epochs,
        "sg": None if sg is None else int(sg),
        "seed": seed,
        "workers": workers,
    }
    config = {k: v for k, v in options.items() if v is not None}
    with open_platform(db, token) as plat:
        exists = plat.has_collection(name)
        if exists:
            col = plat.collection(name, **config)
            if col.encoder_name not in WORD_ENCODERS:
                raise InvalidInputError(
                    f"collection {name!r} uses encoder {col.encoder_name!r}; fit-words trains "
                    "word2vec or fasttext collections (pick another name)"
                )
        else:
            col = plat.collection(name, encoder=encoder, tokenizer=tokenizer, **config)
        start = time.perf_counter()
        try:
            col.fit(corpus)
        except BaseException:
            if not exists:  # a failed first fit leaves no empty collection behind
                plat.drop(name)
            raise
        seconds = time.perf_counter() - start
        if as_json:
            print_json({"collection": name, "words": len(col), "seconds": seconds})
        else:
            typer.echo(f"fitted {name}: {len(col)} words in {seconds:.1f} s")


@app.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
@handle_errors
def analogy(
    ctx: typer.Context,
    name: str,
    k: KOption = 5,
    db: DbOption = "omnivec.db",
    token: TokenOption = "",
    as_json: JsonOption = False,
) -> None:
    """Word arithmetic, as gensim's most_similar: `omnivec analogy words --positive king woman
    --negative man [-k 5]` prints the words nearest to king - man + woman."""
    pos, neg = _words_of(list(ctx.args))
    with open_platform(db, token) as plat:
        col = plat.existing_collection(name)
        print_hits(col.analogy(positive=pos, negative=neg, k=k), as_json)


def _words_of(args: list[str]) -> tuple[list[str], list[str]]:
    """``--positive a b --negative c`` (also ``-p``/``-n``, repeatable) into two word lists."""
    lists: dict[str, list[str]] = {"positive": [], "negative": []}
    current: str | None = None
    for arg in args:
        flag = {"--positive": "positive", "-p": "positive"}.get(arg) or {
            "--negative": "negative",
            "-n": "negative",
        }.get(arg)
        if flag is not None:
            current = flag
        elif arg.startswith("--positive=") or arg.startswith("--negative="):
            key, _, value = arg[2:].partition("=")
            lists[key].extend(value.split())
        elif current is None or arg.startswith("-"):
            raise InvalidInputError(
                f"unexpected argument {arg!r}: give words after --positive and --negative"
            )
        else:
            lists[current].append(arg)
    if not lists["positive"] and not lists["negative"]:
        raise InvalidInputError("give words: --positive king woman --negative man")
    return lists["positive"], lists["negative"]

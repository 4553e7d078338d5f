"""The ``omnivec`` command's Typer app, shared options and error handling."""

from __future__ import annotations

import csv
import functools
import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Annotated, Any, TypeVar

import typer

from omnivec.core.quiet import quiet_third_party
from omnivec.errors import NotFoundError, OmnivecError

app = typer.Typer(
    name="omnivec",
    help="Text, images, graph nodes and users/items as vectors, in one store, behind one query API.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

F = TypeVar("F", bound=Callable[..., Any])

VERBOSE_FLAGS = ("-v", "--verbose")


@app.callback()
def global_options(
    verbose: Annotated[
        bool,
        typer.Option(
            "-v",
            "--verbose",
            help="Let third-party libraries (gRPC, transformers, torch, ...) print their log "
            "lines and warnings; by default only omnivec's output and progress bars show.",
        ),
    ] = False,
) -> None:
    """Text, images, graph nodes and users/items as vectors, in one store, behind one query
    API."""
    # Before any command imports pymilvus (gRPC reads its log level once, when it loads).
    quiet_third_party(verbose)


DbOption = Annotated[
    str,
    typer.Option(
        "--db", envvar="OMNIVEC_URI", help="Milvus Lite file (*.db) or Milvus server URI."
    ),
]
TokenOption = Annotated[
    str, typer.Option("--token", envvar="OMNIVEC_TOKEN", help="Token for a Milvus server.")
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON (what the HTTP API answers).")]
KOption = Annotated[int, typer.Option("-k", "--k", help="Number of hits (1 to 16384).")]
WhereOption = Annotated[
    str | None,
    typer.Option("--where", help="Milvus filter over metadata, e.g. 'lang == \"en\"'."),
]
ModeOption = Annotated[
    str | None,
    typer.Option("--mode", help="dense, keyword (BM25) or hybrid (default with keywords)."),
]

TEXT_SUFFIXES = {".txt", ".md"}
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff"}


def fail(message: str) -> None:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(1)


def handle_errors(fn: F) -> F:
    """Turn omnivec errors (and unreadable files) into one line on stderr and exit code 1."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except OmnivecError as exc:
            fail(str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
        except (OSError, UnicodeDecodeError, csv.Error, json.JSONDecodeError) as exc:
            fail(f"{exc}")
        return None

    return wrapper  # type: ignore[return-value]


@contextmanager
def open_platform(db: str, token: str = "") -> Iterator[Any]:
    import omnivec as ov

    with ov.connect(db, token=token) as plat:
        yield plat


def print_json(payload: Any) -> None:
    typer.echo(json.dumps(payload, ensure_ascii=False, default=str))


def print_hits(hits: list[Any], as_json: bool) -> None:
    from omnivec.core.queries import hits_payload

    if as_json:
        print_json(hits_payload(hits))
        return
    if not hits:
        typer.echo("(no hits)")
    for rank, hit in enumerate(hits, 1):
        meta = {k: v for k, v in hit.metadata.items() if k != "thumbnail"}
        extra = "  " + json.dumps(meta, ensure_ascii=False, default=str)[:120] if meta else ""
        typer.echo(f"{rank:>3}. {hit.score:8.4f}  {hit.id}{extra}")
        shown = hit.passage or hit.text
        if shown:
            # The matched passage of a long record, on one line.
            line = " ".join(shown.split())
            typer.echo(f"     {line[:200]}{'…' if len(line) > 200 else ''}")


def parse_scalar(text: str) -> Any:
    """Node and user ids from files and the command line: integers become int."""
    text = text.strip()
    try:
        return int(text)
    except ValueError:
        return text


def resolve_id(collection: Any, text: str) -> Any:
    """The stored id the user means: ``7`` may be the int 7 or the str "7"."""
    parsed = parse_scalar(text)
    candidates = [parsed, text] if parsed != text else [text]
    for cand in candidates:
        try:
            collection.get([cand])
            return cand
        except NotFoundError:
            continue
    raise NotFoundError(f"id {text!r} is not in collection {collection.name!r}")

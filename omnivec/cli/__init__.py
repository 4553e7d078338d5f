"""The ``omnivec`` command: build, inspect and query collections; serve them; run the demo.

Every command takes ``--db`` (a Milvus Lite file or a server URI; default ``./omnivec.db`` or
``$OMNIVEC_URI``). Errors print one line on stderr and exit with status 1; ``--json`` prints
exactly what the HTTP API answers. Commands live in :mod:`omnivec.cli.commands` and
:mod:`omnivec.cli.organise`, registered on the Typer app of :mod:`omnivec.cli.app`.
"""

from __future__ import annotations

import sys

import typer

from omnivec.cli import ask, commands, organise, words
from omnivec.cli.app import VERBOSE_FLAGS, app

__all__ = ["app", "ask", "commands", "main", "organise", "verbose_first", "words"]


def verbose_first(argv: list[str]) -> list[str]:
    """``-v/--verbose`` is a global option; accept it after the command name too
    (``omnivec demo -v``) by moving it to the front (never past a ``--``)."""
    end = argv.index("--") if "--" in argv else len(argv)
    flags = [a for a in argv[:end] if a in VERBOSE_FLAGS]
    if not flags:
        return argv
    return ["--verbose", *(a for a in argv[:end] if a not in VERBOSE_FLAGS), *argv[end:]]


def main() -> None:
    """Console-script entry point: usage mistakes, like every other error, are one line on
    stderr and exit status 1."""
    # typer vendors click; its UsageError is the base class of the public typer.BadParameter.
    usage_error: type[Exception] = typer.BadParameter.__mro__[1]  # type: ignore[assignment]
    try:
        code = app(args=verbose_first(sys.argv[1:]), standalone_mode=False)
    except usage_error as exc:
        if not exc.format_message():  # type: ignore[attr-defined]
            raise SystemExit(0) from None  # bare `omnivec`: help was printed
        ctx = getattr(exc, "ctx", None)
        hint = f" (see `{ctx.command_path} --help`)" if ctx is not None else ""
        typer.echo(f"error: {exc.format_message()}{hint}", err=True)  # type: ignore[attr-defined]
        raise SystemExit(1) from None
    except typer.Abort:
        typer.echo("error: aborted", err=True)
        raise SystemExit(1) from None
    raise SystemExit(code if isinstance(code, int) else 0)

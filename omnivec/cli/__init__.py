"""The ``omnivec`` command: build, inspect and query collections; serve them; run the demo.

Every command takes ``--db`` (a Milvus Lite file or a server URI; default ``./omnivec.db`` or
``$OMNIVEC_URI``). Errors print one line on stderr and exit with status 1; ``--json`` prints
exactly what the HTTP API answers. Commands live in :mod:`omnivec.cli.commands` and
:mod:`omnivec.cli.organise`, registered on the Typer app of :mod:`omnivec.cli.app`.
"""

from __future__ import annotations

import typer

from omnivec.cli import commands, organise
from omnivec.cli.app import app

__all__ = ["app", "commands", "main", "organise"]


def main() -> None:
    """Console-script entry point: usage mistakes, like every other error, are one line on
    stderr and exit status 1."""
    # typer vendors click; its UsageError is the base class of the public typer.BadParameter.
    usage_error: type[Exception] = typer.BadParameter.__mro__[1]  # type: ignore[assignment]
    try:
        code = app(standalone_mode=False)
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

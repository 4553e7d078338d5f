"""Start a Milvus Lite server process on 127.0.0.1 for tests of the server (gRPC) path.

Run as ``python -m tests.milvus_server DB_PATH PORT``; it serves until it is terminated.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import warnings
from collections.abc import Iterator
from pathlib import Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _serve(db_path: str, port: int) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from milvus_lite.server import Server

    server = Server(db_path, address=f"127.0.0.1:{port}")
    if not server.init() or not server.start():
        sys.exit(1)

    def stop(*_: object) -> None:
        assert server._p is not None
        server._p.kill()
        server._p.wait()
        sys.exit(0)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    while server._p is not None and server._p.poll() is None:
        time.sleep(0.2)


def _answers(uri: str) -> bool:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from pymilvus import MilvusClient

    try:
        client = MilvusClient(uri=uri, timeout=5)
        client.list_collections()
        client.close()
        return True
    except Exception:  # noqa: BLE001 - not ready yet, whatever the reason
        return False


@contextlib.contextmanager
def milvus_server(directory: Path) -> Iterator[str]:
    """Yield ``http://127.0.0.1:PORT`` of a fresh Milvus Lite server; stop it afterwards."""
    port = free_port()
    db = directory / "server.db"
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.milvus_server", str(db), str(port)],
        cwd=Path(__file__).resolve().parent.parent,
        env={**os.environ, "PYTHONWARNINGS": "ignore"},
    )
    deadline = time.monotonic() + 60
    try:
        while True:
            if proc.poll() is not None:
                raise RuntimeError("the Milvus Lite server process exited")
            with socket.socket() as s:
                port_open = s.connect_ex(("127.0.0.1", port)) == 0
            # An open port is not a ready server: a client connecting too early can be sent
            # a GOAWAY. Ready means a real client call answers.
            if port_open and _answers(f"http://127.0.0.1:{port}"):
                break
            if time.monotonic() > deadline:
                raise RuntimeError("the Milvus Lite server did not start in 60 s")
            time.sleep(0.2)
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


if __name__ == "__main__":
    _serve(sys.argv[1], int(sys.argv[2]))

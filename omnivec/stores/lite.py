"""Milvus Lite's process lifecycle: one server process per file, file locks, orphan servers.

The data path (:mod:`omnivec.stores.milvus`) only calls :func:`open_lite`,
:func:`release_lite` and :func:`through_lite_setup` (a Lite server's start-up fault); everything
else here is about who may have a Lite file open.

milvus-lite runs one server process per file and keeps it (and the file lock) until the Python
process exits, even after ``MilvusClient.close()``; omnivec counts open stores per file and the
last one to close releases it (docs/reliability.md).
"""

from __future__ import annotations

import hashlib
import logging
import os
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from omnivec.errors import StoreUnavailableError
from omnivec.stores.errors import lite_init_fault, not_listening

__all__ = [
    "ORPHAN_WAIT_S",
    "in_use_message",
    "lite_file_locked",
    "lite_servers",
    "lite_version",
    "open_lite",
    "release_lite",
    "through_lite_setup",
]

logger = logging.getLogger(__name__)

T = TypeVar("T")

#: Open MilvusStores per Lite file in this process.
_LITE_USERS: dict[str, int] = {}
_LITE_USERS_LOCK = threading.Lock()
#: omnivec's own lock per Lite file (``.NAME.omnivec.lock``, flock), held while the file is open.
_LITE_GUARDS: dict[str, Any] = {}
#: How long opening a Lite file waits for the server of a crashed process to exit.
ORPHAN_WAIT_S = 5.0
#: How long opening a Lite file keeps connecting to the server it started while that
#: process runs (each attempt waits up to the connection timeout).
LITE_START_WAIT_S = 60.0
#: Pauses before running a call again that met Lite's start-up fault (:func:`lite_init_fault`).
LITE_SETUP_RETRY_PAUSES_S = (0.1, 0.3, 1.0)


def open_lite(uri: str, connect: Callable[[], T]) -> T:
    """Take this process's hold on the Lite file ``uri`` and return ``connect()``'s client.

    The first open in a process takes omnivec's file lock, waits out a crashed process's
    server and starts milvus-lite's server with its stderr in a log file; later opens only
    count. If ``connect`` fails, the hold is given back.
    """
    with _LITE_USERS_LOCK:
        first = uri not in _LITE_USERS
        if first:
            _acquire_lite_guard(uri)
        try:
            if first:
                _start_lite_server(uri)
                client = _connect_started(uri, connect)
            else:
                client = connect()
        except BaseException:
            if first:
                _drop_lite_guard(uri)
            raise
        _LITE_USERS[uri] = _LITE_USERS.get(uri, 0) + 1
        return client


def _connect_started(uri: str, connect: Callable[[], T]) -> T:
    """``connect()`` to the server just started for ``uri``, trying again while its process
    is alive but has not opened its socket yet: milvus-lite waits only half a second after
    starting it, and on a loaded machine its socket has been seen to take longer than one
    connection timeout (seen twice in ~1,000 opens here: "No such file or directory")."""
    deadline = time.monotonic() + LITE_START_WAIT_S
    while True:
        try:
            return connect()
        except Exception as exc:
            if (
                not not_listening(exc)
                or time.monotonic() >= deadline
                or not _lite_server_running(uri)
            ):
                raise
            logger.warning("Milvus Lite for %s is still starting (%s); waiting for it", uri, exc)
            time.sleep(0.2)


def through_lite_setup(uri: str, fn: Callable[[], T]) -> T:
    """``fn()``, run again after a short pause while it meets Milvus Lite's start-up fault.

    A Lite server sets its mmap manager up on its first collection create or load, in a
    folder every Lite process of the user shares; two processes starting at once can race
    on it, and the create fails although the same call succeeds a moment later (see
    :func:`omnivec.stores.errors.lite_init_fault`). The fault comes before the call changed
    anything, and the creates and loads omnivec runs are idempotent, so running it again is
    safe. Any other failure, and the fault after the last pause, stand as they are."""
    for pause in LITE_SETUP_RETRY_PAUSES_S:
        try:
            return fn()
        except Exception as exc:
            if not lite_init_fault(exc):
                raise
            reason = " ".join(str(getattr(exc, "message", exc)).split())[:120]
            logger.warning("Milvus Lite for %s is still setting up (%s); trying again", uri, reason)
            time.sleep(pause)
    return fn()


def _lite_server_running(path: str) -> bool:
    """Whether milvus-lite's server process for ``path`` runs (False when it cannot tell)."""
    from milvus_lite.server_manager import server_manager_instance

    servers = getattr(server_manager_instance, "_servers", {})
    server = servers.get(str(Path(path).absolute().resolve()))
    process = getattr(server, "_p", None)
    return process is not None and process.poll() is None


def _start_lite_server(path: str) -> None:
    """Start milvus-lite's server process for ``path`` with its stderr going to a log file.

    The process inherits stderr and its query parser prints raw diagnostics there (for every
    malformed filter, say), which omnivec already reports as one-line errors. pymilvus reuses
    the process started here. The log lives in the temp dir, named after the database file.
    """
    from milvus_lite.server_manager import server_manager_instance

    digest = hashlib.sha256(path.encode()).hexdigest()[:12]
    log_path = Path(tempfile.gettempdir()) / f"omnivec-milvus-lite-{digest}.log"
    with open(log_path, "ab") as log:
        saved = os.dup(2)
        sys.stderr.flush()
        os.dup2(log.fileno(), 2)
        try:
            started = server_manager_instance.start_and_get_uri(path)
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
    if started is None:
        raise StoreUnavailableError(
            f"cannot open the Milvus Lite file {path}: it is open in another process (Milvus Lite "
            "allows one process per file); close that process or use a Milvus server "
            f"(details in {log_path})"
        )


def lite_file_locked(uri: str) -> bool:
    """Whether another process holds milvus-lite's lock on ``uri`` (its ``.NAME.lock`` file)."""
    lock_path = Path(uri).parent / f".{Path(uri).name}.lock"
    if uri in _LITE_USERS or not lock_path.exists():
        return False
    try:
        import fcntl

        from milvus_lite.server_manager import server_manager_instance

        # POSIX locks belong to the process: probing a lock this process holds (via its own
        # lite server) would release it, so only probe files this process has not opened.
        if uri in getattr(server_manager_instance, "_servers", {}):
            return False

        with open(lock_path, "a") as fd:
            try:
                fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                return True
            fcntl.lockf(fd, fcntl.LOCK_UN)
    except (ImportError, OSError):
        return False
    return False


def release_lite(uri: str) -> None:
    """Stop this process's milvus-lite server for ``uri`` once no open store uses it, so the
    file lock is freed (another process can open the file) and the server's memory returned."""
    with _LITE_USERS_LOCK:
        left = _LITE_USERS.get(uri, 0) - 1
        if left > 0:
            _LITE_USERS[uri] = left
            return
        _LITE_USERS.pop(uri, None)
        try:
            from milvus_lite.server_manager import server_manager_instance

            server_manager_instance.release_server(uri)
        except Exception:
            logger.debug("releasing the Milvus Lite server for %s failed", uri, exc_info=True)
        _drop_lite_guard(uri)


def lite_servers(uri: str) -> list[int]:
    """PIDs of milvus-lite server processes serving ``uri`` that this process did not start
    (Linux ``/proc``; elsewhere none are found)."""
    me, target, out = os.getpid(), os.fsencode(uri), []
    try:
        entries = list(Path("/proc").iterdir())
    except OSError:
        return []
    for entry in entries:
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
            if len(argv) < 2 or os.path.basename(argv[0]) != b"milvus" or argv[1] != target:
                continue
            stat = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if stat[0] != "Z" and int(stat[1]) != me:
            out.append(int(entry.name))
    return out


def _acquire_lite_guard(uri: str) -> None:
    """Make this process the only omnivec process with ``uri`` open, before milvus-lite runs.

    Why: milvus-lite 2.5.1's lock is not enough. A process whose open fails deletes the lock
    file it could not take, so a third process then opens the file beside the first; and the
    server of a SIGKILLed process only exits when it sees the lock free, so a process that
    reopens the file at once can end up with two servers on one file. omnivec therefore
    holds its own flock, and waits for a crashed process's server to exit before starting.
    """
    import fcntl

    path = Path(uri)
    try:
        fd = open(path.parent / f".{path.name}.omnivec.lock", "a")  # noqa: SIM115 - held open
    except OSError as exc:
        raise StoreUnavailableError(
            f"cannot open the Milvus Lite file {uri}: {exc.strerror or exc}; "
            "pick a path in a writable folder"
        ) from exc
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        fd.close()
        raise StoreUnavailableError(in_use_message(uri)) from exc
    deadline = time.monotonic() + ORPHAN_WAIT_S
    while pids := lite_servers(uri):
        if time.monotonic() > deadline:
            fd.close()
            if lite_file_locked(uri):
                raise StoreUnavailableError(in_use_message(uri))
            raise StoreUnavailableError(
                f"a Milvus Lite server left by a process that ended (pid {pids[0]}) still has "
                f"{uri} open; stop it (kill {pids[0]}) and open the file again"
            )
        time.sleep(0.02)
    if lite_file_locked(uri):
        fd.close()
        raise StoreUnavailableError(in_use_message(uri))
    _LITE_GUARDS[uri] = fd


def _drop_lite_guard(uri: str) -> None:
    fd = _LITE_GUARDS.pop(uri, None)
    if fd is not None:
        fd.close()  # closing the file releases the flock


def in_use_message(uri: str) -> str:
    return (
        f"the Milvus Lite file {uri} is open in another process, and Milvus Lite allows one "
        "process per file: close that process, or serve the file with a Milvus server and "
        "connect to its URI"
    )


def lite_version() -> str:
    try:
        from importlib.metadata import version

        return version("milvus-lite")
    except Exception:  # noqa: BLE001
        return "unknown"

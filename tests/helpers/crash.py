"""Run the crash child (``tests/crash_child.py``), kill it at a chosen line, reopen its file."""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import omnivec as ov
from omnivec.stores.lite import lite_servers

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Run:
    """What one child process reported before it was killed."""

    acked: list[int] = field(default_factory=list)
    begun: list[int] = field(default_factory=list)
    lines: list[str] = field(default_factory=list)


def run_child(
    db: str,
    kill_on: str | None,
    *args: str,
    timeout: float = 90.0,
    module: str = "tests.crash_child",
) -> Run:
    """Run the child until it prints ``kill_on`` (then SIGKILL it) or exits."""
    proc = subprocess.Popen(
        [sys.executable, "-m", module, db, *args],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env={**os.environ, "PYTHONWARNINGS": "ignore"},
    )
    assert proc.stdout is not None
    run = Run()
    deadline = time.monotonic() + timeout
    try:
        while True:
            ready, _, _ = select.select([proc.stdout], [], [], 1.0)
            if time.monotonic() > deadline:
                raise AssertionError(f"child did not print {kill_on!r} in {timeout} s: {run.lines}")
            if not ready:
                continue
            line = proc.stdout.readline().strip()
            if not line:
                assert kill_on is None, f"child exited before {kill_on!r}: {run.lines}"
                break
            run.lines.append(line)
            word, *rest = line.split()
            if word == "ack":
                run.acked.append(int(rest[0]))
            elif word == "begin":
                run.begun.append(int(rest[0]))
            if line == kill_on:
                os.kill(proc.pid, signal.SIGKILL)
                proc.wait(30)
                # The child ran on until the signal landed: a batch it began meanwhile may be
                # (partly) stored, so it counts as begun; its late acks are not the test's.
                for late in proc.stdout:
                    word, *rest = late.split() or [""]
                    if word == "begin":
                        run.begun.append(int(rest[0]))
                break
    finally:
        proc.stdout.close()
        if proc.poll() is None and kill_on is None:
            proc.wait(30)
        proc.kill()
        proc.wait(30)
    return run


def reopen(db: str) -> ov.Platform:
    plat = ov.connect(db)
    # The killed process's milvus-lite server is gone before the store starts its own.
    assert lite_servers(plat.uri) == []
    return plat

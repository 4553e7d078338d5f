"""torch's thread count is set once per process, never per call or from request threads."""

from __future__ import annotations

import subprocess
import sys
import textwrap


def test_set_once_and_never_from_later_calls() -> None:
    code = textwrap.dedent(
        """
        import threading
        import torch
        from omnivec.core.threads import use_torch_threads, configured_torch_threads

        assert configured_torch_threads() is None
        assert use_torch_threads(None) is None          # no request: torch untouched
        before = torch.get_num_threads()
        assert use_torch_threads(1) == 1
        assert torch.get_num_threads() == 1
        seen = []
        t = threading.Thread(target=lambda: seen.append(use_torch_threads(2)))
        t.start(); t.join()
        assert seen == [1] and torch.get_num_threads() == 1   # a later request changes nothing
        print("ok", before)
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.startswith("ok")


def test_environment_chooses_for_every_encoder() -> None:
    code = (
        "import torch; from omnivec.core.threads import use_torch_threads;"
        "use_torch_threads(2); print(torch.get_num_threads())"
    )
    env = {**__import__("os").environ, "OMNIVEC_TORCH_THREADS": "1"}
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        check=False,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == "1"

"""torch's intra-op thread count, set once per process.

``torch.set_num_threads`` is process-global: setting and restoring it around each call races
when calls come from several threads (a server's request threads), and one call then runs
with another's setting. omnivec sets it at most once, the first time an encoder asks for a
count (at model load or the first fit), and never from a later call; a later, different
request is logged and ignored. ``OMNIVEC_TORCH_THREADS`` overrides every request.
"""

from __future__ import annotations

import logging
import os
import threading

__all__ = ["configured_torch_threads", "use_torch_threads"]

logger = logging.getLogger(__name__)

_lock = threading.Lock()
_configured: int | None = None


def use_torch_threads(n: int | None) -> int | None:
    """Ask for ``n`` torch intra-op threads; returns the process's setting (``None``: torch's
    default, untouched). Only the first request (or ``$OMNIVEC_TORCH_THREADS``) takes effect."""
    global _configured
    env = os.environ.get("OMNIVEC_TORCH_THREADS", "").strip()
    wanted = int(env) if env.isdigit() and int(env) > 0 else n
    if wanted is None:
        return _configured
    with _lock:
        if _configured is None:
            import torch

            if torch.get_num_threads() != wanted:
                torch.set_num_threads(wanted)
            _configured = wanted
        elif _configured != wanted:
            logger.info(
                "torch already uses %d threads in this process; ignoring a request for %d "
                "(set OMNIVEC_TORCH_THREADS to choose one count for every encoder)",
                _configured,
                wanted,
            )
        return _configured


def configured_torch_threads() -> int | None:
    """The count omnivec set in this process, or ``None`` if it has set none."""
    return _configured

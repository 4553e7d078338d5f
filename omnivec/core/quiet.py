"""Keep third-party log lines off a user's terminal: what the command line, the server and
the demo call first, before any heavy library loads.

Nothing here runs at ``import omnivec``: only the entry points (``omnivec`` and
``python -m omnivec.server``) call :func:`quiet_third_party`, and ``-v/--verbose`` skips it.
Users' own settings win: environment variables already set are left as they are. omnivec's
own progress bars and messages are not affected.
"""

from __future__ import annotations

import logging
import os
import warnings

__all__ = ["ENV_DEFAULTS", "NOISY_LOGGERS", "WARNING_MESSAGES", "QuietFilter", "quiet_third_party"]

#: Read by the libraries when they load, so they must be set before they do.
ENV_DEFAULTS = {
    # gRPC's C core (under pymilvus) logs connection events such as a server's GOAWAY
    # ("too_many_pings", ENHANCE_YOUR_CALM) at ERROR level, which omnivec retries itself.
    # NONE (not ERROR) is what silences those; it is read when grpc is first imported.
    "GRPC_VERBOSITY": "NONE",
    "GRPC_TRACE": "",
    # transformers' own log lines and its weight-loading progress bars (huggingface_hub's
    # switch; omnivec's progress bars are plain tqdm and stay).
    "TRANSFORMERS_VERBOSITY": "error",
    "HF_HUB_DISABLE_PROGRESS_BARS": "1",
    "TF_CPP_MIN_LOG_LEVEL": "3",
}

#: Loggers whose INFO/DEBUG lines are library chatter: raised to WARNING (their children
#: inherit it), and filtered too, since some set their own level when they load (jieba).
NOISY_LOGGERS = (
    "absl",
    "transformers",
    "sentence_transformers",
    "huggingface_hub",
    "jieba",
    "faiss",
    "faiss.loader",
    "numba",
    "httpx",
    "httpcore",
    "openai",
    "gensim",
    "urllib3",
    "matplotlib",
    "PIL",
    "torch",
    "open_clip",
    "milvus_lite",
)

#: Warnings from libraries that say nothing a user of omnivec can act on.
WARNING_MESSAGES = (
    (r".*torch\.jit\.script.*deprecated", FutureWarning),
    (r".*torch\.jit\.(trace|script_method|ignore).*deprecated", FutureWarning),
    (r"pkg_resources is deprecated", UserWarning),
    (r".*`resume_download` is deprecated", FutureWarning),
    (r".*TRANSFORMERS_CACHE.*", FutureWarning),
    (r".*encoder_attention_mask.*deprecated", FutureWarning),
)


class QuietFilter(logging.Filter):
    """Lets through only WARNING and above (errors a user should see stay visible)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno >= logging.WARNING


def quiet_third_party(verbose: bool = False) -> None:
    """Silence third-party logs, warnings and weight-loading bars for this process.

    Call it first in an entry point, before pymilvus/grpc, torch or transformers load (the
    gRPC setting is read only then). ``verbose=True`` changes nothing, so every library speaks
    as it would. Idempotent.
    """
    if verbose:
        return
    for key, value in ENV_DEFAULTS.items():
        os.environ.setdefault(key, value)
    for message, category in WARNING_MESSAGES:
        warnings.filterwarnings("ignore", message=message, category=category)
    for name in NOISY_LOGGERS:
        logger = logging.getLogger(name)
        if logger.level < logging.WARNING:
            logger.setLevel(logging.WARNING)
        if not any(isinstance(f, QuietFilter) for f in logger.filters):
            logger.addFilter(QuietFilter())
    _quiet_loaded_libraries()


def _quiet_loaded_libraries() -> None:
    """Libraries already imported read their settings at import; tell them directly."""
    import sys

    if "transformers" in sys.modules:
        from transformers.utils import logging as hf_logging

        hf_logging.set_verbosity_error()
        hf_logging.disable_progress_bar()

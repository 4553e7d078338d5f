"""Language models behind an OpenAI-compatible chat API, for ``ask``: :func:`llm` and :class:`LLM`.

``ov.llm(model=, base_url=, ...)`` describes an endpoint and contacts nothing; the first request
happens inside ``ask`` (and only when a relevant passage was retrieved). Requests go through the
official ``openai`` client's chat completions, so llama.cpp's server, Ollama, vLLM, LM Studio,
OpenAI and the OpenAI-compatible modes of other clouds all work.

The API key is read from the environment variable ``api_key_env`` at each request and kept
nowhere: not on the object, not in its ``repr``, not in any error (a server's own error text is
scrubbed of it), log or answer. Failures are :class:`~omnivec.errors.LLMError` with one line
naming the URL and what to do.
"""

from __future__ import annotations

import json
import os
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from omnivec.errors import InvalidInputError, LLMError

__all__ = [
    "DEFAULT_CONTEXT_TOKENS",
    "ENV_LLM_MODEL",
    "ENV_LLM_URL",
    "LLM",
    "PromptTooLong",
    "as_llm",
    "context_overflow",
    "llm",
]

#: Where ``llm=None`` finds an endpoint, and the model to ask for there.
ENV_LLM_URL = "OMNIVEC_LLM_URL"
ENV_LLM_MODEL = "OMNIVEC_LLM_MODEL"
#: The context assumed when neither ``max_context_tokens=`` nor ``/v1/models`` says.
DEFAULT_CONTEXT_TOKENS = 4096
#: Keys under which servers report a model's context in ``/v1/models`` (vLLM, LM Studio,
#: llama.cpp's newer ``meta``, OpenRouter-style listings).
_CONTEXT_KEYS = (
    "max_model_len",
    "context_length",
    "context_window",
    "max_context_length",
    "n_ctx",
    "n_ctx_train",
    "max_position_embeddings",
)
_OVERFLOW = re.compile(
    r"(context length|context window|maximum context|too long|exceeds? (the )?context|"
    r"n_ctx|reduce the length)",
    re.IGNORECASE,
)
_CONTEXT_NUMBER = re.compile(
    r"(?:maximum context length is|context window of|context length of|n_ctx[ =:]+)\s*(\d+)",
    re.IGNORECASE,
)

_PROMPT_NUMBER = re.compile(r"(\d+) in the messages", re.IGNORECASE)

_contexts: dict[tuple[str, str], int | None] = {}
_contexts_lock = threading.Lock()


def _normalise_url(url: str) -> str:
    """``http://host:port`` and ``http://host:port/`` mean the server's ``/v1`` API."""
    import urllib.parse  # ~20 ms: not at ``import omnivec``

    if not isinstance(url, str) or not url.strip():
        raise InvalidInputError(
            "llm= needs the URL of an OpenAI-compatible API, e.g. http://127.0.0.1:8080/v1"
        )
    url = url.strip()
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise InvalidInputError(
            f"LLM URL {url!r} is not an http(s) URL; pass e.g. http://127.0.0.1:8080/v1"
        )
    if parts.username or parts.password:
        raise InvalidInputError(
            "put no credentials in the LLM URL; pass api_key_env= the name of an environment "
            "variable that holds the key"
        )
    if parts.path in ("", "/"):
        url = urllib.parse.urlunsplit((parts.scheme, parts.netloc, "/v1", "", ""))
    return url.rstrip("/")


class PromptTooLong(LLMError):
    """The server refused a prompt over its context: ``context`` is the context it named (or
    ``None``), ``prompt_tokens`` its count of the prompt's tokens (or ``None``)."""

    def __init__(self, message: str, context: int | None, prompt_tokens: int | None) -> None:
        super().__init__(message)
        self.context = context
        self.prompt_tokens = prompt_tokens


@dataclass(frozen=True)
class LLM:
    """An OpenAI-compatible chat endpoint (see :func:`llm`); holds no key and no connection."""

    base_url: str
    model: str | None = None
    api_key_env: str | None = None
    temperature: float = 0.0
    max_tokens: int = 256
    timeout: float = 60.0

    @property
    def model_name(self) -> str:
        """The model asked for (servers that serve one model, such as llama.cpp's, ignore it)."""
        return self.model or "default"

    def to_dict(self) -> dict[str, Any]:
        """What may be shown about this endpoint (no key; the key's variable name at most)."""
        return {
            "base_url": self.base_url,
            "model": self.model_name,
            "api_key_env": self.api_key_env,
            "temperature": self.temperature,
            "max_tokens": self.max_tokens,
            "timeout": self.timeout,
        }

    # -- requests ---------------------------------------------------------------------------
    def _key(self) -> str:
        if self.api_key_env is None:
            # Local servers (llama.cpp, Ollama, vLLM without --api-key) want no key, but the
            # client insists on one.
            return "none"
        key = os.environ.get(self.api_key_env)
        if not key:
            raise LLMError(
                f"the LLM at {self.base_url} needs an API key: set the environment variable "
                f"{self.api_key_env} (api_key_env=) to it"
            )
        return key

    def _client(self) -> tuple[Any, str]:
        import openai

        key = self._key()
        client = openai.OpenAI(
            base_url=self.base_url, api_key=key, timeout=self.timeout, max_retries=0
        )
        return client, key

    def complete(self, messages: list[dict[str, str]], max_tokens: int | None = None) -> str:
        """The model's whole reply to ``messages`` (chat format)."""
        client, key = self._client()
        try:
            reply = client.chat.completions.create(
                model=self.model_name,
                messages=messages,
                temperature=self.temperature,
                max_tokens=max_tokens or self.max_tokens,
            )
        except Exception as exc:  # noqa: BLE001 - every client failure becomes one LLMError
            raise self.error(exc, key) from None
        if not reply.choices:
            raise LLMError(f"the LLM at {self.base_url} answered no choices; check the server")
        return reply.choices[0].message.content or ""

    def stream(
        self, messages: list[dict[str, str]], max_tokens: int | None = None
    ) -> Iterator[str]:
        """The model's reply to ``messages`` in pieces, as the server sends them. The request
        is made when iteration starts; failures are :class:`LLMError`."""
        client, key = self._client()
        try:
            chunks = client.chat.completions.create(
                model=self.model_name,
                messages=messages,
                temperature=self.temperature,
                max_tokens=max_tokens or self.max_tokens,
                stream=True,
            )
            for chunk in chunks:
                if not chunk.choices:
                    continue
                piece = chunk.choices[0].delta.content
                if piece:
                    yield piece
        except LLMError:
            raise
        except Exception as exc:  # noqa: BLE001
            raise self.error(exc, key) from None

    def context_tokens(self) -> int | None:
        """The model's context in tokens as ``GET /v1/models`` reports it (vLLM, LM Studio and
        others do; llama.cpp's server of this era and Ollama do not), else ``None``. Asked once
        per endpoint and model; an endpoint that cannot be reached is not an error here (the
        chat request that follows reports it)."""
        cache_key = (self.base_url, self.model_name)
        with _contexts_lock:
            if cache_key in _contexts:
                return _contexts[cache_key]
        found: int | None = None
        try:
            client, _ = self._client()
            listing = client.with_options(timeout=min(self.timeout, 10.0)).models.list()
            entries = [m.model_dump() for m in listing.data]
        except Exception:  # noqa: BLE001 - an optional lookup
            return None
        chosen = [e for e in entries if e.get("id") == self.model] or entries[:1]
        for entry in chosen:
            found = _context_of(entry)
            if found:
                break
        with _contexts_lock:
            _contexts[cache_key] = found
        return found

    # -- errors ------------------------------------------------------------------------------
    def error(self, exc: BaseException, key: str | None = None) -> LLMError:
        """One-line :class:`LLMError` for a client failure, naming the URL and the fix."""
        import openai

        url = self.base_url
        if isinstance(exc, openai.APITimeoutError):
            msg = (
                f"the LLM at {url} did not answer within {self.timeout:g} s; raise timeout= in "
                "ov.llm(...), lower max_tokens= or k=, or use a faster model"
            )
        elif isinstance(exc, openai.APIConnectionError):
            msg = (
                f"cannot reach the LLM at {url}: start an OpenAI-compatible server there (e.g. "
                "python -m llama_cpp.server --model MODEL.gguf --port PORT) or pass llm= its URL"
            )
        elif isinstance(exc, openai.AuthenticationError | openai.PermissionDeniedError):
            # The server's text may quote part of the key: leave it out entirely.
            where = (
                f"the environment variable {self.api_key_env}"
                if self.api_key_env
                else "api_key_env= (an environment variable holding the key)"
            )
            msg = (
                f"the LLM at {url} refused the API key (HTTP {exc.status_code}); set {where} "
                "to a valid key"
            )
        elif isinstance(exc, openai.APIStatusError):
            detail = _server_message(exc)
            overflow = context_overflow(exc)
            if overflow is not None:
                msg = (
                    f"the prompt does not fit the context of the LLM at {url} ({detail}); pass a "
                    "smaller max_context_tokens= or k=, or serve the model with a larger context"
                )
                counted = _PROMPT_NUMBER.search(detail)
                return PromptTooLong(
                    _scrub(msg, key), overflow or None, int(counted.group(1)) if counted else None
                )
            if exc.status_code == 404:
                msg = (
                    f"the LLM at {url} has no model {self.model_name!r} or no chat API (HTTP "
                    f"404: {detail}); check model= against GET {url}/models and that the URL "
                    "ends in /v1"
                )
            else:
                msg = f"the LLM at {url} answered HTTP {exc.status_code}: {detail}"
        else:
            msg = f"the LLM at {url} failed: {type(exc).__name__}: {exc}"
        return LLMError(_scrub(msg, key))


def llm(
    model: str | None = None,
    base_url: str | None = None,
    api_key_env: str | None = None,
    temperature: float = 0.0,
    max_tokens: int = 256,
    timeout: float = 60.0,
) -> LLM:
    """An OpenAI-compatible chat model for ``ask``; contacts nothing when created.

    ``base_url`` is the API's root, e.g. ``http://127.0.0.1:8080/v1`` (a bare
    ``http://host:port`` means its ``/v1``); default ``$OMNIVEC_LLM_URL``. ``model`` is the name
    the server knows (default ``$OMNIVEC_LLM_MODEL``; one-model servers such as llama.cpp's
    ignore it). ``api_key_env`` names the environment variable that holds the key (read at each
    request, stored nowhere); ``None`` for local servers that want none.
    """
    url = base_url if base_url is not None else os.environ.get(ENV_LLM_URL)
    if url is None:
        raise InvalidInputError(
            f"ov.llm() needs base_url= (or ${ENV_LLM_URL}): the URL of an OpenAI-compatible "
            "API such as http://127.0.0.1:8080/v1"
        )
    if model is not None and (not isinstance(model, str) or not model.strip()):
        raise InvalidInputError(f"model must be a non-empty str, got {model!r}")
    if api_key_env is not None and (not isinstance(api_key_env, str) or not api_key_env):
        raise InvalidInputError(
            "api_key_env is the NAME of an environment variable that holds the key "
            "(e.g. 'OPENAI_API_KEY'), not the key"
        )
    if isinstance(temperature, bool) or not isinstance(temperature, int | float):
        raise InvalidInputError(f"temperature must be a number, got {temperature!r}")
    if not 0.0 <= float(temperature) <= 2.0:
        raise InvalidInputError(f"temperature must be between 0 and 2, got {temperature!r}")
    if isinstance(max_tokens, bool) or not isinstance(max_tokens, int) or max_tokens < 1:
        raise InvalidInputError(f"max_tokens must be an int >= 1, got {max_tokens!r}")
    if isinstance(timeout, bool) or not isinstance(timeout, int | float) or not timeout > 0:
        raise InvalidInputError(f"timeout must be a number of seconds > 0, got {timeout!r}")
    return LLM(
        base_url=_normalise_url(url),
        model=model if model is not None else os.environ.get(ENV_LLM_MODEL) or None,
        api_key_env=api_key_env,
        temperature=float(temperature),
        max_tokens=max_tokens,
        timeout=float(timeout),
    )


def as_llm(value: Any) -> LLM:
    """``llm=`` as ``ask`` takes it: an :class:`LLM`, a URL string, or ``None`` for
    ``$OMNIVEC_LLM_URL``."""
    if isinstance(value, LLM):
        return value
    if value is None:
        if not os.environ.get(ENV_LLM_URL):
            raise InvalidInputError(
                f"ask needs llm=ov.llm(model=..., base_url=...) or a URL such as "
                f"http://127.0.0.1:8080/v1 (or set ${ENV_LLM_URL})"
            )
        return llm()
    if isinstance(value, str):
        return llm(base_url=value)
    raise InvalidInputError(f"llm= takes ov.llm(...) or a URL string, got {type(value).__name__}")


def context_overflow(exc: BaseException) -> int | None:
    """For a server's "prompt over the context" refusal: the context it names (0 if it names
    none); ``None`` for any other error."""
    status = getattr(exc, "status_code", None)
    if status not in (400, 413, 422, 500):
        return None
    text = _server_message(exc)
    if not _OVERFLOW.search(text):
        return None
    number = _CONTEXT_NUMBER.search(text)
    return int(number.group(1)) if number else 0


def _context_of(entry: dict[str, Any]) -> int | None:
    for holder in (entry, entry.get("meta") or {}, entry.get("details") or {}):
        if not isinstance(holder, dict):
            continue
        for name in _CONTEXT_KEYS:
            value = holder.get(name)
            if isinstance(value, int) and not isinstance(value, bool) and value > 0:
                return value
    return None


def _server_message(exc: BaseException) -> str:
    """The server's own error text, on one line."""
    body = getattr(exc, "body", None)
    text = ""
    if isinstance(body, dict):
        inner = body.get("error", body)
        text = str(inner.get("message", "")) if isinstance(inner, dict) else str(inner)
    elif body is not None:
        text = body if isinstance(body, str) else json.dumps(body, default=str)
    if not text:
        text = str(getattr(exc, "message", "") or exc)
    line = " ".join(text.split())
    return line if len(line) <= 300 else line[:299] + "…"


def _scrub(text: str, key: str | None) -> str:
    line = " ".join(text.split())
    if key and key != "none" and len(key) >= 4:
        line = line.replace(key, "***")
    return line

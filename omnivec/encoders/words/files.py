"""Pretrained word-vector files: which format a file is, its dim without loading it, a hash
for the space fingerprint, and loading into gensim ``KeyedVectors``.

Formats (by name, then by content):

* ``*.kv`` / ``*.model``: gensim ``KeyedVectors.save`` files, memory-mapped (``mmap="r"``).
* ``*.bin`` with ``encoder="word2vec"``: word2vec's binary format (gensim's loader).
* ``*.bin`` with ``encoder="fasttext"``: Facebook fastText's model, with its character n-grams
  (:func:`gensim.models.fasttext.load_facebook_vectors`), so unknown words get vectors.
* anything else: text, one word and its numbers per line, with word2vec's ``"<count> <dim>"``
  header line or without one (GloVe); ``.gz`` files are read compressed. The text reader
  parses each number as gensim does (``numpy.float32(token)``), keeps the first of duplicate
  words as gensim does, and shows a progress bar over the file's bytes.

``limit=N`` keeps the first N words of the file (word2vec, GloVe and fastText files list the
most frequent words first). The fingerprint hashes the file's size and bytes (files over 64
MiB: the first and last 8 MiB and the size) with the format and ``limit``.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import itertools
import os
import struct
from pathlib import Path
from typing import Any

import numpy as np

from omnivec.core.progress import progress_bar
from omnivec.errors import EncoderError, InvalidInputError

__all__ = ["check_file", "file_dim", "file_format", "file_hash", "load_vectors"]

_FB_MAGIC = 793_712_314
_WHOLE = 64 << 20
_PART = 8 << 20


def file_format(path: str, encoder: str) -> str:
    """``"kv"``, ``"facebook"``, ``"w2v-bin"`` or ``"text"``."""
    name = path.lower()
    if name.endswith((".kv", ".model")):
        return "kv"
    if name.endswith(".bin"):
        with open(path, "rb") as fh:
            head = fh.read(4)
        if encoder == "fasttext" or (len(head) == 4 and struct.unpack("<i", head)[0] == _FB_MAGIC):
            return "facebook"  # (fastText files before 0.2 have no magic number)
        return "w2v-bin"
    return "text"


def check_file(path: Any) -> str:
    if not isinstance(path, str | os.PathLike) or not str(path):
        raise InvalidInputError("model= must be the path of a word-vector file")
    if not Path(path).is_file():
        raise InvalidInputError(
            f"word-vector file {str(path)!r} does not exist; pass the path of a .txt/.vec/.bin/"
            ".kv file (or leave model= out to train on your corpus with fit())"
        )
    return str(path)


def _open_text(path: str) -> Any:
    return gzip.open(path, "rb") if path.lower().endswith(".gz") else open(path, "rb")


def _header(line: bytes) -> tuple[int, int] | None:
    parts = line.split()
    if len(parts) == 2 and all(p.isdigit() for p in parts):
        return int(parts[0]), int(parts[1])
    return None


def file_dim(path: str, fmt: str) -> int:
    """The vectors' dim, read from the header (or first line) without loading the file."""
    try:
        if fmt == "facebook":
            with open(path, "rb") as fh:
                magic, _, dim = struct.unpack("<iii", fh.read(12))
            return int(dim if magic == _FB_MAGIC else magic)
        if fmt == "kv":
            from gensim.models import KeyedVectors

            return int(KeyedVectors.load(path, mmap="r").vector_size)
        opener = _open_text if fmt == "text" else lambda p: open(p, "rb")  # noqa: SIM115
        with opener(path) as fh:
            first = fh.readline()
        header = _header(first)
        if header is not None:
            return header[1]
        if fmt == "text":
            return len(first.rstrip().split(b" ")) - 1
    except (OSError, ValueError, struct.error) as exc:
        raise EncoderError(f"cannot read word-vector file {path}: {exc}") from exc
    raise EncoderError(f"{path}: a word2vec .bin file starts with a '<count> <dim>' line")


def file_hash(path: str) -> str:
    """sha256 of the file's size and bytes (large files: first and last 8 MiB)."""
    size = os.path.getsize(path)
    h = hashlib.sha256(str(size).encode())
    with open(path, "rb") as fh:
        if size <= _WHOLE:
            for block in iter(lambda: fh.read(1 << 20), b""):
                h.update(block)
        else:
            h.update(fh.read(_PART))
            fh.seek(size - _PART)
            h.update(fh.read(_PART))
    return h.hexdigest()


def load_vectors(path: str, fmt: str, limit: int | None, progress: bool | None = None) -> Any:
    """gensim ``KeyedVectors`` (``FastTextKeyedVectors`` for a Facebook file) of ``path``."""
    try:
        if fmt == "kv":
            from gensim.models import KeyedVectors

            kv = KeyedVectors.load(path, mmap="r")
            if limit is not None and limit < len(kv):
                small = KeyedVectors(kv.vector_size, dtype=np.float32)
                small.add_vectors(kv.index_to_key[:limit], np.asarray(kv.vectors[:limit]))
                kv = small
            return kv
        if fmt == "facebook":
            from gensim.models.fasttext import load_facebook_vectors

            kv = load_facebook_vectors(path)
            if limit is not None and limit < len(kv):
                words = kv.index_to_key[:limit]
                kv.vectors = kv.vectors[:limit]
                kv.index_to_key = words
                kv.key_to_index = {w: i for i, w in enumerate(words)}
            return kv
        if fmt == "w2v-bin":
            from gensim.models import KeyedVectors

            return KeyedVectors.load_word2vec_format(path, binary=True, limit=limit)
        return _read_text(path, limit, progress)
    except (InvalidInputError, EncoderError):
        raise
    except (OSError, ValueError, UnicodeDecodeError, EOFError, struct.error) as exc:
        raise EncoderError(f"cannot load word-vector file {path}: {exc}") from exc


def _read_text(path: str, limit: int | None, progress: bool | None) -> Any:
    """A word2vec text file (with or without its header line) into ``KeyedVectors``."""
    from gensim.models import KeyedVectors

    size = os.path.getsize(path)
    words: list[str] = []
    seen: set[str] = set()
    rows: list[np.ndarray] = []
    dim = -1
    with (
        _open_text(path) as raw,
        progress_bar(size, f"loading {Path(path).name}", progress, unit="B") as bar,
    ):
        fh = io.BufferedReader(raw) if isinstance(raw, gzip.GzipFile) else raw
        first = fh.readline()
        header = _header(first)
        if header is not None:
            dim = header[1]
            bar.update(len(first))
        line_no = 1 if header is not None else 0
        for line in itertools.chain([] if header is not None else [first], fh):
            if limit is not None and len(words) >= limit:
                break
            bar.update(len(line))
            line_no += 1
            text = line.decode("utf-8").rstrip()
            if not text:
                continue
            parts = text.split(" ")
            if dim < 0:
                dim = len(parts) - 1
            if len(parts) != dim + 1:
                raise EncoderError(
                    f"{path}:{line_no}: expected a word and {dim} numbers, got {len(parts) - 1}"
                )
            word = parts[0]
            if word in seen:
                continue  # gensim keeps the first vector of a duplicate word
            seen.add(word)
            words.append(word)
            rows.append(np.array([np.float32(x) for x in parts[1:]], dtype=np.float32))
    if not words:
        raise EncoderError(f"{path}: no word vectors in the file")
    kv = KeyedVectors(dim, dtype=np.float32)
    kv.add_vectors(words, np.stack(rows))
    n = len(words)
    for i, word in enumerate(words):  # gensim's placeholder counts for files without counts
        kv.set_vecattr(word, "count", n - i)
    return kv

"""Where :class:`omnivec.stores.ann.AnnManager` keeps a Lite file's in-process indexes
(``<db>.omnivec-ann/``): each collection's bookkeeping (``<name>.json``: the kind, the row
count, the versions, whether it was closed cleanly) beside its files, and the clean-close
stamp that says the db file is as this program left it (:class:`IndexFiles`)."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

from omnivec.stores.index_common import versions
from omnivec.stores.mirror import Mirror
from omnivec.stores.mirror_kinds import load_mirror

__all__ = ["IndexFiles"]

logger = logging.getLogger("omnivec.stores.ann")

_STAMP = "_clean.json"
_SUFFIXES = (".json", ".faiss", ".npy", ".keys")


class IndexFiles:
    """The index folder of the Lite file ``uri``."""

    def __init__(self, uri: str) -> None:
        self.uri = uri
        self.folder = Path(uri).parent / f"{Path(uri).name}.omnivec-ann"

    def _db_stat(self) -> list[int]:
        try:
            st = os.stat(self.uri)
        except OSError:
            return [0, 0]
        return [st.st_mtime_ns, st.st_size]

    def check_stamp(self) -> bool:
        """Consume the clean-close stamp; a db file changed since it means another program
        wrote it: no saved index can be trusted. True: the file is unchanged since then."""
        stamp = self.folder / _STAMP
        try:
            recorded = json.loads(stamp.read_text())
        except (OSError, ValueError):
            return False
        stamp.unlink(missing_ok=True)
        if recorded.get("db") != self._db_stat():
            logger.info("omnivec: %s changed since it was closed; rebuilding its indexes", self.uri)
            for book in self.folder.glob("*.json"):
                book.unlink(missing_ok=True)
            return False
        return True

    def stamp(self) -> None:
        """Record the db file's size and mtime after a clean close."""
        if self.folder.is_dir():
            (self.folder / _STAMP).write_text(json.dumps({"db": self._db_stat()}))

    def read_book(self, name: str) -> dict[str, Any] | None:
        try:
            book = json.loads((self.folder / f"{name}.json").read_text())
        except (OSError, ValueError):
            return None
        return book if isinstance(book, dict) else None

    def write_book(self, name: str, book: dict[str, Any]) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        tmp = self.folder / f"{name}.json.tmp"
        tmp.write_text(json.dumps(book, sort_keys=True))
        os.replace(tmp, self.folder / f"{name}.json")

    def drop_book(self, name: str) -> None:
        """Forget the bookkeeping (the files are rebuilt from Milvus when next needed)."""
        (self.folder / f"{name}.json").unlink(missing_ok=True)

    def remove(self, name: str) -> None:
        for suffix in _SUFFIXES:
            (self.folder / f"{name}{suffix}").unlink(missing_ok=True)

    def save(self, name: str, mirror: Mirror) -> None:
        """Write ``mirror``'s files, then its bookkeeping marked clean."""
        mirror.save(self.folder, name)
        self.write_book(name, mirror.book(clean=True))

    def load(
        self,
        name: str,
        book: dict[str, Any] | None,
        rows: int,
        kinds: set[str],
        lock: Any,
    ) -> Mirror | None:
        """The saved copy of ``name`` when its bookkeeping ``book`` matches: these versions,
        closed cleanly, one of ``kinds``, ``rows`` rows, files readable; else None (logged:
        the caller rebuilds it from Milvus)."""
        if book is None:
            return None
        why = [k for k, v in versions().items() if book.get(k) != v]
        if not book.get("clean"):
            why.append("not closed cleanly")
        if book.get("kind") not in kinds:
            why.append("kind")
        if book.get("rows") != rows:
            why.append("row count")
        if not why:
            try:
                return load_mirror(self.folder, name, book, lock)
            # Damaged or foreign files: rebuilt from Milvus (faiss raises RuntimeError).
            except (OSError, EOFError, ValueError, KeyError, TypeError, RuntimeError) as exc:
                why.append(f"unreadable ({exc})")
        logger.info("omnivec: the saved index of %r does not match (%s)", name, ", ".join(why))
        return None

"""Each user's training history (items and weights), kept apart from the user rows.

Why apart: Milvus caps a row's JSON metadata at 64 KiB (a heavy user's history does not fit),
and a user row's metadata comes back in every ``similar_users`` hit, so histories there would
hand every neighbour's whole history to any caller. ``exclude_seen`` and ``partial_fit`` read
them from here instead.

Storage: a side collection ``<recommender>__seen`` (its name is in the recommender's record,
``options["seen"]``; its catalog record, :func:`history_record`, says ``role="seen"``; it is
created with the recommender, through the platform's one creation path) of rows of a 2-d zero
vector whose metadata packs one chunk of one user's history:

* ``items``: the item store keys, separated by spaces (keys never hold a space),
* ``w``: the weights, float32 little-endian, base64,
* ``c`` / ``n``: this chunk's number and the user's number of chunks.

Chunk 0's primary key is the user's store key; chunk ``c >= 1`` is ``"<c>#<hash of the key>"``
with the key in ``user`` (user keys start with a letter, so the two never meet). A chunk holds
at most :data:`CHUNK_BYTES` of packed data, far under the cap, so a history of any length fits.
Row ``~omnivec`` tags the collection as this recommender's. Recommenders fitted before the
side collection had a catalog record (and round-1 files, on their first ``fit``) have it
without one.

Round-1 files kept histories in the user rows' metadata (``seen`` / ``seen_weights``); a
recommender without ``options["seen"]`` reads them from there (:func:`legacy_history`) until
its next ``fit`` moves them here.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from omnivec.core.ids import encode_id
from omnivec.core.space import Space
from omnivec.errors import StoreError
from omnivec.platform.catalog import CollectionRecord
from omnivec.platform.recommending import SEEN_SUFFIX

if TYPE_CHECKING:
    from omnivec.recs.commit import Rewrite
    from omnivec.stores.base import StoredRow, VectorStore

__all__ = [
    "CHUNK_BYTES",
    "SEEN",
    "SEEN_WEIGHTS",
    "SUFFIX",
    "SeenHistories",
    "drop_legacy",
    "history_record",
    "legacy_history",
    "strip_legacy",
]

#: Round-1 metadata keys of user rows; reserved (``fit`` refuses them in user metadata).
SEEN, SEEN_WEIGHTS = "seen", "seen_weights"
SUFFIX = SEEN_SUFFIX
#: Packed bytes per chunk row (item keys + base64 weights): well under Milvus' 64 KiB.
CHUNK_BYTES = 40_000
TAG = "~omnivec"
_DIM = 2

#: A user's history: item store keys and float32 weights, in one order.
History = tuple[list[str], np.ndarray]


def history_record(recommender: str) -> CollectionRecord:
    """The catalog record of ``recommender``'s side collection (exact search over 2-d zero
    vectors: it is only ever read by key)."""
    return CollectionRecord(
        space=Space("none", "vectors", "", _DIM, "l2"),
        index="flat",
        recommender=recommender,
        role="seen",
        status="creating",
    )


def legacy_history(meta: Mapping[str, Any]) -> dict[str, float]:
    """``{item key: weight}`` from a round-1 user row's metadata."""
    return {
        encode_id(item): float(w)
        for item, w in zip(meta.get(SEEN, []), meta.get(SEEN_WEIGHTS, []), strict=False)
    }


def strip_legacy(meta: dict[str, Any]) -> dict[str, Any]:
    """``meta`` without the round-1 history keys (the same dict when it has none)."""
    if SEEN in meta or SEEN_WEIGHTS in meta:
        return {k: v for k, v in meta.items() if k not in (SEEN, SEEN_WEIGHTS)}
    return meta


def drop_legacy(meta: dict[str, Any]) -> None:
    """Remove the round-1 history keys from ``meta`` (a hit's or record's own dict)."""
    if SEEN in meta or SEEN_WEIGHTS in meta:
        meta.pop(SEEN, None)
        meta.pop(SEEN_WEIGHTS, None)


def chunk_key(user_key: str, chunk: int) -> str:
    if chunk == 0:
        return user_key
    return f"{chunk}#{hashlib.sha256(user_key.encode()).hexdigest()[:40]}"


def pack(
    user_key: str, items: Sequence[str], weights: np.ndarray
) -> list[tuple[str, dict[str, Any]]]:
    """The chunk rows ``(key, metadata)`` of one user's history (at least one row)."""
    w = np.ascontiguousarray(weights, dtype="<f4")
    parts: list[tuple[int, int]] = []
    start, size = 0, 0
    for n, item in enumerate(items):
        cost = len(item) + 7  # the key, a space, ~5.3 base64 characters of weight
        if size + cost > CHUNK_BYTES and n > start:
            parts.append((start, n))
            start, size = n, 0
        size += cost
    parts.append((start, len(items)))
    out = []
    for c, (lo, hi) in enumerate(parts):
        meta: dict[str, Any] = {
            "c": c,
            "n": len(parts),
            "items": " ".join(items[lo:hi]),
            "w": base64.b64encode(w[lo:hi].tobytes()).decode("ascii"),
        }
        if c:
            meta["user"] = user_key
        out.append((chunk_key(user_key, c), meta))
    return out


def _unpack_items(meta: Mapping[str, Any]) -> list[str]:
    text = str(meta.get("items", ""))
    return text.split(" ") if text else []


def _unpack_weights(meta: Mapping[str, Any]) -> np.ndarray:
    return np.frombuffer(base64.b64decode(str(meta.get("w", ""))), dtype="<f4")


class SeenHistories:
    """The seen histories of one recommender: in its side collection ``name``, or (``name``
    None: a round-1 recommender) in the metadata of its user rows."""

    def __init__(self, store: VectorStore, name: str | None, users: str) -> None:
        self._store = store
        self.name = name
        self.users = users

    @property
    def apart(self) -> bool:
        """Whether the histories are in the side collection (else in the user rows)."""
        return self.name is not None

    # -- reading -------------------------------------------------------------------------
    def read(
        self, user_keys: Sequence[str], user_rows: Mapping[str, StoredRow] | None = None
    ) -> tuple[dict[str, dict[str, float]], dict[str, int]]:
        """``{user key: {item key: weight}}`` of the users that have a history, and how many
        chunk rows each has (none for round-1 histories). ``user_rows``: their user rows, if
        read already (round-1 histories are in them)."""
        if self.name is None:
            rows = user_rows if user_rows is not None else self._store.get(self.users, user_keys)
            return {k: legacy_history(rows[k].metadata) for k in user_keys if k in rows}, {}
        first = self._store.get(self.name, user_keys)
        counts = {k: int(row.metadata.get("n", 1)) for k, row in first.items()}
        more = [chunk_key(k, c) for k, n in counts.items() for c in range(1, n)]
        rest = self._store.get(self.name, more) if more else {}
        out: dict[str, dict[str, float]] = {}
        for key in user_keys:
            if key not in first or key in out:
                continue
            chunks = [first[key]] + [
                rest[ck] for c in range(1, counts[key]) if (ck := chunk_key(key, c)) in rest
            ]
            hist: dict[str, float] = {}
            for chunk in chunks:
                items = _unpack_items(chunk.metadata)
                hist.update(zip(items, _unpack_weights(chunk.metadata).tolist(), strict=True))
            out[key] = hist
        return out, counts

    def all_items(self, user_rows: Mapping[str, StoredRow] | None = None) -> dict[str, list[str]]:
        """Every user's seen item keys (one bulk read): ``{user key: [item key, ...]}``.
        ``user_rows``: every user row, if read already (round-1 histories are in them)."""
        if self.name is None:
            rows = (
                user_rows
                if user_rows is not None
                else self._store.get(self.users, self._store.keys(self.users))
            )
            return {
                k: [encode_id(i) for i in row.metadata.get(SEEN, [])] for k, row in rows.items()
            }
        rows = self._store.get(self.name, self._store.keys(self.name))
        parts: dict[str, list[tuple[int, list[str]]]] = {}
        for key, row in rows.items():
            if key == TAG:
                continue
            meta = row.metadata
            user = str(meta.get("user", key))
            parts.setdefault(user, []).append((int(meta.get("c", 0)), _unpack_items(meta)))
        out: dict[str, list[str]] = {}
        for user, chunks in parts.items():
            if len(chunks) == 1:
                out[user] = chunks[0][1]
            else:
                chunks.sort(key=lambda c: c[0])
                out[user] = [item for _, items in chunks for item in items]
        return out

    # -- writing -------------------------------------------------------------------------
    def create(self, rewrite: Rewrite, name: str, recommender: str) -> None:
        """Create side collection ``name`` (tagged as ``recommender``'s) within ``rewrite``."""
        rewrite.create(name, _DIM, "l2")
        rewrite.upsert(name, [TAG], *_tag_row(recommender))

    def replace_all(self, rewrite: Rewrite, name: str, histories: Mapping[str, History]) -> None:
        """Make ``histories`` the side collection's whole content (a fit)."""
        keys, meta = self._rows(histories)
        rewrite.replace_all(name, keys, np.zeros((len(keys), _DIM), np.float32), meta, keep=(TAG,))

    def update(
        self, rewrite: Rewrite, histories: Mapping[str, History], old_chunks: Mapping[str, int]
    ) -> None:
        """Replace the histories of these users (a partial fit). ``old_chunks``: how many
        chunks each had (0 for none); chunks a shorter history no longer needs are deleted."""
        assert self.name is not None
        keys, meta = self._rows(histories)
        rewrite.upsert(self.name, keys, np.zeros((len(keys), _DIM), np.float32), meta)
        now = {k: 0 for k in histories}
        for m, key in zip(meta, keys, strict=True):
            user = str(m.get("user", key))
            now[user] = now.get(user, 0) + 1
        surplus = [
            chunk_key(user, c) for user, n in old_chunks.items() for c in range(now.get(user, 0), n)
        ]
        rewrite.delete(self.name, surplus)

    @staticmethod
    def _rows(histories: Mapping[str, History]) -> tuple[list[str], list[dict[str, Any]]]:
        keys: list[str] = []
        meta: list[dict[str, Any]] = []
        for user, (items, weights) in histories.items():
            for key, m in pack(user, items, weights):
                keys.append(key)
                meta.append(m)
        return keys, meta

    # -- ownership -------------------------------------------------------------------------
    @staticmethod
    def tag(store: VectorStore, name: str, recommender: str) -> None:
        """Tag side collection ``name`` as ``recommender``'s (row ``~omnivec``)."""
        store.upsert(name, [TAG], *_tag_row(recommender))

    @staticmethod
    def owner(store: VectorStore, name: str) -> str | None:
        """The recommender that tagged side collection ``name`` (None: not ours)."""
        try:
            rows = store.get(name, [TAG])
        except StoreError:
            return None
        row = rows.get(TAG)
        return None if row is None else str(row.metadata.get("recommender", "")) or None


def _tag_row(recommender: str) -> tuple[np.ndarray, list[dict[str, Any]]]:
    return np.zeros((1, _DIM), np.float32), [{"recommender": recommender}]

"""What the platform and the recommender layer know of each other: protocols on the
platform's floor.

The recommender layer (``omnivec.recs``) sits a floor above the platform. It fills
:class:`RecommenderLayer` (opening and dropping recommenders), which the platform finds through
the entry point ``omnivec.recommenders`` (see
:func:`omnivec.platform.registry.recommender_factory`) and never imports. The platform lends
the layer what it needs as a :class:`RecommenderHost` (:class:`omnivec.Platform` implements
it): the catalog records of its own recommenders, the one way collections are created
(:meth:`RecommenderHost.create_collection`, with the ``"creating"`` step) and dropped, and the
store its collections' rows live in. Each side sees the other only through these protocols.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from omnivec.core.queries import Hit
from omnivec.core.space import Space

if TYPE_CHECKING:
    from omnivec.platform.catalog import CollectionRecord, RecommenderRecord
    from omnivec.platform.collection import Collection
    from omnivec.stores.base import VectorStore

__all__ = [
    "SEEN_SUFFIX",
    "RecommenderHost",
    "RecommenderLayer",
    "RecommenderLike",
    "RecordKeeper",
]

#: Name suffix of a recommender's side collection of seen histories (role ``"seen"``).
SEEN_SUFFIX = "__seen"


@runtime_checkable
class RecommenderLike(Protocol):
    """The public surface of a recommender as :meth:`omnivec.Platform.recommender` returns it
    (:class:`omnivec.recs.Recommender` implements it)."""

    name: str
    #: The users' and items' collections (one vector space).
    users: Any
    items: Any

    @property
    def algorithm(self) -> str: ...

    @property
    def space(self) -> Space: ...

    @property
    def fitted(self) -> bool: ...

    def config(self) -> dict[str, Any]: ...

    def info(self) -> dict[str, Any]: ...

    def history(self, user: Any) -> dict[Any, float]: ...

    def fit(self, interactions: Any, **options: Any) -> Any: ...

    def partial_fit(self, interactions: Any, **options: Any) -> Any: ...

    def refresh(self) -> Any: ...

    def recommend(
        self,
        user: Any,
        k: int = 10,
        *,
        exclude_seen: bool = True,
        where: str | None = None,
        interactions: Sequence[Any] | None = None,
    ) -> Any: ...

    def similar_items(self, item: Any, k: int = 10, *, where: str | None = None) -> list[Hit]: ...

    def similar_users(self, user: Any, k: int = 10, *, where: str | None = None) -> list[Hit]: ...


class RecommenderHost(Protocol):
    """What the platform lends the recommender layer (:class:`omnivec.Platform` implements it).

    The layer keeps to its own things through it: the ``recommender:<name>`` records, the
    collections whose records name the recommender (``recommender=`` / ``role=``), and those
    collections' rows in :attr:`store`."""

    @property
    def store(self) -> VectorStore:
        """The store the recommender's collections live in (rows: read, search, write)."""
        ...

    # -- the recommender's own catalog record ----------------------------------------------
    def recommender_record(self, name: str) -> RecommenderRecord | None: ...

    def save_recommender_record(self, name: str, record: RecommenderRecord) -> None: ...

    def delete_recommender_record(self, name: str) -> None: ...

    def save_collection_record(self, name: str, record: CollectionRecord) -> None:
        """Write the catalog record of one of the recommender's collections."""
        ...

    # -- collections: one creation path for every collection -------------------------------
    def has_collection(self, name: str) -> bool: ...

    def collection_record(self, name: str) -> CollectionRecord | None: ...

    def create_collection(
        self,
        name: str,
        record: CollectionRecord,
        encoder: Any = None,
        *,
        kind: type[Collection] = ...,
    ) -> Collection:
        """Create collection ``name`` from ``record`` (catalog record first, as
        ``"creating"``, then the Milvus collection, then ``"ready"``), or finish a creation
        that a crash interrupted when ``record`` is the stored ``"creating"`` one."""
        ...

    def attach(
        self,
        name: str,
        record: CollectionRecord,
        encoder: Any,
        *,
        checked: bool = True,
        kind: type[Collection] = ...,
    ) -> Collection:
        """The object of an existing collection on ``encoder`` (an encoder object its owner
        keeps), registered so that references by name find it."""
        ...

    def existing_collection(self, name: str) -> Collection: ...

    def drop_collection(self, name: str) -> bool:
        """Delete collection ``name`` (its record and every Milvus collection it owns)."""
        ...


class RecordKeeper(Protocol):
    """Writes catalog records: what a recommender's fit commits through (the host)."""

    def save_collection_record(self, name: str, record: CollectionRecord) -> None: ...

    def save_recommender_record(self, name: str, record: RecommenderRecord) -> None: ...


@runtime_checkable
class RecommenderLayer(Protocol):
    """The recommender layer as the platform sees it (the ``omnivec.recommenders`` entry
    point's object; :data:`omnivec.recs.recommender.LAYER`)."""

    def open(
        self, host: RecommenderHost, name: str, algorithm: str | None, config: dict[str, Any]
    ) -> RecommenderLike:
        """Open recommender ``name``, creating it if new or finishing a creation a crash
        interrupted."""
        ...

    def drop(self, host: RecommenderHost, name: str) -> bool:
        """Delete recommender ``name`` and every part of it (False if there is none)."""
        ...

"""What the platform knows of a recommender: a protocol on the platform's floor.

The recommender layer (``omnivec.recs``) sits a floor above the platform and fills this
protocol; the platform finds it through the entry point ``omnivec.recommenders`` (see
:func:`omnivec.platform.registry.recommender_factory`) and never imports it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol, runtime_checkable

from omnivec.core.queries import Hit
from omnivec.core.space import Space

__all__ = ["RecommenderLike"]


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

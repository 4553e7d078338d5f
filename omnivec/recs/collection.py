"""The collections a recommender owns (``<name>__users``, ``<name>__items``)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from omnivec.core.queries import Record
from omnivec.errors import InvalidInputError
from omnivec.platform.catalog import CollectionRecord
from omnivec.platform.collection import Collection, parts_of
from omnivec.recs.seen import drop_legacy

__all__ = ["RecommenderCollection"]


class RecommenderCollection(Collection):
    """A recommender's own collection: writes through it (``rec.items.add(...)``,
    ``rec.users.delete(...)``) drop the recommender's in-memory snapshot, so that
    ``recommend`` keeps answering what the store holds; reads never show a round-1 file's
    seen history (``seen`` / ``seen_weights`` in user metadata)."""

    on_write: Callable[[], None] | None = None

    def add(self, items: Sequence[Any] | None = None, **kwargs: Any) -> list[Any]:
        try:
            return super().add(items, **kwargs)
        finally:
            self._written()

    def delete(self, ids: Sequence[Any]) -> int:
        try:
            return super().delete(ids)
        finally:
            self._written()

    def get(self, ids: Sequence[Any]) -> list[Record]:
        out = super().get(ids)
        for record in out:
            drop_legacy(record.metadata)
        return out

    def search(self, query: Any, k: int = 10, **kwargs: Any) -> Any:
        out = super().search(query, k, **kwargs)
        for row in out if out and isinstance(out[0], list) else [out]:
            for hit in row:
                drop_legacy(hit.metadata)
        return out

    @property
    def encoder(self) -> Any:
        """The recommender's factor model, read-only from here: it is trained through the
        recommender (``rec.fit`` / ``rec.partial_fit``), which writes users, items and seen
        histories together."""
        enc = super().encoder
        return None if enc is None else FactorModelView(enc, self.name)

    def install(self, record: CollectionRecord) -> None:
        """Take ``record`` (just saved in the catalog by the recommender's commit) as this
        collection's, without another catalog round trip."""
        parts_of(self).state.install(record)

    def reload_record(self) -> None:
        """Re-read this collection's catalog record (another process may have re-fitted the
        recommender)."""
        parts_of(self).state.reload_record()

    def _written(self) -> None:
        if self.on_write is not None:
            self.on_write()

    add.__doc__ = Collection.add.__doc__
    delete.__doc__ = Collection.delete.__doc__
    get.__doc__ = Collection.get.__doc__
    search.__doc__ = Collection.search.__doc__


class FactorModelView:
    """A recommender collection's ``encoder``: every attribute is the factor model's own,
    except training, which only the recommender may run (fitting the model alone would leave
    the stored users and items of the previous fit beside a model that no longer made them)."""

    __slots__ = ("collection", "model")

    def __init__(self, model: Any, collection: str) -> None:
        object.__setattr__(self, "model", model)
        object.__setattr__(self, "collection", collection)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.model, name)

    def __repr__(self) -> str:
        return repr(self.model)

    def _refuse(self, *args: Any, **kwargs: Any) -> Any:
        raise InvalidInputError(
            f"collection {self.collection!r} belongs to a recommender, whose factor model is "
            "trained by the recommender: call rec.fit(interactions) or rec.partial_fit(...)"
        )

    fit = train = partial_fit = _refuse

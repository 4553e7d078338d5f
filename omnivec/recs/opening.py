"""Opening and creating a recommender's parts: its catalog record, its factor model and its two
collections (the side collection of seen histories is created by the first ``fit``)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from omnivec.core.interactions import FactorModel
from omnivec.core.validation import check_name
from omnivec.errors import EncoderError, InvalidInputError, SpaceMismatchError, StoreError
from omnivec.platform.catalog import (
    CollectionRecord,
    RecommenderRecord,
    check_identity,
    identity_of,
)
from omnivec.platform.registry import create_encoder
from omnivec.recs.collection import RecommenderCollection
from omnivec.recs.seen import SUFFIX, SeenHistories

if TYPE_CHECKING:
    from omnivec.platform.platform import Platform

__all__ = ["ALGORITHMS", "Parts", "open_parts"]

logger = logging.getLogger(__name__)

ALGORITHMS = ("als", "bpr")
ROLES = {"users": "__users", "items": "__items"}


@dataclass
class Parts:
    """What a Recommender is made of."""

    doc: RecommenderRecord
    encoder: FactorModel
    users: RecommenderCollection
    items: RecommenderCollection


def open_parts(plat: Platform, name: str, algorithm: str | None, config: dict[str, Any]) -> Parts:
    """Open recommender ``name`` (creating it and its two empty collections if new).

    Reopening with another algorithm or other hyper-parameters raises
    :class:`SpaceMismatchError`; runtime options (``num_threads``) may change."""
    check_name(name, "recommender")
    config = dict(config)
    content = config.pop("item_content", None)
    if content is not None:
        # The content collection must exist and be searchable (its vectors are the inputs).
        check_name(content, "item_content collection")
        if not plat.has_collection(content):
            raise InvalidInputError(
                f"item_content names {content!r}, which is not a collection; create it and add "
                "the items' texts or images under the item ids first"
            )
    if len(name) > 255 - len("__users"):
        raise InvalidInputError(
            f"recommender names have at most {255 - len('__users')} characters "
            "(its collections add a suffix); pick a shorter name"
        )
    doc = plat.catalog.recommender(name)
    if doc is None:
        parts = _create(plat, name, algorithm or "als", config)
        if content is not None:
            parts.doc.options["item_content"] = content
            plat.catalog.save_recommender(name, parts.doc)
        return parts
    if content is not None and doc.options.get("item_content") != content:
        # A link, not part of the space: the next fit places cold items from it.
        doc.options["item_content"] = content
        plat.catalog.save_recommender(name, doc)
    stored = doc.algorithm
    if algorithm is not None and algorithm != stored:
        raise SpaceMismatchError(
            f"recommender {name!r} uses algorithm {stored!r}, not {algorithm!r}; "
            "open it without algorithm= or use another name"
        )
    encoder = _factor_model(stored, {**doc.config, **config})
    check_identity(f"recommender {name!r}", encoder, doc.identity, stored)
    encoder.load_state_dict(doc.state)
    cols = {}
    for role, coll in (("users", doc.users), ("items", doc.items)):
        record = plat.catalog.collection(coll)
        if record is None or not plat.store.has_collection(coll):
            raise StoreError(
                f"recommender {name!r} lost its collection {coll!r}; "
                f"drop it with plat.drop({name!r}) and fit it again"
            )
        cols[role] = _attach(plat, coll, record, encoder)
    seen = doc.options.get("seen")
    if seen is not None and not plat.store.has_collection(seen):
        raise StoreError(
            f"recommender {name!r} lost its collection {seen!r} (the users' histories); "
            f"drop it with plat.drop({name!r}) and fit it again"
        )
    return Parts(doc, encoder, cols["users"], cols["items"])


def _create(plat: Platform, name: str, algorithm: str, config: dict[str, Any]) -> Parts:
    if algorithm not in ALGORITHMS:
        raise InvalidInputError(
            f"algorithm must be one of {', '.join(ALGORITHMS)}, got {algorithm!r}"
        )
    encoder = _factor_model(algorithm, config)
    names = {role: name + suffix for role, suffix in ROLES.items()}
    seen = name + SUFFIX
    for coll in (name, *names.values(), seen):
        if plat.has_collection(coll) or plat.store.has_collection(coll):
            ours = coll == seen and not plat.has_collection(coll)
            if ours and SeenHistories.owner(plat.store, coll) == name:
                # The histories of a dropped recommender of this name: ours to drop.
                plat.store.drop_collection(coll)
                continue
            raise InvalidInputError(
                f"a collection named {coll!r} already exists; pick another recommender name"
            )
    space = encoder.space
    cols = {}
    for role, coll in names.items():
        record = CollectionRecord(
            space=space,
            encoder=encoder.name,
            config=encoder.config(),
            identity=identity_of(encoder),
            state=encoder.state_dict(),
            recommender=name,
            role=role,
            # The default index: an in-process copy of the factors on a Lite file (the
            # snapshot reads them from it), an ANN index for similar-item searches of a large
            # catalogue, the server's own index on a server.
            index="auto",
        )
        plat.catalog.save_collection(coll, record)
        plat.store.create_collection(coll, space.dim, space.metric, index=record.index)
        cols[role] = _attach(plat, coll, record, encoder)
    doc = RecommenderRecord(
        algorithm=algorithm,
        space=space,
        users=names["users"],
        items=names["items"],
        config=encoder.config(),
        identity=identity_of(encoder),
        state=encoder.state_dict(),
    )
    plat.catalog.save_recommender(name, doc)
    logger.info("created recommender %r (%s)", name, algorithm)
    return Parts(doc, encoder, cols["users"], cols["items"])


def _factor_model(algorithm: str, config: dict[str, Any]) -> FactorModel:
    encoder = create_encoder(algorithm, **config)
    if not isinstance(encoder, FactorModel):
        raise EncoderError(
            f"encoder {algorithm!r} is not a factor model (train / adopt / fold_in ...); "
            "a recommender needs one like 'als' or 'bpr'"
        )
    return encoder


def _attach(
    plat: Platform, coll: str, record: CollectionRecord, encoder: Any
) -> RecommenderCollection:
    """A Collection on the recommender's own encoder object, registered with the platform
    so that ``ov.ref(..., collection=...)`` lookups find the same object."""
    col = plat.attach(coll, record, encoder, kind=RecommenderCollection)
    assert isinstance(col, RecommenderCollection)
    return col

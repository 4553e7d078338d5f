"""Opening, creating and dropping a recommender's parts: its catalog record, its factor model
and its three collections (users, items, and the side collection of the users' histories).

Everything goes through the :class:`~omnivec.platform.recommending.RecommenderHost` the
platform lends (never its catalog or internals): the recommender's record is written first,
with ``status="creating"``, then each collection through the host's one creation path
(:meth:`~omnivec.platform.recommending.RecommenderHost.create_collection`, which records each
collection as ``"creating"`` before its Milvus collection exists), then the record says
``"ready"``. A crash anywhere in between leaves a record that the next
``plat.recommender(name)`` finishes (:func:`open_parts`) and ``plat.drop(name)`` removes
(:func:`drop_parts`).
"""

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
from omnivec.recs.seen import SUFFIX, SeenHistories, history_record

if TYPE_CHECKING:
    from omnivec.platform.recommending import RecommenderHost

__all__ = ["ALGORITHMS", "Parts", "drop_parts", "open_parts"]

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


def open_parts(
    host: RecommenderHost, name: str, algorithm: str | None, config: dict[str, Any]
) -> Parts:
    """Open recommender ``name`` (creating it and its empty collections if new, or finishing
    a creation that a crash interrupted).

    Reopening with another algorithm or other hyper-parameters raises
    :class:`SpaceMismatchError`; runtime options (``num_threads``) may change."""
    check_name(name, "recommender")
    config = dict(config)
    content = config.pop("item_content", None)
    if content is not None:
        # The content collection must exist and be searchable (its vectors are the inputs).
        check_name(content, "item_content collection")
        if not host.has_collection(content):
            raise InvalidInputError(
                f"item_content names {content!r}, which is not a collection; create it and add "
                "the items' texts or images under the item ids first"
            )
    if len(name) > 255 - len("__users"):
        raise InvalidInputError(
            f"recommender names have at most {255 - len('__users')} characters "
            "(its collections add a suffix); pick a shorter name"
        )
    doc = host.recommender_record(name)
    if doc is None:
        return _create(host, name, algorithm or "als", config, content)
    if content is not None and doc.options.get("item_content") != content:
        # A link, not part of the space: the next fit places cold items from it.
        doc.options["item_content"] = content
        host.save_recommender_record(name, doc)
    stored = doc.algorithm
    if algorithm is not None and algorithm != stored:
        raise SpaceMismatchError(
            f"recommender {name!r} uses algorithm {stored!r}, not {algorithm!r}; "
            "open it without algorithm= or use another name"
        )
    encoder = _factor_model(stored, {**doc.config, **config})
    check_identity(f"recommender {name!r}", encoder, doc.identity, stored)
    encoder.load_state_dict(doc.state)
    if doc.status == "creating":
        # A process died while creating it: create what is missing, as it would have.
        return _finish(host, name, doc, encoder)
    cols = {}
    for role, coll in (("users", doc.users), ("items", doc.items)):
        cols[role] = _open_part(host, name, coll, encoder)
    seen = doc.options.get("seen")
    if isinstance(seen, str):
        record = host.collection_record(seen)
        if record is not None and record.status == "creating":
            host.create_collection(seen, record)
            SeenHistories.tag(host.store, seen, name)
        elif not host.store.has_collection(seen):
            raise StoreError(
                f"recommender {name!r} lost its collection {seen!r} (the users' histories); "
                f"drop it with plat.drop({name!r}) and fit it again"
            )
    return Parts(doc, encoder, cols["users"], cols["items"])


def drop_parts(host: RecommenderHost, name: str) -> bool:
    """Delete recommender ``name``: each of its collections, then its record (a crash in
    between leaves a record whose ``plat.drop`` finishes the job). False if there is none."""
    doc = host.recommender_record(name)
    if doc is None:
        return False
    for coll in (doc.users, doc.items):
        _drop_part(host, name, coll)
    seen = doc.options.get("seen")
    # Histories written before they had a catalog record (the first fit made them) are
    # dropped by their tag.
    if (
        isinstance(seen, str)
        and not _drop_part(host, name, seen)
        and host.store.has_collection(seen)
        and SeenHistories.owner(host.store, seen) == name
    ):
        host.store.drop_collection(seen)
    host.delete_recommender_record(name)
    logger.info("dropped recommender %r", name)
    return True


def _drop_part(host: RecommenderHost, name: str, coll: str) -> bool:
    """Drop collection ``coll`` if recommender ``name`` owns it (True if it was dropped)."""
    record = host.collection_record(coll)
    if record is None or record.recommender not in (None, name):
        return False
    return host.drop_collection(coll)


def _create(
    host: RecommenderHost, name: str, algorithm: str, config: dict[str, Any], content: str | None
) -> Parts:
    if algorithm not in ALGORITHMS:
        raise InvalidInputError(
            f"algorithm must be one of {', '.join(ALGORITHMS)}, got {algorithm!r}"
        )
    encoder = _factor_model(algorithm, config)
    names = {role: name + suffix for role, suffix in ROLES.items()}
    seen = name + SUFFIX
    for coll in (name, *names.values(), seen):
        if host.has_collection(coll) or host.store.has_collection(coll):
            ours = coll == seen and not host.has_collection(coll)
            if ours and SeenHistories.owner(host.store, coll) == name:
                # The histories of a dropped recommender of this name: ours to drop.
                host.store.drop_collection(coll)
                continue
            raise InvalidInputError(
                f"a collection named {coll!r} already exists; pick another recommender name"
            )
    doc = RecommenderRecord(
        algorithm=algorithm,
        space=encoder.space,
        users=names["users"],
        items=names["items"],
        config=encoder.config(),
        identity=identity_of(encoder),
        state=encoder.state_dict(),
        options={"seen": seen, **({"item_content": content} if content is not None else {})},
        status="creating",
    )
    # The record first: a crash before every collection exists leaves a record that the
    # next plat.recommender(name) finishes and plat.drop(name) removes.
    host.save_recommender_record(name, doc)
    parts = _finish(host, name, doc, encoder)
    logger.info("created recommender %r (%s)", name, algorithm)
    return parts


def _finish(
    host: RecommenderHost, name: str, doc: RecommenderRecord, encoder: FactorModel
) -> Parts:
    """Create whichever collections of recommender ``name`` (record ``doc``, status
    ``"creating"``) do not exist yet, then record it as ready."""
    cols = {}
    for role, coll in (("users", doc.users), ("items", doc.items)):
        record = _own_record(host, name, coll)
        if record is None or record.status == "creating":
            col = host.create_collection(
                coll,
                record or _part_record(encoder, name, role),
                encoder,
                kind=RecommenderCollection,
            )
            assert isinstance(col, RecommenderCollection)
            cols[role] = col
        else:
            cols[role] = _open_part(host, name, coll, encoder)
    seen = doc.options.get("seen")
    if isinstance(seen, str):
        record = _own_record(host, name, seen)
        if record is None or record.status == "creating":
            host.create_collection(seen, record or history_record(name))
        SeenHistories.tag(host.store, seen, name)  # again: a crash may have come before it
    doc.status = "ready"
    host.save_recommender_record(name, doc)
    return Parts(doc, encoder, cols["users"], cols["items"])


def _own_record(host: RecommenderHost, name: str, coll: str) -> CollectionRecord | None:
    """Part ``coll``'s catalog record (None while there is none), refused when a collection
    of that name that is not recommender ``name``'s was made meanwhile."""
    record = host.collection_record(coll)
    if record is not None and record.recommender != name:
        raise InvalidInputError(
            f"recommender {name!r} was being created when a collection named {coll!r} "
            f"was made; drop one of them (plat.drop({coll!r}) or plat.drop({name!r}))"
        )
    return record


def _part_record(encoder: FactorModel, name: str, role: str) -> CollectionRecord:
    return CollectionRecord(
        space=encoder.space,
        encoder=encoder.name,
        config=encoder.config(),
        identity=identity_of(encoder),
        state=encoder.state_dict(),
        recommender=name,
        role=role,
        # The default index: an in-process copy of the factors on a Lite file (the snapshot
        # reads them from it), an ANN index for similar-item searches of a large catalogue,
        # the server's own index on a server.
        index="auto",
        status="creating",
    )


def _open_part(
    host: RecommenderHost, name: str, coll: str, encoder: FactorModel
) -> RecommenderCollection:
    """The object of collection ``coll`` of recommender ``name``, on the recommender's own
    encoder object (registered with the platform, so ``ov.ref(..., collection=...)`` lookups
    find the same object)."""
    record = host.collection_record(coll)
    if record is not None and record.status == "creating":
        col = host.create_collection(coll, record, encoder, kind=RecommenderCollection)
    elif record is None or not host.store.has_collection(record.milvus_name(coll)):
        raise StoreError(
            f"recommender {name!r} lost its collection {coll!r}; "
            f"drop it with plat.drop({name!r}) and fit it again"
        )
    else:
        col = host.attach(coll, record, encoder, kind=RecommenderCollection)
    assert isinstance(col, RecommenderCollection)
    return col


def _factor_model(algorithm: str, config: dict[str, Any]) -> FactorModel:
    encoder = create_encoder(algorithm, **config)
    if not isinstance(encoder, FactorModel):
        raise EncoderError(
            f"encoder {algorithm!r} is not a factor model (train / adopt / fold_in ...); "
            "a recommender needs one like 'als' or 'bpr'"
        )
    return encoder
